"""Client of the FUTE TaskSearch gRPC service.

``TaskSearchClient`` (sync) and ``AsyncTaskSearchClient`` (asyncio) take and return numpy
arrays and the dataclasses of :mod:`fute_client.types`; generated protobuf messages never
leave :mod:`fute_client.conversions`.
"""

from fute_client.aio import AsyncTaskSearchClient
from fute_client.client import TaskSearchClient
from fute_client.errors import (
    AlreadyExistsError,
    AuthError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    TaskSearchError,
    UnavailableError,
)
from fute_client.types import (
    Condition,
    Filter,
    Hit,
    ItemError,
    Ranking,
    ServerInfo,
    Snapshot,
    Space,
    SpaceIdentity,
    Task,
    TaskSource,
    UpsertResult,
)

__all__ = [
    "AlreadyExistsError",
    "AsyncTaskSearchClient",
    "AuthError",
    "Condition",
    "FailedPreconditionError",
    "Filter",
    "Hit",
    "InvalidArgumentError",
    "ItemError",
    "NotFoundError",
    "PermissionDeniedError",
    "Ranking",
    "ServerInfo",
    "Snapshot",
    "Space",
    "SpaceIdentity",
    "Task",
    "TaskSearchClient",
    "TaskSearchError",
    "TaskSource",
    "UnavailableError",
    "UpsertResult",
]
