"""SQLite persistence: the durable source of truth for spaces, task metadata and vectors.

Vectors are stored as float32 BLOBs next to their metadata. Each task row carries two
CRC32s: ``crc`` over (space, id, vector bytes) and ``row_crc`` over a canonical encoding
of every stored field returned to users (space, id, name, kind, task_type, label names,
source, output information, times and tags) chained on ``crc``, so it covers the vector
too. The FAISS indexes are rebuilt from here at start and both checksums of every row are
verified then; reads verify ``row_crc`` (and ``crc`` when they return vectors). The table
``task_neighbours`` holds, for the tasks of spaces created with ``keep_neighbours``, each
task's nearest other tasks of its space (derived from the vectors, for CSLS:
:mod:`server.store.hubness`), each row with its own CRC32. The database runs in WAL mode
with ``synchronous=FULL``, so a committed transaction (and therefore an acknowledged write)
survives kill -9 and power loss. All SQL is parameterised.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fute_client.errors import DataLossError
from fute_client.types import Backend, OutputInfo, SpaceIdentity, Task, TaskSource

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3


class StoreCorruptedError(DataLossError):
    """A store file failed SQLite's integrity check or a task row its checksum."""


@dataclass(frozen=True)
class SpaceRow:
    """A stored space."""

    name: str
    dim: int
    backend: Backend
    identity: SpaceIdentity | None
    space_key: str
    created: float
    #: Neighbour lists are kept for the space's tasks (CSLS can be asked of it).
    keep_neighbours: bool = False


def vector_crc(space: str, task_id: str, blob: bytes) -> int:
    """Checksum binding a vector to its space and id (a swapped row fails too)."""
    return zlib.crc32(blob, zlib.crc32(f"{space}\x00{task_id}\x00".encode()))


def row_crc(
    vcrc: int,
    space: str,
    task_id: str,
    meta: Sequence[str],
    created: float,
    updated: float,
    tags: Sequence[str],
) -> int:
    """Checksum of a task row's metadata, chained on its vector checksum ``vcrc``.

    ``meta`` is (name, kind, task_type, label_names JSON, dataset_path, model, prompt,
    output_info JSON) as stored (without output_info in schema version 2); tags are taken
    as a set. The encoding is a header (tag count, the UTF-8 length
    of every text, both times as float64) followed by the texts, so no two different rows
    share one.
    """
    ordered = sorted(set(tags))
    raw = [t.encode("utf-8", "surrogatepass") for t in (space, task_id, *meta, *ordered)]
    head = struct.pack(f"<I{len(raw)}Idd", len(ordered), *map(len, raw), created, updated)
    return zlib.crc32(b"".join(raw), zlib.crc32(head, vcrc & 0xFFFFFFFF))


# The columns a row checksum covers, in row_crc's order (after space and id); schema
# version 2 had all but output_info.
_META_NAMES_V2 = ("name", "kind", "task_type", "label_names", "dataset_path", "model", "prompt")
_META_NAMES = (*_META_NAMES_V2, "output_info")
_META_COLS = ", ".join(_META_NAMES)
# A task's tags as a JSON array, selected as the column ``tags``.
_TAGS_COL = (
    "(SELECT json_group_array(tag) FROM (SELECT tag FROM task_tags g WHERE g.vec_id = t.vec_id ORDER BY tag))"
    " AS tags"
)


