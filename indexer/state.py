"""The state dir of a job: finished units on disk and a ledger of what happened.

Layout::

    STATE/LOCK                         one job at a time (fute.dir_lock: flock, released on kill -9)
    STATE/units/<key>.safetensors      one embedding per finished unit, written atomically
    STATE/ledger.sqlite                runs, per-unit status and events, uploads per sink
    STATE/reports/<run id>.json        the JSON report of each run

A unit file is the truth about "done": it is written (temp file + rename) before the
ledger says so and before the upload, so a kill at any point leaves either no file (the
unit reruns) or a complete one (the unit is skipped and, if needed, uploaded). Only the
driver process writes here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from fute.dir_lock import lock_dir
from fute.embedding import TEMP_PREFIX, TaskEmbedding, load_embedding, save_embedding
from fute.errors import EmbeddingFileError
from indexer.errors import IndexerError

logger = logging.getLogger(__name__)

EventKind = Literal["computed", "failed", "recovered", "uploaded", "upload_failed"]
EVENT_KINDS: tuple[EventKind, ...] = ("computed", "failed", "recovered", "uploaded", "upload_failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, manifest TEXT NOT NULL, summary TEXT
);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY, label TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    seconds REAL, method TEXT NOT NULL, kind TEXT NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, key TEXT NOT NULL, label TEXT NOT NULL,
    event TEXT NOT NULL, detail TEXT, seconds REAL, time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    sink TEXT NOT NULL, space TEXT NOT NULL, task_id TEXT NOT NULL, fingerprint TEXT NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (sink, space, task_id)
);
"""


class StateDir:
    """Finished units and the ledger of one job's state dir (open with a context manager)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.units_dir = self.path / "units"
        self.reports_dir = self.path / "reports"
        try:
            self.units_dir.mkdir(parents=True, exist_ok=True)
            self.reports_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise IndexerError(f"cannot create the state dir {self.path}: {exc}") from exc
        self._lock = self._acquire()
        self._remove_partial_writes()
        # Autocommit: every ledger write is durable on its own (a kill loses at most the one in flight).
        self._db = sqlite3.connect(self.path / "ledger.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def _acquire(self) -> IO[str]:
        return lock_dir(
            self.path, lambda: IndexerError(f"state dir {self.path} is in use by another indexing job")
        )

    def _remove_partial_writes(self) -> None:
        # A job killed inside save_embedding leaves its temporary file; with the lock held
        # nothing else writes here, so any such file is a dead partial write.
        for partial in self.units_dir.glob(f"{TEMP_PREFIX}*"):
            logger.info("removing a partial unit file left by a killed job: %s", partial)
            partial.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the ledger and release the dir."""
        self._db.close()
        self._lock.close()

    def __enter__(self) -> StateDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ unit files

    def unit_path(self, key: str) -> Path:
        """Where the embedding of unit ``key`` lives."""
        return self.units_dir / f"{key}.safetensors"

    def load_unit(self, key: str) -> TaskEmbedding | None:
        """The finished embedding of ``key``, or None when absent or unreadable (then it reruns)."""
        path = self.unit_path(key)
        if not path.is_file():
            return None
        try:
            return load_embedding(path)
        except EmbeddingFileError as exc:
            logger.warning("unit file %s is unreadable (%s); the unit will be recomputed", path, exc)
            return None

    def save_unit(self, key: str, emb: TaskEmbedding) -> Path:
        """Write a finished embedding atomically."""
        return save_embedding(emb, self.unit_path(key))

    # ------------------------------------------------------------ ledger

    def start_run(self, run_id: str, manifest: Path) -> None:
        """Record the start of a run."""
        self._db.execute(
            "INSERT INTO runs (run_id, started, manifest) VALUES (?, ?, ?)",
            (run_id, time.time(), str(manifest)),
        )

    def finish_run(self, run_id: str, summary: dict[str, int]) -> None:
        """Record the end of a run with its counts."""
        self._db.execute(
            "UPDATE runs SET finished = ?, summary = ? WHERE run_id = ?",
            (time.time(), json.dumps(summary), run_id),
        )

    def record(
        self,
        run_id: str,
        key: str,
        label: str,
        event: EventKind,
        *,
        method: str,
        kind: str,
        seconds: float | None = None,
        detail: str | None = None,
    ) -> None:
        """Append an event and update the unit's status (done/failed) accordingly."""
        now = time.time()
        status = {"computed": "done", "recovered": "done", "failed": "failed"}.get(event)
        # One transaction: a kill between the event and the status would make a finished
        # unit look unrecorded to the next run.
        with self._transaction():
            self._db.execute(
                "INSERT INTO events (run_id, key, label, event, detail, seconds, time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, key, label, event, detail, seconds, now),
            )
            if status is not None:
                self._db.execute(
                    "INSERT INTO units (key, label, status, error, seconds, method, kind, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET label = excluded.label, "
                    "status = excluded.status, error = excluded.error, "
                    "seconds = COALESCE(excluded.seconds, units.seconds), updated = excluded.updated",
                    (key, label, status, detail if status == "failed" else None, seconds, method, kind, now),
                )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def status(self, key: str) -> str | None:
        """The ledger's status of unit ``key`` (``done``/``failed``), None when never recorded."""
        row = self._db.execute("SELECT status FROM units WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def events(self, run_id: str | None = None, event: EventKind | None = None) -> list[tuple[str, str, str]]:
        """(run id, key, event) rows in order, optionally of one run and one kind."""
        sql = "SELECT run_id, key, event FROM events WHERE 1=1"
        params: list[str] = []
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        if event is not None:
            sql += " AND event = ?"
            params.append(event)
        return [(str(r), str(k), str(e)) for r, k, e in self._db.execute(sql + " ORDER BY seq", params)]

    def run_ids(self) -> list[str]:
        """Run ids, oldest first."""
        return [str(r) for (r,) in self._db.execute("SELECT run_id FROM runs ORDER BY started")]

    def mean_seconds(self, method: str, kind: str) -> float | None:
        """Mean compute time of finished units of this method and kind (for ETAs), if any."""
        row = self._db.execute(
            "SELECT AVG(seconds) FROM units WHERE status = 'done' AND method = ? AND kind = ? AND seconds IS NOT NULL",
            (method, kind),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def uploaded(self, sink: str, space: str, task_id: str) -> str | None:
        """The fingerprint last uploaded for (sink, space, task id), if any."""
        row = self._db.execute(
            "SELECT fingerprint FROM uploads WHERE sink = ? AND space = ? AND task_id = ?",
            (sink, space, task_id),
        ).fetchone()
        return str(row[0]) if row else None

    def record_upload(self, sink: str, space: str, task_id: str, fingerprint: str) -> None:
        """Remember that (space, task id) on ``sink`` holds ``fingerprint``."""
        self._db.execute(
            "INSERT INTO uploads (sink, space, task_id, fingerprint, time) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(sink, space, task_id) DO UPDATE SET fingerprint = excluded.fingerprint, time = excluded.time",
            (sink, space, task_id, fingerprint, time.time()),
        )

    def write_report(self, run_id: str, report: dict[str, object]) -> Path:
        """Write a run's JSON report under ``reports/``."""
        path = self.reports_dir / f"{run_id}.json"
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path
