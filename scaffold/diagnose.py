"""Why a deployment failed: Azure's error and the container logs, parsed into facts
(`scaffold.failures`: codes and messages from every shape the service returns, the
instance status block, container events) and matched against the failures of custom
containers on managed online endpoints: every code of the troubleshooting article
(ImageBuildFailure, OutOfQuota with its CPU/memory/disk/endpoint/role/capacity causes,
BadArgument, ResourceNotReady, ResourceNotFound, WorkspaceManagedNetworkNotReady,
OperationCanceled, SecretsInjectionError, InternalServerError), the asset-version conflict,
sign-in and scoring failures, and what the container's own log says (crash, missing model,
out of memory, wrong platform, a server bound to 127.0.0.1). Each cause comes with the
setting to change in the project's files.

Structured facts first, then patterns: a rule matches on error codes, on the messages Azure
returned (details included), on failed instance-status steps and container events, or on
the log text (without the status block: `UserContainerImagePull: Succeeded` is not an image
pull failure). Rules in one group exclude each other (an out-of-memory OutOfQuota is not
also a CPU-quota one); the most specific comes first.

Pure functions over text (no SDK): `diagnose(error, logs, settings)` returns the likely
causes; `scaffold run` calls it with a local container's log, `scaffold deploy` with
Azure's error and the deployment logs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from scaffold.failures import Failure, parse


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
    model_name: str = ""
    model_version: str = ""
    endpoint_name: str = ""
    deployment_name: str = ""


Test = Callable[[Failure], dict[str, str] | None]


@dataclass(frozen=True)
class _Rule:
    code: str
    test: Test
    cause: str
    fix: str
    #: Rules of one group exclude each other: only the first that matches is kept.
    group: str = ""
    #: Only when no other rule matched (a bare error code says little by itself).
    fallback: bool = False


# -- tests over a Failure ----------------------------------------------------------------------


def _search(pattern: str, text_of: Callable[[Failure], str]) -> Test:
    regex = re.compile(pattern, re.IGNORECASE)

    def test(failure: Failure) -> dict[str, str] | None:
        match = regex.search(text_of(failure))
        if match is None:
            return None
        return {k: v for k, v in match.groupdict().items() if v is not None}

    return test


def _msg(pattern: str) -> Test:
    """Azure's messages (every detail, nested JSON included) match `pattern`."""
    return _search(pattern, lambda f: f.message_text)


def _log(pattern: str) -> Test:
    """The container logs (status block and events removed) match `pattern`."""
    return _search(pattern, lambda f: f.log_text)


def _anywhere(pattern: str) -> Test:
    """Messages, logs or container event messages match `pattern`."""
    return _search(
        pattern,
        lambda f: "\n".join([f.message_text, f.log_text, *(e.message for e in f.events)]),
    )


def _code(*codes: str) -> Test:
    return lambda f: {} if f.has_code(*codes) else None


def _event(name_pattern: str) -> Test:
    regex = re.compile(name_pattern, re.IGNORECASE)

    def test(failure: Failure) -> dict[str, str] | None:
        for event in failure.events:
            if regex.search(event.name):
                return {"event": f"{event.name}: {event.message}".strip(": ")}
        return None

    return test


def _container_log(container: str, pattern: str) -> Test:
    """The log of the container named like `container` (e.g. storage-initializer) matches."""
    regex = re.compile(pattern, re.IGNORECASE)

    def test(failure: Failure) -> dict[str, str] | None:
        for name, text in failure.logs.items():
            if container in name.lower():
                match = regex.search(text)
                if match:
                    return {k: v for k, v in match.groupdict().items() if v is not None}
        return None

    return test


def _step_failed(*steps: str) -> Test:
    wanted = {s.lower() for s in steps}

    def test(failure: Failure) -> dict[str, str] | None:
        failed = [s for s in failure.failed_steps if s.lower() in wanted]
        return {"step": failed[0]} if failed else None

    return test


def _http(*statuses: int) -> Test:
    return lambda f: {} if f.http_status in statuses else None


def _any(*tests: Test) -> Test:
    def test(failure: Failure) -> dict[str, str] | None:
        for one in tests:
            found = one(failure)
            if found is not None:
                return found
        return None

    return test


def _all(*tests: Test) -> Test:
    def test(failure: Failure) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for one in tests:
            found = one(failure)
            if found is None:
                return None
            values.update(found)
        return values

    return test


def _not(inner: Test) -> Test:
    return lambda f: {} if inner(f) is None else None


def _rule(
    code: str, test: Test, cause: str, fix: str, group: str = "", *, fallback: bool = False
) -> _Rule:
    return _Rule(code, test, cause, fix, group, fallback)


# -- the rules ----------------------------------------------------------------------------------

_OOM = (
    r"insufficient memory|out of memory|OutOfMemory|OOMKilled|OOM ?killed|memory limit"
    r"|MemoryError|Cannot allocate memory|std::bad_alloc|exit code:? ?137|Killed process"
    r"|java\.lang\.OutOfMemoryError"
)
_DISK = (
    r"No space left on device|disk (?:space|quota|is full|full)|insufficient disk"
    r"|ephemeral[- ]storage|DiskPressure|not enough (?:disk|space)"
)
_PULL = (
    r"pull permission|Unable to download user container image|ImagePull|ErrImagePull"
    r"|pull access denied|manifest unknown|manifest for \S+ not found"
    r"|unauthorized: authentication required|denied: requested access"
    r"|failed to pull (?:and unpack )?image|image .{0,80}not found"
)
_CRASH_LINE = re.compile(
    r"^.*(?:\b[A-Za-z_][\w.]*(?:Error|Exception)\b(?::|\s*$)|\bError(?: in |: )|\berror: "
    r"|\bFATAL\b|\bFatal error\b|\bpanic: |Segmentation fault|exited with (?:code|status) [1-9]"
    r"|executable file not found|command not found|Permission denied|cannot execute"
    r"|there is no package called|No module named ['\"]|cannot import name ['\"]"
    r"|Traceback \(most recent call last\)).*$",
    re.MULTILINE,
)
#: An HTTP status in context (`-> HTTP 424`, `status code: 429`), not any number.
_STATUS = r"(?:HTTP[ /]?(?:1\.[01] )?|status[ _]?(?:code)?[\"']?\s*[:=]?\s*|\(|^)"
_PROBE_STATUS = r"probe failed: HTTP probe failed with status ?code: (?P<probe_status>\d{3})"

