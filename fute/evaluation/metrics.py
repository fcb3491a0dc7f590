"""Ranking metrics for source selection (Vu et al. 2020; FUTE section 5).

A ranker orders candidate source tasks for one target; the truth is the target's score
after training on each source first. All functions take the ranker's order (best first)
and the true score of each candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr


def _check(order: Sequence[str], truth: Mapping[str, float]) -> None:
    if sorted(order) != sorted(truth):
        raise ValueError(
            f"ranking {sorted(order)} and ground truth {sorted(truth)} name different candidates"
        )
    if not order:
        raise ValueError("nothing to rank: no candidate sources")


def dcg(relevances: Sequence[float] | np.ndarray) -> float:
    """Discounted cumulative gain, ``sum rel_i / log2(i + 1)`` with ranks from 1."""
    rel = np.asarray(relevances, dtype=np.float64)
    return float(np.sum(rel / np.log2(np.arange(2, len(rel) + 2))))


def ndcg(order: Sequence[str], truth: Mapping[str, float], *, normalise: bool = False) -> float:
    """NDCG of ``order`` with the true scores as relevance, in [0, 1].

    With raw scores (``normalise=False``, FUTE's choice) NDCG sits near 1 for any order when
    the scores lie in a narrow band; ``normalise=True`` min-max scales them per target first,
    so the worst source counts 0 and the best 1, which is what separates rankers.
    """
    _check(order, truth)
    values = np.asarray([truth[s] for s in order], dtype=np.float64)
    if normalise:
        lo, hi = float(values.min()), float(values.max())
        values = (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)
    ideal = dcg(np.sort(values)[::-1])
    return dcg(values) / ideal if ideal > 0 else 1.0


def regret_at_k(order: Sequence[str], truth: Mapping[str, float], k: int) -> float:
    """Relative regret, in percent, of the best of the top ``k`` against the best source.

    ``100 * (max score - max score among the first k) / max score`` (Vu et al. 2020): 0 when
    the best source is in the top k.
    """
    _check(order, truth)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    best = max(truth.values())
    got = max(truth[s] for s in order[:k])
    return 100.0 * (best - got) / abs(best) if best != 0 else 100.0 * (best - got)


def spearman(similarity: Mapping[str, float], truth: Mapping[str, float]) -> float:
    """Spearman correlation between a ranker's scores and the true scores over the candidates.

    0 when either side is constant (no order to correlate).
    """
    names = sorted(truth)
    if sorted(similarity) != names:
        raise ValueError(
            f"similarities {sorted(similarity)} and ground truth {names} name different candidates"
        )
    a = np.asarray([similarity[n] for n in names])
    b = np.asarray([truth[n] for n in names])
    if len(names) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)
