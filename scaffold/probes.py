"""Wait for a container the way Azure ML's probes do, with the deployment's own settings.

Azure first probes after `initial_delay`, then every `period`, each request allowed
`timeout` seconds, and gives up after `failure_threshold` failures. Locally scaffold polls
more often (a container that is ready early is reported early) but within the same budget
and with the same per-request timeout, so a container that passes here passes there.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from scaffold.project import Probe

#: Seconds between two local probes: often at first (most containers are ready within
#: seconds, and each poll costs nothing locally), then every POLL_INTERVAL.
FAST_POLL_INTERVAL = 0.1
FAST_POLL_SECONDS = 10.0
POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class ProbeResult:
    """How a wait ended."""

    ready: bool
    seconds: float
    last_error: str
    #: Non-empty when the container stopped while waiting.
    exited: str = ""


def check(url: str, timeout: float) -> tuple[bool, str]:
    """GET `url` once; (True, '') on HTTP 200, else (False, why)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status == 200:
                return True, ""
            return False, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        body = error.read()[:200].decode("utf-8", errors="replace")
        return False, f"HTTP {error.code} {body}".strip()
    except (OSError, ValueError) as error:  # refused, reset, timed out
        return False, f"{type(error).__name__}: {error}"


def wait_ready(
    url: str,
    probe: Probe,
    *,
    alive: Callable[[], str],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProbeResult:
    """Poll `url` until HTTP 200 or `probe.budget` seconds pass.

    `alive()` returns "" while the container runs, else a description of how it stopped;
    a stopped container ends the wait at once.
    """
    start = clock()
    last = "no answer yet"
    while True:
        stopped = alive()
        if stopped:
            return ProbeResult(False, clock() - start, last, exited=stopped)
        ok, why = check(url, probe.timeout)
        elapsed = clock() - start
        if ok:
            return ProbeResult(True, elapsed, "")
        last = why
        if elapsed >= probe.budget:
            return ProbeResult(False, elapsed, last)
        interval = FAST_POLL_INTERVAL if elapsed < FAST_POLL_SECONDS else POLL_INTERVAL
        sleep(min(interval, probe.period))
