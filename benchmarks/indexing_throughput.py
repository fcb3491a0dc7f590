"""Units per minute of ``fute index`` on this machine: the local process pool and Ray (local mode).

Usage: python -m benchmarks.indexing_throughput [--tasks 16] [--max-examples 200] [--method text]
       [--backends local,ray] [--workers N] [--threads N]

Indexes the suite's training sets (one unit per task) into a fresh store and state dir per
backend, cold (worker start-up and surrogate loading included, as a user's job pays them),
and prints one row per backend: units, wall seconds, units per minute, and the mean
compute seconds of a unit inside its worker.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from benchmarks.common import SUITE, banner
from indexer.manifest import parse_manifest
from indexer.report import RunReport
from indexer.runner import RunOptions, default_parallelism, run_job
from indexer.sinks import store_sink
from indexer.state import StateDir


def suite_manifest(tasks: int, method: str, max_examples: int, where: Path) -> str:
    """Manifest text: the first ``tasks`` suite tasks' training sets in one space."""
    names = [t["name"] for t in json.loads((SUITE / "tasks.json").read_text())][:tasks]
    settings = {"max_examples": max_examples}
    if method == "fim":
        settings |= {"dim": 1024, "epochs": 0}
    lines = [
        "spaces:",
        f"  - {{name: bench, method: {method}, settings: {json.dumps(settings)}}}",
        "datasets:",
    ]
    lines += [f"  - {{name: {n}, path: {SUITE / 'data' / n / 'train.jsonl.gz'}}}" for n in names]
    (where / "bench.yaml").write_text("\n".join(lines) + "\n")
    return "\n".join(lines) + "\n"


def run_once(text: str, where: Path, options: RunOptions) -> RunReport:
    """One cold run into a new store and state dir under ``where``."""
    manifest = parse_manifest(text, where / "bench.yaml")
    sink = store_sink(where / f"store-{options.backend}")
    try:
        with StateDir(where / f"state-{options.backend}") as state:
            return run_job(manifest, state, sink, options)
    finally:
        sink.close()


def main() -> None:
    """Run each backend and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=16, help="suite tasks (units)")
    parser.add_argument("--max-examples", type=int, default=200, help="examples per unit")
    parser.add_argument("--method", choices=("text", "fim"), default="text")
    parser.add_argument("--backends", default="local,ray", help="comma-separated: local, ray")
    parser.add_argument("--workers", type=int, help="local workers (default: as `fute index`)")
    parser.add_argument("--threads", type=int, help="torch threads per unit (default: as `fute index`)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    auto_workers, auto_threads = default_parallelism()
    workers = args.workers or auto_workers
    threads = args.threads or auto_threads
    print(banner(("fute-task-search", "torch", "ray")))
    print(
        f"{args.tasks} units: {args.method}, {args.max_examples} examples each; "
        f"{workers} worker(s) x {threads} thread(s)\n"
    )
    print(f"{'backend':<8} {'units':>5} {'failed':>6} {'wall s':>8} {'units/min':>10} {'unit s (mean)':>14}")
    with tempfile.TemporaryDirectory(prefix="fute-index-bench-") as tmp:
        where = Path(tmp)
        text = suite_manifest(args.tasks, args.method, args.max_examples, where)
        for backend in args.backends.split(","):
            options = RunOptions(backend=backend, workers=workers, threads=threads, progress=False)
            report = run_once(text, where, options)
            secs = [u.seconds for u in report.units if u.seconds is not None and u.status == "computed"]
            mean = sum(secs) / len(secs) if secs else float("nan")
            print(
                f"{backend:<8} {report.counts()['computed']:>5} {len(report.failed):>6} {report.seconds:>8.1f} "
                f"{report.units_per_minute():>10.1f} {mean:>14.2f}"
            )


if __name__ == "__main__":
    main()
