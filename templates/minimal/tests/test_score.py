"""Unit tests for src/score.py. Run from the project root: python -m pytest tests

They need neither the inference server nor Docker: model folders are built in a temporary
directory laid out the way Azure mounts them ($AZUREML_MODEL_DIR/model/<name>.json). The tests
cover both the one-model and the multi-model behaviour, whichever this project ships. The one
test that checks the HTTP 400 object runs only when azureml-inference-server-http is installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Models for the tests, independent of what is in model/: y = intercept + coefficients . x
MODEL_A: dict[str, Any] = {"coefficients": [0.5, -1.0, 2.0], "intercept": 1.0}
MODEL_B: dict[str, Any] = {"coefficients": [2.0, 0.25, -1.5], "intercept": -0.5}
ROW = [1.0, 2.0, 3.0]  # model A: 5.5, model B: -2.5


def write_model(path: Path, model: dict[str, Any]) -> None:
    """Write a linear model with features x1, x2, x3 as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"kind": "linear", "features": ["x1", "x2", "x3"], **model}
    path.write_text(json.dumps(full), encoding="utf-8")


@pytest.fixture
def score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of src/score.py with AZUREML_MODEL_DIR set to an Azure-like layout holding
    this project's model/ folder."""
    model_dir = tmp_path / "azureml-models" / "my-model" / "1"
    shutil.copytree(ROOT / "model", model_dir / "model")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(model_dir))
    monkeypatch.delenv("MODEL_FILE", raising=False)
    spec = importlib.util.spec_from_file_location("score_under_test", ROOT / "src" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def serve(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """serve(name=MODEL, ...) writes those models into a fresh AZUREML_MODEL_DIR, runs init()."""
    counter = iter(range(1000))

    def start(**named: dict[str, Any]) -> ModuleType:
        model_dir = tmp_path / f"served-{next(counter)}"
        for name, model in named.items():
            write_model(model_dir / "model" / f"{name}.json", model)
        monkeypatch.setenv("AZUREML_MODEL_DIR", str(model_dir))
        score.init()
        return score

    return start


def _sample(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _close(got: list[float], expected: list[float]) -> bool:
    return len(got) == len(expected) and all(
        math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12) for g, e in zip(got, expected)
    )


def test_sample_round_trip(score: ModuleType) -> None:
    """This project's model/ folder answers sample_request.json with sample_response.json."""
    score.init()
    expected = json.loads(_sample("sample_response.json"))
    got = score.run(_sample("sample_request.json"))  # a plain dict on success, no server needed
    assert isinstance(got, dict) and set(got) == set(expected)
    assert _close(got["predictions"], expected["predictions"])
    assert got.get("model") == expected.get("model")
    if len(score.models) > 1:
        assert got["model"] in score.models


def test_every_model_sample_round_trips(score: ModuleType) -> None:
    """samples/<model>/ (one folder per model, when the project serves several) answer alike."""
    score.init()
    for folder in sorted(p for p in (ROOT / "samples").glob("*") if p.is_dir()):
        expected = json.loads((folder / "sample_response.json").read_text(encoding="utf-8"))
        got = score.run((folder / "sample_request.json").read_text(encoding="utf-8"))
        assert isinstance(got, dict) and got.get("model") == folder.name == expected["model"]
        assert _close(got["predictions"], expected["predictions"])


def test_every_shipped_model_answers(score: ModuleType) -> None:
    score.init()
    assert score.models
    for name in score.models:
        got = score.run(json.dumps({"model": name, "data": [ROW]}))
        assert isinstance(got, dict) and len(got["predictions"]) == 1


def test_one_row_and_records(serve: Callable[..., ModuleType]) -> None:
    score = serve(model=MODEL_A)
    name, rows = score.parse_input('{"data": [[1, 2, 3]]}')
    one = score.predict(name, rows)
    assert name == "model" and one == [5.5]
    records = [dict(zip(score.models[name]["features"], [1, 2, 3]))]
    assert score.predict(*score.parse_input(json.dumps({"data": records}))) == one


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
        '{"model": "other", "data": [[1, 2, 3]]}',
        '{"model": 1, "data": [[1, 2, 3]]}',
    ],
)
def test_bad_input_raises_value_error(serve: Callable[..., ModuleType], body: str) -> None:
    score = serve(model=MODEL_A)
    with pytest.raises(ValueError):
        score.parse_input(body)


