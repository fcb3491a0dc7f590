"""asyncio TaskSearch client, made from the sync one: the same methods, as coroutines.

Every API method of :class:`AsyncTaskSearchClient` is the body of the
:class:`~fute_client.TaskSearchClient` method of the same name, run with this class's
transport. A sync body only builds a call (:mod:`fute_client._calls`) and hands it to
``self._run`` (or a page fetcher to ``self._pages``); here ``_run`` is a coroutine function
and ``_pages`` an async generator, so the same body returns an awaitable, which the twin
awaits. Parameters, defaults, annotations and docstrings are therefore the sync ones by
construction; a test compares them anyway, and the twins run against a real server.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar, cast

import grpc

from fute_client import _calls as calls
from fute_client.client import TaskSearchClient
from fute_client.errors import error_from_rpc
from fute_client.types import Page, Task

P = ParamSpec("P")
T = TypeVar("T")


def _coroutine_twin(
    method: Callable[Concatenate[TaskSearchClient, P], T],
) -> Callable[Concatenate[AsyncTaskSearchClient, P], Coroutine[object, None, T]]:
    """The coroutine of a sync client method: its body, awaited over the asyncio transport."""
    # The cast states the module's premise: run with an async client, a sync body returns
    # the awaitable of what it returns on a sync one (its ``_run`` is a coroutine function).
    body = cast("Callable[Concatenate[AsyncTaskSearchClient, P], Awaitable[T]]", method)

    @functools.wraps(method)
    async def twin(self: AsyncTaskSearchClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await body(self, *args, **kwargs)

    twin.__qualname__ = f"AsyncTaskSearchClient.{method.__name__}"  # as tracebacks should say
    return twin


def _async_iterator_twin(
    method: Callable[Concatenate[TaskSearchClient, P], Iterator[T]],
) -> Callable[Concatenate[AsyncTaskSearchClient, P], AsyncIterator[T]]:
    """The async generator of a sync client method returning an iterator (a paged listing)."""
    # As above: with an async client the body's ``self._pages`` is an async generator.
    body = cast("Callable[Concatenate[AsyncTaskSearchClient, P], AsyncIterator[T]]", method)

    @functools.wraps(method)
    async def twin(self: AsyncTaskSearchClient, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        async for item in body(self, *args, **kwargs):
            yield item

    twin.__qualname__ = f"AsyncTaskSearchClient.{method.__name__}"
    signature = inspect.signature(method)  # annotations are strings: postponed evaluation
    if not str(signature.return_annotation).startswith("Iterator["):
        raise TypeError(f"{method.__qualname__} must be annotated -> Iterator[...] to get an async twin")
    # The one difference from the sync signature: what it returns is iterated with `async for`.
    twin.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=f"Async{signature.return_annotation}"
    )
    return twin


async def _aiter_pages(fetch: Callable[[str], Awaitable[Page]]) -> AsyncIterator[Task]:
    """:func:`fute_client.types.iter_pages` with an awaited ``fetch``."""
    token = ""
    while True:
        page = await fetch(token)
        for task in page.tasks:
            yield task
        token = page.next_page_token
        if not token:
            return


class AsyncTaskSearchClient(calls.Connection):
    """Non-blocking client of a TaskSearch server; see ``TaskSearchClient`` for arguments."""

    channels = grpc.aio
    _pages = staticmethod(_aiter_pages)

    async def _run(self, call: calls.Call[T], timeout: float | None) -> T:
        try:
            reply = await self._send(call, timeout)
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

    server_info = _coroutine_twin(TaskSearchClient.server_info)
    create_space = _coroutine_twin(TaskSearchClient.create_space)
    list_spaces = _coroutine_twin(TaskSearchClient.list_spaces)
    describe_space = _coroutine_twin(TaskSearchClient.describe_space)
    delete_space = _coroutine_twin(TaskSearchClient.delete_space)
    upsert = _coroutine_twin(TaskSearchClient.upsert)
    upsert_stream = _coroutine_twin(TaskSearchClient.upsert_stream)
    delete = _coroutine_twin(TaskSearchClient.delete)
    get = _coroutine_twin(TaskSearchClient.get)
    list_tasks = _coroutine_twin(TaskSearchClient.list_tasks)
    iter_tasks = _async_iterator_twin(TaskSearchClient.iter_tasks)
    search = _coroutine_twin(TaskSearchClient.search)
    rank_sources = _coroutine_twin(TaskSearchClient.rank_sources)
    similarity_matrix = _coroutine_twin(TaskSearchClient.similarity_matrix)
    create_snapshot = _coroutine_twin(TaskSearchClient.create_snapshot)
    list_snapshots = _coroutine_twin(TaskSearchClient.list_snapshots)
    restore_snapshot = _coroutine_twin(TaskSearchClient.restore_snapshot)
