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


def known_module(module: str) -> bool:
    """Whether top-level `module` is known to come from a PyPI distribution (a pickle may
    also name the user's own modules, which no index serves)."""
    return module in _table("python_distributions")


def companions(module: str) -> list[str]:
    """Distributions a library needs to load its pickles, beyond its own requirements
    (XGBoost's scikit-learn wrappers need scikit-learn)."""
    return list(_table("companion_distributions").get(module, []))


def _release(version: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", version.split("+")[0])[:3]
    return tuple(int(p) for p in parts)


def needs_numpy1(distribution: str, version: str) -> bool:
    """Whether `distribution==version` was built against numpy 1 (its compiled extensions
    fail to import under numpy 2): older than the first release built for numpy 2."""
    first = _table("numpy2_since").get(normalize(distribution))
    return bool(first) and _release(version) < _release(str(first))


def system_packages(distributions: list[str]) -> list[str]:
    """Debian/Ubuntu packages the distributions' wheels load but do not bundle (LightGBM's
    OpenMP runtime, libgomp1), in a stable order."""
    table = _table("system_packages")
    found: list[str] = []
    for dist in distributions:
        found += [p for p in table.get(normalize(dist), []) if p not in found]
    return found


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


def r_predictors(name: str) -> dict[str, list[str]] | None:
    """Where a model of S3 class `name` fitted without a formula records its predictors:
    {"names": path to their names | "names_of": path to a list named by them, "levels":
    path to a list of factor levels by predictor}."""
    value = _table("r_predictors").get(name)
    return dict(value) if isinstance(value, dict) else None


def r_package_for_class(name: str) -> str | None:
    """The CRAN package whose predict() method serves R objects of S3 class `name`."""
    value = _table("r_model_classes").get(name)
    return str(value) if value else None
