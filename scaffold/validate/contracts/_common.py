"""Helpers shared by the per-server contracts: the container command and its scripts,
command-line flags, and the problems several servers report alike."""

from __future__ import annotations

import re
from typing import Any

from scaffold.validate.model import Context, Route

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_]\w*)=(\"[^\"]*\"|'[^']*'|[^\s;]*)", re.M)


# --- Shared helpers ---------------------------------------------------------------------------
_COMMENT_LINE = re.compile(r"^[ \t]*#.*$", re.MULTILINE)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def script_texts(ctx: Context) -> list[tuple[str, str]]:
    """The container command and the scripts it runs: continuation lines joined, and
    shell comment lines dropped (a flag mentioned in a comment is not a flag)."""
    return [
        (rel, _COMMENT_LINE.sub("", text).replace("\\\n", " ")) for rel, text in ctx.command_texts
    ]


def mentions(ctx: Context, word: str) -> bool:
    return any(word in text for _, text in script_texts(ctx))


def script_vars(ctx: Context, text: str) -> dict[str, str]:
    """Shell variables a start script assigns (`NAME=value`), expanded in order."""
    found: dict[str, str] = {}
    for name, value in _ASSIGNMENT.findall(text):
        found[name] = ctx.expand(value.strip("\"'"), found)
    return found


def flag(ctx: Context, name: str) -> tuple[str, str] | None:
    """(file, expanded value) of a command-line flag such as --http-port, if present."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?:=|\s+)(\"[^\"]*\"|'[^']*'|[^\s;&|)]+)")
    for rel, text in script_texts(ctx):
        match = pattern.search(text)
        if match:
            return rel, ctx.expand(match.group(1).strip("\"'"), script_vars(ctx, text))
    return None


def flag_port(ctx: Context, name: str, default: int) -> tuple[int, str]:
    found = flag(ctx, name)
    port = as_int(found[1]) if found else None
    if found and port is not None:
        return port, f"{name}={port} in {found[0]}"
    return default, f"the default {name.lstrip('-')} {default}"


def max_concurrency(ctx: Context) -> int:
    settings = (ctx.deployment or {}).get("request_settings")
    value = (
        settings.get("max_concurrent_requests_per_instance") if isinstance(settings, dict) else None
    )
    return as_int(value) or 1


def same_route(ctx: Context, server: str, fix: str) -> None:
    live, ready = ctx.routes.get("liveness_route"), ctx.routes.get("readiness_route")
    if live is None or ready is None or not ready.path:
        return
    if (live.port, live.path) == (ready.port, ready.path):
        ctx.warn(
            "probe.same_route",
            ready.file,
            f"{ready.key}.path",
            f"liveness and readiness both use {ready.path}: {server} may answer it before "
            "the model can serve, so traffic can arrive too early",
            fix,
        )


def model_mismatch(ctx: Context, route: Route, named: str, served: str, fix: str) -> None:
    ctx.error(
        "route.model.mismatch",
        route.file,
        f"{route.key}.path",
        f"{route.name}.path names model `{named}` but the server serves {served}",
        fix,
    )
