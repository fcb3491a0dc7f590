"""gRPC status codes as HTTP statuses, and the error body both share.

An error over HTTP carries the same code name and message as over gRPC:
``{"error": {"code": "NOT_FOUND", "message": "..."}}`` with the HTTP status below.
"""

from __future__ import annotations

from typing import Any

import grpc

from fute_client.errors import TaskSearchError
from server.echo import capped

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
}


class InternalError(TaskSearchError):
    """A bug; the HTTP layer logs its traceback and answers 500 INTERNAL."""

    code = grpc.StatusCode.INTERNAL


class HttpError(TaskSearchError):
    """An error of the HTTP transport itself (unknown route, wrong method, no length)."""

    def __init__(self, status: int, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code


def http_status(exc: TaskSearchError) -> int:
    """The HTTP status of an error: its own ``http_status`` if it has one, else by code."""
    own = getattr(exc, "http_status", None)
    return int(own) if own is not None else HTTP_STATUS.get(exc.code, 500)


def error_body(code: grpc.StatusCode, message: str) -> dict[str, Any]:
    """The JSON body of an error, its message capped as gRPC caps it."""
    return {"error": {"code": code.name, "message": capped(message)}}
