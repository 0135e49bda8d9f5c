"""What the build context puts into the image: secrets a COPY or ADD would bake in.

`COPY . /app` copies every file of the build context that `.dockerignore` does not exclude;
a `.env`, a private key or a cloud credentials file in that folder lands in an image layer,
which is pushed to the workspace's registry for anyone with pull rights. The check finds
such files (names and contents, as defined in scaffold.sensitive) among what each COPY/ADD
of the Dockerfile takes, with `.dockerignore` applied as Docker applies it (`DockerIgnore`,
the semantics of moby's patternmatcher: `**`, `!` exceptions, the last match wins, a
matched folder excludes its contents), and reports:

- an error when a file is certainly a secret (a key or token found in it, or a name such
  as `.env`, `id_rsa`, `credentials`);
- a warning for names that are secrets only sometimes (`*.pem` certificates, `.git/`).

The walk is bounded (`MAX_ENTRIES` entries, `MAX_CONTENT` bytes read) so validation stays
fast on large contexts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from scaffold import sensitive
from scaffold.validate.dockerfile import ContextCopy, context_copies
from scaffold.validate.model import Context

#: Files and folders looked at per check, and bytes of content searched for secrets.
MAX_ENTRIES = 20_000
MAX_CONTENT = 64 << 20
_WILDCARDS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    exclusion: bool


def _compile(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression (moby patternmatcher's translation:
    `**` any number of folders, `*` and `?` within one name, `\\` escapes)."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out.append(".*" if i >= len(pattern) else "(.*/)?")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch in "[]":
            out.append(ch)
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(re.escape(pattern) + "$")


@dataclass
class DockerIgnore:
    """The build context's `.dockerignore`, applied as Docker applies it."""

    patterns: list[_Pattern] = field(default_factory=list)

    @classmethod
    def load(cls, context: Path) -> DockerIgnore:
        """The patterns of `context/.dockerignore` (none when it is missing or unreadable)."""
        from scaffold import limits

        try:
            text = limits.read_text(context / ".dockerignore")
        except (OSError, ValueError):
            return cls()
        patterns = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            line = line[1:].strip() if exclusion else line
            line = os.path.normpath(line).replace(os.sep, "/").lstrip("/") or "."
            if line != ".":
                patterns.append(_Pattern(_compile(line), exclusion))
        return cls(patterns)

    @property
    def has_exceptions(self) -> bool:
        """Whether a `!` line can bring back something below an excluded folder."""
        return any(p.exclusion for p in self.patterns)

    def excludes(self, relative: str) -> bool:
        """Whether the context-relative POSIX path is left out of the build context."""
        parents = relative.split("/")[:-1]
        excluded = False
        for pattern in self.patterns:
            hit = bool(pattern.regex.match(relative)) or any(
                pattern.regex.match("/".join(parents[: i + 1])) for i in range(len(parents))
            )
            if hit:
                excluded = not pattern.exclusion
        return excluded


@dataclass(frozen=True)
class Finding:
    """A file of the context that a COPY/ADD would put into the image."""

    path: str
    what: str
    certain: bool


@dataclass
class _Budget:
    entries: int = MAX_ENTRIES
    content: int = MAX_CONTENT


def check_build_context(ctx: Context) -> None:
    """Report each COPY/ADD of the build context that would put a secret into the image."""
    docker = ctx.dockerfile
    if docker is None:
        return
    text = ctx.read(docker.path) or ""
    ignore = DockerIgnore.load(docker.context)
    budget = _Budget()
    for copy in context_copies(text):
        findings = _findings(docker.context, copy, ignore, budget)
        if findings:
            _report(ctx, docker.rel, copy, findings)


def _findings(
    context: Path, copy: ContextCopy, ignore: DockerIgnore, budget: _Budget
) -> list[Finding]:
    root = context.resolve()
    found: list[Finding] = []
    for source in copy.copy.sources:
        if "://" in source or source.startswith(("<<", "git@")):
            continue  # a URL, a git source or a heredoc: nothing from the context
        relative = source.lstrip("/") or "."
        matches = sorted(root.glob(relative)) if _WILDCARDS.search(relative) else [root / relative]
        for path in matches:
            if path.is_symlink() or not path.exists():
                continue
            try:
                rel = path.resolve().relative_to(root).as_posix()
            except ValueError:
                continue  # outside the context: Docker refuses it anyway
            found += _walk(root, "" if rel == "." else rel, ignore, budget)
    return found


def _walk(root: Path, start: str, ignore: DockerIgnore, budget: _Budget) -> list[Finding]:
    found: list[Finding] = []
    pending = [start]
    while pending and budget.entries > 0:
        rel = pending.pop()
        path = root / rel if rel else root
        budget.entries -= 1
        excluded = bool(rel) and ignore.excludes(rel)
        if excluded and not (path.is_dir() and not path.is_symlink() and ignore.has_exceptions):
            continue
        name_says = sensitive.secret_name(rel) if rel and not excluded else None
        if name_says is not None:
            found.append(Finding(rel, name_says, sensitive.certain(rel)))
            continue  # a secret folder (.ssh, .git ...) is reported once, not file by file
        if path.is_dir() and not path.is_symlink():
            try:
                names = sorted(entry.name for entry in path.iterdir())
            except OSError:
                continue
            pending += [f"{rel}/{name}" if rel else name for name in reversed(names)]
        elif path.is_file() and not excluded and budget.content > 0:
            size = path.stat().st_size
            if size <= sensitive.CONTENT_LIMIT:
                budget.content -= size
                content_says = sensitive.secret_content(path)
                if content_says is not None:
                    found.append(Finding(rel, content_says, True))
    return found


def _report(ctx: Context, dockerfile: str, copy: ContextCopy, findings: list[Finding]) -> None:
    certain = [f for f in findings if f.certain]
    shown = ", ".join(f"{f.path} ({f.what})" for f in (certain or findings)[:5])
    more = len(certain or findings) - 5
    sources = " ".join(copy.copy.sources)
    instruction = f"{copy.keyword} {sources} {copy.copy.dest}"
    message = (
        f"`{instruction}` puts {'secrets' if certain else 'files that may hold secrets'} into "
        f"the image, where anyone who can pull it reads them: {shown}"
        + (f" and {more} more" if more > 0 else "")
    )
    names = sorted({f"**/{Path(f.path).name}" for f in (certain or findings)})[:4]
    fix = (
        f"Exclude them in {Path(dockerfile).parent.as_posix()}/.dockerignore "
        f"({', '.join(names)}), or copy only the files the image needs; give the container "
        "secrets at run time (environment_variables from Key Vault, a managed identity) "
        "or with `RUN --mount=type=secret` while building"
    )
    key = f"{copy.keyword} (line {copy.line})"
    report = ctx.error if certain else ctx.warn
    report("image.secret", dockerfile, key, message, fix)
