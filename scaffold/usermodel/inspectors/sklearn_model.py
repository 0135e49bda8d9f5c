"""Run a pickled scikit-learn model on sample rows, in the model's own environment.

Written by scaffold (`scaffold new --model`) and run with the interpreter it was given: the
standard library plus the model's own libraries only. Prints one line, `SCAFFOLD-INSPECT
{json}`: the installed versions of the libraries the model's objects come from, the Python
version, the features, the predictions for the sample rows, and any warnings (such as
scikit-learn's InconsistentVersionWarning).

Usage: python sklearn_model.py MODEL_FILE joblib|pickle REQUEST_JSON_FILE|-
Exit 3 (module name on stderr) when a library is missing.
"""

import json
import pickle
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


def main():
    path, loader, request = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        import sklearn  # noqa: F401  (the model needs it to load)

        module = __import__("joblib") if loader == "joblib" else pickle
    except ImportError as error:
        sys.stderr.write((error.name or "scikit-learn") + "\n")
        sys.exit(3)
    caught = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        try:
            with open(path, "rb") as handle:
                model = module.load(handle)
        except ImportError as error:
            sys.stderr.write((error.name or str(error)) + "\n")
            sys.exit(3)
        caught += [
            str(w.message).split("\n")[0] for w in recorded if "Version" in type(w.message).__name__
        ]
    count = getattr(model, "n_features_in_", None)
    names = getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    if request != "-":
        with open(request, encoding="utf-8") as handle:
            rows = json.load(handle)["data"]
    elif isinstance(count, int):
        rows = [[round(0.5 * (r + c + 1), 1) for c in range(count)] for r in range(2)]
    else:
        rows = None
    predictions = None
    if rows is not None:
        data = rows
        if names is not None:
            import pandas

            records = [row if isinstance(row, dict) else dict(zip(names, row)) for row in rows]
            data = pandas.DataFrame.from_records(records, columns=names)
        predictions = model.predict(data).tolist()
    modules = modules_of(model) | {"sklearn", "numpy", "scipy", "joblib", "threadpoolctl"}
    if names is not None:
        modules.add("pandas")
    result = {
        "python": ".".join(str(p) for p in sys.version_info[:3]),
        "versions": versions_of(modules),
        "n_features": count if isinstance(count, int) else None,
        "feature_names": names,
        "rows": rows,
        "predictions": predictions,
        "warnings": caught,
    }
    print(MARKER + json.dumps(result))


if __name__ == "__main__":
    main()
