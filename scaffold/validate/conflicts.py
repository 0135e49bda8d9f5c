"""Unresolved conflicts left by an update (a self-contained check of `scaffold validate`).

A file with conflict markers does not load (YAML) or does not run (code), and a `.rej`
file holds changes that were never applied: copier exits 0 with both, and once they are
`git add`ed or committed nothing else points at them. Each is an error naming the file
and, for markers, the lines.
"""

from __future__ import annotations

from pathlib import Path

from scaffold.conflicts import scan_conflicts
from scaffold.validate.model import Problem


def check(root: Path) -> list[Problem]:
    """One error per file with conflict markers, `.rej` file or unmerged path in `root`."""
    problems = []
    for conflict in scan_conflicts(root):
        if conflict.kind == "rej":
            target = conflict.path.removesuffix(".rej")
            problems.append(
                Problem(
                    "error",
                    "update.rejected",
                    conflict.path,
                    "",
                    f"{conflict.path} holds changes an update could not apply to {target}",
                    f"apply them to {target} by hand, then delete {conflict.path} "
                    "(scaffold update --verify checks nothing of yours was lost)",
                )
            )
        else:
            where = f" at line {', '.join(map(str, conflict.lines[:5]))}" if conflict.lines else ""
            problems.append(
                Problem(
                    "error",
                    "update.conflict",
                    conflict.path,
                    "",
                    f"{conflict.path} has unresolved conflict markers{where}"
                    if conflict.kind == "markers"
                    else f"{conflict.path} is unmerged in git",
                    "keep the right lines between '<<<<<<<' and '>>>>>>>', remove the markers, "
                    "then git add (scaffold update --verify checks nothing of yours was lost)",
                )
            )
    return problems
