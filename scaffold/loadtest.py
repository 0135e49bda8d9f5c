"""`scaffold loadtest`: size a deployment from the server's own throughput curve.

The project is started like `scaffold run` (same image, mounts, variables, probes), with the
CPU and memory of its instance type (capped to this machine) and pinned to CPUs the load
client does not use. Requests go through a local emulation of Azure's front end (auth,
routing, 408 past request_timeout_ms, 424 for model errors; `frontend=False` for the raw
server) to the scoring route, at rising concurrency, from a load engine in its own process
(wrk or hey when installed, scaffold's lean client otherwise; see scaffold.loadengine). Each
level is bounded in time and count and measures throughput, latency percentiles, errors by
kind, the client's own CPU share and the server's CPU use.

The recommendation: of the levels where every request answered 2xx with p99 within
request_timeout_ms, the smallest concurrency reaching KNEE_SHARE of the best throughput is
`max_concurrent_requests_per_instance`. Between the knee and the level below it the
concurrency is bisected, so the advice does not depend on which levels were chosen. When the
client, not the server, was the limit (its CPUs were busy), the advice is withheld: the
numbers would measure the client.

`loadtest_deployed` sends a fixed rate for a fixed time to a deployed endpoint instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold import loadengine
from scaffold.errors import NotReadyError, SmokeTestError, UsageError
from scaffold.loadengine import EngineError, Latency, Load, Progress, Request, Sample, Tally
from scaffold.localrun import LocalDeployment, Reporter

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.frontend import FrontEnd
    from scaffold.llmload import LlmLoadReport

#: A level whose throughput is within this share of the best one counts as saturated:
#: more concurrency only adds queueing, so the smallest such level is recommended.
KNEE_SHARE = 0.9
#: Plan instances for this share of their measured capacity (headroom for spikes).
UTILISATION = 0.7
#: Azure's advice for production: at least three instances (upgrades, failures).
HA_INSTANCES = 3
#: The client was the limit when the engine and the front end used this share of its CPUs.
CLIENT_LIMIT = 0.85
#: Advice is withheld when other processes took this share of the server's CPUs.
CONTENTION_LIMIT = 0.5
#: The server is CPU-bound when it used this share of its CPUs.
SERVER_BOUND = 0.85
#: Seconds at most between two levels (requests the last one left in flight finish).
SETTLE_MAX = 1.0
#: Extra levels at most when bisecting towards the knee.
REFINE_LEVELS = 6
#: Warm-up requests tried before the first level (the first answer may be slow).
WARMUP_TRIES = 5
#: The default request rate and connection limits of an endpoint (how-to-manage-quotas).
ENDPOINT_RPS_LIMIT = 500


@dataclass(frozen=True)
class LoadProfile:
    """How a server's scoring route is driven (the `load_profile` fact of the registry)."""

    name: str
    method: str = "POST"
    content_type: str = "application/json"
    #: Answers stream (server-sent events): the lean engine times the first byte and counts
    #: events; compiled engines cannot.
    stream: bool = False
    #: Turns a level's engine extras into named figures for the report (e.g. time to first
    #: token); None: none.
    figures: Callable[[dict[str, float]], dict[str, float]] | None = None


#: Profiles by name. A server's `load_profile` fact names one; a new profile is one entry.
PROFILES: dict[str, LoadProfile] = {"json": LoadProfile("json")}


ProgressCallback = Callable[[Progress], None]


