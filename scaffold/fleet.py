"""`scaffold update --all DIR`: update every project of a folder, each on its own git branch.

For each project found (each answers file of it), on a new branch named after the target
version (`scaffold/update-v1.2.0`, plus the project's folder inside a repository holding
several), the update is applied and committed as it is, conflicts included (markers or
`.rej` files committed for review, the way Renovate's copier manager proposes them), with a
commit message listing the conflicts, the edits the update did not keep and the template's
changelog. The branch the project was on is checked out again afterwards, untouched. A
project that is dirty, has unresolved conflicts, or fails is reported and left as it was;
the others go on.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scaffold import answersfile
from scaffold.conflicts import scan_conflicts
from scaffold.errors import GitError, Interrupted, ScaffoldError
from scaffold.gitutil import dirty_paths, git, identity_env, is_inside_repo, restore_folder
from scaffold.status import find_projects


@dataclass(frozen=True)
class FleetRow:
    """What `update --all` did with one project (one answers file)."""

    path: str
    answers_file: str
    #: updated, conflicts, lost, current, skipped, error
    outcome: str
    from_version: str | None = None
    to_version: str | None = None
    branch: str = ""
    commit: str = ""
    conflicts: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    #: For conflicted files: what resolving every conflict with the template's side loses.
    predicted: list[str] = field(default_factory=list)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def branch_name(prefix: str, version: str, project: Path, answers_file: str) -> str:
    """The branch for updating `project` to `version`: `PREFIX-VERSION`, plus the project's
    folder when it is not the repository's top, and the answers file when not the default."""
    parts = [f"{prefix}-{version}"]
    inner = git("rev-parse", "--show-prefix", cwd=project).strip().strip("/")
    if inner:
        parts.append(inner)
    if answers_file != answersfile.DEFAULT:
        parts.append(answers_file.removeprefix(".copier-answers.").rsplit(".", 1)[0])
    name = "/".join(parts)
    return re.sub(r"[^A-Za-z0-9._/-]+", "-", name).replace("..", ".").strip("/.-")


def update_all(
    roots: Iterable[Path],
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    conflict: str = "inline",
    branch_prefix: str = "scaffold/update",
) -> list[FleetRow]:
    """Update every project under `roots` on its own branch (see the module docstring)."""
    rows = []
    for project in find_projects(roots):
        for name in answersfile.find(project):
            rows.append(
                _update_one(project, name, vcs_ref, dict(data or {}), conflict, branch_prefix)
            )
    return rows


def _update_one(
    project: Path,
    name: str,
    vcs_ref: str | None,
    data: dict[str, Any],
    conflict: str,
    prefix: str,
) -> FleetRow:
    from scaffold.update import plan_update

    row = FleetRow(str(project), name, "error")
    try:
        if not is_inside_repo(project):
            return _with(row, outcome="skipped", detail="not a git repository")
        dirty = dirty_paths(project)
        if dirty:
            return _with(row, outcome="skipped", detail=f"uncommitted changes ({dirty[0]} ...)")
        left = scan_conflicts(project)
        if left:
            return _with(
                row, outcome="skipped", detail=f"unresolved conflicts ({left[0].describe()})"
            )
        plan = plan_update(project, vcs_ref=vcs_ref, data=data, answers_file=name)
    except ScaffoldError as error:
        return _with(row, detail=error.message)
    row = _with(row, from_version=plan.from_ref, to_version=plan.to_ref)
    if plan.up_to_date:
        return _with(row, outcome="current", detail="already at the target version")
    branch = branch_name(prefix, plan.to_ref, project, name)
    exists = git(
        "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=project, check=False
    )
    if exists.strip():
        return _with(
            row, detail=f"branch {branch} exists; merge or delete it (git branch -D {branch})"
        )
    return _on_branch(project, plan, branch, data, conflict, row)


def _on_branch(
    project: Path, plan: Any, branch: str, data: dict[str, Any], conflict: str, row: FleetRow
) -> FleetRow:
    from scaffold.update import apply_update

    original = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=project, check=False).strip()
    head = git("rev-parse", "HEAD", cwd=project).strip()
    git("checkout", "--quiet", "-b", branch, cwd=project)
    try:
        result = apply_update(plan, data=data, conflict=conflict)  # type: ignore[arg-type]
        git("add", "--all", "--", ".", cwd=project)
        git(
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "-m",
            _message(project, plan, result),
            cwd=project,
            env=identity_env(project),
        )
        commit = git("rev-parse", "HEAD", cwd=project).strip()
    except ScaffoldError as error:
        _abandon(project, original or head, head, branch)
        return _with(row, branch="", detail=error.message)
    except KeyboardInterrupt as stopped:
        _abandon(project, original or head, head, branch)
        signum = stopped.signum if isinstance(stopped, Interrupted) else 2
        raise Interrupted(
            signum, note=f"{project} was left as it was (branch {branch} removed)"
        ) from None
    git("checkout", "--quiet", original or head, cwd=project)
    lost = [edit.describe() for edit in result.check.lost]
    if not result.check.ran:
        lost.append(f"(not checked: {result.check.error})")
    outcome = "conflicts" if result.conflicts else "lost" if lost else "updated"
    predicted = [
        e.describe() for sides in result.check.predicted.values() for e in sides["template"]
    ]
    return _with(
        row,
        outcome=outcome,
        branch=branch,
        commit=commit,
        conflicts=result.conflicts,
        lost=lost,
        predicted=predicted,
        detail=f"review and merge branch {branch}",
    )


def _abandon(project: Path, original: str, head: str, branch: str) -> None:
    """Back to where the project was; the half-made branch removed."""
    with contextlib.suppress(GitError):
        restore_folder(project, head)
        git("checkout", "--quiet", original, cwd=project)
        git("branch", "--quiet", "-D", branch, cwd=project)


def _message(project: Path, plan: Any, result: Any) -> str:
    lines = [f"Update {project.name} from template {plan.from_ref} to {plan.to_ref}", ""]
    if result.conflict_details:
        lines.append("Conflicts to resolve on this branch (committed as they are):")
        for conflict in result.conflict_details:
            lines.append(f"  - {conflict.describe()}")
            sides = result.check.predicted.get(conflict.path, {})
            lines += [
                f"      taking the template's side loses {e.describe()}"
                for e in sides.get("template", [])
            ]
        lines.append("Then check: scaffold update --verify --since HEAD~1")
        lines.append("")
    if result.check.lost:
        lines.append("Edits of yours the update did not keep (put them back):")
        lines += [f"  - {e.describe()}" for e in result.check.lost]
        lines.append("")
    if not result.check.ran:
        lines += [f"Not checked for lost edits: {result.check.error}", ""]
    if plan.changelog.lines:
        lines.append(f"Template changes ({plan.changelog.source}):")
        lines += [f"  {line}" for line in plan.changelog.lines]
        lines.append("")
    lines.append(f"Template commit {plan.to_commit}. Made by `scaffold update --all`.")
    return "\n".join(lines) + "\n"


def _with(row: FleetRow, **changes: Any) -> FleetRow:
    from dataclasses import replace

    return replace(row, **changes)
