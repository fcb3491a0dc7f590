"""Plain dataclasses of the TaskSearch API (what callers see instead of protobuf)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, overload

import numpy as np

TaskKind = Literal["", "dataset", "model"]
TASK_KINDS: tuple[TaskKind, ...] = ("", "dataset", "model")

FilterField = Literal["kind", "task_type", "tag", "name", "id"]
FILTER_FIELDS: tuple[FilterField, ...] = ("kind", "task_type", "tag", "name", "id")

# flat, flat_fp16, flat_sq8: exact (the last two scan float16 / 8-bit codes, then re-score
# the candidates in float32); ivf, hnsw: approximate. See docs/service.md, "Index backends".
Backend = Literal["flat", "ivf", "hnsw", "flat_fp16", "flat_sq8"]
# How RankSourceTasks orders its candidates: by predicted transfer gain (the server's
# default) or by the similarity asked (cosine or CSLS).
RankOrder = Literal["predicted_gain", "similarity"]
RANK_ORDERS: tuple[RankOrder, ...] = ("predicted_gain", "similarity")
BACKENDS: tuple[Backend, ...] = ("flat", "ivf", "hnsw", "flat_fp16", "flat_sq8")


# How a search or ranking scores a candidate: cosine, or CSLS (hub-aware: 2·cos(x, y) −
# r(x) − r(y), r the mean cosine to the csls_k nearest other tasks of the space).
Similarity = Literal["cosine", "csls"]
SIMILARITIES: tuple[Similarity, ...] = ("cosine", "csls")


@dataclass(frozen=True)
class OutputInfo:
    """How much a model's outputs on the unlabelled corpus U say, as stored with the task
    (``fute.informativeness.OutputInformation``): an embedding of outputs that barely vary
    is mostly the signature of U's inputs.

    ``answer_entropy`` (entropy of the answers over log of ``n_answers``), ``majority_share``,
    ``spread`` and ``source_nmi`` lie in [0, 1]; ``source_mi`` (bits shared with U's input
    sources) is >= 0; the two ``source_`` values are ``None`` when U records no sources.
    """

    n: int
    n_answers: int
    answer_entropy: float
    majority_share: float
    majority_index: int
    spread: float
    source_mi: float | None = None
    source_nmi: float | None = None


@dataclass(frozen=True)
class TaskSource:
    """Where a task embedding came from."""

    dataset_path: str = ""
    model: str = ""
    prompt: str = ""


@dataclass(frozen=True)
class Task:
    """A stored task: id, vector (``None`` when not requested) and metadata.

    ``output_info``: for a model task, how much its outputs on U say (``None`` for
    datasets and for tasks stored without it).
    """

    id: str
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    name: str = ""
    kind: TaskKind = ""
    task_type: str = ""
    label_names: tuple[str, ...] = ()
    source: TaskSource = TaskSource()
    tags: tuple[str, ...] = ()
    created_time: datetime | None = None
    updated_time: datetime | None = None
    output_info: OutputInfo | None = None


@dataclass(frozen=True)
class Condition:
    """True when ``field`` equals any of ``any_of`` (for ``tag``: the task has any of them)."""

    field: FilterField
    any_of: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.field not in FILTER_FIELDS:
            raise ValueError(f"unknown filter field {self.field!r}; valid: {FILTER_FIELDS}")


@dataclass(frozen=True)
class Filter:
    """Every ``must`` holds and no ``must_not`` holds; empty matches everything."""

    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def is_empty(self) -> bool:
        """Whether the filter matches every task."""
        return not self.must and not self.must_not


@dataclass(frozen=True)
class SpaceIdentity:
    """The identity fields of a fute ``EmbeddingSpace`` (dimension kept on :class:`Space`)."""

    surrogate_name: str
    surrogate_hash: str
    method: str
    settings: str
    reduction: str = "none"
    reduction_seed: int = 0
    corpus: str = ""
    algorithm_version: int = 1


@dataclass(frozen=True)
class Space:
    """A vector space on the server: one index, one dimension, one identity."""

    name: str
    dim: int
    metric: str = "cosine"
    backend: Backend = "flat"
    identity: SpaceIdentity | None = None
    space_key: str = ""
    task_count: int = 0
    created_time: datetime | None = None
    #: Every task's nearest other tasks are kept, so CSLS similarity can be asked.
    keep_neighbours: bool = False


@dataclass(frozen=True)
class Hit:
    """One search result: the task (vector only if requested) and its cosine score.

    In a source ranking, ``predicted_gain`` (expected target score after this source
    minus the target alone) and ``p_help`` (probability that gain is positive) are set;
    elsewhere they are ``None``.
    """

    id: str
    score: float
    task: Task
    predicted_gain: float | None = None
    p_help: float | None = None


@dataclass(frozen=True)
class Ranking(Sequence[Hit]):
    """Candidate sources best first, with the advice of the whole ranking.

    A sequence of :class:`Hit` (iterate, index, ``len``), plus ``none_expected_to_help``
    (no candidate reaches P(help) 0.5: train on the target alone), ``advice`` in words,
    ``candidates``, how many the predictions were standardised over, and ``order``, how
    the hits are ordered (by predicted gain, or by the similarity asked).
    """

    hits: tuple[Hit, ...]
    none_expected_to_help: bool = False
    advice: str = ""
    candidates: int = 0
    order: RankOrder = "similarity"

    @overload
    def __getitem__(self, i: int) -> Hit: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Hit]: ...
    def __getitem__(self, i: int | slice) -> Hit | Sequence[Hit]:
        return self.hits[i]

    def __len__(self) -> int:
        return len(self.hits)


@dataclass(frozen=True)
class ItemError:
    """Why one item of a batch write failed; ``code`` is a gRPC status code name."""

    id: str
    code: str
    message: str


@dataclass(frozen=True)
class UpsertResult:
    """Outcome of a batch upsert: the failed items are listed, the rest are stored."""

    upserted: int
    failed: int
    errors: tuple[ItemError, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the whole store, restorable by name."""

    name: str
    sha256: str
    size_bytes: int
    created_time: datetime | None = None


@dataclass(frozen=True)
class ServerInfo:
    """What the server runs on and its limits."""

    version: str
    index_library: str
    device: str
    gpu_count: int
    backends: tuple[str, ...]
    max_k: int
    max_queries: int
    max_message_bytes: int
    auth_enabled: bool


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_page_token`` is empty on the last page."""

    tasks: tuple[Task, ...]
    next_page_token: str


def iter_pages(fetch: Callable[[str], Page]) -> Iterator[Task]:
    """Every task of a paged listing: ``fetch(page_token)`` returns one page.

    Shared by the gRPC client and the in-process store so both page the same way.
    """
    token = ""
    while True:
        page = fetch(token)
        yield from page.tasks
        token = page.next_page_token
        if not token:
            return


QueryTarget = str | np.ndarray
"""A query: the id of a stored task, or a 1-d float vector."""
