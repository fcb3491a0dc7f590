"""What keeping every task's neighbour list (CSLS, server.store.hubness) costs the store.

Loads ``--n`` clustered ``--dim``-d vectors into a flat space of an in-process TaskStore in
batches of ``--batch``, then replaces single tasks, deletes 100, and runs 64 queries by
cosine and by CSLS. The share of load time spent on the neighbour lists is timed by
wrapping :func:`server.store.hubness.plan_upsert`, which every upsert calls once.

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

    hubness.plan_upsert = timed  # type: ignore[assignment]  # the store calls it through the module
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, args.dim))
    vectors = (centres[rng.integers(0, 100, args.n)] + 0.5 * rng.normal(size=(args.n, args.dim))).astype(
        np.float32
    )
    with tempfile.TemporaryDirectory() as tmp, TaskStore(StoreConfig(path=Path(tmp), device="cpu")) as store:
        store.create_space("s", args.dim)
        start = time.perf_counter()
        for i in range(0, args.n, args.batch):
            store.upsert(
                "s", [Task(id=f"t{j}", vector=vectors[j]) for j in range(i, min(args.n, i + args.batch))]
            )
        load, lists = time.perf_counter() - start, spent[0]
        start = time.perf_counter()
        for j in range(50):
            store.upsert("s", [Task(id=f"t{j}", vector=vectors[(j + 100) % args.n])])
        replace = (time.perf_counter() - start) / 50
        start = time.perf_counter()
        store.delete("s", ids=[f"t{j}" for j in range(200, 300)])
        delete = time.perf_counter() - start
        timings = {}
        for similarity in ("cosine", "csls"):
            start = time.perf_counter()
            store.search("s", vectors[:64], k=10, similarity=similarity)  # type: ignore[arg-type]
            timings[similarity] = time.perf_counter() - start
    print(
        f"load of {args.n} x {args.dim} in batches of {args.batch}: {load:.1f} s, {lists:.1f} s of it neighbour lists"
    )
    print(f"one replacement: {replace * 1e3:.0f} ms; delete of 100 tasks: {delete * 1e3:.0f} ms")
    print(f"64 queries, k=10: cosine {timings['cosine'] * 1e3:.0f} ms, CSLS {timings['csls'] * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