TIMEOUT_CAUSE = (
    "the deployment did not finish in time: a slow image build or pull, or probes that "
    "never pass (the container logs above show which)"
)
TIMEOUT_FIX = (
    "pre-build the image (scaffold deploy --push), tune the probes in deployment.yml, and "
    "check `scaffold logs` and `scaffold logs --container storage-initializer`"
)
_LISTENING = re.compile(
    r"(?:listen|running|serving|started|bound|Uvicorn running)[^\n]{0,60}?"
    r"(?:0\.0\.0\.0|\*|\[::\]|::):(?P<port>\d{2,5})\b",
    re.IGNORECASE,
)


def _internal_ports() -> frozenset[str]:
    """Ports servers listen on behind their image's own front server (the registry's
    `internal_ports`): not the port the probes reach."""
    from scaffold.servers import SERVERS

    return frozenset(str(port) for spec in SERVERS.values() for port in spec.internal_ports)


def _port_mismatch(failure: Failure) -> dict[str, str] | None:
    """The server says it listens on a port other than the routes' (the settings' port is
    passed as the failure's `expected_port` by `diagnose`)."""
    expected = failure.expected_port
    if not expected:
        return None
    ports = {m["port"] for m in _LISTENING.finditer(failure.log_text)} - _internal_ports()
    if ports and str(expected) not in ports:
        return {"listen_port": sorted(ports)[0]}
    return None


_LOOPBACK = re.compile(
    r"(?:Listening|Running|started|serving|Uvicorn running).{0,40}"
    r"(?:127\.0\.0\.1|localhost)(?::(?P<port>\d{2,5}))?",
    re.IGNORECASE,
)


def _bind_localhost(failure: Failure) -> dict[str, str] | None:
    """The server listens on 127.0.0.1 on the port the probes reach (or on a port the log
    alone cannot tell is internal). A server behind its image's own front server (azmlinfsrv
    on 127.0.0.1:31311 behind nginx) is no such case."""
    expected = str(failure.expected_port or "")
    internal = _internal_ports()
    for match in _LOOPBACK.finditer(failure.log_text):
        port = match["port"] or ""
        if port in internal or (expected and port and port != expected):
            continue
        return {}
    return None


