"""vLLM model adapter: a Hugging Face model folder (config.json, tokenizer, *.safetensors).

The folder is copied as is into the project's model folder, which Azure mounts read-only
and the start script passes to `vllm serve`. Nothing is loaded (no torch, no transformers):
the settings come from config.json, the weights' size and the instance type
(scaffold.hfmodel), each a default the user's own answers override:

- max_model_len: the longest sequence vLLM derives from config.json, capped to what the KV
  cache of the instance type's GPUs holds;
- tensor_parallel_size: the GPUs of the instance type, lowered to a divisor of the
  attention heads; when the weights do not fit the default instance type, the smallest
  A100/H100 size they fit is chosen (never when --instance-type was given);
- probe_initial_delay: sized from the weights;
- max_concurrent_requests_per_instance: the sequences of 2048 tokens (max_model_len if
  shorter) the KV cache holds at once, at most 128;
- served_model_name: the folder's name.

A model without a chat template gets a plain one (messages joined as text) in its copy, so
chat completions answer instead of HTTP 400; instruct models bring their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaffold import hfmodel, instances
from scaffold.errors import UsageError
from scaffold.usermodel import ModelFile, Prepared, model_dir, remove
from scaffold.usermodel.modelenv import ModelEnv

SERVER = "vllm"
#: Sample files of the template that the user's model replaces.
SAMPLE_FILES = ("model-src/make_model.py",)
#: The chat template given to models without one: each message's text on its own line.
PLAIN_CHAT_TEMPLATE = "{%- for message in messages -%}{{ message['content'] }}\n{% endfor -%}"
#: GPU families searched (smallest first) when the weights do not fit the default size.
LARGER_FAMILIES = ("NCadsA100v4", "NDamsrA100v4", "NCadsH100v5", "NDisrH100v5")
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def _facts() -> dict[str, Any]:
    import json

    from scaffold.servers import facts_file

    table: dict[str, Any] = json.loads(facts_file().read_text(encoding="utf-8"))[SERVER]
    return table


def served_name(folder: Path) -> str:
    """A served model name from the folder's name (letters, digits, '_', '-', '.')."""
    name = _NAME.sub("-", folder.name).strip("-.")[:64]
    return name if name[:1].isalpha() else f"model-{name}"[:64].rstrip("-.")


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _float(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    try:
        return float(value) if value is not None and not isinstance(value, bool) else default
    except ValueError:
        return default


def _fitting_tp(heads: int | None, gpus: int) -> int:
    """The largest tensor parallel size up to `gpus` that divides the attention heads."""
    for size in range(max(1, gpus), 0, -1):
        if heads is None or heads % size == 0:
            return size
    return 1


def _pick_instance(model: hfmodel.HfModel, utilization: float, dtype: str) -> str | None:
    """The smallest A100/H100 size whose GPUs hold the weights and a 4096-token KV cache."""
    sizes = [
        t
        for t in instances.instance_types().values()
        if t.series in LARGER_FAMILIES and t.gpus >= 1
    ]
    for size in sorted(sizes, key=lambda t: (t.gpu_memory_gib, t.gpus, t.vcpus)):
        tp = _fitting_tp(model.num_attention_heads, int(size.gpus))
        fit = hfmodel.estimate(
            model,
            gpus=size.gpus,
            gpu_memory_gib=size.gpu_memory_gib,
            tensor_parallel_size=tp,
            gpu_memory_utilization=utilization,
            dtype=dtype,
        )
        if fit.weights_fit and (fit.kv_tokens is None or fit.kv_tokens >= 4096):
            return size.name
    return None


class _Sizing:
    """The settings derived for one model, instance type and the user's answers."""

    def __init__(self, model: hfmodel.HfModel, data: Mapping[str, Any]) -> None:
        facts = _facts()
        self.model = model
        self.notes: list[str] = []
        self.defaults: dict[str, Any] = {}
        self.dtype = str(data.get("dtype") or facts["dtype"])
        self.utilization = _float(data, "gpu_memory_utilization", facts["gpu_memory_utilization"])
        self.instance_name = str(data.get("instance_type") or facts["instance_type"])
        if "instance_type" not in data:
            self._maybe_larger_instance()
        self.instance = instances.lookup(self.instance_name)
        self._check_dtype(data)
        self.tp = self._tensor_parallel(data)
        self.max_len = self._max_model_len(data)
        self._concurrency(facts)
        self.defaults["probe_initial_delay"] = hfmodel.load_delay_seconds(model.weights_bytes)
        self.defaults["served_model_name"] = served_name(model.path)

    def _gpus(self) -> tuple[float, float]:
        size = self.instance
        return (size.gpus, size.gpu_memory_gib) if size is not None else (0.0, 0.0)

    def _maybe_larger_instance(self) -> None:
        size = instances.lookup(self.instance_name)
        if size is None or not size.has_gpu:
            return
        tp = _fitting_tp(self.model.num_attention_heads, int(size.gpus))
        fit = hfmodel.estimate(
            self.model,
            gpus=size.gpus,
            gpu_memory_gib=size.gpu_memory_gib,
            tensor_parallel_size=tp,
            gpu_memory_utilization=self.utilization,
            dtype=self.dtype,
        )
        if fit.weights_fit:
            return
        larger = _pick_instance(self.model, self.utilization, self.dtype)
        weights = self.model.weights_bytes / hfmodel.GIB
        if larger is None:
            self.notes.append(
                f"the weights ({weights:.1f} GiB) fit no single A100/H100 instance type: "
                "quantize the model or serve a smaller one"
            )
            return
        self.instance_name = larger
        self.defaults["instance_type"] = larger
        self.notes.append(
            f"the weights ({weights:.1f} GiB) do not fit the GPUs of {size.name}: "
            f"instance_type is {larger} (pass --instance-type to choose another)"
        )

    def _check_dtype(self, data: Mapping[str, Any]) -> None:
        size = self.instance
        capability = instances.gpu_compute_capability(size.gpu_model) if size else None
        if capability is None:
            return
        if capability < hfmodel.MIN_COMPUTE_CAPABILITY:
            raise UsageError(
                f"--instance-type {size.name if size else ''}: vLLM needs a GPU of compute "
                f"capability {hfmodel.MIN_COMPUTE_CAPABILITY:g} or more (its "
                f"{size.gpu_model if size else ''} has {capability:g}); choose a T4, A10, "
                "A100 or H100 size"
            )
        wants_bf16 = self.dtype == "bfloat16"
        if capability < hfmodel.BF16_COMPUTE_CAPABILITY and wants_bf16 and "dtype" in data:
            raise UsageError(
                f"--dtype bfloat16 does not run on the {size.gpu_model if size else ''} of "
                f"{self.instance_name} (compute capability {capability:g}, bfloat16 needs 8.0);"
                " use --dtype float16 or an A100/H100 instance type"
            )
        if capability < hfmodel.BF16_COMPUTE_CAPABILITY and self.model.dtype == "bfloat16":
            self.defaults["dtype"] = "float16"
            self.notes.append(
                f"the model is bfloat16 but the {size.gpu_model if size else ''} GPUs of "
                f"{self.instance_name} have no bfloat16: dtype is float16"
            )

    def _tensor_parallel(self, data: Mapping[str, Any]) -> int:
        gpus, _ = self._gpus()
        heads = self.model.num_attention_heads
        given = _int(data, "tensor_parallel_size")
        if given is not None:
            if heads and heads % given:
                raise UsageError(
                    f"--tensor-parallel-size {given} does not divide the model's "
                    f"{heads} attention heads (vLLM refuses to start); use a divisor of {heads}"
                )
            return given
        tp = _fitting_tp(heads, int(gpus)) if gpus >= 1 else 1
        self.defaults["tensor_parallel_size"] = tp
        if gpus >= 1 and tp < int(gpus):
            self.notes.append(
                f"tensor_parallel_size is {tp}, not {int(gpus)}: the model's {heads} attention "
                f"heads do not split across {int(gpus)} GPUs"
            )
        return tp

    def _estimate(self) -> hfmodel.GpuEstimate | None:
        gpus, memory = self._gpus()
        if not gpus:
            return None
        return hfmodel.estimate(
            self.model,
            gpus=gpus,
            gpu_memory_gib=memory,
            tensor_parallel_size=self.tp,
            gpu_memory_utilization=self.utilization,
            dtype=self.dtype,
        )

    def _max_model_len(self, data: Mapping[str, Any]) -> int:
        derived, key = self.model.derived_max_len()
        given = _int(data, "max_model_len")
        if given is not None:
            if derived is not None and given > derived:
                raise UsageError(
                    f"--max-model-len {given} is longer than the model's {derived} ({key} in "
                    "config.json): vLLM refuses to start; use at most "
                    f"{derived}"
                )
            return given
        length = derived or 2048
        if derived is None:
            self.notes.append(
                "config.json names no maximum length (max_position_embeddings): "
                "max_model_len is 2048, vLLM's assumption; set --max-model-len to the model's"
            )
        fit = self._estimate()
        if fit is not None and fit.kv_tokens is not None and fit.kv_tokens < length:
            capped = 1 << max(4, fit.kv_tokens.bit_length() - 1) if fit.kv_tokens >= 16 else 16
            capped = min(capped, length)
            self.notes.append(
                f"max_model_len is {capped}, not the model's {length}: the KV cache of "
                f"{self.instance_name} holds about {fit.kv_tokens} tokens (an estimate; "
                "raise it with --max-model-len if the server's log shows room)"
            )
            length = capped
        self.defaults["max_model_len"] = length
        return length

    def _concurrency(self, facts: Mapping[str, Any]) -> None:
        fit = self._estimate()
        default = int(facts["max_concurrent_requests_per_instance"])
        if fit is None:
            return
        if not fit.weights_fit:
            self.notes.append(
                f"the weights ({fit.weights_gib:.1f} GiB per GPU) do not fit the "
                f"{fit.usable_gib:.1f} GiB usable per GPU of {self.instance_name}: choose a "
                "larger instance type or a quantized model (`scaffold validate` reports it)"
            )
            return
        self.defaults["max_concurrent_requests_per_instance"] = hfmodel.concurrency_for(
            fit, self.max_len, default
        )


def prepare(model: ModelFile) -> Prepared:
    folder = model.path
    data: Mapping[str, Any] = model.answers
    try:
        hf = hfmodel.read_model(folder)
    except hfmodel.HfModelError as error:
        raise UsageError(f"--model {folder.name}: {error}") from None
    if not hf.tokenizer_files:
        raise UsageError(
            f"--model {folder.name}: no tokenizer (tokenizer.json or tokenizer.model) in the "
            "folder; save it with tokenizer.save_pretrained() next to the weights"
        )
    if not hf.architectures:
        raise UsageError(
            f"--model {folder.name}: config.json names no architectures, so vLLM cannot pick "
            "a model class; save the model with save_pretrained()"
        )
    sizing = _Sizing(hf, data)
    notes = list(sizing.notes)
    if hf.weight_format != "safetensors":
        notes.append(
            f"the weights are {hf.weight_files[0].suffix} files (pickle): vLLM loads them, but "
            "safetensors load faster and run no code; convert with save_pretrained()"
        )
    add_template = not hf.chat_template
    if add_template:
        notes.append(
            "the model has no chat template (a base model?): model/chat_template.jinja joins "
            "the messages as plain text so /v1/chat/completions answers; /v1/completions "
            "takes plain prompts too"
        )
    weights = hf.weights_bytes / hfmodel.GIB

    def finish(project: Path, answers: Mapping[str, Any], env: ModelEnv) -> list[str]:
        target = model_dir(project, answers)
        remove(project, target.relative_to(project).as_posix(), *SAMPLE_FILES)
        env.place(folder, target)
        if add_template:
            (target / "chat_template.jinja").write_text(PLAIN_CHAT_TEMPLATE, encoding="utf-8")
        rel = target.relative_to(project).as_posix()
        return [
            f"{rel}/ holds the Hugging Face model {folder.name} ({weights:.2f} GiB of weights), "
            f"served as {answers.get('served_model_name')} with max_model_len "
            f"{answers.get('max_model_len')} on {answers.get('instance_type')} "
            f"(tensor_parallel_size {answers.get('tensor_parallel_size')})",
        ]

    return Prepared(defaults=sizing.defaults, finish=finish, notes=notes, source=folder)
