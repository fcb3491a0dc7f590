"""How much a black-box model's outputs on U say (issue 16, item 4).

A model task embedding is the embedding method run on (U, the model's outputs). When the
outputs barely vary over U (a small prompted LLM answering one class for nearly every
input), the labels add almost nothing and the embedding is mostly the signature of U's
inputs: it lands wherever U's inputs land, whatever the model's task. These statistics say
how much there is, so that an embedding of that kind is recorded and flagged as such.

Each output is reduced to an *answer*: the most probable class of a soft output, or, for a
regressor, which of :data:`REGRESSION_BINS` equal-width bins of the observed score range
the score falls in. On those answers:

* ``answer_entropy``: entropy of the answers' distribution over U divided by log(K)
  (K = classes, or bins), in [0, 1]; 0 when every input gets the same answer.
* ``majority_share``: the share of U given the most frequent answer ("agreement with the
  prior": what always answering the majority would reproduce).
* ``spread``: how far outputs move from their mean over U: the mean total-variation
  distance to the mean output for soft labels (this sees variation that never flips the
  answer), the mean absolute deviation over half the observed range for a regressor; in
  [0, 1], 0 for constant outputs.
* ``source_mi``: mutual information in bits between the answers and the source each input
  of U was drawn from (when U records sources), and ``source_nmi`` = source_mi / H(answer):
  the share of the answers' information that the input's source alone explains (1: the
  model answers by input kind only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Bins of the observed score range that turn a regressor's scores into answers.
REGRESSION_BINS = 10
#: Below this normalised answer entropy a model's embedding is flagged as carrying little
#: beyond U's inputs. Measured (benchmarks/results/informativeness.txt, 1,000 of each U;
#: docs/models.md): on the default U the models whose embeddings find their own task
#: (VADER 0.91, TextBlob 0.61, SmolLM2's spam prompt 0.78 on 100 of U) are far above it,
#: those that do not (vader-probs 0.05, py3langid 0.00, SmolLM2's sentiment prompt 0.00
#: on 100 of U) far below; the one exception,
#: profanity-check (0.04, sms_spam still nearest), is why this is a flag, not a verdict.
LOW_ENTROPY_THRESHOLD = 0.2


@dataclass(frozen=True)
class OutputInformation:
    """How much a model's outputs on U vary, and how much of that is U's input sources.

    Guarantees: ``answer_entropy``, ``majority_share``, ``spread`` and ``source_nmi`` lie
    in [0, 1]; ``source_mi`` ≥ 0; ``source_mi``/``source_nmi`` are ``None`` exactly when
    U records no sources. ``majority_index`` is the class (or bin) most often answered.
    """

    n: int
    n_answers: int
    answer_entropy: float
    majority_share: float
    majority_index: int
    spread: float
    source_mi: float | None = None
    source_nmi: float | None = None

    def is_low(self, threshold: float = LOW_ENTROPY_THRESHOLD) -> bool:
        """Whether the outputs carry too little to embed more than U's inputs."""
        return self.answer_entropy < threshold

    def to_pairs(self) -> tuple[tuple[str, float], ...]:
        """The record as (name, value) pairs for :class:`~fute.embedding.TaskInfo`."""
        pairs: list[tuple[str, float]] = [
            ("n", float(self.n)),
            ("n_answers", float(self.n_answers)),
            ("answer_entropy", self.answer_entropy),
            ("majority_share", self.majority_share),
            ("majority_index", float(self.majority_index)),
            ("spread", self.spread),
        ]
        if self.source_mi is not None and self.source_nmi is not None:
            pairs += [("source_mi", self.source_mi), ("source_nmi", self.source_nmi)]
        return tuple(pairs)

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, float]]) -> OutputInformation | None:
        """Inverse of :meth:`to_pairs`; ``None`` for an empty record (older files)."""
        d = dict(pairs)
        if not d:
            return None
        return cls(
            n=int(d["n"]),
            n_answers=int(d["n_answers"]),
            answer_entropy=d["answer_entropy"],
            majority_share=d["majority_share"],
            majority_index=int(d["majority_index"]),
            spread=d["spread"],
            source_mi=d.get("source_mi"),
            source_nmi=d.get("source_nmi"),
        )

    def describe(self, label_names: Sequence[str] = ()) -> str:
        """One line for people, e.g. ``answer entropy 0.08, 97% 'clean', spread 0.02``."""
        i = self.majority_index
        answer = repr(label_names[i]) if 0 <= i < len(label_names) else f"bin {i + 1}/{self.n_answers}"
        text = (
            f"answer entropy {self.answer_entropy:.2f}, {self.majority_share:.0%} {answer}, "
            f"spread {self.spread:.2f}"
        )
        if self.source_mi is not None:
            text += f", MI with U's sources {self.source_mi:.2f} bits ({self.source_nmi:.0%} of the answers')"
        return text


