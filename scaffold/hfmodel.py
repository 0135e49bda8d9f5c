"""A Hugging Face model folder as an LLM server loads it: config, weights, tokenizer, chat
template, and what follows for serving it (longest sequence, KV cache, GPU memory, load
time).

Read without transformers or torch (plain JSON and file sizes), so `scaffold new --model`
and `scaffold validate` work on a machine that has neither. The rules follow vLLM 0.32's own
(`vllm/config/model.py`, `model_arch_config_convertor.py`, `platforms/cuda.py`): the derived
maximum length, the attention-head divisibility for tensor parallelism, bfloat16 only from
compute capability 8.0. Memory figures are estimates (activations and CUDA graphs are an
allowance, not measured) and are reported as such.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Files a model's weights come in, most preferred first (vLLM's load_format "auto" order).
WEIGHT_PATTERNS = (("safetensors", "*.safetensors"), ("pytorch", "*.bin"), ("pytorch", "*.pt"))
#: Tokenizer files, any of which makes a tokenizer transformers (or vLLM's Mistral mode)
#: can load.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "tekken.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tiktoken.model",
)
#: config.json keys vLLM reads the model's longest sequence from (the smallest wins).
MAX_LEN_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
#: RoPE scaling types whose max_position_embeddings is already the scaled one.
_PRESCALED_ROPE = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling"}
#: Bytes per element of the data types config.json names.
DTYPE_BYTES = {
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
}
#: Larger JSON files are not a config.json or tokenizer_config.json.
JSON_LIMIT = 8 << 20
GIB = 1 << 30
#: GPU memory per GPU that the weights and the KV cache cannot use (CUDA context, activations
#: of a full batch, CUDA graphs): an allowance, not a measurement.
RUNTIME_ALLOWANCE_GIB = 2.0
#: Concurrency sizing: sequences of this many tokens (or max_model_len if shorter) that the
#: KV cache holds at once, at most MAX_CONCURRENCY (vLLM batches up to --max-num-seqs, 256,
#: but Azure queues what exceeds the setting: measure with `scaffold loadtest`).
TYPICAL_SEQUENCE = 2048
MAX_CONCURRENCY = 128
#: Minimum compute capability vLLM's CUDA image has kernels for, and bfloat16 needs.
MIN_COMPUTE_CAPABILITY = 7.0
BF16_COMPUTE_CAPABILITY = 8.0
#: Probe delay sizing: engine start (compilation, CUDA graphs) plus reading the weights.
LOAD_BASE_SECONDS = 120
LOAD_SECONDS_PER_GIB = 3


class HfModelError(ValueError):
    """The folder is not a model an LLM server can load (the message says why)."""


@dataclass(frozen=True)
class HfModel:
    """A Hugging Face model folder as read from disk."""

    path: Path
    config: dict[str, Any]
    weight_format: str
    weight_files: tuple[Path, ...]
    weights_bytes: int
    tokenizer_files: tuple[str, ...]
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    #: Where the chat template comes from ("chat_template.jinja", "tokenizer_config.json",
    #: ...), "" when the model has none (chat completions then answer 400).
    chat_template: str = ""

    # -- config.json, as vLLM reads it --------------------------------------------------
    @property
    def text_config(self) -> dict[str, Any]:
        """The language model's config (multimodal models nest it as text_config)."""
        nested = self.config.get("text_config") or self.config.get("llm_config")
        return nested if isinstance(nested, dict) else self.config

    def _int(self, *keys: str) -> int | None:
        for source in (self.text_config, self.config):
            for key in keys:
                value = source.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
        return None

    @property
    def architectures(self) -> list[str]:
        value = self.config.get("architectures")
        return [str(a) for a in value] if isinstance(value, list) else []

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type") or "")

    @property
    def num_layers(self) -> int | None:
        return self._int("num_hidden_layers", "n_layer", "num_layers", "n_layers")

    @property
    def num_attention_heads(self) -> int | None:
        return self._int("num_attention_heads", "n_head", "num_heads", "n_heads")

    @property
    def num_kv_heads(self) -> int | None:
        return self._int("num_key_value_heads", "n_head_kv", "num_kv_heads") or (
            self.num_attention_heads
        )

    @property
    def head_dim(self) -> int | None:
        explicit = self._int("head_dim")
        if explicit:
            return explicit
        hidden, heads = self._int("hidden_size", "n_embd", "d_model"), self.num_attention_heads
        return hidden // heads if hidden and heads else None

    @property
    def dtype(self) -> str:
        """The weights' data type config.json names ("" when it names none)."""
        for source in (self.text_config, self.config):
            for key in ("torch_dtype", "dtype"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    return value.removeprefix("torch.")
        return ""

    @property
    def quantization(self) -> str:
        """The quantization method of a quantized checkpoint ("" when not quantized)."""
        quant = self.config.get("quantization_config")
        if isinstance(quant, dict):
            return str(quant.get("quant_method") or "quantized")
        return ""

    def derived_max_len(self) -> tuple[int | None, str]:
        """The longest sequence vLLM derives from the config (and the key it came from),
        rope scaling and the tokenizer's model_max_length included; (None, "") when the
        config names none (vLLM then assumes 2048)."""
        config = self.text_config
        found: float = math.inf
        key = ""
        for name in MAX_LEN_KEYS:
            value = config.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < found:
                found, key = value, name
        if isinstance(config.get("model_max_length"), int | float):
            found, key = config["model_max_length"], "model_max_length"
        tokenizer_max = self.tokenizer_config.get("model_max_length")
        if isinstance(tokenizer_max, int | float) and tokenizer_max < found:
            found, key = tokenizer_max, "model_max_length in tokenizer_config.json"
        if found == math.inf:
            return None, ""
        factor = self._rope_factor()
        if factor != 1.0:
            key += f" x rope scaling factor {factor:g}"
        return int(found * factor), key

    def _rope_factor(self) -> float:
        if "gemma3" in self.model_type:
            return 1.0
        config = self.text_config
        rope = config.get("rope_scaling") or config.get("rope_parameters")
        if not isinstance(rope, dict):
            return 1.0
        layers = rope.values() if all(isinstance(v, dict) for v in rope.values()) else [rope]
        factor = 1.0
        for entry in layers:
            if not isinstance(entry, dict):
                continue
            kind = entry.get("rope_type") or entry.get("type") or "default"
            value = entry.get("factor")
            if kind not in _PRESCALED_ROPE and isinstance(value, int | float) and value > 0:
                factor = float(value)
        return factor

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int | None:
        """KV cache bytes one token takes across all layers (all GPUs together)."""
        layers = self.num_layers
        lora_rank = self._int("kv_lora_rank")
        if layers and lora_rank:  # multi-head latent attention (DeepSeek): one latent per layer
            rope = self._int("qk_rope_head_dim") or 0
            return layers * (lora_rank + rope) * dtype_bytes
        kv_heads, head_dim = self.num_kv_heads, self.head_dim
        if not (layers and kv_heads and head_dim):
            return None
        return 2 * layers * kv_heads * head_dim * dtype_bytes


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        if path.stat().st_size > JSON_LIMIT:
            raise HfModelError(f"{what} is larger than 8 MiB; not a {path.name}")
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        if isinstance(error, HfModelError):
            raise
        reason = error.strerror if isinstance(error, OSError) else "not valid JSON"
        raise HfModelError(f"{what} cannot be read ({reason})") from None
    if not isinstance(loaded, dict):
        raise HfModelError(f"{what} is not a JSON object")
    return loaded


def _indexed(folder: Path, fmt: str) -> tuple[Path, ...]:
    """The shards a `*.index.json` names (Mistral's repos also hold a consolidated copy of
    the same weights, which vLLM does not load by default)."""
    name = (
        "model.safetensors.index.json" if fmt == "safetensors" else "pytorch_model.bin.index.json"
    )
    index = folder / name
    if not index.is_file():
        return ()
    try:
        weight_map = _read_json(index, name).get("weight_map")
    except HfModelError:
        return ()
    if not isinstance(weight_map, dict):
        return ()
    shards = {folder / str(shard) for shard in weight_map.values()}
    return tuple(sorted(p for p in shards if p.is_file()))


def _weights(folder: Path) -> tuple[str, tuple[Path, ...]]:
    for fmt, pattern in WEIGHT_PATTERNS:
        indexed = _indexed(folder, fmt)
        if indexed:
            return fmt, indexed
        files = tuple(sorted(p for p in folder.glob(pattern) if p.is_file()))
        if fmt == "pytorch":
            files = tuple(p for p in files if not p.name.startswith("training_args"))
        if files:
            return fmt, files
    return "", ()


def _chat_template(folder: Path, tokenizer_config: dict[str, Any]) -> str:
    for name in ("chat_template.jinja", "chat_template.json"):
        if (folder / name).is_file():
            return name
    if (folder / "additional_chat_templates").is_dir():
        return "additional_chat_templates/"
    if tokenizer_config.get("chat_template"):
        return "tokenizer_config.json"
    return ""


def read_model(folder: Path, *, need_weights: bool = True) -> HfModel:
    """Read `folder` as a Hugging Face model folder; HfModelError (message naming the
    missing part) when it is not one an LLM server can load."""
    if not folder.is_dir():
        if folder.suffix == ".gguf":
            raise HfModelError(
                "a single .gguf file is not a Hugging Face model folder; serve the original "
                "folder (config.json, tokenizer, *.safetensors)"
            )
        raise HfModelError(
            "a Hugging Face model is a folder with config.json, tokenizer files and "
            "*.safetensors (as save_pretrained writes it)"
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        hint = ""
        if any(folder.glob("*/config.json")):
            inner = next(folder.glob("*/config.json")).parent.name
            hint = f" (it is in {inner}/: pass that folder)"
        elif (folder / "MLmodel").is_file():
            hint = " (this is an MLflow model: use --server mlflow)"
        raise HfModelError(f"no config.json in the folder{hint}")
    config = _read_json(config_path, "config.json")
    fmt, files = _weights(folder)
    if need_weights and not files:
        if any(folder.glob("*.gguf")):
            raise HfModelError(
                "the folder holds .gguf weights only; vLLM serves Hugging Face weights "
                "(*.safetensors): use the original model folder"
            )
        raise HfModelError("no weights (*.safetensors) in the folder")
    tokenizer_config: dict[str, Any] = {}
    if (folder / "tokenizer_config.json").is_file():
        tokenizer_config = _read_json(folder / "tokenizer_config.json", "tokenizer_config.json")
    tokenizers = tuple(name for name in TOKENIZER_FILES if (folder / name).is_file())
    tokenizers += tuple(sorted(p.name for p in folder.glob("*.tiktoken")))
    return HfModel(
        path=folder,
        config=config,
        weight_format=fmt,
        weight_files=files,
        weights_bytes=sum(p.stat().st_size for p in files),
        tokenizer_files=tokenizers,
        tokenizer_config=tokenizer_config,
        chat_template=_chat_template(folder, tokenizer_config),
    )


# -- serving estimates ----------------------------------------------------------------------


def dtype_bytes(model: HfModel, dtype: str = "auto") -> int:
    """Bytes per activation/KV element for `dtype` ("auto": float32 models run in 16 bit,
    as vLLM does on GPUs)."""
    chosen = model.dtype if dtype == "auto" else dtype
    size = DTYPE_BYTES.get(chosen, 2)
    return 2 if dtype == "auto" and size > 2 else size


@dataclass(frozen=True)
class GpuEstimate:
    """How a model fits the GPUs of an instance type (estimates, per GPU where noted)."""

    gpus: int
    gpu_memory_gib: float
    #: Memory per GPU the server may use (gpu_memory_utilization x GPU memory).
    usable_gib: float
    weights_gib: float
    #: KV cache left per GPU after weights and the runtime allowance (negative: none).
    kv_gib: float
    #: Tokens the KV cache holds in all (None when config.json does not say its shape).
    kv_tokens: int | None

    @property
    def weights_fit(self) -> bool:
        return self.weights_gib < self.usable_gib

    def max_concurrency(self, max_model_len: int) -> int:
        """Sequences of max_model_len tokens the KV cache holds at once (vLLM logs this as
        its maximum concurrency), at least 0."""
        if not self.kv_tokens or max_model_len < 1:
            return 0
        return self.kv_tokens // max_model_len


def estimate(
    model: HfModel,
    *,
    gpus: float,
    gpu_memory_gib: float,
    tensor_parallel_size: int = 1,
    gpu_memory_utilization: float = 0.9,
    dtype: str = "auto",
) -> GpuEstimate:
    """Weights and KV cache per GPU when `model` runs split across `tensor_parallel_size` of
    the instance's GPUs (a fractional GPU counts as one device with its share of memory)."""
    devices = max(1, int(gpus))
    per_gpu = gpu_memory_gib / devices if gpus >= 1 else gpu_memory_gib
    split = max(1, tensor_parallel_size)
    usable = per_gpu * gpu_memory_utilization
    weights = model.weights_bytes / GIB / split
    kv = usable - weights - RUNTIME_ALLOWANCE_GIB
    per_token = model.kv_bytes_per_token(dtype_bytes(model, dtype))
    tokens = int(max(0.0, kv) * GIB * split / per_token) if per_token else None
    return GpuEstimate(split, per_gpu, usable, weights, kv, tokens)


def load_delay_seconds(weights_bytes: int) -> int:
    """Seconds before the first probe for a model of this size: the engine's start
    (compilation, CUDA graphs) plus reading the weights, rounded up to 10 s."""
    seconds = LOAD_BASE_SECONDS + LOAD_SECONDS_PER_GIB * weights_bytes / GIB
    return min(3600, math.ceil(round(seconds) / 10.0) * 10)


def concurrency_for(estimate_: GpuEstimate, max_model_len: int, default: int) -> int:
    """max_concurrent_requests_per_instance for vLLM's batching: the sequences of
    TYPICAL_SEQUENCE tokens (max_model_len if shorter) that fit the KV cache at once, at
    least 1 and at most MAX_CONCURRENCY, or `default` when the fit cannot be estimated."""
    if not estimate_.kv_tokens:
        return default
    fit = estimate_.max_concurrency(min(max_model_len, TYPICAL_SEQUENCE))
    return max(1, min(MAX_CONCURRENCY, fit))
