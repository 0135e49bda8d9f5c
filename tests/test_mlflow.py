"""The mlflow server: an MLflow model folder served through mlflow.pyfunc on the minimal image.

Models are made in the tests with mlflow.sklearn (mlflow-skinny and scikit-learn are dev
dependencies); the Docker tests run them in the real azureml-inference-server-http on the
`mlflow` stand-in base image.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import TEMPLATES, new_and_run_green, new_refused
from scaffold.generate import new_project
from scaffold.usermodel.mlflow import model_requirements
from scaffold.validate import validate_project


def _mlflow_model(path: Path) -> Path:
    """A scikit-learn model (y = 2a + 3b + 1) saved with mlflow.sklearn, with an input example."""
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    rows = pd.DataFrame([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [0.0, 1.0]], columns=["a", "b"])
    model = LinearRegression().fit(rows, 2 * rows["a"] + 3 * rows["b"] + 1)
    mlflow.sklearn.save_model(
        model,
        str(path),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        input_example=rows.iloc[:2],
    )
    return path


def test_mlflow_folder_configures_the_project(tmp_path: Path) -> None:
    source = _mlflow_model(tmp_path / "my-model")
    result = new_project(tmp_path / "mlf-ep", {"server": "mlflow"}, model=str(source))
    project = result.path
    assert (project / "model" / "MLmodel").read_bytes() == (source / "MLmodel").read_bytes()
    assert not (project / "model-src").exists()
    requirements = (project / "docker-context" / "requirements.txt").read_text().splitlines()
    own = (source / "requirements.txt").read_text().split()
    assert [r.replace("mlflow-skinny", "mlflow") for r in requirements if "==" in r] == own
    request = json.loads((project / "sample_request.json").read_text())
    response = json.loads((project / "sample_response.json").read_text())
    assert request["input_data"]["columns"] == ["a", "b"]
    expected = [2 * a + 3 * b + 1 for a, b in request["input_data"]["data"]]
    assert response["predictions"] == pytest.approx(expected)
    assert validate_project(project, schema=False).errors == []


def test_requirements_come_from_conda_yaml_without_requirements_txt(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "conda.yaml").write_text(
        yaml.safe_dump(
            {
                "dependencies": [
                    "python=3.12",
                    {"pip": ["mlflow==3.1.0", "azureml-inference-server-http", "numpy==2.0"]},
                ]
            }
        )
    )
    assert model_requirements(folder) == ["mlflow-skinny==3.1.0", "numpy==2.0"]
    (folder / "conda.yaml").write_text("dependencies: [python=3.12, {pip: [numpy]}]\n")
    assert model_requirements(folder, "3.17.2") == ["mlflow-skinny==3.17.2", "numpy"]


def _mlmodel(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "MLmodel").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("mlmodel", "message"),
    [
        (None, "an MLflow model is a folder with an MLmodel file"),
        ("flavors:\n  sklearn: {pickled_model: model.pkl}\n", "no python_function flavor"),
        ("flavors: [unclosed\n", "MLmodel is not readable YAML"),
        ("flavors:\n  python_function: {}\n", "neither requirements.txt nor a pip section"),
    ],
    ids=["no-mlmodel", "no-pyfunc", "bad-yaml", "no-requirements"],
)
def test_bad_mlflow_folders_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mlmodel: str | None, message: str
) -> None:
    source = tmp_path / "src-model"
    if mlmodel is None:
        source.mkdir()
        (source / "model.pkl").write_bytes(b"x")
    else:
        _mlmodel(source, mlmodel)
    line = new_refused(["--server", "mlflow", "--model", str(source)], tmp_path / "ep", capsys)
    assert message in line


def test_contract_flags_a_model_folder_that_is_not_mlflow(tmp_path: Path) -> None:
    project = new_project(tmp_path / "mlf-bad", {"server": "mlflow"}).path
    text = (project / "model" / "MLmodel").read_text()
    (project / "model" / "MLmodel").write_text(text.replace("python_function:", "other:"))
    codes = [p.code for p in validate_project(project, schema=False).errors]
    assert codes == ["mlflow.mlmodel.pyfunc"]
    (project / "model" / "MLmodel").unlink()
    codes = [p.code for p in validate_project(project, schema=False).errors]
    assert codes == ["mlflow.mlmodel.missing"]


def test_sample_requirements_match_the_sample_model() -> None:
    """The template's docker-context/requirements.txt is what --model derives for its model."""
    shipped = TEMPLATES / "mlflow" / "docker-context" / "requirements.txt"
    pins = [line for line in shipped.read_text().splitlines() if not line.startswith("#")]
    assert pins == model_requirements(TEMPLATES / "mlflow" / "model")


