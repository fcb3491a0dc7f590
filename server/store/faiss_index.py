"""One space's FAISS index: exact (flat) by default, IVF or HNSW on request.

Vectors are L2-normalised before they go in, so inner product is cosine. ids are the
store's vec_ids (int64). FAISS keeps duplicates silently, so upsert semantics live here:
the old vec_id is removed (flat, IVF) or tombstoned (HNSW cannot remove) before the new
one is added. The CPU index is the master copy; when a GPU is used, a GPU replica serves
unfiltered searches and is refreshed lazily after writes, under a lock because FAISS GPU
indexes are not thread-safe even for reads.

Storage precision of exact search: ``flat_fp16`` and ``flat_sq8`` scan float16 or 8-bit
codes (FAISS ``IndexScalarQuantizer``, QT_fp16 / QT_8bit with per-dimension min/max), 2x
and 4x fewer bytes per query than ``flat``, then re-score their candidates from the stored
float32 vectors (``fetch``, the store's SQLite rows). The candidate set is certified: no
vector's code scores further from its cosine than the largest residual ``|x - decode(x)|``
of any vector added (plus float rounding), so once the k-th re-scored cosine reaches the
lowest candidate's code score plus that bound, nothing outside can enter the top k; until
then the candidate set grows. Results are therefore those of float32 exact search.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import faiss
import numpy as np

from fute_client.errors import InvalidArgumentError
from fute_client.types import BACKENDS, Backend
from server.config import DEVICES, Device, IndexParams

log = logging.getLogger(__name__)

# faiss-cpu's bundled type stubs lag its SWIG API (search parameters, DirectMap).
_faiss: Any = faiss

GPU_MAX_K = 2048  # FAISS GPU limit on k
# Filtered searches on IVF/HNSW with at most this many allowed ids are scored exactly.
EXACT_SUBSET_MAX = 4096
# Rebuild an HNSW graph once this share of its entries are tombstones.
HNSW_REBUILD_FRACTION = 0.25

# Queries from which a flat search scores the batch with BLAS. Measured at 1 thread (50k x
# 1,024 and 20k x 4,096): BLAS is 2.3x slower for 1 query, level at 2, and 2.1-2.3x (4) and
# 4.1x (8) faster per query; FAISS's default switches only at 125 queries of 1,024 dims.
BLAS_MIN_QUERIES = 4
# Exact backends (every result is float32 exact search's); the others are approximate.
EXACT_BACKENDS: tuple[Backend, ...] = ("flat", "flat_fp16", "flat_sq8")
# The scalar quantiser of each reduced-precision exact backend.
_QUANTISERS: dict[str, int] = {
    "flat_fp16": faiss.ScalarQuantizer.QT_fp16,
    "flat_sq8": faiss.ScalarQuantizer.QT_8bit,
}
# Bytes per stored value each exact backend scans.
BYTES_PER_VALUE: dict[str, int] = {"flat": 4, "flat_fp16": 2, "flat_sq8": 1}
# Candidates re-scored first, per k: measured on 100k x 1,024 clustered vectors (64 queries,
# k = 11), 2k certified every fp16 query and 4k every SQ8 one; a margin added; then x4.
_FIRST_CANDIDATES: dict[str, tuple[int, int]] = {"flat_fp16": (2, 8), "flat_sq8": (4, 16)}
_CANDIDATE_GROWTH = 4
# SQ8 retrains its per-dimension ranges from the stored vectors (a rebuild: O(n)) once the
# space has doubled since training, or grown by a quarter while a vector added since has a
# residual this many times the training set's largest: values outside the ranges are
# clamped, so results stay exact, but the certifying bound (and so the candidates) grows.
# Rebuilds after a fixed share of growth keep a bulk load's total rebuild work O(n).
SQ8_RETRAIN_RESIDUAL = 2.0
SQ8_RETRAIN_GROWTH = 2.0
SQ8_RESIDUAL_RETRAIN_GROWTH = 1.25

# Norms of stored rows re-scored in float32 directly (squares far inside float32's range);
# rows outside are normalised in float64 first (``normalise``).
_SAFE_NORMS = (1e-15, 1e15)
# vec_ids -> (the stored float32 vectors, any scale, of those still stored, in order; a
# mask of which are). A row can be gone while the index still holds it: inside a delete's
# transaction, before the index drops the entry; such entries are left out of results.
VectorFetch = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


# Rows normalised per block, so the float64 copy stays small (elements per block).
_NORMALISE_BLOCK = 1 << 21
# How far from 1 the norm of a float32 unit vector may be (rounding is ~1e-7 per value).
UNIT_NORM_TOLERANCE = 1e-3


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, the norm taken in float64.

    In float32 the squares of values above ~1.8e19 overflow (the norm is inf, the row
    becomes zeros) and those below ~1e-23 underflow (the norm is 0, the row NaN); in
    float64 every finite non-zero float32 row has a finite non-zero norm, so this is
    exact for every row :func:`invalid_rows` accepts. Callers reject the others first.
    """
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"normalise takes a 2-d array, got shape {v.shape}")
    out = np.empty(v.shape, dtype=np.float32)
    step = max(1, _NORMALISE_BLOCK // max(1, v.shape[1]))
    for start in range(0, len(v), step):
        block = v[start : start + step].astype(np.float64)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + step] = block / norms
    return out


