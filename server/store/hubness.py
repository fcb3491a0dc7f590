"""Hub-aware similarity: CSLS served from the store, with every task's neighbourhood kept.

CSLS (cross-domain similarity local scaling, Conneau et al., 2018) scores a pair as
``2·cos(x, y) − r(x) − r(y)``, where r(x) is the mean cosine of x to its k nearest *other*
tasks of the space (:func:`fute.similarity.csls_matrix` over one set of tasks). A hub, a task
close to everything, has a large r, so it stops being everyone's nearest neighbour.

**What is kept.** Only in a space created with ``keep_neighbours`` (CSLS on any other is
FAILED_PRECONDITION, and its writes and start-up do none of the work below), for every
task the store keeps its :data:`MAX_CSLS_K` nearest other tasks of its space (their vec_ids and cosines, nearest first: a :class:`NeighbourTable` in memory,
``task_neighbours`` in SQLite), so r for any ``k <= MAX_CSLS_K`` is the mean of the first
``min(k, n - 1)`` cosines (``n`` tasks in the space; r = 0 when the space holds one task).
r is a property of the space: filters never change it.

**How it follows writes** (inside the write's own transaction, applied in memory after
the commit, so a failed write leaves the lists as they were):

* an added task gets its own list from the index, and enters the list of every task x
  whose current K-th cosine it beats (:func:`plan_upsert`). On an **exact** space
  (``SpaceIndex.exact``: flat, and flat_fp16/flat_sq8 with re-scoring) the candidates are
  exhaustive: the added task's top M by cosine, M doubled until the M-th
  cosine is at most the lowest K-th cosine of any list, beyond which no task can take it.
  The lists then equal a brute-force computation over all vectors (tested). On **IVF and
  HNSW** the same search runs on the approximate index, M capped at
  :data:`APPROX_REVERSE_FETCH`: a task the index does not return for the added one (a far
  outlier whose K-th cosine is low) misses the entry, so its r can be lower than the exact
  one; its own list is the index's approximate top K.
* a removed task (deleted, or replaced: a replacement is a removal plus an addition)
  leaves every list holding it; those lists are recomputed from the index
  (:func:`plan_delete`), exactly on exact spaces, approximately on IVF/HNSW.

**Queries** (:func:`csls_search`): a stored task's r is read from its list; a query vector's
r is the mean cosine to its k nearest tasks of the space (all of them, any filter aside; a
vector that is a copy of a stored task counts that copy). Candidates are re-ranked by CSLS
exactly: the top M by cosine are scored, M doubled until ``2·c_M − r(q) − r_min`` (c_M the
M-th cosine, r_min the smallest r of any candidate) is no more than the k-th best CSLS
found, so no candidate beyond M can enter the top k. On exact spaces this is exact; on
IVF/HNSW the cosine candidates themselves are approximate.

**Cost.** An upsert of B tasks into an exact space of n tasks adds one exhaustive B x n
similarity pass (what searching each new task once costs); a removal adds one search per
list that held the removed task. Memory: 12 bytes per kept neighbour, ``12·MAX_CSLS_K``
per task in RAM and on disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fute_client.errors import FailedPreconditionError, InvalidArgumentError
from fute_client.types import SIMILARITIES
from server.config import DEFAULT_CSLS_K, MAX_CSLS_K
from server.echo import shown
from server.store.faiss_index import SpaceIndex

log = logging.getLogger(__name__)

#: On IVF/HNSW, the most neighbours searched for an added task to find the lists it enters.
APPROX_REVERSE_FETCH = 256
# Candidates scored per query in the first round of a CSLS search (then doubled).
_FIRST_FETCH = 64
# Search results handled in one block (queries x fetched), so memory stays bounded.
_BLOCK_RESULTS = 1 << 22

VectorsOf = Callable[[list[int]], np.ndarray]
"""The stored vectors of some vec_ids, in that order (``MetadataDB.vectors``)."""


def check_similarity(similarity: str, csls_k: int | None) -> int:
    """The ``csls_k`` to use (0 for cosine); INVALID_ARGUMENT naming the field otherwise."""
    if similarity not in SIMILARITIES:
        raise InvalidArgumentError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    if similarity == "cosine":
        if csls_k is not None:
            raise InvalidArgumentError(
                f"csls_k applies to similarity 'csls' only, got csls_k={csls_k} with 'cosine'"
            )
        return 0
    k = DEFAULT_CSLS_K if csls_k is None else csls_k
    if not 1 <= k <= MAX_CSLS_K:
        raise InvalidArgumentError(f"csls_k must be in [1, {MAX_CSLS_K}], got {k}")
    return k


def no_lists_error(space: str) -> FailedPreconditionError:
    """What a CSLS request on a space that keeps no neighbour lists gets."""
    return FailedPreconditionError(
        f"space {shown(space)} keeps no neighbour lists, which similarity 'csls' needs;"
        " to use CSLS, create the space with keep_neighbours"
    )


@dataclass(frozen=True)
class NeighbourChange:
    """What a write does to a space's neighbour lists: new lists, and tasks that left."""

    lists: dict[int, tuple[np.ndarray, np.ndarray]]  # vec_id -> (neighbour vec_ids, cosines)
    removed: frozenset[int] = frozenset()


