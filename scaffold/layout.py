"""Where a project's Azure ML files are: its deployment, endpoint and environment YAML, and the
Dockerfile that builds each deployment's image.

Real projects are not laid out the way `scaffold new` writes them. Microsoft's own examples
(Azure/azureml-examples, cli/endpoints/online/) and public projects keep several deployment
files in one folder (`blue-deployment.yml` + `green-deployment.yml`,
`blue-deployment-with-curated-env.yml`, `deployment-standard.yml`,
`mlflow-deployment-<model>.yaml`, `deployment-vllm.yml`), often no endpoint file at all (the
deploy script creates the endpoint by name), environments in a sibling `environment.yml`
reached through `environment: azureml:NAME:VERSION`, and Dockerfiles in `env/`, `docker/`,
named `r.dockerfile`, `Dockerfile.vllm` or `half-plus-two-integrated.Dockerfile`.

A YAML file's kind is decided by its content first, its name second:

- a `$schema` naming managedOnlineDeployment / managedOnlineEndpoint / an environment schema
  decides; any other Azure ML schema (batch, Kubernetes, model, job) makes it no file of ours;
- without one, the keys decide: `endpoint_name` with `instance_type` (or model, environment,
  code_configuration) is a deployment; `auth_mode` (or traffic) with a `name` an endpoint;
  `build`/`image` with environment keys only an environment; conda files (`dependencies`),
  CI workflows (`jobs`, `steps`, `trigger`), Kubernetes manifests (`apiVersion`, `kind`),
  batch and Kubernetes deployments (`compute`, `resources`, `type: kubernetes`) are none;
- when the content says neither (a half-written file, a YAML syntax error, an empty file),
  the name does: `*deployment*.y(a)ml` is a deployment, `*endpoint*.y(a)ml` an endpoint, so
  `scaffold validate` can report what is wrong with it.

Microsoft's examples write `{{ENDPOINT_NAME}}`-style placeholders that their scripts fill in
(`name: {{deployment_name}}`), which is not YAML as written; such values are read as strings
and listed in `YamlFile.placeholders`.

Cheap to import (no PyYAML until a file is read) and independent of scaffold.validate: run,
serve, deploy and `scaffold deployment` use it too. Nothing here prints or raises for a
project's content, except `deployment_file_for`, which raises ProjectError naming the choice.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from scaffold.errors import ProjectError

DEPLOYMENT, ENDPOINT, ENVIRONMENT, OTHER = "deployment", "endpoint", "environment", "other"
#: The file names `scaffold new` writes, preferred when several files qualify.
DEFAULT_NAMES = {
    DEPLOYMENT: ("deployment.yml", "deployment.yaml"),
    ENDPOINT: ("endpoint.yml", "endpoint.yaml"),
}
YAML_SUFFIXES = (".yml", ".yaml")
#: Larger YAML files are data, never a deployment, endpoint or environment definition.
MAX_YAML_BYTES = 1 << 20
#: Subfolders where projects keep their Dockerfile (build context) or environment files, in
#: the order they are looked at.
BUILD_FOLDERS = (
    "docker-context",
    "docker",
    "dockerfiles",
    "env",
    "environment",
    "environments",
    "container",
    "containers",
    "image",
    "build",
    "deploy",
    "deployment",
    "deployments",
    "src",
    "app",
)
#: Folders never searched: hidden ones (.git, .devcontainer: a dev image is not the serving
#: image), virtual environments, caches, dependencies.
SKIPPED_FOLDERS = frozenset(
    {"node_modules", "__pycache__", "venv", "site-packages", "mlruns", "outputs", "logs"}
)
#: Registries of vendors' images: an `environment.image` there is not built by the project,
#: so a Dockerfile found nearby does not describe it.
PUBLIC_REGISTRIES = frozenset(
    {
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "mcr.microsoft.com",
        "nvcr.io",
        "ghcr.io",
        "quay.io",
        "gcr.io",
        "public.ecr.aws",
        "registry.k8s.io",
    }
)

_DEPLOYMENT_HINTS = frozenset({"instance_type", "instance_count", "model", "code_configuration"})
_ENDPOINT_KEYS = frozenset(
    {
        "$schema",
        "id",
        "name",
        "description",
        "tags",
        "properties",
        "auth_mode",
        "identity",
        "traffic",
        "mirror_traffic",
        "public_network_access",
        "location",
        "provisioning_state",
        "scoring_uri",
        "openapi_uri",
    }
)
_ENVIRONMENT_KEYS = frozenset(
    {
        "$schema",
        "id",
        "name",
        "version",
        "description",
        "tags",
        "properties",
        "image",
        "build",
        "conda_file",
        "inference_config",
        "os_type",
        "datastore",
        "auto_delete_setting",
    }
)
#: Keys that make a file something else: conda files, CI pipelines (GitHub, Azure
#: Pipelines, GitLab), Kubernetes manifests, docker compose, batch and Kubernetes
#: deployments of Azure ML.
_FOREIGN_KEYS = frozenset(
    {
        "dependencies",
        "channels",
        "jobs",
        "on",
        "steps",
        "stages",
        "trigger",
        "pr",
        "pool",
        "apiVersion",
        "kind",
        "services",
        "compute",
        "resources",
        "mini_batch_size",
        "output_action",
        "retry_settings",
        "job_definition",
        "component",
        "defaults",
    }
)
_FOREIGN_TYPES = frozenset({"kubernetes", "batch", "model", "pipeline"})
_PLACEHOLDER = re.compile(r"\{\{\s*[^{}\s]+\s*\}\}")
_IMAGE_PLACEHOLDER = re.compile(r"\{\{|<[A-Za-z][\w -]*>|\$\{?[A-Za-z_]")
# A block-mapping value or list item that starts with an unquoted {{placeholder}}.
_PLACEHOLDER_VALUE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?(?:[^\s#'\"{][^#]*?:\s+)?)(?P<value>\{\{.*?)(?P<comment>\s+#.*)?$",
    re.M,
)
_STOP_WORDS = frozenset(
    {
        "deployment",
        "deploy",
        "endpoint",
        "online",
        "managed",
        "create",
        "with",
        "dockerfile",
        "containerfile",
        "docker",
        "context",
        "yml",
        "yaml",
        "azurecr",
        "io",
        "latest",
        "azureml",
        "examples",
    }
)


class YamlFile(NamedTuple):
    """One YAML file of a project, read and classified.

    Attributes:
        path: The file (absolute).
        kind: "deployment", "endpoint", "environment" or "other".
        data: Its mapping, or None when it is unreadable, not YAML or not a mapping.
        error: Why it could not be read ("" when it could).
        placeholders: `{{NAME}}` placeholders in it, which a script fills before deploying.
    """

    path: Path
    kind: str
    data: dict[str, Any] | None
    error: str = ""
    placeholders: tuple[str, ...] = ()

    @property
    def name(self) -> str | None:
        """The `name:` inside the file, if it is a string."""
        value = (self.data or {}).get("name")
        return value if isinstance(value, str) else None


class BuildRef(NamedTuple):
    """The Dockerfile that builds a deployment's image.

    Attributes:
        dockerfile: The Dockerfile.
        context: Its build context folder.
        via: How it was found, for messages: "environment.build", "environment file env.yml",
            or "found beside the deployment file" (a pre-built image in the project's own
            registry, the Dockerfile that builds it found by its name and place).
    """

    dockerfile: Path
    context: Path
    via: str


# --- Reading and classifying -------------------------------------------------------------------
_cache: dict[Path, tuple[tuple[int, int], YamlFile]] = {}


def read_yaml(path: Path) -> YamlFile:
    """Read and classify one YAML file (cached while the file is unchanged)."""
    path = path.absolute()
    try:
        stat = path.stat()
    except OSError as error:
        return YamlFile(path, _kind_by_name(path.name), None, f"cannot be read: {error}")
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    found = _read(path, stat.st_size)
    _cache[path] = (stamp, found)
    return found


def safe_load(text: str) -> Any:
    """yaml.safe_load with libyaml's safe loader when PyYAML has it (several times faster:
    a repository of samples has hundreds of YAML files)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _read(path: Path, size: int) -> YamlFile:
    import yaml

    by_name = _kind_by_name(path.name)
    if size > MAX_YAML_BYTES:
        return YamlFile(path, OTHER, None, f"is larger than {MAX_YAML_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return YamlFile(path, by_name, None, f"cannot be read as UTF-8 text: {error}")
    placeholders = tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))
    try:
        data = safe_load(text)
    except yaml.YAMLError as error:
        data = _with_quoted_placeholders(text) if placeholders else None
        if data is None:
            return YamlFile(path, by_name, None, yaml_error(error), placeholders)
    if not isinstance(data, dict):
        return YamlFile(path, by_name, None, "is empty or not a mapping of settings", placeholders)
    kind = content_kind(data)
    return YamlFile(path, kind or by_name, data, "", placeholders)


