"""Vectors of extreme magnitude (issue 13, defect 3): every vector accepted at upsert is
scored correctly, and loads again after a restart, on every backend.

In float32 the squares of values above ~1.8e19 overflow and those below ~1e-23
underflow, so a float32 norm turns such vectors into zeros or NaN: parallel vectors
scored 0.0 or vanished, and on IVF one upsert answered INTERNAL, stored the row anyway and
left a store the server could not start on.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from reliability_kit import in_process_server, poison_first_vector

from fute_client import TaskSearchClient
from fute_client.types import BACKENDS, Task
from server.config import StoreConfig
from server.store import StoreCorruptedError, TaskStore

DIM = 8
# Huge (squares overflow float32), near float32's maximum, tiny (squares underflow), subnormal.
MAGNITUDES = (1e20, 1e37, 1e-24, 1e-41)
N_FILLER = 60


def _tasks() -> tuple[list[Task], np.ndarray]:
    rng = np.random.default_rng(3)
    base = rng.normal(size=(len(MAGNITUDES), DIM))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    tasks = []
    for m, (mag, direction) in enumerate(zip(MAGNITUDES, base, strict=True)):
        # Two parallel vectors of this magnitude: each is the other's nearest neighbour.
        tasks.append(Task(id=f"a{m}", vector=(direction * mag).astype(np.float32)))
        tasks.append(Task(id=f"b{m}", vector=(direction * mag * 0.5).astype(np.float32)))
    filler = rng.normal(size=(N_FILLER, DIM)).astype(np.float32)
    tasks += [Task(id=f"f{i}", vector=v) for i, v in enumerate(filler)]
    return tasks, base


def _check_scores(c: TaskSearchClient, space: str, base: np.ndarray) -> None:
    for m in range(len(MAGNITUDES)):
        (hits,) = c.search(space, [f"a{m}"], k=3)
        assert hits and hits[0].id == f"b{m}", (MAGNITUDES[m], hits)
        assert abs(hits[0].score - 1.0) < 1e-4, (MAGNITUDES[m], hits[0].score)
        # A query vector of the same extreme magnitude finds both, with cosine 1.
        (hits,) = c.search(space, [(base[m] * MAGNITUDES[m]).astype(np.float32)], k=2)
        assert {h.id for h in hits} == {f"a{m}", f"b{m}"}
        assert all(abs(h.score - 1.0) < 1e-4 for h in hits), hits
    _, matrix = c.similarity_matrix(space, ["a0", "b0", "a2", "b2"])
    assert np.all(np.isfinite(matrix)) and abs(matrix[0, 1] - 1) < 1e-4 and abs(matrix[2, 3] - 1) < 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_extreme_magnitudes_score_right_and_load_again(tmp_path: Path, backend: str) -> None:
    tasks, base = _tasks()
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        c.create_space("s", DIM, backend=backend)
        # The extreme vectors come first: IVF trains on the first batch.
        result = c.upsert("s", tasks)
        assert result.failed == 0, result.errors
        _check_scores(c, "s", base)
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        assert c.describe_space("s").task_count == len(tasks)
        _check_scores(c, "s", base)
        stored = {t.id: t.vector for t in c.get("s", ["a0", "a3"], with_vectors=True)}
        a0, sent = stored["a0"], tasks[0].vector
        assert a0 is not None and sent is not None
        assert np.array_equal(a0, sent)  # stored exactly as sent


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_vector_leaves_no_row_behind(tmp_path: Path, backend: str) -> None:
    """A vector that cannot be indexed is refused per item; nothing of it is stored."""
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        c.create_space("s", DIM, backend=backend)
        bad = np.zeros(DIM, np.float32)
        bad[0] = np.float32(np.inf)
        good = np.ones(DIM, np.float32)
        result = c.upsert("s", [Task(id="bad", vector=bad), Task(id="good", vector=good)])
        assert (result.upserted, result.failed) == (1, 1)
        assert result.errors[0].id == "bad" and "bad" in result.errors[0].message
        assert [t.id for t in c.get("s", ["bad", "good"])] == ["good"]
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        assert c.describe_space("s").task_count == 1


@pytest.mark.parametrize("values", [np.nan, np.inf, 0.0])
def test_store_with_an_unindexable_vector_refuses_to_start_naming_it(tmp_path: Path, values: float) -> None:
    """A row no upsert could have written (a NaN, Inf or zero vector with valid checksums)
    stops the start with a message naming the task, instead of a FAISS traceback or a
    silently skipped row."""
    store = tmp_path / "store"
    with in_process_server(store) as (_, target), TaskSearchClient(target) as c:
        c.create_space("s", DIM, backend="ivf")
        c.upsert("s", [Task(id=f"t{i}", vector=np.full(DIM, i + 1.0, np.float32)) for i in range(50)])
    conn = sqlite3.connect(store / "tasks.sqlite", isolation_level=None)
    try:
        bad_id = poison_first_vector(conn, np.full(DIM, values, np.float32))
    finally:
        conn.close()
    with pytest.raises(StoreCorruptedError, match=f"task '{bad_id}' in space 's'"):
        TaskStore(StoreConfig(path=store, device="cpu")).close()
