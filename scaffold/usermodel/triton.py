"""Triton model adapter: an ONNX file becomes models/<name>/1/model.onnx with a config.pbtxt,
a sample request built from the model's inputs, and the response recorded with onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, need, remove

#: ONNX TensorProto element type name -> (Triton config type, KServe v2 datatype).
DTYPES: dict[str, tuple[str, str]] = {
    "FLOAT": ("TYPE_FP32", "FP32"),
    "DOUBLE": ("TYPE_FP64", "FP64"),
    "FLOAT16": ("TYPE_FP16", "FP16"),
    "INT8": ("TYPE_INT8", "INT8"),
    "INT16": ("TYPE_INT16", "INT16"),
    "INT32": ("TYPE_INT32", "INT32"),
    "INT64": ("TYPE_INT64", "INT64"),
    "UINT8": ("TYPE_UINT8", "UINT8"),
    "UINT16": ("TYPE_UINT16", "UINT16"),
    "UINT32": ("TYPE_UINT32", "UINT32"),
    "UINT64": ("TYPE_UINT64", "UINT64"),
    "BOOL": ("TYPE_BOOL", "BOOL"),
}
#: Largest batch a generated config accepts when the model's first dimension is variable.
MAX_BATCH = 8


class Tensor(NamedTuple):
    name: str
    onnx_type: str
    #: Dimensions; -1 for a variable one (a symbolic or missing size).
    dims: tuple[int, ...]


def prepare(model: ModelFile) -> Prepared:
    if model.path.is_dir() or model.path.suffix.lower() != ".onnx":
        raise UsageError(
            f"--model {model.path.name}: Triton projects take an ONNX file (.onnx); "
            "export the model to ONNX first"
        )
    if not model.inspect:
        note = (
            f"{model.path.name} is larger than the inspection limit: config.pbtxt lists no "
            "inputs or outputs (Triton reads them from the model); write sample_request.json "
            "and sample_response.json yourself"
        )
        return Prepared(
            answers={"triton_model_format": "onnx"},
            finish=lambda project, answers, env=None: _finish(model.path, project, answers, None),
            notes=[note],
        )
    inputs, outputs = _read(model.path)
    batched = all(t.dims and t.dims[0] == -1 for t in inputs + outputs)
    request = _request(inputs, batched)
    response = _run(model.path, inputs, outputs, request)
    spec = (inputs, outputs, batched, request, response)
    return Prepared(
        answers={"triton_model_format": "onnx"},
        finish=lambda project, answers, env=None: _finish(model.path, project, answers, spec),
    )


def _read(path: Path) -> tuple[list[Tensor], list[Tensor]]:
    onnx = need("onnx", "onnx")
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as error:  # protobuf raises its own DecodeError; any failure is "not ONNX"
        raise UsageError(f"--model {path.name}: not a readable ONNX model ({error})") from None
    initializers = {i.name for i in graph.initializer}
    inputs = [_tensor(onnx, v, path) for v in graph.input if v.name not in initializers]
    outputs = [_tensor(onnx, v, path) for v in graph.output]
    if not inputs or not outputs:
        raise UsageError(f"--model {path.name}: the ONNX graph has no inputs or no outputs")
    return inputs, outputs


def _tensor(onnx: Any, value: Any, path: Path) -> Tensor:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UsageError(
            f"--model {path.name}: {value.name} is a {kind}, not a tensor; Triton's ONNX "
            "backend serves tensors only (for scikit-learn exports use zipmap=False)"
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


def _values(tensor: Tensor, shape: list[int]) -> list[Any]:
    count = 1
    for size in shape:
        count *= size
    if tensor.onnx_type == "BOOL":
        return [i % 2 == 0 for i in range(count)]
    if tensor.onnx_type in ("FLOAT", "DOUBLE", "FLOAT16"):
        return [round(0.5 * (i + 1), 1) for i in range(count)]
    return [i + 1 for i in range(count)]


def _request(inputs: list[Tensor], batched: bool) -> dict[str, Any]:
    rows = 2
    entries = []
    for tensor in inputs:
        dims = [1 if d == -1 else d for d in (tensor.dims[1:] if batched else tensor.dims)]
        shape = [rows, *dims] if batched else dims
        entries.append(
            {
                "name": tensor.name,
                "shape": shape,
                "datatype": DTYPES[tensor.onnx_type][1],
                "data": _values(tensor, shape),
            }
        )
    return {"inputs": entries}


def _run(
    path: Path, inputs: list[Tensor], outputs: list[Tensor], request: dict[str, Any]
) -> list[dict[str, Any]]:
    numpy = need("numpy", "numpy")
    ort = need("onnxruntime", "onnxruntime")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        type_names = {t.name: t.onnx_type for t in inputs}
        feed = {
            entry["name"]: numpy.array(
                entry["data"], dtype=_numpy_type(type_names[entry["name"]])
            ).reshape(entry["shape"])
            for entry in request["inputs"]
        }
        results = session.run([t.name for t in outputs], feed)
    except Exception as error:  # onnxruntime raises its own exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"--model {path.name}: onnxruntime could not run it ({first})") from None
    return [
        {
            "name": tensor.name,
            "datatype": DTYPES[tensor.onnx_type][1],
            "shape": list(result.shape),
            "data": result.reshape(-1).tolist(),
        }
        for tensor, result in zip(outputs, results, strict=True)
    ]


def _numpy_type(onnx_type: str) -> str:
    return {"FLOAT": "float32", "DOUBLE": "float64", "FLOAT16": "float16", "BOOL": "bool"}.get(
        onnx_type, onnx_type.lower()
    )


def _config(name: str, spec: tuple[Any, ...] | None) -> str:
    lines = [
        "# Triton model configuration, written by `scaffold new --model` from the ONNX model.",
        f"name: {json.dumps(name)}",
        'platform: "onnxruntime_onnx"',
    ]
    if spec is None:
        lines += [
            "# Inputs and outputs are not listed: Triton reads them from model.onnx",
            "# (auto-complete); GET /v2/models/<name>/config shows what it found.",
        ]
    else:
        inputs, outputs, batched, _, _ = spec
        lines.append(f"max_batch_size: {MAX_BATCH if batched else 0}")
        for block, tensors in (("input", inputs), ("output", outputs)):
            lines.append(f"{block} [")
            items = []
            for t in tensors:
                dims = t.dims[1:] if batched else t.dims
                items.append(
                    "  {\n"
                    f"    name: {json.dumps(t.name)}\n"
                    f"    data_type: {DTYPES[t.onnx_type][0]}\n"
                    f"    dims: [ {', '.join(str(d) for d in dims) or '1'} ]\n"
                    "  }"
                )
            lines += [",\n".join(items), "]"]
    lines += ["instance_group [", "  {", "    kind: KIND_CPU", "    count: 1", "  }", "]"]
    return "\n".join(lines) + "\n"


def _finish(
    source: Path, project: Path, answers: Mapping[str, Any], spec: tuple[Any, ...] | None
) -> list[str]:
    folder = model_dir(project, answers)
    name = folder.name
    remove(project, f"{folder.relative_to(project).as_posix()}/1", "model-src/make_model.py")
    copy_model(source, folder / "1" / "model.onnx")
    (folder / "config.pbtxt").write_text(_config(name, spec), encoding="utf-8")
    if spec is None:
        remove(project, "sample_request.json", "sample_response.json")
        return []
    request, outputs = spec[3], spec[4]
    (project / "sample_request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
    response = {"model_name": name, "model_version": "1", "outputs": outputs}
    (project / "sample_response.json").write_text(json.dumps(response) + "\n", encoding="utf-8")
    return [
        f"config.pbtxt, sample_request.json and sample_response.json come from {source.name} "
        "(the response was recorded with onnxruntime)"
    ]
