"""The search API against brute-force numpy, run on the in-process store and over gRPC."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit import brute_force, unit
from server_testkit import make_tasks

from fute_client.contract import TaskSearchAPI
from fute_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from fute_client.types import BACKENDS, Condition, Filter, SpaceIdentity, Task
from server.store.faiss_index import EXACT_BACKENDS

DIM = 24
N = 150


@pytest.fixture(params=EXACT_BACKENDS)
def loaded(request: pytest.FixtureRequest, api: TaskSearchAPI) -> tuple[Any, list[Task], np.ndarray]:
    """A space of N tasks on each exact backend: every test below holds on all of them."""
    tasks, vectors = make_tasks(N, DIM, seed=1)
    api.create_space("s", DIM, backend=request.param)
    result = api.upsert("s", tasks)
    assert (result.upserted, result.failed) == (N, 0)
    return api, tasks, vectors


def assert_same(hits: Any, expected: list[tuple[str, float]]) -> None:
    assert [h.id for h in hits] == [e[0] for e in expected]
    np.testing.assert_allclose([h.score for h in hits], [e[1] for e in expected], atol=1e-5)


def test_search_by_vector_equals_brute_force(loaded: Any) -> None:
    api, tasks, vectors = loaded
    queries = np.random.default_rng(7).normal(size=(5, DIM)).astype(np.float32)
    results = api.search("s", queries, k=10)
    assert len(results) == 5
    for q, hits in zip(queries, results, strict=True):
        assert_same(hits, brute_force(vectors, tasks, q, 10))


def test_search_by_id_excludes_the_query_task(loaded: Any) -> None:
    api, tasks, vectors = loaded
    hits = api.search("s", ["task-0003", "task-0100"], k=7)
    assert_same(hits[0], brute_force(vectors, tasks, vectors[3], 7, exclude="task-0003"))
    assert_same(hits[1], brute_force(vectors, tasks, vectors[100], 7, exclude="task-0100"))


def test_filters_must_and_must_not(loaded: Any) -> None:
    api, tasks, vectors = loaded
    flt = Filter(
        must=(Condition("kind", ("model",)), Condition("task_type", ("sentiment", "nli"))),
        must_not=(Condition("tag", ("de",)),),
    )

    def keep(t: Task) -> bool:
        return t.kind == "model" and t.task_type in ("sentiment", "nli") and "de" not in t.tags

    q = vectors[10] + 0.1
    hits = api.search("s", [q], k=12, filter=flt)[0]
    assert_same(hits, brute_force(vectors, tasks, q, 12, keep))
    assert all(keep(h.task) for h in hits)
    none = Filter(must=(Condition("tag", ("no-such-tag",)),))
    assert api.search("s", [q], k=5, filter=none) == [[]]


def test_score_threshold_and_metadata_roundtrip(loaded: Any) -> None:
    api, tasks, vectors = loaded
    hits = api.search("s", [vectors[5]], k=50, score_threshold=0.2, with_vectors=True)[0]
    expected = [e for e in brute_force(vectors, tasks, vectors[5], 50) if e[1] >= 0.2]
    assert_same(hits, expected)
    top = hits[0]
    assert top.id == "task-0005" and top.task == tasks[5].__class__(
        **{**tasks[5].__dict__, "created_time": top.task.created_time, "updated_time": top.task.updated_time}
    )
    np.testing.assert_array_equal(top.task.vector, vectors[5])


def test_upsert_replaces_instead_of_duplicating(loaded: Any) -> None:
    api, _, _ = loaded
    before = api.get("s", ["task-0000"])[0]
    new = np.random.default_rng(3).normal(size=DIM).astype(np.float32)
    api.upsert("s", [Task(id="task-0000", vector=new, name="renamed", kind="dataset", tags=("x",))])
    assert api.describe_space("s").task_count == N
    hits = api.search("s", [new], k=3)[0]
    assert hits[0].id == "task-0000" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.id for h in hits].count("task-0000") == 1
    after = api.get("s", ["task-0000"], with_vectors=True)[0]
    assert after.name == "renamed" and after.tags == ("x",)
    assert after.created_time == before.created_time
    np.testing.assert_array_equal(after.vector, new)


def test_delete_by_ids_and_by_filter(loaded: Any) -> None:
    api, tasks, vectors = loaded
    assert api.delete("s", ids=["task-0001", "task-0002", "nope"]) == 2
    flt = Filter(must=(Condition("tag", ("large",)),))
    n_large = sum(1 for t in tasks if "large" in t.tags and t.id not in ("task-0001", "task-0002"))
    assert api.delete("s", filter=flt) == n_large
    left = [t for t in tasks if t.id not in ("task-0001", "task-0002") and "large" not in t.tags]
    assert api.describe_space("s").task_count == len(left)
    keep_ids = {t.id for t in left}
    hits = api.search("s", [vectors[1]], k=20)[0]
    assert_same(hits, brute_force(vectors, tasks, vectors[1], 20, lambda t: t.id in keep_ids))
    assert api.get("s", ["task-0001"]) == []


def test_pagination_visits_every_match_once(loaded: Any) -> None:
    api, tasks, _ = loaded
    flt = Filter(must=(Condition("kind", ("dataset",)),))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = api.list_tasks("s", filter=flt, page_size=13, page_token=token)
        seen.extend(t.id for t in page.tasks)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    expected = sorted(t.id for t in tasks if t.kind == "dataset")
    assert seen == expected
    assert pages == -(-len(expected) // 13)
    assert [t.id for t in api.iter_tasks("s", page_size=40)] == sorted(t.id for t in tasks)


def test_rank_sources_with_candidate_filter(loaded: Any) -> None:
    api, tasks, vectors = loaded
    flt = Filter(must=(Condition("kind", ("dataset",)),))
    ranking = api.rank_sources("s", "task-0004", candidate_filter=flt)
    keep = lambda t: t.kind == "dataset"  # noqa: E731
    expected = brute_force(vectors, tasks, vectors[4], N, keep, exclude="task-0004")
    assert_same(ranking, expected)
    top3 = api.rank_sources("s", vectors[4], k=3)
    assert_same(top3, brute_force(vectors, tasks, vectors[4], 3))


def test_similarity_matrix_equals_numpy(loaded: Any) -> None:
    api, _, vectors = loaded
    ids = ["task-0009", "task-0002", "task-0077"]
    got_ids, matrix = api.similarity_matrix("s", ids)
    assert got_ids == ids
    u = unit(vectors[[9, 2, 77]])
    np.testing.assert_allclose(matrix, u @ u.T, atol=1e-5)
    with pytest.raises(NotFoundError):
        api.similarity_matrix("s", ["task-0009", "missing"])


def test_per_item_errors_keep_the_good_items(api: TaskSearchAPI) -> None:
    api.create_space("p", 4)
    good = Task(id="ok", vector=np.ones(4, np.float32))
    result = api.upsert(
        "p",
        [
            good,
            Task(id="wrong-dim", vector=np.ones(5, np.float32)),
            Task(id="nan", vector=np.array([1, np.nan, 0, 0], np.float32)),
            Task(id="zero", vector=np.zeros(4, np.float32)),
            Task(id="", vector=np.ones(4, np.float32)),
        ],
    )
    assert (result.upserted, result.failed) == (1, 4)
    assert {e.id for e in result.errors} == {"wrong-dim", "nan", "zero", ""}
    assert {e.code for e in result.errors} == {"INVALID_ARGUMENT"}
    assert [t.id for t in api.get("p", ["ok", "nan"])] == ["ok"]


def test_bad_requests_raise_the_documented_errors(loaded: Any) -> None:
    api, _, vectors = loaded
    with pytest.raises(InvalidArgumentError):
        api.search("s", [vectors[0]], k=0)
    with pytest.raises(InvalidArgumentError):
        api.search("s", [vectors[0]], k=100_000)
    with pytest.raises(InvalidArgumentError):
        api.search("s", [np.ones(DIM + 1, np.float32)], k=3)
    with pytest.raises(InvalidArgumentError):
        api.search("s", [np.full(DIM, np.nan, np.float32)], k=3)
    with pytest.raises(NotFoundError):
        api.search("nope", [vectors[0]], k=3)
    with pytest.raises(NotFoundError):
        api.search("s", ["no-such-task"], k=3)
    with pytest.raises(AlreadyExistsError):
        api.create_space("s", DIM)
    with pytest.raises(InvalidArgumentError):
        api.list_tasks("s", page_token="%%%not-a-token")
    # Still serving after all of that.
    assert len(api.search("s", [vectors[0]], k=3)[0]) == 3


def test_space_identity_mismatch_is_failed_precondition(api: TaskSearchAPI) -> None:
    ident = SpaceIdentity("MiniLM", "abc123", "fim", '{"epochs":1}')
    space = api.create_space("fim", 8, identity=ident)
    assert len(space.space_key) == 16
    v = [Task(id="a", vector=np.ones(8, np.float32))]
    assert api.upsert("fim", v, expected_identity=ident).upserted == 1
    other = SpaceIdentity("MiniLM", "abc123", "prompt", '{"epochs":1}')
    with pytest.raises(FailedPreconditionError, match="method"):
        api.upsert("fim", v, expected_identity=other)
    api.create_space("plain", 8)
    with pytest.raises(FailedPreconditionError):
        api.upsert("plain", v, expected_identity=ident)
    assert api.describe_space("fim").identity == ident


def test_the_first_model_tasks_fix_a_dataset_space_to_their_u(api: TaskSearchAPI) -> None:
    # Dataset embeddings do not read U, so a space made for datasets has no corpus; models
    # on two different U may not be compared, so the first U accepted is the space's.
    datasets = SpaceIdentity("MiniLM", "abc123", "fim", '{"epochs":1}')
    on_u1, on_u2 = replace(datasets, corpus="u1" * 8), replace(datasets, corpus="u2" * 8)
    api.create_space("fim", 8, identity=datasets)
    v = [Task(id="d", vector=unit(np.arange(1, 9)))]
    assert api.upsert("fim", v, expected_identity=datasets).upserted == 1
    assert api.describe_space("fim").identity == datasets
    bad = [Task(id="m0", vector=np.zeros(8, np.float32))]  # nothing stored: nothing pinned
    assert api.upsert("fim", bad, expected_identity=on_u2).upserted == 0
    assert api.describe_space("fim").identity == datasets
    m1 = [Task(id="m1", kind="model", vector=unit(np.arange(8, 0, -1)))]
    assert api.upsert("fim", m1, expected_identity=on_u1).upserted == 1
    assert api.describe_space("fim").identity == on_u1
    with pytest.raises(FailedPreconditionError, match="corpus"):
        api.upsert("fim", [Task(id="m2", kind="model", vector=unit(np.ones(8)))], expected_identity=on_u2)
    with pytest.raises(FailedPreconditionError, match="corpus"):
        api.search("fim", [unit(np.ones(8))], expected_identity=on_u2)
    # datasets still come in, and nothing stored was touched
    assert (
        api.upsert("fim", [Task(id="d2", vector=unit(np.ones(8)))], expected_identity=datasets).upserted == 1
    )
    assert sorted(t.id for t in api.list_tasks("fim").tasks) == ["d", "d2", "m1"]


def test_a_pinned_u_survives_a_restart(tmp_path: Path) -> None:
    from server.config import StoreConfig
    from server.store import TaskStore

    datasets = SpaceIdentity("MiniLM", "abc123", "fim", '{"epochs":1}')
    on_u1 = replace(datasets, corpus="u1" * 8)
    with TaskStore(StoreConfig(path=tmp_path, device="cpu")) as store:
        store.create_space("fim", 8, identity=datasets)
        store.upsert("fim", [Task(id="m1", kind="model", vector=unit(np.ones(8)))], expected_identity=on_u1)
    with TaskStore(StoreConfig(path=tmp_path, device="cpu")) as store:
        assert store.describe_space("fim").identity == on_u1
        with pytest.raises(FailedPreconditionError, match="corpus"):
            store.upsert(
                "fim", [Task(id="m2", vector=unit(np.ones(8)))], expected_identity=replace(on_u1, corpus="u2")
            )


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_upserts_deletes_and_finds_itself(api: TaskSearchAPI, backend: str) -> None:
    tasks, vectors = make_tasks(120, 16, seed=4)
    api.create_space(backend, 16, backend=backend)
    api.upsert(backend, tasks)
    api.delete(backend, ids=[t.id for t in tasks[:40]])
    api.upsert(backend, [Task(id=tasks[50].id, vector=vectors[51])])  # replace: a new vector
    assert api.describe_space(backend).backend == backend
    hits = api.search(backend, vectors[60:70], k=1)
    assert [h[0].id for h in hits] == [t.id for t in tasks[60:70]]
    gone = {h.id for hs in api.search(backend, vectors[:40], k=5) for h in hs}
    assert not gone & {t.id for t in tasks[:40]}
    twin = api.search(backend, [vectors[51]], k=2)[0]
    assert {h.id for h in twin} == {tasks[50].id, tasks[51].id}


def test_ivf_grows_its_lists_as_the_space_grows(api: TaskSearchAPI) -> None:
    # Trained on a first batch of 50 vectors (1 list), the index is retrained once the
    # space is large enough for more lists; results stay exact enough to find each task.
    tasks, vectors = make_tasks(700, 8, seed=9)
    api.create_space("grow", 8, backend="ivf")
    api.upsert("grow", tasks[:50])
    for start in range(50, 700, 130):
        api.upsert("grow", tasks[start : start + 130])
    hits = api.search("grow", vectors[::50], k=1)
    assert [h[0].id for h in hits] == [t.id for t in tasks[::50]]


@pytest.mark.parametrize("backend", ["ivf", "hnsw"])
def test_filtered_search_on_approximate_backends_is_exact(api: TaskSearchAPI, backend: str) -> None:
    tasks, vectors = make_tasks(400, 16, seed=11)
    api.create_space("f", 16, backend=backend)
    api.upsert("f", tasks)
    api.delete("f", ids=[t.id for t in tasks[:20]])
    flt = Filter(must=(Condition("tag", ("large",)), Condition("kind", ("model",))))
    live = [t for t in tasks[20:] if "large" in t.tags and t.kind == "model"]
    q = vectors[100]
    hits = api.search("f", [q], k=15, filter=flt)[0]
    keep_ids = {t.id for t in live}
    assert_same(hits, brute_force(vectors, tasks, q, 15, lambda t: t.id in keep_ids))
