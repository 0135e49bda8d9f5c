"""`scaffold run` and `scaffold run --serve`: build the project's image and run it the way
Azure ML would.

Steps: read deployment.yml → remove containers an earlier, killed run left behind → build
the image (linux/amd64, as Azure runs it) → start the container (model and code mounted
where Azure mounts them, the same environment variables, ports on 127.0.0.1) → wait for
liveness and readiness within the probe budget → run the project's own smoke_test.py, or
keep serving (following the log, restarting on edits with `reload`) → always remove the
container, also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scaffold import container as docker_adapter
from scaffold.errors import DockerError, NotReadyError, ProjectError, SmokeTestError, UsageError
from scaffold.probes import wait_ready
from scaffold.project import Route, RunPlan, load_plan
from scaffold.servers import ServerSpec

if TYPE_CHECKING:  # pragma: no cover
    from docker import DockerClient
    from docker.models.containers import Container

    from scaffold.frontend import EndpointConfig, FrontEnd

#: Seconds the smoke test may wait for probes once scaffold saw the container ready.
SMOKE_DEADLINE = 30.0
#: Azure ML runs linux/amd64 containers; build and run the same image locally.
DEFAULT_PLATFORM = "linux/amd64"
#: `--platform native`: whatever the engine builds by default.
NATIVE_PLATFORM = "native"
#: Labels on every container and image scaffold starts or builds.
PROJECT_LABEL = "scaffold.project"
PID_LABEL = "scaffold.pid"
HOST_LABEL = "scaffold.host"
#: Seconds after which a dangling image of a project counts as left over by another
#: session (younger ones may belong to a session between its build and its start).
LEFTOVER_AGE = 900.0
#: Seconds between two looks for a server listening on 127.0.0.1 only while waiting.
UNREACHABLE_POLL = 1.0
#: Seconds between two looks at the container and the watched files in --serve.
SERVE_POLL = 0.5
#: Seconds between two looks at the container's log for its server's fatal lines.
LOG_SCAN_INTERVAL = 2.0
_SKIP_DIRS = frozenset({".git", "__pycache__", ".ipynb_checkpoints", ".Rproj.user"})
_UNKNOWN_SERVER = ServerSpec("", "", 0, "", "", "", "", "", "")


class Reporter(Protocol):
    """Receives progress; the CLI renders it (the core never prints)."""

    def step(self, message: str) -> None:
        """A new phase started."""

    def detail(self, line: str, *, important: bool = False) -> None:
        """A line of tool output (build log, smoke test output, container log)."""


class SilentReporter:
    """A Reporter that drops everything (library use, tests)."""

    def step(self, message: str) -> None:
        """Drop the message."""

    def detail(self, line: str, *, important: bool = False) -> None:
        """Drop the line."""


@dataclass
class Timings:
    """Seconds each phase of a run took."""

    build: float = 0.0
    start: float = 0.0
    ready: float = 0.0
    smoke: float = 0.0


@dataclass
class RunResult:
    """What a local run did."""

    image: str
    ports: dict[int, int] = field(default_factory=dict)
    ready_after: float = 0.0
    smoke_output: str = ""
    base_url: str = ""
    #: Every build step came from Docker's layer cache.
    cached: bool = False
    #: Names of containers of this project that earlier, killed runs had left behind.
    stale_removed: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    #: The front-end emulation's base URL ("" without it).
    frontend_url: str = ""


def server_spec(project: Path) -> ServerSpec:
    """The registry entry of the project's server (answers file, else detected from its
    files as `scaffold validate` does); an empty spec when it cannot be told."""
    from scaffold import limits
    from scaffold.servers import SERVERS

    try:  # bounded: a cloned project's answers file is input like any other
        answers = limits.load_yaml_file(project / ".copier-answers.yml")
    except (OSError, limits.InputRejected):
        answers = None
    server = answers.get("server") if isinstance(answers, dict) else None
    if server not in SERVERS:
        from scaffold.validate import validate_project

        server = validate_project(project, schema=False).server
    return SERVERS.get(str(server), _UNKNOWN_SERVER)


def image_tag(plan: RunPlan, project: str | None = None) -> str:
    """A stable local tag per project folder, so rebuilds reuse Docker's layer cache and two
    projects with the same endpoint and deployment names never take each other's tag.
    `project`: the folder the project lives in when that is not where it is now (`scaffold
    new` builds in its staging folder), so the next `scaffold run` replaces that image."""
    import hashlib

    name = re.sub(r"[^a-z0-9_.-]+", "-", f"{plan.endpoint_name}-{plan.deployment_name}".lower())
    where = hashlib.sha256((project or str(plan.project)).encode()).hexdigest()[:8]
    return f"scaffold-local/{name.strip('-.')[:100] or 'project'}-{where}:latest"


def resolve_platform(value: str | None) -> str | None:
    """`--platform` as the Docker API takes it: None for `native`, linux/amd64 by default."""
    if value is None:
        return DEFAULT_PLATFORM
    return None if value == NATIVE_PLATFORM else value


class LocalDeployment:
    """One project's image and container on the local engine, driven step by step."""

    def __init__(
        self,
        project: Path,
        reporter: Reporter | None = None,
        *,
        platform: str | None = None,
        label: Path | None = None,
        separate_client: bool = False,
        deployment: str | None = None,
    ) -> None:
        from scaffold.instances import local_resources

        self.reporter = reporter or SilentReporter()
        self.plan = load_plan(project, deployment)
        spec = server_spec(self.plan.project)
        #: /dev/shm size the project's server needs (the registry's shm_size), "" for default.
        self.shm_size = spec.shm_size
        #: Log lines after which the server never becomes ready (the registry's fatal_log).
        self.fatal_log = spec.fatal_log
        #: The project the image and containers are labelled with (`scaffold clean` finds
        #: them by it): the project itself, or where `scaffold new` will move it.
        self.label = str(label or self.plan.project)
        #: The CPU and memory of the instance type (capped to this machine); with
        #: `separate_client`, pinned to CPUs a load client does not use.
        self.resources = local_resources(self.plan.instance_type, separate_client=separate_client)
        self.platform = resolve_platform(platform)
        self.client: DockerClient = docker_adapter.connect()
        self.tag = image_tag(self.plan, self.label)
        #: The id of the image this session built (containers start from it, not the tag,
        #: which another build may move meanwhile).
        self.image_id: str | None = None
        #: Images this session's rebuilds replaced, removed once no container uses them.
        self.superseded: list[str] = []
        self.container: Container | None = None
        self.ports: dict[int, int] = {}
        self.timings = Timings()
        #: The Azure front-end emulation in front of the container, when started, and the
        #: local key it accepts (generated per session; "" when auth_mode needs none).
        self.front: FrontEnd | None = None
        self.front_key = ""

    def start_frontend(self, *, port: int = 0) -> FrontEnd:
        """Put the Azure front-end emulation in front of the running container (it keeps
        working across container restarts on the same host ports)."""
        import secrets

        from scaffold.frontend import FrontEnd

        key = secrets.token_urlsafe(32)
        config, notes = self.frontend_config(keys=(key,))
        self.front_key = key if config.keys else ""
        for note in notes:
            self.reporter.detail(note, important=True)
        front = FrontEnd(config, port=port)
        try:
            front.start()
        except OSError as error:
            where = f"127.0.0.1:{port}" if port else "127.0.0.1"
            raise UsageError(
                f"the front-end emulation cannot listen on {where} ({error.strerror or error}); "
                "choose another --port, or omit it"
            ) from None
        self.front = front
        return front

    def stop_frontend(self) -> None:
        """Stop the front end, if any; never raises."""
        if self.front is not None:
            self.front.stop()
            self.front = None

    # -- lifecycle --------------------------------------------------------------------
    def remove_stale(self) -> list[str]:
        """Remove this project's containers whose scaffold process is gone (kill -9,
        a crash); containers of a live `run --serve` elsewhere are left alone."""
        removed = []
        label = f"{PROJECT_LABEL}={self.label}"
        for found in docker_adapter.labelled_containers(self.client, label):
            if _is_stale(found):
                docker_adapter.remove(found)
                removed.append(str(found.name))
                self.reporter.step(f"Removed stale container {found.name} left by an earlier run")
        return removed

    def build(self) -> docker_adapter.BuildResult:
        """Build the image (layer cache reused); raise DockerError on failure."""
        plan = self.plan
        where = self.platform or "the engine's platform"
        self.reporter.step(
            f"Building {plan.context.relative_to(plan.project)}/ as {self.tag} for {where}"
        )
        started = time.monotonic()
        previous = docker_adapter.image_id(self.client, self.tag)
        result = docker_adapter.build(
            self.client,
            plan.context,
            plan.dockerfile,
            self.tag,
            lambda line, is_step: self.reporter.detail(line, important=is_step),
            platform=self.platform,
            labels={PROJECT_LABEL: self.label},
        )
        self.timings.build = time.monotonic() - started
        self.image_id = result.image_id
        if previous and previous != result.image_id:
            self.superseded.append(previous)  # the tag moved: the old image is dangling
        self.remove_superseded()
        if result.fully_cached:
            self.reporter.detail(f"all {result.steps} steps from the layer cache", important=True)
        return result

    def start(self, host_ports: dict[int, int | None] | None = None) -> Container:
        """Start a new container; `host_ports` pins container ports to host ports."""
        plan = self.plan
        name = f"scaffold-{plan.endpoint_name}-{uuid.uuid4().hex[:8]}"
        self.reporter.step(f"Starting container {name}")
        for mount in plan.mounts:
            self.reporter.detail(
                f"mount {mount.source} -> {mount.target} (read-only)", important=True
            )
        ports: dict[int, int | None] = dict.fromkeys(plan.ports)
        ports.update(host_ports or {})
        resources = self.resources
        for note in resources.notes:
            self.reporter.detail(note, important=True)
        from scaffold.instances import machine_cpus

        limit = resources.cpus if resources.cpus < len(machine_cpus()) else 0.0
        started = time.monotonic()
        image = self.image_id if self.image_id else self.tag
        if docker_adapter.image_id(self.client, image) is None:
            image = self.tag  # a concurrent build of this project replaced it meanwhile
        options: dict[str, Any] = {
            "name": name,
            "environment": plan.environment,
            "mounts": plan.mounts,
            "ports": ports,
            "labels": {
                PROJECT_LABEL: self.label,
                PID_LABEL: str(os.getpid()),
                HOST_LABEL: socket.gethostname(),
            },
            "platform": self.platform,
            "memory_bytes": resources.memory_bytes,
            "shm_size": self.shm_size or None,
        }
        try:
            self.container = docker_adapter.start(
                self.client,
                image,
                cpuset=resources.cpuset,
                cpus=0.0 if resources.cpuset else limit,
                **options,
            )
        except DockerError as error:
            if not resources.cpuset or "cpu" not in error.message.lower():
                raise
            # An engine whose CPUs are not this machine's (Docker Desktop's VM) or that may
            # not pin (rootless): run unpinned, and say the client shares the server's CPUs.
            self.reporter.step(f"The engine refused CPU pinning ({error.message}); unpinned")
            self.resources = resources = replace(
                resources,
                cpuset="",
                client_cpus=(),
                notes=(*resources.notes, "CPU pinning refused by Docker: client and server share"),
            )
            self.container = docker_adapter.start(self.client, image, cpus=limit, **options)
        try:
            self.ports = docker_adapter.published_ports(self.container, plan.ports)
        except DockerError:
            # A container that exits at once has no published ports left to read: that is
            # the container's failure (its log says why), not Docker's.
            state, code = docker_adapter.status(self.container)
            if state == "running":
                raise
            raise NotReadyError(
                f"the container {state} at once (exit code {code}); see the container log below",
                details=docker_adapter.logs(self.container),
            ) from None
        self.timings.start = time.monotonic() - started
        return self.container

    def url(self, route: Route) -> str:
        """The 127.0.0.1 URL of a route of the running container."""
        return f"http://127.0.0.1:{self.ports[route.port]}{route.path}"

    def wait_ready(self) -> float:
        """Wait for liveness, then readiness; seconds until ready, NotReadyError if never."""
        plan, running = self.plan, self._running()
        unreachable = _Unreachable(running)
        scanned = [time.monotonic()]

        def alive_on(port: int) -> str:
            state, code = docker_adapter.status(running)
            if state != "running":
                return f"container {state} (exit code {code})"
            if self.fatal_log and time.monotonic() - scanned[0] >= LOG_SCAN_INTERVAL:
                scanned[0] = time.monotonic()
                recent = docker_adapter.logs(running, tail=200)
                for line in self.fatal_log:
                    if line in recent:
                        return f"the server logged {line!r} and will not become ready"
            return unreachable.check(port)

        began = time.monotonic()
        for label, route, probe in (
            ("liveness", plan.liveness, plan.liveness_probe),
            ("readiness", plan.readiness, plan.readiness_probe),
        ):

            def alive(port: int = route.port) -> str:
                return alive_on(port)

            self.reporter.step(
                f"Waiting for {label} GET {route.path} on port {route.port} (127.0.0.1:"
                f"{self.ports[route.port]}), up to {probe.budget:.0f}s = initial_delay "
                f"{probe.initial_delay:g}s + {probe.failure_threshold} x period {probe.period:g}s"
            )
            outcome = wait_ready(self.url(route), probe, alive=alive)
            if not outcome.ready:
                why = outcome.exited or (
                    f"not 200 within {probe.budget:.0f}s (last answer: {outcome.last_error})"
                )
                raise NotReadyError(
                    f"{label} GET {route.path} failed: {why}; see the container log below",
                    details=docker_adapter.logs(running),
                )
        self.timings.ready = time.monotonic() - began
        return self.timings.ready

    def state(self) -> tuple[str, int | None]:
        """The container's state and exit code ('removed' once gone)."""
        if self.container is None:
            return "removed", None
        return docker_adapter.status(self.container)

    def logs(self) -> str:
        """The container's recent log."""
        return docker_adapter.logs(self._running())

    def cpu_seconds(self) -> float | None:
        """CPU seconds the container has used so far (None when unknown)."""
        if self.container is None:
            return None
        return docker_adapter.cpu_seconds(self.container)

    def frontend_config(
        self, *, keys: tuple[str, ...], max_in_flight: int = 0
    ) -> tuple[EndpointConfig, list[str]]:
        """The endpoint as Azure's front end would see it, with this container as its
        deployment (traffic and auth_mode from endpoint.yml), and notes on what follows.
        `max_in_flight` > 0 replaces the 429 limit (a load test lifts it to size the server)."""
        from scaffold.frontend import Deployment, EndpointConfig
        from scaffold.project import load_endpoint

        plan = self.plan
        settings = plan.requests
        endpoint = load_endpoint(plan.project, plan.endpoint_name)
        name = plan.deployment_name
        deployment = Deployment(
            name=name,
            host="127.0.0.1",
            port=self.ports[plan.scoring.port],
            request_timeout_ms=settings.request_timeout_ms,
            max_concurrent_requests_per_instance=settings.max_concurrent_requests_per_instance,
            # One local container is one instance: Azure's limit per instance is what applies.
            instance_count=1,
            max_in_flight_override=max_in_flight,
        )
        notes = [f"front end: auth_mode {endpoint.auth_mode}, deployment {name}"]
        traffic = {name: 100}
        if endpoint.traffic is not None:
            traffic = {name: endpoint.traffic.get(name, 0)}
            if not traffic[name]:
                notes.append(
                    f"endpoint.yml gives {name} no traffic: requests without the "
                    "azureml-model-deployment header get 404, as on Azure"
                )
        config = EndpointConfig(
            name=endpoint.name,
            deployments={name: deployment},
            traffic=traffic,
            auth_mode=endpoint.auth_mode,
            keys=keys if endpoint.auth_mode in ("key", "aml_token", "aad_token") else (),
        )
        return config, notes

    def stop(self) -> None:
        """Remove the container (if any), then the images rebuilds replaced; never raises."""
        if self.container is not None:
            docker_adapter.remove(self.container)
            self.container = None
        self.remove_superseded()

    def remove_superseded(self) -> list[str]:
        """Remove the images this project's rebuilds replaced (dangling, scaffold's, and
        used by no container); returns the ids removed. Those still in use are retried
        at the next call."""
        label = f"{PROJECT_LABEL}={self.label}"
        # Dangling images of this project that other sessions left (a rebuild while another
        # session's container still used the old image, a kill -9), once old enough that no
        # session can be between its build and its start.
        leftovers = docker_adapter.dangling_images(self.client, label, older_than=LEFTOVER_AGE)
        removed = [
            image
            for image in dict.fromkeys([*self.superseded, *leftovers])
            if image != self.image_id
            and docker_adapter.remove_superseded(self.client, image, label)
        ]
        self.superseded = [image for image in self.superseded if image not in removed]
        return removed

    @contextlib.contextmanager
    def ready(self, host_ports: dict[int, int | None] | None = None) -> Iterator[LocalDeployment]:
        """Stale cleanup, build, start and wait for readiness; always remove on exit."""
        self.remove_stale()
        self.build()
        try:
            self.start(host_ports)
            self.wait_ready()
            yield self
        finally:
            self.stop()

    def _running(self) -> Container:
        if self.container is None:
            raise RuntimeError("the container is not started")
        return self.container


