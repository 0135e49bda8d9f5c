"""Several deployments of one project, the az ml way: one endpoint file, one deployment file
per deployment (`deployment.yml`, `green-deployment.yml`, ...), each deployed with
`az ml online-deployment create -f FILE` and its own share of the traffic.

A deployment scaffold adds (`add_deployment`) is rendered from the project's template with
its own copier answers file, `.copier-answers.NAME.yml` (copier's several answers files in
one project: "applying multiple templates to the same subproject"), from
`_deployment/<server>/` of the template: it writes only that deployment's files (its
deployment YAML, its answers, and the build context of its own folder), never the shared
ones (endpoint.yml, README.md, CI, smoke_test.py). So `copier update -a
.copier-answers.NAME.yml` updates it alone, and `scaffold update` updates each in turn
(`update_all`).

A deployment either uses the model, code and build context of another (shared folders: a
blue/green rollout of the same artifacts with other settings), or has its own folder `NAME/`
with `model/`, `src/`, `docker-context/`, `sample_request.json` and `samples/` (a different
model, different requirements: Microsoft's mlflow/multideployment-scikit). Its settings start
as the source deployment's (`--from`), including the edits made to its YAML and build
context by hand, carried over with a 3-way merge against the source as generated.

Finding deployment files is scaffold.layout's; this module never searches on its own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold import layout, signals
from scaffold.errors import ProjectError, ScaffoldError, TemplateError, UsageError

ANSWERS_FILE = ".copier-answers.yml"
#: Azure's rule for deployment names (copier.yml's validator says the same).
NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
SAMPLES = ("sample_request.json", "sample_response.json")
#: Answers that describe the source deployment's model: a deployment with a model of its own
#: (--model) gets them from that model, or the template's defaults.
MODEL_ANSWERS = (
    "served_model_name",
    "models",
    "triton_model_format",
    "multi_model",
    "model_asset",
    "model_version",
)
#: Answers `add_deployment` sets itself (from NAME and --own-folders).
SET_BY_ADD = ("deployment_name", "deployment_file", "deployment_dir", "own_folders")
#: Project-level folders copied into a deployment's own folder with its model and code: the
#: sample model's sources and the scoring code's tests.
DEV_FOLDERS = ("model-src", "tests")


@dataclass(frozen=True)
class Deployment:
    """One deployment of a project.

    Attributes:
        name: Its `name:` (the deployment name on Azure), or the file stem without one.
        file: Its deployment file.
        answers_file: The copier answers that render and update it, None for a deployment
            written by hand.
        folder: Where its model, code, build context and samples live (the project folder,
            or its own `NAME/`).
        endpoint: The endpoint it belongs to (`endpoint_name:`), if set.
        own_folders: It has its own model, code and build context (rendered with it).
    """

    name: str
    file: Path
    answers_file: Path | None
    folder: Path
    endpoint: str | None
    own_folders: bool = False

    @property
    def sample_request(self) -> Path:
        """The request `scaffold loadtest` and `az ml online-endpoint invoke` send."""
        return self.folder / SAMPLES[0]

    @property
    def sample_response(self) -> Path:
        """The response the sample request must produce."""
        return self.folder / SAMPLES[1]

    @property
    def samples(self) -> Path:
        """The folder of per-model samples (`samples/<model>/`), when it serves several."""
        return self.folder / "samples"


@dataclass(frozen=True)
class AddResult:
    """What `add_deployment` made."""

    deployment: Deployment
    #: Project-relative files written.
    files: list[str]
    #: What the user should know (the model's notes, edits not carried over).
    notes: list[str] = field(default_factory=list)


# --- Reading a project's deployments -----------------------------------------------------------
def read_answers(path: Path) -> dict[str, Any]:
    """A copier answers file as a mapping ({} when missing or unreadable)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def answers_file_for(project: Path, file: Path) -> Path | None:
    """The copier answers that render a deployment file: `.copier-answers.NAME.yml` (NAME its
    deployment name or file stem), else `.copier-answers.yml` for the project's main
    deployment (deployment.yml, or its only one); None for a deployment written by hand."""
    root = project.expanduser().resolve()
    file = file.absolute()
    stem = file.stem
    for key in (layout.deployment_name(file), stem, stem.removesuffix("-deployment")):
        candidate = root / f".copier-answers.{key}.yml"
        if key and candidate.is_file():
            return candidate
    main = file.parent == root and (
        file.name in layout.DEFAULT_NAMES[layout.DEPLOYMENT]
        or len(layout.deployment_files(root)) == 1
    )
    primary = root / ANSWERS_FILE
    return primary if main and primary.is_file() else None


