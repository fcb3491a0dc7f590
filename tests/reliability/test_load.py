"""Load: writers and readers together on loopback for a bounded time.

Every writer owns its ids and tag; a reader only asks about tasks whose upsert was
acknowledged before its call began, so each answer has one right value:

* the task's own vector finds it first with cosine ~1 (read-your-acknowledged-writes
  across clients),
* a search filtered on a writer's tag returns only that writer's tasks, best first,
* ``GetTasks`` returns the stored metadata.

No call may fail, and at the end the space agrees with the writers' record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from reliability_kit import assert_space_consistent, loopback_config

from fute_client import TaskSearchClient
from fute_client.types import Condition, Filter, Task
from server.app import TaskSearchServer, create_server

DIM = 32
WRITERS = 3
READERS = 5
DURATION_S = 4.0
MAX_S = 30.0
MIN_CALLS = 30


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TaskSearchServer, int]]:
    srv, port = create_server(loopback_config(tmp_path / "load"))
    yield srv, port
    srv.stop(1.0)


class Ledger:
    """Acknowledged tasks by id, shared between writer and reader threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tasks: dict[str, np.ndarray] = {}
        self.deleted: set[str] = set()

    def ack(self, tasks: list[Task]) -> None:
        with self._lock:
            for t in tasks:
                assert t.vector is not None
                self.tasks[t.id] = t.vector

    def forget(self, ids: list[str]) -> None:
        with self._lock:
            for i in ids:
                self.tasks.pop(i, None)
                self.deleted.add(i)

    def sample(self, rng: np.random.Generator, owner: str | None = None) -> tuple[str, np.ndarray] | None:
        with self._lock:
            keys = [k for k in self.tasks if owner is None or k.startswith(owner)]
            if not keys:
                return None
            key = keys[int(rng.integers(len(keys)))]
            return key, self.tasks[key]


def test_writers_and_readers_together(server: tuple[TaskSearchServer, int]) -> None:
    _, port = server
    target = f"127.0.0.1:{port}"
    with TaskSearchClient(target) as c:
        c.create_space("load", DIM)
    ledger = Ledger()
    stable = Ledger()  # tasks never replaced or deleted: readers check these
    errors: list[str] = []
    counts = {"writes": 0, "reads": 0}
    count_lock = threading.Lock()
    stop = threading.Event()

    def guarded(name: str, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                stop.set()

        return run

    def writer(w: int) -> None:
        rng = np.random.default_rng(100 + w)
        owner = f"w{w}-"
        with TaskSearchClient(target, timeout=20.0) as c:
            i = 0
            while not stop.is_set():
                batch = [
                    Task(
                        id=f"{owner}{i + j:05d}",
                        vector=rng.normal(size=DIM).astype(np.float32),
                        tags=(f"w{w}",),
                        kind="dataset",
                    )
                    for j in range(4)
                ]
                i += 4
                result = c.upsert("load", batch)
                assert result.upserted == 4 and result.failed == 0, result
                ledger.ack(batch)
                stable.ack(batch[:2])  # the first two are never touched again
                # Replace one of the others and delete another: churn in the index.
                again = Task(id=batch[2].id, vector=rng.normal(size=DIM).astype(np.float32), tags=(f"w{w}",))
                c.upsert("load", [again])
                ledger.ack([again])
                assert c.delete("load", ids=[batch[3].id]) == 1
                ledger.forget([batch[3].id])
                with count_lock:
                    counts["writes"] += 3

    def reader(r: int) -> None:
        rng = np.random.default_rng(200 + r)
        with TaskSearchClient(target, timeout=20.0) as c:
            while not stop.is_set():
                picked = stable.sample(rng)
                if picked is None:
                    time.sleep(0.01)
                    continue
                task_id, vector = picked
                hits = c.search("load", [vector], k=3)[0]
                assert hits[0].id == task_id and abs(hits[0].score - 1.0) < 1e-4, (task_id, hits[:1])
                owner = task_id.split("-")[0]
                flt = Filter(must=(Condition("tag", (owner,)),))
                filtered = c.search("load", [vector], k=5, filter=flt)[0]
                assert filtered[0].id == task_id
                assert all(h.id.startswith(owner + "-") for h in filtered)
                scores = [h.score for h in filtered]
                assert scores == sorted(scores, reverse=True)
                got = c.get("load", [task_id], with_vectors=True)
                assert len(got) == 1 and got[0].vector is not None
                np.testing.assert_array_equal(got[0].vector, vector)
                with count_lock:
                    counts["reads"] += 3

    threads = [threading.Thread(target=guarded(f"writer {w}", partial(writer, w))) for w in range(WRITERS)]
    threads += [threading.Thread(target=guarded(f"reader {r}", partial(reader, r))) for r in range(READERS)]
    for t in threads:
        t.start()
    # At least DURATION_S, and on a busy machine until enough calls were made (at most MAX_S).
    started = time.monotonic()
    while not stop.wait(0.1):
        elapsed = time.monotonic() - started
        enough = counts["writes"] >= MIN_CALLS and counts["reads"] >= MIN_CALLS
        if (elapsed >= DURATION_S and enough) or elapsed >= MAX_S:
            break
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread did not stop"
    assert not errors, errors
    assert counts["writes"] >= MIN_CALLS and counts["reads"] >= MIN_CALLS, counts

    with TaskSearchClient(target) as c:
        stored = assert_space_consistent(c, "load", DIM)
        assert set(stored) == set(ledger.tasks)
        for task_id, vector in ledger.tasks.items():
            np.testing.assert_array_equal(stored[task_id], vector)
        assert not ledger.deleted & set(stored)