@dataclass
class LevelResult(Tally):
    """One concurrency level's outcome."""

    concurrency: int
    requests: int
    ok: int
    seconds: float
    #: Failures by kind: an HTTP status ("429", "408", "424"), "timeout" (no answer within
    #: request_timeout_ms) or "connection".
    errors: dict[str, int] = field(default_factory=dict)
    latency: Latency = field(default_factory=Latency)
    engine: str = ""
    #: CPU the load engine used, as a share of one core.
    client_cpu: float = 0.0
    #: CPU the front-end emulation used, as a share of one core.
    frontend_cpu: float = 0.0
    #: CPUs the client side had (engine and front end run there).
    client_cores: int = 1
    #: CPU the container used, in cores (None: unknown).
    server_cpu: float | None = None
    #: How busy the server's CPUs were with anything, in cores (None: unknown); beyond
    #: server_cpu it is other processes taking the server's CPU.
    server_core_busy: float | None = None
    #: CPUs the server had (host CPUs it was pinned to; 0: not pinned).
    server_cores: int = 0
    #: Found by bisection towards the knee, not asked for.
    refined: bool = False
    #: Profile figures (e.g. time to first byte of a streamed answer).
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def client_share(self) -> float:
        """Engine and front end together, as a share of the client's CPUs."""
        return (self.client_cpu + self.frontend_cpu) / max(1, self.client_cores)

    @property
    def client_limited(self) -> bool:
        """The client side, not the server, was the limit of this level."""
        return self.client_share >= CLIENT_LIMIT

    @property
    def contention(self) -> float:
        """Share of the server's CPUs other processes used (0 when unknown)."""
        if self.server_core_busy is None or self.server_cpu is None or not self.server_cores:
            return 0.0
        return max(0.0, self.server_core_busy - self.server_cpu) / self.server_cores

    def percentile(self, share: float) -> float:
        """Latency (ms) at 0.5, 0.95 or 0.99 (the percentiles every engine reports)."""
        if share <= 0.5:
            return self.latency.p50
        if share <= 0.95:
            return self.latency.p95
        return self.latency.p99

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        data: dict[str, Any] = {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 2),
            **self.latency.to_json(),
            "engine": self.engine,
            "client_cpu": round(self.client_cpu, 3),
            "frontend_cpu": round(self.frontend_cpu, 3),
            "client_cores": self.client_cores,
            "client_limited": self.client_limited,
            "server_cpu": None if self.server_cpu is None else round(self.server_cpu, 3),
            "contention": round(self.contention, 3),
            "refined": self.refined,
        }
        if self.figures:
            data["figures"] = {k: round(v, 3) for k, v in self.figures.items()}
        return data


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
    #: Why there is no recommendation although levels ran ("" when there is one).
    withheld: str = ""
    #: Why rising stopped before the last level ("" when every level ran).
    stopped_early: str = ""
    #: The server's worker variable and the value the container ran with.
    worker_env: str = ""
    worker_count: int | None = None
    cores: int = 0
    engine: str = ""
    frontend: bool = True
    #: CPUs of the container and of the client (host CPU numbers).
    server_cpus: str = ""
    client_cpus: str = ""
    instance_type: str = ""
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
                "instance_type": self.instance_type or None,
            },
            "target_rps": self.target_rps,
            "cores": self.cores,
            "engine": self.engine,
            "frontend": self.frontend,
            "server_cpus": self.server_cpus or None,
            "client_cpus": self.client_cpus or None,
            "levels": [level.to_json() for level in self.levels],
            "stopped_early": self.stopped_early or None,
            "recommendation": self.recommendation.to_json() if self.recommendation else None,
            "withheld": self.withheld or None,
            "notes": list(self.notes),
        }


# -- measuring ----------------------------------------------------------------------------


def core_times(cpus: tuple[int, ...]) -> tuple[float, float] | None:
    """(busy, total) jiffies of host CPUs `cpus` so far, from /proc/stat (None elsewhere)."""
    if not cpus:
        return None
    try:
        lines = Path("/proc/stat").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    busy = total = 0.0
    wanted = {f"cpu{c}" for c in cpus}
    for line in lines:
        parts = line.split()
        if parts and parts[0] in wanted:
            values = [float(v) for v in parts[1:9]]
            idle = values[3] + values[4]
            total += sum(values)
            busy += sum(values) - idle
    return (busy, total) if total else None


def _busy_cores(
    before: tuple[float, float] | None, after: tuple[float, float] | None, n: int
) -> float | None:
    """CPUs' busy time between two core_times readings, in cores."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * n


@dataclass
class Meters:
    """What is measured around each level besides the engine's own figures."""

    #: CPU seconds the container used so far (None: unknown).
    server_cpu: Callable[[], float | None] | None = None
    #: The front end (its CPU time; None: no front end).
    frontend: FrontEnd | None = None
    #: CPUs the engine (and the front end) run on.
    client_cpus: tuple[int, ...] = ()
    #: CPUs the container is pinned to.
    server_cpus: tuple[int, ...] = ()