RULES: tuple[_Rule, ...] = (
    _rule(
        "asset-conflict",
        _msg(
            r"Asset paths cannot be updated|already registered and cannot be changed"
            r"|already linked to an asset|does not match the content|cannot be overwritten"
            r"|version .{0,60}already exists with (?:a )?different"
            r"|was deleted .{0,80}cannot be recreated|try again with a different version"
        ),
        "a registered model, code or environment version cannot change its content (nor be "
        "registered again once deleted): Azure refused new files under a version that already "
        "exists or existed",
        "remove `version:` under model in deployment.yml so scaffold deploy picks the version "
        "from the content{model_version_raise}; for a named environment raise "
        "environment.version",
    ),
    _rule(
        "asset-not-found",
        _any(
            _code("ModelNotFound", "EnvironmentNotFound", "CodeNotFound", "AssetNotFound"),
            _msg(
                r"(?:Model|Environment|Code|Data) (?:container|asset|version)? ?(?:with name"
                r"|name)?:? .{0,120}not found|not found in (?:the |provided )?workspace"
                r"|Could not find (?:asset|model|environment)"
            ),
        ),
        "deployment.yml references a registered asset (azureml:NAME:VERSION) this workspace "
        "does not have (another workspace, a typo, or a version never registered)",
        "register it in this workspace first (`az ml model list -n NAME` lists what exists), "
        "or point model.path (or environment.build) at the local folder so scaffold deploy "
        "registers it; check --workspace",
    ),
    _rule(
        "deployment-not-found",
        _msg(
            r"Deployment(?: name)? \S+ not found (?:for this|in) endpoint|No deployment exists "
            r"for this endpoint|deployment \S+ (?:does not exist|was not found)"
        ),
        "the deployment does not exist on the endpoint: never created, its creation failed, "
        "it was deleted, or it was created seconds ago and Azure does not list it yet",
        "deploy it first (scaffold deploy), or name an existing one: --deployment "
        "(`az ml online-deployment list -e <endpoint>` lists them); right after a deploy, "
        "wait a minute and retry",
    ),
    _rule(
        "endpoint-name-taken",
        _msg(
            r"endpoint with this name already exists|EndpointAlreadyExists"
            r"|endpoint name .{0,40}(?:already (?:exists|in use|taken)|not available)"
            r"|already an endpoint with (?:this|the) name|(?:names? )?(?:needs|must) to be "
            r"unique (?:within|in|per) (?:a|the) region"
        ),
        "endpoint names are unique per Azure region, and {endpoint_name_text} is taken (by "
        "another workspace, or a deleted endpoint still being removed)",
        "choose another name: `name` in endpoint.yml and `endpoint_name` in deployment.yml "
        "(scaffold new adds a short unique suffix to its default names)",
    ),
    _rule(
        "storage-access",
        _msg(
            r"AuthorizationPermissionMismatch|AuthorizationFailure|This request is not "
            r"authorized to perform this operation|KeyBasedAuthenticationNotPermitted"
        ),
        "the identity scaffold signs in with cannot read or write the workspace's storage "
        "account (no data-plane role on it, or its firewall blocks this machine); azure-ai-ml "
        "uploads the model and code there with your identity",
        "give the identity Storage Blob Data Contributor on the workspace's storage account "
        "(roles take a few minutes to apply), and allow this network in the storage "
        "account's firewall",
    ),
    _rule(
        "unauthorized",
        _any(
            _code(
                "InvalidAuthenticationToken",
                "InvalidAuthenticationTokenTenant",
                "AuthenticationFailed",
                "AuthorizationFailed",
                "ExpiredAuthenticationToken",
            ),
            _msg(
                r"ClientAuthenticationError|DefaultAzureCredential failed|does not have "
                r"authorization to perform|access token (?:is invalid|expiry|has expired)"
                r"|AADSTS\d+|Please run 'az login'"
            ),
            _all(_http(401, 403), _not(_msg(r"-> HTTP 40[13]"))),
        ),
        "Azure refused the credentials (signed out, expired token, or no role on the workspace)",
        "sign in again (`az login`, or the CI's federated credential) and give the identity "
        "the AzureML Data Scientist role (or Contributor) on the workspace; check "
        "--subscription/--resource-group/--workspace",
    ),
    _rule(
        "scoring-unauthorized",
        _msg(
            r"-> HTTP 401|key_auth_access_denied|aml_token .{0,40}expired"
            r"|(?:Entra|AAD|aad) token (?:was )?denied|token denied by policy"
        ),
        "the endpoint rejected the key or token sent to the scoring URI (a regenerated key, "
        "an expired aml_token, or an aad_token endpoint without the role)",
        "run scaffold smoke again (it fetches a fresh key or token); check auth_mode in "
        "endpoint.yml and, for aad_token, the AzureML Data Scientist role of the caller",
    ),
    _rule(
        "no-traffic",
        _msg(
            r"-> HTTP 404|No valid deployments to route to|no deployment with positive weight"
            r"|at least one deployment with positive weight"
        ),
        "no deployment of the endpoint receives traffic (or the scoring path is wrong)",
        "give a deployment traffic (scaffold deploy --traffic <deployment>=100) or test one "
        "deployment with scaffold smoke --deployment <name>",
    ),
    _rule(
        "model-error",
        _msg(
            rf"{_STATUS}424\b|ms-azureml-model-error"
            r"|An unexpected error occurred in scoring script"
        ),
        "the container answered the scoring request with an error (Azure reports it as 424)",
        "run `scaffold run` and read the container log for the failing request; fix the "
        "scoring code or the request (sample_request.json)",
    ),
    _rule(
        "request-rejected",
        _msg(
            r"value is not provided for the ['\"]?\w+['\"]? parameter|Invalid input format"
            r"|(?:missing|required) (?:the )?(?:key|field|parameter|input) ['\"]\w+['\"]"
            r"|(?:input|request)(?: body| data)? (?:is )?(?:not in the expected|does not match)"
        ),
        "the scoring server rejected the request body: a field it needs is missing or has "
        "another shape (MLflow and Azure ML's model servers expect an input_data field)",
        "send the shape the server expects: check sample_request.json against the scoring "
        "code (or the model's signature); `scaffold run` shows the server's own error for it",
    ),
    _rule(
        "request-timeout",
        _msg(rf"{_STATUS}408\b|upstream request timeout"),
        "scoring took longer than request_settings.request_timeout_ms (now {request_timeout_ms})",
        "raise request_settings.request_timeout_ms in deployment.yml (at most 180000) or "
        "make scoring faster",
    ),
    _rule(
        "throttled",
        _msg(rf"{_STATUS}429\b|Too many (?:pending )?requests"),
        "more requests in flight than 2 x max_concurrent_requests_per_instance (now "
        "{max_concurrent}) x instance_count",
        "raise request_settings.max_concurrent_requests_per_instance in deployment.yml to "
        "what the server handles (`scaffold loadtest`), or add instances",
    ),
    _rule(
        "scoring-bad-gateway",
        _msg(r"-> HTTP 50[23]"),
        "the endpoint's front end got no answer from the container for the scoring request "
        "(it crashed on the request, restarted, or no instance is ready)",
        "read `scaffold logs` for the request; reproduce it with `scaffold run` and "
        "sample_request.json",
    ),
    _rule(
        "wrong-platform",
        _anywhere(
            r"exec format error|exec user process caused|no matching manifest for linux/amd64"
        ),
        "the image was built for another CPU architecture (e.g. arm64 on Apple Silicon); "
        "Azure runs linux/amd64",
        "build for linux/amd64: scaffold deploy --push (builds with --platform linux/amd64), "
        "or `docker buildx build --platform linux/amd64`; `scaffold run` builds amd64 by default",
    ),
    _rule(
        "gpu-out-of-memory",
        _log(r"CUDA out of memory|torch\.OutOfMemoryError: CUDA|OutOfMemoryError: CUDA"),
        "the model does not fit the GPU memory{instance_type_now}",
        "use an instance type with more GPU memory or more GPUs (TENSOR_PARALLEL_SIZE in "
        "deployment.yml's environment_variables), a quantized model, or a lower "
        "GPU_MEMORY_UTILIZATION/MAX_MODEL_LEN",
        group="quota",
    ),
    _rule(
        "out-of-memory",
        _any(_msg(_OOM), _log(_OOM), _event(r"OOM|OutOfMemory")),
        "the container ran out of memory{memory_text}",
        "choose an instance_type with more memory in deployment.yml{instance_type_now}"
        "{larger_memory_text}, or lower the worker count / load the model once",
        group="quota",
    ),
    _rule(
        "out-of-disk",
        _any(_all(_code("OutOfQuota"), _msg(r"disk")), _msg(_DISK), _log(_DISK)),
        "the model and image do not fit on the VM's disk{instance_type_now}",
        "choose a larger instance_type in deployment.yml (the VM disk grows with the size"
        "{larger_vcpus_text}) or make the model and image smaller",
        group="quota",
    ),
    _rule(
        "endpoint-quota",
        _msg(r"Endpoint Quota reached|endpoint (?:quota|limit)|number of endpoints"),
        "the subscription has as many endpoints as its limit allows{usage_text}",
        "delete endpoints you no longer use (scaffold delete, or az ml online-endpoint list "
        "and delete), or request an endpoint limit increase",
        group="quota",
    ),
    _rule(
        "role-assignment-quota",
        _msg(r"role assignments? (?:limit|quota)|RoleAssignmentLimitExceeded|too many role"),
        "the subscription reached its role-assignment limit (each endpoint identity needs some)",
        "delete unused role assignments (subscription > Access control) and deploy again",
        group="quota",
    ),
    _rule(
        "unsupported-size",
        _msg(
            r"(?:VM size|VmSize|instance ?type|SKU)\b[^\n]{0,80}?"
            r"(?:not supported|unsupported|not allowed|is invalid|not a valid)"
        ),
        "the instance_type{instance_type_now} is not offered for managed online endpoints "
        "(in this region)",
        "choose a size from Azure's managed online endpoint SKU list in deployment.yml "
        "(`scaffold validate` warns about sizes it does not know)",
        group="quota",
    ),
    _rule(
        "region-capacity",
        _any(
            _code("OutOfCapacity", "SkuNotAvailable", "ZonalAllocationFailed", "AllocationFailed"),
            _msg(
                r"lack of .{0,40}capacity|not enough capacity|capacity (?:is )?not available"
                r"|out of capacity|capacity constraints"
            ),
        ),
        "Azure has no free capacity for {quota_sku} VMs in the region right now",
        "retry later, choose another instance_type in deployment.yml, or deploy to a "
        "workspace in another region",
        group="quota",
    ),
    _rule(
        "cpu-quota",
        _any(
            _code("OutOfQuota", "QuotaExceeded", "NotEnoughCores"),
            _msg(
                r"Not enough (?:subscription )?(?:CPU |core |vCPU )?quota"
                r"|quota (?:exceeded|reached)|exceeding (?:approved )?\S+ .{0,20}quota"
                r"|results in exceeding quota|insufficient .{0,30}quota|exceeds? (?:the )?quota"
            ),
        ),
        "not enough {quota_sku} VM quota in the workspace's region{usage_text}; a deployment "
        "needs ceil(1.2 x instance_count) x vCPUs free (Azure reserves 20% for "
        "upgrades){needed_formula}",
        "lower instance_count{instance_count_now} or pick a smaller instance_type"
        "{instance_type_now} in deployment.yml, delete deployments you no longer use, or "
        "request more '{quota_usage}' quota (Azure ML studio > Quota)",
        group="quota",
    ),
    _rule(
        "registry-auth",
        _msg(r"container registry authorization failure"),
        "the workspace's keys to its container registry are out of sync",
        "run `az ml workspace sync-keys -g <resource group> -n <workspace>`, then deploy again",
        group="build",
    ),
    _rule(
        "build-network",
        _msg(r"failed to communicate with the workspace'?s container registry"),
        "the workspace's registry is private (virtual network) and no compute is set to build "
        "images in it",
        "set an image build compute for the workspace (az ml workspace update "
        "--image-build-compute <cluster>), or build locally: scaffold deploy --push",
        group="build",
    ),
    _rule(
        "dockerfile-missing",
        _anywhere(
            r"Dockerfile.{0,80}(?:not found|does not exist|no such file|cannot (?:be )?find)"
            r"|cannot locate specified Dockerfile|failed to read dockerfile"
            r"|unable to prepare context|dockerfile_path"
            r"|error from sender: resolve|lstat \S+: no such file or directory"
            r"|COPY failed:[^\n]{0,120}(?:not found|no such file|does not exist)"
            r"|not found in build context|failed to compute cache key"
        ),
        "the build context has no Dockerfile where environment.build says, or lacks a file "
        "the Dockerfile COPYs",
        "check environment.build.path (the folder sent to Azure) and build.dockerfile_path "
        "(relative to build.path, not to the project) in deployment.yml, and that "
        "docker-context/.dockerignore keeps the files COPY needs; `scaffold run` builds the "
        "same context locally",
        group="build",
    ),
    _rule(
        "image-build-timeout",
        _any(
            _msg(r"timeout while waiting for Environment Image|Environment Image to become"),
            _all(_msg(r"image build|ImageBuild"), _msg(r"timed? ?out|timeout")),
        ),
        "Azure's image build of docker-context/ did not finish in time (a large image or "
        "slow package installs), or failed before it",
        "pre-build the image: scaffold deploy --push (built locally, pushed to the workspace "
        "registry); read the build log{build_log_text}",
        group="build",
    ),
    _rule(
        "image-build",
        _any(
            _code("ImageBuildFailure"),
            _msg(r"image build failed|ImageBuildFailure|build (?:log|failed).{0,60}image"),
        ),
        "Azure could not build docker-context/ (a failing step, or a base image it cannot "
        "pull){build_log_text}",
        "check that `scaffold run` builds locally; pin package versions; mirror the base image "
        "into the workspace registry; or build locally with scaffold deploy --push",
        group="build",
    ),
    _rule(
        "artifacts-missing",
        _msg(
            r"Unable to download user model|model/code artifacts|BlobContainerNotFound"
            r"|StorageManifestError|BlobNotFound|The specified blob does not exist"
            r"|ModelAssetPathNotFoundInStorage|No blobs found in storage"
        ),
        "the model or code files registered with the deployment are gone from the workspace "
        "storage (a deleted container or blob, or another storage account)",
        "deploy again so scaffold registers the files anew (remove the pinned model.version "
        "in deployment.yml if that version points at the lost files); check the workspace's "
        "default datastore",
    ),
    _rule(
        "identity-roles",
        _any(
            _msg(
                r"Startup task failed due to (?:authorization error|incorrect role assignment)"
                r"|(?:assign|grant)[^\n]{0,40}role[^\n]{0,60}to the endpoint"
            ),
            _all(  # an identity without a role, unless it is the registry's (image-pull)
                _msg(
                    r"\bIdentity\(object id|(?:managed|endpoint'?s?|user-assigned) identity"
                    r"[^\n]{0,80}(?:does not have|doesn't have|lacks|is not authorized|has no) "
                ),
                _not(_msg(r"pull permission|AcrPull|registry")),
            ),
            _all(
                _any(_step_failed("UserContainerImagePull"), _event(r"ImagePull|PullFail")),
                _any(_step_failed("ModelDownload"), _event(r"DownloadFailed|ModelDownload")),
            ),
            # the storage initializer (model and code download) refused by the storage account
            _container_log(
                "storage-init",
                r"AuthorizationPermissionMismatch|AuthorizationFailure|not authorized to perform "
                r"this operation|Status Code=403|\b403 (?:Forbidden|Client Error)",
            ),
        ),
        "the endpoint's identity cannot read the workspace's registry or storage (both the "
        "image pull and the model download fail when a user-assigned identity lacks its roles)",
        "with a user-assigned identity (identity in endpoint.yml) grant it AcrPull on the "
        "workspace registry and Storage Blob Data Reader on the workspace storage account "
        "(and the role the message names); or use the system-assigned identity (Azure grants "
        "both); role assignments take a few minutes to apply",
        group="start",
    ),
    _rule(
        "image-pull",
        _any(
            _step_failed("UserContainerImagePull"),
            _event(r"ImagePull|ErrImage|PullFail"),
            _msg(_PULL),
            _msg(r"container registry is private|otherwise inaccessible"),
        ),
        "the endpoint could not pull the image: its identity lacks AcrPull on the registry, "
        "or the image/tag does not exist",
        "use the workspace's registry (environment.build in deployment.yml, or scaffold "
        "deploy --push) with the endpoint's system-assigned identity, or grant the endpoint "
        "identity (endpoint.yml identity) AcrPull on the registry (Container Registry "
        "Repository Reader in ABAC mode); check environment.image in deployment.yml",
        group="start",
    ),
    _rule(
        "provider-not-registered",
        _any(
            _code("MissingSubscriptionRegistration", "SubscriptionNotRegistered"),
            _msg(
                r"not registered to use (?:the )?namespace"
                r"|resource provider .{0,60}not registered"
            ),
        ),
        "the subscription has not registered the resource provider {namespace} (a one-time "
        "step per subscription)",
        "register it: az provider register --namespace {namespace} (needs the subscription's "
        "Contributor role; takes a few minutes), then deploy again",
    ),
    _rule(
        "subscription",
        _any(
            _code("SubscriptionNotFound", "InvalidSubscriptionId"),
            _msg(
                r"subscription .{0,80}(?:doesn'?t exist|does not exist|could not be found"
                r"|is disabled)"
            ),
        ),
        "the subscription is unknown, disabled, or lacks the Microsoft.MachineLearningServices "
        "provider",
        "check --subscription (or config.json / AZURE_SUBSCRIPTION_ID) and that the "
        "subscription is active",
    ),
    _rule(
        "policy",
        _any(
            _code("RequestDisallowedByPolicy", "InvalidTemplateFunction"),
            _msg(r"disallowed by policy|policy assignment|template function"),
        ),
        "an Azure Policy on the subscription or resource group blocks the deployment",
        "ask the policy owner (the message names the assignment) or change what it forbids "
        "(e.g. public network access in endpoint.yml)",
    ),
    _rule(
        "workspace-not-found",
        _any(
            _code("ResourceGroupNotFound", "WorkspaceNotFound"),
            _msg(
                r"Microsoft\.MachineLearningServices/workspaces/[^'\s]+' under resource group"
                r"|Resource group '[^']+' could not be found|workspace .{0,60} (?:was )?not found"
            ),
        ),
        "the workspace or its resource group does not exist (or is in another subscription)",
        "check --workspace, --resource-group and --subscription (or the config.json / "
        "AZUREML_WORKSPACE_NAME scaffold found; its first line says which)",
    ),
    _rule(
        "managed-network",
        _code("WorkspaceManagedNetworkNotReady"),
        "the workspace's managed virtual network is not provisioned yet",
        "provision it once: az ml workspace provision-network -g <resource group> -n "
        "<workspace>, then deploy again",
    ),
    _rule(
        "operation-canceled",
        _code("OperationCanceled"),
        "Azure canceled the operation for another one on the same endpoint (a concurrent "
        "deploy, or a retry sent too soon)",
        "wait a minute, make sure no other deploy of this endpoint runs, then deploy again",
    ),
    _rule(
        "operation-in-progress",
        _any(
            _all(
                _any(_code("Conflict", "OperationInProgress"), _http(409)),
                _msg(r"in progress|being (?:updated|created|deleted)|another operation"),
            ),
            _msg(
                r"(?:because|while) it is in (?:Updating|Creating|Deleting|Provisioning)"
                r"(?: provisioning)? state|another operation (?:on (?:the )?same \w+ )?is "
                r"(?:already )?(?:running|in progress)"
                r"|operation .{0,40}already (?:running|in progress)"
            ),
        ),
        "another operation on the endpoint or deployment is still running",
        "wait for it to finish (scaffold logs, or the studio's endpoint page), then deploy again",
    ),
    _rule(
        "secrets-injection",
        _code("SecretsInjectionError"),
        "the endpoint's identity could not read the secrets the deployment references "
        "(workspace connections or key vault)",
        "grant the endpoint identity read access to the connections / key vault (it takes a "
        "few minutes to apply) and check the secret references in environment_variables",
    ),
    _rule(
        "model-download",
        _any(
            _step_failed("ModelDownload"),
            _event(r"DownloadFailed|ModelDownload"),
            _log(r"model download failed|failed to download (?:the )?model"),
        ),
        "the storage initializer could not download the model into the container",
        "check `scaffold logs --container storage-initializer`; model.path in deployment.yml "
        "must be the folder to register (now {model_path!r}); a user-assigned identity needs "
        "Storage Blob Data Reader on the workspace storage",
        group="start",
    ),
    _rule(
        "system-library-missing",
        _log(r"(?P<library>[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file"),
        "the image lacks the system library {library} that a package of the scoring code "
        "loads (opencv-python needs libGL, for example)",
        "install it in docker-context/Dockerfile (apt-get install -y the Debian package that "
        "ships it, e.g. libgl1 for libGL.so.1), or use the package's headless build "
        "(opencv-python-headless); `scaffold run` builds and starts the same image",
        group="files",
    ),
    _rule(
        "scoring-script-missing",
        _log(
            r"(?:No such file or directory|not found|does not exist)[^\n]{0,20}?:?\s*['\"]"
            r"(?P<script>/var/azureml-app/(?!azureml-models/)[^'\"\n]+\.(?:py|R|r))['\"]"
            r"|entry script .{0,60}(?:not found|does(?:n't| not) exist)"
            # azmlinfsrv (and the v1 images) import the scoring script as module "main"
            r"|No module named ['\"]main['\"]"
        ),
        "the scoring script is not where code_configuration says: Azure mounts the code folder "
        "at /var/azureml-app/<folder name>/ and looks for scoring_script inside it",
        "check code_configuration.code (the folder to upload) and scoring_script (a path "
        "relative to that folder) in deployment.yml; `scaffold run` mounts the code the same "
        "way",
        group="files",
    ),
    _rule(
        "model-not-found",
        _log(
            r"No versions of servable|model.{0,40}not found|No such file or directory"
            r"|FileNotFoundError|cannot open file|does not exist|failed to load model"
            r"|ModelNotFound|failed to load all models|Model file not found"
        ),
        "the server did not find the model where it looked: Azure keeps the model folder's "
        "name under the mount (…/<model>/<version>/<folder>/…)",
        "check model.path (now {model_path!r}) and model_mount_path (now "
        "{model_mount_path!r}) in deployment.yml against the path the server reads (its "
        "environment_variables and start script); `scaffold run` mounts it the same way",
        group="files",
    ),
    _rule(
        "token-auth",
        _log(r"InvalidKeyException|Token Authorization"),
        "TorchServe's token authorization (on by default since 0.11) rejects the platform's "
        "requests",
        "disable it in docker-context/config.properties (disable_token_authorization=true) "
        "or start torchserve with --disable-token-auth",
    ),
    # vLLM's own start-up errors (texts of vLLM 0.32's source), fixed in deployment.yml's
    # environment_variables (docker-context/start-vllm.sh passes them on).
    _rule(
        "vllm-no-gpu",
        _log(r"Failed to infer device type|No CUDA GPUs are available|Found no NVIDIA driver"),
        "vLLM found no GPU: its CUDA image runs on a CPU instance type{instance_type_now}",
        "choose a GPU instance_type in deployment.yml (e.g. Standard_NC24ads_A100_v4), or "
        "base docker-context/Dockerfile on vllm/vllm-openai-cpu:<version> for a CPU size",
    ),
    _rule(
        "vllm-bfloat16",
        _log(r"Bfloat16 is only supported on GPUs"),
        "the GPUs{instance_type_now} have no bfloat16 (T4, V100: compute capability below 8.0)",
        "set DTYPE: float16 in deployment.yml's environment_variables, or use an A100/H100 "
        "instance type",
    ),
    _rule(
        "vllm-max-model-len",
        _log(r"User-specified max_model_len .{0,80}greater than the derived max_model_len"),
        "MAX_MODEL_LEN is longer than the model's max_position_embeddings",
        "lower MAX_MODEL_LEN in deployment.yml's environment_variables to the model's length "
        "(`scaffold validate` names it)",
    ),
    _rule(
        "vllm-kv-cache",
        _log(r"larger than the available KV cache memory|No available memory for the cache blocks"),
        "after the weights, the GPU memory{instance_type_now} leaves too little KV cache for "
        "one sequence of MAX_MODEL_LEN tokens",
        "lower MAX_MODEL_LEN or raise GPU_MEMORY_UTILIZATION in deployment.yml's "
        "environment_variables, or use an instance type with more GPU memory",
    ),
    _rule(
        "vllm-tensor-parallel",
        _log(
            r"must be divisible by tensor parallel size"
            r"|exceeds the total number of available GPUs|world_size .{0,40}available"
        ),
        "TENSOR_PARALLEL_SIZE does not fit the model's attention heads or the GPUs"
        "{instance_type_now}",
        "set TENSOR_PARALLEL_SIZE in deployment.yml's environment_variables to a divisor of "
        "the attention heads, at most the instance type's GPUs (`scaffold validate` checks both)",
    ),
    _rule(
        "bind-localhost",
        lambda f: _bind_localhost(f),
        "the server listens on 127.0.0.1 only, which the platform's probes cannot reach",
        "make the server bind 0.0.0.0 (host in the start script / config) on port {port}",
    ),
    _rule(
        "port-mismatch",
        lambda f: _port_mismatch(f),
        "the server listens on port {listen_port}, but the probes and scoring go to port "
        "{port} (environment.inference_config)",
        "make the routes' port in environment.inference_config of deployment.yml equal the "
        "port the server listens on (or start the server on port {port})",
    ),
    _rule(
        "container-crash",
        lambda f: {"first_error": _first_error(f.log_text)} if _first_error(f.log_text) else None,
        "the server stopped while starting: {first_error}",
        "fix that in the scoring code or the image (a missing package goes in "
        "docker-context/requirements.txt or the Dockerfile); `scaffold run` reproduces the "
        "start with the same mounts and variables",
    ),
    _rule(
        "worker-boot",
        _log(
            r"Worker failed to boot|gunicorn/finish 3\b"
            r"|gunicorn\b.{0,80}exit(?:ed with)? code:? 3\b"
        ),
        "the scoring code failed while loading: gunicorn (azmlinfsrv's server) stops with exit "
        "code 3 when a worker cannot boot, i.e. an exception at import or in init()",
        "find the exception above the exit in the log (`scaffold logs --lines 300`); a "
        "missing package goes in docker-context/requirements.txt, a model path error in "
        "init() against AZUREML_MODEL_DIR; `scaffold run` starts the same server locally",
        group="start",
    ),
    _rule(
        "container-exited",
        _anywhere(
            r"(?:exited|terminated) with (?:exit )?(?:code|status):? ?(?P<exit_code>[1-9]\d*)"
            r"|exit code:? ?(?P<exit_code2>[1-9]\d*)"
        ),
        "the container exited while starting",
        "read the container log (`scaffold logs`) for the reason; `scaffold run` starts the "
        "image the same way and shows the error",
        group="start",
    ),
    _rule(
        "schema",
        _msg(
            r"Validation for \w+Schema failed|We could not parse|Unknown field\b"
            r"|In order to specify an existing \w+, please provide"
        ),
        "azure-ai-ml rejected the YAML: a key is unknown, misplaced or has another form than "
        "its schema (the message names the key)",
        "run scaffold validate: it names the key path and the fix (a registered asset is "
        "written `azureml:NAME:VERSION`, a local one as `path:`)",
    ),
    _rule(
        "docker-unavailable",
        _msg(
            r"make sure Docker Engine is installed and running|Cannot connect to the Docker "
            r"daemon|DockerEngineNotAvailable|Docker (?:daemon|engine) is not running"
        ),
        "Docker Engine is not running (or not reachable) on this machine; local endpoints "
        "(az ml ... --local) and scaffold run/serve need it",
        "start Docker (Docker Desktop, or `sudo systemctl start docker`) and check that "
        "`docker info` works for your user",
    ),
    _rule(
        "missing-driver",
        _msg(r"MissingDriverProgram"),
        "Azure treated the image as an Azure ML inference image without a scoring script",
        "add environment.inference_config (liveness/readiness/scoring routes) to deployment.yml",
    ),
    _rule(
        "probe-path",
        _anywhere(r"probe failed: HTTP probe failed with status ?code: (?P<probe_status>404|405)"),
        "the probes get {probe_status} from the container: the liveness/readiness path does "
        "not exist on the server",
        "fix liveness_route/readiness_route paths in environment.inference_config of "
        "deployment.yml to routes the server answers (`scaffold run` probes the same ones)",
        group="start",
    ),
    _rule(
        "probe-refused",
        _anywhere(r"probe failed:.{0,200}connection refused"),
        "nothing listens on port {port} in the container: the server crashed, has not started "
        "yet, or listens on another port or on 127.0.0.1",
        "check that the routes' port in environment.inference_config equals the port the "
        "server binds on 0.0.0.0, and the log for a crash; `scaffold run` shows both",
        group="start",
    ),
    _rule(
        "probe",
        _any(
            _anywhere(
                r"probe failed|ResourceNotReady|Unready|ContainerCrashLoop|Back-?off restarting"
                r"|CrashLoopBackOff"
            ),
            _code("ResourceNotReady"),
            _event(r"Probe"),
        ),
        "the container did not answer its liveness/readiness probes{probe_status_text}: the "
        "model loads more slowly than readiness_probe allows ({initial_delay}s + "
        "{failure_threshold} x {period}s), the server crashed while loading, or the probe "
        "port/path is wrong",
        "raise readiness_probe.initial_delay (now {initial_delay}) and liveness_probe."
        "initial_delay in deployment.yml (or failure_threshold); check the logs above for a "
        "crash and the routes in environment.inference_config with `scaffold run`",
        group="start",
    ),
    _rule(
        "slow-operation",
        _msg(
            r"taking longer than (?:our )?normal|did not (?:finish|complete) in time"
            r"|timed out waiting|operation (?:has )?timed out|deadline exceeded"
        ),
        TIMEOUT_CAUSE,
        TIMEOUT_FIX,
        fallback=True,
    ),
    _rule(
        "resource-not-found",
        _code("ResourceNotFound"),
        "Azure could not find a resource the deployment needs (storage account, registry, "
        "image or registered asset)",
        "check the names and paths in deployment.yml (environment.image, model, code) and "
        "that the workspace's storage account and registry still exist",
        fallback=True,
    ),
    _rule(
        "bad-argument",
        _code("BadArgument"),
        "Azure rejected a value of the deployment",
        "read the message above for the setting; `scaffold validate` checks most of them "
        "before deploying",
        fallback=True,
    ),
    _rule(
        "internal",
        _any(_code("InternalServerError"), _http(500, 502, 503)),
        "a failure inside Azure ML, not in the project{request_id_text}",
        "retry in a few minutes; if it persists, open a support request with the request id, "
        "the region and the endpoint name",
        fallback=True,
    ),
)