class _Unreachable:
    """Notices, while the probes wait, a server that listens on 127.0.0.1 only (unreachable
    through the published port, and on Azure): looked at every UNREACHABLE_POLL seconds,
    reported once two looks in a row agree (scaffold.listening)."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.last = 0.0
        self.seen = ""

    def check(self, port: int) -> str:
        """The cause once confirmed, else ""."""
        from scaffold.listening import loopback_only

        now = time.monotonic()
        if now - self.last < UNREACHABLE_POLL:
            return ""
        self.last = now
        log = docker_adapter.logs(self.container, tail=200)
        cause = loopback_only(log, docker_adapter.listeners(self.container), port)
        confirmed = cause if cause and self.seen else ""
        self.seen = cause
        return confirmed


def _is_stale(found: Container) -> bool:
    """A container scaffold started is stale when it stopped, or when the scaffold process
    that started it on this host is gone (its pid label); one from another host sharing
    the engine is left alone (`scaffold clean` removes it)."""
    labels = found.labels or {}
    if PID_LABEL not in labels:
        return False  # an image build's intermediate container, not one scaffold started
    if found.status != "running":
        return True
    if labels.get(HOST_LABEL) != socket.gethostname():
        return False
    try:
        pid = int(labels[PID_LABEL])
    except ValueError:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        return b"scaffold" not in cmdline.read_bytes()  # the pid was reused
    return False


def run_project(
    project: Path,
    reporter: Reporter | None = None,
    *,
    smoke: bool = True,
    platform: str | None = None,
    before_start: Callable[[], None] | None = None,
    frontend: bool = False,
    deployment_name: str | None = None,
) -> RunResult:
    """Build, start, wait for readiness, smoke-test and remove; raise on any failure.
    `before_start` runs between the build and the start (the CLI joins its validation
    there, which ran alongside the build). With `frontend`, the smoke test's scoring request
    goes through the Azure front-end emulation, with the key. `deployment_name` picks one of
    the project's deployments (default: its only or main one)."""
    deployment = LocalDeployment(project, reporter, platform=platform, deployment=deployment_name)
    stale = deployment.remove_stale()
    built = deployment.build()
    if before_start is not None:
        before_start()
    try:
        deployment.start()
        ready_after = deployment.wait_ready()
        plan = deployment.plan
        result = RunResult(
            image=deployment.tag,
            ports=deployment.ports,
            ready_after=ready_after,
            base_url=f"http://127.0.0.1:{deployment.ports[plan.scoring.port]}",
            cached=built.fully_cached,
            stale_removed=stale,
            timings=deployment.timings,
        )
        if frontend:
            front = deployment.start_frontend()
            result.frontend_url = front.url
        if smoke:
            started = time.monotonic()
            result.smoke_output = _smoke(deployment)
            deployment.timings.smoke = time.monotonic() - started
        return result
    finally:
        deployment.stop_frontend()
        deployment.stop()


