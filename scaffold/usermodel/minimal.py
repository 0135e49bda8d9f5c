"""Minimal-image model adapter: a scikit-learn model saved with joblib or pickle.

The model is loaded here (only under the inspection limit: unpickling runs the file's code,
so use models you trust) to learn its number of input features, to find the libraries its
objects come from, and to record the sample response. `requirements.txt` pins those
libraries to the versions installed in this environment, the one the model is read in.
"""

from __future__ import annotations

import datetime
import json
import pickle
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, need, remove

#: File suffix -> loader module ("joblib" or "pickle").
LOADERS = {".joblib": "joblib", ".pkl": "pickle", ".pickle": "pickle"}
#: Sample files of the template that the user's model replaces.
SAMPLE_FILES = ("model-src/make_model.py", "tests/test_score.py")

SCORE_PY = '''\
"""Scoring script for {file}, written by `scaffold new --model` (azureml-inference-server-http).

The server calls init() once at start-up and run() for every request to /score.
Request:  {{"data": [[{features}], ...]}}  (rows of {count} numbers)
Response: {{"predictions": [...]}}         (model.predict(rows), as a list)
Bad input gets HTTP 400 with {{"error": "<what is wrong>"}}.
The libraries it needs are pinned in docker-context/requirements.txt.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import {loader}

logger = logging.getLogger("azmlinfsrv.score")

#: The model file, searched for under AZUREML_MODEL_DIR (Azure mounts the model folder there).
MODEL_FILE = {file_literal}
#: Number of input features per row.
FEATURES = {count}

model: Any = None


def init() -> None:
    global model
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    found = sorted(root.rglob(MODEL_FILE))
    if not found:
        raise FileNotFoundError(f"{{MODEL_FILE}} not found under AZUREML_MODEL_DIR={{root}}")
    with open(found[0], "rb") as handle:
        model = {load}(handle)
    logger.info("loaded %s", found[0])


def parse_rows(raw_data: str | bytes) -> list[list[float]]:
    try:
        body = json.loads(raw_data)
    except ValueError as ex:
        raise ValueError(f"request body is not valid JSON: {{ex}}") from None
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError('request body must be {{"data": [[...], ...]}} with at least one row')
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != FEATURES:
            raise ValueError(f"row {{i}}: expected a list of {{FEATURES}} numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise ValueError(f"row {{i}}: every value must be a number")
    return rows


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
    return {{"predictions": model.predict(rows).tolist()}}
'''


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    loader = LOADERS.get(path.suffix.lower())
    if path.is_dir() or loader is None:
        raise UsageError(
            f"--model {path.name}: minimal projects take a scikit-learn model saved with "
            f"joblib or pickle ({', '.join(LOADERS)})"
        )
    if not model.inspect:
        raise UsageError(
            f"--model {path.name}: {model.size} bytes is above the inspection limit; "
            "raise SCAFFOLD_MODEL_INSPECT_LIMIT (the model is loaded to configure the project)"
        )
    need("sklearn", "scikit-learn")
    loaded = _load(path, loader)
    predict = getattr(loaded, "predict", None)
    count = getattr(loaded, "n_features_in_", None)
    if not callable(predict) or not isinstance(count, int):
        raise UsageError(
            f"--model {path.name}: a {type(loaded).__name__} is not a fitted scikit-learn "
            "model (it needs predict() and n_features_in_)"
        )
    rows = [[round(0.5 * (r + c + 1), 1) for c in range(count)] for r in range(2)]
    try:
        predictions = predict(rows).tolist()
    except Exception as error:  # whatever the model raises, it cannot score
        raise UsageError(
            f"--model {path.name}: predict() failed on a sample row ({error})"
        ) from None
    requirements = _requirements(loaded, loader)
    files = {
        "sample_request.json": json.dumps({"data": rows}) + "\n",
        "sample_response.json": json.dumps({"predictions": predictions}) + "\n",
        "docker-context/requirements.txt": requirements,
        "src/score.py": SCORE_PY.format(
            file=path.name,
            file_literal=json.dumps(path.name),
            features=", ".join(f"x{i + 1}" for i in range(min(count, 3)))
            + (", ..." if count > 3 else ""),
            count=count,
            loader=loader,
            load=f"{loader}.load",
        ),
    }

    def finish(project: Path, answers: Mapping[str, Any]) -> list[str]:
        folder = model_dir(project, answers)
        remove(project, folder.relative_to(project).as_posix(), *SAMPLE_FILES)
        copy_model(path, folder / path.name)
        for name, text in files.items():
            (project / name).write_text(text, encoding="utf-8")
        pinned = [line.split("==")[0] for line in requirements.splitlines() if "==" in line]
        return [
            f"src/score.py loads {path.name}; docker-context/requirements.txt pins "
            f"{', '.join(pinned)} to the versions installed here"
        ]

    return Prepared(answers=dict(SINGLE_ANSWERS), finish=finish)


def _load(path: Path, loader: str) -> Any:
    module = need(loader, loader) if loader == "joblib" else pickle
    try:
        with path.open("rb") as handle:
            return module.load(handle)
    except ModuleNotFoundError as error:
        raise UsageError(
            f"--model {path.name}: it needs the module {error.name}, which is not installed "
            "here; install the libraries the model was made with"
        ) from None
    except Exception as error:  # a corrupt or foreign file raises anything
        raise UsageError(f"--model {path.name}: not a readable {loader} file ({error})") from None


def _modules(root: Any, limit: int = 20000) -> set[str]:
    """Top-level modules of the classes of the objects reachable from `root`."""
    seen: set[int] = set()
    found: set[str] = set()
    stack = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.add(type(obj).__module__.split(".")[0])
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    return found


def _requirements(loaded: Any, loader: str) -> str:
    distributions = metadata.packages_distributions()
    modules = _modules(loaded) | ({"joblib"} if loader == "joblib" else set())
    pins = {}
    for module in sorted(modules):
        for dist in distributions.get(module, []):
            pins[dist] = metadata.version(dist)
    if "scikit-learn" in pins:  # scikit-learn's own runtime dependencies
        for dist in ("numpy", "scipy", "joblib", "threadpoolctl"):
            try:
                pins.setdefault(dist, metadata.version(dist))
            except metadata.PackageNotFoundError:
                continue
    version = ".".join(str(part) for part in sys.version_info[:3])
    header = [
        "# Written by `scaffold new --model`: the libraries the model's objects come from,",
        "# pinned to the versions installed where the model was read",
        f"# (Python {version}, {datetime.date.today().isoformat()}).",
        "# A pickled model loads reliably only with the versions it was saved with.",
    ]
    return "\n".join(header + [f"{d}=={v}" for d, v in sorted(pins.items())]) + "\n"


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


def parse_input(raw_data: str | bytes) -> tuple[str, list[list[float]]]:
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
    width = getattr(models[name], "n_features_in_", None)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or (width is not None and len(row) != width):
            raise ValueError(f"row {{i}}: expected a list of {{width}} numbers for model {{name}}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise ValueError(f"row {{i}}: every value must be a number")
    return name, rows


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
            pins = sorted(
                {line for text in texts for line in text.splitlines() if "==" in line},
                key=str.lower,
            )
            target.write_text("\n".join(header + pins) + "\n", encoding="utf-8")
        else:  # pragma: no cover - the adapter writes no other project file
            raise UsageError(f"the models need different {relative}; serve them apart")
    notes.append(
        f"src/score.py serves {', '.join(sorted(next(iter(files.values()))))} by the request's "
        '"model"; docker-context/requirements.txt pins what they need'
    )
    return notes
