"""Per-server cross-file contracts for `scaffold validate`: one check function per server.

Each function receives the validation `Context` and records problems on it. As far as the
project's files allow, it checks that the server in the container listens on the routes'
port (and on 0.0.0.0), serves the routes' paths, and finds its model where Azure mounts it
(shared/reference/azureml.md §1.2, §4, §5). What the files do not determine is skipped,
never guessed. The registry (`scaffold.servers`) names each server's function.

This module imports nothing from scaffold at run time, so the registry can reference it.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scaffold.validate import Context, Model, Route

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_R_RUN = re.compile(r"\bpr_run\s*\(|\$run\b")
_R_ANNOTATION = re.compile(
    r"^\s*#['*]\s*@(get|post|put|delete|head|patch|options|any|use)\s+(\S+)", re.M
)
_R_HANDLER = re.compile(r"\bpr_(get|post|put|delete|head|patch)\s*\(\s*[^,()]+,\s*['\"]([^'\"]+)")
_R_HANDLE = re.compile(r"\$handle\(\s*['\"](\w+)['\"]\s*,\s*['\"]([^'\"]+)")
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_]\w*)=(\"[^\"]*\"|'[^']*'|[^\s;]*)", re.M)


# --- Shared helpers ---------------------------------------------------------------------------
_COMMENT_LINE = re.compile(r"^[ \t]*#.*$", re.MULTILINE)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _texts(ctx: Context) -> list[tuple[str, str]]:
    """The container command and the scripts it runs: continuation lines joined, and
    shell comment lines dropped (a flag mentioned in a comment is not a flag)."""
    return [
        (rel, _COMMENT_LINE.sub("", text).replace("\\\n", " ")) for rel, text in ctx.command_texts
    ]


def _mentions(ctx: Context, word: str) -> bool:
    return any(word in text for _, text in _texts(ctx))


def _script_vars(ctx: Context, text: str) -> dict[str, str]:
    """Shell variables a start script assigns (`NAME=value`), expanded in order."""
    found: dict[str, str] = {}
    for name, value in _ASSIGNMENT.findall(text):
        found[name] = ctx.expand(value.strip("\"'"), found)
    return found


def flag(ctx: Context, name: str) -> tuple[str, str] | None:
    """(file, expanded value) of a command-line flag such as --http-port, if present."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?:=|\s+)(\"[^\"]*\"|'[^']*'|[^\s;&|)]+)")
    for rel, text in _texts(ctx):
        match = pattern.search(text)
        if match:
            return rel, ctx.expand(match.group(1).strip("\"'"), _script_vars(ctx, text))
    return None


def _flag_port(ctx: Context, name: str, default: int) -> tuple[int, str]:
    found = flag(ctx, name)
    port = _int(found[1]) if found else None
    if found and port is not None:
        return port, f"{name}={port} in {found[0]}"
    return default, f"the default {name.lstrip('-')} {default}"


def _concurrency(ctx: Context) -> int:
    settings = (ctx.deployment or {}).get("request_settings")
    value = (
        settings.get("max_concurrent_requests_per_instance") if isinstance(settings, dict) else None
    )
    return _int(value) or 1


def _same_route(ctx: Context, server: str, fix: str) -> None:
    live, ready = ctx.routes.get("liveness_route"), ctx.routes.get("readiness_route")
    if live is None or ready is None or not ready.path:
        return
    if (live.port, live.path) == (ready.port, ready.path):
        ctx.warn(
            "probe.same_route",
            ctx.deployment_file,
            f"{ready.key}.path",
            f"liveness and readiness both use {ready.path}: {server} may answer it before "
            "the model can serve, so traffic can arrive too early",
            fix,
        )


def _model_mismatch(ctx: Context, route: Route, named: str, served: str, fix: str) -> None:
    ctx.error(
        "route.model.mismatch",
        ctx.deployment_file,
        f"{route.key}.path",
        f"{route.name}.path names model `{named}` but the server serves {served}",
        fix,
    )


