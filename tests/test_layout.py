"""scaffold.layout: finding a project's deployment, endpoint and environment files and the
Dockerfile of each deployment, on layouts reproduced from public projects (the source of each
is named), and refusing what only looks like one (conda files, workflows, batch and
Kubernetes deployments, sample requests)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from scaffold import layout
from scaffold.errors import ProjectError

SCHEMA = "https://azuremlschemas.azureedge.net/latest/"
DEPLOYMENT = f"$schema: {SCHEMA}managedOnlineDeployment.schema.json\n"
ENDPOINT = f"$schema: {SCHEMA}managedOnlineEndpoint.schema.json\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def names(root: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def dep(name: str, endpoint: str = "my-endpoint", extra: str = "") -> str:
    return (
        f"{DEPLOYMENT}name: {name}\nendpoint_name: {endpoint}\n"
        "instance_type: Standard_DS3_v2\ninstance_count: 1\n" + textwrap.dedent(extra)
    )


# --- Deployment and endpoint files ---------------------------------------------------------
def test_blue_green_and_variants_with_endpoint(tmp_path: Path) -> None:
    """Azure/azureml-examples cli/endpoints/online/managed/sample: six deployment files, three
    of them `name: blue`, one endpoint.yml, a sample request."""
    root = tree(
        tmp_path,
        {
            "blue-deployment.yml": dep("blue"),
            "blue-deployment-with-curated-env.yml": dep("blue"),
            "blue-deployment-with-registered-assets.yml": dep("blue"),
            "green-deployment.yml": dep("green"),
            "endpoint.yml": f"{ENDPOINT}name: my-endpoint\nauth_mode: key\n",
            "sample-request.json": "{}",
        },
    )
    assert names(root, layout.deployment_files(root)) == [
        "blue-deployment-with-curated-env.yml",
        "blue-deployment-with-registered-assets.yml",
        "blue-deployment.yml",
        "green-deployment.yml",
    ]
    assert layout.endpoint_file(root) == root / "endpoint.yml"
    for deployment in layout.deployment_files(root):
        assert layout.endpoint_file_for(root, deployment) == root / "endpoint.yml"
    assert layout.deployment_file_for(root, "green") == root / "green-deployment.yml"
    # Three files define `blue`: the choice is by file name, and the error says so.
    with pytest.raises(ProjectError, match=r"3 files .* define the deployment blue.*--deployment"):
        layout.deployment_file_for(root, "blue")
    assert layout.deployment_file_for(root, "blue-deployment.yml") == root / "blue-deployment.yml"
    assert layout.deployment_file_for(root, "blue-deployment") == root / "blue-deployment.yml"
    with pytest.raises(ProjectError, match=r"4 deployments: blue \(blue-deployment-with"):
        layout.deployment_file_for(root, None)
    with pytest.raises(ProjectError, match=r"no deployment named red .* green \(green-dep"):
        layout.deployment_file_for(root, "red", flag="-f")


def test_no_endpoint_file_and_odd_names(tmp_path: Path) -> None:
    """managed/inference-schema: deployment-<variant>.yml, no endpoint file, a conda env.yml
    and a model.yml that are no deployment; the data collector's `.YAML` files."""
    root = tree(
        tmp_path,
        {
            "deployment-numpy.yml": dep("infsrv-numpy"),
            "deployment-standard.yml": dep("infsrv-standard"),
            "env.yml": "name: amlex\nchannels: [conda-forge]\ndependencies: [python=3.10]\n",
            "model.yml": f"$schema: {SCHEMA}model.schema.json\nname: m\nversion: 1\npath: m\n",
            "collector.YAML": "name: blue\nendpoint_name: e\nmodel: azureml:m@latest\n"
            "instance_type: Standard_F2s_v2\n",
        },
    )
    assert names(root, layout.deployment_files(root)) == [
        "collector.YAML",
        "deployment-numpy.yml",
        "deployment-standard.yml",
    ]
    assert layout.endpoint_files(root) == []
    assert layout.endpoint_file(root) is None
    assert layout.endpoint_file_for(root, root / "deployment-numpy.yml") is None
    assert layout.deployment_file_for(root, "infsrv-standard") == root / "deployment-standard.yml"


