"""Minimal-image model adapter: a scikit-learn model saved with joblib or pickle.

The file is first read without running it (`pickles.read`: stubs, nothing imported), which
gives what the model records about itself: the scikit-learn version it was pickled with
(`_sklearn_version`), the modules it needs, its input features (`n_features_in_`,
`feature_names_in_`) and the categories its encoders know. That drives
`docker-context/requirements.txt` (scikit-learn pinned to the model's own version, numpy 2
when the pickle names `numpy._core`), `src/score.py` and the sample request.

The sample response is recorded by running the model where its libraries are
(`modelenv`): the interpreter given with --model-python (then every library is pinned to
the version found there), scaffold's own environment when it has the same scikit-learn, or
the project's image through the real azureml-inference-server-http. A different
scikit-learn version where the model runs is reported, never silently pinned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import (
    ModelFile,
    Prepared,
    add_system_packages,
    boosters,
    libraries,
    model_dir,
    modelenv,
    pickles,
    remove,
)

#: File suffix -> loader module ("joblib" or "pickle") for a pickle; the content decides in
#: the end (a file joblib.dump wrote is loaded with joblib whatever its suffix).
LOADERS = {".joblib": "joblib", ".pkl": "pickle", ".pickle": "pickle", ".sav": "pickle"}
#: What minimal projects take, for messages.
SUPPORTED = (
    "a scikit-learn-compatible model (scikit-learn, XGBoost, LightGBM, CatBoost, ...) saved "
    "with joblib or pickle (.joblib, .pkl, .pickle, .sav), or an XGBoost (.json, .ubj), "
    "LightGBM (.txt) or CatBoost (.cbm) model saved with save_model()"
)
#: Where other models go, for messages.
ELSEWHERE = (
    "Other models: save them as an MLflow model (mlflow.<flavor>.save_model, or "
    "mlflow.pyfunc with your own predict) and use --server mlflow"
)
#: Modules a pickle can name only when it was written by a notebook or script itself.
SCRIPT_MODULES = {"__main__", "__mp_main__"}
#: Sample files of the template that the user's model replaces.
SAMPLE_FILES = ("model-src/make_model.py", "tests/test_score.py")
#: Top-level modules of a pickle that are scikit-learn-compatible estimator libraries.
ESTIMATOR_MODULES = {"sklearn", "xgboost", "lightgbm", "catboost", "imblearn", "skops"}

SCORE_PY = '''\
"""Scoring script for {file}, written by `scaffold new --model` (azureml-inference-server-http).

The server calls init() once at start-up and run() for every request to /score.
Request:  {{"data": [{example}, ...]}}
          {rows_help}
Response: {{"predictions": [...]}}         ({predict_help}, as a list)
Bad input gets HTTP 400 with {{"error": "<what is wrong>"}}.
The libraries it needs are pinned in docker-context/requirements.txt.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

{imports}

logger = logging.getLogger("azmlinfsrv.score")

#: The model file, searched for under AZUREML_MODEL_DIR (Azure mounts the model folder there).
MODEL_FILE = {file_literal}
#: Number of input features per row (None: not checked).
FEATURES: int | None = {count}
#: Column names the model was fitted with (a pandas DataFrame), or None for plain rows.
FEATURE_NAMES: list[str] | None = {names}

model: Any = None


def load(path: Path) -> Any:
    """{load_help}"""
{load_body}


def predict(rows: Any) -> Any:
{predict_body}


def init() -> None:
    global model
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    found = sorted(root.rglob(MODEL_FILE))
    if not found:
        raise FileNotFoundError(f"{{MODEL_FILE}} not found under AZUREML_MODEL_DIR={{root}}")
    model = load(found[0])
    logger.info("loaded %s", found[0])