def answers_files(project: Path) -> list[Path]:
    """The project's copier answers files: `.copier-answers.yml` first, then one per
    deployment scaffold added (`.copier-answers.NAME.yml`), by name."""
    root = project.expanduser().resolve()
    others = sorted(
        p
        for p in root.glob(".copier-answers.*.yml")
        if p.is_file() and p.name != ANSWERS_FILE and read_answers(p).get("_src_path")
    )
    primary = root / ANSWERS_FILE
    return ([primary] if primary.is_file() else []) + others


def deployment_folder(project: Path, file: Path, data: Mapping[str, Any] | None = None) -> Path:
    """Where a deployment's model, code, build context and samples live.

    Its answers' `deployment_dir` for a deployment scaffold added; else the folder that
    holds its build context (`./green/docker-context` -> green/) when that is a subfolder
    of the project; else the project folder.
    """
    root = project.expanduser().resolve()
    answers_path = answers_file_for(root, file)
    answers = read_answers(answers_path) if answers_path else {}
    folder = answers.get("deployment_dir")
    if isinstance(folder, str) and folder and NAME.fullmatch(folder):
        return root / folder
    if data is None:
        data = layout.read_yaml(file).data or {}
    environment = data.get("environment")
    build = environment.get("build") if isinstance(environment, dict) else None
    path = build.get("path") if isinstance(build, dict) else None
    if isinstance(path, str) and path and "://" not in path:
        parent = (file.parent / path).resolve().parent
        if parent != root and root in parent.parents:
            return parent
    return root


def describe(project: Path, file: Path) -> Deployment:
    """The deployment a deployment file defines."""
    root = project.expanduser().resolve()
    data = layout.read_yaml(file).data or {}
    answers_path = answers_file_for(root, file)
    answers = read_answers(answers_path) if answers_path else {}
    name = data.get("name")
    endpoint = data.get("endpoint_name")
    return Deployment(
        name=name if isinstance(name, str) and name else file.stem,
        file=file.absolute(),
        answers_file=answers_path,
        folder=deployment_folder(root, file, data),
        endpoint=endpoint if isinstance(endpoint, str) else None,
        own_folders=bool(answers.get("own_folders")),
    )


def list_deployments(project: Path) -> list[Deployment]:
    """Every deployment of a project (the files scaffold.layout finds), main one first."""
    root = project.expanduser().resolve()
    return [describe(root, file) for file in layout.deployment_files(root)]


def select(project: Path, name: str | None, *, flag: str = "--deployment") -> Deployment:
    """The deployment called `name` (its `name:`, or its file's name); with None the only
    one, else deployment.yml's.

    Raises:
        UsageError: No deployment of that name, or several and none chosen (the message
            lists them and the flag that picks one).
        ProjectError: The project has no deployment file at all.
    """
    root = project.expanduser().resolve()
    try:
        file = layout.deployment_file_for(root, name, flag=flag)
    except ProjectError as error:
        if layout.deployment_files(root):
            raise UsageError(error.message) from None
        raise
    return describe(root, file)


# --- Adding one --------------------------------------------------------------------------------
def check_name(name: str) -> None:
    """UsageError unless `name` is a valid Azure deployment name."""
    if not (3 <= len(name) <= 32 and NAME.fullmatch(name)):
        raise UsageError(
            f"deployment name {name!r} is not valid: 3-32 characters, a lowercase letter first, "
            "then lowercase letters, digits and single dashes (e.g. green)"
        )


