"""Deploy a project to an Azure ML managed online endpoint, and work with the deployed endpoint
(smoke test, logs, delete), through azure-ai-ml (imported lazily, in these functions only).

The plan is azure-ai-ml's own entities, loaded from the project's endpoint.yml and
deployment.yml with `load_online_endpoint`/`load_online_deployment` after `scaffold
validate` passed; `--dry-run` prints exactly these entities. Deploying creates or updates the
endpoint, then the deployment (the SDK uploads the model, code and build context and Azure
builds `environment.build`), waits with progress, sets traffic, and returns the scoring URI.
On failure the deployment logs (inference server and storage initializer) are fetched and
matched against the known failures (`scaffold.diagnose`).

The core never prints: progress goes to a Reporter; the SDK's own console output (polling
dots, upload bars) is captured.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.diagnose import TIMEOUT, DeploymentSettings, Diagnosis, diagnose
from scaffold.errors import (
    AzureError,
    DeploymentFailed,
    ProjectError,
    SmokeTestError,
    UsageError,
    ValidationFailed,
)
from scaffold.localrun import Reporter, SilentReporter
from scaffold.redact import redact, register_secret

#: Containers whose logs Azure keeps for a deployment (`get_logs` container_type).
CONTAINERS = ("inference-server", "storage-initializer")
LOG_LINES = 100
#: Seconds a deployment may take before scaffold gives up waiting (Azure keeps going).
DEFAULT_TIMEOUT = 1800.0
PROGRESS_EVERY = 30.0
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")


@dataclass
class DeployPlan:
    """What `scaffold deploy` sends: azure-ai-ml entities and how."""

    project: Path
    #: azure.ai.ml.entities.ManagedOnlineEndpoint
    endpoint: Any
    #: azure.ai.ml.entities.ManagedOnlineDeployment
    deployment: Any
    skip_script_validation: bool
    server: str | None
    settings: DeploymentSettings = field(default_factory=DeploymentSettings)

    @property
    def endpoint_name(self) -> str:
        return str(self.endpoint.name)

    @property
    def deployment_name(self) -> str:
        return str(self.deployment.name)


@dataclass(frozen=True)
class DeployResult:
    """The endpoint after a deployment."""

    endpoint: str
    deployment: str
    scoring_uri: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    created_endpoint: bool


@dataclass(frozen=True)
class EndpointAccess:
    """Scoring URI and the key or token (registered as a secret: never printed)."""

    scoring_uri: str
    auth_mode: str
    key: str = field(repr=False)


@contextlib.contextmanager
def sdk_quiet() -> Iterator[io.StringIO]:
    """Capture what azure-ai-ml prints (polling dots, notices) and its deprecation noise."""
    buffer = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)  # the SDK's INFO handlers write to the real stderr
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(buffer),
            contextlib.redirect_stderr(buffer),
        ):
            warnings.simplefilter("ignore")
            yield buffer
    finally:
        logging.disable(previous)


# -- errors ---------------------------------------------------------------------------------


def error_details(error: BaseException) -> tuple[int | None, str]:
    """(HTTP status, the whole error text) of an azure-core / azure-ai-ml error: its str
    (azure-core renders code, message and details[]) and the response body when that says
    more (a failed operation's status document). Secrets are masked."""
    status = getattr(error, "status_code", None)
    parts = [str(error) or type(error).__name__]
    response = getattr(error, "response", None)
    try:
        body = response.text() if response is not None else ""
    except Exception:  # a streamed or closed response: the str is all there is
        body = ""
    if body and body.strip() not in parts[0]:
        parts.append(body.strip())
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in parts[0]:
        parts.append(str(cause))
    return status, redact("\n".join(parts))


def _error_text(error: BaseException) -> tuple[int | None, str]:
    """(HTTP status, one line: the most specific 'Code: message' of the error)."""
    from scaffold.failures import parse

    status, full = error_details(error)
    text = parse(full).headline() or type(error).__name__
    return status, redact(f"HTTP {status} {text}" if status and status >= 400 else text)


def _is_auth(error: BaseException, status: int | None) -> bool:
    from azure.core.exceptions import ClientAuthenticationError

    return isinstance(error, ClientAuthenticationError) or status in {401, 403}


@contextlib.contextmanager
def azure_errors(what: str) -> Iterator[None]:
    """Turn azure-core / azure-ai-ml exceptions into AzureError with one line and a fix."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import AzureError as CoreError

    try:
        yield
    except (CoreError, MlException) as error:
        raise _azure_error(what, error) from None


def _azure_error(what: str, error: BaseException) -> AzureError:
    """One line: what failed, Azure's most specific message, and the likely cause with its
    fix, found in the whole error (details[], nested bodies), not only in its one line: a
    taken endpoint name, the endpoint quota, a provider not registered, a refused sign-in."""
    status, text = _error_text(error)
    _, full = error_details(error)
    found = diagnose(full, {})
    if _is_auth(error, status):
        found = [d for d in found if d.code in {"unauthorized", "storage-access"}] or found
    fix = f"; likely: {found[0].cause}; fix: {found[0].fix}" if found else ""
    return AzureError(f"{what} failed: {text}{fix}")


# -- plan -----------------------------------------------------------------------------------


def _settings(path: Path) -> DeploymentSettings:
    """deployment.yml's values as written in the file (the SDK makes paths absolute)."""
    from scaffold import limits

    try:
        data = limits.load_yaml_file(path)
    except (OSError, limits.InputRejected):
        data = None  # load_plan reported it already; the advice falls back to defaults
    data = data if isinstance(data, dict) else {}

    def get(dotted: str, default: Any) -> Any:
        value: Any = data
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return default if value is None or isinstance(value, dict | list) else value

    defaults = DeploymentSettings()
    return DeploymentSettings(
        initial_delay=get("readiness_probe.initial_delay", defaults.initial_delay),
        failure_threshold=get("readiness_probe.failure_threshold", defaults.failure_threshold),
        period=get("readiness_probe.period", defaults.period),
        request_timeout_ms=get("request_settings.request_timeout_ms", defaults.request_timeout_ms),
        max_concurrent=get(
            "request_settings.max_concurrent_requests_per_instance", defaults.max_concurrent
        ),
        instance_type=str(get("instance_type", "")),
        instance_count=get("instance_count", 1),
        model_path=str(get("model.path", "")),
        model_mount_path=str(get("model_mount_path", "")),
        port=get("environment.inference_config.scoring_route.port", 0),
        model_name=str(get("model.name", "")),
        model_version=str(get("model.version", "")),
        endpoint_name=str(get("endpoint_name", "")),
        deployment_name=str(get("name", "")),
    )


def _skip_script_validation(server: str | None, deployment: Any) -> bool:
    """From the server registry; for unknown servers, when the scoring script is not Python."""
    from scaffold.servers import SERVERS

    if server in SERVERS:
        return SERVERS[server].skip_script_validation
    code = deployment.code_configuration
    script = str(getattr(code, "scoring_script", "") or "")
    return bool(script) and not script.endswith(".py")


def load_deploy_plan(
    project: Path, *, validate: bool = True, deployment: str | None = None
) -> DeployPlan:
    """Validate the deployment (`scaffold validate`), then load it and its endpoint with
    azure-ai-ml. `deployment`: which of the project's (its name or file; default its only
    or main one, deployment.yml)."""
    from scaffold import layout
    from scaffold.deployments import select, validate_one
    from scaffold.workspace import require_sdk

    root = project.expanduser().resolve()
    chosen = select(root, deployment)
    require_sdk()
    server = None
    if validate:
        report = validate_one(root, deployment)
        if report.errors:
            lines = [
                f"{p.file}: {p.key + ': ' if p.key else ''}{p.message} (fix: {p.fix})"
                for p in report.errors
            ]
            raise ValidationFailed(
                f"{len(report.errors)} problem(s) would fail the deployment "
                f"(scaffold validate {root}); fix them first",
                details="\n".join(lines),
            )
        server = report.server
    endpoint_file = layout.endpoint_file_for(root, chosen.file)
    if endpoint_file is None:
        raise ProjectError(
            f"no endpoint file for {chosen.file.name} in {root}; add endpoint.yml (name, "
            "auth_mode) or run scaffold in the project folder"
        )
    from scaffold import limits

    for path in (endpoint_file, chosen.file):
        try:  # within scaffold's bounds before the SDK parses (and walks) it
            limits.load_yaml_file(path)
        except (OSError, limits.InputRejected) as error:
            raise ProjectError(f"{path} {error}; run scaffold validate") from None
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    try:
        with sdk_quiet():
            endpoint = load_online_endpoint(endpoint_file)
            entity = load_online_deployment(chosen.file)
    except Exception as error:  # the SDK's schema errors: marshmallow, ValidationException
        raise ProjectError(
            f"azure-ai-ml cannot load the project's YAML: {str(error).splitlines()[0]}; "
            "run scaffold validate for details"
        ) from None
    return DeployPlan(
        project=root,
        endpoint=endpoint,
        deployment=entity,
        skip_script_validation=_skip_script_validation(server, entity),
        server=server,
        settings=_settings(chosen.file),
    )


def dump_plan(
    plan: DeployPlan,
    *,
    traffic: Mapping[str, int] | None = None,
    mirror: Mapping[str, int] | None = None,
) -> str:
    """The entities as YAML, in the SDK's own serialisation (`_to_dict`), in send order."""
    import yaml

    with sdk_quiet():  # plain types: the SDK returns OrderedDicts
        endpoint = json.loads(json.dumps(plan.endpoint._to_dict()))
        deployment = json.loads(json.dumps(plan.deployment._to_dict()))
    how = f"skip_script_validation={plan.skip_script_validation}"
    if isinstance(deployment.get("model"), dict) and not deployment["model"].get("version"):
        how += (
            ")\n# model version: chosen at deploy time from the model's content (the registered "
            "version holding it, else the next one; variables naming its mount follow"
        )
    parts = [
        "# 1. ml_client.online_endpoints.begin_create_or_update(endpoint)\n"
        + yaml.safe_dump(endpoint, sort_keys=False),
        f"# 2. ml_client.online_deployments.begin_create_or_update(deployment, {how})\n"
        + yaml.safe_dump(deployment, sort_keys=False),
    ]
    new_traffic = dict(traffic) if traffic else {plan.deployment_name: 100}
    note = "" if traffic else "  # if the endpoint has no traffic yet; else unchanged"
    step = f"# 3. endpoint traffic{note}\n" + yaml.safe_dump({"traffic": new_traffic})
    if mirror:
        step += yaml.safe_dump({"mirror_traffic": dict(mirror)})
    parts.append(step)
    return "---\n".join(parts)


def check_name(name: str, *, option: str) -> None:
    """UsageError unless `name` is a valid deployment name (Azure's rules)."""
    if not _NAME.match(name):
        raise UsageError(
            f"{option} {name!r} is not a deployment name: 3-32 characters, a letter first, "
            "then letters, digits and dashes (e.g. green)"
        )


def parse_traffic(text: str, *, option: str = "--traffic") -> dict[str, int]:
    """'blue=90,green=10' -> {'blue': 90, 'green': 10} (names and 0-100 checked)."""
    result: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name) or not value.strip().isdigit():
            raise UsageError(
                f"{option} {text!r}: write DEPLOYMENT=PERCENT pairs, e.g. {option} blue=90,green=10"
            )
        percent = int(value)
        if percent > 100 or name in result:
            raise UsageError(f"{option} {text!r}: each deployment once, 0-100 percent")
        result[name] = percent
    return result