def yaml_error(error: Exception) -> str:
    """One line for a PyYAML error: where, and what."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"is not valid YAML{where}: {getattr(error, 'problem', '') or error}"


def _with_quoted_placeholders(text: str) -> Any:
    """Parse text with each value that starts with an unquoted `{{placeholder}}` quoted."""
    import yaml

    def quote(match: re.Match[str]) -> str:
        return match["lead"] + json.dumps(match["value"].rstrip()) + (match["comment"] or "")

    try:
        return safe_load(_PLACEHOLDER_VALUE.sub(quote, text))
    except yaml.YAMLError:
        return None


def content_kind(data: dict[str, Any]) -> str | None:
    """The kind a YAML mapping's content shows, or None when it shows none."""
    schema = data.get("$schema")
    if isinstance(schema, str) and schema.strip():
        lowered = schema.lower()
        for marker, kind in (
            ("managedonlinedeployment", DEPLOYMENT),
            ("managedonlineendpoint", ENDPOINT),
            ("/environment.schema", ENVIRONMENT),
        ):
            if marker in lowered:
                return kind
        if "schema" in lowered:
            return OTHER  # batch, Kubernetes, model, job... another Azure ML entity
    keys = {str(key) for key in data}
    entity = data.get("type")
    if keys & _FOREIGN_KEYS or (isinstance(entity, str) and entity.lower() in _FOREIGN_TYPES):
        return OTHER
    if "endpoint_name" in keys:
        return DEPLOYMENT if keys & (_DEPLOYMENT_HINTS | {"environment"}) else None
    if "name" in keys and keys <= _ENDPOINT_KEYS and keys & {"auth_mode", "traffic"}:
        return ENDPOINT
    if keys & {"build", "image"} and keys <= _ENVIRONMENT_KEYS:
        return ENVIRONMENT
    if keys & _DEPLOYMENT_HINTS and "environment" in keys:
        return DEPLOYMENT  # a deployment that lost its endpoint_name
    return None


