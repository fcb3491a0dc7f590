"""2-D positions of a space's tasks from their cosine similarities, with how faithful they are.

Unit vectors a, b have ``|a - b|^2 = 2 - 2 cos(a, b)``, so ``sqrt(2 - 2 cos)`` is a true
Euclidean distance and classical (Torgerson) MDS on it is exactly PCA of the unit vectors:
the best 2-D linear view. SMACOF (metric MDS, Guttman transform) started from that view
then moves points to fit the distances themselves, which a linear view cannot do once
the tasks spread over many directions. :func:`task_map` returns whichever of the two fits
the cosine distances with the higher Spearman correlation (ties: lower stress), with both
numbers, so the console can say how far to trust the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SMACOF_ITERATIONS = 300
SMACOF_TOL = 1e-6


@dataclass(frozen=True)
class Projection:
    """Positions (n x 2) and their faithfulness to the cosine distances."""

    method: str
    xy: np.ndarray
    spearman: float | None  # None for fewer than 3 tasks (fewer than 3 pairs)
    stress: float | None  # Kruskal stress-1; None when every distance is 0


def chord_distances(cos: np.ndarray) -> np.ndarray:
    """``sqrt(2 - 2 cos)``: the Euclidean distance between the unit vectors."""
    return np.sqrt(np.clip(2.0 - 2.0 * cos.astype(np.float64), 0.0, None))


def classical_mds(dist: np.ndarray, dims: int = 2) -> np.ndarray:
    """Torgerson MDS: the top eigenvectors of the double-centred squared distances.

    Deterministic: each axis's sign is chosen so its largest-magnitude coordinate is positive.
    """
    n = dist.shape[0]
    j = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * j @ (dist**2) @ j
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(values)[::-1][:dims]
    xy = vectors[:, order] * np.sqrt(np.clip(values[order], 0.0, None))
    if xy.shape[1] < dims:  # fewer tasks than dimensions
        xy = np.pad(xy, ((0, 0), (0, dims - xy.shape[1])))
    signs = np.sign(xy[np.abs(xy).argmax(axis=0), range(dims)])
    out: np.ndarray = xy * np.where(signs == 0, 1.0, signs)
    return out


def smacof(dist: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Metric MDS by majorisation (Guttman transform), from ``start``; monotone in stress."""
    n = dist.shape[0]
    x = start.copy()
    previous = np.inf
    for _ in range(SMACOF_ITERATIONS):
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        ratio = np.divide(dist, d, out=np.zeros_like(dist), where=d > 1e-12)
        b = -ratio
        b[np.diag_indices(n)] = ratio.sum(axis=1)
        x = b @ x / n
        current = float(((d - dist) ** 2).sum())
        if previous - current < SMACOF_TOL * max(previous, 1e-12):
            break
        previous = current
    return x


def faithfulness(xy: np.ndarray, dist: np.ndarray) -> tuple[float | None, float | None]:
    """(Spearman of 2-D vs cosine distances over all pairs, Kruskal stress-1)."""
    from scipy.stats import spearmanr  # scipy.stats is slow to import; only maps need it

    n = dist.shape[0]
    upper = np.triu_indices(n, 1)
    target = dist[upper]
    placed = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))[upper]
    rho: float | None = None
    if len(target) >= 3 and np.ptp(target) > 0 and np.ptp(placed) > 0:
        rho = float(spearmanr(placed, target).statistic)
    denom = float((target**2).sum())
    stress = float(np.sqrt(((placed - target) ** 2).sum() / denom)) if denom > 0 else None
    return rho, stress


def _score(p: Projection) -> tuple[float, float]:
    return (p.spearman if p.spearman is not None else -2.0, -(p.stress if p.stress is not None else 0.0))


def task_map(cos: np.ndarray) -> Projection:
    """2-D positions of ``n`` tasks from their ``n x n`` cosine matrix (the more faithful of
    classical MDS and SMACOF from it; both are deterministic)."""
    dist = chord_distances(cos)
    start = classical_mds(dist)
    candidates = [Projection("classical MDS", start, *faithfulness(start, dist))]
    if dist.shape[0] >= 3:
        refined = smacof(dist, start)
        candidates.append(Projection("SMACOF from classical MDS", refined, *faithfulness(refined, dist)))
    return max(candidates, key=_score)


def cluster_order(cos: np.ndarray) -> list[int]:
    """Row order that puts clusters together: average linkage on ``1 - cos``, leaves in the
    optimal order (adjacent leaves as similar as possible)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = cos.shape[0]
    if n < 3:
        return list(range(n))
    dist = np.clip(1.0 - cos.astype(np.float64), 0.0, 2.0)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average", optimal_ordering=True)
    return [int(i) for i in leaves_list(tree)]
