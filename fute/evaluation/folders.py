"""Folders of task embedding files, read as one ranker's view of a ground truth's tasks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fute.embedding import TaskEmbedding, load_embedding
from fute.errors import ConfigError


def load_embedding_dir(folder: Path) -> dict[str, TaskEmbedding]:
    """Every ``*.safetensors`` embedding in ``folder``, by task name.

    Raises:
        ConfigError: the folder is missing, empty, or names one task twice.
    """
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder of embedding files")
    out: dict[str, TaskEmbedding] = {}
    where: dict[str, Path] = {}
    for path in sorted(folder.glob("*.safetensors")):
        emb = load_embedding(path)
        name = emb.task.name
        if name in out:
            raise ConfigError(
                f"task {name!r} has two embeddings in {folder}: {where[name].name} and {path.name}"
            )
        out[name], where[name] = emb, path
    if not out:
        raise ConfigError(f"{folder}: no .safetensors embedding files")
    return out


def vector_norms(embeddings: Mapping[str, TaskEmbedding]) -> dict[str, float]:
    """The L2 norm of each embedding's stored (unnormalised) vector, by name: what the
    predictor's norm features read, as the store keeps them."""
    return {n: float(np.linalg.norm(e.vector.astype(np.float64))) for n, e in embeddings.items()}
