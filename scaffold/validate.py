"""Find, before any build or deploy, the problems Azure ML would only report at deploy time.

`validate_project` reads the project's endpoint and deployment YAML, its Dockerfile and the
files they point at, and returns a `ValidationReport` with every problem at once; it never
raises for a problem in the project and never prints. Three layers of checks:

1. YAML checks that need no SDK: names, routes, ports, paths, probes, references... including
   everything azure-ai-ml 1.35's loaders accept silently (shared/reference/azureml.md §6).
2. Cross-file contracts: the server in the container must listen on the routes' port, serve
   their paths and find the model where Azure mounts it (one function per server in
   `scaffold.contracts`, chosen through the `scaffold.servers` registry).
3. The schema step: azure-ai-ml's own loaders, imported lazily (about 3 s), with their
   messages rewritten into one problem per underlying issue. Skipped, with a note saying how
   to install it, when azure-ai-ml is missing.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import re
import shlex
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from scaffold.project import AZUREML_MODELS_ROOT
from scaffold.servers import SERVERS, ServerSpec

Severity = Literal["error", "warning"]
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
        severity: "error" (the deployment fails or cannot work) or "warning".
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
class ValidationReport:
    """Everything `validate_project` found, grouped by file in the order found.

    Attributes:
        project: The project folder (absolute).
        problems: All problems, sorted by file, then in the order they were found.
        server: The detected server (answers file `server`, else heuristics), or None.
        schema_checked: Whether azure-ai-ml's loaders ran.
        schema_note: Why not, or which azure-ai-ml version checked the schema.
    """

    project: Path
    problems: list[Problem]
    server: str | None
    schema_checked: bool
    schema_note: str

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity "error"."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems of severity "warning"."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for `scaffold validate --json`)."""
        return {
            "project": str(self.project),
            "server": self.server,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "schema_checked": self.schema_checked,
            "schema_note": self.schema_note,
            "problems": [asdict(p) for p in self.problems],
        }


# --- Known keys (azure-ai-ml 1.35.2 schemas; tests compare them with the SDK) --------------
DEPLOYMENT_KEYS = frozenset({
    "$schema", "name", "endpoint_name", "description", "id", "tags", "properties", "model",
    "code_configuration", "environment", "environment_variables", "app_insights_enabled",
    "scale_settings", "request_settings", "liveness_probe", "readiness_probe",
    "provisioning_state", "instance_count", "type", "model_mount_path", "instance_type",
    "data_collector", "egress_public_network_access", "private_network_connection",
})
ENDPOINT_KEYS = frozenset({
    "$schema", "id", "name", "description", "tags", "provisioning_state", "properties",
    "auth_mode", "scoring_uri", "location", "openapi_uri", "identity", "traffic",
    "mirror_traffic", "public_network_access",
})
ENVIRONMENT_KEYS = frozenset({
    "$schema", "name", "id", "description", "tags", "version", "auto_delete_setting", "build",
    "image", "conda_file", "inference_config", "os_type", "datastore",
})
PROBE_KEYS = frozenset(
    {"initial_delay", "period", "timeout", "success_threshold", "failure_threshold"}
)
#: Dotted section path -> (known keys, required keys), for the deployment file.
DEPLOYMENT_SECTIONS: Sections = {
    "": (DEPLOYMENT_KEYS, ("name", "endpoint_name", "instance_type")),
    "environment": (ENVIRONMENT_KEYS, ()),
    "environment.build": (frozenset({"path", "dockerfile_path"}), ("path",)),
    IC_KEY: (frozenset(ROUTE_NAMES), ROUTE_NAMES),
    **{f"{IC_KEY}.{r}": (frozenset({"port", "path"}), ("port", "path")) for r in ROUTE_NAMES},
    "code_configuration": (frozenset({"code", "scoring_script"}), ("code",)),
    "request_settings": (
        frozenset({"request_timeout_ms", "max_concurrent_requests_per_instance",
                   "max_queue_wait_ms"}), (),
    ),
    "liveness_probe": (PROBE_KEYS, ()),
    "readiness_probe": (PROBE_KEYS, ()),
    "model": (
        frozenset({"name", "version", "path", "type", "description", "tags", "properties",
                   "datastore", "stage", "flavors", "system_metadata",
                   "allowed_deployment_templates", "default_deployment_template"}), (),
    ),
}
ENDPOINT_SECTIONS: Sections = {
    "": (ENDPOINT_KEYS, ("name",)),
}
AUTH_MODES = ("key", "aml_token", "aad_token")
#: Keys the loaders accept but users never write (read-only or internal); not suggested.
HIDDEN_KEYS = frozenset({"$schema", "id", "provisioning_state", "scoring_uri", "openapi_uri",
                         "location", "kind", "type", "private_network_connection",
                         "system_metadata", "auto_delete_setting", "datastore"})

#: VM sizes supported by managed online endpoints (MicrosoftDocs/azure-ai-docs,
#: reference-managed-online-endpoints-vm-sku-list.md, 2023-10-18). Others only warn.
INSTANCE_TYPES = frozenset(
    [f"STANDARD_D{n}AS_V4" for n in (2, 4, 8, 16, 32, 48, 64, 96)]
    + [f"STANDARD_D{n}A_V4" for n in (2, 4, 8, 16, 32, 48, 64, 96)]
    + [f"STANDARD_DS{n}_V2" for n in (1, 2, 3, 4, 5)]
    + [f"STANDARD_E{n}S_V3" for n in (2, 4, 8, 16, 32, 48, 64)]
    + [f"STANDARD_F{n}S_V2" for n in (2, 4, 8, 16, 32, 48, 64, 72)]
    + [f"STANDARD_FX{n}MDS" for n in (4, 12, 24, 36, 48)]
    + [f"STANDARD_L{n}AS_V3" for n in (8, 16, 32, 48, 64, 80)]
    + [f"STANDARD_L{n}S_V{v}" for n in (8, 16, 32, 48, 64, 80) for v in (2, 3)]
    + [f"STANDARD_NC{n}ADS_A100_V4" for n in (24, 48, 96)]
    + [f"STANDARD_NC{n}AS_T4_V3" for n in (4, 8, 16, 64)]
    + [f"STANDARD_NC{n}S_V{v}" for n in (6, 12, 24) for v in (2, 3)]
    + ["STANDARD_NC40ADS_H100_V5", "STANDARD_NC80ADIS_H100_V5", "STANDARD_ND96AMSR_A100_V4",
       "STANDARD_ND96ASR_V4", "STANDARD_ND40RS_V2", "STANDARD_ND96IS_H100_V5",
       "STANDARD_ND96ISR_H100_V5", "STANDARD_NV36ADMS_A10_V5"]
    + [f"STANDARD_NV{n}ADS_A10_V5" for n in (6, 12, 18, 36, 72)]
)

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


