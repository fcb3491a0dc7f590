"""The search server as a subprocess: its command line, a process that is started, killed
and restarted on one store, and a run that must refuse to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from fute_client import TaskSearchClient
from fute_client.errors import TaskSearchError
from kit.ports import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def serve_argv(store: Path, *args: str, module: str = "server") -> list[str]:
    """``python -m MODULE serve --store STORE ARGS...`` (``module="fute.cli"`` for ``fute serve``)."""
    return [sys.executable, "-m", module, "serve", "--store", str(store), *args]


class ServerProcess:
    """``python -m server serve`` on a store directory, in its own process.

    ``start()`` returns once the server answers calls; ``kill9()`` sends SIGKILL and reaps
    it; ``start()`` again reopens the same store (as an operator's restart would).
    ``device`` and ``log_level`` are passed as ``--device`` and ``--log-level`` unless None.
    """

    def __init__(
        self, store: Path, *extra_args: str, device: str | None = "cpu", log_level: str | None = "WARNING"
    ) -> None:
        self.store = store
        self.extra_args = extra_args
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.options = [
            *(("--device", device) if device is not None else ()),
            *(("--log-level", log_level) if log_level is not None else ()),
        ]

    @property
    def target(self) -> str:
        """``host:port`` of the server."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Launch the server and wait until ``ListSpaces`` answers (or fail with its stderr)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            serve_argv(self.store, "--port", str(self.port), *self.options, *self.extra_args),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        with TaskSearchClient(self.target, timeout=2.0, max_attempts=1) as c:
            while True:
                if self.proc.poll() is not None:
                    _, err = self.proc.communicate()
                    raise AssertionError(f"server exited with {self.proc.returncode}: {err.decode()}")
                try:
                    c.list_spaces()
                    return
                except TaskSearchError:
                    if time.monotonic() > deadline:
                        self.kill9()
                        raise AssertionError(f"server did not answer within {START_TIMEOUT_S}s") from None
                    time.sleep(0.05)

    def kill9(self) -> None:
        """SIGKILL the server (no cleanup of any kind) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.communicate(timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> tuple[int, str]:
        """Send ``sig`` and wait for the exit; returns (exit code, stderr)."""
        assert self.proc is not None, "not started"
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, err.decode(errors="replace")

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill9()


def run_server_until_exit(store: Path, timeout_s: float = 60.0) -> tuple[int, str]:
    """Run ``python -m server serve`` on ``store`` and return (exit code, stderr).

    Used on stores that must refuse to start; a server that starts anyway is killed after
    ``timeout_s`` and reported with the exit code of the kill.
    """
    proc = subprocess.run(
        serve_argv(store, "--port", str(free_port()), "--device", "cpu"),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout_s,
        check=False,
    )
    return proc.returncode, proc.stderr.decode(errors="replace")