def test_content_beats_name(tmp_path: Path) -> None:
    """Unusual names count by content; look-alikes by name do not."""
    root = tree(
        tmp_path,
        {
            # A deployment and an endpoint under names that say nothing.
            "blue.yml": dep("blue"),
            "ep.yaml": "name: my-endpoint\nauth_mode: aml_token\n",
            # Named like one, but something else.
            "deployment-env.yml": "name: x\ndependencies: [python=3.12, pip]\n",
            "deploy-workflow.yml": "name: deploy\non: [push]\njobs: {deploy: {runs-on: x}}\n",
            "k8s-deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
            "batch-deployment.yml": f"$schema: {SCHEMA}batchDeployment.schema.json\n"
            "name: b\nendpoint_name: e\ncompute: cpu-cluster\n",
            "batch2-deployment.yml": "name: b\nendpoint_name: e\ncompute: azureml:c\n"
            "mini_batch_size: 10\n",
            "kubernetes-blue-deployment.yml": f"$schema: {SCHEMA}kubernetesOnline"
            "Deployment.schema.json\nname: blue\nendpoint_name: e\ntype: kubernetes\n",
            "azure-pipelines-endpoint.yml": "trigger: [main]\npool: {vmImage: ubuntu}\nsteps: []\n",
            "docker-compose.yml": "services: {web: {image: x}}\n",
            ".copier-answers.yml": "_src_path: x\nendpoint_name: e\ninstance_type: y\n",
        },
    )
    assert names(root, layout.deployment_files(root)) == ["blue.yml"]
    assert names(root, layout.endpoint_files(root)) == ["ep.yaml"]
    assert layout.endpoint_file_for(root, root / "blue.yml") == root / "ep.yaml"


def test_broken_files_count_by_name(tmp_path: Path) -> None:
    """A deployment.yml that is not YAML, empty or half-written is still the deployment file,
    so validate can say what is wrong with it."""
    root = tree(
        tmp_path,
        {
            "deployment.yml": "name: [blue\n",
            "green-deployment.yml": "",
            "red-deployment.yaml": "name: red\n",
            "endpoint.yml": "name: [\n",
        },
    )
    files = {p.name: layout.read_yaml(p) for p in layout.deployment_files(root)}
    assert list(files) == ["deployment.yml", "green-deployment.yml", "red-deployment.yaml"]
    assert "not valid YAML at line 2" in files["deployment.yml"].error
    assert files["green-deployment.yml"].error == "is empty or not a mapping of settings"
    assert files["red-deployment.yaml"].name == "red" and not files["red-deployment.yaml"].error
    assert layout.endpoint_file(root) == root / "endpoint.yml"
    # Several deployments, one of them deployment.yml: that one is the default.
    assert layout.deployment_file_for(root, None) == root / "deployment.yml"


def test_placeholders_of_microsoft_examples(tmp_path: Path) -> None:
    """custom-container/mlflow/multideployment-scikit/mlflow-deployment.yml: `{{...}}`
    placeholders a script fills (not YAML as written) are read as strings."""
    root = tree(
        tmp_path,
        {
            "mlflow-deployment.yml": """\
                $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
                name: {{deployment_name}} 
                endpoint_name: "{{ENDPOINT_NAME}}"
                model:
                  name: {{model_name}}
                  path: ./{{model_name}}/model
                environment: 
                  name: {{environment_name}}  # the environment
                  image: {{acr_name}}.azurecr.io/azureml-examples/mlflow-cc-{{model_name}}:latest
                instance_type: Standard_DS3_v2
                instance_count: 1
                """,  # noqa: W291 - the trailing space is the original's
        },
    )
    (found,) = layout.deployment_files(root)
    read = layout.read_yaml(found)
    assert read.error == "" and read.name == "{{deployment_name}}"
    assert read.data is not None
    assert read.data["environment"] == {
        "name": "{{environment_name}}",
        "image": "{{acr_name}}.azurecr.io/azureml-examples/mlflow-cc-{{model_name}}:latest",
    }
    assert read.placeholders == (
        "{{deployment_name}}",
        "{{ENDPOINT_NAME}}",
        "{{model_name}}",
        "{{environment_name}}",
        "{{acr_name}}",
    )


