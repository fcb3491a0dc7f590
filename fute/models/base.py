"""The one interface every black-box model adapter implements, and its output checks.

An adapter maps unlabelled examples to soft labels (class probabilities, shape
``(n, classes)``) or scores (shape ``(n,)``). Whatever the model is (a rule-based
analyser, a local classifier, a prompted LLM, a hosted endpoint), its outputs are checked
here, in one place, before they become the labels of a model task embedding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from fute.corpus import CorpusExample
from fute.errors import ConfigError, ModelError

OutputKind = Literal["soft", "regression"]
OUTPUT_KINDS: tuple[OutputKind, ...] = ("soft", "regression")

#: Rows of soft labels must sum to 1 within this tolerance (float32 softmax noise is ~1e-6).
SUM_TOLERANCE = 1e-3


@runtime_checkable
class ModelAdapter(Protocol):
    """A model seen only through its outputs on text.

    Attributes:
        label_names: class names in output-column order (empty for regression).
        output_kind: ``soft`` (probabilities per class) or ``regression`` (one score).
    """

    label_names: tuple[str, ...]
    output_kind: OutputKind

    def identity(self) -> str:
        """A stable id of the model *and* everything that changes its outputs (e.g. the prompt)."""
        ...

    def predict(self, examples: Sequence[CorpusExample]) -> np.ndarray:
        """Outputs for ``examples``: ``(n, len(label_names))`` probabilities or ``(n,)`` scores."""
        ...


def check_output_kind(kind: str) -> OutputKind:
    """``kind`` as an :data:`OutputKind`, or a ConfigError listing the valid ones."""
    if kind not in OUTPUT_KINDS:
        raise ConfigError(f"unknown output kind {kind!r}; valid: {list(OUTPUT_KINDS)}")
    return kind


def identity_hash(*parts: str) -> str:
    """sha256 hex of the parts joined unambiguously (used for model identities and cache keys)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def validate_outputs(outputs: object, adapter: ModelAdapter, n: int, name: str = "") -> np.ndarray:
    """Check an adapter's outputs for ``n`` examples; return them as float32.

    Raises:
        ModelError: naming the adapter and the problem: not an array, wrong shape, NaN or
            Inf, negative probabilities, rows that do not sum to 1.
    """
    who = name or type(adapter).__name__
    try:
        arr = np.asarray(outputs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model {who} returned {type(outputs).__name__}, not numbers ({exc})") from exc
    if adapter.output_kind == "regression":
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise ModelError(
                f"model {who} returned shape {arr.shape} for {n} examples; a regressor must return ({n},)"
            )
    else:
        k = len(adapter.label_names)
        if arr.shape != (n, k):
            raise ModelError(
                f"model {who} returned shape {arr.shape} for {n} examples; with {k} labels "
                f"{list(adapter.label_names)[:8]} it must return ({n}, {k})"
            )
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = sorted({int(i) for i in np.argwhere(bad)[:, 0]})
        raise ModelError(
            f"model {who} returned NaN or Inf for {len(rows)} of {n} examples (e.g. rows {rows[:5]})"
        )
    if adapter.output_kind == "soft":
        if (arr < 0).any():
            raise ModelError(f"model {who} returned negative probabilities (min {arr.min():.4g})")
        sums = arr.sum(axis=1)
        off = np.abs(sums - 1.0) > SUM_TOLERANCE
        if off.any():
            i = int(np.argmax(off))
            raise ModelError(
                f"model {who}: probabilities of {int(off.sum())} of {n} examples do not sum to 1 "
                f"(row {i} sums to {sums[i]:.4g})"
            )
    return arr.astype(np.float32)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable for very negative log-probabilities)."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out
