"""Triton model adapter: an ONNX file becomes models/<name>/1/model.onnx with the
config.pbtxt Triton's own auto-complete would write for it, a sample request built from the
model's inputs, and the response recorded with ONNX Runtime.

The config follows the ONNX Runtime backend's auto-complete (onnxruntime_backend,
`ModelState::AutoCompleteConfig`): the model batches when every input and output has a
variable first dimension, and then `max_batch_size` is Triton's default (4) with
`dynamic_batching { }`, the batch dimension is left out of `dims`, and a tensor with no
dimension besides the batch (a classifier's label output) gets `dims: [ 1 ]` with
`reshape: { shape: [ ] }`. Names, data types and the other dimensions come from the file.
The served name defaults to the file's name (`iris.onnx` is served as `iris`), as TorchServe
serves an archive under its name. Weights stored as ONNX external data are copied beside
model.onnx.

The sample request and response use the shapes a client sends and Triton answers with (the
config's `dims`, batch first); ONNX Runtime is fed the shapes the model itself takes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, modelenv, need, remove

#: ONNX TensorProto element type name -> (Triton config type, KServe v2 datatype, numpy).
DTYPES: dict[str, tuple[str, str, str]] = {
    "FLOAT": ("TYPE_FP32", "FP32", "float32"),
    "DOUBLE": ("TYPE_FP64", "FP64", "float64"),
    "FLOAT16": ("TYPE_FP16", "FP16", "float16"),
    "INT8": ("TYPE_INT8", "INT8", "int8"),
    "INT16": ("TYPE_INT16", "INT16", "int16"),
    "INT32": ("TYPE_INT32", "INT32", "int32"),
    "INT64": ("TYPE_INT64", "INT64", "int64"),
    "UINT8": ("TYPE_UINT8", "UINT8", "uint8"),
    "UINT16": ("TYPE_UINT16", "UINT16", "uint16"),
    "UINT32": ("TYPE_UINT32", "UINT32", "uint32"),
    "UINT64": ("TYPE_UINT64", "UINT64", "uint64"),
    "BOOL": ("TYPE_BOOL", "BOOL", "bool"),
    "STRING": ("TYPE_STRING", "BYTES", "object"),
}
#: Triton's --backend-config default-max-batch-size, what auto-complete writes.
MAX_BATCH = 4
#: Rows in the sample request of a batching model.
ROWS = 2
SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


class Tensor(NamedTuple):
    name: str
    onnx_type: str
    #: The model's dimensions; -1 for a variable one (a symbolic or missing size).
    dims: tuple[int, ...]


class Layout(NamedTuple):
    """What the config says about the model's tensors."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    batched: bool
    #: Input name -> column index (-1: every column) -> the categories the model's encoder
    #: knows (a value outside them fails the model, e.g. skl2onnx's OneHotEncoder).
    categories: dict[str, dict[int, list[Any]]] = {}  # noqa: RUF012 - NamedTuple field, never mutated

    def config_dims(self, tensor: Tensor) -> list[int]:
        """`dims` of the tensor in config.pbtxt (batch left out; [1] for none left)."""
        dims = list(tensor.dims[1:] if self.batched else tensor.dims)
        return dims or [1]

    def reshaped(self, tensor: Tensor) -> bool:
        """The tensor has no dimension besides the batch: `reshape: { shape: [ ] }`."""
        return self.batched and len(tensor.dims) == 1

    def wire_shape(self, tensor: Tensor) -> list[int]:
        """The shape a client sends (and Triton answers with): batch, then config dims."""
        dims = [1 if d == -1 else d for d in self.config_dims(tensor)]
        return [ROWS, *dims] if self.batched else dims

    def model_shape(self, tensor: Tensor) -> list[int]:
        """The shape the model itself takes (what ONNX Runtime is fed)."""
        dims = [1 if d == -1 else d for d in tensor.dims]
        return [ROWS, *dims[1:]] if self.batched else dims or [1]


