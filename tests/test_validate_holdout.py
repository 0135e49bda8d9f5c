"""`scaffold validate` rules found by running it on real projects that were not in the corpus
(hold-outs: Microsoft's examples of other eras, MLOps templates, course material, NVIDIA's
samples, blog and hobby projects; tests/corpus holds them whole). Each test pins one rule on
a small project written here:

- names the project's own deploy commands pass on the command line (`az ml ...
  create --name N -e E -f FILE` in scripts, READMEs, notebooks, CI workflows);
- an environment registered from a file elsewhere in the project, conda files that exist;
- Triton scored over gRPC; TorchServe's token authorization; a model that is one file;
- the 2021 az ml preview format (model.local_path, deployments inside the endpoint file);
- azure-ai-ml's union errors: the branch that describes the input.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scaffold import layout
from scaffold.validate import ValidationReport, validate_project

SCHEMA = "https://azuremlschemas.azureedge.net/latest/"
DEP = f"$schema: {SCHEMA}managedOnlineDeployment.schema.json\n"
EP = f"$schema: {SCHEMA}managedOnlineEndpoint.schema.json\n"
ENV = f"$schema: {SCHEMA}environment.schema.json\n"
DIGEST = "0123456789abcdef" * 4
AML_BASE = f"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04@sha256:{DIGEST}"
SCORE = "def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def found(report: ValidationReport) -> set[tuple[str, str, str]]:
    return {(p.severity, p.code, p.file) for p in report.problems}


def codes(report: ValidationReport) -> set[str]:
    return {p.code for p in report.problems}


def show(report: ValidationReport) -> str:
    return "\n".join(
        f"{p.severity} {p.code} {p.file} [{p.key}] {p.message}" for p in report.problems
    )


def routes(port: int, live: str, ready: str, score: str, scoring_port: int = 0) -> str:
    return (
        "  inference_config:\n"
        f"    liveness_route: {{port: {port}, path: {live}}}\n"
        f"    readiness_route: {{port: {port}, path: {ready}}}\n"
        f"    scoring_route: {{port: {scoring_port or port}, path: {score}}}\n"
    )


# --- Names given on the command line ----------------------------------------------------------
REGISTERED = "model: azureml:m:1\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n"


def test_names_missing_from_the_files_are_warnings(tmp_path: Path) -> None:
    """Microsoft Learn's lab files have neither name nor endpoint_name: `az ml` takes them
    from --name / --endpoint-name. Without any deploy command that passes them: warnings."""
    tree(tmp_path, {"deployment.yml": DEP + REGISTERED, "endpoint.yml": EP + "auth_mode: key\n"})
    report = validate_project(tmp_path, schema=True)
    assert report.ok, show(report)
    assert found(report) >= {
        ("warning", "name.deployment.missing", "deployment.yml"),
        ("warning", "name.endpoint.missing", "deployment.yml"),
        ("warning", "endpoint.name.missing", "endpoint.yml"),
    }, show(report)
    assert "schema.missing_field" not in codes(report), show(report)


@pytest.mark.parametrize(
    ("script", "text"),
    [
        (
            "deploy.sh",
            "az ml online-endpoint create --name $EP -f ./endpoint.yml\n"
            "az ml online-deployment create --name blue --endpoint-name $EP \\\n"
            "  -f ./deployment.yml --all-traffic\n",
        ),
        (  # PowerShell continuation lines and --set
            "deploy.ps1",
            "az ml online-endpoint create -f endpoint.yml `\n    --set name=$($c.NAME)\n"
            "az ml online-deployment create -f deployment.yml `\n    -n blue `\n"
            "    --set endpoint_name=$($c.NAME)\n",
        ),
        (  # the README's commands (Microsoft Learn labs), --endpoint as argparse accepts it
            "README.md",
            "```azurecli\naz ml online-endpoint create --name <ep> -f ./lab/endpoint.yml\n"
            "az ml online-deployment create --name <dep> --endpoint <ep> -f ./lab/deployment.yml\n"
            "```\n",
        ),
        (  # a CI workflow in a hidden folder
            ".github/workflows/deploy.yml",
            "jobs:\n  deploy:\n    steps:\n      - run: |\n"
            "          az ml online-endpoint create -n ep -f endpoint.yml\n"
            "          az ml online-deployment create -n blue -e ep --file=deployment.yml\n",
        ),
        (  # -f $FILE with FILE="${1:-deployment.yml}" (docqai/docq's deploy.sh)
            "infra/deploy.sh",
            'FILE="${1:-"deployment.yml"}"\nEP="${2:-"ep"}"\n'
            "az ml online-endpoint create -n $EP -f endpoint.yml\n"
            'az ml online-deployment create \\\n  --name "blue" \\\n  --endpoint-name $EP \\\n'
            "  --file $FILE\n",
        ),
    ],
)
def test_names_given_by_the_projects_deploy_commands(
    tmp_path: Path, script: str, text: str
) -> None:
    tree(
        tmp_path,
        {"deployment.yml": DEP + REGISTERED, "endpoint.yml": EP + "auth_mode: key\n", script: text},
    )
    report = validate_project(tmp_path, schema=False)
    assert not codes(report) & {
        "name.deployment.missing",
        "name.endpoint.missing",
        "endpoint.name.missing",
    }, show(report)


def test_a_deploy_command_for_another_file_does_not_count(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "deployment.yml": DEP + REGISTERED,
            "deploy.sh": "az ml online-deployment create -n blue -e ep -f green-deployment.yml\n"
            "az ml online-endpoint create -n ep\n",
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert {"name.deployment.missing", "name.endpoint.missing"} <= codes(report), show(report)


def test_endpoint_name_passed_with_dash_e_overrides_the_file(tmp_path: Path) -> None:
    """Microsoft's deploy-with-packages: the file names another endpoint than endpoint.yml,
    but deploy.sh passes -e $ENDPOINT_NAME, which wins; without it, a real mismatch."""
    files = {
        "deployment.yml": DEP + "name: blue\nendpoint_name: old-name\n" + REGISTERED,
        "endpoint.yml": EP + "name: new-name\nauth_mode: key\n",
    }
    tree(tmp_path / "plain", files)
    assert "name.endpoint.mismatch" in {
        p.code for p in validate_project(tmp_path / "plain", schema=False).errors
    }
    tree(
        tmp_path / "scripted",
        {
            **files,
            "deploy.sh": "az ml online-endpoint create -n $ENDPOINT_NAME\n"
            "az ml online-deployment create -f deployment.yml -e $ENDPOINT_NAME\n",
        },
    )
    report = validate_project(tmp_path / "scripted", schema=False)
    assert report.ok and "name.endpoint.mismatch" not in codes(report), show(report)


def test_command_line_names(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "deploy/deployment.yml": DEP + REGISTERED,
            "scripts/run.sh": "BASE=deploy\n"
            "az ml online-deployment create -f $BASE/deployment.yml -e ep1 --name blue\n"
            "az ml online-deployment update --file ${BASE}/deployment.yml_ -e ep2\n",
            "notebook.ipynb": '{"cells": [{"source": ["!az ml online-endpoint create '
            '-f endpoint.yml -n nb-ep\\n", "x"]}]}',
            "big.sh": "#" * (layout.MAX_SCRIPT_BYTES + 1),
        },
    )
    names = layout.command_line_names(tmp_path, "deployment", tmp_path / "deploy/deployment.yml")
    assert names == {"endpoint_name": "ep1", "name": "blue"}
    endpoint = layout.command_line_names(tmp_path, "endpoint", tmp_path / "endpoint.yml")
    assert endpoint == {"name": "nb-ep"}
    assert layout.command_line_names(tmp_path, "endpoint", tmp_path / "other.yml") == {}


# --- Environment files, conda files -----------------------------------------------------------
def test_environment_registered_from_a_file_elsewhere_in_the_project(tmp_path: Path) -> None:
    """Azure/mlops-starter-sklearn: `environment: azureml:nyc-taxi-env@latest` is created
    from cli/assets/create-environment.yml, a sibling of the deployment's folder."""
    tree(
        tmp_path,
        {
            "cli/endpoints/online_deployment.yml": DEP
            + "name: blue\nendpoint_name: my-ep\nmodel: azureml:m:1\n"
            "code_configuration:\n  code: ../../src\n  scoring_script: score.py\n"
            "environment: azureml:nyc-taxi-env@latest\n"
            "instance_type: Standard_DS3_v2\ninstance_count: 1\n",
            "cli/assets/create-environment.yml": ENV + "name: nyc-taxi-env\n"
            "image: mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04\n"
            "conda_file: ../../environments/conda.yml\n",
            "cli/assets/other-environment.yml": ENV + "name: other\nimage: x/y:1\n",
            "environments/conda.yml": "dependencies:\n  - python=3.10\n",
            "src/score.py": SCORE,
        },
    )
    deployment = tmp_path / "cli/endpoints/online_deployment.yml"
    assert layout.environment_file_for(deployment) is None  # not beside it
    assert (
        layout.environment_file_for(deployment, project=tmp_path)
        == tmp_path / "cli/assets/create-environment.yml"
    )
    report = validate_project(tmp_path, schema=False)
    assert ("warning", "image.latest", "cli/assets/create-environment.yml") in found(report)
    assert report.ok, show(report)


