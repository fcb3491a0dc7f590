"""Rank sources for an uploaded data file: embed it with the space's recipe, then rank.

``fute rank --data FILE`` over HTTP, as jobs: :meth:`DatasetJobs.submit` checks what can be
checked at once (the space exists and has an identity, the file name and its rows parse)
and answers with a job; one worker thread embeds (CPU-heavy, so one at a time) and ranks
with the embedding's identity attached, so the store refuses a space of another recipe
exactly as for ``fute rank --data``; the job's own indexed copy is left out of its
ranking (:func:`server.dataset_query.is_same_task`). The console polls :meth:`DatasetJobs.get`
for the stage. The surrogate is loaded on first use, once per process.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import faiss

from fute.errors import FuteError, SpaceMismatchError
from fute_client.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    TaskSearchError,
    UnavailableError,
)
from fute_client.types import Filter, Hit, Similarity, Space
from server.dataset_query import FileOptions, embed_path_for_space, indexed_copy, without_ids
from server.echo import shown
from server.http_api.status import InternalError
from server.store.hubness import check_similarity, no_lists_error

if TYPE_CHECKING:
    from fute.surrogate import Surrogate
    from server.store import TaskStore

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
STAGES: tuple[str, ...] = ("queued", "reading", "loading surrogate", "embedding", "ranking", "done")
# Suffixes fute.data reads from a single uploaded file (Parquet and HF folders are not text).
UPLOAD_SUFFIXES: tuple[str, ...] = (".jsonl", ".ndjson", ".csv", ".tsv")
MAX_FILENAME_CHARS = 120


class TooManyJobsError(ResourceExhaustedError):
    """Every job slot is taken; HTTP 429 (retry later), not 413 (too big)."""

    http_status = 429


class SurrogateCache:
    """Surrogates by name, each loaded once per process on first use (thread-safe)."""

    def __init__(self, loader: Callable[[str], Surrogate] | None = None) -> None:
        self._loader = loader
        self._loaded: dict[str, Surrogate] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Surrogate:
        with self._lock:  # held while loading, so two jobs never load the same weights twice
            if name not in self._loaded:
                if self._loader is None:
                    from fute.surrogate import load_surrogate

                    self._loader = load_surrogate
                log.info("loading surrogate %s for uploaded datasets", name)
                self._loaded[name] = self._loader(name)
            return self._loaded[name]


@dataclass
class Job:
    """One upload's progress and outcome (fields change under :attr:`DatasetJobs._lock`)."""

    id: str
    space: str
    file: str
    rows: int
    k: int
    candidate_filter: Filter | None
    options: FileOptions
    path: Path
    similarity: Similarity = "cosine"
    csls_k: int | None = None
    state: JobState = "queued"
    stage: str = "queued"
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    n_examples: int | None = None
    description: str = ""
    ranking: list[Hit] | None = None
    none_expected_to_help: bool = False
    advice: str = ""
    error: TaskSearchError | None = None

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def upload_name(filename: str) -> str:
    """A safe base name for an uploaded file, keeping its suffix (which picks the reader)."""
    base = Path(filename.replace("\\", "/")).name
    lower = base.lower()
    plain = lower[:-3] if lower.endswith(".gz") else lower
    if not base or not plain.endswith(UPLOAD_SUFFIXES) or len(base) > MAX_FILENAME_CHARS:
        raise InvalidArgumentError(
            f"filename {shown(filename)}: expected a name ending in one of {', '.join(UPLOAD_SUFFIXES)}"
            f" (optionally .gz), at most {MAX_FILENAME_CHARS} characters"
        )
    if not base.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise InvalidArgumentError(f"filename {shown(filename)}: use letters, digits, '.', '-' and '_' only")
    return base


def as_task_search_error(exc: Exception) -> TaskSearchError:
    """The API error of a failure while embedding: a recipe that cannot be reproduced is
    FAILED_PRECONDITION (as a space mismatch), a bad file INVALID_ARGUMENT."""
    if isinstance(exc, TaskSearchError):
        return exc
    if isinstance(exc, SpaceMismatchError):
        return FailedPreconditionError(str(exc))
    if isinstance(exc, FuteError):
        return InvalidArgumentError(str(exc))
    raise exc