TIMEOUT = Diagnosis("timeout", TIMEOUT_CAUSE, TIMEOUT_FIX)


# -- values quoted in the advice ----------------------------------------------------------------


def _first_error(log: str) -> str:
    """The line that says why a server stopped: the last exception line of the log."""
    lines = [m.group(0).strip() for m in _CRASH_LINE.finditer(log)]
    lines = [line for line in lines if "Traceback (most recent call last)" not in line]
    if not lines and "Traceback (most recent call last)" in log:
        # The log was cut before the exception line (getLogs' --lines, a partial paste).
        return "a Python exception (its traceback is in the log; the last lines are cut off)"
    return lines[-1][:300] if lines else ""


_USAGE = re.compile(r"(?:Current )?usage/limit:?\s*(?P<usage>\d+)\s*/\s*(?P<limit>\d+)", re.I)
_NEEDED = re.compile(
    r"(?:Additional (?:needed|required|requested)|quota requested is)[:\s]*(?P<needed>\d+)", re.I
)
_QUOTA_SKU = re.compile(r"quota available for (?P<sku>Standard_\w+)", re.I)
_BUILD_LOG = re.compile(
    r"(?:Build log(?: may be available at)?:?\s*|build log.{0,120}?(?:path|at)\s*[\"'])"
    r"(?P<log>https?://\S+|/[^\s\"']+)",
    re.I,
)
_REQUEST_ID = re.compile(
    r"(?:x-ms-request-id|request[ -]?id|traceId|correlation[ -]?id)[\"']?\s*[:=]\s*[\"']?"
    r"(?P<id>[0-9a-f][0-9a-f-]{15,})",
    re.I,
)


