"""`scaffold run`: build the project's image and run it the way Azure ML would.

Steps: read deployment.yml → build the image → start the container (model and code
mounted where Azure mounts them, the same environment variables, ports on random
127.0.0.1 ports) → wait for liveness and readiness within the probe budget → run the
project's own smoke_test.py → always remove the container.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scaffold import container as docker_adapter
from scaffold.errors import NotReadyError, ProjectError, SmokeTestError
from scaffold.probes import wait_ready
from scaffold.project import RunPlan, load_plan

if TYPE_CHECKING:  # pragma: no cover
    from docker.models.containers import Container

#: Seconds the smoke test may wait for probes once scaffold saw the container ready.
SMOKE_DEADLINE = 30.0


class Reporter(Protocol):
    """Receives progress; the CLI renders it (the core never prints)."""

    def step(self, message: str) -> None:
        """A new phase started."""

    def detail(self, line: str, *, important: bool = False) -> None:
        """A line of tool output (build log, smoke test output)."""


class SilentReporter:
    """A Reporter that drops everything (library use, tests)."""

    def step(self, message: str) -> None:
        """Drop the message."""

    def detail(self, line: str, *, important: bool = False) -> None:
        """Drop the line."""


@dataclass
class RunResult:
    """What a local run did."""

    image: str
    ports: dict[int, int] = field(default_factory=dict)
    ready_after: float = 0.0
    smoke_output: str = ""
    base_url: str = ""


def image_tag(plan: RunPlan) -> str:
    """A stable local tag, so rebuilds reuse Docker's layer cache."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", f"{plan.endpoint_name}-{plan.deployment_name}".lower())
    return f"scaffold-local/{name.strip('-.') or 'project'}:latest"


def run_project(
    project: Path,
    reporter: Reporter | None = None,
    *,
    smoke: bool = True,
) -> RunResult:
    """Build, start, wait for readiness, smoke-test and remove; raise on any failure."""
    reporter = reporter or SilentReporter()
    plan = load_plan(project)
    client = docker_adapter.connect()
    tag = image_tag(plan)
    reporter.step(f"Building {plan.context.relative_to(plan.project)}/ as {tag}")
    docker_adapter.build(
        client,
        plan.context,
        plan.dockerfile,
        tag,
        lambda line, is_step: reporter.detail(line, important=is_step),
    )
    name = f"scaffold-{plan.endpoint_name}-{uuid.uuid4().hex[:8]}"
    reporter.step(f"Starting container {name}")
    for mount in plan.mounts:
        reporter.detail(f"mount {mount.source} -> {mount.target} (read-only)", important=True)
    running = docker_adapter.start(
        client,
        tag,
        name=name,
        environment=plan.environment,
        mounts=plan.mounts,
        ports=plan.ports,
        labels={"scaffold.project": str(plan.project)},
    )
    try:
        return _exercise(plan, running, tag, reporter, smoke)
    finally:
        docker_adapter.remove(running)


def _exercise(
    plan: RunPlan, running: Container, tag: str, reporter: Reporter, smoke: bool
) -> RunResult:
    ports = docker_adapter.published_ports(running, plan.ports)

    def url(route_port: int, path: str) -> str:
        return f"http://127.0.0.1:{ports[route_port]}{path}"

    def alive() -> str:
        state, code = docker_adapter.status(running)
        return "" if state == "running" else f"container {state} (exit code {code})"

    result = RunResult(image=tag, ports=ports, base_url=url(plan.scoring.port, ""))
    for label, route, probe in (
        ("liveness", plan.liveness, plan.liveness_probe),
        ("readiness", plan.readiness, plan.readiness_probe),
    ):
        reporter.step(
            f"Waiting for {label} GET {route.path} on port {route.port} (127.0.0.1:"
            f"{ports[route.port]}), up to {probe.budget:.0f}s = initial_delay "
            f"{probe.initial_delay:g}s + {probe.failure_threshold} x period {probe.period:g}s"
        )
        outcome = wait_ready(url(route.port, route.path), probe, alive=alive)
        if not outcome.ready:
            why = outcome.exited or (
                f"not 200 within {probe.budget:.0f}s (last answer: {outcome.last_error})"
            )
            raise NotReadyError(
                f"{label} GET {route.path} failed: {why}; see the container log below",
                details=docker_adapter.logs(running),
            )
        result.ready_after = max(result.ready_after, outcome.seconds)
    if smoke:
        result.smoke_output = _smoke(plan, url, reporter, running)
    return result


def _smoke(
    plan: RunPlan, url: Callable[[int, str], str], reporter: Reporter, running: Container
) -> str:
    if plan.smoke_script is None:
        raise ProjectError(f"{plan.project}/smoke_test.py not found; restore it or pass --no-smoke")
    command = [
        sys.executable,
        str(plan.smoke_script),
        "--liveness-url",
        url(plan.liveness.port, plan.liveness.path),
        "--readiness-url",
        url(plan.readiness.port, plan.readiness.path),
        "--scoring-url",
        url(plan.scoring.port, plan.scoring.path),
        "--deadline",
        str(SMOKE_DEADLINE),
        "--timeout",
        str(max(10.0, plan.readiness_probe.timeout)),
    ]
    reporter.step(f"Smoke test: {plan.smoke_script.name} against 127.0.0.1")
    proc = subprocess.run(
        command, cwd=plan.project, capture_output=True, text=True, check=False, timeout=600
    )
    output = (proc.stdout + proc.stderr).strip()
    for line in output.splitlines():
        reporter.detail(line, important=True)
    if proc.returncode != 0:
        failed = [line for line in output.splitlines() if line.startswith("FAIL")]
        raise SmokeTestError(
            (failed[0] if failed else f"smoke_test.py exited {proc.returncode}")
            + "; see the container log below",
            details=output + "\n--- container log ---\n" + docker_adapter.logs(running),
        )
    return output
