"""A source ranking with predicted gain and P(help) per candidate, and advice for the whole.

The store retrieves every candidate's cosine to the target (up to ``max_k``); the
predictor (:mod:`fute.transfer_prediction`, calibrated on measured transfer) turns the
cosines of that whole set, and each candidate's measured record on other targets where
the predictor holds one (by task id), into a predicted gain and a probability of helping
for each; the ranking says plainly when none is expected to help.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fute.transfer_prediction import HELP_THRESHOLD, TransferPredictor
from fute_client.types import Hit, Ranking


def annotate(
    hits: list[Hit], scores: np.ndarray, ids: list[str], predictor: TransferPredictor | None
) -> Ranking:
    """``hits`` (the returned top of the ranking) with predictions over the whole candidate set.

    ``scores`` and ``ids`` are every candidate's cosine and task id, best first (``hits``
    is a prefix of them): standardisation is over all of them, so the predictions of the
    top k do not depend on k. Without a predictor, hits carry cosines only.
    """
    if predictor is None or not len(scores):
        return Ranking(tuple(hits), candidates=len(scores))
    gain, p_help = predictor.predict_cosines(scores, predictor.priors_of(ids))
    annotated = tuple(
        replace(h, predicted_gain=float(g), p_help=float(p))
        for h, g, p in zip(hits, gain, p_help, strict=False)
    )
    best = int(np.argmax(p_help))
    none_help = bool(p_help[best] < HELP_THRESHOLD)
    advice = (
        f"train on the target alone: no candidate is expected to help (highest P(help) "
        f"{p_help[best]:.2f}, {ids[best]!r}, predicted gain {gain[best]:+.3f})"
        if none_help
        else ""
    )
    return Ranking(annotated, none_help, advice, len(scores))
