"""Every documented limit is checked on the request's own numbers before work is done, and
never surfaces as INTERNAL (issue 13, defects 4, 7 and 8).

* Filters of many conditions (SQLite's "Expression tree is too large" at ~994) or many
  values are INVALID_ARGUMENT in every RPC that takes a filter.
* A reply too big for the message limit is RESOURCE_EXHAUSTED from the servicer (with its
  ErrorInfo, naming the numbers), estimated before the reply is built, so the call never
  allocates much more than the limit.
* Page tokens are decoded strictly; request values echoed in errors are capped so the
  status survives the client's metadata limit; unknown metrics are refused; DeleteTasks
  has its own, documented, id limit.
* docs/service.md states exactly the limits the code checks.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from kit import REPO
from reliability_kit import error_reason, in_process_server, raw_stubs

from fute_client import TaskSearchClient
from fute_client.contract import messages as pb
from fute_client.contract import services as pb_grpc
from fute_client.types import Task
from server.config import StoreConfig
from server.echo import MAX_MESSAGE_CHARS, MAX_SHOWN_CHARS
from server.store.filters import MAX_FILTER_CONDITIONS, MAX_FILTER_TOTAL_VALUES, MAX_FILTER_VALUES
from server.store.task_store import MAX_DELETE_IDS, MAX_DIM, MAX_ID_BYTES, MAX_NAME_CHARS, MAX_PAGE_SIZE

DIM = 8
BIG_DIM = 512
N_BIG = 600
MAX_MESSAGE = 1 << 20
C = grpc.StatusCode


class Served:
    """A loopback server with a small space ``s`` and a 512-d space ``big``."""

    def __init__(self, stub: pb_grpc.TaskSearchStub, target: str) -> None:
        self.stub = stub
        self.target = target


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    path = tmp_path_factory.mktemp("limits")
    with (
        in_process_server(path, max_message_bytes=MAX_MESSAGE) as (_, target),
        raw_stubs(target) as (stub, _),
    ):
        rng = np.random.default_rng(0)
        with TaskSearchClient(target) as c:
            c.create_space("s", DIM)
            vecs = rng.normal(size=(50, DIM)).astype(np.float32)
            c.upsert("s", [Task(id=f"t{i:02d}", vector=v, tags=(f"g{i % 5}",)) for i, v in enumerate(vecs)])
            c.create_space("big", BIG_DIM)
            big = rng.normal(size=(N_BIG, BIG_DIM)).astype(np.float32)
            for start in range(0, N_BIG, 200):
                c.upsert("big", [Task(id=f"b{i}", vector=big[i]) for i in range(start, start + 200)])
        yield Served(stub, target)


def _code(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    try:
        call(request, timeout=20)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return C.OK, ""


def _filter(n_conditions: int, values_each: int = 1, must_not: bool = False) -> pb.Filter:
    conds = [
        pb.Condition(field=pb.FILTER_FIELD_ID, any_of=[f"v{i}-{j}" for j in range(values_each)])
        for i in range(n_conditions)
    ]
    return pb.Filter(must_not=conds) if must_not else pb.Filter(must=conds)


def _filtered_requests(flt: pb.Filter) -> dict[str, Any]:
    return {
        "FindSimilarTasks": pb.FindSimilarTasksRequest(
            space="s", queries=[pb.Query(id="t00")], k=3, filter=flt
        ),
        "ListTasks": pb.ListTasksRequest(space="s", filter=flt),
        "RankSourceTasks": pb.RankSourceTasksRequest(
            space="s", target=pb.Query(id="t00"), candidate_filter=flt
        ),
        "DeleteTasks": pb.DeleteTasksRequest(space="s", filter=flt),
    }


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize("n", [MAX_FILTER_CONDITIONS + 1, 994, 1000, 2000])
@pytest.mark.parametrize("must_not", [False, True])
def test_filter_with_too_many_conditions_is_invalid_argument(served: Served, n: int, must_not: bool) -> None:
    for method, request in _filtered_requests(_filter(n, must_not=must_not)).items():
        code, details = _code(getattr(served.stub, method), request)
        assert code == C.INVALID_ARGUMENT, (method, code, details)
        assert f"{n} conditions" in details and str(MAX_FILTER_CONDITIONS) in details


def test_filter_with_too_many_values_is_invalid_argument(served: Served) -> None:
    per = MAX_FILTER_TOTAL_VALUES // MAX_FILTER_VALUES + 1  # conditions of MAX values each
    for flt, words in (
        (_filter(1, MAX_FILTER_VALUES + 1), f"{MAX_FILTER_VALUES + 1} values"),
        (_filter(per, MAX_FILTER_VALUES), f"{per * MAX_FILTER_VALUES} values"),
    ):
        for method, request in _filtered_requests(flt).items():
            code, details = _code(getattr(served.stub, method), request)
            assert code == C.INVALID_ARGUMENT and words in details, (method, code, details)


def test_filters_at_the_limits_work(served: Served) -> None:
    at_conditions = _filter(MAX_FILTER_CONDITIONS, must_not=True)  # excludes nothing that exists
    at_values = _filter(MAX_FILTER_TOTAL_VALUES // MAX_FILTER_VALUES, MAX_FILTER_VALUES, must_not=True)
    for flt in (at_conditions, at_values):
        listed = served.stub.ListTasks(pb.ListTasksRequest(space="s", filter=flt, page_size=100), timeout=20)
        assert len(listed.tasks) == 50
        found = served.stub.FindSimilarTasks(
            pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(id="t00")], k=60, filter=flt), timeout=20
        )
        assert len(found.results[0].hits) == 49
        ranked = served.stub.RankSourceTasks(
            pb.RankSourceTasksRequest(space="s", target=pb.Query(id="t00"), candidate_filter=flt), timeout=20
        )
        assert len(ranked.ranking) == 49


# ---------------------------------------------------------------- reply sizes


def _big_search(n_queries: int, k: int, with_vectors: bool) -> pb.FindSimilarTasksRequest:
    queries = [pb.Query(id=f"b{i}") for i in range(n_queries)]
    return pb.FindSimilarTasksRequest(space="big", queries=queries, k=k, with_vectors=with_vectors)


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("FindSimilarTasks", _big_search(16, 1024, True)),
        ("FindSimilarTasks", _big_search(256, 1024, True)),
        ("ListTasks", pb.ListTasksRequest(space="big", page_size=MAX_PAGE_SIZE, with_vectors=True)),
        ("GetTasks", pb.GetTasksRequest(space="big", ids=[f"b{i}" for i in range(N_BIG)], with_vectors=True)),
        ("SimilarityMatrix", pb.SimilarityMatrixRequest(space="big", ids=[f"b{i}" for i in range(N_BIG)])),
    ],
)
def test_too_big_reply_is_refused_before_it_is_built(served: Served, method: str, request_: Any) -> None:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(grpc.RpcError) as err:
            getattr(served.stub, method)(request_, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code() == C.RESOURCE_EXHAUSTED
    # Our refusal (with its ErrorInfo and the numbers), not the transport's after the fact.
    assert error_reason(err.value) == "ResourceExhaustedError", err.value.details()
    assert f"{MAX_MESSAGE}-byte message limit" in (err.value.details() or "")
    # Nothing near the size of the reply was built (the whole reply would be > 1 MiB;
    # FindSimilarTasks with 16 x 600 hits of 2 KiB vectors would be ~19 MiB, with 256
    # queries ~300 MiB). What a call may hold is the limit plus a few copies of its own
    # query vectors (resolving 256 id queries reads 256 stored vectors).
    query_bytes = 4 * BIG_DIM * len(getattr(request_, "queries", ()))
    bound = MAX_MESSAGE + 3 * query_bytes
    assert peak < bound, f"{method} allocated {peak} bytes before refusing (bound {bound})"


def test_replies_within_the_limit_still_work(served: Served) -> None:
    reply = served.stub.FindSimilarTasks(_big_search(16, 1024, False), timeout=30)
    assert [len(r.hits) for r in reply.results] == [N_BIG - 1] * 16
    reply = served.stub.FindSimilarTasks(_big_search(2, 100, True), timeout=30)
    assert all(h.vector.dim == BIG_DIM for r in reply.results for h in r.hits)


# ---------------------------------------------------------------- smaller checks


@pytest.mark.parametrize("token", ["!!!!", "****", "dDA", "dDA=x", " dDAx", "dDAx\n", "=", "AA"])
def test_page_token_is_decoded_strictly(served: Served, token: str) -> None:
    code, details = _code(served.stub.ListTasks, pb.ListTasksRequest(space="s", page_token=token))
    assert code == C.INVALID_ARGUMENT, (token, code)
    assert "page_token" in details


def test_issued_page_tokens_work(served: Served) -> None:
    seen: list[str] = []
    token = ""
    while True:
        page = served.stub.ListTasks(
            pb.ListTasksRequest(space="s", page_size=7, page_token=token), timeout=10
        )
        seen += [t.id for t in page.tasks]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(f"t{i:02d}" for i in range(50))


@pytest.mark.parametrize(
    ("method", "request_", "code"),
    [
        ("DescribeSpace", pb.DescribeSpaceRequest(name="n" * 7000), C.NOT_FOUND),
        ("GetTasks", pb.GetTasksRequest(space="s" * 7000, ids=["a"]), C.NOT_FOUND),
        (
            "FindSimilarTasks",
            pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(id="q" * 7000)], k=1),
            C.NOT_FOUND,
        ),
        ("CreateSpace", pb.CreateSpaceRequest(name="x" * 7000, dim=4), C.INVALID_ARGUMENT),
        ("RestoreSnapshot", pb.RestoreSnapshotRequest(name="r" * 7000), C.INVALID_ARGUMENT),
        ("ListTasks", pb.ListTasksRequest(space="s", page_token="!" * 7000), C.INVALID_ARGUMENT),
        (
            "ListTasks",
            pb.ListTasksRequest(
                space="s",
                filter=pb.Filter(must=[pb.Condition(field=pb.FILTER_FIELD_KIND, any_of=["k" * 7000])]),
            ),
            C.INVALID_ARGUMENT,
        ),
    ],
)
def test_long_request_values_are_capped_in_errors(
    served: Served, method: str, request_: Any, code: grpc.StatusCode
) -> None:
    got, details = _code(getattr(served.stub, method), request_)
    assert got == code, (got, details[:200])
    assert 0 < len(details) <= MAX_MESSAGE_CHARS + 1


@pytest.mark.parametrize("metric", [2, 7, 2**31 - 1, -1])
def test_unknown_metric_is_refused(served: Served, metric: Any) -> None:
    # Any: an enum number outside the generated ValueType, on purpose.
    code, details = _code(served.stub.CreateSpace, pb.CreateSpaceRequest(name="m", dim=4, metric=metric))
    assert code == C.INVALID_ARGUMENT and "metric" in details
    names = [s.name for s in served.stub.ListSpaces(pb.ListSpacesRequest(), timeout=10).spaces]
    assert "m" not in names


def test_known_metrics_are_accepted(served: Served) -> None:
    for metric in (pb.METRIC_UNSPECIFIED, pb.METRIC_COSINE):
        space = served.stub.CreateSpace(
            pb.CreateSpaceRequest(name=f"m{metric}", dim=4, metric=metric), timeout=10
        )
        assert space.metric == pb.METRIC_COSINE
        served.stub.DeleteSpace(pb.DeleteSpaceRequest(name=f"m{metric}"), timeout=10)


def test_delete_tasks_id_limit(served: Served) -> None:
    too_many = pb.DeleteTasksRequest(
        space="s", ids=pb.TaskIds(ids=[f"x{i}" for i in range(MAX_DELETE_IDS + 1)])
    )
    code, details = _code(served.stub.DeleteTasks, too_many)
    assert code == C.INVALID_ARGUMENT
    assert f"at most {MAX_DELETE_IDS} ids" in details and "filter" not in details
    at_limit = pb.DeleteTasksRequest(space="s", ids=pb.TaskIds(ids=[f"x{i}" for i in range(MAX_DELETE_IDS)]))
    assert served.stub.DeleteTasks(at_limit, timeout=10).deleted == 0


# ---------------------------------------------------------------- the docs say what the code checks


def _limits_table() -> dict[str, str]:
    text = (REPO / "docs" / "service.md").read_text()
    section = text.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[1].strip() for cells in rows[1:] if len(cells) >= 2}


def _number(text: str) -> int:
    match = re.match(r"[\d,]+", text)
    assert match, text
    return int(match.group().replace(",", ""))


def test_documented_limits_are_the_checked_ones() -> None:
    table = _limits_table()
    store = StoreConfig(path=Path("."))
    expected = {
        "k": store.max_k,
        "queries per search": store.max_queries,
        "tasks per upsert request or streamed batch": store.max_batch,
        "ids per similarity matrix": store.max_matrix_ids,
        "values per filter condition": MAX_FILTER_VALUES,
        "conditions per filter (must and must_not together)": MAX_FILTER_CONDITIONS,
        "values per filter (all conditions together)": MAX_FILTER_TOTAL_VALUES,
        "ids per DeleteTasks call": MAX_DELETE_IDS,
        "page size of ListTasks": MAX_PAGE_SIZE,
        "id length": MAX_ID_BYTES,
        "space name": MAX_NAME_CHARS,
        "request values quoted in errors": MAX_SHOWN_CHARS,
        "dimension": MAX_DIM,
    }
    for row, value in expected.items():
        assert row in table, f"docs/service.md lists no limit {row!r}"
        assert _number(table[row]) == value, (row, table[row], value)
