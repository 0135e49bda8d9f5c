"""The newcomer journey, repeated with zero edits for five models of one's own.

Each model is made the way a user makes it, outside scaffold's environment: in the test's
model environment (`modelvenv`: scikit-learn 1.6.1, skl2onnx, skops, mlflow-skinny; scaffold's
own has scikit-learn 1.9.1 and no skops), with torch, or in R inside the plumber stand-in
(R is not on the host). Then `scaffold new --model` with the server's stand-in base image,
nothing edited, `scaffold run` green (its smoke test compares the recorded sample), and a
correct prediction for the user's own input, sent to the same container `run` starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.localrun import LocalDeployment
from scaffold.validate import validate_project

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modelvenv

from conftest import run_green

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("user-models")
    return folder, modelvenv.make_models(folder)


def _new(dest: Path, *argv: str) -> list[str]:
    """`scaffold new ... DEST` must succeed; returns the project's file list."""
    assert main(["new", *argv, str(dest)]) == ExitCode.OK
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())


def _own_prediction(project: Path, body: Any) -> Any:
    """POST the user's own request to the project's container, started as `scaffold run`
    starts it; returns the JSON answer."""
    deployment = LocalDeployment(project)
    with deployment.ready():
        answer = httpx.post(deployment.url(deployment.plan.scoring), json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_sklearn_pipeline_pickled_with_an_older_scikit_learn(
    tmp_path: Path,
    models: tuple[Path, dict[str, Any]],
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, made = models
    assert made["sklearn"] == "1.6.1"
    project = tmp_path / "iris-pipeline"
    _new(project, "--server", "minimal", "--base-image", standin("minimal"),
         "--model", str(folder / "pipe.pkl"))  # fmt: skip
    requirements = (project / "docker-context" / "requirements.txt").read_text()
    assert "scikit-learn==1.6.1\n" in requirements  # the model's own, not scaffold's 1.9.1
    assert "recorded by the real server" in capsys.readouterr().out
    assert validate_project(project, schema=False).errors == []
    run_green(project, capsys)
    answer = _own_prediction(project, {"data": made["own_rows"]})
    assert answer == {"predictions": made["pipe_predictions"]}


def test_a_sklearn_pipeline_read_with_the_users_own_python(
    tmp_path: Path, models: tuple[Path, dict[str, Any]]
) -> None:
    """--model-python: the model runs in its own environment, every library pinned to it."""
    folder, _ = models
    project = tmp_path / "iris-own-python"
    _new(project, "--server", "minimal", "--model", str(folder / "pipe.pkl"),
         "--model-python", modelvenv.python())  # fmt: skip
    pins = (project / "docker-context" / "requirements.txt").read_text().splitlines()
    for pin in ("scikit-learn==1.6.1", "numpy==2.4.6", "scipy==1.17.1"):
        assert pin in pins
    rows = json.loads((project / "sample_request.json").read_text())["data"]
    assert len(rows) == 2 and all(len(row) == 4 for row in rows)
    response = json.loads((project / "sample_response.json").read_text())
    assert set(response["predictions"]) <= {0, 1, 2}


def test_an_older_pickle_read_here_warns_and_pins_the_models_version(
    tmp_path: Path, models: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = models
    project = tmp_path / "iris-here"
    _new(project, "--server", "minimal", "--model", str(folder / "pipe.pkl"),
         "--model-inspect", "here")  # fmt: skip
    out = capsys.readouterr().out
    assert "pickled with scikit-learn 1.6.1 but" in out and "pins 1.6.1" in out
    assert "scikit-learn==1.6.1" in (project / "docker-context" / "requirements.txt").read_text()


TRITON_PYTHON_MODEL = '''\
"""ONNX Runtime behind Triton's python backend: proves config.pbtxt with the backend the test
server has (the NGC image runs the same model with its onnxruntime backend)."""
import json
import os

import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        responses = []
        for request in requests:
            feed = {i.name: pb_utils.get_input_tensor_by_name(request, i.name).as_numpy()
                    for i in self.session.get_inputs()}
            # BYTES tensors arrive as bytes objects; ONNX Runtime's string tensors take str
            feed = {k: v.astype(str) if v.dtype == object else v for k, v in feed.items()}
            names = [o.name for o in self.session.get_outputs()]
            outputs = self.session.run(names, feed)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor(n, o) for n, o in zip(names, outputs)]))
        return responses
'''


def test_b_onnx_from_skl2onnx_on_triton(
    tmp_path: Path,
    models: tuple[Path, dict[str, Any]],
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, made = models
    project = tmp_path / "iris-onnx"
    _new(project, "--server", "triton", "--base-image", standin("triton"),
         "--model", str(folder / "iris.onnx"))  # fmt: skip
    config = (project / "models" / "iris" / "config.pbtxt").read_text()  # served as "iris"
    assert "reshape: { shape: [ ] }" in config  # the batch-only label output
    assert "max_batch_size: 4" in config and "dims: [ 4 ]" in config
    assert validate_project(project, schema=False).errors == []  # incl. config vs model.onnx
    # The test Triton has the python backend only: run the same model and config through it
    # (onnxruntime in the backend's environment), which proves names, dims, batching and
    # reshape against a real Triton 2.51 and the recorded response's shapes.
    config_lines = config.replace('platform: "onnxruntime_onnx"', 'backend: "python"')
    (project / "models" / "iris" / "config.pbtxt").write_text(config_lines)
    (project / "models" / "iris" / "1" / "model.py").write_text(TRITON_PYTHON_MODEL)
    dockerfile = project / "docker-context" / "Dockerfile"
    text = dockerfile.read_text().replace(
        "\nEXPOSE", "\nRUN /opt/triton-venv/bin/pip install --no-cache-dir onnxruntime\nEXPOSE", 1
    )
    dockerfile.write_text(text)
    run_green(project, capsys)
    rows = [value for row in made["own_rows"] for value in row]
    body = {"inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": rows}]}
    answer = _own_prediction(project, body)
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["label"]["shape"] == [3, 1]
    assert outputs["label"]["data"] == made["onnx_labels"]
    flat = [v for row in made["onnx_probabilities"] for v in row]
    assert outputs["probabilities"]["data"] == pytest.approx(flat, abs=1e-4)


TORCHSCRIPT = """
import sys, torch
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
torch.manual_seed(0)
for p in model.parameters():
    torch.nn.init.uniform_(p, -0.5, 0.5)
torch.jit.script(model).save(sys.argv[1])
rows = torch.tensor([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]])
print(model(rows).tolist())
"""


def test_c_torchscript_on_torchserve(
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "flowers.pt"
    made = subprocess.run([sys.executable, "-c", TORCHSCRIPT, str(source)], check=True,
                          capture_output=True, text=True)  # fmt: skip
    expected = json.loads(made.stdout.strip().splitlines()[-1])
    project = tmp_path / "flowers-ts"
    _new(project, "--server", "torchserve", "--base-image", standin("torchserve"),
         "--model", str(source))  # fmt: skip
    assert (project / "model" / "flowers.mar").is_file()
    run_green(project, capsys)
    rows = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]
    answer = _own_prediction(project, {"instances": rows})
    flat = [value for row in answer["predictions"] for value in row]
    assert flat == pytest.approx([value for row in expected for value in row], abs=1e-5)


def test_d_mlflow_skops_model_with_a_local_version_pin(
    tmp_path: Path,
    models: tuple[Path, dict[str, Any]],
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, made = models
    source = folder / "mlflow_model"
    assert (
        yaml.safe_load((source / "MLmodel").read_text())["flavors"]["sklearn"][
            "serialization_format"
        ]
        == "skops"
    )
    assert "torch==2.13.0+cpu" in (source / "requirements.txt").read_text()
    project = tmp_path / "iris-mlflow"
    # mlflow-torch: the mlflow stand-in with the +cpu torch preinstalled, since PyTorch's
    # index (which scaffold adds to requirements.txt) is not reachable here.
    _new(project, "--server", "mlflow", "--base-image", standin("mlflow-torch"),
         "--model", str(source))  # fmt: skip
    out = capsys.readouterr().out
    assert "added --extra-index-url https://download.pytorch.org/whl/cpu" in out
    requirements = (project / "docker-context" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "skops==" in requirements and "scikit-learn==1.6.1" in requirements
    assert validate_project(project, schema=False).errors == []
    run_green(project, capsys)
    rows = made["mlflow_rows"]
    body = {"input_data": {"columns": ["sepal_length", "sepal_width"], "data": rows}}
    answer = _own_prediction(project, body)
    assert answer["predictions"] == pytest.approx(made["mlflow_predictions"], rel=1e-6)


MAKE_R_MODEL = """
fit <- lm(mpg ~ wt + hp + factor(am), data = mtcars)
saveRDS(fit, "/out/cars.rds")
own <- data.frame(wt = c(3.1, 2.2), hp = c(150, 95), am = c(0, 1))
cat(jsonlite::toJSON(unname(predict(fit, newdata = own)), digits = NA))
"""


def test_e_r_lm_on_plumber(
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = standin("plumber")
    out = tmp_path / "r-models"
    out.mkdir()
    out.chmod(0o777)
    (out / "make.R").write_text(MAKE_R_MODEL)
    made = subprocess.run(
        ["docker", "run", "--rm", "--init", "--network", "none", "--entrypoint", "Rscript",
         "-v", f"{out}:/out", image, "/out/make.R"],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    expected = json.loads(made.stdout.strip().splitlines()[-1])
    source = tmp_path / "cars.rds"
    shutil.copyfile(out / "cars.rds", source)
    project = tmp_path / "cars-plumber"
    files = _new(project, "--server", "plumber", "--base-image", image, "--model", str(source))
    assert "sample_response.json" in files  # recorded in R, in the project's own image
    assert "model-src/make_model.R" not in (project / "src" / "plumber.R").read_text()
    request = json.loads((project / "sample_request.json").read_text())
    assert set(request["data"][0]) == {"wt", "hp", "am"}
    run_green(project, capsys)
    own = {"data": [{"wt": 3.1, "hp": 150, "am": 0}, {"wt": 2.2, "hp": 95, "am": 1}]}
    answer = _own_prediction(project, own)
    assert answer["predictions"] == pytest.approx(expected, rel=1e-9)
