"""Search against peers: in-process FAISS, this server over gRPC, Qdrant local, Milvus Lite.

Usage:
    python benchmarks/search_peers.py                       # the issue's sizes: 10k,100k x 1024,4096
    python benchmarks/search_peers.py --sizes 10000 --dims 1024,4096 --systems faiss,server,qdrant,milvus
    python benchmarks/search_peers.py --systems faiss,server --backends flat,flat_fp16,flat_sq8,ivf
    python benchmarks/search_peers.py --systems faiss,server,server-before --before-root /tmp/old-tree

The same seeded vectors (a Gaussian mixture around ``--clusters`` centres, L2-normalised,
as real embeddings cluster by task family) go into every system, all exact cosine / inner
product search:

* ``faiss``: ``IndexIDMap2(IndexFlatIP)`` in this process (the floor: no RPC, no storage);
  with ``--backends`` also the raw FAISS index of each other backend (``flat_fp16`` /
  ``flat_sq8``: ``IndexScalarQuantizer`` QT_fp16 / QT_8bit, its own scores, no re-scoring;
  ``ivf``, ``hnsw`` with the server's default parameters);
* ``server``: ``python -m server serve`` in a subprocess (SQLite + FAISS), one space per
  backend of ``--backends``, over gRPC on loopback with ``TaskSearchClient``; single
  queries and batches of ``--batch`` queries per call; after the ingest the server is
  restarted on its store and the start-up (load from SQLite, index build) timed;
* ``server-before``: the same, run from another source tree (``--before-root``, e.g. an
  older commit from ``git archive``), for before/after figures in one run (flat only);
* ``--cosine-only``: servers start through ``benchmarks/serve_cosine_only.py`` (no CSLS
  neighbour lists, which cost one exhaustive pass per added task in trees before f7aec73;
  since then the benchmark's spaces keep none anyway);
* ``qdrant``: ``qdrant-client`` local mode on disk (``QdrantClient(path=...)``);
* ``milvus``: ``milvus-lite`` through ``pymilvus.MilvusClient`` on a local file, FLAT index.

Per system: ingest rate (vectors/s, including the systems' own persistence), memory (RSS
growth of the whole process tree: this process, the server subprocess, any process
Milvus Lite starts),
latency p50/p99 of single queries, throughput with 1, 8 and 32 concurrent clients (one
thread each), recall@k against in-process FAISS (to show every system answers the same
question), and ratios to in-process FAISS. Every search figure is also given as a share
of this machine's streaming read bandwidth, measured first (``benchmarks/bandwidth.py``;
``--bandwidth FILE`` reuses a record): bytes one query scans x queries/s / bandwidth at
min(clients, cores) threads. Results go to ``--out``.txt/.json.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from benchmarks.bandwidth import Bandwidth, fraction, measure_bandwidth
from benchmarks.bandwidth import format_table as bandwidth_table
from benchmarks.common import banner
from server.config import IndexParams
from server.store.faiss_index import BYTES_PER_VALUE, normalise
from server.store.recall import clustered_vectors

log = logging.getLogger("search_peers")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SYSTEMS = ("faiss", "server", "server-before", "qdrant", "milvus")
BACKENDS = ("flat", "flat_fp16", "flat_sq8", "ivf", "hnsw")  # of faiss and server
PARAMS = IndexParams()  # the server's defaults, used for the in-process indexes too
PACKAGES = ("fute-task-search", "numpy", "faiss-cpu", "grpcio", "qdrant-client", "pymilvus", "milvus-lite")

SearchOne = Callable[[np.ndarray], list[int]]


class Backend(Protocol):
    """One system under test: load vectors, answer queries, clean up."""

    name: str

    def ingest(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store every vector under its integer id (returns once searchable)."""

    def search_batch(self, queries: np.ndarray, k: int) -> list[list[int]]:
        """Top-k ids of each query row."""

    def worker(self) -> SearchOne:
        """A single-query search function for one client thread (its own connection if any)."""

    def pids(self) -> list[int]:
        """Processes other than this one whose memory belongs to the system."""

    def close(self) -> None:
        """Release everything."""


# ---------------------------------------------------------------- the systems


