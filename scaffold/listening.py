"""Whether a server in a container listens where the platform can reach it.

A server bound to 127.0.0.1 (or localhost, ::1) inside the container is unreachable through
the published port: locally every probe gets "connection reset", on Azure every probe
fails, and both only after the whole probe budget. Two pieces of evidence say so early:

- the container's socket table (`/proc/<pid>/net/tcp*` of its network namespace, read by
  `scaffold.container.listeners` where the engine runs on this kernel): certain;
- its log, through the diagnosis rule for it (`scaffold.diagnose`, code `bind-localhost`),
  confirmed by a log line naming the route's port on a loopback address and by no line
  showing a bind to every interface (Flask prints `Running on http://127.0.0.1:5000` next
  to `Running on all addresses (0.0.0.0)`).

`loopback_only` returns the cause, for `scaffold run` to stop waiting and say so.
"""

from __future__ import annotations

import ipaddress
import re

#: The diagnosis rule of scaffold.diagnose this module relies on.
RULE = "bind-localhost"
_ALL_INTERFACES = re.compile(r"0\.0\.0\.0|\[::\]|all addresses|\*:\d+|:::\d+", re.IGNORECASE)
_LOOPBACK = r"(?:127\.0\.0\.1|localhost|\[::1\])"


def is_loopback(address: str) -> bool:
    """Whether an IP address is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def loopback_only(log: str, listeners: list[tuple[str, int]] | None, port: int) -> str:
    """Why the server cannot be reached on `port` because it listens on loopback only, or
    "" when nothing says so (yet).

    Args:
        log: The container's recent log.
        listeners: (address, port) of its listening TCP sockets, or None when the socket
            table cannot be read here (then the log alone decides).
        port: The container port of the route being probed.
    """
    bound = [address for address, listening in listeners or [] if listening == port]
    if listeners is not None:
        if bound and all(is_loopback(address) for address in bound):
            line = _log_line(log, port)
            shown = f"its log: {line!r}" if line else f"its socket table: {bound[0]}:{port}"
            return _cause(port, shown)
        return ""
    if not _diagnosed(log, port) or _ALL_INTERFACES.search(log):
        return ""
    line = _log_line(log, port)
    return _cause(port, f"its log: {line!r}") if line else ""


def _diagnosed(log: str, port: int) -> bool:
    from scaffold.diagnose import DeploymentSettings, diagnose

    found = diagnose("", {"container": log}, DeploymentSettings(port=port))
    return any(d.code == RULE for d in found)


def _log_line(log: str, port: int) -> str:
    """The first log line naming `port` on a loopback address, shortened."""
    pattern = re.compile(rf"{_LOOPBACK}\D{{0,12}}\b{port}\b", re.IGNORECASE)
    for line in log.splitlines():
        if pattern.search(line):
            text = " ".join(line.split())
            return text if len(text) <= 160 else text[:157] + "..."
    return ""


def _cause(port: int, evidence: str) -> str:
    return (
        f"the server listens on 127.0.0.1 only ({evidence}), which neither the published port "
        f"nor Azure's probes can reach; {_fix(port)}"
    )


def _fix(port: int) -> str:
    """The fix the diagnosis rule gives (asked with the line it matches), so `run` and
    `deploy` give the same advice."""
    from scaffold.diagnose import DeploymentSettings, diagnose

    example = {"container": f"Listening at: http://127.0.0.1:{port}"}
    for found in diagnose("", example, DeploymentSettings(port=port)):
        if found.code == RULE:
            return found.fix
    return f"make the server bind 0.0.0.0 on port {port}"
