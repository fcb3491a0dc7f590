"""Bad input: property-based fuzzing of every TaskSearch RPC with malformed messages.

Each RPC gets requests built by hypothesis from raw protobuf messages (so the client's
own validation is bypassed): vectors with NaN, Inf, wrong dimensions and byte lengths,
values of extreme magnitude (squares that overflow or underflow float32), unknown enum
numbers, huge k and page sizes, random page tokens, odd unicode in ids, names, metadata
and filters, filters of up to thousands of conditions and values, and searches whose
replies range from tiny to far over the message limit. Every reply must be OK or one of the status codes
``docs/service.md`` lists for that call, every error must carry a message and the
``ErrorInfo`` detail, successful replies must be well formed, and the server must stay
healthy (health SERVING, the reference space unchanged) after every example.

The examples are derandomised so the test is repeatable and bounded in time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_kit import loopback_config

from fute_client import TaskSearchClient
from fute_client.contract import messages as pb
from fute_client.contract import services as pb_grpc
from fute_client.types import Task
from server.app import create_server
from server.service import ERROR_DOMAIN

DIM = 8
REF = "reference-space-fuzz-never-writes-here"
SCRATCH = "scratch"
BIG = "big-vectors"
BIG_DIM = 512
MAX_MESSAGE = 1 << 20  # the server's limit here, so oversized payloads are cheap to make
N_REF = 40
EXAMPLES = 30

C = grpc.StatusCode
# Codes each RPC may answer with (docs/service.md, "Status codes"); INTERNAL and UNKNOWN never.
ALLOWED: dict[str, frozenset[grpc.StatusCode]] = {
    "CreateSpace": frozenset({C.INVALID_ARGUMENT, C.ALREADY_EXISTS}),
    "ListSpaces": frozenset(),
    "DescribeSpace": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND}),
    "DeleteSpace": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND}),
    "UpsertTasks": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION, C.RESOURCE_EXHAUSTED}),
    "UpsertTasksStream": frozenset(
        {C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION, C.RESOURCE_EXHAUSTED}
    ),
    "DeleteTasks": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND}),
    "GetTasks": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.RESOURCE_EXHAUSTED}),
    "ListTasks": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.RESOURCE_EXHAUSTED}),
    "FindSimilarTasks": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.RESOURCE_EXHAUSTED}),
    "RankSourceTasks": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.RESOURCE_EXHAUSTED}),
    "SimilarityMatrix": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.RESOURCE_EXHAUSTED}),
    "CreateSnapshot": frozenset({C.INVALID_ARGUMENT, C.ALREADY_EXISTS}),
    "ListSnapshots": frozenset(),
    "RestoreSnapshot": frozenset({C.INVALID_ARGUMENT, C.NOT_FOUND, C.DATA_LOSS}),
    "GetServerInfo": frozenset(),
}
# Codes the transport itself produces (no ErrorInfo detail from our servicer).
TRANSPORT_CODES = frozenset({C.RESOURCE_EXHAUSTED})

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- the server under test


class Harness:
    """A loopback server with a reference space, and raw stubs to hit it with."""

    def __init__(self, tmp: Path) -> None:
        self.server, port = create_server(loopback_config(tmp / "fuzz", max_message_bytes=MAX_MESSAGE))
        self.target = f"127.0.0.1:{port}"
        # The client may send more than the server accepts: the server must refuse it.
        self.channel = grpc.insecure_channel(
            self.target,
            options=[
                ("grpc.max_send_message_length", 8 * MAX_MESSAGE),
                ("grpc.max_receive_message_length", 64 * MAX_MESSAGE),
            ],
        )
        self.stub = pb_grpc.TaskSearchStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        rng = np.random.default_rng(0)
        self.ref_vectors = rng.normal(size=(N_REF, DIM)).astype(np.float32)
        with TaskSearchClient(self.target) as c:
            c.create_space(REF, DIM)
            c.upsert(
                REF,
                [
                    Task(id=f"r{i}", vector=v, kind=("dataset", "model")[i % 2], tags=(f"g{i % 3}",))
                    for i, v in enumerate(self.ref_vectors)
                ],
            )
            c.create_space(BIG, BIG_DIM)
            big = rng.normal(size=(600, BIG_DIM)).astype(np.float32)
            for start in range(0, 600, 200):
                c.upsert(BIG, [Task(id=f"b{i}", vector=big[i]) for i in range(start, start + 200)])
        self.ref_answer = self.stub.FindSimilarTasks(self._ref_query(), timeout=10)
        self.ensure_scratch()

    def _ref_query(self) -> pb.FindSimilarTasksRequest:
        return pb.FindSimilarTasksRequest(space=REF, queries=[pb.Query(id="r0"), pb.Query(id="r1")], k=N_REF)

    def ensure_scratch(self) -> None:
        """(Re)create the scratch space the write RPCs may damage."""
        try:
            self.stub.CreateSpace(pb.CreateSpaceRequest(name=SCRATCH, dim=DIM), timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() == C.ALREADY_EXISTS, exc

    def call(self, method: str, request: Any) -> Any:
        """Make the call; assert the outcome is allowed and the server healthy; return the reply or None."""
        rpc = getattr(self.stub, method)
        reply = None
        try:
            reply = rpc(request, timeout=20)
        except grpc.RpcError as exc:
            code = exc.code()
            assert code in ALLOWED[method], f"{method} answered {code}: {exc.details()}"
            assert exc.details(), f"{method}: {code} without a message"
            if code not in TRANSPORT_CODES or not exc.details().startswith(("Received", "SERVER:")):
                status = rpc_status.from_call(exc)
                assert status is not None, f"{method}: {code} without grpc-status-details-bin"
                info = error_details_pb2.ErrorInfo()
                assert status.details and status.details[0].Unpack(info)
                assert info.domain == ERROR_DOMAIN and info.reason
        self.assert_healthy()
        return reply

    def assert_healthy(self) -> None:
        check = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        # The reference space is never written, so it answers exactly as at the start.
        assert self.stub.FindSimilarTasks(self._ref_query(), timeout=10) == self.ref_answer
        self.ensure_scratch()

    def close(self) -> None:
        self.channel.close()
        self.server.stop(1.0)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("fuzz"))
    yield h
    h.close()


# ---------------------------------------------------------------- strategies

ODD_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil",
    "e\u0301",
    "🙂" * 70,
    "\ufeff",
    "x" * 257,
    "名前",
    "../../etc/passwd",
    "'; DROP TABLE tasks; --",
    "%s%n",
    "\n\t\r",
)
texts = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=24))
ids = st.one_of(texts, st.sampled_from([f"r{i}" for i in range(N_REF)]))
read_spaces = st.one_of(st.sampled_from([REF, SCRATCH, BIG, "", "missing"]), texts)
write_spaces = st.one_of(st.sampled_from([SCRATCH, "", "missing"]), texts).filter(
    lambda s: s not in (REF, BIG)
)
u32 = st.one_of(
    st.sampled_from([0, 1, 2, 7, 8, 9, 1024, 1025, 65_536, 65_537, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)
enum_numbers = st.one_of(st.integers(0, 5), st.sampled_from([99, 2**31 - 1, -1]))
floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
# Scales that make float32 squares overflow (>~1.8e19) or underflow (<~1e-23), and beyond.
MAGNITUDES = (1.0, 1e19, 1e20, 1e30, 3e38, 1e-23, 1e-25, 1e-40)
# Condition and value counts around the filter limits (and SQLite's ~994-deep expressions).
CONDITION_COUNTS = (63, 64, 65, 994, 1000, 1500)
VALUE_COUNTS = (999, 1000, 1001, 5000)


@st.composite
def vectors(draw: st.DrawFn) -> pb.Vector:
    """Vectors right and wrong: dims off by one, byte lengths off, NaN/Inf, zeros, huge dims."""
    dim = draw(st.one_of(st.just(DIM), u32))
    n = draw(st.one_of(st.just(min(dim, 64)), st.integers(0, 16)))
    values = draw(st.one_of(st.lists(floats32, min_size=n, max_size=n), st.just([0.0] * n)))
    scale = draw(st.sampled_from(MAGNITUDES))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        data = (np.asarray(values, dtype=np.float64) * scale).astype("<f4").tobytes()
    data += draw(st.sampled_from([b"", b"\x00", b"\x01\x02\x03"]))
    return pb.Vector(data=data, dim=dim)


conditions = st.builds(
    lambda f, vals: pb.Condition(field=f, any_of=vals),
    enum_numbers,
    st.lists(st.one_of(st.sampled_from(["dataset", "model", "g0", "g1"]), texts), max_size=4),
)
many_conditions = st.builds(
    lambda n, neg, field: pb.Filter(
        **{"must_not" if neg else "must": [pb.Condition(field=field, any_of=["g0"])] * n}
    ),
    st.sampled_from(CONDITION_COUNTS),
    st.booleans(),
    st.sampled_from([pb.FILTER_FIELD_TAG, pb.FILTER_FIELD_ID, pb.FILTER_FIELD_KIND]),
)
many_values = st.builds(
    lambda n, conds, field: pb.Filter(
        must_not=[pb.Condition(field=field, any_of=[f"v{i}" for i in range(n)])] * conds
    ),
    st.sampled_from(VALUE_COUNTS),
    st.integers(1, 12),
    st.sampled_from([pb.FILTER_FIELD_TAG, pb.FILTER_FIELD_ID, pb.FILTER_FIELD_NAME]),
)
filters = st.one_of(
    st.none(),
    st.builds(
        lambda must, must_not: pb.Filter(must=must, must_not=must_not),
        st.lists(conditions, max_size=3),
        st.lists(conditions, max_size=2),
    ),
    many_conditions,
    many_values,
)
queries = st.one_of(
    st.builds(lambda i: pb.Query(id=i), ids),
    st.builds(lambda v: pb.Query(vector=v), vectors()),
    st.just(pb.Query()),
)
metadata = st.builds(
    lambda name, kind, ttype, labels, tags, src: pb.TaskMetadata(
        name=name, kind=kind, task_type=ttype, label_names=labels, tags=tags, source=pb.TaskSource(prompt=src)
    ),
    texts,
    enum_numbers,
    texts,
    st.lists(texts, max_size=3),
    st.lists(texts, max_size=4),
    texts,
)
tasks = st.builds(
    lambda i, v, m, has_v: pb.Task(id=i, vector=v if has_v else None, metadata=m),
    ids,
    vectors(),
    metadata,
    st.booleans(),
)
identities = st.one_of(
    st.none(),
    st.builds(
        lambda a, b, m, s, seed, v: pb.SpaceIdentity(
            surrogate_name=a, surrogate_hash=b, method=m, settings=s, reduction_seed=seed, algorithm_version=v
        ),
        texts,
        texts,
        texts,
        texts,
        st.integers(0, 2**64 - 1),
        u32,
    ),
)


def _with_filter(request: Any, name: str, f: pb.Filter | None) -> Any:
    """``request`` with its filter field ``name`` set to ``f`` (left unset when None)."""
    if f is not None:
        getattr(request, name).CopyFrom(f)
    return request


# ---------------------------------------------------------------- checks of good replies


def _check_hits(hits: Any, k: int, space: str) -> None:
    assert len(hits) <= max(k, 0) or k == 0
    scores = [h.score for h in hits]
    assert all(math.isfinite(s) and -1.001 <= s <= 1.001 for s in scores), scores
    assert scores == sorted(scores, reverse=True)
    assert len({h.id for h in hits}) == len(hits), "duplicate hits"
    if space == REF:
        assert all(h.id.startswith("r") for h in hits)


# ---------------------------------------------------------------- one property per RPC


@fuzz_settings
@given(name=texts, dim=u32, backend=enum_numbers, metric=enum_numbers, identity=identities)
def test_create_space(
    harness: Harness, name: str, dim: int, backend: Any, metric: Any, identity: Any
) -> None:
    # backend and metric are plain numbers, unknown ones included: typed Any on purpose.
    req = pb.CreateSpaceRequest(name=name, dim=dim, backend=backend, metric=metric, identity=identity)
    reply = harness.call("CreateSpace", req)
    if reply is not None:
        assert reply.name == name and reply.dim == dim
        harness.call("DeleteSpace", pb.DeleteSpaceRequest(name=name))


@fuzz_settings
@given(name=read_spaces)
def test_describe_space(harness: Harness, name: str) -> None:
    reply = harness.call("DescribeSpace", pb.DescribeSpaceRequest(name=name))
    if name == REF:
        assert reply.task_count == N_REF and reply.dim == DIM


@fuzz_settings
@given(name=write_spaces)
def test_delete_space(harness: Harness, name: str) -> None:
    harness.call("DeleteSpace", pb.DeleteSpaceRequest(name=name))


def test_argument_free_rpcs(harness: Harness) -> None:
    assert REF in [s.name for s in harness.call("ListSpaces", pb.ListSpacesRequest()).spaces]
    info = harness.call("GetServerInfo", pb.GetServerInfoRequest())
    assert info.max_message_bytes == MAX_MESSAGE
    harness.call("ListSnapshots", pb.ListSnapshotsRequest())


@fuzz_settings
@given(space=write_spaces, batch=st.lists(tasks, max_size=6), identity=identities)
def test_upsert_tasks(harness: Harness, space: str, batch: list[pb.Task], identity: Any) -> None:
    req = pb.UpsertTasksRequest(space=space, tasks=batch, expected_identity=identity)
    reply = harness.call("UpsertTasks", req)
    if reply is not None:
        assert reply.upserted + reply.failed == len(batch)
        assert len(reply.errors) == reply.failed
        allowed = {c.value[0] for c in ALLOWED["UpsertTasks"]}
        assert all(e.code in allowed and e.message for e in reply.errors), reply.errors


@fuzz_settings
@given(space=write_spaces, batches=st.lists(st.lists(tasks, max_size=4), max_size=4))
def test_upsert_tasks_stream(harness: Harness, space: str, batches: list[list[pb.Task]]) -> None:
    requests = [pb.UpsertTasksRequest(space=space, tasks=b) for b in batches]
    reply = harness.call("UpsertTasksStream", iter(requests))
    if reply is not None:
        assert reply.upserted + reply.failed == sum(len(b) for b in batches)


@fuzz_settings
@given(space=write_spaces, by_ids=st.lists(ids, max_size=5), flt=filters, use_filter=st.booleans())
def test_delete_tasks(
    harness: Harness, space: str, by_ids: list[str], flt: pb.Filter | None, use_filter: bool
) -> None:
    if use_filter:
        req = _with_filter(pb.DeleteTasksRequest(space=space), "filter", flt)
    else:
        req = pb.DeleteTasksRequest(space=space, ids=pb.TaskIds(ids=by_ids))
    harness.call("DeleteTasks", req)


@fuzz_settings
@given(space=read_spaces, wanted=st.lists(ids, max_size=8), with_vectors=st.booleans())
def test_get_tasks(harness: Harness, space: str, wanted: list[str], with_vectors: bool) -> None:
    reply = harness.call("GetTasks", pb.GetTasksRequest(space=space, ids=wanted, with_vectors=with_vectors))
    if reply is not None:
        assert {t.id for t in reply.tasks} | set(reply.missing_ids) == set(wanted)


@fuzz_settings
@given(space=read_spaces, flt=filters, page_size=u32, token=texts, with_vectors=st.booleans())
def test_list_tasks(
    harness: Harness, space: str, flt: pb.Filter | None, page_size: int, token: str, with_vectors: bool
) -> None:
    req = pb.ListTasksRequest(space=space, page_size=page_size, page_token=token, with_vectors=with_vectors)
    req = _with_filter(req, "filter", flt)
    reply = harness.call("ListTasks", req)
    if reply is not None:
        listed = [t.id for t in reply.tasks]
        assert listed == sorted(listed)
        assert len(listed) <= (page_size or 100)


@fuzz_settings
@given(
    space=read_spaces,
    qs=st.lists(queries, max_size=4),
    k=u32,
    flt=filters,
    threshold=st.one_of(st.none(), floats32),
    with_vectors=st.booleans(),
)
def test_find_similar_tasks(
    harness: Harness,
    space: str,
    qs: list[pb.Query],
    k: int,
    flt: pb.Filter | None,
    threshold: float | None,
    with_vectors: bool,
) -> None:
    req = pb.FindSimilarTasksRequest(space=space, queries=qs, k=k, with_vectors=with_vectors)
    req = _with_filter(req, "filter", flt)
    if threshold is not None:
        req.score_threshold = threshold
    reply = harness.call("FindSimilarTasks", req)
    if reply is not None:
        assert len(reply.results) == len(qs)
        for q, result in zip(qs, reply.results, strict=True):
            _check_hits(result.hits, k, space)
            if q.WhichOneof("target") == "id":
                assert q.id not in {h.id for h in result.hits}, "a query id is in its own results"


@fuzz_settings
@given(
    n_queries=st.sampled_from([1, 2, 16, 64, 256]),
    k=st.sampled_from([1, 10, 100, 600, 1024]),
    with_vectors=st.booleans(),
)
def test_reply_sizes(harness: Harness, n_queries: int, k: int, with_vectors: bool) -> None:
    """Searches whose replies span tiny to ~300x the message limit: each one is answered
    in full or refused with RESOURCE_EXHAUSTED, never INTERNAL, and the server stays up."""
    qs = [pb.Query(id=f"b{i % 600}") for i in range(n_queries)]
    req = pb.FindSimilarTasksRequest(space=BIG, queries=qs, k=k, with_vectors=with_vectors)
    reply = harness.call("FindSimilarTasks", req)
    if reply is not None:
        assert [len(r.hits) for r in reply.results] == [min(k, 599)] * n_queries
        assert reply.ByteSize() <= MAX_MESSAGE


@fuzz_settings
@given(flt=st.one_of(many_conditions, many_values), rpc=st.sampled_from(["find", "list", "rank", "delete"]))
def test_filter_sizes(harness: Harness, flt: pb.Filter, rpc: str) -> None:
    """Filters around and far over the limits, on spaces that exist and queries that
    resolve (so the filter is what gets judged): OK or INVALID_ARGUMENT, never INTERNAL."""
    q = pb.Query(id="r0")
    calls = {
        "find": ("FindSimilarTasks", pb.FindSimilarTasksRequest(space=REF, queries=[q], k=5, filter=flt)),
        "list": ("ListTasks", pb.ListTasksRequest(space=REF, filter=flt)),
        "rank": ("RankSourceTasks", pb.RankSourceTasksRequest(space=REF, target=q, candidate_filter=flt)),
        "delete": ("DeleteTasks", pb.DeleteTasksRequest(space=SCRATCH, filter=flt)),
    }
    method, request = calls[rpc]
    harness.call(method, request)


@fuzz_settings
@given(i=st.integers(0, N_REF - 1), scale=st.sampled_from(MAGNITUDES), rpc=st.sampled_from(["find", "rank"]))
def test_scaled_queries_find_their_task(harness: Harness, i: int, scale: float, rpc: str) -> None:
    """A stored vector scaled by any magnitude float32 holds is still its own best match."""
    with np.errstate(over="ignore", under="ignore"):
        v = (harness.ref_vectors[i].astype(np.float64) * scale).astype("<f4")
    if not np.all(np.isfinite(v)) or not np.any(v):
        return  # not a float32 vector any more: refused elsewhere
    q = pb.Query(vector=pb.Vector(data=v.tobytes(), dim=DIM))
    if rpc == "find":
        reply = harness.call("FindSimilarTasks", pb.FindSimilarTasksRequest(space=REF, queries=[q], k=3))
        hits = reply.results[0].hits
    else:
        hits = harness.call("RankSourceTasks", pb.RankSourceTasksRequest(space=REF, target=q, k=3)).ranking
    assert hits[0].id == f"r{i}" and abs(hits[0].score - 1.0) < 1e-4, (scale, hits[0])


@fuzz_settings
@given(space=read_spaces, target=queries, k=u32, flt=filters)
def test_rank_source_tasks(
    harness: Harness, space: str, target: pb.Query, k: int, flt: pb.Filter | None
) -> None:
    req = _with_filter(pb.RankSourceTasksRequest(space=space, target=target, k=k), "candidate_filter", flt)
    reply = harness.call("RankSourceTasks", req)
    if reply is not None:
        _check_hits(reply.ranking, k, space)


@fuzz_settings
@given(space=read_spaces, wanted=st.lists(ids, max_size=6))
def test_similarity_matrix(harness: Harness, space: str, wanted: list[str]) -> None:
    reply = harness.call("SimilarityMatrix", pb.SimilarityMatrixRequest(space=space, ids=wanted))
    if reply is not None:
        n = len(reply.ids)
        m = np.frombuffer(reply.matrix, dtype="<f4").reshape(n, n)
        assert np.all(np.isfinite(m)) and np.allclose(m, m.T, atol=1e-5)
        assert np.allclose(np.diag(m), 1.0, atol=1e-4)


@settings(fuzz_settings, max_examples=12)
@given(name=texts, restore=st.booleans())
def test_snapshots(harness: Harness, name: str, restore: bool) -> None:
    harness.call("CreateSnapshot", pb.CreateSnapshotRequest(name=name))
    if restore:  # restoring a snapshot of this store keeps the reference space as it was
        harness.call("RestoreSnapshot", pb.RestoreSnapshotRequest(name=name))


# ---------------------------------------------------------------- explicit edge cases


def test_huge_k_and_counts_are_refused(harness: Harness) -> None:
    q = [pb.Query(id="r0")]
    for k in (0, 1025, 2**32 - 1):
        with pytest.raises(grpc.RpcError) as err:
            harness.stub.FindSimilarTasks(pb.FindSimilarTasksRequest(space=REF, queries=q, k=k), timeout=10)
        assert err.value.code() == C.INVALID_ARGUMENT
    many = [pb.Query(id="r0")] * 257
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.FindSimilarTasks(pb.FindSimilarTasksRequest(space=REF, queries=many, k=1), timeout=10)
    assert err.value.code() == C.INVALID_ARGUMENT
    harness.assert_healthy()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_vectors_are_refused_everywhere(harness: Harness, bad: float) -> None:
    v = np.ones(DIM, np.float32)
    v[3] = bad
    vec = pb.Vector(data=v.astype("<f4").tobytes(), dim=DIM)
    reply = harness.stub.UpsertTasks(
        pb.UpsertTasksRequest(space=SCRATCH, tasks=[pb.Task(id="nan", vector=vec)]), timeout=10
    )
    assert reply.failed == 1 and reply.errors[0].code == C.INVALID_ARGUMENT.value[0]
    for call, req in (
        ("FindSimilarTasks", pb.FindSimilarTasksRequest(space=REF, queries=[pb.Query(vector=vec)], k=3)),
        ("RankSourceTasks", pb.RankSourceTasksRequest(space=REF, target=pb.Query(vector=vec))),
    ):
        with pytest.raises(grpc.RpcError) as err:
            getattr(harness.stub, call)(req, timeout=10)
        assert err.value.code() == C.INVALID_ARGUMENT, call
    harness.assert_healthy()


def test_oversized_request_and_reply_are_resource_exhausted(harness: Harness) -> None:
    big = np.ones(BIG_DIM, np.float32).astype("<f4").tobytes()
    too_many = [pb.Task(id=f"x{i}", vector=pb.Vector(data=big, dim=BIG_DIM)) for i in range(700)]  # ~1.4 MiB
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.UpsertTasks(pb.UpsertTasksRequest(space=BIG, tasks=too_many), timeout=20)
    assert err.value.code() == C.RESOURCE_EXHAUSTED
    # 600 stored 512-d vectors are 1.2 MiB: too big a reply for a 1 MiB limit.
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.GetTasks(
            pb.GetTasksRequest(space=BIG, ids=[f"b{i}" for i in range(600)], with_vectors=True), timeout=20
        )
    assert err.value.code() == C.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.SimilarityMatrix(
            pb.SimilarityMatrixRequest(space=BIG, ids=[f"b{i}" for i in range(600)]), timeout=20
        )
    assert err.value.code() == C.RESOURCE_EXHAUSTED  # 600 x 600 x 4 bytes
    assert harness.stub.DescribeSpace(pb.DescribeSpaceRequest(name=BIG), timeout=10).task_count == 600
    harness.assert_healthy()


def test_odd_unicode_metadata_round_trips(harness: Harness) -> None:
    vec = pb.Vector(data=np.ones(DIM, "<f4").tobytes(), dim=DIM)
    odd = [t for t in ODD_TEXT if t and len(t.encode()) <= 256]
    space = "odd-unicode"
    harness.stub.CreateSpace(pb.CreateSpaceRequest(name=space, dim=DIM), timeout=10)
    req = pb.UpsertTasksRequest(
        space=space,
        tasks=[
            pb.Task(
                id=t, vector=vec, metadata=pb.TaskMetadata(name=t, task_type=t, tags=[t], label_names=[t])
            )
            for t in odd
        ],
    )
    reply = harness.stub.UpsertTasks(req, timeout=10)
    assert reply.failed == 0, reply.errors
    got = harness.stub.GetTasks(pb.GetTasksRequest(space=space, ids=odd), timeout=10)
    assert [t.id for t in got.tasks] == odd
    for t in got.tasks:
        assert t.metadata.task_type == t.id and list(t.metadata.tags) == [t.id]
    for t in odd:  # a filter on the odd value finds exactly that task
        flt = pb.Filter(must=[pb.Condition(field=pb.FILTER_FIELD_TAG, any_of=[t])])
        listed = harness.stub.ListTasks(pb.ListTasksRequest(space=space, filter=flt), timeout=10)
        assert [x.id for x in listed.tasks] == [t]
    harness.assert_healthy()
