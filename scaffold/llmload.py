"""`scaffold loadtest` for LLM servers (load profile "openai-chat", e.g. vLLM): streamed chat
completions at rising concurrency, measured the way LLM serving is sized.

Each request is the project's chat request (sample_request.json or --request) sent with
`"stream": true` (and `stream_options.include_usage`, so the server reports its token
counts). Per request: time to first token (TTFT: the first chunk that carries text),
end-to-end latency, output tokens (the server's usage count, else one per text chunk) and
the time per output token after the first (TPOT). Per level: requests per second, output
tokens per second over all requests, TTFT and latency percentiles. The recommendation is the
smallest clean concurrency reaching 90 % of the best token throughput, as
max_concurrent_requests_per_instance.

The container is started exactly like `scaffold run` (scaffold.localrun); traffic only goes
to the loopback port of the container this process started.
"""

from __future__ import annotations

import asyncio
import json
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
from scaffold.loadengine import Progress, Tally

#: A level within this share of the best token throughput counts as saturated.
KNEE_SHARE = 0.9
#: Plan instances for this share of their measured capacity.
UTILISATION = 0.7
HA_INSTANCES = 3
TICK = 0.2
WARMUP_TRIES = 5


#: Takes Progress updates (the same as scaffold.loadtest's callbacks).
ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Sample:
    """One streamed request that answered 2xx."""

    ttft_ms: float
    latency_ms: float
    output_tokens: int

    @property
    def tpot_ms(self) -> float | None:
        """Milliseconds per output token after the first (None for one token or less)."""
        if self.output_tokens < 2:
            return None
        return (self.latency_ms - self.ttft_ms) / (self.output_tokens - 1)


def percentile(values: list[float], share: float) -> float:
    """The value at `share` (0..1) of `values` (inclusive method); 0 without any."""
    data = sorted(values)
    if not data:
        return 0.0
    if len(data) == 1:
        return data[0]
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    return cuts[min(98, max(0, round(share * 100) - 1))]


@dataclass
class LlmLevel(Tally):
    """One concurrency level's outcome."""

    concurrency: int
    requests: int
    seconds: float
    samples: list[Sample] = field(default_factory=list, repr=False)
    #: Failures by kind: an HTTP status, "timeout" (over request_timeout_ms, Azure's 408),
    #: "connection", or "stream" (the answer was not a complete event stream).
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.samples)

    @property
    def output_tokens(self) -> int:
        return sum(s.output_tokens for s in self.samples)

    @property
    def tokens_per_second(self) -> float:
        """Output tokens per second over all requests of the level (the throughput)."""
        return self.output_tokens / self.seconds if self.seconds > 0 else 0.0

    def ttft(self, share: float) -> float:
        return percentile([s.ttft_ms for s in self.samples], share)

    def latency(self, share: float) -> float:
        return percentile([s.latency_ms for s in self.samples], share)

    def tpot(self, share: float) -> float:
        return percentile([t for s in self.samples if (t := s.tpot_ms) is not None], share)

    def to_json(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 3),
            "output_tokens": self.output_tokens,
            "output_tokens_per_s": round(self.tokens_per_second, 2),
            "ttft_p50_ms": round(self.ttft(0.5), 2),
            "ttft_p95_ms": round(self.ttft(0.95), 2),
            "tpot_p50_ms": round(self.tpot(0.5), 2),
            "latency_p50_ms": round(self.latency(0.5), 2),
            "latency_p95_ms": round(self.latency(0.95), 2),
            "latency_p99_ms": round(self.latency(0.99), 2),
        }


@dataclass
class LlmRecommendation:
    """Settings for deployment.yml, derived from the levels."""

    max_concurrent_requests_per_instance: int
    capacity_rps: float
    capacity_tokens_per_s: float
    instance_count: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "max_concurrent_requests_per_instance": self.max_concurrent_requests_per_instance,
            "capacity_rps": round(self.capacity_rps, 3),
            "capacity_output_tokens_per_s": round(self.capacity_tokens_per_s, 2),
            "instance_count": self.instance_count,
            "notes": list(self.notes),
        }


