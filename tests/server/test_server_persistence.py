"""Durability: restart keeps everything, kill -9 loses no acknowledged write, corruption
is detected at start with a clear error, snapshots restore."""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from kit import ServerProcess
from server_testkit import make_tasks, server_config

from fute_client import TaskSearchClient
from fute_client.errors import DataLossError, FailedPreconditionError, TaskSearchError
from fute_client.types import Condition, Filter, Task
from server.__main__ import main as server_main
from server.app import create_server
from server.config import StoreConfig
from server.store import StoreCorruptedError, TaskStore


def test_restart_keeps_everything(tmp_path: Path) -> None:
    tasks, vectors = make_tasks(60, 12)
    server, port = create_server(server_config(tmp_path / "st"))
    with TaskSearchClient(f"127.0.0.1:{port}") as c:
        c.create_space("flat", 12)
        c.create_space("hnsw", 12, backend="hnsw")
        for space in ("flat", "hnsw"):
            c.upsert(space, tasks)
            c.delete(space, ids=["task-0003"])
        flt = Filter(must=(Condition("kind", ("model",)),))
        before = c.search("flat", vectors[:4], k=6, filter=flt)
        before_h = c.search("hnsw", vectors[:4], k=6)
        listing = [t for t in c.iter_tasks("flat", with_vectors=True)]
    server.stop(1.0)

    server, port = create_server(server_config(tmp_path / "st"))
    with TaskSearchClient(f"127.0.0.1:{port}") as c:
        assert [s.name for s in c.list_spaces()] == ["flat", "hnsw"]
        assert c.describe_space("hnsw").backend == "hnsw"
        assert c.search("flat", vectors[:4], k=6, filter=flt) == before
        assert [[h.id for h in r] for r in c.search("hnsw", vectors[:4], k=6)] == [
            [h.id for h in r] for r in before_h
        ]
        after = list(c.iter_tasks("flat", with_vectors=True))
        assert after == listing
        for a, b in zip(after, listing, strict=True):
            np.testing.assert_array_equal(a.vector, b.vector)
    server.stop(1.0)


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    store = tmp_path / "crash"
    acked: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(5)
    with ServerProcess(store, device=None) as server:
        server.start()  # returns once the subprocess serves
        with TaskSearchClient(server.target, timeout=5, max_attempts=1) as c:
            c.create_space("s", 16)
            failures: list[BaseException] = []

            def write() -> None:
                # Writes until the server dies; a write counts only once acknowledged.
                i = 0
                while True:
                    batch = [
                        Task(id=f"t{i}-{j}", vector=rng.normal(size=16).astype(np.float32)) for j in range(5)
                    ]
                    try:
                        result = c.upsert("s", batch)
                    except TaskSearchError:
                        return
                    except BaseException as exc:  # pragma: no cover - reported below
                        failures.append(exc)
                        return
                    assert result.upserted == 5
                    acked.update({t.id: t.vector for t in batch})  # type: ignore[misc]
                    i += 1

            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(1.5)
            server.kill9()  # mid-stream: the writer is still going
            writer.join(10)
            assert not writer.is_alive() and not failures
    assert len(acked) >= 50, "too few writes to mean anything"
    with TaskStore(StoreConfig(path=store, device="cpu")) as reopened:
        got = reopened.get("s", sorted(acked), with_vectors=True)
        assert {t.id for t in got} == set(acked)
        for t in got:
            np.testing.assert_array_equal(t.vector, acked[t.id])
        hits = reopened.search("s", [acked["t0-0"]], k=1)[0]
        assert hits[0].id == "t0-0"


def _make_store(path: Path) -> list[Task]:
    tasks, _ = make_tasks(20, 8)
    with TaskStore(StoreConfig(path=path, device="cpu")) as s:
        s.create_space("s", 8)
        s.upsert("s", tasks)
    return tasks


