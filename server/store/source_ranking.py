"""A source ranking with predicted gain and P(help) per candidate, and advice for the whole.

The store retrieves every candidate's similarity to the target (up to ``max_k``); the
predictor (:mod:`fute.transfer_prediction`, calibrated on measured transfer) turns the
cosines of that whole set, and each candidate's measured record on other targets where
the predictor holds one (by task id), into a predicted gain and a probability of helping
for each. The ranking is then ordered by predicted gain (the default: on the suite's
held-out targets it ranks better than cosine, docs/evaluation.md) or left in similarity
order, and it says plainly when no candidate is expected to help.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fute.transfer_prediction import HELP_THRESHOLD, TransferPredictor
from fute_client.types import Hit, Ranking, RankOrder


@dataclass(frozen=True)
class Predictions:
    """Predicted gain and P(help) of every retrieved candidate, in similarity order."""

    gain: np.ndarray
    p_help: np.ndarray


def predict(
    cosines: np.ndarray,
    ids: list[str],
    predictor: TransferPredictor | None,
    norms: np.ndarray | None = None,
    target_norm: float | None = None,
) -> Predictions | None:
    """Predictions over the whole candidate set (``cosines`` and ``ids`` best first), so
    that those of the top k never depend on k; None without a predictor or candidates.
    ``norms`` (the candidates' stored vector norms) and ``target_norm`` (the target
    vector's) feed the norm features of a predictor that reads them."""
    if predictor is None or not len(cosines):
        return None
    gain, p_help = predictor.predict_cosines(cosines, predictor.priors_of(ids), norms, target_norm)
    return Predictions(gain, p_help)


def order_candidates(
    count: int, predictions: Predictions | None, order: RankOrder, rerank_top: int
) -> np.ndarray:
    """Positions (into the similarity order) of the candidates as the ranking lists them.

    ``predicted_gain``: the ``rerank_top`` most similar candidates (0: all) are ordered by
    predicted gain, ties kept in similarity order; the rest follow in similarity order.
    ``similarity``, or no predictions: the similarity order unchanged.
    """
    positions = np.arange(count)
    if order != "predicted_gain" or predictions is None:
        return positions
    top = count if rerank_top <= 0 else min(rerank_top, count)
    head = np.argsort(-predictions.gain[:top], kind="stable")
    return np.concatenate([head, positions[top:]])


def ranking(
    hits: list[Hit],
    positions: np.ndarray,
    predictions: Predictions | None,
    ids: list[str],
    order: RankOrder,
) -> Ranking:
    """The reply: ``hits`` (records of the first ``len(hits)`` of ``positions``) with
    their predictions, and the advice of the whole candidate set."""
    if predictions is None:
        return Ranking(tuple(hits), candidates=len(ids), order="similarity")
    annotated = tuple(
        replace(h, predicted_gain=float(predictions.gain[i]), p_help=float(predictions.p_help[i]))
        for h, i in zip(hits, positions, strict=False)
    )
    best = int(np.argmax(predictions.p_help))
    none_help = bool(predictions.p_help[best] < HELP_THRESHOLD)
    advice = (
        f"train on the target alone: no candidate is expected to help (highest P(help) "
        f"{predictions.p_help[best]:.2f}, {ids[best]!r}, predicted gain {predictions.gain[best]:+.3f})"
        if none_help
        else ""
    )
    return Ranking(annotated, none_help, advice, len(ids), order)
