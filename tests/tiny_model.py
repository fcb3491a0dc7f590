"""A tiny real model folder on disk, so CLI tests can run whole commands in seconds.

A 2-layer BERT (hidden 16) with seeded random weights and the packaged MiniLM's tokenizer
files, saved as a Hugging Face folder: ``--surrogate FOLDER`` loads it like any user's model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def write_tiny_model(folder: Path) -> Path:
    """Write the tiny BERT folder (config.json, model.safetensors, tokenizer) and return it."""
    import torch
    from transformers import BertConfig, BertModel

    from fute.surrogate import packaged_model_dir

    packaged = packaged_model_dir("all-MiniLM-L6-v2")
    config = BertConfig(
        vocab_size=30522,  # the packaged tokenizer's vocabulary
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(packaged / name, folder / name)
    return folder
