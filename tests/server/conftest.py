"""Fixtures: a real server on a loopback port, a client, and the in-process store.

``api`` is parametrised over the in-process ``TaskStore`` and the gRPC client, so the same
search tests run against both (the two share one interface).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fute_client import TaskSearchClient
from server.app import TaskSearchServer, create_server
from server.config import IndexParams, ServerConfig, StoreConfig
from server.store import TaskStore

def server_config(path: Path, **kwargs: Any) -> ServerConfig:
    """A loopback config on a free port with small, fast index parameters."""
    store_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("device", "max_k", "max_queries")}
    store = StoreConfig(
        path=path, device="cpu", index_params=IndexParams(ivf_nlist=16, ivf_nprobe=16), **store_kwargs
    )
    return ServerConfig(store=store, host="127.0.0.1", port=0, workers=4, grace_s=2.0, **kwargs)


@pytest.fixture
def running_server(tmp_path: Path) -> Iterator[tuple[TaskSearchServer, int]]:
    server, port = create_server(server_config(tmp_path / "store", max_message_bytes=4 * 1024 * 1024))
    yield server, port
    server.stop(1.0)


@pytest.fixture
def client(running_server: tuple[TaskSearchServer, int]) -> Iterator[TaskSearchClient]:
    _, port = running_server
    with TaskSearchClient(f"127.0.0.1:{port}", timeout=10.0, max_message_bytes=16 * 1024 * 1024) as c:
        yield c


@pytest.fixture(params=["store", "grpc"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The TaskSearch API in process or over gRPC: same methods, same results."""
    if request.param == "store":
        store = TaskStore(StoreConfig(path=tmp_path / "inproc", device="cpu"))
        yield store
        store.close()
    else:
        server, port = create_server(server_config(tmp_path / "served"))
        with TaskSearchClient(f"127.0.0.1:{port}", timeout=10.0) as c:
            yield c
        server.stop(1.0)
