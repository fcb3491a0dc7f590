"""Helpers of the reliability tests: loopback configs, raw stubs, checks.

The free port and the ``python -m server serve`` subprocess are in the shared ``kit``
(``tests/kit/``); this module adds what only these tests need: loopback configs, raw
stubs, error details and a consistency check of a whole space over gRPC.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from fute_client import TaskSearchClient
from fute_client.contract import services as pb_grpc
from server.app import TaskSearchServer, create_server
from server.config import IndexParams, ServerConfig, StoreConfig
from server.store.metadata import row_crc, vector_crc


def loopback_config(path: Path, **kwargs: Any) -> ServerConfig:
    """An in-process server config on 127.0.0.1, port 0, CPU, small IVF parameters."""
    store_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("max_k", "max_queries", "max_batch")}
    store = StoreConfig(
        path=path, device="cpu", index_params=IndexParams(ivf_nlist=16, ivf_nprobe=16), **store_kwargs
    )
    return ServerConfig(store=store, host="127.0.0.1", port=0, workers=8, grace_s=1.0, **kwargs)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    x = np.asarray(x, dtype=np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return out


def assert_space_consistent(
    c: TaskSearchClient, space: str, dim: int, *, exact: bool = True
) -> dict[str, np.ndarray]:
    """Check that a space's index and metadata agree; returns its stored vectors by id.

    * ``DescribeSpace.task_count`` equals the number of tasks listed page by page;
    * a search with k = all returns only listed ids, and on an exact (flat) space exactly
      the listed ids (no orphan in the index, no task missing from it);
    * each task's own vector finds it first with cosine ~1.
    """
    stored = {t.id: t.vector for t in c.iter_tasks(space, page_size=1000, with_vectors=True)}
    vectors = {k: v for k, v in stored.items() if v is not None}
    assert len(vectors) == len(stored), "ListTasks returned tasks without vectors"
    assert c.describe_space(space).task_count == len(vectors)
    if not vectors:
        return vectors
    ids = sorted(vectors)
    matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
    assert matrix.shape[1] == dim
    k = min(len(ids), 1024)
    everything = [h.id for h in c.search(space, matrix[:1], k=k)[0]]
    assert set(everything) <= set(ids), f"{space}: the index returns ids the metadata lacks"
    if exact and len(ids) <= k:
        assert sorted(everything) == ids, f"{space}: index and metadata disagree on the ids"
    for start in range(0, len(ids), 256):
        block = matrix[start : start + 256]
        for task_id, hits in zip(ids[start : start + 256], c.search(space, block, k=1), strict=True):
            assert hits and hits[0].id == task_id, f"{task_id} is not found by its own vector"
            assert abs(hits[0].score - 1.0) < 1e-4
    return vectors


@contextlib.contextmanager
def in_process_server(path: Path, **kwargs: Any) -> Iterator[tuple[TaskSearchServer, str]]:
    """A started loopback server on ``path`` (see :func:`loopback_config`) and its target;
    stopped on exit."""
    server, port = create_server(loopback_config(path, **kwargs))
    try:
        yield server, f"127.0.0.1:{port}"
    finally:
        server.stop(0.5)


@contextlib.contextmanager
def raw_stubs(target: str) -> Iterator[tuple[pb_grpc.TaskSearchStub, health_pb2_grpc.HealthStub]]:
    """Raw TaskSearch and Health stubs on one channel (no client-side validation)."""
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 << 20)])
    try:
        yield pb_grpc.TaskSearchStub(channel), health_pb2_grpc.HealthStub(channel)
    finally:
        channel.close()


def error_reason(exc: grpc.RpcError) -> str | None:
    """The ``ErrorInfo.reason`` the servicer attached, ``None`` when there is none (an
    error made by the transport, not by our code)."""
    status = rpc_status.from_call(exc)
    if status is None or not status.details:
        return None
    info = error_details_pb2.ErrorInfo()
    return info.reason if status.details[0].Unpack(info) else None


def serving(health: health_pb2_grpc.HealthStub) -> bool:
    """Whether health says SERVING for the whole server."""
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def poison_first_vector(conn: sqlite3.Connection, vector: np.ndarray) -> str:
    """Overwrite the vector of the first task row with ``vector`` and recompute both of its
    checksums, as a tool (or an older server) could have written it; returns the task id.

    The checksums then pass, so only the server's vector validation can catch it.
    """
    r = conn.execute(
        "SELECT vec_id, space, id, name, kind, task_type, label_names, dataset_path, model, prompt,"
        " created, updated FROM tasks ORDER BY vec_id LIMIT 1"
    ).fetchone()
    tags = [t for (t,) in conn.execute("SELECT tag FROM task_tags WHERE vec_id = ?", (r[0],))]
    blob = np.asarray(vector, dtype="<f4").tobytes()
    vcrc = vector_crc(r[1], r[2], blob)
    rcrc = row_crc(vcrc, r[1], r[2], r[3:10], r[10], r[11], tags)
    conn.execute(
        "UPDATE tasks SET vector = ?, crc = ?, row_crc = ? WHERE vec_id = ?", (blob, vcrc, rcrc, r[0])
    )
    return str(r[2])
