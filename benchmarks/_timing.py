"""Helpers shared by the benchmark scripts: timing, and a bare `docker run` of a project's
image with the same mounts and variables as `scaffold run`, polled on its readiness route."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


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


@contextlib.contextmanager
def bare_container(
    plan: Any, image: str, mounts: list[tuple[Path, str]] | None = None
) -> Iterator[str]:
    """`docker run` `image` with the plan's ports (127.0.0.1), mounts (or `mounts`) and
    variables, wait until its readiness route answers 200, yield the 127.0.0.1 base URL of
    the scoring port; `docker rm -f` at the end."""
    command = ["docker", "run", "-d", "--init"]
    for port in plan.ports:
        command += ["-p", f"127.0.0.1::{port}"]
    pairs = mounts if mounts is not None else [(m.source, str(m.target)) for m in plan.mounts]
    for source, target in pairs:
        command += ["-v", f"{source}:{target}:ro"]
    for key, value in plan.environment.items():
        command += ["-e", f"{key}={value}"]
    cid = subprocess.run([*command, image], capture_output=True, text=True, check=True).stdout
    cid = cid.strip()
    try:

        def host(port: int) -> str:
            out = subprocess.run(
                ["docker", "port", cid, f"{port}/tcp"], capture_output=True, text=True, check=True
            ).stdout
            return f"http://127.0.0.1:{out.splitlines()[0].rsplit(':', 1)[-1].strip()}"

        url = host(plan.readiness.port) + plan.readiness.path
        deadline = time.monotonic() + plan.readiness_probe.budget
        while True:
            try:
                with urllib.request.urlopen(url, timeout=plan.readiness_probe.timeout) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bare container never ready at {url}")
            time.sleep(0.1)  # as often as scaffold polls at first
        yield host(plan.scoring.port)
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)
