"""Cross-cutting concerns of every TaskSearch call: request ids, logging, latency."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from server.auth import SERVICE_PREFIX

log = logging.getLogger("server.access")

REQUEST_ID_KEY = "x-request-id"


class RequestLogInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Gives each call a request id (the client's ``x-request-id`` or a new one), sends it
    back in the initial metadata, and logs method, status and latency."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        full: str = handler_call_details.method
        if handler is None or not full.startswith(SERVICE_PREFIX):
            return handler
        method = full[len(SERVICE_PREFIX) :]
        incoming = dict(handler_call_details.invocation_metadata or ())
        request_id = str(incoming.get(REQUEST_ID_KEY) or uuid.uuid4().hex[:16])

        def wrap(
            behaviour: Callable[[Any, grpc.ServicerContext], Any],
        ) -> Callable[[Any, grpc.ServicerContext], Any]:
            def logged(request: Any, context: grpc.ServicerContext) -> Any:
                start = time.perf_counter()
                context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
                try:
                    return behaviour(request, context)
                finally:
                    code = context.code() or grpc.StatusCode.OK
                    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                    log.info("%s %s %s %.1fms", request_id, method, name, (time.perf_counter() - start) * 1e3)

            return logged

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                wrap(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                wrap(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
