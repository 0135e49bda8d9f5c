"""Shared fixtures: isolated git and cache, project rendering, stand-in base images.

Docker tests never skip: without a Docker Engine they fail. In CI (CI=true) or with
--strict-skips any skipped test fails the session, so a skip can never count as a pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
#: The template's sample model files whose names carry Jinja (copier renders the names).
TORCHSERVE_SAMPLE_MAR = (
    TEMPLATES
    / "torchserve"
    / "model"
    / "{% yield name from (models or [served_model_name]) %}{{ name }}{% endyield %}.mar"
)
TFSERVING_SAMPLE_MODEL = (
    TEMPLATES
    / "tfserving"
    / "{% if not model_in_image and not models %}{{ served_model_name }}{% endif %}"
)
#: Every server of the registry (templates/_facts.json), in its order.
SERVERS = list(json.loads((TEMPLATES / "_facts.json").read_text(encoding="utf-8")))
#: Files every generated project has, whatever the server (templates/_shared).
SHARED_FILES = frozenset(
    {
        ".copier-answers.yml",
        ".gitattributes",
        ".github/workflows/azureml-deploy.yml",
        ".gitignore",
        "README.md",
        "deployment.yml",
        "endpoint.yml",
        "smoke_test.py",
        "sample_request.json",
        "sample_response.json",
        "docker-context/.dockerignore",
        "docker-context/Dockerfile",
    }
)

sys.path.insert(0, str(REPO))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--strict-skips",
        action="store_true",
        help="fail the run if any test was skipped (implied when CI=true)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Live Azure tests (`azure` marker) run only when asked for (`-m azure`): deselected,
    not skipped, so they never count as passing without having run."""
    _heavy_files_first(items)
    if "azure" in (config.getoption("markexpr") or ""):
        return
    live = [item for item in items if item.get_closest_marker("azure")]
    if live:
        config.hook.pytest_deselected(items=live)
        items[:] = [item for item in items if not item.get_closest_marker("azure")]


def _heavy_files_first(items: list[pytest.Item]) -> None:
    """The heaviest test files first (weight: a Docker test 1, a hypothesis test 5, as it
    renders hundreds of projects), each file's own order kept: pytest-xdist hands out whole
    files in this order, so the long ones start early and the quick ones fill the gaps at
    the end instead of one worker finishing a long file alone."""
    weight: dict[str, int] = {}
    for item in items:
        name = item.nodeid.split("::", 1)[0]
        heavy = 5 if hasattr(getattr(item, "obj", None), "hypothesis") else 0
        weight[name] = weight.get(name, 0) + heavy + bool(item.get_closest_marker("docker"))
    items.sort(key=lambda item: -weight[item.nodeid.split("::", 1)[0]])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller checks the whole run below its basetemp
    strict = session.config.getoption("--strict-skips") or os.environ.get("CI") == "true"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    _assert_no_docker_leftovers(session, reporter)
    _assert_no_temp_leftovers(session, reporter)
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if strict and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped in strict mode", red=True)
        session.exitstatus = 1


