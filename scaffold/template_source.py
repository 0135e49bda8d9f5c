"""Where a project's template comes from: the bundled one, a local git repo, or a URL.

`copier update` needs the template as a git repository whose root holds copier.yml, with
a tag per version. The template bundled in scaffold's package is a plain folder, so it is
materialised into a git repository in scaffold's cache, one commit and one `v<version>`
tag per scaffold version seen on this machine; projects record that repository's absolute
path as `_src_path`, so plain `copier update` works on them too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold import __version__
from scaffold.errors import TemplateError
from scaffold.gitutil import BOT_ENV, git, is_repo_root

_FINGERPRINT_KEY = "scaffold-template-fingerprint:"


@dataclass(frozen=True)
class TemplateRef:
    """A template copier can clone: `url` (path or URL) at `ref` (None = newest tag)."""

    url: str
    ref: str | None
    bundled: bool


def bundled_dir() -> Path:
    """The template folder shipped with this installation of scaffold."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / "copier.yml").is_file():
            return candidate
    raise TemplateError(
        "scaffold's bundled templates are missing from this installation; reinstall scaffold"
    )


def cache_dir() -> Path:
    """scaffold's cache folder (SCAFFOLD_CACHE_DIR, else XDG_CACHE_HOME/scaffold)."""
    explicit = os.environ.get("SCAFFOLD_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base).expanduser() / "scaffold").resolve()


def bundled_repo_path() -> Path:
    """Path of the git repository holding the bundled template's versions."""
    return cache_dir() / "templates"


def fingerprint(folder: Path) -> str:
    """A content hash of every file below `folder` (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tag_fingerprint(repo: Path, tag: str) -> str | None:
    out = git("log", "-1", "--format=%B", tag, "--", cwd=repo, check=False)
    for line in out.splitlines():
        if line.startswith(_FINGERPRINT_KEY):
            return line[len(_FINGERPRINT_KEY) :].strip()
    return None


def materialise_bundled(version: str = __version__, source: Path | None = None) -> TemplateRef:
    """Ensure the cache repository has tag `v<version>` holding the bundled template.

    Cheap when the tag already matches the installed files (one git call). When it does
    not (a new scaffold version, or template edits in a development checkout), the files
    are committed on top of the previous versions and the tag is (re)pointed at them.
    """
    source = source or bundled_dir()
    repo = bundled_repo_path()
    tag = f"v{version}"
    wanted = fingerprint(source)
    with _locked(repo.parent / "templates.lock"):
        if not is_repo_root(repo):
            if repo.exists():
                shutil.rmtree(repo)
            repo.mkdir(parents=True)
            git("init", "--quiet", "--initial-branch=main", cwd=repo)
        if _tag_fingerprint(repo, tag) != wanted:
            _commit_tree(repo, source, tag, wanted)
    return TemplateRef(url=str(repo), ref=tag, bundled=True)


def _commit_tree(repo: Path, source: Path, tag: str, wanted: str) -> None:
    for child in repo.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(
        source, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    git("add", "--all", cwd=repo)
    message = f"scaffold template {tag}\n\n{_FINGERPRINT_KEY} {wanted}\n"
    git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message, cwd=repo, env=BOT_ENV)
    git("tag", "--force", tag, cwd=repo)


def resolve(template: str | None, vcs_ref: str | None = None) -> TemplateRef:
    """Turn the user's --template value (None = bundled) into a TemplateRef."""
    if template is None:
        ref = materialise_bundled()
        return TemplateRef(ref.url, vcs_ref or ref.ref, bundled=True)
    if "://" in template or template.startswith("git@"):
        return TemplateRef(template, vcs_ref, bundled=False)
    path = Path(template).expanduser().resolve()
    if not (path / "copier.yml").is_file():
        raise TemplateError(f"{path} has no copier.yml at its root; point --template at a template")
    if not is_repo_root(path):
        raise TemplateError(
            f"{path} is not the root of a git repository, so projects made from it could "
            f"never be updated; run `git init && git add -A && git commit -m v0.1.0 && "
            f"git tag v0.1.0` there"
        )
    return TemplateRef(str(path), vcs_ref, bundled=False)


def load_questions(template_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The questions of a template's copier.yml (settings starting with `_` left out)."""
    import yaml

    path = (template_dir or bundled_dir()) / "copier.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from None
    return {
        key: (value if isinstance(value, dict) else {"default": value})
        for key, value in data.items()
        if not key.startswith("_")
    }
