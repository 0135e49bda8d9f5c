"""Plumber model adapter: an R model saved with saveRDS() (`.rds`) or a carrier crate
(`crate.bin`) is copied into model/, where src/plumber.R finds and serves either.

The stream is read here without R (`rds`): the R version that wrote it, the packages its
objects point at (namespaces, and the package of its class) become the `r_packages` the
image installs, and the model's formula (`terms`: its variables and their classes) and
training data (`lm(...)$model`) give a sample request of two records the model accepts.
The sample response is recorded by running the model in R inside the project's own image
(built from the generated Dockerfile, started as `scaffold run` starts it): R is not needed
where scaffold runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import (
    ModelFile,
    Prepared,
    libraries,
    model_dir,
    modelenv,
    rds,
    remove,
)

#: Leading bytes of an RDS stream: gzip, bzip2, xz (saveRDS compressions) or uncompressed.
RDS_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"X\n", b"A\n", b"B\n")
ROWS = 2


@dataclass
class RModel:
    """What an RDS stream tells about the model in it."""

    writer: str = ""
    min_reader: str = ""
    classes: list[str] = field(default_factory=list)
    #: CRAN packages the model needs at scoring time (R's own packages left out).
    packages: list[str] = field(default_factory=list)
    #: Predictor variables: (data column, R class, model-frame column), in formula order.
    columns: list[tuple[str, str, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] | None = None
    #: Why the stream was not read past a bound (it counts as too large to inspect), or "".
    unread: str = ""


def _objects(root: Any) -> list[rds.RObj]:
    """The model object(s): a crate's captured objects (`model` first), else the root."""
    if isinstance(root, rds.RObj) and root.type == rds.CLOSXP and isinstance(root.value, dict):
        env = root.value.get("env")
        bindings = env.value if isinstance(env, rds.RObj) and isinstance(env.value, dict) else {}
        found = [bindings["model"]] if isinstance(bindings.get("model"), rds.RObj) else []
        found += [v for k, v in bindings.items() if k != "model" and isinstance(v, rds.RObj)]
        return found
    if _plain_list(root):
        # saveRDS(list(model = fit, ...)): src/plumber.R serves the `model` element
        model = root.get("model")
        return [model] if isinstance(model, rds.RObj) else []
    return [root] if isinstance(root, rds.RObj) else []


def _plain_list(obj: Any) -> bool:
    """A list without a class (a model always has one): a bundle, not a model."""
    return isinstance(obj, rds.RObj) and obj.type == rds.VECSXP and not obj.classes


def _predictors(model: rds.RObj) -> list[tuple[str, str, str]]:
    """(column, R class, "") of each predictor of a model fitted without a formula, where its
    package records them (`r_predictors` in templates/_model_libraries.json)."""
    for klass in model.classes:
        where = libraries.r_predictors(klass)
        if not where:
            continue
        names_obj = _path(model, where.get("names") or where.get("names_of") or [])
        if where.get("names_of"):
            names = names_obj.names if isinstance(names_obj, rds.RObj) else []
        else:
            values = names_obj.value if isinstance(names_obj, rds.RObj) else None
            names = [str(v) for v in values or [] if v is not None]
        levels = _path(model, where.get("levels") or [])
        found = []
        for name in names:
            known = levels.get(name) if isinstance(levels, rds.RObj) else None
            factor = isinstance(known, rds.RObj) and known.type == rds.STRSXP and known.value
            found.append((name, "factor" if factor else "numeric", ""))
        return found
    return []


def _path(obj: Any, keys: list[str]) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, rds.RObj) else None
    return obj


def _predictor_levels(model: rds.RObj, name: str) -> list[Any] | None:
    for klass in model.classes:
        where = libraries.r_predictors(klass)
        levels = _path(model, where.get("levels") or []) if where else None
        known = levels.get(name) if isinstance(levels, rds.RObj) else None
        if isinstance(known, rds.RObj) and known.type == rds.STRSXP and known.value:
            return list(known.value)
    return None


def _terms(obj: rds.RObj, depth: int = 0) -> rds.RObj | None:
    """The model's `terms` (formula with variable classes), searched a few levels deep."""
    for candidate in (obj.attr("terms"), obj.get("terms")):
        if isinstance(candidate, rds.RObj) and "terms" in candidate.classes:
            return candidate
    if depth < 3 and obj.type == rds.VECSXP and isinstance(obj.value, list):
        for item in obj.value:
            if isinstance(item, rds.RObj):
                found = _terms(item, depth + 1)
                if found is not None:
                    return found
    return None


