"""CSLS and output information over the HTTP/JSON API: the same answers as gRPC, errors
naming the field, and replies that match the served OpenAPI document."""

from __future__ import annotations

import gzip
import time
from typing import Any

import jsonschema
import pytest
from http_kit import READ, SPACE, SUITE_DATA, WRITE, Served, http

from fute.informativeness import LOW_ENTROPY_THRESHOLD

S = f"/api/v1/spaces/{SPACE}"


def _schema_of(served: Served, template: str, status: int) -> dict[str, Any]:
    _, doc = http("GET", f"{served.base}/api/v1/openapi.json")
    response = doc["paths"][template]["post"]["responses"][str(status)]
    return {**response["content"]["application/json"]["schema"], "components": doc["components"]}


def test_similar_and_rank_by_csls_match_grpc(served: Served) -> None:
    body = {"queries": [{"id": "sms_spam"}], "k": 4, "similarity": "csls", "csls_k": 3}
    status, reply = http("POST", f"{served.base}{S}/similar", body, token=READ)
    assert status == 200
    jsonschema.validate(reply, _schema_of(served, "/api/v1/spaces/{space}/similar", 200))
    (want,) = served.client.search(SPACE, ["sms_spam"], k=4, similarity="csls", csls_k=3)
    got = reply["results"][0]["hits"]
    assert [h["id"] for h in got] == [h.id for h in want]
    assert [h["score"] for h in got] == pytest.approx([h.score for h in want], abs=1e-6)  # gRPC: float32
    cosine = served.client.search(SPACE, ["sms_spam"], k=4)[0]
    assert [h["score"] for h in got] != [h.score for h in cosine]  # CSLS values, not cosines
    status, reply = http(
        "POST",
        f"{served.base}{S}/rank",
        {"target": {"id": "sms_spam"}, "k": 3, "similarity": "csls"},
        token=READ,
    )
    assert status == 200
    want_rank = served.client.rank_sources(SPACE, "sms_spam", k=3, similarity="csls")
    assert [h["id"] for h in reply["ranking"]] == [h.id for h in want_rank]
    assert [h["p_help"] for h in reply["ranking"]] == pytest.approx([h.p_help for h in want_rank], abs=1e-6)


def test_bad_csls_requests_are_400_naming_the_field(served: Served) -> None:
    for body, message in (
        (
            {"queries": [{"id": "sms_spam"}], "k": 2, "similarity": "csls", "csls_k": 51},
            "csls_k must be in [1, 50]",
        ),
        ({"queries": [{"id": "sms_spam"}], "k": 2, "csls_k": 2}, "csls_k applies to similarity 'csls' only"),
        ({"queries": [{"id": "sms_spam"}], "k": 2, "similarity": "l2"}, "$.similarity"),
    ):
        status, reply = http("POST", f"{served.base}{S}/similar", body, token=READ)
        assert status == 400, reply
        assert message in reply["error"]["message"]


def test_output_info_travels_over_json(served: Served) -> None:
    info = {
        "n": 100,
        "n_answers": 2,
        "answer_entropy": 0.05,
        "majority_share": 0.99,
        "majority_index": 0,
        "spread": 0.01,
        "source_mi": None,
        "source_nmi": None,
    }
    vector = [0.1] * served.client.describe_space(SPACE).dim
    task = {"id": "quiet-model", "vector": vector, "metadata": {"kind": "model", "output_info": info}}
    status, reply = http("POST", f"{served.base}{S}/tasks/upsert", {"tasks": [task]}, token=WRITE)
    assert (status, reply["upserted"]) == (200, 1), reply
    try:
        status, reply = http(
            "POST", f"{served.base}{S}/tasks/get", {"ids": ["quiet-model", "sms_spam"]}, token=READ
        )
        assert status == 200
        by_id = {t["id"]: t["metadata"]["output_info"] for t in reply["tasks"]}
        assert by_id == {"quiet-model": info, "sms_spam": None}
        stored = served.client.get(SPACE, ["quiet-model"])[0].output_info
        assert stored is not None and stored.answer_entropy == 0.05
        body = {"queries": [{"vector": vector}], "k": 1}
        status, reply = http("POST", f"{served.base}{S}/similar", body, token=READ)
        jsonschema.validate(reply, _schema_of(served, "/api/v1/spaces/{space}/similar", 200))
        assert reply["results"][0]["hits"][0]["metadata"]["output_info"] == info
    finally:
        served.client.delete(SPACE, ids=["quiet-model"])