def measure(
    engine: str,
    request: Request,
    load: Load,
    meters: Meters,
    *,
    tick: loadengine.Tick | None = None,
    profile: LoadProfile | None = None,
) -> LevelResult:
    """Run one level and measure the client's and the server's CPU around it."""
    server_before = meters.server_cpu() if meters.server_cpu else None
    front_before = meters.frontend.cpu_seconds() if meters.frontend else 0.0
    cores_before = core_times(meters.server_cpus)
    sample: Sample = loadengine.run(
        engine, request, load, cpus=meters.client_cpus or None, tick=tick
    )
    cores_after = core_times(meters.server_cpus)
    server_after = meters.server_cpu() if meters.server_cpu else None
    front_after = meters.frontend.cpu_seconds() if meters.frontend else 0.0
    seconds = max(sample.seconds, 1e-6)
    server = None
    if server_before is not None and server_after is not None:
        server = max(0.0, server_after - server_before) / seconds
    figures = profile.figures(sample.extra) if profile and profile.figures else {}
    return LevelResult(
        concurrency=load.concurrency,
        requests=sample.requests,
        ok=sample.ok,
        seconds=sample.seconds,
        errors=dict(sample.errors),
        latency=sample.latency,
        engine=sample.engine,
        client_cpu=sample.cpu_share,
        frontend_cpu=max(0.0, front_after - front_before) / seconds,
        client_cores=max(1, len(meters.client_cpus) or (os.cpu_count() or 1)),
        server_cpu=server,
        server_core_busy=_busy_cores(cores_before, cores_after, len(meters.server_cpus)),
        server_cores=len(meters.server_cpus),
        figures=figures,
    )


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
    engine: str = "auto",
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
    secret_headers: frozenset[str] = frozenset(),
    meters: Meters | None = None,
    refine: bool = True,
    profile: LoadProfile | None = None,
) -> tuple[list[LevelResult], str]:
    """Drive `url` at each level in turn (stopping once a level saturates: half the requests
    fail, or p95 is over the request timeout), then bisect towards the knee. Returns the
    levels (sorted by concurrency) and why rising stopped early ("" if it did not).
    `alive()` returns "" while the server runs, else why it stopped (checked after each
    level)."""
    if not url.startswith(("http://127.", "http://localhost:", "http://[::1]:")):
        raise UsageError(f"loadtest only sends traffic to this machine's loopback, not {url}")
    profile = profile or PROFILES["json"]
    meters = meters or Meters()
    request = Request(
        url=url,
        method=profile.method,
        body=body,
        headers=headers,
        secret_headers=secret_headers,
        stream=profile.stream,
    )
    timeout_s = request_timeout_ms / 1000.0
    probe_load = Load(seconds_per_level, max_requests_per_level, timeout_s, max(levels))
    try:
        chosen, _ = loadengine.choose(engine, request, probe_load)
    except EngineError as error:
        raise UsageError(str(error)) from None
    total = len(levels)

    def one(concurrency: int, index: int) -> LevelResult:
        def tick(elapsed: float) -> None:
            if progress is not None:
                progress(
                    Progress(
                        concurrency,
                        index,
                        total,
                        0,
                        max_requests_per_level,
                        elapsed,
                        seconds_per_level,
                    )
                )

        load = Load(seconds_per_level, max_requests_per_level, timeout_s, concurrency)
        try:
            level = measure(chosen, request, load, meters, tick=tick, profile=profile)
        except EngineError as error:
            raise NotReadyError(
                f"the load engine failed at concurrency {concurrency}: {error}"
            ) from None
        gone = alive() if alive is not None else ""
        if gone:
            raise NotReadyError(
                f"the server stopped under load at concurrency {concurrency}: {gone}"
            )
        return level

    return _sweep(levels, one, request_timeout_ms=request_timeout_ms, refine=refine)


def _sweep(
    levels: list[int],
    one: Callable[[int, int], LevelResult],
    *,
    request_timeout_ms: int,
    refine: bool,
) -> tuple[list[LevelResult], str]:
    """Measure the levels in turn (stop rising at saturation), then bisect towards the knee."""
    results: list[LevelResult] = []
    stopped = ""
    for index, concurrency in enumerate(levels, start=1):
        _settle(results)
        level = one(concurrency, index)
        results.append(level)
        why = _saturated(level, request_timeout_ms)
        if why and index < len(levels):
            stopped = f"stopped after concurrency {concurrency}: {why}"
            break
    index = len(levels)
    for _ in range(REFINE_LEVELS if refine else 0):
        mid = _bisect(results, request_timeout_ms)
        if mid is None:
            break
        index += 1
        _settle(results)
        level = one(mid, index)
        level.refined = True
        results.append(level)
    return sorted(results, key=_concurrency), stopped


def _settle(done: list[LevelResult]) -> None:
    """Let the requests the last level left in flight (a time bound abandons them) finish
    before the next level starts: twice its p99, at most SETTLE_MAX seconds."""
    if done:
        time.sleep(min(SETTLE_MAX, 2 * done[-1].latency.p99 / 1000.0))