def smoke_command(deployment: LocalDeployment, *, deadline: float = SMOKE_DEADLINE) -> list[str]:
    """The command that runs the project's smoke_test.py against the running container (its
    scoring request through the front end, the way a deployed endpoint is tested, when the
    front-end emulation runs; the key then goes in AZUREML_ENDPOINT_KEY, see smoke_env)."""
    plan = deployment.plan
    if plan.smoke_script is None:
        raise ProjectError(f"{plan.project}/smoke_test.py not found; restore it or pass --no-smoke")
    if deployment.front is not None:
        return [
            sys.executable,
            str(plan.smoke_script),
            "--scoring-uri",
            deployment.front.url + plan.scoring.path,
            "--timeout",
            str(max(10.0, plan.requests.request_timeout_ms / 1000.0 + 5.0)),
        ]
    return [
        sys.executable,
        str(plan.smoke_script),
        "--liveness-url",
        deployment.url(plan.liveness),
        "--readiness-url",
        deployment.url(plan.readiness),
        "--scoring-url",
        deployment.url(plan.scoring),
        "--deadline",
        str(deadline),
        "--timeout",
        str(max(10.0, plan.readiness_probe.timeout)),
        *sample_arguments(plan),
    ]


def sample_arguments(plan: RunPlan) -> list[str]:
    """smoke_test.py's sample options for a deployment whose samples are not the project's
    (its own folder): its sample files and per-model samples."""
    folder = plan.samples_folder
    if folder is None or folder == plan.project:
        return []
    return [
        "--request",
        str(folder / "sample_request.json"),
        "--expect",
        str(folder / "sample_response.json"),
        "--samples",
        str(folder / "samples"),
    ]


