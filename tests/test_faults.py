"""Faults with nothing lost: a full disk and a read-only destination during `scaffold new`,
and `scaffold update` interrupted by SIGINT or SIGTERM.

These tests need root (they mount small and read-only tmpfs file systems; root ignores
permission bits, so a read-only mount is the only real read-only folder). Without root, or
without `mount`, they FAIL: a fault test that cannot make its fault proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, git
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs with `options` at `where` (needs root); unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"cannot mount a tmpfs (these tests need root): {proc.stderr}"
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def _one_line_error(err: str) -> str:
    """The one error line (progress lines, `==> ...`, may come before it)."""
    lines = [line for line in err.splitlines() if not line.startswith("==> ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("size", ["32k", "256k"])
def test_disk_full_during_new_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    """Needs root. 32k fills up while copier renders, 256k while git commits the project:
    either way one line, exit 12, and no project or staging folder left on the disk."""
    with tmpfs(tmp_path / "small", f"size={size}") as small:
        code = main(["new", str(small / "demo-ep"), "--server", "tfserving", "--defaults"])
        line = _one_line_error(capsys.readouterr().err)
        assert code == ExitCode.WRITE == 12
        assert "No space left on device" in line and "free some space" in line
        assert list(small.iterdir()) == []


def test_read_only_parent_and_read_only_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Needs root. The destination's parent, or the destination itself (an empty mount
    point), is read-only: one line naming the fix, exit 12, nothing written."""
    with tmpfs(tmp_path / "ro", "ro") as read_only:
        for dest in (read_only / "demo-ep", read_only):
            argv = ["new", str(dest), "--server", "plumber", "--defaults"]
            code = main([*argv, "--data", "endpoint_name=demo-ep"])
            line = _one_line_error(capsys.readouterr().err)
            assert code == ExitCode.WRITE
            assert "Read-only file system" in line and "writable" in line
            assert list(read_only.iterdir()) == []
        assert [p.name for p in tmp_path.iterdir()] == ["ro"]


def test_new_into_an_empty_mount_point(tmp_path: Path) -> None:
    """Needs root. A destination that is itself a mount point (another file system than the
    staging folder beside it) is filled by copying, not by a rename that cannot cross."""
    with tmpfs(tmp_path / "volume", "size=4m") as volume:
        result = new_project(volume, {"server": "minimal", "endpoint_name": "demo-ep"})
        assert (volume / "deployment.yml").is_file() and result.git_initialised
        assert [p.name for p in tmp_path.iterdir()] == ["volume"]


def _copier_started(temp: Path) -> bool:
    """True once the update runs copier (scaffold.tempdirs.copier_temp's folder exists)."""
    with contextlib.suppress(OSError):
        return any(p.name.startswith("scaffold-copier-") for p in temp.iterdir())
    return False


def _interrupt_update(
    project: Path, signum: int, after_activity: float, temp: Path
) -> tuple[int, str]:
    """Run `scaffold update` in a subprocess (TMPDIR `temp`) and send `signum`
    `after_activity` seconds after copier starts working (after the update's planning: its
    private temporary folder for copier appears in `temp`); return (exit code, stderr)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scaffold",
            "update",
            str(project),
            "--data",
            "deployment_name=green",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not _copier_started(temp):
        time.sleep(0.005)
    time.sleep(after_activity)
    if proc.poll() is None:
        proc.send_signal(signum)
    _out, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_update_is_undone(tmp_path: Path, signum: int) -> None:
    """An update interrupted mid-way (the signal is sent at several moments after copier
    starts working) exits 130/143 with one line saying the project was restored, and the
    project is exactly as it was: same HEAD, clean work tree; nothing is left in its
    temporary folder (copier's renderings and clones). Runs that finish before the signal
    lands must have updated normally."""
    project = new_project(tmp_path / "demo-ep", {"server": "minimal"}).path
    head = git(project, "rev-parse", "HEAD")
    want = 128 + signum
    interrupted = 0
    temp = tmp_path / "tmp"  # the update's TMPDIR: nothing may be left in it
    temp.mkdir()
    for after in (0.0, 0.2, 0.5, 0.9, 1.4, 2.0):
        code, err = _interrupt_update(project, signum, after, temp)
        assert list(temp.iterdir()) == [], f"left behind: {list(temp.iterdir())}"
        if code == 0:  # finished first: an ordinary update; undo it for the next round
            assert "deployment.yml" in git(project, "status", "--porcelain")
            git(project, "checkout", "--", ".")
            continue
        assert code == want, err
        line = _one_line_error(err)
        # Before the update starts (still reading the project) there is nothing to undo.
        interrupted += "the update was undone" in line
        assert git(project, "rev-parse", "HEAD") == head
        assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
    assert interrupted >= 2, "the signal never landed while copier was working"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-ep", "tmp"]


def test_read_only_home_is_one_line_exit_12(tmp_path: Path) -> None:
    """Needs root. With a read-only HOME and no cache folder set, `new` and `update` stop
    with one line naming SCAFFOLD_CACHE_DIR (exit 12, as the README promises), nothing
    written; with SCAFFOLD_CACHE_DIR set, `new` works although HOME stays read-only
    (copier's own cache moves there too)."""
    identity = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    with tmpfs(tmp_path / "home", "ro") as home:
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {"SCAFFOLD_CACHE_DIR", "XDG_CACHE_HOME", "GIT_CONFIG_GLOBAL", "COPIER_CACHE_DIR"}
            and not k.startswith("GIT_CONFIG_")
        }
        env.update(identity, HOME=str(home), PYTHONPATH=str(REPO))

        def scaffold(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "scaffold", *argv],
                env={**env, **extra},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=600,
            )

        dest = tmp_path / "demo-ep"
        proc = scaffold("new", str(dest), "--server", "minimal", "--defaults")
        line = _one_line_error(proc.stderr)
        assert proc.returncode == ExitCode.WRITE
        assert "Read-only file system" in line and "SCAFFOLD_CACHE_DIR" in line
        assert not dest.exists()
        cache = str(tmp_path / "cache")
        proc = scaffold(
            "new", str(dest), "--server", "minimal", "--defaults", SCAFFOLD_CACHE_DIR=cache
        )
        assert proc.returncode == 0, proc.stderr
        proc = scaffold("update", str(dest))
        assert proc.returncode == ExitCode.WRITE
        assert "SCAFFOLD_CACHE_DIR" in _one_line_error(proc.stderr)
        assert scaffold("update", str(dest), SCAFFOLD_CACHE_DIR=cache).returncode == 0
