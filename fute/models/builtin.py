"""Shipped callable adapters for packaged black-box models (each optional: ``pip install`` it).

Each function maps a list of texts to probabilities or scores and declares its outputs
with :func:`~fute.models.callables.fute_adapter`. Analysers are built once per process by
cached factories, on first use (not at import).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from fute.errors import ModelNotFoundError
from fute.models.callables import fute_adapter

#: chatterbot_language's languages with a py3langid code; ``hinglish`` and
#: ``traditionalchinese`` have none of their own (they would duplicate en / zh).
LANGID_CHATTERBOT: dict[str, str] = {
    "bengali": "bn",
    "chinese": "zh",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hebrew": "he",
    "hindi": "hi",
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "marathi": "mr",
    "oriya": "or",
    "persian": "fa",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
    "swedish": "sv",
    "tamil": "ta",
    "telugu": "te",
    "thai": "th",
    "turkish": "tr",
    "ukrainian": "uk",
    "urdu": "ur",
    "yoruba": "yo",
}


def _missing(dist: str, exc: ImportError) -> ModelNotFoundError:
    return ModelNotFoundError(f"this adapter needs the package {dist!r}: pip install {dist} ({exc})")


@functools.cache
def _vader() -> Any:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise _missing("vaderSentiment", exc) from exc
    return SentimentIntensityAnalyzer()


@fute_adapter(kind="regression", requires=("vaderSentiment",))
def vader_compound(texts: list[str]) -> np.ndarray:
    """VADER's compound sentiment score in [-1, 1]."""
    analyser = _vader()
    return np.array([analyser.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)


@fute_adapter(labels=("negative", "neutral", "positive"), kind="soft", requires=("vaderSentiment",))
def vader_probs(texts: list[str]) -> np.ndarray:
    """VADER's neg/neu/pos proportions, renormalised (a text without words counts as neutral)."""
    analyser = _vader()
    rows = []
    for t in texts:
        s = analyser.polarity_scores(t)
        row = np.array([s["neg"], s["neu"], s["pos"]], dtype=np.float64)
        rows.append(row / row.sum() if row.sum() > 0 else np.array([0.0, 1.0, 0.0]))
    return np.array(rows).reshape(len(texts), 3)


@fute_adapter(kind="regression", requires=("textblob",))
def textblob_polarity(texts: list[str]) -> np.ndarray:
    """TextBlob's default (pattern) analyser polarity in [-1, 1]."""
    try:
        from textblob import TextBlob
    except ImportError as exc:
        raise _missing("textblob", exc) from exc
    return np.array([TextBlob(t).sentiment.polarity for t in texts], dtype=np.float64)


@fute_adapter(labels=("clean", "profane"), kind="soft", requires=("alt-profanity-check",))
def profanity_probs(texts: list[str]) -> np.ndarray:
    """alt-profanity-check's probability that a text is offensive, as two classes."""
    try:
        from profanity_check import predict_prob
    except ImportError as exc:
        raise _missing("alt-profanity-check", exc) from exc
    p = np.asarray(predict_prob(texts), dtype=np.float64).reshape(-1)
    return np.stack([1.0 - p, p], axis=1)


@functools.cache
def _langid(codes: tuple[str, ...] | None) -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise _missing("py3langid", exc) from exc
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if codes is not None:
        identifier.set_languages(list(codes))
    return identifier


def _langid_probs(texts: list[str], codes: tuple[str, ...]) -> np.ndarray:
    identifier = _langid(codes)
    column = {c: i for i, c in enumerate(codes)}
    out = np.zeros((len(texts), len(codes)), dtype=np.float64)
    for row, text in enumerate(texts):
        for code, prob in identifier.rank(text):
            out[row, column[code]] = prob
    return out


@fute_adapter(labels=tuple(LANGID_CHATTERBOT), kind="soft", requires=("py3langid",))
def langid_chatterbot(texts: list[str]) -> np.ndarray:
    """py3langid probabilities over chatterbot_language's languages (label names match it)."""
    return _langid_probs(texts, tuple(LANGID_CHATTERBOT.values()))
