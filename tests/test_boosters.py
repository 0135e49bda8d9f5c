"""XGBoost, LightGBM and CatBoost models as users save them (native files and pickled
scikit-learn wrappers), read without their libraries and configured into minimal projects.

The models are made in a user's own environment (`modelvenv.BOOSTER_PACKAGES`: the three
libraries with scikit-learn 1.5.2); scaffold's environment has none of the three.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import new_and_run_green
from scaffold.generate import new_project
from scaffold.usermodel import boosters
from scaffold.usermodel.minimal import read_model
from scaffold.validate import validate_project

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modelvenv

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("booster-models")
    found = modelvenv.make_models(folder, modelvenv.MAKE_BOOSTERS, modelvenv.BOOSTER_PACKAGES)
    return folder, found


def test_scaffolds_environment_has_none_of_the_libraries() -> None:
    """What the readers prove holds only while none of the three is installed here."""
    assert [m for m in ("xgboost", "lightgbm", "catboost") if importlib.util.find_spec(m)] == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("xgb_clf.json", boosters.BoosterInfo("xgboost", "3.2.0", 4, None, "XGBClassifier")),
        ("xgb_booster.ubj", boosters.BoosterInfo("xgboost", "3.2.0", 4, None, None)),
        (
            "lgbm_model.txt",
            boosters.BoosterInfo("lightgbm", None, 4, IRIS),
        ),
        (
            "catboost_model.cbm",
            boosters.BoosterInfo("catboost", "1.2.10", None, None, "CatBoostClassifier"),
        ),
    ],
)
def test_native_files_are_read_without_their_libraries(
    made: tuple[Path, dict[str, Any]], name: str, expected: boosters.BoosterInfo
) -> None:
    assert boosters.read_file(made[0] / name) == expected


def test_files_above_the_read_limit_are_told_apart_by_their_first_bytes(
    made: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boosters, "READ_LIMIT", 1000)
    assert boosters.read_file(made[0] / "xgb_clf.json") == boosters.BoosterInfo("xgboost")
    assert boosters.read_file(made[0] / "catboost_model.cbm") == boosters.BoosterInfo("catboost")
    lightgbm = boosters.read_file(made[0] / "lgbm_model.txt")
    assert lightgbm is not None and lightgbm.feature_names == IRIS  # its header comes first


def test_not_a_booster_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"learning_rate": 0.1}')
    (tmp_path / "notes.txt").write_text("trained on 2026-12-01\n")
    assert boosters.read_file(tmp_path / "config.json") is None
    assert boosters.read_file(tmp_path / "notes.txt") is None
    with pytest.raises(boosters.BoosterError):
        boosters.parse_catboost(b"CBM0 not a model")


@pytest.mark.parametrize(
    ("name", "versions", "features", "names"),
    [
        ("xgb_clf.pkl", {"xgboost": "3.2.0"}, 4, None),
        ("xgb_reg_frame.joblib", {"xgboost": "3.2.0"}, 3, IRIS[:3]),
        ("lgbm_clf.pkl", {}, 4, IRIS),
        ("catboost_clf.joblib", {"catboost": "1.2.10"}, None, None),
    ],
)
def test_pickled_wrappers_are_read_from_the_format_they_hold(
    made: tuple[Path, dict[str, Any]],
    name: str,
    versions: dict[str, str],
    features: int | None,
    names: list[str] | None,
) -> None:
    """The scikit-learn wrappers pickle the library's own model (XGBoost's UBJSON, LightGBM's
    text model, CatBoost's .cbm): its version and features are read from there."""
    info = read_model(made[0] / name, "pickle", inspect=True)
    assert info.versions == versions
    assert (info.n_features, info.feature_names) == (features, names)


