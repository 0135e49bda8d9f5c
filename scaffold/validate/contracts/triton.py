"""The Triton contract: --http-port, the model repository, routes naming served models."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from scaffold.validate.contracts._common import flag, flag_port, model_mismatch, script_texts
from scaffold.validate.model import Context


# --- NVIDIA Triton ----------------------------------------------------------------------------
def check(ctx: Context) -> None:
    """Triton: --http-port, --model-repository vs the mount, config.pbtxt, model routes."""
    port, how = flag_port(ctx, "--http-port", 8000)
    ctx.check_listen_port(port, f"Triton HTTP: {how}")
    repository = flag(ctx, "--model-repository") or flag(ctx, "--model-store")
    models = _triton_models(ctx, repository)
    if models is not None:
        ctx.served_models = set(models)
    _triton_routes(ctx, models)
    for name, folder in (models or {}).items():
        _triton_model(ctx, name, folder)


def _triton_models(ctx: Context, repository: tuple[str, str] | None) -> dict[str, Path] | None:
    model = ctx.model
    if ctx.no_code:  # a triton_model without environment: model.path is the repository
        if model is not None and model.local is not None and model.local.is_dir():
            return _children(model.local)
        return None
    if repository is None:
        texts = script_texts(ctx)
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
    target = PurePosixPath(value)
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
            model_mismatch(
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
