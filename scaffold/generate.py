"""`scaffold new`: render a project from a template through copier's public API.

The project is rendered into a temporary folder beside the destination and moved into
place only when everything succeeded, so a failure leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold import answersfile, template_source
from scaffold.answers import check_answers, check_bounds, how_to_set
from scaffold.errors import GitError, ScaffoldError, TemplateError, UsageError, WriteError
from scaffold.gitutil import init_and_commit
from scaffold.tempdirs import copier_temp

if TYPE_CHECKING:  # pragma: no cover
    from scaffold import usermodel
    from scaffold.usermodel.modelenv import ModelEnv

ANSWERS_FILE = answersfile.DEFAULT


@dataclass(frozen=True)
class NewResult:
    """What `new_project` made."""

    path: Path
    answers: dict[str, Any]
    template: str
    template_version: str | None
    files: list[str] = field(default_factory=list)
    git_initialised: bool = False
    #: What `--model` configured from the user's model, for the user to read.
    notes: list[str] = field(default_factory=list)


def required_questions(questions: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Questions that have no default, so they must be answered (e.g. `server`)."""
    return [
        name
        for name, spec in questions.items()
        if "default" not in spec and spec.get("when", True) is not False
    ]


def check_answers_complete(
    questions: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, Any],
    flags: Collection[str] | None = None,
) -> None:
    """Raise UsageError naming the flag (or `--data NAME=VALUE` for a question without
    one, e.g. a team template's) for the first required answer that is missing."""
    for name in required_questions(questions):
        if name not in data:
            spec = questions[name]
            choices = spec.get("choices")
            hint = ""
            if isinstance(choices, dict):
                hint = f" (one of {', '.join(str(v) for v in choices.values())})"
            elif isinstance(choices, list):
                hint = f" (one of {', '.join(str(v) for v in choices)})"
            how = how_to_set(name, flags)
            if not how.startswith("--data"):
                how += " VALUE"
            raise UsageError(
                f"{name} has no default and there is no terminal to ask: pass {how}{hint}"
            )


def check_destination(dest: Path, overwrite: bool) -> None:
    """Raise UsageError unless `dest` can take the project (missing, empty, or overwrite)."""
    _check_destination(dest, overwrite)


def _check_destination(dest: Path, overwrite: bool) -> None:
    for parent in dest.parents:  # the nearest existing folder above must be a folder
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise UsageError(
                    f"{parent} is a file, not a folder, so {dest} cannot be made there; "
                    "choose another destination"
                )
            break
    if dest.is_symlink() and not dest.exists():
        raise UsageError(
            f"{dest} is a broken or looping symbolic link; remove it or choose another destination"
        )
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a folder; choose another destination")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise UsageError(
            f"{dest} exists and is not empty; choose another folder or pass --overwrite"
        )


#: The lock file in each staging folder: held (flock) by the `scaffold new` rendering there,
#: so a folder whose lock can be taken was left by a process that is gone (kill -9, a crash).
STAGING_LOCK = ".scaffold-staging.lock"
#: Staging folders are `.<DEST>.scaffold-<8 random characters>` (tempfile.mkdtemp).
STAGING_NAME = re.compile(r"\..+\.scaffold-[a-z0-9_]{8}")
#: A staging folder without a lock file (made by scaffold before 0.2) is stale after this.
LEGACY_STAGING_AGE = 3600.0


