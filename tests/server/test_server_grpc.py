"""gRPC-only behaviour: status codes on the wire, limits, health, reflection, auth, TLS,
retries, streaming and the asyncio client. The server is real, on a loopback port."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from kit import brute_force_ids, self_signed_cert
from server_testkit import make_tasks, server_config

from fute_client import AsyncTaskSearchClient, TaskSearchClient
from fute_client.contract import messages as pb
from fute_client.contract import services as pb_grpc
from fute_client.errors import (
    AuthError,
    DeadlineExceededError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnavailableError,
)
from fute_client.types import Task
from server.app import SERVICE_NAME, TaskSearchServer, create_server, rpc_executor


def raw_stub(port: int) -> tuple[grpc.Channel, pb_grpc.TaskSearchStub]:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return channel, pb_grpc.TaskSearchStub(channel)


def status_of(call: Any, *args: object) -> tuple[grpc.StatusCode, str, list[str]]:
    """(code, details, ErrorInfo reasons) of a failing raw call."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=5)
    err = info.value
    reasons = []
    status = rpc_status.from_call(err)
    if status is not None:
        for d in status.details:
            ei = error_details_pb2.ErrorInfo()
            if d.Unpack(ei):
                reasons.append(ei.reason)
    return err.code(), err.details(), reasons


def vec(*values: float) -> pb.Vector:
    """A wire vector of the given values."""
    return pb.Vector(data=np.asarray(values, "<f4").tobytes(), dim=len(values))


def test_wire_status_codes_and_server_keeps_serving(
    running_server: tuple[TaskSearchServer, int], client: TaskSearchClient
) -> None:
    _, port = running_server
    client.create_space("s", 4)
    client.upsert("s", [Task(id="a", vector=np.ones(4, np.float32))])
    channel, stub = raw_stub(port)
    cases = [
        # (request, expected code): each documented in docs/service.md
        (
            pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(vector=vec(1, 2, 3))], k=3),
            "INVALID_ARGUMENT",
        ),
        (
            pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(vector=vec(1, np.nan, 0, 0))], k=3),
            "INVALID_ARGUMENT",
        ),
        (
            pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(vector=vec(1, 0, 0, 0))], k=0),
            "INVALID_ARGUMENT",
        ),
        (
            pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(vector=vec(1, 0, 0, 0))], k=5000),
            "INVALID_ARGUMENT",
        ),
        (pb.FindSimilarTasksRequest(space="s", queries=[pb.Query()], k=1), "INVALID_ARGUMENT"),
        (pb.FindSimilarTasksRequest(space="s", queries=[], k=1), "INVALID_ARGUMENT"),
        # 7 bytes cannot hold dim 2 float32 values.
        (
            pb.FindSimilarTasksRequest(
                space="s", queries=[pb.Query(vector=pb.Vector(data=b"1234567", dim=2))], k=1
            ),
            "INVALID_ARGUMENT",
        ),
        (pb.FindSimilarTasksRequest(space="s", queries=[pb.Query(id="zzz")], k=1), "NOT_FOUND"),
        (pb.FindSimilarTasksRequest(space="nope", queries=[pb.Query(id="a")], k=1), "NOT_FOUND"),
        (
            pb.FindSimilarTasksRequest(
                space="s",
                queries=[pb.Query(id="a")],
                k=1,
                filter=pb.Filter(must=[pb.Condition(any_of=["x"])]),
            ),
            "INVALID_ARGUMENT",
        ),
    ]
    for request, code in cases:
        got, details, reasons = status_of(stub.FindSimilarTasks, request)
        assert got.name == code, (request, details)
        assert details and reasons, "status carries a message and an ErrorInfo detail"
    assert status_of(stub.CreateSpace, pb.CreateSpaceRequest(name="s", dim=4))[0].name == "ALREADY_EXISTS"
    assert status_of(stub.CreateSpace, pb.CreateSpaceRequest(name="z", dim=0))[0].name == "INVALID_ARGUMENT"
    assert status_of(stub.DeleteTasks, pb.DeleteTasksRequest(space="s"))[0].name == "INVALID_ARGUMENT"
    assert status_of(stub.RestoreSnapshot, pb.RestoreSnapshotRequest(name="none"))[0].name == "NOT_FOUND"
    assert (
        status_of(stub.RestoreSnapshot, pb.RestoreSnapshotRequest(name="../x"))[0].name == "INVALID_ARGUMENT"
    )
    # A malformed item of a batch is reported per item, with its code number.
    reply = stub.UpsertTasks(
        pb.UpsertTasksRequest(space="s", tasks=[pb.Task(id="b", vector=pb.Vector(data=b"123", dim=1))]),
        timeout=5,
    )
    assert (reply.upserted, reply.failed) == (0, 1) and reply.errors[
        0
    ].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    channel.close()
    assert client.search("s", ["a"], k=1) == [[]]  # only itself, excluded
    assert client.get("s", ["a"])[0].id == "a"


