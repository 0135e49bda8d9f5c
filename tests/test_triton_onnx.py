"""Triton + ONNX: config.pbtxt as Triton's ONNX Runtime auto-complete writes it (reshape for
batch-only tensors, batch dims, names and types from the file), and `validate` checking a
config against its model.onnx the way Triton does when it loads it."""

from __future__ import annotations

import json
from collections.abc import Callable
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


MAKE_SKL2ONNX = r"""
import json, sys
from collections.abc import Callable
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

out = Path(sys.argv[1])
X, y = load_iris(return_X_y=True)
names = np.array(["setosa", "versicolor", "virginica"])[y]
clf = LogisticRegression(max_iter=500).fit(X, names)
(out / "zipmap.onnx").write_bytes(to_onnx(clf, X[:1].astype(np.float32)).SerializeToString())
frame = pd.DataFrame({"width": X[:, 0], "color": np.array(["red", "blue", "green"])[y]})
pipe = Pipeline([("pre", ColumnTransformer([("n", StandardScaler(), ["width"]),
                                            ("c", OneHotEncoder(), ["color"])])),
                 ("clf", LogisticRegression(max_iter=500))]).fit(frame, y)
types = [("width", FloatTensorType([None, 1])), ("color", StringTensorType([None, 1]))]
onx = to_onnx(pipe, initial_types=types, options={"zipmap": False})
(out / "frame.onnx").write_bytes(onx.SerializeToString())
print(json.dumps({}))
"""


@pytest.fixture(scope="module")
def skl2onnx_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models made with skl2onnx in the users' own environment (tests/modelvenv.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import modelvenv

    folder = tmp_path_factory.mktemp("skl2onnx")
    modelvenv.make_models(folder, MAKE_SKL2ONNX)
    return folder


def test_skl2onnx_default_zipmap_is_refused_with_the_option_to_use(
    skl2onnx_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import new_refused

    argv = ["--server", "triton", "--model", str(skl2onnx_models / "zipmap.onnx")]
    line = new_refused(argv, tmp_path / "ep", capsys)
    assert "options={'zipmap': False}" in line


def test_string_inputs_are_sampled_from_the_encoders_categories(
    skl2onnx_models: Path, tmp_path: Path
) -> None:
    """A OneHotEncoder fails on a category it never saw: the sample request uses the ones
    the graph holds, so ONNX Runtime can record the response."""
    result = new_project(
        tmp_path / "frame",
        {"server": "triton"},
        model=str(skl2onnx_models / "frame.onnx"),
        model_inspect="here",
    )
    request = json.loads((result.path / "sample_request.json").read_text())
    color = next(i for i in request["inputs"] if i["name"] == "color")
    assert set(color["data"]) <= {"red", "blue", "green"}
    response = json.loads((result.path / "sample_response.json").read_text())
    assert {o["name"] for o in response["outputs"]} == {"label", "probabilities"}
    assert validate_project(result.path, schema=False).errors == []


@pytest.mark.docker
def test_string_inputs_config_is_green_in_a_real_triton(
    skl2onnx_models: Path,
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The config of a pipeline with a string input (TYPE_STRING, dims [1], a reshaped label)
    loads in a real Triton 2.51 and answers the recorded sample. The test Triton has the
    python backend only: the same model.onnx runs there with ONNX Runtime, as in
    tests/test_journeys.py."""
    from test_journeys import TRITON_PYTHON_MODEL

    from scaffold.cli import main
    from scaffold.errors import ExitCode

    result = new_project(
        tmp_path / "frame",
        {"server": "triton", "base_image": standin("triton")},
        model=str(skl2onnx_models / "frame.onnx"),
        model_inspect="here",
    )
    folder = result.path / "models" / "frame"
    config = (folder / "config.pbtxt").read_text()
    assert 'name: "color"\n    data_type: TYPE_STRING\n    dims: [ 1 ]' in config
    (folder / "config.pbtxt").write_text(
        config.replace('platform: "onnxruntime_onnx"', 'backend: "python"')
    )
    (folder / "1" / "model.py").write_text(TRITON_PYTHON_MODEL)
    dockerfile = result.path / "docker-context" / "Dockerfile"
    install = "\nRUN /opt/triton-venv/bin/pip install --no-cache-dir onnxruntime\nEXPOSE"
    dockerfile.write_text(dockerfile.read_text().replace("\nEXPOSE", install, 1))
    try:
        assert main(["run", str(result.path)]) == ExitCode.OK
        assert "OK: smoke test passed" in capsys.readouterr().out
    finally:
        main(["clean", str(result.path)])