def test_conda_file_must_exist(tmp_path: Path) -> None:
    """Microsoft's data-collector snippets name a conda file that is not there; relative to
    the deployment file inline, to the environment file otherwise."""
    tree(
        tmp_path,
        {
            "deployment.yml": DEP + "name: blue\nendpoint_name: my-ep\nmodel: azureml:m:1\n"
            "code_configuration:\n  code: src\n  scoring_script: score.py\n"
            f"environment:\n  image: {AML_BASE}\n  conda_file: model/conda.yaml\n"
            "instance_type: Standard_DS3_v2\ninstance_count: 1\n",
            "green-deployment.yml": DEP + "name: green\nendpoint_name: my-ep\nmodel: azureml:m:1\n"
            "code_configuration:\n  code: src\n  scoring_script: score.py\n"
            "environment: azureml:env:1\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n",
            "env/env.yml": ENV + f"name: env\nversion: 1\nimage: {AML_BASE}\n"
            "conda_file: file:conda.yml\n",
            "env/conda.yml": "dependencies:\n  - python=3.10\n",
            "src/score.py": SCORE,
        },
    )
    report = validate_project(tmp_path, schema=True)
    missing = [p for p in report.problems if p.code == "path.conda_file.not_found"]
    assert [(p.file, p.key) for p in missing] == [("deployment.yml", "environment.conda_file")]
    # azure-ai-ml says the same about the whole environment: one problem, not two, and no
    # "environment.name missing" from the union branch of registered environments
    assert not {"schema.path", "schema.missing_field"} & codes(report), show(report)


