"""Bad input over HTTP: property-based fuzzing of the HTTP/JSON routes.

Bodies built by hypothesis: malformed JSON and bytes that are not UTF-8, JSON of every
type where a route expects an object, valid bodies with a field replaced by a value of
the wrong type or with an unknown field added, NaN literals, nesting deep enough to
exhaust a recursive parser, oversized bodies, wrong content types and garbage request
lines. Every reply must be a JSON error with a 4xx status (a 2xx for a body that happens
to be valid), never a 5xx, and name what was wrong; a schema error names where
(``$.path``). After every example the server must still serve: health SERVING and the
reference space unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kit.json_strategy import json_values as kit_json_values
from reliability_kit import loopback_config

from fute_client import TaskSearchClient
from fute_client.types import Task
from server.app import TaskSearchServer, create_server

DIM = 8
REF = "reference"
N_REF = 20
MAX_MESSAGE = 1 << 20
EXAMPLES = 60
READ, WRITE = "fuzz-read", "fuzz-write"

# Valid bodies of each JSON route; the fuzzer corrupts them.
VALID: dict[str, dict[str, Any]] = {
    f"/api/v1/spaces/{REF}/similar": {"queries": [{"id": "t-0"}], "k": 3},
    f"/api/v1/spaces/{REF}/rank": {"target": {"id": "t-1"}, "k": 2},
    f"/api/v1/spaces/{REF}/matrix": {"ids": ["t-0", "t-1"]},
    f"/api/v1/spaces/{REF}/tasks/list": {
        "page_size": 5,
        "filter": {"must": [{"field": "kind", "any_of": ["model"]}]},
    },
    f"/api/v1/spaces/{REF}/tasks/get": {"ids": ["t-0"], "with_vectors": True},
    "/api/v1/spaces/scratch/tasks/upsert": {"tasks": [{"id": "x", "vector": [1.0] * DIM}]},
    "/api/v1/spaces/scratch/tasks/delete": {"ids": ["x"]},
    "/api/v1/spaces": {"name": "fuzz-space", "dim": 4},
    "/api/v1/snapshots": {"name": "fuzz-snap"},
}
json_values = kit_json_values(st.text(max_size=8), int_bits=70, text_size=20, container_size=4, max_leaves=12)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TaskSearchServer, int, np.ndarray]]:
    config = loopback_config(
        Path(tmp_path_factory.mktemp("fuzz-http")),
        max_message_bytes=MAX_MESSAGE,
        http_port=0,
        read_tokens=frozenset({READ}),
        write_tokens=frozenset({WRITE}),
    )
    server, port = create_server(config)
    assert server.http is not None
    vectors = np.random.default_rng(0).normal(size=(N_REF, DIM)).astype(np.float32)
    with TaskSearchClient(f"127.0.0.1:{port}", token=WRITE, timeout=10) as c:
        for name in (REF, "scratch"):
            c.create_space(name, DIM)
        tasks = [Task(id=f"t-{i}", vector=vectors[i], kind=("dataset", "model")[i % 2]) for i in range(N_REF)]
        c.upsert(REF, tasks)
    yield server, server.http.port, vectors
    server.stop(1.0)


def send(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {WRITE}", **headers})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def still_serving(port: int) -> None:
    assert send(port, "GET", "/api/v1/health", b"", {}) == (200, {"status": "SERVING"})
    status, space = send(port, "GET", f"/api/v1/spaces/{REF}", b"", {})
    assert (status, space["task_count"]) == (200, N_REF)
    status, hits = send(
        port,
        "POST",
        f"/api/v1/spaces/{REF}/similar",
        json.dumps(VALID[f"/api/v1/spaces/{REF}/similar"]).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and len(hits["results"][0]["hits"]) == 3


def assert_clear_4xx_or_ok(status: int, reply: Any) -> None:
    assert status < 500, reply
    if status >= 400:
        assert set(reply) == {"error"} and reply["error"]["message"], reply
        assert reply["error"]["code"] not in ("INTERNAL", "UNKNOWN")


def corrupt(data: st.DataObject, body: dict[str, Any]) -> Any:
    choice = data.draw(st.sampled_from(["replace", "unknown", "any", "nested"]))
    out = json.loads(json.dumps(body))
    if choice == "replace":
        key = data.draw(st.sampled_from(sorted(out)))
        out[key] = data.draw(json_values)
    elif choice == "unknown":
        out[data.draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in out))] = data.draw(
            json_values
        )
    elif choice == "any":
        return data.draw(json_values)
    else:
        key = data.draw(st.sampled_from(sorted(out)))
        if isinstance(out[key], list) and out[key] and isinstance(out[key][0], dict):
            inner = out[key][0]
            inner[data.draw(st.sampled_from([*sorted(inner), "zz"]))] = data.draw(json_values)
    return out


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_corrupted_json_bodies_get_a_clear_4xx(
    served: tuple[TaskSearchServer, int, np.ndarray], data: st.DataObject
) -> None:
    _, port, _ = served
    path = data.draw(st.sampled_from(sorted(VALID)))
    body = corrupt(data, VALID[path])
    status, reply = send(port, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert_clear_4xx_or_ok(status, reply)
    if status == 400 and "request body at" in reply["error"]["message"]:
        assert "$" in reply["error"]["message"]
    still_serving(port)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode), route=st.sampled_from(sorted(VALID))
)
def test_bytes_that_are_not_json_get_a_clear_400(
    served: tuple[TaskSearchServer, int, np.ndarray], raw: bytes, route: str
) -> None:
    _, port, _ = served
    status, reply = send(port, "POST", route, raw, {"Content-Type": "application/json"})
    assert_clear_4xx_or_ok(status, reply)
    still_serving(port)


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (b'{"queries": [{"id": "t-0"}], "k": 3', {}, 400, "malformed JSON at line 1 column"),
        (b'{"queries": [{"vector": [NaN]}], "k": 3}', {}, 400, "NaN is not JSON"),
        (b"\xff\xfe{}", {}, 400, "not UTF-8: byte 0"),
        (b"[" * 100_000 + b"]" * 100_000, {}, 400, "malformed JSON"),
        (b'{"queries": [{"id": "t-0", "vector": [1]}], "k": 3}', {}, 400, "$.queries[0]"),
        (b'{"queries": [{"id": 5}], "k": 3}', {}, 400, "$.queries[0].id: expected string, got number 5"),
        (b'{"queries": [{"id": "t-0"}], "k": 3, "q": 1}', {}, 400, "unknown field 'q'"),
        (
            b'{"queries": [{"id": "t-0"}], "k": 3}',
            {"Content-Type": "text/plain"},
            415,
            "send application/json",
        ),
        (b'{"queries": [{"id": "t-0"}], "k": 99999999999}', {}, 400, "$.k: 99999999999 is above the maximum"),
        (b'{"queries": [{"id": "t-0"}], "k": 2000}', {}, 400, "k must be in [1, 1024], got 2000"),
    ],
)
def test_each_kind_of_bad_body_names_what_and_where(
    served: tuple[TaskSearchServer, int, np.ndarray],
    body: bytes,
    headers: dict[str, str],
    status: int,
    needle: str,
) -> None:
    _, port, _ = served
    got, reply = send(
        port, "POST", f"/api/v1/spaces/{REF}/similar", body, {"Content-Type": "application/json", **headers}
    )
    assert got == status and needle in reply["error"]["message"], reply
    still_serving(port)


def test_an_oversized_body_is_413_before_it_is_read(served: tuple[TaskSearchServer, int, np.ndarray]) -> None:
    _, port, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (
            f"POST /api/v1/spaces/{REF}/similar HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {READ}\r\nContent-Length: {MAX_MESSAGE + 1}\r\n\r\n"
        )
        sock.sendall(head.encode())  # no body follows: the reply must not wait for it
        reply = sock.makefile("rb").read().decode()
    assert (
        reply.startswith("HTTP/1.0 413") and "RESOURCE_EXHAUSTED" in reply and f"{MAX_MESSAGE}-byte" in reply
    )
    # A whole oversized body: the server may answer and close while it is still being sent
    # (that is the point), so the sender's broken pipe is expected and the reply still read.
    big = json.dumps({"queries": [{"vector": [0.5] * (MAX_MESSAGE // 4)}], "k": 1}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (
            f"POST /api/v1/spaces/{REF}/similar HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {READ}\r\nContent-Length: {len(big)}\r\n\r\n"
        )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head.encode() + big)
        reply = sock.makefile("rb").read().decode()
    assert reply.startswith("HTTP/1.0 413") and "RESOURCE_EXHAUSTED" in reply
    still_serving(port)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"BREW /api/v1/health HTTP/1.1\r\n\r\n",
    ],
)
def test_garbage_requests_get_json_errors(
    served: tuple[TaskSearchServer, int, np.ndarray], request_bytes: bytes
) -> None:
    _, port, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes)
        raw = sock.makefile("rb").read()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert 400 <= status < 502 and status != 500
    assert json.loads(body)["error"]["message"]
    still_serving(port)


def test_unknown_routes_and_methods(served: tuple[TaskSearchServer, int, np.ndarray]) -> None:
    _, port, _ = served
    status, reply = send(port, "GET", "/api/v1/nothing", b"", {})
    assert status == 404 and "openapi.json" in reply["error"]["message"]
    status, reply = send(port, "PUT", f"/api/v1/spaces/{REF}", b"", {})
    assert status == 405 and "GET" in reply["error"]["message"]
    status, reply = send(port, "GET", "/api/v1/spaces/%ZZ%FF", b"", {})
    assert 400 <= status < 500
    still_serving(port)
