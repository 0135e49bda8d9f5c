"""Why a deployment failed: the error Azure returned plus the container logs, matched against
the known failures of custom containers on managed online endpoints (the list researched
from Azure's docs, samples and issues), each with the exact setting to change in the
project's files.

Pure functions over text (no SDK): `diagnose(error, logs, settings)` returns the likely
causes, most specific first. The deploy module fetches the logs and calls it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Diagnosis:
    """One likely cause and its fix."""

    #: Short id (for tests and --json).
    code: str
    cause: str
    #: What to change, naming the file and setting.
    fix: str


@dataclass(frozen=True)
class DeploymentSettings:
    """The values of deployment.yml a fix refers to (current values shown in the advice)."""

    initial_delay: Any = 10
    failure_threshold: Any = 30
    period: Any = 10
    request_timeout_ms: Any = 5000
    max_concurrent: Any = 1
    instance_type: str = ""
    instance_count: Any = 1
    model_path: str = ""
    model_mount_path: str = ""
    port: Any = 0


@dataclass(frozen=True)
class _Rule:
    code: str
    pattern: re.Pattern[str]
    #: Where to look: "error" (Azure's error code and message), "logs", or "any".
    where: str
    cause: str
    fix: str


def _rule(code: str, pattern: str, where: str, cause: str, fix: str) -> _Rule:
    return _Rule(code, re.compile(pattern, re.IGNORECASE), where, cause, fix)


#: Most specific first. Fix texts are formatted with DeploymentSettings' fields.
RULES: tuple[_Rule, ...] = (
    _rule(
        "scoring-unauthorized",
        r"-> HTTP 401",
        "error",
        "the endpoint rejected the key or token sent to the scoring URI (a regenerated key, "
        "an expired aml_token, or an aad_token endpoint without the role)",
        "run scaffold smoke again (it fetches a fresh key or token); check auth_mode in "
        "endpoint.yml and, for aad_token, the AzureML Data Scientist role of the caller",
    ),
    _rule(
        "no-traffic",
        r"-> HTTP 404",
        "error",
        "no deployment of the endpoint receives traffic (or the scoring path is wrong)",
        "give a deployment traffic (scaffold deploy --traffic <deployment>=100) or test one "
        "deployment with scaffold smoke --deployment <name>",
    ),
    _rule(
        "unauthorized",
        r"\b401\b|InvalidAuthenticationToken|AuthenticationFailed|ClientAuthenticationError"
        r"|AuthorizationFailed|does not have authorization",
        "error",
        "Azure refused the credentials (signed out, expired token, or no role on the workspace)",
        "sign in again (`az login`, or the CI's federated credential) and give the identity "
        "the AzureML Data Scientist role (or Contributor) on the workspace; check "
        "--subscription/--resource-group/--workspace",
    ),
    _rule(
        "quota",
        r"QuotaExceeded|OutOfQuota|quota|NotEnoughCores|SkuNotAvailable",
        "error",
        "not enough VM quota for {instance_count} x {instance_type} in the workspace's region "
        "(Azure also reserves 20% extra for upgrades)",
        "lower instance_count (now {instance_count}) or pick another instance_type (now "
        "{instance_type}) in deployment.yml, or request more quota for that VM family",
    ),
    _rule(
        "image-pull",
        r"ImagePull|pull access denied|pull permission|unauthorized: authentication required"
        r"|manifest unknown|denied: requested access",
        "any",
        "the endpoint could not pull the image: its identity lacks AcrPull on the registry, "
        "or the image/tag does not exist",
        "use the workspace's registry (environment.build in deployment.yml, or scaffold "
        "deploy --push) with the endpoint's system-assigned identity, or grant the endpoint "
        "identity (endpoint.yml identity) AcrPull on the registry (Container Registry "
        "Repository Reader in ABAC mode); check environment.image in deployment.yml",
    ),
    _rule(
        "image-build",
        r"ImageBuildFailure|image build failed|BuildFailed",
        "any",
        "Azure could not build docker-context/ (a failing step, or a base image it cannot pull)",
        "check that `scaffold run` builds locally; pin package versions; mirror the base image "
        "into the workspace registry; or build locally with scaffold deploy --push",
    ),
    _rule(
        "model-not-found",
        r"No versions of servable|model.*not found|No such file or directory|FileNotFoundError"
        r"|cannot open file|does not exist|failed to load model|ModelNotFound",
        "logs",
        "the server did not find the model where it looked: Azure keeps the model folder's "
        "name under the mount (…/<model>/<version>/<folder>/…)",
        "check model.path (now {model_path!r}) and model_mount_path (now "
        "{model_mount_path!r}) in deployment.yml against the path the server reads (its "
        "environment_variables and start script); `scaffold run` mounts it the same way",
    ),
    _rule(
        "token-auth",
        r"InvalidKeyException|Token Authorization",
        "logs",
        "TorchServe's token authorization (on by default since 0.11) rejects the platform's "
        "requests",
        "disable it in docker-context/config.properties (disable_token_authorization=true) "
        "or start torchserve with --disable-token-auth",
    ),
    # vLLM's own start-up errors (texts of vLLM 0.32's source), fixed in deployment.yml's
    # environment_variables (docker-context/start-vllm.sh passes them on).
    _rule(
        "vllm-no-gpu",
        r"Failed to infer device type|No CUDA GPUs are available|Found no NVIDIA driver",
        "logs",
        "vLLM found no GPU: its CUDA image runs on a CPU instance type ({instance_type})",
        "choose a GPU instance_type in deployment.yml (e.g. Standard_NC24ads_A100_v4), or "
        "base docker-context/Dockerfile on vllm/vllm-openai-cpu:<version> for a CPU size",
    ),
    _rule(
        "vllm-bfloat16",
        r"Bfloat16 is only supported on GPUs",
        "logs",
        "the GPUs of {instance_type} have no bfloat16 (T4, V100: compute capability below 8.0)",
        "set DTYPE: float16 in deployment.yml's environment_variables, or use an A100/H100 "
        "instance type",
    ),
    _rule(
        "vllm-max-model-len",
        r"User-specified max_model_len .{0,80}greater than the derived max_model_len",
        "logs",
        "MAX_MODEL_LEN is longer than the model's max_position_embeddings",
        "lower MAX_MODEL_LEN in deployment.yml's environment_variables to the model's length "
        "(`scaffold validate` names it)",
    ),
    _rule(
        "vllm-kv-cache",
        r"larger than the available KV cache memory|No available memory for the cache blocks",
        "logs",
        "after the weights, the GPU memory of {instance_type} leaves too little KV cache for "
        "one sequence of MAX_MODEL_LEN tokens",
        "lower MAX_MODEL_LEN or raise GPU_MEMORY_UTILIZATION in deployment.yml's "
        "environment_variables, or use an instance type with more GPU memory",
    ),
    _rule(
        "vllm-tensor-parallel",
        r"must be divisible by tensor parallel size|exceeds the total number of available GPUs"
        r"|world_size .{0,40}available",
        "logs",
        "TENSOR_PARALLEL_SIZE does not fit the model's attention heads or the GPUs of "
        "{instance_type}",
        "set TENSOR_PARALLEL_SIZE in deployment.yml's environment_variables to a divisor of "
        "the attention heads, at most the instance type's GPUs (`scaffold validate` checks both)",
    ),
    _rule(
        "gpu-out-of-memory",
        r"CUDA out of memory|torch\.OutOfMemoryError|OutOfMemoryError: CUDA",
        "logs",
        "the model does not fit the GPU memory of {instance_type}",
        "use an instance type with more GPU memory or more GPUs (TENSOR_PARALLEL_SIZE), a "
        "quantized model, or a lower GPU_MEMORY_UTILIZATION/MAX_MODEL_LEN",
    ),
    _rule(
        "bind-localhost",
        r"(Listening|Running|started).{0,40}(127\.0\.0\.1|localhost)",
        "logs",
        "the server listens on 127.0.0.1 only, which the platform's probes cannot reach",
        "make the server bind 0.0.0.0 (host in the start script / config) on port {port}",
    ),
    _rule(
        "probe",
        r"probe failed|ResourceNotReady|Unready|readiness|liveness|ContainerCrashLoop"
        r"|BackOff|\b502\b",
        "any",
        "the container did not answer its liveness/readiness probes in time: the model loads "
        "more slowly than readiness_probe allows ({initial_delay}s + {failure_threshold} x "
        "{period}s), the server crashed while loading, or the probe port/path is wrong",
        "raise readiness_probe.initial_delay (now {initial_delay}) and liveness_probe."
        "initial_delay in deployment.yml (or failure_threshold); check the logs above for a "
        "crash and the routes in environment.inference_config with `scaffold run`",
    ),
    _rule(
        "missing-driver",
        r"MissingDriverProgram",
        "any",
        "Azure treated the image as an Azure ML inference image without a scoring script",
        "add environment.inference_config (liveness/readiness/scoring routes) to deployment.yml",
    ),
    _rule(
        "model-error",
        r"\b424\b|ms-azureml-model-error",
        "any",
        "the container answered the scoring request with an error (Azure reports it as 424)",
        "run `scaffold run` and read the container log for the failing request; fix the "
        "scoring code or the request (sample_request.json)",
    ),
    _rule(
        "request-timeout",
        r"\b408\b|upstream request timeout|request timeout",
        "any",
        "scoring took longer than request_settings.request_timeout_ms (now {request_timeout_ms})",
        "raise request_settings.request_timeout_ms in deployment.yml (at most 180000) or "
        "make scoring faster",
    ),
    _rule(
        "throttled",
        r"\b429\b|Too many requests",
        "any",
        "more requests in flight than 2 x max_concurrent_requests_per_instance (now "
        "{max_concurrent}) x instance_count",
        "raise request_settings.max_concurrent_requests_per_instance in deployment.yml to "
        "what the server handles (`scaffold loadtest`), or add instances",
    ),
)

TIMEOUT = Diagnosis(
    "timeout",
    "the deployment did not finish in time: a slow image build or pull, or probes that "
    "never pass (the container logs above show which)",
    "pre-build the image (scaffold deploy --push), tune the probes in deployment.yml, and "
    "check `scaffold logs` and `scaffold logs --container storage-initializer`",
)


def diagnose(
    error: str, logs: Mapping[str, str], settings: DeploymentSettings | None = None
) -> list[Diagnosis]:
    """Likely causes of a failure, most specific first (empty when nothing matches).

    Args:
        error: Azure's error code and message (or an HTTP status line).
        logs: Container name -> log text (inference-server, storage-initializer).
        settings: deployment.yml's current values, quoted in the fixes.
    """
    settings = settings or DeploymentSettings()
    text = {"error": error, "logs": "\n".join(logs.values())}
    text["any"] = text["error"] + "\n" + text["logs"]
    values = vars(settings)
    found: list[Diagnosis] = []
    for rule in RULES:
        if rule.pattern.search(text[rule.where]):
            found.append(
                Diagnosis(rule.code, rule.cause.format(**values), rule.fix.format(**values))
            )
    return found
