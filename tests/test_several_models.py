"""Several models in one deployment: `--models` (the sample under each name) and `scaffold new
--model A --model B ...` (the user's models), per server; smoke_test.py scoring each model;
validate's per-model contracts; and, in Docker on the stand-in images, projects that serve
several models run green with every model scored by the real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import TORCHSERVE_SAMPLE_MAR, Render, files_of, new_refused, run_green, serving
from scaffold.cli import main
from scaffold.generate import new_project
from scaffold.servers import SERVERS
from scaffold.validate import validate_project

TOOLS_BIN = Path(sys.executable).parent
PATH_ROUTED = [name for name, s in SERVERS.items() if s.several_models.chosen_by == "path"]


def _deployment(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project / "deployment.yml").read_text())
    return loaded


def _codes(project: Path) -> set[tuple[str, str, str]]:
    report = validate_project(project, schema=False)
    return {(p.severity, p.code, p.file) for p in report.problems}


def _hadolint(project: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(TOOLS_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: pip install -e '.[dev]'"
    dockerfile = project / "docker-context" / "Dockerfile"
    proc = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- The sample under several names (--models) ------------------------------------------------
@pytest.mark.parametrize("server", PATH_ROUTED)
def test_models_answer_serves_the_sample_under_each_name(render: Render, server: str) -> None:
    project = render(server, models="[alpha, beta, gamma]")
    files = files_of(project)
    for name in ("alpha", "beta", "gamma"):
        assert {
            f"samples/{name}/sample_request.json",
            f"samples/{name}/sample_response.json",
        } <= files
    deployment = _deployment(project)
    routes = deployment["environment"]["inference_config"]
    assert "alpha" in routes["scoring_route"]["path"]  # the default model is the first
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["models"] == ["alpha", "beta", "gamma"]
    assert answers["served_model_name"] == "alpha"
    several = SERVERS[server].several_models
    assert deployment["model"]["path"] == f"./{several.model_dir}"
    assert deployment.get("model_mount_path", "") == several.model_mount_path
    _hadolint(project)
    assert {c for c in _codes(project) if c[0] == "error"} == set()
    readme = (project / "README.md").read_text()
    assert "### Several models" in readme and "`samples/gamma/`" in readme


def test_triton_models_share_one_repository(render: Render) -> None:
    project = render("triton", models="[alpha, beta]")
    for name in ("alpha", "beta"):
        config = (project / "models" / name / "config.pbtxt").read_text()
        assert f'name: "{name}"' in config
        assert _json(project / "samples" / name / "sample_response.json")["model_name"] == name
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    assert '"--model-repository=/mnt/models"' in dockerfile
    # the project's own check of a python-backend model, for each model
    for name in ("alpha", "beta"):
        proc = subprocess.run(
            [
                sys.executable,
                "model-src/check_model.py",
                "--model-dir",
                f"models/{name}",
                "--request",
                f"samples/{name}/sample_request.json",
                "--expect",
                f"samples/{name}/sample_response.json",
            ],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_torchserve_lists_every_archive(render: Render) -> None:
    project = render("torchserve", models="[alpha, beta]")
    env = _deployment(project)["environment_variables"]
    assert env["TORCHSERVE_MODELS"] == "alpha=alpha.mar beta=beta.mar"
    assert {"model/alpha.mar", "model/beta.mar"} <= files_of(project)


@pytest.mark.parametrize("in_image", [False, True], ids=["mounted", "integrated"])
def test_tfserving_serves_a_model_config_file(render: Render, in_image: bool) -> None:
    project = render("tfserving", models="[alpha, beta]", model_in_image=str(in_image).lower())
    config = (project / "docker-context" / "models.config").read_text()
    from scaffold.validate.contracts.tfserving import parse_model_config

    base = "/models" if in_image else "/mnt/models"
    assert parse_model_config(config) == {n: f"{base}/{n}" for n in ("alpha", "beta")}
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    assert 'CMD ["--model_config_file=/etc/tfserving/models.config"]' in dockerfile
    deployment = _deployment(project)
    assert "MODEL_NAME" not in (deployment.get("environment_variables") or {})
    folder = "docker-context/models" if in_image else "models"
    assert f"{folder}/beta/1/saved_model.pb" in files_of(project)
    assert ("model" in deployment) is not in_image


TF_CONFIG = """
# as TF Serving's documentation writes it: single quotes, nested blocks, comments
model_config_list: {
  config: {
    name: 'resnet'
    base_path: '/models/resnet'
    model_platform: 'tensorflow'
    model_version_policy: { specific { versions: 1 versions: 2 } }
  },
  config {
    name: "bert"   # the second model
    base_path: "/models/bert"
    version_labels { key: 'stable' value: 2 }
  }
}
"""


def test_tf_serving_model_config_as_documented() -> None:
    from scaffold.validate.contracts.tfserving import parse_model_config

    assert parse_model_config(TF_CONFIG) == {"resnet": "/models/resnet", "bert": "/models/bert"}


def test_a_hand_written_tf_serving_project_with_a_model_config_file(tmp_path: Path) -> None:
    """Models baked into the image and a config file COPYed beside them: a config entry whose
    folder is missing, and a route naming a model the config does not list, are errors."""
    from conftest import TFSERVING_SAMPLE_MODEL

    project = tmp_path / "tf-hand"
    shutil.copytree(TFSERVING_SAMPLE_MODEL, project / "models" / "resnet")
    (project / "models.config").write_text(TF_CONFIG)
    (project / "Dockerfile").write_text(
        "FROM tensorflow/serving:2.19.1\nCOPY models /models\n"
        "COPY models.config /models/models.config\n"
        'CMD ["--model_config_file=/models/models.config"]\n'
    )
    (project / "endpoint.yml").write_text("name: tf-hand-ep\nauth_mode: key\n")
    routes = {
        "liveness_route": {"port": 8501, "path": "/v1/models/resnet"},
        "readiness_route": {"port": 8501, "path": "/v1/models/resnet/metadata"},
        "scoring_route": {"port": 8501, "path": "/v1/models/mobilenet:predict"},
    }
    deployment = {
        "name": "blue",
        "endpoint_name": "tf-hand-ep",
        "environment": {"build": {"path": "."}, "inference_config": routes},
        "instance_type": "Standard_DS3_v2",
        "instance_count": 1,
    }
    (project / "deployment.yml").write_text(yaml.safe_dump(deployment))
    report = validate_project(project, schema=False)
    assert report.server == "tfserving"
    found = {(p.code, p.file, p.key) for p in report.errors}
    assert found == {
        ("tfserving.base_path", "models.config", "bert.base_path"),
        (
            "route.model.mismatch",
            "deployment.yml",
            "environment.inference_config.scoring_route.path",
        ),
    }, report.errors


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ("[solo]", "models lists one name"),
        ("[a, a]", "models lists a name twice"),
        ("[1bad, b]", '"1bad" is not a served model name'),
        ("[a, {b: 1}]", "is not a served model name"),
        ("a", "must be a YAML list"),
    ],
)
def test_bad_models_answers_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], models: str, message: str
) -> None:
    line = new_refused(["--server", "triton", "--models", models], tmp_path / "bad-ep", capsys)
    assert message in line


def test_the_default_model_is_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--server", "triton", "--models", "[a, b]", "--served-model-name", "b"]
    line = new_refused(argv, tmp_path / "bad-ep", capsys)
    assert "must be the first of models" in line


def test_models_do_not_apply_where_the_request_chooses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = new_refused(["--server", "plumber", "--models", "[a, b]"], tmp_path / "bad-ep", capsys)
    assert "does not apply to server plumber" in line


# --- The user's models (--model A --model B) ----------------------------------------------------
def _onnx(path: Path, scale: float, shift: float) -> Path:
    """y = scale * x + shift over rows of 2 values, with a symbolic batch dimension."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "s"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])],
        "affine",
        [x],
        [y],
        initializer=[
            helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("b", TensorProto.FLOAT, [], [shift]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_several_onnx_models_for_triton(tmp_path: Path) -> None:
    double = _onnx(tmp_path / "double.onnx", 2.0, 0.0)
    shifted = _onnx(tmp_path / "shift.onnx", 1.0, 10.0)
    result = new_project(
        tmp_path / "tri-ep", {"server": "triton"}, model=[str(double), f"plus10={shifted}"]
    )
    project = result.path
    assert result.answers["models"] == ["double", "plus10"]
    assert result.answers["triton_model_format"] == "onnx"
    assert result.notes[0].startswith("2 models in one deployment, each on its own route")
    for name, source in (("double", double), ("plus10", shifted)):
        assert (project / "models" / name / "1" / "model.onnx").read_bytes() == source.read_bytes()
        assert f'name: "{name}"' in (project / "models" / name / "config.pbtxt").read_text()
    request = _json(project / "samples" / "plus10" / "sample_request.json")["inputs"][0]["data"]
    response = _json(project / "samples" / "plus10" / "sample_response.json")
    assert response["model_name"] == "plus10"
    assert response["outputs"][0]["data"] == pytest.approx([v + 10 for v in request])
    doubled = _json(project / "samples" / "double" / "sample_response.json")["outputs"][0]["data"]
    assert doubled == pytest.approx([2 * v for v in request])
    # the top-level samples are the default model's
    assert (project / "sample_response.json").read_bytes() == (
        project / "samples" / "double" / "sample_response.json"
    ).read_bytes()
    assert not [f for f in files_of(project) if f.startswith("model-src/")]
    deployment = _deployment(project)
    assert deployment["model"]["path"] == "./models"
    assert deployment["model_mount_path"] == "/mnt"
    assert {c for c in _codes(project) if c[0] == "error"} == set()


def test_models_with_generic_file_names_are_named_by_their_folder(tmp_path: Path) -> None:
    """models/iris/model.onnx and a Triton-style models/wine/1/model.onnx: iris and wine."""
    first = tmp_path / "models" / "iris" / "model.onnx"
    second = tmp_path / "models" / "wine" / "1" / "model.onnx"
    for path in (first, second):
        path.parent.mkdir(parents=True)
        _onnx(path, 1.0, 0.0)
    result = new_project(
        tmp_path / "names-ep", {"server": "triton"}, model=[str(first), str(second)]
    )
    assert result.answers["models"] == ["iris", "wine"]


def _torchscript(path: Path, weights: list[float], bias: float) -> Path:
    import torch

    linear = torch.nn.Linear(len(weights), 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([weights]))
        linear.bias.fill_(bias)
    torch.jit.trace(linear, torch.zeros(1, len(weights))).save(str(path))
    return path


def _mar(path: Path, name: str) -> Path:
    """A real archive: the template's sample .mar (handler + weights) renamed in its manifest."""
    with zipfile.ZipFile(TORCHSERVE_SAMPLE_MAR) as old, zipfile.ZipFile(path, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["model"]["modelName"] = name
                data = json.dumps(manifest).encode()
            new.writestr(item, data)
    return path


def test_torchscript_and_mar_models_for_torchserve(tmp_path: Path) -> None:
    scorer = _torchscript(tmp_path / "scorer.pt", [1.0, 2.0, 3.0], 0.5)
    archive = _mar(tmp_path / "adder-v1.mar", "adder")
    result = new_project(
        tmp_path / "ts-ep", {"server": "torchserve"}, model=[str(scorer), str(archive)]
    )
    project = result.path
    assert result.answers["models"] == ["scorer", "adder"]
    env = _deployment(project)["environment_variables"]
    assert env["TORCHSERVE_MODELS"] == "scorer=scorer.mar adder=adder.mar"
    assert (project / "model" / "adder.mar").read_bytes() == archive.read_bytes()
    assert "TorchScriptHandler" in (project / "model-src" / "scorer" / "handler.py").read_text()
    assert sorted(p.name for p in (project / "model").iterdir()) == ["adder.mar", "scorer.mar"]
    # the .pt's samples were recorded by running it; the .mar's are left to the user
    assert (project / "samples" / "scorer" / "sample_response.json").is_file()
    assert not (project / "samples" / "adder").exists()
    assert "write samples/<model>/sample_request.json" in result.notes[0]
    codes = _codes(project)
    assert ("warning", "samples.model.missing", "samples") in codes
    assert {c for c in codes if c[0] == "error"} == set()


MAKE_SAVEDMODELS = """
import sys, tensorflow as tf
for path, scale in ((sys.argv[1], 2.0), (sys.argv[2], -1.0)):
    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="features")])
        def serve(self, features):
            return {"score": tf.reduce_sum(features, axis=1) * scale}
    m = M()
    tf.saved_model.save(m, path, signatures={"serving_default": m.serve})
"""


def _tf_python() -> str:
    import os

    python = os.environ.get("SCAFFOLD_TF_PYTHON", "")
    assert python, "SCAFFOLD_TF_PYTHON must name a Python with TensorFlow (see test_tfserving.py)"
    return python


def test_several_savedmodels_for_tfserving_checked_with_tensorflow(tmp_path: Path) -> None:
    python = _tf_python()
    first, second = tmp_path / "exports" / "sum_twice", tmp_path / "exports" / "negated"
    subprocess.run(
        [python, "-c", MAKE_SAVEDMODELS, str(first), str(second)], check=True, capture_output=True
    )
    result = new_project(
        tmp_path / "tf-ep", {"server": "tfserving"}, model=[str(first), str(second)]
    )
    project = result.path
    assert result.answers["models"] == ["sum_twice", "negated"]
    for name in ("sum_twice", "negated"):
        assert (project / "models" / name / "1" / "saved_model.pb").is_file()
    from scaffold.validate.contracts.tfserving import parse_model_config

    config = parse_model_config((project / "docker-context" / "models.config").read_text())
    assert config == {"sum_twice": "/mnt/models/sum_twice", "negated": "/mnt/models/negated"}
    # the samples were recorded by TensorFlow from each model's serving signature
    for name, scale in (("sum_twice", 2.0), ("negated", -1.0)):
        rows = _json(project / "samples" / name / "sample_request.json")["instances"]
        got = _json(project / "samples" / name / "sample_response.json")["predictions"]
        assert got == pytest.approx([sum(row) * scale for row in rows])
    assert {c for c in _codes(project) if c[0] == "error"} == set()
    # and the config with a model whose folder is gone is an error naming it
    shutil.rmtree(project / "models" / "negated")
    assert ("error", "tfserving.base_path", "docker-context/models.config") in _codes(project)


def _rds_copies(tmp_path: Path, *names: str) -> list[Path]:
    """Real R models: the template's lm(mpg ~ wt + hp, mtcars), saved with saveRDS()."""
    from conftest import TEMPLATES

    paths = []
    for name in names:
        paths.append(tmp_path / f"{name}.rds")
        shutil.copyfile(TEMPLATES / "plumber" / "model" / "model.rds", paths[-1])
    return paths


def test_several_rds_models_for_plumber(tmp_path: Path) -> None:
    models = _rds_copies(tmp_path, "a", "b")
    crate_dir = tmp_path / "crate"
    crate_dir.mkdir()
    crate = shutil.copyfile(models[0], crate_dir / "crate.bin")
    result = new_project(
        tmp_path / "r-ep",
        {"server": "plumber", "r_packages": "[]"},
        model=[*map(str, models), f"c={crate}"],
    )
    project = result.path
    assert sorted(p.name for p in (project / "model").iterdir()) == ["a.rds", "b.rds", "c.rds"]
    assert "models" not in result.answers  # the request chooses: nothing in the template to name
    assert not (project / "sample_request.json").exists()
    assert 'chosen by the request\'s "model" field' in result.notes[0]
    codes = _codes(project)
    assert ("warning", "samples.model.missing", "samples") in codes
    # a sample asking for another model than its folder's is an error
    (project / "samples" / "a").mkdir(parents=True)
    (project / "samples" / "a" / "sample_request.json").write_text('{"model": "b", "data": [{}]}')
    (project / "samples" / "a" / "sample_response.json").write_text("{}")
    assert ("error", "samples.model.field", "samples/a/sample_request.json") in _codes(project)


def _sklearn(path: Path, width: int, factor: float) -> Path:
    import joblib
    from sklearn.linear_model import LinearRegression

    rows = [[float(i + j) for j in range(width)] for i in range(6)]
    joblib.dump(LinearRegression().fit(rows, [factor * sum(r) + 1 for r in rows]), path)
    return path


def test_several_sklearn_models_for_minimal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow = _sklearn(tmp_path / "narrow.joblib", 2, 3.0)
    wide = _sklearn(tmp_path / "wide.pkl.joblib", 4, -1.0)
    result = new_project(
        tmp_path / "sk-ep", {"server": "minimal"}, model=[str(narrow), f"wide={wide}"]
    )
    project = result.path
    assert result.answers["multi_model"] is True
    assert sorted(p.name for p in (project / "model").iterdir()) == ["narrow.joblib", "wide.joblib"]
    requirements = (project / "docker-context" / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and requirements.count("scikit-learn==") == 1
    # the generated score.py serves both, by the request's "model", with the recorded samples
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(project))
    import importlib.util

    spec = importlib.util.spec_from_file_location("several_score", project / "src" / "score.py")
    assert spec is not None and spec.loader is not None
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    score.init()
    assert sorted(score.models) == ["narrow", "wide"]
    for name in ("narrow", "wide"):
        request = (project / "samples" / name / "sample_request.json").read_text()
        assert json.loads(request)["model"] == name
        got = score.run(request)
        expected = _json(project / "samples" / name / "sample_response.json")
        assert got["model"] == expected["model"] == name
        assert got["predictions"] == pytest.approx(expected["predictions"])
    with pytest.raises(ValueError, match="unknown model"):
        score.parse_input('{"model": "other", "data": [[1, 2]]}')
    with pytest.raises(ValueError, match="row 0: expected a list of 4 values for model wide"):
        score.parse_input('{"model": "wide", "data": [[1, 2]]}')
    assert {c for c in _codes(project) if c[0] == "error"} == set()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--server", "mlflow", "--model", "{a}", "--model", "{b}"],
            "serves one model per deployment",
        ),
        (["--server", "triton", "--model", "{a}", "--model", "{a}"], "would both be served as"),
        (
            ["--server", "triton", "--model", "{a}", "--model", "azureml:m:1"],
            "several models are local",
        ),
        (
            ["--server", "triton", "--model", "{a}", "--model", "{b}", "--served-model-name", "x"],
            "does not fit this model",
        ),
        (
            ["--server", "triton", "--model", "{a}", "--model", "{b}", "--models", "[b, a]"],
            "does not fit the --model flags",
        ),
        (["--server", "triton", "--model", "{a}", "--model", "{bad}"], "not a readable ONNX model"),
    ],
)
def test_several_models_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    paths = {
        "a": str(_onnx(tmp_path / "a.onnx", 1.0, 0.0)),
        "b": str(_onnx(tmp_path / "b.onnx", 2.0, 0.0)),
        "bad": str(tmp_path / "bad.onnx"),
    }
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    line = new_refused([arg.format(**paths) for arg in argv], tmp_path / "ep", capsys)
    assert message in line