def _sizes(sku: str) -> dict[str, str]:
    from scaffold import instances

    size = instances.lookup(sku) if sku else None
    values = {
        "memory_text": "",
        "larger_memory_text": "",
        "larger_vcpus_text": "",
        "quota_usage": size.quota_usage if size and size.quota_usage else "VM family",
    }
    if size:
        values["memory_text"] = (
            f": {size.name} has {size.memory_gib:g} GiB, less what Azure keeps for its "
            "agents, shared by all worker processes"
        )
        bigger = instances.larger(size.name, by="memory_gib")
        if bigger:
            values["larger_memory_text"] = f", e.g. {bigger.name} ({bigger.memory_gib:g} GiB)"
        bigger = instances.larger(size.name, by="vcpus")
        if bigger:
            values["larger_vcpus_text"] = f", e.g. {bigger.name}"
    return values


def _quota_values(failure: Failure, settings: DeploymentSettings) -> dict[str, str]:
    text = failure.message_text
    usage, needed, sku = _USAGE.search(text), _NEEDED.search(text), _QUOTA_SKU.search(text)
    parts = []
    if usage:
        parts.append(f"usage/limit {usage['usage']}/{usage['limit']}")
    if needed:
        parts.append(f"{needed['needed']} more needed")
    name = sku["sku"] if sku else settings.instance_type
    values = {
        "usage_text": f" ({', '.join(parts)})" if parts else "",
        "quota_sku": name or "the instance type's",
        "needed_formula": "",
        "sku": name,
    }
    from scaffold import instances

    size = instances.lookup(name) if name else None
    count = settings.instance_count
    if size and isinstance(count, int) and count > 0:
        needed_cores = math.ceil(1.2 * count) * size.vcpus
        values["needed_formula"] = (
            f": here ceil(1.2 x {count}) x {size.vcpus} = {needed_cores} cores of {size.name}"
        )
    return values


