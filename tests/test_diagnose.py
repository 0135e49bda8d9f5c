"""The known failures map to a cause and the setting to change: the classic cases of
shared/reference azureml.md §8, and a corpus of real failure texts from public issue threads
(tests/diagnose_corpus.yml) in the shapes Azure returns them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.diagnose import DeploymentSettings, diagnose
from scaffold.failures import parse

SETTINGS = DeploymentSettings(
    initial_delay=10,
    instance_type="Standard_DS3_v2",
    instance_count=2,
    model_path="./model",
    request_timeout_ms=5000,
    max_concurrent=1,
    port=8000,
)

CASES = [
    # (error, inference-server log, storage-initializer log, first code, text in the fix)
    (
        "ResourceNotReady: User container has crashed or terminated",
        "Liveness probe failed: HTTP probe failed with statuscode: 502",
        "",
        "probe",
        "readiness_probe.initial_delay (now 10)",
    ),
    (
        "ImagePullFailure: Endpoint identity does not have pull permission on the registry",
        "",
        "",
        "image-pull",
        "AcrPull",
    ),
    (
        "QuotaExceeded: Not enough quota available for Standard_DS3_v2",
        "",
        "",
        "cpu-quota",
        "instance_count (now 2)",
    ),
    (
        "HTTP 401 InvalidAuthenticationToken: The access token is invalid",
        "",
        "",
        "unauthorized",
        "az login",
    ),
    (
        "ResourceNotReady",
        "",
        "FileNotFoundError: No such file or directory: '/var/azureml-app/"
        "azureml-models/m/1/model/model.rds'",
        "model-not-found",
        "model.path (now './model')",
    ),
    (
        "ResourceNotReady",
        "No versions of servable half_plus_two found under base path",
        "",
        "model-not-found",
        "model_mount_path",
    ),
    ("ImageBuildFailure: the image build failed", "", "", "image-build", "--push"),
    (
        "ResourceNotReady",
        "org.pytorch.serve.http.InvalidKeyException: Token Authorization failed",
        "",
        "token-auth",
        "disable_token_authorization",
    ),
    (
        "ResourceNotReady",
        "Running plumber API at http://127.0.0.1:8000",
        "",
        "bind-localhost",
        "0.0.0.0",
    ),
    ("MissingDriverProgram: no driver program", "", "", "missing-driver", "inference_config"),
    (
        "FAIL scoring: POST https://e.region.inference.ml.azure.com/score -> HTTP 424",
        "",
        "",
        "model-error",
        "scoring code",
    ),
    (
        "FAIL scoring: POST https://x/score -> HTTP 408: upstream request timeout",
        "",
        "",
        "request-timeout",
        "request_timeout_ms",
    ),
    (
        "FAIL scoring: POST https://x/score -> HTTP 429: Too many requests",
        "",
        "",
        "throttled",
        "max_concurrent_requests_per_instance",
    ),
    (
        "FAIL scoring: POST https://x/score -> HTTP 401: 'key_auth_access_denied'",
        "",
        "",
        "scoring-unauthorized",
        "fresh key",
    ),
    (
        "(None) ResourceNotReady: User container has crashed or terminated: container exited "
        "with code 3",
        "",
        "",
        "container-exited",
        "scaffold run",
    ),
    (
        "(BadRequest) The request is invalid.\nException Details:\t(UserError) VmSize: The VM "
        "size Standard_Bogus is not supported for managed online endpoints.",
        "",
        "",
        "unsupported-size",
        "SKU list",
    ),
    (
        "FAIL scoring: POST https://x/score -> HTTP 404: 'no healthy upstream'",
        "",
        "",
        "no-traffic",
        "--traffic",
    ),
]


@pytest.mark.parametrize(("error", "server_log", "init_log", "code", "fix"), CASES)
def test_known_failure_maps_to_its_fix(
    error: str, server_log: str, init_log: str, code: str, fix: str
) -> None:
    found = diagnose(
        error, {"inference-server": server_log, "storage-initializer": init_log}, SETTINGS
    )
    assert found, error
    assert found[0].code == code, [d.code for d in found]
    assert fix in found[0].fix


def test_nothing_known_gives_no_guess() -> None:
    assert diagnose("something odd happened", {"inference-server": "server up"}) == []
    assert diagnose("", {}) == []


CORPUS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "diagnose_corpus.yml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i}-{c['expect']}" for i, c in enumerate(CORPUS)])
def test_real_failure_texts(case: dict[str, Any]) -> None:
    settings = DeploymentSettings(**case.get("settings", {}))
    found = diagnose(case["error"], case.get("logs", {}), settings)
    codes = [d.code for d in found]
    assert codes and codes[0] == case["expect"], (case["source"], codes)
    if "fix" in case:
        assert case["fix"] in found[0].fix, found[0].fix
    if "cause" in case:
        assert case["cause"] in found[0].cause, found[0].cause
    assert not set(case.get("not", [])) & set(codes), codes
    for diagnosis in found:  # advice never shows a format placeholder
        assert "{" not in diagnosis.cause + diagnosis.fix, diagnosis


def test_the_shapes_are_parsed_not_matched() -> None:
    """The cause hidden in details[] / nested JSON / code None is found structurally."""
    body = (
        '{"error": {"code": "BadRequest", "message": "The request is invalid.", "details": '
        '[{"code": "InferencingClientCreateDeploymentFailed", "message": "error detail: '
        '{\\"errors\\":{\\"VmSize\\":[\\"Not enough quota available for X\\"]}}"}]}}'
    )
    failure = parse(body)
    assert failure.http_status is None
    assert "InferencingClientCreateDeploymentFailed" in failure.codes
    assert failure.headline().startswith("VmSize: Not enough quota available for X")
    lro = parse("(None) ResourceNotReady: User container has crashed or terminated")
    assert lro.codes[0] == "ResourceNotReady"
    assert lro.headline() == "ResourceNotReady: User container has crashed or terminated"
    anchor = parse("Please see https://aka.ms/oe-tsg#error-outofquota")
    assert anchor.has_code("OutOfQuota")


def test_status_block_succeeded_steps_are_not_failures() -> None:
    log = (
        "Instance status:\nSystemSetup: Succeeded\nUserContainerImagePull: Succeeded\n"
        "ModelDownload: Failed\nUserContainerStart: NotStarted\n\nContainer events:\n"
        "Kind: Pod, Name: DownloadFailed, Type: Warning, Time: t, Message: Model download failed\n"
        "server log line\n"
    )
    failure = parse("", {"inference-server": log})
    assert failure.failed_steps == ["ModelDownload"]
    assert failure.pending_steps == ["UserContainerStart"]
    assert [e.name for e in failure.events] == ["DownloadFailed"]
    assert "ImagePull" not in failure.log_text and "server log line" in failure.log_text
    assert next(d.code for d in diagnose("", {"inference-server": log})) == "model-download"


def test_logs_alone_diagnose_a_local_run() -> None:
    """`scaffold run` passes only a container log (the hardening engineer's call)."""
    log = "INFO starting\nRunning plumber API at http://127.0.0.1:8000\n"
    found = diagnose("", {"container": log}, DeploymentSettings(port=8000))
    assert found[0].code == "bind-localhost" and "0.0.0.0" in found[0].fix


def _shapes(text: str) -> dict[str, str]:
    """One error text in the other shapes Azure and its clients produce."""
    one_line = " ".join(text.split())
    return {
        "one-line": one_line,  # GitHub comments, CI logs folding newlines
        "cli": f"ERROR: {one_line}",
        "detail": json.dumps(  # the cause only in details[] of an ARM error body
            {
                "error": {
                    "code": "BadRequest",
                    "message": "The request is invalid.",
                    "details": [{"code": "UserError", "message": one_line}],
                }
            }
        ),
        "operation": json.dumps({"status": "Failed", "error": {"message": one_line}}),
        "azure-core": f"(None) {one_line}\nCode: None\nMessage: {one_line}",
    }


SHAPED = [c for c in CORPUS if c["error"].strip() and not c.get("logs")]


@pytest.mark.parametrize("case", SHAPED, ids=[f"{i}-{c['expect']}" for i, c in enumerate(SHAPED)])
def test_the_same_cause_in_every_shape(case: dict[str, Any]) -> None:
    settings = DeploymentSettings(**case.get("settings", {}))
    for shape, text in _shapes(case["error"]).items():
        found = diagnose(text, {}, settings)
        assert found and found[0].code == case["expect"], (shape, [d.code for d in found])


def _sdk_error(status: int, body: object) -> BaseException:
    """The exception azure-core raises for an answer of `status` with `body` (its own
    rendering of ARM error bodies and operation status documents, not a string of ours)."""
    import requests
    from azure.core.exceptions import HttpResponseError
    from azure.core.pipeline.transport import HttpRequest, RequestsTransportResponse

    answer = requests.models.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.headers["Content-Type"] = "application/json"
    request = HttpRequest("PUT", "https://management.azure.com/subscriptions/s/x")
    return HttpResponseError(response=RequestsTransportResponse(request, answer))


@pytest.mark.parametrize("case", SHAPED, ids=[f"{i}-{c['expect']}" for i, c in enumerate(SHAPED)])
def test_the_cause_survives_the_sdk_and_the_deploy_path(case: dict[str, Any]) -> None:
    """Each text as deploy receives it: raised by azure-core for a synchronous 400 with the
    cause only in details[] and for a failed long-running operation (code None), read by
    deploy's error_details, one line from the parsed headline."""
    from scaffold.deploy import error_details

    settings = DeploymentSettings(**case.get("settings", {}))
    one_line = " ".join(case["error"].split())
    answers = {
        "synchronous": _sdk_error(
            400,
            {
                "error": {
                    "code": "BadRequest",
                    "message": "The request is invalid.",
                    "details": [{"code": "UserError", "message": one_line}],
                }
            },
        ),
        "operation": _sdk_error(200, {"status": "Failed", "error": {"message": one_line}}),
    }
    for shape, error in answers.items():
        _, full = error_details(error)
        found = diagnose(full, {}, settings)
        assert found and found[0].code == case["expect"], (shape, [d.code for d in found])
        headline = parse(full).headline()
        assert headline and "The request is invalid" not in headline, (shape, headline)
