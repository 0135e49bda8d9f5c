"""The MLflow contract: the azmlinfsrv contract (port 5001, GET / and /score, score.py with
init()/run()) plus an MLflow model folder that mlflow.pyfunc can load."""

from __future__ import annotations

from scaffold import limits
from scaffold.validate.contracts import _azmlinfsrv
from scaffold.validate.model import Context


def check(ctx: Context) -> None:
    """azmlinfsrv's contract, and the model folder's MLmodel with a python_function flavor."""
    _azmlinfsrv.check(ctx)
    model = ctx.model
    if model is None or model.local is None or not model.local.is_dir():
        return
    found = ctx.find(model.local, "MLmodel")
    if not found:
        ctx.error(
            "mlflow.mlmodel.missing",
            ctx.deployment_file,
            "model.path",
            f"The model folder {ctx.rel(model.local)} has no MLmodel file: it is not an "
            "MLflow model, and score.py (mlflow.pyfunc.load_model) fails at startup",
            "Put the MLflow model folder (MLmodel, model files, requirements.txt) there, "
            "e.g. with mlflow.sklearn.save_model(model, 'model')",
        )
        return
    for path in found:
        try:
            parsed = limits.load_yaml_file(path)
        except (OSError, limits.InputRejected):
            parsed = None
        flavors = parsed.get("flavors") if isinstance(parsed, dict) else None
        if not isinstance(flavors, dict) or "python_function" not in flavors:
            ctx.error(
                "mlflow.mlmodel.pyfunc",
                ctx.rel(path),
                "flavors",
                f"{ctx.rel(path)} has no python_function flavor: mlflow.pyfunc cannot load it",
                "Save the model with an MLflow flavor that adds python_function "
                "(mlflow.sklearn, mlflow.pyfunc, ...)",
            )
