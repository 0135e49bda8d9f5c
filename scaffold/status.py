"""`scaffold status`: template drift across one project or a folder of many.

For each project: the template source, the version it was made from, the newest version
available, and whether updating would conflict with local edits (found by a trial update
in a throwaway clone, so the project itself is never touched).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from scaffold import template_source
from scaffold.errors import ScaffoldError
from scaffold.generate import ANSWERS_FILE, read_answers
from scaffold.gitutil import dirty_paths, git, is_inside_repo

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class ProjectStatus:
    """Drift of one project."""

    path: str
    server: str | None
    template: str
    current: str | None
    latest: str | None
    behind: bool
    conflicts: list[str] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def find_projects(roots: Iterable[Path], max_depth: int = 3) -> list[Path]:
    """Folders holding a .copier-answers.yml, at most `max_depth` levels below each root."""
    found: list[Path] = []
    for root in roots:
        root = root.expanduser().resolve()
        stack = [(root, 0)]
        while stack:
            folder, depth = stack.pop()
            if (folder / ANSWERS_FILE).is_file():
                found.append(folder)
                continue
            if depth < max_depth and folder.is_dir():
                stack.extend(
                    (child, depth + 1)
                    for child in sorted(folder.iterdir(), reverse=True)
                    if child.is_dir() and child.name not in SKIP_DIRS
                )
    return found


def _older(current: str, latest: str) -> bool:
    """True if tag `current` is an older release than `latest` (non-release tags are older)."""
    mine = template_source.release_version(current)
    return mine is None or mine < template_source.release_version(latest)


def latest_version(src: str) -> str | None:
    """Newest PEP 440 tag of the template at `src` (the bundled one is refreshed first)."""
    if src == template_source.CANONICAL_URL:
        template_source.materialise_bundled()
        src = str(template_source.bundled_repo_path())
    elif not ("://" in src or src.startswith("git@")):
        src = str(Path(src).expanduser().resolve())
    out = git("ls-remote", "--tags", "--refs", src, cwd=Path.cwd())
    tags = [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]
    versions = [t for t in tags if template_source.release_version(t) is not None]
    return max(versions, key=template_source.release_version) if versions else None


def _trial_update(project: Path, ref: str) -> list[str]:
    """Conflicts an update to `ref` would leave, found in a temporary clone."""
    from scaffold.update import update_project

    work = Path(tempfile.mkdtemp(prefix="scaffold-status-"))
    try:
        clone = work / project.name
        git("clone", "--quiet", str(project), str(clone), cwd=work)
        return update_project(clone, vcs_ref=ref).conflicts
    finally:
        shutil.rmtree(work, ignore_errors=True)


def project_status(project: Path, *, check_conflicts: bool = True) -> ProjectStatus:
    """Drift of `project`; problems become a note instead of an exception."""
    project = project.expanduser().resolve()
    try:
        answers = read_answers(project)
    except ScaffoldError as error:
        return ProjectStatus(str(project), None, "?", None, None, False, note=error.message)
    src = str(answers.get("_src_path", "?"))
    current = answers.get("_commit")
    status = ProjectStatus(
        str(project),
        answers.get("server"),
        src,
        None if current is None else str(current),
        latest=None,
        behind=False,
    )
    try:
        latest = latest_version(src)
    except ScaffoldError as error:
        return replace(status, note=error.message)
    behind = bool(latest and current and _older(str(current), latest))
    status = replace(status, latest=latest, behind=behind)
    if not behind or not check_conflicts or latest is None:
        return status
    if not is_inside_repo(project) or dirty_paths(project):
        return replace(status, note="not a clean git repository: conflicts not checked")
    try:
        return replace(status, conflicts=_trial_update(project, latest))
    except ScaffoldError as error:
        return replace(status, note=error.message)
