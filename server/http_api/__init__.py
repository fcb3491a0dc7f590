"""The HTTP/JSON API and the browser console, beside gRPC, over the same store.

``fute serve --http-port PORT`` starts it with the gRPC server (:func:`start_http`): the
same operations (:mod:`server.http_api.routes`, each calling the ``TaskStore`` method the
gRPC servicer calls), the same tokens (``server.auth.refusal``), the same limits and the
same error codes as HTTP statuses (:mod:`server.http_api.status`); ``/`` serves the
console (``static/``), ``/api/v1/openapi.json`` the OpenAPI document.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

from grpc_health.v1 import health, health_pb2

from fute_client.types import ServerInfo
from server.config import ServerConfig
from server.http_api.dataset_jobs import DatasetJobs, SurrogateCache
from server.http_api.routes import Api
from server.http_api.server import ApiServer, HttpConfig, access_of, start_http_server, stop_http_server
from server.store import TaskStore

__all__ = ["HttpSide", "grpc_health_serving", "start_http"]


def grpc_health_serving(servicer: health.HealthServicer, service: str) -> Callable[[], bool]:
    """Whether gRPC health says SERVING for ``service``: the HTTP health route says what it says."""
    request = health_pb2.HealthCheckRequest(service=service)

    def serving() -> bool:
        # A known service never touches the context (it is only used for NOT_FOUND).
        reply = servicer.Check(request, None)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    return serving


@dataclass
class HttpSide:
    """The running HTTP server of a :class:`~server.app.TaskSearchServer`."""

    server: ApiServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self, grace: float | None) -> None:
        """503 for new calls, drain in-flight ones for ``grace`` s, close (before the store closes)."""
        stop_http_server(self.server, grace)
        self.thread.join(timeout=5)


def start_http(
    config: ServerConfig, info: ServerInfo, store_of: Callable[[], TaskStore], serving: Callable[[], bool]
) -> HttpSide:
    """Bind ``config.http_host:config.http_port`` and serve; TLS with the gRPC side's files."""
    assert config.http_port is not None
    http_config = HttpConfig(
        max_body_bytes=config.max_message_bytes,
        workers=config.workers,
        threads_per_call=config.threads_per_call,
        read_tokens=config.read_tokens,
        write_tokens=config.write_tokens,
    )
    jobs = DatasetJobs(store_of, SurrogateCache(), threads_per_call=config.threads_per_call)
    api = Api(store_of, info, jobs, serving, lambda token: access_of(http_config, token))
    host = config.http_host if config.http_host is not None else config.host
    tls: ssl.SSLContext | None = None
    if config.tls_cert is not None and config.tls_key is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(config.tls_cert, config.tls_key)
    server, thread = start_http_server(host, config.http_port, api, http_config, tls)
    return HttpSide(server, thread)
