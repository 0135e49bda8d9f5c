"""The Triton contract: --http-port, the model repository, routes naming served models."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from scaffold.validate.contracts._common import flag, flag_port, model_mismatch, script_texts
from scaffold.validate.model import Context


# --- NVIDIA Triton ----------------------------------------------------------------------------
def check(ctx: Context) -> None:
    """Triton: --http-port, --model-repository vs the mount, config.pbtxt, model routes."""
    port, how = flag_port(ctx, "--http-port", 8000)
    grpc = _grpc_port(ctx)
    ctx.check_listen_port(port, f"Triton HTTP: {how}", scoring_ports=(grpc,) if grpc else ())
    _grpc_scoring(ctx, grpc)
    repository = flag(ctx, "--model-repository") or flag(ctx, "--model-store")
    models = _triton_models(ctx, repository)
    if models is not None:
        ctx.served_models = set(models)
    _triton_routes(ctx, models)
    for name, folder in (models or {}).items():
        _triton_model(ctx, name, folder)


#: The variable that makes Azure forward the scoring route as HTTP/2 (gRPC); Microsoft's
#: triton-grpc sample (Azure/azureml-examples, custom-container/triton/triton-grpc) sets it.
HTTP2_VARIABLE = "MIR_MODEL_USE_HTTP2"


def _grpc_port(ctx: Context) -> int | None:
    """Triton's gRPC port (--grpc-port, default 8001), None when gRPC is off."""
    allowed = flag(ctx, "--allow-grpc")
    if allowed is not None and allowed[1].lower() in ("false", "0", "no"):
        return None
    port, _ = flag_port(ctx, "--grpc-port", 8001)
    return port


def _grpc_scoring(ctx: Context, grpc: int | None) -> None:
    """A scoring route on the gRPC port needs Azure to forward HTTP/2."""
    route = ctx.routes.get("scoring_route")
    if grpc is None or route is None or route.port != grpc:
        return
    if ctx.container_env.get(HTTP2_VARIABLE, "").strip().lower() in ("true", "1"):
        return
    ctx.warn(
        "route.grpc.http2",
        route.file,
        f"{route.key}.port",
        f"scoring_route.port {grpc} is Triton's gRPC port, but {HTTP2_VARIABLE} is not "
        '"true": Azure forwards scoring requests as HTTP/1.1, which gRPC does not speak',
        f'Add {HTTP2_VARIABLE}: "true" to environment_variables, or score over HTTP '
        "on Triton's HTTP port",
    )


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
        return
    if wanted == "model.onnx":
        onnx_files = [v / wanted for v in versions if (v / wanted).is_file()]
        if onnx_files:
            _onnx_config(ctx, config, text, onnx_files[-1])


# --- config.pbtxt against the ONNX model -----------------------------------------------------
def _onnx_config(ctx: Context, config: Path, text: str, model_file: Path) -> None:
    """What Triton's ONNX Runtime backend checks when it loads the model: the inputs and
    outputs the config lists exist in model.onnx with the same data type and shape (batch
    dimension and `reshape` taken into account), and max_batch_size > 0 only for a model
    whose every tensor has a variable first dimension. Needs the `onnx` package (skipped
    without it)."""
    import importlib.util

    from scaffold.errors import ScaffoldError
    from scaffold.validate import pbtxt

    if importlib.util.find_spec("onnx") is None:
        return
    from scaffold.usermodel import triton as onnx_model

    try:
        fields = pbtxt.parse(text)
        layout, _ = onnx_model.read(model_file)
    except (pbtxt.PbtxtError, ScaffoldError):
        return
    rel = ctx.rel(config)
    batch = pbtxt.one(fields, "max_batch_size", 0)
    if isinstance(batch, int) and batch > 0 and not layout.batched:
        fixed = [t.name for t in layout.inputs + layout.outputs if not t.dims or t.dims[0] != -1]
        ctx.error(
            "triton.onnx.batching",
            rel,
            "max_batch_size",
            f"max_batch_size is {batch} but model.onnx cannot batch: {', '.join(fixed[:3])} "
            "has no variable first dimension (Triton refuses to load it)",
            "Set max_batch_size: 0 and list the full dims",
        )
        return
    batched = isinstance(batch, int) and batch > 0
    for block, tensors in (("input", layout.inputs), ("output", layout.outputs)):
        listed = [e for e in pbtxt.repeated(fields, block) if isinstance(e, dict)]
        by_name = {t.name: t for t in tensors}
        for entry in listed:
            _onnx_tensor(ctx, rel, block, entry, by_name, batched)
        names = {pbtxt.one(e, "name") for e in listed}
        missing = [t.name for t in tensors if t.name not in names]
        if listed and missing and block == "input":
            ctx.error(
                "triton.onnx.input_missing",
                rel,
                "input",
                f"model.onnx needs input(s) {', '.join(missing)}, which config.pbtxt does not list",
                "List every model input in config.pbtxt (or leave inputs out: auto-complete)",
            )


def _onnx_tensor(
    ctx: Context,
    rel: str,
    block: str,
    entry: dict[str, Any],
    by_name: dict[str, Any],
    batched: bool,
) -> None:
    from scaffold.usermodel.triton import DTYPES
    from scaffold.validate import pbtxt

    name = pbtxt.one(entry, "name")
    tensor = by_name.get(name)
    key = f"{block}.{name}"
    if tensor is None:
        ctx.error(
            "triton.onnx.name",
            rel,
            key,
            f"config.pbtxt lists {block} `{name}`, which model.onnx does not have "
            f"(it has {', '.join(by_name) or 'none'})",
            f"Use the model's own {block} names",
        )
        return
    want_type = DTYPES[tensor.onnx_type][0]
    data_type = pbtxt.one(entry, "data_type")
    if data_type is not None and data_type != want_type:
        ctx.error(
            "triton.onnx.data_type",
            rel,
            key,
            f"{block} `{name}` is {data_type} in config.pbtxt but {want_type} in model.onnx",
            f"Set data_type: {want_type}",
        )
    dims = pbtxt.repeated(entry, "dims")
    reshape = pbtxt.one(entry, "reshape")
    shape = pbtxt.repeated(reshape, "shape") if isinstance(reshape, dict) else dims
    model = list(tensor.dims[1:] if batched else tensor.dims)
    fits = len(shape) == len(model) and all(
        a == -1 or b == -1 or a == b for a, b in zip(shape, model, strict=True)
    )
    if not fits:
        batch_only = batched and not model
        fix = (
            "Add reshape: { shape: [ ] } (the tensor has only the batch dimension), as "
            "Triton's auto-complete writes"
            if batch_only and dims == [1]
            else f"Set dims: [ {', '.join(str(d) for d in model) or '1'} ]"
            + (" with reshape: { shape: [ ] }" if batch_only else "")
        )
        ctx.error(
            "triton.onnx.dims",
            rel,
            key,
            f"{block} `{name}` has dims [ {', '.join(str(d) for d in dims)} ]"
            + (" (reshape [ " + ", ".join(str(d) for d in shape) + " ])" if reshape else "")
            + " but in model.onnx it "
            + (
                "has only the batch dimension"
                if batch_only
                else f"is {'[batch] + ' if batched else ''}[ {', '.join(str(d) for d in model)} ]"
            ),
            fix,
        )