# --- The project as the checks see it ------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One `inference_config` route; port/path None when missing or invalid."""

    name: str
    port: int | None
    path: str | None

    @property
    def key(self) -> str:
        """YAML key path of this route."""
        return f"{IC_KEY}.{self.name}"


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


@dataclass(frozen=True)
class Command:
    """A Dockerfile CMD or ENTRYPOINT."""

    exec_form: bool
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Copy:
    """A COPY/ADD from the build context: sources (context-relative) to dest."""

    sources: tuple[str, ...]
    dest: str


@dataclass
class Dockerfile:
    """What the checks need from a Dockerfile: its final stage, and every external base.

    Attributes:
        path: The file.
        rel: Its project-relative name, used in problems.
        context: The build context folder.
        images: External base images of all stages as (image, line).
        env: ENV of the final stage.
        expose: EXPOSEd ports of the final stage.
        cmd: CMD of the final stage, if any.
        entrypoint: ENTRYPOINT of the final stage, if any (args () for `ENTRYPOINT []`).
        copies: COPY/ADD instructions of the final stage that read the build context.
    """

    path: Path
    rel: str
    context: Path
    images: list[tuple[str, int]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    cmd: Command | None = None
    entrypoint: Command | None = None
    copies: list[Copy] = field(default_factory=list)

    @property
    def command(self) -> tuple[str, ...]:
        """ENTRYPOINT + CMD arguments as the container runs them."""
        entry = self.entrypoint.args if self.entrypoint else ()
        return entry + (self.cmd.args if self.cmd else ())

    def local_path(self, container: str) -> Path | None:
        """Map a path inside the image back to the build context through COPY/ADD."""
        target = PurePosixPath(container)
        for copy in reversed(self.copies):
            for source in copy.sources:
                local = _copy_match(self.context, source, copy, target)
                if local is not None:
                    return local
        return None


def _copy_match(context: Path, source: str, copy: Copy, target: PurePosixPath) -> Path | None:
    local_source = (context / source).resolve()
    dest = PurePosixPath(copy.dest)
    into_dir = copy.dest.endswith("/") or len(copy.sources) > 1 or local_source.is_dir()
    landed = dest / local_source.name if into_dir and not local_source.is_dir() else dest
    if target == landed:
        return local_source
    if local_source.is_dir() and landed in target.parents:
        return local_source / target.relative_to(landed)
    return None


class Context:
    """The project as loaded for validation, and the problem list checks append to."""

    def __init__(self, root: Path, files: dict[str, tuple[str, Mapping | None]]) -> None:
        self.root = root
        self.deployment_file, self.deployment = files["deployment"]
        self.endpoint_file, self.endpoint = files["endpoint"]
        self.problems: list[Problem] = []
        self.answers = _answers(root)
        self.server: str | None = None
        #: Set by a contract check once it knows the port the server listens on.
        self.listen_port: int | None = None
        self._texts: dict[Path, str | None] = {}

    # Reporting -------------------------------------------------------------------------
    def error(self, code: str, file: str, key: str, message: str, fix: str) -> None:
        """Record an error."""
        self.problems.append(Problem("error", code, file, key, message, fix))

    def warn(self, code: str, file: str, key: str, message: str, fix: str) -> None:
        """Record a warning."""
        self.problems.append(Problem("warning", code, file, key, message, fix))

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
        return (self.root / self.deployment_file).parent

    def local(self, value: Any) -> Path | None:
        """A deployment.yml path value as a local path (None for URLs/references)."""
        if not isinstance(value, str) or not value or "://" in value:
            return None
        if value.startswith("azureml:"):
            return None
        return (self.base / value).resolve()

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
    def routes(self) -> dict[str, Route]:
        """The routes present in inference_config, by name."""
        config = self.environment.get("inference_config")
        if not isinstance(config, dict):
            return {}
        routes = {}
        for name in ROUTE_NAMES:
            raw = config.get(name)
            if isinstance(raw, dict):
                path = raw.get("path")
                routes[name] = Route(
                    name, _port(raw.get("port")), path if isinstance(path, str) else None
                )
        return routes

    @cached_property
    def model(self) -> Model | None:
        """The inline model (None for none or a registered reference)."""
        raw = (self.deployment or {}).get("model")
        if not isinstance(raw, dict):
            return None
        name, version = _scalar(raw.get("name")), _scalar(raw.get("version"))
        local = self.local(raw.get("path"))
        model_dir = (
            AZUREML_MODELS_ROOT / name / version if name and version else SYMBOLIC_MODEL_DIR
        )
        mount_path = (self.deployment or {}).get("model_mount_path")
        mount = (
            PurePosixPath(mount_path)
            if isinstance(mount_path, str) and mount_path.startswith("/")
            else model_dir
        )
        return Model(name, version, local if local and local.exists() else None, mount,
                     model_dir)

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

        return _VARIABLE.sub(substitute, text)

    @cached_property
    def dockerfile(self) -> Dockerfile | None:
        """The Dockerfile that builds the image (environment.build, else found by name)."""
        located = self._locate_dockerfile()
        if located is None:
            return None
        path, context = located
        text = self.read(path)
        return None if text is None else parse_dockerfile(text, path, self.rel(path), context)

    def _locate_dockerfile(self) -> tuple[Path, Path] | None:
        build = self.environment.get("build")
        if isinstance(build, dict):
            context = self.local(build.get("path"))
            name = build.get("dockerfile_path") or "Dockerfile"
            if context is None or not isinstance(name, str):
                return None
            return (context / name, context) if (context / name).is_file() else None
        candidates = [self.root / "docker-context" / "Dockerfile", self.root / "Dockerfile"]
        candidates += sorted(self.root.glob("*.dockerfile"))
        candidates += sorted(self.root.glob("Dockerfile.*"))
        for path in candidates:
            if path.is_file():
                return path, path.parent
        return None

    @cached_property
    def command_texts(self) -> list[tuple[str, str]]:
        """(file, text) of the container's command and of local scripts it runs."""
        docker = self.dockerfile
        if docker is None or not docker.command:
            return []
        texts = [(docker.rel, " ".join(docker.command))]
        for word in docker.command:
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
        return self.dockerfile.local_path(str(target)) if self.dockerfile else None

    # Shared contract helpers ----------------------------------------------------------
    def check_listen_port(self, port: int, how: str) -> None:
        """Report each route whose port differs from the port the server listens on."""
        self.listen_port = port
        for route in self.routes.values():
            if self.has(self.deployment_file, f"{route.key}.port"):
                continue  # already reported (invalid port): one problem per issue
            if route.port is not None and route.port != port:
                self.error(
                    "route.port.mismatch", self.deployment_file, f"{route.key}.port",
                    f"{route.name}.port is {route.port} but the server listens on {port} "
                    f"({how})",
                    f"Set {route.name}.port to {port}, or make the server listen on "
                    f"{route.port}",
                )

    def route_not_served(self, route: Route, served_by: str, fix: str) -> None:
        """Report a route path the server does not serve (unless its path has a problem)."""
        if self.has(self.deployment_file, f"{route.key}.path"):
            return
        self.error(
            "route.path.not_served", self.deployment_file, f"{route.key}.path",
            f"{route.name}.path {route.path} is not served by {served_by}", fix,
        )


_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")


def find_files(folder: Path, pattern: str, *, limit: int = 2000) -> list[Path]:
    """Files under folder matching a glob pattern, breadth first, looking at most at `limit`
    entries (model folders can be huge) and skipping hidden folders such as .git."""
    import fnmatch
    import os

    matches, queue, seen = [], [folder], 0
    while queue and seen < limit:
        try:
            entries = sorted(os.scandir(queue.pop(0)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                queue.append(Path(entry.path))
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
    import yaml

    try:
        data = yaml.safe_load((root / ANSWERS_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# --- Dockerfile parsing ----------------------------------------------------------------------
def _logical_lines(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield (KEYWORD, arguments, first line number), joining `\\` continuations."""
    buffer, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        start = start or number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        keyword, _, rest = (buffer + stripped).partition(" ")
        yield keyword.upper(), rest.strip(), start
        buffer, start = "", 0
    if buffer:
        keyword, _, rest = buffer.strip().partition(" ")
        yield keyword.upper(), rest.strip(), start


def _command(value: str, line: int) -> Command:
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(a, str) for a in parsed):
            return Command(True, tuple(parsed), line)
    return Command(False, tuple(_split(value)), line)


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value, comments=False)
    except ValueError:
        return value.split()


def _env_pairs(value: str) -> dict[str, str]:
    words = _split(value)
    if words and "=" not in words[0]:  # legacy `ENV KEY value words`
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


def _copy(value: str) -> Copy | None:
    match = re.fullmatch(r"((?:--\S+\s+)*)(.*)", value.strip(), re.S)
    flags, rest = (match.group(1), match.group(2)) if match else ("", value)
    if "--from" in flags:
        return None  # from another stage or image, not from the build context
    words = list(_command(rest, 0).args)
    return Copy(tuple(words[:-1]), words[-1]) if len(words) >= 2 else None


@dataclass
class _Stage:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    cmd: Command | None = None
    entrypoint: Command | None = None
    copies: list[Copy] = field(default_factory=list)
    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))


def parse_dockerfile(text: str, path: Path, rel: str, context: Path) -> Dockerfile:
    """Parse the parts of a Dockerfile the checks use (final stage + all base images)."""
    docker = Dockerfile(path=path, rel=rel, context=context)
    args: dict[str, str] = {}
    stages: list[_Stage] = []
    for keyword, value, line in _logical_lines(text):
        if keyword == "ARG" and not stages:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
        elif keyword == "FROM":
            stages.append(_new_stage(value, line, args, stages, docker))
        elif stages:
            _apply(stages[-1], keyword, value, line)
    if stages:
        final = stages[-1]
        docker.env, docker.expose, docker.copies = final.env, final.expose, final.copies
        docker.cmd, docker.entrypoint = final.cmd, final.entrypoint
    return docker


def _new_stage(
    value: str, line: int, args: dict[str, str], stages: list[_Stage], docker: Dockerfile
) -> _Stage:
    words = [w for w in value.split() if not w.startswith("--")]
    image = _VARIABLE.sub(lambda m: args.get(m.group(1) or m.group(3) or "", m.group(0)),
                          words[0] if words else "")
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
    parent = next((s for s in stages if s.name and s.name == image.lower()), None)
    if parent is None:
        if image.lower() != "scratch":
            docker.images.append((image, line))
        return _Stage(name.lower())
    return _Stage(name.lower(), dict(parent.env), list(parent.expose), parent.cmd,
                  parent.entrypoint, list(parent.copies), parent.workdir)


def _apply(stage: _Stage, keyword: str, value: str, line: int) -> None:
    if keyword == "ENV":
        stage.env.update(_env_pairs(value))
    elif keyword == "EXPOSE":
        stage.expose += [int(p.split("/")[0]) for p in value.split() if p.split("/")[0].isdigit()]
    elif keyword == "CMD":
        stage.cmd = _command(value, line)
    elif keyword == "ENTRYPOINT":
        stage.entrypoint, stage.cmd = _command(value, line), None
    elif keyword == "WORKDIR":
        stage.workdir = stage.workdir / value.strip().strip("\"'")
    elif keyword in ("COPY", "ADD"):
        copy = _copy(value)
        if copy is not None:
            into = copy.dest.endswith("/") or copy.dest in (".", "./")
            stage.copies.append(Copy(copy.sources, str(stage.workdir / copy.dest)
                                     + ("/" if into else "")))


# --- Entry point -----------------------------------------------------------------------------
def validate_project(project: Path, *, schema: bool = True) -> ValidationReport:
    """Check a project folder and report every problem found, all at once.

    Args:
        project: The project folder (with deployment.yml and endpoint.yml, or hand-written
            `*deployment.yml` / `*endpoint.yml`).
        schema: Also run azure-ai-ml's loaders (slow to import: about 3 s).

    Returns:
        The report; `report.errors` is empty when nothing blocks a deployment.
    """
    root = project.expanduser().resolve()
    problems: list[Problem] = []
    files = {kind: _load_file(root, kind, problems) for kind in ("deployment", "endpoint")}
    ctx = Context(root, files)
    ctx.problems.extend(problems)
    ctx.server = detect_server(ctx)
    if ctx.deployment is not None or ctx.endpoint is not None:
        for check in CHECKS:
            check(ctx)
    checked, note = _schema_step(ctx) if schema else (False, "schema check skipped")
    ordered = sorted(ctx.problems, key=lambda p: p.file)
    return ValidationReport(root, ordered, ctx.server, checked, note)


def _find_yaml(root: Path, kind: str) -> list[Path]:
    """deployment.yml (or .yaml), else the `*deployment.yml` candidates (hand-written)."""
    for name in (f"{kind}.yml", f"{kind}.yaml"):
        if (root / name).is_file():
            return [root / name]
    return sorted(p for p in root.glob(f"*{kind}.y*ml") if p.suffix in (".yml", ".yaml"))


def _load_file(root: Path, kind: str, problems: list[Problem]) -> tuple[str, Mapping | None]:
    import yaml

    candidates = _find_yaml(root, kind)
    if len(candidates) != 1:
        name = f"{kind}.yml"
        severity: Severity = "error" if kind == "deployment" else "warning"
        found = f"several candidates ({', '.join(p.name for p in candidates)})" if (
            candidates) else "not found"
        problems.append(Problem(
            severity, "file.missing", name, "", f"{name} {found} in {root}",
            f"Name the file {name} (scaffold new generates one) or run validate in the "
            "project folder",
        ))
        return name, None
    path = candidates[0]
    name = path.relative_to(root).as_posix()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem("error", "file.unreadable", name, "",
                                f"{name} cannot be read as UTF-8 text: {error}",
                                "Save it as UTF-8 (and check its permissions)"))
        return name, None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(Problem("error", "yaml.syntax", name, "", f"{name} is not valid YAML"
                                f"{where}: {getattr(error, 'problem', '') or error}",
                                "Fix the YAML syntax (indentation, quotes, brackets)"))
        return name, None
    if not isinstance(data, dict):
        problems.append(Problem("error", "yaml.not_mapping", name, "",
                                f"{name} is empty or not a mapping of settings",
                                f"Write {kind} settings as `key: value` lines"))
        return name, None
    return name, data


def detect_server(ctx: Context) -> str | None:
    """The project's server: the answers file, else image names, commands and files."""
    answered = ctx.answers.get("server")
    if isinstance(answered, str) and answered in SERVERS:
        return answered
    images = [image for image, _ in reversed(ctx.dockerfile.images)] if ctx.dockerfile else []
    if isinstance(ctx.environment.get("image"), str):
        images.append(ctx.environment["image"])
    image_text = " ".join(images)
    command = " ".join(text for _, text in ctx.command_texts[:1])
    for spec in SERVERS.values():
        if any(hint in image_text for hint in spec.image_hints):
            return spec.name
    for spec in SERVERS.values():
        if any(hint in command for hint in spec.command_hints):
            return spec.name
    return _server_from_files(ctx)


def _server_from_files(ctx: Context) -> str | None:
    folders = [p for p in (ctx.model.local if ctx.model else None,
                           ctx.dockerfile.context if ctx.dockerfile else None, ctx.code_dir)
               if p is not None and p.is_dir()]
    for spec in SERVERS.values():
        for pattern in spec.file_hints:
            if any(next(iter(find_files(folder, pattern)), None) for folder in folders):
                return spec.name
    return None


# --- SDK-independent checks --------------------------------------------------------------------
def _unknown_keys(ctx: Context, file: str, data: Mapping, sections: Sections) -> None:
    for section, (known, required) in sections.items():
        node = _at(data, section)
        if isinstance(node, dict):
            for problem in key_problems(file, section, node.keys(), known, required):
                ctx.problems.append(problem)


def _at(data: Mapping, dotted: str) -> Any:
    node: Any = data
    for part in filter(None, dotted.split(".")):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def key_problems(
    file: str, section: str, present: Iterable[Any], known: Iterable[str],
    required: Iterable[str], missing: Iterable[str] | None = None,
) -> list[Problem]:
    """Problems for unknown and missing keys of one mapping, one per underlying issue.

    A misspelt key and the required key it should have been (`scoring_rout` and
    `scoring_route`) make one problem, not two.
    """
    keys = [str(k) for k in present]
    known = sorted(known)
    absent = [r for r in required if r not in keys] if missing is None else list(missing)
    prefix = f"{section}." if section else ""
    problems = []
    for key in (k for k in keys if k not in known):
        guess = difflib.get_close_matches(key, absent, 1, 0.6) or difflib.get_close_matches(
            key, known, 1, 0.75)
        if guess and guess[0] in absent:
            absent.remove(guess[0])
            message = f"Unknown field `{key}`; the required `{guess[0]}` is missing"
        else:
            message = f"Unknown field `{key}`"
        shown = ", ".join(k for k in known if k not in HIDDEN_KEYS)
        fix = (f"Did you mean `{guess[0]}`? Rename `{key}` to `{guess[0]}`" if guess else
               f"Remove `{key}`; valid keys here: {shown}")
        problems.append(Problem("error", "schema.unknown_field", file, prefix + key, message, fix))
    for key in absent:
        problems.append(Problem("error", "schema.missing_field", file, prefix + key,
                                f"Required field `{prefix + key}` is missing",
                                f"Add `{key}` " + (f"under `{section}`" if section
                                                   else "at the top level")))
    return problems


def _check_name(ctx: Context, file: str, key: str, value: Any, kind: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        ctx.error("schema.type", file, key, f"`{key}` must be a string, not {value!r}",
                  f"Quote the {kind} name")
        return
    code, rule = f"name.{kind}", "3-32 characters: a letter first, then letters, digits, dashes"
    dns = " (it becomes part of the endpoint's DNS name)" if kind == "endpoint" else ""
    if not 3 <= len(value) <= 32:
        ctx.error(f"{code}.length", file, key,
                  f"{kind} name `{value}` has {len(value)} characters; Azure allows 3-32",
                  f"Use a name of {rule}")
    if not NAME_PATTERN.fullmatch(value):
        ctx.error(f"{code}.pattern", file, key,
                  f"{kind} name `{value}` must start with a letter and contain only letters, "
                  "digits and dashes", f"Use a name of {rule}, e.g. my-{kind}")
    elif value.endswith("-"):
        ctx.error(f"{code}.trailing_dash", file, key, f"{kind} name `{value}` ends with a dash",
                  f"Remove the trailing dash: {value.rstrip('-')}")
    if value != value.lower():
        ctx.error(f"{code}.case", file, key,
                  f"{kind} name `{value}` has uppercase letters{dns}",
                  f"Use lowercase: {value.lower()}")


def check_endpoint(ctx: Context) -> None:
    """endpoint.yml: keys, name, auth_mode, traffic at creation."""
    data, file = ctx.endpoint, ctx.endpoint_file
    if data is None:
        return
    _unknown_keys(ctx, file, data, ENDPOINT_SECTIONS)
    _check_name(ctx, file, "name", data.get("name"), "endpoint")
    auth = data.get("auth_mode")
    if auth is not None and auth not in AUTH_MODES:
        ctx.error("schema.choice", file, "auth_mode", f"auth_mode `{auth}` is not one of "
                  f"{', '.join(AUTH_MODES)}", "Set auth_mode to key, aml_token or aad_token")
    traffic = data.get("traffic")
    if traffic:
        ctx.error("endpoint.traffic", file, "traffic",
                  "traffic cannot be set when the endpoint is created (it has no deployments yet)",
                  "Remove traffic; create the deployment with --all-traffic or set it later with "
                  "`az ml online-endpoint update --traffic`")


def check_names(ctx: Context) -> None:
    """Deployment keys and names, and the endpoint name both files must share."""
    data, file = ctx.deployment, ctx.deployment_file
    if data is None:
        return
    _unknown_keys(ctx, file, data, DEPLOYMENT_SECTIONS)
    _check_name(ctx, file, "name", data.get("name"), "deployment")
    endpoint_name = data.get("endpoint_name")
    if ctx.endpoint is None:
        _check_name(ctx, file, "endpoint_name", endpoint_name, "endpoint")
        return
    expected = ctx.endpoint.get("name")
    if isinstance(endpoint_name, str) and isinstance(expected, str) and endpoint_name != expected:
        ctx.error("name.endpoint.mismatch", file, "endpoint_name",
                  f"endpoint_name `{endpoint_name}` differs from the name `{expected}` in "
                  f"{ctx.endpoint_file}", "Use the same endpoint name in both files")


def _check_reference(ctx: Context, key: str, value: str) -> None:
    if REFERENCE_PATTERN.fullmatch(value):
        return
    if value.startswith("azureml:") and not value[len("azureml:"):]:
        why = "is empty"
    elif value.startswith("azureml:"):
        why = "has no version or label"
    else:
        why = "is neither an inline mapping nor an `azureml:` reference"
    ctx.error("reference.malformed", ctx.deployment_file, key, f"{key} `{value}` {why}",
              f"Use azureml:<name>:<version> or azureml:<name>@latest, or an inline {key}")


def check_environment(ctx: Context) -> None:
    """The environment: exactly one of image/build, a valid image, routes for custom images."""
    if ctx.deployment is None:
        return
    env, file = ctx.deployment.get("environment"), ctx.deployment_file
    if env is None:
        ctx.error("environment.missing", file, "environment",
                  "No environment: a custom-container deployment needs its image and routes",
                  "Add environment with image (or build) and inference_config")
    elif isinstance(env, str):
        _check_reference(ctx, "environment", env)
    elif isinstance(env, dict):
        _check_image_or_build(ctx, env)
        _check_inference_config(ctx, env)


def _check_image_or_build(ctx: Context, env: Mapping) -> None:
    file, image, build = ctx.deployment_file, env.get("image"), env.get("build")
    if image is not None and build is not None:
        ctx.error("environment.image_and_build", file, "environment",
                  "environment has both image and build", "Keep one: image (pre-built) or build")
    elif image is None and build is None:
        ctx.error("environment.no_image_or_build", file, "environment",
                  "environment has neither image nor build",
                  "Add image: <registry>/<name>:<tag> or build: {path: ./docker-context}")
    if isinstance(image, str):
        check_image(ctx, file, "environment.image", image)
    if isinstance(build, dict):
        _check_build(ctx, build)


def check_image(ctx: Context, file: str, key: str, image: str) -> None:
    """Report an invalid image reference (error) or an unpinned one (warning)."""
    match = IMAGE_PATTERN.fullmatch(image)
    if match is None:
        ctx.error("image.invalid", file, key, f"`{image}` is not a valid image reference",
                  "Use <registry>/<repository>:<tag> in lowercase, with no placeholders or spaces")
        return
    tag = match.group("tag")
    if match.group("digest"):
        return
    if tag is None or tag == "latest" or tag.startswith("latest-") or tag.endswith("-latest"):
        what = "has no tag (means latest)" if tag is None else f"uses the moving tag `{tag}`"
        ctx.warn("image.latest", file, key, f"image `{image}` {what}: deployments are not "
                 "reproducible and may change under you",
                 "Pin a version tag or a digest (@sha256:...)")


def _check_build(ctx: Context, build: Mapping) -> None:
    file = ctx.deployment_file
    context = ctx.local(build.get("path"))
    if context is None:
        return
    if not context.is_dir():
        ctx.error("path.build.not_found", file, "environment.build.path",
                  f"build context {build.get('path')} does not exist",
                  "Fix environment.build.path (relative to the deployment file)")
        return
    name = build.get("dockerfile_path") or "Dockerfile"
    if isinstance(name, str) and not (context / name).is_file():
        ctx.error("path.dockerfile.not_found", file, "environment.build.dockerfile_path",
                  f"Dockerfile {name} not found in {ctx.rel(context)}",
                  "Fix dockerfile_path (relative to build.path) or add the Dockerfile")


def _is_azureml_image(ctx: Context, env: Mapping) -> bool:
    images: list[Any] = [env.get("image")]
    if ctx.dockerfile is not None:
        images += [image for image, _ in ctx.dockerfile.images]
    return any(isinstance(i, str) and "mcr.microsoft.com/azureml/" in i for i in images)


def _check_inference_config(ctx: Context, env: Mapping) -> None:
    file, config = ctx.deployment_file, env.get("inference_config")
    if config is None:
        if (env.get("image") or env.get("build")) and not _is_azureml_image(ctx, env):
            ctx.error("routes.missing", file, IC_KEY,
                      "No inference_config: Azure treats the image as an Azure ML inference "
                      "image and never probes or forwards to your server",
                      "Add inference_config with liveness_route, readiness_route and "
                      "scoring_route (port and path each)")
        return
    if not isinstance(config, dict):
        ctx.error("schema.type", file, IC_KEY, "inference_config must be a mapping of routes",
                  "Give liveness_route, readiness_route and scoring_route their port and path")
        return
    for name in ROUTE_NAMES:
        route = config.get(name)
        if isinstance(route, dict):
            _check_route(ctx, f"{IC_KEY}.{name}", route)


def _check_route(ctx: Context, key: str, route: Mapping) -> None:
    file, port, path = ctx.deployment_file, route.get("port"), route.get("path")
    number = _number(ctx, file, f"{key}.port", port)
    if number is not None and not 1 <= number <= 65535:
        ctx.error("route.port.invalid", file, f"{key}.port", f"port {number} is not 1-65535",
                  "Use the port the server listens on inside the container")
    if path is None:
        return
    if not isinstance(path, str) or not path:
        ctx.error("schema.type", file, f"{key}.path", "path must be a non-empty string",
                  "Use an absolute URL path such as /score")
    elif not path.startswith("/"):
        ctx.error("route.path.slash", file, f"{key}.path", f"path `{path}` does not start with /",
                  f"Use /{path}")


def _number(ctx: Context, file: str, key: str, value: Any) -> int | None:
    """A whole number from YAML, reporting schema.type when it is something else."""
    if value is None:
        return None
    number = _whole(value)
    if number is None:
        ctx.error("schema.type", file, key, f"`{key}` must be a whole number, not {value!r}",
                  "Write a plain integer")
    return number


def check_model_and_code(ctx: Context) -> None:
    """model (reference or local path), model_mount_path, code_configuration paths."""
    data = ctx.deployment
    if data is None:
        return
    model = data.get("model")
    if isinstance(model, str):
        _check_reference(ctx, "model", model)
    elif isinstance(model, dict):
        _check_local_model(ctx, model)
    mount = data.get("model_mount_path")
    if mount is not None and not (isinstance(mount, str) and mount.startswith("/")):
        ctx.error("model_mount_path.relative", ctx.deployment_file, "model_mount_path",
                  f"model_mount_path `{mount}` is not an absolute path",
                  "Use an absolute container path such as /models")
    code = data.get("code_configuration")
    if isinstance(code, dict):
        _check_code(ctx, code)


def _check_local_model(ctx: Context, model: Mapping) -> None:
    file, path = ctx.deployment_file, model.get("path")
    if path is None:
        ctx.error("model.path.missing", file, "model.path", "inline model has no path",
                  "Add model.path (a local folder) or use model: azureml:<name>:<version>")
        return
    local = ctx.local(path)
    if local is not None and not local.exists():
        ctx.error("path.model.not_found", file, "model.path", f"model path {path} does not exist",
                  "Fix model.path (relative to the deployment file) or add the model files")


def _check_code(ctx: Context, code: Mapping) -> None:
    file, folder, script = ctx.deployment_file, code.get("code"), code.get("scoring_script")
    local = ctx.local(folder)
    if local is not None and not local.is_dir():
        ctx.error("path.code.not_found", file, "code_configuration.code",
                  f"code folder {folder} does not exist",
                  "Fix code_configuration.code (relative to the deployment file)")
    if script is None:
        ctx.error("code.scoring_script.missing", file, "code_configuration.scoring_script",
                  "code_configuration has no scoring_script",
                  "Add scoring_script: the file in the code folder the server runs")
    elif local is not None and local.is_dir() and not (local / str(script)).is_file():
        ctx.error("path.scoring_script.not_found", file, "code_configuration.scoring_script",
                  f"scoring script {script} not found in {folder}",
                  "Fix scoring_script (relative to the code folder) or add the file")


def check_settings(ctx: Context) -> None:
    """environment_variables, instance count/type, request settings, probes."""
    data = ctx.deployment
    if data is None:
        return
    _check_env_vars(ctx, data.get("environment_variables"))
    _check_instances(ctx, data)
    settings = data.get("request_settings")
    if isinstance(settings, dict):
        _check_request_settings(ctx, settings)
    for probe in ("liveness_probe", "readiness_probe"):
        if isinstance(data.get(probe), dict):
            _check_probe(ctx, probe, data[probe])


def _check_env_vars(ctx: Context, env: Any) -> None:
    if env is None:
        return
    file = ctx.deployment_file
    if not isinstance(env, dict):
        ctx.error("schema.type", file, "environment_variables",
                  "environment_variables must be a mapping", "Write NAME: \"value\" lines")
        return
    for name, value in env.items():
        key = f"environment_variables.{name}"
        if isinstance(value, dict | list):
            ctx.error("env.value.nested", file, key, f"{name} is a nested {type(value).__name__}",
                      "Give it a string value (JSON-encode structured values yourself)")
        elif not isinstance(value, str):
            shown = "" if value is None else str(value)
            ctx.warn("env.value.not_string", file, key,
                     f"{name} is {value!r}, which the container receives as the string '{shown}'",
                     f"Quote it: {name}: \"{shown}\"")


def _check_instances(ctx: Context, data: Mapping) -> None:
    file = ctx.deployment_file
    count = _number(ctx, file, "instance_count", data.get("instance_count"))
    if count is not None and not 1 <= count <= 50:
        ctx.error("instance_count.range", file, "instance_count",
                  f"instance_count {count} is outside 1-50 (Azure's per-deployment limit)",
                  "Use 1-50 instances (3 or more for production)")
    kind = data.get("instance_type")
    if isinstance(kind, str) and kind.upper() not in INSTANCE_TYPES:
        guess = difflib.get_close_matches(kind.upper(), sorted(INSTANCE_TYPES), 1, 0.8)
        hint = f"Did you mean {_sku(guess[0])}? " if guess else ""
        ctx.warn("instance_type.unknown", file, "instance_type",
                 f"instance_type `{kind}` is not in the managed online endpoint VM list",
                 f"{hint}Check the SKU list (e.g. Standard_DS3_v2, Standard_F4s_v2, "
                 "Standard_NC4as_T4_v3)")
    elif kind is not None and not isinstance(kind, str):
        ctx.error("schema.type", file, "instance_type", "instance_type must be a string",
                  "Use a VM size such as Standard_DS3_v2")


def _sku(upper: str) -> str:
    head, _, rest = upper.partition("_")
    return f"{head.title()}_{rest.replace('_V', '_v')}"


def _check_request_settings(ctx: Context, settings: Mapping) -> None:
    file, key = ctx.deployment_file, "request_settings"
    timeout = _number(ctx, file, f"{key}.request_timeout_ms", settings.get("request_timeout_ms"))
    if timeout is not None and not 1 <= timeout <= 180000:
        ctx.error("request_timeout.range", file, f"{key}.request_timeout_ms",
                  f"request_timeout_ms {timeout} is outside 1-180000 (managed endpoints allow "
                  "at most 180 s)", "Use 1-180000 milliseconds (default 5000)")
    concurrency = _number(ctx, file, f"{key}.max_concurrent_requests_per_instance",
                          settings.get("max_concurrent_requests_per_instance"))
    if concurrency is not None and concurrency < 1:
        ctx.error("max_concurrent.range", file, f"{key}.max_concurrent_requests_per_instance",
                  f"max_concurrent_requests_per_instance {concurrency} is below 1",
                  "Use 1 or more (default 1)")


def _check_probe(ctx: Context, probe: str, values: Mapping) -> None:
    file = ctx.deployment_file
    for name in sorted(PROBE_KEYS):
        number = _number(ctx, file, f"{probe}.{name}", values.get(name))
        if number is not None and number < 1:
            ctx.error("probe.range", file, f"{probe}.{name}",
                      f"{probe}.{name} is {number}; Azure needs at least 1",
                      f"Set {name} to 1 or more (defaults: initial_delay 10, period 10, "
                      "timeout 2, success_threshold 1, failure_threshold 30)")
    success = _whole(values.get("success_threshold"))
    if probe == "liveness_probe" and success is not None and success > 1:
        ctx.warn("probe.success_threshold", file, f"{probe}.success_threshold",
                 f"liveness_probe.success_threshold is {success}; Azure fixes it at 1",
                 "Remove it or set it to 1")


def check_dockerfile(ctx: Context) -> None:
    """Dockerfile: pinned base images, and $VARS in exec-form commands that never expand."""
    docker = ctx.dockerfile
    if docker is None:
        return
    for image, line in docker.images:
        if "$" not in image:
            check_image(ctx, docker.rel, f"FROM (line {line})", image)
    entry, cmd = docker.entrypoint, docker.cmd
    if entry is not None and entry.exec_form and _has_variable(entry.args) and not _is_shell(entry):
        _exec_vars(ctx, docker, entry, "ENTRYPOINT", certain=True)
    if cmd is None or not cmd.exec_form or not _has_variable(cmd.args) or _is_shell(cmd):
        return
    expands = _cmd_expands(ctx, docker)
    if expands is not True:
        _exec_vars(ctx, docker, cmd, "CMD", certain=expands is False)


def _cmd_expands(ctx: Context, docker: Dockerfile) -> bool | None:
    """Whether the entrypoint evaluates an exec-form CMD with a shell (None: unknown)."""
    entry = docker.entrypoint
    if entry is None:
        return ctx.spec.base_entrypoint_evals if ctx.spec is not None else None
    if not entry.args:
        return False  # ENTRYPOINT []: the CMD runs as is
    if _is_shell(entry):
        return True
    script = docker.local_path(entry.args[0]) if entry.args[0].startswith("/") else None
    text = ctx.read(script) if script is not None else None
    if text is None:
        return None
    return bool(re.search(r"^\s*eval\b", text, re.M))


def _has_variable(args: Iterable[str]) -> bool:
    return any(_VARIABLE.search(a) for a in args)


def _is_shell(command: Command) -> bool:
    return bool(command.args) and PurePosixPath(command.args[0]).name in ("sh", "bash") and (
        "-c" in command.args)


def _exec_vars(
    ctx: Context, docker: Dockerfile, command: Command, keyword: str, *, certain: bool
) -> None:
    report = ctx.error if certain else ctx.warn
    why = "" if certain else " unless the base image's entrypoint evaluates its arguments"
    report("dockerfile.exec_vars", docker.rel, f"{keyword} (line {command.line})",
           f"exec-form {keyword} uses $VARIABLES, which are not expanded without a shell{why}",
           'Use the shell form, or ["sh", "-c", "..."], or an entrypoint script')


def check_contract(ctx: Context) -> None:
    """The detected server's own cross-file contract (scaffold.contracts)."""
    spec = ctx.spec
    if spec is not None and spec.contract and ctx.deployment is not None:
        from scaffold import contracts

        getattr(contracts, spec.contract)(ctx)


def check_expose(ctx: Context) -> None:
    """Route ports against the Dockerfile's EXPOSE (the only evidence for unknown servers)."""
    docker = ctx.dockerfile
    if docker is None or not docker.expose:
        return
    reported = {p.key for p in ctx.problems if p.code == "route.port.mismatch"}
    seen: set[int] = set()
    for route in ctx.routes.values():
        key = f"{route.key}.port"
        if route.port is None or route.port in docker.expose or route.port in seen or (
                key in reported):
            continue
        seen.add(route.port)
        exposed = ", ".join(map(str, docker.expose))
        if ctx.listen_port is None:
            ctx.error("route.port.mismatch", ctx.deployment_file, key,
                      f"{route.name}.port is {route.port} but {docker.rel} EXPOSEs {exposed}",
                      f"Use the port the server listens on, or fix EXPOSE in {docker.rel}")
        else:
            ctx.warn("dockerfile.expose", docker.rel, "EXPOSE",
                     f"{docker.rel} EXPOSEs {exposed} but the routes use {route.port}",
                     f"EXPOSE {route.port} so local runs publish the port the routes use")


def check_samples(ctx: Context) -> None:
    """The smoke test's sample request exists and parses."""
    smoke = ctx.root / "smoke_test.py"
    names = set(re.findall(r"sample_request\.\w+", ctx.read(smoke) or ""))
    if (ctx.root / "sample_request.json").is_file():
        names.add("sample_request.json")
    for name in sorted(names):
        path = ctx.root / name
        if not path.is_file():
            ctx.error("smoke.sample.missing", name, "", f"{name} (used by smoke_test.py) is "
                      "missing", f"Add {name} with a request the model accepts")
        elif name.endswith(".json"):
            _check_json(ctx, path, name)


def _check_json(ctx: Context, path: Path, name: str) -> None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        ctx.error("smoke.sample.invalid", name, "", f"{name} is not valid JSON: {error}",
                  "Fix the JSON (the smoke test and `az ml online-endpoint invoke` send it)")


def check_model_file(ctx: Context) -> None:
    """MODEL_FILE (read by the generated scoring scripts) points into the mounted model."""
    value = ctx.container_env.get("MODEL_FILE")
    model = ctx.model
    if not value or model is None or model.local is None:
        return
    container = value if value.startswith("/") else f"{model.model_dir}/{value}"
    local = ctx.resolve_container_path(container)
    if local is None or not local.exists():
        file, key = ctx.env_source("MODEL_FILE")
        ctx.error("model.file.not_found", file, key,
                  f"MODEL_FILE {value} is not in the mounted model (Azure mounts "
                  f"{ctx.rel(model.local)} at {model.container_path})",
                  f"Point MODEL_FILE at a file under {model.local.name}/ (relative to "
                  "AZUREML_MODEL_DIR)")


CHECKS = (
    check_endpoint, check_names, check_environment, check_model_and_code, check_settings,
    check_dockerfile, check_contract, check_expose, check_model_file, check_samples,
)


# --- Schema step (azure-ai-ml) -----------------------------------------------------------------
def _schema_step(ctx: Context) -> tuple[bool, str]:
    try:
        loaders, version = _sdk_loaders()
    except ImportError:
        return False, SCHEMA_MISSING_NOTE
    targets = (("deployment", ctx.deployment_file, ctx.deployment, DEPLOYMENT_SECTIONS),
               ("endpoint", ctx.endpoint_file, ctx.endpoint, ENDPOINT_SECTIONS))
    with tempfile.TemporaryDirectory(prefix="scaffold-validate-") as scratch:
        for kind, file, data, sections in targets:
            if data is None:
                continue
            source = _sdk_input(ctx, data, Path(scratch)) if kind == "deployment" else (
                ctx.root / file)
            error = _sdk_load(loaders[kind], source)
            for problem in sdk_problems(error, file, sections) if error else []:
                if not ctx.has(problem.file, problem.key):
                    ctx.problems.append(problem)
    return True, f"checked with azure-ai-ml {version}"


def _sdk_input(ctx: Context, data: Mapping, scratch: Path) -> Path:
    """A copy of deployment.yml for the SDK, with no folder it would hash byte by byte.

    azure-ai-ml hashes local model.path and environment.build.path folders while loading
    (a multi-GB model takes as long as reading it). Existing ones point at an empty stand-in
    (their existence is checked above); other relative paths become absolute.
    """
    import copy

    import yaml

    data = copy.deepcopy(data)
    stub = scratch / "empty"
    stub.mkdir(exist_ok=True)
    (scratch / "empty-file").touch()
    for parent, key, hashed in _local_path_keys(data):
        local = ctx.local(parent[key])
        if local is None:
            continue
        if hashed and local.exists():
            parent[key] = str(stub if local.is_dir() else scratch / "empty-file")
        else:
            parent[key] = str(local)
    target = scratch / "deployment.yml"
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _local_path_keys(data: Mapping) -> Iterator[tuple[Mapping, str, bool]]:
    """(mapping, key, hashed by the SDK) of each deployment.yml value that is a local path."""
    env = data.get("environment")
    candidates = ((data.get("model"), "path", True), (data.get("code_configuration"), "code",
                  False), (env.get("build") if isinstance(env, dict) else None, "path", True),
                  (env, "conda_file", False))
    for parent, key, hashed in candidates:
        if isinstance(parent, dict) and isinstance(parent.get(key), str):
            yield parent, key, hashed


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _sdk_loaders() -> tuple[dict[str, Any], str]:
    from importlib.metadata import PackageNotFoundError, version

    with _quiet():
        from azure.ai.ml import load_online_deployment, load_online_endpoint
    try:
        installed = version("azure-ai-ml")
    except PackageNotFoundError:  # pragma: no cover - importable but not installed as a dist
        installed = "?"
    return {"deployment": load_online_deployment, "endpoint": load_online_endpoint}, installed


def _sdk_load(loader: Any, path: Path) -> BaseException | None:
    with _quiet():
        try:
            loader(source=str(path))
        except Exception as error:  # the SDK raises many types; all become problems
            return error
    return None


def _messages(error: BaseException) -> Any:
    """The marshmallow error tree behind an SDK exception, or None."""
    for candidate in (error.__cause__, error):
        messages = getattr(candidate, "messages", None)
        if isinstance(messages, dict):
            return messages
    match = re.search(r"failed:\s*(\{.*\})\s*\n", str(error), re.S)
    if match:
        try:
            return json.loads(match.group(1))
        except ValueError:
            return None
    return None


def sdk_problems(
    error: BaseException, file: str,
    sections: Sections | None = None,
) -> list[Problem]:
    """Rewrite an azure-ai-ml load error into one problem per underlying issue.

    Union fields (environment, model) list every branch's errors; only the branch that
    matches the input is kept, so `scoring_rout` gives one problem, not four.
    """
    tree = _messages(error)
    if tree is None:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return [Problem("error", "schema.error", file, "", f"azure-ai-ml cannot load {file}: "
                        f"{text}", "Fix the file so `az ml` can load it")]
    leaves = list(_walk(tree, ()))
    by_section: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for path, message in leaves:
        by_section.setdefault(path[:-1], []).append((path[-1] if path else "", message))
    problems: list[Problem] = []
    for section, items in by_section.items():
        problems += _section_problems(file, section, items, sections or {})
    return problems


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path if key == "_schema" else (*path, str(key)))
    elif isinstance(node, list):
        yield from ((path, m) for m in node if isinstance(m, str))
        branches = [b for b in node if isinstance(b, dict)]
        if branches:
            yield from _walk(_best_branch(branches), path)
    elif isinstance(node, str):
        yield path, node


def _best_branch(branches: list[Mapping]) -> Mapping:
    """The union branch that describes the input: not a 'use azureml:' hint, fewest errors."""
    def score(index: int) -> tuple[bool, int, int]:
        leaves = list(_walk(branches[index], ()))
        noise = all(m.startswith("In order to specify an existing") or m == "Not a valid URL."
                    for _, m in leaves)
        return noise, len(leaves), index

    return branches[min(range(len(branches)), key=score)]


def _section_problems(
    file: str, section: tuple[str, ...], items: list[tuple[str, str]],
    sections: Sections,
) -> list[Problem]:
    dotted = ".".join(section)
    unknown = [k for k, m in items if m == "Unknown field."]
    missing = [k for k, m in items if m == "Missing data for required field."]
    known = sections.get(dotted, (frozenset(), ()))[0] | set(missing)
    problems = key_problems(file, dotted, unknown, known, (), missing) if unknown or missing else []
    for key, message in items:
        if message not in ("Unknown field.", "Missing data for required field."):
            problems.append(_message_problem(file, ".".join((*section, key) if key else section),
                                             message))
    return problems


_TYPE_NAMES = {"integer": "a whole number", "string": "a string", "mapping type": "a mapping",
               "boolean": "true or false", "number": "a number", "list": "a list"}


def _message_problem(file: str, key: str, message: str) -> Problem:
    leaf = key.rsplit(".", 1)[-1] or "value"
    typed = re.fullmatch(r"Not a valid (\w+(?: type)?)\.", message)
    choice = re.fullmatch(r"Value '(.*)' passed is not in set \[(.*)\]", message)
    if typed:
        kind = _TYPE_NAMES.get(typed.group(1), typed.group(1))
        return Problem("error", "schema.type", file, key, f"`{leaf}` must be {kind}",
                       f"Write {leaf} as {kind}")
    if message == "Invalid input type." or "cannot be a string" in message:
        reference = " or an azureml:<name>:<version> reference" if key in (
            "model", "environment") else ""
        return Problem("error", "schema.type", file, key, f"`{leaf}` has the wrong type",
                       f"Write {leaf} as a mapping{reference}")
    if choice:
        return Problem("error", "schema.choice", file, key, f"`{leaf}` is `{choice.group(1)}`, "
                       f"not one of {choice.group(2)}", f"Use one of {choice.group(2)}")
    if message.startswith("String does not match expected pattern"):
        return Problem("error", "schema.pattern", file, key, f"`{leaf}` has invalid characters",
                       "Use a letter first, then letters, digits and dashes")
    if message.startswith("Can't find directory or file"):
        return Problem("error", "schema.path", file, key, message.strip().rstrip("."),
                       f"Fix {key} (relative to {file})")
    first = message.strip().splitlines()[0] if message.strip() else message
    return Problem("error", "schema.invalid", file, key, first, f"Fix {key or 'the file'}")