def _bisect(levels: list[LevelResult], request_timeout_ms: int) -> int | None:
    """The next concurrency to measure between the knee and the level below it (None when
    they are neighbours, or there is no knee)."""
    knee = _knee(levels, request_timeout_ms)
    if knee is None:
        return None
    measured = {level.concurrency for level in levels}
    below = max((c for c in measured if c < knee.concurrency), default=0)
    if knee.concurrency - below <= 1:
        return None
    mid = max(1, (below + knee.concurrency) // 2)
    return None if mid in measured else mid


def _saturated(level: LevelResult, request_timeout_ms: int) -> str:
    if level.error_rate >= 0.5:
        return f"{level.failed} of {level.requests} requests failed"
    if level.ok and level.latency.p95 > request_timeout_ms:
        return f"p95 {level.latency.p95:.0f} ms is over request_timeout_ms {request_timeout_ms}"
    return ""


def _clean(levels: list[LevelResult], request_timeout_ms: int) -> list[LevelResult]:
    return [
        level
        for level in levels
        if level.requests and level.failed == 0 and level.latency.p99 <= request_timeout_ms
    ]


def _knee(levels: list[LevelResult], request_timeout_ms: int) -> LevelResult | None:
    clean = _clean(levels, request_timeout_ms)
    if not clean:
        return None
    best = max(level.rps for level in clean)
    return min((level for level in clean if level.rps >= KNEE_SHARE * best), key=_concurrency)


# -- the recommendation -------------------------------------------------------------------


def withhold_reason(levels: list[LevelResult]) -> str:
    """Why the levels cannot carry advice: the client was the limit, or other processes
    took the server's CPUs ("" when neither)."""
    crowded = [level for level in levels if level.contention >= CONTENTION_LIMIT]
    if crowded:
        worst = max(crowded, key=lambda level: level.contention)
        return (
            f"other processes used {worst.contention:.0%} of the server's CPU(s) at "
            f"concurrency {worst.concurrency}: the numbers measure this machine's load, not the "
            "server. Re-run when the machine is quieter"
        )
    limited = [level for level in levels if level.client_limited]
    if not limited:
        return ""
    worst = max(limited, key=lambda level: level.client_share)
    return (
        f"the load client was the limit at concurrency "
        f"{', '.join(str(level.concurrency) for level in limited)} (its "
        f"{worst.client_cores} CPU(s) {worst.client_share:.0%} busy with the {worst.engine} "
        "engine and the front end): these numbers measure the client, not the server. "
        "Install wrk (apt-get install wrk), give the client more CPUs, or use --no-frontend"
    )


def recommend(
    levels: list[LevelResult],
    *,
    request_timeout_ms: int,
    target_rps: float | None,
    worker_env: str = "",
    worker_count: int | None = None,
    server_cpus: int = 0,
    vcpus: int = 0,
) -> Recommendation | None:
    """The smallest clean concurrency within KNEE_SHARE of the best clean throughput, and
    what follows from it; None when no level ran clean (every request answered 2xx and
    p99 within the request timeout)."""
    knee = _knee(levels, request_timeout_ms)
    if knee is None:
        return None
    advice = Recommendation(knee.concurrency, knee.rps)
    highest = max(level.concurrency for level in levels)
    if knee.concurrency < highest:
        advice.notes.append(
            f"throughput stops growing at concurrency {knee.concurrency} ({knee.rps:.1f} req/s, "
            f"p99 {knee.latency.p99:.0f} ms); beyond it requests only queue"
        )
    else:
        advice.notes.append(
            f"throughput still grew at the highest concurrency tested ({highest}: "
            f"{knee.rps:.1f} req/s); add higher --levels to find where it stops"
        )
    if knee.server_cpu is not None and server_cpus:
        used = knee.server_cpu / server_cpus
        if used >= SERVER_BOUND:
            advice.notes.append(
                f"the server used {used:.0%} of its {server_cpus} CPU(s) at concurrency "
                f"{knee.concurrency}: it is CPU-bound here"
                + (
                    f"; the instance type has {vcpus} vCPUs, so re-run where it gets them all"
                    if vcpus > server_cpus
                    else ""
                )
            )
    if worker_env:
        advice.worker_env = worker_env
        advice.worker_count = knee.concurrency
        advice.notes.append(
            f"{worker_env}: each of the server's workers handles one request at a time; match "
            f"it to max_concurrent_requests_per_instance (measured with {worker_env}="
            f"{worker_count or 1}; re-run after changing it)"
        )
        if (worker_count or 1) == 1 and knee.concurrency == 1 and vcpus > 1:
            advice.notes.append(
                f"one worker serves one request at a time, so the curve is flat from 1; with "
                f"{vcpus} vCPUs, try {worker_env}={vcpus} and re-run to see what more workers give"
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
        if target_rps > ENDPOINT_RPS_LIMIT:
            advice.notes.append(
                f"{target_rps:g} req/s is above an endpoint's default limit of "
                f"{ENDPOINT_RPS_LIMIT} requests/s (Azure answers 429 beyond it): ask for a "
                "limit increase (how-to-manage-quotas)"
            )
    return advice


def _concurrency(level: LevelResult) -> int:
    return level.concurrency


# -- the command --------------------------------------------------------------------------


def request_body(project: Path, request: Path | None, default: Path | None = None) -> bytes:
    """The body every request sends: --request FILE, else the deployment's sample request
    (`default`; the project's sample_request.json when not given)."""
    from scaffold import limits

    path = request if request is not None else default or project / "sample_request.json"
    try:  # bounded: `--request /dev/zero` or a pipe never ends
        return limits.read_bytes(path, limit=REQUEST_LIMIT)
    except OSError as error:
        raise UsageError(
            f"cannot read the request body {path} ({error.strerror}); pass --request FILE"
        ) from None
    except limits.InputRejected as error:
        raise UsageError(
            f"the request body {path} {error}; pass a smaller --request FILE"
        ) from None


#: Largest request body a load test sends (Azure's front end refuses larger payloads long
#: before this).
REQUEST_LIMIT = 100 << 20


def _warm_up(url: str, body: bytes, timeout_s: float, headers: dict[str, str]) -> None:
    """Send the request until it answers 2xx (the first answer may be slow), or fail with
    what it answered: a load test of error answers measures nothing."""
    import urllib.error
    import urllib.request

    # 127.0.0.1 only, never through an HTTP(S)_PROXY of the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    last = ""
    for _ in range(WARMUP_TRIES):
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with opener.open(request, timeout=max(timeout_s, 10.0)) as answer:
                answer.read()
                return
        except urllib.error.HTTPError as error:
            text = error.read()[:200].decode("utf-8", "replace")
            reason = error.headers.get("ms-azureml-model-error-statuscode")
            inner = f" (the container answered {reason})" if reason else ""
            last = f"HTTP {error.code}{inner}: {text}"
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
            time.sleep(0.5)
    raise SmokeTestError(
        f"the scoring route does not answer the request with 2xx ({last}); fix the request "
        "(--request) or the model, `scaffold run` shows why"
    )


def _worker_count(deployment: LocalDeployment, worker_env: str) -> int | None:
    if not worker_env:
        return None
    value = deployment.plan.environment.get(worker_env, "1")
    return int(value) if value.isdigit() else None


@contextlib.contextmanager
def front_end(
    deployment: LocalDeployment, *, enabled: bool, lift_limit: bool, client_cpus: tuple[int, ...]
) -> Iterator[tuple[str, dict[str, str], FrontEnd | None]]:
    """(base URL, headers for every request, the front end or None): the local emulation of
    Azure's front end before `deployment` (its 429 limit lifted with `lift_limit`), or the
    container itself. scaffold.llmload drives LLM servers through it too."""
    plan = deployment.plan
    base = f"http://127.0.0.1:{deployment.ports[plan.scoring.port]}"
    if not enabled:
        yield base, {}, None
        return
    from scaffold.frontend import running

    key = secrets.token_urlsafe(32)
    config, notes = deployment.frontend_config(
        keys=(key,), max_in_flight=1 << 20 if lift_limit else 0
    )
    for note in notes:
        deployment.reporter.detail(note, important=True)
    headers = {"Authorization": f"Bearer {key}"} if config.keys else {}
    with running(config, cpus=set(client_cpus) or None) as front:
        yield front.url, headers, front


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
    engine: str = "auto",
    frontend: bool = True,
    keep_limit: bool = False,
    refine: bool = True,
    deployment_name: str | None = None,
) -> LoadReport | LlmLoadReport:
    """Start the project like `scaffold run`, drive its scoring route at each level, remove
    the container, and return the measurements with a recommendation (an LlmLoadReport for
    the "openai-chat" load profile: streamed chat completions, scaffold.llmload).
    `deployment_name` picks one of the project's deployments (default: its only or main
    one)."""
    from scaffold.instances import lookup
    from scaffold.project import load_plan
    from scaffold.servers import SERVERS
    from scaffold.validate import validate_project

    project = project.expanduser().resolve()
    body = request_body(project, request, load_plan(project, deployment_name).sample_request)
    server = validate_project(project, schema=False).server
    spec = SERVERS.get(server) if server else None
    worker_env = spec.worker_env if spec else ""
    if spec is not None and spec.load_profile == "openai-chat":
        # LLM servers: streamed chat completions, time to first token and tokens per second.
        from scaffold.llmload import loadtest_llm

        if deployment_name is not None:
            raise UsageError(
                "loadtest --deployment is not available for LLM servers yet; load-test the "
                "project's main deployment (leave --deployment out)"
            )
        return loadtest_llm(
            project,
            reporter,
            levels=levels,
            seconds_per_level=seconds_per_level,
            max_requests_per_level=max_requests_per_level,
            target_rps=target_rps,
            platform=platform,
            request=request,
            progress=progress,
            frontend=frontend,
            keep_limit=keep_limit,
        )
    profile = PROFILES.get(spec.load_profile if spec else "json", PROFILES["json"])
    deployment = LocalDeployment(
        project, reporter, platform=platform, separate_client=True, deployment=deployment_name
    )
    plan, resources = deployment.plan, deployment.resources
    settings = plan.requests
    found = lookup(plan.instance_type) if plan.instance_type else None
    report = LoadReport(
        project=project,
        scoring_path=plan.scoring.path,
        request_timeout_ms=settings.request_timeout_ms,
        max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
        instance_count=settings.instance_count,
        target_rps=target_rps,
        worker_env=worker_env,
        cores=os.cpu_count() or 1,
        frontend=frontend,
        server_cpus=resources.cpuset,
        client_cpus=",".join(map(str, resources.client_cpus)),
        instance_type=plan.instance_type,
    )
    with (
        deployment.ready(),
        front_end(
            deployment,
            enabled=frontend,
            lift_limit=not keep_limit,
            client_cpus=deployment.resources.client_cpus,
        ) as (base, headers, front),
    ):
        resources = deployment.resources  # as started (pinning may have been refused)
        report.server_cpus = resources.cpuset
        report.client_cpus = ",".join(map(str, resources.client_cpus))
        report.worker_count = _worker_count(deployment, worker_env)
        url = base + plan.scoring.path
        all_headers = {"Content-Type": profile.content_type, **headers}
        deployment.reporter.step(f"Warming up {profile.method} {plan.scoring.path}")
        _warm_up(url, body, settings.request_timeout_ms / 1000.0, all_headers)
        request_headers = tuple(all_headers.items())
        secret = frozenset({"authorization"}) if headers else frozenset()
        probe = Request(url, profile.method, body, request_headers, secret, profile.stream)
        try:
            report.engine, passed_over = loadengine.choose(
                engine, probe, Load(seconds_per_level, max_requests_per_level, 1.0, max(levels))
            )
        except EngineError as error:
            raise UsageError(str(error)) from None
        for note in passed_over:
            deployment.reporter.detail(f"engine {note}", important=True)
        path = "through the front-end emulation" if front else "raw server"
        deployment.reporter.step(
            f"Load ({report.engine} engine, {path}): "
            f"concurrency {', '.join(map(str, levels))}; each level at most "
            f"{seconds_per_level:g}s and {max_requests_per_level} requests, 127.0.0.1 only"
        )

        def alive() -> str:
            state, code = deployment.state()
            return "" if state == "running" else f"container {state} (exit code {code})"

        meters = Meters(
            server_cpu=deployment.cpu_seconds,
            frontend=front,
            client_cpus=resources.client_cpus,
            server_cpus=tuple(int(c) for c in resources.cpuset.split(",") if c),
        )
        report.levels, report.stopped_early = run_levels(
            url,
            body,
            levels=levels,
            seconds_per_level=seconds_per_level,
            max_requests_per_level=max_requests_per_level,
            request_timeout_ms=settings.request_timeout_ms,
            progress=progress,
            alive=alive,
            engine=report.engine,
            headers=request_headers,
            secret_headers=secret,
            meters=meters,
            refine=refine,
            profile=profile,
        )
    report.withheld = withhold_reason(report.levels)
    if not report.withheld:
        report.recommendation = recommend(
            report.levels,
            request_timeout_ms=settings.request_timeout_ms,
            target_rps=target_rps,
            worker_env=worker_env,
            worker_count=report.worker_count,
            server_cpus=resources.server_cpus or int(resources.cpus),
            vcpus=found.vcpus if found else 0,
        )
    report.notes.extend(resources.notes)
    report.notes.extend(_notes(report, keep_limit=keep_limit))
    return report


def _notes(report: LoadReport, *, keep_limit: bool) -> list[str]:
    notes = []
    for level in report.levels:
        slow = level.errors.get("timeout", 0) + level.errors.get("408", 0)
        if slow:
            notes.append(
                f"concurrency {level.concurrency}: {slow} request(s) over request_timeout_ms "
                f"{report.request_timeout_ms} (Azure answers 408)"
            )
        if level.errors.get("424"):
            notes.append(
                f"concurrency {level.concurrency}: {level.errors['424']} model error(s): the "
                "container answered non-200 (Azure answers 424 with "
                "ms-azureml-model-error-statuscode)"
            )
    if report.recommendation is None and not report.withheld:
        notes.append(
            "no level ran clean (every request 2xx within request_timeout_ms): raise "
            "request_settings.request_timeout_ms (max 180000) or make scoring faster"
        )
    limit = 2 * report.max_concurrent_requests_per_instance * report.instance_count
    if report.frontend and not keep_limit:
        current = report.max_concurrent_requests_per_instance
        notes.append(
            f"with deployment.yml as it is, Azure answers 429 beyond {limit} requests in flight "
            f"(2 x max_concurrent_requests_per_instance {current} x instance_count "
            f"{report.instance_count}); the front end lifted that limit to measure the server "
            "(--keep-limit keeps it)"
        )
    notes.append(
        f"measured on this machine ({report.cores} CPUs) through Docker's port forwarding: "
        "compare settings and find the knee here, and confirm the capacity on the instance "
        "type itself (scaffold loadtest --deployed) before sizing production"
    )
    return notes


# -- a deployed endpoint ------------------------------------------------------------------


@dataclass
class DeployedReport:
    """What a fixed-rate load test of a deployed endpoint measured."""

    scoring_uri: str
    deployment: str | None
    target_rps: float
    seconds: float
    level: LevelResult
    dropped: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json` (no key anywhere)."""
        return {
            "scoring_uri": self.scoring_uri,
            "deployment": self.deployment,
            "target_rps": self.target_rps,
            "seconds": self.seconds,
            "achieved_rps": round(self.level.rps, 2),
            "dropped": self.dropped,
            "level": self.level.to_json(),
            "notes": list(self.notes),
        }


#: What each answer of Azure's front end means, for the deployed report.
AZURE_ANSWERS = {
    "401": "the key or token was refused (auth_mode, an expired token)",
    "404": "no deployment has traffic, or --deployment names none of the endpoint's",
    "408": "over request_timeout_ms: raise it (max 180000) or make scoring faster",
    "424": "the container answered non-200 (see ms-azureml-model-error-statuscode and the log)",
    "429": (
        "beyond 2 x max_concurrent_requests_per_instance x instance_count in flight, or the "
        "endpoint's request-rate limit: raise max_concurrent_requests_per_instance (and "
        "WORKER_COUNT), add instances, or send more slowly"
    ),
    "500": "Azure's own infrastructure failed",
    "502": "the container failed to answer (crash, restart)",
    "503": "the deployment is not ready (scaling, restarting)",
}


def loadtest_deployed(
    scoring_uri: str,
    key: str,
    body: bytes,
    *,
    rate: float,
    seconds: float,
    max_requests: int,
    request_timeout_ms: int,
    deployment: str | None = None,
    progress: Callable[[float], None] | None = None,
    profile: LoadProfile | None = None,
) -> DeployedReport:
    """Send `rate` requests per second for `seconds` (at most `max_requests`) to a deployed
    scoring URI with the key, and report what came back. The key goes to the lean engine on
    its stdin only; the engine verifies TLS certificates."""
    profile = profile or PROFILES["json"]
    if not scoring_uri.lower().startswith("https://"):
        raise UsageError(f"the scoring URI {scoring_uri} is not https; refusing to send the key")
    headers: list[tuple[str, str]] = [("Content-Type", profile.content_type)]
    if key:
        headers.append(("Authorization", f"Bearer {key}"))
    if deployment:
        headers.append(("azureml-model-deployment", deployment))
    request = Request(
        scoring_uri,
        profile.method,
        body,
        tuple(headers),
        frozenset({"authorization"}),
        profile.stream,
    )
    in_flight = max(8, min(1024, math.ceil(rate * request_timeout_ms / 1000.0) + 8))
    load = Load(seconds, max_requests, request_timeout_ms / 1000.0, 1, rate, in_flight)
    try:
        sample = loadengine.run("lean", request, load, tick=progress)
    except EngineError as error:
        raise NotReadyError(f"the load engine failed: {error}") from None
    level = LevelResult(
        concurrency=in_flight,
        requests=sample.requests,
        ok=sample.ok,
        seconds=sample.seconds,
        errors=dict(sample.errors),
        latency=sample.latency,
        engine=sample.engine,
        client_cpu=sample.cpu_share,
        figures=profile.figures(sample.extra) if profile.figures else {},
    )
    report = DeployedReport(
        scoring_uri=scoring_uri,
        deployment=deployment,
        target_rps=rate,
        seconds=seconds,
        level=level,
        dropped=int(sample.extra.get("dropped", 0)),
    )
    for code, count in sorted(level.errors.items()):
        meaning = AZURE_ANSWERS.get(code, "")
        report.notes.append(f"{count} x {code}" + (f": {meaning}" if meaning else ""))
    if report.dropped:
        report.notes.append(
            f"{report.dropped} request(s) not sent: {in_flight} were already in flight (the "
            "endpoint answers more slowly than the rate asks)"
        )
    if level.client_limited:
        report.notes.append(
            f"the load client used {level.client_share:.0%} of its CPU: the rate may have been "
            "the client's limit; export the test (--export) and run it from several machines"
        )
    return report


# -- rendering ----------------------------------------------------------------------------


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def format_table(report: LoadReport | LlmLoadReport) -> str:
    """The report as a text table with the recommendation below it."""
    if not isinstance(report, LoadReport):  # an LLM server's report (scaffold.llmload)
        from scaffold import llmload

        return llmload.format_table(report)
    head = (
        f"{'concurrency':>11} {'requests':>9} {'ok':>7} {'errors':>7} {'req/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'client':>7} {'server':>7}"
    )
    path = "through the front-end emulation" if report.frontend else "raw server"
    where = ""
    if report.server_cpus:
        where = f"; server on CPU {report.server_cpus}, client on CPU {report.client_cpus}"
    lines = [
        f"Load test of POST {report.scoring_path} ({report.project})",
        f"engine {report.engine}, {path}{where}",
        head,
    ]
    for level in report.levels:
        mark = "*" if level.refined else " "
        lines.append(
            f"{level.concurrency:>10}{mark} {level.requests:>9} {level.ok:>7} {level.failed:>7} "
            f"{level.rps:>8.1f} {level.latency.p50:>8.1f} {level.latency.p95:>8.1f} "
            f"{level.latency.p99:>8.1f} {level.latency.max:>8.1f} "
            f"{_cpu(level.client_share):>7} {_cpu(level.server_cpu):>7}"
        )
        if level.errors:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(level.errors.items()))
            lines.append(f"{'':>11} errors by kind: {kinds}")
        for name, value in sorted(level.figures.items()):
            lines.append(f"{'':>11} {name}: {value:.1f}")
    if any(level.refined for level in report.levels):
        lines.append("* measured to find the knee between two of the levels asked for")
    lines.append(
        "client: the load engine and the front end, share of the client's CPUs; "
        "server: CPUs the container used (1.0 = 100%)"
    )
    lines.extend(settings_lines(report))
    if report.recommendation is None and report.withheld:
        lines.append(f"No recommendation: {report.withheld}")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def settings_lines(report: LoadReport | LlmLoadReport) -> list[str]:
    """The end of a load test's table: why it stopped rising, the deployment's settings and
    the recommended ones (shared by plain and LLM load tests)."""
    lines = [report.stopped_early] if report.stopped_early else []
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
        if isinstance(advice, Recommendation) and advice.worker_env:
            lines.append(f"  environment_variables.{advice.worker_env}: {advice.worker_count}")
        if advice.instance_count is not None:
            lines.append(f"  instance_count: {advice.instance_count}")
        lines.extend(f"  - {note}" for note in advice.notes)
    return lines


def format_deployed(report: DeployedReport) -> str:
    """A deployed load test as text (the key never appears: it is not in the report)."""
    level = report.level
    target = f" (deployment {report.deployment})" if report.deployment else ""
    lines = [
        f"Load test of {report.scoring_uri}{target}: {report.target_rps:g} req/s for "
        f"{report.seconds:g}s",
        f"{'requests':>9} {'ok':>7} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}",
        f"{level.requests:>9} {level.ok:>7} {level.failed:>7} {level.rps:>8.1f} "
        f"{level.latency.p50:>8.1f} {level.latency.p95:>8.1f} {level.latency.p99:>8.1f} "
        f"{level.latency.max:>8.1f}",
    ]
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def plot(report: LoadReport | LlmLoadReport, path: Path) -> None:
    """Draw throughput and latency percentiles per level into a PNG (needs matplotlib)."""
    require_matplotlib()
    if not isinstance(report, LoadReport):  # an LLM server's report (scaffold.llmload)
        from scaffold import llmload

        return llmload.plot(report, path)
    x = [level.concurrency for level in report.levels]
    draw(
        path,
        x=x,
        throughput=([level.rps for level in report.levels], "requests/s"),
        latencies=[
            ([level.percentile(share) for level in report.levels], label)
            for share, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
        ],
        title=f"scaffold loadtest: POST {report.scoring_path}",
        timeout_ms=report.request_timeout_ms,
    )


def draw(
    path: Path,
    *,
    x: list[int],
    throughput: tuple[list[float], str],
    latencies: list[tuple[list[float], str]],
    title: str,
    timeout_ms: float | None = None,
) -> None:
    """Throughput (left) and latency series (right, log scale) per concurrency into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(x, throughput[0], marker="o")
    left.set(xlabel="concurrency", ylabel=throughput[1], title="Throughput")
    left.set_ylim(bottom=0)
    for values, label in latencies:
        right.plot(x, values, marker="o", label=label)
    if timeout_ms is not None:
        right.axhline(timeout_ms, linestyle="--", color="red", label="request_timeout_ms")
    right.set(xlabel="concurrency", ylabel="ms", title="Latency", yscale="log")
    right.legend()
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.set_xticks(x, [str(v) for v in x])
    figure.suptitle(title)
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