# --- Triton over gRPC -------------------------------------------------------------------------
def triton(
    cmd: str, scoring_port: int, variables: str = "", live_port: int = 8000
) -> dict[str, str]:
    return {
        "deployment.yml": DEP
        + "name: grpc\nendpoint_name: my-ep\nmodel:\n  path: ./models/model_1\n"
        "model_mount_path: /models\nenvironment:\n  image: myacr.azurecr.io/triton:1\n"
        + routes(live_port, "/v2/health/live", "/v2/health/ready", "/", scoring_port)
        + variables
        + "instance_type: Standard_F8s_v2\ninstance_count: 1\n",
        "triton.dockerfile": f"FROM {TRITON}\nCMD {cmd}\n",
        "models/model_1/1/model.onnx": "placeholder",
    }


TRITON = f"nvcr.io/nvidia/tritonserver:25.04-py3@sha256:{DIGEST}"
HTTP2 = 'environment_variables:\n  MIR_MODEL_USE_HTTP2: "true"\n'
SERVE = "tritonserver --model-repository=/models"


@pytest.mark.parametrize(
    ("files", "errors", "warnings"),
    [
        (triton(SERVE, 8001, HTTP2), set(), set()),  # Microsoft's triton-grpc sample
        (triton(SERVE, 8001), set(), {"route.grpc.http2"}),  # HTTP/1.1 to a gRPC port
        (triton(SERVE + " --grpc-port=9001", 9001, HTTP2), set(), set()),
        (triton(SERVE + " --grpc-port=9001", 8001, HTTP2), {"route.port.mismatch"}, set()),
        (triton(SERVE + " --allow-grpc=false", 8001, HTTP2), {"route.port.mismatch"}, set()),
        # probes are HTTP: never on the gRPC port
        (triton(SERVE, 8001, HTTP2, live_port=8001), {"route.port.mismatch"}, set()),
    ],
)
def test_triton_scored_over_grpc(
    tmp_path: Path, files: dict[str, str], errors: set[str], warnings: set[str]
) -> None:
    report = validate_project(tree(tmp_path, files), schema=False)
    assert report.server == "triton"
    assert {p.code for p in report.errors} == errors, show(report)
    assert {p.code for p in report.warnings} & {"route.grpc.http2"} == warnings, show(report)


