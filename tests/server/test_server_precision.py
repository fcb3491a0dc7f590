"""Storage precision of exact search: flat_fp16 and flat_sq8 against float32 brute force.

Without re-scoring the codes' own scores: recall@10 and the largest score error, which
must stay within the index's certified bound. With re-scoring (the default): the exact
order and cosines, also after SQ8 meets values outside its trained ranges, and the same
answers after a restart, a snapshot restore and a rebuild.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
from kit import brute_force

from fute_client.errors import InvalidArgumentError
from fute_client.types import Backend, Task
from server.config import IndexParams, StoreConfig
from server.store import TaskStore
from server.store.faiss_index import SpaceIndex
from server.store.recall import clustered_vectors, in_memory_fetch, measure_recall

QUANTISED: tuple[Backend, ...] = ("flat_fp16", "flat_sq8")


def _data(n: int = 3000, dim: int = 64, queries: int = 100) -> tuple[np.ndarray, np.ndarray]:
    data = clustered_vectors(n + queries, dim, clusters=30, seed=3)
    return data[:n], data[n:]


@pytest.mark.parametrize(
    ("backend", "min_recall", "max_bound"), [("flat_fp16", 0.99, 1e-3), ("flat_sq8", 0.9, 0.05)]
)
def test_codes_alone_have_high_recall_and_errors_within_their_bound(
    backend: Backend, min_recall: float, max_bound: float
) -> None:
    vectors, queries = _data()
    report = measure_recall(backend, vectors, queries, 10, IndexParams(rescore=False))
    assert report.recall >= min_recall, report
    assert 0 < report.error_bound <= max_bound, report
    assert 0 < report.max_score_error <= report.error_bound, report


@pytest.mark.parametrize("backend", QUANTISED)
def test_rescored_results_are_exact_search_in_order(backend: Backend) -> None:
    vectors, queries = _data()
    report = measure_recall(backend, vectors, queries, 10, IndexParams())
    assert (report.recall, report.same_order) == (1.0, 1.0), report
    assert report.max_score_error < 1e-6, report


def test_sq8_values_outside_the_trained_ranges_are_clamped_and_still_exact() -> None:
    rng = np.random.default_rng(8)
    dim = 32
    small = rng.normal(size=(400, dim)).astype(np.float32)
    index = SpaceIndex(dim, "flat_sq8", IndexParams(), fetch=None)
    stored = small.copy()
    index.fetch = lambda ids: in_memory_fetch(stored)(ids)
    index.build(np.arange(400), small)
    trained_bound = index.error_bound()
    assert not index.needs_rebuild()
    # Each outlier points far along one axis: far outside that dimension's trained range.
    outliers = rng.normal(size=(20, dim)).astype(np.float32)
    outliers[np.arange(20), np.arange(20) % dim] = 40.0
    stored = np.concatenate([small, outliers])
    index.add(np.arange(400, 420), outliers)
    assert index.error_bound() > 2 * trained_bound  # clamped: the certified bound grew
    assert not index.needs_rebuild()  # 5% more vectors: not yet worth an O(n) retrain
    tasks = [Task(id=str(i), vector=v) for i, v in enumerate(stored)]
    for q in np.concatenate([outliers[:5], small[:5], rng.normal(size=(5, dim)).astype(np.float32)]):
        scores, ids = index.search(q[None, :], 10)
        expected = brute_force(stored, tasks, q, 10)
        assert [str(i) for i in ids[0]] == [e[0] for e in expected]
        np.testing.assert_allclose(scores[0], [e[1] for e in expected], atol=1e-6)
    filler = rng.normal(size=(80, dim)).astype(np.float32)
    index.add(np.arange(420, 500), filler)
    assert index.needs_rebuild()  # a quarter more since training: the store retrains


def test_sq8_store_retrains_after_out_of_range_upserts(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    dim = 16
    first = rng.normal(size=(300, dim)).astype(np.float32)
    wide = rng.normal(size=(10, dim)).astype(np.float32) * 0.1
    wide[:, 0] = 5.0  # every one far beyond dimension 0's trained range
    more = rng.normal(size=(90, dim)).astype(np.float32)
    tasks = [Task(id=f"a{i}", vector=v) for i, v in enumerate(first)]
    tasks += [Task(id=f"b{i}", vector=v) for i, v in enumerate(wide)]
    tasks += [Task(id=f"c{i}", vector=v) for i, v in enumerate(more)]
    vectors = np.concatenate([first, wide, more])
    with TaskStore(StoreConfig(path=tmp_path / "s", device="cpu")) as store:
        store.create_space("s", dim, backend="flat_sq8")
        store.upsert("s", tasks[:300])
        bound = store._indexes["s"].error_bound()
        store.upsert("s", tasks[300:310])  # clamped: still exact, the bound grew
        assert store._indexes["s"].error_bound() > 2 * bound
        for q in vectors[:310:31]:
            hits = store.search("s", [q], k=8)[0]
            assert [h.id for h in hits] == [e[0] for e in brute_force(vectors[:310], tasks[:310], q, 8)]
        store.upsert("s", tasks[310:])  # a quarter more tasks: the ranges are retrained
        index = store._indexes["s"]
        assert not index.needs_rebuild() and index.ntotal == 400
        assert index.error_bound() < 4 * bound  # trained on all 400: nothing clamped
        for q in vectors[::37]:
            hits = store.search("s", [q], k=8)[0]
            assert [h.id for h in hits] == [e[0] for e in brute_force(vectors, tasks, q, 8)]


@pytest.mark.parametrize("backend", QUANTISED)
def test_restart_restore_and_rebuild_answer_the_same(tmp_path: Path, backend: Backend) -> None:
    vectors = clustered_vectors(700, 24, clusters=12, seed=4)
    queries = clustered_vectors(12, 24, clusters=12, seed=5)
    config = StoreConfig(path=tmp_path / "s", device="cpu")
    with TaskStore(config) as store:
        store.create_space("p", 24, backend=backend)
        for start in range(0, 600, 97):  # uneven batches: SQ8 retrains as the space grows
            batch = range(start, min(600, start + 97))
            store.upsert("p", [Task(id=f"t{i}", vector=vectors[i]) for i in batch])
        store.delete("p", ids=[f"t{i}" for i in range(0, 600, 7)])
        before = store.search("p", queries, k=10)
        store.create_snapshot("snap")
        store.upsert("p", [Task(id=f"t{i}", vector=vectors[i]) for i in range(600, 700)])
    with TaskStore(config) as store:  # restart: rebuilt from SQLite
        assert store.describe_space("p").backend == backend
        assert len(store.search("p", queries, k=10)[0]) == 10
        store.restore_snapshot("snap")
        after = store.search("p", queries, k=10)
        assert [[(h.id, h.score) for h in r] for r in after] == [[(h.id, h.score) for h in r] for r in before]
        # Built twice from the same rows, the codes are the same bytes.
        ids, vecs = zip(*store._db.iter_space_vectors("p"), strict=True)
        a, b = (SpaceIndex(24, backend, IndexParams(), fetch=store._stored_vectors) for _ in range(2))
        a.build(np.concatenate(ids), np.concatenate(vecs))
        b.build(np.concatenate(ids), np.concatenate(vecs))
        assert np.array_equal(faiss.serialize_index(a._index), faiss.serialize_index(b._index))


def test_unknown_backend_is_one_clear_error(tmp_path: Path) -> None:
    valid = r"unknown index backend 'flat_sq4'; valid: .*flat_sq8"
    with (
        TaskStore(StoreConfig(path=tmp_path / "s", device="cpu")) as store,
        pytest.raises(InvalidArgumentError, match=valid),
    ):
        store.create_space("x", 8, backend="flat_sq4")
