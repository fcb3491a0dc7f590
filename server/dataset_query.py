"""A labelled data file as a query of a server's space: embedded with exactly that space's recipe.

``fute rank --data FILE`` and ``fute search --data FILE`` read the space's identity from
the server, rebuild its method (:func:`fute.methods.from_space.method_for_space`, which
refuses a surrogate with other weights and proves the recipe by a round trip), embed the
file and query with the identity attached, so the server checks it once more.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fute.data.records import TaskData
from fute.embedding import TaskEmbedding, TaskInfo
from fute.errors import FuteError
from fute.space import EmbeddingSpace
from fute_client.contract import TaskSearchAPI
from fute_client.types import Condition, Filter, Space, SpaceIdentity
from server.embedding_upload import embedding_space_of, identity_of

if TYPE_CHECKING:
    from fute.surrogate import Surrogate

# A re-embedded copy of an indexed task scores 1 up to float32 rounding of its cosine.
SAME_TASK_SCORE = 1.0 - 1e-5


@dataclass(frozen=True)
class DatasetQuery:
    """A data file embedded into a space: the vector to send and what it was made from."""

    embedding: TaskEmbedding
    identity: SpaceIdentity
    path: Path
    seconds: float
    rows: int  # labelled examples in the file
    cap: int  # the method's max_examples
    given: str = ""  # the path as the user wrote it

    @property
    def n_examples(self) -> int:
        """Examples that went into the embedding (after the cap)."""
        return self.embedding.task.n_examples

    def describe(self, space: str) -> str:
        """One line for the user: what was embedded, how much of it, where, how long."""
        return (
            f"{self.given or self.path}: {self.n_examples} of {self.rows} examples (cap {self.cap}, "
            f"--max-examples) embedded into space {space!r} in {self.seconds:.1f} s"
        )


def _recipe_of(space: Space) -> EmbeddingSpace:
    if space.identity is None:
        raise FuteError(
            f"space {space.name!r} was created without an embedding-space identity, so no recipe "
            "is known to embed a file for it; query it with a vector"
        )
    return embedding_space_of(space.identity, space.dim)


def _embed_task(
    target: EmbeddingSpace,
    task: TaskData,
    path: Path,
    surrogate: Surrogate,
    *,
    max_examples: int | None,
    progress: bool,
    given: str,
) -> DatasetQuery:
    """Embed a loaded task with the recipe of ``target`` (the one place both callers share)."""
    from fute.methods.from_space import method_for_space

    method = method_for_space(target, surrogate, max_examples=max_examples)
    info = TaskInfo.of_dataset(task, source=str(path.resolve()))
    t0 = time.perf_counter()
    emb = method.embed(task, info, progress=progress)
    seconds = time.perf_counter() - t0
    cap = method.settings.max_examples  # every method has one (EmbeddingMethod.settings)
    return DatasetQuery(emb, identity_of(emb.space), path.resolve(), seconds, len(task.examples), cap, given)


def embed_for_space(space: Space, args: argparse.Namespace) -> DatasetQuery:
    """Embed ``args.data`` (read with the ``fute embed`` file options) into ``space``.

    Raises:
        FuteError: the space has no identity, the surrogate's weights differ from the
            space's, the recipe cannot be reproduced, or the file is not a valid task.
    """
    from fute.cli.args import load_task_from_args
    from fute.runtime import configure_threads
    from fute.surrogate import load_surrogate

    target = _recipe_of(space)
    configure_threads(args.threads)
    task = load_task_from_args(args)  # a bad file fails before the model loads
    surrogate = load_surrogate(args.surrogate or target.surrogate_name)
    return _embed_task(
        target,
        task,
        Path(args.data),
        surrogate,
        max_examples=args.max_examples,
        progress=not args.quiet,
        given=str(args.data),
    )


def is_same_task(query: DatasetQuery, hit_source_path: str, score: float) -> bool:
    """Whether a hit is the query's own data already in the index (left out of a ranking)."""
    if hit_source_path and Path(hit_source_path).resolve() == query.path:
        return True
    return score >= SAME_TASK_SCORE


def indexed_copy(api: TaskSearchAPI, space: str, query: DatasetQuery) -> list[str]:
    """Ids of the query file's own copy in ``space``: its nearest task, when that is the same file
    or the same vector. A ranking leaves it out of the candidate set itself, so that the
    predictions are standardised over the real candidates only."""
    (nearest,) = api.search(space, [query.embedding.vector], k=1, expected_identity=query.identity)
    return [h.id for h in nearest if is_same_task(query, h.task.source.dataset_path, h.score)]


def without_ids(flt: Filter | None, ids: Sequence[str]) -> Filter | None:
    """``flt`` that also refuses the tasks ``ids`` (unchanged when there are none)."""
    if not ids:
        return flt
    base = flt or Filter()
    return Filter(base.must, (*base.must_not, Condition("id", tuple(ids))))


@dataclass(frozen=True)
class FileOptions:
    """How to read a data file: the ``fute embed`` file options, as values instead of argparse."""

    name: str | None = None
    fmt: str | None = None  # a fute.data format name; None: from the file name
    text_field: str = "text"
    pair_field: str = "text_pair"
    label_field: str = "label"
    max_examples: int | None = None  # None: the method's own cap


def embed_path_for_space(
    space: Space,
    path: Path,
    options: FileOptions,
    surrogate_for: Callable[[str], Surrogate],
    on_stage: Callable[[str], None] = lambda stage: None,
) -> DatasetQuery:
    """Embed the file ``path`` into ``space`` with exactly its recipe, as :func:`embed_for_space`.

    ``surrogate_for(name)`` supplies the surrogate the space names (a server keeps one per
    process); ``on_stage`` hears ``"reading"``, ``"loading surrogate"`` and ``"embedding"``
    as each starts. Raises what :func:`embed_for_space` raises, for the same reasons.
    """
    from fute.data import load_task
    from fute.data.loading import FieldMap

    target = _recipe_of(space)
    on_stage("reading")
    fields = FieldMap(text=options.text_field, text_pair=options.pair_field, label=options.label_field)
    task = load_task(path, name=options.name, fmt=options.fmt, fields=fields)  # type: ignore[arg-type]
    on_stage("loading surrogate")
    surrogate = surrogate_for(target.surrogate_name)
    on_stage("embedding")
    return _embed_task(
        target, task, path, surrogate, max_examples=options.max_examples, progress=False, given=path.name
    )
