"""The runner of `scaffold validate`, at the top of the package: find the deployments, load
their files, detect each one's server, run the generic checks, the server's contract and the
schema step, report.

`validate_project` finds a project's deployment files and their endpoint file the way real
projects lay them out (scaffold.layout: several deployment files in a folder, endpoint file
optional, Dockerfiles in subfolders or reached through an environment file), validates each
deployment with the files it uses, and returns one `ValidationReport` with every problem at
once and a verdict per deployment; it never raises for a problem in the project and never
prints. Three layers of checks:

1. YAML checks that need no SDK (`checks`): names, routes, ports, paths, probes,
   references... including everything azure-ai-ml 1.35's loaders accept silently
   (shared/reference/azureml.md §6).
2. Cross-file contracts (`contracts.<server>`): the server in the container must listen on
   the routes' port, serve their paths and find the model where Azure mounts it; the module
   is named by the registry's `contract` field.
3. The schema step (`schema`): azure-ai-ml's own loaders, imported lazily (about 3 s), with
   their messages rewritten into one problem per underlying issue. Skipped, with a note
   saying how to install it, when azure-ai-ml is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from scaffold import layout
from scaffold.servers import SERVERS, ServerSpec
from scaffold.validate import checks, conflicts
from scaffold.validate.model import (
    ANSWERS_FILE,
    Context,
    DeploymentVerdict,
    Mapping,
    Problem,
    ValidationReport,
    find_files,
    read_answers,
)

#: How deep file hints are looked for in the model folder and the build context: deep enough
#: for <repository>/<model>/config.pbtxt and <model>/<version>/saved_model.pb, not so deep
#: that a `code: ../` pointing at a whole repository finds anything anywhere.
HINT_DEPTH = 2


# --- Entry point -----------------------------------------------------------------------------
def validate_project(
    project: Path,
    *,
    schema: bool = True,
    files: Sequence[Path] | None = None,
    endpoint_file: Path | None = None,
    index: bool = True,
) -> ValidationReport:
    """Check a project folder and report every problem found, all at once.

    Args:
        project: The project folder. Its deployment files are found by scaffold.layout's
            conventions (deployment.yml, blue-deployment.yml + green-deployment.yml, any
            YAML with the managedOnlineDeployment $schema, ...).
        schema: Also run azure-ai-ml's loaders (slow to import: about 3 s).
        files: Validate these deployment files only (absolute, or relative to the current
            folder) instead of every one found.
        endpoint_file: Pair every deployment with this endpoint file instead of the one
            found for it (by its name and endpoint_name).
        index: Check the image's pip requirements against the package index (PyPI or the
            file's own), when it answers; the offline rules run either way.

    Returns:
        The report; `report.errors` is empty when nothing blocks a deployment.
    """
    with layout.scan():  # the project's tree is walked once, not once per deployment
        return _validate(
            project, schema=schema, files=files, endpoint_file=endpoint_file, index=index
        )


def _validate(
    project: Path,
    *,
    schema: bool,
    files: Sequence[Path] | None,
    endpoint_file: Path | None,
    index: bool,
) -> ValidationReport:
    root = project.expanduser().resolve()
    chosen = [f.expanduser().resolve() for f in files] if files else layout.deployment_files(root)
    verdicts, found, checked, note = [], [], False, "schema check skipped"
    if not chosen:  # still check the endpoint file, if there is one
        endpoint = endpoint_file or layout.endpoint_file(root)
        ctx = _context(root, None, endpoint.expanduser().resolve() if endpoint else None)
        ctx.problems += _no_deployment(root)
        ctx.problems += conflicts.check(root)  # unresolved updates (markers, .rej files)
        ctx.index = index
        run_checks(ctx)
        if schema:
            from scaffold.validate.schema import schema_step

            checked, note = schema_step(ctx)
        return ValidationReport(root, _sorted(_unique(ctx.problems)), None, checked, note)
    for deployment in chosen:
        pair = endpoint_file.expanduser().resolve() if endpoint_file else None
        ctx = _context(root, deployment, pair or layout.endpoint_file_for(root, deployment))
        if endpoint_file is None:
            _note_endpoint(ctx, root)
        ctx.index = index
        run_checks(ctx)
        if schema:
            from scaffold.validate.schema import schema_step

            checked, note = schema_step(ctx)
        verdicts.append(
            DeploymentVerdict(
                ctx.deployment_file,
                _name(ctx.deployment),
                ctx.endpoint_file if ctx.endpoint is not None else None,
                ctx.server,
                _sorted(_unique(ctx.problems)),
            )
        )
        found += ctx.problems
    found += conflicts.check(root)  # unresolved updates (markers, .rej files): the project's
    server = verdicts[0].server if verdicts else None
    return ValidationReport(root, _sorted(_unique(found)), server, checked, note, verdicts)


def run_checks(ctx: Context) -> None:
    """Detect the server and run the generic checks and its contract on one deployment."""
    ctx.server = detect_server(ctx)
    if ctx.deployment is None and ctx.endpoint is None:
        return
    for check in checks.BEFORE_CONTRACT:
        check(ctx)
    run_contract(ctx)
    for check in checks.AFTER_CONTRACT:
        check(ctx)


def run_contract(ctx: Context) -> None:
    """The detected server's own cross-file contract, scaffold.validate.contracts.<contract>."""
    spec = ctx.spec
    if spec is not None and spec.contract and ctx.deployment is not None:
        module = importlib.import_module(f"scaffold.validate.contracts.{spec.contract}")
        module.check(ctx)


