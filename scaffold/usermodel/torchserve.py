"""TorchServe model adapter: a model archive (.mar) is served as it is, as model/<name>.mar.

Only the archive's manifest is read (zipfile reads the central directory and that one entry,
never the whole archive). The served name defaults to the manifest's modelName; TorchServe
serves the archive under the name given in TORCHSERVE_MODELS, whatever the manifest says.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, remove

MANIFEST = "MAR-INF/MANIFEST.json"
SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    if path.is_dir() or path.suffix.lower() != ".mar":
        raise UsageError(
            f"--model {path.name}: TorchServe projects take a model archive (.mar); build one "
            "with torch-model-archiver"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise UsageError(
            f"--model {path.name}: not a TorchServe model archive (no readable {MANIFEST}: {error})"
        ) from None
    name = str(manifest.get("model", {}).get("modelName", ""))
    defaults = {"served_model_name": name} if SAFE_NAME.fullmatch(name) else {}

    def finish(project: Path, answers: Mapping[str, Any]) -> list[str]:
        folder = model_dir(project, answers)
        served = str(answers["served_model_name"])
        remove(project, folder.relative_to(project).as_posix(), "model-src")
        remove(project, "sample_request.json", "sample_response.json")
        copy_model(path, folder / f"{served}.mar")
        return [
            f"model/{served}.mar is {path.name} as it is; write sample_request.json and "
            "sample_response.json for it. Readiness GETs /predictions/"
            f"{served} with an empty body: the handler must answer it with 200 once loaded "
            "(see README.md, Readiness)"
        ]

    return Prepared(defaults=defaults, finish=finish)
