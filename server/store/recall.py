"""Recall of the approximate backends against exact search on the same vectors."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from fute_client.types import Backend
from server.config import IndexParams
from server.store.faiss_index import SpaceIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecallReport:
    """recall@k of a backend against flat, with build and query times."""

    backend: Backend
    k: int
    recall: float
    build_s: float
    query_ms: float  # per query, single batch


def clustered_vectors(n: int, dim: int, clusters: int, seed: int = 0, spread: float = 1.5) -> np.ndarray:
    """Seeded vectors around ``clusters`` centres (``spread``: noise relative to the centres);
    closer to real embeddings than pure noise, and hard enough that recall is below 1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, size=n)
    return (centres[labels] + spread * rng.normal(size=(n, dim))).astype(np.float32)


def measure_recall(
    backend: Backend, vectors: np.ndarray, queries: np.ndarray, k: int, params: IndexParams
) -> RecallReport:
    """recall@k of ``backend`` (fraction of the exact top-k it returns), and timings."""
    ids = np.arange(len(vectors), dtype=np.int64)
    exact = SpaceIndex(vectors.shape[1], "flat", params)
    exact.build(ids, vectors)
    _, truth = exact.search(queries, k)
    index = SpaceIndex(vectors.shape[1], backend, params)
    t0 = time.perf_counter()
    index.build(ids, vectors)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, got = index.search(queries, k)
    query_ms = (time.perf_counter() - t0) * 1e3 / len(queries)
    hits = sum(len(set(g[g >= 0]) & set(t)) for g, t in zip(got, truth, strict=True))
    recall = hits / truth.size
    log.info("%s recall@%d = %.4f (build %.2fs, %.3f ms/query)", backend, k, recall, build_s, query_ms)
    return RecallReport(backend, k, recall, build_s, query_ms)
