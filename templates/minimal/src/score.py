"""Scoring script for the Azure ML inference server (azureml-inference-server-http, `azmlinfsrv`).

The server imports this file, calls `init()` once when the container starts and `run()` for
every request to /score. This sample serves tiny linear models stored as JSON, so it needs
only the Python standard library.

Request:  {"data": [[x1, x2, x3], ...]}  or  {"data": [{"x1": .., "x2": .., "x3": ..}, ...]}
Response: {"predictions": [y, ...]}      (one number per row, always a list)
Bad input gets HTTP 400 with {"error": "<what is wrong>"}.

Several models in one deployment: every MODEL_GLOB file under the model folder is a model,
named by its file name without the extension (model/model-b.json is "model-b"). With more than
one, the request chooses with a "model" field and the response names it:
  {"model": "model-b", "data": [[..], ..]}  ->  {"model": "model-b", "predictions": [y, ..]}
A missing or unknown "model" gets HTTP 400 listing the names. With one model "model" is
optional (if sent, it must name that model). To add a model, drop its file into the model
folder and restart; model names must be unique.

Swapping in your own model (e.g. scikit-learn saved with joblib):
  1. List the libraries, pinned to the versions you trained with, in
     docker-context/requirements.txt (e.g. `scikit-learn==X.Y.Z` and `joblib==X.Y.Z`);
     otherwise the import fails in the container and the server exits at startup.
  2. Put the file(s) in model/ and set MODEL_GLOB below (e.g. "*.pkl").
  3. In `load_model()`, replace the JSON reading with `import joblib; return joblib.load(path)`.
  4. In `parse_input()`, take the feature names from your own code instead of
     `models[name]["features"]` (they come from the JSON model here) and in `predict()`
     replace the arithmetic with `models[name].predict(rows).tolist()`.
  5. Refresh sample_request.json / sample_response.json and tests/test_score.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

# The server only attaches handlers to its own "azmlinfsrv" logger, so a child of it is what
# shows up in the container log (`az ml online-deployment get-logs`). print() works too.
logger = logging.getLogger("azmlinfsrv.score")

# Model files searched for (recursively) under AZUREML_MODEL_DIR when MODEL_FILE is not set.
# Every match is a model, named by its file name without the extension.
MODEL_GLOB = "*.json"

# The loaded models by name; set by init().
models: dict[str, dict[str, Any]] = {}


def find_model_files() -> dict[str, Path]:
    """Locate the model files, keyed by model name (the file name without its extension).

    Azure mounts the registered model folder *by name* under AZUREML_MODEL_DIR, e.g.
    $AZUREML_MODEL_DIR/model/model.json, so the default is a recursive search for MODEL_GLOB.
    Set MODEL_FILE (absolute, or relative to AZUREML_MODEL_DIR) to serve that one file only.
    """
    model_dir_env = os.environ.get("AZUREML_MODEL_DIR", "")
    model_file_env = os.environ.get("MODEL_FILE", "")

    if model_file_env and Path(model_file_env).is_absolute():
        path = Path(model_file_env)
        if not path.is_file():
            raise FileNotFoundError(f"MODEL_FILE={model_file_env} does not exist or is not a file")
        return {path.stem: path}

    if not model_dir_env:
        raise RuntimeError(
            "AZUREML_MODEL_DIR is not set; it must point at the folder holding the model "
            "(Azure sets it; locally pass it to azmlinfsrv / docker run)"
        )
    model_dir = Path(model_dir_env)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"AZUREML_MODEL_DIR={model_dir} is not a directory")

    if model_file_env:
        path = model_dir / model_file_env
        if not path.is_file():
            raise FileNotFoundError(
                f"MODEL_FILE={model_file_env} not found under AZUREML_MODEL_DIR={model_dir}"
            )
        return {path.stem: path}

    matches = sorted(p for p in model_dir.rglob(MODEL_GLOB) if p.is_file())
    if not matches:
        found = sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*"))
        raise FileNotFoundError(
            f"No model file ({MODEL_GLOB}) found under AZUREML_MODEL_DIR={model_dir} (searched "
            f"recursively); found: {found[:50] or 'nothing (empty directory)'}"
        )
    by_name: dict[str, list[Path]] = {}
    for path in matches:
        by_name.setdefault(path.stem, []).append(path)
    clashes = {
        name: [str(p.relative_to(model_dir)) for p in paths]
        for name, paths in by_name.items()
        if len(paths) > 1
    }
    if clashes:
        raise RuntimeError(
            f"Several model files under AZUREML_MODEL_DIR={model_dir} have the same name: "
            f"{clashes}; a model is named by its file name, so rename them apart "
            "(or set MODEL_FILE to serve one file)"
        )
    return {name: paths[0] for name, paths in by_name.items()}


def load_model(path: Path) -> dict[str, Any]:
    """Read and check the linear model JSON. Replace this to load your own model format."""
    try:
        with path.open(encoding="utf-8") as f:
            loaded = json.load(f)
    except ValueError as ex:
        raise ValueError(f"{path} is not valid JSON: {ex}") from None
    features = loaded.get("features") if isinstance(loaded, dict) else None
    coefficients = loaded.get("coefficients") if isinstance(loaded, dict) else None
    if (
        not isinstance(loaded, dict)
        or loaded.get("kind") != "linear"
        or not isinstance(features, list)
        or not all(isinstance(name, str) for name in features)
        or not isinstance(coefficients, list)
        or len(coefficients) != len(features)
        or not features
        or not all(_is_finite_number(c) for c in coefficients)
        or not _is_finite_number(loaded.get("intercept"))
    ):
        raise ValueError(
            f"{path} is not a valid linear model: expected "
            '{"kind": "linear", "features": [names], "coefficients": [numbers, one per feature], '
            '"intercept": number}'
        )
    return loaded


def init() -> None:
    """Called once at startup: load the models. An exception here stops the server (exit 3)."""
    global models
    paths = find_model_files()
    models = {name: load_model(path) for name, path in sorted(paths.items())}
    for name, path in sorted(paths.items()):
        logger.info("Loaded model %r from %s (features: %s)", name, path, models[name]["features"])
    if len(models) > 1:
        logger.info('Several models: each request chooses one with "model": %s', sorted(models))


def _is_finite_number(value: Any) -> bool:
    # bool is a subclass of int in Python; true/false are not valid feature values.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def select_model(requested: Any) -> str:
    """Name of the model a request asks for (its "model" field; optional with one model)."""
    if not models:
        raise RuntimeError("no model is loaded; init() must run first")
    names = sorted(models)
    if requested is None:
        if len(names) == 1:
            return names[0]
        raise ValueError(f'the request must choose a model: add "model": one of {names}')
    if not isinstance(requested, str) or requested not in models:
        shown = json.dumps(requested)[:100]
        raise ValueError(f'unknown model {shown}; "model" must be one of {names}')
    return requested


def parse_input(raw_data: str | bytes) -> tuple[str, list[list[float]]]:
    """Validate a request body; return the chosen model's name and the rows as lists of floats
    in that model's feature order.

    Raises ValueError with a message meant for the caller on any bad input.
    """
    if not raw_data or not raw_data.strip():
        raise ValueError(
            "request body is empty; send JSON with the header Content-Type: application/json"
        )
    try:
        body = json.loads(raw_data)
    except (ValueError, TypeError) as ex:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"request body is not valid JSON: {ex}") from None
    if not isinstance(body, dict) or "data" not in body:
        example = '{"data": [[1, 2, 3]]}'
        if len(models) > 1:
            example = '{"model": "' + sorted(models)[0] + '", "data": [[1, 2, 3]]}'
        raise ValueError(f'request body must be a JSON object with a "data" key, e.g. {example}')
    name = select_model(body.get("model"))
    return name, parse_rows(body["data"], models[name]["features"])


def parse_rows(data: Any, features: list[str]) -> list[list[float]]:
    """Validate the request's "data" and return its rows as lists of floats in `features` order."""
    if not isinstance(data, list) or not data:
        raise ValueError('"data" must be a non-empty list of rows')

    n = len(features)
    rows: list[list[float]] = []
    for i, row in enumerate(data):
        if isinstance(row, dict):  # a record: {"x1": .., "x2": .., "x3": ..}
            missing = [name for name in features if name not in row]
            extra = sorted(str(key) for key in row if key not in features)
            if missing:
                raise ValueError(f"row {i}: missing keys {missing}; expected exactly {features}")
            if extra:
                raise ValueError(f"row {i}: unexpected keys {extra}; expected exactly {features}")
            values = [row[name] for name in features]
        elif isinstance(row, list):
            if len(row) != n:
                raise ValueError(f"row {i}: expected {n} values {features}, got {len(row)}")
            values = row
        else:
            raise ValueError(
                f"row {i}: expected a list of {n} numbers or an object with keys {features}"
            )
        if not all(_is_finite_number(v) for v in values):
            raise ValueError(
                f"row {i}: all values must be finite numbers (no strings, null, NaN or Infinity)"
            )
        rows.append([float(v) for v in values])
    return rows


