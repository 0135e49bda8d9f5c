"""The vLLM contract: `vllm serve`'s host and port vs the routes, the routes vLLM serves, the
Hugging Face model folder vs where Azure mounts it, max_model_len vs config.json, tensor
parallelism vs the instance type's GPUs and the attention heads, dtype vs the GPU, a memory
estimate, and the served model name vs the sample request. (vLLM's CUDA image on a size
without a GPU is the generic `image.gpu_only` rule, from the instance facts.)

The command line is read the way the container runs it: the Dockerfile's ENTRYPOINT/CMD and
the scripts they run, with the image's and the deployment's variables expanded (so
`--max-model-len "$MAX_MODEL_LEN"`, `$VLLM_ARGS` and `EXTRA_VLLM_ARGS` all count; a flag
given twice takes its last value, as in vLLM's parser).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from scaffold import hfmodel, instances
from scaffold.validate.contracts._common import LOOPBACK, as_int, max_concurrency, script_texts
from scaffold.validate.contracts._common import script_vars as _script_vars
from scaffold.validate.model import Context

PORT = 8000
#: GET routes vLLM answers 200 on once the model is loaded (/health is the documented one).
PROBE_PATHS = ("/health", "/ping", "/v1/models", "/version", "/load", "/metrics")
#: Scoring paths: the OpenAI API, SageMaker's /invocations, or "/" (sub-paths forwarded).
_SCORING = re.compile(r"/(?:v1/[\w/.-]+|invocations|pooling|classify|score|rerank|tokenize)?")
_SCORING_NOT_SERVED = {"/score"}
_CHAT = "/v1/chat/completions"


def check(ctx: Context) -> None:
    """vLLM: port and host, routes, model folder, config limits, GPUs, samples."""
    args = vllm_args(ctx)
    port = as_int(args.get("--port")) or PORT
    how = f"--port {port} in {args.source}" if "--port" in args else f"vLLM's default {PORT}"
    ctx.check_listen_port(port, f"vLLM: {how}")
    host = args.get("--host")
    if host in LOOPBACK:
        ctx.error(
            "vllm.host.loopback",
            args.source,
            "",
            f"vLLM binds {host}, so Azure's probes and traffic (from outside the container) "
            "never reach it",
            "Pass --host 0.0.0.0",
        )
    _routes(ctx)
    _liveness_budget(ctx)
    _concurrency(ctx)
    instance = _instance(ctx)
    model = _model(ctx, args)
    tp = as_int(args.get("--tensor-parallel-size") or args.get("-tp")) or 1
    _tensor_parallel(ctx, args, tp, instance, model)
    _dtype(ctx, args, instance, model)
    if model is not None:
        max_len = _max_model_len(ctx, args, model)
        _memory(ctx, args, model, instance, tp, max_len)
        _probes(ctx, model)
    _served_name(ctx, args)


class VllmArgs(dict[str, str]):
    """`vllm serve` flags as the container passes them (last value wins), the model and
    the file they were read from."""

    source: str = ""
    model: str | None = None
    #: --served-model-name values (vLLM takes several).
    served_names: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.served_names = []


def vllm_args(ctx: Context) -> VllmArgs:
    """The flags of the `vllm serve` (or `python -m vllm.entrypoints...`) command line."""
    found = VllmArgs()
    for rel, text in script_texts(ctx):
        expanded = ctx.expand(text, _script_vars(ctx, text))
        for line in expanded.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                words = line.split()
            if not words:
                continue
            _collect(found, words, rel)
    return found


def _collect(found: VllmArgs, words: list[str], rel: str) -> None:
    serve = _serve_index(words)
    start = serve + 1 if serve is not None else 0
    if words[:2] == ["set", "--"]:  # a script collecting the arguments: set -- MODEL --flag...
        serve, start = 1, 2
    if serve is None and not any(w.startswith("--") for w in words):
        return
    if serve is not None and start < len(words) and not words[start].startswith("-"):
        if not words[start].startswith("$"):  # "$@": the arguments collected earlier
            found.model, found.source = words[start], rel
        start += 1
    index = start
    while index < len(words):
        word = words[index]
        if word.startswith("-") and word not in ("--", "-"):
            name, eq, value = word.partition("=")
            if not eq:
                following = words[index + 1] if index + 1 < len(words) else ""
                value = following if following and not following.startswith("-") else ""
                index += 1 if value else 0
            if name == "--served-model-name":
                found.served_names = [value] if value else []
                extra = index + 1
                while extra < len(words) and not words[extra].startswith("-"):
                    found.served_names.append(words[extra])
                    extra += 1
                index = extra - 1
            if name == "--model":
                found.model = value
            found[name] = value
            found.source = found.source or rel
        index += 1


def _runs_vllm(ctx: Context) -> bool:
    """Whether the container's command is vLLM's server itself (not a script around it)."""
    command = " ".join(ctx.command)
    return bool(re.search(r"(^|/|\s)vllm\s+serve\b|vllm\.entrypoints\.openai", command))


def _serve_index(words: list[str]) -> int | None:
    for index, word in enumerate(words):
        if word == "serve" and index and PurePosixPath(words[index - 1]).name == "vllm":
            return index
        if word.startswith("vllm.entrypoints"):
            return None
    return None


# --- routes and settings -------------------------------------------------------------------
def _routes(ctx: Context) -> None:
    for route in ctx.routes.values():
        if route.path is None:
            continue
        if route.name == "scoring_route":
            if _SCORING.fullmatch(route.path) is None or route.path in _SCORING_NOT_SERVED:
                ctx.route_not_served(route, "vLLM's OpenAI-compatible server", f"Use {_CHAT}")
        elif route.path not in PROBE_PATHS:
            ctx.route_not_served(
                route,
                "vLLM (it answers GET /health once the model is loaded)",
                "Use /health",
            )


def _budget(ctx: Context, probe: str) -> int:
    """initial_delay + failure_threshold x period of a probe (Azure's defaults filled in)."""
    raw = (ctx.deployment or {}).get(probe)
    values = raw if isinstance(raw, dict) else {}
    delay = as_int(values.get("initial_delay")) or 10
    return delay + (as_int(values.get("period")) or 10) * (
        as_int(values.get("failure_threshold")) or 30
    )


def _liveness_budget(ctx: Context) -> None:
    live, ready = ctx.routes.get("liveness_route"), ctx.routes.get("readiness_route")
    if live is None or ready is None or live.path != ready.path or live.path is None:
        return
    live_budget, ready_budget = _budget(ctx, "liveness_probe"), _budget(ctx, "readiness_probe")
    if live_budget < ready_budget:
        ctx.warn(
            "vllm.probe.liveness_first",
            ctx.deployment_file,
            "liveness_probe.initial_delay",
            f"liveness gives up after {live_budget} s (Azure then restarts the container) but "
            f"readiness waits {ready_budget} s: vLLM answers {live.path} only once the model is "
            f"loaded, so a load longer than {live_budget} s restarts it over and over",
            "Give liveness_probe the same initial_delay, period and failure_threshold as "
            "readiness_probe",
        )


def _concurrency(ctx: Context) -> None:
    if max_concurrency(ctx) == 1 and ctx.routes:
        ctx.warn(
            "vllm.concurrency.one",
            ctx.deployment_file,
            "request_settings.max_concurrent_requests_per_instance",
            "max_concurrent_requests_per_instance is 1: vLLM batches concurrent requests, so "
            "one at a time leaves the GPU mostly idle (Azure answers 429 beyond 2 in flight)",
            "Raise it (e.g. 16) and size it with `scaffold loadtest`",
        )


def _instance(ctx: Context) -> instances.InstanceType | None:
    name = (ctx.deployment or {}).get("instance_type")
    return instances.lookup(name) if isinstance(name, str) else None


# --- the model -----------------------------------------------------------------------------
def _model(ctx: Context, args: VllmArgs) -> hfmodel.HfModel | None:
    """The Hugging Face folder the command serves, read from the project (None when it is
    a registered model, a Hub id or not known)."""
    value = args.model
    if not value and _runs_vllm(ctx):
        ctx.warn(
            "vllm.model.none",
            ctx.dockerfile.rel if ctx.dockerfile else ctx.deployment_file,
            "",
            "the container runs vLLM without a model, so it serves its default model, "
            "downloaded from the Hugging Face Hub at every start",
            "Pass the folder Azure mounts: vllm serve $AZUREML_MODEL_DIR/<folder> (a shell-form "
            "CMD or a start script expands the variable)",
        )
    if not value or "$" in value:
        return None
    if not value.startswith("/"):
        if re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            ctx.warn(
                "vllm.model.hub",
                args.source,
                "",
                f"vLLM serves {value} from the Hugging Face Hub: every start downloads it "
                "(network, a token for gated models) instead of using the model Azure mounts",
                "Register the model folder with the deployment (model.path) and pass its "
                "mount path",
            )
        return None
    local = ctx.resolve_container_path(value)
    mounted = ctx.model
    if local is None or not local.is_dir():
        if mounted is not None and mounted.local is not None and mounted.mount_known:
            ctx.error(
                "vllm.model.not_found",
                args.source,
                "",
                f"vLLM loads the model from {value}, but Azure mounts "
                f"{ctx.rel(mounted.local)} at {mounted.container_path}",
                f"Point the model at {mounted.container_path} (MODEL_FOLDER "
                f"{mounted.local.name} in {ctx.deployment_file})",
            )
        return None
    try:
        model = hfmodel.read_model(local)
    except hfmodel.HfModelError as error:
        ctx.error(
            "vllm.model.invalid",
            ctx.rel(local),
            "",
            f"{ctx.rel(local)} is not a model vLLM can load: {error}",
            "Put the Hugging Face model folder there (config.json, tokenizer, "
            "*.safetensors, as save_pretrained writes it)",
        )
        return None
    _model_files(ctx, args, model)
    return model


def _model_files(ctx: Context, args: VllmArgs, model: hfmodel.HfModel) -> None:
    rel = ctx.rel(model.path)
    if not model.tokenizer_files and "--tokenizer" not in args:
        ctx.error(
            "vllm.model.tokenizer",
            rel,
            "",
            f"{rel} has no tokenizer (tokenizer.json or tokenizer.model): vLLM fails to start",
            "Save the tokenizer into the folder (tokenizer.save_pretrained)",
        )
    if not model.architectures:
        ctx.error(
            "vllm.model.architectures",
            f"{rel}/config.json",
            "architectures",
            "config.json names no architectures, so vLLM cannot pick a model class",
            "Save the model with save_pretrained(), which writes them",
        )
    chat = any(r.path == _CHAT for r in ctx.routes.values() if r.name == "scoring_route")
    if chat and not model.chat_template and "--chat-template" not in args:
        ctx.error(
            "vllm.model.chat_template",
            rel,
            "",
            f"{rel} has no chat template, so every request to {_CHAT} answers HTTP 400",
            "Add chat_template.jinja to the model folder (or pass --chat-template), or score "
            "/v1/completions instead",
        )


def _max_model_len(ctx: Context, args: VllmArgs, model: hfmodel.HfModel) -> int:
    derived, key = model.derived_max_len()
    given = as_int(args.get("--max-model-len"))
    allowed = ctx.container_env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "") in ("1", "true")
    if given is not None and derived is not None and given > derived and not allowed:
        file, where = ctx.env_source("MAX_MODEL_LEN")
        if "MAX_MODEL_LEN" not in ctx.container_env:
            file, where = args.source, ""
        ctx.error(
            "vllm.max_model_len",
            file,
            where,
            f"max_model_len {given} is longer than the model's {derived} ({key} in "
            f"{ctx.rel(model.path)}/config.json): vLLM refuses to start",
            f"Use at most {derived}",
        )
    return given or derived or 2048


