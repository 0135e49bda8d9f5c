"""TF Serving model adapter: a SavedModel folder becomes the version folder `<name>/1/` (or a
folder of numbered versions is copied as it is).

The serving signature is read with TensorFlow, in a separate process so TensorFlow (large,
often in its own virtual environment) never loads into scaffold: the Python given with
--model-python, else the one named by SCAFFOLD_TF_PYTHON, else this one. Without TensorFlow
the model is still copied and the sample request is left to the user, with a note saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, model_dir, modelenv, remove

TF_PYTHON_ENV = "SCAFFOLD_TF_PYTHON"
SIGNATURE = "serving_default"
ROWS = 2


def _layout(path: Path) -> tuple[Path, bool]:
    """(folder, versioned): a SavedModel folder, or a folder of numbered SavedModels."""
    if path.is_file() and path.name == "saved_model.pb":
        path = path.parent
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return path, False
    versions = (
        sorted(
            (p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()),
            key=lambda p: int(p.name),
        )
        if path.is_dir()
        else []
    )
    if versions:
        return path, True
    raise UsageError(
        f"--model {path.name}: TF Serving projects take a SavedModel folder (with "
        "saved_model.pb) or a folder of numbered SavedModel versions"
    )


def prepare(model: ModelFile) -> Prepared:
    folder, versioned = _layout(model.path)
    newest = max(folder.iterdir(), key=lambda p: int(p.name)) if versioned else folder

    def finish(project: Path, answers: Mapping[str, Any], env: modelenv.ModelEnv) -> list[str]:
        target = model_dir(project, answers)
        if answers.get("model_in_image"):
            target = project / "docker-context" / "models" / target.name
        remove(project, target.relative_to(project).as_posix(), "model-src/make_model.py")
        env.place(folder, target if versioned else target / "1")
        notes: list[str] = []
        samples: dict[str, Any] | None = None
        if not model.inspect:
            notes.append(
                f"{folder.name} is larger than the inspection limit: its signature was not "
                "read; write sample_request.json and sample_response.json yourself"
            )
        elif env.mode == "none" and not env.python:
            notes.append("the serving signature was not read (--model-inspect none): write "
                         "sample_request.json and sample_response.json yourself")  # fmt: skip
        else:
            python = env.python or os.environ.get(TF_PYTHON_ENV) or sys.executable
            samples, why = _read_signature(newest, python)
            if samples is None:
                notes.append(
                    f"the serving signature was not read ({why}): write sample_request.json "
                    "and sample_response.json yourself, or pass --model-python with the "
                    "Python of an environment with TensorFlow"
                )
        for name in ("sample_request.json", "sample_response.json"):
            if samples is None:
                remove(project, name)
            else:
                text = json.dumps(samples[name]) + "\n"
                (project / name).write_text(text, encoding="utf-8")
        if samples is not None:
            notes.append(
                f"sample_request.json and sample_response.json come from {SIGNATURE} of the model"
            )
        return notes

    return Prepared(finish=finish)


def _read_signature(version: Path, python: str) -> tuple[dict[str, Any] | None, str]:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": package_root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = "from scaffold.usermodel.tfserving import main; main()"
    try:
        proc = subprocess.run(
            [python, "-c", code, str(version)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{python}: {error}"
    if proc.returncode == 3:
        return None, f"TensorFlow is not installed in {python}"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise UsageError(
            f"--model {version.name}: TensorFlow could not load the SavedModel "
            f"({lines[-1] if lines else 'exit ' + str(proc.returncode)})"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def _values(dtype: str, shape: list[int], row: int) -> Any:
    """A nested list of `shape` with simple values of `dtype`, different per row."""
    if not shape:
        if dtype == "string":
            return f"row{row}"
        if dtype == "bool":
            return row % 2 == 0
        return row + 1 if "int" in dtype else 1.5 * (row + 1)
    return [_values(dtype, shape[1:], row) for _ in range(max(shape[0], 1))]


def main() -> None:  # pragma: no cover - runs in the TensorFlow process
    """Print the sample request and response for the SavedModel in argv[1] as JSON."""
    try:
        import tensorflow as tf
    except ImportError:
        sys.exit(3)
    loaded = tf.saved_model.load(sys.argv[1])
    if SIGNATURE not in loaded.signatures:
        sys.exit(f"the SavedModel has no {SIGNATURE} signature (it has {list(loaded.signatures)})")
    signature = loaded.signatures[SIGNATURE]
    specs = signature.structured_input_signature[1]
    rows: list[dict[str, Any]] = [
        {
            name: _values(spec.dtype.name, [d or 1 for d in spec.shape.as_list()[1:]], row)
            for name, spec in specs.items()
        }
        for row in range(ROWS)
    ]
    feed = {
        name: tf.constant([row[name] for row in rows], dtype=spec.dtype)
        for name, spec in specs.items()
    }
    outputs = {name: value.numpy().tolist() for name, value in signature(**feed).items()}
    if len(specs) == 1:
        (name,) = specs
        instances: list[Any] = [row[name] for row in rows]
    else:
        instances = rows
    if len(outputs) == 1:
        (values,) = outputs.values()
        predictions: list[Any] = values
    else:
        predictions = [{k: v[i] for k, v in outputs.items()} for i in range(ROWS)]
    print(
        json.dumps(
            {
                "sample_request.json": {"instances": instances},
                "sample_response.json": {"predictions": predictions},
            }
        )
    )
