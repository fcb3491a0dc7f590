"""A budget for the calls auth leaves open: health and reflection without a valid token.

With auth on, ``fute.v1.TaskSearch`` needs a token but health checks and reflection stay
open (load balancers, ``grpcurl describe``). A streaming call (reflection's
``ServerReflectionInfo``, health's ``Watch``) holds one serving thread for as long as the
client keeps it open, so a handful of idle unauthenticated streams would take every
worker and starve authorised calls. This interceptor lets at most ``limit`` such streams
run at once and refuses the next with RESOURCE_EXHAUSTED; unary calls (``Check``) finish
at once and are not counted, and a call carrying a valid token is never counted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import grpc

from server.auth import SERVICE_PREFIX, matches_any, token_of
from server.interceptors import Behaviour, HandlerInterceptor, rewrap

log = logging.getLogger(__name__)


def open_stream_limit(workers: int) -> int:
    """Unauthenticated streams allowed at once: a quarter of the workers, at least 1."""
    return max(1, workers // 4)


class OpenCallLimiter(HandlerInterceptor):
    """At most ``limit`` concurrent streaming calls outside the TaskSearch service
    without a valid token (``tokens``: every read and write token)."""

    def __init__(self, limit: int, tokens: frozenset[str]) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self._tokens = tokens
        self._slots = threading.BoundedSemaphore(limit)

    def intercept_handler(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method: str = details.method
        if method.startswith(SERVICE_PREFIX):
            return handler  # TaskSearch has its own guard (AuthInterceptor)
        if not handler.response_streaming:
            return handler
        token = token_of(details.invocation_metadata)
        if token is not None and matches_any(token, self._tokens):
            return handler
        return self._bounded(handler, method)

    def _claim(self, context: grpc.ServicerContext, method: str) -> None:
        """Take a slot for this call until it ends, or abort it with RESOURCE_EXHAUSTED."""
        if not self._slots.acquire(blocking=False):
            log.warning("refused unauthenticated %s: %d open streams already", method, self.limit)
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.limit} unauthenticated streams are open already; retry later or send a token",
            )
        released = threading.Lock()

        def release() -> None:
            if released.acquire(blocking=False):  # once, whichever way the call ends
                self._slots.release()

        if not context.add_callback(release):
            release()  # the call has ended already

    def _bounded(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        claim = self._claim

        def wrap(behaviour: Behaviour) -> Behaviour:
            def bounded(request: Any, context: grpc.ServicerContext) -> Any:
                claim(context, method)
                return behaviour(request, context)

            return bounded

        return rewrap(handler, wrap)
