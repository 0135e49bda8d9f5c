"""`scaffold loadtest`: levels against a real HTTP server on 127.0.0.1 (every engine), the
recommendation (the knee rule, stability across level choices, advice withheld when the client
or other processes were the limit), the CLI's input checks, the export for Locust and Azure
Load Testing, and (Docker) short load tests of real minimal and plumber containers, a Locust
run of the export, and Ctrl-C/SIGTERM during a load test. Numbers are checked for sanity,
never for speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import REPO, Render, serving
from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.loadengine import Latency
from scaffold.loadtest import (
    LevelResult,
    _sweep,
    recommend,
    run_levels,
    withhold_reason,
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: Seconds each answer takes; in-flight requests beyond `limit` get 429 (like Azure).
    delay = 0.0
    limit = 1000
    status = 200
    in_flight = 0
    peak = 0
    seen = 0

    def handle_error(self, request: object, client_address: object) -> None:
        pass


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
        try:
            time.sleep(server.delay)
        finally:
            with _LOCK:  # done before answering: the client's next request is a new one
                server.in_flight -= 1
        status = 429 if over else server.status
        body = b'{"predictions": [1]}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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


@pytest.mark.parametrize("engine", ["wrk", "hey", "lean"])
def test_levels_are_bounded_in_count_and_reach_the_concurrency(
    server: _Server, engine: str
) -> None:
    server.delay = 0.1
    levels, stopped = _levels(
        server, [1, 4], seconds_per_level=8, max_requests_per_level=20, engine=engine
    )
    assert stopped == ""
    asked = [level for level in levels if not level.refined]
    assert [level.concurrency for level in asked] == [1, 4]
    # the count bound (hey splits it evenly over its workers, so it may send a few less)
    assert all(
        20 - level.concurrency <= level.requests <= 20 + level.concurrency for level in levels
    )
    assert all(level.ok == level.requests and level.errors == {} for level in levels)
    assert all(level.engine == engine for level in levels)
    assert server.peak == 4  # four requests really were in flight together
    one, four = asked
    assert 100 <= one.latency.p50 <= one.latency.p95 <= one.latency.p99  # the server's delay
    assert four.rps > 2 * one.rps  # the server answers in parallel: throughput grows
    # the knee (4) was bisected towards the level below it (1): 2 and 3 were measured too
    assert [level.concurrency for level in levels] == [1, 2, 3, 4]
    assert levels[1].refined and levels[2].refined


def test_errors_are_counted_by_kind_and_rising_stops_at_saturation(server: _Server) -> None:
    server.delay, server.limit = 0.05, 2  # like Azure past max_concurrent: 429
    levels, stopped = _levels(server, [1, 2, 8, 16], seconds_per_level=1, refine=False)
    assert [level.concurrency for level in levels] == [1, 2, 8]
    assert levels[0].errors == {} and levels[1].errors == {}
    assert levels[2].errors.get("429", 0) >= levels[2].requests // 2
    assert stopped.startswith("stopped after concurrency 8:")

    advice = recommend(levels, request_timeout_ms=5000, target_rps=100)
    assert advice is not None
    assert advice.max_concurrent_requests_per_instance == 2
    assert advice.capacity_rps == pytest.approx(levels[1].rps)


def test_requests_over_the_request_timeout_count_as_timeouts(server: _Server) -> None:
    server.delay = 0.6
    levels, stopped = _levels(
        server, [1, 2], seconds_per_level=1.5, request_timeout_ms=200, engine="lean"
    )
    assert levels[0].errors.get("timeout", 0) >= 1 and levels[0].ok == 0
    assert stopped  # nothing succeeded: no point in rising
    assert recommend(levels, request_timeout_ms=200, target_rps=None) is None


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


def _level(
    concurrency: int,
    rps: float,
    *,
    failed: int = 0,
    latency: float = 10.0,
    client: float = 0.1,
    server: float | None = None,
    busy: float | None = None,
) -> LevelResult:
    ok = int(rps * 2)
    return LevelResult(
        concurrency,
        ok + failed,
        ok,
        2.0,
        {"500": failed} if failed else {},
        Latency(latency, latency, latency, latency, latency),
        engine="wrk",
        client_cpu=client,
        server_cpu=server,
        server_core_busy=busy,
        server_cores=1,
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
    assert any("above an endpoint's default limit of 500" in note for note in advice.notes)
    # A level with errors, or p99 over the timeout, is never recommended.
    dirty = [_level(1, 100), _level(2, 300, failed=3), _level(4, 300, latency=6000)]
    advice = recommend(dirty, request_timeout_ms=5000, target_rps=None)
    assert advice is not None and advice.max_concurrent_requests_per_instance == 1
    assert advice.instance_count is None and advice.worker_count is None


def test_a_flat_curve_from_concurrency_one_recommends_one() -> None:
    """The issue's wrk curve of one azmlinfsrv worker: 983 / 1043 / 1026 req/s."""
    levels = [_level(1, 983), _level(4, 1043), _level(16, 1026)]
    advice = recommend(
        levels,
        request_timeout_ms=5000,
        target_rps=None,
        worker_env="WORKER_COUNT",
        worker_count=1,
        server_cpus=1,
        vcpus=4,
    )
    assert advice is not None and advice.max_concurrent_requests_per_instance == 1
    assert advice.worker_count == 1
    assert any("try WORKER_COUNT=4" in note for note in advice.notes)


