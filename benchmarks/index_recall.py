"""Recall@k of the IVF and HNSW backends against exact (flat) search.

Usage: python benchmarks/index_recall.py [--n 20000] [--dim 128] [--queries 500] [--k 10]
Prints one row per backend: recall, build time, query latency.
"""

from __future__ import annotations

import argparse
import logging

from server.config import IndexParams
from server.store.recall import clustered_vectors, measure_recall


def main() -> None:
    """Run the comparison and print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="stored vectors")
    parser.add_argument("--dim", type=int, default=128, help="dimension")
    parser.add_argument("--clusters", type=int, default=200, help="cluster centres of the synthetic data")
    parser.add_argument("--queries", type=int, default=500, help="query vectors")
    parser.add_argument("--k", type=int, default=10, help="k of recall@k")
    parser.add_argument("--nlist", type=int, default=256, help="IVF lists")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF lists probed")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW efSearch")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = clustered_vectors(args.n + args.queries, args.dim, args.clusters, seed=0)
    vectors, queries = data[: args.n], data[args.n :]
    params = IndexParams(ivf_nlist=args.nlist, ivf_nprobe=args.nprobe, hnsw_ef_search=args.ef_search)
    print(f"n={args.n} dim={args.dim} queries={args.queries} k={args.k}")
    print(f"{'backend':<8} {'recall':>8} {'build s':>8} {'ms/query':>9}")
    for backend in ("flat", "ivf", "hnsw"):
        r = measure_recall(backend, vectors, queries, args.k, params)
        print(f"{backend:<8} {r.recall:8.4f} {r.build_s:8.2f} {r.query_ms:9.3f}")


if __name__ == "__main__":
    main()
