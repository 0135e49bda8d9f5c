"""Run a scikit-learn-compatible model on sample rows, in the model's own environment.

Written by scaffold (`scaffold new --model`) and run with the interpreter it was given, or
with the Python of the project's own image: the standard library plus the model's own
libraries only. Prints one line, `SCAFFOLD-INSPECT {json}`: the installed versions of the
libraries the model's objects come from, the Python version, the features, the predictions
for the sample rows, and any warnings (such as scikit-learn's InconsistentVersionWarning).

Usage: python sklearn_model.py MODEL_FILE KIND REQUEST_JSON_FILE|- [ESTIMATOR]
KIND: pickle, joblib, xgboost (ESTIMATOR: the wrapper class), xgboost-booster, lightgbm,
catboost (ESTIMATOR: CatBoostClassifier, CatBoostRegressor or CatBoost); loaded and called
the way the generated src/score.py does.
Exit 3 (module name on stderr) when a library is missing.
"""

import json
import pickle
import re
import sys
import warnings

MARKER = "SCAFFOLD-INSPECT "


def modules_of(root, limit=20000):
    seen, found, stack = set(), set(), [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.add(type(obj).__module__.split(".")[0])
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    return found


def versions_of(modules):
    from importlib import metadata

    distributions = metadata.packages_distributions()
    pins = {}
    for module in sorted(modules):
        for dist in distributions.get(module, []):
            try:
                pins[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return pins


def load(path, kind, estimator):
    if kind in ("pickle", "joblib"):
        import contextlib

        with contextlib.suppress(ImportError):  # most pickles need it; a missing one is named
            import sklearn  # noqa: F401
        if kind == "joblib":
            import joblib

            return joblib.load(path)
        with open(path, "rb") as handle:
            return pickle.load(handle)
    if kind == "xgboost":
        import xgboost

        model = getattr(xgboost, estimator)()
        model.load_model(path)
        return model
    if kind == "xgboost-booster":
        import xgboost

        return xgboost.Booster(model_file=path)
    if kind == "lightgbm":
        import lightgbm

        return lightgbm.Booster(model_file=path)
    if kind == "catboost":
        import catboost

        model = getattr(catboost, estimator or "CatBoost")()
        model.load_model(path)
        return model
    raise SystemExit(f"unknown model kind {kind}")


def _generic(names):
    return all(re.fullmatch(r"(Column_|f)?\d+", str(name)) for name in names)


def features(model):
    """(number of input features, column names or None), as far as the model tells."""
    count = getattr(model, "n_features_in_", None)
    count = count if isinstance(count, int) and count > 0 else None  # CatBoost says 0
    names = getattr(model, "feature_names_in_", None)
    for method in ("num_features", "num_feature"):  # XGBoost / LightGBM Boosters
        if not isinstance(count, int) and callable(getattr(model, method, None)):
            count = getattr(model, method)()
    if names is None:
        found = getattr(model, "feature_names", None)  # XGBoost Booster
        if callable(getattr(model, "feature_name", None)):  # LightGBM Booster
            found = model.feature_name()
        if found is None and hasattr(model, "feature_names_"):  # CatBoost
            found = model.feature_names_
        names = found if found and not _generic(found) else None
        if found and count is None:
            count = len(found)
    if count is None and names is None:  # a class of one's own wrapping a fitted estimator
        for value in vars(model).values() if hasattr(model, "__dict__") else ():
            if getattr(value, "n_features_in_", None):
                return features(value)
    names = [str(n) for n in names] if names is not None else None
    return (count if isinstance(count, int) and count > 0 else None), names


def predict(model, kind, rows, names):
    data = rows
    if names is not None:
        import pandas

        records = [row if isinstance(row, dict) else dict(zip(names, row)) for row in rows]
        data = pandas.DataFrame.from_records(records, columns=names)
    elif kind in ("xgboost", "xgboost-booster", "lightgbm"):
        import numpy

        data = numpy.asarray(rows, dtype=float)
    if kind == "xgboost-booster":
        import xgboost

        data = xgboost.DMatrix(data)
    predictions = model.predict(data)
    return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)


def main():
    path, kind, request = sys.argv[1], sys.argv[2], sys.argv[3]
    estimator = sys.argv[4] if len(sys.argv) > 4 else ""
    caught = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        try:
            model = load(path, kind, estimator)
        except ImportError as error:
            sys.stderr.write((error.name or str(error)) + "\n")
            sys.exit(3)
        caught += [
            str(w.message).split("\n")[0] for w in recorded if "Version" in type(w.message).__name__
        ]
    count, names = features(model)
    if request != "-":
        with open(request, encoding="utf-8") as handle:
            rows = json.load(handle)["data"]
    elif isinstance(count, int):
        rows = [[round(0.5 * (r + c + 1), 1) for c in range(count)] for r in range(2)]
    else:
        rows = None
    predictions = predict(model, kind, rows, names) if rows is not None else None
    modules = modules_of(model) | {"sklearn", "numpy", "scipy", "joblib", "threadpoolctl"}
    if names is not None:
        modules.add("pandas")
    result = {
        "python": ".".join(str(p) for p in sys.version_info[:3]),
        "versions": versions_of(modules),
        "n_features": count,
        "feature_names": names,
        "rows": rows,
        "predictions": predictions,
        "warnings": caught,
    }
    print(MARKER + json.dumps(result))


if __name__ == "__main__":
    main()
