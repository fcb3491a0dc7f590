"""Server-side translation between protobuf requests/replies and the store's types.

The message <-> dataclass mapping itself is ``fute_client.conversions`` (shared with the
client so both ends agree); this module adds what only the server needs: turning whole
requests into store arguments, with per-item errors for batch writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from fute_client import conversions as cv
from fute_client.contract import messages as pb
from fute_client.errors import InvalidArgumentError, TaskSearchError
from fute_client.types import Filter, ItemError, QueryTarget, Similarity, SpaceIdentity, Task, UpsertResult


@dataclass(frozen=True)
class UpsertArgs:
    """A parsed upsert request: tasks that decoded, and items that did not."""

    space: str
    tasks: list[Task]
    decode_errors: list[ItemError]
    expected_identity: SpaceIdentity | None


def upsert_args(req: pb.UpsertTasksRequest) -> UpsertArgs:
    """Decode each task on its own so one malformed item does not sink the batch."""
    tasks: list[Task] = []
    errors: list[ItemError] = []
    for i, msg in enumerate(req.tasks):
        try:
            tasks.append(cv.task_from_proto(msg))
        except TaskSearchError as exc:
            errors.append(ItemError(msg.id or f"#{i}", exc.code.name, str(exc)))
    return UpsertArgs(req.space, tasks, errors, expected_identity(req))


def merge_results(result: UpsertResult, decode_errors: list[ItemError]) -> pb.UpsertTasksResponse:
    """The reply for a store result plus items rejected while decoding."""
    merged = UpsertResult(
        upserted=result.upserted,
        failed=result.failed + len(decode_errors),
        errors=tuple(decode_errors) + result.errors,
    )
    return cv.upsert_result_to_proto(merged)


def check_metric(value: int) -> None:
    """INVALID_ARGUMENT unless ``value`` is a metric the server has (cosine, or unset)."""
    if value not in (pb.METRIC_UNSPECIFIED, pb.METRIC_COSINE):
        raise InvalidArgumentError(
            f"unknown metric enum value {value}; valid: METRIC_COSINE (or METRIC_UNSPECIFIED)"
        )


def optional_filter(msg: pb.Filter) -> Filter | None:
    """A filter, or ``None`` when the message is empty."""
    flt = cv.filter_from_proto(msg)
    return None if flt.is_empty() else flt


def expected_identity(
    req: pb.FindSimilarTasksRequest | pb.RankSourceTasksRequest | pb.UpsertTasksRequest,
) -> SpaceIdentity | None:
    """The identity a request's vectors claim, or ``None`` when it claims none."""
    if not req.HasField("expected_identity"):
        return None
    return cv.identity_from_proto(req.expected_identity)


def similarity(req: pb.FindSimilarTasksRequest | pb.RankSourceTasksRequest) -> tuple[Similarity, int | None]:
    """(similarity, csls_k or None when unset) of a search or ranking request."""
    return cv.similarity_from_proto(req.similarity), req.csls_k if req.HasField("csls_k") else None


def queries(req: pb.FindSimilarTasksRequest) -> list[QueryTarget]:
    """The queries of a search request."""
    return [cv.query_from_proto(q, f"query {i}") for i, q in enumerate(req.queries)]


def target(req: pb.RankSourceTasksRequest) -> QueryTarget:
    """The target of a ranking request."""
    if not req.HasField("target"):
        raise InvalidArgumentError("target is required (a task id or a vector)")
    return cv.query_from_proto(req.target, "target")


def delete_args(req: pb.DeleteTasksRequest) -> tuple[list[str] | None, Filter | None]:
    """(ids, filter) of a delete request; exactly one is set."""
    which = req.WhichOneof("selector")
    if which == "ids":
        return list(req.ids.ids), None
    if which == "filter":
        return None, cv.filter_from_proto(req.filter)
    raise InvalidArgumentError("delete needs ids or a filter")