def test_message_size_limit_is_enforced(client: TaskSearchClient) -> None:
    # The fixture server allows 4 MiB; this request is ~4.8 MiB.
    client.create_space("big", 1024)
    tasks, _ = make_tasks(1200, 1024)
    with pytest.raises(ResourceExhaustedError):
        client.upsert("big", tasks)
    assert client.describe_space("big").task_count == 0
    assert client.upsert("big", tasks[:100]).upserted == 100


def test_deadline_is_honoured_while_a_writer_holds_the_store(
    client: TaskSearchClient, running_server: tuple[TaskSearchServer, int]
) -> None:
    server, _ = running_server
    client.create_space("d", 4)
    store = server.store
    assert store is not None
    release = threading.Event()

    def hold() -> None:
        with store._lock.write():  # a long write in progress
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(DeadlineExceededError):
            client.search("d", [np.ones(4)], k=1, timeout=0.3)
        assert time.perf_counter() - t0 < 2
    finally:
        release.set()
        holder.join()
    assert client.search("d", [np.ones(4)], k=1) == [[]]


def test_health_and_reflection(running_server: tuple[TaskSearchServer, int]) -> None:
    _, port = running_server
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= services
    pool = descriptor_pool.DescriptorPool(db)
    service = pool.FindServiceByName(SERVICE_NAME)
    assert "FindSimilarTasks" in {m.name for m in service.methods}
    assert pool.FindMessageTypeByName("fute.v1.Vector").fields_by_name["dim"].number == 2
    channel.close()


def test_health_not_serving_after_shutdown_begins(tmp_path: Path) -> None:
    server, port = create_server(server_config(tmp_path / "h"))
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(channel)
    server.health.enter_graceful_shutdown()
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    channel.close()
    server.stop(0.5)


def test_auth_tokens(tmp_path: Path) -> None:
    config = server_config(
        tmp_path / "auth", read_tokens=frozenset({"reader"}), write_tokens=frozenset({"writer"})
    )
    server, port = create_server(config)
    target = f"127.0.0.1:{port}"
    try:
        with TaskSearchClient(target, token="writer") as writer:
            writer.create_space("s", 4)
            writer.upsert("s", [Task(id="a", vector=np.ones(4))])
            assert writer.server_info().auth_enabled
        with TaskSearchClient(target) as anonymous, pytest.raises(AuthError):
            anonymous.search("s", ["a"], k=1)
        with TaskSearchClient(target, token="guess") as wrong, pytest.raises(AuthError):
            wrong.list_spaces()
        with TaskSearchClient(target, token="reader") as reader:
            assert reader.get("s", ["a"])[0].id == "a"
            with pytest.raises(PermissionDeniedError):
                reader.upsert("s", [Task(id="b", vector=np.ones(4))])
            with pytest.raises(PermissionDeniedError):
                reader.upsert_stream("s", [[Task(id="b", vector=np.ones(4))]])
            with pytest.raises(PermissionDeniedError):
                reader.delete("s", ids=["a"])
            assert reader.describe_space("s").task_count == 1
        # Health stays open without a token.
        channel = grpc.insecure_channel(target)
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        channel.close()
    finally:
        server.stop(0.5)


