"""`scaffold new --model`: real models made here, configured into projects, validated, run."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    TEMPLATES,
    TFSERVING_SAMPLE_MODEL,
    TORCHSERVE_SAMPLE_MAR,
    files_of,
    new_and_run_green,
    new_refused,
)
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from scaffold.validate import validate_project


def _onnx_model(path: Path, elem: str = "FLOAT", zipmap: bool = False) -> Path:
    """y = 2x + 1 over rows of 3 values, with a symbolic batch dimension."""
    import onnx
    from onnx import TensorProto, helper

    kind = getattr(TensorProto, elem)
    x = helper.make_tensor_value_info("x", kind, ["batch", 3])
    y = helper.make_tensor_value_info("y", kind, ["batch", 3])
    outputs = [y]
    if zipmap:
        outputs = [helper.make_value_info("y", helper.make_sequence_type_proto(y.type))]
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["t"]),
            helper.make_node("Add", ["t", "one"], ["y"]),
        ],
        "double_plus_one",
        [x],
        outputs,
        initializer=[
            helper.make_tensor("two", kind, [], [2]),
            helper.make_tensor("one", kind, [], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _sklearn_model(path: Path) -> Path:
    import joblib
    from sklearn.linear_model import LinearRegression

    rows = [[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [0.0, 1.0]]
    targets = [2 * a + 3 * b + 1 for a, b in rows]
    joblib.dump(LinearRegression().fit(rows, targets), path)
    return path


# --- triton + ONNX ------------------------------------------------------------------------------
def test_triton_onnx_model_configures_the_project(tmp_path: Path) -> None:
    source = _onnx_model(tmp_path / "double.onnx")
    result = new_project(
        tmp_path / "onnx-ep",
        {"server": "triton", "served_model_name": "doubler"},
        model=str(source),
        model_inspect="here",
    )
    project = result.path
    folder = project / "models" / "doubler"
    assert (folder / "1" / "model.onnx").read_bytes() == source.read_bytes()
    assert {f for f in files_of(project) if f.startswith(("models/", "model-src/"))} == {
        "models/doubler/config.pbtxt",
        "models/doubler/1/model.onnx",
    }
    config = (folder / "config.pbtxt").read_text()
    for line in ('name: "doubler"', "max_batch_size: 4", 'name: "x"', "TYPE_FP32", "dims: [ 3 ]"):
        assert line in config
    assert "dynamic_batching { }" in config and "reshape" not in config
    request = json.loads((project / "sample_request.json").read_text())
    response = json.loads((project / "sample_response.json").read_text())
    (sent,) = request["inputs"]
    assert (sent["name"], sent["datatype"], sent["shape"]) == ("x", "FP32", [2, 3])
    (out,) = response["outputs"]
    assert response["model_name"] == "doubler" and out["shape"] == [2, 3]
    assert out["data"] == pytest.approx([2 * v + 1 for v in sent["data"]])
    assert result.answers["triton_model_format"] == "onnx"
    assert any("ONNX Runtime" in note for note in result.notes), result.notes
    report = validate_project(project, schema=True)
    assert report.schema_checked and report.problems == [], report.problems


def test_int64_model_gets_int_samples(tmp_path: Path) -> None:
    source = _onnx_model(tmp_path / "ints.onnx", elem="INT64")
    project = new_project(
        tmp_path / "int-ep", {"server": "triton"}, model=str(source), model_inspect="here"
    ).path
    (sent,) = json.loads((project / "sample_request.json").read_text())["inputs"]
    (out,) = json.loads((project / "sample_response.json").read_text())["outputs"]
    assert sent["datatype"] == "INT64" and out["data"] == [2 * v + 1 for v in sent["data"]]
    # served under the file's name by default, as TorchServe serves an archive
    assert "TYPE_INT64" in (project / "models" / "ints" / "config.pbtxt").read_text()


def test_models_above_the_limit_are_copied_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _onnx_model(tmp_path / "big.onnx")
    monkeypatch.setenv("SCAFFOLD_MODEL_INSPECT_LIMIT", "16")
    result = new_project(tmp_path / "big-ep", {"server": "triton"}, model=str(source))
    config = (result.path / "models" / "big" / "config.pbtxt").read_text()
    assert "input [" not in config and 'platform: "onnxruntime_onnx"' in config
    assert any("inspection limit" in note for note in result.notes)
    assert not (result.path / "sample_request.json").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.onnx", "no such file or folder"),
        (lambda d: _write(d / "junk.onnx", b"not a model"), "not a readable ONNX model"),
        (lambda d: _write(d / "model.pt", b"x"), "take an ONNX file"),
        (lambda d: _onnx_model(d / "c.onnx", elem="COMPLEX64"), "element type COMPLEX64"),
        (lambda d: _onnx_model(d / "z.onnx", zipmap=True), "not a tensor"),
    ],
    ids=["missing", "garbage", "wrong-format", "wrong-dtype", "sequence-output"],
)
def test_bad_onnx_models_are_one_line_and_write_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    message: str,
) -> None:
    source = make(tmp_path)
    line = new_refused(["--server", "triton", "--model", str(source)], tmp_path / "ep", capsys)
    assert message in line


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_model_flags_that_do_not_fit_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "model.rds", b"x")
    line = new_refused(["--model", str(source)], tmp_path / "ep", capsys)
    assert "--model needs --server" in line
    onnx = _onnx_model(tmp_path / "m.onnx")
    line = new_refused(
        ["--server", "triton", "--triton-model-format", "python", "--model", str(onnx)],
        tmp_path / "ep",
        capsys,
    )
    assert "--triton-model-format python does not fit this model" in line


# --- registered models --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "name", "version"),
    [("azureml:my-model:3", "my-model", "3"), ("azureml:my-model@latest", "my-model", "")],
)
def test_registered_model_is_referenced_not_copied(
    tmp_path: Path, ref: str, name: str, version: str
) -> None:
    result = new_project(tmp_path / "ref-ep", {"server": "triton"}, model=ref)
    deployment = yaml.safe_load((result.path / "deployment.yml").read_text())
    assert deployment["model"] == ref and deployment["model_mount_path"] == "/models"
    assert (result.answers["model_asset"], result.answers["model_name"]) == (ref, name)
    assert result.answers["model_version"] == version
    assert validate_project(result.path, schema=True).problems == []


def test_bad_reference_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = new_refused(
        ["--server", "minimal", "--model", "azureml:my model"], tmp_path / "ep", capsys
    )
    assert "azureml:NAME:VERSION or azureml:NAME@latest" in line


# --- minimal + scikit-learn ---------------------------------------------------------------------
def test_sklearn_model_configures_the_minimal_project(tmp_path: Path) -> None:
    source = _sklearn_model(tmp_path / "lin.joblib")
    result = new_project(
        tmp_path / "sk-ep", {"server": "minimal"}, model=str(source), model_inspect="here"
    )
    project = result.path
    assert (project / "model" / "lin.joblib").read_bytes() == source.read_bytes()
    assert not [f for f in files_of(project) if f.endswith("model.json") or "model-src" in f]
    requirements = (project / "docker-context" / "requirements.txt").read_text()
    for dist in ("scikit-learn", "numpy", "joblib", "scipy", "threadpoolctl"):
        assert f"{dist}=={metadata.version(dist)}\n" in requirements
    assert f"scikit-learn {metadata.version('scikit-learn')}: the version the model records" in (
        requirements
    )
    assert "(Python 3." in requirements  # where the other versions were read
    request = json.loads((project / "sample_request.json").read_text())
    response = json.loads((project / "sample_response.json").read_text())
    expected = [2 * a + 3 * b + 1 for a, b in request["data"]]
    assert response["predictions"] == pytest.approx(expected)
    assert "lin.joblib" in (project / "src" / "score.py").read_text()
    assert validate_project(project, schema=False).errors == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"not": "a model"}, "is not a model minimal projects serve"),
        (b"\x80\x04garbage", "not a readable pickle file"),
    ],
    ids=["not-a-model", "corrupt"],
)
def test_bad_pickles_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    source = tmp_path / "model.pkl"
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_bytes(pickle.dumps(content))
    line = new_refused(["--server", "minimal", "--model", str(source)], tmp_path / "ep", capsys)
    assert message in line


@pytest.mark.docker
def test_sklearn_model_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = _sklearn_model(tmp_path / "lin.joblib")
    dest = tmp_path / "sk-run"
    new_and_run_green("minimal", standin("minimal"), dest, capsys, "--model", str(source))


# --- tfserving + SavedModel ---------------------------------------------------------------------
MAKE_SAVEDMODEL = """
import sys, tensorflow as tf
class M(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="features")])
    def serve(self, features):
        return {"score": tf.reduce_sum(features, axis=1) * 2.0 + 1.0}