def _kind_by_name(name: str) -> str:
    stem = name.lower()
    if "deployment" in stem:
        return DEPLOYMENT
    if "endpoint" in stem:
        return ENDPOINT
    return OTHER


def is_yaml_name(name: str) -> bool:
    """Whether a file name is a YAML file's (any case; hidden files excluded)."""
    return not name.startswith(".") and name.lower().endswith(YAML_SUFFIXES)


def yaml_files(folder: Path) -> list[YamlFile]:
    """The YAML files directly in folder, read and classified, sorted by name."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    return [
        read_yaml(Path(entry.path))
        for entry in entries
        if is_yaml_name(entry.name) and entry.is_file()
    ]


# --- Deployments and endpoints -----------------------------------------------------------------
def deployment_files(project: Path) -> list[Path]:
    """The project's managed online deployment files.

    Those directly in the project folder; when there are none, those in its subfolders (at
    most six levels down, e.g. mlops/azureml/deploy/online/ or
    cli/endpoints/online/custom-container/tfserving/half-plus-two/), where only files whose content
    says so count.
    """
    return [f.path for f in _files(project, DEPLOYMENT)]


def endpoint_files(project: Path) -> list[Path]:
    """The project's managed online endpoint files (in the folders of its deployments)."""
    return [f.path for f in _files(project, ENDPOINT)]


def _files(project: Path, kind: str) -> list[YamlFile]:
    root = project.expanduser().resolve()
    top = [f for f in yaml_files(root) if f.kind == kind]
    if top or (kind != DEPLOYMENT and any(f.kind == DEPLOYMENT for f in yaml_files(root))):
        return _ordered(top)
    nested = [f for f in _nested_yaml(root) if f.data is not None and content_kind(f.data) == kind]
    if kind == ENDPOINT:
        folders = {f.parent for f in deployment_files(root)}
        nested = [f for f in nested if f.path.parent in folders]
    return _ordered(nested)


def _ordered(files: list[YamlFile]) -> list[YamlFile]:
    """By folder, then the default name first, then by name."""
    return sorted(
        files,
        key=lambda f: (
            f.path.parent,
            f.path.name.lower() not in DEFAULT_NAMES[DEPLOYMENT] + DEFAULT_NAMES[ENDPOINT],
            f.path.name,
        ),
    )


#: Folder listings and YAML found while a `scan()` block runs (None outside one): a
#: project's tree is walked once per validation, not once per deployment.
_scanned: dict[tuple[Any, ...], Any] | None = None


@contextmanager
def scan() -> Iterator[None]:
    """Reuse folder walks while the block runs (validate's one pass over a project): the
    files are taken as they are when first looked at. Nested blocks share the outer one."""
    global _scanned
    outer = _scanned
    if outer is None:
        _scanned = {}
    try:
        yield
    finally:
        if outer is None:
            _scanned = None


