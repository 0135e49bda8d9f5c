"""`scaffold loadtest --export DIR`: the load definition, for runs beyond one machine.

One machine's client runs out long before a production endpoint does. The export writes the
same load (the request, its headers, a rate, a duration, the Azure answers that count as
failures) for two tools that spread it over many machines:

- `locustfile.py` for Locust (headless, or distributed: one `--master`, any number of
  `--worker`s), reading the key from AZUREML_ENDPOINT_KEY (never a file or argument);
- `load-test.yaml` for Azure Load Testing (`testType: Locust`, the test configuration YAML of
  `az load test create --load-test-config-file`), with the key as a Key Vault secret
  reference to fill in, and failure criteria from the deployment's request_timeout_ms;
- `request.json` (the body) and `LOADTEST.md` (how to run both).

Nothing in the export contacts Azure or holds a key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from scaffold.errors import UsageError, WriteError

#: Requests per second one simulated user sends (Locust's constant_throughput per user).
PER_USER_RATE = 2.0
#: Simulated users per Azure Load Testing engine instance at most.
USERS_PER_ENGINE = 250
#: Azure Load Testing's testId rule: 2-50 characters of [a-z0-9_-].
_TEST_ID = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class LoadDefinition:
    """What the exported tests send."""

    endpoint: str
    scoring_path: str
    rate: float
    seconds: float
    request_timeout_ms: int
    deployment: str | None = None
    content_type: str = "application/json"

    @property
    def users(self) -> int:
        """Simulated users in all (each at PER_USER_RATE)."""
        return max(1, math.ceil(self.rate / PER_USER_RATE))

    @property
    def engine_instances(self) -> int:
        """Azure Load Testing engines needed for the users."""
        return max(1, math.ceil(self.users / USERS_PER_ENGINE))

    @property
    def per_user_rate(self) -> float:
        """Requests per second each user sends so that all of them send `rate`."""
        return self.rate / self.users


LOCUSTFILE = '''"""Load test of the Azure ML endpoint {endpoint!r} (`scaffold loadtest --export`).

{rate:g} requests/s in all ({users} users x {per_user:g} req/s each) for {seconds:g} s.

    export AZUREML_ENDPOINT_KEY=...   # az ml online-endpoint get-credentials -n {endpoint}
    locust -f locustfile.py --headless --host https://<endpoint>.<region>.inference.ml.azure.com \\
        --users {users} --spawn-rate {spawn} --run-time {run_time}

