"""The TorchServe contract: inference_address, registered models, archives, workers."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from scaffold.validate.contracts._common import (
    LOOPBACK,
    as_int,
    flag,
    max_concurrency,
    mentions,
    model_mismatch,
    same_route,
    script_texts,
)
from scaffold.validate.model import Context


# --- TorchServe -------------------------------------------------------------------------------
def check(ctx: Context) -> None:
    """TorchServe: inference_address, registered models, .mar files in the model store."""
    config = _ts_config(ctx)
    _ts_address(ctx, config)
    models = _ts_models(ctx, config)
    if models is not None:
        ctx.served_models = set(models)
    store = _ts_store(ctx, config)
    _ts_routes(ctx, models)
    if models is not None and store is not None:
        _ts_archives(ctx, models, store)
    _ts_workers(ctx, config)
    _ts_token_auth(ctx, config)
    same_route(
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
    if value is None and not mentions(ctx, "torchserve"):
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
        if mentions(ctx, "torchserve"):
            ctx.error(
                "torchserve.model_store.missing",
                script_texts(ctx)[0][0],
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
            model_mismatch(
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
    workers = as_int(config[1].get("default_workers_per_model")) if config else None
    concurrency = max_concurrency(ctx)
    if workers is not None and config is not None and workers != concurrency:
        ctx.warn(
            "concurrency.workers",
            ctx.deployment_file,
            "request_settings.max_concurrent_requests_per_instance",
            f"max_concurrent_requests_per_instance is {concurrency} but TorchServe runs "
            f"{workers} worker(s) per model ({config[0]})",
            "Make max_concurrent_requests_per_instance equal default_workers_per_model",
        )


#: The first TorchServe release that turns token authorization on by default: every API,
#: /ping included, then answers 400 InvalidKeyException without a bearer token, so Azure's
#: probes fail (pytorch/serve#3163, #3260; Azure/azureml-examples PR #3342 added
#: --disable-token-auth to Microsoft's sample).
TOKEN_AUTH_SINCE = (0, 11, 1)
_TS_PIN = re.compile(r"\btorchserve\s*==\s*(\d+(?:\.\d+)*)")
_TS_PIP = re.compile(r"\bpip3?\s+install\b[^\n]*\btorchserve\b(?![-=\w])")


def _ts_version(ctx: Context) -> tuple[int, ...] | None:
    """The TorchServe version the image runs: the pytorch/torchserve tag (latest: the
    newest), a pinned `pip install torchserve==X`, or None when unknown."""
    for image, _, _ in ctx.images:
        if "pytorch/torchserve" not in image:
            continue
        tag = image.split("@", 1)[0].rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1] else ""
        numbers = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", tag)
        if numbers:
            return tuple(int(n) for n in numbers.groups(default="0"))
        return (99,) if tag in ("", "latest") or tag.startswith("latest") else None
    docker = ctx.dockerfile
    text = ctx.read(docker.path) if docker is not None else None
    pinned = _TS_PIN.search(text or "")
    if pinned:
        return tuple(int(n) for n in pinned.group(1).split("."))
    return (99,) if text and _TS_PIP.search(text) else None


def _ts_token_auth(ctx: Context, config: tuple[str, dict[str, str]] | None) -> None:
    """TorchServe >= 0.11.1 demands a token on every API unless token auth is disabled."""
    version = _ts_version(ctx)
    if version is None or version < TOKEN_AUTH_SINCE or not mentions(ctx, "torchserve"):
        return
    props = config[1] if config else {}
    if props.get("disable_token_authorization", "").lower() == "true":
        return
    if any(
        re.search(r"(?<![\w-])(?:--disable-token-auth|--dt|--disable-token)\b", text)
        for _, text in script_texts(ctx)
    ):
        return
    variable = ctx.container_env.get("TS_DISABLE_TOKEN_AUTHORIZATION", "").lower() == "true"
    if variable and props.get("enable_envvars_config", "").lower() == "true":
        return
    where = script_texts(ctx)[0][0]
    shown = (
        f"TorchServe {'.'.join(map(str, version))}" if version != (99,) else "The latest TorchServe"
    )
    why = (
        " (TS_DISABLE_TOKEN_AUTHORIZATION is read only with enable_envvars_config=true)"
        if variable
        else ""
    )
    ctx.error(
        "torchserve.token_auth",
        where,
        "",
        f"{shown} turns token authorization on by default{why}: /ping and "
        "/predictions answer 400 without a token, so Azure's probes fail",
        "Start it with --disable-token-auth (or set disable_token_authorization to true in "
        "config.properties); the endpoint's own auth_mode protects it",
    )