def test_flipped_vector_bytes_are_detected_at_start(tmp_path: Path) -> None:
    _make_store(tmp_path / "c")
    # Bit rot inside a row: SQLite's page structure is fine, our checksum is not.
    conn = sqlite3.connect(tmp_path / "c" / "tasks.sqlite")
    blob = bytearray(conn.execute("SELECT vector FROM tasks WHERE id = 'task-0007'").fetchone()[0])
    blob[5] ^= 0x10
    conn.execute("UPDATE tasks SET vector = ? WHERE id = 'task-0007'", (bytes(blob),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorruptedError, match=r"task-0007.*checksum"):
        TaskStore(StoreConfig(path=tmp_path / "c", device="cpu"))


def test_garbage_database_file_is_detected(tmp_path: Path) -> None:
    _make_store(tmp_path / "g")
    db = tmp_path / "g" / "tasks.sqlite"
    data = bytearray(db.read_bytes())
    data[:100] = b"\xff" * 100  # destroy the header
    db.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptedError, match=r"tasks\.sqlite"):
        TaskStore(StoreConfig(path=tmp_path / "g", device="cpu"))
    # `fute serve` refuses to start on it: exit code 2, no traceback.
    root = logging.getLogger()
    level = root.level
    try:
        assert server_main(["serve", "--store", str(tmp_path / "g"), "--port", "0"]) == 2
    finally:
        root.setLevel(level)  # serve sets the process's log level


def test_one_process_per_store(tmp_path: Path) -> None:
    with (
        TaskStore(StoreConfig(path=tmp_path / "l", device="cpu")),
        pytest.raises(FailedPreconditionError, match="in use"),
    ):
        TaskStore(StoreConfig(path=tmp_path / "l", device="cpu"))


def test_snapshot_create_restore_and_corrupt_snapshot(tmp_path: Path) -> None:
    tasks, vectors = make_tasks(30, 8)
    server, port = create_server(server_config(tmp_path / "snap"))
    try:
        with TaskSearchClient(f"127.0.0.1:{port}") as c:
            c.create_space("s", 8)
            c.upsert("s", tasks[:20])
            snap = c.create_snapshot("before")
            assert len(snap.sha256) == 64 and snap.size_bytes > 0
            c.upsert("s", tasks[20:])
            c.delete("s", ids=["task-0000"])
            assert c.describe_space("s").task_count == 29
            assert [s.name for s in c.list_snapshots()] == ["before"]
            assert c.restore_snapshot("before") == (1, 20)
            assert c.describe_space("s").task_count == 20
            assert c.search("s", [vectors[0]], k=1)[0][0].id == "task-0000"
            assert c.get("s", ["task-0025"]) == []
            # A damaged snapshot is refused and the live store is untouched.
            c.create_snapshot("bad")
            path = tmp_path / "snap" / "snapshots" / "bad.sqlite"
            data = bytearray(path.read_bytes())
            data[-10] ^= 0xFF
            path.write_bytes(bytes(data))
            with pytest.raises(DataLossError):
                c.restore_snapshot("bad")
            assert c.describe_space("s").task_count == 20
    finally:
        server.stop(1.0)


def test_graceful_stop_drains_in_flight_calls(tmp_path: Path) -> None:
    server, port = create_server(server_config(tmp_path / "drain"))
    target = f"127.0.0.1:{port}"
    with TaskSearchClient(target) as c:
        c.create_space("s", 4)
        c.upsert("s", [Task(id="a", vector=np.ones(4, np.float32))])
    store = server.store
    assert store is not None
    release = threading.Event()
    results: list[object] = []

    def hold() -> None:
        with store._lock.write():  # keeps the next call in flight
            release.wait(5)

    def in_flight() -> None:
        with TaskSearchClient(target, max_attempts=1) as c:
            try:
                results.append(c.get("s", ["a"]))
            except TaskSearchError as exc:  # pragma: no cover - the assertion shows it
                results.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    caller = threading.Thread(target=in_flight)
    caller.start()
    time.sleep(0.3)
    stopper = threading.Thread(target=server.stop, args=(5.0,))
    stopper.start()
    time.sleep(0.3)
    with TaskSearchClient(target, max_attempts=1, timeout=2) as late, pytest.raises(TaskSearchError):
        late.list_spaces()  # new calls are refused while draining
    release.set()
    for t in (holder, caller, stopper):
        t.join(10)
    assert len(results) == 1 and not isinstance(results[0], Exception)
    with TaskStore(StoreConfig(path=tmp_path / "drain", device="cpu")) as reopened:
        assert reopened.describe_space("s").task_count == 1


def test_sigterm_stops_the_cli_server_cleanly(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "t", "--grace", "2", device=None, log_level=None) as server:
        server.start()
        with TaskSearchClient(server.target, max_attempts=1, timeout=5) as c:
            c.create_space("s", 4)
            c.upsert("s", [Task(id="a", vector=np.ones(4, np.float32))])
        returncode, err = server.stop(signal.SIGTERM, timeout_s=15)
    assert returncode == 0, err
    assert "stopped" in err
    # A clean stop checkpoints the WAL into the main database file.
    wal = tmp_path / "t" / "tasks.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