class DatasetJobs:
    """Upload jobs over one store: at most ``max_pending`` queued or running, the last
    ``keep`` finished ones kept for polling, files deleted when their job ends."""

    def __init__(
        self,
        store_of: Callable[[], TaskStore],
        surrogates: SurrogateCache,
        *,
        threads_per_call: int = 1,
        max_pending: int = 4,
        keep: int = 32,
    ) -> None:
        self._store_of = store_of
        self._surrogates = surrogates
        self._max_pending = max_pending
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        # One worker: embedding takes every core torch is given; FAISS threads as the RPC pool's.
        self._pool = futures.ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="dataset-job",
            initializer=faiss.omp_set_num_threads,
            initargs=(threads_per_call,),
        )

    def submit(
        self,
        space_name: str,
        filename: str,
        data: bytes,
        options: FileOptions,
        k: int,
        flt: Filter | None,
        *,
        similarity: Similarity = "cosine",
        csls_k: int | None = None,
    ) -> Job:
        """Check the space and the file now (4xx errors), then queue the embedding."""
        store = self._store_of()
        store._check_k(k, allow_zero=True)  # the limit rank_sources applies, before any work
        check_similarity(similarity, csls_k)  # and its similarity arguments
        space = store.describe_space(space_name)
        if space.identity is None:
            raise FailedPreconditionError(
                f"space {shown(space_name)} was created without an embedding-space identity, so no "
                "recipe is known to embed a file for it"
            )
        if similarity == "csls" and not space.keep_neighbours:
            raise no_lists_error(space_name)  # before the job is queued
        name = upload_name(filename)
        folder = Path(tempfile.mkdtemp(prefix="fute-upload-"))
        path = folder / name
        try:
            path.write_bytes(data)
            rows = self._rows(path, folder, options)
            job = Job(
                secrets.token_urlsafe(12), space_name, name, rows, k, flt, options, path, similarity, csls_k
            )
            with self._lock:
                pending = sum(j.state in ("queued", "running") for j in self._jobs.values())
                if pending >= self._max_pending:
                    raise TooManyJobsError(
                        f"{pending} uploads are being embedded, at most {self._max_pending}; retry shortly"
                    )
                self._jobs[job.id] = job
                self._forget_old()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._pool.submit(self._run, job, space)
        log.info("job %s: %s (%d rows) for space %r queued", job.id, name, rows, space_name)
        return job

    @staticmethod
    def _rows(path: Path, folder: Path, options: FileOptions) -> int:
        """Rows of the file, or INVALID_ARGUMENT naming the line (the temp folder left out)."""
        from fute.data import load_task
        from fute.data.loading import FieldMap

        fields = FieldMap(text=options.text_field, text_pair=options.pair_field, label=options.label_field)
        try:
            return len(load_task(path, name=options.name, fmt=options.fmt, fields=fields).examples)  # type: ignore[arg-type]
        except FuteError as exc:
            raise InvalidArgumentError(str(exc).replace(f"{folder}/", "")) from exc

    def get(self, job_id: str) -> Job:
        """The job of ``job_id``; NOT_FOUND once it has been forgotten or if never issued."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {shown(job_id)} (finished jobs are kept {self._keep} deep)")
        return job

    def snapshot(self, job: Job) -> Job:
        """A consistent copy of ``job`` to read while the worker changes it."""
        with self._lock:
            return Job(**{f: getattr(job, f) for f in job.__dataclass_fields__})

    def close(self) -> None:
        """Stop taking jobs: queued ones fail (UNAVAILABLE) and their files are deleted."""
        # Not waiting: an embedding can outlast the grace period; its ranking then fails
        # (UNAVAILABLE from the closed store) and only its own job hears of it.
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job.state == "queued":
                    job.state, job.finished = "failed", time.monotonic()
                    job.error = UnavailableError("the server stopped before this upload was embedded")
                    shutil.rmtree(job.path.parent, ignore_errors=True)

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.state in ("done", "failed")]
        for job in done[: max(0, len(done) - self._keep)]:
            del self._jobs[job.id]

    def _stage(self, job: Job, stage: str) -> None:
        with self._lock:
            job.state, job.stage = "running", stage

    def _run(self, job: Job, space: Space) -> None:
        try:
            query = embed_path_for_space(
                space, job.path, job.options, self._surrogates, lambda s: self._stage(job, s)
            )
            self._stage(job, "ranking")
            store = self._store_of()
            ranking = store.rank_sources(
                job.space,
                query.embedding.vector,
                candidate_filter=without_ids(job.candidate_filter, indexed_copy(store, job.space, query)),
                k=job.k,
                expected_identity=query.identity,
                similarity=job.similarity,
                csls_k=job.csls_k,
            )
            with self._lock:
                job.ranking = list(ranking)
                job.none_expected_to_help = ranking.none_expected_to_help
                job.advice = ranking.advice
                job.n_examples = query.n_examples
                job.description = query.describe(job.space)
                job.state, job.stage, job.finished = "done", "done", time.monotonic()
            log.info("job %s done: %s", job.id, job.description)
        except Exception as exc:
            try:
                error = as_task_search_error(exc)
            except Exception:
                log.exception("job %s failed", job.id)
                error = InternalError(f"internal error: {type(exc).__name__}")
            with self._lock:
                job.error = error
                job.state, job.finished = "failed", time.monotonic()
            log.info("job %s failed: %s", job.id, error)
        finally:
            shutil.rmtree(job.path.parent, ignore_errors=True)