m = M()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
"""


def test_savedmodel_signature_is_read_with_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_tfserving import tf_python

    python = tf_python()
    source = tmp_path / "summer"
    subprocess.run([python, "-c", MAKE_SAVEDMODEL, str(source)], check=True, capture_output=True)
    monkeypatch.setenv("SCAFFOLD_TF_PYTHON", python)
    result = new_project(
        tmp_path / "tf-ep",
        {"server": "tfserving", "served_model_name": "summer"},
        model=str(source),
    )
    project = result.path
    assert (project / "summer" / "1" / "saved_model.pb").read_bytes() == (
        source / "saved_model.pb"
    ).read_bytes()
    request = json.loads((project / "sample_request.json").read_text())
    response = json.loads((project / "sample_response.json").read_text())
    assert response["predictions"] == pytest.approx(
        [2 * sum(row) + 1 for row in request["instances"]]
    )
    assert not (project / "model-src" / "make_model.py").exists()
    assert validate_project(project, schema=False).problems == []


def test_savedmodel_without_tensorflow_is_copied_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The template's own SavedModel, read by a Python without TensorFlow (scaffold's).
    shipped = TFSERVING_SAMPLE_MODEL
    monkeypatch.setenv("SCAFFOLD_TF_PYTHON", sys.executable)
    result = new_project(tmp_path / "notf-ep", {"server": "tfserving"}, model=str(shipped))
    assert (result.path / "half_plus_two" / "1" / "saved_model.pb").is_file()
    assert any("TensorFlow is not installed" in note for note in result.notes)
    report = validate_project(result.path, schema=False)
    assert [p.code for p in report.problems] == ["smoke.sample.missing", "smoke.response.missing"]


def test_not_a_savedmodel_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    line = new_refused(
        ["--server", "tfserving", "--model", str(tmp_path / "empty")], tmp_path / "ep", capsys
    )
    assert "take a SavedModel folder" in line


# --- torchserve + .mar --------------------------------------------------------------------------
def _mar(path: Path, name: str) -> Path:
    """A real archive: the template's sample .mar (handler + weights) renamed in its manifest."""
    sample = TORCHSERVE_SAMPLE_MAR
    with zipfile.ZipFile(sample) as old, zipfile.ZipFile(path, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["model"]["modelName"] = name
                data = json.dumps(manifest).encode()
            new.writestr(item, data)
    return path


def _torchserve_project(tmp_path: Path, **answers: Any) -> Path:
    source = _mar(tmp_path / "adder-v1.mar", "adder")
    result = new_project(tmp_path / "ts-ep", {"server": "torchserve", **answers}, model=str(source))
    project = result.path
    assert (project / "model" / "adder.mar").read_bytes() == source.read_bytes()
    assert not [f for f in files_of(project) if f.startswith("model-src/")]
    assert any("write sample_request.json" in note for note in result.notes)
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["environment_variables"]["TORCHSERVE_MODELS"] == "adder=adder.mar"
    routes = deployment["environment"]["inference_config"]
    assert (
        routes["scoring_route"]["path"]
        == routes["readiness_route"]["path"]
        == ("/predictions/adder")
    )
    return project


def test_mar_is_served_as_is_under_its_manifest_name(tmp_path: Path) -> None:
    project = _torchserve_project(tmp_path)
    report = validate_project(project, schema=False)
    assert {p.code for p in report.problems} == {
        "smoke.sample.missing",
        "smoke.response.missing",
        "image.end_of_life",
    }


def test_not_a_mar_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = new_refused(
        ["--server", "torchserve", "--model", str(_write(tmp_path / "m.mar", b"zip? no"))],
        tmp_path / "ep",
        capsys,
    )
    assert "not a TorchServe model archive" in line


@pytest.mark.docker
def test_mar_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = _torchserve_project(tmp_path, base_image=standin("torchserve"))
    # This archive is the sample's half_plus_two model, so the sample's samples fit it.
    assert "/predictions/adder" in _green_with_the_samples_of("torchserve", project, capsys)


def _green_with_the_samples_of(
    server: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """Write the samples as the user would (the template's, which fit these models), then
    `scaffold run` must be green; returns the run's log."""
    for name in ("sample_request.json", "sample_response.json"):
        shutil.copyfile(TEMPLATES / server / name, project / name)
    assert main(["run", str(project)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "OK: smoke test passed" in captured.out
    return captured.err


# --- plumber + .rds -----------------------------------------------------------------------------
def _plumber_project(tmp_path: Path, inspect: str = "none", **answers: Any) -> Path:
    # A real R model: the template's lm(mpg ~ wt + hp, mtcars), saved with saveRDS().
    source = tmp_path / "cars.rds"
    shutil.copyfile(TEMPLATES / "plumber" / "model" / "model.rds", source)
    result = new_project(
        tmp_path / "r-ep",
        {"server": "plumber", "r_packages": "[]", **answers},
        model=str(source),
        model_inspect=inspect,
    )
    project = result.path
    assert (project / "model" / "cars.rds").read_bytes() == source.read_bytes()
    assert not (project / "model" / "model.rds").exists()
    assert any("R packages" in note for note in result.notes)
    return project


def test_rds_is_copied_for_plumber(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _plumber_project(tmp_path)
    # the request comes from the model's own training rows (lm(...)$model), read without R
    request = json.loads((project / "sample_request.json").read_text())
    assert request == {"data": [{"wt": 2.62, "hp": 110.0}, {"wt": 2.875, "hp": 110.0}]}
    report = validate_project(project, schema=False)
    assert [p.code for p in report.problems] == ["smoke.response.missing"]
    assert "model-src/make_model.R" not in (project / "src" / "plumber.R").read_text()
    fake = _write(tmp_path / "fake.rds", b"PK\x03\x04 not R")
    line = new_refused(["--server", "plumber", "--model", str(fake)], tmp_path / "ep", capsys)
    assert "not an R serialization" in line


@pytest.mark.docker
def test_rds_is_green_in_docker_with_samples_recorded_in_r(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Zero edits: the response was recorded by running the model in R in the project's own
    image (R is not on the host), so the smoke test has what to compare with."""
    project = _plumber_project(tmp_path, inspect="image", base_image=standin("plumber"))
    try:
        response = json.loads((project / "sample_response.json").read_text())
        predictions = response["predictions"]
        # mtcars: mpg ~ wt + hp on (2.62, 110) and (2.875, 110)
        assert predictions == pytest.approx([23.57233, 22.58348], abs=1e-4)
        assert main(["run", str(project)]) == ExitCode.OK
        assert "OK: smoke test passed" in capsys.readouterr().out
    finally:
        main(["clean", str(project)])


def _torchscript(path: Path) -> Path:
    """y = x1 + 2 x2 + 3 x3 + 0.5, traced to TorchScript."""
    import torch

    linear = torch.nn.Linear(3, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
        linear.bias.fill_(0.5)
    torch.jit.trace(linear, torch.zeros(1, 3)).save(str(path))
    return path


def _torchscript_project(tmp_path: Path, inspect: str = "here", **answers: Any) -> Path:
    source = _torchscript(tmp_path / "scorer.pt")
    result = new_project(
        tmp_path / "pt-ep",
        {"server": "torchserve", **answers},
        model=str(source),
        model_inspect=inspect,
    )
    project = result.path
    with zipfile.ZipFile(project / "model" / "scorer.mar") as archive:
        assert json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]["modelName"] == "scorer"
        assert archive.read("scorer.pt") == source.read_bytes()
    request = json.loads((project / "sample_request.json").read_text())
    response = json.loads((project / "sample_response.json").read_text())
    expected = [a + 2 * b + 3 * c + 0.5 for a, b, c in request["instances"]]
    assert [row[0] for row in response["predictions"]] == pytest.approx(expected)
    return project


def test_torchscript_is_archived_with_a_handler(tmp_path: Path) -> None:
    project = _torchscript_project(tmp_path)
    assert (project / "model-src" / "handler.py").is_file()
    assert {p.code for p in validate_project(project, schema=False).problems} == {
        "image.end_of_life"
    }


@pytest.mark.docker
def test_torchscript_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The response recorded by the real TorchServe in the project's image (torch is not
    needed where scaffold runs), then `scaffold run` green with zero edits."""
    project = _torchscript_project(tmp_path, inspect="image", base_image=standin("torchserve"))
    try:
        assert main(["run", str(project)]) == ExitCode.OK
        assert "OK: smoke test passed" in capsys.readouterr().out
    finally:
        main(["clean", str(project)])


def _two_input_torchscript(path: Path) -> Path:
    """A traced module with two inputs (token ids and a float row), as a text head is."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(20, 3)
            self.num = torch.nn.Linear(2, 3)

        def forward(self, input_ids: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
            return self.emb(input_ids).sum(1) + self.num(extra)

    torch.manual_seed(0)
    example = (torch.tensor([[1, 2]]), torch.zeros(1, 2))
    torch.jit.trace(Head().eval(), example).save(str(path))
    return path


def test_torchscript_with_two_inputs_gets_object_instances(tmp_path: Path) -> None:
    source = _two_input_torchscript(tmp_path / "head.pt")
    result = new_project(
        tmp_path / "ts2", {"server": "torchserve"}, model=str(source), model_inspect="here"
    )
    project = result.path
    request = json.loads((project / "sample_request.json").read_text())
    assert [sorted(row) for row in request["instances"]] == [["extra", "input_ids"]] * 2
    response = json.loads((project / "sample_response.json").read_text())
    assert len(response["predictions"]) == 2 and len(response["predictions"][0]) == 3
    handler = (project / "model-src" / "handler.py").read_text()
    assert 'INPUTS = [["input_ids", "int64"], ["extra", "float32"]]' in handler
    assert {p.code for p in validate_project(project, schema=False).problems} == {
        "image.end_of_life"
    }


@pytest.mark.docker
def test_torchscript_with_two_inputs_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The generated handler feeds both inputs to the real TorchServe's model, zero edits."""
    source = _two_input_torchscript(tmp_path / "head.pt")
    new_and_run_green("torchserve", standin("torchserve"), tmp_path / "ts2-run", capsys,
                      "--model", str(source))  # fmt: skip


# --- minimal: pickles as users write them (hold-out review) -------------------------------------
def _pickle_in_subprocess(tmp_path: Path, code: str, env_path: Path | None = None) -> Path:
    """Run `code` (which writes tmp_path/model.pkl) as a script, as a notebook would."""
    import os

    env = {**os.environ, "PYTHONPATH": str(env_path)} if env_path else None
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env, timeout=120)
    return tmp_path / "model.pkl"


USER_CLASS = """
import pickle, sys
from sklearn.linear_model import LogisticRegression
{define}
inner = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
with open(sys.argv[1] + "/model.pkl", "wb") as handle:
    pickle.dump(Threshold(inner), handle)
"""
THRESHOLD = """
class Threshold:
    def __init__(self, inner):
        self.inner = inner
    def predict(self, rows):
        return self.inner.predict_proba(rows)[:, 1] > 0.3
"""


def test_a_class_defined_in_the_notebook_is_refused_with_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _pickle_in_subprocess(tmp_path, USER_CLASS.format(define=THRESHOLD))
    line = new_refused(["--server", "minimal", "--model", str(source)], tmp_path / "ep", capsys)
    assert "pickles Threshold from the notebook or script that saved it (__main__)" in line
    assert "move the class into a module" in line


def test_a_class_from_the_users_own_module_is_named_not_pinned(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "churnlib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(THRESHOLD)
    code = USER_CLASS.format(define="from churnlib import Threshold")
    source = _pickle_in_subprocess(tmp_path, code, env_path=tmp_path / "lib")
    result = new_project(
        tmp_path / "ep", {"server": "minimal"}, model=str(source), model_inspect="none"
    )
    notes = " ".join(result.notes)
    assert "needs module(s) churnlib, which scaffold cannot map to a PyPI package" in notes
    requirements = (result.path / "docker-context" / "requirements.txt").read_text()
    assert "churnlib" not in requirements and "scikit-learn==" in requirements


def test_a_compressed_joblib_file_is_loaded_with_joblib_whatever_its_suffix(
    tmp_path: Path,
) -> None:
    import joblib

    source = _sklearn_model(tmp_path / "lin.joblib")
    renamed = tmp_path / "model.pkl"
    joblib.dump(joblib.load(source), renamed, compress=3)
    result = new_project(
        tmp_path / "ep", {"server": "minimal"}, model=str(renamed), model_inspect="here"
    )
    score = (result.path / "src" / "score.py").read_text()
    assert "return joblib.load(path)" in score and "pickle.load" not in score
    response = json.loads((result.path / "sample_response.json").read_text())
    assert len(response["predictions"]) == 2


@pytest.mark.parametrize(
    ("version", "numpy"), [("1.3.2", "numpy<2"), ("1.5.2", "numpy")], ids=["old", "new"]
)
def test_a_scikit_learn_built_for_numpy_1_keeps_numpy_below_2(version: str, numpy: str) -> None:
    from scaffold.usermodel.minimal import SklearnModel, requirements_for

    info = SklearnModel(Path("m.pkl"), "pickle", version=version, modules={"sklearn", "numpy"})
    lines = requirements_for(info)
    assert f"scikit-learn=={version}" in lines and numpy in lines


# --- plumber: forests and bundles as R users save them (hold-out review) -------------------------
R_FORESTS = r"""
library(randomForest); library(ranger)
set.seed(1)
saveRDS(randomForest(Species ~ ., data = iris, ntree = 20), "/out/rf.rds")
saveRDS(ranger(Species ~ ., data = iris, num.trees = 20, seed = 1), "/out/ranger.rds")
saveRDS(randomForest(x = iris[, 1:4], y = iris$Species, ntree = 10), "/out/rf_xy.rds")
fit <- lm(mpg ~ wt + hp, data = mtcars)
saveRDS(list(model = fit, trained = "2026-12-01"), "/out/bundle.rds")
saveRDS(list(lm = fit, other = fit), "/out/two.rds")
"""


@pytest.fixture(scope="module")
def forests(
    standin: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(a plumber base image with randomForest and ranger from Debian, as a team's base
    image has them, CRAN being out of reach here; the models R made in it)."""
    base = standin("plumber")
    tag = f"scaffold-test/plumber-forests:{base.rsplit(':', 1)[-1]}"
    dockerfile = (
        f"FROM {base}\nUSER root\n"
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        "--no-install-recommends r-cran-randomforest r-cran-ranger "
        "&& rm -rf /var/lib/apt/lists/*\n"
    )
    build = ["docker", "build", "-q", "--label", "scaffold.test=forests", "-t", tag, "-"]
    subprocess.run(build, input=dockerfile, text=True, check=True, capture_output=True, timeout=900)
    out = tmp_path_factory.mktemp("forests")
    out.chmod(0o777)
    (out / "make.R").write_text(R_FORESTS)
    try:
        subprocess.run(
            ["docker", "run", "--rm", "--init", "--network", "none", "--entrypoint", "Rscript",
             "-v", f"{out}:/out", tag, "/out/make.R"],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        yield tag, out
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


IRIS_COLUMNS = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]


@pytest.mark.docker
def test_forests_and_bundles_are_read_without_r(
    forests: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scaffold.usermodel import plumber

    out = forests[1]
    for name in ("rf.rds", "ranger.rds", "rf_xy.rds"):
        info = plumber.describe(out / name)
        assert info.rows is not None and list(info.rows[0]) == IRIS_COLUMNS, name
    assert plumber.describe(out / "ranger.rds").packages == ["ranger"]
    bundle = plumber.describe(out / "bundle.rds")
    assert bundle.rows is not None and list(bundle.rows[0]) == ["wt", "hp"]
    line = new_refused(["--server", "plumber", "--model", str(out / "two.rds")],
                       tmp_path / "ep", capsys)  # fmt: skip
    assert "it holds a list (lm, other), not a model" in line


@pytest.mark.docker
@pytest.mark.parametrize("name", ["ranger.rds", "rf_xy.rds"])
def test_forests_are_green_in_docker(
    forests: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Zero edits: src/plumber.R loads the package's namespace (predict() finds its method),
    calls ranger's predict with `data =`, serves its $predictions; the request is built from
    the predictors the object records (no formula for rf_xy)."""
    new_and_run_green("plumber", forests[0], tmp_path / "ep", capsys, "--model",
                      str(forests[1] / name))  # fmt: skip


def _own_module_model(tmp_path: Path) -> Path:
    """A repository's layout: churnlib/ (the user's package) at the root, the model saved
    into models/ by code importing it."""
    package = tmp_path / "repo" / "churnlib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from churnlib.model import Threshold\n")
    (package / "model.py").write_text(THRESHOLD)
    (package / ".secret.py").write_text("TOKEN = 'x'\n")
    (tmp_path / "outside.py").write_text("KEY = 'x'\n")
    (package / "link.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "repo" / "models").mkdir()
    code = USER_CLASS.format(define="from churnlib import Threshold").replace(
        'sys.argv[1] + "/model.pkl"', 'sys.argv[1] + "/repo/models/model.pkl"'
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path / "repo")}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120, env=env)
    return tmp_path / "repo" / "models" / "model.pkl"


def test_the_users_own_module_beside_the_model_is_copied_into_src(tmp_path: Path) -> None:
    source = _own_module_model(tmp_path)
    result = new_project(
        tmp_path / "ep", {"server": "minimal"}, model=str(source), model_inspect="none"
    )
    src = result.path / "src" / "churnlib"
    assert sorted(p.name for p in src.iterdir()) == ["__init__.py", "model.py"]  # no dotfiles
    notes = " ".join(result.notes)
    assert "src/churnlib is a copy of" in notes and "cannot map to a PyPI package" not in notes
    rows = json.loads((result.path / "sample_request.json").read_text())["data"]
    assert [len(row) for row in rows] == [1, 1]  # the wrapped estimator's width, read statically


@pytest.mark.docker
def test_the_users_own_module_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Zero edits: the copied module is importable where the server unpickles the model, so
    the response is recorded in the project's image and `run` is green."""
    source = _own_module_model(tmp_path)
    new_and_run_green("minimal", standin("minimal"), tmp_path / "own-run", capsys,
                      "--model", str(source))  # fmt: skip
