"""`scaffold probe-tune`: probe settings from measured starts, not guesses.

The most reported deployment failure is a probe that gives up before the model is loaded
(ResourceNotReady, "Liveness probe failed: HTTP probe failed with statuscode: 502"); the
opposite mistake, a huge budget, hides a crashed container for minutes. This starts the
project's container `runs` times (each from scratch, with the CPU and memory of its
instance type) and measures:

- seconds from the container's start to the first 200 of the liveness route and of the
  readiness route (polled every POLL seconds, each request bounded by the probe's timeout);
- how long the probe routes take to answer once ready, idle and while the scoring route is
  busy at the deployment's own limit (2 x max_concurrent_requests_per_instance in flight):
  a health route queued behind scoring requests (one sync worker) times out under load, and
  a liveness probe that times out restarts the container.

From the slowest start S and the slowest probe answer A, with a stated margin M (default 2:
an Azure VM, a cold disk and the model download start slower than this machine):

- `timeout` = max(2, ceil(M x A)) (Azure's default is 2 s);
- `period` = max(the current period, `timeout`);
- `initial_delay` = max(1, floor(fastest start)): there is no point probing earlier;
- `failure_threshold` = max(3, ceil((M x S - initial_delay) / period)), so that the budget
  `initial_delay + failure_threshold x period` covers M x S.

`apply_probes` writes them into deployment.yml as a minimal text edit: only the values change,
comments and layout stay, and the result is checked to load to exactly the old YAML with those
values changed (otherwise nothing is written).
"""

from __future__ import annotations

import copy
import math
import os
import re
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.errors import NotReadyError, ProjectError, WriteError
from scaffold.localrun import LocalDeployment, Reporter
from scaffold.project import PROBE_DEFAULTS, Probe

#: Requests to the container's 127.0.0.1 ports, never through an HTTP(S)_PROXY.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
#: Seconds between two polls of the probe routes while a container starts.
POLL = 0.05
#: Probe answers sampled once ready, idle.
IDLE_SAMPLES = 10
#: Seconds between two probe requests while the scoring route is busy.
LOAD_POLL = 0.2
#: The keys written, in the order a new block lists them.
KEYS = ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold")


@dataclass
class Start:
    """One start of the container."""

    live_s: float
    ready_s: float
    #: Probe answer times once ready (ms): idle, and while scoring was busy.
    idle_ms: list[float] = field(default_factory=list)
    busy_ms: list[float] = field(default_factory=list)
    #: Probe requests that failed or timed out while scoring was busy.
    busy_failures: int = 0


@dataclass
class ProbeAdvice:
    """Settings for one probe, with the current ones."""

    name: str
    values: dict[str, int]
    current: dict[str, int]

    @property
    def budget(self) -> int:
        """Seconds Azure waits before giving up with these settings."""
        v = self.values
        return v["initial_delay"] + v["failure_threshold"] * v["period"]

    @property
    def current_budget(self) -> int:
        """The same for the current settings."""
        v = self.current
        return v["initial_delay"] + v["failure_threshold"] * v["period"]


@dataclass
class ProbeReport:
    """What probe-tune measured and recommends."""

    project: Path
    margin: float
    starts: list[Start]
    liveness: ProbeAdvice
    readiness: ProbeAdvice
    load_concurrency: int
    notes: list[str] = field(default_factory=list)
    applied: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {
            "project": str(self.project),
            "margin": self.margin,
            "starts": [
                {
                    "live_s": round(s.live_s, 3),
                    "ready_s": round(s.ready_s, 3),
                    "probe_idle_ms_max": round(max(s.idle_ms, default=0.0), 2),
                    "probe_busy_ms_max": round(max(s.busy_ms, default=0.0), 2),
                    "probe_busy_failures": s.busy_failures,
                }
                for s in self.starts
            ],
            "load_concurrency": self.load_concurrency,
            "liveness_probe": {
                "recommended": self.liveness.values,
                "current": self.liveness.current,
            },
            "readiness_probe": {
                "recommended": self.readiness.values,
                "current": self.readiness.current,
            },
            "applied": self.applied,
            "notes": list(self.notes),
        }


def _get(url: str, timeout: float) -> tuple[bool, float]:
    """(answered 200, seconds it took)."""
    began = time.perf_counter()
    try:
        with _LOCAL.open(url, timeout=timeout) as answer:
            answer.read()
            ok = answer.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    return ok, time.perf_counter() - began


