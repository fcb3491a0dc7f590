"""What keeping every task's neighbour list (CSLS, server.store.hubness) costs the store.

Loads ``--n`` clustered ``--dim``-d vectors in batches of ``--batch`` into a flat space of
an in-process TaskStore, once created without ``keep_neighbours`` (the default: no lists)
and once with it, then replaces single tasks, deletes 100, reopens the store, and runs 64
queries by cosine (and by CSLS where lists are kept). The share of load time spent on the
neighbour lists is timed by wrapping :func:`server.store.hubness.plan_upsert`, which every
upsert into a space with lists calls once.

    python benchmarks/hubness_cost.py --n 10000 --dim 1024 --batch 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from fute_client.types import Task
from server.config import StoreConfig
from server.store import TaskStore, hubness


def measure(vectors: np.ndarray, batch: int, keep_neighbours: bool, spent: list[float]) -> dict[str, float]:
    """Seconds of each step on a fresh store whose space has ``keep_neighbours`` as given."""
    n, dim = vectors.shape
    out: dict[str, float] = {}
    spent[0] = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        config = StoreConfig(path=Path(tmp), device="cpu")
        with TaskStore(config) as store:
            store.create_space("s", dim, keep_neighbours=keep_neighbours)
            start = time.perf_counter()
            for i in range(0, n, batch):
                store.upsert("s", [Task(id=f"t{j}", vector=vectors[j]) for j in range(i, min(n, i + batch))])
            out["load"], out["lists"] = time.perf_counter() - start, spent[0]
            start = time.perf_counter()
            for j in range(50):
                store.upsert("s", [Task(id=f"t{j}", vector=vectors[(j + 100) % n])])
            out["replace"] = (time.perf_counter() - start) / 50
            start = time.perf_counter()
            store.delete("s", ids=[f"t{j}" for j in range(200, 300)])
            out["delete"] = time.perf_counter() - start
        start = time.perf_counter()
        with TaskStore(config) as store:
            out["start"] = time.perf_counter() - start
            for similarity in ("cosine", "csls") if keep_neighbours else ("cosine",):
                start = time.perf_counter()
                store.search("s", vectors[:64], k=10, similarity=similarity)
                out[similarity] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads of FAISS")
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(args.threads)
    spent = [0.0]
    plan = hubness.plan_upsert

    def timed(*a: Any, **kw: Any) -> hubness.NeighbourChange:
        start = time.perf_counter()
        try:
            return plan(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - start

    hubness.plan_upsert = timed  # the store calls it through the module
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, args.dim))
    vectors = (centres[rng.integers(0, 100, args.n)] + 0.5 * rng.normal(size=(args.n, args.dim))).astype(
        np.float32
    )
    print(f"{args.n} x {args.dim}, loaded in batches of {args.batch}, {args.threads} FAISS thread(s)")
    for keep in (False, True):
        t = measure(vectors, args.batch, keep, spent)
        print(
            f"keep_neighbours={str(keep).lower()}: load {t['load']:.1f} s ({t['lists']:.1f} s of it neighbour"
            f" lists); one replacement {t['replace'] * 1e3:.0f} ms; delete of 100 tasks"
            f" {t['delete'] * 1e3:.0f} ms; start-up {t['start']:.1f} s; 64 queries, k=10: cosine"
            f" {t['cosine'] * 1e3:.0f} ms" + (f", CSLS {t['csls'] * 1e3:.0f} ms" if keep else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
