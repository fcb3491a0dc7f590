"""JSON Schemas of the HTTP API's bodies, and the validator that enforces them on requests.

The schemas are the ``components/schemas`` of the served OpenAPI document
(:mod:`server.http_api.openapi`), so what the document promises is what the server checks:
one definition. The validator covers the subset of JSON Schema these schemas use (type,
properties, required, additionalProperties, items, enum, minimum, maximum, minItems,
maxItems, maxLength, minProperties, maxProperties, $ref) and names the place of the first
violation as a JSON path (``$.queries[0].vector[3]``).
"""

from __future__ import annotations

from typing import Any

from fute_client.errors import InvalidArgumentError
from fute_client.types import BACKENDS, FILTER_FIELDS, RANK_ORDERS, SIMILARITIES, TASK_KINDS
from server.config import DEFAULT_CSLS_K, MAX_CSLS_K
from server.echo import shown

Schema = dict[str, Any]

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def ref(name: str) -> Schema:
    """A reference to ``components/schemas/NAME``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """A closed object: unknown fields are an error (as protobuf JSON parsing makes them)."""
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def _array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


_STR: Schema = {"type": "string"}
_STRS: Schema = _array(_STR)
_BOOL: Schema = {"type": "boolean"}
_TIME: Schema = {"type": ["string", "null"], "description": "RFC 3339 UTC time, null when unknown"}
_VECTOR: Schema = _array({"type": "number"}, minItems=1, description="float32 values, one per dimension")
_U32: Schema = {"type": "integer", "minimum": 0, "maximum": UINT32_MAX}
_SIMILARITY: Schema = {
    "type": "string",
    "enum": list(SIMILARITIES),
    "description": "cosine (the default), or csls: 2*cos(x, y) - r(x) - r(y), r the mean cosine to "
    "the csls_k nearest other tasks of the space; scores are then CSLS values",
}
_ORDER: Schema = {
    "type": "string",
    "enum": list(RANK_ORDERS),
    "description": "predicted_gain (the server's default): candidates re-ordered by predicted transfer "
    "gain; similarity: in the order of the similarity asked",
}
_CSLS_K: Schema = {
    **_U32,
    "description": f"csls only: neighbours of r, 1-{MAX_CSLS_K} (default {DEFAULT_CSLS_K})",
}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": {"type": "string", "description": "gRPC status code name, e.g. NOT_FOUND"},
                    "message": _STR,
                },
                ("code", "message"),
            )
        },
        ("error",),
    ),
    "SpaceIdentity": _obj(
        {
            "surrogate_name": _STR,
            "surrogate_hash": _STR,
            "method": _STR,
            "settings": {"type": "string", "description": "canonical JSON of the method's settings"},
            "reduction": _STR,
            "reduction_seed": {"type": "integer", "minimum": 0, "maximum": UINT64_MAX},
            "corpus": _STR,
            "algorithm_version": _U32,
        },
        ("surrogate_name", "surrogate_hash", "method", "settings"),
    ),
    "Space": _obj(
        {
            "name": _STR,
            "dim": {"type": "integer"},
            "metric": {"type": "string", "enum": ["cosine"]},
            "backend": {"type": "string", "enum": list(BACKENDS)},
            "identity": {"anyOf": [ref("SpaceIdentity"), {"type": "null"}]},
            "space_key": _STR,
            "task_count": {"type": "integer"},
            "created_time": _TIME,
            "keep_neighbours": {**_BOOL, "description": "neighbour lists kept: CSLS can be asked"},
        },
        (
            "name",
            "dim",
            "metric",
            "backend",
            "identity",
            "space_key",
            "task_count",
            "created_time",
            "keep_neighbours",
        ),
    ),
    "CreateSpaceRequest": _obj(
        {
            "name": _STR,
            "dim": _U32,
            "metric": {"type": "string", "enum": ["", "cosine"]},
            "backend": {"type": "string", "enum": ["", *BACKENDS]},
            "identity": ref("SpaceIdentity"),
            "keep_neighbours": {
                **_BOOL,
                "description": "keep every task's nearest other tasks, which similarity csls needs;"
                " costs an exhaustive pass over the space on every write (default false)",
            },
        },
        ("name", "dim"),
    ),
    "TaskSource": _obj({"dataset_path": _STR, "model": _STR, "prompt": _STR}),
    "OutputInformation": _obj(
        {
            "n": {**_U32, "description": "outputs measured"},
            "n_answers": {**_U32, "description": "possible answers: classes, or score bins of a regressor"},
            "answer_entropy": {"type": "number", "description": "entropy of the answers / log(n_answers)"},
            "majority_share": {"type": "number"},
            "majority_index": _U32,
            "spread": {"type": "number"},
            "source_mi": {"type": ["number", "null"]},
            "source_nmi": {"type": ["number", "null"]},
        },
        ("n", "n_answers", "answer_entropy", "majority_share", "majority_index", "spread"),
        description="how much a model's outputs on U say (fute.informativeness); null for datasets",
    ),
    "TaskMetadata": _obj(
        {
            "name": _STR,
            "kind": {"type": "string", "enum": list(TASK_KINDS)},
            "task_type": _STR,
            "label_names": _STRS,
            "source": ref("TaskSource"),
            "tags": _STRS,
            "created_time": _TIME,
            "updated_time": _TIME,
            "output_info": {"anyOf": [ref("OutputInformation"), {"type": "null"}]},
        }
    ),
    "Task": _obj({"id": _STR, "vector": _VECTOR, "metadata": ref("TaskMetadata")}, ("id",)),
    "Condition": _obj(
        {"field": {"type": "string", "enum": list(FILTER_FIELDS)}, "any_of": _STRS}, ("field", "any_of")
    ),
    "Filter": _obj({"must": _array(ref("Condition")), "must_not": _array(ref("Condition"))}),
    "Query": _obj(
        {"id": _STR, "vector": _VECTOR},
        minProperties=1,
        maxProperties=1,
        description="a stored task's id or a vector, exactly one",
    ),
    "Hit": _obj(
        {
            "id": _STR,
            "score": {"type": "number"},
            "metadata": ref("TaskMetadata"),
            "vector": _VECTOR,
            "predicted_gain": {
                "type": "number",
                "description": "source rankings: expected gain on the target",
            },
            "p_help": {"type": "number", "description": "source rankings: probability the gain is positive"},
        },
        ("id", "score", "metadata"),
    ),
    "ItemStatus": _obj({"id": _STR, "code": _STR, "message": _STR}, ("id", "code", "message")),
    "UpsertTasksRequest": _obj(
        {"tasks": _array(ref("Task")), "expected_identity": ref("SpaceIdentity")}, ("tasks",)
    ),
    "UpsertTasksResponse": _obj(
        {"upserted": {"type": "integer"}, "failed": {"type": "integer"}, "errors": _array(ref("ItemStatus"))},
        ("upserted", "failed", "errors"),
    ),
    "DeleteTasksRequest": _obj(
        {"ids": _STRS, "filter": ref("Filter")},
        minProperties=1,
        maxProperties=1,
        description="ids or a filter, exactly one",
    ),
    "DeleteTasksResponse": _obj({"deleted": {"type": "integer"}}, ("deleted",)),
    "DeleteSpaceResponse": _obj({"deleted_tasks": {"type": "integer"}}, ("deleted_tasks",)),
    "GetTasksRequest": _obj({"ids": _STRS, "with_vectors": _BOOL}, ("ids",)),
    "GetTasksResponse": _obj({"tasks": _array(ref("Task")), "missing_ids": _STRS}, ("tasks", "missing_ids")),
    "ListTasksRequest": _obj(
        {"filter": ref("Filter"), "page_size": _U32, "page_token": _STR, "with_vectors": _BOOL}
    ),
    "ListTasksResponse": _obj(
        {"tasks": _array(ref("Task")), "next_page_token": _STR}, ("tasks", "next_page_token")
    ),
    "ListSpacesResponse": _obj({"spaces": _array(ref("Space"))}, ("spaces",)),
    "FindSimilarTasksRequest": _obj(
        {
            "queries": _array(ref("Query")),
            "k": _U32,
            "filter": ref("Filter"),
            "score_threshold": {"type": "number"},
            "with_vectors": _BOOL,
            "expected_identity": ref("SpaceIdentity"),
            "similarity": _SIMILARITY,
            "csls_k": _CSLS_K,
        },
        ("queries", "k"),
    ),
    "FindSimilarTasksResponse": _obj(
        {"results": _array(_obj({"hits": _array(ref("Hit"))}, ("hits",)))}, ("results",)
    ),
    "RankSourceTasksRequest": _obj(
        {
            "target": ref("Query"),
            "candidate_filter": ref("Filter"),
            "k": _U32,
            "expected_identity": ref("SpaceIdentity"),
            "similarity": _SIMILARITY,
            "csls_k": _CSLS_K,
            "order": _ORDER,
            "rerank_top": {
                **_U32,
                "description": "with order predicted_gain: re-order only this many "
                "of the most similar candidates (0, the default: all)",
            },
        },
        ("target",),
    ),
    "RankSourceTasksResponse": _obj(
        {
            "ranking": _array(ref("Hit")),
            "none_expected_to_help": {"type": "boolean", "description": "no candidate reaches P(help) 0.5"},
            "advice": {"type": "string", "description": "the ranking's advice in words (may be empty)"},
            "order": {**_ORDER, "description": "the order the ranking is in"},
        },
        ("ranking", "none_expected_to_help", "advice"),
    ),
    "SimilarityMatrixRequest": _obj(
        {
            "ids": _STRS,
            "order": {
                "type": "string",
                "enum": ["given", "clustered"],
                "description": "clustered: rows reordered by average-linkage clustering (HTTP only)",
            },
        },
        ("ids",),
    ),
    "SimilarityMatrixResponse": _obj(
        {"ids": _STRS, "matrix": _array(_array({"type": "number"}), description="row i, column j: cosine")},
        ("ids", "matrix"),
    ),
    "TaskMap": _obj(
        {
            "space": _STR,
            "projection": _STR,
            "points": _array(
                _obj(
                    {
                        "id": _STR,
                        "name": _STR,
                        "kind": _STR,
                        "task_type": _STR,
                        "x": {"type": "number"},
                        "y": {"type": "number"},
                    },
                    ("id", "name", "kind", "task_type", "x", "y"),
                )
            ),
            "spearman": {
                "type": ["number", "null"],
                "description": "Spearman correlation of 2-D distances with cosine distances over all pairs",
            },
            "stress": {"type": ["number", "null"], "description": "Kruskal stress-1 against sqrt(2 - 2 cos)"},
        },
        ("space", "projection", "points", "spearman", "stress"),
    ),
    "Snapshot": _obj(
        {"name": _STR, "sha256": _STR, "size_bytes": {"type": "integer"}, "created_time": _TIME},
        ("name", "sha256", "size_bytes", "created_time"),
    ),
    "CreateSnapshotRequest": _obj({"name": _STR}),
    "ListSnapshotsResponse": _obj({"snapshots": _array(ref("Snapshot"))}, ("snapshots",)),
    "RestoreSnapshotRequest": _obj({"name": _STR}, ("name",)),
    "RestoreSnapshotResponse": _obj(
        {"spaces": {"type": "integer"}, "tasks": {"type": "integer"}}, ("spaces", "tasks")
    ),
    "ServerInfo": _obj(
        {
            "version": _STR,
            "index_library": _STR,
            "device": _STR,
            "gpu_count": {"type": "integer"},
            "backends": _STRS,
            "max_k": {"type": "integer"},
            "max_queries": {"type": "integer"},
            "max_message_bytes": {"type": "integer"},
            "auth_enabled": _BOOL,
            "low_entropy_threshold": {
                "type": "number",
                "description": "a model task whose answer entropy on U is below it says little there "
                "(fute.informativeness.LOW_ENTROPY_THRESHOLD; the console and fute search flag it)",
            },
        },
        (
            "version",
            "index_library",
            "device",
            "gpu_count",
            "backends",
            "max_k",
            "max_queries",
            "max_message_bytes",
            "auth_enabled",
            "low_entropy_threshold",
        ),
    ),
    "Health": _obj({"status": {"type": "string", "enum": ["SERVING", "NOT_SERVING"]}}, ("status",)),
    "Access": _obj(
        {"auth_enabled": _BOOL, "can_read": _BOOL, "can_write": _BOOL},
        ("auth_enabled", "can_read", "can_write"),
    ),
    "DatasetJob": _obj(
        {
            "job": _STR,
            "space": _STR,
            "file": _STR,
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "stage": _STR,
            "stage_index": {"type": "integer"},
            "stages": {"type": "integer"},
            "elapsed_s": {"type": "number"},
            "rows": {"type": "integer"},
            "n_examples": {"type": ["integer", "null"]},
            "description": _STR,
            "ranking": {"anyOf": [_array(ref("Hit")), {"type": "null"}]},
            "none_expected_to_help": _BOOL,
            "advice": _STR,
            "error": {"anyOf": [ref("Error"), {"type": "null"}]},
        },
        (
            "job",
            "space",
            "file",
            "state",
            "stage",
            "stage_index",
            "stages",
            "elapsed_s",
            "rows",
            "n_examples",
            "description",
            "ranking",
            "none_expected_to_help",
            "advice",
            "error",
        ),
    ),
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_type(value: object, name: str) -> bool:
    if name == "integer":
        # JSON Schema counts 3.0 as an integer; bool is not a number in JSON.
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if name == "number":
        return not isinstance(value, bool) and isinstance(value, int | float)
    return isinstance(value, _JSON_TYPES[name])


def _resolve(schema: Schema) -> Schema:
    target = schema.get("$ref")
    if target is None:
        return schema
    return SCHEMAS[str(target).rsplit("/", 1)[-1]]


def _fail(path: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"request body at {path}: {message}")


def validate(value: object, schema: Schema, path: str = "$") -> None:
    """Raise INVALID_ARGUMENT naming the JSON path of the first place ``value`` breaks ``schema``."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        errors: list[InvalidArgumentError] = []
        for option in schema["anyOf"]:
            try:
                validate(value, option, path)
                return
            except InvalidArgumentError as exc:
                errors.append(exc)
        raise errors[0]
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, n) for n in names):
            raise _fail(path, f"expected {' or '.join(names)}, got {_type_name(value)} {shown(value, 40)}")
    if "enum" in schema and value not in schema["enum"]:
        raise _fail(path, f"{shown(value, 40)} is not one of {schema['enum']}")
    if _is_type(value, "number"):
        _check_range(value, schema, path)  # type: ignore[arg-type]
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _fail(path, f"string of {len(value)} characters, at most {schema['maxLength']}")
    if isinstance(value, list):
        _check_array(value, schema, path)
    if isinstance(value, dict):
        _check_object(value, schema, path)


