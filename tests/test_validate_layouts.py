"""`scaffold validate` on projects laid out the way real repositories are: several deployments,
the -f / --endpoint-file flags, the info severity, and the rules real layouts need (the
inference_config rule, server detection, plumber's host, GPU-only images on CPU sizes,
placeholders, no-code deployments, environment files). The corpus (test_corpus.py) holds the
whole public layouts; these tests pin each rule on a small project written in the test."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.validate import ValidationReport, validate_project

SCHEMA = "https://azuremlschemas.azureedge.net/latest/"
DEP = f"$schema: {SCHEMA}managedOnlineDeployment.schema.json\n"
EP = f"$schema: {SCHEMA}managedOnlineEndpoint.schema.json\n"
K8S = f"$schema: {SCHEMA}kubernetesOnlineDeployment.schema.json\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def routes(port: int, live: str = "/", ready: str = "/", score: str = "/score") -> str:
    return f"""  inference_config:
    liveness_route: {{port: {port}, path: {live}}}
    readiness_route: {{port: {port}, path: {ready}}}
    scoring_route: {{port: {port}, path: {score}}}
"""


def deployment(
    name: str = "blue", env: str = "", extra: str = "", size: str = "Standard_DS3_v2"
) -> str:
    return (
        f"{DEP}name: {name}\nendpoint_name: my-endpoint\n{extra}"
        f"{env}instance_type: {size}\ninstance_count: 1\n"
    )


DIGEST = "0123456789abcdef" * 4
MINIMAL = f"mcr.microsoft.com/azureml/minimal-py312-inference@sha256:{DIGEST}"
AML_BASE = f"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04@sha256:{DIGEST}"
SCORE = "def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n"
ENDPOINT = f"{EP}name: my-endpoint\nauth_mode: key\n"


def codes(report: ValidationReport) -> set[tuple[str, str]]:
    return {(p.severity, p.code) for p in report.problems}


def errors(report: ValidationReport) -> set[str]:
    return {p.code for p in report.errors}


def show(report: ValidationReport) -> str:
    return "\n".join(
        f"{p.severity} {p.code} {p.file} [{p.key}] {p.message}" for p in report.problems
    )


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["validate", "--no-schema", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


# --- Several deployments, files named on the command line ----------------------------------
@pytest.fixture
def blue_green(tmp_path: Path) -> Path:
    """blue is fine; green's image has the routes of another server."""
    image = "environment:\n  image: myacr.azurecr.io/app:1\n" + routes(8000, "/live", "/ready")
    return tree(
        tmp_path / "project",
        {
            "endpoint.yml": ENDPOINT,
            "blue-deployment.yml": deployment("blue", image),
            "green-deployment.yml": deployment("green", image.replace("8000", "70000")),
            "conda.yml": "name: env\ndependencies: [python=3.12]\n",
            ".github/workflows/deploy.yml": "on: [push]\njobs: {}\n",
        },
    )


def test_every_deployment_is_validated_with_its_verdict(
    capsys: pytest.CaptureFixture[str], blue_green: Path
) -> None:
    code, report = cli(capsys, str(blue_green))
    assert code == ExitCode.INVALID
    verdicts = {d["file"]: d for d in report["deployments"]}
    assert set(verdicts) == {"blue-deployment.yml", "green-deployment.yml"}
    assert (
        verdicts["blue-deployment.yml"]["ok"] and verdicts["blue-deployment.yml"]["name"] == "blue"
    )
    assert not verdicts["green-deployment.yml"]["ok"]
    assert verdicts["green-deployment.yml"]["endpoint_file"] == "endpoint.yml"
    assert {p["file"] for p in report["problems"] if p["severity"] == "error"} == {
        "green-deployment.yml"
    }


def test_text_report_lists_each_deployment(
    capsys: pytest.CaptureFixture[str], blue_green: Path
) -> None:
    assert main(["validate", "--no-schema", str(blue_green)]) == ExitCode.INVALID
    out = capsys.readouterr().out
    assert "2 deployments:" in out
    assert "blue (blue-deployment.yml, with endpoint.yml): ok" in out
    assert "green (green-deployment.yml, with endpoint.yml): 3 error(s)" in out