Distributed: the same command with `--master --expect-workers N` on one machine and
`locust -f locustfile.py --worker --master-host <master>` on N others (the key is needed
on the workers). SCORING_PATH (default {path!r}) and AZUREML_MODEL_DEPLOYMENT (the
azureml-model-deployment header, default {deployment!r}) override what was exported.
Answers other than 2xx are failures, named with Azure's meaning (401, 404, 408, 424, 429).
"""

import os
from pathlib import Path

from locust import FastHttpUser, constant_throughput, task

BODY = (Path(__file__).resolve().parent / "request.json").read_bytes()
PATH = os.environ.get("SCORING_PATH", {path!r})
DEPLOYMENT = os.environ.get("AZUREML_MODEL_DEPLOYMENT", {deployment!r})
TIMEOUT_S = {timeout_s!r}
MEANING = {{
    401: "401 key refused (auth_mode, expired token)",
    404: "404 no deployment with traffic, or unknown deployment",
    408: "408 over request_timeout_ms",
    424: "424 model error (see ms-azureml-model-error-statuscode)",
    429: "429 too many requests in flight (max_concurrent_requests_per_instance)",
}}


def _headers() -> dict[str, str]:
    key = os.environ.get("AZUREML_ENDPOINT_KEY", "")
    if not key:
        raise RuntimeError("set AZUREML_ENDPOINT_KEY to the endpoint's key or token")
    headers = {{"Content-Type": {content_type!r}, "Authorization": "Bearer " + key}}
    if DEPLOYMENT:
        headers["azureml-model-deployment"] = DEPLOYMENT
    return headers


class EndpointUser(FastHttpUser):
    """One client sending the sample request at a steady rate."""

    wait_time = constant_throughput({per_user!r})
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    def on_start(self) -> None:
        self.request_headers = _headers()

    @task
    def score(self) -> None:
        with self.client.post(
            PATH, data=BODY, headers=self.request_headers, catch_response=True, name="score"
        ) as response:
            if not 200 <= response.status_code < 300:
                status = int(response.status_code or 0)
                reason = response.headers.get("ms-azureml-model-error-statuscode")
                text = MEANING.get(status, f"HTTP {{status}}")
                response.failure(text + (f" (container: {{reason}})" if reason else ""))
'''


def _test_id(endpoint: str) -> str:
    cleaned = _TEST_ID.sub("-", f"{endpoint}-load".lower()).strip("-")
    return (cleaned or "scaffold-load")[:50].ljust(2, "0")


def _run_time(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def alt_config(load: LoadDefinition) -> str:
    """The Azure Load Testing test configuration (YAML, `testType: Locust`)."""
    import yaml

    users_per_engine = math.ceil(load.users / load.engine_instances)
    env = [
        {"name": "LOCUST_HOST", "value": "https://<endpoint>.<region>.inference.ml.azure.com"},
        {"name": "LOCUST_USERS", "value": str(users_per_engine)},
        {"name": "LOCUST_SPAWN_RATE", "value": str(min(users_per_engine, 50))},
        {"name": "LOCUST_RUN_TIME", "value": _run_time(load.seconds)},
        {"name": "SCORING_PATH", "value": load.scoring_path},
    ]
    if load.deployment:
        env.append({"name": "AZUREML_MODEL_DEPLOYMENT", "value": load.deployment})
    config = {
        "version": "v0.1",
        "testId": _test_id(load.endpoint),
        "displayName": f"{load.endpoint} scoring load"[:100],
        "description": f"{load.rate:g} req/s for {load.seconds:g}s (scaffold loadtest)"[:100],
        "testPlan": "locustfile.py",
        "testType": "Locust",
        "engineInstances": load.engine_instances,
        "configurationFiles": ["request.json"],
        "env": env,
        "secrets": [
            {
                "name": "AZUREML_ENDPOINT_KEY",
                "value": "https://<key-vault>.vault.azure.net/secrets/<endpoint-key-secret>",
            }
        ],
        "failureCriteria": [
            "percentage(error) > 1",
            f"p99(response_time_ms) > {load.request_timeout_ms}",
        ],
        "autoStop": {"errorPercentage": 50, "timeWindow": 60},
    }
    head = (
        "# Azure Load Testing test configuration, written by `scaffold loadtest --export`.\n"
        "# Fill in LOCUST_HOST (the scoring URI's scheme and host) and the Key Vault secret that\n"
        "# holds the endpoint key, then: az load test create --load-test-resource <name> \\\n"
        "#   --resource-group <group> --test-id "
        f"{config['testId']} --load-test-config-file load-test.yaml\n"
    )
    return head + yaml.safe_dump(config, sort_keys=False)


def locustfile(load: LoadDefinition) -> str:
    """The Locust test (standalone; reads the body from request.json beside it)."""
    return LOCUSTFILE.format(
        endpoint=load.endpoint,
        rate=load.rate,
        users=load.users,
        per_user=round(load.per_user_rate, 6),
        seconds=load.seconds,
        spawn=min(load.users, 50),
        run_time=_run_time(load.seconds),
        path=load.scoring_path,
        deployment=load.deployment or "",
        timeout_s=load.request_timeout_ms / 1000.0,
        content_type=load.content_type,
    )


def readme(load: LoadDefinition) -> str:
    """LOADTEST.md: how to run the exported test."""
    return f"""# Load test of {load.endpoint}

Written by `scaffold loadtest --export`: {load.rate:g} requests/s for {load.seconds:g} s,
{load.users} simulated users at {load.per_user_rate:g} req/s each. Failures: any answer but
2xx (Azure's 408 past request_timeout_ms {load.request_timeout_ms}, 429 beyond
2 x max_concurrent_requests_per_instance x instance_count in flight, 424 model errors).

## Locust (one machine, or many)

```bash
pip install locust
export AZUREML_ENDPOINT_KEY="$(az ml online-endpoint get-credentials -n {load.endpoint} \\
  --query primaryKey -o tsv)"
locust -f locustfile.py --headless --host https://<endpoint>.<region>.inference.ml.azure.com \\
  --users {load.users} --spawn-rate {min(load.users, 50)} --run-time {_run_time(load.seconds)}
```

Distributed: add `--master --expect-workers N` to that command on one machine, and run
`locust -f locustfile.py --worker --master-host <master>` (with the key) on N others.

## Azure Load Testing

Store the key in a Key Vault the load testing resource can read, put its secret URI and the
scoring URI's host into `load-test.yaml`, then:

```bash
az load test create --load-test-resource <resource> --resource-group <group> \\
  --test-id {_test_id(load.endpoint)} --load-test-config-file load-test.yaml
az load test-run create --load-test-resource <resource> --resource-group <group> \\
  --test-id {_test_id(load.endpoint)} --test-run-id run-1
```
"""


def export(folder: Path, load: LoadDefinition, body: bytes) -> list[Path]:
    """Write the export into `folder` (created; existing export files are replaced)."""
    if load.rate <= 0 or load.seconds <= 0:
        raise UsageError("the export needs a positive --rps and --duration")
    files = {
        "locustfile.py": locustfile(load),
        "load-test.yaml": alt_config(load),
        "LOADTEST.md": readme(load),
    }
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "request.json").write_bytes(body)
        written.append(folder / "request.json")
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
            written.append(folder / name)
    except OSError as error:
        raise WriteError(
            f"cannot write the export into {folder} ({error.strerror}); choose another folder"
        ) from None
    return written
