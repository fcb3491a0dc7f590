"""Auth matrix over every RPC of the service, and undecodable request bytes (refused
with INVALID_ARGUMENT, never INTERNAL).

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
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_kit import loopback_config

from fute_client.contract import messages as pb
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


def _decodes(method: str, body: bytes) -> bool:
    """Whether ``body`` parses as the request message of ``method``."""
    input_type = pb.DESCRIPTOR.services_by_name["TaskSearch"].methods_by_name[method].input_type
    try:
        getattr(pb, input_type.name).FromString(body)
    except Exception:
        return False
    return True


def _send(raw: Raw, method: str, bodies: list[bytes]) -> None:
    path = f"/{SERVICE_NAME}/{method}"
    if method == "UpsertTasksStream":
        raw.channel.stream_unary(path)(iter(bodies), timeout=10)
    else:
        raw.channel.unary_unary(path)(bodies[0], timeout=10)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(method=st.sampled_from(METHODS), body=st.binary(max_size=64))
def test_arbitrary_request_bytes_never_hurt_the_server(open_server: Raw, method: str, body: bytes) -> None:
    """Bytes that are not a valid message are refused with INVALID_ARGUMENT (never
    INTERNAL); bytes that decode get the answer of that request; the server keeps serving."""
    try:
        _send(open_server, method, [body])
    except grpc.RpcError as exc:
        if not _decodes(method, body):
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, body, exc.code(), exc.details())
            assert "not a valid request message" in exc.details(), exc.details()
        else:
            assert exc.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.ALREADY_EXISTS,
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.DATA_LOSS,
            ), (method, exc.code(), exc.details())
    else:
        assert _decodes(method, body), f"{method} accepted undecodable bytes {body!r}"
    assert open_server.code("DescribeSpace", pb.DescribeSpaceRequest(name="s")) in (
        grpc.StatusCode.OK,
        grpc.StatusCode.NOT_FOUND,  # the bytes may have been a valid DeleteSpace of "s"
    )
    assert open_server.code("GetServerInfo", pb.GetServerInfoRequest()) == grpc.StatusCode.OK


# Truncated tag varint; a string field of invalid UTF-8; a length running past the end.
UNDECODABLE = (b"\xff", b"\x0a\x01\xff", b"\x0a\x7f")


@pytest.mark.parametrize("method", METHODS)
def test_undecodable_request_is_invalid_argument(open_server: Raw, method: str) -> None:
    for body in UNDECODABLE:
        if _decodes(method, body):
            continue  # e.g. field 1 unknown to an empty request message: skipped, valid
        with pytest.raises(grpc.RpcError) as info:
            _send(open_server, method, [body])
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, body, info.value.details())
        assert f"request bytes of {method}" in info.value.details(), info.value.details()
        status = rpc_status.from_call(info.value)
        assert status is not None and status.details, "no ErrorInfo detail"
    assert not _decodes(method, b"\xff")  # every method saw at least one undecodable body


def test_undecodable_message_inside_a_stream_is_invalid_argument(open_server: Raw) -> None:
    good = pb.UpsertTasksRequest(space="s", tasks=[pb.Task(id="stream-ok", vector=_vec(9))])
    with pytest.raises(grpc.RpcError) as info:
        _send(open_server, "UpsertTasksStream", [good.SerializeToString(), b"\xff"])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert "UpsertTasksStream" in info.value.details()


def test_undecodable_bytes_without_token_are_unauthenticated(
    auth_server: tuple[TaskSearchServer, Raw],
) -> None:
    """Auth is decided before the body is looked at."""
    _, raw = auth_server
    with pytest.raises(grpc.RpcError) as info:
        _send(raw, "GetTasks", [b"\xff"])
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        raw.channel.unary_unary(f"/{SERVICE_NAME}/GetTasks")(b"\xff", timeout=10, metadata=_bearer(READ))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