class FaissBackend:
    """The raw FAISS index of a backend in this process (flat: ``IndexIDMap2(IndexFlatIP)``)."""

    name = "faiss"

    def __init__(self, dim: int, k: int, omp_threads: int, backend: str = "flat") -> None:
        import faiss

        self.faiss = faiss
        self.dim = dim
        self.backend = backend
        self.k = k
        self.omp_threads = omp_threads
        self.index: Any = None
        if backend == "flat":
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif backend in ("flat_fp16", "flat_sq8"):
            qt = faiss.ScalarQuantizer.QT_fp16 if backend == "flat_fp16" else faiss.ScalarQuantizer.QT_8bit
            self.index = faiss.IndexIDMap2(faiss.IndexScalarQuantizer(dim, qt, faiss.METRIC_INNER_PRODUCT))
        elif backend == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, PARAMS.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = PARAMS.hnsw_ef_construction
            hnsw.hnsw.efSearch = PARAMS.hnsw_ef_search
            self.index = faiss.IndexIDMap2(hnsw)
        elif backend != "ivf":
            raise ValueError(f"unknown backend {backend!r}; valid: {BACKENDS}")

    def ingest(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        faiss = self.faiss
        if self.backend == "ivf":  # as the server: min(nlist, n/39) lists, trained on all
            nlist = max(1, min(PARAMS.ivf_nlist, len(vectors) // 39))
            self._quantizer = faiss.IndexFlatIP(self.dim)
            ivf = faiss.IndexIVFFlat(self._quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.train(vectors)
            ivf.nprobe = min(PARAMS.ivf_nprobe, nlist)
            self.index = ivf
        elif self.backend == "flat_sq8":
            self.index.train(vectors)
        for start in range(0, len(ids), 10_000):
            self.index.add_with_ids(vectors[start : start + 10_000], ids[start : start + 10_000])

    def search_batch(self, queries: np.ndarray, k: int) -> list[list[int]]:
        _, found = self.index.search(queries, k)
        return [[int(i) for i in row if i >= 0] for row in found]

    def worker(self) -> SearchOne:
        import faiss

        def search(q: np.ndarray) -> list[int]:
            # OpenMP's thread count is per thread: a client thread would otherwise start a
            # team as large as the machine; the server is given the same count (--search-threads).
            faiss.omp_set_num_threads(self.omp_threads)
            return self.search_batch(q[None, :], self.k)[0]

        return search

    def pids(self) -> list[int]:
        return []

    def close(self) -> None:
        self.index.reset()


class ServerBackend:
    """``python -m server serve`` in a subprocess, searched over gRPC on loopback.

    ``root``: the source tree it runs from (another commit's, for before/after figures);
    ``cosine_only``: started through ``benchmarks/serve_cosine_only.py`` (no CSLS lists).
    """

    name = "server"

    def __init__(
        self,
        dim: int,
        k: int,
        workdir: Path,
        batch: int,
        omp_threads: int,
        backend: str = "flat",
        root: Path = ROOT,
        cosine_only: bool = False,
    ) -> None:
        from fute_client import TaskSearchClient

        self.k = k
        self.batch = batch
        self.store = workdir / "store"
        self.omp_threads = omp_threads
        self.root = root
        self.cosine_only = cosine_only
        t0 = time.perf_counter()
        self.proc = self._start()
        self.client = TaskSearchClient(self.target, timeout=600.0)
        self._until_up(lambda: self.client.create_space("bench", dim, backend=backend))
        self.empty_start_s = time.perf_counter() - t0  # process start, imports, empty store
        self._workers: list[Any] = []

    def _start(self) -> subprocess.Popen[bytes]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.target = f"127.0.0.1:{port}"
        entry = [str(ROOT / "benchmarks" / "serve_cosine_only.py")] if self.cosine_only else ["-m", "server"]
        env = dict(os.environ)
        if self.root != ROOT:  # import that tree's server and client packages first
            env["PYTHONPATH"] = os.pathsep.join([str(self.root), str(self.root / "clients")])
        return subprocess.Popen(
            [
                sys.executable,
                *entry,
                "serve",
                "--store",
                str(self.store),
                "--port",
                str(port),
                "--device",
                "cpu",
                "--log-level",
                "WARNING",
                "--search-threads",
                str(self.omp_threads),
            ],
            cwd=self.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _until_up(self, call: Callable[[], object], limit_s: float = 3600.0) -> None:
        deadline = time.monotonic() + limit_s
        while True:
            try:
                call()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def restart(self) -> tuple[float, float]:
        """Stop the server, start a new one on the same store; (seconds until it answers,
        its resident MiB then)."""
        from fute_client import TaskSearchClient

        self.client.close()
        self._stop()
        t0 = time.perf_counter()
        self.proc = self._start()
        self.client = TaskSearchClient(self.target, timeout=600.0)
        self._until_up(lambda: self.client.describe_space("bench"))
        seconds = time.perf_counter() - t0
        return seconds, psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def _stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def ingest(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        from fute_client.types import Task

        step = max(1, min(1000, (32 << 20) // (vectors.shape[1] * 4)))  # batches of <= 32 MiB

        def batches() -> Any:
            for start in range(0, len(ids), step):
                yield [
                    Task(id=str(int(i)), vector=v)
                    for i, v in zip(ids[start : start + step], vectors[start : start + step], strict=True)
                ]

        result = self.client.upsert_stream("bench", batches())
        if result.failed:
            raise RuntimeError(f"server refused {result.failed} vectors: {result.errors[:3]}")

    def search_batch(self, queries: np.ndarray, k: int) -> list[list[int]]:
        out: list[list[int]] = []
        for start in range(0, len(queries), self.batch):
            rows = self.client.search("bench", queries[start : start + self.batch], k=k)
            out.extend([int(h.id) for h in row] for row in rows)
        return out

    def worker(self) -> SearchOne:
        from fute_client import TaskSearchClient

        client = TaskSearchClient(self.target, timeout=600.0)
        self._workers.append(client)
        return lambda q: [int(h.id) for h in client.search("bench", q[None, :], k=self.k)[0]]

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def close(self) -> None:
        for c in self._workers:
            c.close()
        self.client.close()
        self._stop()


class QdrantBackend:
    """``qdrant-client`` local mode persisted under a directory (exact cosine)."""

    name = "qdrant"

    def __init__(self, dim: int, k: int, workdir: Path) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        self.k = k
        self.client = QdrantClient(path=str(workdir / "qdrant"))
        self.client.create_collection(
            "bench", vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT)
        )

    def ingest(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.client.upload_collection("bench", vectors=vectors, ids=[int(i) for i in ids], batch_size=1000)

    def search_batch(self, queries: np.ndarray, k: int) -> list[list[int]]:
        requests = [self.models.QueryRequest(query=q.tolist(), limit=k) for q in queries]
        replies = self.client.query_batch_points("bench", requests=requests)
        return [[int(p.id) for p in r.points] for r in replies]

    def worker(self) -> SearchOne:
        return lambda q: [int(p.id) for p in self.client.query_points("bench", query=q, limit=self.k).points]

    def pids(self) -> list[int]:
        return []

    def close(self) -> None:
        self.client.close()


class MilvusBackend:
    """``milvus-lite`` on a local file through ``MilvusClient``, FLAT index, inner product."""

    name = "milvus"

    def __init__(self, dim: int, k: int, workdir: Path) -> None:
        from pymilvus import DataType, MilvusClient

        self.k = k
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        self.client = MilvusClient(str(workdir / "milvus.db"))
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection("bench", schema=schema, index_params=index, consistency_level="Strong")
        self._pids = [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in before]

    def ingest(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        step = max(1, min(2000, (32 << 20) // (vectors.shape[1] * 4)))
        for start in range(0, len(ids), step):
            rows = [
                {"id": int(i), "vector": v}
                for i, v in zip(ids[start : start + step], vectors[start : start + step], strict=True)
            ]
            self.client.insert("bench", rows)
        self.client.flush("bench")
        self.client.load_collection("bench")

    def _search(self, queries: Sequence[np.ndarray], k: int) -> list[list[int]]:
        found = self.client.search("bench", data=list(queries), limit=k, output_fields=[])
        return [[int(h["id"]) for h in row] for row in found]

    def search_batch(self, queries: np.ndarray, k: int) -> list[list[int]]:
        out: list[list[int]] = []
        for start in range(0, len(queries), 64):
            out.extend(self._search(list(queries[start : start + 64]), k))
        return out

    def worker(self) -> SearchOne:
        return lambda q: self._search([q], self.k)[0]

    def pids(self) -> list[int]:
        return self._pids

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------- measurement


@dataclass
class Row:
    """Figures of one system (and backend) at one size."""

    system: str
    n: int
    dim: int
    backend: str = "flat"
    ingest_s: float = 0.0
    ingest_per_s: float = 0.0
    rss_mib: float = 0.0
    start_s: float = 0.0  # server: seconds from a restart on the stored data to its first answer
    start_rss_mib: float = 0.0  # server: resident memory of the restarted process
    start_empty_s: float = 0.0  # server: the same start on an empty store (imports, no data)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    qps: dict[int, float] = field(default_factory=dict)  # concurrent clients -> queries/s
    batch_qps: float = 0.0  # queries/s answering --batch queries per call, one client
    recall: float = 0.0  # recall@k against in-process FAISS float32 exact search
    scan_bytes: float = 0.0  # bytes one query reads from the index (0: not a scan, HNSW)
    error: str = ""

    @property
    def label(self) -> str:
        """The system, with its backend unless flat."""
        return self.system if self.backend == "flat" else f"{self.system}:{self.backend}"


def tree_rss(extra: Sequence[int]) -> int:
    """Resident memory of this process, its descendants and ``extra`` processes, in bytes."""
    procs = {psutil.Process().pid: psutil.Process()}
    for p in psutil.Process().children(recursive=True):
        procs[p.pid] = p
    for pid in extra:
        try:
            p = psutil.Process(pid)
            procs[pid] = p
            for c in p.children(recursive=True):
                procs[c.pid] = c
        except psutil.NoSuchProcess:
            pass
    total = 0
    for p in procs.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def latencies(search: SearchOne, queries: np.ndarray, think_s: float) -> tuple[float, float]:
    """p50 and p99 of single-query latency in milliseconds (after two warm-up calls).

    ``think_s`` of sleep between queries: every system, in process or not, then starts
    each query from idle (on a busy machine a tight in-process loop would otherwise be
    scheduled as a CPU hog while a server process waking up for a request is not).
    """
    for q in queries[:2]:
        search(q)
    times = []
    for q in queries:
        time.sleep(think_s)
        t0 = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def throughput(backend: Backend, queries: np.ndarray, clients: int, seconds: float) -> float:
    """Queries per second of ``clients`` threads, each with its own search function, for ``seconds``."""
    workers = [backend.worker() for _ in range(clients)]
    for w in workers:
        w(queries[0])
    done = [0] * clients
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        j = i
        try:
            while not stop.is_set():
                workers[i](queries[j % len(queries)])
                done[i] += 1
                j += clients
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{clients} clients: {errors[0]!r}") from errors[0]
    return sum(done) / elapsed


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    """Fraction of the exact top-k ids each system returned."""
    hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def scan_bytes(backend: str, n: int, dim: int) -> float:
    """Bytes one query reads from the index: every code of a flat index, the probed share
    of an IVF's lists plus its centroids; 0 for HNSW (a graph walk, not a scan)."""
    if backend in BYTES_PER_VALUE:
        return float(n * dim * BYTES_PER_VALUE[backend])
    if backend == "ivf":
        nlist = max(1, min(PARAMS.ivf_nlist, n // 39))
        nprobe = min(PARAMS.ivf_nprobe, nlist)
        return (nprobe / nlist) * n * dim * 4.0 + nlist * dim * 4.0
    return 0.0


def make_backend(
    system: str, backend: str, dim: int, k: int, workdir: Path, args: argparse.Namespace
) -> Backend:
    """Build one system, empty, for ``dim``-d vectors."""
    if system == "faiss":
        return FaissBackend(dim, k, args.omp_threads, backend)
    if system in ("server", "server-before"):
        root = args.before_root if system == "server-before" else ROOT
        return ServerBackend(dim, k, workdir, args.batch, args.omp_threads, backend, root, args.cosine_only)
    if system == "qdrant":
        return QdrantBackend(dim, k, workdir)
    if system == "milvus":
        return MilvusBackend(dim, k, workdir)
    raise ValueError(f"unknown system {system!r}; valid: {SYSTEMS}")


def measure(
    system: str,
    backend_name: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    args: argparse.Namespace,
) -> Row:
    """All figures of one system on one data set."""
    n, dim = vectors.shape
    row = Row(system, n, dim, backend_name, scan_bytes=scan_bytes(backend_name, n, dim))
    workdir = Path(tempfile.mkdtemp(prefix=f"peers-{system}-", dir=args.workdir))
    backend: Backend | None = None
    try:
        gc.collect()
        backend = make_backend(system, backend_name, dim, args.k, workdir, args)
        rss0 = tree_rss(backend.pids())
        ids = np.arange(n, dtype=np.int64)
        t0 = time.perf_counter()
        backend.ingest(ids, vectors)
        row.ingest_s = time.perf_counter() - t0
        row.ingest_per_s = n / row.ingest_s
        gc.collect()
        row.rss_mib = (tree_rss(backend.pids()) - rss0) / 2**20
        log.info("%s n=%d dim=%d: ingest %.1fs, +%.0f MiB", row.label, n, dim, row.ingest_s, row.rss_mib)
        if isinstance(backend, ServerBackend):
            row.start_empty_s = backend.empty_start_s
            row.start_s, row.start_rss_mib = backend.restart()
            log.info("%s restarted in %.1fs, %.0f MiB", row.label, row.start_s, row.start_rss_mib)
        row.recall = recall(backend.search_batch(queries, args.k), truth)
        row.p50_ms, row.p99_ms = latencies(
            backend.worker(), queries[: args.latency_queries], args.think_ms / 1e3
        )
        if system in ("faiss", "server", "server-before"):
            t0 = time.perf_counter()
            for start in range(0, len(queries), args.batch):
                backend.search_batch(queries[start : start + args.batch], args.k)
            row.batch_qps = len(queries) / (time.perf_counter() - t0)
        for clients in args.clients:
            row.qps[clients] = throughput(backend, queries, clients, args.seconds)
            log.info("%s %d clients: %.1f q/s", row.label, clients, row.qps[clients])
    except Exception as exc:  # one system failing must not lose the others' figures
        log.exception("%s failed at n=%d dim=%d", row.label, n, dim)
        row.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if backend is not None:
            backend.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return row


# ---------------------------------------------------------------- report


def _threads_for(clients: int) -> int:
    return max(1, min(clients, os.cpu_count() or 1))


def format_rows(rows: list[Row], clients: Sequence[int], batch: int, bw: Bandwidth | None) -> str:
    """A table per size, ratios to in-process FAISS (float32 flat and the same backend),
    the share of the bandwidth each figure uses, and the servers' start-up."""
    out: list[str] = []
    for n, dim in sorted({(r.n, r.dim) for r in rows}):
        group = [r for r in rows if (r.n, r.dim) == (n, dim)]
        base = next((r for r in group if r.label == "faiss" and not r.error), None)
        out.append(f"\n## n={n:,} dim={dim}")
        head = (
            f"{'system':<19} {'ingest/s':>9} {'MiB':>6} {'p50 ms':>8} {'p99 ms':>8} "
            + " ".join(f"{f'q/s@{c}':>8}" for c in clients)
            + f" {f'q/s b{batch}':>9} {'recall':>7}"
        )
        out.append(head)
        for r in group:
            if r.error:
                out.append(f"{r.label:<19} FAILED: {r.error}")
                continue
            out.append(
                f"{r.label:<19} {r.ingest_per_s:9.0f} {r.rss_mib:6.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
                + " ".join(f"{r.qps.get(c, 0.0):8.1f}" for c in clients)
                + f" {(f'{r.batch_qps:9.1f}' if r.batch_qps else '        -')} {r.recall:7.4f}"
            )
        ok = [r for r in group if not r.error]
        if base is not None:
            out.append(
                "against in-process FAISS float32 flat (p50: how many times slower; q/s and ingest: fraction of its)"
            )
            for r in ok:
                if r is base:
                    continue
                qps = " ".join(
                    f"q/s@{c} {r.qps.get(c, 0.0) / base.qps[c]:.3f}x" for c in clients if base.qps.get(c)
                )
                batch_part = f", b{batch} {r.batch_qps / base.qps[1]:.3f}x of FAISS@1" if r.batch_qps else ""
                out.append(
                    f"  {r.label:<19} p50 {r.p50_ms / base.p50_ms:.2f}x, {qps}{batch_part}, "
                    f"ingest {r.ingest_per_s / base.ingest_per_s:.3f}x"
                )
        servers = [r for r in ok if r.system.startswith("server")]
        pairs = [
            (
                r,
                next(
                    (f for f in ok if f.label == ("faiss" if r.backend == "flat" else f"faiss:{r.backend}")),
                    None,
                ),
            )
            for r in servers
        ]
        if any(f is not None for _, f in pairs):
            out.append(
                "server against in-process FAISS of the same backend (target: p50 <= 1.3 x FAISS's + 0.3 ms)"
            )
            for r, f in pairs:
                if f is None:
                    continue
                target = 1.3 * f.p50_ms + 0.3
                verdict = "met" if r.p50_ms <= target else "missed"
                out.append(
                    f"  {r.label:<19} p50 {r.p50_ms:.2f} vs {f.p50_ms:.2f} ms: {r.p50_ms / f.p50_ms:.2f}x, "
                    f"+{r.p50_ms - f.p50_ms:.2f} ms (target {target:.2f} ms: {verdict}); "
                    f"q/s@1 {r.qps.get(1, 0.0) / max(f.qps.get(1, 0.0), 1e-9):.3f}x"
                )
        if bw is not None and any(r.scan_bytes for r in ok):
            limits = ", ".join(
                f"{t} thread(s) {bw.limit(t):.1f} GB/s" for t in sorted({f.threads for f in bw.figures})
            )
            out.append(
                f"share of the streaming read bandwidth ({limits}): MB one query scans x q/s / "
                "bandwidth at min(clients, cores) threads; b = one client's batched calls"
            )
            out.append(
                f"  {'system':<19} {'MB/query':>9} {'p50':>6} "
                + " ".join(f"{f'q/s@{c}':>7}" for c in clients)
                + f" {f'b{batch}':>7}"
            )
            for r in ok:
                if not r.scan_bytes:
                    continue
                p50 = fraction(r.scan_bytes, 1e3 / r.p50_ms, bw.limit(1)) if r.p50_ms else 0.0
                cells = [
                    fraction(r.scan_bytes, r.qps.get(c, 0.0), bw.limit(_threads_for(c))) for c in clients
                ]
                b = fraction(r.scan_bytes, r.batch_qps, bw.limit(1)) if r.batch_qps else 0.0  # 1 thread
                out.append(
                    f"  {r.label:<19} {r.scan_bytes / 1e6:9.1f} {p50:6.2f} "
                    + " ".join(f"{c:7.2f}" for c in cells)
                    + f" {(f'{b:7.2f}' if r.batch_qps else '      -')}"
                )
        if servers:
            out.append(
                "server start-up on the stored data (restart after the ingest; empty: the first start,"
                " on an empty store): seconds until it answers, resident MiB"
            )
            for r in servers:
                out.append(
                    f"  {r.label:<19} {r.start_s:7.2f} s (empty {r.start_empty_s:5.2f} s) {r.start_rss_mib:8.0f} MiB"
                )
        server = next((r for r in ok if r.label == "server"), None)
        peers = [r for r in ok if r.system in ("qdrant", "milvus")]
        if server is not None and peers:
            out.append(
                "server against each peer (server figure / peer figure; latency and memory: <1 is better)"
            )
            for p in peers:
                qps = " ".join(f"q/s@{c} {server.qps[c] / p.qps[c]:.2f}" for c in clients if p.qps.get(c))
                out.append(
                    f"  vs {p.system:<7} p50 {server.p50_ms / p.p50_ms:.2f}, p99 {server.p99_ms / p.p99_ms:.2f}, "
                    f"{qps}, ingest {server.ingest_per_s / p.ingest_per_s:.2f}, "
                    f"memory {server.rss_mib / max(p.rss_mib, 1e-9):.2f}"
                )
    return "\n".join(out)


def save(rows: list[Row], head: str, args: argparse.Namespace, started: float, bw: Bandwidth | None) -> None:
    """Write the table and the raw figures so far to ``args.out``.txt/.json."""
    table = format_rows(rows, args.clients, args.batch, bw)
    bw_text = (
        f"\nstreaming read bandwidth (GB/s, best of {args.bandwidth_repeats}):\n{bandwidth_table(bw)}\n"
        if bw
        else ""
    )
    text = (
        f"{head}\nk={args.k}, queries={args.queries}, clusters={args.clusters}, "
        f"latency think time {args.think_ms} ms, throughput runs {args.seconds}s, "
        f"batch {args.batch}, elapsed {time.time() - started:.0f}s, "
        f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n{bw_text}{table}\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(text)
    payload = {
        "banner": head,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "bandwidth": bw.to_json() if bw else None,
        "rows": [asdict(r) | {"label": r.label} for r in rows],
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run every system at every size; print and save the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="stored vectors, comma-separated")
    parser.add_argument("--dims", default="1024,4096", help="dimensions, comma-separated")
    parser.add_argument(
        "--systems", default="faiss,server,qdrant,milvus", help=f"comma-separated subset of {SYSTEMS}"
    )
    parser.add_argument(
        "--backends",
        default="flat",
        help=f"index backends of faiss and server, comma-separated subset of {BACKENDS}",
    )
    parser.add_argument(
        "--before-root", type=Path, help="source tree of server-before (e.g. an older commit)"
    )
    parser.add_argument(
        "--cosine-only",
        action="store_true",
        help="servers keep no CSLS neighbour lists (serve_cosine_only.py)",
    )
    parser.add_argument(
        "--qdrant-max-n",
        type=int,
        default=0,
        help="skip qdrant above this size (0: never); its local mode ingests ~65 vectors/s here",
    )
    parser.add_argument("--clusters", type=int, default=300, help="centres of the Gaussian mixture")
    parser.add_argument("--queries", type=int, default=256, help="query vectors (drawn like the data)")
    parser.add_argument("--latency-queries", type=int, default=200, help="single queries timed for p50/p99")
    parser.add_argument("--k", type=int, default=10, help="results per query")
    parser.add_argument("--batch", type=int, default=32, help="queries per call in the batched runs")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument(
        "--think-ms", type=float, default=5.0, help="sleep between the single queries timed for latency"
    )
    parser.add_argument(
        "--omp-threads",
        type=int,
        default=1,
        help="OpenMP threads of FAISS in this process and in the server (concurrency comes from clients)",
    )
    parser.add_argument(
        "--bandwidth", type=Path, help="a benchmarks/bandwidth.py record (.json) instead of measuring"
    )
    parser.add_argument(
        "--bandwidth-gib", type=float, default=1.0, help="buffer per thread of the bandwidth run"
    )
    parser.add_argument("--bandwidth-repeats", type=int, default=3, help="runs per bandwidth kernel")
    parser.add_argument(
        "--workdir", type=Path, help="where stores go (default: the system's temporary folder)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "search_peers", help="results path without suffix"
    )
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    systems = [s for s in args.systems.split(",") if s]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; valid: {SYSTEMS}")
    backends = [b for b in args.backends.split(",") if b]
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        parser.error(f"unknown backends {bad}; valid: {BACKENDS}")
    if "server-before" in systems and (
        args.before_root is None or not (args.before_root / "server").is_dir()
    ):
        parser.error("server-before needs --before-root, a source tree with a server/ package")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "qdrant_client", "pymilvus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import faiss

    faiss.omp_set_num_threads(args.omp_threads)
    head = (
        banner(PACKAGES)
        + f"\ncommand: python {' '.join(['benchmarks/search_peers.py', *sys.argv[1:]])}"
        + f"\nload average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(head, flush=True)
    if args.bandwidth is not None:
        bw: Bandwidth | None = Bandwidth.from_json(json.loads(args.bandwidth.read_text()))
    else:
        bw = measure_bandwidth((1, 2), int(args.bandwidth_gib * 2**30), args.bandwidth_repeats)
    assert bw is not None
    print(bandwidth_table(bw), flush=True)
    rows: list[Row] = []
    started = time.time()
    plan = [
        (system, backend)
        for system in systems
        for backend in (backends if system in ("faiss", "server") else ["flat"])
    ]
    for dim in dims:
        for n in sizes:
            data = normalise(clustered_vectors(n + args.queries, dim, args.clusters, seed=0))
            vectors, queries = data[:n], np.ascontiguousarray(data[n:])
            del data  # ``vectors`` is a view: no second copy
            _, truth = faiss.knn(queries, vectors, args.k, metric=faiss.METRIC_INNER_PRODUCT)
            for system, backend in plan:
                if system == "qdrant" and args.qdrant_max_n and n > args.qdrant_max_n:
                    log.info("skipping qdrant at n=%d (--qdrant-max-n %d)", n, args.qdrant_max_n)
                    continue
                rows.append(measure(system, backend, vectors, queries, truth, args))
                save(rows, head, args, started, bw)
                print(
                    format_rows([r for r in rows if (r.n, r.dim) == (n, dim)], args.clients, args.batch, bw),
                    flush=True,
                )
            del vectors, queries
    print("\n# summary" + format_rows(rows, args.clients, args.batch, bw), flush=True)
    save(rows, head, args, started, bw)
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
