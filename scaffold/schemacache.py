"""Remembers which deployment files azure-ai-ml's schema already accepted, so that the
validation before every `scaffold run` costs the SDK's import (about 1.5 s) only when
the YAML changed.

The schema step reads nothing but the project's YAML files (it hands the SDK empty
stand-ins for model and build folders), so its verdict is a function of their bytes and
of the azure-ai-ml and scaffold versions: that is the key. Only clean verdicts are kept;
a project with schema errors is checked again every time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from scaffold import __version__


def _sdk_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("azure-ai-ml")
    except metadata.PackageNotFoundError:
        return None


def _key(project: Path) -> str | None:
    sdk = _sdk_version()
    if sdk is None:
        return None
    digest = hashlib.sha256(f"scaffold {__version__}\nazure-ai-ml {sdk}\n".encode())
    root = project.expanduser().resolve()
    for path in sorted([*root.glob("*.yml"), *root.glob("*.yaml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _marker(key: str) -> Path:
    from scaffold.template_source import cache_dir

    return cache_dir() / "schema-clean" / key


def is_clean(project: Path) -> bool:
    """The schema accepted exactly these YAML files before, with these versions."""
    key = _key(project)
    return key is not None and _marker(key).is_file()


def remember_clean(project: Path) -> None:
    """Record that the schema accepted the project's current YAML files (best effort)."""
    key = _key(project)
    if key is None:
        return
    marker = _marker(key)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(project.expanduser().resolve()) + "\n")
    except OSError:
        pass  # a read-only cache only costs the next run the schema step