def _nested_yaml(root: Path, depth: int = 6, limit: int = 6000) -> list[YamlFile]:
    """YAML files in subfolders of root, breadth first, bounded."""
    key = ("nested", root, depth, limit)
    if _scanned is not None and key in _scanned:
        return list(_scanned[key])
    found: list[YamlFile] = []
    for folder, level in _walk(root, depth, limit):
        if level > 0:
            found += yaml_files(folder)
    if _scanned is not None:
        _scanned[key] = list(found)
    return found


def _walk(root: Path, depth: int, limit: int) -> list[tuple[Path, int]]:
    """root and its subfolders down to `depth` levels (breadth first, at most `limit`
    entries looked at), skipping hidden and dependency folders."""
    key = ("walk", root, depth, limit)
    if _scanned is not None and key in _scanned:
        return list(_scanned[key])
    folders = _walk_now(root, depth, limit)
    if _scanned is not None:
        _scanned[key] = list(folders)
    return folders


def _walk_now(root: Path, depth: int, limit: int) -> list[tuple[Path, int]]:
    folders, queue, seen = [], [(root, 0)], 0
    while queue:
        folder, level = queue.pop(0)
        folders.append((folder, level))
        if level >= depth:
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                return folders
            if _searchable(entry):
                queue.append((Path(entry.path), level + 1))
    return folders