def _tensor_parallel(
    ctx: Context,
    args: VllmArgs,
    tp: int,
    instance: instances.InstanceType | None,
    model: hfmodel.HfModel | None,
) -> None:
    file, where = ctx.env_source("TENSOR_PARALLEL_SIZE")
    if "TENSOR_PARALLEL_SIZE" not in ctx.container_env:
        file, where = args.source or ctx.deployment_file, ""
    heads = model.num_attention_heads if model is not None else None
    if heads and heads % tp:
        ctx.error(
            "vllm.tensor_parallel.heads",
            file,
            where,
            f"tensor_parallel_size {tp} does not divide the model's {heads} attention heads: "
            "vLLM refuses to start",
            f"Use a divisor of {heads}",
        )
    if instance is None or not instance.has_gpu:
        return
    gpus = max(1, int(instance.gpus))
    if tp > gpus:
        ctx.error(
            "vllm.tensor_parallel.gpus",
            file,
            where,
            f"tensor_parallel_size {tp} needs {tp} GPUs but {instance.name} has {gpus}",
            f"Use at most {gpus}, or an instance type with {tp} GPUs",
        )
    elif tp < gpus and not (heads and heads % gpus):
        ctx.warn(
            "vllm.tensor_parallel.unused",
            file,
            where,
            f"tensor_parallel_size {tp} uses {tp} of the {gpus} GPUs of {instance.name}; "
            "the others are paid for and idle",
            f"Use {gpus}, or a smaller instance type",
        )


