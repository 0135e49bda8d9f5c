#!/usr/bin/env python3
"""Re-create the sample model in model/: a tiny Llama with random weights, made locally.

It is the plumbing test of this project, not a language model: it answers chat requests with
random tokens, quickly, on a GPU or a CPU. Nothing is downloaded: a byte-level BPE tokenizer
is trained on the text below, wrapped as a Hugging Face fast tokenizer with a chat template,
and a 2-layer Llama (head size 64, so vLLM's attention kernels take it) is initialised from
a fixed seed and saved as safetensors, the layout `vllm serve` loads:

    model/config.json  generation_config.json  model.safetensors
    model/tokenizer.json  tokenizer_config.json  special_tokens_map.json  chat_template.jinja

Needs: pip install torch transformers tokenizers   (then: python model-src/make_model.py)
Replace model/ with your own Hugging Face model folder to serve it (or regenerate the
project with `scaffold new --server vllm --model PATH`).
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

#: Training text for the tokenizer (any text works; this keeps the script self-contained).
CORPUS = """
Azure Machine Learning managed online endpoints serve models from custom containers.
The container answers liveness and readiness probes, then scoring requests on its routes.
vLLM is a fast and easy to use library for large language model inference and serving.
It batches requests continuously and pages the attention key value cache in blocks.
The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.
How vexingly quick daft zebras jump! Sphinx of black quartz, judge my vow.
User: What is the capital of France? Assistant: The capital of France is Paris.
System: You are a helpful assistant. User: Say hello. Assistant: Hello! How can I help?
0 1 2 3 4 5 6 7 8 9 10 100 1000 2026 3.14 42 -1 +1 = < > ( ) [ ] { } , . ; : ! ? ' " /
"""
#: A ChatML-style template: what most chat models use, and what vLLM renders for /v1/chat.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<s>' + message['role'] + '\\n' + message['content'] + '</s>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<s>assistant\\n' }}{% endif %}"
)
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def make_tokenizer(vocab_size: int):  # type: ignore[no-untyped-def]
    """A byte-level BPE tokenizer trained on CORPUS, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS.splitlines() * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=None,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_model(
    folder: Path,
    *,
    vocab_size: int = 512,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 2,
    max_positions: int = 512,
    dtype: str = "bfloat16",
    seed: int = 0,
) -> Path:
    """Write the tiny model to `folder` (created) and return it."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = make_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=16,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    for path in folder.iterdir():  # save_pretrained writes 0600; containers run as others
        mode = stat.S_IMODE(path.stat().st_mode)
        os.chmod(path, mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = Path(__file__).resolve().parent.parent
    parser.add_argument("folder", nargs="?", type=Path, default=here / "model")
    parser.add_argument("--max-positions", type=int, default=512)
    args = parser.parse_args()
    print(make_model(args.folder, max_positions=args.max_positions))


if __name__ == "__main__":
    main()