def add_deployment(
    project: Path,
    name: str,
    *,
    models: Sequence[str] = (),
    source: str | None = None,
    own_folders: bool = False,
    data: Mapping[str, Any] | None = None,
    model_python: str | None = None,
    model_inspect: str = "auto",
) -> AddResult:
    """Add the deployment `name` to a project scaffold generated.

    Args:
        project: The project folder.
        name: The new deployment's name (Azure's rules).
        models: Its own model(s) (as `scaffold new --model`); it then gets its own folders.
        source: The deployment whose settings it starts from (name or file; default the
            project's main deployment).
        own_folders: Give it its own model, code and build context (copies of the source's)
            in `name/`, even with the source's model.
        data: Answers to change for it (as `scaffold new --data`), e.g. instance_type.
        model_python, model_inspect: where its model may run to record its samples (as
            `scaffold new --model-python/--model-inspect`).

    Raises:
        UsageError: A bad or taken name, an unknown source, a source scaffold did not
            render, a model the server cannot serve; nothing is written.
        TemplateError: The template cannot render deployments of their own.
    """
    root = project.expanduser().resolve()
    data = dict(data or {})
    fixed = sorted(set(data) & set(SET_BY_ADD))
    if fixed:
        raise UsageError(
            f"{fixed[0]} is set by scaffold deployment add (NAME, --own-folders); leave it out"
        )
    if not (root / ANSWERS_FILE).is_file():
        raise UsageError(
            f"{root} has no {ANSWERS_FILE}: scaffold adds deployments to projects it generated; "
            "for another project copy its deployment file to NAME-deployment.yml and change "
            "its name:"
        )
    check_name(name)
    origin = select(root, source, flag="--from")
    if origin.answers_file is None:
        raise UsageError(
            f"the deployment {origin.name} ({origin.file.name}) has no copier answers file; "
            "add from a deployment scaffold made (--from NAME)"
        )
    _check_free(root, name, own=own_folders or bool(models))
    base = read_answers(origin.answers_file)
    _check_answers(data, base)
    answers = _answers(root, name, origin, base, models=models, own=own_folders or bool(models))
    prepared = _prepare_models(models, {**answers, **data}) if models else None
    if prepared is not None:
        answers.update(prepared.answers)
        answers = {**prepared.defaults, **answers}
    answers.update(data)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.scaffold-", dir=root.parent))
    try:
        rendered = staging / root.name
        rendered.mkdir()
        _render(rendered, base, answers, name)
        notes = _carry_edits(rendered, root, origin, base, answers, staging)
        if answers["own_folders"]:
            _copy_user_files(rendered / str(answers["deployment_dir"]), origin, model=not models)
        if prepared is not None:
            notes = list(prepared.notes) + notes
            if prepared.finish is not None:
                from scaffold.usermodel.modelenv import ModelEnv

                target = rendered / str(answers["deployment_dir"])
                final = read_answers(rendered / f".copier-answers.{name}.yml")
                # Where the model cannot run beside scaffold, its samples are recorded in the
                # new deployment's own image, built from the rendered files as that deployment.
                env = ModelEnv(
                    mode=model_inspect,
                    python=model_python,
                    dest=root,
                    build_root=rendered,
                    deployment=name,
                )
                notes += prepared.finish(target, final, env)
        with signals.shielded():  # all of it or nothing: a Ctrl-C waits for the move
            files = _move_new(rendered, root)
    except OSError as error:
        from scaffold.generate import write_error

        raise write_error(root, error) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    added = describe(root, root / str(answers["deployment_file"]))
    return AddResult(deployment=added, files=files, notes=notes)


def _check_free(root: Path, name: str, *, own: bool) -> None:
    """UsageError when the name or one of the paths the new deployment needs is taken."""
    known = list_deployments(root)
    taken = [d for d in known if d.name == name]
    if taken:
        raise UsageError(
            f"the project already has a deployment named {name} ({taken[0].file.name}); "
            f"choose another name (deployments: {', '.join(d.name for d in known)})"
        )
    paths = [f"{name}-deployment.yml", f".copier-answers.{name}.yml"] + ([name] if own else [])
    for relative in paths:
        if (root / relative).exists():
            raise UsageError(
                f"{root / relative} already exists; choose another deployment name or move it"
            )


def _answers(
    root: Path,
    name: str,
    origin: Deployment,
    base: Mapping[str, Any],
    *,
    models: Sequence[str],
    own: bool,
) -> dict[str, Any]:
    answers = {k: v for k, v in base.items() if not k.startswith("_")}
    shared = str(base.get("deployment_dir") or "") if origin.folder != root else ""
    answers.update(
        deployment_name=name,
        deployment_file=f"{name}-deployment.yml",
        deployment_dir=name if own else shared,
        own_folders=own,
    )
    if own:  # another model asset: the same name and version must hold the same files
        endpoint = str(base.get("endpoint_name") or root.name)
        answers["model_name"] = f"{endpoint}-{name}-model"[:255]
    if models:
        for key in MODEL_ANSWERS:
            answers.pop(key, None)
    return answers