def _searchable(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    return (
        entry.is_dir(follow_symlinks=False)
        and not name.startswith(".")
        and name.lower() not in SKIPPED_FOLDERS
    )


def endpoint_file(project: Path) -> Path | None:
    """The project's endpoint file: the only one, else endpoint.yml; None when there is
    none (deploy scripts often create the endpoint by name) or the choice is unclear."""
    files = endpoint_files(project)
    if len(files) == 1:
        return files[0]
    defaults = [f for f in files if f.name.lower() in DEFAULT_NAMES[ENDPOINT]]
    return defaults[0] if len(defaults) == 1 else None


def endpoint_file_for(project: Path, deployment: Path) -> Path | None:
    """The endpoint file that goes with a deployment file.

    The endpoint files of the nearest folder that has any, from the deployment's own folder
    up to the project folder (a sample's endpoint file sits beside its deployment files or in
    the folder above them); among them the one whose `name` is the deployment's
    `endpoint_name`, else the only one (a name that differs is then a problem to report),
    else the one named most like the deployment file (`1-sai-create-endpoint.yml` for
    `2-sai-deployment.yml`), or endpoint.yml. An endpoint file in another branch of the
    project (another sample's folder) goes with it only when its `name` is the
    `endpoint_name`. None when there is none.
    """
    deployment = deployment.absolute()
    wanted = (read_yaml(deployment).data or {}).get("endpoint_name")
    candidates = [read_yaml(p) for p in nearest_endpoint_files(project, deployment)]
    if candidates:
        return _pick_endpoint(deployment, candidates, wanted)
    named = [
        read_yaml(p)
        for p in endpoint_files(project)
        if isinstance(wanted, str) and read_yaml(p).name == wanted
    ]
    return named[0].path if len(named) == 1 else None


def nearest_endpoint_files(project: Path, deployment: Path) -> list[Path]:
    """The endpoint files of the nearest folder that has any, from the deployment file's
    folder up to the project folder ([] when there is none on the way)."""
    root = project.expanduser().resolve()
    folder = deployment.absolute().parent.resolve()
    chain = [folder] + [p for p in folder.parents if p == root or root in p.parents]
    for level in chain if root == folder or root in folder.parents else [folder]:
        found = [f.path for f in yaml_files(level) if f.kind == ENDPOINT]
        if found:
            return found
    return []


def _pick_endpoint(deployment: Path, candidates: list[YamlFile], wanted: Any) -> Path | None:
    named = [f for f in candidates if isinstance(wanted, str) and f.name == wanted]
    pool = named or candidates
    if len(pool) == 1:
        return pool[0].path
    tokens = _tokens(deployment.stem)

    def likeness(f: YamlFile) -> tuple[int, bool]:
        return len(tokens & _tokens(f.path.stem)), f.path.name.lower() in DEFAULT_NAMES[ENDPOINT]

    best = max(pool, key=likeness)  # max keeps the first (by name) of equals
    return best.path if named or any(likeness(best)) else None


def deployment_name(path: Path) -> str | None:
    """The `name:` inside a deployment file, if it is a string."""
    return read_yaml(path).name


def deployment_file_for(project: Path, name: str | None, *, flag: str = "--deployment") -> Path:
    """The deployment file of the deployment called `name` (the `name:` inside the file).

    `name` may also be a file name or path (`green-deployment.yml`). With None: the only
    deployment file, else `deployment.yml`.

    Raises:
        ProjectError: No deployment file, no deployment of that name, or several and no
            choice; the message lists the deployments and `flag` to pick one.
    """
    root = project.expanduser().resolve()
    files = deployment_files(root)
    if not files:
        raise ProjectError(
            f"no deployment file in {root} (deployment.yml, or a *deployment*.yml / a YAML "
            "file with the managedOnlineDeployment $schema); run scaffold in the project "
            "folder or pass its path"
        )
    if name is None:
        if len(files) == 1:
            return files[0]
        defaults = [f for f in files if f.parent == root and f.name in DEFAULT_NAMES[DEPLOYMENT]]
        if len(defaults) == 1:
            return defaults[0]
        raise ProjectError(
            f"{root} has {len(files)} deployments: {describe(root, files)}; pick one with "
            f"{flag} NAME"
        )
    by_name = [f for f in files if deployment_name(f) == name]
    if len(by_name) == 1:
        return by_name[0]
    by_file = _by_file_name(root, files, name)
    if by_file is not None:
        return by_file
    if by_name:
        raise ProjectError(
            f"{len(by_name)} files in {root} define the deployment {name}: "
            f"{', '.join(_rel(root, f) for f in by_name)}; pick one by its file name "
            f"({flag} {_rel(root, by_name[0])})"
        )
    raise ProjectError(
        f"no deployment named {name} in {root}; the deployments are {describe(root, files)} "
        f"(pick one with {flag} NAME)"
    )


def _by_file_name(root: Path, files: list[Path], name: str) -> Path | None:
    """The deployment file `name` designates as a path, file name or file stem."""
    resolved = {f.resolve(): f for f in files}
    given = Path(name).expanduser()
    for candidate in (given, root / given):
        if candidate.is_file() and candidate.resolve() in resolved:
            return resolved[candidate.resolve()]
    matches = [f for f in files if name in (f.name, f.stem, _rel(root, f))]
    return matches[0] if len(matches) == 1 else None


def describe(root: Path, files: list[Path]) -> str:
    """`blue (blue-deployment.yml), green (green-deployment.yml)`, for messages."""
    return ", ".join(f"{deployment_name(f) or '(no name)'} ({_rel(root, f)})" for f in files)


def _rel(root: Path, path: Path) -> str:
    try:
        return path.absolute().relative_to(root).as_posix()
    except ValueError:
        return str(path)


# --- Environments and Dockerfiles --------------------------------------------------------------
def environment_file_for(
    deployment: Path, data: dict[str, Any] | None = None, *, project: Path | None = None
) -> Path | None:
    """The environment YAML a deployment's `environment:` refers to, if the project has it.

    `environment: azureml:NAME:VERSION` (or `azureml:NAME@label`) is registered from an
    environment file by the deploy script (`az ml environment create -f env.yml`): the
    environment file beside the deployment (or in a build folder such as env/) whose `name` is
    NAME (and `version` VERSION when both are given), else the only one there without a
    name, else one named NAME anywhere in `project` (six levels down: MLOps repositories
    keep environments apart, in `environments/` or `cli/assets/`). A relative path
    (`environment: ./env.yml` or `file:env.yml`) names the file itself.
    """
    deployment = deployment.absolute()
    data = data if data is not None else read_yaml(deployment).data or {}
    value = data.get("environment")
    if not isinstance(value, str):
        return None
    reference = re.fullmatch(r"azureml:([\w.-]+)(?:[:@]([\w.-]+))?", value.strip())
    if reference is None:
        path = value.strip().removeprefix("file:")
        if "://" in path or not path.lower().endswith(YAML_SUFFIXES):
            return None
        local = (deployment.parent / path).resolve()
        return local if local.is_file() else None
    name, version = reference.group(1), reference.group(2)
    folders = [deployment.parent] + [deployment.parent / sub for sub in BUILD_FOLDERS]
    environments = [
        f
        for folder in folders
        if folder.is_dir()
        for f in yaml_files(folder)
        if f.kind == ENVIRONMENT
    ]
    named = [f for f in environments if f.name == name]
    versioned = [f for f in named if str((f.data or {}).get("version", version)) == version]
    unnamed = [f for f in environments if f.name is None]
    for pool in (versioned, named):
        if pool:
            return pool[0].path
    if len(unnamed) == 1:
        return unnamed[0].path
    if project is None:
        return None
    elsewhere = [
        f
        for f in yaml_files(project.absolute()) + _nested_yaml(project.absolute())
        if f.kind == ENVIRONMENT and f.name == name and f.path.parent not in folders
    ]
    versioned = [f for f in elsewhere if str((f.data or {}).get("version", version)) == version]
    pool = versioned or elsewhere
    return pool[0].path if pool else None


def dockerfile_for(
    deployment: Path, data: dict[str, Any] | None = None, *, project: Path | None = None
) -> BuildRef | None:
    """The Dockerfile that builds a deployment's image, if the project has it.

    1. `environment.build` (`path` + `dockerfile_path`, default Dockerfile: as Docker, a
       lowercase `dockerfile` is taken when there is no `Dockerfile`);
    2. the environment file `environment:` refers to, and its `build` (or `image`, below);
    3. for a pre-built `image` in the project's own registry (an Azure Container Registry,
       a private or a `{{ACR_NAME}}` placeholder registry; not a vendor's public image, which
       no Dockerfile of the project builds): the Dockerfile beside the deployment file or in
       a build folder (docker-context/, docker/, env/, environment/, container/, ...; two
       levels down), any name case (`Dockerfile`, `dockerfile`, `Dockerfile.vllm`,
       `r.dockerfile`, `x.Dockerfile`); of several, the one named like the deployment file,
       the image or the environment, else the shallowest; None when that is a tie. Its
       build context is its folder, or the nearest folder above (up to `project`, by default
       three levels up) in which its COPY/ADD sources exist.
    """
    deployment = deployment.absolute()
    data = data if data is not None else read_yaml(deployment).data or {}
    env = data.get("environment")
    base, via = deployment.parent, ""
    if isinstance(env, str):
        env_file = environment_file_for(deployment, data, project=project)
        if env_file is None:
            return None
        env, base = read_yaml(env_file).data or {}, env_file.parent
        via = f"environment file {_rel(deployment.parent, env_file)}"
    if not isinstance(env, dict):
        return None
    build = env.get("build")
    if isinstance(build, dict):
        return _from_build(base, build, via or "environment.build")
    image = env.get("image")
    if not isinstance(image, str) or not builds_here(image):
        return None
    found = _best_dockerfile(base, [deployment.stem, image_name(image), str(env.get("name", ""))])
    if found is None:
        return None
    context = build_context_for(
        found, stop=project or found.parents[min(3, len(found.parents) - 1)]
    )
    return BuildRef(found, context, via or "found beside the deployment file")


_COPY = re.compile(r"^\s*(?:COPY|ADD)\s+(.*)$", re.I | re.M)


def build_context_for(dockerfile: Path, stop: Path) -> Path:
    """The build context of a Dockerfile found by name: its own folder, or the nearest folder
    above it (up to `stop`) in which every local COPY/ADD source exists — a Dockerfile in
    docker/ is often built from the project root (`docker build -f docker/Dockerfile .`)."""
    sources = _copy_sources(dockerfile)
    folder = dockerfile.parent
    stop = stop.absolute()
    candidates = [folder, *[p for p in folder.parents if p == stop or stop in p.parents]]
    for candidate in candidates:
        if all((candidate / source).exists() for source in sources):
            return candidate
    return folder


def _copy_sources(dockerfile: Path) -> list[str]:
    """Local COPY/ADD sources of a Dockerfile (no --from, URLs, globs or variables)."""
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    sources: list[str] = []
    for match in _COPY.finditer(text.replace("\\\n", " ")):
        words = match.group(1).split()
        if any(w.startswith("--from") for w in words) or match.group(1).lstrip().startswith("["):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources += [w for w in words[:-1] if "://" not in w and not any(c in w for c in "*?[$")]
    return sources


def _from_build(base: Path, build: dict[str, Any], via: str) -> BuildRef | None:
    path = build.get("path")
    if not isinstance(path, str) or not path or "://" in path:
        return None
    context = (base / path).resolve()
    name = build.get("dockerfile_path")
    if name is None:
        for default in ("Dockerfile", "dockerfile"):
            if (context / default).is_file():
                return BuildRef(context / default, context, via)
        return None
    if not isinstance(name, str) or not (context / name).is_file():
        return None
    return BuildRef((context / name).resolve(), context, via)


def is_dockerfile_name(name: str) -> bool:
    """Whether a file name is a Dockerfile's: Dockerfile, dockerfile, Containerfile,
    Dockerfile.vllm, Dockerfile-gpu, Dockerfile2, r.dockerfile, x.Dockerfile (any case)."""
    lowered = name.lower()
    if lowered.startswith(".") or lowered.endswith((".dockerignore", ".md", ".txt", ".sh")):
        return False
    return (
        lowered in ("dockerfile", "containerfile")
        or re.match(r"(?:docker|container)file(?:[._-]\w|\d+$)", lowered) is not None
        or lowered.endswith((".dockerfile", ".containerfile"))
    )


def dockerfiles(folder: Path, depth: int = 2) -> list[tuple[Path, int]]:
    """(Dockerfile, depth) under folder: the folder itself, then its build folders and other
    subfolders, breadth first down to `depth` levels."""
    found = []
    for sub, level in _walk(folder, depth, 2000):
        try:
            entries = sorted(os.scandir(sub), key=lambda e: e.name)
        except OSError:
            continue
        found += [
            (Path(e.path), level) for e in entries if is_dockerfile_name(e.name) and e.is_file()
        ]
    return found


def _best_dockerfile(base: Path, names: list[str]) -> Path | None:
    candidates = dockerfiles(base)
    if not candidates:
        return None
    wanted = set().union(*(_tokens(n) for n in names))

    def score(item: tuple[Path, int]) -> tuple[int, int, int, bool]:
        path, level = item
        parts = path.relative_to(base).parts
        tokens = set().union(*(_tokens(p) for p in parts))
        folder = parts[0].lower() if len(parts) > 1 else ""
        conventional = (
            BUILD_FOLDERS.index(folder) if folder in BUILD_FOLDERS else len(BUILD_FOLDERS)
        )
        canonical = path.name.lower() in ("dockerfile", "containerfile")
        return len(wanted & tokens), -level, -conventional, canonical

    ranked = sorted(candidates, key=score, reverse=True)
    if len(ranked) > 1 and score(ranked[0]) == score(ranked[1]):
        return None  # e.g. Dockerfile.cpu and Dockerfile.gpu, neither named for the deployment
    return ranked[0][0]


def _tokens(text: str) -> set[str]:
    words = re.split(r"[^a-z0-9]+", text.lower())
    return {w for w in words if w and w not in _STOP_WORDS and not w.isdigit()}


def image_name(image: str) -> str:
    """The repository's last component of an image reference (`r_server` for
    `myacr.azurecr.io/r_server:1`)."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_registry(image: str) -> str:
    """The registry of an image reference ("docker.io" when it names none)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or "{{" in first):
        return first.lower()
    return "docker.io"


