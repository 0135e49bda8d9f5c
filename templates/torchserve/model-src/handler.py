"""TorchServe handler for the sample half_plus_two model (y = 0.5 * x + 2).

It is packed into model/half_plus_two.mar by model-src/build-mar.sh; edit it here, then
rebuild the .mar. TorchServe loads it in each worker process, calls initialize() once, then
handle() for every batch of requests (a batch of one unless you configure batching).

Requests (POST /predictions/half_plus_two, Content-Type: application/json), exactly one of
    {"instances": [[1.0], [2.0], [5.0]]}   {"data": [1.0, 2.0]}   {"inputs": [[4.0]]}
each item a number or a one-element list of a number. Response:
    {"predictions": [2.5, 3.0, 4.5]}
Bad input gets HTTP 400 with {"error": "..."} (set per request with
context.set_response_status; an exception would become TorchServe's generic
503 "Prediction failed").

An EMPTY body (what GET /predictions/half_plus_two sends) gets 200 {"status": "ready", ...}:
deployment.yml uses that GET as the readiness route. TorchServe queues requests until a
worker has finished initialize(), so that GET cannot succeed before the model is loaded,
unlike GET /ping, which answers 200 while the worker is still starting. The readiness
answer does not run the model: initialize() already ran it once (a warm-up) before the
worker took any request.

Keep this file compatible with the image's Python and torch (older than a workstation's):
standard library + torch only, no newer syntax than Python 3.8.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

#: Format written by model-src/make_model.py.
WEIGHTS_FORMAT = "scaffold-state-dict-json/1"
#: Request keys that hold the instances; a request must use exactly one.
INPUT_KEYS = ("instances", "data", "inputs")
EXAMPLE = '{"instances": [[1.0], [2.0]]}'


class HalfPlusTwoHandler:
    """Entry point: TorchServe instantiates the only class of this module."""

    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self.model_name = "half_plus_two"
        self.initialized = False

    # -- start-up -------------------------------------------------------------------
    def initialize(self, context: Any) -> None:
        """Rebuild the nn.Linear(1, 1) from the weights in the .mar and warm it up."""
        model_dir = context.system_properties.get("model_dir")
        serialized = context.manifest["model"].get("serializedFile")
        if not serialized:
            raise RuntimeError("the .mar has no weights file; rebuild it with build-mar.sh")
        path = Path(model_dir) / serialized
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != WEIGHTS_FORMAT:
            raise RuntimeError(
                f"{serialized}: expected format {WEIGHTS_FORMAT!r}, got {document.get('format')!r};"
                " write it with model-src/make_model.py"
            )
        model = torch.nn.Linear(1, 1)
        model.load_state_dict(
            {name: torch.tensor(value, dtype=torch.float32)
             for name, value in document["state_dict"].items()}
        )
        model.eval()
        # Warm-up: prove the model predicts before TorchServe marks this worker READY.
        with torch.no_grad():
            check = model(torch.zeros(1, 1))
        if not bool(torch.isfinite(check).all()):
            raise RuntimeError(f"{serialized}: the model predicts {check.tolist()} for 0.0")
        self.model = model
        self.model_name = context.model_name or self.model_name
        self.initialized = True
        logger.info("%s ready: weights %s, torch %s", self.model_name, path, torch.__version__)

    # -- requests -------------------------------------------------------------------
    def handle(self, data: list[dict], context: Any) -> list[str]:
        """Answer each request of the batch: predictions, readiness, or a 400 error."""
        assert self.model is not None, "initialize() has not run"
        responses: list[str | None] = [None] * len(data)
        valid = []  # (index in batch, instances)
        for idx, row in enumerate(data):
            try:
                instances = parse_request(row)
            except ValueError as error:
                logger.warning("request %s rejected: %s", context.get_request_id(idx), error)
                responses[idx] = reply(context, idx, {"error": str(error)}, 400, "Bad Request")
                continue
            if instances is None:
                responses[idx] = reply(
                    context, idx, {"status": "ready", "model": self.model_name}, 200, "OK")
            else:
                valid.append((idx, instances))
        if valid:
            flat = [value for _, instances in valid for value in instances]
            with torch.no_grad():
                outputs = self.model(torch.tensor(flat, dtype=torch.float32).reshape(-1, 1))
            predictions = outputs.reshape(-1).tolist()
            start = 0
            for idx, instances in valid:
                chunk = predictions[start:start + len(instances)]
                start += len(instances)
                responses[idx] = reply(context, idx, {"predictions": chunk}, 200, "OK")
        return [response or "" for response in responses]


def parse_request(row: dict) -> list[float] | None:
    """The request's numbers; None for an empty body (readiness); ValueError if invalid."""
    payload = _decode_body(row)
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object such as {EXAMPLE}, got {type(payload).__name__}")
    keys = [key for key in INPUT_KEYS if key in payload]
    if len(keys) != 1:
        raise ValueError(f"use exactly one of the keys {', '.join(INPUT_KEYS)}, e.g. {EXAMPLE}")
    key = keys[0]
    values = payload[key]
    if not isinstance(values, list) or not values:
        raise ValueError(f"{key!r} must be a non-empty list, e.g. {EXAMPLE}")
    return [_number(item, f"{key}[{index}]") for index, item in enumerate(values)]


def _decode_body(row: dict) -> Any:
    """The request body as parsed JSON; None when it is empty."""
    if "body" in row:
        payload = row["body"]
    elif "data" in row:
        payload = row["data"]
    else:
        raise ValueError(f"send a JSON body with Content-Type: application/json, e.g. {EXAMPLE}")
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the request body is not UTF-8 text; send JSON") from None
    if isinstance(payload, str):
        if not payload.strip():
            return None
        try:
            return json.loads(payload)
        except ValueError as error:
            raise ValueError(f"the body is not valid JSON ({error}); send e.g. {EXAMPLE}") from None
    return payload


def _number(item: Any, where: str) -> float:
    """One instance: a finite number or a one-element list holding one."""
    if isinstance(item, list) and len(item) == 1:
        item = item[0]
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        try:
            number = float(item)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise ValueError(f"{where} must be a finite number or a one-element list of one, "
                     f"got {_short(item)}")


def reply(context: Any, idx: int, body: dict, status: int, phrase: str) -> str:
    """Set this request's HTTP status and content type; return the JSON text."""
    context.set_response_status(status, phrase, idx)
    context.set_response_content_type(idx, "application/json")
    return json.dumps(body)


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