def check_split(traffic: Mapping[str, int] | None, mirror: Mapping[str, int] | None) -> None:
    """What can be checked before contacting Azure: names, sum 100, mirror at most 50%."""
    for option, split in (("--traffic", traffic), ("--mirror", mirror)):
        for name in split or {}:
            if not _NAME.match(name):
                raise UsageError(f"{option}: {name!r} is not a deployment name")
    if traffic is not None and sum(traffic.values()) not in (0, 100):
        raise UsageError(
            f"--traffic must add up to 100 (got {sum(traffic.values())}); "
            "e.g. --traffic blue=90,green=10"
        )
    for name, percent in (mirror or {}).items():
        if percent > 50:
            raise UsageError(f"--mirror {name}={percent}: Azure mirrors at most 50 percent")


def _check_against_endpoint(
    traffic: Mapping[str, int] | None,
    mirror: Mapping[str, int] | None,
    known: set[str],
    live: Mapping[str, int],
) -> None:
    for option, split in (("--traffic", traffic), ("--mirror", mirror)):
        unknown = sorted(set(split or {}) - known)
        if unknown:
            raise UsageError(
                f"{option}: no deployment {', '.join(unknown)} on this endpoint "
                f"(deployments: {', '.join(sorted(known)) or 'none'})"
            )
    for name in mirror or {}:
        if live.get(name):
            raise UsageError(
                f"--mirror {name}: a mirrored deployment must get no live traffic; "
                f"set {name}=0 in --traffic"
            )


