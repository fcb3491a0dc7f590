"""Fixtures: a real server on a loopback port, a client, and the in-process store.

``api`` is parametrised over the in-process ``TaskStore`` and the gRPC client, so the same
search tests run against both (the two share one interface).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_testkit import server_config

from fute_client import TaskSearchClient
from fute_client.contract import TaskSearchAPI
from server.app import TaskSearchServer, create_server
from server.config import StoreConfig
from server.store import TaskStore


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
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskSearchAPI]:
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
