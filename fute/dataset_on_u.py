"""A labelled dataset seen on U: its task embedding taken on the models' own inputs.

A dataset task embedding reads the dataset's inputs; a model task embedding reads U.
Compared with each other, what the inputs look like dominates what the labels say
(docs/models.md: on the packaged U every model had the long-prose datasets nearest and
the spam datasets last, spam models included). Seen on U, a dataset is the model task
embedding, on the same U as the models, of a classifier fine-tuned on it: the inputs are
then the same on both sides and only what the labels mean separates the tasks.

The classifier is the surrogate fine-tuned with the transfer ground truth's source recipe
(:class:`fute.transfer.TransferSettings`: 2 epochs, lr 1e-4, 64 tokens), the recipe of the
classifiers this representation was measured with (``benchmarks/model_retrieval.py
--datasets-on-u``).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from fute.corpus import UnlabelledCorpus
from fute.data.records import TaskData
from fute.embedding import TaskEmbedding, TaskInfo
from fute.methods import EmbeddingMethod
from fute.model_embedding import embed_model
from fute.models import load_adapter
from fute.models.finetune import FinetuneSettings, finetune_classifier
from fute.surrogate import Surrogate
from fute.transfer import TransferSettings

#: Tag on every embedding made here, so a store can tell a dataset seen on U from a
#: dataset embedded on its own inputs.
ON_U_TAG = "on-u"


def embed_dataset_on_u(
    task: TaskData,
    method: EmbeddingMethod,
    surrogate: Surrogate,
    corpus: UnlabelledCorpus,
    info: TaskInfo,
    *,
    settings: FinetuneSettings | None = None,
    progress: bool = True,
) -> TaskEmbedding:
    """The embedding of ``task`` seen on ``corpus``: a classifier fine-tuned on it
    (``settings``, the transfer source recipe by default) labels U, and those outputs are
    embedded like a model's.

    Guarantees: the result lives in U's space (``space.corpus`` is ``corpus.hash``), so it
    compares with models on that U and is refused against models on another; it keeps
    ``info``'s name, kind ``dataset``, task type, source and tags plus :data:`ON_U_TAG`; it
    records the classifier's output information on U. The classifier is temporary, and its
    predictions are not cached (they belong to no model a user has).
    """
    recipe = settings or TransferSettings().source
    with tempfile.TemporaryDirectory(prefix="fute-on-u-") as tmp:
        folder = finetune_classifier(surrogate, task, Path(tmp) / "classifier", recipe, progress=progress)
        adapter = load_adapter(f"hf:{folder}")
        as_model = TaskInfo(name=info.name, kind="model", task_type=info.task_type, source=info.source)
        emb = embed_model(adapter, method, corpus, as_model, use_cache=False, progress=progress)
    seen = replace(emb.task, kind="dataset", source=info.source, tags=(*info.tags, ON_U_TAG))
    return TaskEmbedding(emb.vector, emb.space, seen)
