"""CSLS in the store (server.store.hubness) against a brute-force numpy reference.

Every stored radius and every CSLS ranking must equal ``fute.similarity`` computed over
all the vectors of the space, after upserts (replacements included), deletes by id and
by filter, a restart, a snapshot restore, and on a store written at schema version 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from kit.old_store import write_old_store
from server_testkit import make_tasks

from fute.embedding import TaskEmbedding, TaskInfo
from fute.similarity import csls_matrix, neighbourhood_radius
from fute.space import EmbeddingSpace
from fute_client.client import TaskSearchClient
from fute_client.contract import TaskSearchAPI, messages, services
from fute_client.errors import FailedPreconditionError, InvalidArgumentError
from fute_client.types import Condition, Filter, Task
from server.app import TaskSearchServer
from server.config import DEFAULT_CSLS_K, MAX_CSLS_K, IndexParams, StoreConfig
from server.embedding_upload import identity_of, upload_embeddings
from server.store import StoreCorruptedError, TaskStore
from server.store.metadata import SCHEMA_VERSION

DIM = 16
KS = (1, 3, DEFAULT_CSLS_K, MAX_CSLS_K)


def _config(path: Path) -> StoreConfig:
    # nprobe = nlist: IVF is exhaustive, so its lists must match the reference too
    return StoreConfig(path=path, device="cpu", index_params=IndexParams(ivf_nlist=4, ivf_nprobe=4))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    out: np.ndarray = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return out


class Reference:
    """The space as numpy sees it: ids, unit vectors, cosines, radii and CSLS by definition."""

    def __init__(self, live: dict[str, np.ndarray]) -> None:
        self.ids = sorted(live)
        self.unit = _unit(np.stack([live[i] for i in self.ids]))
        self.cos = self.unit @ self.unit.T

    def radius(self, k: int) -> np.ndarray:
        return neighbourhood_radius(self.cos, k)

    def by_id(
        self, task_id: str, k: int, csls_k: int, keep: set[str] | None = None
    ) -> list[tuple[str, float]]:
        qi = self.ids.index(task_id)
        row = csls_matrix(self.cos, csls_k)[qi]
        order = [j for j in np.argsort(-row, kind="stable") if j != qi]
        return [(self.ids[j], float(row[j])) for j in order if keep is None or self.ids[j] in keep][:k]

    def by_vector(
        self, q: np.ndarray, k: int, csls_k: int, keep: set[str] | None = None
    ) -> list[tuple[str, float]]:
        cos = self.unit @ _unit(q)
        r_q = float(np.sort(cos)[::-1][: min(csls_k, len(cos))].mean())
        row = 2 * cos - r_q - self.radius(csls_k)
        order = np.argsort(-row, kind="stable")
        return [(self.ids[j], float(row[j])) for j in order if keep is None or self.ids[j] in keep][:k]


def _store_radii(store: TaskStore, space: str, ids: list[str], k: int) -> np.ndarray:
    vec_ids = store._db.vec_ids_of(space, ids)
    return store._neighbours[space].radius_of(np.asarray([vec_ids[i] for i in ids], np.int64), k)


def _check(store: TaskStore, space: str, live: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Radii and CSLS rankings of ``store`` against the reference of ``live``."""
    ref = Reference(live)
    assert {t.id for t in store.iter_tasks(space)} == set(ref.ids)
    for k in KS:
        np.testing.assert_allclose(_store_radii(store, space, ref.ids, k), ref.radius(k), atol=2e-6)
    queries = [str(q) for q in rng.choice(ref.ids, size=min(6, len(ref.ids)), replace=False)]
    for csls_k in (3, DEFAULT_CSLS_K):
        hits = store.search(space, queries, k=7, similarity="csls", csls_k=csls_k)
        for q, got in zip(queries, hits, strict=True):
            want = ref.by_id(q, 7, csls_k)
            assert [h.id for h in got] == [i for i, _ in want]
            np.testing.assert_allclose([h.score for h in got], [s for _, s in want], atol=2e-6)
    vector = rng.normal(size=DIM).astype(np.float32)
    (got,) = store.search(space, vector, k=5, similarity="csls", csls_k=4)
    want = ref.by_vector(vector, 5, 4)
    assert [h.id for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h.score for h in got], [s for _, s in want], atol=2e-6)


