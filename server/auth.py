"""Bearer-token auth: read-only and read-write tokens, checked in an interceptor.

Only ``fute.v1.TaskSearch`` is guarded; health checks and reflection stay open so load
balancers and ``grpcurl describe`` work without secrets (they reveal no data), within the
budget of ``server.open_calls`` so that they cannot take the serving threads.
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


def token_of(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    """The bearer token of a call's metadata, ``None`` without one."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def matches_any(token: str, tokens: frozenset[str]) -> bool:
    """Whether ``token`` is one of ``tokens``, compared in constant time."""
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


def refusal(
    method: str, token: str | None, read_tokens: frozenset[str], write_tokens: frozenset[str]
) -> tuple[grpc.StatusCode, str] | None:
    """Why a call of ``method`` with ``token`` is refused (code, message), ``None`` if allowed.

    The one rule for gRPC (:class:`AuthInterceptor`) and HTTP (``server.http_api``).
    """
    if token is None:
        return grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>'"
    can_write = matches_any(token, write_tokens)
    if not can_write and not matches_any(token, read_tokens):
        log.warning("rejected unknown token for %s", method)
        return grpc.StatusCode.UNAUTHENTICATED, "unknown token"
    if method in WRITE_METHODS and not can_write:
        return grpc.StatusCode.PERMISSION_DENIED, f"{method} needs a read-write token"
    return None


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
        token = token_of(handler_call_details.invocation_metadata)
        refused = refusal(method, token, self._read, self._write)
        if refused is not None:
            return _deny(method, *refused)
        return continuation(handler_call_details)
