"""MLflow model adapter: an MLflow model folder (`MLmodel` with the python_function flavor).

The folder is copied into the project's model folder as is; the generated `src/score.py`
loads whatever it holds with `mlflow.pyfunc`, so no scoring code is written here.
`docker-context/requirements.txt` comes from the model's own `requirements.txt` (or the pip
section of its `conda.yaml`), with `mlflow-skinny` for `mlflow` (scoring needs no tracking
server). The sample request comes from the model's saved input example; the sample response
is recorded by running the model with mlflow.pyfunc, only when mlflow is installed here and
the model is within the inspection limit (loading runs the model's pickled code: use models
you trust).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, remove

#: Sample files of the template that the user's model replaces.
SAMPLE_FILES = ("model-src/make_model.py",)
#: MLmodel files are small; a bigger one is not an MLmodel.
MLMODEL_LIMIT = 1 << 20
#: The base image provides the inference server; a model must not reinstall it.
PROVIDED = {"azureml-inference-server-http"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$")


def _line(error: BaseException) -> str:
    """An exception's message on one line (YAML and MLflow errors span several)."""
    return " ".join(str(error).split())[:300]


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The parsed MLmodel file of `folder`; UsageError when missing, unreadable or without
    the python_function flavor."""
    mlmodel = folder / "MLmodel"
    if not folder.is_dir() or not mlmodel.is_file():
        raise UsageError(
            f"--model {folder.name}: an MLflow model is a folder with an MLmodel file "
            "(written by mlflow.<flavor>.save_model); none found"
        )
    if mlmodel.stat().st_size > MLMODEL_LIMIT:
        raise UsageError(f"--model {folder.name}: MLmodel is larger than 1 MiB; not an MLmodel")
    try:
        parsed = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UsageError(
            f"--model {folder.name}: MLmodel is not readable YAML ({_line(error)})"
        ) from None
    flavors = parsed.get("flavors") if isinstance(parsed, dict) else None
    if not isinstance(flavors, dict) or "python_function" not in flavors:
        found = ", ".join(sorted(flavors)) if isinstance(flavors, dict) and flavors else "none"
        raise UsageError(
            f"--model {folder.name}: MLmodel has no python_function flavor (flavors: {found}), "
            "so mlflow.pyfunc cannot load it; save it with a flavor that adds one"
        )
    assert isinstance(parsed, dict)
    return parsed


def model_requirements(folder: Path, mlflow_version: str = "") -> list[str]:
    """The pip requirements the model was saved with: requirements.txt, else the pip section
    of conda.yaml; `mlflow` becomes `mlflow-skinny` and the inference server is left out."""
    lines: list[str] = []
    requirements = folder / "requirements.txt"
    conda = folder / "conda.yaml"
    if requirements.is_file():
        lines = requirements.read_text(encoding="utf-8").splitlines()
    elif conda.is_file():
        try:
            env = yaml.safe_load(conda.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as error:
            raise UsageError(
                f"--model {folder.name}: conda.yaml is not readable ({_line(error)})"
            ) from None
        deps = env.get("dependencies") if isinstance(env, dict) else None
        for dep in deps if isinstance(deps, list) else []:
            if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
                lines.extend(str(item) for item in dep["pip"])
    if not any(line.strip() for line in lines):
        raise UsageError(
            f"--model {folder.name}: the model folder has neither requirements.txt nor a pip "
            "section in conda.yaml; save it with mlflow, which writes them"
        )
    out: list[str] = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        match = _NAME.match(text)
        if not text or text.startswith("-") or match is None:
            continue
        name, rest = match.group(1), match.group(2)
        key = name.lower().replace("_", "-")
        if key in PROVIDED:
            continue
        if key == "mlflow":
            name = "mlflow-skinny"
        out.append(name + rest)
    if not any(entry.lower().startswith("mlflow") for entry in out):
        out.insert(0, f"mlflow-skinny=={mlflow_version}" if mlflow_version else "mlflow-skinny")
    return out


def requirements_text(folder: Path, mlflow_version: str = "") -> str:
    header = [
        "# Written by `scaffold new --model`: the MLflow model's own requirements",
        "# (model/requirements.txt or the pip section of model/conda.yaml), with mlflow-skinny",
        "# for mlflow. Keep them in step with the model when you replace it.",
    ]
    return "\n".join(header + model_requirements(folder, mlflow_version)) + "\n"


def sample_request(folder: Path, mlmodel: Mapping[str, Any]) -> dict[str, Any] | None:
    """A request body from the model's saved input example, or None without one."""
    info = mlmodel.get("saved_input_example_info")
    if not isinstance(info, dict):
        return None
    serving = folder / str(info.get("serving_input_path") or "serving_input_example.json")
    example = folder / str(info.get("artifact_path") or "input_example.json")
    try:
        if serving.is_file():
            body = json.loads(serving.read_text(encoding="utf-8"))
            split = body.get("dataframe_split") if isinstance(body, dict) else None
            return {"input_data": split} if isinstance(split, dict) else body
        if example.is_file() and info.get("pandas_orient") == "split":
            return {"input_data": json.loads(example.read_text(encoding="utf-8"))}
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return None