@dataclass
class LlmLoadReport:
    """What `scaffold loadtest` measured on an LLM server and recommends."""

    project: Path
    scoring_path: str
    model: str
    max_tokens: int | None
    request_timeout_ms: int
    max_concurrent_requests_per_instance: int
    instance_count: int
    target_rps: float | None
    levels: list[LlmLevel] = field(default_factory=list)
    recommendation: LlmRecommendation | None = None
    #: Requests went through the local emulation of Azure's front end (auth, 408, 424).
    frontend: bool = False
    stopped_early: str = ""
    cores: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": str(self.project),
            "profile": "openai-chat",
            "scoring_path": self.scoring_path,
            "model": self.model,
            "max_tokens": self.max_tokens,
            "request_timeout_ms": self.request_timeout_ms,
            "current": {
                "max_concurrent_requests_per_instance": self.max_concurrent_requests_per_instance,
                "instance_count": self.instance_count,
            },
            "target_rps": self.target_rps,
            "frontend": self.frontend,
            "cores": self.cores,
            "levels": [level.to_json() for level in self.levels],
            "stopped_early": self.stopped_early or None,
            "recommendation": self.recommendation.to_json() if self.recommendation else None,
            "notes": list(self.notes),
        }


# -- the request --------------------------------------------------------------------------


def streaming_body(raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """The chat request as a streamed one (usage included); UsageError when it is not a
    chat completion request."""
    try:
        request = json.loads(raw)
    except ValueError:
        raise UsageError("the request body is not JSON; pass --request FILE") from None
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        raise UsageError(
            'the request is not a chat completion request ({"model": ..., "messages": '
            "[...]}); pass --request FILE"
        )
    options = request.get("stream_options")
    request = {
        **request,
        "stream": True,
        "stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True},
    }
    return json.dumps(request).encode(), request


def parse_event(line: str) -> tuple[str, int | None, bool]:
    """(text of the chunk, completion tokens if it reports usage, whether it is [DONE])."""
    if not line.startswith("data:"):
        return "", None, False
    data = line[5:].strip()
    if data == "[DONE]":
        return "", None, True
    try:
        chunk = json.loads(data)
    except ValueError:
        return "", None, False
    if not isinstance(chunk, dict):
        return "", None, False
    text = ""
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict):
            text += str(delta.get("content") or "") + str(delta.get("reasoning") or "")
    usage = chunk.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return text, tokens if isinstance(tokens, int) else None, False


# -- the driver ---------------------------------------------------------------------------


async def _one(
    client: Any, url: str, body: bytes, headers: dict[str, str], *, detail: bool = False
) -> Sample | str:
    """Stream one request; a Sample, or the kind of failure (with `detail`, also what the
    server answered)."""
    import httpx

    began = time.perf_counter()
    first: float | None = None
    chunks = 0
    usage: int | None = None
    done = False
    try:
        async with client.stream("POST", url, content=body, headers=headers) as answer:
            if not 200 <= answer.status_code < 300:
                text = (await answer.aread()).decode("utf-8", errors="replace")
                return (
                    f"HTTP {answer.status_code}: {text[:200]}"
                    if detail
                    else str(answer.status_code)
                )
            async for line in answer.aiter_lines():
                text, tokens, end = parse_event(line)
                if text:
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
                usage = tokens if tokens is not None else usage
                if end:
                    done = True
                    break
    except httpx.TimeoutException:
        return "timeout"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}" if detail else "connection"
    finished = time.perf_counter()
    if not done:
        return "the answer ended without data: [DONE]" if detail else "stream"
    tokens = usage if usage is not None else chunks
    ttft = (first if first is not None else finished) - began
    return Sample(ttft * 1000.0, (finished - began) * 1000.0, tokens)


async def _drive(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    timeout_s: float,
    tick: Callable[[int, float], None] | None = None,
) -> LlmLevel:
    import httpx

    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds
    sent = 0
    samples: list[Sample] = []
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        limits=limits, timeout=httpx.Timeout(timeout_s), trust_env=False
    ) as client:

        async def worker() -> None:
            nonlocal sent
            while sent < max_requests and loop.time() < deadline:
                sent += 1
                outcome = await _one(client, url, body, headers)
                if isinstance(outcome, Sample):
                    samples.append(outcome)
                else:
                    errors[outcome] += 1
                    if outcome == "connection":
                        await asyncio.sleep(0.05)

        async def ticker() -> None:
            while tick is not None:
                tick(sent, loop.time() - started)
                await asyncio.sleep(TICK)

        ticking = asyncio.create_task(ticker())
        try:
            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(concurrency))),
                timeout=seconds + timeout_s + 5.0,
            )
        finally:
            ticking.cancel()
    elapsed = loop.time() - started
    if tick is not None:
        tick(sent, elapsed)
    return LlmLevel(concurrency, sent, elapsed, samples, dict(errors))


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
    headers: dict[str, str] | None = None,
) -> tuple[list[LlmLevel], str]:
    """Drive `url` at each level in turn; stop rising once a level saturates (half the
    requests fail, or p95 latency is over the request timeout). `headers` go with every
    request (the front end's Authorization)."""
    if not url.startswith(("http://127.", "http://localhost:", "http://[::1]:")):
        raise UsageError(f"loadtest only sends traffic to this machine's loopback, not {url}")
    timeout_s = request_timeout_ms / 1000.0
    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    results: list[LlmLevel] = []
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
                sent_headers,
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
        if level.error_rate >= 0.5 and index < len(levels) - 1:
            return results, (
                f"stopped after concurrency {concurrency}: {level.failed} of "
                f"{level.requests} requests failed"
            )
        if level.ok and level.latency(0.95) > request_timeout_ms and index < len(levels) - 1:
            return results, (
                f"stopped after concurrency {concurrency}: p95 latency "
                f"{level.latency(0.95):.0f} ms is over request_timeout_ms {request_timeout_ms}"
            )
    return results, ""


