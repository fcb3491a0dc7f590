"""Map fute's ``EmbeddingSpace``/``TaskEmbedding`` onto the TaskSearch API types.

Lives in ``server`` because ``fute_client`` must not import ``fute``; the indexer uses it
to upload ``TaskEmbedding`` files through either a client or an in-process store.
"""

from __future__ import annotations

from dataclasses import asdict

from fute.embedding import TaskEmbedding
from fute.informativeness import OutputInformation
from fute.space import EmbeddingSpace, check_one_space
from fute_client.contract import TaskSearchAPI
from fute_client.types import OutputInfo, SpaceIdentity, Task, TaskSource, UpsertResult


def identity_of(space: EmbeddingSpace) -> SpaceIdentity:
    """The API identity of a fute embedding space (dimension travels separately)."""
    return SpaceIdentity(
        surrogate_name=space.surrogate_name,
        surrogate_hash=space.surrogate_hash,
        method=space.method,
        settings=space.settings,
        reduction=space.reduction,
        reduction_seed=space.reduction_seed,
        corpus=space.corpus or "",
        algorithm_version=space.algorithm_version,
    )


def embedding_space_of(identity: SpaceIdentity, dim: int) -> EmbeddingSpace:
    """Inverse of :func:`identity_of`."""
    return EmbeddingSpace(
        surrogate_name=identity.surrogate_name,
        surrogate_hash=identity.surrogate_hash,
        method=identity.method,
        settings=identity.settings,
        dim=dim,
        reduction=identity.reduction,
        reduction_seed=identity.reduction_seed,
        corpus=identity.corpus or None,
        algorithm_version=identity.algorithm_version,
    )


def output_info_of(information: OutputInformation | None) -> OutputInfo | None:
    """The API record of a model's output information (``TaskInfo.output_info``)."""
    # The two records have the same fields by design: the contract may not import fute.
    return None if information is None else OutputInfo(**asdict(information))


def information_of(info: OutputInfo | None) -> OutputInformation | None:
    """Inverse of :func:`output_info_of` (for fute's ``describe`` and ``is_low``)."""
    return None if info is None else OutputInformation(**asdict(info))


def task_of(emb: TaskEmbedding, task_id: str | None = None) -> Task:
    """A :class:`Task` for an embedding; the id defaults to the task's name.

    ``TaskInfo.source`` is one string: a model folder for model embeddings, a data
    path for dataset embeddings. A model's output information (recorded in the file by
    ``fute embed-model``) travels as ``output_info``.
    """
    info = emb.task
    source = TaskSource(model=info.source) if info.kind == "model" else TaskSource(dataset_path=info.source)
    return Task(
        id=task_id or info.name,
        vector=emb.vector,
        name=info.name,
        kind=info.kind,
        task_type=info.task_type,
        label_names=tuple(info.label_names),
        source=source,
        tags=tuple(info.tags),
        output_info=output_info_of(OutputInformation.from_pairs(info.output_info)),
    )


def upload_embeddings(target: TaskSearchAPI, space: str, embeddings: list[TaskEmbedding]) -> UpsertResult:
    """Upsert embeddings that share one embedding space, checked against the server's.

    The server answers FAILED_PRECONDITION when its space has a different identity.
    """
    if not embeddings:
        return UpsertResult(0, 0)
    # Raises SpaceMismatchError before anything is sent; the shared space carries the
    # models' corpus when there are models, so the server checks their U too.
    shared = check_one_space([(e.space, repr(e.task.name)) for e in embeddings])
    return target.upsert(space, [task_of(e) for e in embeddings], expected_identity=identity_of(shared))