def answers(predictions: np.ndarray, kind: str) -> tuple[np.ndarray, int]:
    """Each output's answer (class index or score bin) and the number of possible answers."""
    preds = np.asarray(predictions, dtype=np.float64)
    if kind == "regression":
        lo, hi = float(preds.min()), float(preds.max())
        if hi <= lo:
            return np.zeros(len(preds), dtype=np.int64), REGRESSION_BINS
        bins = np.floor((preds - lo) / (hi - lo) * REGRESSION_BINS).astype(np.int64)
        return np.clip(bins, 0, REGRESSION_BINS - 1), REGRESSION_BINS
    return preds.argmax(axis=1).astype(np.int64), int(preds.shape[1])


def _entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    # max: one answer gives -0.0, which would print as "-0.00"
    return max(0.0, float(-(p * np.log2(p)).sum()))


def _spread(predictions: np.ndarray, kind: str) -> float:
    preds = np.asarray(predictions, dtype=np.float64)
    if kind == "regression":
        half_range = (float(preds.max()) - float(preds.min())) / 2
        if half_range <= 0:
            return 0.0
        return float(np.clip(np.abs(preds - preds.mean()).mean() / half_range, 0.0, 1.0))
    tv = 0.5 * np.abs(preds - preds.mean(axis=0, keepdims=True)).sum(axis=1)
    return float(np.clip(tv.mean(), 0.0, 1.0))


def output_information(
    predictions: np.ndarray, kind: str, input_sources: Sequence[str] | None = None
) -> OutputInformation:
    """The statistics of the module docstring for a model's validated outputs on U.

    Raises:
        ValueError: no outputs, or ``input_sources`` of another length.
    """
    a, k = answers(predictions, kind)
    n = len(a)
    if n == 0:
        raise ValueError("no outputs to measure")
    counts = np.bincount(a, minlength=k).astype(np.float64)
    h_answer = _entropy_bits(counts)
    majority = int(counts.argmax())
    mi = nmi = None
    if input_sources is not None:
        if len(input_sources) != n:
            raise ValueError(f"{len(input_sources)} input sources for {n} outputs")
        names = sorted(set(input_sources))
        s = np.array([names.index(x) for x in input_sources], dtype=np.int64)
        joint = np.zeros((len(names), k))
        np.add.at(joint, (s, a), 1.0)
        # I(A; S) = H(A) + H(S) - H(A, S), exact on the empirical distribution
        mi = max(0.0, h_answer + _entropy_bits(joint.sum(axis=1)) - _entropy_bits(joint.ravel()))
        nmi = min(1.0, mi / h_answer) if h_answer > 0 else 0.0
    return OutputInformation(
        n=n,
        n_answers=k,
        answer_entropy=h_answer / math.log2(k) if k > 1 else 0.0,
        majority_share=float(counts[majority] / n),
        majority_index=majority,
        spread=_spread(predictions, kind),
        source_mi=mi,
        source_nmi=nmi,
    )
