"""A tiny real model folder on disk, so CLI tests can run whole commands in seconds.

A 2-layer BERT (hidden 16) with seeded random weights and the packaged MiniLM's tokenizer
files, saved as a Hugging Face folder: ``--surrogate FOLDER`` loads it like any user's model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import BertModel

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def tiny_bert(vocab_size: int, max_positions: int = 512) -> BertModel:
    """The 2-layer BERT (hidden 16) with random weights from a fixed seed, in eval mode.

    Every caller gets the same weights for the same arguments; the global RNG is left as
    it was.
    """
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_positions,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return BertModel(config).eval()


def write_tiny_model(folder: Path) -> Path:
    """Write the tiny BERT folder (config.json, model.safetensors, tokenizer) and return it."""
    from fute.surrogate import packaged_model_dir

    packaged = packaged_model_dir("all-MiniLM-L6-v2")
    # 30522: the packaged tokenizer's vocabulary
    tiny_bert(30522, max_positions=128).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(packaged / name, folder / name)
    return folder


def embed_model_argv(spec: str, out: Path, surrogate: Path, *extra: str) -> list[str]:
    """``fute embed-model SPEC -o OUT`` on the tiny surrogate folder, at sizes that fit it
    (FIM ``dim=128``, 32 tokens), quiet; ``extra`` adds U's size, the cache and the rest."""
    return [
        "embed-model",
        spec,
        "-o",
        str(out),
        "--surrogate",
        str(surrogate),
        "--set",
        "dim=128",
        "--set",
        "max_length=32",
        "-q",
        *extra,
    ]