def builds_here(image: str) -> bool:
    """Whether an `environment.image` is plausibly built by the project: one in an Azure
    Container Registry, a private registry, or a placeholder a script fills in (`{{ACR_NAME}}`,
    `<IMAGE-TAG>`, `$ACR`); not a vendor's image on a public registry (Docker Hub,
    mcr.microsoft.com, nvcr.io, ...)."""
    if _IMAGE_PLACEHOLDER.search(image):
        return True  # <IMAGE-TAG>, {{ACR_NAME}}.azurecr.io/..., $ACR/...: filled by a script
    return image_registry(image) not in PUBLIC_REGISTRIES


# --- Deploy commands in the project's scripts ----------------------------------------------------
#: Files that may hold the `az ml` commands a project deploys with: shell and PowerShell
#: scripts, Makefiles, READMEs and notebooks (their code cells), CI workflows.
SCRIPT_SUFFIXES = (".sh", ".bash", ".zsh", ".ps1", ".psm1", ".cmd", ".bat", ".md", ".ipynb")
#: Hidden folders that hold CI workflows (other hidden folders are never searched).
CI_FOLDERS = (".github/workflows", ".azuredevops", ".pipelines", ".azure-pipelines")
MAX_SCRIPT_BYTES = 1 << 19
_AZ_ML = re.compile(r"\baz\s+ml\s+online-(deployment|endpoint)\s+(create|update)\b")
#: A shell word: quoted, `$(...)`, or up to a space or shell operator.
_WORD = re.compile(r"""("[^"]*"|'[^']*'|\$\([^)]*\)[^\s;|&)]*|[^\s;|&)]+)""")
_NAME_FLAGS = {
    "deployment": {
        "-n": "name",
        "--name": "name",
        "-e": "endpoint_name",
        "--endpoint-name": "endpoint_name",
        "--endpoint": "endpoint_name",
    },
    "endpoint": {"-n": "name", "--name": "name"},
}


