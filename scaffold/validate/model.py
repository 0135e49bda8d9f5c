"""The data model of `scaffold validate`, at the bottom of the package: problems, the report,
the known keys and patterns, routes, the model mount, and the `Context` checks append to.

Imports nothing above it in scaffold.validate (tests/test_validate_layers.py checks the
direction: model -> checks / contracts / schema -> runner).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from scaffold import layout
from scaffold.assets import LOCAL_MODEL_VERSION
from scaffold.instances import instance_types
from scaffold.project import AZUREML_MODELS_ROOT
from scaffold.servers import SERVERS, ServerSpec
from scaffold.validate.dockerfile import VARIABLE, Dockerfile, parse_dockerfile

#: "error" fails validation, "warning" fails it only with --strict, "info" never does.
Severity = Literal["error", "warning", "info"]
Mapping = dict[str, Any]
#: Dotted section path -> (known keys, required keys).
Sections = dict[str, tuple[frozenset[str], tuple[str, ...]]]

ANSWERS_FILE = ".copier-answers.yml"
SCHEMA_MISSING_NOTE = "azure-ai-ml not installed: pip install 'aml-scaffold[azure]'"
ROUTE_NAMES = ("liveness_route", "readiness_route", "scoring_route")
IC_KEY = "environment.inference_config"
#: AZUREML_MODEL_DIR when it cannot be known statically (a model without name or version).
SYMBOLIC_MODEL_DIR = PurePosixPath("/<AZUREML_MODEL_DIR>")


@dataclass(frozen=True)
class Problem:
    """One problem found in a project.

    Attributes:
        severity: "error" (the deployment fails or cannot work), "warning" (legal but
            risky) or "info" (worth knowing, never a failure, e.g. no endpoint file).
        code: Stable identifier of the check, e.g. "route.port.mismatch".
        file: Project-relative file the problem is in, e.g. "deployment.yml".
        key: YAML key path, e.g. "environment.inference_config.scoring_route.port", or "".
        message: One line: what is wrong.
        fix: One line: how to fix it.
    """

    severity: Severity
    code: str
    file: str
    key: str
    message: str
    fix: str


@dataclass(frozen=True)
class DeploymentVerdict:
    """The verdict on one deployment file of a project.

    Attributes:
        file: Project-relative deployment file.
        name: Its `name:` (None when missing or not a string).
        endpoint_file: The endpoint file validated with it, or None when there is none.
        server: The server detected for it, or None.
        problems: The problems found validating it (its own files and the ones it shares
            with other deployments, such as the endpoint file).
    """

    file: str
    name: str | None
    endpoint_file: str | None
    server: str | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when it has no error."""
        return not any(p.severity == "error" for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        count = {s: sum(p.severity == s for p in self.problems) for s in ("error", "warning")}
        return {
            "file": self.file,
            "name": self.name,
            "endpoint_file": self.endpoint_file,
            "server": self.server,
            "ok": self.ok,
            "errors": count["error"],
            "warnings": count["warning"],
            "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class ValidationReport:
    """Everything `validate_project` found, grouped by file in the order found.

    Attributes:
        project: The project folder (absolute).
        problems: All problems, sorted by file, then in the order they were found (a problem
            of a file several deployments share is listed once).
        server: The detected server (answers file `server`, else heuristics) of the first
            deployment, or None.
        schema_checked: Whether azure-ai-ml's loaders ran.
        schema_note: Why not, or which azure-ai-ml version checked the schema.
        deployments: The verdict on each deployment file validated, in order.
    """

    project: Path
    problems: list[Problem]
    server: str | None
    schema_checked: bool
    schema_note: str
    deployments: list[DeploymentVerdict] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity "error"."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems of severity "warning"."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def infos(self) -> list[Problem]:
        """The problems of severity "info" (never a failure)."""
        return [p for p in self.problems if p.severity == "info"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos allowed)."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for `scaffold validate --json`)."""
        return {
            "project": str(self.project),
            "server": self.server,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "infos": len(self.infos),
            "schema_checked": self.schema_checked,
            "schema_note": self.schema_note,
            "deployments": [d.to_json() for d in self.deployments],
            "problems": [asdict(p) for p in self.problems],
        }


# --- Known keys (azure-ai-ml 1.35.2 schemas; tests compare them with the SDK) --------------
DEPLOYMENT_KEYS = frozenset(
    {
        "$schema",
        "name",
        "endpoint_name",
        "description",
        "id",
        "tags",
        "properties",
        "model",
        "code_configuration",
        "environment",
        "environment_variables",
        "app_insights_enabled",
        "scale_settings",
        "request_settings",
        "liveness_probe",
        "readiness_probe",
        "provisioning_state",
        "instance_count",
        "type",
        "model_mount_path",
        "instance_type",
        "data_collector",
        "egress_public_network_access",
        "private_network_connection",
    }
)
ENDPOINT_KEYS = frozenset(
    {
        "$schema",
        "id",
        "name",
        "description",
        "tags",
        "provisioning_state",
        "properties",
        "auth_mode",
        "scoring_uri",
        "location",
        "openapi_uri",
        "identity",
        "traffic",
        "mirror_traffic",
        "public_network_access",
    }
)
ENVIRONMENT_KEYS = frozenset(
    {
        "$schema",
        "name",
        "id",
        "description",
        "tags",
        "version",
        "auto_delete_setting",
        "build",
        "image",
        "conda_file",
        "inference_config",
        "os_type",
        "datastore",
    }
)
PROBE_KEYS = frozenset(
    {"initial_delay", "period", "timeout", "success_threshold", "failure_threshold"}
)
#: Dotted section path -> (known keys, required keys), for the deployment file.
DEPLOYMENT_SECTIONS: Sections = {
    # name and endpoint_name are not required here: deploy scripts pass --name and
    # --endpoint-name (checks.check_names warns when no deploy command of the project does).
    "": (DEPLOYMENT_KEYS, ("instance_type",)),
    "environment": (ENVIRONMENT_KEYS, ()),
    "environment.build": (frozenset({"path", "dockerfile_path"}), ("path",)),
    IC_KEY: (frozenset(ROUTE_NAMES), ROUTE_NAMES),
    **{f"{IC_KEY}.{r}": (frozenset({"port", "path"}), ("port", "path")) for r in ROUTE_NAMES},
    "code_configuration": (frozenset({"code", "scoring_script"}), ("code",)),
    "request_settings": (
        frozenset(
            {"request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms"}
        ),
        (),
    ),
    "liveness_probe": (PROBE_KEYS, ()),
    "readiness_probe": (PROBE_KEYS, ()),
    "model": (
        frozenset(
            {
                "name",
                "version",
                "path",
                "type",
                "description",
                "tags",
                "properties",
                "datastore",
                "stage",
                "flavors",
                "system_metadata",
                "allowed_deployment_templates",
                "default_deployment_template",
            }
        ),
        (),
    ),
}
ENDPOINT_SECTIONS: Sections = {
    # name is not required here: `az ml online-endpoint create --name N -f FILE` gives it.
    "": (ENDPOINT_KEYS, ()),
}
AUTH_MODES = ("key", "aml_token", "aad_token")
#: Keys the loaders accept but users never write (read-only or internal); not suggested.
HIDDEN_KEYS = frozenset(
    {
        "$schema",
        "id",
        "provisioning_state",
        "scoring_uri",
        "openapi_uri",
        "location",
        "kind",
        "type",
        "private_network_connection",
        "system_metadata",
        "auto_delete_setting",
        "datastore",
    }
)

#: VM sizes supported by managed online endpoints (the facts: scaffold.instances). Others
#: only warn.
INSTANCE_TYPES = frozenset(instance_types())

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
# Docker image reference (distribution/reference grammar), tag and digest optional.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
IMAGE_PATTERN = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*:[0-9a-fA-F]{32,}))?"
)
REFERENCE_PATTERN = re.compile(
    r"azureml:(?:/subscriptions/\S+|[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+|@[A-Za-z0-9_.-]+))"
    r"|azureml://registries/[^/\s]+/\w+/[^/\s]+/(?:versions|labels)/[^/\s]+"
)