# --- TorchServe's token authorization ------------------------------------------------------
def torchserve(base: str, cmd: str, config: str = "", variables: str = "") -> dict[str, str]:
    files = {
        "deployment.yml": DEP
        + "name: torchserve\nendpoint_name: my-ep\nmodel:\n  path: torchserve\n"
        + variables
        + "environment:\n  image: myacr.azurecr.io/torchserve:1\n"
        + routes(8080, "/ping", "/ping", "/predictions/resnet18")
        + "instance_type: Standard_DS3_v2\ninstance_count: 1\n",
        "Dockerfile": f"FROM {base}\n"
        + ("COPY config.properties /home/model-server/config.properties\n" if config else "")
        + f"CMD {cmd}\n",
        "torchserve/resnet18.mar": "placeholder",
    }
    if config:
        files["config.properties"] = "inference_address=http://0.0.0.0:8080\n" + config
    return files


START = (
    '["torchserve", "--start", "--model-store", "$AZUREML_MODEL_DIR/torchserve", '
    '"--models", "resnet18=resnet18.mar"]'
)
TOKEN_OFF = START.replace('"--start",', '"--start", "--disable-token-auth",')
TS_CONFIG = START.replace(
    '"--start",', '"--start", "--ts-config", "/home/model-server/config.properties",'
)


@pytest.mark.parametrize(
    ("files", "bad"),
    [
        (torchserve("pytorch/torchserve:latest-cpu", START), True),  # adamtupper's example today
        (torchserve("pytorch/torchserve:0.12.0-gpu", START), True),
        (torchserve("pytorch/torchserve:0.11.1-cpu", START), True),
        (torchserve("pytorch/torchserve:0.11.0-cpu", START), False),
        (torchserve("pytorch/torchserve:0.8.2-cpu", START), False),
        (torchserve("pytorch/torchserve:latest-cpu", TOKEN_OFF), False),  # Microsoft's fix
        (torchserve("pytorch/torchserve:latest-cpu", START.replace("--start", "--dt")), False),
        (
            torchserve(
                "pytorch/torchserve:latest-cpu", TS_CONFIG, "disable_token_authorization=true\n"
            ),
            False,
        ),
        (
            torchserve(
                "pytorch/torchserve:latest-cpu",
                TS_CONFIG,
                "enable_envvars_config=true\n",
                'environment_variables:\n  TS_DISABLE_TOKEN_AUTHORIZATION: "true"\n',
            ),
            False,
        ),
        (  # the variable alone is not read
            torchserve(
                "pytorch/torchserve:latest-cpu",
                TS_CONFIG,
                "default_workers_per_model=1\n",
                'environment_variables:\n  TS_DISABLE_TOKEN_AUTHORIZATION: "true"\n',
            ),
            True,
        ),
        (torchserve("python:3.11-slim\nRUN pip install torchserve==0.10.0", START), False),
        (
            torchserve("python:3.11-slim\nRUN pip install torchserve torch-model-archiver", START),
            True,
        ),
    ],
)
def test_torchserve_token_authorization(tmp_path: Path, files: dict[str, str], bad: bool) -> None:
    report = validate_project(tree(tmp_path, files), schema=False)
    assert report.server == "torchserve", show(report)
    problems = [p for p in report.problems if p.code == "torchserve.token_auth"]
    assert bool(problems) == bad, show(report)
    assert all(p.severity == "error" and "--disable-token-auth" in p.fix for p in problems)
    if "TS_DISABLE_TOKEN_AUTHORIZATION" in files["deployment.yml"] and bad:
        assert "enable_envvars_config" in problems[0].message


