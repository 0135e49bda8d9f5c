"""The R Plumber contract: plumber bound to 0.0.0.0 on the routes' port, serving their paths."""

from __future__ import annotations

import re

from scaffold.validate.contracts._common import LOOPBACK
from scaffold.validate.model import Context

_R_RUN = re.compile(r"\bpr_run\s*\(|\$run\b")
_R_ANNOTATION = re.compile(
    r"^\s*#['*]\s*@(get|post|put|delete|head|patch|options|any|use)\s+(\S+)", re.M
)
_R_HANDLER = re.compile(r"\bpr_(get|post|put|delete|head|patch)\s*\(\s*[^,()]+,\s*['\"]([^'\"]+)")
_R_HANDLE = re.compile(r"\$handle\(\s*['\"](\w+)['\"]\s*,\s*['\"]([^'\"]+)")


# --- R Plumber --------------------------------------------------------------------------------
def check(ctx: Context) -> None:
    """Plumber: host 0.0.0.0 and the port in the start script, routes as annotations."""
    start = _plumber_start(ctx)
    if start is not None:
        rel, code = start
        if _R_RUN.search(code):
            _plumber_bind(ctx, rel, code)
        _plumber_entry(ctx, rel, code)
    _plumber_routes(ctx, start[1] if start else "")
    _plumber_models(ctx)


def strip_r_comments(text: str) -> str:
    """R code without `#` comments (quotes respected), so comments never count as code."""
    lines = []
    for line in text.splitlines():
        quote = ""
        for index, char in enumerate(line):
            if quote:
                quote = "" if char == quote and line[index - 1] != "\\" else quote
            elif char in "\"'":
                quote = char
            elif char == "#":
                line = line[:index]
                break
        lines.append(line)
    return "\n".join(lines)


def _plumber_start(ctx: Context) -> tuple[str, str] | None:
    """(file, code) of whatever starts plumber: the CMD's R script, inline -e code, or a file."""
    for rel, text in ctx.command_texts:
        if rel.endswith((".R", ".r")) and "plumb" in text:
            return rel, strip_r_comments(text)
    docker = ctx.dockerfile
    inline = " ".join(docker.command) if docker is not None else ""
    if docker is not None and ("plumb(" in inline or "pr_run(" in inline):
        return docker.rel, inline
    folder = docker.context if docker is not None else ctx.root
    for path in ctx.find(folder, "*.R"):
        code = strip_r_comments(ctx.read(path) or "")
        if path != ctx.scoring_script and "plumb(" in code and _R_RUN.search(code):
            return ctx.rel(path), code
    return None


def _plumber_bind(ctx: Context, rel: str, code: str) -> None:
    hosts = [value for _, value in re.findall(r"\bhost\s*=\s*(['\"])(.*?)\1", code)]
    if not hosts or all(host in LOOPBACK for host in hosts):
        shown = hosts[0] if hosts else "plumber's default 127.0.0.1"
        ctx.error(
            "server.bind.loopback",
            rel,
            "",
            f"plumber listens on {shown}, which Azure's probes cannot reach",
            'Run plumber with host = "0.0.0.0"',
        )
    port = _r_port(code)
    if port is not None:
        ctx.check_listen_port(port, f"port in {rel}")
    elif not re.search(r"\bport\s*=[^=]", code):  # a port argument we could not resolve
        ctx.error(
            "plumber.port.missing",
            rel,
            "",
            f"{rel} starts plumber without a port, so plumber picks a random one",
            "Pass port = <the routes' port> to pr_run() / pr$run()",
        )


def _r_port(code: str) -> int | None:
    literal = re.search(r"\bport\s*(?:=|<-)\s*(\d+)\b", code)
    if literal:
        return int(literal.group(1))
    default = re.search(r"\bport\s*(?:=|<-)[^\n]*Sys\.getenv\([^,)]+,\s*['\"]?(\d+)", code)
    if default:
        return int(default.group(1))
    for name in re.findall(r"\bport\s*=\s*([A-Za-z.][\w.]*)", code):
        value = re.search(rf"(?<![\w.]){re.escape(name)}\s*(?:<-|=)\s*(\d+)\b", code)
        if value:
            return int(value.group(1))
    return None


def _plumber_entry(ctx: Context, rel: str, code: str) -> None:
    reads = re.search(r"AZUREML_ENTRY_SCRIPT|AML_APP_ROOT", code)
    configured = (ctx.deployment or {}).get("code_configuration") is not None
    if reads and not configured and "AZUREML_ENTRY_SCRIPT" not in ctx.container_env:
        ctx.error(
            "plumber.entry.unset",
            ctx.deployment_file,
            "code_configuration",
            f"{rel} reads AML_APP_ROOT/AZUREML_ENTRY_SCRIPT, which Azure sets only from "
            "code_configuration",
            "Add code_configuration: {code: ./src, scoring_script: plumber.R}",
        )


def _plumber_endpoints(code: str) -> list[tuple[str, re.Pattern[str]]]:
    found = _R_ANNOTATION.findall(code) + _R_HANDLER.findall(code) + _R_HANDLE.findall(code)
    # Dynamic segments (/score/<id>) match any one segment.
    return [
        (method.lower(), re.compile(re.sub(r"<[^>]+>", "[^/]+", re.escape(path))))
        for method, path in found
    ]


def _plumber_routes(ctx: Context, start_code: str) -> None:
    script = ctx.scoring_script
    if script is None or script.suffix.lower() != ".r":
        return
    rel = ctx.rel(script)
    served = _plumber_endpoints((ctx.read(script) or "") + "\n" + start_code)
    for route in ctx.routes.values():
        if route.path is None:
            continue
        want = "post" if route.name == "scoring_route" else "get"
        methods = {method for method, pattern in served if pattern.fullmatch(route.path)}
        if not methods:
            ctx.route_not_served(
                route,
                f"{rel} (no `#* @{want} {route.path}`)",
                f"Add a `#* @{want} {route.path}` handler to {rel}, or fix the path",
            )
        elif not methods & {want, "any", "use"}:
            report = ctx.warn if want == "post" else ctx.error
            report(
                "route.method.mismatch",
                rel,
                "",
                f"{route.path} is served only as {'/'.join(sorted(methods)).upper()}, but "
                f"Azure sends {want.upper()} to the {route.name}",
                f"Annotate the handler with `#* @{want} {route.path}`",
            )


def _plumber_models(ctx: Context) -> None:
    """The models scaffold's plumber.R serves from the model folder: each .rds named by its
    file name, each crate.bin by its folder (.rds files beside a crate are not models)."""
    model = ctx.model
    if model is None or model.local is None or not model.local.is_dir():
        return
    crates = {p.parent for p in ctx.find(model.local, "crate.bin")}
    rds = [p for p in ctx.find(model.local, "*.[rR][dD][sS]") if p.parent not in crates]
    ctx.served_models = {p.name for p in crates} | {p.stem for p in rds}