def _unique(problems: list[Problem]) -> list[Problem]:
    """Problems once each (several deployments share files: endpoint, Dockerfile, samples)."""
    return list(dict.fromkeys(problems))


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: p.file)


def _name(data: Mapping | None) -> str | None:
    value = (data or {}).get("name")
    return value if isinstance(value, str) else None


# --- Loading one deployment ------------------------------------------------------------------
def _context(root: Path, deployment: Path | None, endpoint: Path | None) -> Context:
    problems: list[Problem] = []
    if deployment is not None:
        dep_rel, dep_data, dep_read = _load(root, deployment, "deployment", problems)
    else:
        dep_rel, dep_data, dep_read = "deployment.yml", None, None
    if endpoint is not None:
        ep_rel, ep_data, ep_read = _load(root, endpoint, "endpoint", problems)
    else:
        ep_rel, ep_data, ep_read = "", None, None
    placeholders = tuple(
        dict.fromkeys(
            (dep_read.placeholders if dep_read else ()) + (ep_read.placeholders if ep_read else ())
        )
    )
    ctx = Context(
        root,
        {"deployment": (dep_rel, dep_data), "endpoint": (ep_rel, ep_data)},
        deployment_path=deployment or root / dep_rel,
        answers=_answers_for(root, deployment, _name(dep_data)) if deployment else {},
        placeholders=placeholders,
    )
    ctx.problems.extend(problems)
    return ctx


def _load(
    root: Path, path: Path, kind: str, problems: list[Problem]
) -> tuple[str, Mapping | None, layout.YamlFile | None]:
    """(project-relative name, mapping or None, the read file) of a deployment or endpoint
    file, recording why it cannot be used."""
    name = layout.relative_posix(root, path)
    if not path.is_file():
        problems.append(
            Problem(
                "error",
                "file.missing",
                name,
                "",
                f"{name} not found",
                f"Fix the path of the {kind} file",
            )
        )
        return name, None, None
    read = layout.read_yaml(path)
    if read.data is None:
        code, fix = _read_error(read.error, kind)
        problems.append(Problem("error", code, name, "", f"{name} {read.error}", fix))
        return name, None, read
    if (read.kind != kind and read.kind != layout.OTHER) or _foreign(read.data):
        what = read.kind if read.kind != layout.OTHER else "another kind of Azure ML file"
        problems.append(
            Problem(
                "error",
                "file.kind",
                name,
                "",
                f"{name} is not a managed online {kind} file (its content makes it {what})",
                f"Pass the {kind} file (a YAML file with the managedOnline"
                f"{kind.title()} $schema or its keys)",
            )
        )
        return name, None, read
    return name, read.data, read


