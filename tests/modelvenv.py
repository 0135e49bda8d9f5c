"""The Python environment a user made their models in, for the newcomer journeys.

It is deliberately not scaffold's: scikit-learn 1.6.1 (scaffold's dev environment has 1.9.1),
skl2onnx, skops (which scaffold's environment lacks) and mlflow-skinny. It is created once
per machine in the system temp folder, keyed by a hash of its package list, and reused
(like the stand-in images); a lock serialises concurrent sessions. `make_models()` runs
MAKE_MODELS in it and returns the models and what the user's own inputs should predict.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "standins"))
from build import TEST_CACHE  # type: ignore[import-not-found]

PACKAGES = [
    "scikit-learn==1.6.1",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pandas==3.1.1",
    "joblib==1.6.0",
    "skl2onnx==1.20.0",
    "onnx==1.23.2",
    "skops==0.16.0",
    "mlflow-skinny==3.17.2",
]

MAKE_MODELS = r"""
import json, pickle, sys
from pathlib import Path
import numpy as np
import pandas as pd
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = Path(sys.argv[1])
X, y = load_iris(return_X_y=True)
pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
with open(out / "pipe.pkl", "wb") as handle:
    pickle.dump(pipe, handle)
own = X[[10, 60, 120]].round(2)

from skl2onnx import to_onnx
onx = to_onnx(pipe, X[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
(out / "iris.onnx").write_bytes(onx.SerializeToString())

import mlflow.sklearn
frame = pd.DataFrame(X[:, :2], columns=["sepal_length", "sepal_width"])
reg = LinearRegression().fit(frame, X[:, 2])
mlflow.sklearn.save_model(  # default format: skops
    reg, str(out / "mlflow_model"), input_example=frame.head(2),
    extra_pip_requirements=["torch==2.13.0+cpu"],  # as a model saved where torch was
)
own_frame = pd.DataFrame(own[:, :2], columns=["sepal_length", "sepal_width"])
print(json.dumps({
    "sklearn": sklearn.__version__,
    "own_rows": own.tolist(),
    "pipe_predictions": pipe.predict(own).tolist(),
    "onnx_labels": pipe.predict(own.astype(np.float32)).tolist(),
    "onnx_probabilities": pipe.predict_proba(own.astype(np.float32)).round(5).tolist(),
    "mlflow_rows": own[:, :2].tolist(),
    "mlflow_predictions": reg.predict(own_frame).tolist(),
}))
"""


#: A second user's environment: gradient-boosting libraries (their scikit-learn wrappers and
#: native formats) with an older scikit-learn, for the minimal adapter's readers.
BOOSTER_PACKAGES = [
    "scikit-learn==1.5.2",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pandas==3.1.1",
    "joblib==1.6.0",
    "xgboost==3.2.0",
    "lightgbm==4.7.0",
    "catboost==1.2.10",
]

MAKE_BOOSTERS = r"""
import json, pickle, sys
from pathlib import Path
import joblib
import pandas as pd
from sklearn.datasets import load_iris

out = Path(sys.argv[1])
X, y = load_iris(return_X_y=True)
frame = pd.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
own = X[[10, 60, 120]]
found = {"own_rows": own.tolist(),
         "own_records": frame.iloc[[10, 60, 120]].to_dict(orient="records")}

import xgboost as xgb
clf = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
joblib.dump(clf, out / "xgb_clf.pkl")  # as the Azure ML tutorials save it
clf.save_model(out / "xgb_clf.json")
clf.get_booster().save_model(out / "xgb_booster.ubj")
found["xgb"] = clf.predict(own).tolist()
found["xgb_booster"] = clf.get_booster().predict(xgb.DMatrix(own)).tolist()
booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, label=y), 5)
booster.save_model(out / "0001.model")  # as XGBoost's own tutorial names it
found["xgb_train"] = booster.predict(xgb.DMatrix(own)).tolist()
reg = xgb.XGBRegressor(n_estimators=10).fit(frame.iloc[:, :3], frame.iloc[:, 3])
joblib.dump(reg, out / "xgb_reg_frame.joblib")

import lightgbm as lgb
lg = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, y)
with open(out / "lgbm_clf.pkl", "wb") as handle:
    pickle.dump(lg, handle)
lg.booster_.save_model(str(out / "lgbm_model.txt"))
with open(out / "lgbm_clf.dat", "wb") as handle:  # a pickle under a suffix of one's own
    pickle.dump(lg, handle)
found["lgbm"] = lg.predict(frame.iloc[[10, 60, 120]]).tolist()
found["lgbm_booster"] = lg.booster_.predict(frame.iloc[[10, 60, 120]]).tolist()

from catboost import CatBoostClassifier
cb = CatBoostClassifier(iterations=20, verbose=0, allow_writing_files=False).fit(X, y)
cb.save_model(str(out / "catboost_model.cbm"))
joblib.dump(cb, out / "catboost_clf.joblib")
found["catboost"] = cb.predict(own).tolist()
print(json.dumps(found))
"""


def _root(packages: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(packages).encode()).hexdigest()[:12]
    return TEST_CACHE / "venvs" / f"models-{digest}"


def python(packages: list[str] = PACKAGES) -> str:
    """The environment's interpreter, created on first use."""
    root = _root(packages)
    root.parent.mkdir(parents=True, exist_ok=True)
    with (root.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = root / ".ready"
        if not ready.is_file():
            shutil.rmtree(root, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
            subprocess.run(
                [str(root / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
                check=True,
                capture_output=True,
                timeout=900,
            )
            ready.write_text("\n".join(packages))
    return str(root / "bin" / "python")


def make_models(
    out: Path, script: str = MAKE_MODELS, packages: list[str] = PACKAGES
) -> dict[str, object]:
    """Make the journeys' models in `out` with the user's environment; returns the
    predictions that environment gives for the user's own rows."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [python(packages), "-c", script, str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