def _values(failure: Failure, settings: DeploymentSettings) -> dict[str, str]:
    values: dict[str, Any] = {f.name: getattr(settings, f.name) for f in fields(settings)}
    quota = _quota_values(failure, settings)
    values.update(quota)
    values.update(_sizes(quota["sku"]))
    values["instance_type_now"] = (
        f" (now {settings.instance_type})" if settings.instance_type else ""
    )
    values["instance_count_now"] = f" (now {settings.instance_count})"
    values["model_version_raise"] = (
        f" (or raise it above {settings.model_version})" if settings.model_version else ""
    )
    values["endpoint_name_text"] = (
        repr(settings.endpoint_name) if settings.endpoint_name else "the endpoint's name"
    )
    build_log = _BUILD_LOG.search(failure.message_text)
    values["build_log_text"] = (
        f" (build log: {build_log['log'].rstrip('.,)')})" if build_log else ""
    )
    namespace = re.search(r"namespace '(?P<ns>[\w.]+)'", failure.message_text)
    values["namespace"] = namespace["ns"] if namespace else "Microsoft.MachineLearningServices"
    request_id = _REQUEST_ID.search(failure.message_text)
    values["request_id_text"] = f" (request id {request_id['id']})" if request_id else ""
    status = re.search(
        _PROBE_STATUS,
        "\n".join([failure.message_text, *(e.message for e in failure.events)]),
        re.IGNORECASE,
    )
    values["probe_status_text"] = f" (they got HTTP {status['probe_status']})" if status else ""
    return values


