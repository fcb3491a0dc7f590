"""Units of work: one (task, space) pair, keyed by a content hash of everything that moves its vector.

The key covers the data file's bytes, the column mapping, label kind and split (datasets);
the model's identity, prompt, adapter options and U's content hash (models); and the
method, *all* its settings, the surrogate's weight hash and fute's algorithm version. Task
names, types and tags are metadata, not part of the key: renaming or retagging an entry
re-uploads it without recomputing. Two entries with identical inputs share one key and so
one computation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fute.corpus import load_corpus
from fute.errors import FuteError
from fute.models.base import identity_hash
from fute.space import ALGORITHM_VERSION
from fute.surrogate import resolve_model_dir, weights_hash
from indexer.manifest import CorpusSpec, DatasetSpec, Manifest, ModelSpec, SpaceSpec

logger = logging.getLogger(__name__)

#: Bumped when the way a unit is computed or keyed changes, so old unit files are not reused.
UNIT_FORMAT = 1
UnitKind = Literal["dataset", "model"]


@dataclass(frozen=True)
class Unit:
    """One (task, space) to compute and upload.

    Attributes:
        key: content hash (64 hex chars); the name of its file in the state dir.
        entry: the manifest entry.
        space: the space it is embedded into.
        corpus: U (used by model entries only).
        error: why the key could not be computed (e.g. a missing data file); such a unit
            fails without running.
    """

    key: str
    entry: DatasetSpec | ModelSpec
    space: SpaceSpec
    corpus: CorpusSpec
    error: str | None = None

    @property
    def kind(self) -> UnitKind:
        """``dataset`` or ``model``."""
        return "dataset" if isinstance(self.entry, DatasetSpec) else "model"

    @property
    def task_id(self) -> str:
        """The task's id inside its index space: the entry name (unique within a manifest)."""
        return self.entry.name

    @property
    def label(self) -> str:
        """``name @ space`` for tables and logs."""
        return f"{self.entry.name} @ {self.space.name}"


def _sha256_file(path: Path, digest: hashlib._Hash) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)


def data_hash(path: Path) -> str:
    """sha256 of a data file's bytes, or of every file (relative name + bytes) under a folder."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode())
            _sha256_file(file, digest)
    elif path.is_file():
        _sha256_file(path, digest)
    else:
        raise FileNotFoundError(f"{path}: no such data file or folder")
    return digest.hexdigest()


def model_identity(spec: ModelSpec) -> str:
    """A stable id of a model entry *without loading the model*: weights hash, prompt, options.

    This is the one place that knows how each adapter scheme is identified; callables are
    cheap to build, so their adapter's own ``identity()`` is used.
    """
    from fute.models import load_adapter
    from fute.models.prompts import load_prompt

    scheme, _, target = spec.adapter.partition(":")
    opts = spec.options
    prompt = load_prompt(opts.prompt).canonical() if opts.prompt else ""
    if scheme == "callable":
        return load_adapter(spec.adapter, opts).identity()
    if scheme == "hf":
        return identity_hash("hf/1", weights_hash(resolve_model_dir(target)), str(opts.max_length))
    if scheme == "llm":
        from fute.models.smollm2 import SMOLLM2_NAME, smollm2_dir

        folder = smollm2_dir() if target == SMOLLM2_NAME else resolve_model_dir(target)
        return identity_hash("llm/1", weights_hash(Path(folder)), prompt, str(opts.max_length))
    if scheme == "openai":
        return identity_hash("openai/1", target, opts.model or "", opts.api, prompt)
    raise FuteError(f"no identity rule for adapter scheme {scheme!r}")


class _Hashes:
    """Per-plan memo of expensive hashes (surrogate weights, data files, U)."""

    def __init__(self) -> None:
        self.surrogates: dict[str, str] = {}
        self.data: dict[Path, str] = {}
        self.corpus: dict[CorpusSpec, str] = {}

    def surrogate(self, name: str) -> str:
        if name not in self.surrogates:
            self.surrogates[name] = weights_hash(resolve_model_dir(name))
        return self.surrogates[name]

    def data_file(self, path: Path) -> str:
        if path not in self.data:
            self.data[path] = data_hash(path)
        return self.data[path]

    def corpus_hash(self, spec: CorpusSpec) -> str:
        if spec not in self.corpus:
            self.corpus[spec] = load_corpus(spec.path, limit=spec.size, seed=spec.seed).hash
        return self.corpus[spec]


def corpus_hash(spec: CorpusSpec) -> str:
    """The content hash of the manifest's U (what a model embedding's space records)."""
    return _Hashes().corpus_hash(spec)


def _key(parts: dict[str, object]) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _space_part(space: SpaceSpec, hashes: _Hashes) -> dict[str, object]:
    return {
        "method": space.method,
        "settings": dataclasses.asdict(space.settings),
        "surrogate": hashes.surrogate(space.surrogate),
        "algorithm_version": ALGORITHM_VERSION,
    }


def _entry_part(
    entry: DatasetSpec | ModelSpec, corpus: CorpusSpec, hashes: _Hashes, models: dict[str, str]
) -> dict[str, object]:
    if isinstance(entry, DatasetSpec):
        return {
            "kind": "dataset",
            "data": hashes.data_file(entry.path),
            "format": entry.fmt,
            "fields": dataclasses.asdict(entry.fields),
            "label_kind": entry.label_kind,
            "split": entry.split,
        }
    if entry.name not in models:
        models[entry.name] = model_identity(entry)
    return {"kind": "model", "model": models[entry.name], "corpus": hashes.corpus_hash(corpus)}


def plan_units(manifest: Manifest) -> Iterator[Unit]:
    """Every (entry, space) unit of ``manifest`` with its key, in manifest order.

    A unit whose inputs cannot be read (missing file, unknown prompt, model folder gone)
    comes back with ``error`` set instead of stopping the plan: it fails alone.
    """
    hashes = _Hashes()
    models: dict[str, str] = {}
    entries: tuple[DatasetSpec | ModelSpec, ...] = (*manifest.datasets, *manifest.models)
    for entry in entries:
        for space_name in entry.spaces:
            space = manifest.space(space_name)
            try:
                parts = {
                    "unit_format": UNIT_FORMAT,
                    "entry": _entry_part(entry, manifest.corpus, hashes, models),
                    "space": _space_part(space, hashes),
                }
            except (FuteError, OSError) as exc:
                logger.warning("cannot plan %s @ %s: %s", entry.name, space.name, exc)
                key = _key({"unplannable": [entry.name, space.name]})
                yield Unit(key, entry, space, manifest.corpus, error=f"{type(exc).__name__}: {exc}")
                continue
            yield Unit(_key(parts), entry, space, manifest.corpus)


def upload_fingerprint(unit: Unit, metadata_json: str) -> str:
    """What an upload of ``unit`` puts in the index: its key plus the task's metadata."""
    return identity_hash("upload/1", unit.key, unit.space.name, unit.task_id, metadata_json)