def _prepare_models(models: Sequence[str], data: Mapping[str, Any]) -> Any:
    if len(models) == 1:
        from scaffold import usermodel

        return usermodel.prepare(models[0], data)
    from scaffold.usermodel import several

    return several.prepare(models, data)


def _check_answers(data: Mapping[str, Any], base: Mapping[str, Any]) -> None:
    """`--data` answers checked as `scaffold new` checks them (bundled template only)."""
    from scaffold import template_source

    if data and base.get("_src_path") == template_source.CANONICAL_URL:
        from scaffold.answers import check_answers

        check_answers(template_source.load_questions(), data, previous=base)


def _template(base: Mapping[str, Any]) -> tuple[str, str | None]:
    """The template (URL and version) to render with: the project's own source, newest."""
    from scaffold import template_source

    src = base.get("_src_path")
    ref = template_source.resolve(src if isinstance(src, str) and src else None)
    return ref.url, ref.ref


def _render(dest: Path, base: Mapping[str, Any], answers: Mapping[str, Any], name: str) -> None:
    """Render the deployment's own files into `dest` (empty), as copier would with
    `copier copy -a .copier-answers.NAME.yml`."""
    from copier import run_copy

    from scaffold.generate import _copier_error

    url, ref = _template(base)
    try:
        run_copy(
            url,
            str(dest),
            data=dict(answers),
            vcs_ref=ref,
            answers_file=f".copier-answers.{name}.yml",
            defaults=True,
            unsafe=False,
            quiet=True,
            overwrite=True,
        )
    except (KeyboardInterrupt, ScaffoldError):
        raise
    except Exception as error:  # copier raises builtins and its own errors alike
        text = str(error)
        if "subdirectory" in text.lower() or "_deployment" in text:
            raise TemplateError(
                f"the template {url} cannot add deployments (it has no "
                f"_deployment/{answers.get('server')}/); update it from scaffold's template"
            ) from error
        raise _copier_error(error, dest) from error
    if not (dest / str(answers["deployment_file"])).is_file():
        raise TemplateError(
            f"the template {url} rendered no {answers['deployment_file']}: it cannot add "
            f"deployments (_deployment/{answers.get('server')}/ is missing or empty)"
        )


# --- Carrying the source's hand edits over -------------------------------------------------------
def _counterparts(
    rendered: Path, origin: Deployment, answers: Mapping[str, Any]
) -> Iterator[tuple[str, Path]]:
    """(new file's project-relative path, the source's file it was generated like)."""
    yield str(answers["deployment_file"]), origin.file
    if not answers["own_folders"]:
        return
    own = Path(str(answers["deployment_dir"])) / "docker-context"
    context = origin.folder / "docker-context"
    for path in sorted((rendered / own).rglob("*")):
        if path.is_file():
            relative = path.relative_to(rendered / own)
            yield (own / relative).as_posix(), context / relative


def _carry_edits(
    rendered: Path,
    root: Path,
    origin: Deployment,
    base: Mapping[str, Any],
    answers: Mapping[str, Any],
    staging: Path,
) -> list[str]:
    """Merge the edits made to the source's generated files into the new ones: 3-way, with
    the source as its answers generate it as the base (what `copier update` does)."""
    pairs = [(new, old) for new, old in _counterparts(rendered, origin, answers)]
    pairs = [(new, old) for new, old in pairs if old.is_file()]
    if not pairs:
        return []
    generated = staging / "as-generated" / root.name
    generated.mkdir(parents=True)
    try:
        _render_as_generated(generated, base, origin)
    except ScaffoldError:
        return [
            f"the edits made to {origin.file.name} by hand were not carried over (its template "
            f"version {base.get('_commit')} could not be rendered); compare the two files"
        ]
    notes = []
    for new, old in pairs:
        source_relative = old.relative_to(root).as_posix() if root in old.parents else old.name
        as_generated = generated / source_relative
        current = old.read_bytes()
        if not as_generated.is_file() or as_generated.read_bytes() == current:
            continue  # not edited by hand (or not generated): the new file is as rendered
        target = rendered / new
        command = ["git", "merge-file", "-p", "-q", str(target), str(as_generated), str(old)]
        plain = subprocess.run(command, capture_output=True, check=False)
        # Where an edit touches lines the new deployment sets itself (its name, its paths,
        # an answer given for it), the new deployment's lines win.
        merged = subprocess.run([*command[:3], "--ours", *command[3:]], capture_output=True)
        if merged.returncode != 0:  # git could not merge at all: keep the file as rendered
            notes.append(
                f"{new}: the edits made to {source_relative} by hand were not carried over"
            )
            continue
        target.write_bytes(merged.stdout)
        if plain.returncode != 0:
            notes.append(
                f"{new}: {plain.returncode if plain.returncode > 0 else 'some'} of the edits made "
                f"to {source_relative} by hand touch lines the new deployment sets itself and "
                "were not carried over; compare the two files"
            )
    return notes