def recommend(
    levels: list[LlmLevel], *, request_timeout_ms: int, target_rps: float | None
) -> LlmRecommendation | None:
    """The smallest clean concurrency within KNEE_SHARE of the best token throughput."""
    clean = [
        level
        for level in levels
        if level.requests and not level.failed and level.latency(0.99) <= request_timeout_ms
    ]
    if not clean:
        return None
    best = max(level.tokens_per_second for level in clean)
    knee = min(
        (level for level in clean if level.tokens_per_second >= KNEE_SHARE * best),
        key=lambda level: level.concurrency,
    )
    advice = LlmRecommendation(knee.concurrency, knee.rps, knee.tokens_per_second)
    highest = max(level.concurrency for level in levels)
    if knee.concurrency < highest:
        advice.notes.append(
            f"output tokens per second stop growing at concurrency {knee.concurrency} "
            f"({knee.tokens_per_second:.1f} tokens/s, TTFT p95 {knee.ttft(0.95):.0f} ms); beyond "
            "it requests only queue in the server's batch"
        )
    else:
        advice.notes.append(
            f"throughput still grew at the highest concurrency tested ({highest}: "
            f"{knee.tokens_per_second:.1f} tokens/s); vLLM batches, so add higher --levels "
            "(e.g. 32,64) to find where it stops"
        )
    if target_rps is not None:
        per_instance = knee.rps * UTILISATION
        advice.instance_count = max(1, math.ceil(target_rps / per_instance)) if per_instance else 1
        advice.notes.append(
            f"{target_rps:g} req/s at {UTILISATION:.0%} of {knee.rps:.2f} req/s per instance "
            f"needs instance_count {advice.instance_count}"
            + (
                f" (Azure advises at least {HA_INSTANCES} in production)"
                if advice.instance_count < HA_INSTANCES
                else ""
            )
        )
    return advice


# -- the command --------------------------------------------------------------------------


def _warm_up(url: str, body: bytes, timeout_s: float, headers: dict[str, str]) -> None:
    """Stream the request until it completes (the first answer may be slow), or fail with
    what the server answered: a load test of errors measures nothing."""
    last = ""
    for _ in range(WARMUP_TRIES):
        outcome = asyncio.run(_warm_one(url, body, max(timeout_s, 30.0), headers))
        if isinstance(outcome, Sample):
            return
        last = outcome
        time.sleep(0.5)
    raise SmokeTestError(
        f"the scoring route does not stream the chat request ({last}); fix the request "
        "(--request) or the model, `scaffold run` shows why"
    )


async def _warm_one(
    url: str, body: bytes, timeout_s: float, headers: dict[str, str]
) -> Sample | str:
    import httpx

    sent = {"Content-Type": "application/json", **headers}
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), trust_env=False) as client:
        return await _one(client, url, body, sent, detail=True)


