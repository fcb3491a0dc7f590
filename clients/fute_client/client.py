"""Synchronous TaskSearch client: numpy in and out, timeouts, retries on UNAVAILABLE.

Its API methods are the only definition of the client's API: each body is one call
through :mod:`fute_client._calls` run by ``self._run`` (paged listings by ``self._pages``),
and :class:`fute_client.AsyncTaskSearchClient` reuses these very bodies over ``grpc.aio``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TypeVar

import grpc
import numpy as np

from fute_client import _calls as calls
from fute_client._calls import DEFAULT_MAX_MESSAGE_BYTES, make_metadata
from fute_client.errors import error_from_rpc
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
    iter_pages,
)

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "TaskSearchClient", "make_metadata"]

T = TypeVar("T")


class TaskSearchClient(calls.Connection):
    """Blocking client of a TaskSearch server.

    Args:
        target: ``host:port`` of the server.
        token: bearer token when the server has auth on.
        root_certificates: PEM bytes of the CA; when given the channel uses TLS.
        timeout: default deadline of each call in seconds.
        max_attempts: attempts per call on UNAVAILABLE (gRPC retries with backoff; 1: none).
        max_message_bytes: message size limit of the channel, both ways.
    """

    channels = grpc
    # Class attributes, not calls, because the asyncio client runs these same method
    # bodies with its own: a coroutine ``_run`` and an async ``_pages``.
    _pages = staticmethod(iter_pages)

    # -------------------------------------------------------------- plumbing

    def _run(self, call: calls.Call[T], timeout: float | None) -> T:
        try:
            reply = self._send(call, timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return call.parse(reply)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> TaskSearchClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -------------------------------------------------------------- API

    def server_info(self, *, timeout: float | None = None) -> ServerInfo:
        """Version, index backend, device and limits of the server."""
        return self._run(calls.server_info(), timeout)

    def create_space(
        self,
        name: str,
        dim: int,
        *,
        backend: str = "flat",
        identity: SpaceIdentity | None = None,
        keep_neighbours: bool = False,
        timeout: float | None = None,
    ) -> Space:
        """Create a space of ``dim``-d cosine vectors (ALREADY_EXISTS if the name is taken).

        ``keep_neighbours``: the server keeps every task's nearest other tasks, which CSLS
        similarity needs (a CSLS request on a space without is FAILED_PRECONDITION); it
        costs an exhaustive pass over the space on every write.
        """
        return self._run(calls.create_space(name, dim, backend, identity, keep_neighbours), timeout)

    def list_spaces(self, *, timeout: float | None = None) -> list[Space]:
        """All spaces, by name."""
        return self._run(calls.list_spaces(), timeout)

    def describe_space(self, name: str, *, timeout: float | None = None) -> Space:
        """One space with its task count."""
        return self._run(calls.describe_space(name), timeout)

    def delete_space(self, name: str, *, timeout: float | None = None) -> int:
        """Delete a space and its tasks; returns how many tasks went."""
        return self._run(calls.delete_space(name), timeout)

    def upsert(
        self,
        space: str,
        tasks: Sequence[Task],
        *,
        expected_identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> UpsertResult:
        """Insert or replace tasks; invalid items are reported per item, the rest stored."""
        return self._run(calls.upsert(space, tasks, expected_identity), timeout)

    def upsert_stream(
        self,
        space: str,
        batches: Iterable[Sequence[Task]],
        *,
        expected_identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> UpsertResult:
        """Bulk load: stream batches over one call; each batch is committed on arrival."""
        return self._run(calls.upsert_stream(space, batches, expected_identity), timeout)

    def delete(
        self,
        space: str,
        *,
        ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        timeout: float | None = None,
    ) -> int:
        """Delete by ids or by filter (exactly one); returns how many were deleted."""
        return self._run(calls.delete(space, ids, filter), timeout)

    def get(
        self, space: str, ids: Sequence[str], *, with_vectors: bool = False, timeout: float | None = None
    ) -> list[Task]:
        """The stored tasks of ``ids`` in order; unknown ids are skipped."""
        return self._run(calls.get(space, ids, with_vectors), timeout)

    def list_tasks(
        self,
        space: str,
        *,
        filter: Filter | None = None,
        page_size: int = 100,
        page_token: str = "",
        with_vectors: bool = False,
        timeout: float | None = None,
    ) -> Page:
        """One page of tasks ordered by id; pass ``next_page_token`` for the next."""
        return self._run(calls.list_tasks(space, filter, page_size, page_token, with_vectors), timeout)

    def iter_tasks(
        self, space: str, *, filter: Filter | None = None, page_size: int = 100, with_vectors: bool = False
    ) -> Iterator[Task]:
        """Every matching task, page by page."""
        return self._pages(
            lambda token: self.list_tasks(
                space, filter=filter, page_size=page_size, page_token=token, with_vectors=with_vectors
            )
        )

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
        timeout: float | None = None,
    ) -> list[list[Hit]]:
        """The ``k`` most similar tasks for each query (an id, or a row of vectors).

        ``expected_identity``: the space the query vectors were embedded in; the server
        answers FAILED_PRECONDITION, naming each differing field, when it is not the
        space's own. Send it whenever a vector comes from an embedding file.
        ``similarity="csls"``: ranked and scored by CSLS over ``csls_k`` neighbours
        (server default 10, at most 50); ``score_threshold`` then applies to CSLS scores.
        """
        return self._run(
            calls.search(
                space,
                queries,
                k,
                filter,
                score_threshold,
                with_vectors,
                expected_identity,
                similarity,
                csls_k,
            ),
            timeout,
        )

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
        timeout: float | None = None,
    ) -> Ranking:
        """Candidate source tasks for intermediate training on ``target``, best first.

        Each hit carries its score (cosine, or CSLS with ``similarity="csls"``; ``csls_k``
        as in :meth:`search`), ``predicted_gain`` and ``p_help`` (from the candidates'
        cosines either way); the ranking says whether any candidate is expected to help.
        ``order``: ``"predicted_gain"`` re-orders the ``rerank_top`` most similar
        candidates (0: all) by predicted gain, ``"similarity"`` keeps the
        similarity order; None: the server's default (predicted gain), reported in
        ``Ranking.order``. ``expected_identity`` as in :meth:`search`.
        """
        return self._run(
            calls.rank_sources(
                space, target, candidate_filter, k, expected_identity, similarity, csls_k, order, rerank_top
            ),
            timeout,
        )

    def similarity_matrix(
        self, space: str, ids: Sequence[str], *, timeout: float | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Cosine similarities among the given tasks."""
        return self._run(calls.similarity_matrix(space, ids), timeout)

    def create_snapshot(self, name: str = "", *, timeout: float | None = None) -> Snapshot:
        """A consistent copy of the store on the server's disk."""
        return self._run(calls.create_snapshot(name), timeout)

    def list_snapshots(self, *, timeout: float | None = None) -> list[Snapshot]:
        """Snapshots on the server, by name."""
        return self._run(calls.list_snapshots(), timeout)

    def restore_snapshot(self, name: str, *, timeout: float | None = None) -> tuple[int, int]:
        """Replace the whole store with a snapshot; returns (spaces, tasks)."""
        return self._run(calls.restore_snapshot(name), timeout)