def _project(made: tuple[Path, dict[str, Any]], tmp_path: Path, name: str) -> Path:
    result = new_project(
        tmp_path / name.replace(".", "-"),
        {"server": "minimal"},
        model=str(made[0] / name),
        model_python=modelvenv.python(modelvenv.BOOSTER_PACKAGES),
    )
    assert validate_project(result.path, schema=False).errors == []
    return result.path


@pytest.mark.parametrize(
    ("name", "pins", "expected"),
    [
        ("xgb_clf.pkl", ["xgboost==3.2.0", "scikit-learn==1.5.2"], "xgb"),
        ("xgb_clf.json", ["xgboost==3.2.0", "scikit-learn==1.5.2"], "xgb"),
        ("xgb_booster.ubj", ["xgboost==3.2.0"], "xgb_booster"),
        ("0001.model", ["xgboost==3.2.0"], "xgb_train"),
        ("lgbm_clf.dat", ["lightgbm==4.7.0", "scikit-learn==1.5.2"], "lgbm"),
        ("lgbm_clf.pkl", ["lightgbm==4.7.0", "scikit-learn==1.5.2", "pandas==3.1.1"], "lgbm"),
        ("lgbm_model.txt", ["lightgbm==4.7.0", "pandas==3.1.1"], "lgbm_booster"),
        ("catboost_model.cbm", ["catboost==1.2.10"], "catboost"),
        ("catboost_clf.joblib", ["catboost==1.2.10", "joblib==1.6.0"], "catboost"),
    ],
)
def test_each_format_becomes_a_project_scoring_like_the_users_library(
    made: tuple[Path, dict[str, Any]], tmp_path: Path, name: str, pins: list[str], expected: str
) -> None:
    """Pinned to the user's versions; src/score.py, run on the user's own rows in the user's
    environment, predicts what the library itself predicted."""
    import subprocess

    project = _project(made, tmp_path, name)
    requirements = (project / "docker-context" / "requirements.txt").read_text().splitlines()
    assert set(pins) <= set(requirements)
    if name.endswith((".ubj", ".model", ".txt", ".cbm")):  # native Boosters: no wrapper
        assert not [line for line in requirements if line.startswith("scikit-learn")]
    request = json.loads((project / "sample_request.json").read_text())["data"]
    own = made[1]["own_records"] if isinstance(request[0], dict) else made[1]["own_rows"]
    script = (
        "import json, os, sys\n"
        "sys.path.insert(0, 'src')\n"
        "os.environ['AZUREML_MODEL_DIR'] = 'model'\n"
        "import score\n"
        "score.init()\n"
        "print(json.dumps(score.run(sys.argv[1])))\n"
    )
    ran = subprocess.run(
        [modelvenv.python(modelvenv.BOOSTER_PACKAGES), "-c", script, json.dumps({"data": own})],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    predictions = json.loads(ran.stdout.strip().splitlines()[-1])["predictions"]
    assert _flat(predictions) == pytest.approx(_flat(made[1][expected]))


def _flat(values: Any) -> list[Any]:
    return [v for row in values for v in _flat(row)] if isinstance(values, list) else [values]


def test_lightgbm_gets_its_openmp_runtime_installed_as_root(
    made: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    project = _project(made, tmp_path, "lgbm_model.txt")
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    install = dockerfile.index("libgomp1")
    root = dockerfile.rindex("USER root", 0, install)
    assert root < install < dockerfile.index("USER dockeruser")
    assert install < dockerfile.index("COPY requirements.txt")


@pytest.mark.docker
@pytest.mark.parametrize("name", ["lgbm_model.txt", "catboost_model.cbm"])
def test_native_models_are_green_in_docker_with_zero_flags(
    made: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    """No --model-python and none of the libraries here: LightGBM's width is read from the
    file (and libgomp1 installed), CatBoost's is asked of the model in the project's own
    image; the sample response is recorded by the real server, then `run` is green."""
    new_and_run_green("minimal", standin("minimal"), tmp_path / "ep", capsys,
                      "--model", str(made[0] / name))  # fmt: skip
