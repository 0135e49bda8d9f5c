"""The known failures (shared/reference azureml.md §8) map to a cause and the setting to change."""

from __future__ import annotations

import pytest

from scaffold.diagnose import DeploymentSettings, diagnose

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
        "quota",
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
    assert diagnose("Conflict: the endpoint is being updated", {"inference-server": "ok"}) == []