#: A value a deploy script fills in: {{NAME}}, <NAME>, ${NAME}, $NAME, __NAME__ and #{NAME}#
#: (Azure Pipelines token replacement), or a word saying so (`placeholder-name`,
#: `acr_registry_placeholder`, `storage_place_holder`, `xxxxxx.azurecr.io`): Microsoft's
#: examples and docs and NVIDIA's samples write them.
PLACEHOLDER = re.compile(
    r"\{\{[^{}]+\}\}|<[A-Za-z][\w .-]*>|\$\{[A-Za-z_]\w*\}|(?<![\w$])\$[A-Za-z_]\w*"
    r"|(?-i:(?<![A-Za-z0-9])__[A-Z][A-Z0-9_]*__(?![A-Za-z0-9]))|#\{[\w.-]+\}#"
    r"|place_?holder|(?<![a-wyz0-9])x{4,}(?![a-wyz0-9])",
    re.I,
)


# --- The project as the checks see it ------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One `inference_config` route; port/path None when missing or invalid.

    Attributes:
        name: liveness_route, readiness_route or scoring_route.
        port: Its port, if valid.
        path: Its path, if a string.
        file: The file it is written in (the deployment file, or the environment file an
            `azureml:` environment reference leads to).
        prefix: The key path of inference_config in that file.
    """

    name: str
    port: int | None
    path: str | None
    file: str = ""
    prefix: str = IC_KEY

    @property
    def key(self) -> str:
        """YAML key path of this route."""
        return f"{self.prefix}.{self.name}"


@dataclass(frozen=True)
class Model:
    """The deployment's inline model and where Azure puts it in the container.

    Attributes:
        name: model.name, if given.
        version: model.version, if given.
        local: The existing local file or folder of model.path, else None.
        mount: Folder Azure mounts the model into (model_mount_path, or
            /var/azureml-app/azureml-models/<name>/<version>); SYMBOLIC_MODEL_DIR if unknown.
        model_dir: The value of AZUREML_MODEL_DIR (SYMBOLIC_MODEL_DIR if unknown).
    """

    name: str | None
    version: str | None
    local: Path | None
    mount: PurePosixPath
    model_dir: PurePosixPath

    @property
    def container_path(self) -> PurePosixPath | None:
        """Where model.path appears in the container (the folder name is kept)."""
        return self.mount / self.local.name if self.local is not None else None

    @property
    def mount_known(self) -> bool:
        """Whether the mount folder is known (model_mount_path, or name and version)."""
        return self.mount != SYMBOLIC_MODEL_DIR


class Context:
    """One deployment of the project as loaded for validation, and the problem list checks
    append to.

    Args:
        root: The project folder (absolute); problems name files relative to it.
        files: {"deployment": (file, data), "endpoint": (file, data)}: project-relative
            names and the parsed mappings (None when missing or unreadable).
        deployment_path: The deployment file itself (root / file by default).
        answers: The copier answers that apply to this deployment ({} for none).
        placeholders: `{{NAME}}` placeholders found in its files (scaffold.layout).
    """

    def __init__(
        self,
        root: Path,
        files: dict[str, tuple[str, Mapping | None]],
        *,
        deployment_path: Path | None = None,
        answers: Mapping | None = None,
        placeholders: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.deployment_file, self.deployment = files["deployment"]
        self.endpoint_file, self.endpoint = files["endpoint"]
        self.deployment_path = deployment_path or root / self.deployment_file
        self.problems: list[Problem] = []
        self.answers = _answers(root) if answers is None else answers
        self.placeholders = placeholders
        self.server: str | None = None
        #: Set by a contract check once it knows the port the server listens on.
        self.listen_port: int | None = None
        #: Set by a contract check that knows the models the server serves (their names).
        self.served_models: set[str] | None = None
        #: Consult the package index for the image's requirements (`--offline`: no).
        self.index = True
        self._texts: dict[Path, str | None] = {}

    # Reporting -------------------------------------------------------------------------
    def error(self, code: str, file: str, key: str, message: str, fix: str) -> None:
        """Record an error."""
        self.problems.append(Problem("error", code, file, key, message, fix))

    def warn(self, code: str, file: str, key: str, message: str, fix: str) -> None:
        """Record a warning."""
        self.problems.append(Problem("warning", code, file, key, message, fix))

    def info(self, code: str, file: str, key: str, message: str, fix: str) -> None:
        """Record an information line (never a failure)."""
        self.problems.append(Problem("info", code, file, key, message, fix))

    def has(self, file: str, key: str) -> bool:
        """Whether a problem is already recorded for this file and key."""
        return any(p.file == file and p.key == key for p in self.problems)

    # Files ----------------------------------------------------------------------------
    def find(self, folder: Path, pattern: str) -> list[Path]:
        """Files matching pattern under folder (bounded search, see find_files)."""
        return find_files(folder, pattern)

    def rel(self, path: Path) -> str:
        """Project-relative POSIX name of path (absolute if outside the project)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def read(self, path: Path) -> str | None:
        """Text of a file, or None if it is missing or unreadable (cached)."""
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._texts[path] = None
        return self._texts[path]

    @property
    def base(self) -> Path:
        """Folder that deployment.yml's relative paths start from."""
        return self.deployment_path.parent

    def local(self, value: Any) -> Path | None:
        """A deployment.yml path value as a local path (None for URLs, references and
        placeholders a script fills in)."""
        if not isinstance(value, str) or not value or "://" in value or self.is_placeholder(value):
            return None
        if value.startswith("azureml:"):
            return None
        return (self.base / value).resolve()

    @cached_property
    def command_line(self) -> dict[str, dict[str, str]]:
        """{"deployment": {...}, "endpoint": {...}}: the names the project's own deploy
        commands pass on the command line for these files (`az ml online-deployment create
        -f FILE -n NAME -e ENDPOINT`), which override `name`/`endpoint_name` in them
        (scaffold.layout.command_line_names)."""
        found: dict[str, dict[str, str]] = {"deployment": {}, "endpoint": {}}
        if self.deployment is not None:
            found["deployment"] = layout.command_line_names(
                self.root, "deployment", self.deployment_path
            )
        if self.endpoint is not None and self.endpoint_file:
            path = Path(self.endpoint_file)
            found["endpoint"] = layout.command_line_names(
                self.root, "endpoint", path if path.is_absolute() else self.root / path
            )
        return found

    def overridden(self, key: str) -> bool:
        """Whether the project's deploy command sets this deployment key (or a parent of
        it) on the command line (`--set model=...`), so the file's value is not deployed."""
        given = self.command_line["deployment"]
        parts = key.split(".")
        return any(".".join(parts[:n]) in given for n in range(1, len(parts) + 1))

    # Deployment pieces ----------------------------------------------------------------
    @property
    def spec(self) -> ServerSpec | None:
        """Registry entry of the detected server."""
        return SERVERS.get(self.server) if self.server else None

    @cached_property
    def environment(self) -> Mapping:
        """The inline environment mapping ({} for a reference or none)."""
        env = (self.deployment or {}).get("environment")
        return env if isinstance(env, dict) else {}

    @cached_property
    def env_file(self) -> tuple[Path, Mapping] | None:
        """The environment file an `environment: azureml:NAME:VERSION` (or relative path)
        reference leads to in the project, with its mapping (scaffold.layout)."""
        found = layout.environment_file_for(
            self.deployment_path, self.deployment or {}, project=self.root
        )
        data = layout.read_yaml(found).data if found is not None else None
        return (found, data) if found is not None and data is not None else None

    @cached_property
    def environment_source(self) -> tuple[str, str, Mapping] | None:
        """(file, key prefix, mapping) of the environment's definition: the inline mapping
        of the deployment file, or the environment file of a reference; None for neither."""
        env = (self.deployment or {}).get("environment")
        if isinstance(env, dict):
            return self.deployment_file, "environment.", env
        if self.env_file is not None:
            return self.rel(self.env_file[0]), "", self.env_file[1]
        return None

    @cached_property
    def images(self) -> list[tuple[str, str, str]]:
        """(image, file, key) of every image the container is made from: environment.image
        (inline or in the environment file), then the Dockerfile's bases, final stage first."""
        found: list[tuple[str, str, str]] = []
        source = self.environment_source
        if source is not None and isinstance(source[2].get("image"), str):
            found.append((source[2]["image"], source[0], f"{source[1]}image"))
        docker = self.dockerfile
        if docker is not None:
            found += [(image, docker.rel, f"FROM (line {line})") for image, line in docker.bases]
        return found

    @cached_property
    def routes(self) -> dict[str, Route]:
        """The routes present in inference_config, by name."""
        source = self.environment_source
        config = source[2].get("inference_config") if source is not None else None
        if source is None or not isinstance(config, dict):
            return {}
        routes = {}
        for name in ROUTE_NAMES:
            raw = config.get(name)
            if isinstance(raw, dict):
                path = raw.get("path")
                routes[name] = Route(
                    name,
                    _port(raw.get("port")),
                    path if isinstance(path, str) else None,
                    source[0],
                    f"{source[1]}inference_config",
                )
        return routes

    def is_placeholder(self, value: Any) -> bool:
        """Whether a YAML value is (or contains) a placeholder a script fills in before
        deploying: `{{NAME}}`, `<NAME>`, `${NAME}` or `$NAME`."""
        return isinstance(value, str) and PLACEHOLDER.search(value) is not None

    @cached_property
    def model(self) -> Model | None:
        """The inline model (None for none or a registered reference)."""
        raw = (self.deployment or {}).get("model")
        if not isinstance(raw, dict):
            return None
        name, version = _scalar(raw.get("name")), _scalar(raw.get("version"))
        local = self.local(raw.get("path"))
        # No version: scaffold deploy numbers versions by content; locally it is version 1.
        mounted = version or LOCAL_MODEL_VERSION
        model_dir = AZUREML_MODELS_ROOT / name / mounted if name else SYMBOLIC_MODEL_DIR
        mount_path = (self.deployment or {}).get("model_mount_path")
        mount = (
            PurePosixPath(mount_path)
            if isinstance(mount_path, str) and mount_path.startswith("/")
            else model_dir
        )
        return Model(name, version, local if local and local.exists() else None, mount, model_dir)

    @cached_property
    def model_type(self) -> str | None:
        """The inline model's `type` (custom_model, mlflow_model, triton_model), if given."""
        raw = (self.deployment or {}).get("model")
        kind = raw.get("type") if isinstance(raw, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def no_code(self) -> bool:
        """A no-code deployment: no environment, an MLflow or Triton model whose server
        Azure supplies (the model type is one a server of the registry is named by)."""
        return (
            self.environment_source is None
            and (self.deployment or {}).get("environment") is None
            and any(self.model_type in spec.model_types for spec in SERVERS.values())
        )

    @cached_property
    def code_dir(self) -> Path | None:
        """Existing local folder of code_configuration.code."""
        code = (self.deployment or {}).get("code_configuration")
        path = self.local(code.get("code")) if isinstance(code, dict) else None
        return path if path is not None and path.is_dir() else None

    @cached_property
    def scoring_script(self) -> Path | None:
        """Existing local scoring script (code_configuration)."""
        code = (self.deployment or {}).get("code_configuration")
        script = code.get("scoring_script") if isinstance(code, dict) else None
        if self.code_dir is None or not isinstance(script, str) or not script:
            return None
        path = self.code_dir / script
        return path if path.is_file() else None

    @cached_property
    def deployment_env(self) -> dict[str, str]:
        """environment_variables of deployment.yml (scalars, as strings)."""
        raw = (self.deployment or {}).get("environment_variables")
        if not isinstance(raw, dict):
            return {}
        return {str(k): _env_string(v) for k, v in raw.items() if not isinstance(v, dict | list)}

    @cached_property
    def container_env(self) -> dict[str, str]:
        """The container's environment: image ENV, then Azure's variables, then the deployment's."""
        azure: dict[str, str] = {}
        if self.model is not None:
            azure["AZUREML_MODEL_DIR"] = str(self.model.model_dir)
        image = self.dockerfile.env if self.dockerfile else {}
        return {**image, **azure, **self.deployment_env}

    def env_source(self, name: str) -> tuple[str, str]:
        """(file, key) that sets a container variable, for problem reports."""
        if name in self.deployment_env or not (self.dockerfile and name in self.dockerfile.env):
            return self.deployment_file, f"environment_variables.{name}"
        return self.dockerfile.rel, ""

    def expand(self, text: str, extra: dict[str, str] | None = None) -> str:
        """Expand $VAR, ${VAR} and ${VAR:-default} with the container's environment."""
        env = {**self.container_env, **(extra or {})}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(3)
            if name in env:
                return env[name]
            return match.group(2) if match.group(2) is not None else match.group(0)

        return VARIABLE.sub(substitute, text)

    @cached_property
    def build(self) -> layout.BuildRef | None:
        """The Dockerfile that builds the image and its context (scaffold.layout): through
        environment.build, the environment file, or found beside the deployment file."""
        return layout.dockerfile_for(self.deployment_path, self.deployment or {}, project=self.root)

    @cached_property
    def dockerfile(self) -> Dockerfile | None:
        """The Dockerfile that builds the image, parsed (see `build`)."""
        if self.build is None:
            return None
        text = self.read(self.build.dockerfile)
        if text is None:
            return None
        return parse_dockerfile(
            text, self.build.dockerfile, self.rel(self.build.dockerfile), self.build.context
        )

    @cached_property
    def command(self) -> tuple[str, ...]:
        """The container's command: ENTRYPOINT + CMD of the Dockerfile, with the official
        base image's own ENTRYPOINT (the facts' base_entrypoint) when the Dockerfile sets
        none."""
        docker = self.dockerfile
        if docker is None:
            return ()
        if docker.entrypoint is None and docker.final_base is not None:
            for spec in SERVERS.values():
                image = docker.final_base[0]
                if spec.base_entrypoint and any(hint in image for hint in spec.image_hints):
                    return spec.base_entrypoint + docker.command
        return docker.command

    @cached_property
    def command_texts(self) -> list[tuple[str, str]]:
        """(file, text) of the container's command and of local scripts it runs."""
        docker = self.dockerfile
        command = self.command
        if docker is None or not command:
            return []
        texts = [(docker.rel, " ".join(command))]
        for word in command:
            script = self._script(docker, word)
            text = self.read(script) if script else None
            if script and text is not None:
                texts.append((self.rel(script), text))
        return texts

    def _script(self, docker: Dockerfile, word: str) -> Path | None:
        if not re.search(r"\.(sh|bash|R|r|py)$", word) or word.startswith("-"):
            return None
        local = docker.local_path(word) if word.startswith("/") else None
        if local is not None and local.is_file():
            return local
        name = PurePosixPath(word).name
        return next((p for p in find_files(docker.context, name) if p.is_file()), None)

    def resolve_container_path(self, container: str) -> Path | None:
        """Local file/folder that appears at `container` (model mount or COPY), if known."""
        target = PurePosixPath(self.expand(container))
        model = self.model
        if model is not None and model.local is not None and model.container_path is not None:
            mounted = model.container_path
            if target == mounted:
                return model.local
            if mounted in target.parents:
                return model.local / target.relative_to(mounted)
            if target == mounted.parent and model.local.is_file():
                # a model that is one file: the mount folder holds that file (by its name);
                # its local folder stands in for it
                return model.local.parent
        return self.dockerfile.local_path(str(target)) if self.dockerfile else None

    # Shared contract helpers ----------------------------------------------------------
    def check_listen_port(
        self, port: int, how: str, *, scoring_ports: tuple[int, ...] = ()
    ) -> None:
        """Report each route whose port differs from the port the server listens on.

        `scoring_ports` are other ports the server serves requests on (Triton's gRPC port):
        accepted for the scoring route only, since Azure probes liveness and readiness
        over HTTP.
        """
        self.listen_port = port
        for route in self.routes.values():
            if self.has(route.file, f"{route.key}.port"):
                continue  # already reported (invalid port): one problem per issue
            if route.name == "scoring_route" and route.port in scoring_ports:
                continue
            if route.port is not None and route.port != port:
                self.error(
                    "route.port.mismatch",
                    route.file,
                    f"{route.key}.port",
                    f"{route.name}.port is {route.port} but the server listens on {port} ({how})",
                    f"Set {route.name}.port to {port}, or make the server listen on {route.port}",
                )

    def route_not_served(self, route: Route, served_by: str, fix: str) -> None:
        """Report a route path the server does not serve (unless its path has a problem)."""
        if self.has(route.file, f"{route.key}.path"):
            return
        self.error(
            "route.path.not_served",
            route.file,
            f"{route.key}.path",
            f"{route.name}.path {route.path} is not served by {served_by}",
            fix,
        )


def find_files(
    folder: Path, pattern: str, *, limit: int = 2000, depth: int | None = None
) -> list[Path]:
    """Files under folder matching a glob pattern, breadth first, looking at most at `limit`
    entries (model folders can be huge), at most `depth` folder levels down (None: any),
    and skipping hidden folders such as .git."""
    import fnmatch
    import os

    matches, queue, seen = [], [(folder, 0)], 0
    while queue and seen < limit:
        current, level = queue.pop(0)
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                if depth is None or level < depth:
                    queue.append((Path(entry.path), level + 1))
            elif fnmatch.fnmatch(entry.name, pattern):
                matches.append(Path(entry.path))
    return matches


def _scalar(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


def _env_string(value: Any) -> str:
    return "" if value is None else str(value)


def _port(value: Any) -> int | None:
    number = _whole(value)
    return number if number is not None and 1 <= number <= 65535 else None


def _whole(value: Any) -> int | None:
    """An int from a YAML value (int, whole float, numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


def _answers(root: Path) -> Mapping:
    return read_answers(root / ANSWERS_FILE)


def read_answers(path: Path) -> Mapping:
    """A copier answers file's mapping ({} when missing, unreadable or beyond the input
    bounds of scaffold.limits)."""
    from scaffold import limits

    try:
        data = limits.load_yaml_file(path)
    except (OSError, limits.InputRejected):
        return {}
    return data if isinstance(data, dict) else {}
