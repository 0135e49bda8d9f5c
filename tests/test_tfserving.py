"""The TF Serving template: what can be verified without the real TF Serving binary.

The real `tensorflow_model_server` is NOT exercised anywhere in this file: its only
distributions are the `tensorflow/serving` image and Google's apt repository, neither of
which CI can reach. What is verified instead:

a. static: both variants (mounted model, model baked into the image) render the exact file
   list, and deployment.yml / Dockerfile / README agree on MODEL_BASE_PATH, MODEL_NAME, the
   model folder, the mounts and the routes; hadolint passes; azure-ai-ml loads the YAML;
b. the shipped SavedModel under REAL TensorFlow, run in a subprocess with the interpreter
   named by SCAFFOLD_TF_PYTHON (TensorFlow stays out of scaffold's own test venv);
c. the generated smoke_test.py against a REST *stand-in* (TFServingRestStandIn below, plain
   Python 0.5x+2) that imitates TF Serving's documented REST answers.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from conftest import SHARED_FILES, TEMPLATES, Render, files_of

MODEL_FOLDER = "half_plus_two"
VERSION_FILES = {
    "1/saved_model.pb",
    "1/fingerprint.pb",
    "1/variables/variables.index",
    "1/variables/variables.data-00000-of-00001",
}
COMMON = SHARED_FILES | {"model-src/make_model.py"}
#: variant id -> (answers, folder holding the SavedModel versions in the project)
VARIANTS = {
    "mounted": ({}, MODEL_FOLDER),
    "integrated": ({"model_in_image": True}, f"docker-context/models/{MODEL_FOLDER}"),
}
#: variant id -> the same folder in the template (conditional names: one renders per variant)
TEMPLATE_MODEL_DIRS = {
    "mounted": TEMPLATES
    / "tfserving"
    / "{% if not model_in_image and not models %}{{ served_model_name }}{% endif %}",
    "integrated": TEMPLATES
    / "tfserving"
    / "docker-context"
    / "{% if model_in_image %}models{% endif %}"
    / "{% yield name from (models or [served_model_name]) %}{{ name }}{% endyield %}",
}
ANSWERS = {"model_name": "my.tf_model-2", "model_version": "7"}
TOOLS_BIN = Path(sys.executable).parent
TF_VENV_HINT = (
    "SCAFFOLD_TF_PYTHON must name a Python interpreter with TensorFlow, e.g.\n"
    "  python3 -m venv /opt/scaffold-tf && "
    "/opt/scaffold-tf/bin/pip install 'tensorflow-cpu==2.18.1'\n"
    "  SCAFFOLD_TF_PYTHON=/opt/scaffold-tf/bin/python python -m pytest tests/test_tfserving.py\n"
    "(about 1.4 GB; TensorFlow is kept out of scaffold's own test environment)"
)


def render_variant(render: Render, variant: str, **extra: Any) -> Path:
    answers, _ = VARIANTS[variant]
    return render("tfserving", name=f"tf-{variant}", **ANSWERS, **answers, **extra)


def deployment_of(project: Path) -> dict[str, Any]:
    data = yaml.safe_load((project / "deployment.yml").read_text())
    assert isinstance(data, dict)
    return data


def dockerfile_env(project: Path) -> dict[str, str]:
    """ENV key=value pairs of the generated Dockerfile (continuation lines joined)."""
    text = (project / "docker-context" / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def served_model_name(project: Path) -> str:
    """MODEL_NAME as the container would see it: deployment.yml wins over the Dockerfile."""
    env = {**dockerfile_env(project), **(deployment_of(project).get("environment_variables") or {})}
    return str(env["MODEL_NAME"])


# --- a. static checks ----------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_file_list(render: Render, variant: str) -> None:
    _, model_path = VARIANTS[variant]
    expected = COMMON | {f"{model_path}/{name}" for name in VERSION_FILES}
    project = render_variant(render, variant)
    assert files_of(project) == expected
    for name in expected - {f"{model_path}/{name}" for name in VERSION_FILES}:
        text = (project / name).read_text(encoding="utf-8")
        text = text.replace("${{", "")  # GitHub Actions expressions are meant to stay
        assert "{{" not in text and "{%" not in text, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_readme_shell_passes_shellcheck(render: Render, variant: str) -> None:
    project = render_variant(render, variant)
    shellcheck = shutil.which("shellcheck", path=str(TOOLS_BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: pip install -e '.[dev]'"
    readme = (project / "README.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in readme.split("```")[1::2] if b.startswith("bash")]
    assert len(blocks) >= 2
    snippet = project.parent / f"{project.name}-readme.sh"
    snippet.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(blocks))
    proc = subprocess.run([shellcheck, str(snippet)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_savedmodel_files_are_copied_byte_for_byte(render: Render, variant: str) -> None:
    """Binary files survive copier and the project's first git commit unchanged."""
    _, model_path = VARIANTS[variant]
    project = render_variant(render, variant)
    shipped = TEMPLATE_MODEL_DIRS[variant]
    for name in VERSION_FILES:
        assert (project / model_path / name).read_bytes() == (shipped / name).read_bytes(), name
        # Both variants ship the same SavedModel.
        assert all(
            (d / name).read_bytes() == (shipped / name).read_bytes()
            for d in TEMPLATE_MODEL_DIRS.values()
        ), name
    if (project / ".git").is_dir():
        numstat = subprocess.run(
            ["git", "show", "--numstat", "--format=", "HEAD", "--", model_path],
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        assert len(numstat) == len(VERSION_FILES)
        assert all(line.startswith("-\t-\t") for line in numstat), numstat  # git: binary


def test_mounted_variant_env_matches_the_azure_mount(render: Render) -> None:
    from scaffold.project import load_plan

    project = render_variant(render, "mounted")
    deployment = deployment_of(project)
    model = deployment["model"]
    assert model == {
        "name": ANSWERS["model_name"],
        "version": ANSWERS["model_version"],
        "path": f"./{MODEL_FOLDER}",
    }
    env = deployment["environment_variables"]
    base = f"/var/azureml-app/azureml-models/{model['name']}/{model['version']}"
    # TF Serving appends MODEL_NAME itself, so the base path must stop at the version and
    # MODEL_NAME must be the model folder's name.
    assert env == {"MODEL_BASE_PATH": base, "MODEL_NAME": Path(model["path"]).name}
    assert "model_mount_path" not in deployment
    assert dockerfile_env(project) == {}  # the mounted image is the unmodified base image

    plan = load_plan(project)
    [mount] = plan.mounts
    # What tf_serving_entrypoint.sh passes as --model_base_path is the mounted folder.
    assert mount.target == PurePosixPath(env["MODEL_BASE_PATH"]) / env["MODEL_NAME"]
    assert mount.source == project / MODEL_FOLDER
    assert plan.environment["AZUREML_MODEL_DIR"] == base
    assert plan.environment["MODEL_BASE_PATH"] == base
    _assert_version_layout(mount.source)


def test_integrated_variant_bakes_the_model_in(render: Render) -> None:
    from scaffold.project import load_plan

    project = render_variant(render, "integrated")
    deployment = deployment_of(project)
    assert "model" not in deployment and "model_mount_path" not in deployment
    assert "environment_variables" not in deployment
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    assert dockerfile_env(project) == {"MODEL_BASE_PATH": "/models", "MODEL_NAME": MODEL_FOLDER}
    assert re.search(r"^COPY models /models$", dockerfile, re.M)
    # COPY models /models + MODEL_BASE_PATH/MODEL_NAME -> docker-context/models/half_plus_two
    _assert_version_layout(project / "docker-context" / "models" / MODEL_FOLDER)
    plan = load_plan(project)
    assert plan.mounts == []
    assert not {"MODEL_BASE_PATH", "MODEL_NAME", "AZUREML_MODEL_DIR"} & set(plan.environment)


def _assert_version_layout(model_dir: Path) -> None:
    versions = [p for p in model_dir.iterdir() if p.is_dir()]
    assert [p.name for p in versions] == ["1"], "TF Serving needs numeric version folders"
    assert (versions[0] / "saved_model.pb").is_file()
    assert (versions[0] / "variables" / "variables.index").is_file()


@pytest.mark.parametrize("variant", VARIANTS)
def test_routes_name_the_served_model(render: Render, variant: str) -> None:
    project = render_variant(render, variant)
    name = served_model_name(project)
    routes = deployment_of(project)["environment"]["inference_config"]
    assert routes["liveness_route"] == {"port": 8501, "path": f"/v1/models/{name}"}
    # The status route (as in Azure's sample) or /metadata (200 only once loaded).
    assert routes["readiness_route"]["port"] == 8501
    assert routes["readiness_route"]["path"] in (
        f"/v1/models/{name}",
        f"/v1/models/{name}/metadata",
    )
    assert routes["scoring_route"] == {"port": 8501, "path": f"/v1/models/{name}:predict"}
    assert "code_configuration" not in deployment_of(project)
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    assert re.search(r"^FROM tensorflow/serving:2\.19\.1$", dockerfile, re.M)
    assert re.search(r"^EXPOSE 8501$", dockerfile, re.M)
    assert not re.search(r"^(CMD|ENTRYPOINT)\b", dockerfile, re.M)  # the base entrypoint runs


# hadolint for both variants: tests/test_templates.py::test_dockerfile_passes_hadolint.


@pytest.mark.parametrize("variant", VARIANTS)
def test_azure_ai_ml_loads_the_yaml(render: Render, variant: str) -> None:
    project = render_variant(render, variant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from azure.ai.ml import load_online_deployment
        from azure.ai.ml.entities import Environment, Model

        deployment = load_online_deployment(project / "deployment.yml")
    assert isinstance(deployment.environment, Environment)
    assert deployment.environment.inference_config.scoring_route.port == 8501
    if variant == "mounted":
        assert isinstance(deployment.model, Model)
        assert Path(str(deployment.model.path)).name == MODEL_FOLDER
        assert deployment.environment_variables["MODEL_NAME"] == MODEL_FOLDER
    else:
        assert deployment.model is None and not deployment.environment_variables


@pytest.mark.parametrize("variant", VARIANTS)
def test_readme_matches_the_configuration(render: Render, variant: str) -> None:
    project = render_variant(render, variant)
    readme = (project / "README.md").read_text()
    assert "{{" not in readme and "{%" not in readme
    assert "cannot run the real\n  `tensorflow_model_server`" in readme
    assert "stand-in" in readme and "No versions of servable half_plus_two" in readme
    base = f"/var/azureml-app/azureml-models/{ANSWERS['model_name']}/{ANSWERS['model_version']}"
    if variant == "mounted":
        assert f'-v "$PWD/{MODEL_FOLDER}:{base}/{MODEL_FOLDER}:ro"' in readme
        assert f'-e MODEL_BASE_PATH="{base}"' in readme
        assert '-e MODEL_NAME="half_plus_two"' in readme
    else:
        assert "-v " not in readme and "-e MODEL_" not in readme
        assert f"docker-context/models/{MODEL_FOLDER}/1/saved_model.pb" in readme


# --- b. the SavedModel under real TensorFlow ------------------------------------------------

TF_CHECK = r"""
import json, sys
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

report = {"tf_version": tf.__version__, "models": {}}
for path in sys.argv[1:]:
    # The SignatureDef as TF Serving reads it from saved_model.pb.
    proto = saved_model_pb2.SavedModel()
    with open(path + "/saved_model.pb", "rb") as f:
        proto.ParseFromString(f.read())
    [graph] = proto.meta_graphs
    sig = graph.signature_def["serving_default"]
    def tensor(info):
        return {"dtype": tf.dtypes.as_dtype(info.dtype).name,
                "shape": [d.size for d in info.tensor_shape.dim]}
    entry = {
        "tags": list(graph.meta_info_def.tags),
        "method": sig.method_name,
        "inputs": {k: tensor(v) for k, v in sig.inputs.items()},
        "outputs": {k: tensor(v) for k, v in sig.outputs.items()},
    }
    # Load and run it.
    loaded = tf.saved_model.load(path, tags=["serve"])
    fn = loaded.signatures["serving_default"]
    x = json.loads(sys.stdin.readline())
    entry["y"] = fn(x=tf.constant(x, dtype=tf.float32))["y"].numpy().tolist()
    report["models"][path] = entry
print("REPORT " + json.dumps(report))
"""


def tf_python() -> str:
    value = os.environ.get("SCAFFOLD_TF_PYTHON", "")
    if not value:
        pytest.fail("SCAFFOLD_TF_PYTHON is not set.\n" + TF_VENV_HINT, pytrace=False)
    path = shutil.which(value)
    if not path:
        pytest.fail(
            f"SCAFFOLD_TF_PYTHON={value} is not an executable.\n" + TF_VENV_HINT, pytrace=False
        )
    return path


def run_tf(
    args: list[str], stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [tf_python(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_savedmodel_with_real_tensorflow(render: Render) -> None:
    """Both variants' SavedModels: serving_default x:float32[-1] -> y, sample in -> sample out."""
    projects = {variant: render_variant(render, variant) for variant in VARIANTS}
    paths = [str(projects[v] / VARIANTS[v][1] / "1") for v in VARIANTS]
    mounted = projects["mounted"]
    instances = json.loads((mounted / "sample_request.json").read_text())["instances"]
    expected = json.loads((mounted / "sample_response.json").read_text())["predictions"]
    proc = run_tf(["-c", TF_CHECK, *paths], stdin=(json.dumps(instances) + "\n") * len(paths))
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("REPORT ")]
    report = json.loads(line[len("REPORT ") :])
    for path in paths:
        entry = report["models"][path]
        assert entry["tags"] == ["serve"]
        assert entry["method"] == "tensorflow/serving/predict"
        assert entry["inputs"] == {"x": {"dtype": "float32", "shape": [-1]}}
        assert entry["outputs"] == {"y": {"dtype": "float32", "shape": [-1]}}
        assert entry["y"] == expected == [0.5 * x + 2 for x in instances], report["tf_version"]


def test_make_model_script_with_real_tensorflow(render: Render, tmp_path: Path) -> None:
    """model-src/make_model.py writes a servable version folder (here: version 3, elsewhere)."""
    projects = {variant: render_variant(render, variant) for variant in VARIANTS}
    project = projects["mounted"]
    out = tmp_path / "made" / MODEL_FOLDER
    proc = run_tf(
        [str(project / "model-src" / "make_model.py"), "--model-dir", str(out), "--version", "3"],
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "-> y=[2.5, 3.0, 4.5]" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["3"]  # no staging folder left behind
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        name.replace("1/", "3/", 1) for name in VERSION_FILES
    }
    # Its default target is the project's own model folder, per variant.
    for variant, variant_project in projects.items():
        script = (variant_project / "model-src" / "make_model.py").read_text()
        assert f"MODEL_DIR = ROOT / {json.dumps(VARIANTS[variant][1])}" in script


# --- c. smoke_test.py against a REST stand-in (NOT TF Serving) ------------------------------


class TFServingRestStandIn(ThreadingHTTPServer):
    """A stand-in for TF Serving's REST API. It is NOT tensorflow_model_server.

    The real server is not exercised: this answers with the response shapes TF Serving
    documents (model status, a much simplified /metadata, row and columnar predict,
    `{"error": ...}` bodies) and computes y = slope*x + intercept in plain Python. Error
    messages imitate TF Serving's wording but are not guaranteed to match it. Bound to
    127.0.0.1 on a free port.
    """

    def __init__(
        self,
        model_name: str,
        *,
        state: str = "AVAILABLE",
        slope: float = 0.5,
        intercept: float = 2.0,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _StandInHandler)
        self.model_name, self.state = model_name, state
        self.slope, self.intercept = slope, intercept

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


_STATUS = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata)?$")
_PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _StandInHandler(BaseHTTPRequestHandler):
    server: TFServingRestStandIn

    def do_GET(self) -> None:
        match = _STATUS.match(self.path)
        if not match:
            return self._send(404, {"error": f"stand-in: unsupported route GET {self.path}"})
        name, version, metadata = match.groups()
        if metadata:  # needs a loaded servable, like predict; the real body is much richer
            if name != self.server.model_name or self.server.state != "AVAILABLE":
                return self._send(404, {"error": f"Servable not found for request: Latest({name})"})
            return self._send(
                200,
                {
                    "model_spec": {"name": name, "signature_name": "", "version": version or "1"},
                    "metadata": {"signature_def": "stand-in: omitted"},
                },
            )
        if name != self.server.model_name or version not in (None, "1"):
            return self._send(404, {"error": f"Could not find any versions of model {name}"})
        return self._send(
            200,
            {
                "model_version_status": [
                    {
                        "version": "1",
                        "state": self.server.state,
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            },
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PREDICT.match(self.path)
        if not match:
            return self._send(404, {"error": f"stand-in: unsupported route POST {self.path}"})
        name = match.group(1)
        if name != self.server.model_name or self.server.state != "AVAILABLE":
            # A model that is still loading has no servable handle yet either.
            return self._send(404, {"error": f"Servable not found for request: Latest({name})"})
        try:
            request = json.loads(body)
        except ValueError as error:
            return self._send(400, {"error": f"JSON Parse error: {error}"})
        if not isinstance(request, dict) or ("instances" in request) == ("inputs" in request):
            return self._send(400, {"error": "Missing 'inputs' or 'instances' key"})
        row = "instances" in request
        values = request["instances" if row else "inputs"]
        if isinstance(values, dict):  # columnar with named inputs: {"inputs": {"x": [...]}}
            values = values.get("x")
        if isinstance(values, list):  # row format with named inputs: [{"x": 1.0}, ...]
            values = [v.get("x") if isinstance(v, dict) else v for v in values]
        if not isinstance(values, list) or not values or not all(map(_number, values)):
            return self._send(400, {"error": "stand-in: x must be a non-empty list of numbers"})
        y = [self.server.slope * float(v) + self.server.intercept for v in values]
        return self._send(200, {"predictions": y} if row else {"outputs": y})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rest_standin() -> Iterator[Any]:
    """rest_standin(model_name, **behaviour) -> a running TFServingRestStandIn (stopped after)."""
    started: list[TFServingRestStandIn] = []

    def _start(model_name: str, **behaviour: Any) -> TFServingRestStandIn:
        server = TFServingRestStandIn(model_name, **behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield _start
    for server in started:
        server.shutdown()
        server.server_close()


def smoke(project: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(project / "smoke_test.py"), "--url", url, "--deadline", "3"],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=60,
    )


def _call(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_standin_answers_like_tf_serving_documents(rest_standin: Any) -> None:
    """The stand-in itself: the documented shapes the smoke tests below rely on."""
    server = rest_standin(MODEL_FOLDER)
    base = f"{server.url}/v1/models"
    status, body = _call("GET", f"{base}/{MODEL_FOLDER}")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    assert _call("GET", f"{base}/{MODEL_FOLDER}/metadata")[0] == 200
    assert _call("GET", f"{base}/nope") == (
        404,
        {"error": "Could not find any versions of model nope"},
    )
    loading = rest_standin(MODEL_FOLDER, state="LOADING").url + f"/v1/models/{MODEL_FOLDER}"
    status, body = _call("GET", loading)
    assert status == 200 and body["model_version_status"][0]["state"] == "LOADING"
    assert _call("GET", loading + "/metadata")[0] == 404
    predict = f"{base}/{MODEL_FOLDER}:predict"
    assert _call("POST", predict, b'{"instances": [1.0, 2.0, 5.0]}') == (
        200,
        {"predictions": [2.5, 3.0, 4.5]},
    )
    assert _call("POST", predict, b'{"inputs": [1.0, 2.0, 5.0]}') == (
        200,
        {"outputs": [2.5, 3.0, 4.5]},
    )
    assert _call("POST", predict, b'{"instances": [{"x": 1.0}, {"x": 3.0}]}') == (
        200,
        {"predictions": [2.5, 3.5]},
    )
    assert _call("POST", f"{base}/nope:predict", b'{"instances": [1.0]}') == (
        404,
        {"error": "Servable not found for request: Latest(nope)"},
    )
    status, body = _call("POST", predict, b'{"instances": [1.0,')
    assert status == 400 and set(body) == {"error"}
    assert _call("POST", predict, b'{"data": [1.0]}')[0] == 400


@pytest.mark.parametrize("variant", VARIANTS)
def test_smoke_test_passes_against_the_standin(
    render: Render, rest_standin: Any, variant: str
) -> None:
    """Stand-in serving the model name the container would get (MODEL_NAME) -> exit 0."""
    project = render_variant(render, variant)
    proc = smoke(project, rest_standin(served_model_name(project)).url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASS") == 3 and "smoke test passed" in proc.stdout


def test_smoke_test_fails_against_a_loading_standin(render: Render, rest_standin: Any) -> None:
    project = render_variant(render, "mounted")
    proc = smoke(project, rest_standin(MODEL_FOLDER, state="LOADING").url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HTTP 404" in proc.stderr and "Servable not found" in proc.stderr
    assert "smoke test passed" not in proc.stdout


def test_smoke_test_fails_against_a_standin_with_wrong_predictions(
    render: Render, rest_standin: Any
) -> None:
    project = render_variant(render, "mounted")
    proc = smoke(project, rest_standin(MODEL_FOLDER, intercept=3.0).url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "$.predictions[0]: expected 2.5, got 3.5" in proc.stderr


def test_smoke_test_fails_against_a_standin_serving_another_name(
    render: Render, rest_standin: Any
) -> None:
    """The #1 TF Serving mistake seen from outside: the server serves another name."""
    project = render_variant(render, "mounted")
    proc = smoke(project, rest_standin("some_other_name").url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Could not find any versions of model half_plus_two" in proc.stderr
