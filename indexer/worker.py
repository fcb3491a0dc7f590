"""The unit function: compute one unit's embedding in a worker (pool process or Ray task).

It takes a picklable :class:`UnitJob` and returns a :class:`UnitResult`; it never raises
for a failure of the unit itself, so one broken dataset cannot take a worker or the job
down. Results travel back to the driver, which alone writes the state dir and the index:
the same function therefore runs unchanged on a remote Ray node.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from fute.corpus import UnlabelledCorpus
from fute.embedding import TaskEmbedding, TaskInfo
from fute.errors import FuteError
from fute.methods.base import EmbeddingMethod
from fute.surrogate import Surrogate
from indexer.manifest import CorpusSpec, DatasetSpec, ModelSpec, SpaceSpec
from indexer.units import Unit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitJob:
    """Everything a worker needs for one unit (picklable; no open handles)."""

    key: str
    label: str
    entry: DatasetSpec | ModelSpec
    space: SpaceSpec
    corpus: CorpusSpec
    threads: int
    prediction_cache: Path | None = None

    @classmethod
    def of(cls, unit: Unit, threads: int, prediction_cache: Path | None = None) -> UnitJob:
        """The job of ``unit``."""
        return cls(unit.key, unit.label, unit.entry, unit.space, unit.corpus, threads, prediction_cache)


@dataclass(frozen=True)
class UnitResult:
    """The outcome of one unit: an embedding, or the error that stopped it."""

    key: str
    seconds: float
    embedding: TaskEmbedding | None = None
    error: str | None = None
    worker: str = ""

    @property
    def ok(self) -> bool:
        """Whether an embedding came back."""
        return self.embedding is not None


class WorkerCache:
    """Models a worker process keeps between units: the surrogate loads once per process."""

    def __init__(self) -> None:
        self.threads: int | None = None
        self.surrogates: dict[str, Surrogate] = {}
        self.methods: dict[tuple[str, str, str], EmbeddingMethod] = {}
        self.corpora: dict[CorpusSpec, UnlabelledCorpus] = {}

    def set_threads(self, threads: int) -> None:
        if self.threads != threads:
            from fute.runtime import configure_threads

            self.threads = configure_threads(threads)

    def method(self, space: SpaceSpec) -> EmbeddingMethod:
        from fute.methods import make_method
        from fute.surrogate import load_surrogate

        key = (space.surrogate, space.method, repr(space.settings))
        if key not in self.methods:
            if space.surrogate not in self.surrogates:
                self.surrogates[space.surrogate] = load_surrogate(space.surrogate)
            self.methods[key] = make_method(space.method, self.surrogates[space.surrogate], space.settings)
        return self.methods[key]

    def corpus(self, spec: CorpusSpec) -> UnlabelledCorpus:
        from fute.corpus import load_corpus

        if spec not in self.corpora:
            self.corpora[spec] = load_corpus(spec.path, limit=spec.size, seed=spec.seed)
        return self.corpora[spec]


# One cache per worker process, created on first use (never at import): pool processes and
# Ray workers live across many units, and reloading the surrogate per unit would dominate.
_cache: WorkerCache | None = None


def worker_cache() -> WorkerCache:
    """This process's :class:`WorkerCache`."""
    global _cache
    if _cache is None:
        _cache = WorkerCache()
    return _cache


def _embed_dataset(entry: DatasetSpec, method: EmbeddingMethod, space: SpaceSpec) -> TaskEmbedding:
    from fute.data import load_task

    task = load_task(
        entry.path,
        name=entry.name,
        fmt=entry.fmt,
        fields=entry.fields,
        label_kind=entry.label_kind,
        split=entry.split,
    )
    # The method records how many examples it used after its own cap.
    info = TaskInfo.of_dataset(task, source=str(entry.path), task_type=entry.task_type, tags=entry.tags)
    return method.embed(task, info, progress=False)


def embed_model_entry(
    entry: ModelSpec, method: EmbeddingMethod, corpus: UnlabelledCorpus, prediction_cache: Path | None
) -> TaskEmbedding:
    """A model entry's embedding through ``fute.model_embedding.embed_model`` (the one call into it)."""
    from fute.model_embedding import embed_model
    from fute.models import load_adapter

    adapter = load_adapter(entry.adapter, entry.options)
    task_type = entry.task_type or str(getattr(getattr(adapter, "prompt", None), "task_type", "") or "")
    source = entry.adapter + (f"#{entry.prompt}" if entry.prompt else "")
    info = TaskInfo(name=entry.name, kind="model", task_type=task_type, source=source, tags=entry.tags)
    return embed_model(adapter, method, corpus, info, cache_dir=prediction_cache, progress=False)


def _describe(exc: Exception) -> str:
    if isinstance(exc, FuteError):
        return f"{type(exc).__name__}: {exc}"
    # An unexpected error is a bug somewhere: keep where it happened.
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames)
    return f"{type(exc).__name__}: {exc} (at {where})"


def compute_unit(job: UnitJob) -> UnitResult:
    """Compute one unit; failures come back as a result with ``error``, never as an exception."""
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        cache = worker_cache()
        cache.set_threads(job.threads)
        method = cache.method(job.space)
        if isinstance(job.entry, DatasetSpec):
            emb = _embed_dataset(job.entry, method, job.space)
        else:
            emb = embed_model_entry(job.entry, method, cache.corpus(job.corpus), job.prediction_cache)
    except Exception as exc:  # isolate the unit: the job goes on and reports this error
        logger.info("unit %s failed: %s", job.label, exc)
        return UnitResult(job.key, time.perf_counter() - start, error=_describe(exc), worker=worker)
    return UnitResult(job.key, time.perf_counter() - start, embedding=emb, worker=worker)


def init_worker(threads: int, log_level: int) -> None:
    """Pool initializer: logging like the driver's, torch threads set once."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )
    worker_cache().set_threads(threads)
