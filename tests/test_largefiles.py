"""Model weights above the size threshold never enter git, and `run`/`deploy` still find them:
.gitignore (default) or Git LFS, the model folder's .amlignore as azure-ai-ml itself reads it,
and validate on a fresh clone (missing files, LFS pointers)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import TFSERVING_SAMPLE_MODEL, git, new_refused
from scaffold import largefiles
from scaffold.generate import new_project
from scaffold.validate import validate_project

SAVEDMODEL = TFSERVING_SAMPLE_MODEL
WEIGHTS = "half_plus_two/1/variables/variables.data-00000-of-00001"


def _big_savedmodel(tmp_path: Path, size: int = 3_000_000) -> Path:
    """The template's SavedModel with a weights file padded to `size` bytes."""
    source = tmp_path / "big-model"
    shutil.copytree(SAVEDMODEL / "1", source)
    weights = source / "variables" / "variables.data-00000-of-00001"
    with weights.open("ab") as handle:
        handle.write(os.urandom(size - weights.stat().st_size))
    return source


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("SCAFFOLD_LARGE_FILE_BYTES", "1000000")
    monkeypatch.delenv("SCAFFOLD_LARGE_FILES", raising=False)
    return 1_000_000


def _new(tmp_path: Path, source: Path, **options: str) -> Path:
    result = new_project(
        tmp_path / "big-ep", {"server": "tfserving"}, model=str(source), model_inspect="none",
        **options,  # type: ignore[arg-type]
    )  # fmt: skip
    return result.path


def test_large_weights_are_ignored_not_committed(tmp_path: Path, small_threshold: int) -> None:
    project = _new(tmp_path, _big_savedmodel(tmp_path))
    assert (project / WEIGHTS).stat().st_size == 3_000_000  # the folder has them (run, deploy)
    assert WEIGHTS not in git(project, "ls-files").split()
    assert "half_plus_two/1/variables/variables.index" in git(project, "ls-files").split()
    assert git(project, "status", "--porcelain") == ""  # clean: `scaffold update` works
    assert largefiles.listed(project) == [WEIGHTS]
    assert git(project, "check-ignore", WEIGHTS).strip() == WEIGHTS
    # only the project's own objects are in git: nothing of the 3 MB
    size = sum(p.stat().st_size for p in (project / ".git").rglob("*") if p.is_file())
    assert size < small_threshold


def test_azure_ai_ml_still_uploads_them(tmp_path: Path, small_threshold: int) -> None:
    """azure-ai-ml's own walk of an upload folder (ignore file at its root, .amlignore
    first): the weights are uploaded, also when a .gitignore in the model folder would drop
    them; the .amlignore itself is not."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file, get_upload_files_from_folder

    project = _new(tmp_path, _big_savedmodel(tmp_path))
    folder = project / "half_plus_two"
    (folder / ".gitignore").write_text("*-of-*\n")  # e.g. the user's own, later
    ignore = get_ignore_file(folder)
    assert Path(ignore.path).name == ".amlignore"
    uploaded = {name for _, name in get_upload_files_from_folder(folder, ignore_file=ignore)}
    assert "1/variables/variables.data-00000-of-00001" in uploaded
    assert ".amlignore" not in uploaded


def test_a_fresh_clone_is_told_what_is_missing(tmp_path: Path, small_threshold: int) -> None:
    project = _new(tmp_path, _big_savedmodel(tmp_path))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    report = validate_project(clone, schema=False)
    (missing,) = [p for p in report.problems if p.code == "model.weights.missing"]
    assert missing.file == WEIGHTS and "kept it out of git" in missing.message
    shutil.copyfile(project / WEIGHTS, clone / WEIGHTS)
    assert not [p for p in validate_project(clone, schema=False).problems if "weights" in p.code]


def test_git_lfs_on_request(tmp_path: Path, small_threshold: int) -> None:
    assert largefiles.lfs_available(), "git-lfs is installed by scripts/bootstrap.sh"
    project = _new(tmp_path, _big_savedmodel(tmp_path), large_files="lfs")
    assert (
        f"/{WEIGHTS} filter=lfs diff=lfs merge=lfs -text"
        in (project / ".gitattributes").read_text()
    )
    assert git(project, "lfs", "ls-files", "--name-only").split() == [WEIGHTS]
    blob = git(project, "show", f"HEAD:{WEIGHTS}")
    assert blob.startswith("version https://git-lfs.github.com/spec/v1")
    assert git(project, "status", "--porcelain") == ""
    # a clone without Git LFS's smudge has pointers where the weights were
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True, env=env)
    report = validate_project(clone, schema=False)
    (pointer,) = [p for p in report.problems if p.code == "model.weights.lfs_pointer"]
    assert pointer.file == WEIGHTS and "git lfs pull" in pointer.fix


def test_lfs_without_git_lfs_is_refused(
    tmp_path: Path, small_threshold: int, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(bare))
    line = new_refused(
        ["--server", "tfserving", "--large-files", "lfs", "--model", str(SAVEDMODEL)],
        tmp_path / "ep", capsys,
    )  # fmt: skip
    assert "needs Git LFS" in line


def test_small_models_are_committed_as_before(tmp_path: Path) -> None:
    project = new_project(
        tmp_path / "small-ep", {"server": "tfserving"}, model=str(SAVEDMODEL), model_inspect="none"
    ).path
    assert WEIGHTS in git(project, "ls-files").split()
    assert not (project / "half_plus_two" / ".amlignore").exists()
    assert largefiles.listed(project) == []


def test_bad_threshold_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCAFFOLD_LARGE_FILE_BYTES", "50MB")
    line = new_refused(
        ["--server", "tfserving", "--model", str(SAVEDMODEL)], tmp_path / "ep", capsys
    )
    assert "SCAFFOLD_LARGE_FILE_BYTES" in line
