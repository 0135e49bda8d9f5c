"""Docker adapter: the only module that talks to the Docker Engine (SDK imported lazily)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.errors import DockerError

if TYPE_CHECKING:  # pragma: no cover
    from docker import DockerClient
    from docker.models.containers import Container

    from scaffold.project import Mount

_STEP = re.compile(r"^Step \d+/\d+ : ")


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
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def build(
    client: DockerClient,
    context: Path,
    dockerfile: str,
    tag: str,
    on_line: Callable[[str, bool], None],
) -> str:
    """Build `context` into `tag`; stream lines to on_line(line, is_step). Return image id."""
    from docker.errors import APIError

    log: list[str] = []
    image_id = ""
    try:
        stream = client.api.build(
            path=str(context), dockerfile=dockerfile, tag=tag, rm=True, forcerm=True, decode=True
        )
        for chunk in stream:
            if "error" in chunk:
                detail = str(chunk.get("error", "")).strip()
                last = detail.splitlines()[-1] if detail else "see the build log"
                raise DockerError(
                    f"docker build of {context} failed: {last}",
                    details="\n".join([*log[-40:], detail]),
                )
            text = str(chunk.get("stream", ""))
            for line in text.splitlines():
                if line.strip():
                    log.append(line)
                    on_line(line, bool(_STEP.match(line)))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except APIError as error:
        raise DockerError(f"docker build of {context} failed: {_first_line(error)}") from None
    return image_id or client.images.get(tag).id or tag


def start(
    client: DockerClient,
    image: str,
    *,
    name: str,
    environment: Mapping[str, str],
    mounts: list[Mount],
    ports: list[int],
    labels: Mapping[str, str],
) -> Container:
    """Start `image` detached, ports published on random 127.0.0.1 ports, with tini (init)."""
    from docker.errors import APIError, ImageNotFound

    options: dict[str, Any] = {
        "name": name,
        "detach": True,
        "init": True,
        "environment": dict(environment),
        "volumes": {str(m.source): {"bind": str(m.target), "mode": "ro"} for m in mounts},
        # (host address, None): Docker picks a free port on 127.0.0.1 only.
        "ports": {f"{port}/tcp": ("127.0.0.1", None) for port in ports},
        "labels": dict(labels),
    }
    try:
        started: Container = client.containers.run(image, **options)
        return started
    except (APIError, ImageNotFound) as error:
        raise DockerError(f"cannot start the container: {_first_line(error)}") from None


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


def logs(container: Container, tail: int = 200) -> str:
    """The last `tail` lines the container wrote (stdout and stderr)."""
    from docker.errors import APIError

    try:
        raw: bytes = container.logs(tail=tail)
    except APIError:
        return "(no logs: the container is gone)"
    return raw.decode("utf-8", errors="replace")


def remove(container: Container) -> None:
    """Stop and remove the container and its anonymous volumes; never raises."""
    from docker.errors import APIError

    with contextlib.suppress(APIError):
        container.remove(force=True, v=True)
