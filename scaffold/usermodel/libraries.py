"""Facts about model libraries (`templates/_model_libraries.json`), beside the server facts.

Which PyPI distribution provides a module a pickle names, which index holds a local-version
build (`torch==2.13.0+cpu`), which packages exist for one platform only, which R packages
ship with R, which CRAN package serves an R model class. Data, not code: checks read them
through here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from scaffold.servers import facts_file

LIBRARIES_FILE = "_model_libraries.json"


@cache
def _facts() -> dict[str, Any]:
    path = facts_file().with_name(LIBRARIES_FILE)
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _table(key: str) -> dict[str, Any]:
    return {k: v for k, v in _facts()[key].items() if not k.startswith("_")}


def normalize(name: str) -> str:
    """A distribution name as indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution_for(module: str) -> str:
    """The PyPI distribution providing top-level `module` (the module name when unknown)."""
    return str(_table("python_distributions").get(module, module))


def sklearn_dependencies() -> list[str]:
    """scikit-learn's own runtime dependencies."""
    return list(_facts()["scikit_learn_dependencies"])


def local_version_index(name: str, label: str) -> str | None:
    """The index URL holding `name==X+label` builds (PyTorch's), or None when unknown."""
    entry = _table("local_version_indexes").get(normalize(name))
    if not entry or not re.match(entry[0], label):
        return None
    return str(entry[1]).replace("{label}", label)


def platform_only(name: str) -> str | None:
    """The only platform `name` installs on (e.g. "Windows"), or None."""
    value = _table("platform_only").get(normalize(name))
    return str(value) if value else None


def r_base_packages() -> frozenset[str]:
    """Packages that ship with R itself (never installed from CRAN)."""
    return frozenset(_facts()["r_base_packages"])


def r_package_for_class(name: str) -> str | None:
    """The CRAN package whose predict() method serves R objects of S3 class `name`."""
    value = _table("r_model_classes").get(name)
    return str(value) if value else None