# --- R Plumber --------------------------------------------------------------------------------
def check_plumber(ctx: Context) -> None:
    """Plumber: host 0.0.0.0 and the port in the start script, routes as annotations."""
    start = _plumber_start(ctx)
    if start is not None:
        rel, code = start
        if _R_RUN.search(code):
            _plumber_bind(ctx, rel, code)
        _plumber_entry(ctx, rel, code)
    _plumber_routes(ctx, start[1] if start else "")


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


# --- Azure ML minimal inference server (azmlinfsrv) ---------------------------------------------
def check_minimal(ctx: Context) -> None:
    """azmlinfsrv: port 5001 (or --port), GET / and /score, score.py with init() and run()."""
    port, how = _flag_port(ctx, "--port", 5001)
    if how.startswith("the default") and _int(ctx.container_env.get("SERVER_PORT")):
        port, how = int(ctx.container_env["SERVER_PORT"]), "SERVER_PORT"
    ctx.check_listen_port(port, f"azmlinfsrv: {how}")
    for route in ctx.routes.values():
        want = "/score" if route.name == "scoring_route" else "/"
        if route.path is not None and route.path != want:
            ctx.route_not_served(
                route,
                "the Azure ML inference server",
                f"Use {want}: azmlinfsrv answers health on GET / and scores on /score",
            )
    _minimal_script(ctx)
    _minimal_workers(ctx)


def _minimal_script(ctx: Context) -> None:
    if (ctx.deployment or {}).get("code_configuration") is None:
        if not {"AZUREML_ENTRY_SCRIPT", "MLFLOW_MODEL_FOLDER"} & ctx.container_env.keys():
            ctx.error(
                "minimal.entry.missing",
                ctx.deployment_file,
                "code_configuration",
                "No code_configuration: azmlinfsrv has no scoring script to load",
                "Add code_configuration with code and scoring_script (score.py with "
                "init() and run())",
            )
        return
    script = ctx.scoring_script
    if script is not None and script.suffix == ".py":
        _python_entry_points(ctx, script)


def _python_entry_points(ctx: Context, script: Path) -> None:
    import ast

    rel = ctx.rel(script)
    try:
        tree = ast.parse(ctx.read(script) or "", filename=rel)
    except SyntaxError as error:
        ctx.error(
            "minimal.score.syntax",
            rel,
            "",
            f"{rel} has a syntax error at line {error.lineno}: {error.msg}",
            "Fix the syntax; the server cannot import it",
        )
        return
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    for function in ("init", "run"):
        if function not in names:
            ctx.error(
                "minimal.score.entry",
                rel,
                "",
                f"{rel} defines no top-level {function}()",
                "Define init() (load the model once) and run(raw_data) (score a request)",
            )


def _minimal_workers(ctx: Context) -> None:
    workers = _int(ctx.container_env.get("WORKER_COUNT", "1"))
    concurrency = _concurrency(ctx)
    if workers is not None and workers != concurrency:
        ctx.warn(
            "concurrency.workers",
            ctx.deployment_file,
            "request_settings.max_concurrent_requests_per_instance",
            f"max_concurrent_requests_per_instance is {concurrency} but azmlinfsrv runs "
            f"{workers} worker(s) (WORKER_COUNT)",
            f'Make them equal: WORKER_COUNT: "{concurrency}" in environment_variables',
        )


# --- TensorFlow Serving -----------------------------------------------------------------------
def check_tfserving(ctx: Context) -> None:
    """TF Serving: REST port, MODEL_BASE_PATH/MODEL_NAME vs the mount, version folders, routes."""
    port, how = _flag_port(ctx, "--rest_api_port", 8501)
    ctx.check_listen_port(port, f"TF Serving REST API: {how}")
    name = ctx.container_env.get("MODEL_NAME", "model")
    _tf_model(ctx, name)
    _tf_routes(ctx, name)
    _same_route(
        ctx,
        "TF Serving",
        f"Point readiness_route.path at /v1/models/{name}/metadata, "
        "which answers 200 only once the model has loaded",
    )


