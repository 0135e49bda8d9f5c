"""The runner of `scaffold validate`, at the top of the package: load the files, detect the
server, run the generic checks, the server's contract and the schema step, report.

`validate_project` reads the project's endpoint and deployment YAML, its Dockerfile and the
files they point at, and returns a `ValidationReport` with every problem at once; it never
raises for a problem in the project and never prints. Three layers of checks:

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
from pathlib import Path

from scaffold.servers import SERVERS
from scaffold.validate import checks, conflicts
from scaffold.validate.model import (
    Context,
    Mapping,
    Problem,
    Severity,
    ValidationReport,
    find_files,
)


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
    ctx.problems.extend(conflicts.check(root))  # unresolved updates (markers, .rej files)
    ctx.server = detect_server(ctx)
    if ctx.deployment is not None or ctx.endpoint is not None:
        for check in checks.BEFORE_CONTRACT:
            check(ctx)
        run_contract(ctx)
        for check in checks.AFTER_CONTRACT:
            check(ctx)
    if schema:
        from scaffold.validate.schema import schema_step

        checked, note = schema_step(ctx)
    else:
        checked, note = False, "schema check skipped"
    ordered = sorted(ctx.problems, key=lambda p: p.file)
    return ValidationReport(root, ordered, ctx.server, checked, note)


def run_contract(ctx: Context) -> None:
    """The detected server's own cross-file contract, scaffold.validate.contracts.<contract>."""
    spec = ctx.spec
    if spec is not None and spec.contract and ctx.deployment is not None:
        module = importlib.import_module(f"scaffold.validate.contracts.{spec.contract}")
        module.check(ctx)


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
        found = (
            f"several candidates ({', '.join(p.name for p in candidates)})"
            if (candidates)
            else "not found"
        )
        problems.append(
            Problem(
                severity,
                "file.missing",
                name,
                "",
                f"{name} {found} in {root}",
                f"Name the file {name} (scaffold new generates one) or run validate in the "
                "project folder",
            )
        )
        return name, None
    path = candidates[0]
    name = path.relative_to(root).as_posix()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        problems.append(
            Problem(
                "error",
                "file.unreadable",
                name,
                "",
                f"{name} cannot be read as UTF-8 text: {error}",
                "Save it as UTF-8 (and check its permissions)",
            )
        )
        return name, None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(
            Problem(
                "error",
                "yaml.syntax",
                name,
                "",
                f"{name} is not valid YAML{where}: {getattr(error, 'problem', '') or error}",
                "Fix the YAML syntax (indentation, quotes, brackets)",
            )
        )
        return name, None
    if not isinstance(data, dict):
        problems.append(
            Problem(
                "error",
                "yaml.not_mapping",
                name,
                "",
                f"{name} is empty or not a mapping of settings",
                f"Write {kind} settings as `key: value` lines",
            )
        )
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
    # The most specific image hint wins (the curated MLflow image is also an Azure ML image).
    matched = max(
        (
            (len(hint), spec.name)
            for spec in SERVERS.values()
            for hint in spec.image_hints
            if hint in image_text
        ),
        default=None,
        key=lambda found: found[0],
    )
    if matched is not None:
        return matched[1]
    for spec in SERVERS.values():
        if any(hint in command for hint in spec.command_hints):
            return spec.name
    return _server_from_files(ctx)


def _server_from_files(ctx: Context) -> str | None:
    folders = [
        p
        for p in (
            ctx.model.local if ctx.model else None,
            ctx.dockerfile.context if ctx.dockerfile else None,
            ctx.code_dir,
        )
        if p is not None and p.is_dir()
    ]
    for spec in SERVERS.values():
        for pattern in spec.file_hints:
            if any(next(iter(find_files(folder, pattern)), None) for folder in folders):
                return spec.name
    return None