def test_dash_f_picks_deployment_files(
    capsys: pytest.CaptureFixture[str], blue_green: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, report = cli(capsys, str(blue_green), "-f", str(blue_green / "blue-deployment.yml"))
    assert code == ExitCode.OK
    assert [d["file"] for d in report["deployments"]] == ["blue-deployment.yml"]
    # Relative to the current folder, and PROJECT may be the file itself.
    monkeypatch.chdir(blue_green)
    code, report = cli(capsys, "-f", "green-deployment.yml")
    assert code == ExitCode.INVALID and len(report["deployments"]) == 1
    code, report = cli(capsys, "blue-deployment.yml")
    assert code == ExitCode.OK and report["deployments"][0]["file"] == "blue-deployment.yml"


def test_endpoint_file_flag(capsys: pytest.CaptureFixture[str], blue_green: Path) -> None:
    other = blue_green / "elsewhere" / "prod-endpoint.yml"
    tree(blue_green, {"elsewhere/prod-endpoint.yml": f"{EP}name: prod-endpoint\n"})
    code, report = cli(
        capsys,
        str(blue_green),
        "-f",
        str(blue_green / "blue-deployment.yml"),
        "--endpoint-file",
        str(other),
    )
    assert code == ExitCode.INVALID
    assert report["deployments"][0]["endpoint_file"] == "elsewhere/prod-endpoint.yml"
    assert {p["code"] for p in report["problems"]} >= {"name.endpoint.mismatch"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-f", "nope.yml"], "-f nope.yml: no such deployment file"),
        (["--endpoint-file", "nope.yml"], "--endpoint-file nope.yml: no such file"),
        (["no-such-folder"], "no-such-folder: no such project folder"),
    ],
)
def test_bad_file_arguments_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    blue_green: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(blue_green)
    assert main(["validate", *argv]) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err + captured.out
    assert len(captured.err.strip().splitlines()) == 1


def test_a_file_that_is_not_a_deployment(
    capsys: pytest.CaptureFixture[str], blue_green: Path
) -> None:
    code, report = cli(capsys, str(blue_green), "-f", str(blue_green / "endpoint.yml"))
    assert code == ExitCode.INVALID
    assert [p["code"] for p in report["problems"]] == ["file.kind"]


def test_no_endpoint_file_is_a_note_that_never_fails(
    capsys: pytest.CaptureFixture[str], blue_green: Path
) -> None:
    (blue_green / "endpoint.yml").unlink()
    (blue_green / "green-deployment.yml").unlink()
    code, report = cli(capsys, "--strict", str(blue_green))
    assert code == ExitCode.OK, report
    assert [(p["severity"], p["code"]) for p in report["problems"]] == [
        ("info", "endpoint.file.none")
    ]
    assert report["infos"] == 1 and report["ok"]
    assert main(["validate", "--no-schema", str(blue_green)]) == ExitCode.OK
    assert "0 error(s), 0 warning(s), 1 note(s)" in capsys.readouterr().out


