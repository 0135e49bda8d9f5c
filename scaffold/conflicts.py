"""Unresolved conflicts in a project: what an update (copier's or git's) left to resolve.

copier exits 0 even when it leaves conflicts: inline markers (`<<<<<<< before updating` ...
`>>>>>>> after updating`, recorded as unmerged in git's index until `git add`) or, with
`--conflict rej`, `*.rej` files beside files that got the template's version. Once
`git add`ed or committed, only the markers and `.rej` files are left to see. `scan_conflicts` finds
all three kinds; `sides` splits a file with markers into the two ways of resolving it
(used to predict which of the user's values each way would lose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from scaffold.gitutil import git

Kind = Literal["markers", "rej", "unmerged"]
_START = re.compile(r"^<{7}(?: |$)")
_BASE = re.compile(r"^\|{7}(?: |$)")
_MIDDLE = re.compile(r"^={7}$")
_END = re.compile(r"^>{7}(?: |$)")
#: Files larger than this are not scanned for markers (generated data, models).
MAX_SCAN_BYTES = 2 << 20
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache"}


@dataclass(frozen=True)
class Conflict:
    """One file left unresolved."""

    path: str
    kind: Kind
    #: 1-based line numbers of the conflict starts (markers), else empty.
    lines: list[int] = field(default_factory=list)

    def describe(self) -> str:
        """The file and what is unresolved in it, in words."""
        if self.kind == "rej":
            target = self.path.removesuffix(".rej")
            return f"{self.path} (rejected changes of {target} to apply by hand)"
        if self.kind == "unmerged":
            return f"{self.path} (unmerged in git: `git add` it once resolved)"
        where = ", ".join(str(n) for n in self.lines[:5])
        return f"{self.path} (conflict markers at line {where})"


def marker_lines(text: str) -> list[int]:
    """Line numbers (1-based) where complete conflict blocks start in `text`."""
    starts: list[int] = []
    state, start = 0, 0
    for number, line in enumerate(text.splitlines(), 1):
        if _START.match(line):
            state, start = 1, number
        elif state and _MIDDLE.match(line):
            state = 2
        elif state == 2 and _END.match(line):
            starts.append(start)
            state = 0
    return starts


def has_markers(text: str) -> bool:
    """True if `text` holds at least one complete conflict block."""
    return bool(marker_lines(text))


def sides(text: str) -> tuple[str, str]:
    """`text` resolved both ways: (keeping the first side of every conflict, the local
    version ("before updating" in copier's markers), keeping the second side, the
    incoming one ("after updating", the template's)). A diff3 base section is dropped."""
    ours: list[str] = []
    theirs: list[str] = []
    state = "both"
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if state == "both" and _START.match(bare):
            state = "ours"
        elif state in {"ours", "base"} and _BASE.match(bare):
            state = "base"
        elif state in {"ours", "base"} and _MIDDLE.match(bare):
            state = "theirs"
        elif state == "theirs" and _END.match(bare):
            state = "both"
        elif state == "both":
            ours.append(line)
            theirs.append(line)
        elif state == "ours":
            ours.append(line)
        elif state == "theirs":
            theirs.append(line)
    return "".join(ours), "".join(theirs)


def _candidates(project: Path) -> list[str]:
    """Files to scan: git's tracked and untracked (not ignored) files, else every file."""
    out = git(
        "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=project, check=False
    )
    if out:
        return sorted({p for p in out.split("\0") if p})
    found = []
    for path in project.rglob("*"):
        relative = path.relative_to(project)
        if path.is_file() and not (set(relative.parts) & _SKIP_DIRS):
            found.append(relative.as_posix())
    return sorted(found)


def _ignored_rej(project: Path) -> list[str]:
    """`.rej` files git ignores (a `*.rej` rule must not hide rejected changes)."""
    out = git(
        "ls-files", "-z", "--others", "--ignored", "--exclude-standard", cwd=project, check=False
    )
    return [p for p in out.split("\0") if p.endswith(".rej")]


def scan_conflicts(project: Path) -> list[Conflict]:
    """Every unresolved conflict in `project`: unmerged paths, `.rej` files, markers."""
    found: dict[str, Conflict] = {}
    unmerged = git("diff", "--name-only", "-z", "--diff-filter=U", cwd=project, check=False)
    for path in filter(None, unmerged.split("\0")):
        found[path] = Conflict(path, "unmerged")
    for path in [*_candidates(project), *_ignored_rej(project)]:
        target = project / path
        if path.endswith(".rej"):
            if target.is_file():
                found[path] = Conflict(path, "rej")
            continue
        try:
            if not target.is_file() or target.stat().st_size > MAX_SCAN_BYTES:
                continue
            data = target.read_bytes()
        except OSError:
            continue
        if b"<<<<<<<" not in data or b"\0" in data[:8192]:
            continue
        lines = marker_lines(data.decode("utf-8", errors="replace"))
        if lines:
            found[path] = Conflict(path, "markers", lines)
    return sorted(found.values(), key=lambda c: c.path)
