"""``fute serve``, ``fute search`` and ``fute rank``: registered into the ``fute`` CLI.

``register(subparsers)`` is the ``fute.commands`` entry point; ``python -m server`` runs
the same subcommands stand-alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from fute.cli.args import add_task_file
from fute.errors import FuteError
from fute.informativeness import LOW_ENTROPY_THRESHOLD, OutputInformation
from fute_client import TaskSearchClient
from fute_client.errors import TaskSearchError
from fute_client.types import RANK_ORDERS, SIMILARITIES, Condition, Filter, Hit, QueryTarget, SpaceIdentity
from server.config import (
    DEFAULT_CSLS_K,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEVICES,
    MAX_CSLS_K,
    ServerConfig,
    StoreConfig,
)
from server.connection import add_connection_args, connect, user_errors
from server.dataset_query import DatasetQuery, embed_for_space, indexed_copy, without_ids
from server.embedding_upload import identity_of, information_of
from server.space_cli import register_space_commands

log = logging.getLogger(__name__)


def _read_tokens(path: Path | None) -> frozenset[str]:
    """Tokens from a file, one per line (files keep them out of ``ps`` and shell history)."""
    if path is None:
        return frozenset()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        _exit_2(f"error: cannot read token file {path}: {exc.strerror if isinstance(exc, OSError) else exc}")
    tokens = frozenset(line.strip() for line in text.splitlines() if line.strip())
    if not tokens:
        _exit_2(f"error: token file {path} holds no tokens")
    return tokens


def _exit_2(message: str) -> NoReturn:
    """Stop ``fute serve`` before it starts: one line on stderr, exit code 2 (bad setup)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


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
        store=StoreConfig(
            path=args.store,
            device=args.device,
            max_k=args.max_k,
            transfer_predictor=args.transfer_predictor,
            rank_order=args.rank_order,
        ),
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
        http_port=args.http_port,
        http_host=args.http_host,
    )
    try:
        return serve(config)
    except (TaskSearchError, OSError) as exc:
        # A corrupted store, a store in use, an unavailable GPU, a port in use, an
        # unreadable TLS file: one clear line, no traceback.
        log.error("cannot start: %s", exc)
        return 2


def _filter(args: argparse.Namespace) -> Filter | None:
    must: list[Condition] = []
    must_not: list[Condition] = []
    if args.kind and args.kind != "any":
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


@dataclass(frozen=True)
class _Queries:
    """What a search or rank sends: the targets, the identity their vectors claim, the data file."""

    targets: list[QueryTarget]
    identity: SpaceIdentity | None = None
    dataset: DatasetQuery | None = None


def _file_identity(paths: list[Path]) -> tuple[list[QueryTarget], SpaceIdentity | None]:
    """Vectors of embedding files and their one shared identity."""
    from fute.embedding import load_embedding
    from fute.space import check_one_space

    embs = [load_embedding(p) for p in paths]
    if not embs:
        return [], None
    shared = check_one_space([(e.space, str(p)) for p, e in zip(paths, embs, strict=True)])
    return [e.vector for e in embs], identity_of(shared)


def _queries(args: argparse.Namespace, client: TaskSearchClient) -> _Queries:
    if args.data is not None:
        if args.id or args.vector or args.embedding:
            raise FuteError("--data is the whole query: leave out --id, --vector and --embedding")
        query = embed_for_space(client.describe_space(args.space), args)
        return _Queries([query.embedding.vector], query.identity, query)
    targets: list[QueryTarget] = list(args.id or [])
    for path in args.vector or []:
        arr = np.load(path)
        targets.extend([arr] if arr.ndim == 1 else list(arr))
    vectors, identity = _file_identity(list(args.embedding or []))
    targets.extend(vectors)
    if not targets:
        raise FuteError("give a query with --data FILE, --id ID, --vector FILE.npy or --embedding FILE")
    return _Queries(targets, identity)


def _says_little(hit: Hit) -> OutputInformation | None:
    """The hit's output information when its model's outputs on U say little (the
    threshold of ``fute.informativeness``, as ``fute embed-model`` warns), else None."""
    information = information_of(hit.task.output_info)
    return information if information is not None and information.is_low() else None


def _hit_row(rank: int, hit: Hit) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rank": rank,
        "id": hit.id,
        "score": round(hit.score, 6),
        "kind": hit.task.kind,
        "task_type": hit.task.task_type,
        "name": hit.task.name,
    }
    if hit.predicted_gain is not None and hit.p_help is not None:
        row["predicted_gain"] = round(hit.predicted_gain, 6)
        row["p_help"] = round(hit.p_help, 6)
    if hit.task.output_info is not None:
        row["output_info"] = asdict(hit.task.output_info)
        row["says_little"] = _says_little(hit) is not None
    return row


