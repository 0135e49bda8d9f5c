"""`scaffold validate`: find, before any build or deploy, what Azure ML would only report at
deploy time.

A package with one direction of imports (tests/test_validate_layers.py checks it):

    dockerfile           the Dockerfile parser (no scaffold.validate imports)
    model                problems, report, known keys, routes, model mount, Context
    checks               generic checks that need no SDK
    contracts.<server>   one cross-file contract per server (named by the registry)
    schema               azure-ai-ml's loaders (imported lazily)
    runner               validate_project: load, detect, run all of the above, report
    (this file)          the public names

Public API: `validate_project`, `ValidationReport`, `Problem`.
"""

from __future__ import annotations

from scaffold.validate.model import Problem, ValidationReport
from scaffold.validate.runner import validate_project

__all__ = ["Problem", "ValidationReport", "validate_project"]