@contextlib.contextmanager
def _staging_dir(dest: Path) -> Iterator[Path]:
    """A staging folder beside `dest`, locked for the lifetime of this process's use of it
    and removed afterwards (a process killed meanwhile leaves it unlocked: see
    remove_stale_staging)."""
    import fcntl

    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.scaffold-", dir=dest.parent))
    try:
        # Locked under a temporary name, then renamed: another `new` never sees the lock
        # file unlocked, so it never takes a live staging folder for a stale one.
        taking = staging / f"{STAGING_LOCK}.{os.getpid()}"
        lock = taking.open("w", encoding="utf-8", errors="backslashreplace")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"scaffold new {dest} (pid {os.getpid()})\n")
        lock.flush()
        taking.rename(staging / STAGING_LOCK)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        with lock:
            # Same base name as the destination, so name-derived defaults come out right.
            yield staging / dest.name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(parent: Path) -> list[str]:
    """Remove the staging folders in `parent` that an interrupted `scaffold new` left (a
    kill -9, a crash, a power cut): only folders named like scaffold's whose lock file no
    process holds (and, for those made before the lock existed, untouched for an hour).
    Returns their names; never raises."""
    import fcntl
    import time

    removed: list[str] = []
    try:
        entries = [e for e in parent.iterdir() if STAGING_NAME.fullmatch(e.name)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry.is_symlink() or not entry.is_dir():
                continue
            lock_path = entry / STAGING_LOCK
            if not lock_path.exists():
                if time.time() - entry.stat().st_mtime < LEGACY_STAGING_AGE:
                    continue  # maybe an older scaffold still at work
                shutil.rmtree(entry)
                removed.append(entry.name)
                continue
            with lock_path.open("a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live `scaffold new` is rendering there
                shutil.rmtree(entry)
                removed.append(entry.name)
        except OSError:
            continue  # not ours to fight over: leave it
    return removed


@contextlib.contextmanager
def _model_copy(
    prepared: usermodel.Prepared | None, env: ModelEnv | None, rendered: Path
) -> Iterator[ModelEnv]:
    """The model environment, with the model already copying beside the staging folder
    while copier renders (waited for before the staging folder is removed)."""
    from scaffold.usermodel.modelenv import ModelEnv

    env = env or ModelEnv()
    if prepared is not None and prepared.source is not None and prepared.prefetch:
        env.prefetch(prepared.source, rendered.parent / ".model-copy")
    try:
        yield env
    finally:
        env.wait()


def write_error(dest: Path, error: OSError) -> ScaffoldError:
    """A file-system refusal (disk full, read-only, no permission) as one line with the fix
    (exit 12); a destination path that cannot be made (too long, through a file) exit 2;
    other OS errors exit 12 naming the file."""
    from scaffold.errors import PATH_FIXES, WRITE_FIXES

    if hasattr(error, "retcode") and hasattr(error, "argv"):
        # plumbum's ProcessExecutionError (an OSError): a git command copier ran failed
        # while fetching the template; that is no disk problem.
        lines = [line.strip() for line in str(getattr(error, "stderr", "")).splitlines()]
        said = next((ln for ln in reversed(lines) if ln.startswith("fatal:")), "")
        said = said or next((ln for ln in reversed(lines) if ln), f"exit {error.retcode}")
        return TemplateError(
            f"git could not fetch the template ({said}); check the template URL, your network "
            "and --vcs-ref (nothing was written)"
        )
    code = error.errno or 0
    reason = os.strerror(code) if code else str(error)
    if code in WRITE_FIXES:
        fix = WRITE_FIXES[code].replace(" (or fix its permissions)", "")
        return WriteError(f"cannot write {dest}: {reason}; {fix} (nothing was written)")
    if code in PATH_FIXES:
        return UsageError(f"cannot create {dest}: {reason}; {PATH_FIXES[code]}")
    where = f" ({error.filename})" if error.filename else ""
    return WriteError(f"cannot write {dest}: {reason}{where}; check the disk (nothing was written)")


def _copier_error(
    error: Exception, dest: Path, flags: Collection[str] | None = None
) -> ScaffoldError:
    """Map copier's exceptions to scaffold's, keeping copier's message."""
    from copier import errors as copier_errors

    if isinstance(error, OSError):
        return write_error(dest, error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, copier_errors.UnsafeTemplateError):
        return TemplateError(
            f"the template uses unsafe features ({text}); scaffold only renders trust-free "
            "templates: remove _tasks, _migrations and _jinja_extensions from copier.yml"
        )
    if isinstance(error, copier_errors.InteractiveSessionError):
        return UsageError("no terminal to ask questions: pass --defaults and --data KEY=VALUE")
    if isinstance(error, ValueError) and (
        "Validation error" in text or "Invalid choice" in text or "required" in text
    ):
        match = re.search(r"question '(\w+)'", text)
        fix = f" (set it with {how_to_set(match.group(1), flags)})" if match else ""
        return UsageError(text.removeprefix("ValueError: ") + fix)
    return TemplateError(f"rendering the template failed: {text}")


def _move_into_place(rendered: Path, dest: Path) -> list[str]:
    """Move the rendered tree to `dest`, replacing same-named entries; return file list."""
    files = sorted(
        p.relative_to(rendered).as_posix()
        for p in rendered.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(rendered).parts
    )
    if not dest.exists():
        rendered.rename(dest)
        return files
    moved: list[Path] = []
    try:
        for entry in rendered.iterdir():
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            moved.append(target)
            shutil.move(entry, target)  # a copy when dest is another file system (a mount)
    except OSError:
        for target in moved:  # take back what was moved, so a failure leaves no half project
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        raise
    return files


def new_project(
    dest: Path,
    data: Mapping[str, Any],
    *,
    template: str | None = None,
    vcs_ref: str | None = None,
    interactive: bool = False,
    overwrite: bool = False,
    git_init: bool = True,
    model: str | Sequence[str] | None = None,
    flags: Collection[str] | None = None,
    model_python: str | None = None,
    model_inspect: str = "auto",
    progress: Callable[[str], None] | None = None,
    large_files: str | None = None,
) -> NewResult:
    """Render a project into `dest` and return what was made.

    Args:
        dest: destination folder; must not exist or be empty unless `overwrite`.
        data: answers (question name to value); unanswered questions are asked when
            `interactive`, otherwise take their defaults (missing required ones fail).
        template: a template path or git URL; None uses the template bundled with scaffold.
        vcs_ref: template version (git tag) to use; default the newest (bundled: this
            scaffold's version).
        interactive: ask unanswered questions on the terminal (copier's questionnaire).
        overwrite: allow a non-empty destination; same-named files are replaced.
        git_init: make the new project a git repository with one commit (needed for
            updates), unless `dest` already lies inside a git work tree (then committing
            is left to the user).
        model: the user's model (a file or folder, or an `azureml:` reference) to serve
            instead of the sample; the project is configured from it (scaffold.usermodel).
            Several (a sequence of two or more, each PATH or NAME=PATH): one deployment
            serves them all, where the server can (scaffold.usermodel.several).
        flags: the questions that have a flag on the caller's command line (errors name
            them; other questions are named as `--data NAME=VALUE`).
        model_python: the interpreter of the model's own environment, to run the model in
            when recording its samples (`--model-python`).
        model_inspect: where the model may run to record its samples: "auto" (the model's
            own environment: model_python, scaffold's own when it has the model's library
            versions, else the project's image with Docker), "here", "image" or "none"
            (scaffold.usermodel.modelenv).
        progress: receives progress lines of long steps (building the project's image).
        large_files: how model files of at least SCAFFOLD_LARGE_FILE_BYTES are kept out of
            git objects: "ignore" (.gitignore; the default, or SCAFFOLD_LARGE_FILES) or
            "lfs" (Git LFS); see scaffold.largefiles.

    The answers are checked against the questions of the template version rendered (the
    bundled template's or a team template's): unknown keys, types, choices, validators.
    """
    check_bounds(data)  # for every template: nothing renders an oversized answer
    try:
        dest = Path(os.path.realpath(dest.expanduser()))  # never raises on a link loop
        _check_destination(dest, overwrite)
    except OSError as error:  # a name too long, a link loop
        raise write_error(dest, error) from None
    from scaffold import largefiles

    large_mode = largefiles.resolve_mode(large_files)
    largefiles.threshold()  # a bad SCAFFOLD_LARGE_FILE_BYTES fails before anything is written
    prepared = None
    env = None
    models = [model] if isinstance(model, str) else list(model or [])
    if models:
        from scaffold import usermodel
        from scaffold.usermodel import modelenv

        if model_inspect not in modelenv.MODES:
            raise UsageError(
                f"--model-inspect {model_inspect}: choose one of {', '.join(modelenv.MODES)}"
            )
        python = modelenv.check_python(model_python) if model_python else None
        if len(models) == 1:
            prepared = usermodel.prepare(models[0], data)
            data = {**prepared.defaults, **prepared.answers, **data}
        else:
            from scaffold.usermodel import several

            prepared = several.prepare(models, data)
            data = {**prepared.answers, **data}
        env = modelenv.ModelEnv(mode=model_inspect, python=python, dest=dest, progress=progress)
    ref = template_source.resolve(template, vcs_ref)
    questions = ref.questions(installed=ref.bundled and vcs_ref is None)
    check_answers(questions, data, flags=flags)
    if not interactive:
        check_answers_complete(questions, data, flags)

    try:
        return _render_and_place(
            dest,
            data,
            ref,
            interactive=interactive,
            git_init=git_init,
            prepared=prepared,
            flags=flags,
            env=env,
            large_mode=large_mode,
        )
    except OSError as error:
        raise write_error(dest, error) from error


def _render_and_place(
    dest: Path,
    data: Mapping[str, Any],
    ref: template_source.TemplateRef,
    *,
    interactive: bool,
    git_init: bool,
    prepared: usermodel.Prepared | None = None,
    flags: Collection[str] | None = None,
    env: ModelEnv | None = None,
    large_mode: str = "ignore",
) -> NewResult:
    from copier import run_copy

    stale = remove_stale_staging(dest.parent) if dest.parent.is_dir() else []
    with _staging_dir(dest) as rendered, _model_copy(prepared, env, rendered) as env:
        try:
            with template_source.git_policy(ref.url), copier_temp():
                run_copy(
                    ref.url,
                    str(rendered),
                    data=dict(data),
                    vcs_ref=ref.ref,
                    defaults=not interactive,
                    unsafe=False,
                    quiet=True,
                    overwrite=True,
                    cleanup_on_error=True,
                )
        except (KeyboardInterrupt, ScaffoldError):
            raise
        except Exception as error:  # copier raises builtins and its own errors alike
            raise _copier_error(error, dest, flags) from error
        answers = read_answers(rendered)
        if ref.ref:
            for name in answersfile.find(rendered):
                answersfile.pin(rendered, name, ref.ref)
        notes = list(prepared.notes) if prepared else []
        if stale:
            notes.append(
                f"removed {len(stale)} staging folder(s) an interrupted scaffold new had left "
                f"in {dest.parent}: {', '.join(stale)}"
            )
        if prepared and prepared.finish:
            notes += prepared.finish(rendered, answers, env)
        notes += _gpu_image_on_cpu_size(answers)
        made_repo = False
        init = git_init and not _inside_git(dest if dest.exists() else dest.parent)
        large = _keep_large_files_out(rendered, answers, large_mode, notes)
        if init:
            try:
                init_and_commit(
                    rendered,
                    f"Generate {dest.name} from scaffold template {answers.get('_commit')}",
                    lfs=large and large_mode == "lfs",
                )
            except GitError:
                if _disk_full(rendered):  # git says so in the user's language; ask the disk
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
                raise
            made_repo = True
        files = _move_into_place(rendered, dest)
    return NewResult(
        path=dest,
        answers=answers,
        template=str(answers.get("_src_path", ref.url)),
        template_version=answers.get("_commit"),
        files=files,
        git_initialised=made_repo,
        notes=notes,
    )


def _gpu_image_on_cpu_size(answers: Mapping[str, Any]) -> list[str]:
    """A note when the answers put an image that needs a GPU (vLLM's CUDA image, ...) on a
    size without one: the project is written as asked, and `validate` refuses it."""
    from scaffold import instances

    image, kind = answers.get("base_image"), answers.get("instance_type")
    if not isinstance(image, str) or not isinstance(kind, str):
        return []
    size = instances.lookup(kind)
    found = instances.gpu_only_image(image)
    if size is None or size.has_gpu or found is None:
        return []
    gpu = instances.smallest_gpu_size()
    return [
        f"{image} is {found.what}, but instance_type {size.name} has no GPU: the container "
        f"cannot start there (`scaffold validate` refuses it); use a GPU size (e.g. "
        f"{gpu.name}) or, to stay on CPU, {found.alternative}"
    ]


def _keep_large_files_out(
    project: Path, answers: Mapping[str, Any], mode: str, notes: list[str]
) -> bool:
    """Keep model files above the size threshold out of git objects (scaffold.largefiles);
    True when there were any."""
    from scaffold import largefiles, usermodel
    from scaffold.servers import SERVERS

    roots = [project / "docker-context" / "models"]
    if str(answers.get("server")) in SERVERS:  # a team template may ask no `server`
        roots.insert(0, usermodel.model_dir(project, answers))
    files = [
        (f"{root.relative_to(project).as_posix()}/{name}", size)
        for root in roots
        if root.is_dir()
        for name, size in largefiles.find_large(root)
    ]
    if not files:
        return False
    notes += largefiles.keep_out(project, files, mode, roots)
    return True


def _disk_full(path: Path) -> bool:
    """True when the file system holding `path` has (almost) no free blocks left."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    return stats.f_bavail < 8


def _inside_git(path: Path) -> bool:
    from scaffold.gitutil import is_inside_repo

    return is_inside_repo(path)


def read_answers(project: Path) -> dict[str, Any]:
    """The answers a freshly rendered project recorded (its first answers file)."""
    names = answersfile.find(project)
    if not names:
        raise TemplateError(
            f"the template wrote no {ANSWERS_FILE} (no `{{{{_copier_conf.answers_file}}}}.jinja` "
            "at the root of what it renders), so the project could never be updated"
        )
    return answersfile.load(project, names[0])
