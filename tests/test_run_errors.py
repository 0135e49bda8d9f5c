"""Errors of `scaffold run` that name the real cause: a missing Dockerfile (not the platform
advice after a raw Docker API URL), a server that listens on 127.0.0.1 only (found from its
socket table or its log while waiting, not "connection reset" after the whole probe
budget), and the engine's own explanations with the matching fix.

The servers are real: R plumber and gunicorn (the minimal image's server) bound to
127.0.0.1. The log lines of the other servers are as their public issue threads show them.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import Render
from scaffold.cli import main
from scaffold.container import _listening, _platform_hint
from scaffold.errors import ExitCode
from scaffold.listening import is_loopback, loopback_only


# --- the engine's explanations ------------------------------------------------------------------
class _APIError(Exception):
    """Shaped like docker.errors.APIError: str() carries the request URL, `explanation` the
    engine's own words."""

    def __init__(self, url: str, explanation: str) -> None:
        super().__init__(f'500 Server Error for {url}: Internal Server Error ("{explanation}")')
        self.explanation = explanation


BUILD_URL = "http+docker://localhost/v1.41/build?t=x&platform=linux%2Famd64&rm=1"


@pytest.mark.parametrize(
    ("explanation", "fix"),
    [
        ("Cannot locate specified Dockerfile: Dockerfile", "the Dockerfile is missing"),
        ("no matching manifest for linux/amd64 in the manifest list entries", "emulation"),
        ("image with reference x was found but does not match the specified platform", "native"),
        (
            'failed to create shim task: exec: "uvicorn": executable file not found in $PATH: '
            "unknown",
            "start command is not in the image",
        ),
        ("write /var/lib/docker/tmp/x: no space left on device", "Docker's disk is full"),
        (
            'Get "https://mcr.microsoft.com/v2/": dial tcp: lookup mcr.microsoft.com: no such host',
            "registry cannot be reached",
        ),
    ],
    ids=["no-dockerfile", "manifest", "platform-mismatch", "no-executable", "disk", "offline"],
)
def test_hints_follow_the_engines_explanation_not_the_url(explanation: str, fix: str) -> None:
    """The request URL holds `platform=linux/amd64` whatever failed: only the explanation
    decides the advice."""
    hint = _platform_hint(_APIError(BUILD_URL, explanation))
    assert fix in hint
    assert ("emulation" in hint) == (fix in ("emulation", "native"))


@pytest.mark.docker
def test_a_missing_dockerfile_names_the_file_not_the_platform(
    render: Render, capsys: pytest.CaptureFixture[str]
) -> None:
    """The case from the issue: Dockerfile deleted, --no-validate. One line naming the file
    and the setting, exit 4, no Docker API URL and no emulation advice."""
    project = render("minimal", name="nodockerfile-ep")
    (project / "docker-context" / "Dockerfile").unlink()
    assert main(["run", "--no-validate", str(project)]) == ExitCode.PROJECT
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    assert "no Dockerfile in docker-context/" in err and "dockerfile_path" in err
    assert "http+docker" not in err and "emulation" not in err


# --- listening on 127.0.0.1 ---------------------------------------------------------------------
#: /proc/net/tcp and tcp6 as the kernel writes them (little-endian words): 127.0.0.1:5001
#: and 0.0.0.0:8000 listening, an established connection, ::1:8080 and :::8001 listening.
PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0200000A:1F40 0100000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""
PROC_TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A
   2: 0000000000000000FFFF00000100007F:1F42 00000000000000000000000000000000:0000 0A
