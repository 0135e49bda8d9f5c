"""What changed in a template between two versions, for the user to read before updating.

From the first source that has something: the template's own changelog at the new version
(`CHANGELOG.md` and the usual other names, Keep a Changelog or any `## <version>` headings),
the annotations of the release tags in between, or the commit subjects in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.template_repo import TemplateRepo

FILES = ("CHANGELOG.md", "CHANGELOG", "CHANGELOG.rst", "CHANGES.md", "HISTORY.md", "NEWS.md")
_HEADING = re.compile(r"^(#{1,3})\s*\[?v?(\d[^\]\s)]*)\]?")
MAX_LINES = 60


@dataclass(frozen=True)
class Changelog:
    """The changes between two versions, as lines, and where they come from."""

    source: str = ""
    lines: list[str] = field(default_factory=list)
    #: Lines left out to keep the output short.
    more: int = 0


def crosses_major(old: Any, new: Any) -> bool:
    """True if `new` has a higher major version than `old` (breaking changes expected)."""
    return old is not None and new is not None and new.release[0] > old.release[0]


def _sections(text: str, old: Any, new: Any) -> list[str]:
    from scaffold.template_repo import parse_version

    lines: list[str] = []
    keep, level = False, 0
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading and (not keep or len(heading.group(1)) <= level):
            version = parse_version(heading.group(2))
            keep = version is not None and (old is None or version > old) and version <= new
            level = len(heading.group(1))
        elif line.startswith("#") and keep and len(line) - len(line.lstrip("#")) <= level:
            keep = False  # a heading that is not a version (e.g. "## [Unreleased]")
        if keep:
            lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def between(repo: TemplateRepo, old_commit: str, old: Any, new_commit: str, new: Any) -> Changelog:
    """The template's changes after version `old` (at `old_commit`) up to `new`."""
    lines: list[str] = []
    source = ""
    if new is not None:
        for name in FILES:
            text = repo.read(new_commit, name)
            if text:
                lines, source = _sections(text, old, new), name
                if lines:
                    break
    if not lines and new is not None:
        for tag in repo.releases(prereleases=True):
            if (old is None or tag.version > old) and tag.version <= new:
                message = repo.git(
                    "for-each-ref", f"refs/tags/{tag.name}", "--format=%(contents)", check=False
                ).strip()
                if message and tag.message:  # annotated
                    lines += [f"{tag.name}:", *(f"  {line}" for line in message.splitlines())]
        source = "tag annotations" if lines else source
    if not lines:
        lines = [f"- {subject}" for subject in repo.log(old_commit, new_commit)]
        source = "commit messages" if lines else ""
    more = max(0, len(lines) - MAX_LINES)
    return Changelog(source, lines[:MAX_LINES], more)
