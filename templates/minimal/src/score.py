"""Scoring script for the Azure ML inference server (azureml-inference-server-http, `azmlinfsrv`).

The server imports this file, calls `init()` once when the container starts and `run()` for
every request to /score. This sample serves a tiny linear model stored as JSON, so it needs
only the Python standard library.

Request:  {"data": [[x1, x2, x3], ...]}  or  {"data": [{"x1": .., "x2": .., "x3": ..}, ...]}
Response: {"predictions": [y, ...]}      (one number per row, always a list)
Bad input gets HTTP 400 with {"error": "<what is wrong>"}.

Swapping in your own model (e.g. scikit-learn saved with joblib):
  1. List the libraries, pinned to the versions you trained with, in
     docker-context/requirements.txt (e.g. `scikit-learn==X.Y.Z` and `joblib==X.Y.Z`);
     otherwise the import fails in the container and the server exits at startup.
  2. Put the file in model/ and set MODEL_FILENAME below (e.g. "model.pkl").
  3. In `load_model()`, replace the JSON reading with `import joblib; return joblib.load(path)`.
  4. In `init()`/`run()`, pass your own feature names to `parse_input()` (they come from the
     JSON model here) and in `predict()` replace the arithmetic with
     `model.predict(rows).tolist()`.
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

# File name searched for (recursively) under AZUREML_MODEL_DIR when MODEL_FILE is not set.
MODEL_FILENAME = "model.json"

# The loaded model; set by init().
model: dict[str, Any] | None = None


def find_model_file() -> Path:
    """Locate the model file.

    Azure mounts the registered model folder *by name* under AZUREML_MODEL_DIR, e.g.
    $AZUREML_MODEL_DIR/model/model.json, so the default is a recursive search for
    MODEL_FILENAME. Set MODEL_FILE (absolute, or relative to AZUREML_MODEL_DIR) to pick a file.
    """
    model_dir_env = os.environ.get("AZUREML_MODEL_DIR", "")
    model_file_env = os.environ.get("MODEL_FILE", "")

    if model_file_env and Path(model_file_env).is_absolute():
        path = Path(model_file_env)
        if not path.is_file():
            raise FileNotFoundError(f"MODEL_FILE={model_file_env} does not exist or is not a file")
        return path

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
        return path

    matches = sorted(p for p in model_dir.rglob(MODEL_FILENAME) if p.is_file())
    if len(matches) == 1:
        return matches[0]
    if not matches:
        found = sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*"))
        raise FileNotFoundError(
            f"No {MODEL_FILENAME} found under AZUREML_MODEL_DIR={model_dir} (searched "
            f"recursively); found: {found[:50] or 'nothing (empty directory)'}"
        )
    raise RuntimeError(
        f"Several {MODEL_FILENAME} files under AZUREML_MODEL_DIR={model_dir}: "
        f"{[str(p.relative_to(model_dir)) for p in matches]}; set MODEL_FILE to choose one"
    )


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
    """Called once at startup: load the model. An exception here stops the server (exit 3)."""
    global model
    path = find_model_file()
    model = load_model(path)
    logger.info("Loaded model from %s (features: %s)", path, model["features"])


def _is_finite_number(value: Any) -> bool:
    # bool is a subclass of int in Python; true/false are not valid feature values.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_input(raw_data: str | bytes, features: list[str]) -> list[list[float]]:
    """Validate a request body and return its rows as lists of floats in `features` order.

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
        raise ValueError(
            'request body must be a JSON object with a "data" key, e.g. {"data": [[1, 2, 3]]}'
        )
    data = body["data"]
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


def predict(rows: list[list[float]]) -> list[float]:
    """Score already-validated rows with the loaded model. Replace the arithmetic for your model."""
    if model is None:
        raise RuntimeError("model is not loaded; init() must run first")
    coefficients = model["coefficients"]
    intercept = float(model["intercept"])
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
    if model is None:
        raise RuntimeError("model is not loaded; init() must run first")
    try:
        rows = parse_input(raw_data, model["features"])
        return {"predictions": predict(rows)}
    except ValueError as ex:
        return _bad_request(str(ex))
