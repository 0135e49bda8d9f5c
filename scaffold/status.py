"""`scaffold status`: template drift across one project or a folder of many.

For each project (and each answers file in it): the template, the version it was made
from and the commit it pinned, the newest release and its commit, half-finished updates
(conflict markers, `.rej` files, unmerged paths), and whether updating would conflict or
lose an edit (a trial update in a throwaway clone: the project is never touched). One
project that cannot be checked (unreadable answers, a template that moved or vanished)
becomes a row saying why; the others are still checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from scaffold import answersfile
from scaffold.conflicts import scan_conflicts
from scaffold.errors import ScaffoldError
from scaffold.gitutil import dirty_paths, is_inside_repo

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class ProjectStatus:
    """Drift of one project (one answers file of it)."""

    path: str
    server: str | None
    template: str
    current: str | None
    latest: str | None
    behind: bool
    #: Conflicts a trial update to `latest` left.
    conflicts: list[str] = field(default_factory=list)
    answers_file: str = answersfile.DEFAULT
    #: The commit the project was made from (pinned, else what `current` names now).
    current_commit: str | None = None
    latest_commit: str | None = None
    #: Edits of the user's the trial update lost (or would lose with the template's side
    #: of its conflicts), described.
    lost: list[str] = field(default_factory=list)
    #: Conflicts an earlier update left in the project (half-finished), described.
    unresolved: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why the project could not be checked ("" when it was).
    error: str = ""
    #: Whether the trial update ran.
    trial: bool = False

    @property
    def state(self) -> str:
        """error, unresolved, behind or current."""
        if self.error:
            return "error"
        if self.unresolved:
            return "unresolved"
        return "behind" if self.behind else "current"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (with `state`)."""
        return {**asdict(self), "state": self.state}


def find_projects(roots: Iterable[Path], max_depth: int = 3) -> list[Path]:
    """Folders holding a copier answers file, at most `max_depth` levels below each root."""
    found: list[Path] = []
    for root in roots:
        root = root.expanduser().resolve()
        stack = [(root, 0)]
        while stack:
            folder, depth = stack.pop()
            if answersfile.find(folder):
                found.append(folder)
                continue
            if depth >= max_depth or not folder.is_dir():
                continue
            try:
                children = sorted(folder.iterdir(), reverse=True)
            except OSError:
                continue
            stack.extend(
                (child, depth + 1)
                for child in children
                if child.is_dir() and not child.is_symlink() and child.name not in SKIP_DIRS
            )
    return found


def project_status(
    project: Path, *, check_conflicts: bool = True, answers_file: str = answersfile.DEFAULT
) -> ProjectStatus:
    """Drift of `project`; any problem becomes the row's `error`, never an exception."""
    from scaffold.update import apply_update, plan_update

    project = project.expanduser().resolve()
    row = ProjectStatus(str(project), None, "?", None, None, False, answers_file=answers_file)
    try:
        answers = answersfile.load(project, answers_file)
        row = replace(
            row,
            server=_text(answers.get("server")),
            template=_text(answers.get("_src_path")) or "?",
            current=_text(answers.get("_commit")),
        )
        plan = plan_update(project, answers_file=answers_file)
    except ScaffoldError as error:
        return replace(row, error=error.message)
    left = scan_conflicts(project) if is_inside_repo(project) else []
    behind = plan.to_commit != plan.from_commit
    row = replace(
        row,
        current_commit=plan.from_commit,
        latest=plan.to_ref,
        latest_commit=plan.to_commit,
        behind=behind,
        unresolved=[c.describe() for c in left],
        notes=list(plan.notes),
    )
    if not behind or not check_conflicts:
        return row
    if left:
        return replace(row, notes=[*row.notes, "unresolved conflicts: trial update skipped"])
    if not is_inside_repo(project) or dirty_paths(project):
        return replace(row, notes=[*row.notes, "not a clean git repository: trial update skipped"])
    try:
        result = apply_update(plan, pretend=True)
    except ScaffoldError as error:
        return replace(row, error=f"trial update failed: {error.message}")
    lost = [edit.describe() for edit in result.check.lost]
    for path, sides in result.check.predicted.items():
        lost += [
            f"{e.describe()} [if the template's side of {path} is taken]" for e in sides["template"]
        ]
    if not result.check.ran:
        return replace(row, error=f"trial update not checked: {result.check.error}")
    return replace(row, conflicts=result.conflicts, lost=lost, trial=True)


def fleet_status(roots: Iterable[Path], *, check_conflicts: bool = True) -> list[ProjectStatus]:
    """`project_status` of every project (every answers file) under `roots`."""
    rows = []
    for project in find_projects(roots):
        for name in answersfile.find(project):
            rows.append(project_status(project, check_conflicts=check_conflicts, answers_file=name))
    return rows


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
