"""Shared fixtures: the real packaged surrogate (loaded once) and real suite tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from fute.data import TaskData, cap_examples, load_task
from fute.surrogate import Surrogate, load_surrogate

ROOT = Path(__file__).resolve().parent.parent
SUITE_DATA = ROOT / "benchmarks" / "suite" / "data"


@pytest.fixture(scope="session")
def surrogate() -> Surrogate:
    """The packaged all-MiniLM-L6-v2, loaded from site-packages (no hub)."""
    return load_surrogate()


def tiny_surrogate(base: Surrogate) -> Surrogate:
    """A 2-layer random BERT (hidden 16) with the real tokenizer: for logic tests that train.

    Built from a fixed seed, so every test that calls it gets the same weights.
    """
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=base.tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertModel(config).eval()
    return Surrogate("tiny", base.folder, config, base.tokenizer, "0" * 64, model)


def suite_task(name: str, n: int, split: str = "train") -> TaskData:
    """A real suite task (see benchmarks/suite/README.md for its source), capped to ``n``."""
    return cap_examples(load_task(SUITE_DATA / name / f"{split}.jsonl.gz", name=name), n, seed=0)