# --- A model that is one file -----------------------------------------------------------------
def test_model_that_is_one_file_lands_in_the_model_folder(tmp_path: Path) -> None:
    """Microsoft's TorchServe text-generation sample: model.path is the .mar itself, Azure
    mounts it as $AZUREML_MODEL_DIR/<file>, so --model-store $AZUREML_MODEL_DIR finds it."""
    deployment = (
        DEP
        + "name: textgen\nendpoint_name: my-ep\nmodel:\n  name: hf-tg\n  path: out/Textgen.mar\n"
        'environment_variables:\n  TORCHSERVE_MODELS: "textgen=ARCHIVE"\n'
        "environment:\n  image: myacr.azurecr.io/ts:1\n"
        + routes(8080, "/ping", "/ping", "/predictions/textgen")
        + "instance_type: Standard_DS3_v2\ninstance_count: 1\n"
    )
    files = {
        "Dockerfile": "FROM pytorch/torchserve:0.12.0-cpu\n"
        'CMD ["torchserve", "--start", "--disable-token-auth", "--model-store", '
        '"$AZUREML_MODEL_DIR", "--models", "$TORCHSERVE_MODELS"]\n',
        "out/Textgen.mar": "placeholder",
    }
    good = tree(
        tmp_path / "good", {**files, "deployment.yml": deployment.replace("ARCHIVE", "Textgen.mar")}
    )
    report = validate_project(good, schema=False)
    assert report.ok and not codes(report) & {"torchserve.model_store"}, show(report)
    bad = tree(
        tmp_path / "bad", {**files, "deployment.yml": deployment.replace("ARCHIVE", "Other.mar")}
    )
    assert "torchserve.mar.not_found" in {
        p.code for p in validate_project(bad, schema=False).errors
    }


# --- The 2021 az ml preview format ------------------------------------------------------------
def test_preview_keys_are_one_error_each_naming_the_replacement(tmp_path: Path) -> None:
    """Azure/azureml-examples before the GA CLI (PR #890, 2021-11): model.local_path and
    code: {local_path: ...}. One error per key, none for what follows from it."""
    tree(
        tmp_path,
        {
            "blue-deployment.yml": DEP + "name: blue\nendpoint_name: my-ep\n"
            "model:\n  local_path: model/m.pkl\ncode_configuration:\n  code:\n"
            "    local_path: src/\n  scoring_script: score.py\n"
            f"environment:\n  image: {AML_BASE}\n"
            "instance_type: Standard_F2s_v2\ninstance_count: 1\n",
            "model/m.pkl": "placeholder",
            "src/score.py": SCORE,
        },
    )
    report = validate_project(tmp_path, schema=True)
    assert {(p.code, p.key) for p in report.errors} == {
        ("schema.preview_key", "model.local_path"),
        ("schema.preview_key", "code_configuration.code"),
    }, show(report)
    fixes = {p.key: p.fix for p in report.errors}
    assert "model.path" in fixes["model.local_path"]


