"""Judge a transfer predictor leaving one target out: calibration, advice, a ranking.

For every target of a ground truth that has a baseline, its candidates are the sources
measured on it with their similarity from a ranker (cosine of task embeddings) and their
measured gain (score after the source minus the target alone). Leaving one target out, a
:class:`~fute.transfer_prediction.TransferPredictor` is fit on the other targets' pairs,
with each source's prior taken from those targets only, and predicts the held-out one.
Nothing a held-out target measured reaches its own prediction.

Used by ``fute eval --predictor`` and ``benchmarks/transfer_prediction.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fute.evaluation.ground_truth import GroundTruth
from fute.evaluation.rankings import Similarities
from fute.transfer_prediction import (
    FEATURE_SETS,
    HELP_THRESHOLD,
    TransferPredictor,
    auc,
    brier,
    candidate_features,
    fit_predictor,
    reliability,
)

#: Fewest measured candidates a target needs to take part (a standardised cosine of two
#: candidates is always -1 and +1, which says nothing).
MIN_CANDIDATES = 3


@dataclass(frozen=True)
class TargetPairs:
    """One target's candidates: names, similarities to the target, measured gains."""

    target: str
    sources: tuple[str, ...]
    cosines: np.ndarray
    gains: np.ndarray
    norms: np.ndarray | None = None  # each source's stored vector norm, when known
    target_norm: float | None = None  # the target's own vector norm, when known


def target_pairs(
    gt: GroundTruth,
    similarities: Similarities,
    norms: Mapping[str, float] | None = None,
    target_norms: Mapping[str, float] | None = None,
) -> list[TargetPairs]:
    """Targets with a baseline and at least :data:`MIN_CANDIDATES` sources with a similarity.

    ``norms``: the L2 norm of each source's (unnormalised) embedding, by name; a target
    whose candidates lack one gets none. ``target_norms``: each target's own, by name.
    """
    out = []
    for target in gt.targets:
        base = gt.baseline(target)
        sims = similarities.get(target)
        if base is None or sims is None:
            continue
        names = tuple(s for s in gt.sources(target) if s in sims)
        if len(names) < MIN_CANDIDATES:
            continue
        out.append(
            TargetPairs(
                target,
                names,
                np.array([sims[s] for s in names], np.float64),
                np.array([gt.score(s, target) - base for s in names], np.float64),
                np.array([norms[s] for s in names]) if norms and all(s in norms for s in names) else None,
                (target_norms or {}).get(target),
            )
        )
    return out


def source_priors(pairs: list[TargetPairs], exclude: set[str]) -> dict[str, float]:
    """Each source's mean measured gain over the targets not in ``exclude``."""
    seen: dict[str, list[float]] = {}
    for tp in pairs:
        if tp.target in exclude:
            continue
        for s, g in zip(tp.sources, tp.gains, strict=True):
            seen.setdefault(s, []).append(float(g))
    return {s: float(np.mean(v)) for s, v in seen.items()}


def features_of(tp: TargetPairs, priors: dict[str, float] | None) -> np.ndarray:
    """Features of one target's pairs; priors by source name (NaN where unknown)."""
    p = None if priors is None else np.array([priors.get(s, np.nan) for s in tp.sources])
    return candidate_features(tp.cosines, p, tp.norms, tp.target_norm)


