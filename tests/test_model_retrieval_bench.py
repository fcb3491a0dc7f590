"""benchmarks/model_retrieval.py's scoring: similarity blocks, hub statistics, reverse P@1."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.model_retrieval import CASES, _rows, _summary, model_dataset_similarity
from fute.embedding import TaskEmbedding, TaskInfo
from fute.similarity import cosine_matrix, csls_matrix
from fute.space import EmbeddingSpace

SPACE = EmbeddingSpace("m", "h", "fim", "{}", 6)


def _emb(name: str, vec: list[float], kind: str = "dataset", task_type: str = "") -> TaskEmbedding:
    info = TaskInfo(name=name, kind=kind, task_type=task_type)  # type: ignore[arg-type]
    return TaskEmbedding(np.array(vec, dtype=np.float32), SPACE, info)


def test_similarity_blocks_and_hub_summary() -> None:
    datasets = [
        _emb("senti", [1, 0, 0, 0, 0, 0.1], task_type="sentiment"),
        _emb("spam", [0, 1, 0, 0, 0, 0.1], task_type="spam"),
        _emb("hub", [0.5, 0.5, 1, 0, 0, 0.1], task_type="genre"),
    ]
    models = [
        _emb("vader", [1, 0, 0.8, 0.5, 0, 0], kind="model"),
        _emb("profanity-check", [0, 1, 0.8, 0, 0.5, 0], kind="model"),
    ]
    cos = model_dataset_similarity(models, datasets, "cosine")
    np.testing.assert_allclose(cos, cosine_matrix([*datasets, *models])[3:, :3])
    csls = model_dataset_similarity(models, datasets, "csls2")
    np.testing.assert_allclose(csls, csls_matrix(cosine_matrix([*datasets, *models]), 2)[3:, :3])
    cases = {c.key: c for c in CASES}
    entries = [(cases["vader"], models[0], 0.0), (cases["profanity-check"], models[1], 0.0)]
    names = [d.task.name for d in datasets]
    types = [d.task.task_type for d in datasets]
    rows = _rows(entries, cos, names, types)
    summary = _summary(rows, names, types)
    assert summary["n_models"] == 2 and summary["distinct_top1"] == len(summary["top1_counts"])  # type: ignore[arg-type]
    # the hub dataset is nearer to both models than their own tasks are, by cosine ...
    assert [r["top3"][0] for r in rows] == ["hub", "hub"]  # type: ignore[index]
    assert summary["top_hub"] == "hub" and summary["top_hub_count"] == 2 and summary["p_at_1"] == 0.0
    # ... and CSLS, which discounts the hub's closeness to everything, gives each its own
    rows_csls = _rows(entries, csls, names, types)
    assert [r["top3"][0] for r in rows_csls] == ["senti", "spam"]  # type: ignore[index]
    summary_csls = _summary(rows_csls, names, types)
    assert summary_csls["p_at_1"] == 1.0 and summary_csls["dataset_to_model_p_at_1"] == 1.0


def test_models_on_different_u_are_scored_in_spaces_of_their_own() -> None:
    from dataclasses import replace

    datasets = [_emb("a", [1, 0, 0, 0, 0, 0]), _emb("b", [0, 1, 0, 0, 0, 0]), _emb("c", [1, 1, 1, 0, 0, 0])]
    on_u1 = [_emb("m1", [1, 0.2, 0, 1, 0, 0], kind="model"), _emb("m2", [0.1, 1, 0, 0, 1, 0], kind="model")]
    on_u2 = [_emb("m3", [0, 0.3, 1, 0, 0, 1], kind="model")]
    on_u1 = [TaskEmbedding(m.vector, replace(SPACE, corpus="u1"), m.task) for m in on_u1]
    on_u2 = [TaskEmbedding(m.vector, replace(SPACE, corpus="u2"), m.task) for m in on_u2]
    models = [on_u1[0], on_u2[0], on_u1[1]]  # interleaved: rows must come back in this order
    for measure in ("cosine", "csls2"):
        got = model_dataset_similarity(models, datasets, measure)
        one = model_dataset_similarity(on_u1, datasets, measure)
        two = model_dataset_similarity(on_u2, datasets, measure)
        np.testing.assert_allclose(got, np.vstack([one[0], two[0], one[1]]))
    # CSLS's r of a u1 model is taken among datasets and u1 models only
    cos = cosine_matrix([*datasets, *on_u1])
    np.testing.assert_allclose(
        model_dataset_similarity(on_u1, datasets, "csls2"), csls_matrix(cos, 2)[3:, :3]
    )


def test_shuffled_labels_keep_inputs_and_label_counts() -> None:
    import collections

    from benchmarks.label_contrast import contrast, shuffle_labels
    from benchmarks.model_retrieval import SUITE
    from fute.data import load_task

    task = load_task(SUITE / "data" / "sms_spam" / "train.jsonl.gz", name="sms_spam")
    null = shuffle_labels(task)
    assert [(e.text, e.text_pair) for e in null.examples] == [(e.text, e.text_pair) for e in task.examples]
    assert collections.Counter(e.label for e in null.examples) == collections.Counter(
        e.label for e in task.examples
    )
    moved = sum(a.label != b.label for a, b in zip(task.examples, null.examples, strict=True))
    assert moved > len(task.examples) // 10  # spam is rare, yet many labels change
    assert shuffle_labels(task) == null  # seeded
    a, b = _emb("a", [1, 2, 3, 4, 5, 6]), _emb("b", [1, 1, 1, 1, 1, 1])
    assert contrast(a, b).vector.tolist() == [0, 1, 2, 3, 4, 5] and contrast(a, b).task == a.task


def test_contrast_over_several_permutations_subtracts_their_mean() -> None:
    import pytest

    from benchmarks.label_contrast import contrast, null_name, shuffle_labels
    from benchmarks.model_retrieval import SUITE
    from fute.data import load_task

    a = _emb("a", [4, 4, 4, 4, 4, 4])
    nulls = [_emb("n0", [1, 1, 1, 1, 1, 1]), _emb("n1", [3, 1, 5, 1, 1, 1])]
    assert contrast(a, nulls).vector.tolist() == [2, 3, 1, 3, 3, 3]
    assert contrast(a, nulls[:1]).vector.tolist() == contrast(a, nulls[0]).vector.tolist()
    with pytest.raises(ValueError, match="at least one"):
        contrast(a, [])
    # Seed 0 keeps the file name of the single-seed runs; other seeds get their own files.
    assert null_name("x.abc.safetensors", 0) == "x.abc.shuffled.safetensors"
    assert null_name("x.abc.safetensors", 2) == "x.abc.shuffled2.safetensors"
    task = load_task(SUITE / "data" / "sms_spam" / "train.jsonl.gz", name="sms_spam")
    labels = [[e.label for e in shuffle_labels(task, seed).examples] for seed in (0, 1)]
    assert labels[0] != labels[1]  # another seed, another permutation


def test_permutation_noise_estimates_one_twins_spread() -> None:
    from benchmarks.label_contrast import permutation_noise

    # twins m + a*u_i (orthonormal u_i), task m + b*w (w orthogonal to them): one twin's
    # spread is a, the task's distance from the twins' mean sqrt(b^2 + a^2 / N).
    m, a, b, n = np.array([3.0, 0, 0, 0, 0, 0]), 0.5, 2.0, 3
    twins = [_emb(f"n{i}", list(m + a * np.eye(6)[i + 1])) for i in range(n)]
    task = _emb("t", list(m + b * np.eye(6)[5]))
    norm = float(np.linalg.norm(task.vector))
    signal, noise = permutation_noise(task, twins)
    assert noise == pytest.approx(a / norm, rel=1e-6)
    assert signal == pytest.approx(np.sqrt(b**2 + a**2 / n) / norm, rel=1e-6)
    with pytest.raises(ValueError, match="two"):
        permutation_noise(task, twins[:1])
