"""Unit tests for src/score.py. Run from the project root: python -m pytest tests

They need neither the inference server nor Docker: the model folder is copied into a
temporary directory laid out the way Azure mounts it ($AZUREML_MODEL_DIR/model/model.json).
The one test that checks the HTTP 400 object runs only when azureml-inference-server-http is
installed.
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
    """A fresh copy of src/score.py with AZUREML_MODEL_DIR set to an Azure-like layout."""
    model_dir = tmp_path / "azureml-models" / "my-model" / "1"
    shutil.copytree(ROOT / "model", model_dir / "model")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(model_dir))
    monkeypatch.delenv("MODEL_FILE", raising=False)
    spec = importlib.util.spec_from_file_location("score_under_test", ROOT / "src" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sample(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def test_sample_round_trip(score: ModuleType) -> None:
    score.init()
    expected = json.loads(_sample("sample_response.json"))["predictions"]
    rows = score.parse_input(_sample("sample_request.json"), score.model["features"])
    got = score.predict(rows)
    assert len(got) == len(expected)
    assert all(math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12) for g, e in zip(got, expected))
    # run() returns a plain dict on success, so it works without the server too.
    assert score.run(_sample("sample_request.json")) == {"predictions": got}


def test_one_row_and_records(score: ModuleType) -> None:
    score.init()
    features = score.model["features"]
    one = score.predict(score.parse_input('{"data": [[1, 2, 3]]}', features))
    assert isinstance(one, list) and len(one) == 1
    records = [dict(zip(features, [1, 2, 3]))]
    assert score.predict(score.parse_input(json.dumps({"data": records}), features)) == one


@pytest.mark.parametrize(
    "body",
    [
        "",
        "{not json",
        "[1, 2, 3]",
        '{"rows": [[1, 2, 3]]}',
        '{"data": []}',
        '{"data": [[1, 2]]}',
        '{"data": [["a", 1, 2]]}',
        '{"data": [[null, 1, 2]]}',
        '{"data": [[true, 1, 2]]}',
        '{"data": [[NaN, 1, 2]]}',
        '{"data": [[Infinity, 1, 2]]}',
        '{"data": [1, 2, 3]}',
        '{"data": [{"x1": 1, "x2": 2}]}',
        '{"data": [{"x1": 1, "x2": 2, "x3": 3, "x4": 4}]}',
    ],
)
def test_bad_input_raises_value_error(score: ModuleType, body: str) -> None:
    score.init()
    with pytest.raises(ValueError):
        score.parse_input(body, score.model["features"])


def test_overflow_is_an_input_error(score: ModuleType) -> None:
    score.init()
    rows = score.parse_input('{"data": [[1e308, 0, 1e308]]}', score.model["features"])
    with pytest.raises(ValueError, match="too large"):
        score.predict(rows)


def test_bad_input_gives_http_400(score: ModuleType) -> None:
    pytest.importorskip("azureml_inference_server_http")
    score.init()
    response = score.run('{"data": [[1, 2]]}')
    assert response.status_code == 400
    assert "error" in json.loads(response.get_data(as_text=True))


def test_model_file_env(score: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_FILE", "model/model.json")  # relative to AZUREML_MODEL_DIR
    score.init()
    assert score.model is not None
    monkeypatch.setenv("MODEL_FILE", str(ROOT / "model" / "model.json"))  # absolute
    score.init()
    monkeypatch.setenv("MODEL_FILE", "model/nope.json")
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        score.init()


def test_missing_model_names_the_directory(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    (empty / "other").mkdir(parents=True)
    (empty / "other" / "weights.bin").write_bytes(b"")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(empty))
    with pytest.raises(FileNotFoundError) as info:
        score.init()
    assert str(empty) in str(info.value) and "weights.bin" in str(info.value)


def test_run_before_init_fails(score: ModuleType) -> None:
    with pytest.raises(RuntimeError, match="init"):
        score.run(_sample("sample_request.json"))


def test_two_models_is_ambiguous(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = tmp_path / "both"
    for name in ("a", "b"):
        shutil.copytree(ROOT / "model", both / name)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(both))
    with pytest.raises(RuntimeError, match="MODEL_FILE"):
        score.init()
