"""Bearer-token auth: read-only and read-write tokens, checked in an interceptor.

Only ``fute.v1.TaskSearch`` is guarded; health checks and reflection stay open so load
balancers and ``grpcurl describe`` work without secrets (they reveal no data).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any

import grpc

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/fute.v1.TaskSearch/"
# Methods that change the store; everything else in the service only reads.
WRITE_METHODS = frozenset(
    {
        "CreateSpace",
        "DeleteSpace",
        "UpsertTasks",
        "UpsertTasksStream",
        "DeleteTasks",
        "CreateSnapshot",
        "RestoreSnapshot",
    }
)
# Client-streaming methods need a handler of the matching kind to abort properly.
STREAM_REQUEST_METHODS = frozenset({"UpsertTasksStream"})


def _token_of(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _matches(token: str, tokens: frozenset[str]) -> bool:
    # Constant-time comparison against every token, so timing says nothing.
    found = False
    for t in tokens:
        found |= hmac.compare_digest(token.encode(), t.encode())
    return found


def _deny(method: str, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def abort(request: Any, context: grpc.ServicerContext) -> None:
        context.abort(code, message)

    if method in STREAM_REQUEST_METHODS:
        return grpc.stream_unary_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """UNAUTHENTICATED without a known token; PERMISSION_DENIED for writes with a read token."""

    def __init__(self, read_tokens: frozenset[str], write_tokens: frozenset[str]) -> None:
        self._read = read_tokens
        self._write = write_tokens

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        full: str = handler_call_details.method
        if not full.startswith(SERVICE_PREFIX):
            return continuation(handler_call_details)
        method = full[len(SERVICE_PREFIX) :]
        token = _token_of(handler_call_details.invocation_metadata)
        if token is None:
            return _deny(method, grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>'")
        can_write = _matches(token, self._write)
        if not can_write and not _matches(token, self._read):
            log.warning("rejected unknown token for %s", method)
            return _deny(method, grpc.StatusCode.UNAUTHENTICATED, "unknown token")
        if method in WRITE_METHODS and not can_write:
            return _deny(method, grpc.StatusCode.PERMISSION_DENIED, f"{method} needs a read-write token")
        return continuation(handler_call_details)
