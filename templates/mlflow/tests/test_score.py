"""Unit tests for src/score.py. Run from the project root: python -m pytest tests

They need the model's libraries (pip install -r docker-context/requirements.txt) but neither
the inference server nor Docker: the model folder is copied into a temporary directory laid out
the way Azure mounts it ($AZUREML_MODEL_DIR/model/MLmodel). The test of the HTTP 400 object
runs only when azureml-inference-server-http is installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of src/score.py, initialised on this project's model/ folder."""
    model_dir = tmp_path / "azureml-models" / "my-model" / "1"
    shutil.copytree(ROOT / "model", model_dir / "model")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(model_dir))
    monkeypatch.delenv("MLFLOW_MODEL_FOLDER", raising=False)
    spec = importlib.util.spec_from_file_location("score_under_test", ROOT / "src" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    return module


def _sample(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def test_sample_round_trip(score: ModuleType) -> None:
    """model/ answers sample_request.json with sample_response.json."""
    expected = json.loads(_sample("sample_response.json"))["predictions"]
    got = score.run(_sample("sample_request.json"))
    assert isinstance(got, dict) and set(got) == {"predictions"}
    assert len(got["predictions"]) == len(expected)
    for g, e in zip(got["predictions"], expected):
        assert g == e if not isinstance(e, float) else math.isclose(g, e, rel_tol=1e-6)


def test_request_shapes_agree(score: ModuleType) -> None:
    """input_data, dataframe_split, dataframe_records and bare data give the same answer."""
    split = json.loads(_sample("sample_request.json"))
    table = next(iter(split.values()))
    if not isinstance(table, dict) or "columns" not in table:
        pytest.skip("the sample request is not a table with columns")
    records = [dict(zip(table["columns"], row)) for row in table["data"]]
    bodies = [
        {"input_data": table},
        {"dataframe_split": table},
        {"dataframe_records": records},
    ]
    answers = [score.run(json.dumps(body)) for body in bodies]
    assert all(answer == answers[0] for answer in answers)


@pytest.mark.parametrize(
    "body",
    ["", "{not json", "[1, 2]", '{"rows": [[1, 2]]}', '{"data": []}', '{"data": [1, 2]}'],
)
def test_bad_input_raises_value_error(score: ModuleType, body: str) -> None:
    with pytest.raises(ValueError):
        score.parse_input(body)


def test_bad_input_gives_http_400(score: ModuleType) -> None:
    pytest.importorskip("azureml_inference_server_http")
    response = score.run('{"data": []}')
    assert response.status_code == 400
    assert "error" in json.loads(response.get_data(as_text=True))


def test_missing_model_fails(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="MLmodel"):
        score.init()