def _curve(capacity: float, knee: int) -> Callable[[int, int], LevelResult]:
    """A server whose throughput grows linearly up to `knee` concurrent requests, then stays."""

    def one(concurrency: int, _index: int) -> LevelResult:
        return _level(concurrency, capacity * min(concurrency, knee) / knee)

    return one


@pytest.mark.parametrize("knee", [1, 2, 3, 5, 6, 12])
def test_the_advice_does_not_depend_on_the_levels_chosen(knee: int) -> None:
    choices = [[1, 2, 4, 8, 16], [1, 4, 16], [2, 8, 32], [16], [1, 32]]
    found = set()
    for levels in choices:
        results, _ = _sweep(levels, _curve(1000, knee), request_timeout_ms=5000, refine=True)
        advice = recommend(results, request_timeout_ms=5000, target_rps=None)
        assert advice is not None
        found.add(advice.max_concurrent_requests_per_instance)
    # 90% of the plateau is reached at ceil(0.9 * knee); every choice of levels finds it
    assert found == {max(1, -(-9 * knee // 10))}


def test_advice_is_withheld_when_the_client_or_other_processes_were_the_limit() -> None:
    fine = [_level(1, 100, client=0.3), _level(2, 190, client=0.5)]
    assert withhold_reason(fine) == ""
    busy_client = [_level(1, 100, client=0.3), _level(2, 190, client=0.9)]
    assert "load client was the limit at concurrency 2" in withhold_reason(busy_client)
    crowded = [_level(1, 100, server=0.3, busy=0.95)]
    assert "other processes used 65%" in withhold_reason(crowded)


@pytest.mark.parametrize(
    ("flags", "fix"),
    [
        (["--levels", "4,2"], "rising list"),
        (["--levels", "0"], "rising list"),
        (["--seconds", "0"], "--seconds"),
        (["--max-requests", "0"], "--max-requests"),
        (["--rps", "-3"], "--rps"),
        (["--plot", "/nonexistent-dir/x.png"], "does not exist"),
        (["--deployed"], "explicit rate and duration"),
        (["--deployed", "--rps", "10"], "explicit rate and duration"),
        (["--deployed", "--duration", "10"], "explicit rate and duration"),
        (["--deployed", "--rps", "5000", "--duration", "1"], "several machines"),
        (["--deployed", "--rps", "500", "--duration", "3600"], "more than 100000"),
        (["--deployed", "--export", "x", "--rps", "1", "--duration", "1"], "choose one"),
        (["--export", "x"], "explicit rate and duration"),
        (["--duration", "0"], "--duration"),
    ],
)
def test_bad_flags_fail_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fix: str
) -> None:
    assert main(["loadtest", str(tmp_path), *flags]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fix in err[0], err


def test_export_writes_a_locust_file_and_an_azure_load_testing_configuration(
    render: Render, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("minimal", name="export-ep")
    folder = tmp_path / "load"
    flags = ["--rps", "1200", "--duration", "300", "--deployment", "blue"]
    assert main(["loadtest", str(project), "--export", str(folder), *flags]) == ExitCode.OK
    assert "600 Locust users, 3 Azure Load Testing engine(s)" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == [
        "LOADTEST.md",
        "load-test.yaml",
        "locustfile.py",
        "request.json",
    ]
    assert (folder / "request.json").read_bytes() == (project / "sample_request.json").read_bytes()
    compile((folder / "locustfile.py").read_text(), "locustfile.py", "exec")
    config = yaml.safe_load((folder / "load-test.yaml").read_text())
    # keys and values of Azure Load Testing's test configuration YAML (its reference page)
    assert config["version"] == "v0.1"
    assert config["testType"] == "Locust" and config["testPlan"] == "locustfile.py"
    assert 2 <= len(config["testId"]) <= 50 and set(config["testId"]) <= set(
        "abcdefghijklmnopqrstuvwxyz0123456789_-"
    )
    assert config["engineInstances"] == 3
    assert config["configurationFiles"] == ["request.json"]
    env = {item["name"]: item["value"] for item in config["env"]}
    assert env["LOCUST_USERS"] == "200" and env["LOCUST_RUN_TIME"] == "300s"
    assert env["AZUREML_MODEL_DEPLOYMENT"] == "blue"
    assert config["secrets"][0]["name"] == "AZUREML_ENDPOINT_KEY"
    assert config["secrets"][0]["value"].startswith("https://")
    assert "percentage(error) > 1" in config["failureCriteria"]
    assert len(config["description"]) <= 100
    assert set(config["autoStop"]) == {"errorPercentage", "timeWindow"}


# -- Docker ---------------------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.parametrize(("server_name", "engine"), [("minimal", "auto"), ("plumber", "lean")])
def test_loadtest_of_a_real_container_is_sane(
    render: Render,
    standin: Callable[[str], str],
    server_name: str,
    engine: str,
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
            "--engine",
            engine,
            "--json",
            "--plot",
            str(plot),
        ]
    )
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    report = json.loads(out)
    assert report["frontend"] is True
    assert report["engine"] == ("wrk" if engine == "auto" else engine)
    asked = [level for level in report["levels"] if not level["refined"]]
    assert [level["concurrency"] for level in asked] == [1, 2, 4]
    for level in report["levels"]:
        assert 0 < level["requests"] <= 300 + level["concurrency"]
        assert level["ok"] == level["requests"] and level["errors"] == {}
        assert level["rps"] > 5  # measured rates are 100+ req/s; this only rules out nonsense
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] <= level["max_ms"]
        assert level["p99_ms"] < report["request_timeout_ms"]
        assert 0 < level["client_cpu"] < 1.5 and level["frontend_cpu"] > 0
        assert level["server_cpu"] is not None and level["server_cpu"] > 0
    # the container ran on its own CPU, the client on the other (this is a 2-CPU machine)
    assert report["server_cpus"] and report["client_cpus"]
    assert set(report["server_cpus"].split(",")).isdisjoint(report["client_cpus"].split(","))
    advice = report["recommendation"]
    if advice is None:  # a busy shared machine: then it must say why
        assert report["withheld"]
    else:
        assert advice["max_concurrent_requests_per_instance"] in (1, 2, 3, 4)
        assert advice["instance_count"] >= 1
        expected_worker = "WORKER_COUNT" if server_name == "minimal" else None
        assert advice["worker_env"] == expected_worker
    assert report["current"]["instance_type"] == "Standard_DS3_v2"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.docker
def test_the_raw_server_and_the_text_report(
    render: Render,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("minimal", name="raw-load", base_image=standin("minimal"))
    argv = ["loadtest", str(project), "--levels", "1,2", "--seconds", "1", "--no-frontend"]
    assert main([*argv, "--no-refine", "--engine", "lean"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "engine lean, raw server; server on CPU" in out
    assert "concurrency  requests" in out and "client  server" in out
    assert "Recommended in deployment.yml:" in out or "No recommendation:" in out


@pytest.mark.docker
def test_the_exported_locustfile_runs_against_the_front_end(
    render: Render,
    standin: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """The export, run headless by a real Locust for a few seconds against a real container
    behind the front-end emulation, with the key in AZUREML_ENDPOINT_KEY."""
    from scaffold.localrun import LocalDeployment

    locust = Path(sys.executable).with_name("locust")
    assert locust.is_file(), "locust is a dev dependency: pip install -e '.[dev]'"
    project = render("minimal", name="locust-ep", base_image=standin("minimal"))
    folder = tmp_path / "export"
    assert (
        main(["loadtest", str(project), "--export", str(folder), "--rps", "10", "--duration", "3"])
        == 0
    )
    with LocalDeployment(project).ready() as local:
        front = local.start_frontend()
        try:
            env = {
                **os.environ,
                "AZUREML_ENDPOINT_KEY": local.front_key,
                "SCORING_PATH": local.plan.scoring.path,
            }
            proc = subprocess.run(
                [
                    str(locust),
                    "-f",
                    str(folder / "locustfile.py"),
                    "--headless",
                    "--host",
                    front.url,
                    # 2 users: deployment.yml's max_concurrent_requests_per_instance 1 lets 2 in
                    # flight; with more, the front end answers 429 as Azure would
                    "--users",
                    "2",
                    "--spawn-rate",
                    "2",
                    "--run-time",
                    "3s",
                    "--csv",
                    str(tmp_path / "stats"),
                    "--only-summary",
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
        finally:
            local.stop_frontend()
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = (tmp_path / "stats_stats.csv").read_text().splitlines()
    header = rows[0].split(",")
    score = dict(zip(header, next(r for r in rows if ",score," in r).split(","), strict=True))
    assert int(score["Request Count"]) > 0
    assert int(score["Failure Count"]) == 0
    assert local.front_key not in proc.stdout + proc.stderr


@pytest.mark.docker
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_during_the_load_exit_cleanly(
    render: Render,
    standin: Callable[[str], str],
    signum: int,
) -> None:
    """Interrupted mid-level: the documented exit code, one line, no traceback and no
    "Task exception was never retrieved", the container and the engine process gone."""
    import docker

    project = render("minimal", name=f"sig-load-{int(signum)}", base_image=standin("minimal"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "loadtest", str(project), "--seconds", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:  # bounded: the run fails long before the test's timeout
        lines.append(line)
        if "Level 1/5" in line:
            break
    time.sleep(1.0)  # the engine is sending now
    proc.send_signal(signum)
    _, rest_err = proc.communicate(timeout=120)
    err = "".join(lines) + rest_err
    expected = ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.TERMINATED
    assert proc.returncode == expected, err
    assert "Traceback" not in err and "Task exception" not in err and "never retrieved" not in err
    assert err.strip().splitlines()[-1].startswith("error: ")
    client = docker.from_env()
    left = client.containers.list(all=True, filters={"label": f"scaffold.project={project}"})
    assert left == []
    engines = subprocess.run(["pgrep", "-f", "wrk -t"], capture_output=True, text=True).stdout
    assert str(project) not in engines


@pytest.mark.docker
def test_cpu_pinning_the_engine_refuses_falls_back_to_unpinned(
    render: Render, standin: Callable[[str], str]
) -> None:
    """Docker Desktop's VM has other CPUs than the host: a cpuset it refuses must not stop
    the load test (here: a CPU no machine has)."""
    from dataclasses import replace

    from scaffold.localrun import LocalDeployment

    project = render("minimal", name="pin-refused", base_image=standin("minimal"))
    deployment = LocalDeployment(project, separate_client=True)
    deployment.resources = replace(deployment.resources, cpuset="987", client_cpus=(0,))
    with deployment.ready():
        assert deployment.resources.cpuset == "" and deployment.resources.client_cpus == ()
        assert deployment.state()[0] == "running"
        assert "CPU pinning refused" in deployment.resources.notes[-1]
