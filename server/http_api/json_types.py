"""The one place where the HTTP API's JSON meets :mod:`fute_client.types`.

Shapes mirror the protobuf messages of ``proto/fute/v1/task_search.proto`` with three
readable changes: vectors are JSON float arrays (not bytes), enums are lower-case words
(``"dataset"``, ``"flat"``), times are RFC 3339 strings. Inputs have already passed the
schema (:mod:`server.http_api.schema`), so these functions only translate; the store
checks values (dimension, NaN, limits) exactly as for gRPC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

import numpy as np

from fute.informativeness import LOW_ENTROPY_THRESHOLD
from fute_client.types import (
    Backend,
    Condition,
    Filter,
    FilterField,
    Hit,
    OutputInfo,
    QueryTarget,
    ServerInfo,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    TaskKind,
    TaskSource,
    UpsertResult,
)

Json = dict[str, Any]


def time_json(t: datetime | None) -> str | None:
    """RFC 3339 in UTC, ``None`` when unknown."""
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def vector_json(v: np.ndarray) -> list[float]:
    """A float32 vector as a JSON array (float32 values are exact in a JSON double)."""
    return [float(x) for x in np.asarray(v, np.float32)]


def vector_from_json(values: list[float]) -> np.ndarray:
    """A JSON array as float32 (values beyond float32 become Inf, which the store refuses)."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float64).astype(np.float32)


def identity_json(identity: SpaceIdentity | None) -> Json | None:
    if identity is None:
        return None
    return {
        "surrogate_name": identity.surrogate_name,
        "surrogate_hash": identity.surrogate_hash,
        "method": identity.method,
        "settings": identity.settings,
        "reduction": identity.reduction,
        "reduction_seed": identity.reduction_seed,
        "corpus": identity.corpus,
        "algorithm_version": identity.algorithm_version,
    }


def identity_from_json(data: Json | None) -> SpaceIdentity | None:
    if data is None:
        return None
    return SpaceIdentity(
        surrogate_name=data["surrogate_name"],
        surrogate_hash=data["surrogate_hash"],
        method=data["method"],
        settings=data["settings"],
        reduction=data.get("reduction", "none"),
        reduction_seed=int(data.get("reduction_seed", 0)),
        corpus=data.get("corpus", ""),
        algorithm_version=int(data.get("algorithm_version", 1)),
    )


def space_json(space: Space) -> Json:
    return {
        "name": space.name,
        "dim": space.dim,
        "metric": space.metric,
        "backend": space.backend,
        "identity": identity_json(space.identity),
        "space_key": space.space_key,
        "task_count": space.task_count,
        "created_time": time_json(space.created_time),
        "keep_neighbours": space.keep_neighbours,
    }


def metadata_json(task: Task) -> Json:
    return {
        "name": task.name,
        "kind": task.kind,
        "task_type": task.task_type,
        "label_names": list(task.label_names),
        "source": {
            "dataset_path": task.source.dataset_path,
            "model": task.source.model,
            "prompt": task.source.prompt,
        },
        "tags": list(task.tags),
        "created_time": time_json(task.created_time),
        "updated_time": time_json(task.updated_time),
        "output_info": asdict(task.output_info) if task.output_info is not None else None,
    }


def task_json(task: Task) -> Json:
    out: Json = {"id": task.id, "metadata": metadata_json(task)}
    if task.vector is not None:
        out["vector"] = vector_json(task.vector)
    return out


def task_from_json(data: Json) -> Task:
    meta: Json = data.get("metadata", {})
    source: Json = meta.get("source", {})
    vector = data.get("vector")
    return Task(
        id=data["id"],
        vector=vector_from_json(vector) if vector is not None else None,
        name=meta.get("name", ""),
        kind=cast(TaskKind, meta.get("kind", "")),
        task_type=meta.get("task_type", ""),
        label_names=tuple(meta.get("label_names", ())),
        source=TaskSource(
            dataset_path=source.get("dataset_path", ""),
            model=source.get("model", ""),
            prompt=source.get("prompt", ""),
        ),
        tags=tuple(meta.get("tags", ())),
        output_info=output_info_from_json(meta.get("output_info")),
    )


def output_info_from_json(data: Json | None) -> OutputInfo | None:
    """A task's output information (integers and floats as the record declares them)."""
    if data is None:
        return None

    def optional(key: str) -> float | None:
        value = data.get(key)
        return None if value is None else float(value)

    return OutputInfo(
        n=int(data["n"]),
        n_answers=int(data["n_answers"]),
        answer_entropy=float(data["answer_entropy"]),
        majority_share=float(data["majority_share"]),
        majority_index=int(data["majority_index"]),
        spread=float(data["spread"]),
        source_mi=optional("source_mi"),
        source_nmi=optional("source_nmi"),
    )


def hit_json(hit: Hit) -> Json:
    """A hit; in a source ranking also its ``predicted_gain`` and ``p_help`` (when the store sets them)."""
    out: Json = {"id": hit.id, "score": float(hit.score), "metadata": metadata_json(hit.task)}
    for key in ("predicted_gain", "p_help"):
        value = getattr(hit, key, None)
        if value is not None:
            out[key] = float(value)
    if hit.task.vector is not None:
        out["vector"] = vector_json(hit.task.vector)
    return out


def filter_of(data: Json) -> Filter:
    """The filter of a JSON ``Filter`` (possibly empty)."""

    def conditions(key: str) -> tuple[Condition, ...]:
        return tuple(Condition(cast(FilterField, c["field"]), tuple(c["any_of"])) for c in data.get(key, ()))

    return Filter(must=conditions("must"), must_not=conditions("must_not"))


def filter_from_json(data: Json | None) -> Filter | None:
    """A filter, or ``None`` when absent or empty (as ``server.conversions.optional_filter``)."""
    flt = filter_of(data) if data is not None else None
    return None if flt is None or flt.is_empty() else flt


def query_from_json(data: Json) -> QueryTarget:
    """A query's id, or its vector (the schema guarantees exactly one)."""
    if "id" in data:
        return str(data["id"])
    return vector_from_json(data["vector"])


def backend_from_json(value: str) -> Backend:
    return cast(Backend, value or "flat")


def ranking_json(ranking: Sequence[Hit]) -> Json:
    """A source ranking: its hits and, when the store gives them, its advice."""
    return {
        "ranking": [hit_json(h) for h in ranking],
        "none_expected_to_help": bool(getattr(ranking, "none_expected_to_help", False)),
        "advice": str(getattr(ranking, "advice", "")),
        "order": str(getattr(ranking, "order", "similarity")),
    }


def upsert_result_json(result: UpsertResult) -> Json:
    return {
        "upserted": result.upserted,
        "failed": result.failed,
        "errors": [{"id": e.id, "code": e.code, "message": e.message} for e in result.errors],
    }


def snapshot_json(snap: Snapshot) -> Json:
    return {
        "name": snap.name,
        "sha256": snap.sha256,
        "size_bytes": snap.size_bytes,
        "created_time": time_json(snap.created_time),
    }


def server_info_json(info: ServerInfo) -> Json:
    return {
        "version": info.version,
        "index_library": info.index_library,
        "device": info.device,
        "gpu_count": info.gpu_count,
        "backends": list(info.backends),
        "max_k": info.max_k,
        "max_queries": info.max_queries,
        "max_message_bytes": info.max_message_bytes,
        "auth_enabled": info.auth_enabled,
        # HTTP only (not in GetServerInfo): the console flags a model below it, as the CLI does
        "low_entropy_threshold": LOW_ENTROPY_THRESHOLD,
    }
