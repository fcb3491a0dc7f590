"""Local Hugging Face classifiers as black boxes, and `fute finetune` that makes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification, BertModel

from fute.cli import main
from fute.corpus import CorpusExample
from fute.data import Example, TaskData
from fute.errors import ConfigError, ModelNotFoundError
from fute.models import load_adapter
from fute.models.finetune import FinetuneSettings, finetune_classifier
from fute.models.hf_classifier import HFClassifierAdapter
from fute.surrogate import Surrogate, load_surrogate
from tests.conftest import SUITE_DATA


def _config(surrogate: Surrogate, **kw: Any) -> BertConfig:
    return BertConfig(
        vocab_size=surrogate.tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        **kw,
    )


@pytest.fixture(scope="module")
def tiny_classifier(surrogate: Surrogate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-clf")
    torch.manual_seed(0)
    config = _config(
        surrogate,
        num_labels=3,
        id2label={0: "neg", 1: "neu", 2: "pos"},
        label2id={"neg": 0, "neu": 1, "pos": 2},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    surrogate.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_surrogate_dir(surrogate: Surrogate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-sur")
    torch.manual_seed(0)
    BertModel(_config(surrogate)).save_pretrained(folder)
    surrogate.tokenizer.save_pretrained(folder)
    return folder


EXAMPLES = [CorpusExample("a fine day"), CorpusExample("question", "answer"), CorpusExample("x " * 400)]


def test_classifier_folder_gives_named_probabilities(tiny_classifier: Path) -> None:
    adapter = load_adapter(f"hf:{tiny_classifier}")
    assert adapter.output_kind == "soft" and adapter.label_names == ("neg", "neu", "pos")
    probs = adapter.predict(EXAMPLES)  # a pair and an over-long text included
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert adapter.identity() == load_adapter(f"hf:{tiny_classifier}").identity()


def test_one_output_model_is_a_regressor(surrogate: Surrogate, tmp_path: Path) -> None:
    BertForSequenceClassification(_config(surrogate, num_labels=1)).save_pretrained(tmp_path)
    surrogate.tokenizer.save_pretrained(tmp_path)
    adapter = HFClassifierAdapter(tmp_path, batch_size=2)
    assert adapter.output_kind == "regression" and adapter.label_names == ()
    assert adapter.predict(EXAMPLES).shape == (3,)


def test_missing_folder_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no folder"):
        load_adapter(f"hf:{tmp_path / 'nope'}")


def _toy_task(n: int = 24) -> TaskData:
    words = ["win", "prize", "call", "free", "lunch", "see", "you", "later"]
    rng = np.random.default_rng(0)
    exs = tuple(Example(" ".join(rng.choice(words[:4] if i % 2 else words[4:], 4)), i % 2) for i in range(n))
    return TaskData("toy", exs, "class", ("ham", "spam"))


def test_finetune_writes_a_loadable_classifier_atomically(tiny_surrogate_dir: Path, tmp_path: Path) -> None:
    sur = load_surrogate(tiny_surrogate_dir)
    out = tmp_path / "clf"
    finetune_classifier(
        sur, _toy_task(), out, FinetuneSettings(epochs=15, lr=3e-3, batch_size=8), progress=False
    )
    assert json.loads((out / "fute_finetune.json").read_text())["task"] == "toy"
    assert [p.name for p in tmp_path.iterdir()] == ["clf"]  # no temporary folder left behind
    adapter = HFClassifierAdapter(out)
    assert adapter.label_names == ("ham", "spam")
    # Learned the (trivially separable) toy task.
    probs = adapter.predict([CorpusExample("win free prize call"), CorpusExample("see you later lunch")])
    assert probs[0, 1] > 0.5 > probs[1, 1]
    # The encoder moved away from the surrogate's weights.
    before = load_file(str(tiny_surrogate_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    key = next(k for k in before if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert not torch.equal(before[key], after[f"bert.{key}" if not key.startswith("bert.") else key])
    with pytest.raises(ConfigError, match="exists"):
        finetune_classifier(sur, _toy_task(), out, progress=False)


@pytest.mark.slow
def test_cli_finetune_real_minilm_on_sms_spam(tmp_path: Path) -> None:
    out = tmp_path / "spam-clf"
    code = main(
        [
            "finetune",
            str(SUITE_DATA / "sms_spam" / "train.jsonl.gz"),
            "-o",
            str(out),
            "--epochs",
            "2",
            "--max-examples",
            "96",
            "--lr",
            "1e-4",
            "--max-length",
            "48",
            "--batch-size",
            "16",
            "-q",
        ]
    )
    assert code == 0
    adapter = load_adapter(f"hf:{out}")
    assert adapter.label_names == ("ham", "spam")
    spam = [
        "WINNER!! You have been selected to receive a £900 prize reward! Call 09061701461 to claim",
        "Free entry in 2 a wkly comp to win FA Cup final tkts. Text FA to 87121 to receive entry",
    ]
    ham = ["Ok lar... Joking wif u oni...", "I'll be home soon, do you want me to pick up some milk?"]
    probs = adapter.predict([CorpusExample(t) for t in spam + ham])
    assert probs[:2, 1].min() > probs[2:, 1].max()
