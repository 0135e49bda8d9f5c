"""Load engines: what sends the requests of `scaffold loadtest`, kept off the server's cores.

A load test measures the server only while the client is not the limit. scaffold therefore
drives a compiled engine when one is installed and its own lean client otherwise, always in a
separate process pinned to CPUs the server container does not get, and measures that
process's CPU time, so the report can say when the client, not the server, was the limit:

- `wrk` (C; Debian/Ubuntu `apt-get install wrk`): method, body and headers from a generated
  Lua script (the key in a private file, never on a command line), per-status counts from its
  threads, latency percentiles from its histogram, a request-count bound from its `response()`
  hook. Whole seconds only (its `-d`), plain HTTP only (it does not verify TLS certificates).
- `hey` (Go; `apt-get install hey`): status and error distributions and percentiles from its
  report; stopped with SIGINT at the time bound. Headers go on its command line, so it is only
  used when no header is a secret, and plain HTTP only (it skips TLS verification).
- `lean`: scaffold's own client in a child Python process: non-blocking sockets on one epoll
  loop, HTTP/1.1 keep-alive (a new connection whenever the server closes one, as gunicorn's
  sync workers do), minimal response parsing, no HTTP library in the hot loop; TLS with
  certificate verification; closed loop (a fixed concurrency) or open loop (a fixed rate, for
  deployed endpoints). It also times the first response byte and counts server-sent events
  (`data:` lines), for streaming profiles.

Every engine counts the same things (requests answered, 2xx answers, errors by kind: the HTTP
status, "timeout" or "connection") and reports latency percentiles of the answers.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

#: Engines in order of preference (the first installed one that can carry the request).
ENGINES = ("wrk", "hey", "lean")
#: Seconds between two progress callbacks while an engine runs.
TICK = 0.2
#: Slack beyond a level's time bound and one request's timeout before the engine is killed.
SLACK = 10.0


class EngineError(RuntimeError):
    """An engine could not run or produced no result (the message says why)."""


@dataclass(frozen=True)
class Request:
    """What every request of a level sends."""

    url: str
    method: str = "POST"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    #: Names (lower case) of headers whose values are secrets: they never go on a command line.
    secret_headers: frozenset[str] = frozenset()
    #: Count server-sent events and time the first byte (a streaming load profile).
    stream: bool = False

    @property
    def is_tls(self) -> bool:
        """The URL is https."""
        return self.url.lower().startswith("https://")


@dataclass(frozen=True)
class Load:
    """How much to send: a fixed concurrency (closed loop) or a fixed rate (open loop)."""

    seconds: float
    max_requests: int
    timeout_s: float
    concurrency: int = 1
    #: Requests per second (open loop, lean only); None: closed loop at `concurrency`.
    rate: float | None = None
    #: Open loop: at most this many requests in flight (more are counted as dropped).
    max_in_flight: int = 256


@dataclass(frozen=True)
class Progress:
    """Where a running load level is (for a progress bar; scaffold.loadtest and
    scaffold.llmload report the same)."""

    concurrency: int
    level: int
    levels: int
    sent: int
    max_requests: int
    elapsed: float
    seconds: float


class Tally:
    """failed, error_rate and rps of a load level, from its requests, ok and seconds (shared by
    scaffold.loadtest's and scaffold.llmload's level results)."""

    if TYPE_CHECKING:  # pragma: no cover
        requests: int
        seconds: float

        @property
        def ok(self) -> int: ...

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


@dataclass(frozen=True)
class Latency:
    """Latency percentiles of the answers, in milliseconds."""

    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    mean: float = 0.0

    @classmethod
    def of(cls, samples_ms: list[float]) -> Latency:
        """Percentiles (nearest rank) of a list of latencies."""
        if not samples_ms:
            return cls()
        data = sorted(samples_ms)

        def rank(share: float) -> float:
            return data[min(len(data) - 1, max(0, math.ceil(share * len(data)) - 1))]

        return cls(rank(0.50), rank(0.95), rank(0.99), data[-1], sum(data) / len(data))

    def to_json(self) -> dict[str, float]:
        """Plain data, rounded."""
        return {
            "p50_ms": round(self.p50, 3),
            "p95_ms": round(self.p95, 3),
            "p99_ms": round(self.p99, 3),
            "max_ms": round(self.max, 3),
            "mean_ms": round(self.mean, 3),
        }


@dataclass
class Sample:
    """What one engine run measured."""

    engine: str
    requests: int
    ok: int
    seconds: float
    #: Failures by kind: an HTTP status ("429", "500"), "timeout" or "connection".
    errors: dict[str, int] = field(default_factory=dict)
    latency: Latency = field(default_factory=Latency)
    #: CPU seconds the engine process used (user + system).
    cpu_seconds: float = 0.0
    #: Streaming profiles: time to the first response byte, events per answer, ...
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Answers with 2xx per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """The engine's CPU time as a share of one core over the run (1.0 = a full core)."""
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0