def _smoke(deployment: LocalDeployment) -> str:
    plan, reporter = deployment.plan, deployment.reporter
    command = smoke_command(deployment)
    reporter.step(f"Smoke test: {Path(command[1]).name} against 127.0.0.1")
    env = dict(os.environ)
    if deployment.front is not None:
        # The local key (never a real one) reaches smoke_test.py as a deployed key would.
        env["AZUREML_ENDPOINT_KEY"] = deployment.front_key or "no-key-needed"
    proc = subprocess.run(
        command,
        cwd=plan.project,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
    )
    output = (proc.stdout + proc.stderr).strip()
    for line in output.splitlines():
        reporter.detail(line, important=True)
    if proc.returncode != 0:
        failed = [line for line in output.splitlines() if line.startswith("FAIL")]
        raise SmokeTestError(
            (failed[0] if failed else f"smoke_test.py exited {proc.returncode}")
            + "; see the container log below",
            details=output + "\n--- container log ---\n" + deployment.logs(),
        )
    return output


# -- serve ------------------------------------------------------------------------------


@dataclass
class ServeResult:
    """How a `--serve` session ended."""

    image: str
    ports: dict[int, int]
    restarts: int = 0
    rebuilds: int = 0


def _snapshot(folders: list[Path]) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file below `folders` (polling needs no extra package and
    works on every bind mount, also Docker Desktop's)."""
    seen: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if folder.is_file():
            stat = folder.stat()
            seen[str(folder)] = (stat.st_mtime_ns, stat.st_size)
            continue
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
            for name in files:
                path = Path(root, name)
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    seen[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return seen


def _changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def serve_project(
    project: Path,
    reporter: Reporter | None = None,
    *,
    on_ready: Callable[[LocalDeployment], None],
    platform: str | None = None,
    host_port: int | None = None,
    reload: bool = False,
    stop: threading.Event | None = None,
    frontend: bool = False,
    deployment_name: str | None = None,
) -> ServeResult:
    """Build, start and wait like `run`, call on_ready, then keep the container up, its log
    streamed to the reporter, until `stop` is set or the process is interrupted (Ctrl-C,
    SIGTERM). With `reload`, an edit to a mounted folder (code, model) restarts the
    container and an edit to the build context rebuilds the image first. The container is
    always removed at the end."""
    deployment = LocalDeployment(project, reporter, platform=platform, deployment=deployment_name)
    plan, reporter = deployment.plan, deployment.reporter
    stop = stop or threading.Event()
    pins: dict[int, int | None] = {}
    if host_port and not frontend:
        pins[plan.scoring.port] = host_port
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    mounted = [mount.source for mount in plan.mounts]
    with deployment.ready(pins), contextlib.ExitStack() as stack:
        if frontend:
            # --port belongs to the front end then: it is what clients call.
            deployment.start_frontend(port=host_port or 0)
            stack.callback(deployment.stop_frontend)
        result = ServeResult(image=deployment.tag, ports=dict(deployment.ports))
        on_ready(deployment)
        docker_adapter.follow_logs(deployment._running(), lines.put)
        watched = {"mounts": _snapshot(mounted), "context": _snapshot([plan.context])}
        crashed = False
        while not stop.wait(SERVE_POLL):
            while not lines.empty():
                reporter.detail(f"| {lines.get()}", important=True)
            state, code = deployment.state()
            if state != "running" and not crashed:
                if not reload:
                    raise NotReadyError(
                        f"the container stopped while serving ({state}, exit code {code}); see "
                        "its log above",
                        details=deployment.logs(),
                    )
                crashed = True
                reporter.step(f"Container {state} (exit code {code}); save a file to restart it")
            if not reload:
                continue
            now = {"mounts": _snapshot(mounted), "context": _snapshot([plan.context])}
            edits = {kind: _changed(watched[kind], now[kind]) for kind in now}
            if not any(edits.values()):
                continue
            watched = now
            names = [Path(p).name for p in edits["mounts"] + edits["context"]]
            reporter.step(f"Changed: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
            ok = _restart(deployment, rebuild=bool(edits["context"]), result=result, lines=lines)
            crashed = not ok
    return result


def _restart(
    deployment: LocalDeployment,
    *,
    rebuild: bool,
    result: ServeResult,
    lines: queue.SimpleQueue[str],
) -> bool:
    """Replace the container (same host ports), rebuilding first if asked; a failure is
    reported and the session goes on, waiting for the next edit."""
    from scaffold.errors import ScaffoldError

    reporter = deployment.reporter
    pins: dict[int, int | None] = dict(deployment.ports)
    try:
        if rebuild:
            deployment.build()
            result.rebuilds += 1
        deployment.stop()
        deployment.start(pins)
        docker_adapter.follow_logs(deployment._running(), lines.put)
        seconds = deployment.wait_ready()
    except ScaffoldError as error:
        reporter.step(f"Not serving: {error.message}")
        for line in error.details.splitlines()[-20:]:
            reporter.detail(f"| {line}", important=True)
        reporter.step("Fix the file and save it to try again (Ctrl-C stops)")
        return False
    result.restarts += 1
    reporter.step(f"Ready again after {seconds:.1f}s at {deployment.url(deployment.plan.scoring)}")
    return True


# -- clean ------------------------------------------------------------------------------


@dataclass
class CleanResult:
    """What `scaffold clean` removed."""

    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    #: Images Docker would not remove (used by a container scaffold did not start).
    kept: list[str] = field(default_factory=list)


def clean(project: Path | None, *, images: bool = True) -> CleanResult:
    """Remove the containers and images scaffold made for `project` (every project when
    None): identified by their `scaffold.project` label, so nothing else is touched."""
    client = docker_adapter.connect()
    label = PROJECT_LABEL
    if project is not None:
        label = f"{PROJECT_LABEL}={project.expanduser().resolve()}"
    result = CleanResult()
    for found in docker_adapter.labelled_containers(client, label):
        docker_adapter.remove(found)
        result.containers.append(str(found.name))
    if images:
        for image in docker_adapter.labelled_images(client, label):
            removed = docker_adapter.remove_image(client, image)
            (result.images if removed else result.kept).append(image)
    return result
