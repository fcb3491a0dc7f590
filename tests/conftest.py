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


def suite_task(name: str, n: int, split: str = "train") -> TaskData:
    """A real suite task (see benchmarks/suite/README.md for its source), capped to ``n``."""
    return cap_examples(load_task(SUITE_DATA / name / f"{split}.jsonl.gz", name=name), n, seed=0)