def _check_range(value: float, schema: Schema, path: str) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise _fail(path, f"{value} is below the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise _fail(path, f"{value} is above the maximum {schema['maximum']}")


def _check_array(value: list[Any], schema: Schema, path: str) -> None:
    if len(value) < schema.get("minItems", 0):
        raise _fail(path, f"{len(value)} items, at least {schema['minItems']}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise _fail(path, f"{len(value)} items, at most {schema['maxItems']}")
    items = schema.get("items")
    if items is not None:
        for i, item in enumerate(value):
            validate(item, items, f"{path}[{i}]")


def _check_object(value: dict[str, Any], schema: Schema, path: str) -> None:
    properties: dict[str, Schema] = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = [k for k in value if k not in properties]
        if unknown:
            raise _fail(path, f"unknown field {shown(unknown[0], 60)}; known: {', '.join(properties)}")
    for key in schema.get("required", ()):
        if key not in value:
            raise _fail(path, f"missing required field {key!r}")
    if len(value) < schema.get("minProperties", 0) or len(value) > schema.get("maxProperties", len(value)):
        raise _fail(path, f"{schema.get('description', 'wrong number of fields')}; got {sorted(value)}")
    for key, item in value.items():
        if key in properties:
            validate(item, properties[key], f"{path}.{key}")
