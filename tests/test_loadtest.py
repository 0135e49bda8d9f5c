"""`scaffold loadtest`: the load driver against a real HTTP server on 127.0.0.1, the
recommendation, the CLI's input checks, and (Docker) short load tests of real minimal and
plumber containers whose numbers are checked for sanity, not for speed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import Render, serving
from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.loadtest import LevelResult, recommend, run_levels


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: Seconds each answer takes; in-flight requests beyond `limit` get 429 (like Azure).
    delay = 0.0
    limit = 1000
    status = 200
    in_flight = 0
    peak = 0
    seen = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        with _LOCK:
            server.seen += 1
            server.in_flight += 1
            server.peak = max(server.peak, server.in_flight)
            over = server.in_flight > server.limit
        try:
            time.sleep(server.delay)
            status = 429 if over else server.status
            body = b'{"predictions": [1]}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with _LOCK:
                server.in_flight -= 1

    def log_message(self, *args: object) -> None:
        pass


_LOCK = threading.Lock()


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server(("127.0.0.1", 0), _Handler)) as httpd:
        yield httpd


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/score"


def _levels(server: _Server, levels: list[int], **kwargs: object) -> tuple[list[LevelResult], str]:
    options: dict = {"seconds_per_level": 1.0, "max_requests_per_level": 10_000}
    options.update(kwargs)
    options.setdefault("request_timeout_ms", 5000)
    return run_levels(_url(server), b"{}", levels=levels, **options)


def test_levels_are_bounded_in_count_and_time_and_reach_the_concurrency(server: _Server) -> None:
    server.delay = 0.02
    started = time.monotonic()
    levels, stopped = _levels(server, [1, 4], seconds_per_level=6, max_requests_per_level=40)
    assert time.monotonic() - started < 12
    assert stopped == ""
    assert [level.requests for level in levels] == [40, 40]  # the count bound
    assert all(level.ok == 40 and level.errors == {} for level in levels)
    assert server.seen == 80
    assert server.peak == 4  # four requests really were in flight together
    one, four = levels
    assert 0 < one.percentile(0.5) <= one.percentile(0.95) <= one.percentile(0.99)
    assert one.percentile(0.5) >= 20  # the server's delay
    assert four.rps > 2 * one.rps  # the server answers in parallel: throughput grows

    server.delay = 0.0
    started = time.monotonic()
    levels, _ = _levels(server, [2], seconds_per_level=0.5)
    assert 0.5 <= time.monotonic() - started < 3  # the time bound
    assert levels[0].requests < 10_000


def test_errors_are_counted_by_kind_and_rising_stops_at_saturation(server: _Server) -> None:
    server.delay, server.limit = 0.05, 2  # like Azure past max_concurrent: 429
    levels, stopped = _levels(server, [1, 2, 8, 16], seconds_per_level=0.6)
    assert [level.concurrency for level in levels] == [1, 2, 8]
    assert levels[0].errors == {} and levels[1].errors == {}
    assert levels[2].errors.get("429", 0) >= levels[2].requests // 2
    assert stopped.startswith("stopped after concurrency 8:")

    advice = recommend(levels, request_timeout_ms=5000, target_rps=100)
    assert advice is not None
    assert advice.max_concurrent_requests_per_instance == 2
    assert advice.capacity_rps == pytest.approx(levels[1].rps)
    assert advice.instance_count == pytest.approx(100 / (0.7 * levels[1].rps), abs=1)


def test_requests_over_the_request_timeout_count_as_timeouts(server: _Server) -> None:
    server.delay = 0.4
    levels, stopped = _levels(server, [1, 2], seconds_per_level=0.5, request_timeout_ms=100)
    assert levels[0].errors == {"timeout": levels[0].requests}
    assert stopped  # nothing succeeded: no point in rising
    assert recommend(levels, request_timeout_ms=100, target_rps=None) is None


def test_only_loopback_is_a_target() -> None:
    with pytest.raises(UsageError, match="loopback"):
        run_levels(
            "http://192.0.2.1:80/score",
            b"{}",
            levels=[1],
            seconds_per_level=0.1,
            max_requests_per_level=1,
            request_timeout_ms=100,
        )


def _level(concurrency: int, rps: float, *, failed: int = 0, latency: float = 10.0) -> LevelResult:
    ok = int(rps * 2)
    return LevelResult(
        concurrency,
        ok + failed,
        ok,
        2.0,
        {"500": failed} if failed else {},
        [latency] * ok,
    )


def test_recommendation_picks_the_knee_and_sizes_workers_and_instances() -> None:
    levels = [_level(1, 100), _level(2, 190), _level(4, 200), _level(8, 205, latency=80)]
    advice = recommend(
        levels, request_timeout_ms=5000, target_rps=1000, worker_env="WORKER_COUNT", worker_count=1
    )
    assert advice is not None
    assert advice.max_concurrent_requests_per_instance == 2  # 190 >= 0.9 * 205
    assert advice.worker_env == "WORKER_COUNT" and advice.worker_count == 2
    assert advice.instance_count == 8  # ceil(1000 / (0.7 * 190))
    assert any("WORKER_COUNT=1" in note for note in advice.notes)
    # A level with errors, or p99 over the timeout, is never recommended.
    dirty = [_level(1, 100), _level(2, 300, failed=3), _level(4, 300, latency=6000)]
    advice = recommend(dirty, request_timeout_ms=5000, target_rps=None)
    assert advice is not None and advice.max_concurrent_requests_per_instance == 1
    assert advice.instance_count is None and advice.worker_count is None


@pytest.mark.parametrize(
    ("flags", "fix"),
    [
        (["--levels", "4,2"], "rising list"),
        (["--levels", "0"], "rising list"),
        (["--seconds", "0"], "--seconds"),
        (["--max-requests", "0"], "--max-requests"),
        (["--rps", "-3"], "--rps"),
        (["--plot", "/nonexistent-dir/x.png"], "does not exist"),
    ],
)
def test_bad_flags_fail_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fix: str
) -> None:
    assert main(["loadtest", str(tmp_path), *flags]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fix in err[0]


@pytest.mark.docker
@pytest.mark.parametrize("server_name", ["minimal", "plumber"])
def test_loadtest_of_a_real_container_is_sane(
    render: Render,
    standin: Callable[[str], str],
    server_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render(server_name, name=f"{server_name}-load", base_image=standin(server_name))
    plot = tmp_path / "latency.png"
    code = main(
        [
            "loadtest",
            str(project),
            "--levels",
            "1,2,4",
            "--seconds",
            "1.5",
            "--max-requests",
            "300",
            "--rps",
            "200",
            "--json",
            "--plot",
            str(plot),
        ]
    )
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    report = json.loads(out)
    assert [level["concurrency"] for level in report["levels"]] == [1, 2, 4]
    for level in report["levels"]:
        assert 0 < level["requests"] <= 300
        assert level["ok"] == level["requests"] and level["errors"] == {}
        assert level["rps"] > 5  # measured rates are 100+ req/s; this only rules out nonsense
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] <= level["max_ms"]
        assert level["p99_ms"] < report["request_timeout_ms"]
        assert level["seconds"] < 1.5 + report["request_timeout_ms"] / 1000 + 1
    advice = report["recommendation"]
    assert advice["max_concurrent_requests_per_instance"] in (1, 2, 4)
    assert advice["instance_count"] >= 1
    expected_worker = "WORKER_COUNT" if server_name == "minimal" else None
    assert advice["worker_env"] == expected_worker
    assert report["current"]["max_concurrent_requests_per_instance"] >= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 10_000