def invalid_rows(vectors: np.ndarray) -> np.ndarray:
    """Indices of the rows that cannot be indexed: a non-finite value, an all-zero row,
    or a row whose float32 unit vector is not finite with norm 1 (within
    :data:`UNIT_NORM_TOLERANCE`). The one check of upsert, queries, load and restore, so
    whatever is accepted once loads again."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] == 0:
        return np.arange(len(v))
    bad: list[np.ndarray] = []
    step = max(1, _NORMALISE_BLOCK // v.shape[1])  # in blocks: a million rows need no copy
    for start in range(0, len(v), step):
        block = v[start : start + step]
        finite = np.all(np.isfinite(block), axis=1)
        unit = normalise(np.where(finite[:, None], block, 0.0))
        unit_ok = np.all(np.isfinite(unit), axis=1)
        norms = np.linalg.norm(np.where(unit_ok[:, None], unit, 0.0).astype(np.float64), axis=1)
        good = finite & unit_ok & (np.abs(norms - 1.0) <= UNIT_NORM_TOLERANCE)
        bad.append(start + np.flatnonzero(~good))
    return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def gpu_count() -> int:
    """GPUs FAISS can use (0 with faiss-cpu)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def resolve_device(device: Device) -> Literal["cpu", "gpu"]:
    """``auto`` is GPU when FAISS sees one; asking for ``gpu`` without one is an error."""
    if device not in DEVICES:
        raise InvalidArgumentError(f"unknown device {device!r}; valid: {DEVICES}")
    n = gpu_count()
    if device == "gpu" and n == 0:
        raise InvalidArgumentError("device 'gpu' requested but FAISS sees no GPU (is faiss-gpu installed?)")
    chosen: Literal["cpu", "gpu"] = "gpu" if device != "cpu" and n > 0 else "cpu"
    log.info("FAISS %s sees %d GPU(s); searching on %s", faiss.__version__, n, chosen)
    return chosen