def _dtype(
    ctx: Context,
    args: VllmArgs,
    instance: instances.InstanceType | None,
    model: hfmodel.HfModel | None,
) -> None:
    capability = instances.gpu_compute_capability(instance.gpu_model) if instance else None
    if instance is None or capability is None:
        return
    if capability < hfmodel.MIN_COMPUTE_CAPABILITY:
        ctx.error(
            "vllm.gpu.unsupported",
            ctx.deployment_file,
            "instance_type",
            f"{instance.name} has {instance.gpu_model} GPUs (compute capability "
            f"{capability:g}); vLLM's CUDA build needs {hfmodel.MIN_COMPUTE_CAPABILITY:g} or more",
            "Choose a T4, A10, A100 or H100 instance type",
        )
        return
    dtype = args.get("--dtype", "auto") or "auto"
    if capability >= hfmodel.BF16_COMPUTE_CAPABILITY:
        return
    if dtype == "bfloat16":
        file, where = ctx.env_source("DTYPE")
        if "DTYPE" not in ctx.container_env:
            file, where = args.source, ""
        ctx.error(
            "vllm.dtype.bfloat16",
            file,
            where,
            f"dtype bfloat16 does not run on the {instance.gpu_model} GPUs of {instance.name} "
            f"(compute capability {capability:g}; bfloat16 needs 8.0): vLLM refuses to start",
            "Use float16 (or auto), or an A100/H100 instance type",
        )
    elif dtype == "auto" and model is not None and model.dtype == "bfloat16":
        ctx.warn(
            "vllm.dtype.fallback",
            ctx.deployment_file,
            "instance_type",
            f"the model is bfloat16 but the {instance.gpu_model} GPUs of {instance.name} have "
            "no bfloat16: vLLM falls back to float16, which can overflow for some models",
            "Check the answers, or use an A100/H100 instance type",
        )


