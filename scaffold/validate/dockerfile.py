"""Dockerfile parsing for `scaffold validate`: the final stage, its bases, ENV, EXPOSE,
CMD/ENTRYPOINT and the COPY/ADD instructions that read the build context."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: A shell/Dockerfile variable reference: $NAME, ${NAME}, ${NAME:-default}.
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")


@dataclass(frozen=True)
class Command:
    """A Dockerfile CMD or ENTRYPOINT."""

    exec_form: bool
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Copy:
    """A COPY/ADD from the build context: sources (context-relative) to dest."""

    sources: tuple[str, ...]
    dest: str


@dataclass
class Dockerfile:
    """What the checks need from a Dockerfile: its final stage, and every external base.

    Attributes:
        path: The file.
        rel: Its project-relative name, used in problems.
        context: The build context folder.
        images: External base images of all stages as (image, line).
        final_base: The external image the final stage is built from (through the stages
            it derives from), as (image, line); None for `FROM scratch`.
        env: ENV of the final stage.
        expose: EXPOSEd ports of the final stage.
        cmd: CMD of the final stage, if any.
        entrypoint: ENTRYPOINT of the final stage, if any (args () for `ENTRYPOINT []`).
        copies: COPY/ADD instructions of the final stage that read the build context.
    """

    path: Path
    rel: str
    context: Path
    images: list[tuple[str, int]] = field(default_factory=list)
    final_base: tuple[str, int] | None = None
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    cmd: Command | None = None
    entrypoint: Command | None = None
    copies: list[Copy] = field(default_factory=list)

    @property
    def bases(self) -> list[tuple[str, int]]:
        """External base images, the final stage's first, then the other stages' (last
        first): the final one is what the container runs."""
        others = [i for i in reversed(self.images) if i != self.final_base]
        return ([self.final_base] if self.final_base else []) + others

    @property
    def command(self) -> tuple[str, ...]:
        """ENTRYPOINT + CMD arguments as the container runs them."""
        entry = self.entrypoint.args if self.entrypoint else ()
        return entry + (self.cmd.args if self.cmd else ())

    def local_path(self, container: str) -> Path | None:
        """Map a path inside the image back to the build context through COPY/ADD."""
        target = PurePosixPath(container)
        for copy in reversed(self.copies):
            for source in copy.sources:
                local = _copy_match(self.context, source, copy, target)
                if local is not None:
                    return local
        return None


def _copy_match(context: Path, source: str, copy: Copy, target: PurePosixPath) -> Path | None:
    local_source = (context / source).resolve()
    dest = PurePosixPath(copy.dest)
    into_dir = copy.dest.endswith("/") or len(copy.sources) > 1 or local_source.is_dir()
    landed = dest / local_source.name if into_dir and not local_source.is_dir() else dest
    if target == landed:
        return local_source
    if local_source.is_dir() and landed in target.parents:
        return local_source / target.relative_to(landed)
    return None


# --- Dockerfile parsing ----------------------------------------------------------------------
def _logical_lines(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield (KEYWORD, arguments, first line number), joining `\\` continuations."""
    buffer, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        start = start or number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        keyword, _, rest = (buffer + stripped).partition(" ")
        yield keyword.upper(), rest.strip(), start
        buffer, start = "", 0
    if buffer:
        keyword, _, rest = buffer.strip().partition(" ")
        yield keyword.upper(), rest.strip(), start


def _command(value: str, line: int) -> Command:
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(a, str) for a in parsed):
            return Command(True, tuple(parsed), line)
    return Command(False, tuple(_split(value)), line)


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value, comments=False)
    except ValueError:
        return value.split()


def _env_pairs(value: str) -> dict[str, str]:
    words = _split(value)
    if words and "=" not in words[0]:  # legacy `ENV KEY value words`
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


def _copy(value: str) -> Copy | None:
    match = re.fullmatch(r"((?:--\S+\s+)*)(.*)", value.strip(), re.S)
    flags, rest = (match.group(1), match.group(2)) if match else ("", value)
    if "--from" in flags:
        return None  # from another stage or image, not from the build context
    words = list(_command(rest, 0).args)
    return Copy(tuple(words[:-1]), words[-1]) if len(words) >= 2 else None


@dataclass
class _Stage:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    cmd: Command | None = None
    entrypoint: Command | None = None
    copies: list[Copy] = field(default_factory=list)
    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))
    base: tuple[str, int] | None = None


def parse_dockerfile(text: str, path: Path, rel: str, context: Path) -> Dockerfile:
    """Parse the parts of a Dockerfile the checks use (final stage + all base images)."""
    docker = Dockerfile(path=path, rel=rel, context=context)
    args: dict[str, str] = {}
    stages: list[_Stage] = []
    for keyword, value, line in _logical_lines(text):
        if keyword == "ARG" and not stages:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
        elif keyword == "FROM":
            stages.append(_new_stage(value, line, args, stages, docker))
        elif stages:
            _apply(stages[-1], keyword, value, line)
    if stages:
        final = stages[-1]
        docker.env, docker.expose, docker.copies = final.env, final.expose, final.copies
        docker.cmd, docker.entrypoint = final.cmd, final.entrypoint
        docker.final_base = final.base
    return docker


def _new_stage(
    value: str, line: int, args: dict[str, str], stages: list[_Stage], docker: Dockerfile
) -> _Stage:
    words = [w for w in value.split() if not w.startswith("--")]
    image = VARIABLE.sub(
        lambda m: args.get(m.group(1) or m.group(3) or "", m.group(0)), words[0] if words else ""
    )
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
    parent = next((s for s in stages if s.name and s.name == image.lower()), None)
    if parent is None:
        if image.lower() == "scratch":
            return _Stage(name.lower())
        docker.images.append((image, line))
        return _Stage(name.lower(), base=(image, line))
    return _Stage(
        name.lower(),
        dict(parent.env),
        list(parent.expose),
        parent.cmd,
        parent.entrypoint,
        list(parent.copies),
        parent.workdir,
        parent.base,
    )


def _apply(stage: _Stage, keyword: str, value: str, line: int) -> None:
    if keyword == "ENV":
        stage.env.update(_env_pairs(value))
    elif keyword == "EXPOSE":
        stage.expose += [int(p.split("/")[0]) for p in value.split() if p.split("/")[0].isdigit()]
    elif keyword == "CMD":
        stage.cmd = _command(value, line)
    elif keyword == "ENTRYPOINT":
        stage.entrypoint, stage.cmd = _command(value, line), None
    elif keyword == "WORKDIR":
        stage.workdir = stage.workdir / value.strip().strip("\"'")
    elif keyword in ("COPY", "ADD"):
        copy = _copy(value)
        if copy is not None:
            into = copy.dest.endswith("/") or copy.dest in (".", "./")
            stage.copies.append(
                Copy(copy.sources, str(stage.workdir / copy.dest) + ("/" if into else ""))
            )
