"""asyncio TaskSearch client: the same methods as :class:`~fute_client.TaskSearchClient`.

Both build requests and parse replies through :mod:`fute_client._calls`; a test checks
that the two expose the same public methods with the same parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import TypeVar

import grpc
import numpy as np

from fute_client import _calls as calls
from fute_client import conversions as cv
from fute_client._generated.fute.v1 import task_search_pb2_grpc as pb_grpc
from fute_client.client import DEFAULT_MAX_MESSAGE_BYTES, make_metadata
from fute_client.errors import error_from_rpc
from fute_client.types import (
    Filter,
    Hit,
    Page,
    QueryTarget,
    Ranking,
    ServerInfo,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    UpsertResult,
)

T = TypeVar("T")


class AsyncTaskSearchClient:
    """Non-blocking client of a TaskSearch server; see ``TaskSearchClient`` for arguments."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        root_certificates: bytes | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = calls.channel_options(max_attempts, max_message_bytes)
        if root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.aio.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        self._stub = pb_grpc.TaskSearchStub(self._channel)
        self._metadata = make_metadata(token)
        self.timeout = timeout

    async def _run(self, call: calls.Call[T], timeout: float | None) -> T:
        method = getattr(self._stub, call.method)
        try:
            reply = await method(
                call.request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return call.parse(reply)

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncTaskSearchClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def server_info(self, *, timeout: float | None = None) -> ServerInfo:
        """Version, index backend, device and limits of the server."""
        return await self._run(calls.server_info(), timeout)

    async def create_space(
        self,
        name: str,
        dim: int,
        *,
        backend: str = "flat",
        identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> Space:
        """Create a space of ``dim``-d cosine vectors (ALREADY_EXISTS if the name is taken)."""
        return await self._run(calls.create_space(name, dim, backend, identity), timeout)

    async def list_spaces(self, *, timeout: float | None = None) -> list[Space]:
        """All spaces, by name."""
        return await self._run(calls.list_spaces(), timeout)

    async def describe_space(self, name: str, *, timeout: float | None = None) -> Space:
        """One space with its task count."""
        return await self._run(calls.describe_space(name), timeout)

    async def delete_space(self, name: str, *, timeout: float | None = None) -> int:
        """Delete a space and its tasks; returns how many tasks went."""
        return await self._run(calls.delete_space(name), timeout)

    async def upsert(
        self,
        space: str,
        tasks: Sequence[Task],
        *,
        expected_identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> UpsertResult:
        """Insert or replace tasks; invalid items are reported per item, the rest stored."""
        return await self._run(calls.upsert(space, tasks, expected_identity), timeout)

    async def upsert_stream(
        self,
        space: str,
        batches: Iterable[Sequence[Task]],
        *,
        expected_identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> UpsertResult:
        """Bulk load: stream batches over one call; each batch is committed on arrival."""
        requests = calls.upsert_stream_requests(space, batches, expected_identity)
        try:
            reply = await self._stub.UpsertTasksStream(
                requests, timeout=self.timeout if timeout is None else timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return cv.upsert_result_from_proto(reply)

    async def delete(
        self,
        space: str,
        *,
        ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        timeout: float | None = None,
    ) -> int:
        """Delete by ids or by filter (exactly one); returns how many were deleted."""
        return await self._run(calls.delete(space, ids, filter), timeout)

    async def get(
        self, space: str, ids: Sequence[str], *, with_vectors: bool = False, timeout: float | None = None
    ) -> list[Task]:
        """The stored tasks of ``ids`` in order; unknown ids are skipped."""
        return await self._run(calls.get(space, ids, with_vectors), timeout)

    async def list_tasks(
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
        return await self._run(calls.list_tasks(space, filter, page_size, page_token, with_vectors), timeout)

    async def iter_tasks(
        self, space: str, *, filter: Filter | None = None, page_size: int = 100, with_vectors: bool = False
    ) -> AsyncIterator[Task]:
        """Every matching task, page by page."""
        token = ""
        while True:
            page = await self.list_tasks(
                space, filter=filter, page_size=page_size, page_token=token, with_vectors=with_vectors
            )
            for task in page.tasks:
                yield task
            token = page.next_page_token
            if not token:
                return

    async def search(
        self,
        space: str,
        queries: Sequence[QueryTarget] | np.ndarray,
        *,
        k: int = 10,
        filter: Filter | None = None,
        score_threshold: float | None = None,
        with_vectors: bool = False,
        expected_identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> list[list[Hit]]:
        """The ``k`` most similar tasks for each query (an id, or a row of vectors).

        ``expected_identity``: the space the query vectors were embedded in; the server
        answers FAILED_PRECONDITION, naming each differing field, when it is not the
        space's own. Send it whenever a vector comes from an embedding file.
        """
        return await self._run(
            calls.search(space, queries, k, filter, score_threshold, with_vectors, expected_identity), timeout
        )

    async def rank_sources(
        self,
        space: str,
        target: QueryTarget,
        *,
        candidate_filter: Filter | None = None,
        k: int = 0,
        expected_identity: SpaceIdentity | None = None,
        timeout: float | None = None,
    ) -> Ranking:
        """Candidate source tasks for intermediate training on ``target``, best first.

        Each hit carries its cosine, ``predicted_gain`` and ``p_help``; the ranking says
        whether any candidate is expected to help. ``expected_identity`` as in :meth:`search`.
        """
        return await self._run(
            calls.rank_sources(space, target, candidate_filter, k, expected_identity), timeout
        )

    async def similarity_matrix(
        self, space: str, ids: Sequence[str], *, timeout: float | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Cosine similarities among the given tasks."""
        return await self._run(calls.similarity_matrix(space, ids), timeout)

    async def create_snapshot(self, name: str = "", *, timeout: float | None = None) -> Snapshot:
        """A consistent copy of the store on the server's disk."""
        return await self._run(calls.create_snapshot(name), timeout)

    async def list_snapshots(self, *, timeout: float | None = None) -> list[Snapshot]:
        """Snapshots on the server, by name."""
        return await self._run(calls.list_snapshots(), timeout)

    async def restore_snapshot(self, name: str, *, timeout: float | None = None) -> tuple[int, int]:
        """Replace the whole store with a snapshot; returns (spaces, tasks)."""
        return await self._run(calls.restore_snapshot(name), timeout)
