"""Triton + ONNX: config.pbtxt as Triton's ONNX Runtime auto-complete writes it (reshape for
batch-only tensors, batch dims, names and types from the file), and `validate` checking a
config against its model.onnx the way Triton does when it loads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaffold.generate import new_project
from scaffold.validate import validate_project


def _classifier(path: Path, batch: bool = True, label: str = "INT64") -> Path:
    """A skl2onnx-shaped classifier: X [N, 4] -> label [N], probabilities [N, 3]."""
    import onnx
    from onnx import TensorProto, helper

    first = "N" if batch else 2
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [first, 4])
    out_type = getattr(TensorProto, label)
    outputs = [
        helper.make_tensor_value_info("label", out_type, [first]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [first, 3]),
    ]
    weights = helper.make_tensor("W", TensorProto.FLOAT, [4, 3], [0.1 * i for i in range(12)])
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["arg"], axis=1, keepdims=0),
    ]
    if label == "STRING":
        nodes.append(helper.make_node(
            "LabelEncoder", ["arg"], ["label"], domain="ai.onnx.ml",
            keys_int64s=[0, 1, 2], values_strings=["setosa", "versicolor", "virginica"],
        ))  # fmt: skip
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)]
    else:
        nodes.append(helper.make_node("Identity", ["arg"], ["label"]))
        opsets = [helper.make_opsetid("", 17)]
    graph = helper.make_graph(nodes, "classifier", [x], outputs, initializer=[weights])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _project(tmp_path: Path, source: Path) -> Path:
    return new_project(
        tmp_path / "clf-ep", {"server": "triton"}, model=str(source), model_inspect="here"
    ).path


def test_batch_only_output_gets_a_reshape_and_the_response_triton_shapes(tmp_path: Path) -> None:
    project = _project(tmp_path, _classifier(tmp_path / "iris.onnx"))
    config = (project / "models" / "iris" / "config.pbtxt").read_text()
    label = config[config.index('name: "label"') : config.index('name: "probabilities"')]
    assert "dims: [ 1 ]" in label and "reshape: { shape: [ ] }" in label
    assert "max_batch_size: 4" in config and "dynamic_batching { }" in config
    response = json.loads((project / "sample_response.json").read_text())
    shapes = {o["name"]: o["shape"] for o in response["outputs"]}
    assert shapes == {"label": [2, 1], "probabilities": [2, 3]}  # config dims, batch first
    assert validate_project(project, schema=False).errors == []


def test_fixed_shapes_mean_no_batching(tmp_path: Path) -> None:
    project = _project(tmp_path, _classifier(tmp_path / "fixed.onnx", batch=False))
    config = (project / "models" / "fixed" / "config.pbtxt").read_text()
    assert "max_batch_size: 0" in config and "dims: [ 2, 4 ]" in config
    assert "reshape" not in config and "dynamic_batching" not in config
    assert validate_project(project, schema=False).errors == []


def test_string_labels(tmp_path: Path) -> None:
    project = _project(tmp_path, _classifier(tmp_path / "names.onnx", label="STRING"))
    config = (project / "models" / "names" / "config.pbtxt").read_text()
    assert "TYPE_STRING" in config
    response = json.loads((project / "sample_response.json").read_text())
    (label,) = [o for o in response["outputs"] if o["name"] == "label"]
    assert label["datatype"] == "BYTES" and set(label["data"]) <= {
        "setosa", "versicolor", "virginica",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "code", "fix"),
    [
        (lambda c: c.replace("    reshape: { shape: [ ] }\n", ""), "triton.onnx.dims", "reshape"),
        (lambda c: c.replace('name: "X"', 'name: "input"'), "triton.onnx.name", "names"),
        (
            lambda c: c.replace("TYPE_FP32\n    dims: [ 4 ]", "TYPE_FP64\n    dims: [ 4 ]"),
            "triton.onnx.data_type",
            "TYPE_FP32",
        ),
        (lambda c: c.replace("dims: [ 4 ]", "dims: [ 5 ]"), "triton.onnx.dims", "dims: [ 4 ]"),
    ],
    ids=["missing-reshape", "wrong-name", "wrong-type", "wrong-dims"],
)
def test_validate_checks_the_config_against_the_model(
    tmp_path: Path, edit: object, code: str, fix: str
) -> None:
    project = _project(tmp_path, _classifier(tmp_path / "iris.onnx"))
    path = project / "models" / "iris" / "config.pbtxt"
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    problems = [p for p in validate_project(project, schema=False).errors if p.code == code]
    assert problems and fix in problems[0].fix, problems


def test_batching_a_model_that_cannot_batch_is_an_error(tmp_path: Path) -> None:
    project = _project(tmp_path, _classifier(tmp_path / "fixed.onnx", batch=False))
    path = project / "models" / "fixed" / "config.pbtxt"
    path.write_text(path.read_text().replace("max_batch_size: 0", "max_batch_size: 8"))
    (problem,) = [p for p in validate_project(project, schema=False).errors]
    assert problem.code == "triton.onnx.batching" and "max_batch_size: 0" in problem.fix