def _measure_start(deployment: LocalDeployment, started: float) -> tuple[float, float]:
    """Seconds from `started` to the first 200 of liveness and of readiness."""
    plan = deployment.plan
    live_url, ready_url = deployment.url(plan.liveness), deployment.url(plan.readiness)
    budget = max(plan.liveness_probe.budget, plan.readiness_probe.budget)
    live = ready = 0.0
    while True:
        now = time.monotonic() - started
        if not live and _get(live_url, plan.liveness_probe.timeout)[0]:
            live = time.monotonic() - started
        if not ready and _get(ready_url, plan.readiness_probe.timeout)[0]:
            ready = time.monotonic() - started
        if live and ready:
            return live, ready
        state, code = deployment.state()
        if state != "running":
            raise NotReadyError(
                f"the container stopped while starting ({state}, exit code {code}); "
                "`scaffold run` shows why",
                details=deployment.logs(),
            )
        if now > budget:
            what = "liveness" if not live else "readiness"
            raise NotReadyError(
                f"{what} not 200 within the probe budget ({budget:.0f}s): the deployment "
                "would fail on Azure too; see the log below",
                details=deployment.logs(),
            )
        time.sleep(POLL)


def _probe_latency(
    deployment: LocalDeployment, load_seconds: float, concurrency: int, body: bytes
) -> tuple[list[float], list[float], int]:
    """Probe answer times idle and while scoring is busy at `concurrency` (ms), and how many
    probe requests failed while it was busy."""
    import threading

    from scaffold import loadengine

    plan = deployment.plan
    urls = [deployment.url(plan.liveness), deployment.url(plan.readiness)]
    timeout = max(plan.liveness_probe.timeout, plan.readiness_probe.timeout)
    idle = [_get(url, timeout)[1] * 1000.0 for url in urls for _ in range(IDLE_SAMPLES)]
    if load_seconds <= 0:
        return idle, [], 0
    request = loadengine.Request(
        deployment.url(plan.scoring),
        body=body,
        headers=(("Content-Type", "application/json"),),
    )
    load = loadengine.Load(
        load_seconds, 1_000_000, plan.requests.request_timeout_ms / 1000.0, concurrency
    )
    done = threading.Event()
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            loadengine.run("lean", request, load, cpus=deployment.resources.client_cpus or None)
        except BaseException as error:  # reported after the join
            failure.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=drive, name="probe-tune-load", daemon=True)
    thread.start()
    busy: list[float] = []
    failed = 0
    time.sleep(min(0.5, load_seconds / 4))
    while not done.wait(LOAD_POLL):
        for url in urls:
            ok, seconds = _get(url, timeout)
            busy.append(seconds * 1000.0)
            failed += not ok
    thread.join(load_seconds + load.timeout_s + loadengine.SLACK)
    return idle, busy, failed


def _current(probe: Probe) -> dict[str, int]:
    return {
        "initial_delay": int(probe.initial_delay),
        "period": int(probe.period),
        "timeout": int(probe.timeout),
        "success_threshold": int(probe.success_threshold),
        "failure_threshold": int(probe.failure_threshold),
    }


def advise(
    name: str, starts_s: list[float], answers_ms: list[float], current: Probe, margin: float
) -> ProbeAdvice:
    """The settings for one probe from its measured start times and answer times."""
    slowest = max(starts_s)
    timeout = max(
        int(PROBE_DEFAULTS["timeout"]), math.ceil(margin * max(answers_ms, default=0) / 1000.0)
    )
    period = max(int(current.period), timeout)
    initial = max(1, math.floor(min(starts_s)))
    failures = max(3, math.ceil((margin * slowest - initial) / period))
    values = {
        "initial_delay": initial,
        "period": period,
        "timeout": timeout,
        "success_threshold": 1,
        "failure_threshold": failures,
    }
    return ProbeAdvice(name, values, _current(current))


