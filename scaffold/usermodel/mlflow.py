"""MLflow model adapter: an MLflow model folder (`MLmodel` with the python_function flavor).

The folder is copied into the project's model folder as is; the generated `src/score.py`
loads whatever it holds with `mlflow.pyfunc`, so no scoring code is written here.
`docker-context/requirements.txt` comes from the model's own `requirements.txt` (or the pip
section of its `conda.yaml`), with `mlflow-skinny` for `mlflow` (scoring needs no tracking
server), made installable where the model's environment recorded something PyPI cannot
serve: a local-version build gets the index that publishes it (`torch==2.13.0+cpu` ->
PyTorch's CPU index), a package for another platform gets a marker that keeps it off Linux.

The sample request comes from the model's saved input example, else from its signature. The
sample response is recorded by running the model where its libraries are (`modelenv`):
--model-python, scaffold's own environment only when it has every pinned library at the
model's version, else the project's image through the real server. Nothing of the model is
loaded into scaffold's own process (loading runs the model's pickled code).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from scaffold import requirements as pins
from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, add_system_packages, model_dir, modelenv, remove

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


def requirements_text(folder: Path, mlflow_version: str = "") -> tuple[str, list[str]]:
    """requirements.txt for the image, and notes on what was changed to make it install."""
    header = [
        "# Written by `scaffold new --model`: the MLflow model's own requirements",
        "# (model/requirements.txt or the pip section of model/conda.yaml), with mlflow-skinny",
        "# for mlflow. Keep them in step with the model when you replace it.",
    ]
    text = "\n".join(header + model_requirements(folder, mlflow_version)) + "\n"
    return pins.installable(text)


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


_SIGNATURE_VALUES: dict[str, Any] = {
    "double": 1.5, "float": 1.5, "integer": 1, "long": 1, "boolean": True,
    "string": "a", "datetime": "2024-01-01T00:00:00",
}  # fmt: skip


def signature_request(mlmodel: Mapping[str, Any]) -> dict[str, Any] | None:
    """A request built from the model's column signature (no input example saved)."""
    signature = mlmodel.get("signature")
    raw = signature.get("inputs") if isinstance(signature, dict) else None
    try:
        columns = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(columns, list) or not columns:
        return None
    if len(columns) == 1 and isinstance(columns[0], dict) and columns[0].get("type") == "tensor":
        return _tensor_request(columns[0].get("tensor-spec"))
    names: list[str] = []
    rows: list[list[Any]] = [[], []]
    for spec in columns:
        if not isinstance(spec, dict) or spec.get("type") not in _SIGNATURE_VALUES:
            return None  # several tensors and nested types: no safe guess
        names.append(str(spec.get("name", len(names))))
        value = _SIGNATURE_VALUES[spec["type"]]
        for r, row in enumerate(rows):
            row.append(value * (r + 1) if isinstance(value, (int, float)) and not
                       isinstance(value, bool) else value)  # fmt: skip
    if not all(isinstance(spec.get("name"), str) for spec in columns):
        return {"input_data": {"data": rows}}
    return {"input_data": {"columns": names, "data": rows}}


#: Tensor dtypes of MLflow signatures -> a sample value.
_TENSOR_VALUES: dict[str, Any] = {
    "float16": 0.5, "float32": 0.5, "float64": 0.5, "int8": 1, "int16": 1, "int32": 1,
    "int64": 1, "uint8": 1, "uint16": 1, "uint32": 1, "uint64": 1, "bool": True,
}  # fmt: skip


