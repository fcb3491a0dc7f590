"""Auth matrix over every RPC of the service, and undecodable request bytes.

The RPC list comes from the service descriptor, so an RPC added later is covered
automatically; which of them write is stated here independently of ``server.auth``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_kit import loopback_config

from fute_client._generated.fute.v1 import task_search_pb2 as pb
from server.app import SERVICE_NAME, TaskSearchServer, create_server

READ, WRITE = "read-token-123", "write-token-456"
WRITES = frozenset(
    {
        "CreateSpace",
        "DeleteSpace",
        "UpsertTasks",
        "UpsertTasksStream",
        "DeleteTasks",
        "CreateSnapshot",
        "RestoreSnapshot",
    }
)
METHODS = tuple(m.name for m in pb.DESCRIPTOR.services_by_name["TaskSearch"].methods)
AUTH_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def _vec(seed: int) -> pb.Vector:
    v = np.random.default_rng(seed).normal(size=4).astype("<f4")
    return pb.Vector(data=v.tobytes(), dim=4)


def _request(method: str) -> Any:
    """A valid request of each RPC against space ``s`` (which holds tasks ``a`` and ``b``)."""
    requests: dict[str, Any] = {
        "CreateSpace": pb.CreateSpaceRequest(name="new", dim=4),
        "ListSpaces": pb.ListSpacesRequest(),
        "DescribeSpace": pb.DescribeSpaceRequest(name="s"),
        "DeleteSpace": pb.DeleteSpaceRequest(name="s"),
        "UpsertTasks": pb.UpsertTasksRequest(space="s", tasks=[pb.Task(id="c", vector=_vec(3))]),
        "UpsertTasksStream": iter(
            [pb.UpsertTasksRequest(space="s", tasks=[pb.Task(id="d", vector=_vec(4))])]
        ),
        "DeleteTasks": pb.DeleteTasksRequest(space="s", ids=pb.TaskIds(ids=["a"])),
        "GetTasks": pb.GetTasksRequest(space="s", ids=["a"]),
        "ListTasks": pb.ListTasksRequest(space="s"),
        "FindSimilarTasks": pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(id="a")], k=1),
        "RankSourceTasks": pb.RankSourceTasksRequest(space="s", target=pb.Query(id="a")),
        "SimilarityMatrix": pb.SimilarityMatrixRequest(space="s", ids=["a", "b"]),
        "CreateSnapshot": pb.CreateSnapshotRequest(name="snap-2"),
        "ListSnapshots": pb.ListSnapshotsRequest(),
        "RestoreSnapshot": pb.RestoreSnapshotRequest(name="snap"),
        "GetServerInfo": pb.GetServerInfoRequest(),
    }
    assert set(requests) == set(METHODS), "the service has RPCs this test does not know"
    return requests[method]


class Raw:
    """Calls by method name with arbitrary metadata or arbitrary request bytes."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)

    def call(self, method: str, request: Any, metadata: tuple[tuple[str, str], ...] = ()) -> Any:
        path = f"/{SERVICE_NAME}/{method}"
        out_type: Any = {
            "CreateSpace": pb.Space,
            "DescribeSpace": pb.Space,
            "CreateSnapshot": pb.Snapshot,
            "UpsertTasksStream": pb.UpsertTasksResponse,
            "GetServerInfo": pb.GetServerInfoResponse,
        }.get(method) or getattr(pb, f"{method}Response")
        if method == "UpsertTasksStream":
            stream = self.channel.stream_unary(path, lambda m: m.SerializeToString(), out_type.FromString)
            return stream(request, timeout=10, metadata=metadata)
        unary = self.channel.unary_unary(path, lambda m: m.SerializeToString(), out_type.FromString)
        return unary(request, timeout=10, metadata=metadata)

    def code(self, method: str, request: Any, metadata: tuple[tuple[str, str], ...] = ()) -> grpc.StatusCode:
        try:
            self.call(method, request, metadata)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
        return grpc.StatusCode.OK


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[tuple[TaskSearchServer, Raw]]:
    config = loopback_config(
        tmp_path / "auth", read_tokens=frozenset({READ}), write_tokens=frozenset({WRITE})
    )
    server, port = create_server(config)
    raw = Raw(f"127.0.0.1:{port}")
    raw.call("CreateSpace", pb.CreateSpaceRequest(name="s", dim=4), _bearer(WRITE))
    raw.call(
        "UpsertTasks",
        pb.UpsertTasksRequest(
            space="s", tasks=[pb.Task(id="a", vector=_vec(1)), pb.Task(id="b", vector=_vec(2))]
        ),
        _bearer(WRITE),
    )
    raw.call("CreateSnapshot", pb.CreateSnapshotRequest(name="snap"), _bearer(WRITE))
    yield server, raw
    raw.channel.close()
    server.stop(1.0)