def probe_tune(
    project: Path,
    reporter: Reporter | None = None,
    *,
    runs: int = 3,
    margin: float = 2.0,
    load_seconds: float = 3.0,
    platform: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ProbeReport:
    """Build once, start the container `runs` times measuring its starts and probe answers,
    and return recommended probe settings (the container is always removed)."""
    project = project.expanduser().resolve()
    deployment = LocalDeployment(project, reporter, platform=platform, separate_client=True)
    plan = deployment.plan
    body_path = project / "sample_request.json"
    body = body_path.read_bytes() if body_path.is_file() else b"{}"
    concurrency = 2 * plan.requests.max_concurrent_requests_per_instance
    deployment.remove_stale()
    deployment.build()
    starts: list[Start] = []
    for index in range(runs):
        if progress is not None:
            progress(index + 1, runs)
        try:
            deployment.start()
            started = time.monotonic()
            live, ready = _measure_start(deployment, started)
            deployment.reporter.step(
                f"Start {index + 1}/{runs}: live after {live:.2f}s, ready after {ready:.2f}s"
            )
            start = Start(live, ready)
            if index == runs - 1 or load_seconds <= 0:
                start.idle_ms, start.busy_ms, start.busy_failures = _probe_latency(
                    deployment, load_seconds, concurrency, body
                )
            starts.append(start)
        finally:
            deployment.stop()
    answers = [ms for s in starts for ms in s.idle_ms + s.busy_ms]
    report = ProbeReport(
        project=project,
        margin=margin,
        starts=starts,
        liveness=advise(
            "liveness_probe", [s.live_s for s in starts], answers, plan.liveness_probe, margin
        ),
        readiness=advise(
            "readiness_probe", [s.ready_s for s in starts], answers, plan.readiness_probe, margin
        ),
        load_concurrency=concurrency,
    )
    report.notes.extend(_notes(report, deployment))
    return report


def _notes(report: ProbeReport, deployment: LocalDeployment) -> list[str]:
    notes = list(deployment.resources.notes)
    starts = report.starts
    ready = [s.ready_s for s in starts]
    notes.append(
        f"ready after {min(ready):.2f}-{max(ready):.2f}s over {len(starts)} start(s) "
        f"(median {statistics.median(ready):.2f}s); budgets cover {report.margin:g}x the "
        "slowest (an Azure VM, a cold disk and the model download are slower than this machine)"
    )
    for advice in (report.liveness, report.readiness):
        slowest = max(s.live_s if advice is report.liveness else s.ready_s for s in starts)
        if advice.current_budget < slowest * report.margin:
            notes.append(
                f"{advice.name}: the current budget ({advice.current_budget}s = initial_delay + "
                f"failure_threshold x period) is under {report.margin:g}x the slowest start "
                f"({slowest:.1f}s): on a slower machine the deployment would fail"
            )
        current_timeout = advice.current["timeout"]
        if current_timeout < advice.values["timeout"]:
            notes.append(
                f"{advice.name}: timeout {current_timeout}s is under {report.margin:g}x the "
                "slowest probe answer measured: probes would time out"
            )
    busy = [s for s in starts if s.busy_ms]
    if busy:
        worst = max(max(s.busy_ms) for s in busy)
        failures = sum(s.busy_failures for s in busy)
        notes.append(
            f"probe answers while scoring ran at {report.load_concurrency} in flight: up to "
            f"{worst:.0f} ms" + (f", {failures} failed or timed out" if failures else "")
        )
    return notes


# -- writing deployment.yml ----------------------------------------------------------------

_COMMENT = re.compile(r"\s+#.*$")


def _render(value: int) -> str:
    return str(int(value))


def edit_block(text: str, block: str, values: dict[str, int]) -> str:
    """`text` with the keys of the top-level mapping `block` set to `values`: values replaced
    in place (comments kept), missing keys added beside the others, a missing block appended.
    Raises ProjectError for a layout this cannot edit."""
    lines = text.splitlines(keepends=True)
    header = re.compile(rf"^{re.escape(block)}\s*:(?P<rest>.*?)(?P<nl>\r?\n)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        newline = "\r\n" if "\r\n" in text else "\n"
        tail = "" if not text or text.endswith(("\n", "\r\n")) else newline
        body = "".join(f"  {key}: {_render(values[key])}{newline}" for key in KEYS if key in values)
        return text + tail + f"{block}:{newline}" + body
    match = header.match(lines[start])
    assert match is not None
    rest = _COMMENT.sub("", match["rest"]).strip()
    if rest.startswith("{"):
        return _edit_flow(lines, start, block, values)
    if rest:
        raise ProjectError(f"deployment.yml: {block} is not a mapping scaffold can edit")
    children, indent = _children(lines, start)
    newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
    missing = dict(values)
    for index in children:
        line = lines[index]
        if not line.startswith(indent) or line[len(indent)].isspace():
            continue  # deeper nesting: not one of this block's keys
        found = re.match(
            rf"^{re.escape(indent)}(?P<key>[A-Za-z_]+)(?P<sep>\s*:\s*)(?P<value>[^#\r\n]*?)"
            r"(?P<comment>\s+#.*?)?(?P<nl>\r?\n)?$",
            line,
        )
        if found is None or found["key"] not in missing:
            continue
        value = _render(missing.pop(found["key"]))
        lines[index] = (
            f"{indent}{found['key']}{found['sep']}{value}{found['comment'] or ''}"
            f"{found['nl'] or ''}"
        )
    if missing:
        at = (children[-1] + 1) if children else start + 1
        if at == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        added = [f"{indent}{k}: {_render(missing[k])}{newline}" for k in KEYS if k in missing]
        lines[at:at] = added
    return "".join(lines)


def _children(lines: list[str], start: int) -> tuple[list[int], str]:
    """Indices of the (non-comment) lines inside the block starting at `start`, and the
    indentation of its keys (two spaces when it has none yet)."""
    children: list[int] = []
    indent = ""
    for index in range(start + 1, len(lines)):
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            break
        children.append(index)
        if not indent:
            indent = line[: len(line) - len(line.lstrip())]
    return children, indent or "  "


def _edit_flow(lines: list[str], start: int, block: str, values: dict[str, int]) -> str:
    import yaml

    line = lines[start]
    body, _, comment = line.partition("#")
    found = re.match(rf"^{re.escape(block)}\s*:\s*(\{{.*\}})\s*$", body.rstrip("\r\n"))
    if found is None:
        raise ProjectError(f"deployment.yml: {block} spans lines; set its values by hand")
    mapping = yaml.safe_load(found[1]) or {}
    if not isinstance(mapping, dict):
        raise ProjectError(f"deployment.yml: {block} is not a mapping scaffold can edit")
    mapping.update(values)
    rendered = ", ".join(f"{k}: {v}" for k, v in mapping.items())
    newline = "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""
    lines[start] = (
        f"{block}: {{{rendered}}}" + (f"  #{comment.rstrip()}" if comment else "") + newline
    )
    return "".join(lines)


def apply_probes(path: Path, report: ProbeReport) -> str:
    """Write the recommended probes into `path` (a minimal edit, checked to load back to the
    old YAML with only those values changed); returns the new text. Nothing is written when
    the check fails."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProjectError(f"cannot read {path} ({error.strerror})") from None
    new = text
    for advice in (report.liveness, report.readiness):
        new = edit_block(new, advice.name, advice.values)
    before = yaml.safe_load(text) or {}
    expected = copy.deepcopy(before)
    for advice in (report.liveness, report.readiness):
        current = expected.get(advice.name)
        expected[advice.name] = {**(current if isinstance(current, dict) else {}), **advice.values}
    if yaml.safe_load(new) != expected:
        raise ProjectError(
            f"{path.name}: could not set the probes without changing anything else; set them "
            "by hand (see the values above)"
        )
    temporary = path.with_name(f".{path.name}.scaffold-{os.getpid()}")
    try:
        temporary.write_text(new, encoding="utf-8", newline="")
        temporary.chmod(path.stat().st_mode & 0o7777)
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise WriteError(f"cannot write {path} ({error.strerror}); nothing was changed") from None
    report.applied = True
    return new


def format_report(report: ProbeReport) -> str:
    """The report as text, with the YAML to paste."""
    lines = [f"Probe timing of {report.project} ({len(report.starts)} start(s))"]
    lines.append(
        f"{'start':>5} {'live s':>8} {'ready s':>8} {'probe idle ms':>14} {'probe busy ms':>14}"
    )
    for index, start in enumerate(report.starts, start=1):
        idle = f"{max(start.idle_ms):.1f}" if start.idle_ms else "-"
        busy = f"{max(start.busy_ms):.1f}" if start.busy_ms else "-"
        lines.append(f"{index:>5} {start.live_s:>8.2f} {start.ready_s:>8.2f} {idle:>14} {busy:>14}")
    verb = "Written to" if report.applied else "Recommended in"
    lines.append(f"{verb} deployment.yml (margin {report.margin:g}x):")
    for advice in (report.liveness, report.readiness):
        lines.append(f"{advice.name}:")
        for key in KEYS:
            now = advice.current[key]
            value = advice.values[key]
            change = f"  # was {now}" if now != value else ""
            lines.append(f"  {key}: {value}{change}")
        lines.append(f"  # budget {advice.budget}s (was {advice.current_budget}s)")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)