def test_nested_deployments_when_the_root_has_none(tmp_path: Path) -> None:
    """Azure/mlops-v2-style repositories: mlops/azureml/deploy/online/online-deployment.yml;
    only files whose content says so count down there, and each pairs with the endpoint file
    of its own folder."""
    root = tree(
        tmp_path,
        {
            "mlops/azureml/deploy/online/online-deployment.yml": dep("blue", "taxi-ep"),
            "mlops/azureml/deploy/online/online-endpoint.yml": f"{ENDPOINT}name: taxi-ep\n",
            "mlops/azureml/deploy/batch/batch-deployment.yml": "name: b\nendpoint_name: e\n"
            "compute: c\n",
            "data/deployment.yml": "rows: 3\n",  # named like one, content says nothing
            "node_modules/x/deployment.yml": dep("hidden"),
            ".github/workflows/deploy-deployment.yml": dep("hidden"),
        },
    )
    online = root / "mlops/azureml/deploy/online"
    assert layout.deployment_files(root) == [online / "online-deployment.yml"]
    assert layout.endpoint_files(root) == [online / "online-endpoint.yml"]
    assert layout.endpoint_file_for(root, online / "online-deployment.yml") == (
        online / "online-endpoint.yml"
    )
    assert layout.deployment_file_for(root, None) == online / "online-deployment.yml"
    # Named like one in the folder validated: taken (validate then says what is missing).
    assert layout.deployment_files(root / "data") == [root / "data/deployment.yml"]
    with pytest.raises(ProjectError, match="no deployment file in"):
        layout.deployment_file_for(online.parent / "batch", None)  # a batch deployment only


def test_endpoint_pairing_by_name_and_file_name(tmp_path: Path) -> None:
    """managed/managed-identities: 1-sai-create-endpoint.yml and 1-uai-create-endpoint.yml
    beside 2-sai-deployment.yml and 2-uai-deployment.yml."""
    root = tree(
        tmp_path,
        {
            "1-sai-create-endpoint.yml": f"{ENDPOINT}name: my-endpoint\nauth_mode: key\n",
            "1-uai-create-endpoint.yml": f"{ENDPOINT}name: my-endpoint\nauth_mode: key\n"
            "identity: {type: user_assigned}\n",
            "2-sai-deployment.yml": dep("blue"),
            "2-uai-deployment.yml": dep("blue"),
            "other-deployment.yml": dep("other", "other-ep"),
            "other-endpoint.yml": f"{ENDPOINT}name: other-ep\n",
        },
    )
    pairs = {
        d.name: layout.endpoint_file_for(root, d).name  # type: ignore[union-attr]
        for d in layout.deployment_files(root)
    }
    assert pairs == {
        "2-sai-deployment.yml": "1-sai-create-endpoint.yml",
        "2-uai-deployment.yml": "1-uai-create-endpoint.yml",
        "other-deployment.yml": "other-endpoint.yml",
    }
    assert layout.endpoint_file(root) is None  # three, none named endpoint.yml


# --- Environments and Dockerfiles ----------------------------------------------------------
def test_dockerfile_through_environment_build(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "deployment.yml": dep("blue", extra="environment: {build: {path: ./docker-context}}\n"),
            "docker-context/Dockerfile": "FROM python:3.12-slim\n",
            "custom-deployment.yml": dep(
                "custom",
                extra="environment:\n  build: {path: env, dockerfile_path: serve.Dockerfile}\n",
            ),
            "env/serve.Dockerfile": "FROM x\n",
            "lower-deployment.yml": dep("lower", extra="environment: {build: {path: lower}}\n"),
            "lower/dockerfile": "FROM x\n",
            "missing-deployment.yml": dep("missing", extra="environment: {build: {path: nope}}\n"),
        },
    )
    found = layout.dockerfile_for(root / "deployment.yml")
    assert found == layout.BuildRef(
        root / "docker-context/Dockerfile", root / "docker-context", "environment.build"
    )
    custom = layout.dockerfile_for(root / "custom-deployment.yml")
    assert custom is not None and custom.dockerfile == root / "env/serve.Dockerfile"
    lower = layout.dockerfile_for(root / "lower-deployment.yml")
    assert lower is not None and lower.dockerfile == root / "lower/dockerfile"
    assert layout.dockerfile_for(root / "missing-deployment.yml") is None


