"""Nothing outside an authorised caller takes the service's capacity, and a server that
cannot have its port does not start (issue 13, defects 5, 6 and 8).

* With auth on, idle unauthenticated reflection streams (as many as there are workers)
  used to hold every serving thread; now they are bounded and authorised calls answer.
* A second ``fute serve`` on a port in use used to start (gRPC sets SO_REUSEPORT) and take
  about half the connections; now it fails with "port N in use" and exit code 2.
* A missing token file stops ``fute serve`` with one line and exit code 2, no traceback.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kit import REPO, free_port
from reliability_kit import in_process_server, loopback_config

from fute_client.contract import messages as pb
from fute_client.contract import services as pb_grpc
from server.app import PortInUseError, create_server
from server.open_calls import open_stream_limit

TOKEN = "read-write-token"
WORKERS = 8  # the default of `fute serve --workers`
CLI_TIMEOUT_S = 60.0


def _idle_requests(release: threading.Event) -> Iterator[reflection_pb2.ServerReflectionRequest]:
    """A reflection request stream that sends nothing until ``release``."""
    release.wait()
    return
    yield  # a generator


def test_idle_reflection_streams_do_not_starve_authorised_calls(tmp_path: Path) -> None:
    release = threading.Event()
    config = loopback_config(tmp_path / "store", write_tokens=frozenset({TOKEN}))
    assert config.workers == WORKERS
    server, port = create_server(config)
    target = f"127.0.0.1:{port}"
    try:
        channel = grpc.insecure_channel(target)
        try:
            reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
            streams = [reflect.ServerReflectionInfo(_idle_requests(release)) for _ in range(WORKERS + 4)]
            time.sleep(0.5)  # let every stream reach the server and take what it may
            stub = pb_grpc.TaskSearchStub(channel)
            auth = (("authorization", f"Bearer {TOKEN}"),)
            for _ in range(5):  # repeatedly, not just once
                stub.ListSpaces(pb.ListSpacesRequest(), metadata=auth, timeout=3)
            # Health checks (unary) still answer without a token.
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=3).status == 1
            # The streams beyond the budget were refused, the rest are still open.
            refused = 0
            for s in streams:
                if s.done():
                    assert s.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, s.code()
                    refused += 1
            assert refused == len(streams) - open_stream_limit(WORKERS)
        finally:
            release.set()
            channel.close()
    finally:
        server.stop(0.5)


def test_reflection_works_within_the_budget(tmp_path: Path) -> None:
    """The budget refuses idle hoarding, not reflection (``grpcurl list`` still works)."""
    with (
        in_process_server(tmp_path / "store", write_tokens=frozenset({TOKEN})) as (_, target),
        grpc.insecure_channel(target) as channel,
    ):
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        for _ in range(3 * WORKERS):  # sequential calls each free their slot
            replies = reflect.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
            names = {s.name for r in replies for s in r.list_services_response.service}
            assert "fute.v1.TaskSearch" in names


def test_second_server_on_a_port_in_use_is_refused(tmp_path: Path) -> None:
    with in_process_server(tmp_path / "first") as (_, target):
        port = int(target.rsplit(":", 1)[1])
        config = dataclasses.replace(loopback_config(tmp_path / "second"), port=port)
        with pytest.raises(PortInUseError, match=f"port {port} in use"):
            second, _ = create_server(config)
            second.stop(0)  # only reached when the bug is back


def _serve_cli(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "server", "serve", "--device", "cpu", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"fute serve {' '.join(args)} kept running instead of exiting: {exc.stderr!r}")


def test_fute_serve_on_a_port_in_use_exits_2(tmp_path: Path) -> None:
    with in_process_server(tmp_path / "first") as (_, target):
        port = target.rsplit(":", 1)[1]
        proc = _serve_cli("--store", str(tmp_path / "second"), "--port", port)
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_token_file_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-tokens.txt"
    proc = _serve_cli(
        "--store", str(tmp_path / "s"), "--port", str(free_port()), "--read-token-file", str(missing)
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0] and "token file" in lines[0], proc.stderr
