"""`scaffold update`: move a project to a newer template version with copier's 3-way update.

copier exits successfully even when it leaves conflicts, so scaffold looks for them itself
(unmerged paths, `.rej` files, conflict markers) and reports them as an error. An update
interrupted by SIGINT or SIGTERM is undone: the project goes back to the clean commit it
started from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold import signals, template_source
from scaffold.errors import (
    GitError,
    Interrupted,
    ProjectError,
    ScaffoldError,
    TemplateError,
    UsageError,
)
from scaffold.generate import ANSWERS_FILE, read_answers
from scaffold.gitutil import dirty_paths, git, is_inside_repo

CONFLICT_MARKER = "<<<<<<< before updating"


@dataclass(frozen=True)
class UpdateResult:
    """What an update did."""

    path: Path
    from_version: str | None
    to_version: str | None
    conflicts: list[str] = field(default_factory=list)
    pretend: bool = False
    #: Files the new server needs that a server change added (user-owned files are never
    #: touched by updates, so they are copied from a fresh rendering instead).
    added: list[str] = field(default_factory=list)
    #: The answers file updated (one deployment's, when the project has several).
    answers_file: str = ANSWERS_FILE


def check_updatable(project: Path, answers_file: str = ANSWERS_FILE) -> dict[str, Any]:
    """Return the project's answers (of `answers_file`: one deployment's, when the project has
    several); raise with the fix if copier could not update it."""
    if not (project / answers_file).is_file():
        raise ProjectError(
            f"{project} has no {answers_file}; only projects generated from a template can be "
            "updated"
        )
    if not is_inside_repo(project):
        raise GitError(
            f"{project} is not a git repository; run `git init && git add -A && "
            "git commit -m 'initial'` there, then retry"
        )
    dirty = dirty_paths(project)
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise GitError(
            f"{project} has uncommitted changes ({shown}); commit or stash them, then retry"
        )
    return read_answers(project, answers_file)


def find_conflicts(project: Path) -> list[str]:
    """Paths an update left unresolved: unmerged in git, `.rej` files, conflict markers."""
    found: set[str] = set()
    unmerged = git("diff", "--name-only", "--diff-filter=U", cwd=project, check=False)
    found.update(line for line in unmerged.splitlines() if line)
    changed = git("status", "--porcelain", "--untracked-files=all", cwd=project, check=False)
    for line in changed.splitlines():
        path = line[3:].strip().strip('"')
        if path.endswith(".rej"):
            found.add(path)
            continue
        target = project / path
        if target.is_file():
            try:
                text = target.read_text(encoding="utf-8", errors="ignore")
                if any(line.startswith(CONFLICT_MARKER) for line in text.splitlines()):
                    found.add(path)
            except OSError:
                continue
    return sorted(found)


def _template_for(answers: Mapping[str, Any], vcs_ref: str | None) -> str | None:
    """Refresh the bundled template repository when the project came from it."""
    src = str(answers.get("_src_path", ""))
    if not src:
        raise ProjectError(f"{ANSWERS_FILE} has no _src_path; the template source is unknown")
    if src == template_source.CANONICAL_URL:
        bundled = template_source.materialise_bundled()
        return vcs_ref or bundled.ref
    return vcs_ref


def server_change(answers: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(old, new) server if `data` changes it, else None."""
    old, new = answers.get("server"), data.get("server")
    if new is None or new == old:
        return None
    return str(old), str(new)


def update_project(
    project: Path,
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    pretend: bool = False,
    allow_server_change: bool = False,
    answers_file: str = ANSWERS_FILE,
) -> UpdateResult:
    """Update `project` to `vcs_ref` (default: the newest template version).

    Changing the `server` answer needs `allow_server_change`: the old server's files are
    replaced, and the new server's user-owned files (scoring code, sample model) are added.
    `answers_file`: the answers of the deployment to update, when the project has several
    (`.copier-answers.NAME.yml`; scaffold.deployments.update_all updates each).
    """
    project = project.expanduser().resolve()
    answers = check_updatable(project, answers_file)
    head = git("rev-parse", "HEAD", cwd=project).strip()
    try:
        return _update(
            project, answers, vcs_ref, data or {}, pretend, allow_server_change, answers_file
        )
    except KeyboardInterrupt as stopped:
        if pretend:
            raise
        raise restore_after_interrupt(project, head, stopped) from None


