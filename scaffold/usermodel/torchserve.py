"""TorchServe model adapter: a model archive (.mar) is served as it is, as model/<name>.mar;
a TorchScript file (.pt) is packed into one with torch-model-archiver and a generated handler.

Only the archive's manifest is read (zipfile reads the central directory and that one entry,
never the whole archive). The served name defaults to the manifest's modelName (or the .pt
file's name); TorchServe serves the archive under the name given in TORCHSERVE_MODELS.
A TorchScript model is loaded with torch (under the inspection limit) to record the samples:
rows of as many numbers as its first 2-D weight has columns.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, need, remove

MANIFEST = "MAR-INF/MANIFEST.json"
SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    if path.is_file() and path.suffix.lower() == ".pt":
        return _torchscript(model)
    if path.is_dir() or path.suffix.lower() != ".mar":
        raise UsageError(
            f"--model {path.name}: TorchServe projects take a model archive (.mar) or a "
            "TorchScript file (.pt)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise UsageError(
            f"--model {path.name}: not a TorchServe model archive (no readable {MANIFEST}: {error})"
        ) from None
    name = str(manifest.get("model", {}).get("modelName", ""))
    defaults = {"served_model_name": name} if SAFE_NAME.fullmatch(name) else {}

    def finish(project: Path, answers: Mapping[str, Any], env: Any = None) -> list[str]:
        folder = model_dir(project, answers)
        served = str(answers["served_model_name"])
        remove(project, folder.relative_to(project).as_posix(), "model-src")
        remove(project, "sample_request.json", "sample_response.json")
        copy_model(path, folder / f"{served}.mar")
        return [
            f"model/{served}.mar is {path.name} as it is; write sample_request.json and "
            "sample_response.json for it. Readiness GETs /predictions/"
            f"{served} with an empty body: the handler must answer it with 200 once loaded "
            "(see README.md, Readiness)"
        ]

    return Prepared(defaults=defaults, finish=finish)


HANDLER = """\
\"\"\"TorchServe handler for the TorchScript model {file}, written by `scaffold new --model`.

Request (Content-Type: application/json): {{"instances": [[x1, x2, ...], ...]}}
Response: {{"predictions": [...]}} (the model's output for the float32 rows, as lists).
An empty body (the readiness probe's GET) answers 200 {{"status": "ready"}} once loaded;
bad input answers 400 {{"error": ...}}.
\"\"\"

import json
from pathlib import Path

import torch


class TorchScriptHandler:
    def __init__(self):
        self.model = None
        self.initialized = False

    def initialize(self, context):
        model_dir = Path(context.system_properties.get("model_dir"))
        serialized = context.manifest["model"]["serializedFile"]
        self.model = torch.jit.load(str(model_dir / serialized), map_location="cpu").eval()
        self.initialized = True

    def handle(self, data, context):
        responses = []
        for idx, row in enumerate(data):
            body = row.get("body", row.get("data"))
            if isinstance(body, (bytes, bytearray)):
                body = body.decode("utf-8")
            if body in (None, "", b""):
                responses.append(json.dumps({{"status": "ready"}}))
                continue
            try:
                payload = json.loads(body) if isinstance(body, str) else body
                rows = torch.tensor(payload["instances"], dtype=torch.float32)
                with torch.no_grad():
                    out = self.model(rows)
                responses.append(json.dumps({{"predictions": out.tolist()}}))
            except (ValueError, KeyError, TypeError, RuntimeError) as error:
                context.set_response_status(400, "Bad Request", idx)
                responses.append(json.dumps({{"error": str(error)}}))
        return responses
"""


def _torchscript(model: ModelFile) -> Prepared:
    path = model.path
    stem = path.stem
    defaults = {"served_model_name": stem} if SAFE_NAME.fullmatch(stem) else {}
    samples = _samples(path) if model.inspect else None

    def finish(project: Path, answers: Mapping[str, Any], env: Any = None) -> list[str]:
        folder = model_dir(project, answers)
        served = str(answers["served_model_name"])
        remove(project, folder.relative_to(project).as_posix(), "model-src")
        handler = project / "model-src" / "handler.py"
        handler.parent.mkdir(parents=True)
        handler.write_text(HANDLER.format(file=path.name), encoding="utf-8")
        folder.mkdir(parents=True)
        _archive(path, handler, served, folder)
        notes = [f"model/{served}.mar packs {path.name} with model-src/handler.py"]
        for name in ("sample_request.json", "sample_response.json"):
            if samples is None:
                remove(project, name)
            else:
                (project / name).write_text(json.dumps(samples[name]) + "\n", encoding="utf-8")
        if samples is None:
            notes.append("write sample_request.json and sample_response.json for it")
        return notes

    return Prepared(defaults=defaults, finish=finish)


def _samples(path: Path) -> dict[str, Any] | None:
    """Samples from running the model on float rows sized by its first 2-D weight, or None."""
    torch = need("torch", "torch")
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as error:  # torch raises RuntimeError and its own types
        raise UsageError(
            f"--model {path.name}: not a loadable TorchScript file ({error})"
        ) from None
    widths = [p.shape[1] for p in module.parameters() if p.dim() == 2]
    if not widths:
        return None
    rows = [[round(0.5 * (r + c + 1), 1) for c in range(int(widths[0]))] for r in range(2)]
    try:
        with torch.no_grad():
            out = module(torch.tensor(rows, dtype=torch.float32))
        return {
            "sample_request.json": {"instances": rows},
            "sample_response.json": {"predictions": out.tolist()},
        }
    except Exception:  # the guess of the input shape did not fit: leave samples to the user
        return None


def _archive(path: Path, handler: Path, name: str, export: Path) -> None:
    need("model_archiver", "torch-model-archiver")
    command = [
        sys.executable, "-m", "model_archiver.model_packaging",
        "--model-name", name, "--version", "1.0", "--serialized-file", str(path),
        "--handler", str(handler), "--export-path", str(export), "--force",
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise UsageError(
            f"--model {path.name}: torch-model-archiver failed ({lines[-1] if lines else ''})"
        )
