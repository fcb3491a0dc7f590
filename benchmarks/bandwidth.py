"""Streaming read bandwidth of this machine: the limit an exact (flat) search runs against.

Usage:
    python benchmarks/bandwidth.py                          # 1 GiB per thread, 1 and 2 threads
    python benchmarks/bandwidth.py --gib 0.5 --threads 1,2 --repeats 5

Each thread reads its own buffer, much larger than any cache, front to back, with three
kernels: ``faiss_flat`` (an ``IndexFlatIP`` over the buffer as 1,024-d rows, one query:
what a flat search does), ``blas_gemv`` (the same rows times a vector, OpenBLAS at one
thread) and ``numpy_sum`` (a float32 reduction). Threads start together and the time is
the slowest one's; the figure is the best of ``--repeats``. The bandwidth at a thread
count is the fastest kernel's: :func:`limit` (what search figures are divided by, via
:func:`fraction`). One FAISS/BLAS thread per reading thread, so 2 threads read with 2
cores. Results go to ``--out``.txt/.json (default ``benchmarks/results/bandwidth``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner

log = logging.getLogger("bandwidth")

RESULTS = Path(__file__).resolve().parent / "results"
KERNELS = ("faiss_flat", "blas_gemv", "numpy_sum")
ROW = 1024  # floats per row of the buffers (the FAISS and BLAS kernels read rows)


@dataclass(frozen=True)
class KernelFigure:
    """One kernel read ``bytes_read`` at ``threads`` threads in ``seconds`` (best run)."""

    kernel: str
    threads: int
    bytes_read: int
    seconds: float

    @property
    def gb_per_s(self) -> float:
        """Decimal gigabytes per second."""
        return self.bytes_read / self.seconds / 1e9


@dataclass(frozen=True)
class Bandwidth:
    """The measured limit per thread count, and every kernel's figure."""

    figures: tuple[KernelFigure, ...]

    def limit(self, threads: int) -> float:
        """Streaming read bandwidth in GB/s at ``threads`` (the fastest kernel); thread
        counts above the largest measured use the largest."""
        measured = sorted({f.threads for f in self.figures})
        if not measured:
            raise ValueError("no bandwidth figures")
        use = max([t for t in measured if t <= threads] or [measured[0]])
        return max(f.gb_per_s for f in self.figures if f.threads == use)

    def to_json(self) -> dict[str, object]:
        """Figures and limits as plain JSON."""
        threads = sorted({f.threads for f in self.figures})
        return {
            "figures": [asdict(f) | {"gb_per_s": f.gb_per_s} for f in self.figures],
            "limit_gb_per_s": {str(t): self.limit(t) for t in threads},
        }

    @classmethod
    def from_json(cls, payload: dict[str, object]) -> Bandwidth:
        """Read back what :meth:`to_json` wrote."""
        rows = payload["figures"]
        assert isinstance(rows, list)
        return cls(
            tuple(KernelFigure(r["kernel"], r["threads"], r["bytes_read"], r["seconds"]) for r in rows)
        )


def fraction(bytes_per_query: float, queries_per_s: float, gb_per_s: float) -> float:
    """Share of the bandwidth a search uses: bytes one query scans x queries per second
    / bandwidth (batched queries can exceed 1: one pass over the data answers several)."""
    return bytes_per_query * queries_per_s / (gb_per_s * 1e9)


def _kernel(name: str, buffer: np.ndarray) -> Callable[[], object]:
    """A function reading all of ``buffer`` (rows x ROW float32) once with kernel ``name``."""
    if name == "faiss_flat":
        import faiss

        index = faiss.IndexFlatIP(ROW)
        for start in range(0, len(buffer), 65_536):
            index.add(buffer[start : start + 65_536])
        query = np.ones((1, ROW), np.float32)

        def flat() -> object:
            faiss.omp_set_num_threads(1)  # per calling thread: one core per reader
            return index.search(query, 10)

        return flat
    if name == "blas_gemv":
        vector = np.ones(ROW, np.float32)
        return lambda: buffer @ vector
    if name == "numpy_sum":
        flat_view = buffer.reshape(-1)
        return lambda: np.add.reduce(flat_view, dtype=np.float32)
    raise ValueError(f"unknown kernel {name!r}; valid: {KERNELS}")