# --- smoke_test.py: one scoring request per model ------------------------------------------------
class _Models(ThreadingHTTPServer):
    #: path -> (status, body) for POSTs; GETs answer 200.
    answers: dict[str, tuple[int, bytes]]
    posted: list[tuple[str, dict[str, Any]]]


class _ModelHandler(BaseHTTPRequestHandler):
    server: _Models

    def do_GET(self) -> None:
        self._reply(200, b"{}")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.posted.append((self.path, body))
        status, answer = self.server.answers.get(self.path, (404, b'{"error": "no such route"}'))
        if isinstance(body, dict) and "model" in body:  # chosen by the request
            status, answer = self.server.answers.get(f"{self.path}#{body['model']}", (400, b"{}"))
        self._reply(status, answer)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_server() -> Iterator[_Models]:
    httpd = _Models(("127.0.0.1", 0), _ModelHandler)
    httpd.answers, httpd.posted = {}, []
    with serving(httpd):
        yield httpd


def _smoke(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [
            sys.executable,
            str(project / "smoke_test.py"),
            "--timeout",
            "5",
            "--deadline",
            "10",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_smoke_scores_each_model_on_its_route(render: Render, models_server: _Models) -> None:
    project = render("triton", models="[alpha, beta]")
    base = f"http://127.0.0.1:{models_server.server_port}"
    for name in ("alpha", "beta"):
        answer = (project / "samples" / name / "sample_response.json").read_bytes()
        models_server.answers[f"/v2/models/{name}/infer"] = (200, answer)
    proc = _smoke(project, "--url", base)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [path for path, _ in models_server.posted] == [
        "/v2/models/alpha/infer",
        "/v2/models/beta/infer",
    ]
    assert "PASS model alpha" in proc.stdout and "PASS model beta" in proc.stdout
    # a model answering another's response fails, naming the model
    models_server.answers["/v2/models/beta/infer"] = models_server.answers["/v2/models/alpha/infer"]
    proc = _smoke(project, "--url", base)
    assert proc.returncode == 1
    assert "FAIL model beta: $.model_name: expected 'beta', got 'alpha'" in proc.stderr


def test_smoke_against_a_deployed_endpoint_sends_others_to_their_route(
    render: Render, models_server: _Models
) -> None:
    project = render("torchserve", models="[alpha, beta]")
    answer = (project / "sample_response.json").read_bytes()
    models_server.answers = {"/score": (200, answer), "/predictions/beta": (200, answer)}
    uri = f"http://127.0.0.1:{models_server.server_port}/score"
    proc = _smoke(project, "--scoring-uri", uri, env={"AZUREML_ENDPOINT_KEY": "k3y-long-enough"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the default model through the scoring URI, the other on its route on the same host
    assert [path for path, _ in models_server.posted] == ["/score", "/predictions/beta"]


def test_smoke_chooses_models_by_the_request(render: Render, models_server: _Models) -> None:
    project = render("minimal", multi_model="true")
    for name in ("model-a", "model-b"):
        answer = (project / "samples" / name / "sample_response.json").read_bytes()
        models_server.answers[f"/score#{name}"] = (200, answer)
    proc = _smoke(project, "--url", f"http://127.0.0.1:{models_server.server_port}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(path, body["model"]) for path, body in models_server.posted] == [
        ("/score", "model-a"),
        ("/score", "model-b"),
    ]


# --- In Docker, on the stand-in images (real servers) ---------------------------------------------


#: Three logistic regressions on (x1, x2), like Azure's r/multimodel-plumber models a, b and c;
#: the samples are predicted by R itself (type = "response": probabilities).
MAKE_R_MODELS = r"""
set.seed(42)
n <- 200
x1 <- rnorm(n); x2 <- rnorm(n)
rows <- data.frame(x1 = c(0.77, -0.11, -0.75), x2 = c(-0.25, -0.96, -1.0))
for (i in 1:3) {
  name <- letters[i]
  y <- rbinom(n, 1, plogis(0.8 * i * x1 - 0.5 * x2 + 0.2 * i))
  m <- glm(y ~ x1 + x2, family = binomial(), data = data.frame(x1, x2, y))
  saveRDS(m, file.path("/work/models", paste0(name, ".rds")))
  p <- as.numeric(predict(m, rows, type = "response"))
  dir.create(file.path("/work/samples", name), recursive = TRUE)
  request <- if (name == "a") {
    # Azure's sample_request.json shape: the columns as top-level arrays
    list(model = name, x1 = rows$x1, x2 = rows$x2)
  } else {
    list(model = name, data = rows)
  }
  writeLines(jsonlite::toJSON(request, auto_unbox = TRUE, digits = NA),
             file.path("/work/samples", name, "sample_request.json"))
  writeLines(jsonlite::toJSON(list(model = name, predictions = p), auto_unbox = TRUE, digits = NA),
             file.path("/work/samples", name, "sample_response.json"))
}
"""


@pytest.mark.docker
def test_three_r_models_in_one_plumber_container_each_scored(
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = standin("plumber")
    work = tmp_path / "r-work"
    (work / "models").mkdir(parents=True)
    (work / "make.R").write_text(MAKE_R_MODELS)
    proc = subprocess.run(
        ["docker", "run", "--rm", "--init", "--label", "scaffold.test=several-models",
         "-v", f"{work}:/work", "--entrypoint", "Rscript", image, "/work/make.R"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    models = [str(work / "models" / f"{name}.rds") for name in "abc"]
    dest = tmp_path / "r-multimodel"
    argv = ["new", "--server", "plumber", "--base-image", image, "--no-git"]
    assert main([*argv, *(arg for m in models for arg in ("--model", m)), str(dest)]) == 0
    # scaffold recorded each model's samples itself, by the real plumber server in the image
    assert "write samples/" not in capsys.readouterr().out
    for name in "abc":
        request = _json(dest / "samples" / name / "sample_request.json")
        response = _json(dest / "samples" / name / "sample_response.json")
        assert request["model"] == response["model"] == name
        assert len(response["predictions"]) == len(request["data"]) > 0
    # ... and R's own predictions, in Azure's request shapes, are served the same way
    shutil.copytree(work / "samples", dest / "samples", dirs_exist_ok=True)
    shutil.copyfile(dest / "samples" / "a" / "sample_request.json", dest / "sample_request.json")
    shutil.copyfile(dest / "samples" / "a" / "sample_response.json", dest / "sample_response.json")
    assert {c for c in _codes(dest) if c[0] == "error"} == set()
    log = run_green(dest, capsys)
    for name in "abc":
        assert f"PASS model {name}: POST http://127.0.0.1:" in log


@pytest.mark.docker
def test_two_triton_models_in_one_repository_each_scored(
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "tri-several"
    argv = ["new", "--server", "triton", "--base-image", standin("triton"), "--no-git"]
    assert main([*argv, "--models", "[halve, triple]", str(dest)]) == 0
    # Make the second model a different one (3x + 1), so each route is proven to reach its own.
    model = dest / "models" / "triple" / "1" / "model.py"
    model.write_text(model.read_text().replace("(0.5 * x + 2.0)", "(3.0 * x + 1.0)"))
    response = _json(dest / "samples" / "triple" / "sample_response.json")
    response["outputs"][0]["data"] = [4.0, 7.0, 16.0]
    (dest / "samples" / "triple" / "sample_response.json").write_text(json.dumps(response))
    log = run_green(dest, capsys)
    assert "PASS model halve: POST http://127.0.0.1:" in log and "/v2/models/halve/infer" in log
    assert "PASS model triple: POST http://127.0.0.1:" in log and "/v2/models/triple/infer" in log


@pytest.mark.docker
def test_two_torchscript_models_in_one_torchserve_each_scored(
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = _torchscript(tmp_path / "sum3.pt", [1.0, 1.0, 1.0], 0.0)
    second = _torchscript(tmp_path / "weighted.pt", [1.0, 2.0, 3.0], 0.5)
    dest = tmp_path / "ts-several"
    argv = ["new", "--server", "torchserve", "--base-image", standin("torchserve"), "--no-git"]
    assert main([*argv, "--model", str(first), "--model", str(second), str(dest)]) == 0
    log = run_green(dest, capsys)
    assert "PASS model sum3" in log and "/predictions/sum3" in log
    assert "PASS model weighted" in log and "/predictions/weighted" in log


@pytest.mark.docker
def test_two_sklearn_models_in_one_minimal_server_each_scored(
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    narrow = _sklearn(tmp_path / "narrow.joblib", 2, 3.0)
    wide = _sklearn(tmp_path / "wide.joblib", 4, -1.0)
    dest = tmp_path / "sk-several"
    argv = ["new", "--server", "minimal", "--base-image", standin("minimal"), "--no-git"]
    assert main([*argv, "--model", str(narrow), "--model", str(wide), str(dest)]) == 0
    log = run_green(dest, capsys)
    assert "PASS model narrow" in log and "PASS model wide" in log
