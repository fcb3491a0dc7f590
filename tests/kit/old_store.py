"""Store files of older schema versions, written as that version's code wrote them.

The statements and checksums below are frozen copies of what ``server/store/metadata.py``
did at schema versions 1 and 2 (commit d76f814^ and before), so a migration test opens a
file the old server really wrote, not one the current code made and then damaged.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fute_client.types import Task

V1_SCHEMA = """
CREATE TABLE spaces (
    name TEXT PRIMARY KEY,
    dim INTEGER NOT NULL,
    backend TEXT NOT NULL,
    identity TEXT,
    space_key TEXT NOT NULL,
    created REAL NOT NULL
);
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
"""
V2_STEP = "ALTER TABLE tasks ADD COLUMN row_crc INTEGER NOT NULL DEFAULT 0"


def _vector_crc(space: str, task_id: str, blob: bytes) -> int:
    return zlib.crc32(blob, zlib.crc32(f"{space}\x00{task_id}\x00".encode()))


def _row_crc_v2(
    vcrc: int,
    space: str,
    task_id: str,
    meta: Sequence[str],
    created: float,
    updated: float,
    tags: Sequence[str],
) -> int:
    ordered = sorted(set(tags))
    raw = [t.encode("utf-8", "surrogatepass") for t in (space, task_id, *meta, *ordered)]
    head = struct.pack(f"<I{len(raw)}Idd", len(ordered), *map(len, raw), created, updated)
    return zlib.crc32(b"".join(raw), zlib.crc32(head, vcrc & 0xFFFFFFFF))


def write_old_store(
    folder: Path,
    spaces: Mapping[str, tuple[int, str]],
    tasks: Mapping[str, Sequence[Task]],
    *,
    version: int = 2,
    now: float = 1_700_000_000.0,
) -> Path:
    """A store directory whose ``tasks.sqlite`` is of schema ``version`` (1 or 2), holding
    ``spaces`` (name -> (dim, backend), no identity) and their ``tasks`` (with vectors)."""
    assert version in (1, 2)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "tasks.sqlite")
    conn.executescript(V1_SCHEMA)
    if version >= 2:
        conn.execute(V2_STEP)
    for name, (dim, backend) in spaces.items():
        conn.execute(
            "INSERT INTO spaces (name, dim, backend, identity, space_key, created) VALUES (?, ?, ?, NULL, '', ?)",
            (name, dim, backend, now),
        )
        for task in tasks.get(name, ()):
            assert task.vector is not None
            blob = np.ascontiguousarray(task.vector, dtype="<f4").tobytes()
            meta = (
                task.name or task.id,
                task.kind,
                task.task_type,
                json.dumps(list(task.label_names)),
                task.source.dataset_path,
                task.source.model,
                task.source.prompt,
            )
            vcrc = _vector_crc(name, task.id, blob)
            cur = conn.execute(
                "INSERT INTO tasks (space, id, name, kind, task_type, label_names, dataset_path, model,"
                " prompt, created, updated, vector, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, task.id, *meta, now, now, blob, vcrc),
            )
            vec_id = cur.lastrowid
            conn.executemany(
                "INSERT INTO task_tags (vec_id, tag) VALUES (?, ?)",
                [(vec_id, t) for t in sorted(set(task.tags))],
            )
            if version >= 2:
                rcrc = _row_crc_v2(vcrc, name, task.id, meta, now, now, task.tags)
                conn.execute("UPDATE tasks SET row_crc = ? WHERE vec_id = ?", (rcrc, vec_id))
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    return folder
