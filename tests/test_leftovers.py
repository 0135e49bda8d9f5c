"""Nothing left behind: staging folders of a killed `scaffold new`, images replaced by
rebuilds, the dangling stage images of multi-stage stand-in builds, and the test suite's
own project images (the session fails if any of this session's remain).

Real processes and signals (SIGKILL, SIGSTOP/SIGCONT), a real Docker Engine, and a nested
pytest session for the suite's own check.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import REPO, Render
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import STAGING_LOCK, remove_stale_staging


# --- staging folders of scaffold new ------------------------------------------------------------
def _start_new(dest: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scaffold", "new", "--server", "minimal", "--defaults", str(dest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _staging_of(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.scaffold-*"))


def _wait_for_lock(dest: Path, proc: subprocess.Popen[str]) -> Path:
    """The staging folder of the `new` rendering `dest`, once its lock is in place."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        locked = [s for s in _staging_of(dest) if (s / STAGING_LOCK).exists()]
        if locked:
            return locked[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("scaffold new never locked a staging folder")


def test_a_killed_new_leaves_a_staging_folder_that_the_next_new_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 cannot clean up: the staging folder stays; the next `new` beside it removes
    it (its lock died with the process) and says so."""
    killed = tmp_path / "killed-ep"
    proc = _start_new(killed)
    staging = _wait_for_lock(killed, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert staging.is_dir() and not killed.exists()
    assert main(["new", "--server", "minimal", "--defaults", str(tmp_path / "next-ep")]) == 0
    out = capsys.readouterr().out
    assert "removed 1 staging folder(s) an interrupted scaffold new had left" in out
    assert staging.name in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next-ep"]


def test_a_live_new_keeps_its_staging_folder(tmp_path: Path) -> None:
    """A `new` that is only paused (SIGSTOP) still holds its lock: another `new` in the same
    folder leaves its staging folder alone, and it finishes normally once resumed."""
    paused = tmp_path / "paused-ep"
    proc = _start_new(paused)
    staging = _wait_for_lock(paused, proc)
    proc.send_signal(signal.SIGSTOP)
    try:
        assert remove_stale_staging(tmp_path) == []
        assert main(["new", "--server", "plumber", "--defaults", str(tmp_path / "other-ep")]) == 0
        assert staging.is_dir()
    finally:
        proc.send_signal(signal.SIGCONT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (paused / "deployment.yml").is_file() and not staging.exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_new_says_the_project_was_not_created(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM while the template renders: 130/143, one line that says what
    happened to the project (not the containers `run` talks about), nothing left."""
    dest = tmp_path / "stopped-ep"
    proc = _start_new(dest)
    _wait_for_lock(dest, proc)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("the project was not created (its staging folder was removed)")
    )
    assert list(tmp_path.iterdir()) == []


def test_only_scaffolds_own_abandoned_folders_are_removed(tmp_path: Path) -> None:
    """Removed: a locked-then-abandoned staging folder, and one without a lock (an older
    scaffold's) untouched for over an hour. Kept: a recent one without a lock, names that
    do not fit the pattern, files and links."""

    def folder(name: str, *, lock: bool = False, age: float = 0.0) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "demo-ep").mkdir()
        if lock:
            (path / STAGING_LOCK).write_text("scaffold new (pid 1)\n")
        if age:
            os.utime(path, (time.time() - age, time.time() - age))
        return path

    folder(".a-ep.scaffold-abcd1234", lock=True)
    folder(".b-ep.scaffold-efgh5678", age=7200)
    kept = [
        folder(".c-ep.scaffold-ijkl9012"),
        folder(".d-ep.scaffold-short", age=7200),
        folder(".e-ep.other-mnop3456", age=7200),
        folder("f-ep.scaffold-qrst7890", age=7200),
    ]
    (tmp_path / ".g-ep.scaffold-uvwx1234").write_text("a file")
    (tmp_path / ".h-ep.scaffold-yz012345").symlink_to(kept[0])
    assert sorted(remove_stale_staging(tmp_path)) == [
        ".a-ep.scaffold-abcd1234",
        ".b-ep.scaffold-efgh5678",
    ]
    assert all(path.exists() for path in kept)
    assert (tmp_path / ".g-ep.scaffold-uvwx1234").is_file()
    assert (tmp_path / ".h-ep.scaffold-yz012345").is_symlink()