def _tf_model(ctx: Context, name: str) -> None:
    base = ctx.container_env.get("MODEL_BASE_PATH", "/models")
    model = ctx.model
    if model is not None and model.local is not None:
        if not _tf_mount(ctx, model, base, name):
            return
        folder: Path | None = model.local
    elif (ctx.deployment or {}).get("model") is None:
        folder = ctx.resolve_container_path(f"{base}/{name}")  # baked into the image
    else:
        return  # a registered model: its layout is not local
    if folder is not None:
        _tf_versions(ctx, folder, name)


def _tf_mount(ctx: Context, model: Model, base: str, name: str) -> bool:
    """Check MODEL_BASE_PATH and MODEL_NAME against the mount; True when both match."""
    ok = True
    if not model.mount_known:
        ctx.error(
            "tfserving.model_base_path",
            ctx.deployment_file,
            "model",
            "the model has no name or version, so MODEL_BASE_PATH cannot point at its mount folder",
            "Give model a name and a version",
        )
        ok = False
    elif PurePosixPath(base) != model.mount:
        file, key = ctx.env_source("MODEL_BASE_PATH")
        if PurePosixPath(base) == model.container_path:
            why = "includes the model folder (TF Serving appends MODEL_NAME itself)"
        elif "MODEL_BASE_PATH" not in ctx.container_env:
            why = "is not set, so TF Serving looks under /models"
        else:
            why = f"is not where Azure mounts the model ({model.mount})"
        ctx.error(
            "tfserving.model_base_path",
            file,
            key,
            f"MODEL_BASE_PATH {base} {why}",
            f"Set MODEL_BASE_PATH to {model.mount}",
        )
        ok = False
    folder = model.local.name if model.local is not None else ""
    if folder != name:
        file, key = ctx.env_source("MODEL_NAME")
        ctx.error(
            "tfserving.model_name",
            file,
            key,
            f"MODEL_NAME is {name} but the model folder is {folder}: TF Serving looks "
            f"for {base}/{name}",
            f"Set MODEL_NAME to {folder} (and use it in the routes)",
        )
        ok = False
    return ok


def _tf_versions(ctx: Context, folder: Path, name: str) -> None:
    rel = ctx.rel(folder)
    versions = (
        [d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()]
        if (folder.is_dir())
        else []
    )
    if not any(
        (d / "saved_model.pb").is_file() or (d / "saved_model.pbtxt").is_file() for d in versions
    ):
        ctx.error(
            "tfserving.version.missing",
            rel,
            "",
            f"{rel} has no numeric version folder with saved_model.pb: TF Serving "
            f"reports 'No versions of servable {name} found'",
            f"Put the SavedModel in {rel}/1/ (saved_model.pb and variables/)",
        )


_TF_PROBE = re.compile(r"/v1/models/([^/:]+)(?:/versions/\d+|/labels/[^/:]+)?(?:/metadata)?")
_TF_SCORE = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/\d+|/labels/[^/:]+)?:(?:predict|classify|regress)"
)


def _tf_routes(ctx: Context, name: str) -> None:
    for route in ctx.routes.values():
        if route.path is None:
            continue
        scoring = route.name == "scoring_route"
        wanted = f"/v1/models/{name}" + (":predict" if scoring else "")
        match = (_TF_SCORE if scoring else _TF_PROBE).fullmatch(route.path)
        if match is None:
            ctx.route_not_served(route, "TF Serving's REST API", f"Use {wanted}")
        elif match.group(1) != name:
            _model_mismatch(
                ctx,
                route,
                match.group(1),
                f"`{name}` (MODEL_NAME)",
                f"Use {wanted}, or set MODEL_NAME to {match.group(1)}",
            )


# --- TorchServe -------------------------------------------------------------------------------
def check_torchserve(ctx: Context) -> None:
    """TorchServe: inference_address, registered models, .mar files in the model store."""
    config = _ts_config(ctx)
    _ts_address(ctx, config)
    models = _ts_models(ctx, config)
    store = _ts_store(ctx, config)
    _ts_routes(ctx, models)
    if models is not None and store is not None:
        _ts_archives(ctx, models, store)
    _ts_workers(ctx, config)
    _same_route(
        ctx,
        "TorchServe",
        "Raise readiness_probe.initial_delay to cover model "
        "loading, or probe readiness with a route that needs the model",
    )