class NeighbourTable:
    """The neighbour lists of one space's tasks, in dense arrays (rows found by vec_id).

    Not locked itself: ``TaskStore`` changes it under its write lock only. Reads fill
    caches (the radii per k, the sorted vec_id lookup); racing readers may compute one twice.
    """

    def __init__(self, width: int = MAX_CSLS_K) -> None:
        self.width = width
        self._vec = np.zeros(0, np.int64)  # vec_id per row, -1 for a free row
        self._ids = np.zeros((0, width), np.int64)  # neighbour vec_ids, -1 padded
        self._sims = np.zeros((0, width), np.float32)  # their cosines, nearest first, 0 padded
        self._count = np.zeros(0, np.int64)
        self._row: dict[int, int] = {}
        self._free: list[int] = []
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None
        self._radii: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, vec_id: object) -> bool:
        return vec_id in self._row

    def vec_ids(self) -> np.ndarray:
        """The vec_ids that have a list, ascending."""
        return np.sort(np.fromiter(self._row, dtype=np.int64, count=len(self._row)))

    def list_of(self, vec_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour vec_ids, cosines) of one task, nearest first."""
        row = self._row[vec_id]
        n = int(self._count[row])
        return self._ids[row, :n].copy(), self._sims[row, :n].copy()

    # ---------------------------------------------------------------- lookups

    def rows_of(self, vec_ids: np.ndarray) -> np.ndarray:
        """The row of each vec_id (-1 for one without a list), vectorised."""
        lookup = self._lookup
        if lookup is None:
            live = np.flatnonzero(self._vec >= 0)
            order = np.argsort(self._vec[live], kind="stable")
            lookup = (self._vec[live][order], live[order])
            self._lookup = lookup
        keys, rows = lookup
        q = np.asarray(vec_ids, np.int64)
        if not len(keys):
            return np.full(q.shape, -1, np.int64)
        pos = np.clip(np.searchsorted(keys, q), 0, len(keys) - 1)
        found: np.ndarray = np.where(keys[pos] == q, rows[pos], -1)
        return found

    def _row_radii(self, k: int) -> np.ndarray:
        """r with ``k`` neighbours for every row (0 for free rows and empty lists)."""
        cached = self._radii.get(k)
        if cached is None:
            kk = min(k, self.width)
            used = np.minimum(self._count, kk)
            sums = self._sims[:, :kk].astype(np.float64).sum(axis=1)
            cached = np.where(used > 0, sums / np.maximum(used, 1), 0.0)
            self._radii[k] = cached
        return cached

    def radius_of(self, vec_ids: np.ndarray, k: int) -> np.ndarray:
        """r(x) over ``k`` neighbours for each vec_id (every one must have a list)."""
        rows = self.rows_of(vec_ids)
        if np.any(rows < 0):
            missing = np.asarray(vec_ids)[rows < 0][:5].tolist()
            raise KeyError(f"no neighbour list for vec_ids {missing}")
        radii: np.ndarray = self._row_radii(k)[rows]
        return radii

    def min_radius(self, k: int, vec_ids: np.ndarray | None = None) -> float:
        """The smallest r over ``k`` neighbours among ``vec_ids`` (all tasks when None)."""
        if vec_ids is not None:
            return float(self.radius_of(vec_ids, k).min()) if len(vec_ids) else 0.0
        radii = self._row_radii(k)[self._vec >= 0]
        return float(radii.min()) if len(radii) else 0.0

    def kth(self) -> np.ndarray:
        """Per row, the cosine a newcomer must beat to enter the list: the K-th one of a
        full list, -inf for a shorter list, +inf for a free row."""
        full = self._count >= self.width
        last = self._sims[:, self.width - 1].astype(np.float64) if self.width else np.zeros(len(self._vec))
        out: np.ndarray = np.where(full, last, -np.inf)
        return np.where(self._vec >= 0, out, np.inf)

    def holding(self, vec_ids: Iterable[int]) -> list[int]:
        """vec_ids of the tasks whose lists hold any of ``vec_ids``."""
        wanted = np.fromiter(vec_ids, dtype=np.int64)
        if not len(wanted) or not len(self._row):
            return []
        hit = np.isin(self._ids, wanted).any(axis=1) & (self._vec >= 0)
        return [int(v) for v in self._vec[hit]]

    # ---------------------------------------------------------------- changes

    def apply(self, change: NeighbourChange) -> None:
        """Make a committed change (removals first, then the new lists)."""
        for vec_id in change.removed:
            row = self._row.pop(vec_id, None)
            if row is not None:
                self._vec[row] = -1
                self._ids[row] = -1
                self._sims[row] = 0.0
                self._count[row] = 0
                self._free.append(row)
        for vec_id, (ids, sims) in change.lists.items():
            row = self._row.get(vec_id)
            if row is None:
                row = self._take_row()
                self._row[vec_id] = row
                self._vec[row] = vec_id
            n = min(len(ids), self.width)
            self._ids[row] = -1
            self._sims[row] = 0.0
            self._ids[row, :n] = ids[:n]
            self._sims[row, :n] = sims[:n]
            self._count[row] = n
        self._lookup = None
        self._radii = {}

    def _take_row(self) -> int:
        if not self._free:
            old = len(self._vec)
            new = max(16, 2 * old)
            self._vec = np.concatenate([self._vec, np.full(new - old, -1, np.int64)])
            self._ids = np.concatenate([self._ids, np.full((new - old, self.width), -1, np.int64)])
            self._sims = np.concatenate([self._sims, np.zeros((new - old, self.width), np.float32)])
            self._count = np.concatenate([self._count, np.zeros(new - old, np.int64)])
            self._free.extend(range(new - 1, old - 1, -1))
        return self._free.pop()


# -------------------------------------------------------------------- lists from the index


def _blocks(n: int, fetch: int) -> Iterable[slice]:
    step = max(1, _BLOCK_RESULTS // max(1, fetch))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def own_lists(
    index: SpaceIndex,
    vectors: np.ndarray,
    vec_ids: Sequence[int],
    width: int,
    skip: frozenset[int] = frozenset(),
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each task's ``width`` nearest other tasks in ``index`` (leaving out ``skip``: tasks
    still in the index that are on their way out)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not len(vec_ids):
        return out
    fetch = max(1, min(width + 1 + len(skip), index.ntotal))
    dead = np.fromiter(skip, dtype=np.int64, count=len(skip))
    owners = np.asarray(vec_ids, np.int64)
    for block in _blocks(len(owners), fetch):
        scores, ids = index.search(vectors[block], fetch)
        keep = (ids >= 0) & (ids != owners[block, None])
        if len(dead):
            keep &= ~np.isin(ids, dead)
        for own, s_row, i_row, k_row in zip(owners[block], scores, ids, keep, strict=True):
            order = np.argsort(-s_row[k_row], kind="stable")[:width]
            out[int(own)] = (i_row[k_row][order].astype(np.int64), s_row[k_row][order].astype(np.float32))
    return out


def _merge(
    table: NeighbourTable, vec_id: int, new_ids: list[int], new_sims: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    ids, sims = table.list_of(vec_id)
    all_ids = np.concatenate([ids, np.asarray(new_ids, np.int64)])
    all_sims = np.concatenate([sims, np.asarray(new_sims, np.float32)])
    order = np.argsort(-all_sims, kind="stable")[: table.width]
    return all_ids[order], all_sims[order]


def _entering(
    table: NeighbourTable,
    index: SpaceIndex,
    vectors: np.ndarray,
    added: Sequence[int],
    exact: bool,
    passive: frozenset[int],
) -> dict[int, tuple[list[int], list[float]]]:
    """For each task of ``table`` (but ``passive`` ones) the added tasks that enter its list."""
    kth = table.kth()
    if not len(table) or not len(added):
        return {}
    floor = float(kth.min())  # no task's list takes a newcomer at or below this cosine
    limit = index.ntotal if exact else min(index.ntotal, APPROX_REVERSE_FETCH)
    found: dict[int, tuple[list[int], list[float]]] = {}
    pending = list(range(len(added)))
    fetch = min(limit, max(4 * table.width, _FIRST_FETCH))
    while pending:
        unsettled: list[int] = []
        for block in _blocks(len(pending), fetch):
            chosen = pending[block]
            scores, ids = index.search(vectors[chosen], fetch)
            for qi, s_row, i_row in zip(chosen, scores, ids, strict=True):
                valid = i_row >= 0
                lowest = float(s_row[valid].min()) if valid.any() else -np.inf
                if valid.sum() >= fetch and fetch < limit and lowest > floor:
                    unsettled.append(qi)  # someone beyond the fetched ones may take it
                    continue
                rows = table.rows_of(i_row)
                enter = valid & (rows >= 0) & (s_row.astype(np.float64) > kth[np.maximum(rows, 0)])
                y = int(added[qi])
                for x, s in zip(i_row[enter].tolist(), s_row[enter].tolist(), strict=True):
                    if x in passive:
                        continue
                    got = found.setdefault(int(x), ([], []))
                    got[0].append(y)
                    got[1].append(float(s))
        pending = unsettled
        fetch = min(limit, 2 * fetch)
    return found


def plan_upsert(
    table: NeighbourTable,
    index: SpaceIndex,
    added: Sequence[int],
    vectors: np.ndarray,
    removed: Sequence[int],
    vectors_of: VectorsOf,
    *,
    exact: bool,
) -> NeighbourChange:
    """The lists after ``added`` (vec_ids, their raw ``vectors``) joined and ``removed`` left;
    ``index`` already holds the new state. Nothing is changed here (see :meth:`NeighbourTable.apply`)."""
    gone = frozenset(int(v) for v in removed)
    new = frozenset(int(v) for v in added)
    stale = [v for v in table.holding(gone) if v not in gone]
    lists = own_lists(index, vectors_of(stale), stale, table.width) if stale else {}
    lists.update(own_lists(index, vectors, list(added), table.width))
    entering = _entering(table, index, vectors, list(added), exact, gone | new | frozenset(stale))
    for x, (ids, sims) in entering.items():
        lists[x] = _merge(table, x, ids, sims)
    return NeighbourChange(lists, frozenset(v for v in gone if v in table))


def plan_delete(
    table: NeighbourTable, index: SpaceIndex, deleted: Sequence[int], vectors_of: VectorsOf
) -> NeighbourChange:
    """The lists after ``deleted`` leave; ``index`` still holds them (they are skipped)."""
    gone = frozenset(int(v) for v in deleted)
    stale = [v for v in table.holding(gone) if v not in gone]
    lists = own_lists(index, vectors_of(stale), stale, table.width, skip=gone) if stale else {}
    return NeighbourChange(lists, frozenset(v for v in gone if v in table))


def load_table(
    stored: Iterable[tuple[int, np.ndarray, np.ndarray] | int],
    live: np.ndarray,
    index: SpaceIndex,
    vectors_of: VectorsOf,
    *,
    exact: bool,
    space: str = "",
    width: int = MAX_CSLS_K,
) -> tuple[NeighbourTable, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """The table of a space from its stored lists, and the lists that had to be computed.

    A task without a stored list (a store of schema version 2, or written by a server
    that kept fewer neighbours) gets one from the index; so does one whose stored list
    fails its checksum or names a task that is not in the space, is longer than
    ``width`` or (flat) shorter than ``min(width, n - 1)``: derived data, recomputed from
    the checksummed vectors and logged, never served wrong. The caller persists the
    computed lists.
    """
    start = time.perf_counter()
    table = NeighbourTable(width)
    live_set = {int(v) for v in live}
    want = min(width, max(0, len(live_set) - 1))
    good: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    damaged = 0
    for item in stored:
        if isinstance(item, int):
            damaged += 1
            continue
        vec_id, ids, sims = item
        ok = (
            vec_id in live_set
            and len(ids) <= want
            and (not exact or len(ids) == want)
            and bool(np.all(np.isfinite(sims)))
            and bool(np.all(np.diff(sims) <= 0))
            and vec_id not in set(ids.tolist())
            and all(int(i) in live_set for i in ids)
        )
        if ok:
            good[vec_id] = (ids, sims)
        else:
            damaged += 1
    table.apply(NeighbourChange(good))
    missing = sorted(live_set - set(good))
    computed = own_lists(index, vectors_of(missing), missing, width) if missing else {}
    table.apply(NeighbourChange(computed))
    if damaged:
        log.warning(
            "space %r: %d stored neighbour lists were damaged or stale; recomputed from the vectors",
            space,
            damaged,
        )
    if computed:
        log.info(
            "space %r: computed the neighbour lists of %d of %d tasks in %.2fs",
            space,
            len(computed),
            len(live_set),
            time.perf_counter() - start,
        )
    return table, computed


# -------------------------------------------------------------------- queries


def query_radii(index: SpaceIndex, vectors: np.ndarray, k: int) -> np.ndarray:
    """r of query vectors: the mean cosine to their ``k`` nearest tasks of the space."""
    if index.ntotal == 0 or not len(vectors):
        return np.zeros(len(vectors))
    scores, ids = index.search(vectors, min(k, index.ntotal))
    valid = ids >= 0
    sums = np.where(valid, scores.astype(np.float64), 0.0).sum(axis=1)
    counts = valid.sum(axis=1)
    out: np.ndarray = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return out


@dataclass(frozen=True)
class CslsHit:
    """One search result: the task, its score (CSLS; a cosine search, which the store
    answers with these too, scores by the cosine itself) and its cosine to the query."""

    vec_id: int
    score: float
    cosine: float


def csls_search(
    index: SpaceIndex,
    table: NeighbourTable,
    queries: np.ndarray,
    radii: np.ndarray,
    exclude: Sequence[int],
    k: int,
    csls_k: int,
    allowed: np.ndarray | None,
    threshold: float | None = None,
) -> list[list[CslsHit]]:
    """Per query, up to ``k`` tasks best by CSLS (ties in cosine order), with CSLS >=
    ``threshold`` when one is given. ``radii`` is each query's r, ``exclude`` the vec_id
    each query leaves out (its own, -1 for none), ``allowed`` the candidates (None: all)."""
    candidates = len(allowed) if allowed is not None else len(table)
    r_min = table.min_radius(csls_k, allowed)
    limit = candidates + 1  # room for the query's own task among them
    results: list[list[CslsHit]] = [[] for _ in range(len(queries))]
    pending = list(range(len(queries)))
    fetch = min(limit, max(2 * k + 1, _FIRST_FETCH))
    while pending:
        scores, ids = index.search(queries[pending], fetch, allowed)
        unsettled: list[int] = []
        for qi, s_row, i_row in zip(pending, scores, ids, strict=True):
            valid = i_row >= 0
            returned = int(valid.sum())
            keep = valid & (i_row != exclude[qi])
            vid, cos = i_row[keep], s_row[keep].astype(np.float64)
            csls = 2.0 * cos - radii[qi] - table.radius_of(vid, csls_k)
            order = np.argsort(-csls, kind="stable")
            if threshold is not None:
                order = order[csls[order] >= threshold]
            top = order[:k]
            if returned >= fetch and fetch < limit:
                lowest = float(cos.min()) if len(cos) else float(s_row[valid].min())
                bound = 2.0 * lowest - radii[qi] - r_min  # the best any unfetched task can score
                kth = float(csls[top[-1]]) if len(top) == k else -np.inf
                if bound > kth and (threshold is None or bound >= threshold):
                    unsettled.append(qi)
                    continue
            results[qi] = [CslsHit(int(vid[j]), float(csls[j]), float(cos[j])) for j in top]
        pending = unsettled
        fetch = min(limit, 2 * fetch)
    return results