def test_info_gives_the_low_entropy_threshold(served: Served) -> None:
    """The console flags a model below fute's own threshold, which /info serves (HTTP only)."""
    status, reply = http("GET", f"{served.base}/api/v1/info", token=READ)
    assert status == 200 and reply["low_entropy_threshold"] == LOW_ENTROPY_THRESHOLD
    _, doc = http("GET", f"{served.base}/api/v1/openapi.json")
    response = doc["paths"]["/api/v1/info"]["get"]["responses"]["200"]
    jsonschema.validate(
        reply, {**response["content"]["application/json"]["schema"], "components": doc["components"]}
    )


def _finished(served: Served, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        _, job = http("GET", f"{served.base}/api/v1/jobs/{job['job']}")
    return job


def test_rank_dataset_by_csls(served_open: Served) -> None:
    raw = gzip.decompress((SUITE_DATA / "trec_coarse" / "dev.jsonl.gz").read_bytes())
    url = f"{served_open.base}{S}/rank_dataset?filename=q.jsonl&k=5&max_examples=24"
    status, reply = http("POST", f"{url}&similarity=csls&csls_k=0", raw=raw)
    assert (
        status == 400 and "csls_k must be in [1, 50], got 0" in reply["error"]["message"]
    )  # before any work
    status, reply = http("POST", f"{url}&similarity=l2", raw=raw)
    assert status == 400 and "similarity" in reply["error"]["message"]
    jobs = {}
    for similarity in ("cosine", "csls"):
        status, job = http(
            "POST", f"{url}&similarity={similarity}&csls_k=3" if similarity == "csls" else url, raw=raw
        )
        assert status == 202, job
        jobs[similarity] = _finished(served_open, job)
        assert jobs[similarity]["state"] == "done", jobs[similarity]["error"]
    by_cos = [h["score"] for h in jobs["cosine"]["ranking"]]
    by_csls = [h["score"] for h in jobs["csls"]["ranking"]]
    assert by_csls == sorted(by_csls, reverse=True) and len(by_csls) == 5
    assert by_csls != by_cos
    assert all(h["p_help"] is not None for h in jobs["csls"]["ranking"])


def test_keep_neighbours_over_json(served: Served, served_open: Served) -> None:
    """CreateSpace takes keep_neighbours (default false) and Space echoes it; CSLS on a space
    without it is 412 FAILED_PRECONDITION naming the space and the flag, rank_dataset
    included (before a job is queued)."""
    spaces = f"{served.base}/api/v1/spaces"
    schema = _schema_of(served, "/api/v1/spaces", 200)
    try:
        status, plain = http("POST", spaces, {"name": "plain", "dim": 4}, token=WRITE)
        assert status == 200 and plain["keep_neighbours"] is False, plain
        jsonschema.validate(plain, schema)
        status, kept = http("POST", spaces, {"name": "kept", "dim": 4, "keep_neighbours": True}, token=WRITE)
        assert status == 200 and kept["keep_neighbours"] is True, kept
        assert served.client.describe_space("kept").keep_neighbours
        status, bad = http("POST", spaces, {"name": "bad", "dim": 4, "keep_neighbours": "yes"}, token=WRITE)
        assert status == 400 and "$.keep_neighbours" in bad["error"]["message"]
        tasks = [{"id": f"t{i}", "vector": [1.0, i, 0.5, -i]} for i in range(5)]
        for name in ("plain", "kept"):
            status, _ = http("POST", f"{spaces}/{name}/tasks/upsert", {"tasks": tasks}, token=WRITE)
            assert status == 200
        body = {"queries": [{"id": "t0"}], "k": 2, "similarity": "csls"}
        status, reply = http("POST", f"{spaces}/kept/similar", body, token=READ)
        assert status == 200 and len(reply["results"][0]["hits"]) == 2
        status, reply = http("POST", f"{spaces}/plain/similar", body, token=READ)
        assert status == 412, reply
        assert reply["error"]["code"] == "FAILED_PRECONDITION"
        assert "space 'plain' keeps no neighbour lists" in reply["error"]["message"]
        assert "create the space with keep_neighbours" in reply["error"]["message"]
    finally:
        for name in ("plain", "kept"):
            served.client.delete_space(name)
    open_client = served_open.client
    suite = open_client.describe_space(SPACE)
    open_client.create_space("plain-suite", suite.dim, identity=suite.identity)
    try:
        raw = gzip.decompress((SUITE_DATA / "trec_coarse" / "dev.jsonl.gz").read_bytes())
        url = (
            f"{served_open.base}/api/v1/spaces/plain-suite/rank_dataset?filename=q.jsonl&k=5&max_examples=24"
        )
        status, reply = http("POST", f"{url}&similarity=csls", raw=raw)
        assert status == 412 and "keeps no neighbour lists" in reply["error"]["message"], reply
    finally:
        open_client.delete_space("plain-suite")
