"""What a validated manifest holds: the spaces, datasets, models and corpus U to index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fute.corpus import DEFAULT_CORPUS_SEED, DEFAULT_CORPUS_SIZE
from fute.data import FieldMap, LabelKind
from fute.data.loading import DataFormat
from fute.models import AdapterOptions
from fute_client.types import Backend


@dataclass(frozen=True)
class SpaceSpec:
    """One embedding space: a method with settings on a surrogate, stored as index space ``name``."""

    name: str
    method: str
    settings: Any  # the method's frozen settings dataclass (validated)
    surrogate: str
    backend: Backend = "flat"
    #: Create the index space keeping the neighbour lists CSLS needs (cost: docs/service.md).
    keep_neighbours: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """A labelled dataset file or folder, embedded into ``spaces``."""

    name: str
    path: Path
    fmt: DataFormat | None
    fields: FieldMap
    label_kind: LabelKind | None
    split: str
    task_type: str
    tags: tuple[str, ...]
    spaces: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    """A black-box model (adapter spec + prompt + options), embedded on U into ``spaces``."""

    name: str
    adapter: str
    options: AdapterOptions  # carries the prompt too
    task_type: str
    tags: tuple[str, ...]
    spaces: tuple[str, ...]

    @property
    def prompt(self) -> str | None:
        """The prompt reference (``NAME`` or ``FILE#NAME``), if any."""
        return self.options.prompt


@dataclass(frozen=True)
class CorpusSpec:
    """The unlabelled corpus U: a JSONL file, ``packaged:NAME`` or None (the packaged default),
    and a seeded sample size."""

    path: Path | str | None = None
    size: int | None = DEFAULT_CORPUS_SIZE
    seed: int = DEFAULT_CORPUS_SEED


@dataclass(frozen=True)
class Manifest:
    """A validated manifest; paths are absolute (relative ones resolve against its folder)."""

    source: Path
    surrogate: str
    tags: tuple[str, ...]
    corpus: CorpusSpec
    spaces: tuple[SpaceSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    models: tuple[ModelSpec, ...]

    def space(self, name: str) -> SpaceSpec:
        """The space called ``name``."""
        for s in self.spaces:
            if s.name == name:
                return s
        raise KeyError(name)