def loadtest_llm(
    project: Path,
    reporter: Any = None,
    *,
    levels: list[int],
    seconds_per_level: float = 5.0,
    max_requests_per_level: int = 2000,
    target_rps: float | None = None,
    platform: str | None = None,
    request: Path | None = None,
    progress: ProgressCallback | None = None,
    frontend: bool = True,
    keep_limit: bool = False,
) -> LlmLoadReport:
    """Start the project like `scaffold run`, stream its chat request at each level (through
    the front-end emulation unless `frontend` is False; its 429 limit lifted unless
    `keep_limit`), remove the container, and return the measurements with a
    recommendation."""
    project = project.expanduser().resolve()
    path = request if request is not None else project / "sample_request.json"
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UsageError(
            f"cannot read the request body {path} ({error.strerror}); pass --request FILE"
        ) from None
    from scaffold.loadtest import front_end
    from scaffold.localrun import LocalDeployment

    body, parsed = streaming_body(raw)
    deployment = LocalDeployment(project, reporter, platform=platform)
    plan = deployment.plan
    settings = plan.requests
    limit = parsed.get("max_tokens") or parsed.get("max_completion_tokens")
    report = LlmLoadReport(
        project=project,
        scoring_path=plan.scoring.path,
        model=str(parsed.get("model", "")),
        max_tokens=limit if isinstance(limit, int) else None,
        request_timeout_ms=settings.request_timeout_ms,
        max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
        instance_count=settings.instance_count,
        target_rps=target_rps,
        cores=os.cpu_count() or 1,
        frontend=frontend,
    )
    with (
        deployment.ready(),
        front_end(
            deployment,
            enabled=frontend,
            lift_limit=not keep_limit,
            client_cpus=deployment.resources.client_cpus,
        ) as (base, headers, _),
    ):
        url = base + plan.scoring.path
        deployment.reporter.step(f"Warming up POST {plan.scoring.path} (streamed)")
        _warm_up(url, body, settings.request_timeout_ms / 1000.0, headers)
        deployment.reporter.step(
            f"Load: concurrency {', '.join(map(str, levels))}; each level at most "
            f"{seconds_per_level:g}s and {max_requests_per_level} streamed chat requests, "
            "127.0.0.1 only"
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
            headers=headers,
        )
    report.recommendation = recommend(
        report.levels, request_timeout_ms=settings.request_timeout_ms, target_rps=target_rps
    )
    report.notes.extend(_notes(report))
    return report


def _notes(report: LlmLoadReport) -> list[str]:
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
            "no level ran clean (every request streamed to [DONE] within request_timeout_ms): "
            "lower max_tokens in the request, or raise request_timeout_ms (max 180000)"
        )
    if report.max_tokens is None:
        notes.append(
            "the request sets no max_tokens, so answers run to the model's stop token or "
            "max_model_len: set max_tokens for comparable runs"
        )
    notes.append(
        f"measured on this machine ({report.cores} cores) through Docker's port forwarding; "
        "an LLM's speed depends on its GPU: re-run on the instance type before sizing "
        "production"
    )
    return notes


def format_table(report: LlmLoadReport) -> str:
    """The report as a text table with the recommendation below it."""
    head = (
        f"{'concurrency':>11} {'requests':>8} {'errors':>6} {'req/s':>7} {'tok/s':>8} "
        f"{'TTFT p50':>9} {'TTFT p95':>9} {'TPOT p50':>9} {'p95 ms':>8}"
    )
    tokens = f", max_tokens {report.max_tokens}" if report.max_tokens else ""
    path = "through the front-end emulation" if report.frontend else "raw server"
    lines = [
        f"Load test of streamed POST {report.scoring_path} (model {report.model}{tokens}; "
        f"{path}; {report.project})",
        head,
    ]
    for level in report.levels:
        lines.append(
            f"{level.concurrency:>11} {level.requests:>8} {level.failed:>6} {level.rps:>7.2f} "
            f"{level.tokens_per_second:>8.1f} {level.ttft(0.5):>9.1f} {level.ttft(0.95):>9.1f} "
            f"{level.tpot(0.5):>9.1f} {level.latency(0.95):>8.1f}"
        )
        if level.errors:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(level.errors.items()))
            lines.append(f"{'':>11} errors by kind: {kinds}")
    lines.append(
        "(tok/s: output tokens per second over all requests; TTFT: time to first token, ms; "
        "TPOT: ms per output token after the first)"
    )
    from scaffold.loadtest import settings_lines

    lines.extend(settings_lines(report))
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def plot(report: LlmLoadReport, path: Path) -> None:
    """Draw token throughput and TTFT/latency per level into a PNG (needs matplotlib)."""
    from scaffold.loadtest import draw

    levels = report.levels
    draw(
        path,
        x=[level.concurrency for level in levels],
        throughput=([level.tokens_per_second for level in levels], "output tokens/s"),
        latencies=[
            ([level.ttft(0.5) for level in levels], "TTFT p50"),
            ([level.ttft(0.95) for level in levels], "TTFT p95"),
            ([level.latency(0.95) for level in levels], "latency p95"),
        ],
        title=f"scaffold loadtest: streamed POST {report.scoring_path}",
    )