def parse_properties(text: str) -> dict[str, str]:
    """Java-style `key=value` lines (TorchServe's config.properties)."""
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and ("=" in line or ":" in line):
            key, _, value = line.partition("=") if "=" in line else line.partition(":")
            props[key.strip()] = value.strip()
    return props


def _ts_config(ctx: Context) -> tuple[str, dict[str, str]] | None:
    named = flag(ctx, "--ts-config")
    value = named[1] if named else ctx.container_env.get("TS_CONFIG_FILE")
    path = ctx.resolve_container_path(value) if value and value.startswith("/") else None
    if path is None and ctx.dockerfile is not None:
        path = ctx.dockerfile.context / "config.properties"
    text = ctx.read(path) if path is not None and path.is_file() else None
    return None if path is None or text is None else (ctx.rel(path), parse_properties(text))


def _ts_address(ctx: Context, config: tuple[str, dict[str, str]] | None) -> None:
    if config is None:
        ctx.check_listen_port(8080, "TorchServe image default inference_address 0.0.0.0:8080")
        return
    rel, props = config
    address = props.get("inference_address")
    match = re.match(r"(https?)://(\[[^\]]+\]|[^:/]+)(?::(\d+))?", address or "")
    if address is None or match is None:
        ctx.error(
            "server.bind.loopback",
            rel,
            "inference_address",
            f"{rel} sets no inference_address, so TorchServe listens on 127.0.0.1:8080, "
            "which Azure's probes cannot reach",
            "Add inference_address=http://0.0.0.0:8080",
        )
        return
    scheme, host, port = match.groups()
    if host in LOOPBACK:
        ctx.error(
            "server.bind.loopback",
            rel,
            "inference_address",
            f"inference_address {address} binds {host}, which Azure's probes cannot reach",
            "Use inference_address=http://0.0.0.0:<port>",
        )
    ctx.check_listen_port(
        int(port or (443 if scheme == "https" else 80)), f"inference_address in {rel}"
    )


def _ts_models(ctx: Context, config: tuple[str, dict[str, str]] | None) -> dict[str, str] | None:
    """Registered models {name: archive}; None when unknown (e.g. ALL or unexpanded)."""
    found = flag(ctx, "--models")
    value = found[1] if found else (config[1].get("load_models") if config else None)
    if value is None and not _mentions(ctx, "torchserve"):
        return None  # the command that starts TorchServe is not in the project
    if value is None or not value.strip() or value.strip().startswith("$"):
        file, key = ctx.env_source("TORCHSERVE_MODELS")
        ctx.error(
            "torchserve.models.missing",
            file,
            key,
            "TorchServe starts without models (--models / load_models is empty or unset), "
            "so every /predictions call answers 404",
            'Set TORCHSERVE_MODELS (name=file.mar) and pass --models "$TORCHSERVE_MODELS"',
        )
        return None
    models: dict[str, str] = {}
    for entry in re.split(r"[,\s]+", value.strip()):
        if entry.lower() == "all" or "$" in entry:
            return None
        name, _, archive = entry.rpartition("=")
        models[name or PurePosixPath(archive).stem] = archive
    return models


def _ts_store(ctx: Context, config: tuple[str, dict[str, str]] | None) -> Path | None:
    found = flag(ctx, "--model-store")
    value = found[1] if found else (config[1].get("model_store") if config else None)
    if value is None:
        if _mentions(ctx, "torchserve"):
            ctx.error(
                "torchserve.model_store.missing",
                _texts(ctx)[0][0],
                "",
                "TorchServe starts without --model-store (or model_store), so it exits",
                'Pass --model-store "$AZUREML_MODEL_DIR/<model folder>"',
            )
        return None
    if "$" in value:
        return None  # not resolvable statically
    local = ctx.resolve_container_path(value)
    model = ctx.model
    if local is None and model is not None and model.container_path is not None:
        ctx.error(
            "torchserve.model_store",
            found[0] if found else ctx.deployment_file,
            "",
            f"the model store {value} is not where Azure mounts the model ({model.container_path})",
            f'Use --model-store "$AZUREML_MODEL_DIR/{model.container_path.name}"',
        )
    return local if local is not None and local.is_dir() else None


