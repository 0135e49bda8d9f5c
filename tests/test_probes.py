"""Readiness waiting against a real local HTTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import serving
from scaffold.probes import check, wait_ready
from scaffold.project import Probe


class _Server(ThreadingHTTPServer):
    ready_at: float
    hang: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.server.hang:
            time.sleep(self.server.hang)
        ready = time.monotonic() >= self.server.ready_at
        self.send_response(200 if ready else 503)
        self.end_headers()
        self.wfile.write(b"ok" if ready else b"loading")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.ready_at = 0.0
    httpd.hang = 0.0
    with serving(httpd):
        yield httpd


def _url(httpd: _Server) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/ready"


PROBE = Probe(initial_delay=1, period=1, timeout=1, success_threshold=1, failure_threshold=3)


def test_becomes_ready(server: _Server) -> None:
    server.ready_at = time.monotonic() + 1.2
    result = wait_ready(_url(server), PROBE, alive=lambda: "")
    assert result.ready and 1.0 <= result.seconds < 3


def test_budget_exceeded_reports_last_answer(server: _Server) -> None:
    server.ready_at = time.monotonic() + 60
    result = wait_ready(_url(server), PROBE, alive=lambda: "")
    assert not result.ready
    assert PROBE.budget <= result.seconds < PROBE.budget + 2
    assert result.last_error == "HTTP 503 loading"


def test_per_request_timeout_is_the_probe_timeout(server: _Server) -> None:
    server.hang = 1.5  # like azmlinfsrv while init() runs: connects, then hangs
    ok, why = check(_url(server), timeout=0.5)
    assert not ok and "timed out" in why


def test_exited_container_ends_the_wait() -> None:
    result = wait_ready(
        "http://127.0.0.1:9/ready", PROBE, alive=lambda: "container exited (exit code 1)"
    )
    assert not result.ready and result.exited == "container exited (exit code 1)"
    assert result.seconds < 1
