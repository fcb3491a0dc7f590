"""Deterministic caps and train/dev splits.

The dev split is chosen by hashing each example's text with the seed, so an example stays
on its side when other examples are added or the file is reordered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from fute.data.records import Example, TaskData
from fute.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """A task cut into a training part and a development part (for early stopping)."""

    train: TaskData
    dev: TaskData


def _unit_hash(example: Example, seed: int) -> float:
    key = f"{seed}\x00{example.text}\x00{example.text_pair or ''}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64


def cap_examples(task: TaskData, max_examples: int | None, seed: int = 0) -> TaskData:
    """At most ``max_examples`` examples, a seeded random subset in original order."""
    if max_examples is None or len(task.examples) <= max_examples:
        return task
    if max_examples < 1:
        raise ConfigError(f"max_examples must be >= 1, got {max_examples}")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(task.examples), size=max_examples, replace=False))
    return task.with_examples(tuple(task.examples[i] for i in keep))


def split_task(task: TaskData, dev_fraction: float = 0.1, seed: int = 0) -> Split:
    """Split into train and dev by a seeded hash of each example's text."""
    if not 0.0 < dev_fraction < 1.0:
        raise ConfigError(f"dev_fraction must be in (0, 1), got {dev_fraction}")
    train: list[Example] = []
    dev: list[Example] = []
    for ex in task.examples:
        (dev if _unit_hash(ex, seed) < dev_fraction else train).append(ex)
    if not train or not dev:
        raise ConfigError(
            f"task {task.name!r}: {len(task.examples)} examples are too few to split "
            f"with dev_fraction={dev_fraction}"
        )
    return Split(train=task.with_examples(tuple(train)), dev=task.with_examples(tuple(dev)))