def _churn(
    store: TaskStore, space: str, live: dict[str, np.ndarray], rng: np.random.Generator, steps: int
) -> None:
    """Random upserts (new ids and replacements) and deletes by id and by tag."""
    for step in range(steps):
        ids = list(
            dict.fromkeys(f"t{int(i):03d}" for i in rng.integers(0, 140, size=int(rng.integers(1, 25))))
        )
        vectors = rng.normal(size=(len(ids), DIM)).astype(np.float32)
        tags = [("odd",) if int(i[1:]) % 2 else () for i in ids]
        res = store.upsert(
            space, [Task(id=i, vector=v, tags=t) for i, v, t in zip(ids, vectors, tags, strict=True)]
        )
        assert res.failed == 0
        live.update(zip(ids, vectors, strict=True))
        if step % 3 == 1 and len(live) > 10:
            gone = [str(x) for x in rng.choice(sorted(live), size=4, replace=False)]
            assert store.delete(space, ids=gone) == 4
            for x in gone:
                del live[x]
        if step == steps - 2:  # one delete by filter, of a handful of tasks
            few = sorted(live)[:3]
            n = store.delete(space, filter=Filter(must=(Condition("id", tuple(few)),)))
            assert n == 3
            for x in few:
                del live[x]


@pytest.mark.parametrize("backend", ["flat", "flat_fp16", "flat_sq8", "ivf", "hnsw"])
def test_radii_and_csls_rankings_equal_numpy_after_writes_restart_and_restore(
    tmp_path: Path, backend: str
) -> None:
    """The exact backends (flat, and flat_fp16/flat_sq8 with re-scoring) by construction;
    IVF (nprobe = nlist) and HNSW (efSearch above the space's size) search exhaustively at
    this size, so their lists must match too."""
    rng = np.random.default_rng(3)
    live: dict[str, np.ndarray] = {}
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, backend=backend, keep_neighbours=True)
        store.upsert("s", [Task(id="only", vector=np.ones(DIM, np.float32))])
        # one task: r is 0, and a vector query's r is its cosine to that task
        assert _store_radii(store, "s", ["only"], 5).tolist() == [0.0]
        store.delete("s", ids=["only"])
        _churn(store, "s", live, rng, 12)
        _check(store, "s", live, rng)
        store.create_snapshot("mid")
        snap = dict(live)
        _churn(store, "s", live, rng, 6)
        _check(store, "s", live, rng)
    with TaskStore(_config(tmp_path / "s")) as store:  # restart: lists read back from SQLite
        _check(store, "s", live, rng)
        store.restore_snapshot("mid")
        _check(store, "s", snap, rng)
        _churn(store, "s", snap, rng, 3)
        _check(store, "s", snap, rng)
    with TaskStore(_config(tmp_path / "s")) as store:
        _check(store, "s", snap, rng)


def test_filters_restrict_candidates_but_not_the_radii(tmp_path: Path) -> None:
    tasks, vectors = make_tasks(80, DIM, seed=5)
    live = {t.id: v for t, v in zip(tasks, vectors, strict=True)}
    ref = Reference(live)
    models = {t.id for t in tasks if t.kind == "model"}
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, keep_neighbours=True)
        store.upsert("s", tasks)
        only_models = Filter(must=(Condition("kind", ("model",)),))
        (got,) = store.search("s", ["task-0000"], k=6, filter=only_models, similarity="csls", csls_k=5)
        want = ref.by_id("task-0000", 6, 5, keep=models)
        assert [h.id for h in got] == [i for i, _ in want]
        np.testing.assert_allclose([h.score for h in got], [s for _, s in want], atol=2e-6)
        # a selective filter: three candidates, every one returned, ranked by CSLS
        three = Filter(must=(Condition("id", ("task-0003", "task-0040", "task-0077")),))
        q = vectors[9] + 0.1
        (got,) = store.search("s", q, k=10, filter=three, similarity="csls")
        want = ref.by_vector(q, 10, DEFAULT_CSLS_K, keep={"task-0003", "task-0040", "task-0077"})
        assert [h.id for h in got] == [i for i, _ in want]
        # the threshold applies to CSLS scores
        (all_hits,) = store.search("s", ["task-0001"], k=20, similarity="csls")
        cut = all_hits[6].score
        (kept,) = store.search("s", ["task-0001"], k=20, similarity="csls", score_threshold=cut)
        assert [h.id for h in kept] == [h.id for h in all_hits[:7]]
        assert all(h.score >= cut for h in kept)