def test_environment_file_reached_by_reference(tmp_path: Path) -> None:
    """deploy-with-packages/custom-model: `environment: azureml:sklearn-regression-env@latest`
    registered from environment/sklearn-regression-env.yml; and a build in a sibling
    environment.yml reached by `azureml:NAME:VERSION`."""
    env_schema = f"$schema: {SCHEMA}environment.schema.json\n"
    root = tree(
        tmp_path,
        {
            "model-deployment.yml": dep(
                "regular", extra="environment: azureml:sklearn-regression-env@latest\n"
            ),
            "environment/sklearn-regression-env.yml": f"{env_schema}name: sklearn-regression-env"
            "\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: conda.yaml\n",
            "environment/conda.yaml": "dependencies: [python=3.10]\n",
            "vllm-deployment.yml": dep("vllm", extra="environment: azureml:vllm-env:2\n"),
            "environment.yml": "name: vllm-env\nversion: 2\nbuild:\n  path: docker\n"
            "  dockerfile_path: Dockerfile.vllm\n",
            "docker/Dockerfile.vllm": "FROM vllm/vllm-openai:v0.8.5\n",
            "other-deployment.yml": dep("other", extra="environment: azureml:not-here:1\n"),
            "path-deployment.yml": dep("path", extra="environment: ./environment.yml\n"),
        },
    )
    assert layout.environment_file_for(root / "model-deployment.yml") == (
        root / "environment/sklearn-regression-env.yml"
    )
    assert layout.dockerfile_for(root / "model-deployment.yml") is None  # a vendor image
    assert layout.environment_file_for(root / "vllm-deployment.yml") == root / "environment.yml"
    assert layout.dockerfile_for(root / "vllm-deployment.yml") == layout.BuildRef(
        root / "docker/Dockerfile.vllm", root / "docker", "environment file environment.yml"
    )
    assert layout.environment_file_for(root / "other-deployment.yml") is None
    assert layout.environment_file_for(root / "path-deployment.yml") == root / "environment.yml"
    assert layout.read_yaml(root / "environment/conda.yaml").kind == "other"
    assert layout.deployment_files(root) == sorted(
        root / n
        for n in (
            "model-deployment.yml",
            "other-deployment.yml",
            "path-deployment.yml",
            "vllm-deployment.yml",
        )
    )


def test_dockerfile_of_a_prebuilt_image(tmp_path: Path) -> None:
    """custom-container/r/multimodel-plumber (`r.dockerfile` beside `r-deployment.yml`,
    image in the workspace ACR), tfserving/half-plus-two-integrated (`*.Dockerfile`),
    managed/vnet/sample (environment/Dockerfile); a vendor image is never "built here"."""
    image = "environment:\n  image: {img}\n"
    root = tree(
        tmp_path,
        {
            "r/r-deployment.yml": dep("r", extra=image.format(img="myacr.azurecr.io/r_server")),
            "r/r.dockerfile": "FROM rstudio/plumber:latest\n",
            "tfs/hpt-deployment.yml": dep(
                "hpt", extra=image.format(img='"{{ACR_NAME}}.azurecr.io/azureml-examples/t:1"')
            ),
            "tfs/half-plus-two-integrated.Dockerfile": "FROM docker.io/tensorflow/serving\n",
            "vnet/blue-deployment-vnet.yml": dep(
                "blue", extra=image.format(img="placeholder.azurecr.io/repo/img:v1")
            ),
            "vnet/environment/Dockerfile": "FROM mcr.microsoft.com/azureml/minimal-py312-"
            "inference:latest\n",
            "vnet/.devcontainer/Dockerfile": "FROM dev\n",
            "vendor/deployment.yml": dep(
                "v", extra=image.format(img="docker.io/tensorflow/serving:latest")
            ),
            "vendor/tfserving.dockerfile": "FROM tensorflow/serving\n",
            "two/cpu-deployment.yml": dep("cpu", extra=image.format(img="a.azurecr.io/x:1")),
            "two/gpu-deployment.yml": dep("gpu", extra=image.format(img="a.azurecr.io/x:1")),
            "two/x-deployment.yml": dep("x", extra=image.format(img="a.azurecr.io/other:1")),
            "two/docker/Dockerfile.cpu": "FROM python:3.12\n",
            "two/docker/Dockerfile.gpu": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n",
        },
    )

    def found(name: str) -> str | None:
        ref = layout.dockerfile_for(root / name)
        return None if ref is None else ref.dockerfile.relative_to(root).as_posix()

    assert found("r/r-deployment.yml") == "r/r.dockerfile"
    assert found("tfs/hpt-deployment.yml") == "tfs/half-plus-two-integrated.Dockerfile"
    assert found("vnet/blue-deployment-vnet.yml") == "vnet/environment/Dockerfile"
    assert found("vendor/deployment.yml") is None
    assert found("two/cpu-deployment.yml") == "two/docker/Dockerfile.cpu"
    assert found("two/gpu-deployment.yml") == "two/docker/Dockerfile.gpu"
    assert found("two/x-deployment.yml") is None  # two Dockerfiles, neither named for it
    ref = layout.dockerfile_for(root / "r/r-deployment.yml")
    assert ref is not None and ref.via == "found beside the deployment file"
    assert ref.context == root / "r"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Dockerfile", True),
        ("dockerfile", True),
        ("DOCKERFILE", True),
        ("Containerfile", True),
        ("Dockerfile.vllm", True),
        ("Dockerfile-gpu", True),
        ("Dockerfile_cpu", True),
        ("r.dockerfile", True),
        ("half-plus-two-integrated.Dockerfile", True),
        ("serve.containerfile", True),
        (".dockerignore", False),
        ("Dockerfile.dockerignore", False),
        ("Dockerfile.md", False),
        ("dockerfile-lint.sh", False),
        ("build_dockerfile.py", False),
        ("Dockerfiles", False),
    ],
)
def test_dockerfile_names(name: str, expected: bool) -> None:
    assert layout.is_dockerfile_name(name) is expected