def test_deployments_inside_the_endpoint_file(tmp_path: Path) -> None:
    """The first preview (Azure/azureml-examples PR #600, 2021-06): `az ml endpoint create`
    with the deployments in the endpoint file. One error naming the format."""
    tree(
        tmp_path,
        {
            "r-endpoint.yml": "$schema: https://azuremlsdk2.blob.core.windows.net/latest/"
            "managedOnlineEndpoint.schema.json\ntype: online\nauth_mode: aml_token\n"
            "traffic:\n  r-deployment: 100\ndeployments:\n  - name: r-deployment\n"
            "    environment:\n      docker:\n        image: acr.azurecr.io/r_server\n",
        },
    )
    report = validate_project(tmp_path, schema=True)
    assert {(p.code, p.file) for p in report.errors} == {
        ("schema.preview_format", "deployment.yml"),  # no deployment file: why
        ("schema.preview_format", "r-endpoint.yml"),  # the endpoint file itself
    }, show(report)
    assert "r-endpoint.yml" in report.errors[0].message
    assert not {"schema.unknown_field", "endpoint.traffic"} & codes(report), show(report)


# --- Pairing deployments with endpoint files in a repository of samples ----------------------
def test_endpoint_files_of_other_samples_are_not_paired(tmp_path: Path) -> None:
    """Validating Azure/azureml-examples' cli/endpoints/online as a whole: a deployment pairs
    with the endpoint file beside it or in a folder above it, never with another sample's
    (only with one whose name is its endpoint_name)."""
    tree(
        tmp_path,
        {
            "managed/sample/blue-deployment.yml": DEP
            + "name: blue\nendpoint_name: my-endpoint\n"
            + REGISTERED,
            "managed/sample/endpoint.yml": EP + "name: my-endpoint\nauth_mode: key\n",
            "collector/collector-deployment.yml": DEP
            + "name: blue\nendpoint_name: other-ep\n"
            + REGISTERED,
            "single/single-endpoint.yml": EP + "name: single-ep\nauth_mode: key\n",
            "single/pip/pip-deployment.yml": DEP
            + "name: pip\nendpoint_name: single-ep\n"
            + REGISTERED,
            "named/named-deployment.yml": DEP
            + "name: named\nendpoint_name: my-endpoint\n"
            + REGISTERED,
        },
    )

    def paired(deployment: str) -> str | None:
        found = layout.endpoint_file_for(tmp_path, tmp_path / deployment)
        return found.relative_to(tmp_path).as_posix() if found else None

    assert paired("managed/sample/blue-deployment.yml") == "managed/sample/endpoint.yml"
    assert paired("collector/collector-deployment.yml") is None
    assert paired("single/pip/pip-deployment.yml") == "single/single-endpoint.yml"
    assert paired("named/named-deployment.yml") == "managed/sample/endpoint.yml"
    report = validate_project(tmp_path, schema=False)
    notes = [p for p in report.problems if p.code == "endpoint.file.none"]
    assert [p.file for p in notes] == ["collector/collector-deployment.yml"], show(report)
    assert "No endpoint file:" in notes[0].message  # not a list of every sample's endpoint


def test_a_validation_walks_the_project_once(tmp_path: Path) -> None:
    """Inside layout.scan() (one validation) the tree is walked once, however many
    deployments ask; outside it every call sees the files as they are."""
    tree(
        tmp_path, {"a/blue-deployment.yml": DEP + "name: blue\nendpoint_name: my-ep\n" + REGISTERED}
    )
    with layout.scan():
        assert len(layout.deployment_files(tmp_path)) == 1
        tree(tmp_path, {"b/green-deployment.yml": DEP + "name: green\nendpoint_name: my-ep\n"})
        assert len(layout.deployment_files(tmp_path)) == 1  # the walk of this validation
    assert len(layout.deployment_files(tmp_path)) == 2