def _foreign(data: Mapping) -> bool:
    """Whether a mapping is an Azure ML entity of another kind (batch, Kubernetes, job...)."""
    return layout.content_kind(data) == layout.OTHER


def _read_error(error: str, kind: str) -> tuple[str, str]:
    if error.startswith("is not valid YAML"):
        return "yaml.syntax", "Fix the YAML syntax (indentation, quotes, brackets)"
    if error.startswith("is empty or not a mapping"):
        return "yaml.not_mapping", f"Write {kind} settings as `key: value` lines"
    return "file.unreadable", "Save it as UTF-8 (and check its permissions)"


def _answers_for(root: Path, deployment: Path, name: str | None) -> Mapping:
    """The copier answers that describe this deployment: `.copier-answers.<name>.yml` (a
    deployment added to a scaffold project), else `.copier-answers.yml` for the project's
    main deployment (deployment.yml, or its only one); {} for a deployment written by hand."""
    stem = deployment.stem
    for key in (name, stem, stem.removesuffix("-deployment")):
        if key:
            answers = read_answers(root / f".copier-answers.{key}.yml")
            if answers:
                return answers
    main = deployment.parent == root and (
        deployment.name in layout.DEFAULT_NAMES[layout.DEPLOYMENT]
        or len(layout.deployment_files(root)) == 1
    )
    return read_answers(root / ANSWERS_FILE) if main else {}


def _no_deployment(root: Path) -> list[Problem]:
    """The problem of a folder without any managed online deployment file."""
    others = [
        f
        for f in layout.yaml_files(root)
        if f.data is not None and f.kind == layout.OTHER and "endpoint_name" in f.data
    ]
    seen = (
        f"; {', '.join(f.path.name for f in others)} "
        f"{'is' if len(others) == 1 else 'are'} batch or Kubernetes deployments, which "
        "validate does not check"
        if others
        else ""
    )
    preview = [
        f.path.name
        for f in layout.yaml_files(root)
        if f.data is not None and isinstance(f.data.get("deployments"), list)
    ]
    if preview:
        seen += (
            f"; {', '.join(preview)} define{'s' if len(preview) == 1 else ''} deployments inside "
            "the endpoint file (`deployments:`), the first az ml v2 preview's format (2021), which "
            "the GA CLI rejects"
        )
        return [
            Problem(
                "error",
                "schema.preview_format",
                "deployment.yml",
                "",
                f"No managed online deployment file in {root}{seen}",
                "Move each deployment into its own deployment file (name, endpoint_name, "
                "model.path, environment.image, instance_type, instance_count)",
            )
        ]
    return [
        Problem(
            "error",
            "file.missing",
            "deployment.yml",
            "",
            f"No managed online deployment file in {root}{seen}",
            "Run validate in the project folder, or name the file with -f (deployment.yml, "
            "or a YAML file with the managedOnlineDeployment $schema)",
        )
    ]


def _note_endpoint(ctx: Context, root: Path) -> None:
    """An information line when a deployment has no endpoint file to go with it."""
    if ctx.endpoint_file or ctx.deployment is None:
        return
    wanted = ctx.deployment.get("endpoint_name")
    named = f"`{wanted}` " if isinstance(wanted, str) and wanted else ""
    candidates = layout.nearest_endpoint_files(root, ctx.deployment_path)
    if candidates:
        listed = ", ".join(
            f"{layout.relative_posix(root, p)} ({layout.read_yaml(p).name or 'no name'})"
            for p in candidates
        )
        message = f"No endpoint file names the endpoint {named}of this deployment ({listed})"
        fix = "Pass the endpoint file with --endpoint-file, or make its name match endpoint_name"
    else:
        message = (
            f"No endpoint file: the endpoint {named}must exist or be created by name "
            "(`az ml online-endpoint create -n NAME`) before this deployment"
        )
        fix = "Add an endpoint file (name, auth_mode) to have it checked too"
    ctx.info("endpoint.file.none", ctx.deployment_file, "", message, fix)


