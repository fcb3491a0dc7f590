"""``TaskStore``: the TaskSearch API in process (the gRPC servicer is a thin layer on it).

Durability: every write is one SQLite transaction (WAL, synchronous=FULL) committed
before the FAISS indexes change and before the call returns, so an acknowledged write
survives a crash; at start the indexes are rebuilt from SQLite with every task row's
checksums (vector and metadata) verified. Concurrency: a readers-writer lock lets searches
run together while writes run alone.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import faiss
import numpy as np

from fute.errors import SpaceMismatchError
from fute.space import check_same_space
from fute_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    TaskSearchError,
)
from fute_client.types import (
    BACKENDS,
    TASK_KINDS,
    Backend,
    Condition,
    Filter,
    Hit,
    ItemError,
    Page,
    QueryTarget,
    ServerInfo,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    UpsertResult,
    iter_pages,
)
from server import __version__
from server.config import StoreConfig
from server.embedding_upload import embedding_space_of
from server.filters import compile_filter
from server.store import snapshots
from server.store.faiss_index import SpaceIndex, gpu_count, resolve_device
from server.store.metadata import MetadataDB, SpaceRow
from server.store.rwlock import RWLock

log = logging.getLogger(__name__)

DB_NAME = "tasks.sqlite"
MAX_ID_BYTES = 256
MAX_NAME_CHARS = 128
MAX_DIM = 65_536
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def _check_space_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidArgumentError(f"space name {name!r} must be 1-{MAX_NAME_CHARS} printable characters")


def _check_vector(vector: np.ndarray, dim: int, what: str) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or v.shape[0] != dim:
        raise InvalidArgumentError(
            f"{what} has dimension {v.shape[0] if v.ndim == 1 else v.shape}, the space has {dim}"
        )
    if not np.all(np.isfinite(v)):
        raise InvalidArgumentError(f"{what} contains NaN or Inf")
    if not np.any(v):
        raise InvalidArgumentError(f"{what} is all zeros: cosine similarity is undefined")
    return v


def _check_task(task: Task, dim: int) -> Task:
    """A task ready to store, or InvalidArgumentError saying what is wrong."""
    size = len(task.id.encode())
    if size == 0 or size > MAX_ID_BYTES:
        raise InvalidArgumentError(f"task id must be 1-{MAX_ID_BYTES} bytes of UTF-8, got {size}")
    if task.vector is None:
        raise InvalidArgumentError(f"task {task.id!r} has no vector")
    if task.kind not in TASK_KINDS:
        raise InvalidArgumentError(f"task {task.id!r}: unknown kind {task.kind!r}; valid: {TASK_KINDS}")
    vector = _check_vector(task.vector, dim, f"vector of task {task.id!r}")
    return Task(
        id=task.id,
        vector=vector,
        name=task.name or task.id,
        kind=task.kind,
        task_type=task.task_type,
        label_names=tuple(task.label_names),
        source=task.source,
        tags=tuple(sorted(set(task.tags))),
    )


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgumentError(f"page_token {token!r} is not one this server issued") from exc


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
        self._lock = RWLock()
        self.device = resolve_device(config.device)
        self._spaces: dict[str, SpaceRow] = {}
        self._indexes: dict[str, SpaceIndex] = {}
        try:
            self._db = MetadataDB(self.path / DB_NAME)
            self._load()
        except BaseException:
            self._lock_file.close()
            raise

    def _acquire_dir_lock(self) -> IO[str]:
        f = (self.path / "LOCK").open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.close()
            raise FailedPreconditionError(f"store {self.path} is in use by another process") from exc
        return f

    def _load(self) -> None:
        """(Re)build every index from SQLite, verifying every row's checksums (vector and metadata)."""
        start = time.perf_counter()
        self._spaces = {row.name: row for row in self._db.spaces()}
        self._indexes = {}
        total = 0
        for row in self._spaces.values():
            index = SpaceIndex(row.dim, row.backend, self.config.index_params, self.device)
            parts = list(self._db.iter_space_vectors(row.name, verify_rows=True))
            if parts:
                ids = np.concatenate([p[0] for p in parts])
                vecs = np.concatenate([p[1] for p in parts])
                index.build(ids, vecs)
                total += len(ids)
            self._indexes[row.name] = index
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
            self._db.close()
            self._lock_file.close()
        log.info("closed store %s", self.path)

    def __enter__(self) -> TaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- helpers

    def _space(self, name: str) -> SpaceRow:
        row = self._spaces.get(name)
        if row is None:
            raise NotFoundError(f"no space named {name!r}")
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
        )

    def _check_identity(self, row: SpaceRow, expected: SpaceIdentity | None) -> None:
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
                "the uploaded vectors",
            )
        except SpaceMismatchError as exc:
            raise FailedPreconditionError(str(exc)) from exc

    def _resolve_queries(self, row: SpaceRow, queries: Sequence[QueryTarget]) -> tuple[np.ndarray, list[int]]:
        """Query vectors and, per query, the vec_id to exclude (-1 for vector queries)."""
        ids = [q for q in queries if isinstance(q, str)]
        vec_ids = self._db.vec_ids_of(row.name, ids) if ids else {}
        missing = sorted(set(ids) - set(vec_ids))
        if missing:
            raise NotFoundError(f"no tasks {missing[:10]} in space {row.name!r}")
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

    def _hits(
        self,
        row: SpaceRow,
        queries: np.ndarray,
        exclude: list[int],
        k: int,
        allowed: np.ndarray | None,
        threshold: float | None,
        with_vectors: bool,
    ) -> list[list[Hit]]:
        index = self._indexes[row.name]
        # One extra result per query makes room for dropping the query task itself.
        fetch = min(k + 1, self.config.max_k + 1)
        scores, ids = index.search(queries, fetch, allowed)
        picked: list[list[tuple[int, float]]] = []
        for qi in range(len(queries)):
            row_hits: list[tuple[int, float]] = []
            for score, vid in zip(scores[qi], ids[qi], strict=True):
                if vid < 0 or vid == exclude[qi]:
                    continue
                if threshold is not None and score < threshold:
                    continue  # FAISS returns descending scores, but HNSW may not be strict
                row_hits.append((int(vid), float(score)))
            picked.append(row_hits[:k])
        records = self._db.tasks_by_vec_ids(sorted({v for h in picked for v, _ in h}), with_vectors)
        return [[Hit(id=records[v].id, score=s, task=records[v]) for v, s in h] for h in picked]

    # ---------------------------------------------------------------- API: info and spaces

    def server_info(self) -> ServerInfo:
        """What this store runs on and its limits."""
        return ServerInfo(
            version=__version__,
            index_library=f"faiss {faiss.__version__}",
            device=self.device,
            gpu_count=gpu_count(),
            backends=BACKENDS,
            max_k=self.config.max_k,
            max_queries=self.config.max_queries,
            max_message_bytes=0,
            auth_enabled=False,
        )

    def create_space(
        self, name: str, dim: int, *, backend: str = "flat", identity: SpaceIdentity | None = None
    ) -> Space:
        """Create a space of ``dim``-d cosine vectors."""
        _check_space_name(name)
        if not 1 <= dim <= MAX_DIM:
            raise InvalidArgumentError(f"dim must be in [1, {MAX_DIM}], got {dim}")
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"unknown index backend {backend!r}; valid: {BACKENDS}")
        chosen: Backend = backend
        key = embedding_space_of(identity, dim).key if identity is not None else ""
        with self._lock.write():
            if name in self._spaces:
                raise AlreadyExistsError(f"space {name!r} exists")
            row = SpaceRow(name, dim, chosen, identity, key, time.time())
            self._db.create_space(row)
            self._spaces[name] = row
            self._indexes[name] = SpaceIndex(dim, chosen, self.config.index_params, self.device)
            log.info("created space %r: dim %d, backend %s, key %s", name, dim, backend, key or "-")
            return self._space_record(row)

    def list_spaces(self) -> list[Space]:
        """All spaces, by name."""
        with self._lock.read():
            return [self._space_record(r) for _, r in sorted(self._spaces.items())]

    def describe_space(self, name: str) -> Space:
        """One space with its task count."""
        with self._lock.read():
            return self._space_record(self._space(name))

    def delete_space(self, name: str) -> int:
        """Delete a space and its tasks; returns how many tasks went."""
        with self._lock.write():
            self._space(name)
            n = self._db.delete_space(name)
            del self._spaces[name]
            del self._indexes[name]
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
        with self._lock.write():
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
            if good:
                pairs = self._db.upsert(space, good, time.time())
                index = self._indexes[space]
                replaced = np.asarray([old for _, old in pairs if old is not None], np.int64)
                index.remove(replaced)
                index.add(np.asarray([new for new, _ in pairs], np.int64), np.stack([t.vector for t in good]))  # type: ignore[misc]
                self._maybe_rebuild(row)
            return UpsertResult(upserted=len(good), failed=len(errors), errors=tuple(errors))

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
        with self._lock.write():
            row = self._space(space)
            vec_ids = self._db.delete_where(space, where, params)
            self._indexes[space].remove(np.asarray(vec_ids, np.int64))
            self._maybe_rebuild(row)
            return len(vec_ids)

    def _maybe_rebuild(self, row: SpaceRow) -> None:
        index = self._indexes[row.name]
        if index.needs_rebuild():
            parts = list(self._db.iter_space_vectors(row.name))
            ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
            vecs = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, row.dim), np.float32)
            index.build(ids, vecs)
            log.info(
                "rebuilt %s index of space %r from %d stored vectors",
                row.backend,
                row.name,
                len(ids),
            )

    # ---------------------------------------------------------------- API: reads

    def get(self, space: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[Task]:
        """The stored tasks of ``ids`` in request order; unknown ids are skipped."""
        with self._lock.read():
            row = self._space(space)
            vec_ids = self._db.vec_ids_of(row.name, list(ids))
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
        with self._lock.read():
            row = self._space(space)
            # One extra row tells whether another page follows.
            vec_ids = self._db.list_page(row.name, where, params, after, size + 1)
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
    ) -> list[list[Hit]]:
        """The ``k`` most similar tasks per query (a stored task's id, or a vector).

        A query by id never returns that task itself.
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
        with self._lock.read():
            row = self._space(space)
            qvecs, exclude = self._resolve_queries(row, queries)
            allowed = self._allowed(row, filter)
            if allowed is not None and len(allowed) == 0:
                return [[] for _ in queries]
            return self._hits(row, qvecs, exclude, k, allowed, score_threshold, with_vectors)

    def rank_sources(
        self, space: str, target: QueryTarget, *, candidate_filter: Filter | None = None, k: int = 0
    ) -> list[Hit]:
        """Candidate source tasks for intermediate training on ``target``, best first.

        Ranked by cosine similarity to the target (the target itself excluded); ``k=0``
        ranks every candidate, up to ``max_k``.
        """
        self._check_k(k, allow_zero=True)
        with self._lock.read():
            row = self._space(space)
            qvecs, exclude = self._resolve_queries(row, [target])
            allowed = self._allowed(row, candidate_filter)
            if allowed is not None and len(allowed) == 0:
                return []
            n = len(allowed) if allowed is not None else self._db.count(row.name)
            kk = k or max(1, min(n, self.config.max_k))
            return self._hits(row, qvecs, exclude, kk, allowed, None, False)[0]

    def similarity_matrix(self, space: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Cosine similarities among the given tasks, in the given order."""
        if not 1 <= len(ids) <= self.config.max_matrix_ids:
            raise InvalidArgumentError(f"{len(ids)} ids; 1 to {self.config.max_matrix_ids} allowed")
        if len(set(ids)) != len(ids):
            raise InvalidArgumentError("ids must be distinct")
        with self._lock.read():
            row = self._space(space)
            vec_ids = self._db.vec_ids_of(row.name, list(ids))
            missing = [i for i in ids if i not in vec_ids]
            if missing:
                raise NotFoundError(f"no tasks {missing[:10]} in space {space!r}")
            vecs = self._db.vectors([vec_ids[i] for i in ids]).astype(np.float64)
        unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        return list(ids), (unit @ unit.T).astype(np.float32)

    # ---------------------------------------------------------------- API: snapshots

    def create_snapshot(self, name: str = "") -> Snapshot:
        """A consistent copy of the whole store under ``snapshots/``."""
        name = snapshots.check_name(name or snapshots.default_name())
        self._snap_dir.mkdir(exist_ok=True)
        if (self._snap_dir / f"{name}{snapshots.SUFFIX}").exists():
            raise AlreadyExistsError(f"snapshot {name!r} exists")
        tmp = self._snap_dir / f".tmp-{name}{snapshots.SUFFIX}"
        tmp.unlink(missing_ok=True)
        with self._lock.read():
            self._db.backup_to(tmp)
        snap = snapshots.finish(tmp, self._snap_dir, name)
        log.info("created snapshot %r (%d bytes, sha256 %s)", name, snap.size_bytes, snap.sha256[:12])
        return snap

    def list_snapshots(self) -> list[Snapshot]:
        """Snapshots on disk, by name."""
        return snapshots.list_all(self._snap_dir)

    def restore_snapshot(self, name: str) -> tuple[int, int]:
        """Replace the whole store with a snapshot (verified first); returns (spaces, tasks)."""
        src = snapshots.verified_path(self._snap_dir, name)
        db_path = self.path / DB_NAME
        with self._lock.write():
            tmp = self.path / f".restore-{DB_NAME}"
            shutil.copyfile(src, tmp)
            snapshots.fsync_file(tmp)
            self._db.close()
            # The WAL of the old database must not be replayed into the restored one.
            for suffix in ("-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            os.replace(tmp, db_path)
            snapshots.fsync_dir(self.path)
            self._db = MetadataDB(db_path)
            self._load()
            n_tasks = sum(self._db.count(s) for s in self._spaces)
            log.info("restored snapshot %r: %d spaces, %d tasks", name, len(self._spaces), n_tasks)
            return len(self._spaces), n_tasks
