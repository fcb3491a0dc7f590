"""Helpers shared by every test folder: free ports, the server as a subprocess, the
brute-force search reference and a self-signed TLS certificate.

Importable as ``kit`` from every test folder (``pythonpath`` in pyproject.toml); a
folder's own helpers (``server_testkit``, ``reliability_kit``, ...) stay beside its tests.
"""

from kit.ports import free_port
from kit.reference import brute_force, brute_force_ids, unit
from kit.server_process import REPO, ServerProcess, run_server_until_exit, serve_argv
from kit.tls import self_signed_cert

__all__ = [
    "REPO",
    "ServerProcess",
    "brute_force",
    "brute_force_ids",
    "free_port",
    "run_server_until_exit",
    "self_signed_cert",
    "serve_argv",
    "unit",
]
