"""``fute serve``, ``fute search`` and ``fute rank``: registered into the ``fute`` CLI.

``register(subparsers)`` is the ``fute.commands`` entry point; ``python -m server`` runs
the same subcommands stand-alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fute_client import TaskSearchClient
from fute_client.errors import TaskSearchError
from fute_client.types import Condition, Filter, Hit, QueryTarget
from server.config import DEFAULT_MAX_MESSAGE_BYTES, DEVICES, ServerConfig, StoreConfig

log = logging.getLogger(__name__)

TOKEN_ENV = "FUTE_TOKEN"


def _read_tokens(path: Path | None) -> frozenset[str]:
    """Tokens from a file, one per line (files keep them out of ``ps`` and shell history)."""
    if path is None:
        return frozenset()
    tokens = frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not tokens:
        raise SystemExit(f"error: token file {path} holds no tokens")
    return tokens


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _serve(args: argparse.Namespace) -> int:
    from server.app import serve  # grpc server machinery only when serving

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # `fute` may have configured logging already (at WARNING); the server's level wins.
    logging.getLogger().setLevel(getattr(logging, args.log_level))
    config = ServerConfig(
        store=StoreConfig(path=args.store, device=args.device, max_k=args.max_k),
        host=args.host,
        port=args.port,
        max_message_bytes=args.max_message_bytes,
        workers=args.workers,
        search_threads=args.search_threads,
        read_tokens=_read_tokens(args.read_token_file),
        write_tokens=_read_tokens(args.write_token_file),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        grace_s=args.grace,
    )
    try:
        return serve(config)
    except TaskSearchError as exc:
        # A corrupted store, a store in use, an unavailable GPU: one clear line, no traceback.
        log.error("cannot start: %s", exc)
        return 2


def _client(args: argparse.Namespace) -> TaskSearchClient:
    token = args.token_file.read_text().strip() if args.token_file else os.environ.get(TOKEN_ENV)
    roots = args.ca_cert.read_bytes() if args.ca_cert else None
    return TaskSearchClient(args.server, token=token or None, root_certificates=roots, timeout=args.timeout)


def _filter(args: argparse.Namespace) -> Filter | None:
    must: list[Condition] = []
    must_not: list[Condition] = []
    if args.kind:
        must.append(Condition("kind", (args.kind,)))
    if args.task_type:
        must.append(Condition("task_type", tuple(args.task_type)))
    if args.tag:
        must.append(Condition("tag", tuple(args.tag)))
    if args.exclude_tag:
        must_not.append(Condition("tag", tuple(args.exclude_tag)))
    if args.exclude_id:
        must_not.append(Condition("id", tuple(args.exclude_id)))
    flt = Filter(tuple(must), tuple(must_not))
    return None if flt.is_empty() else flt


def _targets(args: argparse.Namespace) -> list[QueryTarget]:
    targets: list[QueryTarget] = list(args.id or [])
    for path in args.vector or []:
        arr = np.load(path)
        targets.extend([arr] if arr.ndim == 1 else list(arr))
    for path in args.embedding or []:
        from fute.embedding import load_embedding

        targets.append(load_embedding(path).vector)
    if not targets:
        raise SystemExit("error: give a query with --id, --vector FILE.npy or --embedding FILE")
    return targets


def _hit_row(rank: int, hit: Hit) -> dict[str, Any]:
    return {
        "rank": rank,
        "id": hit.id,
        "score": round(hit.score, 6),
        "kind": hit.task.kind,
        "task_type": hit.task.task_type,
        "name": hit.task.name,
    }


def _print_hits(title: str, hits: list[Hit]) -> None:
    print(title)
    print(f"{'rank':>4}  {'score':>8}  {'kind':<8} {'task_type':<16} id")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>4}  {hit.score:8.4f}  {hit.task.kind:<8} {hit.task.task_type:<16} {hit.id}")


def _search(args: argparse.Namespace) -> int:
    targets = _targets(args)
    try:
        with _client(args) as client:
            results = client.search(
                args.space, targets, k=args.k, filter=_filter(args), score_threshold=args.threshold
            )
    except TaskSearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([[_hit_row(r, h) for r, h in enumerate(hits, 1)] for hits in results], indent=1))
    else:
        for i, hits in enumerate(results):
            label = targets[i] if isinstance(targets[i], str) else f"vector #{i}"
            _print_hits(f"query {label}:", hits)
    return 0


def _rank(args: argparse.Namespace) -> int:
    targets = _targets(args)
    if len(targets) != 1:
        raise SystemExit("error: rank takes exactly one target")
    try:
        with _client(args) as client:
            ranking = client.rank_sources(args.space, targets[0], candidate_filter=_filter(args), k=args.k)
    except TaskSearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([_hit_row(r, h) for r, h in enumerate(ranking, 1)], indent=1))
    else:
        _print_hits("candidate source tasks, best first:", ranking)
    return 0


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default="127.0.0.1:50051", help="host:port of the server")
    p.add_argument("--space", required=True, help="space to search")
    p.add_argument("--token-file", type=Path, help=f"file holding a bearer token (else ${TOKEN_ENV})")
    p.add_argument("--ca-cert", type=Path, help="PEM CA certificate: connect with TLS")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline per call in seconds")
    p.add_argument("--id", action="append", help="query by a stored task id (repeatable)")
    p.add_argument("--vector", action="append", type=Path, help=".npy file of one or more query vectors")
    p.add_argument("--embedding", action="append", type=Path, help="fute embedding file (.safetensors)")
    p.add_argument("--kind", choices=("dataset", "model"), help="only tasks of this kind")
    p.add_argument("--task-type", action="append", help="only tasks of these types (repeatable)")
    p.add_argument("--tag", action="append", help="only tasks with any of these tags (repeatable)")
    p.add_argument("--exclude-tag", action="append", help="no tasks with these tags (repeatable)")
    p.add_argument("--exclude-id", action="append", help="leave out these task ids (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def register(subparsers: Any) -> None:
    """Add ``serve``, ``search`` and ``rank`` to an argparse subparsers action."""
    p = subparsers.add_parser("serve", help="run the TaskSearch gRPC server over a store directory")
    p.add_argument("--store", type=Path, required=True, help="store directory (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind ([::] for all)")
    p.add_argument("--port", type=int, default=50051, help="TCP port (0: any free one)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where FAISS searches")
    p.add_argument("--max-k", type=int, default=1024, help="largest k a search may ask for")
    p.add_argument(
        "--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES, help="request/reply size limit"
    )
    p.add_argument("--workers", type=_positive_int, default=8, help="threads serving calls")
    p.add_argument(
        "--search-threads",
        type=_positive_int,
        help="OpenMP threads per FAISS call (default: cores / workers, at least 1)",
    )
    p.add_argument(
        "--read-token-file", type=Path, help="read-only bearer tokens, one per line (enables auth)"
    )
    p.add_argument(
        "--write-token-file", type=Path, help="read-write bearer tokens, one per line (enables auth)"
    )
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain (enables TLS)")
    p.add_argument("--tls-key", type=Path, help="PEM private key")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to drain calls on shutdown")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(func=_serve)

    p = subparsers.add_parser("search", help="find tasks similar to a task id or vector on a server")
    _client_args(p)
    p.add_argument("-k", type=int, default=10, help="results per query")
    p.add_argument("--threshold", type=float, help="keep hits with cosine >= this")
    p.set_defaults(func=_search)

    p = subparsers.add_parser("rank", help="rank candidate source tasks for a target task on a server")
    _client_args(p)
    p.add_argument("-k", type=int, default=0, help="how many sources (0: all)")
    p.set_defaults(func=_rank)
