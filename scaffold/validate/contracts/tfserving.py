"""The TF Serving contract: port 8501, MODEL_BASE_PATH/MODEL_NAME vs the mount, versions, routes."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from scaffold.validate.contracts._common import flag, flag_port, model_mismatch, same_route
from scaffold.validate.model import Context, Model


# --- TensorFlow Serving -----------------------------------------------------------------------
def check(ctx: Context) -> None:
    """TF Serving: REST port, MODEL_BASE_PATH/MODEL_NAME vs the mount (or the models of a
    --model_config_file), version folders, routes."""
    port, how = flag_port(ctx, "--rest_api_port", 8501)
    ctx.check_listen_port(port, f"TF Serving REST API: {how}")
    configured = _tf_config(ctx)
    if configured is not None:
        names = sorted(configured)
        _tf_routes(ctx, names, configured=True)
        name = names[0] if names else "model"
    else:
        name = ctx.container_env.get("MODEL_NAME", "model")
        _tf_model(ctx, name)
        _tf_routes(ctx, [name])
        ctx.served_models = {name}
    same_route(
        ctx,
        "TF Serving",
        f"Point readiness_route.path at /v1/models/{name}/metadata, "
        "which answers 200 only once the model has loaded",
    )


def parse_model_config(text: str) -> dict[str, str]:
    """The models of a TF Serving model server config ({name: base_path}): every `config`
    block of `model_config_list` (protobuf text format; nested blocks and comments skipped)."""
    text = re.sub(r"#[^\n]*", "", text)
    models: dict[str, str] = {}
    for start in (m.end() for m in re.finditer(r"\bconfig\s*:?\s*\{", text)):
        depth, index, top = 1, start, []
        while index < len(text) and depth:
            char = text[index]
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth == 1 and char != "}":
                top.append(char)
            index += 1
        block = "".join(top)
        name = re.search(r"\bname\s*:\s*[\"']([^\"']*)[\"']", block)
        base = re.search(r"\bbase_path\s*:\s*[\"']([^\"']*)[\"']", block)
        if name:
            models[name.group(1)] = base.group(1) if base else ""
    return models


def _tf_config(ctx: Context) -> dict[str, str] | None:
    """The models of --model_config_file ({name: base_path}), checked; None without one."""
    found = flag(ctx, "--model_config_file")
    if found is None:
        return None
    rel, value = found
    local = ctx.resolve_container_path(value) if value.startswith("/") else None
    text = ctx.read(local) if local is not None and local.is_file() else None
    if text is None:
        ctx.warn(
            "tfserving.model_config.unknown",
            rel,
            "",
            f"--model_config_file {value} is not a file of the project (COPYed or mounted), "
            "so its models cannot be checked",
            "COPY the config file into the image in the Dockerfile, or keep it in the model folder",
        )
        return {}
    config_rel = ctx.rel(local) if local is not None else value
    models = parse_model_config(text)
    if not models:
        ctx.error(
            "tfserving.model_config.empty",
            config_rel,
            "",
            f"{config_rel} lists no model (model_config_list {{ config {{ name, base_path }} }}), "
            "so TF Serving serves nothing",
            'Add a config { name: "<model>" base_path: "<folder of its versions>" } per model',
        )
    ctx.served_models = set(models)
    for name, base in models.items():
        folder = ctx.resolve_container_path(base) if base.startswith("/") else None
        if folder is None or not folder.is_dir():
            model = ctx.model
            where = (
                f"where Azure mounts the model ({model.container_path})"
                if model and model.container_path
                else "in the image"
            )
            ctx.error(
                "tfserving.base_path",
                config_rel,
                f"{name}.base_path",
                f"model {name}: base_path {base or '(none)'} is not a folder of the project "
                f"{where}: TF Serving finds no versions there",
                "Point base_path at the model's folder under the mount (model_mount_path) or "
                "where the Dockerfile copies it",
            )
            continue
        _tf_versions(ctx, folder, name)
    return models


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


def _tf_routes(ctx: Context, names: list[str], *, configured: bool = False) -> None:
    """Each route names a served model: MODEL_NAME, or one of the model config file's."""
    name = names[0] if names else "model"
    for route in ctx.routes.values():
        if route.path is None:
            continue
        scoring = route.name == "scoring_route"
        wanted = f"/v1/models/{name}" + (":predict" if scoring else "")
        match = (_TF_SCORE if scoring else _TF_PROBE).fullmatch(route.path)
        if match is None:
            ctx.route_not_served(route, "TF Serving's REST API", f"Use {wanted}")
        elif match.group(1) not in names:
            served = ", ".join(f"`{n}`" for n in names) or "no model"
            model_mismatch(
                ctx,
                route,
                match.group(1),
                f"{served} ({'the model config file' if configured else 'MODEL_NAME'})",
                f"Use {wanted}, or "
                + (
                    f"add {match.group(1)} to the model config file"
                    if configured
                    else f"set MODEL_NAME to {match.group(1)}"
                ),
            )
