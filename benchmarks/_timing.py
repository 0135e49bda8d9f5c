"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def median_seconds(
    command: list[str],
    runs: int,
    *,
    before: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> float:
    """Median wall time of `runs` runs of `command`; `before()` runs untimed before each."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        subprocess.run(
            command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)
