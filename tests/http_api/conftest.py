"""Fixtures of the HTTP tests: the suite embedded once per session, real servers per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_kit import Served, serve_suite, suite_embeddings, with_auth

from fute.embedding import TaskEmbedding
from fute.surrogate import Surrogate


@pytest.fixture(scope="session")
def suite_text(surrogate: Surrogate) -> list[TaskEmbedding]:
    """The 16 suite tasks, 40 examples each, in one ``text`` space (seconds, not minutes)."""
    return suite_embeddings(surrogate)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, suite_text: list[TaskEmbedding]) -> Iterator[Served]:
    """A server with auth on (a read and a write token) and HTTP beside gRPC."""
    s = serve_suite(Path(tmp_path_factory.mktemp("store")), suite_text, **with_auth({}))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def served_open(
    tmp_path_factory: pytest.TempPathFactory, suite_text: list[TaskEmbedding]
) -> Iterator[Served]:
    """A server without auth (reads open, HTTP writes refused)."""
    s = serve_suite(Path(tmp_path_factory.mktemp("store-open")), suite_text)
    yield s
    s.stop()
