"""``fute spaces`` and ``fute upload``: a store's spaces, and embedding files into one.

``fute spaces`` prints each space with the ``--set`` flags that reproduce its recipe, so
nobody has to read identities from Python; ``fute upload`` sends embedding files with
their identity, which the server checks (a new space takes the first file's identity).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from fute.errors import FuteError
from fute_client.errors import NotFoundError, TaskSearchError
from fute_client.types import BACKENDS, Space
from server.connection import add_connection_args, connect, user_errors
from server.embedding_upload import embedding_space_of, identity_of, upload_embeddings


def set_flags(space: Space) -> str:
    """``--method M --set k=v ...``: the ``fute embed`` flags whose vectors land in ``space``.

    Only settings that differ from this fute's defaults are listed; empty for a space of
    plain vectors.
    """
    from fute.methods.from_space import non_default_settings

    if space.identity is None:
        return ""
    es = embedding_space_of(space.identity, space.dim)
    flags = [f"--method {es.method}"]
    flags += [f"--set {shlex.quote(f'{k}={v}')}" for k, v in sorted(non_default_settings(es).items())]
    return " ".join(flags)


def space_row(space: Space) -> dict[str, Any]:
    """A space as one JSON-ready record (settings in full, and as flags)."""
    from fute.methods.from_space import space_settings

    ident = space.identity
    es = embedding_space_of(ident, space.dim) if ident is not None else None
    return {
        "name": space.name,
        "dim": space.dim,
        "tasks": space.task_count,
        "backend": space.backend,
        "method": es.method if es else "",
        "surrogate": f"{es.surrogate_name}@{es.surrogate_hash}" if es else "",
        "corpus": (es.corpus or "") if es else "",
        "settings": space_settings(es) if es else {},
        "flags": set_flags(space),
        "space_key": space.space_key,
        "keep_neighbours": space.keep_neighbours,
    }


def _list_spaces(args: argparse.Namespace) -> list[Space]:
    if args.store is not None:
        from server.config import StoreConfig
        from server.store.task_store import TaskStore

        try:
            with TaskStore(StoreConfig(path=Path(args.store).resolve(), device="cpu")) as store:
                return store.list_spaces()
        except TaskSearchError as exc:
            raise FuteError(
                f"cannot open store {args.store}: {exc} (if a server runs on it, use --server)"
            ) from exc
    with connect(args) as client:
        return client.list_spaces()


@user_errors
def _cmd_spaces(args: argparse.Namespace) -> int:
    rows = [space_row(s) for s in _list_spaces(args)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no spaces")
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'space':<{width}}  {'dim':>5}  {'tasks':>6}  {'backend':<7}  csls  recipe (fute embed flags)")
    for r in rows:
        recipe = r["flags"] or "(plain vectors, no identity)"
        csls = "yes" if r["keep_neighbours"] else "no"
        print(f"{r['name']:<{width}}  {r['dim']:>5}  {r['tasks']:>6}  {r['backend']:<7}  {csls:<4}  {recipe}")
    return 0


@user_errors
def _cmd_upload(args: argparse.Namespace) -> int:
    from fute.embedding import load_embedding
    from fute.space import check_one_space

    embeddings = [load_embedding(p) for p in args.embeddings]  # a bad file fails before any call
    # Files of two spaces fail here, before a space is created for them.
    first = check_one_space([(e.space, str(p)) for p, e in zip(args.embeddings, embeddings, strict=True)])
    with connect(args) as client:
        try:
            existing = client.describe_space(args.space)
        except NotFoundError:
            client.create_space(
                args.space,
                first.dim,
                backend=args.backend,
                identity=identity_of(first),
                keep_neighbours=args.keep_neighbours,
            )
            kept = " (neighbour lists kept: CSLS available)" if args.keep_neighbours else ""
            print(f"created space {args.space!r}: {first.describe()}{kept}")
        else:
            if args.keep_neighbours and not existing.keep_neighbours:
                raise FuteError(
                    f"--keep-neighbours: space {args.space!r} exists without neighbour lists, and a"
                    " space's keep_neighbours is set when it is created; upload into a new space"
                )
        result = upload_embeddings(client, args.space, embeddings)
    for err in result.errors:
        print(f"{err.id}: {err.code}: {err.message}")
    print(f"uploaded {result.upserted} of {len(embeddings)} tasks to space {args.space!r}")
    return 0 if not result.failed else 2


def register_space_commands(subparsers: Any) -> None:
    """Add ``spaces`` and ``upload`` to an argparse subparsers action."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = subparsers.add_parser(
        "spaces",
        help="list the spaces of a server or store, with the flags that reproduce each recipe",
        description="List every space: dimension, task count, backend, whether it keeps the "
        "neighbour lists CSLS needs (csls), and the `fute embed` flags (--method, --set) whose "
        "embeddings land in it.",
        formatter_class=fmt,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", metavar="HOST:PORT", help="a running TaskSearch server")
    where.add_argument("--store", type=Path, help="a store directory no server holds")
    add_connection_args(p)
    p.add_argument("--json", action="store_true", help="print JSON (settings in full) instead of a table")
    p.set_defaults(func=_cmd_spaces)

    p = subparsers.add_parser(
        "upload",
        help="upload embedding files into a server's space (identity checked)",
        description="Upload .safetensors embedding files as tasks (id = task name). The files must "
        "share one embedding space, and the server refuses them unless it is the space's own; a "
        "missing space is created with the first file's identity.",
        formatter_class=fmt,
    )
    p.add_argument("embeddings", nargs="+", type=Path, metavar="EMB", help="fute embedding files")
    p.add_argument("--server", default="127.0.0.1:50051", metavar="HOST:PORT", help="TaskSearch server")
    p.add_argument("--space", required=True, help="space to upload into")
    p.add_argument("--backend", choices=BACKENDS, default="flat", help="index of a new space")
    p.add_argument(
        "--keep-neighbours",
        action="store_true",
        help="a new space keeps every task's nearest tasks, so --similarity csls works on it "
        "(each upload then pays an exhaustive pass over the space; docs/service.md)",
    )
    add_connection_args(p)
    p.set_defaults(func=_cmd_upload)
