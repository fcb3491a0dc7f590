"""``TaskStore``: the TaskSearch API in process (the gRPC servicer is a thin layer on it).

Durability: every write is one SQLite transaction (WAL, synchronous=FULL) committed
before the call returns, so an acknowledged write survives a crash; an upsert changes the
FAISS index inside that transaction, so a batch FAISS refuses is not stored either. At
start the indexes are rebuilt from SQLite with every task row's checksums (vector and
metadata) and every vector verified by the same test an upsert applies, so whatever was
accepted loads again. Concurrency: a readers-writer lock lets searches run together while
writes run alone.

Validation before mutation: a restore validates the whole snapshot (schema, rows,
vectors, built indexes) aside and swaps it in only then; index rebuilds are built aside
and swapped in; limits are checked on a request's own numbers before work starts. If the
store ever cannot answer (a swap failed half-way) it says so: every call is UNAVAILABLE
and ``on_unusable`` lets the server report NOT_SERVING.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import faiss
import numpy as np

from fute.dir_lock import lock_dir
from fute.errors import SpaceMismatchError
from fute.space import check_same_space
from fute.transfer_prediction import load_predictor
from fute_client.contract import TaskSearchAPI
from fute_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    TaskSearchError,
    UnavailableError,
)
from fute_client.types import (
    BACKENDS,
    RANK_ORDERS,
    TASK_KINDS,
    Backend,
    Condition,
    Filter,
    Hit,
    ItemError,
    OutputInfo,
    Page,
    QueryTarget,
    Ranking,
    RankOrder,
    ServerInfo,
    Similarity,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    UpsertResult,
    iter_pages,
)
from server import __version__
from server.config import StoreConfig
from server.echo import shown
from server.embedding_upload import embedding_space_of
from server.store import hubness, snapshots, source_ranking
from server.store.faiss_index import SpaceIndex, gpu_count, invalid_rows, resolve_device
from server.store.filters import compile_filter
from server.store.hubness import NeighbourChange, NeighbourTable
from server.store.metadata import MetadataDB, SpaceRow, StoreCorruptedError, check_copy
from server.store.rwlock import RWLock

if TYPE_CHECKING:
    from fute_client.client import TaskSearchClient

log = logging.getLogger(__name__)

DB_NAME = "tasks.sqlite"
MAX_ID_BYTES = 256
MAX_NAME_CHARS = 128
MAX_DIM = 65_536
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_DELETE_IDS = 1000
# Smallest wire size of one returned task (id, score, metadata framing): the reply-size
# estimate is a lower bound, so it refuses only replies that cannot fit.
MIN_TASK_REPLY_BYTES = 16
_NOT_UNIT = "cannot be scaled to unit length in float32"


def _check_space_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidArgumentError(
            f"space name {shown(name)} must be 1-{MAX_NAME_CHARS} printable characters"
        )


def _check_vector(vector: np.ndarray, dim: int, what: str, *, unit_test: bool = True) -> np.ndarray:
    """``vector`` as float32 if it can be indexed, INVALID_ARGUMENT saying why otherwise.

    The same test (:func:`~server.store.faiss_index.invalid_rows`) runs when a store
    loads or a snapshot is restored, so a vector accepted here always loads again.
    ``unit_test=False`` leaves that last test to the caller (upsert runs it once per
    batch: per vector its overhead would dominate a big batch).
    """
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or v.shape[0] != dim:
        raise InvalidArgumentError(
            f"{what} has dimension {v.shape[0] if v.ndim == 1 else v.shape}, the space has {dim}"
        )
    if not np.all(np.isfinite(v)):
        raise InvalidArgumentError(f"{what} contains NaN or Inf")
    if not np.any(v):
        raise InvalidArgumentError(f"{what} is all zeros: cosine similarity is undefined")
    if unit_test and len(invalid_rows(v[None, :])):
        raise InvalidArgumentError(f"{what} {_NOT_UNIT}")
    return v


def _split_unindexable(tasks: list[Task]) -> tuple[list[Task], list[ItemError]]:
    """(tasks whose vectors pass the unit-length test, an error for each of the others)."""
    if not tasks:
        return tasks, []
    bad = set(invalid_rows(np.stack([t.vector for t in tasks])).tolist())  # type: ignore[misc]
    errors = [
        ItemError(t.id, "INVALID_ARGUMENT", f"vector of task {shown(t.id)} {_NOT_UNIT}")
        for i, t in enumerate(tasks)
        if i in bad
    ]
    return [t for i, t in enumerate(tasks) if i not in bad], errors


def _check_output_info(info: OutputInfo, what: str) -> OutputInfo:
    """``info`` with plain int and float values, or InvalidArgumentError naming the field
    that is out of its range."""
    try:
        info = OutputInfo(
            n=int(info.n),
            n_answers=int(info.n_answers),
            answer_entropy=float(info.answer_entropy),
            majority_share=float(info.majority_share),
            majority_index=int(info.majority_index),
            spread=float(info.spread),
            source_mi=None if info.source_mi is None else float(info.source_mi),
            source_nmi=None if info.source_nmi is None else float(info.source_nmi),
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgumentError(f"{what}: output_info holds a value that is not a number ({exc})") from exc
    unit = {
        "answer_entropy": info.answer_entropy,
        "majority_share": info.majority_share,
        "spread": info.spread,
        "source_nmi": info.source_nmi,
    }
    for name, value in unit.items():
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise InvalidArgumentError(f"{what}: output_info.{name} must be in [0, 1], got {value}")
    if info.source_mi is not None and not (math.isfinite(info.source_mi) and info.source_mi >= 0.0):
        raise InvalidArgumentError(
            f"{what}: output_info.source_mi must be finite and >= 0, got {info.source_mi}"
        )
    if (info.source_mi is None) != (info.source_nmi is None):
        raise InvalidArgumentError(
            f"{what}: output_info.source_mi and source_nmi are set together or not at all"
        )
    if info.n < 1 or info.n_answers < 1:
        raise InvalidArgumentError(
            f"{what}: output_info.n and n_answers must be >= 1, got {info.n} and {info.n_answers}"
        )
    if not 0 <= info.majority_index < info.n_answers:
        raise InvalidArgumentError(
            f"{what}: output_info.majority_index must be in [0, {info.n_answers}), got {info.majority_index}"
        )
    return info


def _check_task(task: Task, dim: int) -> Task:
    """A task ready to store, or InvalidArgumentError saying what is wrong."""
    size = len(task.id.encode())
    if size == 0 or size > MAX_ID_BYTES:
        raise InvalidArgumentError(f"task id must be 1-{MAX_ID_BYTES} bytes of UTF-8, got {size}")
    if task.vector is None:
        raise InvalidArgumentError(f"task {task.id!r} has no vector")
    if task.kind not in TASK_KINDS:
        raise InvalidArgumentError(f"task {task.id!r}: unknown kind {task.kind!r}; valid: {TASK_KINDS}")
    if task.output_info is not None:
        if task.kind == "dataset":
            raise InvalidArgumentError(
                f"task {shown(task.id)}: output_info describes a model's outputs; this task is a dataset"
            )
        info = _check_output_info(task.output_info, f"task {shown(task.id)}")
    else:
        info = None
    vector = _check_vector(task.vector, dim, f"vector of task {shown(task.id)}", unit_test=False)
    return Task(
        id=task.id,
        vector=vector,
        name=task.name or task.id,
        kind=task.kind,
        task_type=task.task_type,
        label_names=tuple(task.label_names),
        source=task.source,
        tags=tuple(sorted(set(task.tags))),
        output_info=info,
    )


def _pinned_identity(row: SpaceRow, expected: SpaceIdentity | None) -> SpaceIdentity | None:
    """The identity a space takes from an accepted upsert, or ``None`` if it keeps its own.

    A space made for datasets has no corpus: dataset embeddings do not read U. The first
    model tasks sent with their identity fix its U, so that models embedded on another U
    (another space by the embedding rules, :func:`fute.space.check_one_space`) are refused
    from then on instead of being compared with them."""
    if row.identity is None or expected is None or row.identity.corpus or not expected.corpus:
        return None
    return replace(row.identity, corpus=expected.corpus)


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _decode_token(token: str) -> str:
    """The last id of the previous page; INVALID_ARGUMENT for anything this server did
    not issue (strict base64, non-empty UTF-8 of at most MAX_ID_BYTES, canonical form)."""
    bad = InvalidArgumentError(f"page_token {shown(token)} is not one this server issued")
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        last_id = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise bad from exc
    if not 0 < len(raw) <= MAX_ID_BYTES or _encode_token(last_id) != token:
        raise bad
    return last_id


def _sidecars(db_file: Path) -> tuple[Path, Path]:
    """The WAL and shared-memory files SQLite keeps beside a database file."""
    return Path(f"{db_file}-wal"), Path(f"{db_file}-shm")


def _check_space_row(db: MetadataDB, row: SpaceRow) -> None:
    """StoreCorruptedError for a stored space this server cannot serve."""
    if not (isinstance(row.dim, int) and 1 <= row.dim <= MAX_DIM) or row.backend not in BACKENDS:
        raise StoreCorruptedError(
            f"{db.path}: space {row.name!r} has dim {row.dim!r} and backend {row.backend!r};"
            f" valid: dim 1-{MAX_DIM}, backends {BACKENDS}"
        )


def _stored_vectors_of(db: MetadataDB, vec_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stored vectors of those ``vec_ids`` that have a row, and a mask of which do (a
    delete's transaction removes rows before the index drops them)."""
    ids = [int(v) for v in vec_ids]
    try:
        return db.vectors(ids), np.ones(len(ids), dtype=bool)
    except KeyError:  # some row is gone: look up which remain (the rare path)
        remaining = db.ids_of_vec_ids(ids)
        present = np.array([i in remaining for i in ids], dtype=bool)
        return db.vectors([i for i in ids if i in remaining]), present


