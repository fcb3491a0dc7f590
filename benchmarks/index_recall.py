"""Every index backend against float32 exact search: recall@k, score error, order, memory.

Usage:
    python benchmarks/index_recall.py                                   # 20k x 128, every backend
    python benchmarks/index_recall.py --n 100000 --dim 1024 --backends flat,flat_fp16,flat_sq8 \\
        --out benchmarks/results/index_recall_100k

Seeded clustered vectors (``server.store.recall.clustered_vectors``), queries drawn the
same way, one ``SpaceIndex`` per backend as the server builds it (``flat_fp16`` and
``flat_sq8`` twice: re-scoring from the float32 vectors on, the server's default, and
off, the codes' own scores). Per row: recall@k against flat, the largest ``|score -
cosine|`` over returned hits and the index's certified bound on it, the share of queries
whose ids come in exact order, build time, time per query (one batch of all queries, one
OpenMP thread), resident memory the index added, and the bytes of codes it scans per
query. "codes MiB": what the index stores per vector (codes, or float32 plus HNSW's
2*M level-0 links of 4 bytes), times n; resident memory of a serving process is measured
by ``search_peers.py``. Results go to ``--out``.txt/.json when given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner
from fute_client.types import BACKENDS, Backend
from server.config import IndexParams
from server.store.faiss_index import BYTES_PER_VALUE
from server.store.recall import RecallReport, clustered_vectors, measure_recall

QUANTISED = ("flat_fp16", "flat_sq8")


def codes_bytes(backend: str, n: int, dim: int, params: IndexParams) -> float:
    """Bytes an index of ``n`` vectors stores for them (not counting id maps)."""
    if backend in BYTES_PER_VALUE:
        return float(n * dim * BYTES_PER_VALUE[backend])
    if backend == "hnsw":
        return float(n * (4 * dim + 2 * params.hnsw_m * 4))
    return float(n * 4 * dim)  # IVF-Flat: float32 vectors in lists


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print a table and save it with ``--out``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="stored vectors")
    parser.add_argument("--dim", type=int, default=128, help="dimension")
    parser.add_argument("--clusters", type=int, default=200, help="cluster centres of the synthetic data")
    parser.add_argument("--queries", type=int, default=500, help="query vectors")
    parser.add_argument("--k", type=int, default=10, help="k of recall@k")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma-separated subset of {BACKENDS}"
    )
    parser.add_argument("--nlist", type=int, default=256, help="IVF lists")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF lists probed")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW efSearch")
    parser.add_argument("--omp-threads", type=int, default=1, help="OpenMP threads of FAISS")
    parser.add_argument("--out", type=Path, help="results path without suffix (.txt and .json)")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backends {unknown}; valid: {BACKENDS}")
    logging.basicConfig(level=logging.WARNING)
    faiss.omp_set_num_threads(args.omp_threads)
    data = clustered_vectors(args.n + args.queries, args.dim, args.clusters, seed=0)
    vectors, queries = data[: args.n], np.ascontiguousarray(data[args.n :])
    params = IndexParams(ivf_nlist=args.nlist, ivf_nprobe=args.nprobe, hnsw_ef_search=args.ef_search)
    head = (
        banner(("fute-task-search", "numpy", "faiss-cpu"))
        + "\ncommand: python "
        + " ".join(["benchmarks/index_recall.py", *sys.argv[1:]])
        + f"\nload average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        + f"\nn={args.n} dim={args.dim} queries={args.queries} k={args.k} clusters={args.clusters}"
    )
    print(head, flush=True)
    lines = [
        f"{'backend':<10} {'rescore':>7} {'recall':>7} {'max err':>9} {'bound':>9} {'order':>6} "
        f"{'build s':>8} {'ms/query':>9} {'codes MiB':>9} {'MB/query':>9}"
    ]
    print(lines[0], flush=True)
    rows: list[dict[str, object]] = []
    runs: list[tuple[Backend, bool]] = []
    for b in backends:
        runs.extend([(b, True), (b, False)] if b in QUANTISED else [(b, True)])
    for backend, rescore in runs:
        report: RecallReport = measure_recall(
            backend, vectors, queries, args.k, replace(params, rescore=rescore)
        )
        codes = codes_bytes(backend, args.n, args.dim, params) / 2**20
        scanned = args.n * args.dim * BYTES_PER_VALUE.get(backend, 4) / 1e6
        line = (
            f"{backend:<10} {('on' if rescore else 'off') if backend in QUANTISED else '-':>7} "
            f"{report.recall:7.4f} {report.max_score_error:9.2e} {report.error_bound:9.2e} "
            f"{report.same_order:6.3f} {report.build_s:8.2f} {report.query_ms:9.3f} {codes:9.0f} "
            f"{(f'{scanned:9.1f}' if backend in BYTES_PER_VALUE else '        -')}"
        )
        print(line, flush=True)
        lines.append(line)
        rows.append(asdict(report) | {"rescore": rescore, "codes_mib": codes, "scan_mb_per_query": scanned})
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".txt").write_text(head + "\n" + "\n".join(lines) + "\n")
        payload = {"banner": head, "settings": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
        args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
