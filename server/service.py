"""The ``fute.v1.TaskSearch`` servicer: decode, call the store, encode. Nothing else.

Errors of the ``fute_client.errors`` family leave as their status code with a
``google.rpc.ErrorInfo`` detail; anything else is a bug and leaves as INTERNAL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from fute_client import conversions as cv
from fute_client.contract import messages as pb
from fute_client.contract import services as pb_grpc
from fute_client.errors import DeadlineExceededError, TaskSearchError, UnavailableError
from fute_client.types import ServerInfo
from server import conversions as sc
from server.echo import capped
from server.store import TaskStore

log = logging.getLogger(__name__)

R = TypeVar("R")
ERROR_DOMAIN = "fute.v1.TaskSearch"


def abort_with(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, reason: str) -> None:
    """Abort the call with a status carrying an ErrorInfo detail (raises).

    The message is capped (``server.echo.capped``): it travels in trailers, and one over
    the client's metadata limit would reach it as RESOURCE_EXHAUSTED instead of ``code``.
    """
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=capped(message), details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def rpc(method: Callable[[TaskSearchServicer, Any, grpc.ServicerContext], R]) -> Callable[..., R]:
    """Translate the exception family to status codes; check the deadline first."""

    @functools.wraps(method)
    def wrapper(self: TaskSearchServicer, request: Any, context: grpc.ServicerContext) -> R:
        try:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceededError("deadline passed before the call started")
            return method(self, request, context)
        except TaskSearchError as exc:
            abort_with(context, exc.code, str(exc), type(exc).__name__)
            raise AssertionError("unreachable") from exc  # abort raises
        except Exception as exc:
            if context.code() is not None:
                raise  # an abort from below (grpc raises a plain Exception for it)
            log.exception("internal error in %s", method.__name__)
            abort_with(context, grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}", "Internal")
            raise AssertionError("unreachable") from exc

    return wrapper


class TaskSearchServicer(pb_grpc.TaskSearchServicer):
    """Serves a :class:`TaskStore`; until :meth:`attach` every call is UNAVAILABLE."""

    def __init__(self, info: ServerInfo) -> None:
        self._store: TaskStore | None = None
        self._info = info

    def attach(self, store: TaskStore) -> None:
        """Start serving ``store`` (after it has loaded)."""
        self._store = store

    @property
    def store(self) -> TaskStore:
        if self._store is None:
            raise UnavailableError("the store is still loading; retry shortly")
        return self._store

    # ---------------------------------------------------------------- spaces

    @rpc
    def CreateSpace(self, request: pb.CreateSpaceRequest, context: grpc.ServicerContext) -> pb.Space:
        identity = cv.identity_from_proto(request.identity) if request.HasField("identity") else None
        sc.check_metric(request.metric)
        space = self.store.create_space(
            request.name,
            request.dim,
            backend=cv.backend_from_proto(request.backend),
            identity=identity,
            keep_neighbours=request.keep_neighbours,
        )
        return cv.space_to_proto(space)

    @rpc
    def ListSpaces(
        self, request: pb.ListSpacesRequest, context: grpc.ServicerContext
    ) -> pb.ListSpacesResponse:
        return pb.ListSpacesResponse(spaces=[cv.space_to_proto(s) for s in self.store.list_spaces()])

    @rpc
    def DescribeSpace(self, request: pb.DescribeSpaceRequest, context: grpc.ServicerContext) -> pb.Space:
        return cv.space_to_proto(self.store.describe_space(request.name))

    @rpc
    def DeleteSpace(
        self, request: pb.DeleteSpaceRequest, context: grpc.ServicerContext
    ) -> pb.DeleteSpaceResponse:
        return pb.DeleteSpaceResponse(deleted_tasks=self.store.delete_space(request.name))

    # ---------------------------------------------------------------- writes

    @rpc
    def UpsertTasks(
        self, request: pb.UpsertTasksRequest, context: grpc.ServicerContext
    ) -> pb.UpsertTasksResponse:
        args = sc.upsert_args(request)
        result = self.store.upsert(args.space, args.tasks, expected_identity=args.expected_identity)
        return sc.merge_results(result, args.decode_errors)

    @rpc
    def UpsertTasksStream(
        self, request_iterator: Iterator[pb.UpsertTasksRequest], context: grpc.ServicerContext
    ) -> pb.UpsertTasksResponse:
        total = pb.UpsertTasksResponse()
        for request in request_iterator:
            part = self.UpsertTasks.__wrapped__(self, request, context)  # type: ignore[attr-defined]
            total.upserted += part.upserted
            total.failed += part.failed
            total.errors.extend(part.errors)
        return total

    @rpc
    def DeleteTasks(
        self, request: pb.DeleteTasksRequest, context: grpc.ServicerContext
    ) -> pb.DeleteTasksResponse:
        ids, flt = sc.delete_args(request)
        return pb.DeleteTasksResponse(deleted=self.store.delete(request.space, ids=ids, filter=flt))

    # ---------------------------------------------------------------- reads

    @rpc
    def GetTasks(self, request: pb.GetTasksRequest, context: grpc.ServicerContext) -> pb.GetTasksResponse:
        tasks = self.store.get(request.space, list(request.ids), with_vectors=request.with_vectors)
        found = {t.id for t in tasks}
        return pb.GetTasksResponse(
            tasks=[cv.task_to_proto(t) for t in tasks],
            missing_ids=[i for i in request.ids if i not in found],
        )

    @rpc
    def ListTasks(self, request: pb.ListTasksRequest, context: grpc.ServicerContext) -> pb.ListTasksResponse:
        page = self.store.list_tasks(
            request.space,
            filter=sc.optional_filter(request.filter),
            page_size=request.page_size,
            page_token=request.page_token,
            with_vectors=request.with_vectors,
        )
        return pb.ListTasksResponse(
            tasks=[cv.task_to_proto(t) for t in page.tasks], next_page_token=page.next_page_token
        )

    @rpc
    def FindSimilarTasks(
        self, request: pb.FindSimilarTasksRequest, context: grpc.ServicerContext
    ) -> pb.FindSimilarTasksResponse:
        measure, csls_k = sc.similarity(request)
        results = self.store.search(
            request.space,
            sc.queries(request),
            k=request.k,
            filter=sc.optional_filter(request.filter),
            score_threshold=request.score_threshold if request.HasField("score_threshold") else None,
            with_vectors=request.with_vectors,
            expected_identity=sc.expected_identity(request),
            similarity=measure,
            csls_k=csls_k,
        )
        return pb.FindSimilarTasksResponse(
            results=[pb.QueryResult(hits=[cv.hit_to_proto(h) for h in hits]) for hits in results]
        )

    @rpc
    def RankSourceTasks(
        self, request: pb.RankSourceTasksRequest, context: grpc.ServicerContext
    ) -> pb.RankSourceTasksResponse:
        measure, csls_k = sc.similarity(request)
        ranking = self.store.rank_sources(
            request.space,
            sc.target(request),
            candidate_filter=sc.optional_filter(request.candidate_filter),
            k=request.k,
            expected_identity=sc.expected_identity(request),
            similarity=measure,
            csls_k=csls_k,
            order=cv.order_from_proto(request.order),
            rerank_top=request.rerank_top,
        )
        return cv.ranking_to_proto(ranking)

    @rpc
    def SimilarityMatrix(
        self, request: pb.SimilarityMatrixRequest, context: grpc.ServicerContext
    ) -> pb.SimilarityMatrixResponse:
        ids, matrix = self.store.similarity_matrix(request.space, list(request.ids))
        return pb.SimilarityMatrixResponse(ids=ids, matrix=cv.matrix_to_bytes(matrix))

    # ---------------------------------------------------------------- snapshots and info

    @rpc
    def CreateSnapshot(self, request: pb.CreateSnapshotRequest, context: grpc.ServicerContext) -> pb.Snapshot:
        return cv.snapshot_to_proto(self.store.create_snapshot(request.name))

    @rpc
    def ListSnapshots(
        self, request: pb.ListSnapshotsRequest, context: grpc.ServicerContext
    ) -> pb.ListSnapshotsResponse:
        return pb.ListSnapshotsResponse(
            snapshots=[cv.snapshot_to_proto(s) for s in self.store.list_snapshots()]
        )

    @rpc
    def RestoreSnapshot(
        self, request: pb.RestoreSnapshotRequest, context: grpc.ServicerContext
    ) -> pb.RestoreSnapshotResponse:
        spaces, tasks = self.store.restore_snapshot(request.name)
        return pb.RestoreSnapshotResponse(spaces=spaces, tasks=tasks)

    @rpc
    def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetServerInfoResponse:
        return cv.server_info_to_proto(self._info)
