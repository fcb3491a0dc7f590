"""What a source ranking with predicted gain and P(help) costs, beside a plain search.

In one process, one store, one run (so the ratios are fair on a noisy machine):

- ``search``: ``TaskStore.search`` of one target vector, k = 10 (FindSimilarTasks);
- ``rank``: ``TaskStore.rank_sources`` of the same target, k = 10: it retrieves every
  candidate up to ``max_k`` (1,024) by cosine, maps their ids, and predicts gain and
  P(help) for all of them and orders them by predicted gain (``server.store.source_ranking``);
- ``predictions``: the prediction step alone (``server.store.source_ranking.predict``), on
  1,024 candidates' cosines and ids.

Per indexed source the ranking stores nothing beyond the task (its prior, where measured,
lives in the predictor file: the size of that file per source is printed).

    python -m benchmarks.ranking_cost --sizes 1000 10000 --dim 1024
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from benchmarks.common import banner
from fute.transfer_prediction import PACKAGED, load_predictor
from fute_client.types import Task
from server.config import StoreConfig
from server.store.recall import clustered_vectors
from server.store.source_ranking import predict
from server.store.task_store import TaskStore

RESULTS = Path(__file__).resolve().parent / "results"


def _times(call: Callable[[], object], repeats: int) -> np.ndarray:
    """Wall milliseconds of each of ``repeats`` calls."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return np.array(out) * 1e3


def _row(name: str, ms: np.ndarray, base: float) -> str:
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    return f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / base:.2f}x |"


def _without_norms(path: Path) -> Path:
    """The packaged predictor with its norm features' weights zeroed: the same ranking
    work without looking up the candidates' norms."""
    raw = json.loads(resources.files("fute.resources").joinpath(PACKAGED).read_text())
    for name in ("z_log_norm", "target_rel_log_norm"):
        if name in raw["features"]:
            i = raw["features"].index(name)
            raw["gain_coef"][i] = raw["help_coef"][i] = 0.0
    path.write_text(json.dumps(raw))
    return path


def measure(n: int, dim: int, repeats: int, store_dir: Path) -> list[str]:
    """Table rows of the costs on a store of ``n`` tasks."""
    vectors = clustered_vectors(n + 1, dim, clusters=100, seed=n)
    target, vectors = vectors[0], vectors[1:]
    with TaskStore(StoreConfig(path=store_dir, device="cpu")) as store:
        store.create_space("s", dim)
        for start in range(0, n, 1000):
            batch = [Task(id=f"t{i}", vector=vectors[i]) for i in range(start, min(n, start + 1000))]
            store.upsert("s", batch)
        for _ in range(5):  # warm caches and the thread pool
            store.rank_sources("s", target, k=10)
        search = _times(lambda: store.search("s", [target], k=10), repeats)
        rank = _times(lambda: store.rank_sources("s", target, k=10), repeats)
    plain = StoreConfig(
        path=store_dir, device="cpu", transfer_predictor=_without_norms(store_dir.parent / "plain.json")
    )
    with TaskStore(plain) as store:
        for _ in range(5):
            store.rank_sources("s", target, k=10)
        rank_plain = _times(lambda: store.rank_sources("s", target, k=10), repeats)
    predictor = load_predictor()
    m = min(n, 1024)
    scores = np.sort(np.random.default_rng(0).uniform(0.1, 0.9, m))[::-1]
    ids = [f"t{i}" for i in range(m)]
    only = _times(lambda: predict(scores, ids, predictor), repeats)
    base = float(np.percentile(search, 50))
    return [
        f"| **{n:,} x {dim}** | | | |",
        _row("search, k=10", search, base),
        _row(f"rank_sources, k=10 ({m} candidates predicted, with their norms)", rank, base),
        _row("rank_sources, k=10, a predictor without norm features", rank_plain, base),
        _row(f"predictions alone ({m} candidates)", only, base),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS / "ranking_cost.txt")
    args = ap.parse_args()
    lines = [banner(), "", "| store / call | p50 ms | p99 ms | p50 / search |", "|---|---|---|---|"]
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            lines += measure(n, args.dim, args.repeats, Path(tmp) / "store")
    raw = resources.files("fute.resources").joinpath(PACKAGED).read_text()
    priors = len(json.loads(raw).get("source_priors", {}))
    lines += [
        "",
        f"predictor file {PACKAGED}: {len(raw.encode())} bytes, {priors} source priors "
        f"(about {len(raw.encode()) // max(priors, 1)} bytes per measured source; nothing per task in the store)",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