def test_tls(tmp_path: Path) -> None:
    key, cert = self_signed_cert(tmp_path)
    server, port = create_server(server_config(tmp_path / "tls", tls_cert=cert, tls_key=key))
    try:
        with TaskSearchClient(f"localhost:{port}", root_certificates=cert.read_bytes()) as c:
            assert c.server_info().version
        with (
            TaskSearchClient(f"localhost:{port}", max_attempts=1, timeout=2) as plain,
            pytest.raises(UnavailableError),
        ):
            plain.server_info()
    finally:
        server.stop(0.5)


def test_streaming_upsert_and_request_id(
    client: TaskSearchClient, running_server: tuple[TaskSearchServer, int]
) -> None:
    tasks, vectors = make_tasks(90, 8)
    client.create_space("st", 8)
    bad = Task(id="bad", vector=np.ones(3))
    result = client.upsert_stream("st", [tasks[:30], [*tasks[30:60], bad], tasks[60:]])
    assert (result.upserted, result.failed) == (90, 1)
    assert client.describe_space("st").task_count == 90
    hits = client.search("st", vectors[:1], k=5)[0]
    assert [h.id for h in hits] == brute_force_ids(vectors, tasks, vectors[0], 5)
    # The request id comes back in the initial metadata (client's own, when it sends one).
    _, port = running_server
    channel, stub = raw_stub(port)
    _, call = stub.ListSpaces.with_call(
        pb.ListSpacesRequest(), metadata=(("x-request-id", "abc123"),), timeout=5
    )
    assert ("x-request-id", "abc123") in tuple(call.initial_metadata())
    channel.close()


def test_async_client_matches_sync(
    client: TaskSearchClient, running_server: tuple[TaskSearchServer, int]
) -> None:
    tasks, vectors = make_tasks(40, 8)
    client.create_space("as", 8)

    async def run() -> list[list[str]]:
        async with AsyncTaskSearchClient(f"127.0.0.1:{running_server[1]}") as ac:
            assert (await ac.upsert("as", tasks)).upserted == 40
            results = await asyncio.gather(*(ac.search("as", [vectors[i]], k=4) for i in range(5)))
            assert [t.id async for t in ac.iter_tasks("as", page_size=7)] == sorted(t.id for t in tasks)
            return [[h.id for h in r[0]] for r in results]

    got = asyncio.run(run())
    assert got == [[h.id for h in client.search("as", [vectors[i]], k=4)[0]] for i in range(5)]


def test_async_client_streams_and_translates_errors(
    client: TaskSearchClient, running_server: tuple[TaskSearchServer, int]
) -> None:
    """The async twins of upsert_stream and iter_tasks: results and error classes as the sync ones."""
    tasks, _ = make_tasks(20, 8)
    client.create_space("ast", 8)

    async def run() -> tuple[int, int]:
        async with AsyncTaskSearchClient(f"127.0.0.1:{running_server[1]}") as ac:
            result = await ac.upsert_stream("ast", [tasks[:7], tasks[7:]])
            with pytest.raises(NotFoundError):
                await ac.upsert_stream("missing", [tasks[:2]])
            with pytest.raises(NotFoundError):
                [t async for t in ac.iter_tasks("missing")]
            return result.upserted, result.failed

    assert asyncio.run(run()) == (20, 0)
    with pytest.raises(NotFoundError):
        client.upsert_stream("missing", [tasks[:2]])
    assert [t.id for t in client.iter_tasks("ast", page_size=6)] == sorted(t.id for t in tasks)