def _print_hits(title: str, hits: Sequence[Hit], similarity: str = "cosine") -> None:
    """The hits as a table; a model whose outputs on U say little is marked ``(!)`` and
    explained under the table."""
    predicted = bool(hits) and hits[0].p_help is not None
    print(title)
    extra = f"  {'gain':>7}  {'P(help)':>7}" if predicted else ""
    print(f"{'rank':>4}  {similarity:>8}{extra}  {'kind':<8} {'task_type':<16} id")
    notes: list[str] = []
    for rank, hit in enumerate(hits, 1):
        cells = f"  {hit.predicted_gain:+7.3f}  {hit.p_help:7.2f}" if predicted else ""
        little = _says_little(hit)
        mark = "  (!)" if little is not None else ""
        print(
            f"{rank:>4}  {hit.score:8.4f}{cells}  {hit.task.kind:<8} {hit.task.task_type:<16} {hit.id}{mark}"
        )
        if little is not None:
            notes.append(
                f"  (!) {hit.id}: its outputs on U say little ({little.describe(hit.task.label_names)}; "
                f"answer entropy below {LOW_ENTROPY_THRESHOLD}), so its embedding is mostly U's input signature"
            )
    for note in notes:
        print(note)


def _own_copy(client: TaskSearchClient, args: argparse.Namespace, query: _Queries) -> list[str]:
    """The data file's own indexed copy, which its search and ranking leave out (none for other queries)."""
    return indexed_copy(client, args.space, query.dataset) if query.dataset is not None else []


@user_errors
def _search(args: argparse.Namespace) -> int:
    with connect(args) as client:
        query = _queries(args, client)
        results = client.search(
            args.space,
            query.targets,
            k=args.k,
            filter=without_ids(_filter(args), _own_copy(client, args, query)),
            score_threshold=args.threshold,
            expected_identity=query.identity,
            similarity=args.similarity,
            csls_k=args.csls_k,
        )
    if query.dataset is not None:
        print(query.dataset.describe(args.space), file=sys.stderr)
    if args.json:
        print(json.dumps([[_hit_row(r, h) for r, h in enumerate(hits, 1)] for hits in results], indent=1))
    else:
        for i, hits in enumerate(results):
            target = query.targets[i]
            label = target if isinstance(target, str) else (args.data or f"vector #{i}")
            _print_hits(f"query {label}:", hits, args.similarity)
    return 0


@user_errors
def _rank(args: argparse.Namespace) -> int:
    with connect(args) as client:
        query = _queries(args, client)
        if len(query.targets) != 1:
            raise FuteError(f"rank takes exactly one target, got {len(query.targets)}")
        ranking = client.rank_sources(
            args.space,
            query.targets[0],
            candidate_filter=without_ids(_filter(args), _own_copy(client, args, query)),
            k=args.k,
            expected_identity=query.identity,
            similarity=args.similarity,
            csls_k=args.csls_k,
            order=args.order,
            rerank_top=args.rerank_top,
        )
    if query.dataset is not None:
        print(query.dataset.describe(args.space), file=sys.stderr)
    if args.json:
        rows = [_hit_row(r, h) for r, h in enumerate(ranking, 1)]
        print(
            json.dumps(
                {
                    "ranking": rows,
                    "none_expected_to_help": ranking.none_expected_to_help,
                    "advice": ranking.advice,
                    "candidates": ranking.candidates,
                    "order": ranking.order,
                },
                indent=1,
            )
        )
    else:
        by = "predicted gain" if ranking.order == "predicted_gain" else args.similarity
        _print_hits(f"candidate source tasks, best first (by {by}):", ranking, args.similarity)
        if ranking.advice:
            print(ranking.advice)
    return 0