def training_set(
    pairs: list[TargetPairs], held_out: str | None, with_prior: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of every target but ``held_out``; a pair's prior never includes its own target
    (nor the held-out one)."""
    xs, ys = [], []
    for tp in pairs:
        if tp.target == held_out:
            continue
        excluded = {tp.target} | ({held_out} if held_out else set())
        xs.append(features_of(tp, source_priors(pairs, excluded) if with_prior else None))
        ys.append(tp.gains)
    return np.vstack(xs), np.concatenate(ys)


@dataclass(frozen=True)
class Prediction:
    """Predicted gain and P(help) of one target's candidates (in its pairs' order)."""

    gain: np.ndarray
    p_help: np.ndarray


@dataclass(frozen=True)
class HeldOut:
    """Leave-one-target-out predictions of one predictor variant."""

    feature_set: str
    per_target: dict[str, Prediction]

    @property
    def name(self) -> str:
        """How tables name it."""
        return f"predictor ({self.feature_set})"

    def predicted_gains(self, pairs: list[TargetPairs]) -> dict[str, dict[str, float]]:
        """Predicted gains as similarities (target -> source -> value), to rank by them."""
        return {
            tp.target: dict(zip(tp.sources, map(float, self.per_target[tp.target].gain), strict=True))
            for tp in pairs
        }


def _check_feature_set(feature_set: str) -> tuple[str, ...]:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; valid: {list(FEATURE_SETS)}")
    return FEATURE_SETS[feature_set]


def leave_one_target_out(pairs: list[TargetPairs], feature_set: str, l2: float = 1.0) -> HeldOut:
    """Predict every target from a predictor fit on the others, with one feature subset.

    Raises:
        ValueError: an unknown feature set, or fewer than two targets.
    """
    use = _check_feature_set(feature_set)
    if len(pairs) < 2:
        raise ValueError(f"leaving one target out needs two or more targets, got {len(pairs)}")
    with_prior = "source_prior" in use
    out = {}
    for tp in pairs:
        x, y = training_set(pairs, tp.target, with_prior)
        model = fit_predictor(x, y, use=use, l2=l2)
        priors = source_priors(pairs, {tp.target}) if with_prior else None
        out[tp.target] = Prediction(*model.predict(features_of(tp, priors)))
    return HeldOut(feature_set, out)


def fit_on_all(
    pairs: list[TargetPairs], feature_set: str, l2: float = 1.0, fitted_on: dict[str, Any] | None = None
) -> TransferPredictor:
    """The predictor fit on every target's pairs (what a store serves), with every source's
    prior over all targets."""
    use = _check_feature_set(feature_set)
    with_prior = "source_prior" in use
    x, y = training_set(pairs, None, with_prior)
    priors = source_priors(pairs, set()) if with_prior else None
    info = {"targets": len(pairs), "pairs": len(y), "l2": l2, **(fitted_on or {})}
    return fit_predictor(x, y, use=use, l2=l2, fitted_on=info, source_priors=priors)


@dataclass(frozen=True)
class Calibration:
    """How well held-out P(help) and predicted gain match measured gain, pooled over pairs."""

    pairs: int
    share_helping: float
    auc_p_help: float
    auc_z_cosine: float  # the same question answered by standardised cosine alone
    auc_difference: tuple[float, float, float]  # P(help) - z-cosine: mean [95% paired bootstrap]
    brier: float
    brier_base_rate: float  # a constant probability at the pooled share that helped
    gain_mae: float
    gain_mae_mean: float  # predicting the pooled mean gain for every pair
    gain_pearson: float
    reliability: list[tuple[float, float, int]]


def _auc_difference(
    pairs: list[TargetPairs], held: HeldOut, resamples: int = 2000
) -> tuple[float, float, float]:
    """AUC of P(help) minus AUC of z-cosine on the pooled pairs, with a 95% interval from
    resampling targets (both AUCs on the same resampled pairs: a paired bootstrap)."""
    p = [held.per_target[tp.target].p_help for tp in pairs]
    z = [candidate_features(tp.cosines)[:, 0] for tp in pairs]
    y = [tp.gains > 0 for tp in pairs]

    def diff(idx: np.ndarray) -> float:
        helps = np.concatenate([y[i] for i in idx])
        return auc(np.concatenate([p[i] for i in idx]), helps) - auc(
            np.concatenate([z[i] for i in idx]), helps
        )

    rng = np.random.default_rng(0)
    draws = np.array([diff(rng.integers(0, len(pairs), len(pairs))) for _ in range(resamples)])
    draws = draws[np.isfinite(draws)]  # a resample with one class has no AUC
    point = diff(np.arange(len(pairs)))
    if not len(draws):
        return point, float("nan"), float("nan")
    return point, float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def calibration(pairs: list[TargetPairs], held: HeldOut) -> Calibration:
    """Pool every held-out target's predictions and judge them."""
    gain = np.concatenate([tp.gains for tp in pairs])
    helps = gain > 0
    p = np.concatenate([held.per_target[tp.target].p_help for tp in pairs])
    pred = np.concatenate([held.per_target[tp.target].gain for tp in pairs])
    z = np.concatenate([candidate_features(tp.cosines)[:, 0] for tp in pairs])
    r = float(np.corrcoef(pred, gain)[0, 1]) if pred.std() > 0 and gain.std() > 0 else float("nan")
    return Calibration(
        pairs=len(gain),
        share_helping=float(helps.mean()),
        auc_p_help=auc(p, helps),
        auc_z_cosine=auc(z, helps),
        auc_difference=_auc_difference(pairs, held),
        brier=brier(p, helps),
        brier_base_rate=brier(np.full(len(p), helps.mean()), helps),
        gain_mae=float(np.abs(pred - gain).mean()),
        gain_mae_mean=float(np.abs(gain.mean() - gain).mean()),
        gain_pearson=r,
        reliability=reliability(p, helps),
    )


@dataclass(frozen=True)
class Advice:
    """The whole-ranking advice on held-out targets.

    ``advised_alone``: targets where no candidate reached :data:`HELP_THRESHOLD` (the
    store then says "train on the target alone"); ``advice_right``: targets where that
    advice, given or not, matched whether any measured source helped; ``top_pick_within_noise``:
    targets whose top pick by predicted gain is within ``noise`` of the best source.
    """

    targets: int
    advice_right: int
    advised_alone: int
    truly_no_help: int
    top_pick_within_noise: int


def advice(pairs: list[TargetPairs], held: HeldOut, noise: float) -> Advice:
    """Score the advice and the top pick of ``held`` on every target."""
    tol = noise if np.isfinite(noise) else 0.0
    right = alone = within = none = 0
    for tp in pairs:
        pred = held.per_target[tp.target]
        advise_alone = bool(pred.p_help.max() < HELP_THRESHOLD)
        truly_alone = bool(tp.gains.max() <= 0)
        alone += advise_alone
        none += truly_alone
        right += advise_alone == truly_alone
        within += bool(tp.gains[int(np.argmax(pred.gain))] >= tp.gains.max() - tol)
    return Advice(len(pairs), right, alone, none, within)