def _session_basetemp(session: pytest.Session) -> Path | None:
    """The session's basetemp, or None when no test asked for a temporary folder."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return None
    return Path(factory.getbasetemp())


def _assert_no_docker_leftovers(session: pytest.Session, reporter: Any) -> None:
    """The session fails when the engine still holds a project image or container of this
    session (scaffold's label, a project below this session's basetemp): whatever a test
    or scaffold itself failed to remove. They are removed here either way."""
    basetemp = _session_basetemp(session)
    if basetemp is None:
        return  # no test asked for a temporary folder: no project was made
    try:
        containers, images = session_leftovers(basetemp)
    except Exception as error:  # no engine: the Docker tests failed already
        if reporter:
            reporter.write_line(f"(leftover check skipped: Docker unreachable: {error})")
        return
    if not containers and not images:
        return
    names = [_shown(listed) for listed in [*containers, *images]]
    remove_session_leftovers(basetemp)
    if reporter:
        reporter.write_line(
            f"FAILED: the session left {len(containers)} container(s) and {len(images)} "
            f"project image(s) on the Docker engine (now removed): {', '.join(names[:10])}",
            red=True,
        )
    session.exitstatus = 1


#: The session's TMPDIR, below its basetemp (tests' own tmp_path folders are pytest's: the
#: tmp_path_retention_policy "failed" removes them when the test passed).
SESSION_TMP = "session-tmpdir"


def _assert_no_temp_leftovers(session: pytest.Session, reporter: Any) -> None:
    """The session fails when its TMPDIR still holds anything once every test and fixture
    is done: a temporary file or folder scaffold, or a test, did not remove."""
    basetemp = _session_basetemp(session)
    if basetemp is None:
        return
    # the session's own, or each pytest-xdist worker's (basetemp/gwN/)
    folders = [basetemp / SESSION_TMP, *basetemp.glob(f"*/{SESSION_TMP}")]
    left = sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir())
    if not left:
        return
    for path in left:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    left = [p.relative_to(basetemp) for p in left]
    if reporter:
        reporter.write_line(
            f"FAILED: the session left {len(left)} temporary file(s) or folder(s) in its "
            f"TMPDIR (now removed): {', '.join(map(str, left[:10]))}",
            red=True,
        )
    session.exitstatus = 1


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Own git identity/config and scaffold cache for the whole session."""
    home = tmp_path_factory.mktemp("home")
    # Every temporary file of the session (scaffold's own, copier's, git's, subprocesses')
    # goes below the basetemp: what is still there at the end was left behind (checked in
    # pytest_sessionfinish), and nothing lands in the machine's /tmp.
    session_tmp = tmp_path_factory.mktemp(SESSION_TMP, numbered=False)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    saved = dict(os.environ)
    os.environ.update(
        {
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "SCAFFOLD_CACHE_DIR": str(home / "cache"),
            "XDG_CACHE_HOME": str(home / "xdg-cache"),
            "TMPDIR": str(session_tmp),
            # torch's compile cache (a cache kept across runs by design, in TMPDIR by default)
            "TORCHINDUCTOR_CACHE_DIR": str(home / "torchinductor"),
        }
    )
    for key in ("SCAFFOLD_TEMPLATE", "GIT_DIR", "GIT_WORK_TREE"):
        os.environ.pop(key, None)
    tempfile.tempdir = None  # tempfile reads TMPDIR again
    yield
    os.environ.clear()
    os.environ.update(saved)
    tempfile.tempdir = None


# -- Docker leftovers: every project image and container of THIS session is removed -----------
#: The label scaffold puts on the images it builds and the containers it starts; its value
#: is the project folder, so this session's are the ones below its basetemp (other suites
#: running on the same engine at the same time are never touched).
PROJECT_LABEL = "scaffold.project"


def session_leftovers(below: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(containers, images) on the engine labelled with a project folder below `below` (the
    session's basetemp, or one test's tmp_path),
    as the engine lists them (never looked up one by one: other suites on the same engine
    remove their own at any moment)."""
    import docker

    root = str(below.resolve())
    api = docker.from_env().api

    def ours(labels: dict[str, str] | None) -> bool:
        value = (labels or {}).get(PROJECT_LABEL, "")
        return value == root or value.startswith(root + "/")

    containers = [
        c for c in api.containers(all=True, filters={"label": PROJECT_LABEL}) if ours(c["Labels"])
    ]
    images = [i for i in api.images(filters={"label": PROJECT_LABEL}) if ours(i["Labels"])]
    return containers, images


def _shown(listed: dict[str, Any]) -> str:
    names = [n.lstrip("/") for n in listed.get("Names") or []]
    tags = [t for t in listed.get("RepoTags") or [] if t != "<none>:<none>"]
    return (names or tags or [str(listed["Id"])[:19]])[0]


def remove_session_leftovers(below: Path) -> list[str]:
    """Remove the project containers, then the project images, of projects below `below`;
    returns what could not be removed."""
    import docker.errors

    containers, images = session_leftovers(below)
    api = docker.from_env().api
    for listed in containers:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            api.remove_container(listed["Id"], force=True, v=True)
    kept = []
    for listed in images:
        try:
            api.remove_image(listed["Id"], force=True, noprune=False)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as error:
            kept.append(f"{_shown(listed)}: {error}")
    return kept


@pytest.fixture(autouse=True)
def _docker_leftovers_removed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every Docker test: remove the project images and containers it made, i.e.
    those of projects below its own tmp_path (what module fixtures keep running for several
    tests lives elsewhere and is theirs to remove; the session's check catches what they
    leave). The stand-in base images are not project images and stay."""
    yield
    if request.node.get_closest_marker("docker") is None:
        return
    own = getattr(request.node, "funcargs", {}).get("tmp_path")
    if isinstance(own, Path):
        remove_session_leftovers(own)


def run_project_tests(project: Path) -> None:
    """Run the generated project's own tests with its own command; they must pass. Their
    temporary folders go next to the project (removed with the test's tmp_path)."""
    basetemp = project.parent / f".{project.name}-pytest"
    argv = ["-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}", "tests"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *argv],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout


def files_of(project: Path) -> set[str]:
    """Project-relative paths of the files in a generated project (.git left out)."""
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(project).parts
    }


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd and return stdout (raises on failure)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


