"""The generated, standalone smoke_test.py against a real local HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ECHO_KEY as KEY
from conftest import Render, serving


class _Stub(ThreadingHTTPServer):
    answer: tuple[int, bytes]
    seen: list[dict[str, str]]


class _Handler(BaseHTTPRequestHandler):
    server: _Stub

    def do_GET(self) -> None:
        self._reply(200, b"{}")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        self._reply(*self.server.answer)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[_Stub]:
    httpd = _Stub(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    with serving(httpd):
        yield httpd


def _smoke(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(project / "smoke_test.py"), "--deadline", "3", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=project,
    )


def _expected(project: Path) -> dict:
    return json.loads((project / "sample_response.json").read_text())


def test_passes_on_matching_response(render: Render, stub: _Stub) -> None:
    project = render("minimal")
    stub.answer = (200, json.dumps(_expected(project)).encode())
    proc = _smoke(project, "--url", f"http://127.0.0.1:{stub.server_address[1]}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("PASS") == 3 and "smoke test passed" in proc.stdout


def test_numbers_compare_with_tolerance(render: Render, stub: _Stub) -> None:
    project = render("minimal")
    expected = _expected(project)
    nudged = {"predictions": [v * (1 + 1e-9) for v in expected["predictions"]]}
    stub.answer = (200, json.dumps(nudged).encode())
    assert _smoke(project, "--url", f"http://127.0.0.1:{stub.server_address[1]}").returncode == 0
    wrong = {"predictions": [v + 0.1 for v in expected["predictions"]]}
    stub.answer = (200, json.dumps(wrong).encode())
    proc = _smoke(project, "--url", f"http://127.0.0.1:{stub.server_address[1]}")
    assert proc.returncode == 1 and "$.predictions[0]: expected" in proc.stderr


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b'{"error": "boom"}', "HTTP 500"),
        (200, b"not json", "not JSON"),
        (200, b'{"predictions": [1]}', "expected 2 items"),
    ],
)
def test_fails_clearly(render: Render, stub: _Stub, status: int, body: bytes, message: str) -> None:
    project = render("plumber")
    stub.answer = (status, body)
    proc = _smoke(project, "--url", f"http://127.0.0.1:{stub.server_address[1]}")
    assert proc.returncode == 1 and message in proc.stderr


def test_unreachable_server_times_out_with_reason(render: Render) -> None:
    proc = _smoke(render("plumber"), "--url", "http://127.0.0.1:9")
    assert proc.returncode == 1
    assert "liveness: GET http://127.0.0.1:9/live not 200 within 3s" in proc.stderr


def test_deployed_mode_sends_bearer_token_from_env(render: Render, stub: _Stub) -> None:
    project = render("minimal")
    stub.answer = (200, json.dumps(_expected(project)).encode())
    uri = f"http://127.0.0.1:{stub.server_address[1]}/score"
    missing = _smoke(project, "--scoring-uri", uri, env={"AZUREML_ENDPOINT_KEY": ""})
    assert missing.returncode == 1 and "AZUREML_ENDPOINT_KEY" in missing.stderr
    proc = _smoke(
        project,
        "--scoring-uri",
        uri,
        "--deployment",
        "blue",
        env={"AZUREML_ENDPOINT_KEY": "s3cret"},
    )
    assert proc.returncode == 0, proc.stderr
    assert stub.seen[-1]["authorization"] == "Bearer s3cret"
    assert stub.seen[-1]["azureml-model-deployment"] == "blue"
    assert "s3cret" not in proc.stdout + proc.stderr


def test_rejects_mixed_modes(render: Render) -> None:
    proc = _smoke(render("minimal"), "--scoring-uri", "https://x/score", "--url", "http://y")
    assert proc.returncode == 2


@pytest.mark.parametrize("server", ["minimal", "plumber"])
def test_key_never_printed_when_a_server_echoes_headers(
    render: Render, echo: ThreadingHTTPServer, server: str
) -> None:
    project = render(server)
    uri = f"http://127.0.0.1:{echo.server_address[1]}/score"
    proc = _smoke(project, "--scoring-uri", uri, env={"AZUREML_ENDPOINT_KEY": KEY})
    shown = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "HTTP 500" in shown, shown
    assert "Authorization" in shown and "Bearer ***" in shown, shown  # the echo is visible...
    for part in (KEY, KEY[:12], KEY[-12:], KEY.replace("/", "\\/")):
        assert part not in shown, (part, shown)  # ...the key is not, not even cut in half


def test_key_never_printed_in_a_mismatch(render: Render, echo: ThreadingHTTPServer) -> None:
    """A 200 whose JSON differs from the expected one: the message quotes the key's value."""
    project = render("minimal")
    expect = project / "expect.json"
    expect.write_text(json.dumps({"padding": "", "key_again": "other", "headers": {}, "raw": ""}))
    uri = f"http://127.0.0.1:{echo.server_address[1]}/ok"
    proc = _smoke(
        project, "--scoring-uri", uri, "--expect", str(expect), env={"AZUREML_ENDPOINT_KEY": KEY}
    )
    shown = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "$.key_again: expected 'other', got '***'" in shown, shown
    assert KEY not in shown


def test_probe_failure_masks_authorization_values(
    render: Render, echo: ThreadingHTTPServer
) -> None:
    """A probe's failing body is quoted, Authorization values (e.g. a proxy's) masked."""
    port = echo.server_address[1]
    proc = _smoke(
        render("plumber"),
        "--url",
        f"http://127.0.0.1:{port}",
        "--liveness-url",
        f"http://127.0.0.1:{port}/not-live",
    )
    assert proc.returncode == 1 and "not 200 within" in proc.stderr, proc.stderr
