"""A project's copier answers files: finding, reading and pinning them.

copier records the answers, the template location (`_src_path`) and the template version
(`_commit`, a tag name or `git describe` string) in `.copier-answers.yml`; a project with
several templates or deployments has one file each (`.copier-answers.<name>.yml`, the
pattern Renovate's copier manager also reads). scaffold adds `_scaffold_commit`: the full
commit the project was rendered from, so a tag moved or duplicated later is noticed
(copier ignores keys starting with `_` that it does not know, and plain `copier update`
rewrites the file without it; scaffold then falls back to the tag).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scaffold.errors import ProjectError, WriteError

DEFAULT = ".copier-answers.yml"
#: The commit the project was last rendered from (written by scaffold and by the bundled
#: template's answers file; `_copier_conf.vcs_ref_hash`).
PIN_KEY = "_scaffold_commit"
#: Answers files as copier names them (and as Renovate's copier manager finds them).
PATTERN = re.compile(r"^\.copier-answers(\.[^/]+)?\.ya?ml\Z")
#: Larger files are not answers files scaffold reads (answers are a few hundred bytes).
MAX_BYTES = 1 << 20


def find(project: Path) -> list[str]:
    """The answers files at the top of `project` (the default one first)."""
    try:
        names = [p.name for p in project.iterdir() if p.is_file() and PATTERN.match(p.name)]
    except OSError:
        return []
    return sorted(names, key=lambda name: (name != DEFAULT, name))


def load(project: Path, name: str = DEFAULT) -> dict[str, Any]:
    """The answers recorded in `project/name`; ProjectError (one line, with the fix) when
    the project or the file is missing, unreadable or not a YAML mapping."""
    import yaml

    if not project.exists():
        raise ProjectError(f"{project} does not exist; pass the folder of a generated project")
    if not project.is_dir():
        raise ProjectError(f"{project} is not a folder; pass the folder of a generated project")
    path = project / name
    if not path.is_file():
        raise ProjectError(_missing(project, name))
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ProjectError(f"{path} is larger than 1 MiB; it is not a copier answers file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ProjectError(f"{path} cannot be read: {reason}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ProjectError(
            f"{path} is not valid YAML{where}; fix it or restore it with "
            f"`git -C {project} checkout -- {name}`"
        ) from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ProjectError(
            f"{path} is not a mapping of answers; restore it with "
            f"`git -C {project} checkout -- {name}`"
        )
    return loaded


def _missing(project: Path, name: str) -> str:
    """Why `name` is missing, and the fix: deleted (git knows it), or never generated."""
    from scaffold.gitutil import git

    why = "updates read the template version and your answers from it"
    in_head = git("cat-file", "-t", f"HEAD:./{name}", cwd=project, check=False).strip()
    if in_head == "blob":
        return (
            f"{project / name} was deleted; restore it with `git -C {project} checkout HEAD "
            f"-- {name}` ({why})"
        )
    removed_in = git("log", "-1", "--format=%h", "--", name, cwd=project, check=False).strip()
    if removed_in:
        return (
            f"{project / name} was deleted in commit {removed_in}; restore it with "
            f"`git -C {project} checkout {removed_in}^ -- {name}` ({why})"
        )
    others = [n for n in find(project) if n != name]
    if others:
        return f"{project} has no {name}; its answers files: {', '.join(others)}"
    return (
        f"{project} has no {name}: it was not generated from a template (scaffold new), or "
        "the file was deleted; restore it from git history to update it"
    )


def pin(project: Path, name: str, commit: str) -> None:
    """Record `commit` as PIN_KEY in the answers file, keeping everything else as is."""
    path = project / name
    try:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        entry = f"{PIN_KEY}: {commit}\n"
        for index, line in enumerate(lines):
            if line.startswith(f"{PIN_KEY}:"):
                lines[index] = entry
                break
        else:
            after = next((i + 1 for i, line in enumerate(lines) if line.startswith("_commit:")), 0)
            if after == 0:  # after the leading comments
                after = next((i for i, line in enumerate(lines) if not line.startswith("#")), 0)
            lines.insert(after, entry)
        new = "".join(lines)
        if new != text:
            path.write_text(new, encoding="utf-8")
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or error}") from None


def template_of(answers: dict[str, Any], path: Path) -> tuple[str, str | None, str | None]:
    """(`_src_path`, `_commit`, pinned commit) of loaded answers; ProjectError without a
    template source."""
    src = answers.get("_src_path")
    if not isinstance(src, str) or not src.strip():
        raise ProjectError(
            f"{path} has no _src_path, so the template is unknown; add `_src_path: URL` "
            "(the template's location) and commit"
        )
    commit = answers.get("_commit")
    pinned = answers.get(PIN_KEY)
    return (
        src,
        None if commit is None else str(commit),
        str(pinned) if isinstance(pinned, str) and pinned else None,
    )