def _data_args(p: argparse.ArgumentParser) -> None:
    """``--data FILE`` and how to read and embed it (the space supplies the recipe)."""
    g = p.add_argument_group(
        "query by a data file",
        "--data FILE embeds a labelled dataset (as `fute embed` reads it) with exactly the "
        "space's method and settings, read from the server, then queries with it",
    )
    g.add_argument("--data", help="labelled data file or folder to embed as the query")
    add_task_file(g)  # type: ignore[arg-type]  # an argument group takes the same add_argument
    g.add_argument(
        "--max-examples",
        type=_positive_int,
        help="cap on examples embedded (default: the method's own, 1000 for every method)",
    )
    g.add_argument("--surrogate", help="surrogate model name or folder (default: the one the space names)")
    g.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default="127.0.0.1:50051", help="host:port of the server")
    p.add_argument("--space", required=True, help="space to search")
    add_connection_args(p)
    p.add_argument("--id", action="append", help="query by a stored task id (repeatable)")
    p.add_argument("--vector", action="append", type=Path, help=".npy file of one or more query vectors")
    p.add_argument("--embedding", action="append", type=Path, help="fute embedding file (.safetensors)")
    _data_args(p)
    p.add_argument("--task-type", action="append", help="only tasks of these types (repeatable)")
    p.add_argument("--tag", action="append", help="only tasks with any of these tags (repeatable)")
    p.add_argument("--exclude-tag", action="append", help="no tasks with these tags (repeatable)")
    p.add_argument("--exclude-id", action="append", help="leave out these task ids (repeatable)")
    p.add_argument(
        "--similarity",
        choices=SIMILARITIES,
        default="cosine",
        help="cosine (default), or csls: hub-aware, 2*cos(x, y) - r(x) - r(y) with r the mean cosine to "
        "the --csls-k nearest tasks of the space, so a task near everything stops being everyone's nearest",
    )
    p.add_argument(
        "--csls-k",
        type=int,
        help=f"with --similarity csls: neighbours of r, 1-{MAX_CSLS_K} (default {DEFAULT_CSLS_K})",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def register(subparsers: Any) -> None:
    """Add ``serve``, ``search`` and ``rank`` to an argparse subparsers action."""
    p = subparsers.add_parser(
        "serve",
        help="run the TaskSearch gRPC server over a store directory",
        description="Serve a store directory over gRPC (the TaskSearch API of proto/fute/v1): SQLite holds "
        "every task embedding, one FAISS index per space answers searches. Health reports SERVING once "
        "the indexes are loaded; reflection, bearer-token auth (--read-token-file, --write-token-file) "
        "and TLS (--tls-cert, --tls-key) are optional; SIGTERM drains calls for --grace seconds. "
        "See docs/service.md.",
    )
    p.add_argument("--store", type=Path, required=True, help="store directory (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind ([::] for all)")
    p.add_argument("--port", type=int, default=50051, help="TCP port (0: any free one)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where FAISS searches")
    p.add_argument("--max-k", type=int, default=1024, help="largest k a search may ask for")
    p.add_argument(
        "--transfer-predictor",
        type=Path,
        help="JSON predictor of transfer gain and P(help) for RankSourceTasks (fute.transfer_prediction; "
        "default: the packaged one, fit on the suite's measured transfer)",
    )
    p.add_argument(
        "--rank-order",
        choices=RANK_ORDERS,
        default="predicted_gain",
        help="RankSourceTasks' order when a request names none (default predicted_gain)",
    )
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
    p.add_argument(
        "--http-port",
        type=int,
        help="also serve the HTTP/JSON API and the browser console on this port (0: any free one)",
    )
    p.add_argument("--http-host", help="interface of the HTTP server (default: --host)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(func=_serve)

    p = subparsers.add_parser(
        "search",
        help="find tasks similar to a task id or vector on a server",
        description="Ask a TaskSearch server for the k tasks nearest to a query in one space, by cosine "
        "similarity of their task embeddings. The query is a stored task (--id), vectors (--vector "
        "FILE.npy), an embedding file (--embedding) or a labelled data file (--data), embedded with the "
        "space's own method and settings; --task-type, --tag, --kind and the exclusions narrow the results.",
    )
    _client_args(p)
    p.add_argument("-k", type=int, default=10, help="results per query")
    p.add_argument(
        "--threshold", type=float, help="keep hits scoring >= this (cosine, or CSLS with --similarity csls)"
    )
    p.add_argument("--kind", choices=("dataset", "model"), help="only tasks of this kind (default: both)")
    p.set_defaults(func=_search)

    p = subparsers.add_parser(
        "rank",
        help="rank candidate source tasks for a target task on a server",
        description="Rank the candidate source tasks of a space for one target task, best first, by the "
        "similarity of their task embeddings: which task to train on before the target (intermediate-task "
        "transfer). The target is --id, --vector, --embedding or --data; a data file's own indexed copy "
        "is left out of its ranking.",
    )
    _client_args(p)
    p.add_argument("-k", type=int, default=0, help="how many sources (0: all)")
    p.add_argument(
        "--kind",
        choices=("dataset", "model", "any"),
        default="dataset",
        help="candidates of this kind (default dataset: one fine-tunes on datasets, not on a "
        "lexicon or a prompt; any: models too)",
    )
    p.add_argument(
        "--order",
        choices=RANK_ORDERS,
        help="predicted_gain: re-order the candidates by predicted transfer gain (the server's "
        "default); similarity: keep the --similarity order",
    )
    p.add_argument(
        "--rerank-top",
        type=int,
        default=0,
        help="with --order predicted_gain: re-order only the N most similar candidates (0: all)",
    )
    p.set_defaults(func=_rank)
    register_space_commands(subparsers)
