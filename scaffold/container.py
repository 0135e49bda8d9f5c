"""Docker adapter: the only module that talks to the Docker Engine (SDK imported lazily)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold import signals
from scaffold.errors import DockerError

if TYPE_CHECKING:  # pragma: no cover
    from docker import DockerClient
    from docker.models.containers import Container

    from scaffold.project import Mount

_STEP = re.compile(r"^Step \d+/\d+ : ")
_FROM = re.compile(r"^Step \d+/\d+ : FROM\s", re.IGNORECASE)


def connect() -> DockerClient:
    """A client for the local engine; DockerError with the fix when there is none."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a hard dependency
        raise DockerError("the docker Python package is missing; pip install docker") from None
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as error:
        raise DockerError(
            "cannot reach the Docker Engine; start it (dockerd, or Docker Desktop) or set "
            f"DOCKER_HOST ({_first_line(error)})"
        ) from None
    return client


def _first_line(error: BaseException) -> str:
    """The engine's own explanation (docker's APIError carries it apart from the request
    URL and status line, which mean nothing to a user), else the message."""
    text = str(getattr(error, "explanation", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


#: Phrases in the engine's explanation that mean an image of another platform (and only
#: those: "platform" alone also appears in the request URL).
_PLATFORM_PHRASES = (
    "exec format error",
    "no matching manifest",
    "does not match the specified platform",
    "requested image's platform",
    "image operating system",
    "multiple platforms feature",
)
_UNREACHABLE_REGISTRY = (
    "the base image is not on this machine and its registry cannot be reached (network, "
    "proxy, DNS): pull it where the registry is reachable, or point FROM (--base-image) at "
    "an image this machine has (`docker images`)"
)
#: (phrase in the engine's explanation, what to do) for build and start failures.
_HINTS = (
    (
        "no space left on device",
        "Docker's disk is full: free space (`docker system df` shows "
        "what can go, e.g. `docker builder prune`)",
    ),
    (
        "cannot locate specified dockerfile",
        "the Dockerfile is missing: restore it, or fix "
        "environment.build.dockerfile_path in deployment.yml",
    ),
    (
        "pull access denied",
        "the base image cannot be pulled: check FROM (--base-image) and "
        "`docker login` to its registry",
    ),
    ("manifest unknown", "the base image's tag does not exist: check FROM (--base-image)"),
    ("dial tcp", _UNREACHABLE_REGISTRY),
    ("no such host", _UNREACHABLE_REGISTRY),
    ("tls handshake timeout", _UNREACHABLE_REGISTRY),
    ("i/o timeout", _UNREACHABLE_REGISTRY),
    (
        "executable file not found",
        "the image's start command is not in the image: fix CMD or ENTRYPOINT in the Dockerfile",
    ),
    (
        "permission denied: unknown",
        "the start script is not executable: RUN chmod +x it "
        "in the Dockerfile (or commit it with the executable bit)",
    ),
)


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the image id, and how many steps (FROM aside) there were and how
    many of them came from the layer cache."""

    image_id: str
    steps: int
    cached: int

    @property
    def fully_cached(self) -> bool:
        """Every step came from the layer cache (nothing was rebuilt)."""
        return self.cached == self.steps


def build(
    client: DockerClient,
    context: Path,
    dockerfile: str,
    tag: str,
    on_line: Callable[[str, bool], None],
    *,
    platform: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build `context` into `tag` for `platform` (None: the engine's own); stream lines to
    on_line(line, is_step)."""
    from docker.errors import APIError

    log: list[str] = []
    image_id = ""
    steps = cached = 0
    options: dict[str, Any] = {"labels": dict(labels or {})}
    if platform:
        options["platform"] = platform
    _check_context(context)
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            **options,
        )
        for chunk in stream:
            if "error" in chunk:
                detail = str(chunk.get("error", "")).strip()
                last = detail.splitlines()[-1] if detail else "see the build log"
                raise DockerError(
                    f"docker build of {context} failed: {last}{_platform_hint(detail)}",
                    details="\n".join([*log[-40:], detail]),
                )
            text = str(chunk.get("stream", ""))
            for line in text.splitlines():
                if line.strip():
                    log.append(line)
                    is_step = bool(_STEP.match(line))
                    steps += is_step and not _FROM.match(line)
                    cached += line.strip() == "---> Using cache"
                    on_line(line, is_step)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except APIError as error:
        raise DockerError(
            f"docker build of {context} failed: {_first_line(error)}{_platform_hint(error)}"
        ) from None
    return BuildResult(image_id or client.images.get(tag).id or tag, steps, cached)


def _check_context(context: Path) -> None:
    """DockerError for a build context the Docker SDK would crash on while packing it: a
    .dockerignore that is not UTF-8 text (the SDK reads it with the default codec)."""
    from scaffold import limits

    ignore = context / ".dockerignore"
    if ignore.exists():
        try:
            limits.read_text(ignore)
        except (OSError, limits.InputRejected) as error:
            reason = str(error.strerror if isinstance(error, OSError) else error)
            fix = "" if "UTF-8" in reason else "; a .dockerignore lists one pattern per line"
            raise DockerError(f"{ignore} {reason}{fix}") from None


def _platform_hint(error: BaseException | str) -> str:
    """The fix for a failure the engine explained (platform, disk, missing files), or ""."""
    text = str(getattr(error, "explanation", None) or error).lower()
    if any(phrase in text for phrase in _PLATFORM_PHRASES):
        return (
            "; the engine cannot build or run linux/amd64 images here: enable emulation "
            "(Docker Desktop: on by default; Linux: install qemu-user-static/binfmt) or pass "
            "--platform native"
        )
    for phrase, fix in _HINTS:
        if phrase in text:
            return f"; {fix}"
    return ""


def start(
    client: DockerClient,
    image: str,
    *,
    name: str,
    environment: Mapping[str, str],
    mounts: list[Mount],
    ports: list[int] | Mapping[int, int | None],
    labels: Mapping[str, str],
    platform: str | None = None,
    cpuset: str = "",
    cpus: float = 0.0,
    memory_bytes: int = 0,
    shm_size: str | None = None,
) -> Container:
    """Start `image` detached with tini (init), each container port published on 127.0.0.1:
    at the host port `ports` maps it to, or a random one (a list, or None in the mapping);
    limited to the host CPUs `cpuset`, `cpus` CPUs in all and `memory_bytes` (0/"": no limit);
    `shm_size` (e.g. "2g") replaces Docker's 64 MB /dev/shm."""
    from docker.errors import APIError, ImageNotFound

    host_ports = ports if isinstance(ports, Mapping) else dict.fromkeys(ports)
    options: dict[str, Any] = {
        "name": name,
        "detach": True,
        "init": True,
        "environment": dict(environment),
        "volumes": {str(m.source): {"bind": str(m.target), "mode": "ro"} for m in mounts},
        # (host address, None): Docker picks a free port on 127.0.0.1 only.
        "ports": {f"{port}/tcp": ("127.0.0.1", host) for port, host in host_ports.items()},
        "labels": dict(labels),
    }
    if platform:
        options["platform"] = platform
    if shm_size:
        options["shm_size"] = shm_size
    if cpuset:
        options["cpuset_cpus"] = cpuset
    if cpus:
        options["nano_cpus"] = int(cpus * 1e9)
    if memory_bytes:
        options["mem_limit"] = memory_bytes
        options["memswap_limit"] = memory_bytes  # no swap beyond it, as on a VM without swap
    try:
        started: Container = client.containers.run(image, **options)
        return started
    except (APIError, ImageNotFound) as error:
        hint = _platform_hint(error)
        if "address already in use" in str(error) or "port is already allocated" in str(error):
            hint = "; that host port is taken: choose another with --port, or omit it"
        raise DockerError(f"cannot start the container: {_first_line(error)}{hint}") from None


def published_ports(container: Container, ports: list[int]) -> dict[int, int]:
    """Map each container port to the host port Docker picked for it."""
    container.reload()
    bindings: dict[str, Any] = container.attrs["NetworkSettings"]["Ports"] or {}
    result: dict[int, int] = {}
    for port in ports:
        host = bindings.get(f"{port}/tcp") or []
        if not host:
            raise DockerError(f"Docker did not publish container port {port}")
        result[port] = int(host[0]["HostPort"])
    return result


def status(container: Container) -> tuple[str, int | None]:
    """The container's state ('running', 'exited', ...) and exit code if it stopped."""
    from docker.errors import NotFound

    try:
        container.reload()
    except NotFound:
        return "removed", None
    state = container.attrs.get("State", {})
    code = state.get("ExitCode") if state.get("Status") != "running" else None
    return str(state.get("Status", "unknown")), code


def cpu_seconds(container: Container) -> float | None:
    """CPU seconds the container has used so far (None when the engine does not say)."""
    from docker.errors import APIError, NotFound

    try:
        stats = container.stats(stream=False, one_shot=True)
    except (APIError, NotFound, OSError, ValueError):
        return None
    if not isinstance(stats, dict):
        return None
    total = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage")
    return int(total) / 1e9 if isinstance(total, int) and total > 0 else None


def logs(container: Container, tail: int = 200) -> str:
    """The last `tail` lines the container wrote (stdout and stderr)."""
    from docker.errors import APIError

    try:
        raw: bytes = container.logs(tail=tail)
    except APIError:
        return "(no logs: the container is gone)"
    return raw.decode("utf-8", errors="replace")


def listeners(container: Container) -> list[tuple[str, int]] | None:
    """(address, port) of the TCP sockets listening in the container's network namespace,
    read from /proc/<pid>/net/tcp and tcp6 of its main process; None where that cannot be
    read (an engine in a VM such as Docker Desktop, no permission, the container gone), and
    whenever the process is not provably the container's (its cgroup names the container)."""
    try:
        container.reload()
        pid = int(container.attrs.get("State", {}).get("Pid") or 0)
        if pid <= 0 or str(container.id) not in Path(f"/proc/{pid}/cgroup").read_text():
            return None
        found: list[tuple[str, int]] = []
        for table in ("tcp", "tcp6"):
            path = Path(f"/proc/{pid}/net/{table}")
            if path.exists():
                found += _listening(path.read_text())
        return found
    except Exception:  # OSError, a malformed table, docker's errors (container gone)
        return None


def _listening(table: str) -> list[tuple[str, int]]:
    """Listening sockets (state 0A) of a /proc/net/tcp or tcp6 table."""
    import ipaddress

    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A":
            continue
        address, _, port = fields[1].partition(":")
        raw = bytes.fromhex(address)
        # The kernel prints each 32-bit word in host (little-endian) order.
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        found.append((str(ipaddress.ip_address(words)), int(port, 16)))
    return found


def follow_logs(container: Container, on_line: Callable[[str], None]) -> threading.Thread:
    """Stream the container's new log lines to on_line from a daemon thread; the thread
    ends when the container stops or is removed."""
    from docker.errors import APIError

    def pump() -> None:
        with contextlib.suppress(APIError, OSError, ValueError):
            buffer = b""
            for chunk in container.logs(stream=True, follow=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", errors="replace").rstrip("\r"))
            if buffer:
                on_line(buffer.decode("utf-8", errors="replace"))

    thread = threading.Thread(target=pump, name=f"logs-{container.name}", daemon=True)
    thread.start()
    return thread


def remove(container: Container) -> None:
    """Stop and remove the container and its anonymous volumes; never raises, and a
    Ctrl-C or SIGTERM meanwhile waits until it is gone."""
    from docker.errors import APIError

    with signals.shielded(), contextlib.suppress(APIError):
        container.remove(force=True, v=True)


def labelled_containers(client: DockerClient, label: str) -> list[Container]:
    """Every container (running or not) carrying `label` (`key` or `key=value`); one
    removed meanwhile (by another process sharing the engine) is skipped, not an error."""
    from docker.errors import NotFound

    found: list[Container] = []
    for listed in client.api.containers(all=True, filters={"label": label}):
        try:
            found.append(client.containers.get(listed["Id"]))
        except NotFound:
            continue
    return found


def labelled_images(client: DockerClient, label: str) -> list[str]:
    """Tags (or ids) of the images carrying `label`: every tag, since deployments of one
    project built from the same context share one image under two tags (from the listing
    alone: an image removed meanwhile by another process is never looked up)."""
    found: list[str] = []
    for image in client.api.images(filters={"label": label}):
        tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
        found.extend(tags or [str(image["Id"])])
    return found


def image_id(client: DockerClient, reference: str) -> str | None:
    """The id of the image `reference` (a tag or id) names, or None when there is none."""
    from docker.errors import APIError, ImageNotFound

    try:
        return str(client.images.get(reference).id)
    except (ImageNotFound, APIError):
        return None


def dangling_images(client: DockerClient, label: str, *, older_than: float = 0.0) -> list[str]:
    """Ids of the untagged images carrying `label` created more than `older_than` seconds
    ago (images that only serve as another image's layers are not listed)."""
    import time

    from docker.errors import APIError

    try:
        listed = client.api.images(filters={"dangling": True, "label": label})
    except APIError:
        return []
    now = time.time()
    return [str(i["Id"]) for i in listed if now - float(i.get("Created") or now) >= older_than]


def remove_superseded(client: DockerClient, image: str, label: str) -> bool:
    """Remove `image` (an id) when it is dangling (no tag left), carries `label`
    (`key=value`) and no container uses it; True when it is gone. Never forces, never raises:
    an image in use (a container still running it) is kept and can be retried later."""
    from docker.errors import APIError, ImageNotFound

    key, _, value = label.partition("=")
    try:
        found = client.images.get(image)
    except ImageNotFound:
        return True
    except APIError:
        return False
    if found.tags or (found.labels or {}).get(key) != value:
        return False  # tagged again, or not scaffold's: not ours to remove
    with signals.shielded():
        try:
            client.images.remove(image, force=False, noprune=False)
        except ImageNotFound:
            return True
        except APIError:
            return False  # in use by a container
    return True


def remove_image(client: DockerClient, image: str) -> bool:
    """Remove an image (its tag and untagged parents); False when Docker refused."""
    from docker.errors import APIError

    with signals.shielded():
        try:
            client.images.remove(image, force=True)
        except APIError:
            return False
    return True
