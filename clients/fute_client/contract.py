"""The TaskSearch API contract: what the client, the server and the indexer all speak.

``fute_client`` is the one package every side depends on (it needs only grpcio, protobuf
and numpy), so the contract lives here:

- :data:`messages` and :data:`services`: the protobuf messages and gRPC stubs generated
  from ``proto/fute/v1/task_search.proto`` by ``scripts/gen_proto.sh`` (the private
  ``_generated`` package is their only source; import them from here);
- :mod:`fute_client.types`: the dataclasses callers see instead of messages;
- :mod:`fute_client.errors`: one exception class per status code;
- :mod:`fute_client.conversions`: the one mapping between the two;
- :class:`TaskSearchAPI`: the operations, typed once. ``server.store.TaskStore`` (in
  process) and :class:`fute_client.TaskSearchClient` (over gRPC) both satisfy it, which
  mypy checks (``server/store/task_store.py``); the asyncio client has the same methods as
  coroutines, which a test checks signature by signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from fute_client._generated.fute.v1 import task_search_pb2 as messages
from fute_client._generated.fute.v1 import task_search_pb2_grpc as services
from fute_client.types import (
    Filter,
    Hit,
    Page,
    QueryTarget,
    Ranking,
    RankOrder,
    ServerInfo,
    Similarity,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    UpsertResult,
)

__all__ = ["TaskSearchAPI", "messages", "services"]


class TaskSearchAPI(Protocol):
    """Every TaskSearch operation, as the in-process store and the sync client offer it.

    Errors are the :mod:`fute_client.errors` classes in both, with the same messages.
    """

    def server_info(self) -> ServerInfo:
        """What the service runs on and its limits."""
        ...

    def create_space(
        self,
        name: str,
        dim: int,
        *,
        backend: str = "flat",
        identity: SpaceIdentity | None = None,
        keep_neighbours: bool = False,
    ) -> Space:
        """A new space; ALREADY_EXISTS when the name is taken. ``keep_neighbours``: keep the
        neighbour lists CSLS similarity needs (FAILED_PRECONDITION for CSLS without)."""
        ...

    def list_spaces(self) -> list[Space]:
        """Every space, by name."""
        ...

    def describe_space(self, name: str) -> Space:
        """One space, NOT_FOUND otherwise."""
        ...

    def delete_space(self, name: str) -> int:
        """Delete a space and its tasks; returns how many tasks went."""
        ...

    def upsert(
        self, space: str, tasks: Sequence[Task], *, expected_identity: SpaceIdentity | None = None
    ) -> UpsertResult:
        """Insert or replace tasks; invalid items are reported per item, the rest stored."""
        ...

    def upsert_stream(
        self,
        space: str,
        batches: Iterable[Sequence[Task]],
        *,
        expected_identity: SpaceIdentity | None = None,
    ) -> UpsertResult:
        """Bulk load: each batch committed as it arrives."""
        ...

    def delete(self, space: str, *, ids: Sequence[str] | None = None, filter: Filter | None = None) -> int:
        """Delete by ids or by a non-empty filter (exactly one); returns how many."""
        ...

    def get(self, space: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[Task]:
        """Tasks by id in request order; unknown ids are skipped."""
        ...

    def list_tasks(
        self,
        space: str,
        *,
        filter: Filter | None = None,
        page_size: int = 100,
        page_token: str = "",
        with_vectors: bool = False,
    ) -> Page:
        """One page of matching tasks ordered by id."""
        ...

    def iter_tasks(
        self, space: str, *, filter: Filter | None = None, page_size: int = 100, with_vectors: bool = False
    ) -> Iterator[Task]:
        """Every matching task, page by page."""
        ...

    def search(
        self,
        space: str,
        queries: Sequence[QueryTarget] | np.ndarray,
        *,
        k: int = 10,
        filter: Filter | None = None,
        score_threshold: float | None = None,
        with_vectors: bool = False,
        expected_identity: SpaceIdentity | None = None,
        similarity: Similarity = "cosine",
        csls_k: int | None = None,
    ) -> list[list[Hit]]:
        """The k most similar tasks per query (a stored id, left out of its own hits, or a
        vector), by cosine or by CSLS over ``csls_k`` neighbours (None: the server's default)."""
        ...

    def rank_sources(
        self,
        space: str,
        target: QueryTarget,
        *,
        candidate_filter: Filter | None = None,
        k: int = 0,
        expected_identity: SpaceIdentity | None = None,
        similarity: Similarity = "cosine",
        csls_k: int | None = None,
        order: RankOrder | None = None,
        rerank_top: int = 0,
    ) -> Ranking:
        """Candidate sources best first (by predicted gain, or by cosine or CSLS), with
        predicted gain and P(help) per hit."""
        ...

    def similarity_matrix(self, space: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Cosine similarities among distinct tasks, in the given order."""
        ...

    def create_snapshot(self, name: str = "") -> Snapshot:
        """A consistent copy of the whole store."""
        ...

    def list_snapshots(self) -> list[Snapshot]:
        """Snapshots, by name."""
        ...

    def restore_snapshot(self, name: str) -> tuple[int, int]:
        """Replace the whole store with a verified snapshot; returns (spaces, tasks)."""
        ...

    def close(self) -> None:
        """Release the store or the channel."""
        ...
