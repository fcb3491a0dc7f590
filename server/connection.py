"""How command-line tools reach a TaskSearch server: one set of flags, one way to connect.

``fute search``, ``fute rank``, ``fute spaces``, ``fute upload`` and ``fute index
--server`` all take ``--token-file`` (else ``$FUTE_TOKEN``), ``--ca-cert`` and
``--timeout`` through :func:`add_connection_args` and read them through
:func:`client_credentials`.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

from fute.errors import FuteError
from fute_client import TaskSearchClient
from fute_client.errors import TaskSearchError, UnavailableError

#: Environment variable holding a bearer token, used when no ``--token-file`` is given.
TOKEN_ENV = "FUTE_TOKEN"


def add_connection_args(
    p: argparse.ArgumentParser, *, timeout: float = 30.0, what: str = "the server"
) -> None:
    """``--token-file``, ``--ca-cert`` and ``--timeout`` for connecting to ``what``."""
    p.add_argument(
        "--token-file", type=Path, help=f"file holding a bearer token for {what} (else ${TOKEN_ENV})"
    )
    p.add_argument("--ca-cert", type=Path, help=f"PEM CA certificate: connect to {what} with TLS")
    p.add_argument(
        "--timeout", type=float, default=timeout, help=f"deadline per call in seconds (default {timeout:g})"
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for a server that is starting or loading (default 0: fail at once)",
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FuteError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def client_credentials(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """(bearer token, TLS root certificates) from the connection flags; a missing file is a FuteError."""
    if args.token_file is not None:
        token: str | None = _read(args.token_file, "--token-file").decode("utf-8", "replace").strip()
        if not token:
            raise FuteError(f"--token-file {args.token_file} is empty")
    else:
        token = os.environ.get(TOKEN_ENV) or None
    roots = _read(args.ca_cert, "--ca-cert") if args.ca_cert is not None else None
    return token, roots


def wait_until_serving(client: TaskSearchClient, seconds: float) -> None:
    """Return once the server answers calls; UNAVAILABLE past ``seconds`` is raised.

    A server that is still binding or loading its store answers UNAVAILABLE; scripts that
    start ``fute serve`` in the background use this instead of a fixed sleep.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.server_info(timeout=max(0.5, min(5.0, deadline - time.monotonic())))
            return
        except UnavailableError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def connect(args: argparse.Namespace) -> TaskSearchClient:
    """A client for ``args.server`` with the connection flags applied (``--wait`` honoured)."""
    token, roots = client_credentials(args)
    client = TaskSearchClient(args.server, token=token, root_certificates=roots, timeout=args.timeout)
    if args.wait > 0:
        try:
            wait_until_serving(client, args.wait)
        except BaseException:
            client.close()
            raise
    return client


def user_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A refused call is a user error: one line (status and detail) and exit 2, via fute's main."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except TaskSearchError as exc:
            raise FuteError(f"{exc.code.name}: {exc}") from exc

    return run