#: Calls that only change how R reads a column: its values still come straight from the data.
_PASS_THROUGH = {"factor", "as.factor", "ordered", "as.ordered", "as.character", "I"}


def _symbols(expression: Any) -> list[str]:
    """The variables an expression of a formula reads (`log(hp)` -> hp), as all.vars()."""
    if isinstance(expression, rds.RObj) and expression.type == rds.SYMSXP:
        return [str(expression.value)]
    if not (isinstance(expression, rds.RObj) and expression.type == rds.LANGSXP):
        return []
    found: list[str] = []
    for _, item in expression.value[1:]:  # the first element is the function
        found += [s for s in _symbols(item) if s not in found]
    return found


def _function(expression: Any) -> str:
    if isinstance(expression, rds.RObj) and expression.type == rds.LANGSXP and expression.value:
        head = expression.value[0][1]
        return str(head.value) if isinstance(head, rds.RObj) else ""
    return ""


def _columns(terms: rds.RObj) -> list[tuple[str, str, str]]:
    """(data column, R class, model-frame column) of each predictor, in formula order."""
    classes = terms.attr("dataClasses")
    kinds = (
        dict(zip(classes.names, [str(c) for c in classes.value or []], strict=False))
        if (isinstance(classes, rds.RObj))
        else {}
    )
    response = terms.attr("response")
    has_response = isinstance(response, rds.RObj) and (response.value or [0])[0] == 1
    variables = terms.attr("variables")
    expressions = (
        [item for _, item in (variables.value or [])[1:]]
        if isinstance(variables, rds.RObj) and variables.type == rds.LANGSXP
        else []
    )
    expressions = expressions[1:] if has_response else expressions
    found: list[tuple[str, str, str]] = []
    frame_names = list(kinds)[1:] if has_response else list(kinds)
    for index, expression in enumerate(expressions):
        frame_name = frame_names[index] if index < len(frame_names) else ""
        kind = kinds.get(frame_name, "numeric")
        direct = expression.type == rds.SYMSXP or _function(expression) in _PASS_THROUGH
        for name in _symbols(expression):
            if name not in [c[0] for c in found]:
                found.append((name, kind if direct else "numeric", frame_name if direct else ""))
    return found


def _cell(column: rds.RObj, row: int) -> Any:
    values = column.value
    if not isinstance(values, list) or row >= len(values) or values[row] is None:
        return None
    levels = column.attr("levels")
    if isinstance(levels, rds.RObj) and isinstance(levels.value, list):
        index = values[row]
        return levels.value[index - 1] if isinstance(index, int) and index >= 1 else None
    value = values[row]
    return value if isinstance(value, (int, float, str, bool)) else None


def _synthetic(kind: str, name: str, model: rds.RObj, row: int) -> Any:
    if kind in ("factor", "ordered"):
        xlevels = model.get("xlevels")
        levels = xlevels.get(name) if isinstance(xlevels, rds.RObj) else None
        known = levels.value if isinstance(levels, rds.RObj) and levels.value else None
        known = known or _predictor_levels(model, name) or ["a", "b"]
        return known[row % len(known)]
    if kind == "character":
        return "ab"[row % 2]
    if kind == "logical":
        return row % 2 == 0
    return round(1.5 * (row + 1), 2)