def _render_as_generated(dest: Path, base: Mapping[str, Any], origin: Deployment) -> None:
    """Render the source deployment as its answers and template version generate it."""
    from copier import run_copy

    from scaffold import template_source

    assert origin.answers_file is not None
    src = base.get("_src_path")
    ref = template_source.resolve(src if isinstance(src, str) and src else None)
    answers = {k: v for k, v in base.items() if not k.startswith("_")}
    try:
        run_copy(
            ref.url,
            str(dest),
            data=answers,
            vcs_ref=str(base.get("_commit") or ref.ref),
            answers_file=origin.answers_file.name,
            defaults=True,
            unsafe=False,
            quiet=True,
            overwrite=True,
        )
    except (KeyboardInterrupt, ScaffoldError):
        raise
    except Exception as error:  # an old version, a template that is gone
        raise TemplateError(
            str(error).splitlines()[0] if str(error) else "render failed"
        ) from error


# --- Own folders ---------------------------------------------------------------------------------
def _copy_user_files(target: Path, origin: Deployment, *, model: bool = True) -> None:
    """Copy the source's model (unless `model` is False: the new deployment has its own),
    code, samples, dev folders and the build context's files the template does not render
    (requirements.txt, your own additions) into `target`."""
    data = layout.read_yaml(origin.file).data or {}
    sources: list[Path] = []
    entry = data.get("model")
    if model and isinstance(entry, dict) and isinstance(entry.get("path"), str):
        sources.append((origin.file.parent / entry["path"]).resolve())
    code = data.get("code_configuration")
    if isinstance(code, dict) and isinstance(code.get("code"), str):
        sources.append((origin.file.parent / code["code"]).resolve())
    owned = (*SAMPLES, "samples", *DEV_FOLDERS) if model else DEV_FOLDERS
    sources += [origin.folder / name for name in owned]
    for source in sources:
        if not source.exists() or not (source == origin.folder or origin.folder in source.parents):
            continue
        destination = target / source.relative_to(origin.folder)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True, symlinks=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    context = origin.folder / "docker-context"
    if context.is_dir():
        for path in sorted(context.rglob("*")):
            destination = target / "docker-context" / path.relative_to(context)
            if path.is_file() and not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)


def _move_new(rendered: Path, root: Path) -> list[str]:
    """Move the rendered files into the project (none of them exists there); on a failure
    take back what was moved, so nothing is half-written."""
    entries = sorted(rendered.iterdir())
    for entry in entries:
        if (root / entry.name).exists():
            raise UsageError(f"{root / entry.name} already exists; nothing was written")
    moved: list[Path] = []
    try:
        for entry in entries:
            moved.append(root / entry.name)
            shutil.move(str(entry), str(root / entry.name))
    except OSError:
        for path in moved:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    return sorted(
        p.relative_to(root).as_posix()
        for top in moved
        for p in ([top] if top.is_file() else top.rglob("*"))
        if p.is_file()
    )


def local_deployment(project: Path, name: str | None) -> str | None:
    """`name` when the project has a deployment of that name (or file), else None: commands
    that address a deployed endpoint take names of deployments that exist only on Azure,
    and then use the project's main deployment's files."""
    if name is None:
        return None
    root = project.expanduser().resolve()
    try:
        layout.deployment_file_for(root, name)
    except ProjectError:
        return None
    return name


