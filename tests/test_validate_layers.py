"""scaffold.validate imports in one direction: each module only imports modules below it.

Parsed with ast (function-level imports included), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO
from scaffold.servers import SERVERS

PACKAGE = REPO / "scaffold" / "validate"
#: Layer of every module of the package, bottom (0) to top; a module may import only
#: modules of a lower layer (so contracts never import each other, schema no contract).
LAYERS = {
    "scaffold.validate.dockerfile": 0,
    # protobuf text format (Triton's config.pbtxt): no scaffold.validate import at all.
    "scaffold.validate.pbtxt": 0,
    "scaffold.validate.model": 1,
    # What a COPY/ADD of the build context would put into the image (used by checks).
    "scaffold.validate.buildcontext": 1.5,
    # Generic checks on the model context that checks.py runs (pip pins, kept-out weights).
    "scaffold.validate.pins": 1.5,
    "scaffold.validate.weights": 1.5,
    "scaffold.validate.samples": 1.5,
    "scaffold.validate.checks": 2,
    # Unresolved conflicts left by an update (markers, .rej files): self-contained.
    "scaffold.validate.conflicts": 2,
    "scaffold.validate.contracts": 2,
    "scaffold.validate.contracts._common": 2,
    # Shared by the contracts of the servers on Azure ML inference images (minimal, mlflow).
    "scaffold.validate.contracts._azmlinfsrv": 2.5,
    **{f"scaffold.validate.contracts.{spec.contract}": 3 for spec in SERVERS.values()},
    "scaffold.validate.schema": 3,
    "scaffold.validate.runner": 4,
    "scaffold.validate": 5,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """scaffold.validate modules imported anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in LAYERS else node.module)
    return {name for name in found if name == "scaffold.validate" or name in LAYERS}


def test_every_module_has_a_layer() -> None:
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    assert modules == set(LAYERS), "give new modules a layer in LAYERS"


def test_imports_only_point_down() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        for imported in sorted(_imports(path)):
            if LAYERS[imported] >= LAYERS[name]:
                wrong.append(f"{name} ({LAYERS[name]}) imports {imported} ({LAYERS[imported]})")
    assert wrong == []


def test_the_old_flat_modules_are_gone() -> None:
    for old in ("checks", "contracts", "schema", "dockerfile"):
        assert not (REPO / "scaffold" / f"{old}.py").exists(), old


def test_the_layer_test_sees_a_violation(tmp_path: Path) -> None:
    """The parser catches lazy imports inside functions too."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from scaffold.validate import runner\n    import json\n")
    assert _imports(source) == {"scaffold.validate.runner"}
