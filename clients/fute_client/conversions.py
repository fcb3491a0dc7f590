"""The one place where protobuf messages and :mod:`fute_client.types` meet.

Vectors travel as little-endian float32 bytes plus a dimension. Used by the client
wrapper and by the server (``server.conversions``), so both sides agree by construction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from fute_client._generated.fute.v1 import task_search_pb2 as pb
from fute_client.errors import InvalidArgumentError
from fute_client.types import (
    Backend,
    Condition,
    Filter,
    FilterField,
    Hit,
    ItemError,
    OutputInfo,
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
    TaskKind,
    TaskSource,
    UpsertResult,
)

_LE_F32 = np.dtype("<f4")

_KIND_TO_PB: dict[str, int] = {
    "": pb.TASK_KIND_UNSPECIFIED,
    "dataset": pb.TASK_KIND_DATASET,
    "model": pb.TASK_KIND_MODEL,
}
_KIND_FROM_PB: dict[int, TaskKind] = {v: k for k, v in _KIND_TO_PB.items()}  # type: ignore[misc]

_FIELD_TO_PB: dict[str, int] = {
    "kind": pb.FILTER_FIELD_KIND,
    "task_type": pb.FILTER_FIELD_TASK_TYPE,
    "tag": pb.FILTER_FIELD_TAG,
    "name": pb.FILTER_FIELD_NAME,
    "id": pb.FILTER_FIELD_ID,
}
_FIELD_FROM_PB: dict[int, FilterField] = {v: k for k, v in _FIELD_TO_PB.items()}  # type: ignore[misc]

_BACKEND_TO_PB: dict[str, int] = {
    "flat": pb.INDEX_BACKEND_FLAT,
    "ivf": pb.INDEX_BACKEND_IVF,
    "hnsw": pb.INDEX_BACKEND_HNSW,
    "flat_fp16": pb.INDEX_BACKEND_FLAT_FP16,
    "flat_sq8": pb.INDEX_BACKEND_FLAT_SQ8,
}
_BACKEND_FROM_PB: dict[int, Backend] = {v: k for k, v in _BACKEND_TO_PB.items()}  # type: ignore[misc]


_SIMILARITY_TO_PB: dict[str, int] = {"cosine": pb.SIMILARITY_COSINE, "csls": pb.SIMILARITY_CSLS}
_SIMILARITY_FROM_PB: dict[int, Similarity] = {
    pb.SIMILARITY_UNSPECIFIED: "cosine",
    pb.SIMILARITY_COSINE: "cosine",
    pb.SIMILARITY_CSLS: "csls",
}


# ------------------------------------------------------------------ vectors


def vector_to_proto(vector: np.ndarray) -> pb.Vector:
    """A 1-d array as float32 little-endian bytes (no validation of values)."""
    arr = np.asarray(vector)
    if arr.ndim != 1:
        raise InvalidArgumentError(f"a vector must be 1-d, got shape {arr.shape}")
    return pb.Vector(data=arr.astype(_LE_F32, copy=False).tobytes(), dim=arr.shape[0])


def vector_from_proto(msg: pb.Vector, what: str = "vector") -> np.ndarray:
    """The float32 array of ``msg``; its byte length must be 4 * dim."""
    if len(msg.data) != 4 * msg.dim:
        raise InvalidArgumentError(
            f"{what}: {len(msg.data)} bytes do not hold dim {msg.dim} float32 values "
            f"(expected {4 * msg.dim} bytes)"
        )
    return np.frombuffer(msg.data, dtype=_LE_F32).astype(np.float32)


def matrix_to_bytes(matrix: np.ndarray) -> bytes:
    """Row-major float32 little-endian bytes of a 2-d array."""
    return np.ascontiguousarray(matrix, dtype=_LE_F32).tobytes()


def matrix_from_bytes(data: bytes, n: int) -> np.ndarray:
    """Inverse of :func:`matrix_to_bytes` for an ``n`` x ``n`` matrix."""
    if len(data) != 4 * n * n:
        raise InvalidArgumentError(f"matrix of {len(data)} bytes is not {n}x{n} float32")
    return np.frombuffer(data, dtype=_LE_F32).astype(np.float32).reshape(n, n)


# ------------------------------------------------------------------ times


# Timestamps by integer arithmetic on timedeltas: the same values as protobuf's
# FromDatetime / ToDatetime (naive times are UTC; nanoseconds cut to microseconds), at a
# fraction of their cost (they run twice per hit of every search reply).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _set_ts(ts: Timestamp, t: datetime) -> None:
    since = (t if t.tzinfo is not None else t.replace(tzinfo=UTC)) - _EPOCH
    ts.seconds = since.days * 86_400 + since.seconds
    ts.nanos = since.microseconds * 1000


def _ts_to_proto(t: datetime | None) -> Timestamp | None:
    if t is None:
        return None
    ts = Timestamp()
    _set_ts(ts, t)
    return ts


def _ts_from_proto(msg: pb.Task | pb.TaskMetadata | pb.Space | pb.Snapshot, name: str) -> datetime | None:
    if not msg.HasField(name):  # type: ignore[arg-type]
        return None
    ts: Timestamp = getattr(msg, name)
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


# ------------------------------------------------------------------ tasks


def output_info_to_proto(info: OutputInfo) -> pb.OutputInformation:
    """An :class:`OutputInfo` as a message."""
    msg = pb.OutputInformation(
        n=info.n,
        n_answers=info.n_answers,
        answer_entropy=info.answer_entropy,
        majority_share=info.majority_share,
        majority_index=info.majority_index,
        spread=info.spread,
    )
    if info.source_mi is not None:
        msg.source_mi = info.source_mi
    if info.source_nmi is not None:
        msg.source_nmi = info.source_nmi
    return msg


def output_info_from_proto(msg: pb.OutputInformation) -> OutputInfo:
    """A message as an :class:`OutputInfo`."""
    return OutputInfo(
        n=msg.n,
        n_answers=msg.n_answers,
        answer_entropy=msg.answer_entropy,
        majority_share=msg.majority_share,
        majority_index=msg.majority_index,
        spread=msg.spread,
        source_mi=msg.source_mi if msg.HasField("source_mi") else None,
        source_nmi=msg.source_nmi if msg.HasField("source_nmi") else None,
    )


def _fill_metadata(meta: pb.TaskMetadata, task: Task) -> None:
    """Write ``task``'s metadata into ``meta`` (a message's own field: no copy)."""
    if task.kind not in _KIND_TO_PB:
        raise InvalidArgumentError(f"unknown task kind {task.kind!r}; valid: dataset, model")
    meta.name = task.name
    meta.kind = _KIND_TO_PB[task.kind]  # type: ignore[assignment]
    meta.task_type = task.task_type
    meta.label_names.extend(task.label_names)
    source = meta.source
    source.dataset_path = task.source.dataset_path
    source.model = task.source.model
    source.prompt = task.source.prompt
    meta.tags.extend(task.tags)
    if task.created_time is not None:
        _set_ts(meta.created_time, task.created_time)
    if task.updated_time is not None:
        _set_ts(meta.updated_time, task.updated_time)
    if task.output_info is not None:
        meta.output_info.CopyFrom(output_info_to_proto(task.output_info))


def task_to_proto(task: Task) -> pb.Task:
    """A :class:`Task` as a message; its vector is sent when it has one."""
    msg = pb.Task(id=task.id)
    _fill_metadata(msg.metadata, task)
    if task.vector is not None:
        msg.vector.CopyFrom(vector_to_proto(task.vector))
    return msg


def task_from_proto(msg: pb.Task) -> Task:
    """A message as a :class:`Task` (``vector`` is ``None`` when none was sent)."""
    return _task_of(msg.id, msg.metadata, msg.vector if msg.HasField("vector") else None)


def _task_of(task_id: str, meta: pb.TaskMetadata, vector_msg: pb.Vector | None) -> Task:
    """The :class:`Task` of an id, its metadata message and its vector message, if any."""
    vector = vector_from_proto(vector_msg, f"task {task_id!r}") if vector_msg is not None else None
    if meta.kind not in _KIND_FROM_PB:
        raise InvalidArgumentError(f"task {task_id!r}: unknown kind enum value {meta.kind}")
    return Task(
        id=task_id,
        vector=vector,
        name=meta.name,
        kind=_KIND_FROM_PB[meta.kind],
        task_type=meta.task_type,
        label_names=tuple(meta.label_names),
        source=TaskSource(meta.source.dataset_path, meta.source.model, meta.source.prompt),
        tags=tuple(meta.tags),
        created_time=_ts_from_proto(meta, "created_time"),
        updated_time=_ts_from_proto(meta, "updated_time"),
        output_info=output_info_from_proto(meta.output_info) if meta.HasField("output_info") else None,
    )


# ------------------------------------------------------------------ filters


def filter_to_proto(flt: Filter | None) -> pb.Filter:
    """A :class:`Filter` (``None``: match all) as a message."""
    if flt is None:
        return pb.Filter()

    def cond(c: Condition) -> pb.Condition:
        return pb.Condition(field=_FIELD_TO_PB[c.field], any_of=list(c.any_of))  # type: ignore[arg-type]

    return pb.Filter(must=[cond(c) for c in flt.must], must_not=[cond(c) for c in flt.must_not])


def filter_from_proto(msg: pb.Filter) -> Filter:
    """A message as a :class:`Filter`; an unspecified field is INVALID_ARGUMENT."""

    def cond(c: pb.Condition) -> Condition:
        if c.field not in _FIELD_FROM_PB:
            raise InvalidArgumentError(
                f"filter condition has no valid field (got enum {c.field}); valid: {sorted(_FIELD_TO_PB)}"
            )
        return Condition(field=_FIELD_FROM_PB[c.field], any_of=tuple(c.any_of))

    return Filter(must=tuple(cond(c) for c in msg.must), must_not=tuple(cond(c) for c in msg.must_not))


# ------------------------------------------------------------------ spaces


def identity_to_proto(identity: SpaceIdentity) -> pb.SpaceIdentity:
    """A :class:`SpaceIdentity` as a message."""
    return pb.SpaceIdentity(
        surrogate_name=identity.surrogate_name,
        surrogate_hash=identity.surrogate_hash,
        method=identity.method,
        settings=identity.settings,
        reduction=identity.reduction,
        reduction_seed=identity.reduction_seed,
        corpus=identity.corpus,
        algorithm_version=identity.algorithm_version,
    )


def identity_from_proto(msg: pb.SpaceIdentity) -> SpaceIdentity:
    """A message as a :class:`SpaceIdentity`."""
    return SpaceIdentity(
        surrogate_name=msg.surrogate_name,
        surrogate_hash=msg.surrogate_hash,
        method=msg.method,
        settings=msg.settings,
        reduction=msg.reduction,
        reduction_seed=msg.reduction_seed,
        corpus=msg.corpus,
        algorithm_version=msg.algorithm_version,
    )


def backend_to_proto(backend: str) -> int:
    """The enum value of a backend name."""
    if backend not in _BACKEND_TO_PB:
        raise InvalidArgumentError(f"unknown index backend {backend!r}; valid: {sorted(_BACKEND_TO_PB)}")
    return _BACKEND_TO_PB[backend]


def backend_from_proto(value: int, default: Backend = "flat") -> Backend:
    """The backend name of an enum value (``default`` for UNSPECIFIED)."""
    if value == pb.INDEX_BACKEND_UNSPECIFIED:
        return default
    if value not in _BACKEND_FROM_PB:
        raise InvalidArgumentError(f"unknown index backend enum value {value}")
    return _BACKEND_FROM_PB[value]


def space_to_proto(space: Space) -> pb.Space:
    """A :class:`Space` as a message."""
    msg = pb.Space(
        name=space.name,
        dim=space.dim,
        metric=pb.METRIC_COSINE,
        backend=backend_to_proto(space.backend),  # type: ignore[arg-type]
        has_identity=space.identity is not None,
        space_key=space.space_key,
        task_count=space.task_count,
        created_time=_ts_to_proto(space.created_time),
        keep_neighbours=space.keep_neighbours,
    )
    if space.identity is not None:
        msg.identity.CopyFrom(identity_to_proto(space.identity))
    return msg


def space_from_proto(msg: pb.Space) -> Space:
    """A message as a :class:`Space`."""
    return Space(
        name=msg.name,
        dim=msg.dim,
        metric="cosine",
        backend=backend_from_proto(msg.backend),
        identity=identity_from_proto(msg.identity) if msg.has_identity else None,
        space_key=msg.space_key,
        task_count=msg.task_count,
        created_time=_ts_from_proto(msg, "created_time"),
        keep_neighbours=msg.keep_neighbours,
    )


# ------------------------------------------------------------------ queries and hits


def similarity_to_proto(similarity: str) -> int:
    """The enum value of a similarity name."""
    if similarity not in _SIMILARITY_TO_PB:
        raise InvalidArgumentError(
            f"similarity must be one of {tuple(_SIMILARITY_TO_PB)}, got {similarity!r}"
        )
    return _SIMILARITY_TO_PB[similarity]


def similarity_from_proto(value: int) -> Similarity:
    """The similarity name of an enum value (cosine for UNSPECIFIED)."""
    if value not in _SIMILARITY_FROM_PB:
        raise InvalidArgumentError(
            f"similarity: unknown enum value {value}; valid: SIMILARITY_COSINE, SIMILARITY_CSLS"
        )
    return _SIMILARITY_FROM_PB[value]


_ORDER_TO_PB: dict[str, int] = {
    "predicted_gain": pb.RANK_ORDER_PREDICTED_GAIN,
    "similarity": pb.RANK_ORDER_SIMILARITY,
}
_ORDER_FROM_PB: dict[int, RankOrder] = {
    pb.RANK_ORDER_PREDICTED_GAIN: "predicted_gain",
    pb.RANK_ORDER_SIMILARITY: "similarity",
}


def order_to_proto(order: str | None) -> int:
    """The enum value of a ranking order (None: UNSPECIFIED, the server's default)."""
    if order is None:
        return int(pb.RANK_ORDER_UNSPECIFIED)
    if order not in _ORDER_TO_PB:
        raise InvalidArgumentError(f"order must be one of {tuple(_ORDER_TO_PB)}, got {order!r}")
    return _ORDER_TO_PB[order]


def order_from_proto(value: int) -> RankOrder | None:
    """The order named by an enum value; None for UNSPECIFIED (the server's default)."""
    if value == pb.RANK_ORDER_UNSPECIFIED:
        return None
    if value not in _ORDER_FROM_PB:
        raise InvalidArgumentError(
            f"order: unknown enum value {value}; valid: RANK_ORDER_PREDICTED_GAIN, RANK_ORDER_SIMILARITY"
        )
    return _ORDER_FROM_PB[value]


def query_to_proto(target: QueryTarget) -> pb.Query:
    """A task id or a vector as a :class:`pb.Query`."""
    if isinstance(target, str):
        return pb.Query(id=target)
    return pb.Query(vector=vector_to_proto(np.asarray(target)))


def query_from_proto(msg: pb.Query, what: str = "query") -> QueryTarget:
    """A :class:`pb.Query` as an id or a vector; an empty query is INVALID_ARGUMENT."""
    which = msg.WhichOneof("target")
    if which == "id":
        return msg.id
    if which == "vector":
        return vector_from_proto(msg.vector, what)
    raise InvalidArgumentError(f"{what} names neither a task id nor a vector")


def hit_to_proto(hit: Hit) -> pb.Hit:
    """A :class:`Hit` as a message."""
    msg = pb.Hit(id=hit.id, score=hit.score)
    _fill_metadata(msg.metadata, hit.task)
    if hit.task.vector is not None:
        msg.vector.CopyFrom(vector_to_proto(hit.task.vector))
    if hit.predicted_gain is not None:
        msg.predicted_gain = hit.predicted_gain
    if hit.p_help is not None:
        msg.p_help = hit.p_help
    return msg


def hit_from_proto(msg: pb.Hit) -> Hit:
    """A message as a :class:`Hit`."""
    task = _task_of(msg.id, msg.metadata, msg.vector if msg.HasField("vector") else None)
    return Hit(
        id=msg.id,
        score=float(msg.score),
        task=task,
        predicted_gain=float(msg.predicted_gain) if msg.HasField("predicted_gain") else None,
        p_help=float(msg.p_help) if msg.HasField("p_help") else None,
    )


def ranking_to_proto(ranking: Ranking) -> pb.RankSourceTasksResponse:
    """A :class:`Ranking` as a reply."""
    return pb.RankSourceTasksResponse(
        ranking=[hit_to_proto(h) for h in ranking.hits],
        none_expected_to_help=ranking.none_expected_to_help,
        advice=ranking.advice,
        candidates=ranking.candidates,
        order=order_to_proto(ranking.order),  # type: ignore[arg-type]
    )


def ranking_from_proto(msg: pb.RankSourceTasksResponse) -> Ranking:
    """A reply as a :class:`Ranking`."""
    return Ranking(
        hits=tuple(hit_from_proto(h) for h in msg.ranking),
        none_expected_to_help=msg.none_expected_to_help,
        advice=msg.advice,
        candidates=int(msg.candidates),
        order=order_from_proto(msg.order) or "similarity",
    )


# ------------------------------------------------------------------ the rest


def upsert_result_to_proto(result: UpsertResult) -> pb.UpsertTasksResponse:
    """An :class:`UpsertResult` as a message (codes by number)."""
    return pb.UpsertTasksResponse(
        upserted=result.upserted,
        failed=result.failed,
        errors=[
            pb.ItemStatus(id=e.id, code=grpc.StatusCode[e.code].value[0], message=e.message)
            for e in result.errors
        ],
    )


def upsert_result_from_proto(msg: pb.UpsertTasksResponse) -> UpsertResult:
    """A message as an :class:`UpsertResult` (codes by name)."""
    names = {c.value[0]: c.name for c in grpc.StatusCode}
    return UpsertResult(
        upserted=msg.upserted,
        failed=msg.failed,
        errors=tuple(ItemError(e.id, names.get(e.code, "UNKNOWN"), e.message) for e in msg.errors),
    )


def snapshot_to_proto(snap: Snapshot) -> pb.Snapshot:
    """A :class:`Snapshot` as a message."""
    return pb.Snapshot(
        name=snap.name,
        sha256=snap.sha256,
        size_bytes=snap.size_bytes,
        created_time=_ts_to_proto(snap.created_time),
    )


def snapshot_from_proto(msg: pb.Snapshot) -> Snapshot:
    """A message as a :class:`Snapshot`."""
    return Snapshot(msg.name, msg.sha256, msg.size_bytes, _ts_from_proto(msg, "created_time"))


def server_info_from_proto(msg: pb.GetServerInfoResponse) -> ServerInfo:
    """A message as a :class:`ServerInfo`."""
    return ServerInfo(
        version=msg.version,
        index_library=msg.index_library,
        device=msg.device,
        gpu_count=msg.gpu_count,
        backends=tuple(backend_from_proto(b) for b in msg.backends),
        max_k=msg.max_k,
        max_queries=msg.max_queries,
        max_message_bytes=msg.max_message_bytes,
        auth_enabled=msg.auth_enabled,
    )


def server_info_to_proto(info: ServerInfo) -> pb.GetServerInfoResponse:
    """A :class:`ServerInfo` as a message."""
    return pb.GetServerInfoResponse(
        version=info.version,
        index_library=info.index_library,
        device=info.device,
        gpu_count=info.gpu_count,
        backends=[backend_to_proto(b) for b in info.backends],  # type: ignore[misc]
        max_k=info.max_k,
        max_queries=info.max_queries,
        max_message_bytes=info.max_message_bytes,
        auth_enabled=info.auth_enabled,
    )


def page_from_proto(msg: pb.ListTasksResponse) -> Page:
    """A listing reply as a :class:`Page`."""
    return Page(tasks=tuple(task_from_proto(t) for t in msg.tasks), next_page_token=msg.next_page_token)
