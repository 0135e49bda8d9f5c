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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, model_dir, modelenv, pickles, remove

MANIFEST = "MAR-INF/MANIFEST.json"
SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


#: File suffixes of PyTorch files (TorchScript or torch.save, told apart by content).
TORCH_SUFFIXES = (".pt", ".pth", ".pt2", ".torchscript", ".ts", ".bin", ".ckpt")
SUPPORTED = "a model archive (.mar) or a TorchScript file (torch.jit.script/trace(...).save)"
#: How to make a TorchScript file from an eager model, for messages.
EXPORT = (
    "save the model with torch.jit.script(model).save('model.pt') (or torch.jit.trace(model, "
    "example_input).save('model.pt')) and pass that file, or pack it with your own handler "
    "into a .mar"
)


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    if path.is_file() and path.suffix.lower() in TORCH_SUFFIXES:
        _check_torchscript(path)
        return _torchscript(model)
    if path.is_dir() or path.suffix.lower() != ".mar":
        raise UsageError(f"--model {path.name}: TorchServe projects take {SUPPORTED}")
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

Request (Content-Type: application/json): {request_help}
Response: {{"predictions": [...]}} (the model's output as lists; a tuple of outputs as a list
of them, a dict as a dict).
An empty body (the readiness probe's GET) answers 200 {{"status": "ready"}} once loaded;
bad input answers 400 {{"error": ...}}.
\"\"\"

import json
from pathlib import Path

import torch

#: The arguments of the model's forward(), in order: (name, torch dtype of the values).
INPUTS = {inputs}


def _tensors(instances):
    \"\"\"The forward() arguments: each instance is a row (one input) or an object with one
    value per input name; the rows are stacked along a new first (batch) dimension.\"\"\"
    if not isinstance(instances, list) or not instances:
        raise ValueError('"instances" must be a non-empty list')
    if all(isinstance(row, dict) for row in instances):
        missing = [name for name, _ in INPUTS if name not in instances[0]]
        if missing:
            raise ValueError("every instance needs " + ", ".join(name for name, _ in INPUTS))
        return [
            torch.tensor([row[name] for row in instances], dtype=getattr(torch, dtype))
            for name, dtype in INPUTS
        ]
    if len(INPUTS) != 1:
        raise ValueError(
            "this model takes several inputs: send instances as objects with "
            + ", ".join(name for name, _ in INPUTS)
        )
    return [torch.tensor(instances, dtype=getattr(torch, INPUTS[0][1]))]


def _jsonable(out):
    if isinstance(out, torch.Tensor):
        return out.tolist()
    if isinstance(out, dict):
        return {{str(key): _jsonable(value) for key, value in out.items()}}
    if isinstance(out, (list, tuple)):
        return [_jsonable(value) for value in out]
    return out


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
                tensors = _tensors(payload["instances"])
                with torch.no_grad():
                    out = self.model(*tensors)
                responses.append(json.dumps({{"predictions": _jsonable(out)}}))
            except (ValueError, KeyError, TypeError, RuntimeError) as error:
                context.set_response_status(400, "Bad Request", idx)
                responses.append(json.dumps({{"error": str(error)}}))
        return responses
"""


def _torchscript(model: ModelFile) -> Prepared:
    path = model.path
    stem = path.stem
    defaults = {"served_model_name": stem} if SAFE_NAME.fullmatch(stem) else {}
    inputs = read_inputs(path) if model.inspect else None

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        folder = model_dir(project, answers)
        served = str(answers["served_model_name"])
        remove(project, folder.relative_to(project).as_posix(), "model-src")
        handler = project / "model-src" / "handler.py"
        handler.parent.mkdir(parents=True)
        handler.write_text(handler_text(path.name, inputs), encoding="utf-8")
        folder.mkdir(parents=True)
        write_archive(folder / f"{served}.mar", served, path, handler)
        notes = [f"model/{served}.mar packs {path.name} with model-src/handler.py"]
        return notes + _samples(project, path, inputs, env)

    return Prepared(defaults=defaults, finish=finish, prefetch=False)


@dataclass(frozen=True)
class Input:
    """One argument of the TorchScript module's forward()."""

    name: str
    #: "float32" rows `width` wide (a Linear takes it), "int64" token ids below `width`
    #: (an Embedding takes it), or "" when its shape cannot be told from the file.
    dtype: str
    width: int | None = None


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def _check_torchscript(path: Path) -> None:
    """UsageError unless `path` is a TorchScript file: a file torch.save wrote (an eager
    model, a state_dict, a checkpoint) loads only with the model's own Python code."""
    names = _zip_names(path)
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return
    data = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    what = "not a TorchScript file"
    if data:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(min(data, key=len))
        try:
            root = pickles.read_bytes(raw).root
        except pickles.PickleError:
            root = None
        if isinstance(root, dict) and root and all(_is_tensor(v) for v in root.values()):
            what = "a state_dict (weights only, torch.save(model.state_dict())), not a model"
        elif isinstance(root, dict):
            keys = ", ".join(str(k) for k in list(root)[:4])
            what = f"a checkpoint dict ({keys}) saved with torch.save, not a model"
        elif isinstance(root, pickles.Stub):
            what = (
                f"an eager {root.qualname} saved with torch.save(model), which loads only "
                "with its Python code"
            )
    elif not names:
        with path.open("rb") as handle:
            head = handle.read(2)
        if head[:1] == b"\x80":  # torch.save's legacy (non-zip) format is a pickle
            what = "a file torch.save wrote in its legacy format, not a TorchScript file"
        else:
            raise UsageError(f"--model {path.name}: TorchServe projects take {SUPPORTED}")
    raise UsageError(f"--model {path.name}: {what}; {EXPORT}")


def _is_tensor(value: Any) -> bool:
    return isinstance(value, pickles.Stub) and value.qualname.startswith("_rebuild")


def _code(archive: zipfile.ZipFile, names: list[str], qualified: str) -> str:
    """The TorchScript source of class `__torch__.a.b.C` (code/__torch__/a/b.py)."""
    module = qualified.rsplit(".", 1)[0]
    suffix = "/code/" + module.replace(".", "/") + ".py"
    for name in names:
        if name.endswith(suffix):
            return archive.read(name).decode("utf-8", errors="replace")
    return ""


_FORWARD = re.compile(r"def forward\(self[^,)]*(?:,(?P<args>[^)]*))?\)\s*->", re.S)
_ALIAS = re.compile(r"^\s*(\w+) = (?:self\.(\w+)|getattr\(self, \"(\w+)\"\))\s*$", re.M)
_CALL = re.compile(r"\((?:self\.)?(\w+)\)\.forward\((\w+)[,)]")


def _forward(code: str, klass: str) -> tuple[list[tuple[str, str]], str]:
    """(arguments with their types, body) of class `klass`'s forward() in `code`."""
    start = code.find(f"class {klass}(")
    if start < 0:
        return [], ""
    found = _FORWARD.search(code, start)
    if not found:
        return [], ""
    args = []
    for part in (found.group("args") or "").split(","):
        name, _, kind = part.partition(":")
        if name.strip():
            args.append((name.strip(), kind.strip()))
    following = code.find("\n  def ", found.end())
    return args, code[found.end() : following if following > 0 else len(code)]


def _consumer(module: pickles.Stub, body: str, arg: str) -> pickles.Stub | None:
    """The submodule forward() passes `arg` to first (module attribute, via its aliases)."""
    aliases = {m.group(1): m.group(2) or m.group(3) for m in _ALIAS.finditer(body)}
    for call in _CALL.finditer(body):
        if call.group(2) == arg:
            attr = aliases.get(call.group(1), call.group(1))
            found = module.attrs().get(attr)
            return found if isinstance(found, pickles.Stub) else None
    return None


def _input_of(archive: zipfile.ZipFile, names: list[str], module: pickles.Stub, arg: str,
              depth: int = 0) -> tuple[str, int | None]:  # fmt: skip
    """(dtype, width) of what `module`'s forward() does with `arg`, following submodules."""
    code = _code(archive, names, module.ref)
    _, body = _forward(code, module.qualname)
    sub = _consumer(module, body, arg) if body else None
    target = sub if sub is not None else module
    sizes = _tensor_sizes(target)
    first = sizes[0] if sizes else ()
    if target.qualname == "Embedding" and len(first) == 2:
        return "int64", int(first[0])
    if target.qualname in ("Linear", "Bilinear", "LazyLinear") and len(first) == 2:
        return "float32", int(first[1])
    if sub is not None and depth < 8:
        sub_args, _ = _forward(_code(archive, names, sub.ref), sub.qualname)
        if sub_args:
            return _input_of(archive, names, sub, sub_args[0][0], depth + 1)
    return "", None


def read_inputs(path: Path) -> list[Input] | None:
    """The arguments of the TorchScript module's forward() and what each takes, read from
    its code and data.pkl without torch; None when the file does not tell."""
    names = _zip_names(path)
    data = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not data:
        raise UsageError(f"--model {path.name}: not a TorchScript file (no data.pkl)")
    try:
        with zipfile.ZipFile(path) as archive:
            root = pickles.read_bytes(archive.read(min(data, key=len))).root
            if not isinstance(root, pickles.Stub):
                return None
            args, _ = _forward(_code(archive, names, root.ref), root.qualname)
            if not args or any(kind not in ("Tensor", "") for _, kind in args):
                return None
            found = []
            for name, _kind in args:
                dtype, width = _input_of(archive, names, root, name)
                found.append(Input(name, dtype, width))
    except (zipfile.BadZipFile, OSError, pickles.PickleError) as error:
        raise UsageError(
            f"--model {path.name}: not a loadable TorchScript file ({error})"
        ) from None
    return found


def read_width(path: Path) -> int | None:
    """How many numbers a row has, for a module whose one input is float rows (None when
    it takes something else, or the file does not tell)."""
    inputs = read_inputs(path)
    if inputs and len(inputs) == 1 and inputs[0].dtype == "float32":
        return inputs[0].width
    return None


def sample_instances(inputs: list[Input] | None) -> list[Any] | None:
    """Two instances the model takes: rows for one float input, objects for several."""
    if not inputs or any(not i.dtype or not i.width for i in inputs):
        return None

    def value(spec: Input, row: int) -> list[Any]:
        width = spec.width or 1
        if spec.dtype == "int64":
            return [(row * 4 + c) % width for c in range(min(4, width))]
        return [round(0.5 * (row + c + 1), 1) for c in range(width)]

    if len(inputs) == 1 and inputs[0].dtype == "float32":
        return [value(inputs[0], r) for r in range(2)]
    return [{spec.name: value(spec, r) for spec in inputs} for r in range(2)]


def handler_text(file: str, inputs: list[Input] | None) -> str:
    specs = [[i.name, i.dtype or "float32"] for i in inputs] if inputs else [["input", "float32"]]
    if len(specs) == 1:
        request_help = '{"instances": [[x1, x2, ...], ...]} (float32 rows)'
        if specs[0][1] != "float32":
            request_help = f'{{"instances": [[...], ...]}} ({specs[0][1]} rows)'
    else:
        fields = ", ".join(f'"{name}": [...]' for name, _ in specs)
        request_help = f'{{"instances": [{{{fields}}}, ...]}}'
    return HANDLER.format(file=file, request_help=request_help, inputs=json.dumps(specs))


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


def _samples(
    project: Path, path: Path, inputs: list[Input] | None, env: modelenv.ModelEnv
) -> list[str]:
    """Write the samples: instances from the model's inputs, the response from running it."""
    import importlib.util

    rows = sample_instances(inputs)
    choice = env.choose(here=importlib.util.find_spec("torch") is not None, image=rows is not None)
    response: Any = None
    why = (
        "--model-inspect none"
        if env.mode == "none"
        else "torch is not installed here and Docker is not reachable"
    )
    how = ""
    if rows is None:
        remove(project, "sample_request.json", "sample_response.json")
        what = ", ".join(f"{i.name}" for i in inputs or []) or "its input"
        return [f"{path.name}: the shape of {what} cannot be told from the file (its first "
                "layer is not a Linear or an Embedding): write sample_request.json and "
                "sample_response.json yourself"]  # fmt: skip
    if choice in ("python", "here"):
        python = modelenv.interpreter(env, choice)
        request_file = project / ".scaffold-request.json"
        specs = [[i.name, i.dtype] for i in inputs or []]
        request_file.write_text(json.dumps({"instances": rows, "inputs": specs}), encoding="utf-8")
        try:
            ran = modelenv.run_inspector(
                python, "torchscript_model.py", [str(path), str(request_file)]
            )
            if ran.get("predictions") is not None:
                response = {"predictions": ran["predictions"]}
                how = f"by running it with torch {ran.get('torch')} in {python}"
        except modelenv.InspectError as error:
            why = f"the model could not be run ({error})"
        finally:
            request_file.unlink(missing_ok=True)
    elif choice == "image":
        recorded = modelenv.record_in_image(project, env, {"instances": rows})
        response, why = recorded.response, recorded.why
        how = "by the real TorchServe in the project's image"
    (project / "sample_request.json").write_text(
        json.dumps({"instances": rows}) + "\n", encoding="utf-8"
    )
    if response is None:
        remove(project, "sample_response.json")
        return [f"sample_response.json was not recorded ({why}): write it yourself"]
    (project / "sample_response.json").write_text(json.dumps(response) + "\n", encoding="utf-8")
    return [f"sample_response.json was recorded {how}"]