def _vectors_of(db: MetadataDB) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``db``'s stored vectors by vec_id, for an index built from it."""
    return lambda vec_ids: _stored_vectors_of(db, vec_ids)


def build_indexes(
    db: MetadataDB, config: StoreConfig, device: Literal["cpu", "gpu"]
) -> tuple[dict[str, SpaceRow], dict[str, SpaceIndex], int]:
    """Every space of ``db`` with its index built, and the task count.

    Checks what serving needs: each space row, every task row's checksums (vector and
    metadata), every vector's length and that it can be normalised (the upsert test). Any
    failure is StoreCorruptedError naming the task, and nothing outside is changed, so
    this is the validation of a snapshot before it replaces the live store.
    """
    spaces = {row.name: row for row in db.spaces()}
    indexes: dict[str, SpaceIndex] = {}
    total = 0
    for row in spaces.values():
        _check_space_row(db, row)
        index = SpaceIndex(row.dim, row.backend, config.index_params, device, fetch=_vectors_of(db))
        parts = list(db.iter_space_vectors(row.name, verify_rows=True, dim=row.dim))
        if parts:
            ids = np.concatenate([p[0] for p in parts])
            vecs = np.concatenate([p[1] for p in parts])
            del parts  # a million 1,024-d vectors are 4 GB: keep one copy while building
            bad = invalid_rows(vecs)
            if len(bad):
                task = db.tasks_by_vec_ids([int(ids[bad[0]])], False)[int(ids[bad[0]])]
                raise StoreCorruptedError(
                    f"{db.path}: vector of task {task.id!r} in space {row.name!r} is not finite or"
                    f" cannot be scaled to unit length ({len(bad)} such vectors); restore a snapshot"
                )
            try:
                index.build(ids, vecs)
            except RuntimeError as exc:  # FAISS refusing the vectors
                raise StoreCorruptedError(
                    f"{db.path}: cannot build the {row.backend} index of space {row.name!r}: {exc}"
                ) from exc
            total += len(ids)
        indexes[row.name] = index
    return spaces, indexes, total