def test_csls_demotes_a_hub(tmp_path: Path) -> None:
    """A task between three pairs is the cosine-nearest of several; CSLS gives each its pair back."""
    rng = np.random.default_rng(7)
    centres = _unit(rng.normal(size=(3, DIM)))
    rows = {"hub": centres.sum(axis=0)}
    for i, c in enumerate(centres):
        for j in "ab":
            rows[f"t{i}{j}"] = c + 0.9 * _unit(rng.normal(size=DIM))
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, keep_neighbours=True)
        store.upsert("s", [Task(id=i, vector=v.astype(np.float32)) for i, v in rows.items()])
        others = [i for i in rows if i != "hub"]
        by_cos = [h[0].id for h in store.search("s", others, k=1)]
        by_csls = [h[0].id for h in store.search("s", others, k=1, similarity="csls", csls_k=2)]
    assert by_cos.count("hub") >= 3
    assert by_csls.count("hub") < by_cos.count("hub")
    for task, nearest in zip(others, by_csls, strict=True):
        if nearest != "hub":
            assert nearest[:2] == task[:2]  # its own pair


def test_ranking_by_csls_keeps_cosine_predictions(tmp_path: Path) -> None:
    """RankSourceTasks by CSLS: order and scores are CSLS; predicted gain and P(help) of each
    source are those of the cosine ranking (features are the candidates' cosines)."""
    tasks, vectors = make_tasks(60, DIM, seed=8)
    ref = Reference({t.id: v for t, v in zip(tasks, vectors, strict=True)})
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, keep_neighbours=True)
        store.upsert("s", tasks)
        by_cos = store.rank_sources("s", "task-0002")
        by_csls = store.rank_sources("s", "task-0002", similarity="csls", csls_k=5)
        top3 = store.rank_sources("s", "task-0002", similarity="csls", csls_k=5, k=3)
    want = ref.by_id("task-0002", 59, 5)
    assert [h.id for h in by_csls] == [i for i, _ in want]
    np.testing.assert_allclose([h.score for h in by_csls], [s for _, s in want], atol=2e-6)
    assert [h.id for h in by_csls] != [h.id for h in by_cos]  # the order did change
    cos_pred = {h.id: (h.predicted_gain, h.p_help) for h in by_cos}
    for h in by_csls:
        assert h.predicted_gain is not None
        assert (h.predicted_gain, h.p_help) == pytest.approx(cos_pred[h.id])
    assert by_csls.candidates == by_cos.candidates == 59
    assert [h.id for h in top3] == [h.id for h in by_csls[:3]]
    assert [h.p_help for h in top3] == [h.p_help for h in by_csls[:3]]


@pytest.mark.parametrize(
    ("similarity", "csls_k", "message"),
    [
        ("csls", 0, r"csls_k must be in \[1, 50\], got 0"),
        ("csls", MAX_CSLS_K + 1, r"csls_k must be in \[1, 50\], got 51"),
        ("cosine", 5, r"csls_k applies to similarity 'csls' only"),
        ("l2", None, r"similarity must be one of \('cosine', 'csls'\), got 'l2'"),
    ],
)
def test_bad_similarity_arguments_are_refused_naming_the_field(
    tmp_path: Path, similarity: str, csls_k: int | None, message: str
) -> None:
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, keep_neighbours=True)
        store.upsert("s", make_tasks(5, DIM)[0])
        with pytest.raises(InvalidArgumentError, match=message):
            store.search("s", ["task-0000"], k=2, similarity=similarity, csls_k=csls_k)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match=message):
            store.rank_sources("s", "task-0000", similarity=similarity, csls_k=csls_k)  # type: ignore[arg-type]