def test_overflow_is_an_input_error(serve: Callable[..., ModuleType]) -> None:
    score = serve(model=MODEL_A)
    with pytest.raises(ValueError, match="too large"):
        score.predict(*score.parse_input('{"data": [[1e308, 0, 1e308]]}'))


def test_single_model_name_is_optional(serve: Callable[..., ModuleType]) -> None:
    score = serve(model=MODEL_A)
    assert score.run(json.dumps({"data": [ROW]})) == {"predictions": [5.5]}
    assert score.run(json.dumps({"model": "model", "data": [ROW]})) == {"predictions": [5.5]}


def test_multi_model_selection(serve: Callable[..., ModuleType]) -> None:
    score = serve(**{"model-a": MODEL_A, "model-b": MODEL_B})
    assert sorted(score.models) == ["model-a", "model-b"]
    for name, expected in (("model-a", [5.5]), ("model-b", [-2.5])):
        body = json.dumps({"model": name, "data": [ROW]})
        assert score.run(body) == {"model": name, "predictions": expected}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('{"data": [[1, 2, 3]]}', r"must choose a model.*\['model-a', 'model-b'\]"),
        ('{"model": null, "data": [[1, 2, 3]]}', r"must choose a model"),
        ('{"model": "model-c", "data": [[1, 2, 3]]}', r"unknown model \"model-c\".*'model-b'"),
        ('{"model": ["model-a"], "data": [[1, 2, 3]]}', r"unknown model"),
        ('{"model": "model-a"}', r'"model": "model-a", "data"'),
    ],
)
def test_multi_model_bad_choice(serve: Callable[..., ModuleType], body: str, match: str) -> None:
    score = serve(**{"model-a": MODEL_A, "model-b": MODEL_B})
    with pytest.raises(ValueError, match=match):
        score.parse_input(body)


def test_models_in_subfolders_are_found(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path / "deep" / "model" / "a" / "model-a.json", MODEL_A)
    write_model(tmp_path / "deep" / "model" / "b" / "x" / "model-b.json", MODEL_B)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "deep"))
    score.init()
    assert sorted(score.models) == ["model-a", "model-b"]


def test_duplicate_model_names_fail(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("a", "b"):
        write_model(tmp_path / "both" / folder / "model.json", MODEL_A)
    write_model(tmp_path / "both" / "a" / "other.json", MODEL_B)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "both"))
    with pytest.raises(RuntimeError, match=r"same name.*a/model\.json.*b/model\.json") as info:
        score.init()
    assert "MODEL_FILE" in str(info.value) and "other" not in str(info.value)


def test_invalid_model_file_fails(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path / "bad" / "model" / "model-a.json", MODEL_A)
    (tmp_path / "bad" / "model" / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "bad"))
    with pytest.raises(ValueError, match=r"notes\.json is not a valid linear model"):
        score.init()


def test_bad_input_gives_http_400(serve: Callable[..., ModuleType]) -> None:
    pytest.importorskip("azureml_inference_server_http")
    score = serve(model=MODEL_A)
    response = score.run('{"data": [[1, 2]]}')
    assert response.status_code == 400
    assert "error" in json.loads(response.get_data(as_text=True))
    score = serve(**{"model-a": MODEL_A, "model-b": MODEL_B})
    for body in ('{"data": [[1, 2, 3]]}', '{"model": "nope", "data": [[1, 2, 3]]}'):
        response = score.run(body)
        assert response.status_code == 400
        error = json.loads(response.get_data(as_text=True))["error"]
        assert "model-a" in error and "model-b" in error


def test_model_file_env(
    score: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "env"
    write_model(base / "model" / "model-a.json", MODEL_A)
    write_model(base / "model" / "model-b.json", MODEL_B)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(base))
    monkeypatch.setenv("MODEL_FILE", "model/model-b.json")  # relative to AZUREML_MODEL_DIR
    score.init()
    assert list(score.models) == ["model-b"]
    assert score.run(json.dumps({"data": [ROW]})) == {"predictions": [-2.5]}
    monkeypatch.setenv("MODEL_FILE", str(base / "model" / "model-a.json"))  # absolute
    score.init()
    assert list(score.models) == ["model-a"]
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
