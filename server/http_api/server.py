"""The HTTP/JSON server beside gRPC: a stdlib ``ThreadingHTTPServer`` over :data:`ROUTES`.

Every request is bounded: the body by the server's ``max_message_bytes`` (413 before it
is read), the socket by :data:`SOCKET_TIMEOUT_S`, the calls served at once by
``workers``. One request per connection (HTTP/1.0), so stopping never waits on idle
keep-alive sockets. Bad input is a 4xx naming what and where; only a bug is a 500.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import faiss
import grpc

from fute_client.errors import InvalidArgumentError, TaskSearchError, UnavailableError
from server.auth import WRITE_METHODS, matches_any, refusal, token_of
from server.echo import shown
from server.http_api.openapi import openapi_document
from server.http_api.routes import ROUTES, Api, QueryParam, Request, Route
from server.http_api.schema import SCHEMAS, validate
from server.http_api.status import HttpError, InternalError, error_body, http_status

log = logging.getLogger("server.http")

SOCKET_TIMEOUT_S = 30.0
BUSY_WAIT_S = 30.0  # a call waits this long for a free worker, then 503
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
}


_STDLIB_CODES = {
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    414: grpc.StatusCode.RESOURCE_EXHAUSTED,
    431: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
}


@dataclass(frozen=True)
class HttpConfig:
    """Limits and auth of the HTTP side (the gRPC side's values, passed in)."""

    max_body_bytes: int
    workers: int
    threads_per_call: int
    read_tokens: frozenset[str] = frozenset()
    write_tokens: frozenset[str] = frozenset()

    @property
    def auth_enabled(self) -> bool:
        return bool(self.read_tokens or self.write_tokens)


def http_refusal(config: HttpConfig, rpc: str, token: str | None) -> tuple[grpc.StatusCode, str] | None:
    """The gRPC rule (``server.auth.refusal``), plus one for HTTP: a write needs a write
    token even when auth is off, because any web page the user opens can send requests to
    a loopback HTTP port (gRPC is out of a page's reach)."""
    if not rpc:
        return None
    if config.auth_enabled:
        return refusal(rpc, token, config.read_tokens, config.write_tokens)
    if rpc in WRITE_METHODS:
        return (
            grpc.StatusCode.PERMISSION_DENIED,
            f"{rpc} over HTTP needs a write token; start fute serve with --write-token-file",
        )
    return None


def access_of(config: HttpConfig, token: str | None) -> dict[str, Any]:
    """What ``token`` may do: the console shows write controls only when it may write."""
    can_write = token is not None and matches_any(token, config.write_tokens)
    can_read = (
        not config.auth_enabled or can_write or (token is not None and matches_any(token, config.read_tokens))
    )
    return {"auth_enabled": config.auth_enabled, "can_read": can_read, "can_write": can_write}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (numbers must be finite)")


def parse_json(body: bytes) -> Any:
    """The JSON value of a body, or INVALID_ARGUMENT saying what is wrong and where."""
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"request body is not UTF-8: byte {exc.start} is 0x{body[exc.start]:02x}"
        ) from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"malformed JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from exc
    except ValueError as exc:
        raise InvalidArgumentError(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidArgumentError("malformed JSON: nested too deeply") from exc


def parse_query(route: Route, raw: str) -> dict[str, Any]:
    """The URL query of ``route``: known parameters only, typed, required ones present."""
    known: dict[str, QueryParam] = {q.name: q for q in route.query}
    values: dict[str, Any] = {}
    for name, items in parse_qs(raw, keep_blank_values=True).items():
        param = known.get(name)
        if param is None:
            expected = ", ".join(known) or "none"
            raise InvalidArgumentError(f"unknown query parameter {shown(name)}; known: {expected}")
        text = items[-1]
        if param.kind == "integer":
            try:
                value: Any = int(text)
            except ValueError as exc:
                raise InvalidArgumentError(
                    f"query parameter {name}: expected an integer, got {shown(text)}"
                ) from exc
            if param.minimum is not None and value < param.minimum:
                raise InvalidArgumentError(
                    f"query parameter {name}: {value} is below the minimum {param.minimum}"
                )
        else:
            value = text
            if param.enum and value not in param.enum:
                raise InvalidArgumentError(
                    f"query parameter {name}: {shown(text)} is not one of {list(param.enum)}"
                )
        values[name] = value
    for param in route.query:
        if param.required and param.name not in values:
            raise InvalidArgumentError(f"missing query parameter {param.name!r}")
    return values


def _path_param(name: str, segment: str) -> str:
    """A percent-decoded path segment; INVALID_ARGUMENT when it is not UTF-8."""
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"path parameter {name} {shown(segment)} is not percent-encoded UTF-8"
        ) from exc


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route of ``method path`` and its (percent-decoded) path parameters."""
    segments = tuple(path.strip("/").split("/"))
    allowed: list[str] = []
    for route in ROUTES:
        if len(route.segments) != len(segments):
            continue
        params: dict[str, str] = {}
        for pattern, seg in zip(route.segments, segments, strict=True):
            if pattern.startswith("{"):
                params[pattern[1:-1]] = _path_param(pattern[1:-1], seg)
            elif pattern != seg:
                break
        else:
            if route.method == method:
                return route, params
            allowed.append(route.method)
    if allowed:
        raise HttpError(405, grpc.StatusCode.UNIMPLEMENTED, f"{method} {path}: allowed methods {allowed}")
    raise HttpError(
        404, grpc.StatusCode.NOT_FOUND, f"no route {method} {shown(path)}; see /api/v1/openapi.json"
    )


class ApiServer(ThreadingHTTPServer):
    """The listening socket plus what its handlers share."""

    daemon_threads = True
    allow_reuse_address = False  # a second server on the port must fail, as for gRPC

    def __init__(self, address: tuple[str, int], api: Api, config: HttpConfig) -> None:
        if ":" in address[0]:  # an IPv6 address such as [::]
            self.address_family = socket.AF_INET6
            address = (address[0].strip("[]"), address[1])
        self.api = api
        self.config = config
        self.slots = threading.BoundedSemaphore(config.workers)
        self.stopping = threading.Event()
        self.openapi = json.dumps(openapi_document()).encode()
        super().__init__(address, ApiHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed outside a request (a TLS handshake, a reset): one log
        line, not the stdlib's traceback on stderr."""
        log.info("HTTP connection from %s failed: %r", client_address[0], sys.exc_info()[1])