def _update(
    project: Path,
    answers: Mapping[str, Any],
    vcs_ref: str | None,
    data: Mapping[str, Any],
    pretend: bool,
    allow_server_change: bool,
    answers_file: str = ANSWERS_FILE,
) -> UpdateResult:
    change = server_change(answers, data)
    if change and not allow_server_change:
        raise UsageError(
            f"changing the server from {change[0]} to {change[1]} replaces the project's "
            "server files; pass --change-server to confirm"
        )
    target_ref = _template_for(answers, vcs_ref)
    if data and vcs_ref is None and answers.get("_src_path") == template_source.CANONICAL_URL:
        from scaffold.answers import check_answers

        check_answers(template_source.load_questions(), data, previous=answers)

    from copier import run_update

    try:
        run_update(
            str(project),
            data=dict(data),
            vcs_ref=target_ref,
            defaults=True,
            overwrite=True,
            unsafe=False,
            quiet=True,
            conflict="inline",
            pretend=pretend,
            skip_answered=True,
            answers_file=answers_file,
        )
    except (KeyboardInterrupt, ScaffoldError):
        raise
    except Exception as error:
        lines = str(error).strip().splitlines()
        text = lines[0] if lines else type(error).__name__
        raise TemplateError(f"update failed: {text}") from error
    after = answers if pretend else read_answers(project, answers_file)
    added = _add_missing_files(project, after) if change and not pretend else []
    return UpdateResult(
        path=project,
        from_version=answers.get("_commit"),
        to_version=target_ref if pretend else after.get("_commit"),
        conflicts=[] if pretend else find_conflicts(project),
        pretend=pretend,
        added=added,
        answers_file=answers_file,
    )


def _wait_for_children(seconds: float) -> None:
    """Let the git processes copier started finish (an interrupt leaves them running and
    they hold git's index lock), reaping them; give up after `seconds`."""
    import os
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            time.sleep(0.02)


def restore_after_interrupt(project: Path, head: str, stopped: KeyboardInterrupt) -> Interrupted:
    """Put `project` back as it was before an interrupted update and return the interrupt
    to raise, saying what was done. The update started from a clean work tree at `head`
    (check_updatable), so resetting to it and removing untracked files loses nothing."""
    import signal

    signum = stopped.signum if isinstance(stopped, Interrupted) else int(signal.SIGINT)
    restored = False
    try:
        with signals.shielded():  # a second Ctrl-C must not stop the restore half-way
            _wait_for_children(10.0)
            git("reset", "--quiet", "--hard", head, cwd=project)
            git("clean", "-d", "--force", "--quiet", "--", ".", cwd=project)
            restored = not dirty_paths(project) and (
                git("rev-parse", "HEAD", cwd=project).strip() == head
            )
    except (GitError, Interrupted):
        restored = False
    if restored:
        note = f"the update was undone: {project} is as it was (HEAD {head[:12]}, clean)"
    else:
        note = (
            f"the update may be half-applied; restore it with `git -C {project} reset --hard "
            f"{head[:12]} && git -C {project} clean -fd` (the update started from a clean "
            "tree, so this loses nothing)"
        )
    return Interrupted(signum, note=note)


def _add_missing_files(project: Path, answers: Mapping[str, Any]) -> list[str]:
    """Copy files a fresh rendering with `answers` has and the project lacks."""
    import shutil
    import tempfile

    from scaffold.generate import new_project

    work = Path(tempfile.mkdtemp(prefix="scaffold-server-change-"))
    try:
        data = {k: v for k, v in answers.items() if not k.startswith("_")}
        fresh = new_project(
            work / project.name,
            data,
            template=str(answers["_src_path"]),
            vcs_ref=str(answers["_commit"]),
            git_init=False,
        )
        added = [name for name in fresh.files if not (project / name).exists()]
        for name in added:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(fresh.path / name, project / name)
        return added
    finally:
        shutil.rmtree(work, ignore_errors=True)
