"""The brute-force numpy reference every search path is tested against."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fute_client.types import Task


def unit(x: np.ndarray) -> np.ndarray:
    """Rows normalised to unit length (float64 for the reference)."""
    x = np.asarray(x, dtype=np.float64)
    out: np.ndarray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return out


def brute_force(
    vectors: np.ndarray,
    tasks: Sequence[Task],
    query: np.ndarray,
    k: int,
    keep: Callable[[Task], bool] | None = None,
    exclude: str = "",
) -> list[tuple[str, float]]:
    """(id, cosine) of the ``k`` tasks most similar to ``query``, best first (ties by
    position), among those ``keep`` accepts and other than ``exclude``."""
    scores = unit(vectors) @ unit(query)
    order = np.argsort(-scores, kind="stable")
    out = [
        (tasks[i].id, float(scores[i]))
        for i in order
        if tasks[i].id != exclude and (keep is None or keep(tasks[i]))
    ]
    return out[:k]


def brute_force_ids(vectors: np.ndarray, tasks: Sequence[Task], query: np.ndarray, k: int) -> list[str]:
    """Ids of the ``k`` tasks most cosine-similar to ``query``, by numpy."""
    return [task_id for task_id, _ in brute_force(vectors, tasks, query, k)]