def test_no_deployment_at_all(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tree(
        tmp_path,
        {"kubernetes-deployment.yml": K8S + "name: b\nendpoint_name: e\ntype: kubernetes\n"},
    )
    code, report = cli(capsys, str(tmp_path))
    assert code == ExitCode.INVALID
    (problem,) = report["problems"]
    assert problem["code"] == "file.missing" and "Kubernetes" in problem["message"]


# --- inference_config ----------------------------------------------------------------------
CODE = "code_configuration:\n  code: src\n  scoring_script: score.py\n"


@pytest.mark.parametrize(
    ("dockerfile", "image", "expected"),
    [
        # Built FROM an Azure ML inference image: Azure runs it as one; no routes needed.
        (
            f"FROM {MINIMAL}\nRUN pip install x\n",
            None,
            set(),
        ),
        # ...through a mirror of it in the team's registry.
        (f"FROM myacr.azurecr.io/mirror/minimal-py312-inference@sha256:{DIGEST}\n", None, set()),
        # The same base, but the image starts a server of its own: routes needed.
        (
            f'FROM {MINIMAL}\nCMD ["uvicorn", "app:app"]\n',
            None,
            {("error", "routes.missing")},
        ),
        # Another base: routes needed.
        ('FROM python:3.12-slim\nCMD ["python", "app.py"]\n', None, {("error", "routes.missing")}),
        # A vendor's public image used directly, known not to be an inference image.
        (None, "tensorflow/serving:2.19.1", {("error", "routes.missing")}),
        # A pre-built image nobody can see into, with an init()/run() script: the choice.
        (None, "myacr.azurecr.io/scorer:3", {("warning", "routes.unknown_image")}),
        # Azure ML's own base image (conda_file deployments): an inference image.
        (None, AML_BASE, set()),
    ],
    ids=[
        "from-minimal",
        "from-mirror",
        "own-server",
        "python-base",
        "vendor-image",
        "unknown",
        "aml-base",
    ],
)
def test_inference_config_rule(
    tmp_path: Path, dockerfile: str | None, image: str | None, expected: set[tuple[str, str]]
) -> None:
    env = (
        "environment:\n  build:\n    path: docker\n"
        if dockerfile is not None
        else f"environment:\n  image: {image}\n"
    )
    files = {
        "deployment.yml": deployment(env=env, extra=CODE),
        "src/score.py": SCORE,
        "endpoint.yml": ENDPOINT,
    }
    if dockerfile is not None:
        files["docker/Dockerfile"] = dockerfile
    report = validate_project(tree(tmp_path, files), schema=False)
    found = {c for c in codes(report) if c[1].startswith("routes.")}
    assert found == expected, show(report)


def test_no_code_and_registered_models_need_no_environment(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "endpoint.yml": ENDPOINT,
            "triton-deployment.yml": deployment(
                "triton",
                extra="model:\n  name: m\n  version: 1\n  path: models\n  type: triton_model\n",
                size="Standard_NC4as_T4_v3",
            ),
            "models/densenet/config.pbtxt": 'name: "densenet"\nplatform: "onnxruntime_onnx"\n',
            "models/densenet/1/model.onnx": "x",
            "mlflow-deployment.yml": deployment(
                "mlflow",
                extra="model:\n  name: m\n  version: 1\n  path: mlmodel\n  type: mlflow_model\n",
            ),
            "mlmodel/MLmodel": "flavors:\n  python_function: {loader_module: mlflow.sklearn}\n",
            "registered-deployment.yml": deployment(
                "registered", extra="model: azureml:my-model:3\n"
            ),
            "custom-deployment.yml": deployment(
                "custom", extra="model:\n  name: m\n  version: 1\n  path: plain\n"
            ),
            "plain/weights.bin": "x",
        },
    )
    report = validate_project(tmp_path, schema=False)
    servers = {d.file: d.server for d in report.deployments}
    assert servers == {
        "custom-deployment.yml": None,
        "mlflow-deployment.yml": "mlflow",
        "registered-deployment.yml": None,
        "triton-deployment.yml": "triton",
    }
    assert {(p.file, p.severity, p.code) for p in report.problems} == {
        ("custom-deployment.yml", "error", "environment.missing"),
        ("registered-deployment.yml", "info", "environment.none"),
    }, show(report)


def test_no_code_triton_repository_is_checked(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "deployment.yml": deployment(
                extra="model:\n  name: m\n  version: 1\n  path: models\n  type: triton_model\n",
                size="Standard_NC4as_T4_v3",
            ),
            "models/densenet/config.pbtxt": 'name: "other"\nplatform: "onnxruntime_onnx"\n',
            "models/densenet/1/model.onnx": "x",
        },
    )
    assert errors(validate_project(tmp_path, schema=False)) == {"triton.config.name"}


