"""The load engines (wrk, hey, scaffold's lean client) against a real HTTP server on 127.0.0.1:
what they count, their bounds, keep-alive and closed connections, chunked answers, TLS, the
open-loop rate, CPU pinning and measurement, and that a key never reaches a command line.

wrk and hey are Debian packages (scripts/bootstrap.sh installs them); a test of an engine that
is not installed fails, it never skips."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import serving
from scaffold import loadengine
from scaffold.loadengine import EngineError, Load, Request

KEY = "secret-key-0123456789-abcdefghij"
ENGINES = ["wrk", "hey", "lean"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: Seconds each answer takes; status of every answer; close after each answer.
    delay = 0.0
    status = 200
    close = False
    chunked = False
    #: Requests beyond this many in flight get 429 (like Azure's front end).
    limit = 10_000
    in_flight = 0
    peak = 0
    seen = 0
    authorizations: set[str]
    #: Command lines of wrk/hey processes seen while a request was being answered.
    command_lines: list[bytes]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # an engine stopping mid-answer (its time bound) is not an error here


_LOCK = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        with _LOCK:
            server.seen += 1
            server.in_flight += 1
            server.peak = max(server.peak, server.in_flight)
            over = server.in_flight > server.limit
            server.authorizations.add(self.headers.get("Authorization", ""))
            first = server.seen == 1
        if first:
            server.command_lines.extend(_engine_command_lines())
        try:
            time.sleep(server.delay)
            status = 429 if over else server.status
            body = b'{"predictions": [1]}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if server.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            if server.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if server.chunked:
                for part in (b'data: {"a": 1}\n\n', b'data: {"a": 2}\n\n'):
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body)
        finally:
            with _LOCK:
                server.in_flight -= 1

    def log_message(self, *args: object) -> None:
        pass


def _engine_command_lines() -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if line.split(b"\0")[0].endswith((b"wrk", b"hey")) or b"scaffold.loadengine" in line:
            found.append(line)
    return found


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.authorizations = set()
    httpd.command_lines = []
    with serving(httpd):
        yield httpd


def _request(server: _Server, *, key: str = "", tls: bool = False) -> Request:
    scheme = "https" if tls else "http"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    if key:
        headers += (("Authorization", f"Bearer {key}"),)
    return Request(
        url=f"{scheme}://127.0.0.1:{server.server_address[1]}/score",
        body=b'{"data": [[1, 2, 3]]}',
        headers=headers,
        secret_headers=frozenset({"authorization"}) if key else frozenset(),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_is_installed_and_reaches_the_concurrency(
    server: _Server, engine: str
) -> None:
    assert engine in loadengine.installed(), f"{engine} missing: apt-get install {engine}"
    server.delay = 0.1  # long enough for four requests to overlap on a busy machine
    sample = loadengine.run(
        engine,
        _request(server),
        Load(seconds=2, max_requests=40, timeout_s=5, concurrency=4),
        cpus=[0],
    )
    assert sample.engine == engine
    # the count bound: each engine stops near max_requests (in-flight ones may finish)
    assert 40 <= sample.requests <= 40 + 4
    assert sample.ok == sample.requests and sample.errors == {}
    assert server.seen >= sample.requests
    assert server.peak == 4  # four requests really were in flight together
    assert 100 <= sample.latency.p50 <= sample.latency.p95 <= sample.latency.p99
    assert sample.latency.p99 <= sample.latency.max
    assert sample.rps > 0 and sample.cpu_seconds > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_errors_are_counted_by_status(server: _Server, engine: str) -> None:
    server.delay, server.limit = 0.05, 2
    sample = loadengine.run(
        engine, _request(server), Load(seconds=1, max_requests=100, timeout_s=5, concurrency=4)
    )
    assert sample.errors.get("429", 0) > 0
    assert sample.ok > 0
    assert sample.ok + sum(sample.errors.values()) == sample.requests


@pytest.mark.parametrize("engine", ENGINES)
def test_the_time_bound_holds_and_closed_connections_are_reopened(
    server: _Server, engine: str
) -> None:
    server.close = True  # like gunicorn's sync workers: Connection: close on every answer
    sample = loadengine.run(
        engine,
        _request(server),
        Load(seconds=1, max_requests=1_000_000, timeout_s=5, concurrency=2),
    )
    assert sample.requests < 1_000_000  # the time bound stopped it, not the count
    assert sample.ok == sample.requests > 2  # every answer closed its connection
    assert sample.seconds < 1 + 5 + loadengine.SLACK


def test_slow_answers_count_as_timeouts_with_the_lean_engine(server: _Server) -> None:
    server.delay = 1.0
    sample = loadengine.run(
        "lean", _request(server), Load(seconds=1.5, max_requests=100, timeout_s=0.2, concurrency=2)
    )
    assert sample.ok == 0
    assert sample.errors.get("timeout", 0) >= 2


def test_a_refused_connection_is_an_error_not_a_hang() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    request = Request(url=f"http://127.0.0.1:{port}/score", body=b"{}")
    sample = loadengine.run("lean", request, Load(0.5, 1000, 1.0, 2))
    assert sample.ok == 0 and sample.errors.get("connection", 0) > 0


def test_chunked_and_streamed_answers_are_read_whole(server: _Server) -> None:
    server.chunked = True
    request = Request(
        url=f"http://127.0.0.1:{server.server_address[1]}/score", body=b"{}", stream=True
    )
    sample = loadengine.run("lean", request, Load(1, 20, 5, 2))
    assert sample.ok == sample.requests >= 20
    assert sample.extra["events_per_answer"] == 2.0
    assert 0 < sample.extra["first_byte_p50_ms"] <= sample.latency.p50


def test_open_loop_sends_the_rate_not_as_fast_as_it_can(server: _Server) -> None:
    load = Load(seconds=1.0, max_requests=10_000, timeout_s=5, rate=40.0, max_in_flight=8)
    sample = loadengine.run("lean", _request(server), load)
    # 40/s for 1 s: about 40 sent (a closed loop would send thousands)
    assert 30 <= sample.requests <= 42
    assert sample.extra["dropped"] == 0


def test_the_key_never_reaches_a_command_line(server: _Server) -> None:
    for engine in ("wrk", "lean"):
        server.seen = 0
        server.command_lines.clear()
        loadengine.run(engine, _request(server, key=KEY), Load(1, 5, 5, 1))
        assert f"Bearer {KEY}" in server.authorizations  # the key was sent
        assert server.command_lines, "the engine process was not seen"
        assert not any(KEY.encode() in line for line in server.command_lines)
    with pytest.raises(EngineError, match="command line"):
        loadengine.choose("hey", _request(server, key=KEY), Load(1, 5, 5, 1))
    assert loadengine.choose("auto", _request(server, key=KEY), Load(1, 5, 5, 1))[0] == "wrk"


def test_tls_is_verified_and_only_the_lean_engine_sends_over_it(
    server: _Server, tmp_path: Path
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "standins"))
    from arm_standin import make_tls  # type: ignore[import-not-found]

    ca, cert, key = make_tls(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    request = _request(server, key=KEY, tls=True)
    assert loadengine.choose("auto", request, Load(1, 5, 5, 1))[0] == "lean"
    for engine in ("wrk", "hey"):
        assert "TLS" in loadengine.why_not(engine, request, Load(1, 5, 5, 1))
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca)
    try:
        trusted = loadengine.run("lean", request, Load(1, 10, 5, 2))
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE")
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
    assert trusted.ok == trusted.requests >= 10
    # without the test CA the certificate is refused: nothing is sent to an unverified server
    untrusted = loadengine.run("lean", request, Load(0.5, 10, 5, 1))
    assert untrusted.ok == 0 and untrusted.errors.get("connection", 0) > 0


def test_engines_run_pinned_to_the_given_cpus() -> None:
    import sys

    if not hasattr(os, "sched_setaffinity"):
        pytest.fail("this Linux test needs sched_setaffinity")
    cpu = max(os.sched_getaffinity(0))
    child = loadengine._run_child(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        cpus=[cpu],
        budget=30,
        tick=None,
    )
    assert json.loads(child.stdout) == [cpu]


def test_hey_reports_are_parsed() -> None:
    text = """
Summary:
  Total:\t1.0026 secs
  Slowest:\t0.0159 secs
  Fastest:\t0.0012 secs
  Average:\t0.0030 secs
  Requests/sec:\t1592.8576

Latency distribution:
  10% in 0.0018 secs
  50% in 0.0025 secs
  95% in 0.0057 secs
  99% in 0.0093 secs

Status code distribution:
  [200]\t1590 responses
  [429]\t7 responses

Error distribution:
  [3]\tPost "http://127.0.0.1:1/score": context deadline exceeded (Client.Timeout exceeded)
  [1]\tPost "http://127.0.0.1:1/score": dial tcp 127.0.0.1:1: connect: connection refused
"""
    fields, statuses, errors = loadengine.parse_hey(text)
    assert fields["total"] == 1.0026 and fields["p50"] == 0.0025 and fields["slowest"] == 0.0159
    assert statuses == {"200": 1590, "429": 7}
    assert errors == {"timeout": 3, "connection": 1}


def test_lua_strings_carry_any_bytes() -> None:
    assert loadengine._lua_string('a"b\\c\n') == '"a\\034b\\092c\\010"'
    assert loadengine._lua_string(b"\x00\xff") == '"\\000\\255"'
