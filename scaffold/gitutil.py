"""The git commands scaffold needs, behind one subprocess wrapper."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from scaffold.errors import GitError

#: Identity for commits scaffold makes itself (the bundled template repository) so they do
#: not depend on, or leak, the user's git configuration.
BOT_ENV = {
    "GIT_AUTHOR_NAME": "scaffold",
    "GIT_AUTHOR_EMAIL": "scaffold@localhost",
    "GIT_COMMITTER_NAME": "scaffold",
    "GIT_COMMITTER_EMAIL": "scaffold@localhost",
}


def git(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run git in `cwd` and return stdout; raise GitError with git's own message on failure."""
    if shutil.which("git") is None:
        raise GitError("git is not installed; install git (e.g. apt-get install git) and retry")
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {message[-1] if message else ''}")
    return proc.stdout


def is_repo_root(path: Path) -> bool:
    """True if `path` is the top level of a git work tree."""
    if not (path / ".git").exists():
        return False
    top = git("rev-parse", "--show-toplevel", cwd=path, check=False).strip()
    return bool(top) and Path(top).resolve() == path.resolve()


def is_inside_repo(path: Path) -> bool:
    """True if `path` lies in any git work tree."""
    return git("rev-parse", "--is-inside-work-tree", cwd=path, check=False).strip() == "true"


def dirty_paths(path: Path) -> list[str]:
    """Modified, staged or untracked (not ignored) paths in the folder `path` (only there:
    a project inside a larger repository is clean when its own folder is, as for copier)."""
    out = git("status", "--porcelain", "--untracked-files=all", "--", ".", cwd=path)
    return [line[3:] for line in out.splitlines() if line.strip()]


def has_identity(path: Path) -> bool:
    """True if git knows who commits (user.name and user.email are set)."""
    name = git("config", "user.name", cwd=path, check=False).strip()
    email = git("config", "user.email", cwd=path, check=False).strip()
    return bool(name and email)


def init_and_commit(path: Path, message: str, *, lfs: bool = False) -> None:
    """Make `path` a git repository with everything committed once (with `lfs`, Git LFS's
    filters installed in it first, so files .gitattributes marks go to LFS)."""
    git("init", "--quiet", cwd=path)
    if lfs:
        git("lfs", "install", "--local", cwd=path)
    git("add", "--all", cwd=path)
    env = None if has_identity(path) else BOT_ENV
    git("commit", "--quiet", "--no-verify", "-m", message, cwd=path, env=env)


def show(cwd: Path, rev: str, path: str) -> bytes | None:
    """The bytes of `path` (relative to `cwd`) at commit `rev`, or None if it is not there."""
    if shutil.which("git") is None:
        raise GitError("git is not installed; install git (e.g. apt-get install git) and retry")
    proc = subprocess.run(
        ["git", "cat-file", "blob", f"{rev}:./{path}"], cwd=cwd, capture_output=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def identity_env(path: Path) -> dict[str, str] | None:
    """None when git knows who commits in `path`, else scaffold's own identity (BOT_ENV)."""
    return None if has_identity(path) else BOT_ENV


def restore_folder(path: Path, commit: str) -> None:
    """Put the folder `path` back exactly as it is in `commit` (index and files; untracked
    files removed) and HEAD back to `commit`, without touching the rest of a larger
    repository (`reset --hard` would discard the user's work elsewhere)."""
    git("reset", "--quiet", "--soft", commit, cwd=path)
    git("reset", "--quiet", commit, "--", ".", cwd=path)
    git("checkout", "--quiet", commit, "--", ".", cwd=path)
    git("clean", "-d", "--force", "--quiet", "--", ".", cwd=path)