def predict(name: str, rows: list[list[float]]) -> list[float]:
    """Score already-validated rows with model `name`. Replace the arithmetic for your model."""
    if name not in models:
        raise RuntimeError(f"model {name!r} is not loaded; init() must run first")
    coefficients = models[name]["coefficients"]
    intercept = float(models[name]["intercept"])
    predictions = [intercept + sum(c * x for c, x in zip(coefficients, row)) for row in rows]
    if not all(math.isfinite(p) for p in predictions):
        # Inputs are finite but so large that the result overflows; JSON cannot carry Infinity.
        raise ValueError("input values are too large: a prediction overflowed to infinity")
    return predictions


def _bad_request(message: str) -> Any:
    """A 400 response with a JSON body. Imported here so the rest of this file works (and can be
    unit-tested) without the inference server installed."""
    from azureml_inference_server_http.api.aml_response import AMLResponse

    return AMLResponse({"error": message}, 400, json_str=True)


def run(raw_data: str) -> Any:
    """Called for every request. `raw_data` is the request body as a string (undecorated run()).

    Returns a dict (sent as JSON with status 200) or a 400 response for bad input. Any other
    exception becomes a 500 from the server, with the traceback in the log.
    """
    if not models:
        raise RuntimeError("no model is loaded; init() must run first")
    try:
        name, rows = parse_input(raw_data)
        predictions = predict(name, rows)
    except ValueError as ex:
        return _bad_request(str(ex))
    if len(models) > 1:
        return {"model": name, "predictions": predictions}
    return {"predictions": predictions}
