"""The exception family of TaskSearch, shared by the client and the in-process store.

Each class carries the canonical gRPC status code it travels as, so the server maps an
error to a status by its class and the client maps a status back to the same class.
"""

from __future__ import annotations

import grpc


class TaskSearchError(Exception):
    """Base class; ``code`` is the gRPC status the error travels as."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(TaskSearchError, ValueError):
    """Malformed request: wrong dimension, NaN, k out of range, bad id or filter."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(TaskSearchError, KeyError):
    """Unknown space, task or snapshot."""

    code = grpc.StatusCode.NOT_FOUND

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(TaskSearchError):
    """A space (or snapshot) of that name exists."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(TaskSearchError):
    """The request is valid but the state forbids it (e.g. embedding-space mismatch)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AuthError(TaskSearchError):
    """No or unknown bearer token."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(TaskSearchError):
    """The token may not do this (a read-only token writing)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(TaskSearchError):
    """A message over the size limit."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(TaskSearchError):
    """The server cannot be reached (after retries) or is shutting down."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(TaskSearchError):
    """The call's deadline passed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class DataLossError(TaskSearchError):
    """Stored data failed its checksum."""

    code = grpc.StatusCode.DATA_LOSS


ERRORS_BY_CODE: dict[grpc.StatusCode, type[TaskSearchError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        AuthError,
        PermissionDeniedError,
        ResourceExhaustedError,
        UnavailableError,
        DeadlineExceededError,
        DataLossError,
    )
}


def error_from_rpc(exc: grpc.RpcError) -> TaskSearchError:
    """The family member for a failed call (``TaskSearchError`` for unmapped codes)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    cls = ERRORS_BY_CODE.get(code, TaskSearchError)
    err = cls(f"{code.name}: {details}")
    if cls is TaskSearchError:
        err.code = code
    return err