def _meta(r: sqlite3.Row, names: Sequence[str] = _META_NAMES) -> tuple[str, ...]:
    """The checksummed metadata columns of a task row, in row_crc's order."""
    return tuple(r[c] for c in names)


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
    """Execute ``sql`` on a cursor whose rows are read by column name."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    return cur.execute(sql, params)


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, tz=UTC)


# The columns every store of SCHEMA_VERSION has, per table (checked after migration).
EXPECTED_COLUMNS: dict[str, frozenset[str]] = {
    "spaces": frozenset({"name", "dim", "backend", "identity", "space_key", "created", "keep_neighbours"}),
    "tasks": frozenset(
        {
            "vec_id",
            "space",
            "id",
            "name",
            "kind",
            "task_type",
            "label_names",
            "dataset_path",
            "model",
            "prompt",
            "created",
            "updated",
            "vector",
            "crc",
            "row_crc",
            "output_info",
        }
    ),
    "task_tags": frozenset({"vec_id", "tag"}),
    "task_neighbours": frozenset({"vec_id", "ids", "sims", "crc"}),
}


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """StoreCorruptedError unless every table and column of the schema is there."""
    for table, columns in EXPECTED_COLUMNS.items():
        # ``table`` is one of the constant names above, never request data.
        have = {r["name"] for r in _rows(conn, f"PRAGMA table_info({table})")}
        missing = sorted(columns - have)
        if missing:
            raise StoreCorruptedError(
                f"{path}: not a TaskSearch store: table {table!r} lacks columns {missing}"
                if have
                else f"{path}: not a TaskSearch store: no table {table!r}"
            )


def migrate(conn: sqlite3.Connection, path: Path | None = None, *, create: bool = True) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` (the one migration function).

    Each step is one transaction that sets ``user_version`` last, so a crash mid-step
    leaves the store at the previous version. A database without the schema gets it only
    when ``create`` is set and the database holds no tables at all: an unrelated SQLite
    file is refused, never adopted (StoreCorruptedError).
    """
    where = f"{path}: " if path is not None else ""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreCorruptedError(
            f"{where}store schema version {version} is newer than this server's {SCHEMA_VERSION}"
        )
    if version < 1:
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        if not create or tables:
            raise StoreCorruptedError(
                f"{where}not a TaskSearch store (schema version {version}, {tables} schema objects)"
            )
        with conn:
            conn.executescript(
                """
                BEGIN IMMEDIATE;
                CREATE TABLE spaces (
                    name TEXT PRIMARY KEY,
                    dim INTEGER NOT NULL,
                    backend TEXT NOT NULL,
                    identity TEXT,
                    space_key TEXT NOT NULL,
                    created REAL NOT NULL
                );
                -- vec_id is the FAISS id: AUTOINCREMENT never reuses one, so an id
                -- tombstoned in an HNSW graph can never come back to life.
                CREATE TABLE tasks (
                    vec_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    task_type TEXT NOT NULL,
                    label_names TEXT NOT NULL,
                    dataset_path TEXT NOT NULL,
                    model TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    created REAL NOT NULL,
                    updated REAL NOT NULL,
                    vector BLOB NOT NULL,
                    crc INTEGER NOT NULL,
                    UNIQUE (space, id)
                );
                CREATE TABLE task_tags (
                    vec_id INTEGER NOT NULL REFERENCES tasks(vec_id) ON DELETE CASCADE,
                    tag TEXT NOT NULL,
                    PRIMARY KEY (vec_id, tag)
                );
                CREATE INDEX task_tags_tag ON task_tags(tag, vec_id);
                PRAGMA user_version = 1;
                COMMIT;
                """
            )
        log.info("created store schema version 1")
    if version < 2:
        # Version 2: a checksum over each task row's metadata (row_crc). Rows of an older
        # store get theirs computed from what they hold now; their vector checksums are
        # still verified when the store loads.
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ALTER TABLE tasks ADD COLUMN row_crc INTEGER NOT NULL DEFAULT 0")
            rows = _rows(
                conn,
                f"SELECT vec_id, crc, space, id, {', '.join(_META_NAMES_V2)}, created, updated, {_TAGS_COL}"
                " FROM tasks t",
            ).fetchall()
            conn.executemany(
                "UPDATE tasks SET row_crc = ? WHERE vec_id = ?",
                [
                    (
                        row_crc(
                            r["crc"],
                            r["space"],
                            r["id"],
                            _meta(r, _META_NAMES_V2),
                            r["created"],
                            r["updated"],
                            json.loads(r["tags"]),
                        ),
                        r["vec_id"],
                    )
                    for r in rows
                ],
            )
            conn.execute("PRAGMA user_version = 2")
        if version >= 1:
            log.info("migrated store schema %d -> 2: computed %d row checksums", version, len(rows))
    if version < 3:
        _migrate_to_3(conn, where)
        if version >= 1:
            log.info("migrated store schema %d -> 3", max(version, 2))


