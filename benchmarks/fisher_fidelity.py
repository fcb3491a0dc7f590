"""Fisher vectors on the real suite: how well each reduction dimension keeps their cosines,
and which gradient estimator separates task families best.

For every suite task the packaged MiniLM is fine-tuned once (FimSettings defaults, capped
examples); then one gradient pass per estimator gives three full Fisher vectors (22.7 M
values each). Printed:

1. fidelity: Spearman correlation between the cosines of full vectors and of their
   CountSketch reductions, over all task pairs, per estimator and dimension;
2. estimator choice: for tasks whose family (task_type) has another member in the suite,
   precision@1 of the nearest other task being of the same family, and the mean cosine
   gap between same-family and cross-family pairs.

Usage: python benchmarks/fisher_fidelity.py [--max-examples 200] [--tasks a b ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner, suite_tasks
from fute.data import load_task
from fute.methods.fim import ESTIMATORS, FimMethod, FimSettings
from fute.reduce import CountSketch
from fute.runtime import configure_threads
from fute.surrogate import load_surrogate

DIMS = (1024, 2048, 4096, 8192)


def cosines(vectors: list[np.ndarray]) -> np.ndarray:
    """Pairwise cosine matrix in float64."""
    mat = np.stack([v.astype(np.float64) for v in vectors])
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    out: np.ndarray = mat @ mat.T
    return out


def upper(m: np.ndarray) -> np.ndarray:
    """Values above the diagonal (the distinct pairs)."""
    return m[np.triu_indices(m.shape[0], 1)]


def family_scores(sims: np.ndarray, families: list[str]) -> tuple[float, float, int]:
    """precision@1 of same-family nearest neighbour, mean same-minus-cross cosine gap, tasks counted."""
    n = len(families)
    hits, counted = 0, 0
    for i in range(n):
        if sum(f == families[i] for f in families) < 2:
            continue
        others = [j for j in range(n) if j != i]
        best = max(others, key=lambda j: sims[i, j])
        hits += families[best] == families[i]
        counted += 1
    same = [sims[i, j] for i, j in itertools.combinations(range(n), 2) if families[i] == families[j]]
    cross = [sims[i, j] for i, j in itertools.combinations(range(n), 2) if families[i] != families[j]]
    return hits / max(counted, 1), float(np.mean(same) - np.mean(cross)), counted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--tasks", nargs="*")
    parser.add_argument("--out", default="benchmarks/results/fisher_fidelity.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    configure_threads()
    print(banner())
    surrogate = load_surrogate()
    tasks = suite_tasks(args.tasks)
    settings = FimSettings(max_examples=args.max_examples)
    print(f"settings: {settings}")
    method = FimMethod(surrogate, settings)
    full: dict[str, list[np.ndarray]] = {e: [] for e in ESTIMATORS}
    t0 = time.perf_counter()
    for st in tasks:
        task = load_task(st.split("train"), name=st.name)
        t = time.perf_counter()
        named = method.fisher_estimates(task, ESTIMATORS, progress=True)
        for est, tensors in named.items():
            full[est].append(np.concatenate([x.reshape(-1).numpy() for _, x in tensors]))
        print(f"{st.name:22s} {time.perf_counter() - t:6.1f}s", flush=True)
    print(f"all tasks: {time.perf_counter() - t0:.0f}s for {len(tasks)} tasks x {len(ESTIMATORS)} estimators")
    families = [t.task_type for t in tasks]
    report: dict[str, dict[str, float]] = {}
    print(
        "\nFidelity: Spearman(cosine of full vectors, cosine after CountSketch) over "
        f"{len(tasks) * (len(tasks) - 1) // 2} task pairs"
    )
    print(f"{'estimator':12s}" + "".join(f"{d:>10d}" for d in DIMS))
    sketched: dict[tuple[str, int], np.ndarray] = {}
    for est in ESTIMATORS:
        ref = cosines(full[est])
        row = {}
        for d in DIMS:
            sk = CountSketch(d, seed=0)
            vecs = [sk.project([("all", torch_from(v))]) for v in full[est]]
            sims = cosines(vecs)
            sketched[(est, d)] = sims
            row[str(d)] = float(spearmanr(upper(ref), upper(sims)).statistic)
        report[f"fidelity/{est}"] = row
        print(f"{est:12s}" + "".join(f"{row[str(d)]:10.3f}" for d in DIMS))
    print(
        "\nEstimator choice: same-family nearest neighbour (precision@1) and cosine gap "
        "(same family minus cross family), full vectors and 4096-d sketches"
    )
    print(
        f"{'estimator':12s}{'p@1 full':>10s}{'gap full':>10s}{'p@1 4096':>10s}{'gap 4096':>10s}{'tasks':>7s}"
    )
    for est in ESTIMATORS:
        p_full, g_full, counted = family_scores(cosines(full[est]), families)
        p_red, g_red, _ = family_scores(sketched[(est, 4096)], families)
        report[f"family/{est}"] = {
            "p@1_full": p_full,
            "gap_full": g_full,
            "p@1_4096": p_red,
            "gap_4096": g_red,
        }
        print(f"{est:12s}{p_full:10.3f}{g_full:10.3f}{p_red:10.3f}{g_red:10.3f}{counted:7d}")
    names = [t.name for t in tasks]
    for est in ESTIMATORS:
        sims = cosines(full[est])
        nn = {
            names[i]: names[max((j for j in range(len(names)) if j != i), key=lambda j: sims[i, j])]
            for i in range(len(names))
        }
        report[f"nearest/{est}"] = nn  # type: ignore[assignment]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"tasks": names, "max_examples": args.max_examples, **report}, indent=1)
    )
    print(f"\nwrote {args.out}")


def torch_from(v: np.ndarray):  # type: ignore[no-untyped-def]
    import torch

    return torch.from_numpy(v)


if __name__ == "__main__":
    main()