class SpaceIndex:
    """The vector index of one space. Not locked itself: ``TaskStore`` serialises writes.

    ``fetch`` reads stored vectors by vec_id; the reduced-precision exact backends need it
    to re-score (``IndexParams.rescore``, on by default). Its owner rebinds it when the
    database behind the index changes (a restored snapshot).
    """

    def __init__(
        self,
        dim: int,
        backend: Backend,
        params: IndexParams,
        device: Literal["cpu", "gpu"] = "cpu",
        fetch: VectorFetch | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"unknown index backend {backend!r}; valid: {BACKENDS}")
        self.dim = dim
        self.backend = backend
        self.params = params
        self.fetch = fetch
        # No GPU HNSW in FAISS; the scalar-quantised flats re-score on the CPU side anyway.
        self.device = device if backend in ("flat", "ivf") else "cpu"
        self._tombstones: set[int] = set()
        # Each live vector's L2 norm (the index holds unit vectors): what a transfer
        # predictor with norm features reads per candidate, without a database read.
        self._norms: dict[int, float] = {}
        self._gpu_lock = threading.Lock()
        self._gpu_index: Any = None
        self._gpu_res: Any = None
        self._gpu_dirty = True
        self._trained_nlist = 0
        self._codes: Any = None  # the IndexScalarQuantizer inside the id map (fp16, sq8)
        self._max_residual = 0.0  # largest |x - decode(x)| of a vector added since build
        self._trained_residual = 0.0  # largest residual of the SQ8 training set
        self._trained_n = 0  # vectors the SQ8 ranges were trained on
        self._index: Any = self._empty()

    @property
    def exact(self) -> bool:
        """Whether every search returns float32 exact search's results (and cosines)."""
        return self.backend == "flat" or (self.backend in _QUANTISERS and self.params.rescore)

    @property
    def live(self) -> int:
        """Tasks the index answers for (entries less HNSW tombstones): the space's task count."""
        return self.ntotal - len(self._tombstones)

    def error_bound(self) -> float:
        """Largest difference between a code's score and the cosine of its vector, for any
        unit query: the largest residual since build plus float32 rounding of both dot
        products (0 for float32 storage)."""
        if self.backend not in _QUANTISERS:
            return 0.0
        return self._max_residual * (1.0 + 1e-6) + 2.0 * self.dim * 2.0**-24

    # ---------------------------------------------------------------- construction

    def _empty(self) -> Any:
        if self.backend == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        if self.backend in _QUANTISERS:
            self._codes = faiss.IndexScalarQuantizer(
                self.dim, _QUANTISERS[self.backend], faiss.METRIC_INNER_PRODUCT
            )
            return faiss.IndexIDMap2(self._codes)
        if self.backend == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dim, self.params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = self.params.hnsw_ef_construction
            hnsw.hnsw.efSearch = self.params.hnsw_ef_search
            return faiss.IndexIDMap2(hnsw)
        return None  # IVF: built when first trained, see _train_ivf

    def _train_ivf(self, vectors: np.ndarray) -> None:
        # Lists need ~39 training points each; with fewer vectors use fewer lists.
        nlist = max(1, min(self.params.ivf_nlist, len(vectors) // 39))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.nprobe = min(self.params.ivf_nprobe, nlist)
        # A hashtable direct map: remove_ids with arbitrary (non-sequential) vec_ids.
        ivf.set_direct_map_type(_faiss.DirectMap.Hashtable)
        self._index = ivf
        self._ivf_quantizer = quantizer  # keep the quantizer alive as long as the index
        self._trained_nlist = nlist
        log.info("trained IVF index on %d vectors: nlist=%d nprobe=%d", len(vectors), nlist, ivf.nprobe)

    def _train_sq8(self, vectors: np.ndarray) -> None:
        """Per-dimension ranges: the min and max of the unit rows, taken in blocks (FAISS's
        min/max training on those two rows is its training on all of them)."""
        lo = np.full(self.dim, np.inf, np.float32)
        hi = np.full(self.dim, -np.inf, np.float32)
        for block in self._unit_blocks(vectors):
            lo = np.minimum(lo, block.min(axis=0))
            hi = np.maximum(hi, block.max(axis=0))
        self._codes.train(np.stack([lo, hi]))
        self._trained_n = len(vectors)
        self._trained_residual = max(self._largest_residual(b) for b in self._unit_blocks(vectors))
        log.info(
            "trained SQ8 ranges on %d vectors: largest residual %.5f", len(vectors), self._trained_residual
        )

    def _unit_blocks(self, vectors: np.ndarray) -> Iterator[np.ndarray]:
        """``vectors`` normalised, block by block (bounded temporary memory)."""
        step = max(1, _NORMALISE_BLOCK // max(1, self.dim))
        for start in range(0, len(vectors), step):
            yield normalise(vectors[start : start + step])

    def _largest_residual(self, unit: np.ndarray) -> float:
        """max |x - decode(encode(x))| over the rows of ``unit``, in blocks."""
        step = max(1, _NORMALISE_BLOCK // max(1, self.dim))
        largest = 0.0
        for start in range(0, len(unit), step):
            block = unit[start : start + step]
            decoded = self._codes.sa_decode(self._codes.sa_encode(block))
            largest = max(largest, float(np.linalg.norm(decoded - block, axis=1).max()))
        return largest

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the contents with (ids, raw vectors): used at start and after restore.

        Deterministic: the same rows give the same index (SQ8 trains on all of them)."""
        self._tombstones.clear()
        self._norms.clear()
        self._max_residual = 0.0
        self._index = self._empty()
        if len(ids):
            self.add(ids, vectors)
        self._gpu_dirty = True

    # ---------------------------------------------------------------- writes

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add raw vectors under fresh ids (normalised here)."""
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
        self._norms.update(zip(ids.tolist(), norms.tolist(), strict=True))
        if self._index is None:  # IVF not trained yet: train on the first batch
            self._train_ivf(normalise(vectors))
        trained_now = self.backend == "flat_sq8" and not self._codes.is_trained
        if trained_now:
            self._train_sq8(vectors)  # on this very batch: its residuals are the training set's
            self._max_residual = max(self._max_residual, self._trained_residual)
        start = 0
        for unit in self._unit_blocks(vectors):  # blocks: no full normalised copy
            if self._codes is not None and not trained_now:
                self._max_residual = max(self._max_residual, self._largest_residual(unit))
            self._index.add_with_ids(unit, ids[start : start + len(unit)])
            start += len(unit)
        self._gpu_dirty = True

    def remove(self, ids: np.ndarray) -> None:
        """Remove ids (tombstoned for HNSW, which cannot remove)."""
        if not len(ids) or self._index is None:
            return
        for i in ids:
            self._norms.pop(int(i), None)
        if self.backend == "hnsw":
            self._tombstones.update(int(i) for i in ids)
        else:
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu_dirty = True

    def norms_of(self, ids: Sequence[int]) -> np.ndarray:
        """The stored (raw) vector norm of each live id, in order."""
        return np.array([self._norms[int(i)] for i in ids], np.float64)

    @property
    def ntotal(self) -> int:
        """Entries in the FAISS index (tombstones included)."""
        return 0 if self._index is None else int(self._index.ntotal)

    def needs_rebuild(self) -> bool:
        """Whether a rebuild from the stored vectors would pay off: HNSW tombstones have
        piled up, an IVF index trained on few vectors now holds enough for more lists, or
        SQ8 ranges no longer cover the vectors added (or were trained on a small space)."""
        if self._tombstones and len(self._tombstones) > HNSW_REBUILD_FRACTION * self.ntotal:
            return True
        if self.backend == "ivf" and self._trained_nlist < self.params.ivf_nlist:
            return self.ntotal // 39 >= 4 * self._trained_nlist
        if self.backend == "flat_sq8" and self._trained_n:
            if self.ntotal >= SQ8_RETRAIN_GROWTH * self._trained_n:
                return True
            clamped = self._max_residual > SQ8_RETRAIN_RESIDUAL * self._trained_residual
            return clamped and self.ntotal >= SQ8_RESIDUAL_RETRAIN_GROWTH * self._trained_n
        return False

    # ---------------------------------------------------------------- search

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query row; ids are -1 where fewer exist.

        ``allowed``: restrict results to these ids (a metadata filter); ``None``: all.
        """
        q = normalise(queries)
        nq = len(q)
        if self._index is None or self.ntotal == 0 or k == 0:
            return np.zeros((nq, k), np.float32), np.full((nq, k), -1, np.int64)
        if allowed is not None and self.backend not in EXACT_BACKENDS and len(allowed) <= EXACT_SUBSET_MAX:
            # A selective filter starves a graph or list walk of candidates; scoring the
            # few allowed vectors directly is exact and cheap.
            return self._search_subset(q, k, allowed)
        # ``keep`` holds the selectors' Python objects for the duration of the search.
        selector, keep = self._selector(allowed)
        if self.backend in _QUANTISERS and self.params.rescore:
            found = self._search_rescored(q, k, selector)
        elif selector is None and self.device == "gpu" and k <= GPU_MAX_K:
            found = self._search_gpu(q, k)
        else:
            found = self._search_faiss(q, k, selector)
        del keep
        return found

    def _search_faiss(self, q: np.ndarray, k: int, selector: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.backend == "flat":
            # FAISS scores a batch with BLAS (one pass over the vectors for all queries) once
            # queries x dim reaches this process-wide threshold, 128,000 by default: 125
            # queries at 1,024 dims. Set here per call to BLAS_MIN_QUERIES x dim (a race
            # between spaces of different dims only picks the other, equally exact, kernel).
            _faiss.cvar.distance_compute_blas_threshold = BLAS_MIN_QUERIES * self.dim
        if selector is None:
            scores, ids = self._index.search(q, k)
        else:
            scores, ids = self._index.search(q, k, params=self._search_params(selector))
        return scores, ids

    def _search_rescored(self, q: np.ndarray, k: int, selector: Any) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` from the codes: candidates by code score, re-scored from the
        stored float32 vectors, grown until certified (see the module docstring)."""
        if self.fetch is None:
            raise RuntimeError(f"a {self.backend} index re-scores from stored vectors, but has no fetch")
        bound = self.error_bound()
        scale, extra = _FIRST_CANDIDATES[self.backend]
        fetch = min(self.ntotal, scale * k + extra)
        scores = np.full((len(q), k), -np.inf, np.float32)
        out = np.full((len(q), k), -1, np.int64)
        pending = np.arange(len(q))
        while len(pending):
            code_scores, cand = self._search_faiss(q[pending], fetch, selector)
            wanted = np.unique(cand[cand >= 0])
            found, present = self.fetch(wanted)
            wanted = wanted[np.asarray(present, dtype=bool)]
            stored = np.asarray(found, dtype=np.float32).reshape(len(wanted), self.dim)
            with np.errstate(over="ignore", under="ignore"):  # checked just below
                norms = np.linalg.norm(stored, axis=1)
            if not np.all((norms > _SAFE_NORMS[0]) & (norms < _SAFE_NORMS[1])):
                stored, norms = normalise(stored), np.ones(len(stored), np.float32)
            unsettled: list[int] = []
            for row, qi in enumerate(pending.tolist()):
                valid = cand[row] >= 0
                ids = cand[row][valid]
                pos = np.searchsorted(wanted, ids).clip(0, max(0, len(wanted) - 1))
                if len(wanted):
                    here = wanted[pos] == ids
                    ids, pos = ids[here], pos[here]
                else:
                    ids, pos = ids[:0], pos[:0]
                exact = (stored[pos] @ q[qi]) / norms[pos]
                order = np.argsort(-exact, kind="stable")[:k]
                # Every allowed vector was a candidate (FAISS padded with -1), or the k-th
                # cosine is one no unfetched vector can beat.
                complete = not valid.all() or fetch >= self.ntotal
                if not complete and (
                    len(order) < k or exact[order[-1]] < float(code_scores[row, -1]) + bound
                ):
                    unsettled.append(qi)
                    continue
                scores[qi, : len(order)] = exact[order]
                out[qi, : len(order)] = ids[order]
            pending = np.asarray(unsettled, dtype=np.int64)
            fetch = min(self.ntotal, _CANDIDATE_GROWTH * fetch)
        return scores, out

    def _search_subset(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(allowed, dtype=np.int64)
        vecs = np.stack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else None
        scores = np.full((len(q), k), -np.inf, np.float32)
        out = np.full((len(q), k), -1, np.int64)
        if vecs is None:
            return scores, out
        sims = q @ vecs.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        n = top.shape[1]
        scores[:, :n] = np.take_along_axis(sims, top, axis=1)
        out[:, :n] = ids[top]
        return scores, out

    def _selector(self, allowed: np.ndarray | None) -> tuple[Any, list[Any]]:
        if allowed is not None:
            # The store's allowed ids are live rows, so no tombstone can be among them.
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            return sel, [sel]
        if not self._tombstones:
            return None, []
        dead = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
        dead_sel = faiss.IDSelectorBatch(dead)
        return faiss.IDSelectorNot(dead_sel), [dead_sel]

    def _search_params(self, selector: Any) -> Any:
        if self.backend == "hnsw":
            return _faiss.SearchParametersHNSW(sel=selector, efSearch=self.params.hnsw_ef_search)
        if self.backend == "ivf":
            return _faiss.SearchParametersIVF(sel=selector, nprobe=int(self._index.nprobe))
        return _faiss.SearchParameters(sel=selector)

    def _search_gpu(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with self._gpu_lock:
            if self._gpu_dirty or self._gpu_index is None:
                if self._gpu_res is None:
                    self._gpu_res = _faiss.StandardGpuResources()
                self._gpu_index = _faiss.index_cpu_to_gpu(self._gpu_res, 0, self._index)
                self._gpu_dirty = False
            scores, ids = self._gpu_index.search(q, k)
        return scores, ids