def build_neighbours(
    db: MetadataDB, spaces: dict[str, SpaceRow], indexes: dict[str, SpaceIndex]
) -> dict[str, NeighbourTable]:
    """The neighbour lists (for CSLS) of every space created with ``keep_neighbours``
    from ``db``, built indexes given; other spaces have none and cost nothing here.

    Lists such a space lacks or holds damaged are computed from the index and saved, so
    the next start reads them (:func:`server.store.hubness.load_table`).
    """
    tables: dict[str, NeighbourTable] = {}
    for row in spaces.values():
        if not row.keep_neighbours:
            continue
        live = db.matching_vec_ids(row.name, *compile_filter(None))
        table, computed = hubness.load_table(
            db.iter_neighbours(row.name),
            live,
            indexes[row.name],
            db.vectors,
            exact=indexes[row.name].exact,
            space=row.name,
        )
        db.save_neighbours(computed)
        tables[row.name] = table
    return tables


def server_info_of(
    config: StoreConfig, device: str, *, max_message_bytes: int = 0, auth_enabled: bool = False
) -> ServerInfo:
    """The ``GetServerInfo`` record of a store with ``config`` on ``device``.

    One definition for the in-process store and the server (which adds its transport's
    message limit and whether auth is on), so the two cannot disagree.
    """
    return ServerInfo(
        version=__version__,
        index_library=f"faiss {faiss.__version__}",
        device=device,
        gpu_count=gpu_count(),
        backends=BACKENDS,
        max_k=config.max_k,
        max_queries=config.max_queries,
        max_message_bytes=max_message_bytes,
        auth_enabled=auth_enabled,
    )


@dataclass(frozen=True)
class _Lookup:
    """One read's resolved queries: the space, the query vectors, the vec_id each query
    leaves out (-1: none), the filter's allowed vec_ids (None: all) and how many
    candidates that leaves."""

    row: SpaceRow
    queries: np.ndarray
    exclude: list[int]
    allowed: np.ndarray | None
    candidates: int

    @property
    def filtered_out(self) -> bool:
        """The filter matches no task (an empty space with no filter is searched as usual)."""
        return self.allowed is not None and len(self.allowed) == 0


