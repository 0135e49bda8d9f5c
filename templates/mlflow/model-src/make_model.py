"""Re-create the sample MLflow model in model/ (run from the project root).

    pip install mlflow-skinny scikit-learn pandas
    python model-src/make_model.py

The sample is a scikit-learn LinearRegression fitted exactly on y = 1 + 2a - b, saved with
mlflow.sklearn as an MLflow model folder: MLmodel (with the python_function flavor that
src/score.py loads through mlflow.pyfunc), model.pkl, requirements.txt and conda.yaml (the
versions it was saved with) and an input example. After re-creating it, make
docker-context/requirements.txt match model/requirements.txt (mlflow-skinny in place of mlflow).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LinearRegression

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "model"
    features = pd.DataFrame([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 3.0]], columns=["a", "b"])
    model = LinearRegression().fit(features, 1.0 + 2.0 * features["a"] - features["b"])
    if target.exists():
        shutil.rmtree(target)
    # cloudpickle: mlflow's default (skops) needs the skops package in the image too.
    mlflow.sklearn.save_model(
        model,
        str(target),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        input_example=features.iloc[:2],
    )
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
