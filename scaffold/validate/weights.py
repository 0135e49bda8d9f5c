"""`scaffold validate`: the model's files are really here, not left behind by git.

`scaffold new` keeps model files above a size threshold out of git (`scaffold.largefiles`):
a fresh clone of the project lacks them, and `scaffold run` or `deploy` would mount or
upload an incomplete model. Files checked out by git without Git LFS are pointers of a few
hundred bytes instead of the weights. Both are errors here, with the fix.
"""

from __future__ import annotations

import os

from scaffold import largefiles
from scaffold.validate.model import Context

#: Files looked at in the model folder (a bound for huge folders).
MAX_FILES = 5000


def check_weights(ctx: Context) -> None:
    """Report model files kept out of git that are missing, and Git LFS pointers."""
    model = ctx.model
    for name in largefiles.listed(ctx.root):
        if not (ctx.root / name).exists():
            ctx.error(
                "model.weights.missing",
                name,
                "",
                f"{name} is not here: scaffold new kept it out of git (a large model file, "
                "listed in .gitignore), so a fresh clone does not have it",
                f"Copy the file back to {name} (from where the model came from), or deploy a "
                "registered model: model: azureml:NAME:VERSION in deployment.yml",
            )
    if model is None or model.local is None or not model.local.exists():
        return
    seen = 0
    paths = [model.local] if model.local.is_file() else []
    for root, dirs, files in os.walk(model.local) if model.local.is_dir() else ():
        dirs[:] = [d for d in dirs if d != ".git"]
        paths += [model.local.__class__(root, f) for f in files]
        seen += len(files)
        if seen > MAX_FILES:
            break
    for path in paths:
        if largefiles.is_lfs_pointer(path):
            rel = ctx.rel(path)
            ctx.error(
                "model.weights.lfs_pointer",
                rel,
                "",
                f"{rel} is a Git LFS pointer, not the model file (git checked it out without "
                "Git LFS)",
                "Install Git LFS and fetch the files: git lfs install && git lfs pull",
            )