# -- deploy ---------------------------------------------------------------------------------


def _get_endpoint(client: Any, name: str) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    with sdk_quiet(), azure_errors(f"reading endpoint {name}"):
        try:
            return client.online_endpoints.get(name)
        except ResourceNotFoundError:
            return None


def _wait(poller: Any, reporter: Reporter, what: str, deadline: float) -> Any:
    """Wait for an LRO with progress every PROGRESS_EVERY seconds; TimeoutError at deadline."""
    start = time.monotonic()
    next_note = start + PROGRESS_EVERY
    while not poller.done():
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError(what)
        poller.wait(timeout=min(2.0, max(0.05, deadline - now)))
        if time.monotonic() >= next_note:
            reporter.detail(
                f"{what}: {poller.status()} after {time.monotonic() - start:.0f}s", important=True
            )
            next_note += PROGRESS_EVERY
    return poller.result()


def deployment_logs(
    client: Any,
    endpoint: str,
    deployment: str,
    *,
    lines: int = LOG_LINES,
    container: str = "inference-server",
) -> str:
    """The last `lines` lines of one container's log of a deployment."""
    if container not in CONTAINERS:
        raise UsageError(f"--container {container!r}: choose {' or '.join(CONTAINERS)}")
    with sdk_quiet(), azure_errors(f"reading the {container} log of {endpoint}/{deployment}"):
        text = client.online_deployments.get_logs(
            name=deployment, endpoint_name=endpoint, lines=lines, container_type=container
        )
    return redact(str(text))