@pytest.mark.docker
def test_mlflow_model_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = _mlflow_model(tmp_path / "lin-model")
    dest = tmp_path / "mlf-run"
    new_and_run_green("mlflow", standin("mlflow"), dest, capsys, "--model", str(source))
    assert validate_project(dest, schema=False).errors == []


@pytest.mark.docker
def test_mlflow_sample_is_green_in_docker(
    tmp_path: Path, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    new_and_run_green("mlflow", standin("mlflow"), tmp_path / "mlf-sample", capsys)


@pytest.mark.parametrize(
    ("image", "server"),
    [
        ("mcr.microsoft.com/azureml/curated/mlflow-py312-inference:latest", "mlflow"),
        ("mcr.microsoft.com/azureml/minimal-py312-inference:latest", "minimal"),
    ],
)
def test_hand_written_projects_are_told_apart_by_the_most_specific_image(
    tmp_path: Path, image: str, server: str
) -> None:
    """Without an answers file, the curated MLflow image names mlflow, although it is also an
    Azure ML inference image (minimal's hints match it too)."""
    project = new_project(tmp_path / "hand-ep", {"server": "mlflow"}).path
    (project / ".copier-answers.yml").unlink()
    dockerfile = project / "docker-context" / "Dockerfile"
    lines = dockerfile.read_text().splitlines()
    lines = [f"FROM {image}" if line.startswith("FROM ") else line for line in lines]
    dockerfile.write_text("\n".join(lines) + "\n")
    report = validate_project(project, schema=False)
    assert report.server == server
    assert report.errors == []


def test_models_above_the_limit_are_copied_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _mlflow_model(tmp_path / "big-model")
    monkeypatch.setenv("SCAFFOLD_MODEL_INSPECT_LIMIT", "10")
    result = new_project(tmp_path / "big-ep", {"server": "mlflow"}, model=str(source))
    project = result.path
    assert (project / "model" / "model.pkl").read_bytes() == (source / "model.pkl").read_bytes()
    # the request comes from the saved example (a file read); nothing of the model is run
    assert (project / "sample_request.json").exists()
    assert not (project / "sample_response.json").exists()
    assert any("inspection limit" in note for note in result.notes), result.notes


def test_a_tensor_signature_gives_the_sample_rows(tmp_path: Path) -> None:
    """mlflow's infer_signature on a numpy array records a [-1, N] tensor and no columns: the
    sample request is N unnamed columns, and the model's answer to it is recorded."""
    import mlflow.models
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LinearRegression

    rows = np.array([[1.0, 2.0, 0.5], [2.0, 1.0, 0.0], [3.0, 5.0, 1.0], [0.0, 1.0, 2.0]])
    model = LinearRegression().fit(rows, rows @ [2.0, 3.0, 1.0] + 1)
    signature = mlflow.models.infer_signature(rows.astype(np.float32), model.predict(rows))
    source = tmp_path / "tensor-model"
    mlflow.sklearn.save_model(
        model,
        str(source),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        signature=signature,
    )
    result = new_project(tmp_path / "ep", {"server": "mlflow"}, model=str(source))
    request = json.loads((result.path / "sample_request.json").read_text())
    assert "columns" not in request["input_data"] and len(request["input_data"]["data"][0]) == 3
    response = json.loads((result.path / "sample_response.json").read_text())
    expected = [2 * a + 3 * b + c + 1 for a, b, c in request["input_data"]["data"]]
    assert response["predictions"] == pytest.approx(expected, rel=1e-5)
    assert validate_project(result.path, schema=False).errors == []
