"""`scaffold loadtest`: size a deployment by driving its scoring route at rising concurrency.

The project is started exactly like `scaffold run` (same image, mounts, variables, probes),
then its sample request is POSTed to the scoring route on 127.0.0.1 by an asyncio client
(httpx) at each concurrency level in turn. Every level is bounded in time and in count;
each request is bounded by the deployment's `request_timeout_ms` (past it Azure answers
408). From the levels come throughput, latency percentiles and errors, and a
recommendation for `max_concurrent_requests_per_instance`, the server's worker count (where
it has one, e.g. azmlinfsrv's `WORKER_COUNT`) and the instance count for a target rate.

Traffic only ever goes to the loopback address of the container this process started.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.errors import NotReadyError, SmokeTestError, UsageError
from scaffold.localrun import LocalDeployment, Reporter

#: A level whose throughput is within this share of the best one counts as saturated:
#: more concurrency only adds queueing, so the smallest such level is recommended.
KNEE_SHARE = 0.9
#: Plan instances for this share of their measured capacity (headroom for spikes).
UTILISATION = 0.7
#: Azure's advice for production: at least three instances (upgrades, failures).
HA_INSTANCES = 3
#: Seconds between two progress callbacks.
TICK = 0.2
#: Warm-up requests tried before the first level (the first answer may be slow).
WARMUP_TRIES = 5


@dataclass(frozen=True)
class Progress:
    """Where a running level is (for a progress bar)."""

    concurrency: int
    level: int
    levels: int
    sent: int
    max_requests: int
    elapsed: float
    seconds: float


ProgressCallback = Callable[[Progress], None]


@dataclass
class LevelResult:
    """One concurrency level's outcome."""

    concurrency: int
    requests: int
    ok: int
    seconds: float
    #: Failures by kind: an HTTP status ("429", "500"), "timeout" (over request_timeout_ms,
    #: where Azure answers 408) or "connection".
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx answer in time."""
        return self.requests - self.ok

    @property
    def error_rate(self) -> float:
        """Share of failed requests (0..1)."""
        return self.failed / self.requests if self.requests else 1.0

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, share: float) -> float:
        """Latency (ms) of successful requests at `share` (0..1); 0 without any."""
        data = sorted(self.latencies_ms)
        if not data:
            return 0.0
        if len(data) == 1:
            return data[0]
        cuts = statistics.quantiles(data, n=100, method="inclusive")
        return cuts[min(98, max(0, round(share * 100) - 1))]

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 2),
            "p50_ms": round(self.percentile(0.50), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "max_ms": round(max(self.latencies_ms, default=0.0), 2),
        }


@dataclass
class Recommendation:
    """Settings for deployment.yml, derived from the levels."""

    max_concurrent_requests_per_instance: int
    #: Successful requests/second one instance sustained at that concurrency (this machine).
    capacity_rps: float
    #: The server's worker variable (e.g. WORKER_COUNT) and its recommended value, if any.
    worker_env: str = ""
    worker_count: int | None = None
    #: Instances for the target rate (None without --rps).
    instance_count: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {
            "max_concurrent_requests_per_instance": self.max_concurrent_requests_per_instance,
            "capacity_rps": round(self.capacity_rps, 2),
            "worker_env": self.worker_env or None,
            "worker_count": self.worker_count,
            "instance_count": self.instance_count,
            "notes": list(self.notes),
        }


@dataclass
class LoadReport:
    """What `scaffold loadtest` measured and recommends."""

    project: Path
    scoring_path: str
    request_timeout_ms: int
    max_concurrent_requests_per_instance: int
    instance_count: int
    target_rps: float | None
    levels: list[LevelResult] = field(default_factory=list)
    recommendation: Recommendation | None = None
    #: Why rising stopped before the last level ("" when every level ran).
    stopped_early: str = ""
    #: The server's worker variable and the value the container ran with.
    worker_env: str = ""
    worker_count: int | None = None
    cores: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {
            "project": str(self.project),
            "scoring_path": self.scoring_path,
            "request_timeout_ms": self.request_timeout_ms,
            "current": {
                "max_concurrent_requests_per_instance": self.max_concurrent_requests_per_instance,
                "instance_count": self.instance_count,
                "worker_env": self.worker_env or None,
                "worker_count": self.worker_count,
            },
            "target_rps": self.target_rps,
            "cores": self.cores,
            "levels": [level.to_json() for level in self.levels],
            "stopped_early": self.stopped_early or None,
            "recommendation": self.recommendation.to_json() if self.recommendation else None,
            "notes": list(self.notes),
        }


# -- the load driver ----------------------------------------------------------------------


async def _drive(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    timeout_s: float,
    tick: Callable[[int, float], None] | None = None,
) -> LevelResult:
    """POST `body` to `url` from `concurrency` workers until `seconds` pass or
    `max_requests` were sent; each request bounded by `timeout_s`."""
    import httpx

    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds
    sent = ok = 0
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(timeout_s)

    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:

        async def worker() -> None:
            nonlocal sent, ok
            while sent < max_requests and loop.time() < deadline:
                sent += 1
                began = time.perf_counter()
                try:
                    answer = await client.post(url, content=body, headers=headers)
                except httpx.TimeoutException:
                    errors["timeout"] += 1
                    continue
                except httpx.HTTPError:
                    errors["connection"] += 1
                    await asyncio.sleep(0.05)  # a refused connection returns at once
                    continue
                if 200 <= answer.status_code < 300:
                    ok += 1
                    latencies.append((time.perf_counter() - began) * 1000.0)
                else:
                    errors[str(answer.status_code)] += 1

        async def ticker() -> None:
            while tick is not None:
                tick(sent, loop.time() - started)
                await asyncio.sleep(TICK)

        ticking = asyncio.create_task(ticker())
        try:
            # The outer bound: time budget + one request's timeout + slack.
            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(concurrency))),
                timeout=seconds + timeout_s + 5.0,
            )
        finally:
            ticking.cancel()
    elapsed = loop.time() - started
    if tick is not None:
        tick(sent, elapsed)
    return LevelResult(concurrency, sent, ok, elapsed, dict(errors), latencies)


def run_levels(
    url: str,
    body: bytes,
    *,
    levels: list[int],
    seconds_per_level: float,
    max_requests_per_level: int,
    request_timeout_ms: int,
    progress: ProgressCallback | None = None,
    alive: Callable[[], str] | None = None,
) -> tuple[list[LevelResult], str]:
    """Drive `url` at each level in turn; stop rising once a level saturates (half the
    requests fail, or p95 is over the request timeout). Returns the levels and why rising
    stopped early ("" if it did not). `alive()` returns "" while the server runs, else why
    it stopped (checked between levels)."""
    if not url.startswith(("http://127.", "http://localhost:", "http://[::1]:")):
        raise UsageError(f"loadtest only sends traffic to this machine's loopback, not {url}")
    timeout_s = request_timeout_ms / 1000.0
    results: list[LevelResult] = []
    for index, concurrency in enumerate(levels):

        def tick(sent: int, elapsed: float, c: int = concurrency, i: int = index) -> None:
            if progress is not None:
                progress(
                    Progress(
                        c,
                        i + 1,
                        len(levels),
                        sent,
                        max_requests_per_level,
                        elapsed,
                        seconds_per_level,
                    )
                )

        level = asyncio.run(
            _drive(
                url,
                body,
                concurrency=concurrency,
                seconds=seconds_per_level,
                max_requests=max_requests_per_level,
                timeout_s=timeout_s,
                tick=tick,
            )
        )
        results.append(level)
        gone = alive() if alive is not None else ""
        if gone:
            raise NotReadyError(
                f"the server stopped under load at concurrency {concurrency}: {gone}"
            )
        why = _saturated(level, request_timeout_ms)
        if why and index < len(levels) - 1:
            return results, f"stopped after concurrency {concurrency}: {why}"
    return results, ""


def _saturated(level: LevelResult, request_timeout_ms: int) -> str:
    if level.error_rate >= 0.5:
        return f"{level.failed} of {level.requests} requests failed"
    if level.ok and level.percentile(0.95) > request_timeout_ms:
        return (
            f"p95 {level.percentile(0.95):.0f} ms is over request_timeout_ms {request_timeout_ms}"
        )
    return ""


# -- the recommendation -------------------------------------------------------------------


def recommend(
    levels: list[LevelResult],
    *,
    request_timeout_ms: int,
    target_rps: float | None,
    worker_env: str = "",
    worker_count: int | None = None,
) -> Recommendation | None:
    """The smallest clean concurrency within KNEE_SHARE of the best clean throughput, and
    what follows from it; None when no level ran clean (every request answered 2xx and
    p99 within the request timeout)."""
    clean = [
        level
        for level in levels
        if level.requests and level.failed == 0 and level.percentile(0.99) <= request_timeout_ms
    ]
    if not clean:
        return None
    best = max(level.rps for level in clean)
    knee = min((level for level in clean if level.rps >= KNEE_SHARE * best), key=_concurrency)
    advice = Recommendation(knee.concurrency, knee.rps)
    highest = max(level.concurrency for level in levels)
    if knee.concurrency < highest:
        advice.notes.append(
            f"throughput stops growing at concurrency {knee.concurrency} ({knee.rps:.1f} req/s, "
            f"p99 {knee.percentile(0.99):.0f} ms); beyond it requests only queue"
        )
    else:
        advice.notes.append(
            f"throughput still grew at the highest concurrency tested ({highest}: "
            f"{knee.rps:.1f} req/s); add higher --levels to find where it stops"
        )
    if worker_env:
        advice.worker_env = worker_env
        advice.worker_count = knee.concurrency
        advice.notes.append(
            f"{worker_env}: each of the server's workers handles one request at a time; match "
            f"it to max_concurrent_requests_per_instance (measured with {worker_env}="
            f"{worker_count or 1}; re-run after changing it)"
        )
    if target_rps is not None:
        per_instance = knee.rps * UTILISATION
        advice.instance_count = max(1, math.ceil(target_rps / per_instance)) if per_instance else 1
        advice.notes.append(
            f"{target_rps:g} req/s at {UTILISATION:.0%} of {knee.rps:.1f} req/s per instance "
            f"needs instance_count {advice.instance_count}"
            + (
                f" (Azure advises at least {HA_INSTANCES} in production)"
                if advice.instance_count < HA_INSTANCES
                else ""
            )
        )
    return advice


def _concurrency(level: LevelResult) -> int:
    return level.concurrency


# -- the command --------------------------------------------------------------------------


def _sample_body(default: Path, request: Path | None) -> bytes:
    path = request if request is not None else default
    try:
        return path.read_bytes()
    except OSError as error:
        raise UsageError(
            f"cannot read the request body {path} ({error.strerror}); pass --request FILE"
        ) from None


def _warm_up(url: str, body: bytes, timeout_s: float) -> None:
    """Send the request until it answers 2xx (the first answer may be slow), or fail with
    what it answered: a load test of error answers measures nothing."""
    import httpx

    last = ""
    with httpx.Client(timeout=max(timeout_s, 10.0), trust_env=False) as client:
        for _ in range(WARMUP_TRIES):
            try:
                answer = client.post(
                    url, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
                time.sleep(0.5)
                continue
            if 200 <= answer.status_code < 300:
                return
            last = f"HTTP {answer.status_code}: {answer.text[:200]}"
    raise SmokeTestError(
        f"the scoring route does not answer the request with 2xx ({last}); fix the request "
        "(--request) or the model, `scaffold run` shows why"
    )


def _worker_count(deployment: LocalDeployment, worker_env: str) -> int | None:
    if not worker_env:
        return None
    value = deployment.plan.environment.get(worker_env, "1")
    return int(value) if value.isdigit() else None


def loadtest_project(
    project: Path,
    reporter: Reporter | None = None,
    *,
    levels: list[int],
    seconds_per_level: float = 5.0,
    max_requests_per_level: int = 2000,
    target_rps: float | None = None,
    platform: str | None = None,
    request: Path | None = None,
    progress: ProgressCallback | None = None,
    deployment_name: str | None = None,
) -> LoadReport:
    """Start the project like `scaffold run`, drive its scoring route at each level, remove
    the container, and return the measurements with a recommendation."""
    from scaffold.project import load_plan
    from scaffold.servers import SERVERS
    from scaffold.validate import validate_project

    project = project.expanduser().resolve()
    body = _sample_body(load_plan(project, deployment_name).sample_request, request)
    server = validate_project(project, schema=False).server
    worker_env = SERVERS[server].worker_env if server in SERVERS else ""
    deployment = LocalDeployment(project, reporter, platform=platform, deployment=deployment_name)
    plan = deployment.plan
    settings = plan.requests
    report = LoadReport(
        project=project,
        scoring_path=plan.scoring.path,
        request_timeout_ms=settings.request_timeout_ms,
        max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
        instance_count=settings.instance_count,
        target_rps=target_rps,
        worker_env=worker_env,
        cores=os.cpu_count() or 1,
    )
    with deployment.ready():
        report.worker_count = _worker_count(deployment, worker_env)
        url = deployment.url(plan.scoring)
        deployment.reporter.step(f"Warming up POST {plan.scoring.path}")
        _warm_up(url, body, settings.request_timeout_ms / 1000.0)
        deployment.reporter.step(
            f"Load: concurrency {', '.join(map(str, levels))}; each level at most "
            f"{seconds_per_level:g}s and {max_requests_per_level} requests, 127.0.0.1 only"
        )

        def alive() -> str:
            state, code = deployment.state()
            return "" if state == "running" else f"container {state} (exit code {code})"

        report.levels, report.stopped_early = run_levels(
            url,
            body,
            levels=levels,
            seconds_per_level=seconds_per_level,
            max_requests_per_level=max_requests_per_level,
            request_timeout_ms=settings.request_timeout_ms,
            progress=progress,
            alive=alive,
        )
    report.recommendation = recommend(
        report.levels,
        request_timeout_ms=settings.request_timeout_ms,
        target_rps=target_rps,
        worker_env=worker_env,
        worker_count=report.worker_count,
    )
    report.notes.extend(_notes(report))
    return report


def _notes(report: LoadReport) -> list[str]:
    notes = []
    for level in report.levels:
        slow = level.errors.get("timeout", 0)
        if slow:
            notes.append(
                f"concurrency {level.concurrency}: {slow} request(s) over request_timeout_ms "
                f"{report.request_timeout_ms} (Azure answers 408)"
            )
    if report.recommendation is None:
        notes.append(
            "no level ran clean (every request 2xx within request_timeout_ms): raise "
            "request_settings.request_timeout_ms (max 180000) or make scoring faster"
        )
    notes.append(
        f"measured on this machine ({report.cores} cores) through Docker's port forwarding; "
        "an Azure instance type has its own cores: treat the numbers as relative and re-run "
        "on similar hardware before sizing production"
    )
    return notes


# -- rendering ----------------------------------------------------------------------------


def format_table(report: LoadReport) -> str:
    """The report as a text table with the recommendation below it."""
    head = (
        f"{'concurrency':>11} {'requests':>9} {'ok':>7} {'errors':>7} {'req/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    lines = [f"Load test of POST {report.scoring_path} ({report.project})", head]
    for level in report.levels:
        data = level.to_json()
        lines.append(
            f"{level.concurrency:>11} {level.requests:>9} {level.ok:>7} {level.failed:>7} "
            f"{data['rps']:>8.1f} {data['p50_ms']:>8.1f} {data['p95_ms']:>8.1f} "
            f"{data['p99_ms']:>8.1f} {data['max_ms']:>8.1f}"
        )
        if level.errors:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(level.errors.items()))
            lines.append(f"{'':>11} errors by kind: {kinds}")
    if report.stopped_early:
        lines.append(report.stopped_early)
    lines.append(
        f"request_timeout_ms {report.request_timeout_ms}, max_concurrent_requests_per_instance "
        f"{report.max_concurrent_requests_per_instance}, instance_count {report.instance_count} "
        "(deployment.yml)"
    )
    advice = report.recommendation
    if advice is not None:
        lines.append("Recommended in deployment.yml:")
        lines.append(
            "  request_settings.max_concurrent_requests_per_instance: "
            f"{advice.max_concurrent_requests_per_instance}"
        )
        if advice.worker_env:
            lines.append(f"  environment_variables.{advice.worker_env}: {advice.worker_count}")
        if advice.instance_count is not None:
            lines.append(f"  instance_count: {advice.instance_count}")
        lines.extend(f"  - {note}" for note in advice.notes)
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def plot(report: LoadReport, path: Path) -> None:
    """Draw throughput and latency percentiles per level into a PNG (needs matplotlib)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [level.concurrency for level in report.levels]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(x, [level.rps for level in report.levels], marker="o")
    left.set(xlabel="concurrency", ylabel="requests/s", title="Throughput")
    left.set_ylim(bottom=0)
    for share, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        right.plot(x, [level.percentile(share) for level in report.levels], marker="o", label=label)
    right.axhline(
        report.request_timeout_ms, linestyle="--", color="red", label="request_timeout_ms"
    )
    right.set(xlabel="concurrency", ylabel="ms", title="Latency", yscale="log")
    right.legend()
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.set_xticks(x, [str(v) for v in x])
    figure.suptitle(f"scaffold loadtest: POST {report.scoring_path}")
    figure.tight_layout()
    try:
        figure.savefig(path, format="png", dpi=100)
    except OSError as error:
        raise UsageError(
            f"cannot write --plot {path} ({error.strerror}); choose another path"
        ) from None
    finally:
        plt.close(figure)


def require_matplotlib() -> None:
    """Fail with the install command when matplotlib is missing (checked before the run)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: pip install 'aml-scaffold[plot]'")