class TaskStore:
    """Spaces of task vectors with metadata, searchable by cosine similarity.

    Open with ``TaskStore(StoreConfig(path=...))``; close with :meth:`close` (or use as a
    context manager). Only one process may open a store directory at a time.
    """

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.path = Path(config.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._snap_dir = self.path / "snapshots"
        self._lock_file = self._acquire_dir_lock()
        self._remove_stale_temporaries()
        self._lock = RWLock()
        self.device = resolve_device(config.device)
        self._spaces: dict[str, SpaceRow] = {}
        self._indexes: dict[str, SpaceIndex] = {}
        # Per space created with keep_neighbours (only), each task's nearest other tasks
        # (server.store.hubness, for CSLS).
        self._neighbours: dict[str, NeighbourTable] = {}
        # Set when the store can no longer answer (see _mark_unusable); every call then
        # fails with UNAVAILABLE and ``on_unusable`` (the server's health) is told.
        self.unusable: str | None = None
        self.on_unusable: Callable[[str], None] | None = None
        self._predictor = load_predictor(config.transfer_predictor)
        try:
            self._db = MetadataDB(self.path / DB_NAME)
            self._load()
        except BaseException:
            self._lock_file.close()
            raise

    def _acquire_dir_lock(self) -> IO[str]:
        return lock_dir(
            self.path, lambda: FailedPreconditionError(f"store {self.path} is in use by another process")
        )

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files a killed snapshot or restore left (the directory lock is
        held, so no other process is writing them)."""
        for folder in (self.path, self._snap_dir):
            for stale in folder.glob(f"{snapshots.TMP_PREFIX}*") if folder.is_dir() else ():
                log.warning("removing %s, left by an interrupted snapshot or restore", stale)
                stale.unlink(missing_ok=True)

    def _load(self) -> None:
        """(Re)build every index from SQLite, verifying every row's checksums (vector and metadata)."""
        start = time.perf_counter()
        self._spaces, self._indexes, total = build_indexes(self._db, self.config, self.device)
        self._bind_indexes(self._indexes)
        self._neighbours = build_neighbours(self._db, self._spaces, self._indexes)
        log.info(
            "loaded store %s: %d spaces, %d tasks in %.2fs (device %s)",
            self.path,
            len(self._spaces),
            total,
            time.perf_counter() - start,
            self.device,
        )

    def close(self) -> None:
        """Checkpoint and close the database and release the directory."""
        with self._lock.write():
            try:
                self._db.close()
            except Exception:
                if self.unusable is None:
                    raise
                log.exception("closing the unusable store %s", self.path)  # already failed once
            finally:
                self._lock_file.close()
        log.info("closed store %s", self.path)

    def _stored_vectors(self, vec_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored vectors of ``vec_ids`` from the live database: the indexes' source for
        re-scoring (``SpaceIndex.fetch``), whichever database file is live."""
        return _stored_vectors_of(self._db, vec_ids)

    def _bind_indexes(self, indexes: dict[str, SpaceIndex]) -> None:
        """Point indexes built from a database (at start, or a validated snapshot now in
        place) at the live one."""
        for index in indexes.values():
            index.fetch = self._stored_vectors

    def _mark_unusable(self, reason: str) -> None:
        """From now on every call is UNAVAILABLE and the server reports NOT_SERVING."""
        self.unusable = reason
        log.error("store %s is unusable: %s", self.path, reason)
        if self.on_unusable is not None:
            self.on_unusable(reason)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock.read():
            self._check_usable()
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock.write():
            self._check_usable()
            yield

    def _check_usable(self) -> None:
        if self.unusable is not None:
            raise UnavailableError(f"the store cannot answer: {self.unusable}; restart the server")

    def _check_reply_size(self, items: int, dim: int, with_vectors: bool, what: str) -> None:
        """RESOURCE_EXHAUSTED before any record is loaded when a reply of ``items`` tasks
        (with their ``dim``-d vectors, if asked) cannot fit in ``max_reply_bytes``."""
        per_item = MIN_TASK_REPLY_BYTES + (4 * dim + 8 if with_vectors else 0)
        estimate = items * per_item
        if estimate > self.config.max_reply_bytes:
            raise ResourceExhaustedError(
                f"{what}: the reply would hold {items} tasks{f' with {dim}-d vectors' if with_vectors else ''}, "
                f"at least {estimate} bytes, over the {self.config.max_reply_bytes}-byte message limit; "
                "ask for fewer queries, a smaller k or page, or no vectors"
            )

    def __enter__(self) -> TaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- helpers

    def _space(self, name: str) -> SpaceRow:
        row = self._spaces.get(name)
        if row is None:
            raise NotFoundError(f"no space named {shown(name)}")
        return row

    def _space_record(self, row: SpaceRow) -> Space:
        return Space(
            name=row.name,
            dim=row.dim,
            backend=row.backend,
            identity=row.identity,
            space_key=row.space_key,
            task_count=self._db.count(row.name),
            created_time=datetime.fromtimestamp(row.created, tz=UTC),
            keep_neighbours=row.keep_neighbours,
        )

    def _neighbours_of(self, row: SpaceRow) -> NeighbourTable:
        """The neighbour lists CSLS reads; FAILED_PRECONDITION for a space that keeps none."""
        table = self._neighbours.get(row.name)
        if table is None:
            raise hubness.no_lists_error(row.name)
        return table

    def _check_identity(
        self, row: SpaceRow, expected: SpaceIdentity | None, what: str = "the uploaded vectors"
    ) -> None:
        if expected is None:
            return
        if row.identity is None:
            raise FailedPreconditionError(
                f"space {row.name!r} was created without an embedding-space identity; "
                "it cannot vouch that these vectors are comparable"
            )
        try:
            check_same_space(
                embedding_space_of(row.identity, row.dim),
                embedding_space_of(expected, row.dim),
                f"space {row.name!r}",
                what,
            )
        except SpaceMismatchError as exc:
            raise FailedPreconditionError(str(exc)) from exc

    def _resolve_queries(self, row: SpaceRow, queries: Sequence[QueryTarget]) -> tuple[np.ndarray, list[int]]:
        """Query vectors and, per query, the vec_id to exclude (-1 for vector queries)."""
        ids = [q for q in queries if isinstance(q, str)]
        vec_ids = self._db.vec_ids_of(row.name, ids) if ids else {}
        missing = sorted(set(ids) - set(vec_ids))
        if missing:
            raise NotFoundError(f"no tasks {shown(missing[:10])} in space {shown(row.name)}")
        stored = self._db.vectors([vec_ids[i] for i in ids]) if ids else None
        out = np.zeros((len(queries), row.dim), np.float32)
        exclude: list[int] = []
        j = 0
        for i, q in enumerate(queries):
            if isinstance(q, str):
                assert stored is not None
                out[i] = stored[j]
                exclude.append(vec_ids[q])
                j += 1
            else:
                out[i] = _check_vector(np.asarray(q), row.dim, f"query {i}")
                exclude.append(-1)
        return out, exclude

    def _allowed(self, row: SpaceRow, flt: Filter | None) -> np.ndarray | None:
        if flt is None or flt.is_empty():
            return None
        where, params = compile_filter(flt)
        return self._db.matching_vec_ids(row.name, where, params)

    def _check_k(self, k: int, allow_zero: bool = False) -> None:
        lo = 0 if allow_zero else 1
        if not lo <= k <= self.config.max_k:
            raise InvalidArgumentError(f"k must be in [{lo}, {self.config.max_k}], got {k}")

    def _lookup(
        self,
        row: SpaceRow,
        queries: Sequence[QueryTarget],
        flt: Filter | None,
        expected: SpaceIdentity | None,
        what: str,
        hub_k: int,
    ) -> _Lookup:
        """Check the read against ``row`` (identity, kept neighbours for CSLS) and resolve
        its queries and filter; the caller holds the read lock."""
        self._check_identity(row, expected, what)
        if hub_k:
            self._neighbours_of(row)  # FAILED_PRECONDITION before any work
        vectors, exclude = self._resolve_queries(row, queries)
        allowed = self._allowed(row, flt)
        live = len(allowed) if allowed is not None else self._indexes[row.name].live
        return _Lookup(row, vectors, exclude, allowed, live)

    def _nearest(
        self, look: _Lookup, k: int, threshold: float | None, hub_k: int
    ) -> list[list[hubness.CslsHit]]:
        """Per query, up to ``k`` hits best first, the query task itself left out: by CSLS
        over ``hub_k`` neighbours, or by cosine when ``hub_k`` is 0 (score = cosine)."""
        if hub_k:
            return self._nearest_csls(look, k, threshold, hub_k)
        index = self._indexes[look.row.name]
        # One extra result per query makes room for dropping the query task itself.
        fetch = min(k + 1, self.config.max_k + 1)
        scores, ids = index.search(look.queries, fetch, look.allowed)
        picked: list[list[hubness.CslsHit]] = []
        for qi in range(len(look.queries)):
            row_hits: list[hubness.CslsHit] = []
            for score, vid in zip(scores[qi], ids[qi], strict=True):
                if vid < 0 or vid == look.exclude[qi]:
                    continue
                if threshold is not None and score < threshold:
                    continue  # FAISS returns descending scores, but HNSW may not be strict
                row_hits.append(hubness.CslsHit(int(vid), float(score), float(score)))
            picked.append(row_hits[:k])
        return picked

    def _nearest_csls(
        self, look: _Lookup, k: int, threshold: float | None, csls_k: int
    ) -> list[list[hubness.CslsHit]]:
        """CSLS hits: a stored query's r from its kept list, a query vector's from its
        nearest tasks."""
        index, table = self._indexes[look.row.name], self._neighbours_of(look.row)
        exclude = look.exclude
        radii = np.zeros(len(look.queries))
        stored = [i for i, v in enumerate(exclude) if v >= 0]
        given = [i for i, v in enumerate(exclude) if v < 0]
        if stored:
            radii[stored] = table.radius_of(np.asarray([exclude[i] for i in stored], np.int64), csls_k)
        if given:
            radii[given] = hubness.query_radii(index, look.queries[given], csls_k)
        return hubness.csls_search(
            index, table, look.queries, radii, exclude, k, csls_k, look.allowed, threshold
        )

    def _norms(self, look: _Lookup, picked: list[hubness.CslsHit]) -> tuple[np.ndarray | None, float | None]:
        """(the candidates' stored vector norms, the target vector's) when the predictor
        reads norms (the index keeps each stored vector's norm; it holds them normalised)."""
        if self._predictor is None or not self._predictor.reads_norms or not picked:
            return None, None
        norms = self._indexes[look.row.name].norms_of([h.vec_id for h in picked])
        return norms, float(np.linalg.norm(look.queries[0].astype(np.float64)))

    def _hit_records(self, picked: list[list[hubness.CslsHit]], with_vectors: bool) -> list[list[Hit]]:
        records = self._db.tasks_by_vec_ids(sorted({h.vec_id for hs in picked for h in hs}), with_vectors)
        return [
            [Hit(id=records[h.vec_id].id, score=h.score, task=records[h.vec_id]) for h in hs] for hs in picked
        ]

    # ---------------------------------------------------------------- API: info and spaces

    def server_info(self) -> ServerInfo:
        """What this store runs on and its limits (no transport: no message limit, no auth)."""
        return server_info_of(self.config, self.device)

    def create_space(
        self,
        name: str,
        dim: int,
        *,
        backend: str = "flat",
        identity: SpaceIdentity | None = None,
        keep_neighbours: bool = False,
    ) -> Space:
        """Create a space of ``dim``-d cosine vectors.

        ``keep_neighbours``: keep every task's nearest other tasks (:mod:`server.store.hubness`),
        which ``similarity="csls"`` needs; every write then pays an exhaustive pass over the
        space. Without it, CSLS on the space is FAILED_PRECONDITION.
        """
        if not isinstance(keep_neighbours, bool):
            raise InvalidArgumentError(f"keep_neighbours must be true or false, got {keep_neighbours!r}")
        _check_space_name(name)
        if not 1 <= dim <= MAX_DIM:
            raise InvalidArgumentError(f"dim must be in [1, {MAX_DIM}], got {dim}")
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"unknown index backend {backend!r}; valid: {BACKENDS}")
        chosen: Backend = backend
        key = embedding_space_of(identity, dim).key if identity is not None else ""
        with self._writing():
            if name in self._spaces:
                raise AlreadyExistsError(f"space {shown(name)} exists")
            row = SpaceRow(name, dim, chosen, identity, key, time.time(), keep_neighbours)
            self._db.create_space(row)
            self._spaces[name] = row
            self._indexes[name] = SpaceIndex(
                dim, chosen, self.config.index_params, self.device, fetch=self._stored_vectors
            )
            if keep_neighbours:
                self._neighbours[name] = NeighbourTable()
            log.info(
                "created space %r: dim %d, backend %s, key %s%s",
                name,
                dim,
                backend,
                key or "-",
                ", neighbour lists kept" if keep_neighbours else "",
            )
            return self._space_record(row)

    def list_spaces(self) -> list[Space]:
        """All spaces, by name."""
        with self._reading():
            return [self._space_record(r) for _, r in sorted(self._spaces.items())]

    def describe_space(self, name: str) -> Space:
        """One space with its task count."""
        with self._reading():
            return self._space_record(self._space(name))

    def delete_space(self, name: str) -> int:
        """Delete a space and its tasks; returns how many tasks went."""
        with self._writing():
            self._space(name)
            n = self._db.delete_space(name)
            del self._spaces[name]
            del self._indexes[name]
            self._neighbours.pop(name, None)
            log.info("deleted space %r with %d tasks", name, n)
            return n

    # ---------------------------------------------------------------- API: writes

    def upsert(
        self, space: str, tasks: Sequence[Task], *, expected_identity: SpaceIdentity | None = None
    ) -> UpsertResult:
        """Insert or replace tasks; invalid items are reported, the valid ones stored.

        Returns once the valid items are committed to disk.
        """
        if len(tasks) > self.config.max_batch:
            raise InvalidArgumentError(f"{len(tasks)} tasks in one batch, at most {self.config.max_batch}")
        with self._writing():
            row = self._space(space)
            self._check_identity(row, expected_identity)
            good: list[Task] = []
            errors: list[ItemError] = []
            seen: set[str] = set()
            for task in tasks:
                try:
                    if task.id in seen:
                        raise InvalidArgumentError(f"task id {task.id!r} appears twice in the batch")
                    good.append(_check_task(task, row.dim))
                    seen.add(task.id)
                except TaskSearchError as exc:
                    errors.append(ItemError(task.id, exc.code.name, str(exc)))
            good, unindexable = _split_unindexable(good)
            errors.extend(unindexable)
            if good:
                self._upsert_valid(row, good, _pinned_identity(row, expected_identity))
            return UpsertResult(upserted=len(good), failed=len(errors), errors=tuple(errors))

    def _upsert_valid(self, row: SpaceRow, good: list[Task], pin: SpaceIdentity | None = None) -> None:
        """Store validated tasks and index them; the index and the neighbour lists change
        inside the database transaction, so a FAISS failure rolls the rows back (nothing
        half stored). The in-memory lists change only once the transaction committed.
        ``pin``: the space's new identity (its U, fixed by its first model tasks), written
        in the same transaction."""
        index = self._indexes[row.name]
        table = self._neighbours.get(row.name)  # None: the space keeps no lists
        vectors = np.stack([t.vector for t in good])  # type: ignore[misc]
        touched = False
        change = NeighbourChange({})

        def index_them(pairs: list[tuple[int, int | None]]) -> None:
            nonlocal touched, change
            if pin is not None:
                self._db.pin_identity(row.name, pin)
            touched = True
            removed = [old for _, old in pairs if old is not None]
            added = [new for new, _ in pairs]
            index.remove(np.asarray(removed, np.int64))
            index.add(np.asarray(added, np.int64), vectors)
            if table is not None:
                change = hubness.plan_upsert(
                    table, index, added, vectors, removed, self._db.vectors, exact=index.exact
                )
                self._db.write_neighbours(change.lists)

        try:
            self._db.upsert(row.name, good, time.time(), before_commit=index_them)
        except BaseException:
            if touched:  # the rows rolled back; the index may hold part of the batch
                self._resync_index(row)
            raise
        if pin is not None:
            self._spaces[row.name] = row = replace(row, identity=pin)
            log.info(
                "space %r: identity pinned to corpus %s by its first model tasks", row.name, pin.corpus[:12]
            )
        if table is not None:
            table.apply(change)
        self._maybe_rebuild(row)

    def _resync_index(self, row: SpaceRow) -> None:
        """Rebuild a space's index from the database after a write failed half-way."""
        try:
            self._indexes[row.name] = self._fresh_index(row)
        except BaseException as exc:
            self._mark_unusable(f"the index of space {row.name!r} could not be rebuilt: {exc}")
            raise

    def _fresh_index(self, row: SpaceRow) -> SpaceIndex:
        """A new index of ``row`` built from the stored vectors (the live one untouched)."""
        parts = list(self._db.iter_space_vectors(row.name))
        ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        vecs = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, row.dim), np.float32)
        index = SpaceIndex(
            row.dim, row.backend, self.config.index_params, self.device, fetch=self._stored_vectors
        )
        index.build(ids, vecs)
        return index

    def upsert_stream(
        self,
        space: str,
        batches: Iterable[Sequence[Task]],
        *,
        expected_identity: SpaceIdentity | None = None,
    ) -> UpsertResult:
        """Upsert batch after batch; each is committed as it comes."""
        upserted = failed = 0
        errors: list[ItemError] = []
        for batch in batches:
            res = self.upsert(space, batch, expected_identity=expected_identity)
            upserted += res.upserted
            failed += res.failed
            errors.extend(res.errors)
        return UpsertResult(upserted, failed, tuple(errors))

    def delete(self, space: str, *, ids: Sequence[str] | None = None, filter: Filter | None = None) -> int:
        """Delete by ids or by filter (exactly one); returns how many were deleted."""
        if (ids is None) == (filter is None):
            raise InvalidArgumentError("delete takes exactly one of ids or filter")
        if ids is not None:
            if len(ids) > MAX_DELETE_IDS:
                raise InvalidArgumentError(
                    f"DeleteTasks takes at most {MAX_DELETE_IDS} ids per call, got {len(ids)}"
                )
            if not ids:
                return 0
            flt = Filter(must=(Condition("id", tuple(ids)),))
        else:
            assert filter is not None
            if filter.is_empty():
                raise InvalidArgumentError(
                    "refusing to delete with an empty filter; delete the space instead"
                )
            flt = filter
        where, params = compile_filter(flt)
        with self._writing():
            row = self._space(space)
            table = self._neighbours.get(space)  # None: the space keeps no lists
            change = NeighbourChange({})

            def relink(deleted: list[int]) -> None:
                # Inside the transaction, while the index still holds the deleted tasks.
                nonlocal change
                if table is None:
                    return
                change = hubness.plan_delete(table, self._indexes[space], deleted, self._db.vectors)
                self._db.write_neighbours(change.lists)

            vec_ids = self._db.delete_where(space, where, params, before_commit=relink)
            if table is not None:
                table.apply(change)
            try:
                self._indexes[space].remove(np.asarray(vec_ids, np.int64))
            except BaseException:
                self._resync_index(row)  # the rows are gone; the index must follow
                raise
            self._maybe_rebuild(row)
            return len(vec_ids)

    def _maybe_rebuild(self, row: SpaceRow) -> None:
        if self._indexes[row.name].needs_rebuild():
            # Built aside and swapped in: a failed rebuild leaves the working index.
            fresh = self._fresh_index(row)
            self._indexes[row.name] = fresh
            log.info(
                "rebuilt %s index of space %r from %d stored vectors", row.backend, row.name, fresh.ntotal
            )

    # ---------------------------------------------------------------- API: reads

    def get(self, space: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[Task]:
        """The stored tasks of ``ids`` in request order; unknown ids are skipped."""
        with self._reading():
            row = self._space(space)
            vec_ids = self._db.vec_ids_of(row.name, list(ids))
            self._check_reply_size(len(vec_ids), row.dim, with_vectors, "GetTasks")
            records = self._db.tasks_by_vec_ids(list(vec_ids.values()), with_vectors)
            return [records[vec_ids[i]] for i in ids if i in vec_ids]

    def list_tasks(
        self,
        space: str,
        *,
        filter: Filter | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str = "",
        with_vectors: bool = False,
    ) -> Page:
        """One page of matching tasks ordered by id."""
        size = page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidArgumentError(f"page_size must be in [1, {MAX_PAGE_SIZE}], got {page_size}")
        after = _decode_token(page_token) if page_token else ""
        where, params = compile_filter(filter)
        with self._reading():
            row = self._space(space)
            # One extra row tells whether another page follows.
            vec_ids = self._db.list_page(row.name, where, params, after, size + 1)
            self._check_reply_size(len(vec_ids[:size]), row.dim, with_vectors, "ListTasks")
            records = self._db.tasks_by_vec_ids(vec_ids[:size], with_vectors)
            tasks = tuple(records[v] for v in vec_ids[:size])
        token = _encode_token(tasks[-1].id) if len(vec_ids) > size else ""
        return Page(tasks=tasks, next_page_token=token)

    def iter_tasks(
        self,
        space: str,
        *,
        filter: Filter | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        with_vectors: bool = False,
    ) -> Iterator[Task]:
        """Every matching task, page by page."""
        return iter_pages(
            lambda token: self.list_tasks(
                space, filter=filter, page_size=page_size, page_token=token, with_vectors=with_vectors
            )
        )

    def search(
        self,
        space: str,
        queries: Sequence[QueryTarget] | np.ndarray,
        *,
        k: int = 10,
        filter: Filter | None = None,
        score_threshold: float | None = None,
        with_vectors: bool = False,
        expected_identity: SpaceIdentity | None = None,
        similarity: Similarity = "cosine",
        csls_k: int | None = None,
    ) -> list[list[Hit]]:
        """The ``k`` most similar tasks per query (a stored task's id, or a vector).

        A query by id never returns that task itself. With ``expected_identity`` (the
        space the query vectors were embedded in) a space of another identity is
        FAILED_PRECONDITION naming each differing field, before anything is searched.
        ``similarity="csls"`` ranks and scores by CSLS over ``csls_k`` neighbours (default
        :data:`~server.store.hubness.DEFAULT_CSLS_K`; :mod:`server.store.hubness`), and
        ``score_threshold`` then applies to the CSLS score.
        """
        if isinstance(queries, np.ndarray):
            queries = list(queries[None, :] if queries.ndim == 1 else queries)
        if not 1 <= len(queries) <= self.config.max_queries:
            raise InvalidArgumentError(
                f"{len(queries)} queries in one call; 1 to {self.config.max_queries} allowed"
            )
        self._check_k(k)
        if score_threshold is not None and not math.isfinite(score_threshold):
            raise InvalidArgumentError(f"score_threshold must be finite, got {score_threshold}")
        hub_k = hubness.check_similarity(similarity, csls_k)
        compile_filter(filter)  # its limits are checked before any work
        with self._reading():
            row = self._space(space)
            look = self._lookup(row, queries, filter, expected_identity, "the query vectors", hub_k)
            if look.filtered_out:
                return [[] for _ in queries]
            # Refused here, before any hit record (or its vector) is loaded.
            self._check_reply_size(
                len(queries) * min(k, look.candidates), row.dim, with_vectors, "FindSimilarTasks"
            )
            return self._hit_records(self._nearest(look, k, score_threshold, hub_k), with_vectors)

    def rank_sources(
        self,
        space: str,
        target: QueryTarget,
        *,
        candidate_filter: Filter | None = None,
        k: int = 0,
        expected_identity: SpaceIdentity | None = None,
        similarity: Similarity = "cosine",
        csls_k: int | None = None,
        order: RankOrder | None = None,
        rerank_top: int = 0,
    ) -> Ranking:
        """Candidate source tasks for intermediate training on ``target``, best first.

        Candidates (the target itself excluded) are retrieved by cosine similarity, or by
        CSLS with ``similarity="csls"`` (scores are then CSLS values; ``csls_k`` as in
        :meth:`search`), up to ``max_k``. Every one gets the predicted gain and P(help) of
        :mod:`server.store.source_ranking`, computed from the cosines of all of them
        whatever ``k`` and the similarity are. ``order``: ``predicted_gain`` (the default
        with cosine, ``StoreConfig.rank_order``) re-orders the ``rerank_top`` most similar
        (0: all) by predicted gain; ``similarity`` (the default with CSLS) keeps the
        retrieval order. ``k=0`` returns every
        candidate. ``expected_identity`` as in :meth:`search`.
        """
        self._check_k(k, allow_zero=True)
        hub_k = hubness.check_similarity(similarity, csls_k)
        # The predictor reads cosines, so with no measured priors its order is cosine's:
        # a request for CSLS gets CSLS order unless it asks for predicted gain by name.
        default = "similarity" if similarity == "csls" else self.config.rank_order
        chosen: RankOrder = default if order is None else order
        if chosen not in RANK_ORDERS:
            raise InvalidArgumentError(f"order must be one of {RANK_ORDERS}, got {shown(chosen)}")
        if not 0 <= rerank_top <= self.config.max_k:
            raise InvalidArgumentError(f"rerank_top must be in [0, {self.config.max_k}], got {rerank_top}")
        compile_filter(candidate_filter)  # its limits are checked before any work
        with self._reading():
            row = self._space(space)
            look = self._lookup(
                row, [target], candidate_filter, expected_identity, "the target vector", hub_k
            )
            if look.filtered_out:
                return Ranking(())
            every = max(1, min(look.candidates, self.config.max_k))
            # Predictions need every candidate's cosine (and id, for its prior), CSLS-ranked
            # or not; records are loaded for the k returned only.
            (picked,) = self._nearest(look, every, None, hub_k)
            cosines = np.array([h.cosine for h in picked], np.float64)
            task_ids = self._db.ids_of_vec_ids([h.vec_id for h in picked])
            ids = [task_ids[h.vec_id] for h in picked]
            norms, target_norm = self._norms(look, picked)
            predictions = source_ranking.predict(cosines, ids, self._predictor, norms, target_norm)
            positions = source_ranking.order_candidates(len(picked), predictions, chosen, rerank_top)
            shown_at = positions[:k] if k else positions
            hits = self._hit_records([[picked[i] for i in shown_at]], False)[0]
            used: RankOrder = chosen if predictions is not None else "similarity"
            return source_ranking.ranking(hits, shown_at, predictions, ids, used)

    def similarity_matrix(self, space: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Cosine similarities among the given tasks, in the given order."""
        if not 1 <= len(ids) <= self.config.max_matrix_ids:
            raise InvalidArgumentError(f"{len(ids)} ids; 1 to {self.config.max_matrix_ids} allowed")
        if len(set(ids)) != len(ids):
            raise InvalidArgumentError("ids must be distinct")
        reply = 4 * len(ids) ** 2 + sum(len(i.encode()) + 2 for i in ids)
        if reply > self.config.max_reply_bytes:
            raise ResourceExhaustedError(
                f"SimilarityMatrix: a {len(ids)}x{len(ids)} float32 matrix is at least {reply} bytes,"
                f" over the {self.config.max_reply_bytes}-byte message limit"
            )
        with self._reading():
            row = self._space(space)
            vec_ids = self._db.vec_ids_of(row.name, list(ids))
            missing = [i for i in ids if i not in vec_ids]
            if missing:
                raise NotFoundError(f"no tasks {shown(missing[:10])} in space {shown(space)}")
            vecs = self._db.vectors([vec_ids[i] for i in ids]).astype(np.float64)
        unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        return list(ids), (unit @ unit.T).astype(np.float32)

    # ---------------------------------------------------------------- API: snapshots

    def create_snapshot(self, name: str = "") -> Snapshot:
        """A consistent copy of the whole store under ``snapshots/``.

        Each call writes its own temporary file and checks the copy is complete before
        sealing it; the name is claimed exclusively, so of concurrent calls with one name
        exactly one succeeds and the others get ALREADY_EXISTS.
        """
        name = snapshots.check_name(name or snapshots.default_name())
        self._snap_dir.mkdir(exist_ok=True)
        if (self._snap_dir / f"{name}{snapshots.SUFFIX}").exists():  # cheap early answer
            raise AlreadyExistsError(f"snapshot {shown(name)} exists")
        tmp = snapshots.temp_path(self._snap_dir, "snap")
        try:
            with self._reading():
                spaces, tasks = self._db.totals()
                self._db.backup_to(tmp)
            check_copy(tmp, spaces, tasks)
            snap = snapshots.finish(tmp, self._snap_dir, name)
        finally:
            for leftover in (tmp, tmp.with_suffix(snapshots.SUMS_SUFFIX), *_sidecars(tmp)):
                leftover.unlink(missing_ok=True)
        log.info("created snapshot %r (%d bytes, sha256 %s)", name, snap.size_bytes, snap.sha256[:12])
        return snap

    def list_snapshots(self) -> list[Snapshot]:
        """Snapshots on disk, by name."""
        return snapshots.list_all(self._snap_dir)

    def restore_snapshot(self, name: str) -> tuple[int, int]:
        """Replace the whole store with a snapshot; returns (spaces, tasks).

        The snapshot is copied, its SHA-256 checked on the copy, and the copy opened as a
        store and fully validated (schema, every row's checksums, every vector, every
        index built) while the live store keeps serving. Only then does it replace the
        live database, atomically. Any failure before that (DATA_LOSS naming what is
        wrong) leaves the live store exactly as it was.
        """
        tmp = snapshots.temp_path(self.path, "restore")
        try:
            snapshots.copy_verified(self._snap_dir, name, tmp)
            spaces, indexes, neighbours, n_tasks = self._validated(tmp, name)
            with self._writing():
                self._swap_database(tmp, name)
                self._bind_indexes(indexes)
                self._spaces, self._indexes, self._neighbours = spaces, indexes, neighbours
        finally:
            for leftover in (tmp, *_sidecars(tmp)):
                leftover.unlink(missing_ok=True)
        log.info("restored snapshot %r: %d spaces, %d tasks", name, len(spaces), n_tasks)
        return len(spaces), n_tasks

    def _validated(
        self, path: Path, name: str
    ) -> tuple[dict[str, SpaceRow], dict[str, SpaceIndex], dict[str, NeighbourTable], int]:
        """The spaces, built indexes and neighbour lists of the store file ``path``
        (lists it lacks, as a snapshot of schema version 2 does, are computed and saved
        into it), DATA_LOSS if it is not one this server can serve (an empty or unrelated
        file, a newer schema, bad rows)."""
        try:
            db = MetadataDB(path, create=False)
        except StoreCorruptedError as exc:
            raise StoreCorruptedError(f"snapshot {name!r} is not a loadable store: {exc}") from exc
        try:
            spaces, indexes, total = build_indexes(db, self.config, self.device)
            return spaces, indexes, build_neighbours(db, spaces, indexes), total
        except StoreCorruptedError as exc:
            raise StoreCorruptedError(f"snapshot {name!r} is not a loadable store: {exc}") from exc
        finally:
            db.close()  # checkpoints, so the file alone holds the whole database

    def _swap_database(self, validated: Path, name: str) -> None:
        """Put a validated database file in place of the live one (write lock held)."""
        db_path = self.path / DB_NAME
        snapshots.fsync_file(validated)
        try:
            self._db.close()
            # The WAL of the old database must not be replayed into the restored one.
            for sidecar in _sidecars(db_path):
                sidecar.unlink(missing_ok=True)
            os.replace(validated, db_path)
            snapshots.fsync_dir(self.path)
            self._db = MetadataDB(db_path, create=False)
        except Exception as exc:
            # The old connection is closed: whatever is on disk now, this process can no
            # longer answer from it. A restart loads whichever database is in place.
            reason = f"restoring snapshot {name!r} failed after the swap began: {exc}"
            self._mark_unusable(reason)
            raise UnavailableError(f"{reason}; restart the server") from exc


if TYPE_CHECKING:  # mypy proves both sides of the contract, not a runtime check

    def _conforms(store: TaskStore, client: TaskSearchClient) -> tuple[TaskSearchAPI, TaskSearchAPI]:
        return store, client
