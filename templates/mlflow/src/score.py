"""Scoring script for an MLflow model on the Azure ML inference server (azureml-inference-server-http).

The server imports this file, calls `init()` once when the container starts and `run()` for
every request to /score. `init()` loads the MLflow model folder (the one holding `MLmodel`)
through `mlflow.pyfunc`, so any model with the python_function flavor is served as is.

Requests (a table of rows, in any of the shapes Azure ML's MLflow scoring accepts):
  {"input_data": {"columns": ["a", "b"], "data": [[1.0, 2.0], ...]}}
  {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], ...]}}
  {"dataframe_records": [{"a": 1.0, "b": 2.0}, ...]}
  {"data": [[1.0, 2.0], ...]}   (columns taken from the model's signature when it has one)
Response: {"predictions": [...]}
Bad input (including input the model's signature rejects) gets HTTP 400 with
{"error": "<what is wrong>"}.

The model folder is searched for (recursively) under AZUREML_MODEL_DIR, where Azure mounts
the registered model; set MLFLOW_MODEL_FOLDER (relative to AZUREML_MODEL_DIR) to choose one.
The libraries the model needs are pinned in docker-context/requirements.txt.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger("azmlinfsrv.score")

#: The loaded mlflow.pyfunc model; set by init().
model: Any = None
#: Input column names from the model's signature ([] when it has none).
columns: list[str] = []

TABLE_KEYS = ("input_data", "dataframe_split", "dataframe_records", "data")


def find_model_folder() -> Path:
    """The MLflow model folder under AZUREML_MODEL_DIR (the folder holding MLmodel)."""
    root_env = os.environ.get("AZUREML_MODEL_DIR", "")
    if not root_env:
        raise RuntimeError(
            "AZUREML_MODEL_DIR is not set; it must point at the folder holding the model "
            "(Azure sets it; locally pass it to azmlinfsrv / docker run)"
        )
    root = Path(root_env)
    chosen = os.environ.get("MLFLOW_MODEL_FOLDER", "")
    if chosen:
        folder = root / chosen
        if not (folder / "MLmodel").is_file():
            raise FileNotFoundError(f"MLFLOW_MODEL_FOLDER={chosen}: no MLmodel file in {folder}")
        return folder
    found = sorted(root.rglob("MLmodel"))
    if not found:
        raise FileNotFoundError(f"no MLmodel file under AZUREML_MODEL_DIR={root}")
    if len(found) > 1:
        raise RuntimeError(
            f"several MLflow models under AZUREML_MODEL_DIR={root}: "
            f"{[str(p.parent.relative_to(root)) for p in found]}; set MLFLOW_MODEL_FOLDER"
        )
    return found[0].parent


def init() -> None:
    """Called once at startup: load the model. An exception here stops the server."""
    global model, columns
    import mlflow.pyfunc

    folder = find_model_folder()
    model = mlflow.pyfunc.load_model(str(folder))
    schema = model.metadata.get_input_schema()
    names = schema.input_names() if schema is not None else []
    columns = [str(name) for name in names] if all(names) else []
    logger.info("Loaded MLflow model from %s (columns: %s)", folder, columns or "unnamed")


def parse_input(raw_data: str | bytes) -> Any:
    """Validate a request body and return it as a pandas DataFrame, its values converted to
    the types of the model's signature (MLflow's own JSON parsing).

    Raises ValueError with a message meant for the caller on any bad input.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

    if not raw_data or not raw_data.strip():
        raise ValueError(
            "request body is empty; send JSON with the header Content-Type: application/json"
        )
    try:
        body = json.loads(raw_data)
    except (ValueError, TypeError) as ex:
        raise ValueError(f"request body is not valid JSON: {ex}") from None
    keys = [key for key in TABLE_KEYS if isinstance(body, dict) and key in body]
    if len(keys) != 1:
        raise ValueError(
            "request body must be a JSON object with one of the keys "
            + ", ".join(TABLE_KEYS)
            + ', e.g. {"input_data": {"columns": [...], "data": [[...]]}}'
        )
    table = body[keys[0]]
    orient = "records" if keys[0] == "dataframe_records" else "split"
    if orient == "split" and isinstance(table, list):  # bare rows: the signature's columns
        table = {"columns": columns, "data": table} if columns else {"data": table}
    rows = table if orient == "records" else table.get("data") if isinstance(table, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f'"{keys[0]}" must hold a non-empty list of rows')
    first = rows[0] if isinstance(rows[0], list) else []
    width = len(table.get("columns") or first) if isinstance(table, dict) else 0
    for i, row in enumerate(rows):
        if orient == "records" and not isinstance(row, dict):
            raise ValueError(f"row {i}: expected an object of column values")
        if orient == "split" and (not isinstance(row, list) or len(row) != width):
            raise ValueError(f"row {i}: expected a list of {width} values")
    schema = model.metadata.get_input_schema() if model is not None else None
    try:
        return dataframe_from_parsed_json(table, pandas_orient=orient, schema=schema)
    except (MlflowException, ValueError, TypeError) as ex:
        raise ValueError(f"bad input: {ex}") from None


def _bad_request(message: str) -> Any:
    """A 400 response with a JSON body. Imported here so the rest of this file works (and can be
    unit-tested) without the inference server installed."""
    from azureml_inference_server_http.api.aml_response import AMLResponse

    return AMLResponse({"error": message}, 400, json_str=True)


def _jsonable(predictions: Any) -> Any:
    """Predictions (numpy array, pandas Series/DataFrame, list) as plain JSON values."""
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    return predictions


def run(raw_data: str) -> Any:
    """Called for every request. `raw_data` is the request body as a string (undecorated run()).

    Returns a dict (sent as JSON with status 200) or a 400 response for bad input. Any other
    exception becomes a 500 from the server, with the traceback in the log.
    """
    if model is None:
        raise RuntimeError("no model is loaded; init() must run first")
    from mlflow.exceptions import MlflowException

    try:
        frame = parse_input(raw_data)
        predictions = model.predict(frame)
    except (ValueError, MlflowException) as ex:
        return _bad_request(str(ex))
    return {"predictions": _jsonable(predictions)}
