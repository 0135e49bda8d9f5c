"""Model weights above a size threshold never enter a generated project's git history.

GitHub refuses files over 100 MB (and warns from 50 MB), and committing a 1 GB model doubles
the project on disk and takes seconds per gigabyte. `scaffold new` keeps every file of at
least `threshold()` bytes (SCAFFOLD_LARGE_FILE_BYTES, default 50 MiB) out of git objects:

- `ignore` (the default): listed in `.gitignore`, in a block scaffold marks. The project
  folder keeps the file, so `scaffold run` and `scaffold deploy` use it; a fresh clone does
  not have it (`scaffold validate` says so, and which file is missing). Generating costs
  one copy of the model, nothing more.
- `lfs` (`--large-files lfs` or SCAFFOLD_LARGE_FILES=lfs, needs `git lfs`): tracked with Git
  LFS in `.gitattributes`; the commit holds a small pointer and `git push` sends the file to
  the LFS server. Not the default: Git LFS keeps a second copy under `.git/lfs` (its clean
  filter hashes and copies the file: about 10 s per GB measured here, against 0.5 s for the
  copy itself), and LFS storage on a git host is metered.

azure-ai-ml reads `.amlignore` (else `.gitignore`) at the root of each folder it uploads
(the model's `path`, the code, the build context) and no ignore file above it: the
project's own `.gitignore` never drops a model file from an upload. So that an ignore file
which later appears in the model folder cannot either, an `.amlignore` that excludes only
itself is written into the model folder holding such files: it takes precedence over any
`.gitignore` there.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from scaffold.errors import UsageError

THRESHOLD_ENV = "SCAFFOLD_LARGE_FILE_BYTES"
DEFAULT_THRESHOLD = 50 * 1024 * 1024
MODES = ("ignore", "lfs")
MODE_ENV = "SCAFFOLD_LARGE_FILES"
BEGIN = "# scaffold: model files kept out of git (at least {size}); they stay in this folder"
END = "# scaffold: end of model files kept out of git"
AMLIGNORE = ".amlignore"
AMLIGNORE_TEXT = """\
# Written by scaffold: azure-ai-ml reads this file (before any .gitignore) when it uploads
# this folder as the model. It excludes only itself, so every model file is uploaded, also
# the large ones the project's .gitignore keeps out of git.
/.amlignore
"""
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


def threshold() -> int:
    """Size (bytes) from which a file is kept out of git."""
    raw = os.environ.get(THRESHOLD_ENV, "").strip()
    if not raw:
        return DEFAULT_THRESHOLD
    if not raw.isdigit():
        raise UsageError(f"{THRESHOLD_ENV}={raw!r} is not a number of bytes; unset or fix it")
    return int(raw)


def human(size: int) -> str:
    """A size for people: 1.0 GB, 52.4 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def find_large(project: Path, limit: int | None = None) -> list[tuple[str, int]]:
    """(project-relative path, size) of every file of at least `limit` bytes, .git aside."""
    limit = threshold() if limit is None else limit
    found = []
    for root, dirs, files in os.walk(project):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = Path(root, name)
            try:
                size = path.lstat().st_size
            except OSError:
                continue
            if size >= limit and not path.is_symlink():
                found.append((path.relative_to(project).as_posix(), size))
    return sorted(found)


def lfs_available() -> bool:
    """Whether `git lfs` is installed."""
    if shutil.which("git") is None:
        return False
    try:
        proc = subprocess.run(
            ["git", "lfs", "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def resolve_mode(mode: str | None) -> str:
    """ "lfs" or "ignore": `mode`, else SCAFFOLD_LARGE_FILES, else "ignore"."""
    mode = mode or os.environ.get(MODE_ENV, "").strip().lower() or "ignore"
    if mode not in MODES:
        raise UsageError(f"--large-files {mode}: choose one of {', '.join(MODES)}")
    if mode == "lfs" and not lfs_available():
        raise UsageError(
            "--large-files lfs needs Git LFS: install it (e.g. apt-get install git-lfs, "
            "brew install git-lfs) or pass --large-files ignore"
        )
    return mode


def keep_out(
    project: Path, files: list[tuple[str, int]], mode: str, upload_roots: list[Path]
) -> list[str]:
    """Write what keeps `files` out of git objects (`.gitignore` block or Git LFS
    attributes) and the `.amlignore` of the upload roots holding them; returns notes."""
    limit = threshold()
    patterns = ["/" + _escape(name) for name, _ in files]
    if mode == "lfs":
        lines = [f"{p} filter=lfs diff=lfs merge=lfs -text" for p in patterns]
        _append(project / ".gitattributes", lines, limit)
    else:
        _append(project / ".gitignore", patterns, limit)
    for root in upload_roots:
        if any((project / name).is_relative_to(root) for name, _ in files) and root.is_dir():
            (root / AMLIGNORE).write_text(AMLIGNORE_TEXT, encoding="utf-8")
    shown = ", ".join(f"{name} ({human(size)})" for name, size in files[:3])
    more = f" and {len(files) - 3} more" if len(files) > 3 else ""
    if mode == "lfs":
        return [
            f"{shown}{more}: tracked with Git LFS (at least {human(limit)}), so git keeps a "
            "pointer and `git push` sends the file to your LFS server"
        ]
    lfs = " (or version it with Git LFS: --large-files lfs)" if lfs_available() else ""
    return [
        f"{shown}{more}: kept out of git (at least {human(limit)}; listed in .gitignore)"
        f"{lfs}. `scaffold run` and `scaffold deploy` use the files in this folder; a clone "
        "will not have them: keep a copy, or register the model and deploy --model "
        "azureml:NAME:VERSION"
    ]


def _escape(name: str) -> str:
    """A path as a literal .gitignore/.gitattributes pattern."""
    out = []
    for char in name:
        if char in "*?[]\\!# ":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _append(path: Path, lines: list[str], limit: int) -> None:
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = [BEGIN.format(size=human(limit)), *lines, END]
    separator = "" if not existing or existing.endswith("\n") else "\n"
    path.write_text(existing + separator + "\n".join(block) + "\n", encoding="utf-8")


def install_lfs(repo: Path) -> None:
    """`git lfs install --local`: the repository's own filter configuration."""
    from scaffold.gitutil import git

    git("lfs", "install", "--local", cwd=repo)


def listed(project: Path) -> list[str]:
    """Project-relative paths scaffold kept out of git (its .gitignore block)."""
    path = project / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    found, inside = [], False
    for line in text.splitlines():
        if line.startswith(BEGIN.split("(")[0]):
            inside = True
        elif line == END:
            inside = False
        elif inside and line.startswith("/"):
            found.append(_unescape(line[1:]))
    return found


def _unescape(pattern: str) -> str:
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


def is_lfs_pointer(path: Path) -> bool:
    """Whether the file is a Git LFS pointer (checked out without its content)."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > 1024:
            return False  # never open a FIFO or device: it could block forever
        with path.open("rb") as handle:
            return handle.read(len(LFS_POINTER)) == LFS_POINTER
    except OSError:
        return False