@pytest.mark.parametrize(
    ("image", "here"),
    [
        ("myacr.azurecr.io/r_server", True),
        ("{{ACR_NAME}}.azurecr.io/azureml-examples/x:1", True),
        ("<acr>.azurecr.io/x", True),
        ("registry.example.com:5000/team/model:2", True),
        ("localhost:5000/x", True),
        ("tensorflow/serving:latest", False),
        ("docker.io/tensorflow/serving:latest", False),
        ("mcr.microsoft.com/azureml/minimal-py312-inference:latest", False),
        ("nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", False),
        ("vllm/vllm-openai:v0.8.5", False),
        ("python:3.12", False),
    ],
)
def test_builds_here(image: str, here: bool) -> None:
    assert layout.builds_here(image) is here


def test_bounded_and_cached(tmp_path: Path) -> None:
    """A huge model folder beside the deployment is not walked past the bound, and an
    unchanged file is read once."""
    root = tree(
        tmp_path, {"deployment.yml": dep("blue", extra="environment: {image: a.azurecr.io/x}\n")}
    )
    big = root / "model"
    big.mkdir()
    for index in range(3000):
        (big / f"shard-{index:05}.bin").touch()
    (big / "zz" / "Dockerfile").parent.mkdir()
    (big / "zz" / "Dockerfile").write_text("FROM x\n")
    assert layout.dockerfile_for(root / "deployment.yml") is None
    first = layout.read_yaml(root / "deployment.yml")
    assert layout.read_yaml(root / "deployment.yml") is first
    (root / "deployment.yml").write_text(dep("green"), encoding="utf-8")
    os.utime(root / "deployment.yml", ns=(1, 1))
    assert layout.read_yaml(root / "deployment.yml").name == "green"


def test_importing_layout_stays_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, scaffold.layout; "
        "print(sorted(m for m in ('yaml', 'scaffold.validate') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_build_context_of_a_dockerfile_found_by_name(tmp_path: Path) -> None:
    """NVIDIA's NIM sample builds scripts/auxiliary_files/Dockerfile_aml.yml from the sample
    root (`docker build -f scripts/auxiliary_files/Dockerfile_aml.yml .`): the context is the
    nearest folder above the Dockerfile where its COPY/ADD sources exist."""
    root = tree(
        tmp_path,
        {
            "scripts/auxiliary_files/deployment_acr_aml.yml": dep(
                "nim", extra="environment:\n  image: registryname.azurecr.io/nim:1\n"
            ),
            "scripts/auxiliary_files/Dockerfile_aml.yml": "FROM nvcr.io/nim/x:1\n"
            "ADD scripts/auxiliary_files/run.sh /tmp/run.sh\nCOPY --from=build /a /b\n",
            "scripts/auxiliary_files/run.sh": "#!/bin/sh\n",
            "tfs/deployment.yml": dep("tfs", extra="environment:\n  image: a.azurecr.io/tfs:1\n"),
            "tfs/docker/Dockerfile": "FROM tensorflow/serving:2.19.1\nCOPY models /models\n",
            "tfs/models/hpt/1/saved_model.pb": "x",
            "lone/deployment.yml": dep("lone", extra="environment:\n  image: a.azurecr.io/x:1\n"),
            "lone/docker/Dockerfile": "FROM python:3.12\nCOPY nowhere/ /app\n",
        },
    )
    nim = layout.dockerfile_for(
        root / "scripts/auxiliary_files/deployment_acr_aml.yml", project=root
    )
    assert nim is not None and nim.context == root
    assert nim.dockerfile == root / "scripts/auxiliary_files/Dockerfile_aml.yml"
    tfs = layout.dockerfile_for(root / "tfs/deployment.yml")
    assert tfs is not None and tfs.context == root / "tfs"
    lone = layout.dockerfile_for(root / "lone/deployment.yml")
    assert lone is not None and lone.context == root / "lone/docker"  # no folder fits: its own