def test_sync_and_async_clients_expose_the_same_api() -> None:
    """Same methods, parameters (names, kinds, defaults, annotations), returns and docstrings."""

    def public(cls: type) -> dict[str, object]:
        return {
            name: fn
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name != "close"
        }

    sync, aio = public(TaskSearchClient), public(AsyncTaskSearchClient)
    assert sorted(sync) == sorted(aio)
    for name, fn in sync.items():
        afn = aio[name]
        assert inspect.iscoroutinefunction(afn) or inspect.isasyncgenfunction(afn), name
        s, a = inspect.signature(fn), inspect.signature(afn)  # type: ignore[arg-type]
        assert list(s.parameters.values()) == list(a.parameters.values()), name
        ret = str(s.return_annotation).replace("Iterator[", "AsyncIterator[")
        assert ret == str(a.return_annotation), name
        assert inspect.getdoc(fn) == inspect.getdoc(afn), name


class _Flaky(pb_grpc.TaskSearchServicer):
    """Answers UNAVAILABLE to the first two calls, then succeeds."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetServerInfoResponse:
        with self.lock:
            self.calls += 1
            n = self.calls
        if n <= 2:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return pb.GetServerInfoResponse(version="flaky")


def test_client_retries_unavailable() -> None:
    flaky = _Flaky()  # type: ignore[abstract]  # only GetServerInfo is needed
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_TaskSearchServicer_to_server(flaky, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with TaskSearchClient(f"127.0.0.1:{port}", max_attempts=4) as c:
            t0 = time.perf_counter()
            assert c.server_info().version == "flaky"
            assert flaky.calls == 3 and time.perf_counter() - t0 < 5
        flaky.calls = 0
        with TaskSearchClient(f"127.0.0.1:{port}", max_attempts=1) as c, pytest.raises(UnavailableError):
            c.server_info()
    finally:
        server.stop(0)


def test_concurrent_readers_alongside_a_writer(client: TaskSearchClient) -> None:
    tasks, vectors = make_tasks(400, 16, seed=3)
    client.create_space("c", 16)
    client.upsert("c", tasks[:100])
    errors: list[BaseException] = []
    stop = threading.Event()
    searches = [0]

    def read() -> None:
        rng = np.random.default_rng()
        while not stop.is_set():
            try:
                hits = client.search("c", [rng.normal(size=16)], k=10)[0]
                scores = [h.score for h in hits]
                assert len(hits) == 10 and scores == sorted(scores, reverse=True)
                assert len({h.id for h in hits}) == 10  # never a duplicate mid-upsert
                searches[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for r in readers:
        r.start()
    for start in range(100, 400, 30):  # new tasks, and replacements of old ones
        client.upsert("c", tasks[start : start + 30] + tasks[start - 100 : start - 70])
    stop.set()
    for r in readers:
        r.join(10)
    assert not errors, errors[0]
    assert searches[0] > 0
    assert client.describe_space("c").task_count == 400
    hits = client.search("c", vectors[:3], k=5)
    assert [[h.id for h in hs] for hs in hits] == [brute_force_ids(vectors, tasks, v, 5) for v in vectors[:3]]


def test_serving_threads_get_their_own_openmp_share(tmp_path: Path) -> None:
    import faiss

    # OpenMP's thread count is per calling thread; a serving thread must not inherit the
    # whole machine's (which would oversubscribe the cores under concurrent calls).
    pool = rpc_executor(workers=3, threads_per_call=1)
    try:
        seen = {f.result() for f in [pool.submit(faiss.omp_get_max_threads) for _ in range(6)]}
    finally:
        pool.shutdown()
    assert seen == {1}
    cfg = server_config(tmp_path / "s")
    assert cfg.threads_per_call == max(1, (os.cpu_count() or 1) // cfg.workers)
    assert server_config(tmp_path / "s", search_threads=3).threads_per_call == 3


@pytest.mark.parametrize("flag", ["--workers", "--search-threads"])
def test_serve_refuses_a_thread_count_below_one(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from server.cli import register

    parser = argparse.ArgumentParser(prog="fute")
    register(parser.add_subparsers())
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["serve", "--store", "s", flag, "0"])
    assert info.value.code == 2
    assert f"argument {flag}: must be >= 1, got 0" in capsys.readouterr().err
    assert parser.parse_args(["serve", "--store", "s", flag, "3"]).__dict__[flag[2:].replace("-", "_")] == 3