def _ts_routes(ctx: Context, models: dict[str, str] | None) -> None:
    for route in ctx.routes.values():
        if route.path is None:
            continue
        if route.name == "liveness_route" or (
            route.name == "readiness_route" and route.path == "/ping"
        ):
            if route.path != "/ping":
                ctx.route_not_served(route, "TorchServe's inference API", "Use /ping")
            continue
        # Scoring, and readiness on the predictions route (a GET there queues until the
        # model's worker is loaded, unlike /ping): the model must be registered.
        match = re.fullmatch(r"/(?:predictions|explanations)/([^/]+)(?:/[^/]+)?", route.path)
        if match is None:
            ctx.route_not_served(route, "TorchServe's inference API", "Use /predictions/<model>")
        elif models is not None and match.group(1) not in models:
            _model_mismatch(
                ctx,
                route,
                match.group(1),
                ", ".join(sorted(models)) or "none",
                f"Register it (TORCHSERVE_MODELS={match.group(1)}=<file>.mar) or fix the path",
            )


def _ts_archives(ctx: Context, models: dict[str, str], store: Path) -> None:
    for name, archive in models.items():
        if "://" in archive or (store / archive).is_file():
            continue
        file, key = ctx.env_source("TORCHSERVE_MODELS")
        ctx.error(
            "torchserve.mar.not_found",
            file,
            key,
            f"model {name}: {archive} is not in the model store ({ctx.rel(store)})",
            f"Put {archive} in {ctx.rel(store)} or fix the archive name",
        )


def _ts_workers(ctx: Context, config: tuple[str, dict[str, str]] | None) -> None:
    workers = _int(config[1].get("default_workers_per_model")) if config else None
    concurrency = _concurrency(ctx)
    if workers is not None and config is not None and workers != concurrency:
        ctx.warn(
            "concurrency.workers",
            ctx.deployment_file,
            "request_settings.max_concurrent_requests_per_instance",
            f"max_concurrent_requests_per_instance is {concurrency} but TorchServe runs "
            f"{workers} worker(s) per model ({config[0]})",
            "Make max_concurrent_requests_per_instance equal default_workers_per_model",
        )


# --- NVIDIA Triton ----------------------------------------------------------------------------
def check_triton(ctx: Context) -> None:
    """Triton: --http-port, --model-repository vs the mount, config.pbtxt, model routes."""
    port, how = _flag_port(ctx, "--http-port", 8000)
    ctx.check_listen_port(port, f"Triton HTTP: {how}")
    repository = flag(ctx, "--model-repository") or flag(ctx, "--model-store")
    models = _triton_models(ctx, repository)
    _triton_routes(ctx, models)
    for name, folder in (models or {}).items():
        _triton_model(ctx, name, folder)


def _triton_models(ctx: Context, repository: tuple[str, str] | None) -> dict[str, Path] | None:
    if repository is None:
        texts = _texts(ctx)
        if texts and "tritonserver" in texts[0][1]:
            ctx.error(
                "triton.repository.missing",
                texts[0][0],
                "",
                "tritonserver starts without --model-repository",
                "Pass --model-repository=<model_mount_path>",
            )
        return None
    rel, value = repository
    target, model = PurePosixPath(value), ctx.model
    if model is not None and model.local is not None and model.local.is_dir():
        if target == model.mount:
            return {model.local.name: model.local}
        if target == model.container_path:
            return _children(model.local)
    local = ctx.dockerfile.local_path(value) if ctx.dockerfile else None
    if local is not None and local.is_dir():
        return _children(local)
    if model is not None and model.container_path is not None:
        ctx.error(
            "triton.repository.mismatch",
            rel,
            "",
            f"--model-repository is {value} but Azure mounts the model at {model.container_path}",
            f"Set model_mount_path: {value} in "
            f"{ctx.deployment_file}, or --model-repository={model.mount}",
        )
    return None


