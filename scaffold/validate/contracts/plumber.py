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
        if _R_RUN.search(code) or _DO_CALL.search(code):
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
    inline = " ".join(ctx.command)
    if docker is not None and ("plumb(" in inline or "pr_run(" in inline):
        return docker.rel, inline
    folder = docker.context if docker is not None else ctx.root
    for path in ctx.find(folder, "*.R"):
        code = strip_r_comments(ctx.read(path) or "")
        if path != ctx.scoring_script and "plumb(" in code and _R_RUN.search(code):
            return ctx.rel(path), code
    return None


#: Hosts that accept connections on every interface: what Azure's probes need.
ALL_INTERFACES = ("0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0")
#: plumber's default host when pr_run()/pr$run() gets none (`getOption("plumber.host",
#: "127.0.0.1")` in plumber >= 1.0).
PLUMBER_DEFAULT_HOST = "127.0.0.1"
_RUN_CALL = re.compile(r"(?:\bpr_run|\$run)\s*\(")
_DO_CALL = re.compile(r"\bdo\.call\s*\(\s*(?:[\w.:]*pr_run|[\w.]+\$run)\s*,\s*([A-Za-z.][\w.]*)")
_GETENV = re.compile(
    r"""Sys\.getenv\(\s*['"]([^'"]+)['"]\s*(?:,\s*(?:unset\s*=\s*)?['"]([^'"]*)['"]\s*)?\)"""
)
_OPTION_HOST = re.compile(r"""\boptions\s*\(\s*plumber\.host\s*=\s*""")


def _plumber_bind(ctx: Context, rel: str, code: str) -> None:
    """Every way the R code starts plumber must bind all interfaces (0.0.0.0 or ::)."""
    for where, host in _run_hosts(ctx, code):
        if host is None or host in ALL_INTERFACES:
            continue
        ctx.error(
            "server.bind.loopback",
            rel,
            "",
            f"plumber binds {_shown(host, where)}: Azure's probes cannot reach it",
            'Run plumber with host = "0.0.0.0" (all interfaces), e.g. '
            'pr_run(pr, host = "0.0.0.0", port = 8000)',
        )
        break
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


def _shown(host: str, where: str) -> str:
    if host == "":
        return f"an empty host ({where})"
    if host in LOOPBACK:
        return f"{host}, the container's loopback ({where})"
    return f"only {host} ({where})"


def _run_hosts(ctx: Context, code: str) -> list[tuple[str, str | None]]:
    """(how the host was given, its value or None when unknown) of each call starting
    plumber: pr_run(...), pr$run(...), do.call(pr$run, args) with args <- list(...)."""
    found: list[tuple[str, str | None]] = []
    calls = [_call_args(code, m.end()) for m in _RUN_CALL.finditer(code)]
    for match in _DO_CALL.finditer(code):
        assigned = re.search(rf"(?<![\w.]){re.escape(match.group(1))}\s*(?:<-|=)\s*list\s*\(", code)
        if assigned:
            calls.append(_call_args(code, assigned.end()))
    for args in calls:
        expression = _argument(args, "host")
        if expression is None:
            option = _OPTION_HOST.search(code)
            if option:
                value = _r_value(ctx, code, _expression_at(code, option.end()))
                found.append(("options(plumber.host)", value))
            else:
                found.append(("no host given: plumber's default", PLUMBER_DEFAULT_HOST))
        else:
            found.append((f"host = {expression}", _r_value(ctx, code, expression)))
    return found


def _call_args(code: str, start: int) -> str:
    """The text between the parenthesis opened just before `start` and its match."""
    depth, quote = 1, ""
    for index in range(start, len(code)):
        char = code[index]
        if quote:
            quote = "" if char == quote and code[index - 1] != "\\" else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return code[start:index]
    return code[start:]


def _top_level_split(args: str) -> list[str]:
    parts, depth, quote, current = [], 0, "", ""
    for char in args:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current]


def _argument(args: str, name: str) -> str | None:
    for part in _top_level_split(args):
        match = re.fullmatch(rf"\s*{name}\s*=\s*(.*?)\s*", part, re.S)
        if match:
            return match.group(1)
    return None


def _expression_at(code: str, start: int) -> str:
    return _top_level_split(_call_args(code, start))[0].strip()


def _r_value(ctx: Context, code: str, expression: str, depth: int = 0) -> str | None:
    """The string an R expression gives, as far as the files tell: a literal, Sys.getenv()
    (the container's environment, else its default, else ""), a variable assigned a
    literal; None when unknown."""
    expression = expression.strip()
    literal = re.fullmatch(r"""(['"])(.*?)\1""", expression, re.S)
    if literal:
        return literal.group(2)
    getenv = _GETENV.fullmatch(expression)
    if getenv:
        name, default = getenv.group(1), getenv.group(2)
        return ctx.container_env.get(name, default if default is not None else "")
    if depth < 3 and re.fullmatch(r"[A-Za-z.][\w.]*", expression):
        assigned = list(
            re.finditer(rf"(?m)^\s*{re.escape(expression)}\s*(?:<-|=)\s*([^\n;#]+)", code)
        )
        if assigned:
            return _r_value(ctx, code, assigned[-1].group(1), depth + 1)
    return None


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
