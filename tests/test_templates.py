"""Render every server into tmp and check the output the way a user's tools would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from conftest import SERVERS, SHARED_FILES, TEMPLATES, Render, files_of, run_project_tests
from scaffold.servers import SERVERS as REGISTRY
from scaffold.template_source import load_questions

SHARED = SHARED_FILES
EXPECTED_FILES = {
    "plumber": SHARED
    | {
        "docker-context/start_plumber.R",
        "src/plumber.R",
        "model/model.rds",
        "model-src/make_model.R",
    },
    "minimal": SHARED
    | {
        "docker-context/requirements.txt",
        "src/score.py",
        "model/model.json",
        "model-src/make_model.py",
        "tests/test_score.py",
    },
    "tfserving": SHARED
    | {"model-src/make_model.py"}
    | {
        f"half_plus_two/1/{name}"
        for name in (
            "saved_model.pb",
            "fingerprint.pb",
            "variables/variables.index",
            "variables/variables.data-00000-of-00001",
        )
    },
    "torchserve": SHARED
    | {
        "docker-context/start-torchserve.sh",
        "docker-context/config.properties",
        "docker-context/log4j2.xml",
        "model/half_plus_two.mar",
        "model-src/handler.py",
        "model-src/make_model.py",
        "model-src/build-mar.sh",
    },
    "mlflow": SHARED
    | {
        "docker-context/requirements.txt",
        "src/score.py",
        "model-src/make_model.py",
        "tests/test_score.py",
    }
    | {
        f"model/{name}"
        for name in (
            "MLmodel",
            "conda.yaml",
            "input_example.json",
            "model.pkl",
            "python_env.yaml",
            "requirements.txt",
            "serving_input_example.json",
        )
    },
    "triton": SHARED
    | {
        "models/half_plus_two/config.pbtxt",
        "models/half_plus_two/1/model.py",
        "model-src/check_model.py",
    },
    "vllm": SHARED
    | {"docker-context/start-vllm.sh", "model-src/make_model.py"}
    | {
        f"model/{name}"
        for name in (
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "chat_template.jinja",
        )
    },
}
TOOLS_BIN = Path(sys.executable).parent
#: Files whose Jinja is content, not template: the sample LLM's chat template and the
#: script that writes it.
MEANT_JINJA = {"vllm": {"model/chat_template.jinja", "model-src/make_model.py"}}


@pytest.mark.parametrize("server", SERVERS)
def test_file_list(render: Render, server: str) -> None:
    assert files_of(render(server)) == EXPECTED_FILES[server]


@pytest.mark.parametrize("server", SERVERS)
def test_no_jinja_left(render: Render, server: str) -> None:
    project = render(server)
    for name in files_of(project):
        data = (project / name).read_bytes()
        if (
            name.endswith((".rds", ".bin", ".pb", ".index", ".mar", ".pkl", ".safetensors"))
            or "variables.data" in name
        ):
            continue
        text = data.decode("utf-8")
        text = text.replace("${{", "")  # GitHub Actions expressions are meant to stay
        if name in MEANT_JINJA.get(server, ()):
            continue  # a Hugging Face chat template is Jinja by design
        assert "{{" not in text and "{%" not in text, name


@pytest.mark.parametrize("server", SERVERS)
def test_yaml_and_json_parse(render: Render, server: str) -> None:
    project = render(server)
    for name in ("deployment.yml", "endpoint.yml", ".copier-answers.yml"):
        assert isinstance(yaml.safe_load((project / name).read_text()), dict)
    for name in ("sample_request.json", "sample_response.json"):
        json.loads((project / name).read_text())


@pytest.mark.parametrize("server", SERVERS)
def test_azure_ai_ml_loads_the_yaml(render: Render, server: str) -> None:
    project = render(server, name="azure-load-ep", endpoint_name="azure-load-ep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from azure.ai.ml import load_online_deployment, load_online_endpoint

        endpoint = load_online_endpoint(project / "endpoint.yml")
        deployment = load_online_deployment(project / "deployment.yml")
    spec = REGISTRY[server]
    assert endpoint.name == "azure-load-ep"
    assert deployment.endpoint_name == "azure-load-ep"
    config = deployment.environment.inference_config
    assert (config.liveness_route.port, config.liveness_route.path) == (spec.port, spec.liveness)
    assert (config.readiness_route.path, config.scoring_route.path) == (
        spec.readiness,
        spec.scoring,
    )
    if spec.code_dir:
        assert deployment.code_configuration.scoring_script == spec.scoring_script
    else:
        assert deployment.code_configuration is None
    assert deployment.model.path is not None


@pytest.mark.parametrize("server", SERVERS)
def test_registry_matches_template_facts(render: Render, server: str) -> None:
    """The registry and the rendered project agree: both read templates/_facts.json."""
    spec = REGISTRY[server]
    deployment = yaml.safe_load((render(server) / "deployment.yml").read_text())
    routes = deployment["environment"]["inference_config"]
    assert routes["liveness_route"] == {"port": spec.port, "path": spec.liveness}
    assert routes["readiness_route"] == {"port": spec.port, "path": spec.readiness}
    assert routes["scoring_route"] == {"port": spec.port, "path": spec.scoring}
    if spec.code_dir:
        assert deployment["code_configuration"] == {
            "code": f"./{spec.code_dir}",
            "scoring_script": spec.scoring_script,
        }
    else:
        assert "code_configuration" not in deployment
    choices = load_questions(TEMPLATES)["server"]["choices"]
    assert sorted(choices.values()) == sorted(REGISTRY)


def test_every_server_folder_has_the_shared_stubs() -> None:
    """Shared files are written once: each server folder holds the same one-line includes."""
    stubs = {
        p.relative_to(TEMPLATES / SERVERS[0]).as_posix(): p.read_text()
        for p in (TEMPLATES / SERVERS[0]).rglob("*.jinja")
        if p.read_text().startswith('{% include "_shared/')
    }
    assert len(stubs) == 10  # 8 files + the two CI workflow options
    for server in SERVERS[1:]:
        for name, text in stubs.items():
            assert (TEMPLATES / server / name).read_text() == text, (server, name)


@pytest.mark.parametrize(
    ("server", "answers"),
    [
        ("plumber", {}),
        ("plumber", {"r_packages": "[forecast, dplyr]", "port": "8080"}),
        ("minimal", {}),
        ("triton", {}),
        ("triton", {"triton_model_format": "onnx"}),
        ("tfserving", {}),
        ("tfserving", {"model_in_image": "true"}),
        ("torchserve", {}),
        ("vllm", {}),
        ("vllm", {"instance_type": "Standard_NC96ads_A100_v4", "dtype": "float16"}),
    ],
    ids=[
        "plumber",
        "plumber-r_packages-port",
        "minimal",
        "triton",
        "triton-onnx",
        "tfserving",
        "tfserving-in-image",
        "torchserve",
        "vllm",
        "vllm-4-gpus-float16",
    ],
)
def test_dockerfile_passes_hadolint(render: Render, server: str, answers: dict[str, str]) -> None:
    project = render(server, **answers)
    hadolint = shutil.which("hadolint", path=str(TOOLS_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: pip install -e '.[dev]'"
    proc = subprocess.run(
        [hadolint, str(project / "docker-context" / "Dockerfile")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("server", SERVERS)
def test_shell_scripts_pass_shellcheck(render: Render, server: str) -> None:
    project = render(server)
    shellcheck = shutil.which("shellcheck", path=str(TOOLS_BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: pip install -e '.[dev]'"
    scripts = [p for p in project.rglob("*.sh")]
    # README code blocks are shell too: check them as scripts.
    readme = (project / "README.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in readme.split("```")[1::2] if b.startswith("bash")]
    assert blocks, "README has no bash blocks"
    snippet = project.parent / f"{project.name}-readme.sh"
    snippet.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(blocks))
    for script in [*scripts, snippet]:
        proc = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.name}:\n{proc.stdout}"


def test_plumber_options_render(render: Render) -> None:
    project = render("plumber", r_packages="[forecast, data.table]", port="8123")
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    assert "c('forecast', 'data.table')" in dockerfile
    assert "EXPOSE 8123" in dockerfile
    assert "port <- 8123" in (project / "docker-context" / "start_plumber.R").read_text()
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["environment"]["inference_config"]["scoring_route"]["port"] == 8123


def test_triton_onnx_variant_files(render: Render) -> None:
    project = render("triton", triton_model_format="onnx")
    assert files_of(project) == SHARED | {
        "models/half_plus_two/config.pbtxt",
        "models/half_plus_two/1/README.md",
        "model-src/make_model.py",
    }
    assert (
        'platform: "onnxruntime_onnx"'
        in (project / "models/half_plus_two/config.pbtxt").read_text()
    )
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["model_mount_path"] == "/models"
    assert deployment["model"]["path"] == "./models/half_plus_two"


def test_minimal_multi_model_variant(render: Render) -> None:
    project = render("minimal", multi_model="true")
    assert files_of(project) == (EXPECTED_FILES["minimal"] - {"model/model.json"}) | {
        "model/model-a.json",
        "model/model-b.json",
        "samples/model-a/sample_request.json",
        "samples/model-a/sample_response.json",
        "samples/model-b/sample_request.json",
        "samples/model-b/sample_response.json",
    }
    assert json.loads((project / "sample_request.json").read_text())["model"] == "model-b"
    run_project_tests(project)


def test_minimal_sets_worker_count(render: Render) -> None:
    project = render("minimal", max_concurrent_requests_per_instance="4")
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["environment_variables"] == {"WORKER_COUNT": "4"}
    assert deployment["request_settings"]["max_concurrent_requests_per_instance"] == 4


def test_minimal_project_own_tests_pass(render: Render) -> None:
    """The generated project's own checks run green (no server package needed)."""
    run_project_tests(render("minimal"))


