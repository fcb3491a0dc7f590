"""Score a ranker (similarities of sources to each target) against the ground truth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fute.embedding import TaskEmbedding
from fute.evaluation.ground_truth import GroundTruth
from fute.evaluation.metrics import ndcg, regret_at_k, spearman
from fute.space import check_one_space

# Metric name -> True when higher is better. ``gain@1`` is the top source's score minus the
# target trained alone: what following the ranking's first advice actually bought.
METRICS: dict[str, bool] = {
    "ndcg_norm": True,
    "ndcg": True,
    "regret@1": False,
    "regret@3": False,
    "spearman": True,
    "gain@1": True,
    "within_noise@1": True,
}

Similarities = Mapping[str, Mapping[str, float]]  # target -> source -> similarity


@dataclass(frozen=True)
class TargetMetrics:
    """One ranker on one target."""

    target: str
    top1: str
    values: dict[str, float]  # METRICS keys


@dataclass(frozen=True)
class RankerResult:
    """One ranker on every target of the ground truth."""

    name: str
    per_target: tuple[TargetMetrics, ...]

    def mean(self, metric: str) -> float:
        """Average of ``metric`` over targets."""
        return float(np.mean([t.values[metric] for t in self.per_target]))

    def interval(self, metric: str, *, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
        """95% bootstrap interval of the mean of ``metric``, resampling targets."""
        values = np.asarray([t.values[metric] for t in self.per_target])
        rng = np.random.default_rng(seed)
        means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
        return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))

    def subset(self, targets: set[str]) -> RankerResult:
        """The same ranker on some targets only (a fold)."""
        return RankerResult(self.name, tuple(t for t in self.per_target if t.target in targets))


def rank(similarity: Mapping[str, float]) -> list[str]:
    """Candidates by decreasing similarity; ties broken by name so that results are stable."""
    return sorted(similarity, key=lambda s: (-similarity[s], s))


def target_metrics(
    target: str, similarity: Mapping[str, float], gt: GroundTruth, noise: float | None = None
) -> TargetMetrics:
    """Every metric of one ranking of ``target``'s sources.

    ``noise``: the tolerance of ``within_noise@1`` (default the ground truth's seed noise;
    0 when it has one seed only).
    """
    truth = gt.scores(target)
    missing = sorted(set(truth) - set(similarity))
    if missing:
        raise ValueError(f"no similarity for sources {missing} of target {target!r}")
    similarity = {s: similarity[s] for s in truth}
    order = rank(similarity)
    base = gt.baseline(target)
    values = {
        "ndcg_norm": ndcg(order, truth, normalise=True),
        "ndcg": ndcg(order, truth),
        "regret@1": regret_at_k(order, truth, 1),
        "regret@3": regret_at_k(order, truth, 3),
        "spearman": spearman(similarity, truth),
        "gain@1": truth[order[0]] - base if base is not None else float("nan"),
        "within_noise@1": float(truth[order[0]] >= max(truth.values()) - _tolerance(gt, noise)),
    }
    return TargetMetrics(target, order[0], values)


def _tolerance(gt: GroundTruth, noise: float | None) -> float:
    value = gt.seed_noise() if noise is None else noise
    return value if np.isfinite(value) else 0.0


def evaluate_ranker(name: str, similarities: Similarities, gt: GroundTruth) -> RankerResult:
    """Score a ranker on every target of ``gt``; a target it has no similarities for is an error."""
    missing = sorted(set(gt.targets) - set(similarities))
    if missing:
        raise ValueError(f"ranker {name!r} has no similarities for targets {missing}")
    noise = _tolerance(gt, None)
    return RankerResult(name, tuple(target_metrics(t, similarities[t], gt, noise) for t in gt.targets))


def oracle_scores(gt: GroundTruth) -> dict[str, dict[str, float]]:
    """Similarities equal to the measured transfer: the best any ranker can do."""
    return {t: gt.scores(t) for t in gt.targets}


def random_result(gt: GroundTruth, *, permutations: int = 500, seed: int = 0) -> RankerResult:
    """The expected metrics of a uniformly random order, estimated over ``permutations`` draws."""
    rng = np.random.default_rng(seed)
    noise = _tolerance(gt, None)
    per_target = []
    for target in gt.targets:
        sources = gt.sources(target)
        draws = [
            target_metrics(
                target,
                dict(zip(sources, rng.permutation(len(sources)).astype(float), strict=True)),
                gt,
                noise,
            ).values
            for _ in range(permutations)
        ]
        mean = {m: float(np.mean([d[m] for d in draws])) for m in METRICS}
        per_target.append(TargetMetrics(target, "-", mean))
    return RankerResult("random", tuple(per_target))


def embedding_similarities(
    targets: Mapping[str, TaskEmbedding], sources: Mapping[str, TaskEmbedding], gt: GroundTruth
) -> dict[str, dict[str, float]]:
    """Cosine of each target's embedding with each of its candidate sources' embeddings.

    Raises:
        ValueError: a task of the ground truth has no embedding.
        SpaceMismatchError: two embeddings come from different spaces.
    """
    need_t = sorted(set(gt.targets) - set(targets))
    need_s = sorted({s for t in gt.targets for s in gt.sources(t)} - set(sources))
    if need_t or need_s:
        raise ValueError(f"missing embeddings: targets {need_t}, sources {need_s}")
    check_one_space([(emb.space, name) for name, emb in [*targets.items(), *sources.items()]])
    return {t: {s: targets[t].cosine(sources[s]) for s in gt.sources(t)} for t in gt.targets}


def csls_similarities(
    targets: Mapping[str, TaskEmbedding], sources: Mapping[str, TaskEmbedding], gt: GroundTruth, k: int
) -> dict[str, dict[str, float]]:
    """:func:`embedding_similarities` made hub-aware, as a store of the sources would:
    CSLS(t, s) = 2 cos(t, s) - r(t) - r(s), r(s) the mean cosine of source s to its ``k``
    nearest other sources, r(t) the target's mean cosine to its ``k`` nearest sources
    (itself left out where it is also a source).

    Raises:
        FuteError: k < 1. ValueError / SpaceMismatchError as :func:`embedding_similarities`.
    """
    from fute.similarity import cosine_matrix, neighbourhood_radius

    cos = embedding_similarities(targets, sources, gt)
    names = sorted(sources)
    radius = dict(
        zip(names, neighbourhood_radius(cosine_matrix([sources[n] for n in names]), k), strict=True)
    )
    out = {}
    for t in gt.targets:
        others = np.array([targets[t].cosine(sources[n]) for n in names if n != t])
        r_t = float(np.sort(others)[::-1][: min(k, len(others))].mean()) if len(others) else 0.0
        out[t] = {s: 2.0 * c - r_t - radius[s] for s, c in cos[t].items()}
    return out


def mean_interval(
    differences: np.ndarray, resamples: int = 4000, rng: np.random.Generator | None = None
) -> tuple[float, float, float]:
    """Mean of per-target differences with its 95% bootstrap interval (resampling targets)."""
    d = np.asarray(differences, np.float64)
    rng = rng if rng is not None else np.random.default_rng(0)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    return float(d.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def paired_differences(
    chosen: RankerResult, other: RankerResult, resamples: int = 4000
) -> dict[str, tuple[float, float, float]]:
    """Mean per-target difference chosen - other, with a 95% paired bootstrap interval over targets."""
    rng = np.random.default_rng(0)
    mine = {t.target: t.values for t in chosen.per_target}
    theirs = {t.target: t.values for t in other.per_target}
    targets = sorted(mine)
    return {
        m: mean_interval(np.asarray([mine[t][m] - theirs[t][m] for t in targets]), resamples, rng)
        for m in METRICS
    }
