"""Label-contrast embeddings (issue 16): what a task's labels add to its embedding.

A label-contrast embedding is the task's vector minus the vector of the same inputs with
uninformative labels: a dataset's examples with their labels permuted, a model's outputs
permuted across U. Several permutations (seeds) can be averaged into the null, so that one
permutation's noise does not decide. Used by ``benchmarks/model_retrieval.py`` and
``benchmarks/suite_embeddings.py``.
"""

from __future__ import annotations

import numpy as np

from fute.data.records import Example, TaskData
from fute.embedding import TaskEmbedding

#: Seed of the first label permutation behind a label-contrast embedding; N seeds are
#: CONTRAST_SEED .. CONTRAST_SEED + N - 1.
CONTRAST_SEED = 0


def shuffle_labels(task: TaskData, seed: int = CONTRAST_SEED) -> TaskData:
    """The same inputs with their labels permuted (seeded): what the labels add is gone."""
    perm = np.random.default_rng(seed).permutation(len(task.examples))
    examples = tuple(
        Example(text=ex.text, label=task.examples[int(j)].label, text_pair=ex.text_pair)
        for ex, j in zip(task.examples, perm, strict=True)
    )
    return TaskData(task.name, examples, task.label_kind, task.label_names, task.source)


def contrast(emb: TaskEmbedding, null: TaskEmbedding | list[TaskEmbedding]) -> TaskEmbedding:
    """Label-contrast embedding: the task's vector minus its shuffled-label twin's (the mean
    of several twins, each another permutation, when given a list)."""
    nulls = null if isinstance(null, list) else [null]
    if not nulls:
        raise ValueError("contrast needs at least one shuffled-label embedding")
    mean = np.mean([n.vector for n in nulls], axis=0).astype(emb.vector.dtype)
    return TaskEmbedding(emb.vector - mean, emb.space, emb.task)


def permutation_noise(emb: TaskEmbedding, nulls: list[TaskEmbedding]) -> tuple[float, float]:
    """(signal, noise) of a label contrast, both as fractions of the task vector's norm:
    the task's distance from the mean of its shuffled twins, and one twin's distance from
    that mean (the root mean square over twins, scaled by sqrt(N / (N - 1)) so that it
    estimates one draw's spread, not the spread around a mean it helped set). A contrast
    whose signal is not well above its noise is mostly permutation noise."""
    if len(nulls) < 2:
        raise ValueError("permutation noise needs at least two shuffled twins")
    x = emb.vector.astype(np.float64)
    twins = np.stack([n.vector.astype(np.float64) for n in nulls])
    mean = twins.mean(axis=0)
    scale = float(np.linalg.norm(x))
    spread = float(np.sqrt(np.mean(np.sum((twins - mean) ** 2, axis=1)) * len(nulls) / (len(nulls) - 1)))
    return float(np.linalg.norm(x - mean)) / scale, spread / scale


def null_name(name: str, seed: int) -> str:
    """File name of the shuffled twin of ``name`` under permutation ``seed`` (seed 0 keeps
    the name of the runs made before several seeds existed, so their cache is reused)."""
    suffix = ".shuffled" if seed == CONTRAST_SEED else f".shuffled{seed}"
    return name.replace(".safetensors", f"{suffix}.safetensors")