def _tensor_request(spec: Any) -> dict[str, Any] | None:
    """Rows for one numeric tensor of shape [-1, N] (mlflow's infer_signature on a 2-D numpy
    array): score.py reads them as a table of N unnamed columns."""
    if not isinstance(spec, dict):
        return None
    shape, value = spec.get("shape"), _TENSOR_VALUES.get(str(spec.get("dtype")))
    if value is None or not isinstance(shape, list) or len(shape) != 2 or shape[0] != -1:
        return None
    width = shape[1]
    if not isinstance(width, int) or not 0 < width <= 1000:
        return None
    if isinstance(value, bool):
        rows = [[(r + c) % 2 == 0 for c in range(width)] for r in range(2)]
    else:
        rows = [[value * (r + c + 1) for c in range(width)] for r in range(2)]
    return {"input_data": {"data": rows}}


def _here(folder: Path) -> bool:
    """scaffold's own environment has mlflow and every pinned library at the model's own
    version (then running the model here is running it as its image would)."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        return False
    for line in model_requirements(folder):
        req = pins.parse(line).requirements
        if not req or req[0].key in ("mlflow-skinny", "mlflow"):
            continue
        if req[0].pinned is None or modelenv.installed(req[0].name) != req[0].pinned:
            return False
    return True


def _record(
    folder: Path, project: Path, request: dict[str, Any], env: modelenv.ModelEnv
) -> tuple[Any, str]:
    """(predictions, how) or (None, why not)."""
    choice = env.choose(here=_here(folder), image=True)
    if choice in ("python", "here"):
        python = modelenv.interpreter(env, choice)
        request_file = project / ".scaffold-request.json"
        request_file.write_text(json.dumps(request), encoding="utf-8")
        try:
            ran = modelenv.run_inspector(
                python, "mlflow_model.py", [str(folder), str(request_file)]
            )
        except modelenv.InspectError as error:
            return None, f"the model could not be run ({error})"
        finally:
            request_file.unlink(missing_ok=True)
        return ran.get("predictions"), f"with mlflow {ran.get('mlflow')} in {python}"
    if choice == "image":
        recorded = modelenv.record_in_image(project, env, request)
        if recorded.response is None:
            return None, recorded.why
        return recorded.response.get("predictions"), "by the real server in the project's image"
    return None, "--model-inspect none" if env.mode == "none" else "Docker is not reachable"


def prepare(model: ModelFile) -> Prepared:
    folder = model.path
    mlmodel = read_mlmodel(folder)
    requirements, fixed = requirements_text(folder, str(mlmodel.get("mlflow_version") or ""))
    request = sample_request(folder, mlmodel) or signature_request(mlmodel)
    findings = pins.offline_findings(pins.parse(requirements), pins.Target(python="3.12"))
    warnings = [f"warning: {f.message} ({f.fix})" for f in findings]

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        target = model_dir(project, answers)
        remove(project, target.relative_to(project).as_posix(), *SAMPLE_FILES)
        env.place(folder, target)
        (project / "docker-context" / "requirements.txt").write_text(requirements, encoding="utf-8")
        system = add_system_packages(project, answers, requirements)
        notes = [
            f"{target.relative_to(project).as_posix()}/ holds the MLflow model {folder.name}; "
            "docker-context/requirements.txt lists its own requirements",
            *fixed,
            *warnings,
            *([system] if system else []),
        ]
        if request is None:
            remove(project, "sample_request.json", "sample_response.json")
            return [*notes, "sample_request.json and sample_response.json were not written (it "
                    "has neither an input example nor a column or 2-D tensor signature): write "
                    "them yourself for `scaffold run`'s smoke test"]  # fmt: skip
        (project / "sample_request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
        predictions, how = (None, "above the inspection limit SCAFFOLD_MODEL_INSPECT_LIMIT")
        if model.inspect:
            predictions, how = _record(target, project, request, env)
        if predictions is None:
            remove(project, "sample_response.json")
            return [*notes, f"sample_response.json was not recorded ({how}): write it yourself"]
        response = json.dumps({"predictions": predictions}) + "\n"
        (project / "sample_response.json").write_text(response, encoding="utf-8")
        return [*notes, f"sample_response.json was recorded {how}"]

    return Prepared(finish=finish)
