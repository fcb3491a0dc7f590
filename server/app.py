"""Server assembly: ``create_server(config) -> (server, port)`` and ``serve(config)``.

Order at start: bind and start gRPC with health NOT_SERVING, load the store (rebuilding
the indexes), then mark SERVING. Shutdown: NOT_SERVING, refuse new calls, give in-flight
calls ``grace_s`` to finish, then close the store (WAL checkpoint).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from concurrent import futures
from types import FrameType

import faiss
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fute_client.contract import messages as pb
from fute_client.contract import services as pb_grpc
from server.auth import AuthInterceptor
from server.config import ServerConfig
from server.http_api import HttpSide, grpc_health_serving, start_http
from server.interceptors import RequestLogInterceptor
from server.open_calls import OpenCallLimiter, open_stream_limit
from server.service import TaskSearchServicer
from server.store import TaskStore
from server.store.faiss_index import gpu_count
from server.store.task_store import server_info_of

log = logging.getLogger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["TaskSearch"].full_name


class PortInUseError(OSError):
    """The server's address is taken (another server, or any other socket)."""


class TaskSearchServer:
    """A started gRPC server with its store; :meth:`stop` drains and persists."""

    def __init__(self, grpc_server: grpc.Server, health_servicer: health.HealthServicer, port: int) -> None:
        self.grpc_server = grpc_server
        self.health = health_servicer
        self.port = port
        self.store: TaskStore | None = None
        self.http: HttpSide | None = None  # the HTTP/JSON API and console, with --http-port
        self._stopped = threading.Event()

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, drain in-flight calls for ``grace`` s, close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        grpc_done = self.grpc_server.stop(grace)
        if self.http is not None:  # drains alongside gRPC, and is closed before the store
            self.http.stop(grace)
        grpc_done.wait()
        if self.store is not None:
            self.store.close()
        log.info("server on port %d stopped", self.port)

    def wait(self) -> None:
        """Block until the server terminates."""
        self.grpc_server.wait_for_termination()


def _credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None and config.tls_key is None:
        return None
    if config.tls_cert is None or config.tls_key is None:
        raise ValueError("TLS needs both a certificate (--tls-cert) and a key (--tls-key)")
    return grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])


def rpc_executor(workers: int, threads_per_call: int) -> futures.ThreadPoolExecutor:
    """The pool serving calls, each thread with its own OpenMP thread count for FAISS.

    OpenMP's thread count is per calling thread, and a thread it did not start begins at
    the machine's core count: without this, ``workers`` concurrent searches would each
    start a full team and oversubscribe the cores (measured in benchmarks/README.md).
    """
    return futures.ThreadPoolExecutor(
        max_workers=workers,
        thread_name_prefix="rpc",
        initializer=faiss.omp_set_num_threads,
        initargs=(threads_per_call,),
    )


def create_server(config: ServerConfig) -> tuple[TaskSearchServer, int]:
    """Build, start and load a server; returns it and the bound port (``config.port`` 0 picks one)."""
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # gRPC sets SO_REUSEPORT by default: a second server on the same port would start
        # and take about half the connections. Without it the bind fails instead.
        ("grpc.so_reuseport", 0),
    ]
    interceptors: list[grpc.ServerInterceptor] = [RequestLogInterceptor()]
    if config.auth_enabled:
        interceptors.append(AuthInterceptor(config.read_tokens, config.write_tokens))
        interceptors.append(
            OpenCallLimiter(open_stream_limit(config.workers), config.read_tokens | config.write_tokens)
        )
    grpc_server = grpc.server(
        rpc_executor(config.workers, config.threads_per_call),
        interceptors=interceptors,
        options=options,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    device = "gpu" if config.store.device != "cpu" and gpu_count() > 0 else "cpu"
    info = server_info_of(
        config.store, device, max_message_bytes=config.max_message_bytes, auth_enabled=config.auth_enabled
    )
    servicer = TaskSearchServicer(info)
    pb_grpc.add_TaskSearchServicer_to_server(servicer, grpc_server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), grpc_server
    )

    address = f"{config.host}:{config.port}"
    creds = _credentials(config)
    try:
        port = (
            grpc_server.add_secure_port(address, creds) if creds else grpc_server.add_insecure_port(address)
        )
    except RuntimeError as exc:  # grpcio raises where older versions returned 0
        raise PortInUseError(f"port {config.port} in use: cannot bind {address}") from exc
    if port == 0:
        raise PortInUseError(f"port {config.port} in use: cannot bind {address}")
    grpc_server.start()
    server = TaskSearchServer(grpc_server, health_servicer, port)
    if config.http_port is not None:
        try:
            serving = grpc_health_serving(health_servicer, SERVICE_NAME)
            server.http = start_http(config, info, lambda: servicer.store, serving)
        except OSError as exc:
            grpc_server.stop(None)
            raise PortInUseError(f"cannot start the HTTP server on port {config.http_port}: {exc}") from exc
    log.info(
        "listening on %s:%d (%s), loading store %s",
        config.host,
        port,
        "TLS" if creds else "plaintext",
        config.store.path,
    )
    try:
        # Reads refuse replies the transport would refuse, before building them.
        store = TaskStore(dataclasses.replace(config.store, max_reply_bytes=config.max_message_bytes))
    except BaseException:
        if server.http is not None:
            server.http.stop(None)
        grpc_server.stop(None)
        raise
    server.store = store

    def not_serving(reason: str) -> None:
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    store.on_unusable = not_serving
    servicer.attach(store)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on port %d (auth %s)", SERVICE_NAME, port, "on" if config.auth_enabled else "off")
    return server, port


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT, then stop gracefully; returns an exit code."""
    server, _ = create_server(config)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: draining for up to %.0fs", signum, config.grace_s)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
    server.stop(config.grace_s)
    return 0