def smoke_arguments(deployment: Deployment, project: Path) -> list[str]:
    """smoke_test.py options that test `deployment` with its own samples (its own folder),
    and tell which model its scoring route serves (several models chosen by path)."""
    root = project.expanduser().resolve()
    arguments: list[str] = []
    if deployment.folder != root:
        arguments += [
            "--request",
            str(deployment.sample_request),
            "--expect",
            str(deployment.sample_response),
            "--samples",
            str(deployment.samples),
        ]
    if not deployment.samples.is_dir():
        return arguments  # one model: the scoring URI is all there is to test
    data = layout.read_yaml(deployment.file).data or {}
    environment = data.get("environment")
    config = environment.get("inference_config") if isinstance(environment, dict) else None
    route = config.get("scoring_route") if isinstance(config, dict) else None
    path = route.get("path") if isinstance(route, dict) else None
    if isinstance(path, str) and path.startswith("/"):
        arguments += ["--scoring-path", path]
    return arguments


# --- Updating every one ---------------------------------------------------------------------------
def update_all(
    project: Path,
    *,
    deployment: str | None = None,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    pretend: bool = False,
    allow_server_change: bool = False,
) -> list[Any]:
    """`scaffold update` of a project with several deployments: each answers file in turn
    (`.copier-answers.yml`, then `.copier-answers.NAME.yml`), or the one of `deployment`.

    copier updates only a clean work tree, so after each update but the last the changes are
    committed for the moment and, at the end, the project is reset to the commit it started
    from with every change left in the work tree (nothing is committed, as with one update).
    An update that leaves conflicts stops the round there; an interrupted one is undone
    completely. Returns scaffold.update's UpdateResult for each deployment updated.
    """
    from scaffold.update import restore_after_interrupt, update_project

    root = project.expanduser().resolve()
    data = dict(data or {})
    files = answers_files(root)
    if deployment is not None:
        chosen = select(root, deployment)
        if chosen.answers_file is None:
            raise UsageError(
                f"the deployment {chosen.name} was written by hand (no copier answers file); "
                "only deployments scaffold made are updated"
            )
        files = [chosen.answers_file]
    elif len(files) > 1 and data:
        names = ", ".join(d.name for d in list_deployments(root) if d.answers_file)
        raise UsageError(
            f"{root} has several deployments ({names}): pass --deployment NAME to change "
            "an answer of one of them"
        )
    if any(f.name != ANSWERS_FILE for f in files) and data.get("server") is not None:
        raise UsageError(
            "a deployment added to a project keeps its server; add a deployment for another "
            "server instead (scaffold deployment add)"
        )
    if len(files) <= 1 or pretend:
        return [
            update_project(
                root,
                vcs_ref=vcs_ref,
                data=data,
                pretend=pretend,
                allow_server_change=allow_server_change,
                answers_file=f.name,
            )
            for f in files or [root / ANSWERS_FILE]
        ]
    return _update_in_turn(root, files, vcs_ref, data, restore_after_interrupt)


def _update_in_turn(
    root: Path, files: list[Path], vcs_ref: str | None, data: Mapping[str, Any], restore: Any
) -> list[Any]:
    from scaffold.gitutil import BOT_ENV, git
    from scaffold.update import check_updatable, update_project

    check_updatable(root)  # clean, git, answers: before the first temporary commit
    head = git("rev-parse", "HEAD", cwd=root).strip()
    results: list[Any] = []
    try:
        for index, answers in enumerate(files):
            result = update_project(root, vcs_ref=vcs_ref, data=data, answers_file=answers.name)
            results.append(result)
            if result.conflicts or index == len(files) - 1:
                break
            git("add", "--all", cwd=root)
            git(
                "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "--allow-empty",
                "-m", f"scaffold update: {answers.name} (temporary)",
                cwd=root, env=BOT_ENV,
            )  # fmt: skip
    except KeyboardInterrupt as stopped:
        raise restore(root, head, stopped) from None
    git("reset", "--quiet", head, cwd=root)  # every change stays in the work tree, uncommitted
    return results


# --- Validating one ------------------------------------------------------------------------------
def validate_one(project: Path, name: str | None, *, schema: bool = True) -> Any:
    """`scaffold validate` of the deployment `name` only (as `-f` its file): what `run`,
    `serve`, `loadtest` and `deploy --deployment NAME` check first."""
    from scaffold.validate import validate_project

    return validate_project(project, schema=schema, files=[select(project, name).file])
