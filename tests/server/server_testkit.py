"""Helpers shared by the server tests: seeded synthetic tasks and loopback configs (the
numpy reference is in the shared ``kit``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fute_client.types import Task, TaskKind
from server.config import IndexParams, ServerConfig, StoreConfig

KINDS: tuple[TaskKind, ...] = ("dataset", "model")
TYPES = ("sentiment", "topic", "nli")
TAGS = ("en", "de", "small", "large")


def make_tasks(n: int, dim: int, seed: int = 0) -> tuple[list[Task], np.ndarray]:
    """Seeded synthetic tasks with varied metadata, and their vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    tasks = [
        Task(
            id=f"task-{i:04d}",
            vector=vectors[i],
            name=f"Task {i}",
            kind=KINDS[i % 2],
            task_type=TYPES[i % 3],
            label_names=("neg", "pos") if i % 3 == 0 else (),
            tags=tuple(t for j, t in enumerate(TAGS) if (i >> j) & 1),
        )
        for i in range(n)
    ]
    return tasks, vectors


def server_config(path: Path, **kwargs: Any) -> ServerConfig:
    """A loopback config on a free port with small, fast index parameters."""
    store_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("device", "max_k", "max_queries")}
    store = StoreConfig(
        path=path, device="cpu", index_params=IndexParams(ivf_nlist=16, ivf_nprobe=16), **store_kwargs
    )
    return ServerConfig(store=store, host="127.0.0.1", port=0, workers=4, grace_s=2.0, **kwargs)