def prepare(model: ModelFile) -> Prepared:
    if model.path.is_dir() or model.path.suffix.lower() != ".onnx":
        raise UsageError(
            f"--model {model.path.name}: Triton projects take an ONNX file (.onnx); "
            "export the model to ONNX first"
        )
    stem = model.path.stem
    defaults = {"served_model_name": stem} if SAFE_NAME.fullmatch(stem) else {}
    answers = {"triton_model_format": "onnx"}
    if not model.inspect:
        note = (
            f"{model.path.name} is larger than the inspection limit: config.pbtxt lists no "
            "inputs or outputs (Triton's auto-complete reads them from the model); write "
            "sample_request.json and sample_response.json yourself"
        )
        return Prepared(
            answers=answers,
            defaults=defaults,
            finish=lambda project, answers, env: _finish(
                model.path, [], project, answers, None, env
            ),
            notes=[note],
        )
    layout, external = read(model.path)

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        return _finish(model.path, external, project, answers, layout, env)

    return Prepared(answers=answers, defaults=defaults, finish=finish)


def read(path: Path) -> tuple[Layout, list[Path]]:
    """The model's tensors as the config describes them, and its external weight files."""
    onnx = need("onnx", "onnx")
    try:
        loaded = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf raises its own DecodeError; any failure is "not ONNX"
        raise UsageError(f"--model {path.name}: not a readable ONNX model ({error})") from None
    graph = loaded.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [_tensor(onnx, v, path) for v in graph.input if v.name not in initializers]
    outputs = [_tensor(onnx, v, path) for v in graph.output]
    if not inputs or not outputs:
        raise UsageError(f"--model {path.name}: the ONNX graph has no inputs or no outputs")
    batched = all(t.dims and t.dims[0] == -1 for t in inputs + outputs)
    categories = {t.name: found for t in inputs if (found := _categories(onnx, graph, t.name))}
    return Layout(inputs, outputs, batched, categories), _external_files(onnx, loaded, path)


#: ONNX-ML operators that take categories, and their attributes holding them.
_ENCODERS = {
    "OneHotEncoder": ("cats_strings", "cats_int64s"),
    "LabelEncoder": ("keys_strings", "keys_int64s"),
    "CategoryMapper": ("cats_strings", "cats_int64s"),
}
#: Operators between an input and its encoder that keep its values (column picks, casts).
_PASSING = {"Gather", "Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Slice"}


def _categories(onnx: Any, graph: Any, name: str) -> dict[int, list[Any]]:
    """Column -> categories of the encoders an input feeds (through column picks)."""
    constants = {i.name: i for i in graph.initializer}
    found: dict[int, list[Any]] = {}
    frontier = [(name, -1, 0)]
    while frontier:
        tensor, column, depth = frontier.pop()
        for node in graph.node:
            if not node.input or node.input[0] != tensor or depth > 6:
                continue
            if node.op_type in _ENCODERS:
                for attribute in node.attribute:
                    if attribute.name in _ENCODERS[node.op_type]:
                        values = list(onnx.helper.get_attribute_value(attribute))
                        cats = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                                for v in values]  # fmt: skip
                        if cats:
                            found.setdefault(column, cats)
            elif node.op_type in _PASSING and node.output:
                picked = column
                if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in constants:
                    index = onnx.numpy_helper.to_array(constants[node.input[1]]).reshape(-1)
                    picked = int(index[0]) if index.size == 1 else column
                frontier.append((node.output[0], picked, depth + 1))
    return found


def _external_files(onnx: Any, loaded: Any, path: Path) -> list[Path]:
    """Files holding the model's external weights (they must sit beside model.onnx)."""
    files: set[Path] = set()
    for tensor in loaded.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        source = (path.parent / location).resolve()
        if not location or path.parent.resolve() not in source.parents:
            raise UsageError(
                f"--model {path.name}: external weights {location!r} are not beside the model"
            )
        if not source.is_file():
            raise UsageError(f"--model {path.name}: its external weights {location} are missing")
        files.add(source)
    return sorted(files)