# --- Server detection ----------------------------------------------------------------------
def test_file_hints_come_only_from_where_they_mean_something(tmp_path: Path) -> None:
    """A Python scoring project whose `code: ../` is a whole repository holding a Triton
    config.pbtxt and TorchServe archives elsewhere is not Triton (nor TorchServe)."""
    tree(
        tmp_path,
        {
            "deploy/deployment.yml": deployment(
                env=f"environment:\n  image: {AML_BASE}\n  conda_file: conda.yml\n",
                extra="model:\n  path: ../models/sklearn\ncode_configuration:\n  code: ../\n"
                "  scoring_script: src/score.py\n",
            ),
            "deploy/conda.yml": "dependencies: [python=3.12]\n",
            "src/score.py": SCORE,
            "models/sklearn/model.pkl": "x",
            "experiments/triton/models/resnet/config.pbtxt": 'name: "resnet"\n',
            "experiments/torchserve/model-store/resnet.mar": "x",
        },
    )
    report = validate_project(tmp_path / "deploy", schema=False)
    assert report.server == "minimal", show(report)
    assert not report.errors, show(report)


def test_weak_evidence_must_agree_with_the_routes(tmp_path: Path) -> None:
    """A Flask image (Dockerfile FROM python) whose build context holds a score.py for
    something else, with routes on 8000: no server is guessed, so no 5001 contract."""
    tree(
        tmp_path,
        {
            "deployment.yml": deployment(
                env="environment:\n  build:\n    path: .\n"
                + routes(8000, "/liveness", "/readiness")
            ),
            "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\n"
            'ENTRYPOINT ["python", "-m", "flask", "run", "--host", "0.0.0.0", "--port", "8000"]\n',
            "storage/code/score.py": SCORE,
            "endpoint.yml": ENDPOINT,
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert report.server is None and not report.problems, show(report)


def test_tfserving_integrated_is_tfserving(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "hpt-deployment.yml": deployment(
                env="environment:\n  image: myacr.azurecr.io/tfs:1\n"
                + routes(
                    8501, "/v1/models/hpt", "/v1/models/hpt/metadata", "/v1/models/hpt:predict"
                )
            ),
            "hpt.Dockerfile": "FROM tensorflow/serving:2.19.1\nENV MODEL_NAME=hpt\n"
            "COPY models /models\n",
            "models/hpt/1/saved_model.pb": "x",
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert report.server == "tfserving" and not report.errors, show(report)
    (tmp_path / "models/hpt/1/saved_model.pb").unlink()
    assert errors(validate_project(tmp_path, schema=False)) == {"tfserving.version.missing"}


# --- plumber's host ------------------------------------------------------------------------
PLUMBER_FILES = {
    "deployment.yml": deployment(
        env="environment:\n  build:\n    path: docker-context\n" + routes(8000, "/live", "/ready"),
        extra="code_configuration:\n  code: src\n  scoring_script: plumber.R\n",
    ),
    "endpoint.yml": ENDPOINT,
    "docker-context/Dockerfile": "FROM rstudio/plumber:v1.3.0\nENV HOST_FROM_IMAGE=0.0.0.0\n"
    'COPY start.R /start.R\nENTRYPOINT ["Rscript", "/start.R"]\n',
    "src/plumber.R": "#* @get /live\nfunction() 'ok'\n#* @get /ready\nfunction() 'ok'\n"
    "#* @post /score\nfunction() 1\n",
}


@pytest.mark.parametrize(
    ("start", "bad"),
    [
        ("pr <- plumber::plumb('x.R')\npr$run(host = '0.0.0.0', port = 8000)\n", False),
        ("pr <- plumber::plumb('x.R')\npr$run(host = \"::\", port = 8000)\n", False),
        ("library(plumber)\nplumb('x.R') |> pr_run(host = '0.0.0.0', port = 8000)\n", False),
        (
            "pr <- plumber::plumb('x.R')\nargs <- list(host = '0.0.0.0', port = 8000)\n"
            "do.call(pr$run, args)\n",
            False,
        ),
        ("h <- '0.0.0.0'\npr <- plumber::plumb('x.R')\npr$run(host = h, port = 8000)\n", False),
        (
            "options(plumber.host = '0.0.0.0')\npr <- plumber::plumb('x.R')\npr$run(port = 8000)\n",
            False,
        ),
        (
            "pr <- plumber::plumb('x.R')\n"
            "pr$run(host = Sys.getenv('HOST', '0.0.0.0'), port = 8000)\n",
            False,
        ),
        (
            "pr <- plumber::plumb('x.R')\n"
            "pr$run(host = Sys.getenv('HOST_FROM_IMAGE'), port = 8000)\n",
            False,
        ),
        (
            "pr <- plumber::plumb('x.R')\npr$run(host = pick_host(), port = 8000)\n",
            False,
        ),  # unknown
        (
            "pr <- plumber::plumb('x.R')\nargs <- list(host = '', port = 8000)\n"
            "do.call(pr$run, args)\n",
            True,
        ),
        ("pr <- plumber::plumb('x.R')\npr$run(port = 8000)\n", True),
        ("pr <- plumber::plumb('x.R')\npr$run(host = 'localhost', port = 8000)\n", True),
        ("pr <- plumber::plumb('x.R')\npr$run(host = 'api.example.com', port = 8000)\n", True),
        ("pr <- plumber::plumb('x.R')\npr$run(host = Sys.getenv('HOST'), port = 8000)\n", True),
        (
            "pr <- plumber::plumb('x.R')\n"
            "pr_run(pr, host = Sys.getenv('HOST', unset = '127.0.0.1'), port = 8000)\n",
            True,
        ),
        ("h = '127.0.0.1'\npr <- plumber::plumb('x.R')\npr$run(host = h, port = 8000)\n", True),
    ],
    ids=[
        "literal",
        "ipv6-any",
        "pipe",
        "do-call",
        "variable",
        "option",
        "getenv-default",
        "getenv-image-env",
        "unknown",
        "empty",
        "no-host",
        "localhost",
        "hostname",
        "getenv-unset",
        "getenv-unset-loopback",
        "variable-loopback",
    ],
)
def test_plumber_host(tmp_path: Path, start: str, bad: bool) -> None:
    report = validate_project(
        tree(tmp_path, {**PLUMBER_FILES, "docker-context/start.R": start}), schema=False
    )
    assert report.server == "plumber"
    problems = [p for p in report.problems if p.code == "server.bind.loopback"]
    assert bool(problems) == bad, show(report)
    for problem in problems:
        assert problem.file == "docker-context/start.R" and "0.0.0.0" in problem.fix


# --- GPU-only images on CPU sizes ----------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "size", "bad"),
    [
        ("vllm/vllm-openai:v0.8.5", "Standard_DS3_v2", True),
        ("vllm/vllm-openai:v0.8.5", "Standard_NC24ads_A100_v4", False),
        ("vllm/vllm-openai:v0.8.5", "Standard_NV36ads_A10_v5", False),
        ("nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", "Standard_F8s_v2", True),
        ("ghcr.io/huggingface/text-generation-inference:2.2.0", "Standard_DS4_v2", True),
        ("ghcr.io/huggingface/text-generation-inference:2.2.0-intel-cpu", "Standard_DS4_v2", False),
        ("pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", "Standard_DS3_v2", True),
        ("tensorflow/serving:2.19.1-gpu", "Standard_DS3_v2", True),
        ("tensorflow/serving:2.19.1", "Standard_DS3_v2", False),
        ("nvcr.io/nvidia/tritonserver:25.04-py3", "Standard_DS4_v2", False),
        ("vllm/vllm-openai:v0.8.5", "Standard_Unknown_v9", False),  # unknown size: no verdict
    ],
)
def test_gpu_only_image_on_a_cpu_size(tmp_path: Path, image: str, size: str, bad: bool) -> None:
    env = "environment:\n  image: " + image + "\n" + routes(8000, "/health", "/health", "/")
    report = validate_project(
        tree(tmp_path, {"deployment.yml": deployment(env=env, size=size)}), schema=False
    )
    problems = [p for p in report.problems if p.code == "image.gpu_only"]
    assert bool(problems) == bad, show(report)
    for problem in problems:
        assert "Standard_NC4as_T4_v3" in problem.fix and problem.key == "environment.image"


def test_gpu_only_base_of_a_dockerfile_and_curated_environment(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "vllm-deployment.yml": deployment(
                "vllm",
                env="environment:\n  build:\n    path: docker\n"
                "    dockerfile_path: Dockerfile.vllm\n" + routes(8000, "/health", "/health", "/"),
            ),
            "docker/Dockerfile.vllm": "FROM python:3.12 AS tools\nRUN echo\n"
            "FROM vllm/vllm-openai:v0.8.5\nCOPY --from=tools /x /x\n",
            "curated-deployment.yml": deployment(
                "curated",
                env="environment: azureml://registries/azureml/environments/acft-hf-nlp-gpu/versions/52\n",
                extra="model: azureml:m:1\ncode_configuration:\n  code: src\n"
                "  scoring_script: score.py\n",
            ),
            "src/score.py": SCORE,
        },
    )
    found = {
        (p.file, p.key)
        for p in validate_project(tmp_path, schema=False).problems
        if p.code == "image.gpu_only"
    }
    assert found == {
        ("docker/Dockerfile.vllm", "FROM (line 3)"),
        ("curated-deployment.yml", "environment"),
    }


# --- Placeholders, environment files, answers ----------------------------------------------
def test_placeholders_are_one_warning_and_skip_the_checks(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "deployment.yml": DEP
            + "name: {{deployment_name}}\nendpoint_name: <ENDPOINT-NAME>\nmodel:\n"
            "  path: ./{{model_name}}/model\n"
            "environment:\n  image: {{ACR_NAME}}.azurecr.io/app:1\n"
            + routes(5001)
            + "instance_type: Standard_DS3_v2\n",
            "endpoint.yml": EP + 'name: "{{ENDPOINT_NAME}}"\n',
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert {(p.file, p.severity, p.code) for p in report.problems} == {
        ("deployment.yml", "warning", "placeholder"),
        ("endpoint.yml", "warning", "placeholder"),
    }, show(report)


def test_environment_file_routes_and_dockerfile(tmp_path: Path) -> None:
    """`environment: azureml:NAME:VERSION` registered from environment.yml beside it: its
    build, image and routes are checked there."""
    tree(
        tmp_path,
        {
            "deployment.yml": deployment(env="environment: azureml:vllm-env:2\n"),
            "environment.yml": f"$schema: {SCHEMA}environment.schema.json\nname: vllm-env\n"
            f"version: 2\nbuild:\n  path: docker\n"
            + routes(8000, "/health", "/health", "health")
            .replace("  inference_config", "inference_config")
            .replace("\n    ", "\n  "),
            "docker/Dockerfile": "FROM vllm/vllm-openai:latest\n",
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert {(p.file, p.code) for p in report.problems} >= {
        ("environment.yml", "route.path.slash"),
        ("docker/Dockerfile", "image.latest"),
        ("docker/Dockerfile", "image.gpu_only"),
    }, show(report)


def test_answers_apply_to_the_deployment_they_describe(tmp_path: Path) -> None:
    env = "environment:\n  image: myacr.azurecr.io/x:1\n" + routes(
        8080, "/ping", "/ping", "/predictions/m"
    )
    tree(
        tmp_path,
        {
            ".copier-answers.yml": "server: torchserve\n",
            ".copier-answers.green.yml": "server: triton\n",
            "deployment.yml": deployment("blue", env),
            "green-deployment.yml": deployment("green", env),
            "handmade-deployment.yml": deployment("handmade", env),
        },
    )
    servers = {d.file: d.server for d in validate_project(tmp_path, schema=False).deployments}
    assert servers == {
        "deployment.yml": "torchserve",
        "green-deployment.yml": "triton",
        "handmade-deployment.yml": None,
    }


def test_missing_endpoint_name_is_a_warning_also_for_the_schema(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "1-create-endpoint.yml": ENDPOINT,
            "2-deployment.yml": DEP
            + "name: blue\nmodel: azureml:m:1\ncode_configuration:\n  code: src\n"
            "  scoring_script: score.py\n"
            f"environment:\n  image: {MINIMAL}\ninstance_type: Standard_DS3_v2\n"
            f"instance_count: 1\n",
            "src/score.py": SCORE,
        },
    )
    report = validate_project(tmp_path, schema=True)
    assert report.schema_checked, report.schema_note
    assert [(p.severity, p.code) for p in report.problems] == [
        ("warning", "name.endpoint.missing")
    ], show(report)
    assert "--endpoint-name my-endpoint" in report.problems[0].fix


@pytest.mark.parametrize(("port", "ok"), [(8000, True), (8080, False)])
def test_plumber_base_image_entrypoint(tmp_path: Path, port: int, ok: bool) -> None:
    """FROM rstudio/plumber with no ENTRYPOINT of its own: the image's entrypoint plumbs the
    file given as CMD on 0.0.0.0:8000 (the facts' base_entrypoint), so routes must use 8000."""
    env = "environment:\n  build:\n    path: api\n" + routes(port, "/live", "/ready")
    tree(
        tmp_path,
        {
            "deployment.yml": deployment(env=env),
            "api/Dockerfile": "FROM rstudio/plumber:v1.3.0\nCOPY plumber.R /app/plumber.R\n"
            'CMD ["/app/plumber.R"]\n',
            "api/plumber.R": "#* @get /live\nfunction() 'ok'\n",
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert report.server == "plumber"
    assert (not report.errors) == ok, show(report)
    if not ok:
        assert errors(report) == {"route.port.mismatch"}


def test_run_validates_the_deployment_it_runs(tmp_path: Path) -> None:
    """`scaffold run` runs deployment.yml (or `--deployment NAME`): a broken second
    deployment beside it does not stop it; with no clear choice, it asks for one (exit 2,
    the deployments listed) before validating anything."""
    import argparse

    from scaffold.cli.common import _run_deployment

    image = "environment:\n  image: myacr.azurecr.io/app:1\n" + routes(8000, "/live", "/ready")
    tree(
        tmp_path,
        {
            "deployment.yml": deployment("blue", image),
            "green-deployment.yml": deployment("green", image.replace("8000", "70000")),
        },
    )
    args = argparse.Namespace(project=tmp_path)
    assert _run_deployment(args) == [tmp_path / "deployment.yml"]
    report = validate_project(tmp_path, schema=False, files=_run_deployment(args))
    assert report.ok and [d.file for d in report.deployments] == ["deployment.yml"]
    args.deployment = "green"
    assert _run_deployment(args) == [tmp_path / "green-deployment.yml"]
    (tmp_path / "deployment.yml").rename(tmp_path / "blue-deployment.yml")
    with pytest.raises(UsageError, match=r"has 2 deployments: .*pick one with --deployment"):
        _run_deployment(argparse.Namespace(project=tmp_path))
    for name in ("blue-deployment.yml", "green-deployment.yml"):
        (tmp_path / name).unlink()
    assert _run_deployment(argparse.Namespace(project=tmp_path)) is None  # validate says why


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("{{ENDPOINT_NAME}}", True),
        ("{{acr_name}}.azurecr.io/x:1", True),
        ("<ENDPOINT-NAME>", True),
        ("<acr>.azurecr.io/r_server", True),
        ("${ENDPOINT_NAME}", True),
        ("$ENDPOINT_NAME", True),
        ("__ENDPOINT_NAME__", True),
        ("#{endpointName}#", True),
        ("placeholder-name", True),
        ("acr_registry_placeholder.azurecr.io/image_name_placeholder:latest", True),
        ("storage_place_holder", True),
        ("xxxxxxxxx.azurecr.io/azureml/azureml_xxxxxxxxxxx", True),
        ("my-endpoint", False),
        ("__init__.py", False),
        ("Standard_DS3_v2", False),
        ("/var/azureml-app/azureml-models", False),
        ("--max-num-seqs 16 --enforce-eager", False),
        ("exxxxample", False),
    ],
)
def test_what_counts_as_a_placeholder(value: str, placeholder: bool) -> None:
    from scaffold.validate.model import PLACEHOLDER

    assert bool(PLACEHOLDER.search(value)) is placeholder
