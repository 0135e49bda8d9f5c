"""Score an MLflow model folder on a sample request, in the interpreter scaffold was given,
the way the generated src/score.py does (mlflow.pyfunc, the signature's types).

Usage: python mlflow_model.py MODEL_FOLDER REQUEST_JSON_FILE
REQUEST_JSON_FILE: {"input_data": {"columns": [...], "data": [[...]]}} (split orient) or
{"dataframe_records": [...]}.
Prints `SCAFFOLD-INSPECT {"mlflow": version, "predictions": ...}`.
Exit 3 (module name on stderr) when mlflow or a library the model needs is missing.
"""

import json
import sys

MARKER = "SCAFFOLD-INSPECT "


def jsonable(predictions):
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    return predictions


def main():
    try:
        import mlflow
        import mlflow.pyfunc
        from mlflow.utils.proto_json_utils import dataframe_from_parsed_json
    except ImportError as error:
        sys.stderr.write((error.name or "mlflow") + "\n")
        sys.exit(3)
    with open(sys.argv[2], encoding="utf-8") as handle:
        body = json.load(handle)
    try:
        model = mlflow.pyfunc.load_model(sys.argv[1])
    except ImportError as error:
        sys.stderr.write((error.name or str(error)) + "\n")
        sys.exit(3)
    key = next(iter(body))
    orient = "records" if key == "dataframe_records" else "split"
    frame = dataframe_from_parsed_json(
        body[key], pandas_orient=orient, schema=model.metadata.get_input_schema()
    )
    predictions = jsonable(model.predict(frame))
    print(MARKER + json.dumps({"mlflow": mlflow.__version__, "predictions": predictions}))


if __name__ == "__main__":
    main()