def _tensor(onnx: Any, value: Any, path: Path) -> Tensor:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UsageError(
            f"--model {path.name}: {value.name} is a {kind}, not a tensor; Triton's ONNX "
            "backend serves tensors only (a skl2onnx classifier: export it again with "
            "options={'zipmap': False}, which gives the probabilities as a tensor)"
        )
    name = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
    if name not in DTYPES:
        raise UsageError(
            f"--model {path.name}: {value.name} has element type {name}, which the generated "
            f"config does not support (supported: {', '.join(DTYPES)})"
        )
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
        for d in value.type.tensor_type.shape.dim
    )
    return Tensor(value.name, name, dims)


def _values(
    tensor: Tensor, count: int, categories: dict[int, list[Any]] | None = None, width: int = 1
) -> list[Any]:
    if categories:
        values = []
        for i in range(count):
            known = (
                categories.get(i % width) or categories.get(-1) or next(iter(categories.values()))
            )
            values.append(known[(i // width) % len(known)])
        return values
    if tensor.onnx_type == "BOOL":
        return [i % 2 == 0 for i in range(count)]
    if tensor.onnx_type == "STRING":
        return [chr(ord("a") + i % 26) for i in range(count)]
    if tensor.onnx_type in ("FLOAT", "DOUBLE", "FLOAT16"):
        return [round(0.5 * (i + 1), 1) for i in range(count)]
    return [i + 1 for i in range(count)]


def _count(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def sample_request(layout: Layout) -> dict[str, Any]:
    """The KServe v2 request a client sends for this config."""
    return {
        "inputs": [
            {
                "name": t.name,
                "shape": layout.wire_shape(t),
                "datatype": DTYPES[t.onnx_type][1],
                "data": _values(
                    t,
                    _count(layout.wire_shape(t)),
                    layout.categories.get(t.name),
                    layout.wire_shape(t)[-1] if layout.wire_shape(t) else 1,
                ),
            }
            for t in layout.inputs
        ]
    }


def _feed(layout: Layout, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    types = {t.name: t for t in layout.inputs}
    return [
        {
            "name": entry["name"],
            "shape": layout.model_shape(types[entry["name"]]),
            "dtype": DTYPES[types[entry["name"]].onnx_type][2],
            "data": entry["data"],
        }
        for entry in request["inputs"]
    ]


def _response_outputs(layout: Layout, ran: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Triton answers: the outputs in config order, shaped by the config's dims."""
    by_name = {item["name"]: item for item in ran}
    outputs = []
    for tensor in layout.outputs:
        item = by_name[tensor.name]
        shape = list(item["shape"])
        if layout.reshaped(tensor):
            shape = [shape[0], 1]
        elif not layout.batched and not tensor.dims:
            shape = [1]
        outputs.append(
            {
                "name": tensor.name,
                "datatype": DTYPES[tensor.onnx_type][1],
                "shape": shape,
                "data": item["data"],
            }
        )
    return outputs


def _run_here(path: Path, feed: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """ONNX Runtime in this process (it is framework-neutral: any version reads the file);
    the outputs, or why the model could not run on the sample."""
    numpy = need("numpy", "numpy")
    ort = need("onnxruntime", "onnxruntime")
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3  # its own error log would repeat the exception
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        arrays = {
            f["name"]: numpy.array(f["data"], dtype=f["dtype"]).reshape(f["shape"]) for f in feed
        }
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, arrays)
    except Exception as error:  # onnxruntime raises its own exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"onnxruntime could not run it on the sample request: {first}"
    return [
        {"name": n, "shape": list(r.shape), "data": r.reshape(-1).tolist()}
        for n, r in zip(names, results, strict=True)
    ]


def config_text(name: str, layout: Layout | None) -> str:
    """config.pbtxt as Triton's auto-complete would complete it for this model."""
    lines = [
        "# Triton model configuration, written by `scaffold new --model` from the ONNX model,",
        "# as Triton's auto-complete would complete it (GET /v2/models/<name>/config shows",
        "# what the server uses).",
        f"name: {json.dumps(name)}",
        'platform: "onnxruntime_onnx"',
    ]
    if layout is None:
        lines += [
            "# Inputs and outputs are not listed: Triton reads them from model.onnx",
            "# (auto-complete).",
        ]
    else:
        lines.append(f"max_batch_size: {MAX_BATCH if layout.batched else 0}")
        for block, tensors in (("input", layout.inputs), ("output", layout.outputs)):
            items = []
            for t in tensors:
                reshape = "    reshape: { shape: [ ] }\n" if layout.reshaped(t) else ""
                items.append(
                    "  {\n"
                    f"    name: {json.dumps(t.name)}\n"
                    f"    data_type: {DTYPES[t.onnx_type][0]}\n"
                    f"    dims: [ {', '.join(str(d) for d in layout.config_dims(t))} ]\n"
                    f"{reshape}"
                    "  }"
                )
            lines += [f"{block} [", ",\n".join(items), "]"]
        if layout.batched and MAX_BATCH > 1:
            lines.append("dynamic_batching { }")
    lines += ["instance_group [", "  {", "    kind: KIND_CPU", "    count: 1", "  }", "]"]
    return "\n".join(lines) + "\n"


def _record(
    source: Path, layout: Layout, request: dict[str, Any], project: Path, env: modelenv.ModelEnv
) -> tuple[list[dict[str, Any]] | None, str]:
    """(outputs as Triton answers them, how) or (None, why not)."""
    import importlib.util

    here = importlib.util.find_spec("onnxruntime") is not None
    choice = env.choose(here=here, image=True)
    feed = _feed(layout, request)
    if choice == "here":
        ran = _run_here(source, feed)
        if isinstance(ran, str):
            return None, ran
        return _response_outputs(layout, ran), "with ONNX Runtime"
    if choice == "python":
        feed_file = project / ".scaffold-feed.json"
        feed_file.write_text(json.dumps(feed), encoding="utf-8")
        try:
            ran = modelenv.run_inspector(
                str(env.python), "onnx_model.py", [str(source), str(feed_file)]
            )
        except modelenv.InspectError as error:
            return None, f"the model could not be run ({error})"
        finally:
            feed_file.unlink(missing_ok=True)
        return _response_outputs(layout, ran), f"with ONNX Runtime in {env.python}"
    if choice == "image":
        recorded = modelenv.record_in_image(project, env, request)
        if recorded.response is None:
            return None, recorded.why
        return list(
            recorded.response.get("outputs", [])
        ), "by the real Triton in the project's image"
    return (
        None,
        "--model-inspect none" if env.mode == "none" else "ONNX Runtime is not installed here",
    )


def _finish(
    source: Path,
    external: list[Path],
    project: Path,
    answers: Mapping[str, Any],
    layout: Layout | None,
    env: modelenv.ModelEnv,
) -> list[str]:
    folder = model_dir(project, answers)
    name = folder.name
    remove(project, f"{folder.relative_to(project).as_posix()}/1", "model-src/make_model.py")
    env.place(source, folder / "1" / "model.onnx")
    for extra in external:
        copy_model(extra, folder / "1" / extra.relative_to(source.parent.resolve()))
    (folder / "config.pbtxt").write_text(config_text(name, layout), encoding="utf-8")
    if layout is None:
        remove(project, "sample_request.json", "sample_response.json")
        return []
    request = sample_request(layout)
    (project / "sample_request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
    outputs, how = _record(source, layout, request, project, env)
    notes = [f"config.pbtxt and sample_request.json come from {source.name}"]
    if outputs is None:
        remove(project, "sample_response.json")
        return [*notes, f"sample_response.json was not recorded ({how}): write it yourself"]
    response = {"model_name": name, "model_version": "1", "outputs": outputs}
    (project / "sample_response.json").write_text(json.dumps(response) + "\n", encoding="utf-8")
    return [*notes, f"sample_response.json was recorded {how}"]