def _store_state(raw: Raw) -> tuple[Any, ...]:
    spaces = raw.call("ListSpaces", pb.ListSpacesRequest(), _bearer(READ))
    tasks = raw.call("ListTasks", pb.ListTasksRequest(space="s", with_vectors=True), _bearer(READ))
    snaps = raw.call("ListSnapshots", pb.ListSnapshotsRequest(), _bearer(READ))
    return (
        [(s.name, s.task_count) for s in spaces.spaces],
        [(t.id, t.vector.data) for t in tasks.tasks],
        [s.name for s in snaps.snapshots],
    )


def test_every_rpc_refuses_missing_and_unknown_tokens(auth_server: tuple[TaskSearchServer, Raw]) -> None:
    _, raw = auth_server
    before = _store_state(raw)
    bad_metadata: tuple[tuple[tuple[str, str], ...], ...] = (
        (),
        _bearer("not-a-token"),
        _bearer(""),
        (("authorization", f"Basic {WRITE}"),),
        (("authorization", WRITE),),
        (("authorization", f"Bearer {WRITE}x"),),
        (("x-api-key", WRITE),),
    )
    for method in METHODS:
        for md in bad_metadata:
            assert raw.code(method, _request(method), md) == grpc.StatusCode.UNAUTHENTICATED, (method, md)
    assert _store_state(raw) == before, "a refused call changed the store"


def test_read_token_reads_but_cannot_write(auth_server: tuple[TaskSearchServer, Raw]) -> None:
    _, raw = auth_server
    before = _store_state(raw)
    for method in METHODS:
        code = raw.code(method, _request(method), _bearer(READ))
        if method in WRITES:
            assert code == grpc.StatusCode.PERMISSION_DENIED, method
        else:
            assert code == grpc.StatusCode.OK, (method, code)
    assert _store_state(raw) == before, "a read-only token changed the store"


def test_write_token_may_call_everything(auth_server: tuple[TaskSearchServer, Raw]) -> None:
    _, raw = auth_server
    # Reads first, then writes, DeleteSpace and RestoreSnapshot last (they change the rest).
    order = sorted(METHODS, key=lambda m: (m in WRITES, m in ("DeleteSpace", "RestoreSnapshot"), m))
    for method in order:
        code = raw.code(method, _request(method), _bearer(WRITE))
        assert code not in AUTH_CODES, (method, code)
        assert code == grpc.StatusCode.OK, (method, code)


def test_health_stays_open_with_auth_on(auth_server: tuple[TaskSearchServer, Raw]) -> None:
    _, raw = auth_server
    reply = health_pb2_grpc.HealthStub(raw.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# ---------------------------------------------------------------- undecodable bytes


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Raw]:
    server, port = create_server(loopback_config(tmp_path_factory.mktemp("raw") / "raw"))
    raw = Raw(f"127.0.0.1:{port}")
    raw.call("CreateSpace", pb.CreateSpaceRequest(name="s", dim=4))
    yield raw
    raw.channel.close()
    server.stop(1.0)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(method=st.sampled_from(METHODS), body=st.binary(max_size=64))
def test_arbitrary_request_bytes_never_hurt_the_server(open_server: Raw, method: str, body: bytes) -> None:
    """Bytes that are not a valid message are refused; the server keeps serving.

    grpcio answers a request it cannot decode with INTERNAL "Exception deserializing
    request!" before any of our code runs; that is the only INTERNAL allowed here.
    """
    path = f"/{SERVICE_NAME}/{method}"
    try:
        if method == "UpsertTasksStream":
            open_server.channel.stream_unary(path)(iter([body]), timeout=10)
        else:
            open_server.channel.unary_unary(path)(body, timeout=10)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INTERNAL:
            assert exc.details() == "Exception deserializing request!", exc.details()
        else:
            assert exc.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.ALREADY_EXISTS,
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.DATA_LOSS,
            ), (method, exc.code(), exc.details())
    assert open_server.code("DescribeSpace", pb.DescribeSpaceRequest(name="s")) in (
        grpc.StatusCode.OK,
        grpc.StatusCode.NOT_FOUND,  # the bytes may have been a valid DeleteSpace of "s"
    )
    assert open_server.code("GetServerInfo", pb.GetServerInfoRequest()) == grpc.StatusCode.OK