@pytest.mark.parametrize("server", SERVERS)
def test_smoke_script_is_standalone(render: Render, server: str) -> None:
    project = render(server)
    proc = subprocess.run(
        [sys.executable, "-I", str(project / "smoke_test.py"), "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--scoring-uri" in proc.stdout


HOSTILE = [
    ("endpoint_name", 'ep"; rm -rf /'),
    ("endpoint_name", "ep\nname: evil"),
    ("endpoint_name", "$(touch pwned)"),
    ("endpoint_name", "../escape"),
    ("endpoint_name", "UPPER-case"),
    ("endpoint_name", "ab"),
    ("endpoint_name", "a" * 33),
    ("endpoint_name", "trailing-"),
    ("deployment_name", "blue green"),
    ("model_name", "m'odel"),
    ("model_name", "model\n"),
    ("model_version", "1; echo"),
    ("model_version", "0"),
    ("base_image", "img:latest"),
    ("base_image", "img"),
    ("base_image", "img:1 && curl evil"),
    ("port", "0"),
    ("port", "70000"),
    ("instance_count", "0"),
    ("instance_type", "Standard DS3"),
    ("request_timeout_ms", "180001"),
    ("r_packages", "['x); system(\"id\")']"),
]


@pytest.mark.parametrize(
    ("key", "value"), HOSTILE, ids=[f"{k}-{i}" for i, (k, _) in enumerate(HOSTILE)]
)
def test_hostile_answers_are_rejected_and_nothing_written(
    render: Render, tmp_path: Path, key: str, value: str
) -> None:
    from scaffold.errors import UsageError

    with pytest.raises(UsageError, match=key):
        render("plumber", name="hostile", **{key: value})
    assert not (tmp_path / "hostile").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging leftovers


def test_quotes_in_free_text_stay_data(render: Render) -> None:
    """Values that are legal but unusual are rendered safely (tojson in YAML)."""
    project = render("minimal", model_name="my.model_v2-x", model_version="12")
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["model"] == {"name": "my.model_v2-x", "version": "12", "path": "./model"}
