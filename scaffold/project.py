"""A project on disk, read from its own deployment.yml (the source of truth after `new`).

`Project.load` turns deployment.yml into a `RunPlan`: the build context, the mounts and
environment variables Azure ML would give the container, the routes and probe settings.
Nothing here depends on which server the project uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from scaffold.assets import LOCAL_MODEL_VERSION
from scaffold.errors import ProjectError

AZUREML_APP_ROOT = PurePosixPath("/var/azureml-app")
AZUREML_MODELS_ROOT = AZUREML_APP_ROOT / "azureml-models"

#: Azure's probe defaults (reference-yaml-deployment-managed-online).
PROBE_DEFAULTS = {
    "initial_delay": 10,
    "period": 10,
    "timeout": 2,
    "success_threshold": 1,
    "failure_threshold": 30,
}


@dataclass(frozen=True)
class Route:
    """One inference_config route: container port and path."""

    port: int
    path: str


@dataclass(frozen=True)
class Probe:
    """Probe settings of deployment.yml (seconds and counts)."""

    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @property
    def budget(self) -> float:
        """Seconds Azure allows before it gives up on this probe."""
        return self.initial_delay + self.period * self.failure_threshold


#: Azure's request_settings defaults.
REQUEST_TIMEOUT_MS_DEFAULT = 5000
MAX_CONCURRENT_DEFAULT = 1


@dataclass(frozen=True)
class RequestSettings:
    """request_settings and instance_count of deployment.yml (Azure's defaults if unset)."""

    request_timeout_ms: int = REQUEST_TIMEOUT_MS_DEFAULT
    max_concurrent_requests_per_instance: int = MAX_CONCURRENT_DEFAULT
    instance_count: int = 1


@dataclass(frozen=True)
class Mount:
    """A read-only bind mount of a host path into the container."""

    source: Path
    target: PurePosixPath


@dataclass(frozen=True)
class RunPlan:
    """Everything needed to run the deployment's container the way Azure ML would."""

    project: Path
    endpoint_name: str
    deployment_name: str
    context: Path
    dockerfile: str
    liveness: Route
    readiness: Route
    scoring: Route
    liveness_probe: Probe
    readiness_probe: Probe
    mounts: list[Mount] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    smoke_script: Path | None = None
    requests: RequestSettings = field(default_factory=RequestSettings)
    #: deployment.yml's instance_type ("" when unset): the CPU and memory the container gets.
    instance_type: str = ""
    #: The deployment file this plan was read from (deployment.yml, green-deployment.yml).
    deployment_file: Path | None = None
    #: Where the deployment's samples live (sample_request.json, sample_response.json and
    #: samples/<model>/): the project folder, or the deployment's own folder.
    samples_folder: Path | None = None

    @property
    def sample_request(self) -> Path:
        """The deployment's sample request (scaffold loadtest sends it)."""
        return (self.samples_folder or self.project) / "sample_request.json"

    @property
    def ports(self) -> list[int]:
        """Distinct container ports the routes use."""
        return sorted({self.liveness.port, self.readiness.port, self.scoring.port})


def _load_yaml(path: Path) -> dict[str, Any]:
    from scaffold import limits

    if not path.is_file():
        raise ProjectError(f"{path} not found; run scaffold in a project folder or pass its path")
    try:
        data = limits.load_yaml_file(path)
    except OSError as error:
        raise ProjectError(f"cannot read {path}: {error.strerror or error}") from None
    except limits.InputRejected as error:
        raise ProjectError(f"{path} {error}; fix the file (scaffold validate shows more)") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path} must be a YAML mapping of deployment settings")
    return data


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProjectError(f"deployment.yml: {where} must be a mapping")
    return value