def _neighbour_rows(folder: Path) -> dict[str, int]:
    """Stored neighbour lists per space, read from the SQLite file itself."""
    conn = sqlite3.connect(folder / "tasks.sqlite")
    try:
        rows = conn.execute(
            "SELECT t.space, COUNT(*) FROM task_neighbours n JOIN tasks t ON t.vec_id = n.vec_id"
            " GROUP BY t.space"
        ).fetchall()
    finally:
        conn.close()
    return {space: n for space, n in rows}


def _flags(folder: Path) -> dict[str, int]:
    conn = sqlite3.connect(folder / "tasks.sqlite")
    try:
        return dict(conn.execute("SELECT name, keep_neighbours FROM spaces").fetchall())
    finally:
        conn.close()


def test_a_schema_2_store_migrates_with_the_flag_off_and_computes_no_lists(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Migration computes no lists (at a million tasks it could not): every migrated space
    has keep_neighbours off, stores no rows, and refuses CSLS; cosine works as before."""
    tasks, vectors = make_tasks(70, DIM, seed=2)
    live = {t.id: v for t, v in zip(tasks, vectors, strict=True)}
    folder = write_old_store(
        tmp_path / "v2", {"s": (DIM, "flat"), "h": (DIM, "hnsw")}, {"s": tasks, "h": tasks[:30]}
    )
    with caplog.at_level(logging.INFO, logger="server.store.hubness"), TaskStore(_config(folder)) as store:
        assert store.get("s", ["task-0005"])[0].tags == tasks[5].tags
        assert [sp.keep_neighbours for sp in store.list_spaces()] == [False, False]
        (hits,) = store.search("s", ["task-0000"], k=5)
        assert [h.id for h in hits] == [i for i, _ in _cosine_top(live, "task-0000", 5)]
        with pytest.raises(FailedPreconditionError, match=r"space 's' keeps no neighbour lists"):
            store.search("s", ["task-0000"], k=5, similarity="csls")
        with pytest.raises(
            FailedPreconditionError, match=r"space 'h' .*create the space with keep_neighbours"
        ):
            store.rank_sources("h", "task-0000", similarity="csls")
        store.upsert("s", make_tasks(3, DIM, seed=9)[0])
        assert store.delete("s", ids=["task-0001"]) == 1
    assert "neighbour lists" not in caplog.text
    conn = sqlite3.connect(folder / "tasks.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    assert _neighbour_rows(folder) == {}
    assert _flags(folder) == {"s": 0, "h": 0}
    with TaskStore(_config(folder)) as store:  # and so it stays
        assert not store.describe_space("s").keep_neighbours
    assert _neighbour_rows(folder) == {}


def _cosine_top(live: dict[str, np.ndarray], task_id: str, k: int) -> list[tuple[str, float]]:
    ids = sorted(live)
    unit = _unit(np.stack([live[i] for i in ids]))
    row = unit @ unit[ids.index(task_id)]
    order = [j for j in np.argsort(-row, kind="stable") if ids[j] != task_id]
    return [(ids[j], float(row[j])) for j in order[:k]]


def test_a_damaged_schema_2_row_stops_the_migration(tmp_path: Path) -> None:
    tasks, _ = make_tasks(5, DIM)
    folder = write_old_store(tmp_path / "v2", {"s": (DIM, "flat")}, {"s": tasks})
    conn = sqlite3.connect(folder / "tasks.sqlite")
    conn.execute("UPDATE tasks SET name = 'evil' WHERE id = 'task-0001'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorruptedError, match=r"task 'task-0001'.*metadata checksum"):
        TaskStore(_config(folder))
    conn = sqlite3.connect(folder / "tasks.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # the step rolled back whole
    conn.close()


def test_a_schema_2_snapshot_restores_with_the_flag_off_and_no_lists(tmp_path: Path) -> None:
    tasks, _ = make_tasks(40, DIM, seed=6)
    old = write_old_store(tmp_path / "old", {"s": (DIM, "flat")}, {"s": tasks})
    with TaskStore(_config(tmp_path / "live")) as store:
        store.create_space("other", DIM, keep_neighbours=True)
        snaps = tmp_path / "live" / "snapshots"
        snaps.mkdir()
        data = (old / "tasks.sqlite").read_bytes()
        (snaps / "v2.sqlite").write_bytes(data)
        (snaps / "v2.sha256").write_text(hashlib.sha256(data).hexdigest())
        assert store.restore_snapshot("v2") == (1, 40)
        assert not store.describe_space("s").keep_neighbours
        assert len(store.search("s", ["task-0000"], k=3)[0]) == 3
        with pytest.raises(FailedPreconditionError, match="keeps no neighbour lists"):
            store.search("s", ["task-0000"], k=3, similarity="csls")
    assert _neighbour_rows(tmp_path / "live") == {}
    assert _flags(tmp_path / "live") == {"s": 0}


def test_only_spaces_with_keep_neighbours_keep_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A space without the flag does no neighbour work on upsert, delete, start-up and
    restore (the planners are made to fail for it), stores no rows, and refuses CSLS
    (by id, by vector, in rankings, even with a filter that matches nothing) naming the
    space and the flag; the flag survives a restart and a snapshot restore."""
    from server.store import hubness

    tasks, vectors = make_tasks(40, DIM, seed=13)
    live = {t.id: v for t, v in zip(tasks, vectors, strict=True)}
    kept_tables: set[int] = set()
    real_upsert, real_delete, real_load = hubness.plan_upsert, hubness.plan_delete, hubness.load_table

    def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(table: object, *args: Any, **kwargs: Any) -> Any:
            assert id(table) in kept_tables, "neighbour work for a space without keep_neighbours"
            return real(table, *args, **kwargs)

        return call

    def load(*args: Any, space: str, **kwargs: Any) -> Any:
        assert space == "kept", f"lists loaded for space {space!r}"
        table, computed = real_load(*args, space=space, **kwargs)
        kept_tables.add(id(table))
        return table, computed

    monkeypatch.setattr(hubness, "plan_upsert", guarded(real_upsert))
    monkeypatch.setattr(hubness, "plan_delete", guarded(real_delete))
    monkeypatch.setattr(hubness, "load_table", load)
    folder = tmp_path / "s"

    def check(store: TaskStore) -> None:
        kept_tables.clear()
        kept_tables.add(id(store._neighbours["kept"]))
        assert set(store._neighbours) == {"kept"}
        assert {sp.name: sp.keep_neighbours for sp in store.list_spaces()} == {"kept": True, "plain": False}
        _check(store, "kept", live, np.random.default_rng(4))
        nothing = Filter(must=(Condition("id", ("no-such-task",)),))
        for call in (
            lambda: store.search("plain", ["task-0000"], k=3, similarity="csls"),
            lambda: store.search("plain", vectors[0], k=3, similarity="csls", csls_k=4),
            lambda: store.search("plain", ["task-0000"], k=3, filter=nothing, similarity="csls"),
            lambda: store.rank_sources("plain", "task-0000", similarity="csls"),
            lambda: store.rank_sources("plain", "task-0000", candidate_filter=nothing, similarity="csls"),
        ):
            with pytest.raises(FailedPreconditionError) as caught:
                call()
            message = str(caught.value)
            assert "'plain'" in message and "keep_neighbours" in message and "\n" not in message
        # cosine is untouched: the same hits in both spaces
        assert [h.id for h in store.search("plain", ["task-0003"], k=6)[0]] == [
            h.id for h in store.search("kept", ["task-0003"], k=6)[0]
        ]

    with TaskStore(_config(folder)) as store:
        assert store.create_space("kept", DIM, keep_neighbours=True).keep_neighbours
        assert not store.create_space("plain", DIM).keep_neighbours
        kept_tables.add(id(store._neighbours["kept"]))
        for space in ("kept", "plain"):
            store.upsert(space, tasks)
            store.upsert(space, tasks[:5])  # replacements
            assert store.delete(space, ids=["task-0039", "task-0038"]) == 2
        for gone in ("task-0039", "task-0038"):
            del live[gone]
        check(store)
        store.create_snapshot("both")
        store.delete_space("kept")
        store.create_space("kept", DIM)  # re-created without the flag
    assert _neighbour_rows(folder) == {}
    assert _flags(folder) == {"kept": 0, "plain": 0}
    with TaskStore(_config(folder)) as store:
        store.restore_snapshot("both")
        check(store)
    assert _neighbour_rows(folder) == {"kept": 38}
    assert _flags(folder) == {"kept": 1, "plain": 0}
    with TaskStore(_config(folder)) as store:  # restart: read back, flags and lists
        check(store)
    assert _neighbour_rows(folder) == {"kept": 38}


def test_keep_neighbours_over_grpc(
    client: TaskSearchClient, running_server: tuple[TaskSearchServer, int]
) -> None:
    """The flag is sent, stored and echoed (CreateSpace, DescribeSpace, ListSpaces, async
    client too); CSLS on a space without it is FAILED_PRECONDITION over real gRPC, in one
    line naming the space and how to get CSLS."""
    from fute_client.aio import AsyncTaskSearchClient

    tasks, _ = make_tasks(12, DIM, seed=3)
    assert client.create_space("kept", DIM, keep_neighbours=True).keep_neighbours is True
    assert client.create_space("plain", DIM).keep_neighbours is False
    for space in ("kept", "plain"):
        client.upsert(space, tasks)
    assert client.describe_space("kept").keep_neighbours
    assert {sp.name: sp.keep_neighbours for sp in client.list_spaces()} == {"kept": True, "plain": False}
    assert len(client.search("kept", ["task-0000"], k=3, similarity="csls")[0]) == 3
    with pytest.raises(FailedPreconditionError, match=r"space 'plain' keeps no neighbour lists"):
        client.rank_sources("plain", "task-0000", similarity="csls")

    async def through_aio() -> bool:
        async with AsyncTaskSearchClient(f"127.0.0.1:{running_server[1]}", timeout=10.0) as aio:
            made = await aio.create_space("aio", DIM, keep_neighbours=True)
            return made.keep_neighbours

    assert asyncio.run(through_aio()) is True
    with grpc.insecure_channel(f"127.0.0.1:{running_server[1]}") as channel:
        stub = services.TaskSearchStub(channel)
        request = messages.FindSimilarTasksRequest(
            space="plain",
            queries=[messages.Query(id="task-0000")],
            k=3,
            similarity=messages.SIMILARITY_CSLS,
        )
        with pytest.raises(grpc.RpcError) as caught:
            stub.FindSimilarTasks(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        details = caught.value.details() or ""
        assert details == (
            "space 'plain' keeps no neighbour lists, which similarity 'csls' needs;"
            " to use CSLS, create the space with keep_neighbours"
        )
        made = stub.CreateSpace(messages.CreateSpaceRequest(name="raw", dim=2, keep_neighbours=True))
        assert (
            made.keep_neighbours
            and stub.DescribeSpace(messages.DescribeSpaceRequest(name="raw")).keep_neighbours
        )


def test_damaged_neighbour_rows_are_recomputed_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tasks, vectors = make_tasks(30, DIM, seed=4)
    live = {t.id: v for t, v in zip(tasks, vectors, strict=True)}
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, keep_neighbours=True)
        store.upsert("s", tasks)
    conn = sqlite3.connect(tmp_path / "s" / "tasks.sqlite")
    conn.execute(
        "UPDATE task_neighbours SET sims = zeroblob(length(sims)) WHERE rowid IN (SELECT rowid FROM task_neighbours LIMIT 2)"
    )
    conn.execute(
        "DELETE FROM task_neighbours WHERE rowid IN (SELECT rowid FROM task_neighbours LIMIT 1 OFFSET 5)"
    )
    conn.commit()
    conn.close()
    with (
        caplog.at_level(logging.INFO, logger="server.store.hubness"),
        TaskStore(_config(tmp_path / "s")) as store,
    ):
        _check(store, "s", live, np.random.default_rng(2))
    assert "2 stored neighbour lists were damaged or stale" in caplog.text
    assert "computed the neighbour lists of 3 of 30 tasks" in caplog.text


def test_store_and_grpc_answer_csls_alike(api: TaskSearchAPI) -> None:
    """The in-process store and the gRPC client: same CSLS hits, the default csls_k is 10,
    and the same refusals (csls_k set explicitly to 0 is not "unset")."""
    tasks, vectors = make_tasks(50, DIM, seed=12)
    ref = Reference({t.id: v for t, v in zip(tasks, vectors, strict=True)})
    api.create_space("s", DIM, keep_neighbours=True)
    api.upsert("s", tasks)
    query = vectors[7] + 0.05
    by_id, by_vec = api.search("s", ["task-0004", query], k=5, similarity="csls")
    assert [(h.id, round(h.score, 5)) for h in by_id] == [
        (i, round(s, 5)) for i, s in ref.by_id("task-0004", 5, 10)
    ]
    assert [h.id for h in by_vec] == [i for i, _ in ref.by_vector(query, 5, 10)]
    explicit = api.search("s", ["task-0004"], k=5, similarity="csls", csls_k=DEFAULT_CSLS_K)[0]
    assert [h.score for h in explicit] == [h.score for h in by_id]
    ranking = api.rank_sources("s", "task-0004", k=5, similarity="csls", csls_k=4)
    assert [h.id for h in ranking] == [i for i, _ in ref.by_id("task-0004", 5, 4)]
    assert all(h.p_help is not None for h in ranking)
    with pytest.raises(InvalidArgumentError, match=r"csls_k must be in \[1, 50\], got 0"):
        api.search("s", ["task-0004"], k=5, similarity="csls", csls_k=0)
    with pytest.raises(InvalidArgumentError, match="csls_k applies to similarity 'csls' only"):
        api.rank_sources("s", "task-0004", csls_k=3)
    with pytest.raises(InvalidArgumentError, match=r"csls_k must be .*got -1"):  # never a ValueError
        api.search("s", ["task-0004"], k=5, similarity="csls", csls_k=-1)


def test_an_unknown_similarity_enum_value_is_invalid_argument(
    running_server: tuple[TaskSearchServer, int],
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{running_server[1]}") as channel:
        stub = services.TaskSearchStub(channel)
        stub.CreateSpace(messages.CreateSpaceRequest(name="s", dim=2, keep_neighbours=True))
        query = messages.Query(id="x")
        for call, request in (
            (
                stub.FindSimilarTasks,
                messages.FindSimilarTasksRequest(space="s", queries=[query], k=1, similarity=7),
            ),  # type: ignore[arg-type]
            (stub.RankSourceTasks, messages.RankSourceTasksRequest(space="s", target=query, similarity=7)),  # type: ignore[arg-type]
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "similarity: unknown enum value 7" in (caught.value.details() or "")


def test_server_side_csls_reproduces_the_model_retrieval_benchmark(tmp_path: Path) -> None:
    """benchmarks/model_retrieval.py scores models against datasets with CSLS over every
    task of the run (client side); a store holding the same tasks, asked per model for
    datasets only, gives the same ranking and the same numbers."""
    from benchmarks.model_retrieval import model_dataset_similarity

    space = EmbeddingSpace("m", "h" * 16, "fim", "{}", DIM)
    rng = np.random.default_rng(21)

    def emb(name: str, kind: str) -> TaskEmbedding:
        vec = rng.normal(size=DIM).astype(np.float32)
        return TaskEmbedding(vector=vec, space=space, task=TaskInfo(name=name, kind=kind))  # type: ignore[arg-type]

    datasets = [emb(f"d{i}", "dataset") for i in range(14)]
    models = [emb(f"m{i}", "model") for i in range(6)]
    with TaskStore(_config(tmp_path / "s")) as store:
        store.create_space("s", DIM, identity=identity_of(space), keep_neighbours=True)
        upload_embeddings(store, "s", [*datasets, *models])
        only_datasets = Filter(must=(Condition("kind", ("dataset",)),))
        for k in (3, 5):
            want = model_dataset_similarity(models, datasets, f"csls{k}")
            got = store.search(
                "s",
                [m.task.name for m in models],
                k=len(datasets),
                filter=only_datasets,
                similarity="csls",
                csls_k=k,
            )
            for row, hits in zip(want, got, strict=True):
                order = np.argsort(-row, kind="stable")
                assert [h.id for h in hits] == [datasets[j].task.name for j in order]
                np.testing.assert_allclose([h.score for h in hits], row[order], atol=2e-6)
