"""TorchServe model adapter: a model archive (.mar) is served as it is, as model/<name>.mar;
a TorchScript file (.pt) is packed into one with a generated handler.

Only the archive's manifest is read (zipfile reads the central directory and that one entry,
never the whole archive). The served name defaults to the manifest's modelName (or the .pt
file's name); TorchServe serves the archive under the name given in TORCHSERVE_MODELS.

A TorchScript file is a zip archive too: its `data.pkl` (the module's attributes and the
shapes of its tensors) is read without torch (`pickles`), so the sample rows are as wide as
its first 2-D weight, and the archive is written here (the layout torch-model-archiver 0.12
writes: the file, the handler, MAR-INF/MANIFEST.json), so neither torch nor
torch-model-archiver is needed where scaffold runs. The sample response is recorded where
torch is: --model-python, scaffold's own environment, or the project's image (the real
TorchServe, with the torch of the serving image).
"""

from __future__ import annotations

import datetime
import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, model_dir, modelenv, pickles, remove

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

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        folder = model_dir(project, answers)
        served = str(answers["served_model_name"])
        remove(project, folder.relative_to(project).as_posix(), "model-src")
        remove(project, "sample_request.json", "sample_response.json")
        env.place(path, folder / f"{served}.mar")
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
    width = read_width(path) if model.inspect else None

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        folder = model_dir(project, answers)
        served = str(answers["served_model_name"])
        remove(project, folder.relative_to(project).as_posix(), "model-src")
        handler = project / "model-src" / "handler.py"
        handler.parent.mkdir(parents=True)
        handler.write_text(HANDLER.format(file=path.name), encoding="utf-8")
        folder.mkdir(parents=True)
        write_archive(folder / f"{served}.mar", served, path, handler)
        notes = [f"model/{served}.mar packs {path.name} with model-src/handler.py"]
        return notes + _samples(project, path, width, env)

    return Prepared(defaults=defaults, finish=finish, prefetch=False)


def read_width(path: Path) -> int | None:
    """Columns of the TorchScript module's first 2-D weight (rows of that many numbers are
    what it takes), read from its data.pkl without torch; None when unknown."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                raise UsageError(f"--model {path.name}: not a TorchScript file (no data.pkl)")
            data = archive.read(min(names, key=len))
    except (zipfile.BadZipFile, OSError) as error:
        raise UsageError(
            f"--model {path.name}: not a loadable TorchScript file ({error})"
        ) from None
    try:
        graph = pickles.read_bytes(data)
    except pickles.PickleError:
        return None
    for size in _tensor_sizes(graph.root):
        if len(size) == 2:
            return int(size[1])
    return None


def _tensor_sizes(obj: Any, depth: int = 0, seen: set[int] | None = None) -> list[tuple[int, ...]]:
    """Sizes of the tensors of a module in attribute order (parameters as registered)."""
    seen = set() if seen is None else seen
    if depth > 50 or id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, pickles.Stub):
        if obj.qualname.startswith("_rebuild_tensor") and len(obj.args) > 2:
            size = obj.args[2]
            return [tuple(size)] if isinstance(size, tuple) else []
        found = []
        for value in [*obj.attrs().values(), *obj.args]:
            found += _tensor_sizes(value, depth + 1, seen)
        return found
    if isinstance(obj, dict):
        values: list[Any] = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        values = list(obj)
    else:
        return []
    found = []
    for value in values:
        found += _tensor_sizes(value, depth + 1, seen)
    return found


def write_archive(target: Path, name: str, serialized: Path, handler: Path) -> None:
    """A TorchServe model archive as torch-model-archiver 0.12 lays it out (the weights
    stored, not deflated: TorchServe unpacks either, and storing is as fast as a copy)."""
    manifest = {
        "createdOn": datetime.datetime.now().strftime("%d/%m/%Y %H:%M:%S"),
        "runtime": "python",
        "model": {
            "modelName": name,
            "serializedFile": serialized.name,
            "handler": handler.name,
            "modelVersion": "1.0",
        },
        "archiverVersion": "0.12.0",
    }
    with zipfile.ZipFile(target, "w") as archive:
        archive.write(serialized, serialized.name, compress_type=zipfile.ZIP_STORED)
        archive.write(handler, handler.name, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(
            MANIFEST, json.dumps(manifest, indent=2), compress_type=zipfile.ZIP_DEFLATED
        )


def _samples(project: Path, path: Path, width: int | None, env: modelenv.ModelEnv) -> list[str]:
    """Write the samples: rows from the model's width, the response from running it."""
    import importlib.util

    rows = (
        [[round(0.5 * (r + c + 1), 1) for c in range(width)] for r in range(2)] if width else None
    )
    choice = env.choose(here=importlib.util.find_spec("torch") is not None, image=rows is not None)
    response: Any = None
    why = (
        "--model-inspect none"
        if env.mode == "none"
        else "torch is not installed here and Docker is not reachable"
    )
    how = ""
    if choice in ("python", "here"):
        python = modelenv.interpreter(env, choice)
        request_file = project / ".scaffold-request.json"
        if rows is not None:
            request_file.write_text(json.dumps({"instances": rows}), encoding="utf-8")
        try:
            ran = modelenv.run_inspector(
                python, "torchscript_model.py", [str(path), str(request_file) if rows else "-"]
            )
            rows = rows or ran.get("rows")
            if ran.get("predictions") is not None:
                response = {"predictions": ran["predictions"]}
                how = f"by running it with torch {ran.get('torch')} in {python}"
        except modelenv.InspectError as error:
            why = f"the model could not be run ({error})"
        finally:
            request_file.unlink(missing_ok=True)
    elif choice == "image" and rows is not None:
        recorded = modelenv.record_in_image(project, env, {"instances": rows})
        response, why = recorded.response, recorded.why
        how = "by the real TorchServe in the project's image"
    if rows is None:
        remove(project, "sample_request.json", "sample_response.json")
        return [f"{path.name} has no 2-D weight to size rows by: write sample_request.json "
                "and sample_response.json yourself"]  # fmt: skip
    (project / "sample_request.json").write_text(
        json.dumps({"instances": rows}) + "\n", encoding="utf-8"
    )
    if response is None:
        remove(project, "sample_response.json")
        return [f"sample_response.json was not recorded ({why}): write it yourself"]
    (project / "sample_response.json").write_text(json.dumps(response) + "\n", encoding="utf-8")
    return [f"sample_response.json was recorded {how}"]