class _Values(dict[str, Any]):
    """Format values; a missing one reads "?" (never a KeyError in advice)."""

    def __missing__(self, key: str) -> str:
        return "?"


def diagnose_failure(
    failure: Failure, settings: DeploymentSettings | None = None
) -> list[Diagnosis]:
    """Likely causes of a parsed failure, most specific first (empty when nothing matches)."""
    settings = settings or DeploymentSettings()
    failure.expected_port = str(settings.port or "")
    values = _Values(_values(failure, settings))
    found: list[Diagnosis] = []
    groups: set[str] = set()
    for rule in RULES:
        if (rule.group and rule.group in groups) or (rule.fallback and found):
            continue
        matched = rule.test(failure)
        if matched is None:
            continue
        if rule.group:
            groups.add(rule.group)
        local = _Values({**values, **matched})
        found.append(Diagnosis(rule.code, rule.cause.format_map(local), rule.fix.format_map(local)))
    return found


def diagnose(
    error: str, logs: Mapping[str, str], settings: DeploymentSettings | None = None
) -> list[Diagnosis]:
    """Likely causes of a failure, most specific first (empty when nothing matches).

    Args:
        error: Azure's error text in any shape (an exception's str, a JSON body, a
            smoke-test FAIL line), or "" when only logs are known (e.g. `scaffold run`).
        logs: Container name -> log text (inference-server, storage-initializer, or a local
            container's log).
        settings: deployment.yml's current values, quoted in the fixes.
    """
    return diagnose_failure(parse(error, logs), settings)
