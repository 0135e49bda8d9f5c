"""`scaffold validate`: the pip requirements the image installs, checked before any build.

The requirements files are those the Dockerfile installs (`pip install -r FILE`, mapped back
to the build context through its COPY instructions). Each pin is checked by
`scaffold.requirements`: offline rules always (local version labels, platform-only
packages, unreadable lines), the package index when it answers (missing projects and
versions, no file that installs on Linux x86_64 with the image's Python). The image's
Python comes from the base image's name (`...-py312-...`) or the server's facts.
"""

from __future__ import annotations

import re
import shlex

from scaffold import requirements
from scaffold.validate.model import Context

_PIP = re.compile(r"\bpip3?(?:\.\d+)?\s+install\b|\b-m\s+pip\s+install\b")


def installed_files(ctx: Context) -> list[str]:
    """Container paths the Dockerfile passes to `pip install -r`."""
    docker = ctx.dockerfile
    text = ctx.read(docker.path) if docker is not None else None
    if not text:
        return []
    found: list[str] = []
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        if not line.lstrip().upper().startswith("RUN") or not _PIP.search(line):
            continue
        try:
            words = shlex.split(line, comments=False)
        except ValueError:
            continue
        for i, word in enumerate(words[:-1]):
            if word in ("-r", "--requirement"):
                found.append(words[i + 1])
        found += [w.split("=", 1)[1] for w in words if w.startswith("--requirement=")]
    return found


def check_requirements(ctx: Context) -> None:
    """Report the pins of the image's requirements files that cannot install (the index is
    consulted unless `ctx.index` is off)."""
    docker = ctx.dockerfile
    if docker is None:
        return
    image = docker.images[-1][0] if docker.images else ""
    spec = ctx.spec
    python = requirements.python_of_image(image, spec.image_python if spec else "")
    target = requirements.Target(python=python)
    for container in installed_files(ctx):
        local = docker.local_path(container)
        if local is None or not local.is_file():
            continue
        text = ctx.read(local)
        if text is None:
            continue
        findings, _note = requirements.check_text(text, target, online=ctx.index)
        for finding in findings:
            report = ctx.warn if finding.severity == "warning" else ctx.error
            report(
                finding.code,
                ctx.rel(local),
                f"line {finding.line}",
                finding.message,
                finding.fix,
            )