Render = Callable[..., Path]


@pytest.fixture
def render(tmp_path: Path) -> Render:
    """render(server, name='demo-ep', **answers) -> project path (bundled template). `name`
    is the folder and, when it is a valid endpoint name, the endpoint name too (the
    template's default adds a unique suffix; tests/test_generate.py covers that default)."""
    from scaffold.generate import new_project

    def _render(server: str, name: str = "demo-ep", **answers: Any) -> Path:
        if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name) and 3 <= len(name) <= 32:
            answers.setdefault("endpoint_name", name)
        result = new_project(tmp_path / name, {"server": server, **answers})
        return result.path

    return _render


@pytest.fixture(scope="session")
def standin() -> Callable[[str], str]:
    """standin(name) -> tag of a stand-in base image, built once (and cached across runs)."""
    sys.path.insert(0, str(REPO / "tests" / "standins"))
    from build import ensure_image  # type: ignore[import-not-found]

    built: dict[str, str] = {}

    def _get(name: str) -> str:
        if name not in built:
            built[name] = ensure_image(name)
        return built[name]

    return _get


#: An endpoint key for redaction tests: slashes and pluses, as Azure keys have.
ECHO_KEY = "k3y/With+Slash=and-Long-Enough-0123456789abcdef"


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with its own headers in the body, the way some proxies and
    debugging servers do: as JSON, as raw header lines, and padded so that a naive cut at
    500 characters would keep half of the key."""

    def do_GET(self) -> None:
        self._echo(200 if self.path.endswith(("/live", "/ready")) else 500)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._echo(200 if self.path == "/ok" else 500)

    def _echo(self, status: int) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if status == 200:  # JSON echo
            body = json.dumps(
                {"padding": "", "key_again": token, "headers": dict(self.headers), "raw": ""}
            ).encode()
        else:  # raw header lines, then the key again placed across character 500
            text = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "echo: "
            text += "." * max(0, 500 - len(token) // 2 - len(text)) + token
            body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


HTTPServerT = TypeVar("HTTPServerT", bound=ThreadingHTTPServer)


@contextlib.contextmanager
def serving(httpd: HTTPServerT) -> Iterator[HTTPServerT]:
    """Serve `httpd` (bound to 127.0.0.1) in a thread for the duration of the block."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def echo() -> Iterator[ThreadingHTTPServer]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)) as httpd:
        yield httpd


def new_refused(argv: list[str], dest: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `scaffold new ARGV DEST` expecting exit 2, one error line and nothing written
    (neither DEST nor a staging folder beside it); returns the line."""
    from scaffold.cli import main
    from scaffold.errors import ExitCode

    assert main(["new", *argv, str(dest)]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}")] == []
    return err[0]


def new_and_run_green(
    server: str, base_image: str, dest: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> None:
    """`scaffold new --server SERVER --base-image IMAGE [EXTRA...] DEST`, then `scaffold run
    DEST` must pass its smoke test with the real server."""
    from scaffold.cli import main
    from scaffold.errors import ExitCode

    argv = ["new", "--server", server, "--base-image", base_image, *extra, str(dest)]
    assert main(argv) == ExitCode.OK
    run_green(dest, capsys)


def run_green(project: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`scaffold run PROJECT` must pass its smoke test with the real server; returns what it
    wrote to stderr (the progress and PASS lines). The project's images and containers are
    removed after a Docker test by _docker_leftovers_removed (they live below its tmp_path)."""
    from scaffold.cli import main
    from scaffold.errors import ExitCode

    capsys.readouterr()
    assert main(["run", str(project)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "OK: smoke test passed" in captured.out, captured.err[-3000:]
    return captured.err