def _rows(model: rds.RObj, columns: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    frame = model.get("model")
    if not (isinstance(frame, rds.RObj) and "data.frame" in frame.classes):
        frame = None
    rows = []
    for r in range(ROWS):
        record = {}
        for name, kind, frame_name in columns:
            column = frame.get(frame_name) if frame is not None and frame_name else None
            value = _cell(column, r) if isinstance(column, rds.RObj) else None
            xlevel = frame_name if kind in ("factor", "ordered") else name
            record[name] = value if value is not None else _synthetic(kind, xlevel, model, r)
        rows.append(record)
    return rows


def _packages(read: rds.Rds, model: rds.RObj | None) -> list[str]:
    base = libraries.r_base_packages()
    found = [name for name in read.namespaces if name not in base]
    if model is not None:
        klass = model.attr("class")
        package = klass.attr("package") if isinstance(klass, rds.RObj) else None
        if isinstance(package, rds.RObj) and package.value:  # an S4 class names its package
            found.append(str(package.value[0]))
        for name in model.classes:
            mapped = libraries.r_package_for_class(name)
            if mapped:
                found.append(mapped)
                break
    return [p for p in dict.fromkeys(found) if p not in base and p != ".GlobalEnv"]


def describe(path: Path) -> RModel:
    """What the model in an RDS file (or crate.bin) records; UsageError when unreadable."""
    try:
        read = rds.unwrap(rds.read(path))
    except rds.TooLarge as error:
        return RModel(unread=str(error))  # treated as a model too large to inspect
    except rds.RdsError as error:
        raise UsageError(f"--model {path.name}: not a readable R serialization ({error})") from None
    if _plain_list(read.root) and not isinstance(read.root.get("model"), rds.RObj):
        held = ", ".join(read.root.names[:5]) or f"{len(read.root.value or [])} unnamed elements"
        raise UsageError(
            f"--model {path.name}: it holds a list ({held}), not a model: save the model itself "
            "with saveRDS(), or a list with the model as its `model` element"
        )
    objects = _objects(read.root)
    model = objects[0] if objects else None
    info = RModel(read.writer, read.min_reader, model.classes if model else [])
    info.packages = _packages(read, model)
    for candidate in objects:
        terms = _terms(candidate)
        columns = _columns(terms) if terms is not None else _predictors(candidate)
        if columns:
            info.columns = columns
            info.rows = _rows(candidate, info.columns)
            break
    return info


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    if path.is_dir() or not (path.suffix.lower() == ".rds" or path.name == "crate.bin"):
        raise UsageError(
            f"--model {path.name}: plumber projects take an R model saved with saveRDS() "
            "(.rds) or a carrier crate saved as crate.bin"
        )
    with path.open("rb") as handle:
        head = handle.read(6)
    if not head.startswith(RDS_MAGIC):
        raise UsageError(f"--model {path.name}: not an R serialization (saveRDS) file")
    info = describe(path) if model.inspect else RModel()
    defaults: dict[str, Any] = {"r_packages": info.packages} if info.packages else {}

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        folder = model_dir(project, answers)
        remove(project, folder.relative_to(project).as_posix(), "model-src/make_model.R")
        env.place(path, folder / path.name)
        packages = answers.get("r_packages") or []
        notes = [
            f"model/{path.name} is served by src/plumber.R (predict(model, newdata) or the "
            f"crate); R packages installed for it: {', '.join(packages) or 'none'} "
            '(--r-packages "[pkg, ...]")'
        ]
        if info.writer:
            notes.append(
                f"{path.name}: written by R {info.writer}, readable by R {info.min_reader} or "
                "newer (the image's R)"
            )
        return notes + _samples(project, path, info, env)

    notes = (
        [f"{path.name} was not read past scaffold's bounds ({info.unread}): it is copied as it "
         "is, treated as too large to inspect"]
        if info.unread
        else []
    )  # fmt: skip
    return Prepared(defaults=defaults, finish=finish, notes=notes)


def _samples(project: Path, path: Path, info: RModel, env: modelenv.ModelEnv) -> list[str]:
    if info.rows is None:
        remove(project, "sample_request.json", "sample_response.json")
        return [
            f"{path.name} records no formula to build a request from: write "
            "sample_request.json and sample_response.json yourself"
        ]
    request = {"data": info.rows}
    (project / "sample_request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
    choice = env.choose(here=False, image=True)
    if choice != "image":
        remove(project, "sample_response.json")
        why = "--model-inspect none" if env.mode == "none" else "Docker is not reachable"
        if choice in ("python", "here"):
            why = "an R model runs only in R: --model-inspect image"
        return [f"sample_response.json was not recorded ({why}): write it yourself"]
    recorded = modelenv.record_in_image(project, env, request)
    if recorded.response is None:
        remove(project, "sample_response.json")
        return [f"sample_response.json was not recorded: {recorded.why}"]
    (project / "sample_response.json").write_text(
        json.dumps(recorded.response) + "\n", encoding="utf-8"
    )
    return ["sample_response.json was recorded by running the model in R in the project's image"]


def several_file_name(source: Path, name: str) -> str:
    """A model among several is `<name>.rds` in model/ (a crate.bin is an RDS stream too), so
    src/plumber.R serves it as `name`."""
    del source
    return f"{name}.rds"
