"""Every backend against float32 exact search on the same vectors: recall, score error, order."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from fute_client.types import Backend
from server.config import IndexParams
from server.store.faiss_index import SpaceIndex, VectorFetch, normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecallReport:
    """One backend's top-k against float32 exact search (flat), with build and query times.

    ``recall``: share of the exact top-k ids it returns; ``max_score_error``: largest
    ``|score - cosine|`` over the hits it returns (the cosine in float64 from the float32
    vectors); ``same_order``: share of queries whose ids equal the exact ones in order;
    ``error_bound``: the index's certified bound on a code's score error (0 for float32).
    """

    backend: Backend
    k: int
    recall: float
    build_s: float
    query_ms: float  # per query, single batch
    max_score_error: float = 0.0
    same_order: float = 1.0
    error_bound: float = 0.0


def clustered_vectors(n: int, dim: int, clusters: int, seed: int = 0, spread: float = 1.5) -> np.ndarray:
    """Seeded vectors around ``clusters`` centres (``spread``: noise relative to the centres);
    closer to real embeddings than pure noise, and hard enough that recall is below 1.

    Drawn in blocks of rows (the same values as one draw): a million 1,024-d rows need
    their 4 GB of float32 and little more."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, size=n)
    out = np.empty((n, dim), np.float32)
    step = max(1, (1 << 22) // max(1, dim))
    for start in range(0, n, step):
        end = min(n, start + step)
        out[start:end] = centres[labels[start:end]] + spread * rng.normal(size=(end - start, dim))
    return out


def in_memory_fetch(vectors: np.ndarray) -> VectorFetch:
    """A ``SpaceIndex.fetch`` reading rows of ``vectors`` by position (ids 0..n-1)."""

    def fetch(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return vectors[np.asarray(ids, dtype=np.int64)], np.ones(len(ids), dtype=bool)

    return fetch


def measure_recall(
    backend: Backend, vectors: np.ndarray, queries: np.ndarray, k: int, params: IndexParams
) -> RecallReport:
    """``backend``'s top-k of ``queries`` against flat's on ``vectors`` (ids are positions)."""
    ids = np.arange(len(vectors), dtype=np.int64)
    exact = SpaceIndex(vectors.shape[1], "flat", params)
    exact.build(ids, vectors)
    _, truth = exact.search(queries, k)
    index = SpaceIndex(vectors.shape[1], backend, params, fetch=in_memory_fetch(vectors))
    t0 = time.perf_counter()
    index.build(ids, vectors)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores, got = index.search(queries, k)
    query_ms = (time.perf_counter() - t0) * 1e3 / len(queries)
    hits = sum(len(set(g[g >= 0]) & set(t)) for g, t in zip(got, truth, strict=True))
    recall = hits / truth.size
    unit_q = normalise(queries).astype(np.float64)
    error = 0.0
    for qi in range(len(queries)):
        found = got[qi] >= 0
        rows = normalise(vectors[got[qi][found]]).astype(np.float64)
        error = max(error, float(np.max(np.abs(scores[qi][found] - rows @ unit_q[qi]), initial=0.0)))
    same = float(np.mean([np.array_equal(g, t) for g, t in zip(got, truth, strict=True)]))
    report = RecallReport(backend, k, recall, build_s, query_ms, error, same, index.error_bound())
    log.info(
        "%s recall@%d = %.4f, max score error %.2e (bound %.2e), same order %.3f (build %.2fs, %.3f ms/query)",
        backend,
        k,
        recall,
        error,
        report.error_bound,
        same,
        build_s,
        query_ms,
    )
    return report