def _migrate_to_3(conn: sqlite3.Connection, where: str) -> None:
    """Version 3: each task's output information (``output_info``, JSON, empty for none) in
    the row checksum, the per-space flag ``spaces.keep_neighbours`` (0 for every space a
    migration finds) and the table of neighbour lists (``task_neighbours``: each task's
    nearest other tasks of its space, for CSLS), filled, for the spaces with the flag only,
    when the store loads (:func:`server.store.hubness.load_table`). Every row's version-2
    checksum is verified before its version-3 one is written, so damage is never given a
    valid checksum."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ALTER TABLE tasks ADD COLUMN output_info TEXT NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE spaces ADD COLUMN keep_neighbours INTEGER NOT NULL DEFAULT 0")
        conn.execute(
            "CREATE TABLE task_neighbours ("
            " vec_id INTEGER PRIMARY KEY REFERENCES tasks(vec_id) ON DELETE CASCADE,"
            " ids BLOB NOT NULL,"  # little-endian int64 vec_ids, nearest first
            " sims BLOB NOT NULL,"  # their float32 cosines
            " crc INTEGER NOT NULL)"
        )
        rows = _rows(
            conn,
            f"SELECT vec_id, crc, row_crc, space, id, {_META_COLS}, created, updated, {_TAGS_COL}"
            " FROM tasks t",
        ).fetchall()
        updates: list[tuple[int, int]] = []
        for r in rows:
            tags = json.loads(r["tags"])
            args = (r["crc"], r["space"], r["id"])
            if row_crc(*args, _meta(r, _META_NAMES_V2), r["created"], r["updated"], tags) != r["row_crc"]:
                raise StoreCorruptedError(
                    f"{where}task {r['id']!r} in space {r['space']!r} fails its metadata checksum: "
                    "the store file is corrupted; restore a snapshot"
                )
            updates.append((row_crc(*args, _meta(r), r["created"], r["updated"], tags), r["vec_id"]))
        conn.executemany("UPDATE tasks SET row_crc = ? WHERE vec_id = ?", updates)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class MetadataDB:
    """One SQLite database file; callers serialise writes (``TaskStore`` holds the lock).

    ``create``: give a new (empty) database the schema; without it a file that is not
    already a store is refused (restore must never adopt an empty or unrelated file).
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            ok = self._conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptedError(f"{path}: not a readable store database ({exc})") from exc
        if ok != "ok":
            self._conn.close()
            raise StoreCorruptedError(f"{path}: SQLite integrity check failed: {ok}")
        try:
            migrate(self._conn, path, create=create)
            check_schema(self._conn, path)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreCorruptedError(f"{path}: cannot migrate store ({exc})") from exc
        except StoreCorruptedError:
            self._conn.close()
            raise

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()

    def totals(self) -> tuple[int, int]:
        """(spaces, tasks) in the database."""
        spaces = self._conn.execute("SELECT COUNT(*) FROM spaces").fetchone()[0]
        tasks = self._conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        return int(spaces), int(tasks)

    def backup_to(self, dest: Path) -> None:
        """A consistent copy of the database (SQLite's online backup)."""
        target = sqlite3.connect(str(dest))
        try:
            self._conn.backup(target)
        finally:
            target.close()

    # ---------------------------------------------------------------- spaces

    def create_space(self, row: SpaceRow) -> None:
        """Insert a space row (the caller checked the name is free)."""
        identity = _identity_json(row.identity) if row.identity else None
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO spaces (name, dim, backend, identity, space_key, created, keep_neighbours)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.name,
                    row.dim,
                    row.backend,
                    identity,
                    row.space_key,
                    row.created,
                    int(row.keep_neighbours),
                ),
            )

    def pin_identity(self, name: str, identity: SpaceIdentity) -> None:
        """Replace a space's identity inside the open transaction (an upsert's
        ``before_commit``), so it commits or rolls back with the rows it came with."""
        self._conn.execute("UPDATE spaces SET identity = ? WHERE name = ?", (_identity_json(identity), name))

    def spaces(self) -> list[SpaceRow]:
        """All spaces by name; a row that does not decode is StoreCorruptedError."""
        rows = self._fetch(
            "SELECT name, dim, backend, identity, space_key, created, keep_neighbours FROM spaces"
            " ORDER BY name",
            (),
        )
        out: list[SpaceRow] = []
        for r in rows:
            try:
                identity = SpaceIdentity(**json.loads(r["identity"])) if r["identity"] else None
            except (TypeError, ValueError) as exc:
                raise StoreCorruptedError(
                    f"{self.path}: space {r['name']!r} has an unreadable identity ({exc})"
                ) from exc
            out.append(
                SpaceRow(
                    name=r["name"],
                    dim=r["dim"],
                    backend=r["backend"],
                    identity=identity,
                    space_key=r["space_key"],
                    created=r["created"],
                    keep_neighbours=bool(r["keep_neighbours"]),
                )
            )
        return out

    def delete_space(self, name: str) -> int:
        """Delete a space and its tasks; returns the number of tasks."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            n = self._conn.execute("SELECT COUNT(*) FROM tasks WHERE space = ?", (name,)).fetchone()[0]
            self._conn.execute("DELETE FROM spaces WHERE name = ?", (name,))
        return int(n)

    def count(self, space: str) -> int:
        """Tasks in a space."""
        return int(self._conn.execute("SELECT COUNT(*) FROM tasks WHERE space = ?", (space,)).fetchone()[0])

    # ---------------------------------------------------------------- writes

    def upsert(
        self,
        space: str,
        tasks: Sequence[Task],
        now: float,
        before_commit: Callable[[list[tuple[int, int | None]]], None] | None = None,
    ) -> list[tuple[int, int | None]]:
        """Insert or replace ``tasks`` (vectors already validated) in one transaction.

        Returns ``(new vec_id, replaced vec_id or None)`` per task. A replaced task keeps
        its created time and gets a fresh vec_id. ``before_commit`` gets those pairs
        inside the transaction (to update the index); if it raises, nothing is stored.
        """
        out: list[tuple[int, int | None]] = []
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for task in tasks:
                assert task.vector is not None
                old = self._conn.execute(
                    "SELECT vec_id, created FROM tasks WHERE space = ? AND id = ?", (space, task.id)
                ).fetchone()
                if old is not None:
                    self._conn.execute("DELETE FROM tasks WHERE vec_id = ?", (old["vec_id"],))
                blob = np.ascontiguousarray(task.vector, dtype="<f4").tobytes()
                meta = (
                    task.name,
                    task.kind,
                    task.task_type,
                    json.dumps(list(task.label_names)),
                    task.source.dataset_path,
                    task.source.model,
                    task.source.prompt,
                    output_info_json(task.output_info),
                )
                created = float(old["created"]) if old is not None else float(now)
                vcrc = vector_crc(space, task.id, blob)
                rcrc = row_crc(vcrc, space, task.id, meta, created, float(now), task.tags)
                cur = self._conn.execute(
                    "INSERT INTO tasks (space, id, name, kind, task_type, label_names, dataset_path,"
                    " model, prompt, output_info, created, updated, vector, crc, row_crc)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (space, task.id, *meta, created, float(now), blob, vcrc, rcrc),
                )
                vec_id = int(cur.lastrowid or 0)
                self._conn.executemany(
                    "INSERT OR IGNORE INTO task_tags (vec_id, tag) VALUES (?, ?)",
                    [(vec_id, tag) for tag in task.tags],
                )
                out.append((vec_id, None if old is None else int(old["vec_id"])))
            if before_commit is not None:
                before_commit(out)
        return out

    def delete_where(
        self,
        space: str,
        where: str,
        params: Sequence[str],
        before_commit: Callable[[list[int]], None] | None = None,
    ) -> list[int]:
        """Delete the tasks of ``space`` matching a compiled filter; returns their vec_ids.

        ``before_commit`` gets those vec_ids inside the transaction (to update the
        neighbour lists); if it raises, nothing is deleted.
        """
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            ids = self._select_vec_ids(space, where, params)
            self._conn.executemany("DELETE FROM tasks WHERE vec_id = ?", [(i,) for i in ids])
            if before_commit is not None and ids:
                before_commit(ids)
        return ids

    # ---------------------------------------------------------------- neighbour lists

    def write_neighbours(self, lists: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """Store neighbour lists (vec_id -> (neighbour vec_ids, cosines)) inside the caller's
        open transaction (an upsert's or a delete's ``before_commit``)."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO task_neighbours (vec_id, ids, sims, crc) VALUES (?, ?, ?, ?)",
            [(vec_id, *_neighbour_blobs(vec_id, ids, sims)) for vec_id, (ids, sims) in lists.items()],
        )

    def save_neighbours(self, lists: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """Store neighbour lists in a transaction of their own (lists computed at load)."""
        if not lists:
            return
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self.write_neighbours(lists)

    def iter_neighbours(self, space: str) -> Iterator[tuple[int, np.ndarray, np.ndarray] | int]:
        """The stored neighbour list of every task of ``space`` that has one, as (vec_id,
        neighbour vec_ids, cosines); a row failing its checksum or of unequal lengths is
        yielded as its bare vec_id (derived data: the caller recomputes it)."""
        try:
            cur = self._conn.execute(
                "SELECT n.vec_id, n.ids, n.sims, n.crc FROM task_neighbours n"
                " JOIN tasks t ON t.vec_id = n.vec_id WHERE t.space = ? ORDER BY n.vec_id",
                (space,),
            )
            for r in cur:
                vec_id, ids, sims = int(r["vec_id"]), r["ids"], r["sims"]
                ok = (
                    isinstance(ids, bytes)
                    and isinstance(sims, bytes)
                    and len(ids) == 2 * len(sims)
                    and len(ids) % 8 == 0
                    and _neighbour_crc(vec_id, ids, sims) == r["crc"]
                )
                if ok:
                    yield (
                        vec_id,
                        np.frombuffer(ids, "<i8").astype(np.int64),
                        np.frombuffer(sims, "<f4").astype(np.float32),
                    )
                else:
                    yield vec_id
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptedError(
                f"{self.path}: cannot read the neighbour lists of space {space!r} ({exc})"
            ) from exc

    # ---------------------------------------------------------------- reads

    def _select_vec_ids(self, space: str, where: str, params: Sequence[str]) -> list[int]:
        # ``where`` is produced by server.store.filters.compile_filter: fixed SQL, values as params.
        sql = f"SELECT t.vec_id FROM tasks t WHERE t.space = ? AND ({where}) ORDER BY t.vec_id"
        return [int(r["vec_id"]) for r in self._conn.execute(sql, (space, *params))]

    def matching_vec_ids(self, space: str, where: str, params: Sequence[str]) -> np.ndarray:
        """vec_ids of the tasks of ``space`` matching a compiled filter."""
        return np.asarray(self._select_vec_ids(space, where, params), dtype=np.int64)

    def vec_ids_of(self, space: str, ids: Sequence[str]) -> dict[str, int]:
        """Map task ids to vec_ids (unknown ids absent)."""
        out: dict[str, int] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = list(ids[chunk_start : chunk_start + 500])
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT id, vec_id FROM tasks WHERE space = ? AND id IN ({marks})", (space, *chunk)
            ):
                out[r["id"]] = int(r["vec_id"])
        return out

    def ids_of_vec_ids(self, vec_ids: Sequence[int]) -> dict[int, str]:
        """Task ids of the given vec_ids, without loading (or verifying) their records."""
        out: dict[int, str] = {}
        for start in range(0, len(vec_ids), 500):
            chunk = [int(v) for v in vec_ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(f"SELECT vec_id, id FROM tasks WHERE vec_id IN ({marks})", chunk):
                out[int(r["vec_id"])] = str(r["id"])
        return out

    def tasks_by_vec_ids(self, vec_ids: Sequence[int], with_vectors: bool) -> dict[int, Task]:
        """Full records of the given vec_ids, each row's checksum verified (and its
        vector's when vectors are loaded)."""
        out: dict[int, Task] = {}
        for start in range(0, len(vec_ids), 500):
            chunk = [int(v) for v in vec_ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            vector_col = "vector" if with_vectors else "NULL AS vector"
            rows = self._fetch(
                f"SELECT vec_id, space, id, {_META_COLS}, created, updated, {vector_col}, crc,"
                f" row_crc, {_TAGS_COL} FROM tasks t WHERE vec_id IN ({marks})",
                chunk,
            )
            for r in rows:
                tags = self._checked_row(r)
                vector = self._checked_vector(r) if with_vectors else None
                out[int(r["vec_id"])] = _task_of_row(r, tags, vector)
        return out

    def list_page(
        self, space: str, where: str, params: Sequence[str], after_id: str, limit: int
    ) -> list[int]:
        """vec_ids of the next ``limit`` matching tasks with id > ``after_id``, by id."""
        sql = (
            f"SELECT t.vec_id FROM tasks t WHERE t.space = ? AND t.id > ? AND ({where}) ORDER BY t.id LIMIT ?"
        )
        return [int(r["vec_id"]) for r in self._conn.execute(sql, (space, after_id, *params, limit))]

    def vectors(self, vec_ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``vec_ids`` in that order, checksum-verified."""
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(vec_ids), 500):
            chunk = [int(v) for v in vec_ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT vec_id, space, id, vector, crc FROM tasks WHERE vec_id IN ({marks})", chunk
            ):
                found[int(r["vec_id"])] = self._checked_vector(r)
        return np.stack([found[int(v)] for v in vec_ids]) if len(vec_ids) else np.zeros((0, 0), np.float32)

    def iter_space_vectors(
        self, space: str, batch: int = 4096, *, verify_rows: bool = False, dim: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (vec_ids, vectors) of a space in blocks, every vector checksum verified;
        with ``verify_rows`` (at start) every row's metadata checksum too, and with
        ``dim`` every vector's length (StoreCorruptedError naming the task otherwise)."""
        if verify_rows:
            sql = (
                f"SELECT vec_id, space, id, {_META_COLS}, created, updated, vector, crc, row_crc,"
                f" {_TAGS_COL} FROM tasks t WHERE space = ? ORDER BY vec_id"
            )
        else:
            sql = "SELECT vec_id, space, id, vector, crc FROM tasks WHERE space = ? ORDER BY vec_id"
        try:
            cur = self._conn.execute(sql, (space,))
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    return
                ids = np.asarray([r["vec_id"] for r in rows], dtype=np.int64)
                if dim is not None:
                    for r in rows:
                        if not isinstance(r["vector"], bytes) or len(r["vector"]) != 4 * dim:
                            raise StoreCorruptedError(
                                f"{self.path}: vector of task {r['id']!r} in space {space!r} is not"
                                f" {dim} float32 values; restore a snapshot"
                            )
                if verify_rows:
                    for r in rows:
                        self._checked_row(r)
                vecs = np.stack([self._checked_vector(r) for r in rows])
                yield ids, vecs
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptedError(f"{self.path}: cannot read space {space!r} ({exc})") from exc

    def _fetch(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            # e.g. a text field that is no longer UTF-8
            raise StoreCorruptedError(f"{self.path}: cannot read task rows ({exc})") from exc

    def _checked_row(self, r: sqlite3.Row) -> list[str]:
        """Verify the row checksum of a task row (space, id, the metadata columns,
        created, updated, crc, row_crc and tags); returns its tags."""
        try:
            tags = json.loads(r["tags"])
            ok = (
                row_crc(r["crc"], r["space"], r["id"], _meta(r), r["created"], r["updated"], tags)
                == r["row_crc"]
            )
        except (AttributeError, TypeError, ValueError, struct.error):
            ok = False
        if not ok:
            raise StoreCorruptedError(
                f"{self.path}: task {r['id']!r} in space {r['space']!r} fails its metadata checksum: "
                "the store file is corrupted; restore a snapshot"
            )
        return sorted(tags)

    def _checked_vector(self, r: sqlite3.Row) -> np.ndarray:
        """The vector of a row with (space, id, vector, crc), its checksum verified."""
        space, task_id, blob = r["space"], r["id"], r["vector"]
        if vector_crc(space, task_id, blob) != r["crc"]:
            raise StoreCorruptedError(
                f"{self.path}: vector of task {task_id!r} in space {space!r} fails its checksum: "
                "the store file is corrupted; restore a snapshot"
            )
        return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _identity_json(identity: SpaceIdentity) -> str:
    """A space identity as the ``spaces.identity`` column holds it (read back by
    :meth:`MetadataDB.spaces`)."""
    return json.dumps(identity.__dict__, sort_keys=True)


def _neighbour_crc(vec_id: int, ids: bytes, sims: bytes) -> int:
    """Checksum of a stored neighbour list, bound to its task's vec_id."""
    return zlib.crc32(sims, zlib.crc32(ids, zlib.crc32(struct.pack("<q", vec_id))))


def _neighbour_blobs(vec_id: int, ids: np.ndarray, sims: np.ndarray) -> tuple[bytes, bytes, int]:
    """(ids blob, sims blob, crc) of one neighbour list."""
    id_blob = np.ascontiguousarray(ids, dtype="<i8").tobytes()
    sim_blob = np.ascontiguousarray(sims, dtype="<f4").tobytes()
    return id_blob, sim_blob, _neighbour_crc(vec_id, id_blob, sim_blob)


def output_info_json(info: OutputInfo | None) -> str:
    """The stored text of a task's output information: canonical JSON, empty for none."""
    return "" if info is None else json.dumps(asdict(info), sort_keys=True)


def _output_info_of(text: str) -> OutputInfo | None:
    return OutputInfo(**json.loads(text)) if text else None


def _task_of_row(r: sqlite3.Row, tags: Sequence[str], vector: np.ndarray | None) -> Task:
    """The Task of a checked task row (the one row -> Task conversion)."""
    return Task(
        id=r["id"],
        vector=vector,
        name=r["name"],
        kind=r["kind"],
        task_type=r["task_type"],
        label_names=tuple(json.loads(r["label_names"])),
        source=TaskSource(r["dataset_path"], r["model"], r["prompt"]),
        tags=tuple(tags),
        created_time=_ts(r["created"]),
        updated_time=_ts(r["updated"]),
        output_info=_output_info_of(r["output_info"]),
    )


def check_copy(path: Path, spaces: int, tasks: int) -> None:
    """DataLossError unless ``path`` is a complete copy: it opens read-only, passes
    ``quick_check``, has this schema version, and holds ``spaces`` spaces and ``tasks``
    tasks (the counts of the database it was copied from, taken under the same lock)."""
    try:
        # as_uri percent-encodes the path, so a '?' or '#' in a folder name is safe.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            got = (
                conn.execute("SELECT COUNT(*) FROM spaces").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0],
            )
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DataLossError(f"snapshot copy {path.name} is not readable ({exc})") from exc
    if ok != "ok" or version != SCHEMA_VERSION or got != (spaces, tasks):
        raise DataLossError(
            f"snapshot copy {path.name} is incomplete: check {ok!r}, schema {version}, "
            f"{got[0]} spaces and {got[1]} tasks where the store has {spaces} and {tasks}"
        )