def command_line_names(project: Path, kind: str, file: Path) -> dict[str, str]:
    """What the project's own deploy commands give a deployment or endpoint file on the
    command line, overriding the file: the names, and every `--set KEY=VALUE`.

    Reads `az ml online-deployment create|update ... -f FILE` (or online-endpoint) in the
    scripts, READMEs, notebooks and CI workflows of the project and of the file's folder
    (three levels down, bounded), where FILE's name is this file's (`$BASE/x.yml`,
    `x.yml_` copies included), and returns {"name": ..., "endpoint_name": ..., "model":
    ...} for `-n/--name`, `-e/--endpoint-name` and the keys of `--set k=v k2=v2` (Microsoft's
    model-catalog samples: `--set endpoint_name=$E model=azureml://registries/...`), values
    as written (`$ENDPOINT_NAME`).
    """
    stem = file.name.lower()
    found: dict[str, str] = {}
    for script in _scripts(project.absolute(), file.absolute().parent):
        for command_kind, text, variables in _az_commands(script):
            if command_kind != kind:
                continue
            given, values = _parse_command(text, kind)
            given = _expand(given, variables)
            if PurePosixPath(given.replace("\\", "/")).name.lower().rstrip("_") != stem:
                continue
            for key, value in values.items():
                found.setdefault(key, value)
    return found


