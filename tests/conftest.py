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
    from tiny_model import tiny_bert

    model = tiny_bert(base.tokenizer.vocab_size)
    return Surrogate("tiny", base.folder, model.config, base.tokenizer, "0" * 64, model)


@pytest.fixture(scope="module")
def tiny_folder(surrogate: Surrogate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`tiny_surrogate` saved as a model folder, for the CLI's ``--surrogate``."""
    folder = tmp_path_factory.mktemp("tiny-surrogate")
    tiny = tiny_surrogate(surrogate)
    tiny.fresh_backbone().save_pretrained(folder)  # type: ignore[operator]
    tiny.tokenizer.save_pretrained(folder)
    return folder


def suite_task(name: str, n: int, split: str = "train") -> TaskData:
    """A real suite task (see benchmarks/suite/README.md for its source), capped to ``n``."""
    return cap_examples(load_task(SUITE_DATA / name / f"{split}.jsonl.gz", name=name), n, seed=0)