def _value(value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{{where}}: every value must be a number or a string")
    if isinstance(value, str) and FEATURE_NAMES is None:
        raise ValueError(f"{{where}}: every value must be a number")
    return value


def parse_rows(raw_data: str | bytes) -> Any:
    try:
        body = json.loads(raw_data)
    except ValueError as ex:
        raise ValueError(f"request body is not valid JSON: {{ex}}") from None
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError('request body must be {{"data": [...]}} with at least one row')
    parsed = []
    for i, row in enumerate(rows):
        if isinstance(row, dict) and FEATURE_NAMES is not None:
            missing = [name for name in FEATURE_NAMES if name not in row]
            if missing:
                raise ValueError(f"row {{i}}: missing column(s) {{', '.join(missing)}}")
            row = [row[name] for name in FEATURE_NAMES]
        if not isinstance(row, list) or (FEATURES is not None and len(row) != FEATURES):
            raise ValueError(f"row {{i}}: expected {{FEATURES or 'a list of'}} values")
        parsed.append([_value(v, f"row {{i}}") for v in row])
    if FEATURE_NAMES is None:
        return parsed
    import pandas

    return pandas.DataFrame(parsed, columns=FEATURE_NAMES)


def _bad_request(message: str) -> Any:
    from azureml_inference_server_http.api.aml_response import AMLResponse

    return AMLResponse({{"error": message}}, 400, json_str=True)


def run(raw_data: str) -> Any:
    if model is None:
        raise RuntimeError("no model is loaded; init() must run first")
    try:
        rows = parse_rows(raw_data)
    except ValueError as ex:
        return _bad_request(str(ex))
    predictions = predict(rows)
    if hasattr(predictions, "tolist"):
        predictions = predictions.tolist()
    return {{"predictions": predictions}}
'''


#: How score.py loads and calls each kind of model file: (imports, load body, predict
#: body, what load does, what predict returns). `{estimator}` is the wrapper class.
LOADING: dict[str, tuple[str, str, str, str, str]] = {
    "pickle": (
        "import pickle",
        '    with open(path, "rb") as handle:\n        return pickle.load(handle)',
        "    return model.predict(rows)",
        "The pickled model (pickle.load).",
        "model.predict(rows)",
    ),
    "joblib": (
        "import joblib",
        "    return joblib.load(path)",
        "    return model.predict(rows)",
        "The model saved with joblib.dump (joblib.load).",
        "model.predict(rows)",
    ),
    "xgboost": (
        "import numpy\nimport xgboost",
        "    loaded = xgboost.{estimator}()\n    loaded.load_model(str(path))\n    return loaded",
        "    return model.predict(rows if FEATURE_NAMES else numpy.asarray(rows, dtype=float))",
        "The XGBoost model saved with save_model(), as the scikit-learn wrapper it was.",
        "model.predict(rows)",
    ),
    "xgboost-booster": (
        "import numpy\nimport xgboost",
        "    return xgboost.Booster(model_file=str(path))",
        "    data = rows if FEATURE_NAMES else numpy.asarray(rows, dtype=float)\n"
        "    return model.predict(xgboost.DMatrix(data))",
        "The XGBoost Booster saved with save_model().",
        "Booster.predict(DMatrix(rows)): what the objective outputs",
    ),
    "lightgbm": (
        "import numpy\nimport lightgbm",
        "    return lightgbm.Booster(model_file=str(path))",
        "    return model.predict(rows if FEATURE_NAMES else numpy.asarray(rows, dtype=float))",
        "The LightGBM Booster saved with save_model() (a text model).",
        "Booster.predict(rows): what the objective outputs (class probabilities for a classifier)",
    ),
    "catboost": (
        "import catboost",
        "    loaded = catboost.{estimator}()\n    loaded.load_model(str(path))\n    return loaded",
        "    return model.predict(rows)",
        "The CatBoost model saved with save_model() (.cbm).",
        "model.predict(rows)",
    ),
}


@dataclass
class SklearnModel:
    """What a pickled scikit-learn model records about itself (read without running it)."""

    file: Path
    #: How score.py loads it: "pickle", "joblib", or a native format (see LOADING).
    loader: str
    #: scikit-learn version the model was pickled with (`_sklearn_version`), if recorded.
    version: str | None = None
    #: Top-level modules the pickle names (sklearn, numpy, ...).
    modules: set[str] = field(default_factory=set)
    #: The pickle names numpy 2's `numpy._core` (numpy 1 cannot load it).
    numpy2: bool = False
    n_features: int | None = None
    feature_names: list[str] | None = None
    #: Column (name or index) -> the categories an encoder was fitted with.
    categories: dict[Any, list[Any]] = field(default_factory=dict)
    #: Other libraries' versions the model records (e.g. {"xgboost": "3.2.0"}).
    versions: dict[str, str] = field(default_factory=dict)
    #: The wrapper class a native model is loaded as (e.g. "XGBClassifier").
    estimator: str = ""
    #: Top-level modules of the pickle that name no known PyPI distribution.
    unknown: list[str] = field(default_factory=list)
    #: Why the file was not read past a bound (it counts as too large to inspect), or "".
    unread: str = ""

    def rows(self) -> list[Any] | None:
        """Two sample rows: records when the model knows its column names, else lists."""
        if self.n_features is None:
            return None
        columns: list[Any] = self.feature_names or list(range(self.n_features))
        rows: list[Any] = []
        for r in range(2):
            values = []
            for c, column in enumerate(columns):
                known = self.categories.get(column) or self.categories.get(c)
                values.append(known[r % len(known)] if known else round(0.5 * (r + c + 1), 1))
            rows.append(dict(zip(columns, values, strict=True)) if self.feature_names else values)
        return rows


def read_model(path: Path, loader: str, inspect: bool) -> SklearnModel:
    """Read what a pickled model records, statically; UsageError when it is not a model
    minimal projects serve. Plain pickles above the inspection limit are not read (joblib
    arrays are skipped, so joblib files are read whatever their size). `loader` is the
    suffix's guess: a file joblib wrote is loaded with joblib whatever its name."""
    info = SklearnModel(path, "joblib" if pickles.compressed(path) else loader)
    if not inspect and info.loader != "joblib":
        return info
    try:
        graph = pickles.read(path)
    except pickles.TooLarge as error:
        info.unread = str(error)  # treated as a model too large to inspect
        return info
    except pickles.PickleError as error:
        raise UsageError(
            f"--model {path.name}: not a readable {info.loader} file ({error})"
        ) from None
    if "joblib.numpy_pickle" in graph.modules or pickles.compressed(path):
        info.loader = "joblib"
    root = graph.root
    script = sorted(m for m in graph.modules if m.split(".")[0] in SCRIPT_MODULES)
    if script:
        names = sorted({s.qualname for s in graph.walk() if isinstance(s, pickles.Stub)
                        and s.module.split(".")[0] in SCRIPT_MODULES})  # fmt: skip
        raise UsageError(
            f"--model {path.name}: it pickles {', '.join(names) or 'a class'} from the notebook or "
            "script that saved it (__main__), which no other process can import: move the "
            "class into a module, or save the model with cloudpickle (which stores such "
            "classes by value), and save it again"
        )
    if not isinstance(root, pickles.Stub) or not graph.top_modules() & ESTIMATOR_MODULES:
        kind = root.ref if isinstance(root, pickles.Stub) else type(root).__name__
        raise UsageError(f"--model {path.name}: a {kind} is not a model minimal projects "
                         f"serve; they take {SUPPORTED}. {ELSEWHERE}")  # fmt: skip
    info.unknown = sorted(m for m in graph.top_modules() if not libraries.known_module(m))
    info.modules = graph.top_modules() - set(info.unknown)
    info.numpy2 = any(m == "numpy._core" or m.startswith("numpy._core.") for m in graph.modules)
    for obj in graph.walk():
        if isinstance(obj, pickles.Stub) and "_sklearn_version" in obj.attrs():
            info.version = str(obj.attrs()["_sklearn_version"])
            break
    first = _first_step(root)
    attrs = first.attrs() if first is not None else {}
    count = next((attrs[k] for k in _COUNT_ATTRS if isinstance(attrs.get(k), int)), None)
    info.n_features = count if isinstance(count, int) and count > 0 else None
    array = pickles.as_array(attrs.get("feature_names_in_"))
    if array is not None and array.values and all(isinstance(v, str) for v in array.values):
        info.feature_names = [str(v) for v in array.values]
    _boosters_in(graph, first, info)
    info.categories = _categories(graph, info.feature_names)
    return info


#: Attributes holding the number of input features (scikit-learn, LightGBM's wrapper).
_COUNT_ATTRS = ("n_features_in_", "_n_features_in", "_n_features")


def _boosters_in(graph: pickles.Graph, first: pickles.Stub | None, info: SklearnModel) -> None:
    """The versions, and for a model that is one, the features, that pickled XGBoost,
    LightGBM or CatBoost models record in their own format inside the pickle."""
    for obj in graph.walk():
        if not isinstance(obj, pickles.Stub):
            continue
        attrs = obj.attrs()
        found: boosters.BoosterInfo | None = None
        try:
            if obj.module.startswith("xgboost") and isinstance(
                attrs.get("handle"), (bytes, bytearray)
            ):
                found = boosters.parse_xgboost(bytes(attrs["handle"]))
            elif obj.module.startswith("lightgbm") and isinstance(
                attrs.get("_handle", attrs.get("handle")), str
            ):
                found = boosters.parse_lightgbm(str(attrs.get("_handle", attrs.get("handle"))))
            elif obj.module.startswith("catboost") and isinstance(attrs.get("__model"), bytes):
                found = boosters.parse_catboost(attrs["__model"])
        except boosters.BoosterError:
            continue
        if found is None:
            continue
        if found.version:
            info.versions.setdefault(found.library, found.version)
        if first is None:
            continue
        if first is obj or first.attrs().get("_Booster") is obj:  # the model seeing the input
            info.n_features = info.n_features or found.n_features
            named = first is obj or first.attrs().get("_fitted_with_feature_names", True)
            if info.feature_names is None and named and not _generic(found.feature_names or []):
                info.feature_names = found.feature_names


def _generic(names: list[str]) -> bool:
    """Names a library made up for unnamed columns (LightGBM's Column_0, CatBoost's 0), or
    none at all."""
    return all(re.fullmatch(r"(Column_|f)?\d+", name) for name in names)


def read_native(path: Path, inspect: bool) -> SklearnModel | None:
    """An XGBoost, LightGBM or CatBoost model file saved with save_model(), or None."""
    try:
        found = boosters.read_file(path) if inspect else None
    except boosters.BoosterError as error:
        raise UsageError(f"--model {path.name}: {error}") from None
    except OSError as error:
        raise UsageError(f"--model {path.name}: not readable ({error.strerror})") from None
    if found is None:
        return None
    loader = found.library if found.library != "xgboost" or found.estimator else "xgboost-booster"
    info = SklearnModel(path, loader, estimator=found.estimator or "")
    if loader == "catboost" and not info.estimator:
        info.estimator = "CatBoost"
    info.modules = {found.library, "numpy"}
    if found.estimator and found.library == "xgboost":
        info.modules.add("sklearn")  # XGBoost's scikit-learn wrappers import it
    if found.version:
        info.versions[found.library] = found.version
    info.n_features = found.n_features
    if found.feature_names and not _generic(found.feature_names):
        info.feature_names = found.feature_names
    return info


def _pickle_bytes(path: Path) -> bool:
    """Whether the file is a pickle (protocol 2 or newer) or a compressed joblib file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
        return (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or (
            pickles.compressed(path)
        )
    except OSError:
        return False


def _first_step(obj: Any, depth: int = 0) -> pickles.Stub | None:
    """The estimator that sees the raw input: the first step of (nested) pipelines."""
    if not isinstance(obj, pickles.Stub) or depth > 20:
        return None
    attrs = obj.attrs()
    steps = attrs.get("steps")
    if "n_features_in_" not in attrs and isinstance(steps, list):
        for step in steps:
            if isinstance(step, tuple) and len(step) == 2 and isinstance(step[1], pickles.Stub):
                return _first_step(step[1], depth + 1)
    if not any(k in attrs for k in _COUNT_ATTRS) and obj.module.split(".")[0] not in (
        ESTIMATOR_MODULES
    ):
        # a class of the user's own wrapping an estimator (self.model = fitted): its input
        # is the wrapped estimator's
        for value in attrs.values():
            if isinstance(value, pickles.Stub) and value.module.split(".")[0] in ESTIMATOR_MODULES:
                return _first_step(value, depth + 1)
    return obj


def _values(value: Any) -> list[Any]:
    array = pickles.as_array(value)
    if array is not None:
        return list(array.values or [])
    return list(value) if isinstance(value, (list, tuple)) else []


def _encoders(obj: Any) -> list[pickles.Stub]:
    """Encoders (with `categories_`) inside a transformer or pipeline, in order."""
    if not isinstance(obj, pickles.Stub):
        return []
    attrs = obj.attrs()
    if "categories_" in attrs:
        return [obj]
    found: list[pickles.Stub] = []
    for step in attrs.get("steps") or []:
        if isinstance(step, tuple) and len(step) == 2:
            found += _encoders(step[1])
    return found


def _categories(graph: pickles.Graph, names: list[str] | None) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = {}
    for obj in graph.walk():
        if not isinstance(obj, pickles.Stub):
            continue
        for item in obj.attrs().get("transformers_") or []:
            if not (isinstance(item, tuple) and len(item) == 3):
                continue
            columns = _values(item[2])
            for encoder in _encoders(item[1])[:1]:
                for column, cats in zip(columns, encoder.attrs()["categories_"], strict=False):
                    values = _values(cats)
                    if values and isinstance(column, (str, int)):
                        found.setdefault(column, values)
    if not found and isinstance(graph.root, pickles.Stub):
        encoders = _encoders(graph.root)
        if encoders and names is None:
            for index, cats in enumerate(encoders[0].attrs()["categories_"]):
                found[index] = _values(cats)
    return found


def requirements_for(info: SklearnModel, versions: Mapping[str, str] | None = None) -> list[str]:
    """The model's libraries: scikit-learn pinned to the model's version, the rest pinned to
    `versions` (an environment that loaded the model) or left to pip."""
    wanted = {libraries.distribution_for(m) for m in info.modules}
    for module in info.modules if info.loader in ("pickle", "joblib") else ():
        wanted |= set(libraries.companions(module))  # what a pickled wrapper needs
    if info.loader == "joblib":
        wanted.add("joblib")
    if info.feature_names:
        wanted.add("pandas")
    if "scikit-learn" in wanted or info.version:
        wanted |= {"scikit-learn", *libraries.sklearn_dependencies()}
    recorded = dict(info.versions)
    if info.version:
        recorded["scikit-learn"] = info.version
    numpy1 = any(libraries.needs_numpy1(dist, version) for dist, version in recorded.items())
    pins = {}
    for dist in sorted(wanted, key=str.lower):
        version = recorded.get(dist) or (versions or {}).get(dist)
        if version:
            pins[dist] = f"{dist}=={version}"
        elif dist == "numpy" and numpy1:
            pins[dist] = "numpy<2"
        elif dist == "numpy" and info.numpy2:
            pins[dist] = "numpy>=2"
        else:
            pins[dist] = dist
    return list(pins.values())


def requirements_text(info: SklearnModel, lines: list[str], where: str) -> str:
    header = [
        "# Written by `scaffold new --model`: the libraries the model's objects come from.",
        f"# {where}",
        "# A pickled model loads reliably only with the versions it was saved with.",
    ]
    if info.version:
        header.insert(1, f"# scikit-learn {info.version}: the version the model records "
                      "(_sklearn_version in the pickle).")  # fmt: skip
    return "\n".join(header + lines) + "\n"


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    suffix = path.suffix.lower()
    info: SklearnModel | None = None
    if path.is_file() and suffix in LOADERS:
        info = read_model(path, LOADERS[suffix], model.inspect)
    elif path.is_file():  # by content: XGBoost's docs save "0001.model", others ".bin"
        info = read_native(path, inspect=True)
        if info is None and _pickle_bytes(path):
            info = read_model(path, "pickle", model.inspect)
    if info is None:
        raise UsageError(f"--model {path.name}: minimal projects take {SUPPORTED}. {ELSEWHERE}")

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        folder = model_dir(project, answers)
        remove(project, folder.relative_to(project).as_posix(), *SAMPLE_FILES)
        env.place(path, folder / path.name)
        return _configure(project, info, env, answers)

    notes = [_unread_note(path, info.unread)] if info.unread else []
    return Prepared(answers=dict(SINGLE_ANSWERS), finish=finish, notes=notes)


def _unread_note(path: Path, why: str) -> str:
    return (
        f"{path.name} was not read past scaffold's bounds ({why}): it is copied as it is, "
        "treated as too large to inspect"
    )


def _here(info: SklearnModel) -> bool:
    """scaffold's own environment holds the model's libraries at the versions it records."""
    import importlib.util

    recorded = dict(info.versions)
    if info.version:
        recorded["scikit-learn"] = info.version
    if not recorded or info.unknown:
        return False
    if any(modelenv.installed(dist) != version for dist, version in recorded.items()):
        return False
    return all(importlib.util.find_spec(m) is not None for m in info.modules)


def _inspector_args(info: SklearnModel, model_file: str, request: str) -> list[str]:
    return [model_file, info.loader, request, info.estimator]


def _run_here_or_there(project: Path, info: SklearnModel, python: str) -> tuple[Any, str]:
    """Run the model with `python` on its sample rows: (what it reported, "") or (None, why)."""
    request_file = project / ".scaffold-request.json"
    rows = info.rows()
    if rows is not None:
        request_file.write_text(json.dumps({"data": rows}), encoding="utf-8")
    try:
        request = str(request_file) if rows else "-"
        ran = modelenv.run_inspector(
            python, "sklearn_model.py", _inspector_args(info, str(info.file), request)
        )
    except modelenv.InspectError as error:
        return None, f"the model could not be run ({error}); sample_response.json left to you"
    finally:
        request_file.unlink(missing_ok=True)
    return ran, ""


def _features_in_image(project: Path, info: SklearnModel, env: modelenv.ModelEnv) -> list[str]:
    """The file does not say how wide its rows are: ask the model itself, in the project's
    own image (its libraries, by construction)."""
    found = modelenv.inspect_in_image(
        project, env, "sklearn_model.py", info.file,
        lambda model_file: _inspector_args(info, model_file, "-"),
    )  # fmt: skip
    if isinstance(found.response, dict):
        info.n_features = found.response.get("n_features")
        info.feature_names = info.feature_names or found.response.get("feature_names")
        return []
    return [f"the model's input width was not found in the project's image: {found.why}"]


#: Bounds on a module of the user's own copied into src/ (source files only).
OWN_MODULE_FILES = 200
OWN_MODULE_BYTES = 5 << 20


def _own_module(model_file: Path, module: str) -> Path | None:
    """The user's own module `module` (a package folder or a .py file) beside the model file
    or in one of its two parent folders (a notebooks/ or models/ folder of a repository),
    or None. Symbolic links are not followed."""
    folder = model_file.resolve().parent
    for base in (folder, *list(folder.parents)[:2]):
        package, single = base / module, base / f"{module}.py"
        is_package = package.is_dir() and (package / "__init__.py").is_file()
        if is_package and not package.is_symlink() and _module_files(package) is not None:
            return package
        if single.is_file() and not single.is_symlink():
            return single
    return None


def _module_files(package: Path) -> list[Path] | None:
    """The .py files of a package (no hidden folders, no links), or None above the bounds."""
    found: list[Path] = []
    total = 0
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).parts
        if any(part.startswith((".", "__pycache__")) for part in relative) or path.is_symlink():
            continue
        if any((package / p).is_symlink() for p in path.relative_to(package).parents):
            continue
        total += path.stat().st_size
        found.append(path)
        if len(found) > OWN_MODULE_FILES or total > OWN_MODULE_BYTES:
            return None
    return found


def _copy_module(source: Path, target: Path) -> None:
    if source.is_file():
        target.write_bytes(source.read_bytes())
        return
    for path in _module_files(source) or []:
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())


def _configure(
    project: Path, info: SklearnModel, env: modelenv.ModelEnv, answers: Mapping[str, Any]
) -> list[str]:
    notes: list[str] = []
    copied = {m: found for m in info.unknown if (found := _own_module(info.file, m))}
    for module, source in copied.items():
        _copy_module(source, project / "src" / source.name)
        notes.append(
            f"src/{source.name} is a copy of {source} (your module {module}, which "
            f"{info.file.name} needs; src/ is importable at scoring): keep it current"
        )
    missing = [m for m in info.unknown if m not in copied]
    if missing:
        notes.append(
            f"warning: {info.file.name} needs module(s) {', '.join(missing)}, which scaffold "
            "cannot map to a PyPI package: add the package to docker-context/requirements.txt, "
            "or put your own module in src/ (the scoring code folder, importable at scoring)"
        )
    choice = env.choose(here=_here(info), image=True)
    ran: dict[str, Any] | None = None
    if choice in ("python", "here"):
        ran, why = _run_here_or_there(project, info, modelenv.interpreter(env, choice))
        notes += [why] if why else []
    if ran is not None:
        info.n_features = info.n_features or ran.get("n_features")
        info.feature_names = info.feature_names or ran.get("feature_names")
        lines = requirements_for(info, ran.get("versions") or {})
        where = (
            f"Pinned to the versions in {modelenv.interpreter(env, choice)} "
            f"(Python {ran.get('python')}), where the model was loaded."
        )
        notes += _version_notes(info, ran, modelenv.interpreter(env, choice))
    else:
        lines = requirements_for(info)
        where = "Unpinned libraries are resolved by pip when the image is built."
    requirements = requirements_text(info, lines, where)
    (project / "docker-context" / "requirements.txt").write_text(requirements, encoding="utf-8")
    system = add_system_packages(project, answers, requirements)
    if choice == "image" and info.n_features is None:
        notes += _features_in_image(project, info, env)
    _write_code(project, info)
    rows = (ran or {}).get("rows") or info.rows()
    if rows is None:
        remove(project, "sample_request.json", "sample_response.json")
        notes.append(
            f"{info.file.name} does not record its number of input features: write "
            "sample_request.json and sample_response.json yourself"
        )
        return notes
    request = {"data": rows}
    (project / "sample_request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
    response: Any = None
    if ran is not None and ran.get("predictions") is not None:
        response = {"predictions": ran["predictions"]}
        how = f"by running the model in {modelenv.interpreter(env, choice)}"
    elif choice == "image":
        recorded = modelenv.record_in_image(project, env, request)
        response, how = recorded.response, "by the real server in the project's image"
        if response is None:
            notes.append(f"sample_response.json was not recorded: {recorded.why}")
    elif choice == "none":
        notes.append(_none_note(env))
    if response is None:
        remove(project, "sample_response.json")
    else:
        (project / "sample_response.json").write_text(json.dumps(response) + "\n", encoding="utf-8")
        notes.append(f"sample_response.json was recorded {how}")
    pinned = ", ".join(line for line in lines if "==" in line) or "nothing"
    notes.insert(
        0, f"src/score.py loads {info.file.name}; docker-context/requirements.txt pins {pinned}"
    )
    return notes + ([system] if system else [])


def _none_note(env: modelenv.ModelEnv) -> str:
    why = "--model-inspect none" if env.mode == "none" else "Docker is not reachable"
    return (
        f"sample_response.json was not recorded ({why}): run the model with "
        "--model-python PATH (the Python of its own environment) or with Docker, or write it"
    )


def _version_notes(info: SklearnModel, ran: Mapping[str, Any], python: str) -> list[str]:
    found = (ran.get("versions") or {}).get("scikit-learn")
    notes = []
    if info.version and found and found != info.version:
        notes.append(
            f"warning: the model was pickled with scikit-learn {info.version} but {python} has "
            f"{found}; requirements.txt pins {info.version} (the model's own), and the sample "
            f"response was recorded with {found}"
        )
    notes += [f"warning: {w}" for w in ran.get("warnings") or []][:2]
    return notes


def _write_code(project: Path, info: SklearnModel) -> None:
    count = info.n_features or 0
    names = info.feature_names
    if names:
        shown = ", ".join(f'"{n}": ...' for n in names[:3]) + (", ..." if len(names) > 3 else "")
        example = "{" + shown + "}"
        rows_help = f"(records with the {count} columns the model was fitted with, or rows)"
    else:
        example = (
            "["
            + ", ".join(f"x{i + 1}" for i in range(min(count, 3)))
            + (", ...]" if count > 3 else "]")
        )
        rows_help = f"(rows of {count} numbers)" if count else "(rows of numbers)"
    imports, load_body, predict_body, load_help, predict_help = LOADING[info.loader]
    text = SCORE_PY.format(
        file=info.file.name,
        file_literal=json.dumps(info.file.name),
        example=example,
        rows_help=rows_help,
        count=info.n_features,
        names=json.dumps(names) if names else "None",
        imports=imports,
        load_body=load_body.replace("{estimator}", info.estimator),
        predict_body=predict_body,
        load_help=load_help,
        predict_help=predict_help,
    )
    (project / "src" / "score.py").write_text(text, encoding="utf-8")


# --- Several models in one deployment (`scaffold new --model A --model B`) ----------------------
#: Answers of a one-model project, and of one serving several (chosen by the request).
SINGLE_ANSWERS = {"multi_model": False}
SEVERAL_ANSWERS = {"multi_model": True}

SCORE_SEVERAL_PY = '''\
"""Scoring script for several scikit-learn models, written by `scaffold new --model A --model B`.

Every model file under AZUREML_MODEL_DIR (*.joblib, *.pkl, *.pickle; Azure mounts the model
folder there) is a model, named by its file name without the extension (model/a.joblib is
"a"). The server calls init() once at start-up and run() for every request to /score; each
request chooses its model with "model", as Azure's minimal/multimodel sample does:
Request:  {{"model": "<name>", "data": [[x1, x2, ...], ...]}}
Response: {{"model": "<name>", "predictions": [...]}}   (model.predict(rows), as a list)
A missing or unknown "model", or rows of the wrong width, get HTTP 400 with {{"error": ...}}.
The libraries the models need are pinned in docker-context/requirements.txt; to add a model,
drop its file into model/ and restart. Unpickling runs the file's code: use models you trust.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

logger = logging.getLogger("azmlinfsrv.score")

#: File suffixes of model files (joblib.load for .joblib, pickle.load otherwise).
MODEL_SUFFIXES = {suffixes}

#: The loaded models by name; set by init().
models: dict[str, Any] = {{}}


def _load(path: Path) -> Any:
    if path.suffix.lower() == ".joblib":
        import joblib

        return joblib.load(path)
    with path.open("rb") as handle:
        return pickle.load(handle)


def init() -> None:
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES)
    if not found:
        raise FileNotFoundError(f"no model file ({{sorted(MODEL_SUFFIXES)}}) under {{root}}")
    for path in found:
        if path.stem in models:
            raise RuntimeError(f"two model files are named {{path.stem}}: rename one")
        models[path.stem] = _load(path)
        logger.info("loaded model %r from %s", path.stem, path)


def _value(value: Any, where: str, named: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{{where}}: every value must be a number or a string")
    if isinstance(value, str) and not named:
        raise ValueError(f"{{where}}: every value must be a number")
    return value


def parse_input(raw_data: str | bytes) -> tuple[str, Any]:
    """The chosen model's name and its rows: lists of values, or records (a pandas
    DataFrame) for a model fitted with column names (`feature_names_in_`)."""
    try:
        body = json.loads(raw_data)
    except ValueError as ex:
        raise ValueError(f"request body is not valid JSON: {{ex}}") from None
    if not isinstance(body, dict):
        raise ValueError('request body must be {{"model": "<name>", "data": [[...], ...]}}')
    name = body.get("model")
    if not isinstance(name, str) or name not in models:
        shown = json.dumps(name)[:100]
        raise ValueError(f'unknown model {{shown}}; "model" must be one of {{sorted(models)}}')
    rows = body.get("data")
    if not isinstance(rows, list) or not rows:
        raise ValueError('"data" must be a non-empty list of rows')
    model = models[name]
    width = getattr(model, "n_features_in_", None)
    names = getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    parsed = []
    for i, row in enumerate(rows):
        if isinstance(row, dict) and names is not None:
            missing = [column for column in names if column not in row]
            if missing:
                raise ValueError(f"row {{i}}: missing column(s) {{', '.join(missing)}}")
            row = [row[column] for column in names]
        if not isinstance(row, list) or (width is not None and len(row) != width):
            raise ValueError(f"row {{i}}: expected a list of {{width}} values for model {{name}}")
        parsed.append([_value(v, f"row {{i}}", names is not None) for v in row])
    if names is None:
        return name, parsed
    import pandas

    return name, pandas.DataFrame(parsed, columns=names)


def _bad_request(message: str) -> Any:
    from azureml_inference_server_http.api.aml_response import AMLResponse

    return AMLResponse({{"error": message}}, 400, json_str=True)


def run(raw_data: str) -> Any:
    if not models:
        raise RuntimeError("no model is loaded; init() must run first")
    try:
        name, rows = parse_input(raw_data)
    except ValueError as ex:
        return _bad_request(str(ex))
    return {{"model": name, "predictions": models[name].predict(rows).tolist()}}
'''


def combine_several(project: Path, files: Mapping[str, Mapping[str, bytes]]) -> list[str]:
    """The files several models' projects need in common: one src/score.py serving every
    model by name, and requirements.txt with every model's pins (read in one environment,
    so the same library has the same version)."""
    notes = []
    for relative, by_model in files.items():
        target = project / relative
        if relative == "src/score.py":
            suffixes = tuple(sorted(LOADERS))
            target.write_text(SCORE_SEVERAL_PY.format(suffixes=suffixes), encoding="utf-8")
        elif relative == "docker-context/requirements.txt":
            texts = [content.decode("utf-8") for content in by_model.values()]
            header = [line for line in texts[0].splitlines() if line.startswith("#")]
            chosen: dict[str, str] = {}
            for text in texts:
                for line in (raw.strip() for raw in text.splitlines()):
                    if not line or line.startswith("#"):
                        continue
                    key = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower().replace("_", "-")
                    if key in chosen and chosen[key] != line and "==" not in chosen[key]:
                        chosen[key] = line  # a pin wins over an unpinned mention
                    chosen.setdefault(key, line)
            requirements = sorted(chosen.values(), key=str.lower)
            target.write_text("\n".join(header + requirements) + "\n", encoding="utf-8")
        else:  # pragma: no cover - the adapter writes no other project file
            raise UsageError(f"the models need different {relative}; serve them apart")
    notes.append(
        f"src/score.py serves {', '.join(sorted(next(iter(files.values()))))} by the request's "
        '"model"; docker-context/requirements.txt pins what they need'
    )
    return notes
