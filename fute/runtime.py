"""Seeding and thread settings, applied locally rather than as import-time side effects."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import torch

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's RNG state after.

    Dropout and ``nn.Linear`` initialisation draw from the global generator; forking it
    makes an embedding depend on its own seed only, not on what ran before it.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def configure_threads(num_threads: int | None = None) -> int:
    """Use one intra-op thread per core (or ``num_threads``); returns the number chosen.

    PyTorch's default is already one per physical core; this makes the choice explicit,
    respects ``OMP_NUM_THREADS`` when the user set it, and logs it.
    """
    if num_threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        num_threads = int(env) if env and env.isdigit() else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, num_threads))
    logger.info("torch intra-op threads: %d", torch.get_num_threads())
    return torch.get_num_threads()