# --- Server detection ------------------------------------------------------------------------
def detect_server(ctx: Context) -> str | None:
    """The deployment's server, strongest evidence first.

    1. The copier answers that describe it (`server`);
    2. the images it is made of: environment.image, the environment file's image, the
       Dockerfile's bases (final stage first); the most specific image hint wins;
    3. the container command (Dockerfile ENTRYPOINT + CMD);
    4. a no-code model type (`type: triton_model` / `mlflow_model` without an environment);
    5. the scoring script's own name, then file hints looked for only where they mean
       something, shallowly: the model folder, then the build context (never the whole code
       folder: `code: ../` can be a repository with a config.pbtxt of something else).
    """
    answered = ctx.answers.get("server")
    if isinstance(answered, str) and answered in SERVERS:
        return answered
    by_image = _by_image([image for image, _, _ in ctx.images], ctx)
    if by_image is not None:
        return by_image
    command = " ".join(text for _, text in ctx.command_texts[:1])
    for spec in SERVERS.values():
        if any(hint in command for hint in spec.command_hints):
            return spec.name
    no_code = _no_code_server(ctx)
    if no_code is not None:
        return no_code
    return _server_from_files(ctx)


def _by_image(images: list[str], ctx: Context | None = None) -> str | None:
    """The server named by the most specific image hint, the final image's first.

    A hint that is only a registry path (`mcr.microsoft.com/azureml/`, `rocker/`) is weak:
    that registry also publishes images running other servers (Azure ML's prompt flow
    runtime serves on 8080), so it names the server only when the routes agree with it.
    """
    for image in images:
        matched = max(
            (
                (not hint.endswith("/"), len(hint), spec.name)
                for spec in SERVERS.values()
                for hint in spec.image_hints
                if hint in image
            ),
            default=None,
        )  # a specific hint first, then the longest
        if matched is None:
            continue
        strong, _, name = matched
        if not strong and ctx is not None and not _agrees_with_routes(ctx, SERVERS[name]):
            return None
        return name
    return None


def _no_code_server(ctx: Context) -> str | None:
    """A no-code deployment's server: Azure supplies it for the model's type."""
    model = (ctx.deployment or {}).get("model")
    kind = model.get("type") if isinstance(model, dict) else None
    if ctx.environment_source is not None or not isinstance(kind, str):
        return None
    return _spec_for_model_type(kind)


def _spec_for_model_type(kind: str) -> str | None:
    for spec in SERVERS.values():
        if kind in spec.model_types:
            return spec.name
    return None


def _server_from_files(ctx: Context) -> str | None:
    """Weak evidence, so it must agree with the routes (when there are any):

    - the scoring script's kind: a `.R` script is served by plumber, a `.py` one by the Azure
      ML inference server (the script's suffix against each server's own scoring script);
    - model-format hints (saved_model.pb, *.mar, config.pbtxt, MLmodel) in the model folder,
      then in the build context (an image that COPYs its model in), at most HINT_DEPTH levels
      down. Scoring-script hints (score.py, *.R) are never searched for: a build context or
      code folder may hold scripts of anything.
    """
    candidates = [spec for spec in SERVERS.values() if _agrees_with_routes(ctx, spec)]
    script = ctx.scoring_script
    if script is not None:
        for spec in candidates:
            if spec.scoring_script and script.suffix.lower() == (
                PurePosixPath(spec.scoring_script).suffix.lower()
            ):
                return spec.name
    folders = [
        p
        for p in (
            ctx.model.local if ctx.model else None,
            ctx.dockerfile.context if ctx.dockerfile else None,
        )
        if p is not None and p.is_dir()
    ]
    for folder in folders:
        for spec in candidates:
            for pattern in _model_hints(spec):
                if find_files(folder, pattern, depth=HINT_DEPTH):
                    return spec.name
    return None


def _model_hints(spec: ServerSpec) -> list[str]:
    """A server's file hints that name model formats, not its scoring script."""
    script = PurePosixPath(spec.scoring_script or "-")
    return [hint for hint in spec.file_hints if not script.match(hint)]


def _agrees_with_routes(ctx: Context, spec: ServerSpec) -> bool:
    """Whether the routes (if any) could be this server's: one of them uses its port."""
    ports = {route.port for route in ctx.routes.values() if route.port is not None}
    return not ports or spec.port in ports