def _int(value: Any, where: str, *, low: int = 0, high: int | None = None) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ProjectError(
            f"deployment.yml: {where} must be a whole number, not {value!r}"
        ) from None
    if number < low or (high is not None and number > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ProjectError(f"deployment.yml: {where} must be {bounds}, not {number}")
    return number


def _route(config: dict[str, Any], name: str) -> Route:
    route = _mapping(config.get(name), f"environment.inference_config.{name}")
    if not route:
        raise ProjectError(
            f"deployment.yml: environment.inference_config.{name} is missing; add its port and path"
        )
    path = str(route.get("path", ""))
    if not path.startswith("/"):
        raise ProjectError(
            f"deployment.yml: environment.inference_config.{name}.path must start with '/'"
        )
    port = _int(route.get("port"), f"environment.inference_config.{name}.port", low=1, high=65535)
    return Route(port=port, path=path)


def _probe(data: dict[str, Any], name: str) -> Probe:
    raw = {**PROBE_DEFAULTS, **_mapping(data.get(name), name)}
    values = {key: _int(raw[key], f"{name}.{key}", low=1) for key in PROBE_DEFAULTS}
    return Probe(**values)


def _local_path(project: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ProjectError(f"deployment.yml: {where} must be a local path")
    path = (project / value).resolve()
    if not path.exists():
        raise ProjectError(f"deployment.yml: {where} {value!r} does not exist in {project}")
    return path


def _build_context(project: Path, environment: dict[str, Any]) -> tuple[Path, str]:
    build = _mapping(environment.get("build"), "environment.build")
    if build:
        context = _local_path(project, build.get("path"), "environment.build.path")
        dockerfile = str(build.get("dockerfile_path") or "Dockerfile")
        where = (context / dockerfile).resolve()
        if not where.is_file() or (context != where.parent and context not in where.parents):
            shown = context.relative_to(project) if project in context.parents else context
            raise ProjectError(
                f"deployment.yml: environment.build: there is no {dockerfile} in {shown}/ "
                "to build; restore it, or point dockerfile_path at the Dockerfile (a path "
                "inside build.path)"
            )
        return context, dockerfile
    fallback = project / "docker-context"
    if environment.get("image") and (fallback / "Dockerfile").is_file():
        return fallback, "Dockerfile"
    raise ProjectError(
        "deployment.yml: environment has no build.path and there is no docker-context/Dockerfile;"
        " add environment.build.path so scaffold knows what to build"
    )


def _model(project: Path, data: dict[str, Any]) -> tuple[list[Mount], dict[str, str]]:
    model = data.get("model")
    if model is None:
        return [], {}
    if isinstance(model, str):
        raise ProjectError(
            f"deployment.yml: model {model!r} is a registered model; a local run needs an inline "
            "model with name, version and a local path"
        )
    model = _mapping(model, "model")
    # No version: scaffold deploy numbers versions by content; a local run mounts it as 1.
    name = str(model.get("name", ""))
    version = str(model.get("version") or LOCAL_MODEL_VERSION)
    if not name or "/" in name + version:
        raise ProjectError("deployment.yml: model needs a name (no '/' in it or the version)")
    source = _local_path(project, model.get("path"), "model.path")
    model_dir = AZUREML_MODELS_ROOT / name / version
    mount_path = data.get("model_mount_path")
    if mount_path is not None:
        if not str(mount_path).startswith("/"):
            raise ProjectError("deployment.yml: model_mount_path must be an absolute path")
        # The folder name is kept directly under model_mount_path (Azure's Triton example).
        model_dir = PurePosixPath(str(mount_path))
    return [Mount(source, model_dir / source.name)], {"AZUREML_MODEL_DIR": str(model_dir)}


def _code(project: Path, data: dict[str, Any]) -> tuple[list[Mount], dict[str, str]]:
    code = _mapping(data.get("code_configuration"), "code_configuration")
    if not code:
        return [], {}
    source = _local_path(project, code.get("code"), "code_configuration.code")
    script = code.get("scoring_script")
    if not isinstance(script, str) or not script:
        raise ProjectError("deployment.yml: code_configuration.scoring_script is missing")
    if not (source / script).is_file():
        raise ProjectError(
            f"deployment.yml: scoring script {script!r} not found in {source}; fix scoring_script"
        )
    script_path = PurePosixPath(script)
    app_root = AZUREML_APP_ROOT / source.name / script_path.parent
    return [Mount(source, AZUREML_APP_ROOT / source.name)], {
        "AML_APP_ROOT": str(app_root),
        "AZUREML_ENTRY_SCRIPT": script_path.name,
    }


def _user_environment(data: dict[str, Any]) -> dict[str, str]:
    env = _mapping(data.get("environment_variables"), "environment_variables")
    result: dict[str, str] = {}
    for key, value in env.items():
        if isinstance(value, dict | list):
            raise ProjectError(f"deployment.yml: environment_variables.{key} must be a scalar")
        result[str(key)] = "" if value is None else str(value)
    return result


def _request_settings(data: dict[str, Any]) -> RequestSettings:
    settings = _mapping(data.get("request_settings"), "request_settings")
    return RequestSettings(
        request_timeout_ms=_int(
            settings.get("request_timeout_ms", REQUEST_TIMEOUT_MS_DEFAULT),
            "request_settings.request_timeout_ms",
            low=1,
        ),
        max_concurrent_requests_per_instance=_int(
            settings.get("max_concurrent_requests_per_instance", MAX_CONCURRENT_DEFAULT),
            "request_settings.max_concurrent_requests_per_instance",
            low=1,
        ),
        instance_count=_int(data.get("instance_count", 1), "instance_count", low=1),
    )


def load_plan(project: Path, deployment: str | None = None) -> RunPlan:
    """Read one deployment of `project` into a RunPlan: `deployment` (its name or file, as
    scaffold.layout finds them), else the project's only or main one (deployment.yml).

    Raises:
        UsageError: No deployment of that name, or several and none chosen (listing them).
        ProjectError: No deployment file, or one scaffold cannot run.
    """
    from scaffold.deployments import select

    project = project.expanduser().resolve()
    chosen = select(project, deployment)
    try:
        return _load_plan(project, chosen.file, chosen.folder)
    except ProjectError as error:
        name = chosen.file.relative_to(project).as_posix()
        if name != "deployment.yml" and error.message.startswith("deployment.yml"):
            raise ProjectError(name + error.message.removeprefix("deployment.yml")) from None
        raise


def _load_plan(project: Path, file: Path, folder: Path) -> RunPlan:
    data = _load_yaml(file)
    base = file.parent  # relative paths in a deployment file start from its folder
    environment = _mapping(data.get("environment"), "environment")
    if isinstance(data.get("environment"), str):
        raise ProjectError(
            "deployment.yml: environment refers to a registered environment; a local run needs "
            "an inline environment with build.path and inference_config"
        )
    config = _mapping(environment.get("inference_config"), "environment.inference_config")
    if not config:
        raise ProjectError(
            "deployment.yml: environment.inference_config is missing; a custom container needs "
            "liveness_route, readiness_route and scoring_route"
        )
    context, dockerfile = _build_context(base, environment)
    model_mounts, model_env = _model(base, data)
    code_mounts, code_env = _code(base, data)
    endpoint = data.get("endpoint_name")
    if not endpoint:
        from scaffold import layout

        endpoint_file = layout.endpoint_file_for(project, file)
        endpoint = _load_yaml(endpoint_file).get("name") if endpoint_file else None
    smoke = project / "smoke_test.py"
    return RunPlan(
        project=project,
        endpoint_name=str(endpoint or project.name),
        deployment_name=str(data.get("name") or "local"),
        context=context,
        dockerfile=dockerfile,
        liveness=_route(config, "liveness_route"),
        readiness=_route(config, "readiness_route"),
        scoring=_route(config, "scoring_route"),
        liveness_probe=_probe(data, "liveness_probe"),
        readiness_probe=_probe(data, "readiness_probe"),
        mounts=model_mounts + code_mounts,
        # Azure's variables first; the deployment's own environment_variables win.
        environment={**model_env, **code_env, **_user_environment(data)},
        smoke_script=smoke if smoke.is_file() else None,
        requests=_request_settings(data),
        instance_type=str(data.get("instance_type") or ""),
        deployment_file=file,
        samples_folder=folder,
    )


def load_names(project: Path, deployment: str | None = None) -> tuple[str, str]:
    """(endpoint name, deployment name) of one deployment of a project (as load_plan picks
    it): the endpoint file's name (else the deployment's endpoint_name) and its name."""
    from scaffold import layout
    from scaffold.deployments import select

    project = project.expanduser().resolve()
    file = select(project, deployment).file
    data = _load_yaml(file)
    endpoint = data.get("endpoint_name")
    endpoint_file = layout.endpoint_file_for(project, file)
    if endpoint_file is not None:
        endpoint = _load_yaml(endpoint_file).get("name") or endpoint
    if not isinstance(endpoint, str) or not isinstance(data.get("name"), str):
        raise ProjectError(
            f"{project}: the endpoint's name and {file.name}'s name must be set; "
            "run scaffold validate"
        )
    return endpoint, data["name"]


@dataclass(frozen=True)
class EndpointSettings:
    """What endpoint.yml says about how clients reach the deployments (Azure's defaults when
    the file or a key is missing)."""

    name: str
    auth_mode: str = "key"
    #: `traffic` of endpoint.yml (deployment name -> percent); None when it has none.
    traffic: dict[str, int] | None = None


def load_endpoint(project: Path, default_name: str) -> EndpointSettings:
    """endpoint.yml's name, auth_mode and traffic (ProjectError on values scaffold cannot use)."""
    path = project.expanduser().resolve() / "endpoint.yml"
    if not path.is_file():
        return EndpointSettings(default_name)
    data = _load_yaml(path)
    auth = str(data.get("auth_mode") or "key")
    traffic = data.get("traffic")
    weights: dict[str, int] | None = None
    if traffic is not None:
        weights = {
            str(name): _int(value, f"endpoint.yml traffic.{name}", low=0, high=100)
            for name, value in _mapping(traffic, "endpoint.yml traffic").items()
        }
    return EndpointSettings(str(data.get("name") or default_name), auth, weights)