# --- images of scaffold run ----------------------------------------------------------------------
def _image_ids(label: str, *, dangling: bool = False) -> set[str]:
    import docker

    filters: dict[str, object] = {"label": label}
    if dangling:
        filters["dangling"] = True
    return {str(i.id) for i in docker.from_env().images.list(filters=filters)}


def _exists(image: str) -> bool:
    import docker
    import docker.errors

    try:
        docker.from_env().images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def _edit_build_context(project: Path, text: str) -> None:
    launcher = project / "docker-context" / "start_plumber.R"
    launcher.write_text(launcher.read_text() + f"\n# {text}\n")


@pytest.mark.docker
def test_a_rebuild_removes_the_image_it_replaces(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`scaffold run` after an edit to the build context: the project holds one image, the
    new one; the replaced one is not left dangling."""
    project = render("plumber", name="rebuild-ep", base_image=standin("plumber"))
    label = f"scaffold.project={project}"
    assert main(["run", "--no-validate", "--no-smoke", str(project)]) == ExitCode.OK
    (first,) = _image_ids(label)
    _edit_build_context(project, "edited")
    assert main(["run", "--no-validate", "--no-smoke", str(project)]) == ExitCode.OK
    (second,) = _image_ids(label)
    assert second != first and not _exists(first)
    assert _image_ids(label, dangling=True) == set()
    capsys.readouterr()


@pytest.mark.docker
def test_an_image_in_use_is_kept_until_its_container_is_gone(
    render: Render, standin: Callable[[str], str]
) -> None:
    """`serve --reload` rebuilds while the old container still runs: Docker refuses to
    remove an image in use, so it is removed once the container is."""
    from scaffold.localrun import LocalDeployment

    project = render("plumber", name="inuse-ep", base_image=standin("plumber"))
    deployment = LocalDeployment(project)
    first = deployment.build().image_id
    deployment.start()
    try:
        _edit_build_context(project, "edited while serving")
        second = deployment.build().image_id
        assert second != first and _exists(first)  # its container still runs
        assert deployment.superseded == [first]
    finally:
        deployment.stop()
    assert not _exists(first) and deployment.superseded == []


@pytest.mark.docker
def test_projects_with_the_same_names_keep_their_own_images(
    tmp_path: Path, standin: Callable[[str], str]
) -> None:
    """Two projects both named demo-ep/blue (the defaults) get their own tags: a rebuild of
    one never takes the other's tag or removes its image."""
    from scaffold.generate import new_project
    from scaffold.localrun import LocalDeployment

    one, two = (
        new_project(
            tmp_path / name / "demo-ep", {"server": "plumber", "base_image": standin("plumber")}
        ).path
        for name in ("team-a", "team-b")
    )
    first, second = LocalDeployment(one), LocalDeployment(two)
    assert first.tag != second.tag
    kept = second.build().image_id
    first.build()
    _edit_build_context(one, "only project one changed")
    first.build()
    assert _exists(kept) and second.image_id == kept
    assert _image_ids(f"scaffold.project={two}") == {kept}


@pytest.mark.docker
def test_the_image_new_builds_in_its_staging_folder_is_the_projects(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`scaffold new --model` may build the project's image in its staging folder (to record
    the sample response), labelled with the destination: it must carry the destination's
    tag, so the next `scaffold run` there replaces it instead of leaving it tagged forever."""
    from scaffold.localrun import LocalDeployment

    staging = render("plumber", name="staged-ep", base_image=standin("plumber"))
    dest = staging.parent / "final" / "staged-ep"
    built = LocalDeployment(staging, label=dest)
    first = built.build().image_id
    dest.parent.mkdir()
    staging.rename(dest)  # what scaffold new does once the project is complete
    label = f"scaffold.project={dest}"
    assert _image_ids(label) == {first}
    assert LocalDeployment(dest).tag == built.tag
    _edit_build_context(dest, "edited after new")
    assert main(["run", "--no-validate", "--no-smoke", str(dest)]) == ExitCode.OK
    (second,) = _image_ids(label)
    assert second != first and not _exists(first)
    capsys.readouterr()


# --- stand-in builds -------------------------------------------------------------------------
@pytest.fixture
def standin_builder() -> Iterator[Callable[..., list[str]]]:
    sys.path.insert(0, str(REPO / "tests" / "standins"))
    from build import build_context  # type: ignore[import-not-found]

    yield build_context


@pytest.mark.docker
@pytest.mark.parametrize("fails", [False, True], ids=["built", "failed"])
def test_a_multi_stage_stand_in_build_leaves_no_dangling_stage(
    tmp_path: Path,
    standin: Callable[[str], str],
    standin_builder: Callable[..., list[str]],
    fails: bool,
) -> None:
    """The classic builder leaves the final image of every earlier stage untagged (`<none>`
    in `docker images`); the stand-in build removes them, also when a later stage fails."""
    import docker

    marker = uuid.uuid4().hex
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"ARG BASE\nFROM ${{BASE}} AS stage\nLABEL scaffold.test.stage={marker}\n"
        "RUN echo built > /built\n"
        "FROM ${BASE}\nCOPY --from=stage /built /built\n" + ("RUN exit 3\n" if fails else "")
    )
    tag = f"scaffold-test/multistage:{marker[:12]}"
    client = docker.from_env()
    try:
        if fails:
            with pytest.raises(RuntimeError):
                standin_builder(
                    client, context, tag, labels={"scaffold.project": str(tmp_path)},
                    buildargs={"BASE": standin("base")},
                )  # fmt: skip
        else:
            removed = standin_builder(
                client, context, tag, labels={"scaffold.project": str(tmp_path)},
                buildargs={"BASE": standin("base")},
            )  # fmt: skip
            assert len(removed) == 1  # the stage's final image
        stage = client.images.list(filters={"label": f"scaffold.test.stage={marker}"})
        assert [i.id for i in stage if not i.tags] == []
    finally:
        if not fails:
            client.images.remove(tag, force=True)


# --- the suite's own check ------------------------------------------------------------------
NESTED_CONFTEST = """\
import importlib.util, sys
sys.path.insert(0, {tests!r})
spec = importlib.util.spec_from_file_location("suite_conftest", {conftest!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
globals().update({{k: v for k, v in vars(suite).items() if not k.startswith("__")}})
"""
NESTED_TEST = """\
import io, tarfile
import docker

def test_leaks_a_project_image(tmp_path):
    # not marked docker: the per-test cleanup does not run, only the session's check
    data = b"FROM scratch\\nCOPY x /x\\n"
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, body in (("Dockerfile", data), ("x", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    stream.seek(0)
    docker.from_env().images.build(
        fileobj=stream, custom_context=True, tag="scaffold-test/leak:{tag}", rm=True,
        labels={{"scaffold.project": str(tmp_path / "leaky-ep")}},
    )
"""


@pytest.mark.docker
def test_the_suite_fails_when_a_session_leaves_a_project_image(tmp_path: Path) -> None:
    """A session whose test leaves a project image on the engine fails, names it, and the
    image is removed anyway; other sessions' images (another basetemp) are not touched."""
    tag = uuid.uuid4().hex[:12]
    nested = tmp_path / "nested"
    nested.mkdir()
    tests = REPO / "tests"
    (nested / "conftest.py").write_text(
        NESTED_CONFTEST.format(tests=str(tests), conftest=str(tests / "conftest.py"))
    )
    (nested / "test_leak.py").write_text(NESTED_TEST.format(tag=tag))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         f"--basetemp={tmp_path / 'nested-tmp'}", "--rootdir", str(nested), str(nested)],
        capture_output=True, text=True, cwd=nested, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAILED: the session left 0 container(s) and 1 project image(s)" in proc.stdout
    assert f"scaffold-test/leak:{tag}" in proc.stdout
    assert not _exists(f"scaffold-test/leak:{tag}")