Tick = Callable[[float], None]


# -- choosing -----------------------------------------------------------------------------


def installed() -> list[str]:
    """The engines that can run here, in order of preference (lean always can)."""
    return [name for name in ENGINES if name == "lean" or shutil.which(name)]


def why_not(name: str, request: Request, load: Load) -> str:
    """Why `name` cannot carry this request and load ("" when it can)."""
    if name not in ENGINES:
        return f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}"
    if name != "lean" and not shutil.which(name):
        return f"{name} is not installed (Debian/Ubuntu: apt-get install {name})"
    if name == "lean":
        return ""
    if request.is_tls:
        return f"{name} does not verify TLS certificates; the lean engine does"
    if load.rate is not None:
        return f"{name} sends at a fixed concurrency, not a fixed rate"
    if request.stream:
        return f"{name} cannot time streamed answers"
    if name == "hey" and request.secret_headers:
        return "hey takes headers on its command line, where a key would be visible"
    return ""


def choose(preferred: str, request: Request, load: Load) -> tuple[str, list[str]]:
    """The engine to use (`auto`: the first that can) and notes on the ones passed over."""
    if preferred != "auto":
        reason = why_not(preferred, request, load)
        if reason:
            raise EngineError(f"--engine {preferred}: {reason}")
        return preferred, []
    notes: list[str] = []
    for name in ENGINES:
        reason = why_not(name, request, load)
        if not reason:
            return name, notes
        notes.append(f"{name}: {reason}")
    return "lean", notes  # pragma: no cover - lean always can


def run(
    name: str,
    request: Request,
    load: Load,
    *,
    cpus: Iterable[int] | None = None,
    tick: Tick | None = None,
) -> Sample:
    """Run one level with engine `name`, pinned to `cpus` (None: anywhere)."""
    pinned = sorted(set(cpus)) if cpus else None
    if name == "wrk":
        return _run_wrk(request, load, pinned, tick)
    if name == "hey":
        return _run_hey(request, load, pinned, tick)
    if name == "lean":
        return _run_lean(request, load, pinned, tick)
    raise EngineError(f"unknown engine {name!r}")


# -- child processes ----------------------------------------------------------------------