# Longest a refused oversized body is drained after the reply (see ApiHandler.finish).
LINGER_S = 2.0


class ApiHandler(BaseHTTPRequestHandler):
    """One request: route, auth, body, validate, call, answer."""

    server: ApiServer
    timeout = SOCKET_TIMEOUT_S
    server_version = "fute-task-search"
    # Answer even a request line that parses as nothing (HTTP/0.9 style) with a status line.
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # under the socket timeout set by super().setup()
        # FAISS runs on this thread: give it the RPC pool's OpenMP share (see server.app).
        faiss.omp_set_num_threads(self.server.config.threads_per_call)

    _unread_body = False

    def finish(self) -> None:
        """Send the reply, then drain a refused body for a moment before the socket closes.

        Closing with unread bytes makes the kernel reset the connection, which can destroy
        the 413 the client has not read yet; a bounded drain (a lingering close, as nginx
        does) lets the reply arrive.
        """
        super().finish()
        if not self._unread_body:
            return
        with contextlib.suppress(OSError):
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(0.2)
            deadline = time.monotonic() + LINGER_S
            while time.monotonic() < deadline and self.request.recv(1 << 16):
                pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a malformed request line, headers too long, an unknown
        method) as JSON errors like every other, never its HTML page."""
        grpc_code = _STDLIB_CODES.get(
            code, grpc.StatusCode.INVALID_ARGUMENT if code < 500 else grpc.StatusCode.INTERNAL
        )
        text = message or self.responses.get(code, ("error",))[0]
        self.close_connection = True
        body = json.dumps(error_body(grpc_code, f"{text}: {explain}" if explain else text)).encode()
        self._send(code, "application/json", body)

    def log_message(self, format: str, *args: Any) -> None:  # the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)

    # ---------------------------------------------------------------- dispatch

    def _serve(self, method: str) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        status = 500
        try:
            # Read first, even for a request about to be refused: closing a socket with
            # unread bytes resets the connection, and the client may lose the reply.
            raw = self._read_body()
            if method == "GET" and not raw and self._static(url.path):
                return
            route, params = match(method, url.path)
            status, body = self._call(route, params, url.query, raw)
        except TaskSearchError as exc:
            status, body = http_status(exc), error_body(exc.code, str(exc))
        except Exception as exc:
            log.exception("internal error in HTTP %s %s", method, url.path)
            err = InternalError(f"internal error: {type(exc).__name__}")
            status, body = 500, error_body(err.code, str(err))
        self._send_json(status, body)
        log.info(
            "HTTP %s %s -> %d in %.1f ms", method, url.path, status, 1000 * (time.perf_counter() - started)
        )

    def _call(self, route: Route, params: dict[str, str], raw_query: str, raw: bytes) -> tuple[int, Any]:
        token = token_of([("authorization", self.headers.get("Authorization", ""))])
        refused = http_refusal(self.server.config, route.rpc, token)
        if refused is not None:
            code, message = refused
            raise HttpError(401 if code == grpc.StatusCode.UNAUTHENTICATED else 403, code, message)
        query = parse_query(route, raw_query)
        if route.raw_body:
            body: Any = raw
        elif route.request is not None:
            self._check_json_type()
            body = parse_json(raw)
            validate(body, SCHEMAS[route.request])
        elif raw:
            raise InvalidArgumentError(
                f"{route.method} {route.path} takes no request body, got {len(raw)} bytes"
            )
        else:
            body = None
        if route.operation == "health":  # answers while loading and stopping (it says so)
            result = route.handler(self.server.api, Request(params, query, body, token))
            return (200 if result["status"] == "SERVING" else 503), result
        if self.server.stopping.is_set():
            raise UnavailableError("the server is shutting down")
        if not self.server.slots.acquire(timeout=BUSY_WAIT_S):
            raise UnavailableError(
                f"all {self.server.config.workers} HTTP workers busy for {BUSY_WAIT_S:.0f} s"
            )
        try:
            return route.status, route.handler(self.server.api, Request(params, query, body, token))
        finally:
            self.server.slots.release()

    def _check_json_type(self) -> None:
        # Requiring application/json also makes a cross-site request need a CORS preflight,
        # which this server never grants.
        ctype = self.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(
                415, grpc.StatusCode.INVALID_ARGUMENT, f"Content-Type {shown(ctype)}; send application/json"
            )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise HttpError(
                411, grpc.StatusCode.INVALID_ARGUMENT, "chunked bodies are not accepted; send Content-Length"
            )
        text = self.headers.get("Content-Length")
        if text is None:
            if self.command in ("POST", "PUT", "PATCH"):
                raise HttpError(
                    411, grpc.StatusCode.INVALID_ARGUMENT, "a request body needs a Content-Length header"
                )
            return b""
        try:
            size = int(text)
        except ValueError:
            size = -1
        if size < 0:
            raise InvalidArgumentError(f"Content-Length {shown(text)} is not a byte count")
        limit = self.server.config.max_body_bytes
        if size > limit:
            self.close_connection = True  # the unread body must not be taken for a request
            self._unread_body = True
            raise HttpError(
                413,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request body of {size} bytes is over the {limit}-byte message limit (--max-message-bytes)",
            )
        data = self.rfile.read(size)
        if len(data) != size:
            raise InvalidArgumentError(
                f"request body ended after {len(data)} of {size} bytes (Content-Length)"
            )
        return data

    # ---------------------------------------------------------------- replies

    def _send(self, status: int, ctype: str, data: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status: int, body: Any) -> None:
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        self._send(status, "application/json", json.dumps(body, allow_nan=False).encode(), extra)

    def _static(self, path: str) -> bool:
        """Serve the console (``/``, ``/static/NAME``) and the OpenAPI document; False if
        ``path`` is none of them."""
        if path == "/api/v1/openapi.json":
            self._send(200, "application/json", self.server.openapi)
            return True
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if name == path or "/" in name or name.startswith("."):
            return False
        suffix = name[name.rfind(".") :] if "." in name else ""
        file = resources.files("server.http_api") / "static" / name
        if suffix not in STATIC_TYPES or not file.is_file():
            return False
        self._send(200, STATIC_TYPES[suffix], file.read_bytes())
        return True


def start_http_server(
    host: str, port: int, api: Api, config: HttpConfig, tls: ssl.SSLContext | None = None
) -> tuple[ApiServer, threading.Thread]:
    """Bind and serve in a thread; returns the server (``server_address[1]`` is the port)."""
    server = ApiServer((host, port), api, config)
    if tls is not None:
        # The handshake runs in the connection's own thread (setup), not in the accept loop.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    log.info("HTTP API and console on http://%s:%d/", host, server.server_address[1])
    return server, thread


def stop_http_server(server: ApiServer, grace: float | None) -> None:
    """Refuse new calls (503), wait up to ``grace`` s for calls in flight, close the socket."""
    server.stopping.set()
    deadline = time.monotonic() + (grace or 0.0)
    taken = 0
    for _ in range(server.config.workers):  # every slot free means no call in flight
        if server.slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            taken += 1
    server.shutdown()
    server.server_close()
    server.api.jobs.close()
    if taken < server.config.workers:
        log.warning("HTTP: %d calls still running after the grace period", server.config.workers - taken)
