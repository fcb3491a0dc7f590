"""The HTTP/JSON API over a real server: same answers, errors and auth as gRPC, and every
reply matches the served OpenAPI document (checked with the independent ``jsonschema``)."""

from __future__ import annotations

import gzip
import time
from typing import Any

import jsonschema
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from http_kit import READ, SPACE, SUITE, SUITE_DATA, WRITE, Served, http

from fute_client.errors import InvalidArgumentError, NotFoundError, TaskSearchError
from fute_client.types import Condition, Filter
from server.app import SERVICE_NAME
from server.http_api.routes import ROUTES

S = f"/api/v1/spaces/{SPACE}"


class Checked:
    """Calls a server and checks each reply against the OpenAPI document it serves."""

    def __init__(self, served: Served) -> None:
        self.base = served.base
        status, self.doc = http("GET", f"{self.base}/api/v1/openapi.json")
        assert status == 200
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, template: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, reply = http(method, self.base + path, body, **kw)
        op = self.doc["paths"][template][method.lower()]
        response = op["responses"][str(status)]
        schema = {**response["content"]["application/json"]["schema"], "components": self.doc["components"]}
        jsonschema.validate(reply, schema)
        if status < 400:
            self.seen.add((method, template))
        return status, reply


def _job(check: Checked, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    stages = {job["stage"]}
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        _, job = check("GET", f"/api/v1/jobs/{job['job']}", "/api/v1/jobs/{job}", token=READ)
        stages.add(job["stage"])
    job["seen_stages"] = stages
    return job


def test_every_route_answers_as_its_openapi_document_says(served: Served) -> None:
    check = Checked(served)
    sp = "/api/v1/spaces/{space}"
    assert check("GET", "/api/v1/health", "/api/v1/health")[1] == {"status": "SERVING"}
    assert check("GET", "/api/v1/access", "/api/v1/access", token=WRITE)[1]["can_write"] is True
    assert check("GET", "/api/v1/info", "/api/v1/info", token=READ)[1]["auth_enabled"] is True
    assert SPACE in [
        s["name"] for s in check("GET", "/api/v1/spaces", "/api/v1/spaces", token=READ)[1]["spaces"]
    ]
    assert check("GET", S, sp, token=READ)[1]["task_count"] == len(SUITE)
    status, _ = check("POST", "/api/v1/spaces", "/api/v1/spaces", {"name": "scratch", "dim": 2}, token=WRITE)
    assert status == 200
    tasks = [
        {"id": "a", "vector": [1.0, 0.0], "metadata": {"kind": "model", "tags": ["x"]}},
        {"id": "b", "vector": [0.0, 1.0]},
    ]
    scratch = "/api/v1/spaces/scratch"
    assert (
        check("POST", f"{scratch}/tasks/upsert", f"{sp}/tasks/upsert", {"tasks": tasks}, token=WRITE)[1][
            "upserted"
        ]
        == 2
    )
    got = check(
        "POST",
        f"{scratch}/tasks/get",
        f"{sp}/tasks/get",
        {"ids": ["a", "zz"], "with_vectors": True},
        token=READ,
    )[1]
    assert got["tasks"][0]["vector"] == [1.0, 0.0] and got["missing_ids"] == ["zz"]
    page = check("POST", f"{S}/tasks/list", f"{sp}/tasks/list", {"page_size": 5}, token=READ)[1]
    assert len(page["tasks"]) == 5 and page["next_page_token"]
    hits = check(
        "POST", f"{S}/similar", f"{sp}/similar", {"queries": [{"id": "sms_spam"}], "k": 3}, token=READ
    )[1]
    assert len(hits["results"][0]["hits"]) == 3
    ranking = check("POST", f"{S}/rank", f"{sp}/rank", {"target": {"id": "sms_spam"}, "k": 4}, token=READ)[1]
    assert len(ranking["ranking"]) == 4
    matrix = check("POST", f"{S}/matrix", f"{sp}/matrix", {"ids": ["sms_spam", "trec_fine"]}, token=READ)[1]
    assert matrix["matrix"][0][0] == pytest.approx(1.0, abs=1e-6)
    assert len(check("GET", f"{S}/map", f"{sp}/map", token=READ)[1]["points"]) == len(SUITE)
    raw = gzip.decompress((SUITE_DATA / "sms_spam" / "dev.jsonl.gz").read_bytes())
    status, job = check(
        "POST",
        f"{S}/rank_dataset?filename=mine.jsonl&k=3&max_examples=24",
        f"{sp}/rank_dataset",
        token=READ,
        raw=raw,
    )
    assert status == 202
    assert _job(check, job)["state"] == "done"
    assert check("POST", f"{scratch}/tasks/delete", f"{sp}/tasks/delete", {"ids": ["a"]}, token=WRITE)[1] == {
        "deleted": 1
    }
    assert check("DELETE", scratch, sp, token=WRITE)[1] == {"deleted_tasks": 1}
    snap = check("POST", "/api/v1/snapshots", "/api/v1/snapshots", {"name": "s1"}, token=WRITE)[1]
    assert len(snap["sha256"]) == 64
    assert [
        s["name"] for s in check("GET", "/api/v1/snapshots", "/api/v1/snapshots", token=READ)[1]["snapshots"]
    ] == ["s1"]
    restored = check(
        "POST", "/api/v1/snapshots/restore", "/api/v1/snapshots/restore", {"name": "s1"}, token=WRITE
    )[1]
    assert restored["tasks"] == len(SUITE)
    # Error replies match the document too (the Error schema).
    assert check("POST", f"{S}/similar", f"{sp}/similar", {"queries": [], "k": 3}, token=READ)[0] == 400
    documented = {(r.method, r.path) for r in ROUTES}
    assert documented - check.seen == set(), "routes never exercised"


def test_http_answers_equal_grpc_answers(served: Served) -> None:
    c = served.client
    flt = Filter(must=(Condition("task_type", ("sentiment", "topic")),))
    grpc_hits = c.search(SPACE, ["vader_movies", "trec_coarse"], k=5, filter=flt)
    body = {
        "queries": [{"id": "vader_movies"}, {"id": "trec_coarse"}],
        "k": 5,
        "filter": {"must": [{"field": "task_type", "any_of": ["sentiment", "topic"]}]},
    }
    _, reply = http("POST", f"{served.base}{S}/similar", body, token=READ)
    for grpc_q, http_q in zip(grpc_hits, reply["results"], strict=True):
        assert [h.id for h in grpc_q] == [h["id"] for h in http_q["hits"]]
        np.testing.assert_allclose([h.score for h in grpc_q], [h["score"] for h in http_q["hits"]], rtol=1e-6)
    vector = c.get(SPACE, ["sms_spam"], with_vectors=True)[0].vector
    assert vector is not None
    _, by_vec = http("POST", f"{served.base}{S}/rank", {"target": {"vector": vector.tolist()}}, token=READ)
    assert [h["id"] for h in by_vec["ranking"]] == [h.id for h in c.rank_sources(SPACE, vector)]
    ids = [e["name"] for e in SUITE[:6]]
    _, m = http("POST", f"{served.base}{S}/matrix", {"ids": ids}, token=READ)
    np.testing.assert_allclose(np.array(m["matrix"]), c.similarity_matrix(SPACE, ids)[1], atol=1e-6)
    _, clustered = http("POST", f"{served.base}{S}/matrix", {"ids": ids, "order": "clustered"}, token=READ)
    assert sorted(clustered["ids"]) == sorted(ids)
    perm = [ids.index(i) for i in clustered["ids"]]
    np.testing.assert_allclose(
        np.array(clustered["matrix"]), np.array(m["matrix"])[np.ix_(perm, perm)], atol=1e-7
    )
    _, page = http(
        "POST",
        f"{served.base}{S}/tasks/list",
        {"filter": {"must": [{"field": "tag", "any_of": ["pair"]}]}},
        token=READ,
    )
    grpc_page = c.list_tasks(SPACE, filter=Filter(must=(Condition("tag", ("pair",)),)))
    assert [t["id"] for t in page["tasks"]] == [t.id for t in grpc_page.tasks] != []


def _grpc_error(call: Any) -> TaskSearchError:
    with pytest.raises(TaskSearchError) as info:
        call()
    return info.value


@pytest.mark.parametrize(
    ("body", "grpc_call"),
    [
        ({"queries": [{"id": "sms_spam"}], "k": 0}, lambda c: c.search(SPACE, ["sms_spam"], k=0)),
        ({"queries": [{"id": "no-such"}], "k": 3}, lambda c: c.search(SPACE, ["no-such"], k=3)),
        (
            {"queries": [{"vector": [1.0, 2.0]}], "k": 3},
            lambda c: c.search(SPACE, [np.array([1.0, 2.0])], k=3),
        ),
    ],
)
def test_errors_carry_the_grpc_code_and_message(served: Served, body: dict[str, Any], grpc_call: Any) -> None:
    expected = _grpc_error(lambda: grpc_call(served.client))
    status, reply = http("POST", f"{served.base}{S}/similar", body, token=READ)
    # The client's message is "CODE: server message"; the server's message travels unchanged.
    message = str(expected).removeprefix(f"{expected.code.name}: ")
    assert reply["error"] == {"code": expected.code.name, "message": message}
    assert status == {InvalidArgumentError: 400, NotFoundError: 404}[type(expected)]


def test_auth_is_the_grpc_rule(served: Served) -> None:
    base = served.base
    assert http("GET", f"{base}/api/v1/spaces")[0] == 401
    status, reply = http("GET", f"{base}/api/v1/spaces", token="guess")
    assert (status, reply["error"]["code"]) == (401, "UNAUTHENTICATED")
    status, reply = http("POST", f"{base}/api/v1/snapshots", {}, token=READ)
    assert (status, reply["error"]["message"]) == (403, "CreateSnapshot needs a read-write token")
    assert http("DELETE", f"{base}{S}", token=READ)[0] == 403
    assert http("GET", f"{base}/api/v1/access", token=READ)[1] == {
        "auth_enabled": True,
        "can_read": True,
        "can_write": False,
    }
    assert http("GET", f"{base}/api/v1/health")[0] == 200  # open, as gRPC health
    assert http("GET", f"{base}{S}", token=READ)[0] == 200  # nothing was deleted


def test_without_auth_reads_are_open_and_writes_refused(served_open: Served) -> None:
    base = served_open.base
    assert http("GET", f"{base}{S}")[1]["task_count"] == len(SUITE)
    status, reply = http("DELETE", f"{base}{S}")
    assert status == 403 and "--write-token-file" in reply["error"]["message"]
    assert http("GET", f"{base}/api/v1/access")[1] == {
        "auth_enabled": False,
        "can_read": True,
        "can_write": False,
    }
    assert served_open.client.describe_space(SPACE).task_count == len(SUITE)


def test_health_says_what_grpc_health_says(served_open: Served) -> None:
    health = served_open.server.health
    try:
        health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
        assert http("GET", f"{served_open.base}/api/v1/health") == (503, {"status": "NOT_SERVING"})
    finally:
        health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    assert http("GET", f"{served_open.base}/api/v1/health") == (200, {"status": "SERVING"})


def test_the_map_places_every_task_faithfully(served_open: Served) -> None:
    _, m = http("GET", f"{served_open.base}{S}/map")
    assert sorted(p["id"] for p in m["points"]) == sorted(e["name"] for e in SUITE)
    # Measured on this space: SMACOF beats classical MDS; both numbers are in docs/service.md.
    assert m["projection"] == "SMACOF from classical MDS"
    assert m["spearman"] > 0.6 and m["stress"] < 0.4
    xy = {p["id"]: np.array([p["x"], p["y"]]) for p in m["points"]}
    # The nearest task on the map is among the 4 nearest by cosine, for most tasks.
    hits = served_open.client.search(SPACE, list(xy), k=4)
    agree = 0
    for query, top in zip(xy, hits, strict=True):
        nearest = min((i for i in xy if i != query), key=lambda i: float(np.linalg.norm(xy[i] - xy[query])))
        agree += nearest in [h.id for h in top]
    assert agree >= 0.6 * len(xy)


def test_uploaded_dataset_is_ranked_like_fute_rank_data(served_open: Served) -> None:
    raw = gzip.decompress((SUITE_DATA / "trec_coarse" / "dev.jsonl.gz").read_bytes())
    url = f"{served_open.base}{S}/rank_dataset?filename=my-questions.jsonl&k=3&max_examples=24"
    status, job = http("POST", url, raw=raw)
    assert status == 202 and job["rows"] == raw.count(b"\n")
    check = Checked(served_open)
    done = _job(check, job)
    assert done["state"] == "done", done["error"]
    assert done["ranking"][0]["id"] in ("trec_coarse", "trec_fine")
    assert "24 of" in done["description"] and done["n_examples"] == 24
    assert done["stage_index"] == done["stages"]  # the progress bar ends full


@pytest.mark.parametrize(
    ("query", "raw", "status", "needle"),
    [
        ("filename=x.exe", b"{}", 400, "expected a name ending in one of"),
        ("filename=a.jsonl&k=x", b"{}", 400, "query parameter k: expected an integer"),
        ("filename=a.jsonl&bogus=1", b"{}", 400, "unknown query parameter 'bogus'"),
        ("k=3", b"{}", 400, "missing query parameter 'filename'"),
        ("filename=a.jsonl", b'{"text": "hi"}\n{"text": "ho", "label": 1}\n', 400, "a.jsonl:1"),
    ],
)
def test_bad_uploads_are_clear_4xx(
    served_open: Served, query: str, raw: bytes, status: int, needle: str
) -> None:
    got, reply = http("POST", f"{served_open.base}{S}/rank_dataset?{query}", raw=raw)
    assert got == status and needle in reply["error"]["message"], reply


def test_upload_to_a_space_without_identity_is_412(served: Served) -> None:
    http("POST", f"{served.base}/api/v1/spaces", {"name": "plain", "dim": 2}, token=WRITE)
    status, reply = http(
        "POST",
        f"{served.base}/api/v1/spaces/plain/rank_dataset?filename=a.csv",
        raw=b"text,label\nx,1\n",
        token=READ,
    )
    assert (status, reply["error"]["code"]) == (412, "FAILED_PRECONDITION")
    assert "without an embedding-space identity" in reply["error"]["message"]