#: Pins itself to the CPUs in argv[1], then becomes argv[2:] (exec keeps the pinning).
_PIN = (
    "import os, sys\n"
    "os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')})\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Child:
    returncode: int
    stdout: bytes
    stderr: bytes
    cpu_seconds: float
    seconds: float


def _run_child(
    argv: list[str],
    *,
    cpus: list[int] | None,
    budget: float,
    tick: Tick | None,
    stdin: bytes | None = None,
    interrupt_after: float | None = None,
    interrupt_when: Callable[[bytes], bool] | None = None,
) -> _Child:
    """Run `argv` pinned to `cpus`, ticking; SIGINT it after `interrupt_after` seconds or once
    `interrupt_when(stdout so far)` says so, kill it after `budget`. The child is in its own
    session (a terminal's Ctrl-C reaches scaffold, which kills it), and is always gone when
    this returns or raises."""
    import selectors

    if cpus and hasattr(os, "sched_setaffinity"):
        argv = [sys.executable, "-c", _PIN, ",".join(map(str, cpus)), *argv]
    before = _children_cpu()
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = bytearray(), bytearray()
    interrupted = False
    selector = selectors.DefaultSelector()
    try:
        _feed(proc, stdin)
        assert proc.stdout is not None and proc.stderr is not None
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        last_tick = started
        while selector.get_map():
            for key, _ in selector.select(TICK):
                data = os.read(key.fd, 65536)
                if data:
                    key.data.extend(data)
                else:
                    selector.unregister(key.fileobj)
            now = time.monotonic()
            elapsed = now - started
            if tick is not None and now - last_tick >= TICK:
                last_tick = now
                tick(elapsed)
            if not interrupted and (
                (interrupt_after is not None and elapsed >= interrupt_after)
                or (interrupt_when is not None and interrupt_when(bytes(out)))
            ):
                interrupted = True
                proc.send_signal(signal.SIGINT)
            if elapsed > budget:
                raise EngineError(f"{Path(argv[-1]).name}: no result within {budget:.0f}s")
        proc.wait(timeout=max(1.0, budget - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        raise EngineError(f"{Path(argv[-1]).name}: no result within {budget:.0f}s") from None
    finally:
        selector.close()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    seconds = time.monotonic() - started
    return _Child(proc.returncode, bytes(out), bytes(err), _children_cpu() - before, seconds)


def _feed(proc: subprocess.Popen[bytes], stdin: bytes | None) -> None:
    """Write `stdin` to the child and close it (a child that exited early is no error here)."""
    if stdin is None or proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()


def _last_lines(data: bytes, count: int = 3) -> str:
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"


# -- wrk ----------------------------------------------------------------------------------


def _lua_string(value: str | bytes) -> str:
    """A Lua string literal for any bytes (every non-alphanumeric byte as a decimal escape)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    safe = (chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\{b:03d}" for b in data)
    return '"' + "".join(safe) + '"'


_WRK_RESULT = "SCAFFOLD-WRK "
_WRK_LIMIT = "SCAFFOLD-WRK-LIMIT"


def wrk_script(request: Request, body_file: Path, per_thread_limit: int) -> str:
    """The Lua script that makes wrk send `request` and report in a form scaffold reads."""
    headers = "\n".join(
        f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}"
        for name, value in request.headers
    )
    return f"""-- generated by scaffold loadtest for one level; deleted afterwards
wrk.method = {_lua_string(request.method)}
local file = io.open({_lua_string(str(body_file))}, "rb")
wrk.body = file:read("*a")
file:close()
{headers}
local limit = {per_thread_limit}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {{}}
  answered = 0
  stopped = false
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  if answered >= limit and not stopped then
    stopped = true
    -- wrk's main thread would sleep out the whole -d (and report that as the duration):
    -- scaffold sends SIGINT, wrk's own early stop, once every thread has said this.
    io.write("{_WRK_LIMIT}\\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {{}}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("statuses") or {{}}) do
      total[key] = (total[key] or 0) + count
    end
  end
  local parts = {{}}
  for key, count in pairs(total) do
    table.insert(parts, string.format('"%s": %d', key, count))
  end
  local e = summary.errors
  io.write(string.format(
    '{_WRK_RESULT}{{"duration_us": %d, "requests": %d, "statuses": {{%s}}, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50": %f, "p95": %f, "p99": %f, "max": %f, "mean": %f}}\\n',
    summary.duration, summary.requests, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def _run_wrk(request: Request, load: Load, cpus: list[int] | None, tick: Tick | None) -> Sample:
    concurrency = load.concurrency
    threads = max(1, min(concurrency, len(cpus) if cpus else (os.cpu_count() or 1)))
    seconds = max(1, math.ceil(load.seconds))  # wrk's -d takes whole seconds
    timeout = max(1, math.ceil(load.timeout_s))
    per_thread = max(1, math.ceil(load.max_requests / threads))
    with tempfile.TemporaryDirectory(prefix="scaffold-wrk-") as folder:
        body = Path(folder, "body")
        body.write_bytes(request.body)
        script = Path(folder, "load.lua")
        script.write_text(wrk_script(request, body, per_thread), encoding="utf-8")
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{seconds}s",
            f"--timeout={timeout}s",
            "-s",
            str(script),
            request.url,
        ]
        marker = _WRK_LIMIT.encode()
        child = _run_child(
            argv,
            cpus=cpus,
            budget=seconds + timeout + SLACK,
            tick=tick,
            interrupt_when=lambda out: out.count(marker) >= threads,
        )
    text = child.stdout.decode("utf-8", "replace")
    found = [line for line in text.splitlines() if line.startswith(_WRK_RESULT)]
    if child.returncode != 0 or not found:
        raise EngineError(
            f"wrk exited {child.returncode}: {_last_lines(child.stderr or child.stdout)}"
        )
    data = json.loads(found[-1][len(_WRK_RESULT) :])
    statuses = {str(k): int(v) for k, v in data["statuses"].items()}
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    errors = {code: n for code, n in statuses.items() if not code.startswith("2")}
    socket_errors = int(data["connect"]) + int(data["read"]) + int(data["write"])
    if socket_errors:
        errors["connection"] = socket_errors
    if int(data["timeout"]):
        # wrk counts requests older than --timeout (they may still answer later): never
        # count one twice, as a timeout and as an answer.
        errors["timeout"] = int(data["timeout"])
        ok = max(0, ok - errors["timeout"])
    duration = int(data["duration_us"]) / 1e6
    latency = Latency(*(float(data[k]) / 1000.0 for k in ("p50", "p95", "p99", "max", "mean")))
    return Sample(
        engine="wrk",
        requests=sum(statuses.values()) + socket_errors,
        ok=ok,
        seconds=duration,
        errors=errors,
        latency=latency,
        cpu_seconds=child.cpu_seconds,
    )


# -- hey ----------------------------------------------------------------------------------

_HEY_PERCENT = re.compile(r"^\s*(\d+)% in ([\d.]+) secs")
_HEY_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses")
_HEY_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.*)$")
_HEY_FIELD = re.compile(r"^\s*(Total|Slowest|Average):\s+([\d.]+) secs")


def parse_hey(text: str) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
    """(fields and percentiles in seconds, counts by status, errors by kind) of hey's report."""
    fields: dict[str, float] = {}
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith(("Status code distribution", "Error distribution")):
            section = line.split()[0]
            continue
        if match := _HEY_FIELD.match(line):
            fields[match[1].lower()] = float(match[2])
        elif match := _HEY_PERCENT.match(line):
            fields[f"p{match[1]}"] = float(match[2])
        elif section == "Status" and (match := _HEY_STATUS.match(line)):
            statuses[match[1]] = statuses.get(match[1], 0) + int(match[2])
        elif section == "Error" and (match := _HEY_ERROR.match(line)):
            kind = "timeout" if re.search(r"timeout|deadline", match[2], re.I) else "connection"
            errors[kind] = errors.get(kind, 0) + int(match[1])
    return fields, statuses, errors


def _run_hey(request: Request, load: Load, cpus: list[int] | None, tick: Tick | None) -> Sample:
    concurrency = load.concurrency
    count = max(load.max_requests, concurrency)
    timeout = max(1, math.ceil(load.timeout_s))
    with tempfile.TemporaryDirectory(prefix="scaffold-hey-") as folder:
        body = Path(folder, "body")
        body.write_bytes(request.body)
        argv = ["hey", "-n", str(count), "-c", str(concurrency), "-t", str(timeout)]
        argv += ["-m", request.method, "-D", str(body)]
        for name, value in request.headers:
            if name.lower() == "content-type":
                argv += ["-T", value]
            else:
                argv += ["-H", f"{name}: {value}"]
        argv.append(request.url)
        child = _run_child(
            argv,
            cpus=cpus,
            budget=load.seconds + timeout + SLACK,
            tick=tick,
            interrupt_after=load.seconds,
        )
    text = child.stdout.decode("utf-8", "replace")
    fields, statuses, failures = parse_hey(text)
    if "total" not in fields:
        raise EngineError(
            f"hey exited {child.returncode}: {_last_lines(child.stderr or child.stdout)}"
        )
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    errors = {code: n for code, n in statuses.items() if not code.startswith("2")}
    errors.update(failures)
    # hey leaves out percentiles it has no sample for (few answers): the next one up stands in.
    slowest = fields.get("slowest", 0.0)
    p99 = fields.get("p99", slowest)
    p95 = fields.get("p95", p99)
    latency = Latency(
        fields.get("p50", p95) * 1000,
        p95 * 1000,
        p99 * 1000,
        slowest * 1000,
        fields.get("average", 0.0) * 1000,
    )
    return Sample(
        engine="hey",
        requests=sum(statuses.values()) + sum(failures.values()),
        ok=ok,
        seconds=fields["total"],
        errors=errors,
        latency=latency,
        cpu_seconds=child.cpu_seconds,
    )


# -- lean ---------------------------------------------------------------------------------


def lean_spec(request: Request, load: Load, cpus: list[int] | None) -> dict[str, Any]:
    """What the lean child reads on stdin (the key travels here, never in argv)."""
    return {
        "url": request.url,
        "method": request.method,
        "headers": [list(pair) for pair in request.headers],
        "body": base64.b64encode(request.body).decode("ascii"),
        "stream": request.stream,
        "seconds": load.seconds,
        "max_requests": load.max_requests,
        "timeout_s": load.timeout_s,
        "concurrency": load.concurrency,
        "rate": load.rate,
        "max_in_flight": load.max_in_flight,
        "cpus": cpus,
        "ca_file": os.environ.get("REQUESTS_CA_BUNDLE") or None,
    }


def _run_lean(request: Request, load: Load, cpus: list[int] | None, tick: Tick | None) -> Sample:
    spec = json.dumps(lean_spec(request, load, cpus)).encode("utf-8")
    argv = [sys.executable, "-m", "scaffold.loadengine"]
    child = _run_child(
        argv, cpus=None, budget=load.seconds + load.timeout_s + SLACK, tick=tick, stdin=spec
    )
    lines = child.stdout.decode("utf-8", "replace").strip().splitlines()
    if child.returncode != 0 or not lines:
        raise EngineError(f"the lean engine exited {child.returncode}: {_last_lines(child.stderr)}")
    data = json.loads(lines[-1])
    extra = {k: float(v) for k, v in data.get("extra", {}).items()}
    return Sample(
        engine="lean",
        requests=int(data["requests"]),
        ok=int(data["ok"]),
        seconds=float(data["seconds"]),
        errors={str(k): int(v) for k, v in data["errors"].items()},
        latency=Latency(**{k: float(v) for k, v in data["latency"].items()}),
        cpu_seconds=child.cpu_seconds,
        extra=extra,
    )


# The lean client itself (runs in the child: `python -m scaffold.loadengine`). -------------

_CONNECTING, _HANDSHAKE, _SENDING, _READING, _IDLE, _WAITING = range(6)
_MAX_HEAD = 65536


class _Conn:
    """One connection and the response being read on it."""

    __slots__ = (
        "body_start",
        "buf",
        "chunk_pos",
        "close",
        "deadline",
        "first_byte",
        "length",
        "mode",
        "out",
        "sock",
        "start",
        "state",
        "status",
    )

    def __init__(self) -> None:
        self.sock: Any = None
        self.state = _WAITING
        self.out = b""
        self.buf = bytearray()
        self.start = 0.0
        self.deadline = 0.0
        self.first_byte = 0.0
        self.reset()

    def reset(self) -> None:
        """Forget the previous response."""
        self.buf = bytearray()
        self.status = 0
        self.body_start = -1
        self.length = -1
        self.mode = ""
        self.chunk_pos = 0
        self.close = False
        self.first_byte = 0.0


def _parse_head(conn: _Conn) -> bool:
    """Parse the response head once it is complete; False while it is not."""
    end = conn.buf.find(b"\r\n\r\n")
    if end < 0:
        if len(conn.buf) > _MAX_HEAD:
            raise ValueError("response head too large")
        return False
    head = bytes(conn.buf[:end]).lower()
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    if 100 <= status < 200:  # an interim answer: drop it, the real one follows
        del conn.buf[: end + 4]
        return _parse_head(conn)
    conn.status = status
    conn.body_start = end + 4
    conn.close = lines[0].startswith(b"http/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        value = value.strip()
        if name == b"content-length":
            conn.length = int(value)
            conn.mode = "length"
        elif name == b"transfer-encoding" and b"chunked" in value:
            conn.mode = "chunked"
        elif name == b"connection":
            conn.close = b"close" in value or (conn.close and b"keep-alive" not in value)
    if conn.mode == "chunked":
        conn.length = -1
    elif not conn.mode:
        conn.mode = "length" if status in (204, 304) else "eof"
        if conn.mode == "length":
            conn.length = 0
    conn.chunk_pos = conn.body_start
    return True


def _body_complete(conn: _Conn) -> bool:
    """Whether the whole body arrived (EOF-delimited bodies end at EOF, elsewhere)."""
    if conn.mode == "length":
        return len(conn.buf) - conn.body_start >= conn.length
    if conn.mode != "chunked":
        return False
    buf, pos = conn.buf, conn.chunk_pos
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return False
        size = int(bytes(buf[pos:line_end]).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            if buf.find(b"\r\n", line_end + 2) == line_end + 2:
                return True
            return buf.find(b"\r\n\r\n", line_end) >= 0
        if len(buf) < line_end + 2 + size + 2:
            return False
        pos = line_end + 2 + size + 2
        conn.chunk_pos = pos


def _lean_main() -> int:  # noqa: C901 - one event loop, kept in one place for speed
    import selectors
    import socket
    import ssl

    spec = json.loads(sys.stdin.buffer.read())
    if spec.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(spec["cpus"]))
    url = urlsplit(spec["url"])
    tls = url.scheme == "https"
    host = url.hostname or "127.0.0.1"
    port = url.port or (443 if tls else 80)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    body = base64.b64decode(spec["body"])
    head = [f"{spec['method']} {target} HTTP/1.1", f"Host: {url.netloc}"]
    head += [f"{name}: {value}" for name, value in spec["headers"]]
    if body or spec["method"] in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    context = None
    if tls:
        context = ssl.create_default_context()
        if spec.get("ca_file"):
            context.load_verify_locations(spec["ca_file"])
    stream = bool(spec["stream"])
    timeout = float(spec["timeout_s"])
    max_requests = int(spec["max_requests"])
    rate = spec.get("rate")
    concurrency = int(spec["concurrency"]) if rate is None else int(spec["max_in_flight"])

    selector = selectors.DefaultSelector()
    clock = time.perf_counter
    errors: dict[str, int] = {}
    latencies: list[float] = []
    first_bytes: list[float] = []
    events: list[float] = []
    answered = ok = sent = dropped = connections = 0
    started = clock()
    end = started + float(spec["seconds"])
    last_answer = started
    conns = [_Conn() for _ in range(concurrency)]
    idle: list[_Conn] = []

    def fail(kind: str) -> None:
        nonlocal answered
        answered += 1
        errors[kind] = errors.get(kind, 0) + 1

    def drop(conn: _Conn) -> None:
        if conn.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(conn.sock)
            conn.sock.close()
            conn.sock = None
        conn.state = _WAITING
        conn.reset()

    def connect(conn: _Conn) -> None:
        nonlocal connections
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect_ex((host, port))
        connections += 1
        conn.sock, conn.state = sock, _CONNECTING
        selector.register(sock, selectors.EVENT_WRITE, conn)

    def begin(conn: _Conn, now: float) -> None:
        """Send the request on `conn` (connecting first if it has no socket)."""
        nonlocal sent
        sent += 1
        conn.reset()
        conn.out = wire
        conn.start = now
        conn.deadline = now + timeout
        if conn.sock is None:
            connect(conn)
        else:
            conn.state = _SENDING
            selector.modify(conn.sock, selectors.EVENT_WRITE, conn)

    def finish(conn: _Conn, now: float) -> None:
        nonlocal ok, answered, last_answer
        answered += 1
        last_answer = now
        if 200 <= conn.status < 300:
            ok += 1
            latencies.append((now - conn.start) * 1000.0)
            if stream:
                if conn.first_byte:
                    first_bytes.append((conn.first_byte - conn.start) * 1000.0)
                events.append(float(conn.buf.count(b"data:", conn.body_start)))
        else:
            key = str(conn.status)
            errors[key] = errors.get(key, 0) + 1
        if conn.close or conn.mode == "eof":
            drop(conn)
        else:
            conn.state = _IDLE
            conn.reset()
            selector.modify(conn.sock, selectors.EVENT_READ, conn)

    def more(now: float) -> bool:
        return now < end and sent < max_requests

    def send_next(conn: _Conn, now: float) -> None:
        if rate is None and more(now):
            begin(conn, now)
        elif rate is not None:
            idle.append(conn)
        elif conn.state == _IDLE:
            drop(conn)

    def on_event(conn: _Conn, now: float) -> None:  # noqa: C901 - the state machine, inline for speed
        sock = conn.sock
        try:
            if conn.state == _CONNECTING:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise ConnectionRefusedError(code, os.strerror(code))
                if context is not None:
                    selector.unregister(sock)
                    conn.sock = sock = context.wrap_socket(
                        sock, server_hostname=host, do_handshake_on_connect=False
                    )
                    selector.register(sock, selectors.EVENT_WRITE, conn)
                    conn.state = _HANDSHAKE
                else:
                    conn.state = _SENDING
                    conn.start = now
            if conn.state == _HANDSHAKE:
                try:
                    sock.do_handshake()
                except ssl.SSLWantReadError:
                    selector.modify(sock, selectors.EVENT_READ, conn)
                    return
                except ssl.SSLWantWriteError:
                    selector.modify(sock, selectors.EVENT_WRITE, conn)
                    return
                conn.state = _SENDING
                conn.start = now
            if conn.state == _SENDING:
                try:
                    written = sock.send(conn.out)
                except (ssl.SSLWantWriteError, BlockingIOError):
                    return
                conn.out = conn.out[written:]
                if conn.out:
                    selector.modify(sock, selectors.EVENT_WRITE, conn)
                    return
                conn.state = _READING
                selector.modify(sock, selectors.EVENT_READ, conn)
                return
            if conn.state in (_READING, _IDLE):
                while True:
                    try:
                        data = sock.recv(262144)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        return
                    if conn.state == _IDLE:
                        drop(conn)  # the server closed an idle keep-alive connection
                        if rate is None and more(now):
                            begin(conn, now)
                        return
                    if not data:
                        if conn.status and conn.mode == "eof":
                            finish(conn, now)
                        else:
                            fail("connection")
                            drop(conn)
                        send_next(conn, now)
                        return
                    if not conn.first_byte:
                        conn.first_byte = now
                    conn.buf += data
                    if conn.body_start < 0 and not _parse_head(conn):
                        continue
                    if _body_complete(conn):
                        finish(conn, now)
                        send_next(conn, now)
                        return
                    if not (context and sock.pending()):
                        return
        except (OSError, ValueError, IndexError):
            fail("connection")
            drop(conn)
            conn.deadline = now + 0.05  # a refused connection returns at once: back off
            conn.state = _WAITING

    now = clock()
    if rate is None:
        for conn in conns:
            if more(now):
                begin(conn, now)
    else:
        idle.extend(conns)
    next_send = started
    interval = 1.0 / float(rate) if rate else 0.0
    while True:
        now = clock()
        if rate is not None:
            while next_send <= now and more(now):
                if idle:
                    begin(idle.pop(), now)
                else:
                    dropped += 1
                    sent += 1
                next_send += interval
        busy = [c for c in conns if c.state not in (_IDLE, _WAITING)]
        waiting = [c for c in conns if c.state == _WAITING and c not in idle]
        if not more(now) and not busy:
            break
        if now >= end and busy:
            break  # the time bound: answers still in flight are not counted (as wrk does)
        wait = 0.05
        if rate is not None and more(now):
            wait = min(wait, max(0.0, next_send - now))
        for key, _ in selector.select(wait):
            on_event(key.data, clock())
        now = clock()
        for conn in busy:
            if conn.state not in (_IDLE, _WAITING) and now > conn.deadline:
                fail("timeout")
                drop(conn)
                send_next(conn, now)
        for conn in waiting:
            if conn.state == _WAITING and now >= conn.deadline:
                send_next(conn, now)
    finished = clock()
    seconds = (end - started) if finished >= end else (last_answer - started)
    extra: dict[str, float] = {"connections": float(connections)}
    if rate is not None:
        extra["dropped"] = float(dropped)
        extra["target_rate"] = float(rate)
    if stream and first_bytes:
        first = Latency.of(first_bytes)
        extra.update({"first_byte_p50_ms": first.p50, "first_byte_p95_ms": first.p95})
        extra["events_per_answer"] = sum(events) / len(events) if events else 0.0
    result = {
        "requests": answered,
        "ok": ok,
        "seconds": max(seconds, 1e-6),
        "errors": errors,
        "latency": {k.removesuffix("_ms"): v for k, v in Latency.of(latencies).to_json().items()},
        "extra": extra,
    }
    for conn in conns:
        drop(conn)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise SystemExit(_lean_main())