# --- Values set on the command line ---------------------------------------------------------
def test_values_set_by_the_deploy_command(tmp_path: Path) -> None:
    """Microsoft's model-catalog samples: deploy.yml has no model, environment or
    endpoint_name; the script passes them with one --set of several keys. A file's image or
    size the command replaces is not judged either."""
    tree(
        tmp_path,
        {
            "deploy.yml": DEP + "name: demo\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n",
            "gpu-deployment.yml": DEP + "name: gpu\nendpoint_name: my-ep\nmodel: azureml:m:1\n"
            "environment:\n  image: dummy\n"
            + routes(8000, "/health", "/health", "/")
            + "instance_type: Standard_DS3_v2\ninstance_count: 1\n",
            "Dockerfile": "FROM vllm/vllm-openai:v0.8.5\n",
            "online.sh": "az ml online-deployment create --file deploy.yml $ws --set \\\n"
            "  endpoint_name=$endpoint_name model=azureml://registries/$r/models/$m/versions/$v"
            " \\\n"
            "  instance_type=$deployment_sku || { echo failed; exit 1; }\n"
            "az ml online-deployment create -f gpu-deployment.yml --set "
            "environment.image=$IMAGE instance_type=Standard_NC4as_T4_v3\n",
        },
    )
    assert layout.command_line_names(tmp_path, "deployment", tmp_path / "deploy.yml") == {
        "endpoint_name": "$endpoint_name",
        "model": "azureml://registries/$r/models/$m/versions/$v",
        "instance_type": "$deployment_sku",
    }
    report = validate_project(tmp_path, schema=False)
    assert report.ok, show(report)
    assert ("info", "environment.none", "deploy.yml") in found(report)
    assert not {
        "name.endpoint.missing",
        "environment.missing",
        "image.latest",
        "image.gpu_only",
    } & (codes(report)), show(report)


def test_azure_ml_images_that_run_another_server(tmp_path: Path) -> None:
    """Azure ML's prompt flow runtime image (mcr.microsoft.com/azureml/promptflow/...) serves
    on 8080: the registry path alone does not make it the inference server on 5001."""
    image = "mcr.microsoft.com/azureml/promptflow/promptflow-runtime:20250101.v1"
    env = f"environment:\n  image: {image}\n"
    tree(
        tmp_path,
        {
            "deployment.yaml": DEP
            + "name: chat\nendpoint_name: my-ep\nmodel: azureml:flow:1\n"
            + env
            + routes(8080, "/health", "/health", "/score")
            + "instance_type: Standard_E16s_v3\ninstance_count: 1\n"
        },
    )
    report = validate_project(tmp_path, schema=False)
    assert report.server is None and report.ok, show(report)
    assert not {"route.port.mismatch", "route.path.not_served", "minimal.entry.missing"} & codes(
        report
    ), show(report)
    # the inference image itself, with routes on another port, still is the inference server
    (tmp_path / "deployment.yaml").write_text(
        (tmp_path / "deployment.yaml")
        .read_text()
        .replace("promptflow/promptflow-runtime:20250101.v1", "minimal-py312-inference:latest"),
        encoding="utf-8",
    )
    report = validate_project(tmp_path, schema=False)
    assert report.server == "minimal" and "route.port.mismatch" in codes(report), show(report)


def test_deployments_six_levels_down_are_found(tmp_path: Path) -> None:
    """Azure/azureml-examples validated from its cli/ folder: custom-container samples sit
    five levels down (endpoints/online/custom-container/tfserving/half-plus-two/)."""
    deep = "endpoints/online/custom-container/tfserving/half-plus-two"
    tree(
        tmp_path,
        {
            f"{deep}/tfserving-deployment.yml": DEP
            + "name: tfs\nendpoint_name: my-ep\n"
            + REGISTERED,
            "a/b/c/d/e/f/g/too-deep-deployment.yml": DEP + "name: deep\nendpoint_name: my-ep\n",
        },
    )
    found_files = [p.relative_to(tmp_path).as_posix() for p in layout.deployment_files(tmp_path)]
    assert found_files == [f"{deep}/tfserving-deployment.yml"]