def _collect_logs(client: Any, plan: DeployPlan) -> dict[str, str]:
    logs: dict[str, str] = {}
    for container in CONTAINERS:
        try:
            logs[container] = deployment_logs(
                client, plan.endpoint_name, plan.deployment_name, container=container
            )
        except AzureError as error:
            logs[container] = f"(no log: {error.message})"
    return logs


def _failed(
    client: Any,
    plan: DeployPlan,
    headline: str,
    error_text: str,
    extra: list[Diagnosis] | None = None,
    *,
    full: str = "",
) -> DeploymentFailed:
    logs = _collect_logs(client, plan)
    found = (extra or []) + diagnose(full or error_text, logs, plan.settings)
    details = [f"--- Azure's error ---\n{full.rstrip()}"] if full and full != error_text else []
    details += [
        f"--- {name} log (last {LOG_LINES} lines) ---\n{text.rstrip()}"
        for name, text in logs.items()
    ]
    if found:
        details.append("likely cause(s):")
        details += [f"  - {d.cause}\n    fix: {d.fix}" for d in found]
    first = f"; likely: {found[0].cause}; fix: {found[0].fix}" if found else ""
    return DeploymentFailed(f"{headline}: {error_text}{first}", details="\n".join(details))


def _create_endpoint(client: Any, plan: DeployPlan, reporter: Reporter, deadline: float) -> bool:
    existing = _get_endpoint(client, plan.endpoint_name)
    if existing is not None:
        # endpoint.yml carries no traffic: keep what the endpoint has.
        plan.endpoint.traffic = dict(existing.traffic or {})
        plan.endpoint.mirror_traffic = dict(existing.mirror_traffic or {})
    verb = "Updating" if existing is not None else "Creating"
    reporter.step(f"{verb} endpoint {plan.endpoint_name}")
    with sdk_quiet(), azure_errors(f"{verb.lower()} endpoint {plan.endpoint_name}"):
        poller = client.online_endpoints.begin_create_or_update(plan.endpoint)
        try:
            _wait(poller, reporter, f"endpoint {plan.endpoint_name}", deadline)
        except TimeoutError:
            raise DeploymentFailed(
                f"endpoint {plan.endpoint_name} not ready in time; {TIMEOUT.fix}"
            ) from None
    return existing is None


