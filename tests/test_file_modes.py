"""Files and folders written atomically get the user's umask, as a plain open() would give."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
from fute.space import EmbeddingSpace


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    mask: int = request.param
    old = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_embedding_file_follows_the_umask(tmp_path: Path, umask: int) -> None:
    emb = TaskEmbedding(np.ones(4, dtype=np.float32), EmbeddingSpace("m", "h", "fim", "{}", 4), TaskInfo("x"))
    out = save_embedding(emb, tmp_path / "e.safetensors")
    assert mode(out) == 0o666 & ~umask  # mkstemp alone gives 0600


def test_prediction_cache_follows_the_umask(tmp_path: Path, umask: int) -> None:
    from fute.corpus import load_corpus
    from fute.model_embedding import predict_corpus
    from fute.models import AdapterOptions, load_adapter

    adapter = load_adapter("callable:vader", AdapterOptions())
    predict_corpus(adapter, load_corpus(None, limit=8), cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.glob("*.npz")
    assert mode(cached) == 0o666 & ~umask


def test_classifier_folder_follows_the_umask(tmp_path: Path, umask: int) -> None:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from fute.models.finetune import save_classifier
    from fute.surrogate import packaged_model_dir

    config = BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_dir("all-MiniLM-L6-v2"), local_files_only=True)
    out = save_classifier(BertForSequenceClassification(config), tokenizer, tmp_path / "clf", {})
    assert mode(out) == 0o777 & ~umask  # mkdtemp alone gives 0700
    assert mode(out / "fute_finetune.json") == 0o666 & ~umask
