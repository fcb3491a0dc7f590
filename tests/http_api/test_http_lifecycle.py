"""The HTTP server's life with the gRPC one: started by ``fute serve --http-port``, TLS with
the gRPC files, health while loading, refused port, and stopped (socket closed) with it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from http_kit import http, http_config
from kit import self_signed_cert, serve_argv

from server.app import PortInUseError, create_server
from server.config import ServerConfig, StoreConfig

ROOT = Path(__file__).resolve().parents[2]


def _config(path: Path, **kwargs: object) -> ServerConfig:
    return http_config(path, workers=2, **kwargs)


def _health(port: int) -> int | None:
    try:
        return http("GET", f"http://127.0.0.1:{port}/api/v1/health")[0]
    except OSError:
        return None


def test_fute_serve_http_port_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        serve_argv(tmp_path / "s", "--port", "0", "--http-port", "0"),
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"HTTP API and console on http://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port is not None, "no HTTP port logged"
        while _health(port) != 200:  # NOT_SERVING (503) until the store has loaded
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            page = reply.read().decode()
            assert "FUTE Task Search" in page and reply.headers["Content-Security-Policy"]
        assert http("GET", f"http://127.0.0.1:{port}/api/v1/spaces") == (200, {"spaces": []})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_http_uses_the_grpc_tls_files(tmp_path: Path) -> None:
    key, cert = self_signed_cert(tmp_path)
    server, _ = create_server(_config(tmp_path / "tls", tls_cert=cert, tls_key=key))
    assert server.http is not None
    try:
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{server.http.port}/api/v1/health"
        with urllib.request.urlopen(url, context=context, timeout=10) as reply:
            assert json.loads(reply.read()) == {"status": "SERVING"}
        with pytest.raises(OSError):  # plain HTTP to a TLS port gets no answer
            urllib.request.urlopen(f"http://localhost:{server.http.port}/api/v1/health", timeout=5)
        with urllib.request.urlopen(url, context=context, timeout=10) as reply:  # still serving
            assert reply.status == 200
    finally:
        server.stop(1.0)


def test_a_taken_http_port_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ServerConfig(
            store=StoreConfig(path=tmp_path / "s", device="cpu"), host="127.0.0.1", port=0, http_port=port
        )
        with pytest.raises(PortInUseError, match=f"HTTP server on port {port}"):
            create_server(config)


def test_stop_refuses_new_calls_and_closes_the_port(tmp_path: Path) -> None:
    server, _ = create_server(_config(tmp_path / "s"))
    assert server.http is not None
    port = server.http.port
    assert http("GET", f"http://127.0.0.1:{port}/api/v1/spaces")[0] == 200
    server.http.server.stopping.set()  # what stop() sets first
    status, reply = http("GET", f"http://127.0.0.1:{port}/api/v1/spaces")
    assert (status, reply["error"]["code"]) == (503, "UNAVAILABLE")
    server.stop(1.0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
