"""Snapshots and restore never damage the live store (issue 13, defects 1, 2 and 8).

* Concurrent ``CreateSnapshot`` calls with one name: exactly one wins, the others get
  ALREADY_EXISTS, and the winner is a complete copy (never an empty file).
* ``RestoreSnapshot`` of a file whose ``.sha256`` matches but which is not a loadable
  store (empty, an unrelated SQLite database, a zip, a newer schema, damaged pages, a
  vector that cannot be normalised) answers DATA_LOSS and leaves the live store exactly
  as it was: it keeps answering, health stays SERVING, and it starts again afterwards.
* Snapshot names are matched whole (no trailing newline); a stray file in the snapshot
  folder does not break ``ListSnapshots``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from reliability_kit import error_reason, in_process_server, poison_first_vector, raw_stubs, serving

from fute_client import TaskSearchClient
from fute_client.contract import messages as pb
from fute_client.types import Task
from server.store.metadata import SCHEMA_VERSION

DIM = 8
N_TASKS = 40
CONCURRENT = 6


def _fill(target: str) -> np.ndarray:
    """Space ``s`` with N_TASKS tasks; returns their vectors."""
    vectors = np.random.default_rng(1).normal(size=(N_TASKS, DIM)).astype(np.float32)
    with TaskSearchClient(target) as c:
        c.create_space("s", DIM)
        c.upsert("s", [Task(id=f"t{i}", vector=v, tags=("x",)) for i, v in enumerate(vectors)])
    return vectors


def _state(target: str) -> tuple[list[str], list[list[tuple[str, float]]]]:
    """What the store answers: its spaces and a search over all tasks of ``s``."""
    with TaskSearchClient(target, timeout=5) as c:
        spaces = [f"{s.name}:{s.task_count}" for s in c.list_spaces()]
        hits = c.search("s", ["t0", "t1"], k=N_TASKS)
    return spaces, [[(h.id, round(h.score, 5)) for h in q] for q in hits]


def _seal(store: Path, name: str, data: bytes) -> None:
    """Put ``data`` in the snapshot folder as snapshot ``name`` with a matching hash."""
    snaps = store / "snapshots"
    snaps.mkdir(exist_ok=True)
    (snaps / f"{name}.sqlite").write_bytes(data)
    (snaps / f"{name}.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")


def test_concurrent_create_snapshot_with_one_name_has_one_winner(tmp_path: Path) -> None:
    with in_process_server(tmp_path / "store") as (_, target), raw_stubs(target) as (stub, _health):
        _fill(target)
        before = _state(target)
        for round_ in range(3):  # a race: several rounds make a lucky pass unlikely
            name = f"same-{round_}"
            barrier = threading.Barrier(CONCURRENT)
            outcomes: list[grpc.StatusCode] = []
            replies: list[pb.Snapshot] = []
            lock = threading.Lock()

            def create(
                name: str,
                barrier: threading.Barrier,
                outcomes: list[grpc.StatusCode],
                replies: list[pb.Snapshot],
                lock: threading.Lock,
            ) -> None:
                barrier.wait()
                try:
                    reply = stub.CreateSnapshot(pb.CreateSnapshotRequest(name=name), timeout=20)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    reply, code = None, exc.code()
                with lock:
                    outcomes.append(code)
                    if reply is not None:
                        replies.append(reply)

            args = (name, barrier, outcomes, replies, lock)
            threads = [threading.Thread(target=create, args=args) for _ in range(CONCURRENT)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert sorted(c.name for c in outcomes) == sorted(
                ["OK"] + ["ALREADY_EXISTS"] * (CONCURRENT - 1)
            ), outcomes
            (snap,) = replies
            assert snap.size_bytes > 0 and snap.sha256 != hashlib.sha256(b"").hexdigest()
            path = tmp_path / "store" / "snapshots" / f"{name}.sqlite"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == snap.sha256
            reply = stub.RestoreSnapshot(pb.RestoreSnapshotRequest(name=name), timeout=20)
            assert (reply.spaces, reply.tasks) == (1, N_TASKS)
            assert _state(target) == before
        leftovers = [p.name for p in (tmp_path / "store" / "snapshots").iterdir() if p.name.startswith(".")]
        assert leftovers == [], "temporary snapshot files were left behind"


# ---------------------------------------------------------------- unloadable snapshots


def _empty(good: bytes, tmp: Path) -> bytes:
    return b""


def _unrelated_sqlite(good: bytes, tmp: Path) -> bytes:
    path = tmp / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('hello')")
    return path.read_bytes()


def _zip(good: bytes, tmp: Path) -> bytes:
    path = tmp / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("tasks.sqlite", good)
    return path.read_bytes()


def _edited(good: bytes, tmp: Path, sql: Callable[[sqlite3.Connection], None]) -> bytes:
    path = tmp / "edited.sqlite"
    path.write_bytes(good)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        sql(conn)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.read_bytes()


def _newer_schema(good: bytes, tmp: Path) -> bytes:
    def bump(conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    return _edited(good, tmp, bump)


def _damaged_pages(good: bytes, tmp: Path) -> bytes:
    # Page 1 (header and schema) intact, every later page overwritten.
    page = int.from_bytes(good[16:18], "big") or 65536
    noise = np.random.default_rng(0).integers(0, 256, len(good) - page, dtype=np.uint8).tobytes()
    return good[:page] + noise


def _unnormalisable_vector(good: bytes, tmp: Path) -> bytes:
    """A NaN vector whose two checksums were recomputed: only the vector check can see it."""
    return _edited(good, tmp, lambda conn: poison_first_vector(conn, np.full(DIM, np.nan, np.float32)))


BAD_SNAPSHOTS: dict[str, Callable[[bytes, Path], bytes]] = {
    "empty": _empty,
    "unrelated-sqlite": _unrelated_sqlite,
    "zip": _zip,
    "newer-schema": _newer_schema,
    "damaged-pages": _damaged_pages,
    "nan-vector": _unnormalisable_vector,
}


@pytest.mark.parametrize("kind", sorted(BAD_SNAPSHOTS))
def test_restore_of_unloadable_snapshot_leaves_the_store_as_it_was(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), raw_stubs(target) as (stub, health):
        _fill(target)
        stub.CreateSnapshot(pb.CreateSnapshotRequest(name="good"), timeout=10)
        good = (store / "snapshots" / "good.sqlite").read_bytes()
        _seal(store, "bad", BAD_SNAPSHOTS[kind](good, tmp_path))
        before = _state(target)
        with pytest.raises(grpc.RpcError) as err:
            stub.RestoreSnapshot(pb.RestoreSnapshotRequest(name="bad"), timeout=20)
        assert err.value.code() == grpc.StatusCode.DATA_LOSS, err.value.details()
        assert "not a loadable store" in (err.value.details() or "")
        assert error_reason(err.value)
        # The live store answers exactly as before, writes work, health says SERVING.
        assert _state(target) == before
        assert serving(health)
        with TaskSearchClient(target) as c:
            c.upsert("s", [Task(id="after", vector=np.ones(DIM, np.float32))])
            c.delete("s", ids=["after"])
        assert [p.name for p in store.iterdir() if p.name.startswith(".tmp-")] == []
    # ... and the store starts again, unchanged.
    with in_process_server(store) as (_, target):
        assert _state(target) == before


def test_restore_replaces_a_store_with_a_valid_snapshot(tmp_path: Path) -> None:
    """The validation does not refuse good snapshots (control for the test above)."""
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        _fill(target)
        before = _state(target)
        c.create_snapshot("good")
        c.delete("s", ids=[f"t{i}" for i in range(10)])
        assert c.restore_snapshot("good") == (1, N_TASKS)
        assert _state(target) == before


# ---------------------------------------------------------------- names and stray files


@pytest.mark.parametrize("name", ["snap\n", "snap\r\n", "\nsnap", "snap\x00"])
def test_snapshot_name_is_matched_whole(tmp_path: Path, name: str) -> None:
    with in_process_server(tmp_path / "store") as (_, target), raw_stubs(target) as (stub, _health):
        for call, request in (
            ("CreateSnapshot", pb.CreateSnapshotRequest(name=name)),
            ("RestoreSnapshot", pb.RestoreSnapshotRequest(name=name)),
        ):
            with pytest.raises(grpc.RpcError) as err:
                getattr(stub, call)(request, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, call
        assert list((tmp_path / "store" / "snapshots").glob("*\n*")) == []


def test_stray_snapshot_file_does_not_break_listing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        _fill(target)
        c.create_snapshot("good")
        (store / "snapshots" / "stray.sqlite").write_bytes(b"no hash beside me")
        (store / "snapshots" / "bad name!.sqlite").write_bytes(b"")
        (store / "snapshots" / "orphan.sha256").write_text(json.dumps("not a snapshot"))
        assert [s.name for s in c.list_snapshots()] == ["good"]
        assert c.restore_snapshot("good") == (1, N_TASKS)


def test_health_leaves_serving_when_a_swap_fails_half_way(tmp_path: Path) -> None:
    """If the database cannot be put in place after the old one was closed, the server
    stops claiming SERVING and answers UNAVAILABLE, instead of INTERNAL on every call."""
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), raw_stubs(target) as (stub, health):
        _fill(target)
        stub.CreateSnapshot(pb.CreateSnapshotRequest(name="good"), timeout=10)
        # The live file moves away (its connection keeps it open) and a non-empty folder
        # takes its name, so the final rename of the restore fails.
        (store / "tasks.sqlite").rename(store / "moved.sqlite")
        (store / "tasks.sqlite").mkdir()
        (store / "tasks.sqlite" / "blocker").write_text("x")
        with pytest.raises(grpc.RpcError) as err:
            stub.RestoreSnapshot(pb.RestoreSnapshotRequest(name="good"), timeout=20)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
        assert not serving(health)
        with pytest.raises(grpc.RpcError) as err:
            stub.ListSpaces(pb.ListSpacesRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_temporaries_of_a_killed_snapshot_or_restore_go_at_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "snapshots").mkdir(parents=True)
    left = [store / ".tmp-restore-k1ll3d.sqlite", store / "snapshots" / ".tmp-snap-k1ll3d.sqlite"]
    for path in left:
        path.write_bytes(b"half a database")
    keep = store / "snapshots" / "kept.sqlite"
    keep.write_bytes(b"not ours to delete")
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        assert c.list_snapshots() == []
    assert [p.exists() for p in left] == [False, False] and keep.exists()
