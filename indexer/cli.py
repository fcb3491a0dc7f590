"""``fute index MANIFEST``: run a batch indexing job (registered through ``fute.commands``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from server.connection import add_connection_args, client_credentials

logger = logging.getLogger(__name__)

#: Exit status when some unit failed (bad usage and manifest errors exit 2 through ``fute``).
EXIT_UNITS_FAILED = 1


def default_state_dir(manifest: Path) -> Path:
    """``<manifest folder>/<manifest stem>.index-state``."""
    return manifest.resolve().parent / f"{manifest.stem}.index-state"


def _cmd_index(args: argparse.Namespace) -> int:
    from rich.console import Console

    from fute.cli.args import check_output_file
    from indexer.errors import IndexerError
    from indexer.manifest import load_manifest
    from indexer.report import render_summary
    from indexer.runner import RunOptions, default_parallelism, run_job
    from indexer.sinks import Sink, server_sink, store_sink
    from indexer.state import StateDir

    if args.store is None and args.server is None and not args.dry_run:
        raise IndexerError("give a target: --store DIR or --server HOST:PORT (or --dry-run)")
    check_output_file("--report", args.report)  # written last: a missing folder would waste the run
    console = Console(stderr=True)
    if not args.quiet:
        # Per-unit lines with the overall ETA; `fute` itself configures WARNING by default.
        logging.getLogger("indexer").setLevel(logging.INFO)
        if console.is_terminal:
            # Log through rich on the progress bars' console, so lines print above the bars.
            from rich.logging import RichHandler

            root = logging.getLogger()
            for handler in list(root.handlers):
                root.removeHandler(handler)
            root.addHandler(RichHandler(console=console, show_path=False))
    manifest = load_manifest(args.manifest)
    auto_workers, auto_threads = default_parallelism()
    workers = auto_workers if args.workers is None else args.workers
    threads = args.threads or (
        auto_threads if args.workers is None else max(1, (os.cpu_count() or 1) // max(workers, 1))
    )
    options = RunOptions(
        backend="ray" if args.ray is not None else "local",
        workers=workers,
        threads=threads,
        ray_address=None if args.ray in (None, "local") else args.ray,
        gpus_per_unit=args.gpus_per_unit,
        progress=not args.quiet,
        prediction_cache=args.prediction_cache,
        dry_run=args.dry_run,
        reupload=args.reupload,
    )
    if options.backend == "ray":
        from indexer.ray_backend import import_ray

        import_ray()  # fail before any work when ray is missing
    sink: Sink | None = None
    if not args.dry_run:
        if args.store is not None:
            sink = store_sink(args.store)
        elif args.server is not None:
            token, roots = client_credentials(args)
            sink = server_sink(
                args.server, token=token, root_certificates=roots, timeout=args.timeout, wait=args.wait
            )
    try:
        with StateDir(args.state or default_state_dir(Path(args.manifest))) as state:
            report = run_job(manifest, state, sink, options, console=console)
    finally:
        if sink is not None:
            sink.close()
    if args.report:
        Path(args.report).write_text(
            json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    render_summary(report, Console())
    return EXIT_UNITS_FAILED if report.failed else 0


def register(subparsers: Any) -> None:
    """Add ``index`` to ``fute``'s subcommands."""
    p = subparsers.add_parser(
        "index",
        help="run a batch indexing job from a YAML manifest (resumable)",
        description="Embed the datasets and models of a YAML manifest into its spaces and upsert them into a "
        "store or server. Each (task, space) unit is keyed by a content hash of its inputs and kept in the "
        "state dir once done: a rerun skips finished units, a killed job resumes, a changed input recomputes "
        "only its units. A failing unit is reported and the job goes on; the exit status is 1 when any failed. "
        "See docs/indexing.md.",
    )
    p.add_argument("manifest", help="YAML manifest (spaces, datasets, models, corpus, tags)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--store", type=Path, help="store directory written directly (no server)")
    target.add_argument("--server", metavar="HOST:PORT", help="TaskSearch server to upload to")
    p.add_argument(
        "--state", type=Path, help="state dir (default: MANIFEST_STEM.index-state next to the manifest)"
    )
    p.add_argument(
        "--workers", type=int, help="local worker processes (default: one per 4 cores; 0: in process)"
    )
    p.add_argument(
        "--threads", type=int, help="torch threads (Ray: CPUs) per unit (default: cores / workers)"
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run units as Ray tasks: a local Ray without ADDRESS, else the cluster at ADDRESS",
    )
    p.add_argument(
        "--gpus-per-unit", type=float, help="Ray GPUs per unit (default: 1 if the cluster has GPUs)"
    )
    p.add_argument("--prediction-cache", type=Path, help="cache of model outputs on U (default: fute's)")
    p.add_argument("--report", type=Path, help="also write the run's JSON report here")
    p.add_argument("--dry-run", action="store_true", help="plan only: show which units would run")
    p.add_argument(
        "--reupload", action="store_true", help="upload finished units even if the ledger has them"
    )
    add_connection_args(p, timeout=60.0, what="--server")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or per-unit log lines")
    p.set_defaults(func=_cmd_index)
