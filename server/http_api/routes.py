"""The HTTP routes: each one decodes JSON, calls the same :class:`TaskStore` method the gRPC
servicer calls, and encodes the result. No operation logic lives here.

:data:`ROUTES` is the single table: the server dispatches on it, the OpenAPI document is
generated from it, and each route names the TaskSearch RPC whose auth rule applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fute_client.errors import ResourceExhaustedError
from fute_client.types import SIMILARITIES, Condition, Filter, ServerInfo
from server.dataset_query import FileOptions
from server.http_api import json_types as jt
from server.http_api.task_map import cluster_order, task_map

if TYPE_CHECKING:
    from server.http_api.dataset_jobs import DatasetJobs, Job
    from server.store import TaskStore

Json = dict[str, Any]
Method = Literal["GET", "POST", "DELETE"]


@dataclass(frozen=True)
class Request:
    """A decoded request: path parameters, query parameters and the (validated) body."""

    params: dict[str, str]
    query: dict[str, Any]
    body: Any  # the JSON object of a JSON route, the raw bytes of an upload route
    token: str | None = None


class Api:
    """What the routes act on: the store (UNAVAILABLE until loaded), the server's info, the
    upload jobs, the health of the gRPC side and the OpenAPI document."""

    def __init__(
        self,
        store_of: Callable[[], TaskStore],
        info: ServerInfo,
        jobs: DatasetJobs,
        serving: Callable[[], bool],
        access: Callable[[str | None], Json],
    ) -> None:
        self.store_of = store_of
        self.info = info
        self.jobs = jobs
        self.serving = serving
        self.access = access

    @property
    def store(self) -> TaskStore:
        return self.store_of()


@dataclass(frozen=True)
class QueryParam:
    """A URL query parameter of a route (only upload routes have any)."""

    name: str
    kind: Literal["string", "integer"]
    description: str
    required: bool = False
    minimum: int | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """One operation: ``METHOD path`` with ``{name}`` path parameters."""

    method: Method
    path: str
    operation: str  # OpenAPI operationId
    rpc: str  # the TaskSearch RPC whose auth rule applies; "" for open routes (no data)
    summary: str
    handler: Callable[[Api, Request], Json]
    request: str | None = None  # schema of the JSON body
    response: str = ""
    status: int = 200
    query: tuple[QueryParam, ...] = field(default_factory=tuple)
    raw_body: bool = False  # the body is a file, not JSON

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))


# ---------------------------------------------------------------- handlers


def _health(api: Api, req: Request) -> Json:
    return {"status": "SERVING" if api.serving() else "NOT_SERVING"}


def _access(api: Api, req: Request) -> Json:
    return api.access(req.token)


def _info(api: Api, req: Request) -> Json:
    return jt.server_info_json(api.info)


def _list_spaces(api: Api, req: Request) -> Json:
    return {"spaces": [jt.space_json(s) for s in api.store.list_spaces()]}


def _create_space(api: Api, req: Request) -> Json:
    b = req.body
    space = api.store.create_space(
        b["name"],
        int(b["dim"]),
        backend=jt.backend_from_json(b.get("backend", "")),
        identity=jt.identity_from_json(b.get("identity")),
        keep_neighbours=bool(b.get("keep_neighbours", False)),
    )
    return jt.space_json(space)


def _describe_space(api: Api, req: Request) -> Json:
    return jt.space_json(api.store.describe_space(req.params["space"]))


def _delete_space(api: Api, req: Request) -> Json:
    return {"deleted_tasks": api.store.delete_space(req.params["space"])}


def _upsert(api: Api, req: Request) -> Json:
    tasks = [jt.task_from_json(t) for t in req.body["tasks"]]
    identity = jt.identity_from_json(req.body.get("expected_identity"))
    return jt.upsert_result_json(api.store.upsert(req.params["space"], tasks, expected_identity=identity))


def _delete_tasks(api: Api, req: Request) -> Json:
    b = req.body
    if "ids" in b:
        return {"deleted": api.store.delete(req.params["space"], ids=list(b["ids"]))}
    return {"deleted": api.store.delete(req.params["space"], filter=jt.filter_of(b["filter"]))}


def _get_tasks(api: Api, req: Request) -> Json:
    ids = list(req.body["ids"])
    tasks = api.store.get(req.params["space"], ids, with_vectors=bool(req.body.get("with_vectors")))
    found = {t.id for t in tasks}
    return {"tasks": [jt.task_json(t) for t in tasks], "missing_ids": [i for i in ids if i not in found]}


def _list_tasks(api: Api, req: Request) -> Json:
    b = req.body
    page = api.store.list_tasks(
        req.params["space"],
        filter=jt.filter_from_json(b.get("filter")),
        page_size=int(b.get("page_size", 0)),
        page_token=b.get("page_token", ""),
        with_vectors=bool(b.get("with_vectors")),
    )
    return {"tasks": [jt.task_json(t) for t in page.tasks], "next_page_token": page.next_page_token}


def _similar(api: Api, req: Request) -> Json:
    b = req.body
    threshold = b.get("score_threshold")
    results = api.store.search(
        req.params["space"],
        [jt.query_from_json(q) for q in b["queries"]],
        k=int(b["k"]),
        filter=jt.filter_from_json(b.get("filter")),
        score_threshold=float(threshold) if threshold is not None else None,
        with_vectors=bool(b.get("with_vectors")),
        expected_identity=jt.identity_from_json(b.get("expected_identity")),
        similarity=b.get("similarity", "cosine"),
        csls_k=b.get("csls_k"),
    )
    return {"results": [{"hits": [jt.hit_json(h) for h in hits]} for hits in results]}


def _rank(api: Api, req: Request) -> Json:
    b = req.body
    ranking = api.store.rank_sources(
        req.params["space"],
        jt.query_from_json(b["target"]),
        candidate_filter=jt.filter_from_json(b.get("candidate_filter")),
        k=int(b.get("k", 0)),
        expected_identity=jt.identity_from_json(b.get("expected_identity")),
        similarity=b.get("similarity", "cosine"),
        csls_k=b.get("csls_k"),
        order=b.get("order"),
        rerank_top=int(b.get("rerank_top", 0)),
    )
    return jt.ranking_json(ranking)


def _matrix(api: Api, req: Request) -> Json:
    ids, matrix = api.store.similarity_matrix(req.params["space"], list(req.body["ids"]))
    if req.body.get("order") == "clustered":
        order = cluster_order(matrix)
        ids = [ids[i] for i in order]
        matrix = matrix[np.ix_(order, order)]
    return {"ids": ids, "matrix": [jt.vector_json(row) for row in matrix]}


def _map(api: Api, req: Request) -> Json:
    store, space = api.store, req.params["space"]
    tasks = list(store.iter_tasks(space, page_size=1000))
    limit = store.config.max_matrix_ids
    if len(tasks) > limit:
        raise ResourceExhaustedError(
            f"space {space!r} has {len(tasks)} tasks; the map draws at most {limit} (max_matrix_ids)"
        )
    if not tasks:
        return {"space": space, "projection": "none", "points": [], "spearman": None, "stress": None}
    _, cos = store.similarity_matrix(space, [t.id for t in tasks])
    proj = task_map(cos)
    points = [
        {"id": t.id, "name": t.name, "kind": t.kind, "task_type": t.task_type, "x": float(x), "y": float(y)}
        for t, (x, y) in zip(tasks, proj.xy, strict=True)
    ]
    return {
        "space": space,
        "projection": proj.method,
        "points": points,
        "spearman": proj.spearman,
        "stress": proj.stress,
    }


def _job_json(api: Api, job: Job) -> Json:
    from server.http_api.dataset_jobs import STAGES
    from server.http_api.status import error_body

    j = api.jobs.snapshot(job)
    return {
        "job": j.id,
        "space": j.space,
        "file": j.file,
        "state": j.state,
        "stage": j.stage,
        "stage_index": STAGES.index(j.stage) if j.stage in STAGES else 0,
        "stages": len(STAGES) - 1,
        "elapsed_s": round(j.elapsed_s, 3),
        "rows": j.rows,
        "n_examples": j.n_examples,
        "description": j.description,
        "ranking": [jt.hit_json(h) for h in j.ranking] if j.ranking is not None else None,
        "none_expected_to_help": j.none_expected_to_help,
        "advice": j.advice,
        "error": error_body(j.error.code, str(j.error)) if j.error is not None else None,
    }


def _rank_dataset(api: Api, req: Request) -> Json:
    q = req.query
    options = FileOptions(
        name=q.get("name"),
        text_field=q.get("text_field", "text"),
        pair_field=q.get("pair_field", "text_pair"),
        label_field=q.get("label_field", "label"),
        max_examples=q.get("max_examples"),
    )
    kind = q.get("kind", "dataset")
    flt = None if kind == "any" else Filter(must=(Condition("kind", (kind,)),))
    job = api.jobs.submit(
        req.params["space"],
        q["filename"],
        req.body,
        options,
        int(q.get("k", 0)),
        flt,
        similarity=q.get("similarity", "cosine"),
        csls_k=q.get("csls_k"),
    )
    return _job_json(api, job)


def _get_job(api: Api, req: Request) -> Json:
    return _job_json(api, api.jobs.get(req.params["job"]))


def _list_snapshots(api: Api, req: Request) -> Json:
    return {"snapshots": [jt.snapshot_json(s) for s in api.store.list_snapshots()]}


def _create_snapshot(api: Api, req: Request) -> Json:
    return jt.snapshot_json(api.store.create_snapshot(req.body.get("name", "")))


def _restore_snapshot(api: Api, req: Request) -> Json:
    spaces, tasks = api.store.restore_snapshot(req.body["name"])
    return {"spaces": spaces, "tasks": tasks}


_UPLOAD_PARAMS = (
    QueryParam("filename", "string", "name of the uploaded file; its suffix picks the reader", True),
    QueryParam("k", "integer", "sources to return (0: all, up to max_k)", minimum=0),
    QueryParam(
        "kind", "string", "candidates of this kind (default dataset)", enum=("dataset", "model", "any")
    ),
    QueryParam("max_examples", "integer", "cap on examples embedded (default: the method's)", minimum=1),
    QueryParam("name", "string", "task name (default: the file stem)"),
    QueryParam("text_field", "string", "column of the text (default text)"),
    QueryParam("pair_field", "string", "column of the second text (default text_pair)"),
    QueryParam("label_field", "string", "column of the label (default label)"),
    QueryParam("similarity", "string", "rank by cosine (default) or csls", enum=SIMILARITIES),
    QueryParam("csls_k", "integer", "csls only: neighbours of r, 1-50 (default 10)", minimum=0),
)

SPACE = "/api/v1/spaces/{space}"
ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/v1/health",
        "health",
        "",
        "SERVING once the store has loaded (as gRPC health)",
        _health,
        response="Health",
    ),
    Route(
        "GET",
        "/api/v1/access",
        "access",
        "",
        "what the caller's bearer token may do",
        _access,
        response="Access",
    ),
    Route(
        "GET",
        "/api/v1/info",
        "getServerInfo",
        "GetServerInfo",
        "version, device, limits",
        _info,
        response="ServerInfo",
    ),
    Route(
        "GET",
        "/api/v1/spaces",
        "listSpaces",
        "ListSpaces",
        "all spaces",
        _list_spaces,
        response="ListSpacesResponse",
    ),
    Route(
        "POST",
        "/api/v1/spaces",
        "createSpace",
        "CreateSpace",
        "create a space",
        _create_space,
        "CreateSpaceRequest",
        "Space",
    ),
    Route(
        "GET",
        SPACE,
        "describeSpace",
        "DescribeSpace",
        "one space with its task count",
        _describe_space,
        response="Space",
    ),
    Route(
        "DELETE",
        SPACE,
        "deleteSpace",
        "DeleteSpace",
        "delete a space and its tasks",
        _delete_space,
        response="DeleteSpaceResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/tasks/upsert",
        "upsertTasks",
        "UpsertTasks",
        "insert or replace tasks",
        _upsert,
        "UpsertTasksRequest",
        "UpsertTasksResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/tasks/delete",
        "deleteTasks",
        "DeleteTasks",
        "delete by ids or filter",
        _delete_tasks,
        "DeleteTasksRequest",
        "DeleteTasksResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/tasks/get",
        "getTasks",
        "GetTasks",
        "tasks by id",
        _get_tasks,
        "GetTasksRequest",
        "GetTasksResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/tasks/list",
        "listTasks",
        "ListTasks",
        "a page of tasks by filter",
        _list_tasks,
        "ListTasksRequest",
        "ListTasksResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/similar",
        "findSimilarTasks",
        "FindSimilarTasks",
        "top-k per query",
        _similar,
        "FindSimilarTasksRequest",
        "FindSimilarTasksResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/rank",
        "rankSourceTasks",
        "RankSourceTasks",
        "rank source tasks for a target",
        _rank,
        "RankSourceTasksRequest",
        "RankSourceTasksResponse",
    ),
    Route(
        "POST",
        f"{SPACE}/matrix",
        "similarityMatrix",
        "SimilarityMatrix",
        "cosines among tasks",
        _matrix,
        "SimilarityMatrixRequest",
        "SimilarityMatrixResponse",
    ),
    Route(
        "GET",
        f"{SPACE}/map",
        "taskMap",
        "SimilarityMatrix",
        "every task placed in 2-D from its cosines",
        _map,
        response="TaskMap",
    ),
    Route(
        "POST",
        f"{SPACE}/rank_dataset",
        "rankDataset",
        "RankSourceTasks",
        "upload a JSONL/CSV/TSV file; it is embedded with the space's recipe and ranked (a job)",
        _rank_dataset,
        response="DatasetJob",
        status=202,
        query=_UPLOAD_PARAMS,
        raw_body=True,
    ),
    Route(
        "GET",
        "/api/v1/jobs/{job}",
        "getJob",
        "RankSourceTasks",
        "progress and result of an upload",
        _get_job,
        response="DatasetJob",
    ),
    Route(
        "GET",
        "/api/v1/snapshots",
        "listSnapshots",
        "ListSnapshots",
        "snapshots on disk",
        _list_snapshots,
        response="ListSnapshotsResponse",
    ),
    Route(
        "POST",
        "/api/v1/snapshots",
        "createSnapshot",
        "CreateSnapshot",
        "snapshot the whole store",
        _create_snapshot,
        "CreateSnapshotRequest",
        "Snapshot",
    ),
    Route(
        "POST",
        "/api/v1/snapshots/restore",
        "restoreSnapshot",
        "RestoreSnapshot",
        "replace the store by a snapshot",
        _restore_snapshot,
        "RestoreSnapshotRequest",
        "RestoreSnapshotResponse",
    ),
)