def _children(folder: Path) -> dict[str, Path]:
    return {
        d.name: d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }


_TRITON_PROBES = re.compile(
    r"/v2(?:/health/(?:live|ready)|/models/[^/]+(?:/versions/\d+)?"
    r"(?:/ready)?)?"
)
_TRITON_MODEL = re.compile(r"/v2/models/([^/]+)(?:/.*)?")


def _triton_routes(ctx: Context, models: dict[str, Path] | None) -> None:
    for route in ctx.routes.values():
        if route.path is None:
            continue
        if route.name == "scoring_route":
            served = route.path == "/" or route.path.startswith("/v2/")
        else:
            served = _TRITON_PROBES.fullmatch(route.path) is not None
        if not served:
            wanted = {"liveness_route": "/v2/health/live", "readiness_route": "/v2/health/ready"}
            ctx.route_not_served(
                route,
                "Triton's HTTP API (KServe v2)",
                f"Use {wanted.get(route.name, '/v2/models/<model>/infer')}",
            )
            continue
        match = _TRITON_MODEL.fullmatch(route.path)
        if match and models is not None and match.group(1) not in models:
            _model_mismatch(
                ctx,
                route,
                match.group(1),
                ", ".join(models) or "no model",
                "Use a model folder name from the repository, or rename the folder",
            )


#: File Triton loads from a version folder, by platform/backend (default_model_filename).
_MODEL_FILES = {
    "onnxruntime_onnx": "model.onnx",
    "onnxruntime": "model.onnx",
    "tensorrt_plan": "model.plan",
    "tensorrt": "model.plan",
    "tensorflow_savedmodel": "model.savedmodel",
    "tensorflow_graphdef": "model.graphdef",
    "pytorch_libtorch": "model.pt",
    "pytorch": "model.pt",
    "python": "model.py",
    "openvino": "model.xml",
}


def pbtxt_fields(text: str) -> dict[str, str]:
    """Top-level `key: "value"` fields of a protobuf text file (nested blocks skipped)."""
    top, depth, quote = [], 0, ""
    for char in re.sub(r"#[^\n]*", "", text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            continue
        elif char in "]}":
            depth -= 1
            continue
        if depth == 0:
            top.append(char)
    return dict(re.findall(r'(?m)^\s*(\w+)\s*:\s*"([^"]*)"', "".join(top)))


def _triton_model(ctx: Context, name: str, folder: Path) -> None:
    rel = ctx.rel(folder)
    versions = [d for d in sorted(folder.iterdir()) if d.is_dir() and d.name.isdigit()]
    config = folder / "config.pbtxt"
    text = ctx.read(config) if config.is_file() else None
    if text is None:
        if not any(
            (v / f).exists()
            for v in versions
            for f in ("model.onnx", "model.plan", "model.savedmodel")
        ):
            ctx.error(
                "triton.config.missing",
                rel,
                "",
                f"{rel} has no config.pbtxt and no model file Triton can describe itself",
                f"Add {rel}/config.pbtxt",
            )
        return
    fields = pbtxt_fields(text)
    declared = fields.get("name")
    if declared is not None and declared != name:
        ctx.error(
            "triton.config.name",
            ctx.rel(config),
            "name",
            f"config.pbtxt names the model `{declared}` but its folder is `{name}`",
            f'Set name: "{name}" or remove the name line',
        )
    kind = fields.get("platform") or fields.get("backend") or ""
    wanted = fields.get("default_model_filename") or _MODEL_FILES.get(kind)
    if not versions or (wanted and not any((v / wanted).exists() for v in versions)):
        what = f"{wanted} in a numeric version folder" if wanted else "a numeric version folder"
        ctx.error(
            "triton.model_file.missing",
            rel,
            "",
            f"{rel} has no {what}",
            f"Add {rel}/1/{wanted or '<model file>'}",
        )