"""


def test_socket_tables_are_read_as_the_kernel_writes_them() -> None:
    assert _listening(PROC_TCP) == [("127.0.0.1", 5001), ("0.0.0.0", 8000)]
    found = _listening(PROC_TCP6)
    expected = [("::1", 8080), ("::", 8001), ("::ffff:127.0.0.1", 8002)]
    assert [(ipaddress.ip_address(a), p) for a, p in found] == [
        (ipaddress.ip_address(a), p) for a, p in expected
    ]
    assert [is_loopback(address) for address, _ in found] == [True, False, True]


#: Real log lines (public issue threads and the servers' own output).
LOGS = {
    "gunicorn-local": (
        "[INFO] Starting gunicorn 22.0.0\n[INFO] Listening at: http://127.0.0.1:5001 (1)"
    ),
    "gunicorn-all": "[INFO] Listening at: http://0.0.0.0:5001 (1)",
    "uvicorn-local": "INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
    "plumber-local": (
        "Running plumber API at http://127.0.0.1:8000\n"
        "Running swagger Docs at http://127.0.0.1:8000/__docs__/"
    ),
    "plumber-all": (
        "Running plumber API at http://0.0.0.0:8000\n"
        "Running swagger Docs at http://127.0.0.1:8000/__docs__/"
    ),
    "flask-all": (
        " * Running on all addresses (0.0.0.0)\n * Running on http://127.0.0.1:5000\n"
        " * Running on http://172.17.0.2:5000"
    ),
    "torchserve-local": (
        "Inference address: http://127.0.0.1:8080\n[INFO ] main org.pytorch.serve.ModelServer"
        " - Inference API bind to: http://127.0.0.1:8080"
    ),
    "tfserving": "Exporting HTTP/REST API at:localhost:8501 ...",
    "other-port": "Uvicorn running on http://127.0.0.1:9000",
}


@pytest.mark.parametrize(
    ("log", "port", "unreachable"),
    [
        ("gunicorn-local", 5001, True),
        ("uvicorn-local", 8000, True),
        ("plumber-local", 8000, True),
        ("gunicorn-all", 5001, False),
        ("plumber-all", 8000, False),  # its swagger line names 127.0.0.1 even on 0.0.0.0
        ("flask-all", 5000, False),  # Flask lists 127.0.0.1 next to "all addresses"
        ("tfserving", 8501, False),  # TF Serving says localhost but binds every interface
        ("other-port", 8000, False),  # another port: not this cause
    ],
)
def test_the_log_alone_decides_only_when_it_is_unambiguous(
    log: str, port: int, unreachable: bool
) -> None:
    """Without the socket table (an engine in a VM), the diagnosis rule decides, confirmed
    by a line naming the route's port on loopback and no line binding every interface."""
    cause = loopback_only(LOGS[log], None, port)
    assert bool(cause) == unreachable, cause
    if unreachable:
        assert "listens on 127.0.0.1 only" in cause and "0.0.0.0" in cause


def test_the_socket_table_decides_when_it_can_be_read() -> None:
    """TorchServe's "bind to:" line is not one the diagnosis rule knows; the table is
    certain either way, and a 0.0.0.0 listener is never a false alarm."""
    log = LOGS["torchserve-local"]
    assert "127.0.0.1:8080" in loopback_only(log, [("127.0.0.1", 8080), ("0.0.0.0", 8081)], 8080)
    assert loopback_only(LOGS["plumber-all"], [("0.0.0.0", 8000)], 8000) == ""
    assert loopback_only(LOGS["gunicorn-local"], [], 5001) == ""  # not listening yet


def _probe_budget(project: Path, seconds: int) -> None:
    """A long probe budget: if the cause were not found early, the run would wait it out."""
    path = project / "deployment.yml"
    data = yaml.safe_load(path.read_text())
    for probe in ("liveness_probe", "readiness_probe"):
        data[probe].update(initial_delay=1, period=1, failure_threshold=seconds)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _run(project: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "scaffold", "run", "--no-validate", str(project)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    return proc.returncode, proc.stderr


@pytest.mark.docker
def test_plumber_on_127_0_0_1_fails_early_with_the_cause(
    render: Render, standin: Callable[[str], str]
) -> None:
    project = render("plumber", name="local-plumber", base_image=standin("plumber"))
    launcher = project / "docker-context" / "start_plumber.R"
    launcher.write_text(launcher.read_text().replace('host = "0.0.0.0"', 'host = "127.0.0.1"'))
    _probe_budget(project, 600)
    code, err = _run(project)
    line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert code == ExitCode.NOT_READY, err
    assert "liveness GET /live failed: the server listens on 127.0.0.1 only" in line
    assert "Running plumber API at http://127.0.0.1:8000" in line
    assert "make the server bind 0.0.0.0" in line and "not 200 within" not in line


@pytest.mark.docker
def test_gunicorn_on_127_0_0_1_fails_early_with_the_cause(
    render: Render, standin: Callable[[str], str]
) -> None:
    """The issue's case: gunicorn (the minimal image's server) logging `Listening at:
    http://127.0.0.1:5001`."""
    project = render("minimal", name="local-gunicorn", base_image=standin("minimal"))
    context = project / "docker-context"
    (context / "app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n"
    )
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text()
        + "COPY app.py /tmp/app/app.py\n"
        + 'CMD ["gunicorn", "--chdir", "/tmp/app", "--bind", "127.0.0.1:5001", "app:app"]\n'
    )
    _probe_budget(project, 600)
    code, err = _run(project)
    line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert code == ExitCode.NOT_READY, err
    assert "listens on 127.0.0.1 only" in line and "Listening at: http://127.0.0.1:5001" in line