def _predictions(folder: Path, request: Mapping[str, Any]) -> Any:
    """Run the model on the sample request with mlflow.pyfunc (None when mlflow is missing)."""
    try:
        import mlflow.pyfunc
        from mlflow.utils import proto_json_utils
    except ImportError:
        return None
    try:
        loaded = mlflow.pyfunc.load_model(str(folder))
        table = next(iter(request.values()))
        parse: Any = proto_json_utils.dataframe_from_parsed_json  # untyped in mlflow
        frame = parse(table, pandas_orient="split", schema=loaded.metadata.get_input_schema())
        predictions = loaded.predict(frame)
    except Exception as error:  # whatever the model raises, it cannot score here
        raise UsageError(
            f"--model {folder.name}: mlflow.pyfunc could not score its input example "
            f"({_line(error)})"
        ) from None
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    return predictions.tolist() if hasattr(predictions, "tolist") else predictions


def prepare(model: ModelFile) -> Prepared:
    folder = model.path
    mlmodel = read_mlmodel(folder)
    requirements = requirements_text(folder, str(mlmodel.get("mlflow_version") or ""))
    request = sample_request(folder, mlmodel)
    predictions = _predictions(folder, request) if request and model.inspect else None
    files = {"docker-context/requirements.txt": requirements}
    notes: list[str] = []
    if request is not None and predictions is not None:
        files["sample_request.json"] = json.dumps(request) + "\n"
        files["sample_response.json"] = json.dumps({"predictions": predictions}) + "\n"
    else:
        why = (
            "it has no saved input example"
            if request is None
            else "it is above the inspection limit SCAFFOLD_MODEL_INSPECT_LIMIT"
            if not model.inspect
            else "mlflow is not installed here: pip install 'aml-scaffold[models]'"
        )
        notes.append(
            f"sample_request.json and sample_response.json were not written ({why}): "
            "write them yourself for `scaffold run`'s smoke test"
        )

    def finish(project: Path, answers: Mapping[str, Any], env: Any = None) -> list[str]:
        target = model_dir(project, answers)
        unwritten = () if "sample_request.json" in files else ("sample_request.json",)
        remove(project, target.relative_to(project).as_posix(), *SAMPLE_FILES)
        remove(project, *unwritten, *(("sample_response.json",) if unwritten else ()))
        copy_model(folder, target)
        for name, text in files.items():
            (project / name).write_text(text, encoding="utf-8")
        return [
            f"{target.relative_to(project).as_posix()}/ holds the MLflow model {folder.name}; "
            "docker-context/requirements.txt lists its own requirements",
            *notes,
        ]

    return Prepared(finish=finish)
