"""Helpers of the HTTP tests: a real server (gRPC + HTTP on loopback ports) over a store
holding the committed suite embedded with the fast ``text`` method, and a urllib client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fute.data import cap_examples, load_task
from fute.embedding import TaskEmbedding, TaskInfo
from fute.methods import make_method
from fute.surrogate import Surrogate
from fute_client import TaskSearchClient
from server.app import TaskSearchServer, create_server
from server.config import ServerConfig, StoreConfig
from server.embedding_upload import identity_of, upload_embeddings

ROOT = Path(__file__).resolve().parents[2]
SUITE_DATA = ROOT / "benchmarks" / "suite" / "data"
SUITE = json.loads((ROOT / "benchmarks" / "suite" / "tasks.json").read_text())
MAX_EXAMPLES = 24  # small: the whole suite embeds in ~20 s on 2 busy cores
SPACE = "suite-text"
READ, WRITE = "read-token-1", "write-token-1"


def suite_embeddings(surrogate: Surrogate) -> list[TaskEmbedding]:
    """Every suite task's train split, capped at MAX_EXAMPLES, embedded with ``text``."""
    method = make_method("text", surrogate, {"max_examples": MAX_EXAMPLES})
    out = []
    for entry in SUITE:
        path = SUITE_DATA / entry["name"] / "train.jsonl.gz"
        task = cap_examples(load_task(path, name=entry["name"]), MAX_EXAMPLES, seed=0)
        info = TaskInfo.of_dataset(
            task,
            source=str(path),
            task_type=entry["task_type"],
            tags=("suite", "pair" if entry["pair"] else "single"),
        )
        out.append(method.embed(task, info, progress=False))
    return out


@dataclass
class Served:
    """A running server, its ports and a gRPC client."""

    server: TaskSearchServer
    grpc_port: int
    http_port: int
    client: TaskSearchClient

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        self.client.close()
        self.server.stop(1.0)


def http_config(store: Path, *, workers: int = 4, **kwargs: Any) -> ServerConfig:
    """A loopback config with HTTP beside gRPC, both on free ports, FAISS on the CPU."""
    return ServerConfig(
        store=StoreConfig(path=store, device="cpu"),
        host="127.0.0.1",
        port=0,
        workers=workers,
        grace_s=1.0,
        http_port=0,
        **kwargs,
    )


def serve_suite(store: Path, embeddings: list[TaskEmbedding], **kwargs: Any) -> Served:
    """Start a server with HTTP on a free port and the suite space loaded."""
    config = http_config(store, **kwargs)
    server, port = create_server(config)
    assert server.http is not None
    token = WRITE if config.write_tokens else None
    client = TaskSearchClient(f"127.0.0.1:{port}", timeout=20.0, token=token)
    # keep_neighbours: the HTTP tests ask CSLS of the suite space too
    client.create_space(
        SPACE,
        embeddings[0].vector.shape[0],
        identity=identity_of(embeddings[0].space),
        keep_neighbours=True,
    )
    upload_embeddings(client, SPACE, embeddings)
    return Served(server, port, server.http.port, client)


def with_auth(config_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**config_kwargs, "read_tokens": frozenset({READ}), "write_tokens": frozenset({WRITE})}


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON) of one real HTTP request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None and raw is None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


__all__ = ["READ", "SPACE", "WRITE", "Served", "http", "replace", "serve_suite", "suite_embeddings"]
