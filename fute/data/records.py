"""Records for labelled tasks: one example, one task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

LabelKind = Literal["class", "regression", "soft"]
LABEL_KINDS: tuple[LabelKind, ...] = ("class", "regression", "soft")


@dataclass(frozen=True)
class Example:
    """One labelled example.

    ``label`` is a class index (``class``), a float (``regression``) or a probability
    vector over the task's classes (``soft``).
    """

    text: str
    label: int | float | tuple[float, ...]
    text_pair: str | None = None


@dataclass(frozen=True)
class TaskData:
    """A labelled task: examples of one label kind, with class names in head order."""

    name: str
    examples: tuple[Example, ...]
    label_kind: LabelKind
    label_names: tuple[str, ...] = ()
    source: str = ""

    @property
    def num_outputs(self) -> int:
        """Width of the task head: number of classes, or 1 for regression."""
        return 1 if self.label_kind == "regression" else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """True when the examples are text pairs."""
        return any(ex.text_pair is not None for ex in self.examples)

    def label_array(self) -> np.ndarray:
        """Labels as an array: int64 class ids, float32 scores, or float32 (n, classes)."""
        labels = [ex.label for ex in self.examples]
        if self.label_kind == "class":
            return np.asarray(labels, dtype=np.int64)
        return np.asarray(labels, dtype=np.float32)

    def with_examples(self, examples: tuple[Example, ...]) -> TaskData:
        """A copy holding other examples (a split or a cap of this one)."""
        return TaskData(self.name, examples, self.label_kind, self.label_names, self.source)
