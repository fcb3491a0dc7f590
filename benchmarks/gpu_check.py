"""GPU check: search and embedding throughput on an accelerator, in one prepared run.

Usage (on the GPU machine; also runs on a CPU-only machine, saying so):
    python benchmarks/gpu_check.py                              # 100k x 4096, 1,024 queries
    python benchmarks/gpu_check.py --n 2000 --dim 64 --queries 32 --examples 32 --out /tmp/gpu_tiny

Search, on the same seeded clustered, L2-normalised vectors as ``search_peers.py``:

* ``faiss-cpu``: ``IndexFlatIP`` on the CPU (the baseline);
* ``faiss-gpu``: ``GpuIndexFlatIP`` when this FAISS build has GPU support and sees a GPU
  (``pip install faiss-gpu-cu12``); otherwise reported as unavailable, never replaced
  silently;
* ``torch``: the vectors as one matrix on the device, ``queries @ X.T`` then ``topk``
  (the fallback path when FAISS GPU cannot be installed).

Each reports build time, latency of one query (p50), throughput with batches of
``--batch`` queries, and recall@k against ``faiss-cpu``.

Embedding: the packaged surrogate (all-MiniLM-L6-v2) on real suite texts, on the device:
examples/s of the frozen forward pass (TextEmb) and of forward + backward with a task head
(one fine-tuning or FIM gradient-pass step), dynamic padding, ``max_length`` 128.

Everything is written to ``--out``.txt/.json; the record of a GPU run is committed as
``benchmarks/results/gpu_check.{txt,json}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner, suite_tasks
from fute.data import cap_examples, load_task
from fute.heads import TaskHead, mean_pool, task_loss, task_targets
from fute.surrogate import load_surrogate
from server.store.recall import clustered_vectors

log = logging.getLogger("gpu_check")

RESULTS = Path(__file__).resolve().parent / "results"
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "cuda")


@dataclass
class SearchFigures:
    """One search path: where it ran and how fast."""

    path: str
    device: str
    available: bool
    note: str = ""
    build_s: float = 0.0
    p50_ms: float = 0.0  # one query per call
    batch_qps: float = 0.0  # queries/s with --batch queries per call
    recall: float = 0.0  # recall@k against faiss-cpu


@dataclass
class EmbedFigures:
    """Surrogate throughput on one device."""

    device: str
    examples: int
    forward_ex_per_s: float
    train_step_ex_per_s: float
    peak_device_mib: float


def resolve_device(requested: Device) -> str:
    """``cuda`` when asked for or (``auto``) when available; asking for a missing GPU is an error."""
    if requested not in DEVICES:
        raise SystemExit(f"unknown device {requested!r}; valid: {DEVICES}")
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise SystemExit("--device cuda but torch sees no GPU")
    device = "cuda" if requested == "cuda" or (requested == "auto" and has_cuda) else "cpu"
    log.info("device: %s (torch cuda available: %s)", device, has_cuda)
    return device


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_search(
    search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, batch: int, singles: int
) -> tuple[float, float, np.ndarray]:
    """p50 ms of single queries, q/s in batches, and the ids found for all queries."""
    search(queries[:1])  # warm-up (kernels, allocations)
    times = []
    for q in queries[:singles]:
        t0 = time.perf_counter()
        search(q[None, :])
        times.append((time.perf_counter() - t0) * 1e3)
    found = []
    t0 = time.perf_counter()
    for start in range(0, len(queries), batch):
        found.append(search(queries[start : start + batch]))
    qps = len(queries) / (time.perf_counter() - t0)
    return float(np.percentile(times, 50)), qps, np.concatenate(found)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)) / truth.size


def search_figures(args: argparse.Namespace, device: str) -> list[SearchFigures]:
    """FAISS CPU, FAISS GPU (if possible) and torch matmul + top-k on the same data."""
    import faiss

    data = clustered_vectors(args.n + args.queries, args.dim, args.clusters, seed=0)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    vectors, queries = np.ascontiguousarray(data[: args.n]), np.ascontiguousarray(data[args.n :])
    del data
    out: list[SearchFigures] = []

    t0 = time.perf_counter()
    cpu = faiss.IndexFlatIP(args.dim)
    cpu.add(vectors)
    build = time.perf_counter() - t0
    p50, qps, truth = _time_search(lambda q: cpu.search(q, args.k)[1], queries, args.batch, args.singles)
    out.append(SearchFigures("faiss-cpu", "cpu", True, "", build, p50, qps, 1.0))

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if not hasattr(faiss, "StandardGpuResources") or gpus == 0 or device != "cuda":
        why = "this FAISS build has no GPU support" if not hasattr(faiss, "StandardGpuResources") else ""
        why = why or ("FAISS sees no GPU" if gpus == 0 else "--device cpu")
        out.append(SearchFigures("faiss-gpu", device, False, why))
        log.info("faiss-gpu unavailable: %s", why)
    else:
        res = faiss.StandardGpuResources()
        t0 = time.perf_counter()
        gpu = faiss.GpuIndexFlatIP(res, args.dim)
        gpu.add(vectors)
        build = time.perf_counter() - t0
        p50, qps, found = _time_search(lambda q: gpu.search(q, args.k)[1], queries, args.batch, args.singles)
        out.append(
            SearchFigures("faiss-gpu", "cuda", True, f"{gpus} GPU(s)", build, p50, qps, _recall(found, truth))
        )
        del gpu, res

    t0 = time.perf_counter()
    matrix = torch.from_numpy(vectors).to(device)
    _sync(device)
    build = time.perf_counter() - t0

    def torch_search(q: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            scores = torch.from_numpy(q).to(device) @ matrix.T
            ids = torch.topk(scores, args.k, dim=1).indices
        result: np.ndarray = ids.cpu().numpy()
        return result

    p50, qps, found = _time_search(torch_search, queries, args.batch, args.singles)
    out.append(SearchFigures("torch", device, True, "matmul + topk", build, p50, qps, _recall(found, truth)))
    return out


def embed_figures(args: argparse.Namespace, device: str) -> EmbedFigures:
    """Surrogate forward and forward+backward throughput on real suite texts."""
    surrogate = load_surrogate()
    folder = suite_tasks([args.task])[0]
    task = cap_examples(load_task(folder.split("train"), name=args.task), args.examples, seed=0)
    tok = surrogate.tokenizer
    texts = [ex.text for ex in task.examples]
    targets = task_targets(task).to(device)
    backbone = surrogate.fresh_backbone().to(device)
    head = TaskHead(surrogate.hidden_size, task.num_outputs).to(device)
    # Length-sorted batches with dynamic padding, as fute batches them.
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches: list[tuple[dict[str, torch.Tensor], torch.Tensor]] = []
    for start in range(0, len(order), args.embed_batch):
        idx = order[start : start + args.embed_batch]
        enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=128, return_tensors="pt")
        batches.append(({k: v.to(device) for k, v in enc.items()}, torch.as_tensor(idx, device=device)))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def forward(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        out = backbone(**inputs).last_hidden_state
        pooled: torch.Tensor = mean_pool(out, inputs["attention_mask"])
        return pooled

    backbone.eval()
    with torch.inference_mode():
        forward(batches[0][0])
        _sync(device)
        t0 = time.perf_counter()
        for inputs, _ in batches:
            forward(inputs)
        _sync(device)
        fwd = len(texts) / (time.perf_counter() - t0)

    backbone.train()
    params = [*backbone.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=5e-5)
    _sync(device)
    t0 = time.perf_counter()
    for inputs, rows in batches:
        loss = task_loss(head(forward(inputs)), targets[rows], task.label_kind)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    _sync(device)
    step = len(texts) / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    return EmbedFigures(device, len(texts), fwd, step, peak)


def report(
    device: str, search: list[SearchFigures], embed: EmbedFigures | None, args: argparse.Namespace
) -> str:
    """The figures as text, with ratios to faiss-cpu."""
    lines = [f"device: {device}", f"search n={args.n} dim={args.dim} queries={args.queries} k={args.k}"]
    lines.append(
        f"{'path':<10} {'device':<6} {'build s':>8} {'p50 ms':>8} {f'q/s b{args.batch}':>10} {'recall':>7}"
    )
    base = search[0]
    for s in search:
        if not s.available:
            lines.append(f"{s.path:<10} {s.device:<6} unavailable: {s.note}")
            continue
        lines.append(
            f"{s.path:<10} {s.device:<6} {s.build_s:8.2f} {s.p50_ms:8.3f} {s.batch_qps:10.1f} {s.recall:7.4f}"
            + (f"  ({s.batch_qps / base.batch_qps:.1f}x faiss-cpu)" if s is not base else "")
        )
    if embed is not None:
        lines.append(
            f"embedding on {embed.device}: {embed.examples} examples, forward {embed.forward_ex_per_s:.1f} ex/s, "
            f"train step {embed.train_step_ex_per_s:.1f} ex/s, peak device memory {embed.peak_device_mib:.0f} MiB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the search and embedding checks and save the record."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", choices=DEVICES, help="auto: cuda when torch sees one")
    parser.add_argument("--n", type=int, default=100_000, help="stored vectors")
    parser.add_argument("--dim", type=int, default=4096, help="dimension")
    parser.add_argument("--clusters", type=int, default=300, help="centres of the Gaussian mixture")
    parser.add_argument("--queries", type=int, default=1024, help="query vectors")
    parser.add_argument("--singles", type=int, default=100, help="single queries timed for p50")
    parser.add_argument("--batch", type=int, default=256, help="queries per batched call")
    parser.add_argument("--k", type=int, default=10, help="results per query")
    parser.add_argument("--task", default="rotten_tomatoes", help="suite task for the embedding check")
    parser.add_argument(
        "--examples", type=int, default=2000, help="examples for the embedding check (0: skip)"
    )
    parser.add_argument("--embed-batch", type=int, default=64, help="batch size of the embedding check")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_check", help="results path without suffix")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    device = resolve_device(args.device)
    head = banner(("fute-task-search", "torch", "numpy", "faiss-cpu", "faiss-gpu-cu12"))
    if device == "cuda":
        head += f"\ngpu: {torch.cuda.get_device_name(0)}"
    head += f"\ncommand: python {' '.join(['benchmarks/gpu_check.py', *sys.argv[1:]])}"
    print(head, flush=True)
    search = search_figures(args, device)
    embed = embed_figures(args, device) if args.examples > 0 else None
    text = report(device, search, embed, args)
    print(text, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(f"{head}\n{text}\n")
    payload: dict[str, Any] = {
        "banner": head,
        "device": device,
        "search": [asdict(s) for s in search],
        "embedding": asdict(embed) if embed else None,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