def _memory(
    ctx: Context,
    args: VllmArgs,
    model: hfmodel.HfModel,
    instance: instances.InstanceType | None,
    tp: int,
    max_len: int,
) -> None:
    if instance is None or not instance.has_gpu:
        return
    utilization = _float(args.get("--gpu-memory-utilization"), 0.9)
    fit = hfmodel.estimate(
        model,
        gpus=instance.gpus,
        gpu_memory_gib=instance.gpu_memory_gib,
        tensor_parallel_size=tp,
        gpu_memory_utilization=utilization,
        dtype=args.get("--dtype", "auto") or "auto",
    )
    if not fit.weights_fit:
        ctx.error(
            "vllm.memory.weights",
            ctx.deployment_file,
            "instance_type",
            f"the weights ({fit.weights_gib:.1f} GiB per GPU with tensor_parallel_size {tp}) "
            f"do not fit the {fit.usable_gib:.1f} GiB vLLM may use per GPU of "
            f"{instance.name} (gpu_memory_utilization {utilization:g})",
            "Choose an instance type with more GPU memory, split the model across more GPUs, "
            "or serve a quantized model",
        )
        return
    if fit.kv_tokens is not None and fit.kv_tokens < max_len:
        ctx.warn(
            "vllm.memory.kv_cache",
            ctx.deployment_file,
            "instance_type",
            f"by estimate, the KV cache left on {instance.name} after the weights holds about "
            f"{fit.kv_tokens} tokens, fewer than max_model_len {max_len}: vLLM then refuses to "
            "start ('larger than the available KV cache memory')",
            "Lower max_model_len, raise gpu_memory_utilization, or use more GPU memory",
        )


def _probes(ctx: Context, model: hfmodel.HfModel) -> None:
    needed = hfmodel.load_delay_seconds(model.weights_bytes)
    budget = _budget(ctx, "liveness_probe")
    if budget < needed:
        gib = model.weights_bytes / hfmodel.GIB
        ctx.warn(
            "vllm.probe.budget",
            ctx.deployment_file,
            "liveness_probe.initial_delay",
            f"Azure restarts the container after {budget} s without a liveness answer, but "
            f"vLLM answers only once {gib:.1f} GiB of weights are loaded (about {needed} s "
            "by estimate)",
            f"Raise initial_delay of both probes to {needed} or more",
        )


def _served_name(ctx: Context, args: VllmArgs) -> None:
    names = args.served_names or ([args.model] if args.model else [])
    sample = ctx.root / "sample_request.json"
    text = ctx.read(sample) if sample.is_file() else None
    if not names or text is None or any("$" in n for n in names):
        return
    try:
        body: Any = json.loads(text)
    except ValueError:
        return  # reported by the sample checks
    asked = body.get("model") if isinstance(body, dict) else None
    if isinstance(asked, str) and asked not in names:
        ctx.error(
            "vllm.served_name.mismatch",
            "sample_request.json",
            "model",
            f"the request asks for model {asked!r} but vLLM serves it as "
            f"{' or '.join(repr(n) for n in names)}: it answers 404 'The model does not exist'",
            f'Use "model": {json.dumps(names[0])} (or change SERVED_MODEL_NAME)',
        )


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        return default
