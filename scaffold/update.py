"""`scaffold update`: move a project to a newer template version with copier's 3-way update.

copier exits successfully even when it leaves conflicts, so scaffold looks for them itself
(unmerged paths, `.rej` files, conflict markers) and reports them as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold import template_source
from scaffold.errors import GitError, ProjectError, ScaffoldError, TemplateError, UsageError
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


def check_updatable(project: Path) -> dict[str, Any]:
    """Return the project's answers; raise with the fix if copier could not update it."""
    if not (project / ANSWERS_FILE).is_file():
        raise ProjectError(
            f"{project} has no {ANSWERS_FILE}; only projects generated from a template can be "
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
    return read_answers(project)


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
) -> UpdateResult:
    """Update `project` to `vcs_ref` (default: the newest template version).

    Changing the `server` answer needs `allow_server_change`: the old server's files are
    replaced, and the new server's user-owned files (scoring code, sample model) are added.
    """
    project = project.expanduser().resolve()
    answers = check_updatable(project)
    change = server_change(answers, data or {})
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
            data=dict(data or {}),
            vcs_ref=target_ref,
            defaults=True,
            overwrite=True,
            unsafe=False,
            quiet=True,
            conflict="inline",
            pretend=pretend,
            skip_answered=True,
        )
    except (KeyboardInterrupt, ScaffoldError):
        raise
    except Exception as error:
        lines = str(error).strip().splitlines()
        text = lines[0] if lines else type(error).__name__
        raise TemplateError(f"update failed: {text}") from error
    after = answers if pretend else read_answers(project)
    added = _add_missing_files(project, after) if change and not pretend else []
    return UpdateResult(
        path=project,
        from_version=answers.get("_commit"),
        to_version=target_ref if pretend else after.get("_commit"),
        conflicts=[] if pretend else find_conflicts(project),
        pretend=pretend,
        added=added,
    )


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
