"""What every embedding method shares: settings → space, task → embedding."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from fute.data.records import TaskData
from fute.embedding import TaskEmbedding, TaskInfo
from fute.space import EmbeddingSpace, canonical_settings
from fute.surrogate import Surrogate


class EmbeddingMethod(Protocol):
    """A task embedding method E bound to a surrogate and settings."""

    name: str

    def space(self, corpus: str | None = None) -> EmbeddingSpace:
        """The space this method's embeddings live in."""
        ...

    def embed(
        self,
        task: TaskData,
        info: TaskInfo | None = None,
        *,
        corpus: str | None = None,
        progress: bool = True,
    ) -> TaskEmbedding:
        """Embed a labelled task (a dataset, or a model's outputs on the corpus ``corpus``)."""
        ...


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