def _create_deployment(
    client: Any, plan: DeployPlan, reporter: Reporter, deadline: float, started: float
) -> None:
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import AzureError as CoreError

    name = f"{plan.endpoint_name}/{plan.deployment_name}"
    reporter.step(
        f"Deploying {name} (uploads model, code and build context; Azure builds the image "
        "and starts the container: often 10-20 minutes)"
    )
    try:
        with sdk_quiet():
            poller = client.online_deployments.begin_create_or_update(
                plan.deployment, skip_script_validation=plan.skip_script_validation
            )
            _wait(poller, reporter, f"deployment {name}", deadline)
    except TimeoutError:
        waited = time.monotonic() - started
        raise _failed(
            client,
            plan,
            f"deployment {name} not finished after {waited:.0f}s",
            "still provisioning (Azure keeps going; check with scaffold logs)",
            [TIMEOUT],
        ) from None
    except (CoreError, MlException) as error:
        status, text = _error_text(error)
        if _is_auth(error, status):
            raise _azure_error(f"deploying {name}", error) from None
        _, full = error_details(error)
        raise _failed(client, plan, f"deployment {name} failed", text, full=full) from None


def _deployment_names(client: Any, endpoint: str) -> set[str]:
    with sdk_quiet(), azure_errors(f"listing the deployments of {endpoint}"):
        return {str(d.name) for d in client.online_deployments.list(endpoint_name=endpoint)}


def _set_traffic(
    client: Any,
    plan: DeployPlan,
    reporter: Reporter,
    deadline: float,
    traffic: Mapping[str, int] | None,
    mirror: Mapping[str, int] | None,
) -> Any:
    endpoint = _get_endpoint(client, plan.endpoint_name)
    current = {k: int(v) for k, v in (endpoint.traffic or {}).items()}
    new = dict(traffic) if traffic is not None else None
    if new is None and not any(current.values()):
        new = {plan.deployment_name: 100}  # the first deployment takes all traffic
    if new is None and mirror is None:
        others = [k for k, v in current.items() if v and k != plan.deployment_name]
        hint = (
            f"; shift it with --traffic {others[0]}=90,{plan.deployment_name}=10 or roll it "
            f"out step by step with scaffold rollout --to {plan.deployment_name}"
            if others and not current.get(plan.deployment_name)
            else ""
        )
        reporter.detail(f"traffic unchanged ({_split(current)}){hint}", important=True)
        return endpoint
    live = new if new is not None else current
    _check_against_endpoint(new, mirror, _deployment_names(client, plan.endpoint_name), live)
    if new is not None:
        endpoint.traffic = {**dict.fromkeys(current, 0), **new}
    if mirror is not None:
        endpoint.mirror_traffic = dict(mirror)
    reporter.step(
        f"Setting traffic of {plan.endpoint_name}: {_split(endpoint.traffic)}"
        + (f", mirror {_split(endpoint.mirror_traffic)}" if mirror else "")
    )
    with sdk_quiet(), azure_errors(f"setting the traffic of {plan.endpoint_name}"):
        poller = client.online_endpoints.begin_create_or_update(endpoint)
        try:
            _wait(poller, reporter, f"traffic of {plan.endpoint_name}", deadline)
        except TimeoutError:
            raise DeploymentFailed(
                f"traffic update of {plan.endpoint_name} not finished in time; retry "
                "scaffold deploy (the deployment itself succeeded)"
            ) from None
    return _get_endpoint(client, plan.endpoint_name)


