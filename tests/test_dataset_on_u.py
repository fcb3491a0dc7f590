"""``fute embed --on-u``: a dataset seen on U, against the two commands it stands for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_model import embed_model_argv

from fute.cli import main
from fute.corpus import load_corpus
from fute.dataset_on_u import ON_U_TAG
from fute.embedding import load_embedding
from fute.errors import SpaceMismatchError
from fute.similarity import cosine_matrix

# The tiny surrogate's sizes (tiny_model.embed_model_argv): FIM dim 128, 32 tokens.
SIZES = ("--set", "dim=128", "--set", "max_length=32")


def _spam_task(path: Path, n: int = 40) -> Path:
    spam = ["win a free prize now", "call to claim your cash reward", "free entry txt to win"]
    ham = ["see you at lunch", "the meeting moved to friday", "thanks for the notes"]
    rows = [
        json.dumps({"text": f"{(spam if i % 2 else ham)[i % 3]} {i}", "label": "spam" if i % 2 else "ham"})
        for i in range(n)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_on_u_is_the_classifier_of_the_dataset_embedded_on_u(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _spam_task(tmp_path / "spam.jsonl")
    on_u = tmp_path / "spam.on-u.safetensors"
    argv = ["embed", str(data), "--on-u", "--corpus-size", "16", "--surrogate", str(tiny_folder), *SIZES]
    assert main([*argv, "--task-type", "spam", "--tag", "mine", "-q", "-o", str(on_u)]) == 0
    printed = capsys.readouterr().out
    assert "seen on U" in printed and "its classifier's outputs on U" in printed
    emb = load_embedding(on_u)
    assert emb.task.kind == "dataset" and emb.task.task_type == "spam"
    assert emb.task.tags == ("mine", ON_U_TAG) and emb.task.label_names == ("ham", "spam")
    assert emb.space.corpus == load_corpus(limit=16).hash and emb.task.output_info

    # The same thing by hand: fine-tune with the transfer source recipe, embed it on U.
    clf = tmp_path / "clf"
    recipe = ["--epochs", "2", "--lr", "1e-4", "--max-length", "64", "--batch-size", "32", "-q"]
    assert main(["finetune", str(data), "-o", str(clf), "--surrogate", str(tiny_folder), *recipe]) == 0
    by_hand = tmp_path / "clf.safetensors"
    argv = embed_model_argv(f"hf:{clf}", by_hand, tiny_folder, "--corpus-size", "16", "--no-cache")
    assert main(argv) == 0
    np.testing.assert_allclose(emb.vector, load_embedding(by_hand).vector, rtol=1e-5, atol=1e-6)


def test_on_u_compares_with_models_on_its_u_only(tiny_folder: Path, tmp_path: Path) -> None:
    data = _spam_task(tmp_path / "spam.jsonl")
    on_u = tmp_path / "on-u.safetensors"
    base = ["embed", str(data), "--on-u", "--surrogate", str(tiny_folder), *SIZES, "-q"]
    assert main([*base, "--corpus-size", "16", "-o", str(on_u)]) == 0
    same_u, other_u = tmp_path / "vader16.safetensors", tmp_path / "vader12.safetensors"
    assert (
        main(embed_model_argv("callable:vader", same_u, tiny_folder, "--corpus-size", "16", "--no-cache"))
        == 0
    )
    assert (
        main(embed_model_argv("callable:vader", other_u, tiny_folder, "--corpus-size", "12", "--no-cache"))
        == 0
    )
    embs = [load_embedding(p) for p in (on_u, same_u, other_u)]
    assert cosine_matrix(embs[:2]).shape == (2, 2)
    with pytest.raises(SpaceMismatchError, match="corpus"):
        cosine_matrix([embs[0], embs[2]])


def test_corpus_without_on_u_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _spam_task(tmp_path / "spam.jsonl")
    code = main(["embed", str(data), "--corpus", "packaged:diverse", "--surrogate", str(tmp_path / "none")])
    assert code == 2
    assert "--corpus chooses the U of --on-u" in capsys.readouterr().err
