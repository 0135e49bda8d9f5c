"""Plumber model adapter: an R model saved with saveRDS() (`.rds`) or a carrier crate
(`crate.bin`) is copied into model/, where src/plumber.R finds and serves either.

Only the first bytes are read (to recognise an RDS stream); R is not needed here, so the
sample request is left to the user. The R packages the model needs are the `r_packages`
question (`--r-packages "[pkg, ...]"`), installed into the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, copy_model, model_dir, remove

#: Leading bytes of an RDS stream: gzip, bzip2, xz (saveRDS compressions) or uncompressed.
RDS_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"X\n", b"A\n", b"B\n")


def prepare(model: ModelFile) -> Prepared:
    path = model.path
    if path.is_dir() or not (path.suffix.lower() == ".rds" or path.name == "crate.bin"):
        raise UsageError(
            f"--model {path.name}: plumber projects take an R model saved with saveRDS() "
            "(.rds) or a carrier crate saved as crate.bin"
        )
    with path.open("rb") as handle:
        head = handle.read(6)
    if not head.startswith(RDS_MAGIC):
        raise UsageError(f"--model {path.name}: not an R serialization (saveRDS) file")

    def finish(project: Path, answers: Mapping[str, Any]) -> list[str]:
        folder = model_dir(project, answers)
        remove(project, folder.relative_to(project).as_posix(), "model-src/make_model.R")
        remove(project, "sample_request.json", "sample_response.json")
        copy_model(path, folder / path.name)
        packages = answers.get("r_packages") or []
        return [
            f"model/{path.name} is served by src/plumber.R (predict(model, newdata) or the "
            "crate); write sample_request.json and sample_response.json for it. R packages "
            f'installed for it: {packages or "none"} (--r-packages "[pkg, ...]")'
        ]

    return Prepared(finish=finish)


def several_file_name(source: Path, name: str) -> str:
    """A model among several is `<name>.rds` in model/ (a crate.bin is an RDS stream too), so
    src/plumber.R serves it as `name`."""
    del source
    return f"{name}.rds"