def _split(split: Mapping[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (split or {}).items()) or "none"


def workspace_of(client: Any) -> str:
    """The key of the client's workspace in the project's asset record."""
    from scaffold.assets import workspace_key

    return workspace_key(
        str(client.subscription_id), str(client.resource_group_name), str(client.workspace_name)
    )


def prepare(
    plan: DeployPlan, client: Any, reporter: Reporter, *, check_quota: bool = True
) -> list[Any]:
    """What happens before anything is created: the pinned-version check against the
    project's record, the quota check, and the asset versions (read-only calls). Returns
    the asset decisions (`scaffold.assets.AssetDecision`)."""
    from scaffold import assets

    assets.check_pinned_locally(plan, workspace_of(client))
    if check_quota:
        from scaffold.quota import require_quota

        require_quota(plan, client, reporter)
    return assets.resolve_assets(plan, client, reporter)


def deploy(
    plan: DeployPlan,
    client: Any,
    reporter: Reporter | None = None,
    *,
    traffic: Mapping[str, int] | None = None,
    mirror: Mapping[str, int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check_quota: bool = True,
    keep_traffic: bool = False,
) -> DeployResult:
    """Check, create or update the endpoint, then the deployment; wait; set traffic.

    Before anything is created: a pinned model/environment version with other content is
    refused, the VM quota checked (`check_quota`), and asset versions chosen by content
    (`scaffold.assets`). Traffic: `traffic` if given (must add up to 100), else 100% to
    this deployment when the endpoint has no traffic yet (the first deployment), else
    unchanged (`keep_traffic`: never touched, as `scaffold rollout` shifts it itself).
    `mirror` copies that percentage of live traffic to a deployment that gets no live
    traffic itself.
    """
    from scaffold import assets

    reporter = reporter or SilentReporter()
    check_split(traffic, mirror)
    started = time.monotonic()
    deadline = started + timeout
    decisions = prepare(plan, client, reporter, check_quota=check_quota)
    created = _create_endpoint(client, plan, reporter, deadline)
    try:
        _create_deployment(client, plan, reporter, deadline, started)
    except DeploymentFailed:
        # Azure accepted the deployment, so the assets are registered: remember them.
        assets.write_record(plan.project, workspace_of(client), decisions)
        raise
    assets.write_record(plan.project, workspace_of(client), decisions)
    if keep_traffic:
        endpoint = _get_endpoint(client, plan.endpoint_name)
    else:
        endpoint = _set_traffic(client, plan, reporter, deadline, traffic, mirror)
    return DeployResult(
        endpoint=plan.endpoint_name,
        deployment=plan.deployment_name,
        scoring_uri=str(endpoint.scoring_uri or ""),
        traffic={k: int(v) for k, v in (endpoint.traffic or {}).items()},
        mirror_traffic={k: int(v) for k, v in (endpoint.mirror_traffic or {}).items()},
        created_endpoint=created,
    )


# -- the deployed endpoint -------------------------------------------------------------------


def endpoint_access(client: Any, endpoint: str) -> EndpointAccess:
    """Scoring URI and key (auth_mode key), Azure ML token (aml_token) or Entra token
    (aad_token), through the SDK's `get_keys`. The key is registered as a secret."""
    found = _get_endpoint(client, endpoint)
    if found is None:
        raise AzureError(f"endpoint {endpoint} does not exist; run scaffold deploy first")
    with sdk_quiet(), azure_errors(f"getting the keys of {endpoint}"):
        keys = client.online_endpoints.get_keys(endpoint)
    key = getattr(keys, "primary_key", None) or getattr(keys, "access_token", None) or ""
    if not key:
        raise AzureError(f"Azure returned no key or token for endpoint {endpoint}")
    register_secret(str(key))
    return EndpointAccess(str(found.scoring_uri or ""), str(found.auth_mode or "key"), str(key))


def register_endpoint_keys(client: Any, endpoint: str) -> None:
    """Fetch the endpoint's keys only to mask them in what is printed next (e.g. a log that
    echoes a caller's key); nothing is said when they cannot be read."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import AzureError as CoreError

    try:
        with sdk_quiet():
            keys = client.online_endpoints.get_keys(endpoint)
    except (CoreError, MlException):
        return
    for name in ("primary_key", "secondary_key", "access_token"):
        value = getattr(keys, name, None)
        if value:
            register_secret(str(value))


def smoke_endpoint(
    project: Path,
    access: EndpointAccess,
    reporter: Reporter | None = None,
    *,
    deployment: str | None = None,
    timeout: float = 60.0,
    arguments: Sequence[str] = (),
) -> str:
    """Run the project's own smoke_test.py against a scoring URI.

    The key reaches smoke_test.py only through the AZUREML_ENDPOINT_KEY environment
    variable (never an argument, file or output); `deployment` adds the
    azureml-model-deployment header; `arguments` are more smoke_test.py options (a
    deployment's own samples). Returns the (redacted) output; SmokeTestError on failure.
    """
    reporter = reporter or SilentReporter()
    script = project.expanduser().resolve() / "smoke_test.py"
    if not script.is_file():
        raise ProjectError(f"{script} not found; restore it from the template (scaffold update)")
    if not access.scoring_uri:
        raise AzureError("the endpoint has no scoring URI yet; wait for scaffold deploy to finish")
    register_secret(access.key)
    command = [
        sys.executable,
        str(script),
        "--scoring-uri",
        access.scoring_uri,
        "--timeout",
        str(timeout),
    ]
    if deployment:
        command += ["--deployment", deployment]
    command += list(arguments)
    target = f" (deployment {deployment})" if deployment else ""
    reporter.step(f"Smoke test: {script.name} against {access.scoring_uri}{target}")
    env = {**os.environ, "AZUREML_ENDPOINT_KEY": access.key}
    proc = subprocess.run(
        command,
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout * 3 + 30,
    )
    output = redact((proc.stdout + proc.stderr).strip(), extra=[access.key])
    for line in output.splitlines():
        reporter.detail(line, important=True)
    if proc.returncode != 0:
        failed = [line for line in output.splitlines() if line.startswith("FAIL")]
        headline = failed[0] if failed else f"smoke_test.py exited {proc.returncode}"
        found = diagnose(headline, {})
        hint = f"; likely: {found[0].cause}; fix: {found[0].fix}" if found else ""
        raise SmokeTestError(f"{headline}{hint}", details=output)
    return output


def delete(
    client: Any,
    endpoint: str,
    reporter: Reporter | None = None,
    *,
    deployment: str | None = None,
    timeout: float = 900.0,
) -> bool:
    """Delete the endpoint (with its deployments), or one deployment; False if absent."""
    reporter = reporter or SilentReporter()
    found = _get_endpoint(client, endpoint)
    if found is None:
        return False
    deadline = time.monotonic() + timeout
    try:
        return _delete(client, found, reporter, deployment, deadline)
    except TimeoutError:
        raise AzureError(
            f"deleting {deployment or endpoint} not finished in time; Azure keeps deleting "
            "(check with scaffold logs or the portal)"
        ) from None


def _delete(
    client: Any, found: Any, reporter: Reporter, deployment: str | None, deadline: float
) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    endpoint = str(found.name)
    if deployment:
        if (found.traffic or {}).get(deployment):
            raise UsageError(
                f"deployment {deployment} still gets {found.traffic[deployment]}% of the traffic; "
                "move it first: scaffold deploy --traffic <other>=100"
            )
        reporter.step(f"Deleting deployment {endpoint}/{deployment}")
        with sdk_quiet(), azure_errors(f"deleting deployment {endpoint}/{deployment}"):
            try:
                poller = client.online_deployments.begin_delete(
                    name=deployment, endpoint_name=endpoint
                )
            except ResourceNotFoundError:
                return False
            _wait(poller, reporter, f"deleting {deployment}", deadline)
        return True
    reporter.step(f"Deleting endpoint {endpoint} and its deployments")
    with sdk_quiet(), azure_errors(f"deleting endpoint {endpoint}"):
        poller = client.online_endpoints.begin_delete(name=endpoint)
        _wait(poller, reporter, f"deleting {endpoint}", deadline)
    return True
