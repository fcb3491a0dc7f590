"""Request builders, reply parsers and the connection shared by the sync and asyncio clients.

Each public client method is ``call = build(...)`` then ``call.parse(stub_method(call.request))``,
so the two clients cannot drift apart: only the transport differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

import grpc
import numpy as np

from fute_client import conversions as cv
from fute_client._generated.fute.v1 import task_search_pb2 as pb
from fute_client._generated.fute.v1 import task_search_pb2_grpc as pb_grpc
from fute_client.errors import InvalidArgumentError
from fute_client.types import (
    Filter,
    Hit,
    Page,
    QueryTarget,
    Ranking,
    RankOrder,
    ServerInfo,
    Similarity,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    UpsertResult,
)

T = TypeVar("T")

SERVICE = "fute.v1.TaskSearch"


DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def make_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the bearer token, if any."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def channel_options(max_attempts: int, max_message_bytes: int) -> list[tuple[str, Any]]:
    """Channel options: message limits and gRPC's own retry of UNAVAILABLE with backoff.

    Every TaskSearch call is safe to retry: upserts replace, deletes are idempotent.
    """
    service_config = {
        "methodConfig": [
            {
                "name": [{"service": SERVICE}],
                "retryPolicy": {
                    "maxAttempts": max(2, min(max_attempts, 5)),  # gRPC caps at 5
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    return [
        ("grpc.enable_retries", 1 if max_attempts > 1 else 0),
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


class Connection:
    """The channel, stub, call metadata and default deadline that both clients hold.

    ``channels`` is ``grpc`` or ``grpc.aio``: the two offer the same channel constructors,
    so a subclass chooses its transport by naming the module.
    """

    channels: ClassVar[ModuleType]

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        root_certificates: bytes | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = channel_options(max_attempts, max_message_bytes)
        if root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = self.channels.secure_channel(target, creds, options=options)
        else:
            self._channel = self.channels.insecure_channel(target, options=options)
        self._stub = pb_grpc.TaskSearchStub(self._channel)
        self._metadata = make_metadata(token)
        self.timeout = timeout

    def _send(self, call: Call[T], timeout: float | None) -> Any:
        """Start ``call`` on the stub: the reply (sync) or an awaitable of it (asyncio)."""
        method = getattr(self._stub, call.method)
        return method(
            call.request, timeout=self.timeout if timeout is None else timeout, metadata=self._metadata
        )


@dataclass(frozen=True)
class Call(Generic[T]):
    """One call: the stub method name, its request (a message, or an iterator of them for a
    client stream) and how to read the reply."""

    method: str
    request: Any
    parse: Callable[[Any], T]


def _queries(queries: Sequence[QueryTarget] | np.ndarray) -> list[pb.Query]:
    if isinstance(queries, np.ndarray):
        if queries.ndim == 1:
            queries = queries[None, :]
        return [cv.query_to_proto(q) for q in queries]
    return [cv.query_to_proto(q) for q in queries]


def server_info() -> Call[ServerInfo]:
    return Call("GetServerInfo", pb.GetServerInfoRequest(), cv.server_info_from_proto)


def create_space(
    name: str,
    dim: int,
    backend: str = "flat",
    identity: SpaceIdentity | None = None,
    keep_neighbours: bool = False,
) -> Call[Space]:
    req = pb.CreateSpaceRequest(
        name=name,
        dim=dim,
        metric=pb.METRIC_COSINE,
        backend=cv.backend_to_proto(backend),  # type: ignore[arg-type]
        keep_neighbours=keep_neighbours,
    )
    if identity is not None:
        req.identity.CopyFrom(cv.identity_to_proto(identity))
    return Call("CreateSpace", req, cv.space_from_proto)


def list_spaces() -> Call[list[Space]]:
    return Call("ListSpaces", pb.ListSpacesRequest(), lambda r: [cv.space_from_proto(s) for s in r.spaces])


def describe_space(name: str) -> Call[Space]:
    return Call("DescribeSpace", pb.DescribeSpaceRequest(name=name), cv.space_from_proto)


def delete_space(name: str) -> Call[int]:
    return Call("DeleteSpace", pb.DeleteSpaceRequest(name=name), lambda r: int(r.deleted_tasks))


def upsert_request(
    space: str, tasks: Sequence[Task], expected_identity: SpaceIdentity | None = None
) -> pb.UpsertTasksRequest:
    req = pb.UpsertTasksRequest(space=space, tasks=[cv.task_to_proto(t) for t in tasks])
    if expected_identity is not None:
        req.expected_identity.CopyFrom(cv.identity_to_proto(expected_identity))
    return req


def upsert(
    space: str, tasks: Sequence[Task], expected_identity: SpaceIdentity | None = None
) -> Call[UpsertResult]:
    return Call("UpsertTasks", upsert_request(space, tasks, expected_identity), cv.upsert_result_from_proto)


def upsert_stream_requests(
    space: str, batches: Iterable[Sequence[Task]], expected_identity: SpaceIdentity | None = None
) -> Iterator[pb.UpsertTasksRequest]:
    for batch in batches:
        yield upsert_request(space, batch, expected_identity)


def upsert_stream(
    space: str, batches: Iterable[Sequence[Task]], expected_identity: SpaceIdentity | None = None
) -> Call[UpsertResult]:
    # A lazy request iterator: each batch is converted only when the stream asks for it.
    requests = upsert_stream_requests(space, batches, expected_identity)
    return Call("UpsertTasksStream", requests, cv.upsert_result_from_proto)


def delete(space: str, ids: Sequence[str] | None = None, filter: Filter | None = None) -> Call[int]:
    if (ids is None) == (filter is None):
        raise ValueError("delete takes exactly one of ids= or filter=")
    if ids is not None:
        req = pb.DeleteTasksRequest(space=space, ids=pb.TaskIds(ids=list(ids)))
    else:
        req = pb.DeleteTasksRequest(space=space, filter=cv.filter_to_proto(filter))
    return Call("DeleteTasks", req, lambda r: int(r.deleted))


def get(space: str, ids: Sequence[str], with_vectors: bool = False) -> Call[list[Task]]:
    req = pb.GetTasksRequest(space=space, ids=list(ids), with_vectors=with_vectors)
    return Call("GetTasks", req, lambda r: [cv.task_from_proto(t) for t in r.tasks])


def list_tasks(
    space: str,
    filter: Filter | None = None,
    page_size: int = 100,
    page_token: str = "",
    with_vectors: bool = False,
) -> Call[Page]:
    req = pb.ListTasksRequest(
        space=space,
        filter=cv.filter_to_proto(filter),
        page_size=page_size,
        page_token=page_token,
        with_vectors=with_vectors,
    )
    return Call("ListTasks", req, cv.page_from_proto)


def _set_csls_k(req: pb.FindSimilarTasksRequest | pb.RankSourceTasksRequest, csls_k: int | None) -> None:
    """Set ``csls_k`` when given; a value no uint32 holds is INVALID_ARGUMENT here (the
    server checks the range it serves)."""
    if csls_k is None:
        return
    if not 0 <= csls_k <= 0xFFFFFFFF:
        raise InvalidArgumentError(f"csls_k must be a positive integer, got {csls_k}")
    req.csls_k = csls_k


def search(
    space: str,
    queries: Sequence[QueryTarget] | np.ndarray,
    k: int = 10,
    filter: Filter | None = None,
    score_threshold: float | None = None,
    with_vectors: bool = False,
    expected_identity: SpaceIdentity | None = None,
    similarity: Similarity = "cosine",
    csls_k: int | None = None,
) -> Call[list[list[Hit]]]:
    req = pb.FindSimilarTasksRequest(
        space=space,
        queries=_queries(queries),
        k=k,
        filter=cv.filter_to_proto(filter),
        with_vectors=with_vectors,
        similarity=cv.similarity_to_proto(similarity),  # type: ignore[arg-type]
    )
    _set_csls_k(req, csls_k)
    if score_threshold is not None:
        req.score_threshold = score_threshold
    if expected_identity is not None:
        req.expected_identity.CopyFrom(cv.identity_to_proto(expected_identity))
    return Call(
        "FindSimilarTasks",
        req,
        lambda r: [[cv.hit_from_proto(h) for h in res.hits] for res in r.results],
    )


def rank_sources(
    space: str,
    target: QueryTarget,
    candidate_filter: Filter | None = None,
    k: int = 0,
    expected_identity: SpaceIdentity | None = None,
    similarity: Similarity = "cosine",
    csls_k: int | None = None,
    order: RankOrder | None = None,
    rerank_top: int = 0,
) -> Call[Ranking]:
    req = pb.RankSourceTasksRequest(
        space=space,
        target=cv.query_to_proto(target),
        candidate_filter=cv.filter_to_proto(candidate_filter),
        k=k,
        similarity=cv.similarity_to_proto(similarity),  # type: ignore[arg-type]
        order=cv.order_to_proto(order),  # type: ignore[arg-type]
        rerank_top=rerank_top,
    )
    _set_csls_k(req, csls_k)
    if expected_identity is not None:
        req.expected_identity.CopyFrom(cv.identity_to_proto(expected_identity))
    return Call("RankSourceTasks", req, cv.ranking_from_proto)


def similarity_matrix(space: str, ids: Sequence[str]) -> Call[tuple[list[str], np.ndarray]]:
    req = pb.SimilarityMatrixRequest(space=space, ids=list(ids))
    return Call(
        "SimilarityMatrix",
        req,
        lambda r: (list(r.ids), cv.matrix_from_bytes(r.matrix, len(r.ids))),
    )


def create_snapshot(name: str = "") -> Call[Snapshot]:
    return Call("CreateSnapshot", pb.CreateSnapshotRequest(name=name), cv.snapshot_from_proto)


def list_snapshots() -> Call[list[Snapshot]]:
    return Call(
        "ListSnapshots",
        pb.ListSnapshotsRequest(),
        lambda r: [cv.snapshot_from_proto(s) for s in r.snapshots],
    )


def restore_snapshot(name: str) -> Call[tuple[int, int]]:
    return Call(
        "RestoreSnapshot", pb.RestoreSnapshotRequest(name=name), lambda r: (int(r.spaces), int(r.tasks))
    )
