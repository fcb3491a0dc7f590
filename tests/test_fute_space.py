"""Embedding spaces and the embedding file format."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fute.embedding import TaskEmbedding, TaskInfo, load_embedding, save_embedding
from fute.errors import EmbeddingFileError, SpaceMismatchError
from fute.similarity import cosine_matrix
from fute.space import (
    EmbeddingSpace,
    canonical_settings,
    check_one_space,
    check_same_space,
    space_differences,
)

SPACE = EmbeddingSpace(
    surrogate_name="mini",
    surrogate_hash="abc123",
    method="fim",
    settings='{"lr":1}',
    dim=4,
    library_version="0",
)


def emb(
    vec: list[float], space: EmbeddingSpace = SPACE, name: str = "t", kind: str = "dataset"
) -> TaskEmbedding:
    return TaskEmbedding(np.asarray(vec, dtype=np.float32), space, TaskInfo(name=name, kind=kind))  # type: ignore[arg-type]


def test_roundtrip_keeps_vector_space_and_task(tmp_path: Path) -> None:
    info = TaskInfo(
        name="sst", kind="dataset", task_type="sentiment", label_names=("neg", "pos"), tags=("en",)
    )
    e = TaskEmbedding(np.arange(4, dtype=np.float32), SPACE, info, full=np.ones(10, dtype=np.float32))
    path = save_embedding(e, tmp_path / "sub" / "e.safetensors", with_full=True)
    back = load_embedding(path, with_full=True)
    assert np.array_equal(back.vector, e.vector)
    assert back.space == SPACE
    assert back.space.key == SPACE.key
    assert back.task == info
    assert back.full is not None and back.full.shape == (10,)
    assert load_embedding(path).full is None
    assert not list((tmp_path / "sub").glob(".tmp-*"))


def test_cross_space_comparison_is_an_error_naming_the_difference() -> None:
    other = replace(SPACE, method="prompt")
    with pytest.raises(SpaceMismatchError, match=r"method: fim != prompt"):
        emb([1, 0, 0, 0]).cosine(emb([1, 0, 0, 0], other))
    with pytest.raises(SpaceMismatchError, match="surrogate_hash"):
        cosine_matrix([emb([1, 0, 0, 0]), emb([1, 0, 0, 0], replace(SPACE, surrogate_hash="zzz"))])


def test_corpus_rules() -> None:
    dataset_space = SPACE
    model_a = replace(SPACE, corpus="u1")
    model_b = replace(SPACE, corpus="u2")
    check_same_space(dataset_space, model_a)  # a dataset embedding does not depend on U
    check_same_space(model_a, replace(SPACE, corpus="u1"))
    with pytest.raises(SpaceMismatchError, match="corpus"):
        check_same_space(model_a, model_b)
    assert model_a.key == dataset_space.key  # one index holds both kinds


def test_a_dataset_does_not_make_two_corpora_comparable() -> None:
    # Each model passes against the dataset, but the two models are on different U.
    dataset, on_u1, on_u2 = (
        emb([1, 0, 0, 0], name="d"),
        emb([1, 1, 0, 0], replace(SPACE, corpus="u1"), "m1"),
        emb([0, 1, 0, 0], replace(SPACE, corpus="u2"), "m2"),
    )
    with pytest.raises(SpaceMismatchError, match=r"'m1' and 'm2'.*corpus: u1 != u2"):
        cosine_matrix([dataset, on_u1, on_u2])
    with pytest.raises(SpaceMismatchError, match="corpus: u1 != u2"):
        check_one_space([(dataset.space, "d"), (on_u1.space, "m1"), (on_u2.space, "m2")])
    # one U, in any order with datasets: allowed, and the shared space is the models'
    shared = check_one_space([(SPACE, "d"), (on_u1.space, "m1"), (SPACE, "d2"), (on_u1.space, "m3")])
    assert shared.corpus == "u1"
    assert check_one_space([(SPACE, "d"), (SPACE, "d2")]).corpus is None
    assert cosine_matrix([dataset, on_u1]).shape == (2, 2)
    with pytest.raises(SpaceMismatchError, match="method: fim != prompt"):
        check_one_space([(SPACE, "d"), (on_u1.space, "m1"), (replace(SPACE, method="prompt"), "x")])


def test_key_depends_on_identity_not_library_version() -> None:
    assert replace(SPACE, library_version="9.9").key == SPACE.key
    assert replace(SPACE, dim=8).key != SPACE.key
    assert replace(SPACE, reduction_seed=1).key != SPACE.key


def test_cosine_values() -> None:
    a, b = emb([1, 0, 0, 0], name="a"), emb([1, 1, 0, 0], name="b")
    assert a.cosine(b) == pytest.approx(1 / np.sqrt(2))
    sims = cosine_matrix([a, b, emb([0, 0, 0, -2], name="c")])
    assert sims[0, 2] == pytest.approx(0.0)
    assert np.allclose(np.diag(sims), 1.0)


def test_bad_vectors_and_files(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingFileError, match="shape"):
        emb([1, 2, 3])
    with pytest.raises(EmbeddingFileError, match="NaN"):
        emb([1, float("nan"), 0, 0])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01 definitely not safetensors")
    with pytest.raises(EmbeddingFileError, match="not a readable safetensors"):
        load_embedding(junk)
    with pytest.raises(EmbeddingFileError, match="no such embedding file"):
        load_embedding(tmp_path / "absent.safetensors")
    from safetensors.numpy import save_file

    save_file({"vector": np.zeros(4, dtype=np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(EmbeddingFileError, match="format None"):
        load_embedding(tmp_path / "foreign.safetensors")


def test_settings_differences_are_listed_key_by_key_as_flags() -> None:
    a = replace(SPACE, settings=canonical_settings({"estimator": "mean_sq", "epochs": 1}))
    b = replace(SPACE, settings=canonical_settings({"estimator": "batch_sq", "epochs": 1, "lr": 0.1}))
    assert space_differences(a, b) == ["estimator: mean_sq != batch_sq", "lr: none != 0.1"]
    assert space_differences(a, a) == []
    with pytest.raises(SpaceMismatchError, match="estimator: mean_sq != batch_sq"):
        check_same_space(a, b)
