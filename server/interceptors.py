"""Cross-cutting concerns of every TaskSearch call: request ids, logging, latency, and
INVALID_ARGUMENT for request bytes that do not decode.

grpcio answers a request its deserializer cannot decode with INTERNAL "Exception
deserializing request!" before any servicer code runs. The handlers returned here wrap the
deserializer so that it returns an :class:`Undecodable` marker instead of raising, and the
behaviour aborts such a call with INVALID_ARGUMENT (client streams: at the bad message).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from server.auth import SERVICE_PREFIX
from server.service import abort_with

log = logging.getLogger("server.access")

REQUEST_ID_KEY = "x-request-id"


class Undecodable:
    """What a wrapped deserializer returns for bytes that are not a valid request."""

    def __init__(self, method: str, size: int, error: Exception) -> None:
        self.message = (
            f"request bytes of {method} ({size} bytes) are not a valid request message: "
            f"{type(error).__name__}: {error}"
        )


def safe_deserializer(
    method: str, deserializer: Callable[[bytes], Any] | None
) -> Callable[[bytes], Any] | None:
    """``deserializer`` returning :class:`Undecodable` instead of raising."""
    if deserializer is None:
        return None
    inner = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return inner(data)
        except Exception as exc:  # protobuf's DecodeError, or anything a parser raises
            return Undecodable(method, len(data), exc)

    return deserialize


Behaviour = Callable[[Any, grpc.ServicerContext], Any]

# Each kind of method handler, by (request streaming, response streaming): the attribute
# holding its behaviour and the constructor of a handler of that kind.
_HANDLER_KINDS: dict[tuple[bool, bool], tuple[str, Callable[..., grpc.RpcMethodHandler]]] = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def rewrap(
    handler: grpc.RpcMethodHandler,
    wrap: Callable[[Behaviour], Behaviour],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind that runs ``wrap(its behaviour)``, with its serializers
    (``request_deserializer``, when given, instead of its own)."""
    attr, make = _HANDLER_KINDS[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(
        wrap(getattr(handler, attr)),
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _refuse(context: grpc.ServicerContext, bad: Undecodable) -> None:
    abort_with(context, grpc.StatusCode.INVALID_ARGUMENT, bad.message, "InvalidArgumentError")


def _checked_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, Undecodable):
            _refuse(context, request)
        yield request


class HandlerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """An interceptor that works on the handler a call resolves to: subclasses implement
    :meth:`intercept_handler`, which sees only calls that have one (unknown methods pass
    through to grpcio's UNIMPLEMENTED untouched)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return self.intercept_handler(handler, handler_call_details)

    def intercept_handler(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        """The handler to run instead of ``handler`` for the call ``details`` describe."""
        raise NotImplementedError


class RequestLogInterceptor(HandlerInterceptor):
    """Gives each call a request id (the client's ``x-request-id`` or a new one), sends it
    back in the initial metadata, and logs method, status and latency."""

    def intercept_handler(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        full: str = details.method
        # TaskSearch streams requests only: a reply stream would outlive the call's log line.
        if not full.startswith(SERVICE_PREFIX) or handler.response_streaming:
            return handler
        method = full[len(SERVICE_PREFIX) :]
        incoming = dict(details.invocation_metadata or ())
        request_id = str(incoming.get(REQUEST_ID_KEY) or uuid.uuid4().hex[:16])
        streaming = bool(handler.request_streaming)

        def wrap(behaviour: Behaviour) -> Behaviour:
            def logged(request: Any, context: grpc.ServicerContext) -> Any:
                start = time.perf_counter()
                context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
                try:
                    if isinstance(request, Undecodable):
                        _refuse(context, request)
                    elif streaming:
                        request = _checked_stream(request, context)
                    return behaviour(request, context)
                finally:
                    code = context.code() or grpc.StatusCode.OK
                    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                    log.info("%s %s %s %.1fms", request_id, method, name, (time.perf_counter() - start) * 1e3)

            return logged

        return rewrap(handler, wrap, safe_deserializer(method, handler.request_deserializer))