def _parse_command(text: str, kind: str) -> tuple[str, dict[str, str]]:
    """(the -f/--file value, {key: value} of the names and --set keys) of an az ml command."""
    words = [w.strip("\"'") for w in _WORD.findall(text)]
    file, index = "", 0
    values: dict[str, str] = {}
    while index < len(words):
        word = words[index]
        flag, equals, inline = word.partition("=")
        value = inline if equals else (words[index + 1] if index + 1 < len(words) else "")
        step = 1 if equals else 2
        if flag in ("-f", "--file"):
            file = value
        elif flag in _NAME_FLAGS[kind]:
            values.setdefault(_NAME_FLAGS[kind][flag], value)
        elif flag == "--set":
            index += 1
            while index < len(words) and "=" in words[index] and not words[index].startswith("-"):
                key, _, setting = words[index].partition("=")
                values.setdefault(key, setting)
                index += 1
            continue
        else:
            step = 1
        index += step
    return file, values


def _scripts(project: Path, folder: Path) -> list[Path]:
    key = ("scripts", project, folder)
    if _scanned is not None and key in _scanned:
        return list(_scanned[key])
    found = _scripts_now(project, folder)
    if _scanned is not None:
        _scanned[key] = list(found)
    return found


def _scripts_now(project: Path, folder: Path) -> list[Path]:
    roots = list(dict.fromkeys([project, folder]))
    roots += [project / sub for sub in CI_FOLDERS if (project / sub).is_dir()]
    found: list[Path] = []
    for root in roots:
        for sub, _ in _walk(root, 3, 1500):
            try:
                entries = sorted(os.scandir(sub), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                name = entry.name.lower()
                ci = any(part in sub.as_posix() for part in CI_FOLDERS)
                wanted = name.endswith(SCRIPT_SUFFIXES) or name == "makefile"
                if (wanted or (ci and name.endswith(YAML_SUFFIXES))) and entry.is_file():
                    found.append(Path(entry.path))
    return list(dict.fromkeys(found))[:400]


_commands_cache: dict[Path, tuple[tuple[int, int], list[tuple[str, str, dict[str, str]]]]] = {}


_ASSIGNMENT = re.compile(
    r"""^[ \t]*(?:export[ \t]+|set[ \t]+|\$)?(\w+)[ \t]*=[ \t]*(.+?)[ \t]*$""", re.M
)
_DEFAULT = re.compile(r"\$\{\w+:?-(.*)\}")


def _expand(value: str, variables: dict[str, str]) -> str:
    """$VAR / ${VAR} in a command argument, from the script's own assignments."""

    def substitute(match: re.Match[str]) -> str:
        return variables.get(match.group(1) or match.group(2), match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, value)


def _assignments(text: str) -> dict[str, str]:
    """NAME=value (shell), $NAME = "value" (PowerShell) in a script; `${1:-x}` gives x."""
    found: dict[str, str] = {}
    for name, value in _ASSIGNMENT.findall(text):
        default = _DEFAULT.fullmatch(value.strip("\"'"))
        value = default.group(1) if default else value
        found.setdefault(name, value.strip().strip("\"'"))
    return found


def _az_commands(script: Path) -> list[tuple[str, str, dict[str, str]]]:
    r"""(deployment|endpoint, command text, the script's variables) of each
    `az ml online-* create|update` in a file, continuation lines (`\`, PowerShell's
    backtick, notebook JSON strings) joined."""
    try:
        stat = script.stat()
        if stat.st_size > MAX_SCRIPT_BYTES:
            return []
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _commands_cache.get(script)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if script.suffix.lower() == ".ipynb":
        text = text.replace('\\n",', "\n").replace('\\"', '"')
    joined = re.sub(r"(?:\\|`)[ \t]*\r?\n", " ", text)
    commands = []
    variables = _assignments(joined)
    for match in _AZ_ML.finditer(joined):
        end = joined.find("\n", match.end())
        text = joined[match.end() : end if end >= 0 else None]
        commands.append((match.group(1), text, variables))
    _commands_cache[script] = (stamp, commands)
    return commands


def relative_posix(root: Path, path: Path) -> str:
    """path relative to root in POSIX form (absolute when outside root)."""
    try:
        return PurePosixPath(path.absolute().relative_to(root.absolute())).as_posix()
    except ValueError:
        return str(path)