def _timed_together(readers: Sequence[Callable[[], object]]) -> float:
    """Seconds from a common start until the last of ``readers`` (one thread each) ends."""
    barrier = threading.Barrier(len(readers) + 1)
    ends = [0.0] * len(readers)

    def run(i: int) -> None:
        barrier.wait()
        readers[i]()
        ends[i] = time.perf_counter()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(readers))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return max(ends) - start


def measure_bandwidth(
    threads: Sequence[int] = (1, 2),
    bytes_per_thread: int = 1 << 30,
    repeats: int = 5,
    kernels: Sequence[str] = KERNELS,
) -> Bandwidth:
    """Best-of-``repeats`` streaming reads of ``bytes_per_thread`` per thread, per kernel
    and thread count (buffers filled with ones, so every page is resident)."""
    from threadpoolctl import threadpool_limits

    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
        raise ValueError(f"unknown kernels {unknown}; valid: {KERNELS}")
    rows = max(1, bytes_per_thread // (4 * ROW))
    buffers = [np.ones((rows, ROW), np.float32) for _ in range(max(threads))]
    figures: list[KernelFigure] = []
    with threadpool_limits(limits=1):  # BLAS: one thread per reading thread
        for name in kernels:
            readers = [_kernel(name, b) for b in buffers]
            for n in threads:
                readers[0]()  # warm-up: page tables, code
                best = min(_timed_together(readers[:n]) for _ in range(repeats))
                fig = KernelFigure(name, n, n * rows * ROW * 4, best)
                log.info("%-10s %d thread(s): %.2f GB/s", name, n, fig.gb_per_s)
                figures.append(fig)
            del readers
    return Bandwidth(tuple(figures))


def format_table(bw: Bandwidth) -> str:
    """One row per kernel, one column per thread count, and the limit."""
    threads = sorted({f.threads for f in bw.figures})
    head = f"{'kernel':<11}" + "".join(f"{f'{t} thread(s) GB/s':>20}" for t in threads)
    lines = [head]
    for name in dict.fromkeys(f.kernel for f in bw.figures):
        cells = {f.threads: f.gb_per_s for f in bw.figures if f.kernel == name}
        lines.append(f"{name:<11}" + "".join(f"{cells.get(t, float('nan')):20.2f}" for t in threads))
    lines.append(f"{'limit':<11}" + "".join(f"{bw.limit(t):20.2f}" for t in threads))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and save."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gib", type=float, default=1.0, help="buffer per thread, GiB")
    parser.add_argument("--threads", default="1,2", help="reading threads, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="runs per kernel; the best counts")
    parser.add_argument("--kernels", default=",".join(KERNELS), help=f"comma-separated subset of {KERNELS}")
    parser.add_argument("--out", type=Path, default=RESULTS / "bandwidth", help="results path without suffix")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    threads = [int(t) for t in args.threads.split(",")]
    if any(t < 1 for t in threads):
        parser.error(f"--threads must be >= 1, got {args.threads}")
    kernels = [k for k in args.kernels.split(",") if k]
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
        parser.error(f"unknown kernels {unknown}; valid: {KERNELS}")
    head = (
        banner(("fute-task-search", "numpy", "faiss-cpu"))
        + "\ncommand: python "
        + " ".join(["benchmarks/bandwidth.py", *sys.argv[1:]])
    )
    print(head, flush=True)
    bw = measure_bandwidth(threads, int(args.gib * 2**30), args.repeats, kernels)
    table = format_table(bw)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(f"{head}\nbuffer {args.gib} GiB per thread\n{table}\n")
    payload = {"banner": head, "settings": {"gib": args.gib, "repeats": args.repeats}, **bw.to_json()}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
