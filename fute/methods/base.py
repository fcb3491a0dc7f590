"""What every embedding method shares: settings → space, task → embedding."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from fute.data.records import TaskData
from fute.data.split import cap_examples
from fute.embedding import TaskEmbedding, TaskInfo
from fute.space import EmbeddingSpace, canonical_settings
from fute.surrogate import Surrogate


class CapSettings(Protocol):
    """The settings every method's :meth:`EmbeddingMethod.embed` reads."""

    @property
    def max_examples(self) -> int:
        """Examples per task; a larger task is cut to a seeded sample of this many."""
        ...

    @property
    def seed(self) -> int:
        """Seed of that sample (and of the method's own randomness)."""
        ...


class EmbeddingMethod(ABC):
    """A task embedding method E bound to a surrogate and settings.

    A method says which space it embeds into (:meth:`space`) and how a task becomes a
    vector (:meth:`vectors`); :meth:`embed`, the same for every method, caps the task
    and records the vector with its space and the task's info.
    """

    name: str
    settings: CapSettings

    @abstractmethod
    def space(self, corpus: str | None = None) -> EmbeddingSpace:
        """The space this method's embeddings live in."""

    @abstractmethod
    def vectors(self, task: TaskData, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The indexed vector of an already capped task, and the unreduced one (or None)."""

    def embed(
        self,
        task: TaskData,
        info: TaskInfo | None = None,
        *,
        corpus: str | None = None,
        progress: bool = True,
    ) -> TaskEmbedding:
        """Embed a labelled task (a dataset, or a model's outputs on the corpus ``corpus``).

        The task is first cut to ``settings.max_examples`` (a sample seeded by
        ``settings.seed``); the info records the examples actually used.
        """
        task = cap_examples(task, self.settings.max_examples, self.settings.seed)
        vector, full = self.vectors(task, progress=progress)
        return TaskEmbedding(vector=vector, space=self.space(corpus), task=info_for(task, info), full=full)


def settings_json(settings: Any, exclude: tuple[str, ...] = (), neutral: dict[str, Any] | None = None) -> str:
    """Canonical JSON of a settings dataclass, leaving out fields that do not move vectors.

    A field listed in ``neutral`` is left out while it has that value: an option added to
    a method later then leaves the identity of every space made before it unchanged.
    """
    raw = asdict(settings)
    for key in exclude:
        raw.pop(key, None)
    for key, value in (neutral or {}).items():
        if raw.get(key) == value:
            raw.pop(key)
    return canonical_settings(raw)


@dataclass(frozen=True)
class SpaceParts:
    """The method-specific part of an embedding space."""

    method: str
    settings: str
    dim: int
    reduction: str = "none"
    reduction_seed: int = 0


def make_space(surrogate: Surrogate, parts: SpaceParts, corpus: str | None) -> EmbeddingSpace:
    """Combine surrogate identity, method part and corpus into an :class:`EmbeddingSpace`."""
    from fute import __version__

    return EmbeddingSpace(
        surrogate_name=surrogate.name,
        surrogate_hash=surrogate.weights_sha256[:16],
        method=parts.method,
        settings=parts.settings,
        dim=parts.dim,
        reduction=parts.reduction,
        reduction_seed=parts.reduction_seed,
        corpus=corpus,
        library_version=__version__,
    )


def info_for(task: TaskData, info: TaskInfo | None) -> TaskInfo:
    """The caller's TaskInfo (or a dataset default) with the example count actually used."""
    from dataclasses import replace

    return replace(info or default_info(task), n_examples=len(task.examples))


def default_info(task: TaskData) -> TaskInfo:
    """TaskInfo for a dataset task when the caller gives none."""
    return TaskInfo.of_dataset(task)
