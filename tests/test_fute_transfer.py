"""Intermediate-task transfer on the real MiniLM: what carries over, scoring, determinism."""

from __future__ import annotations

import pytest
import torch

from fute.data import Example, TaskData, load_task
from fute.models.finetune import FinetuneSettings, build_classifier, score_classifier
from fute.surrogate import Surrogate
from fute.transfer import encoder_state, target_score, train_source
from tests.conftest import SUITE_DATA, suite_task

pytestmark = pytest.mark.slow
QUICK = FinetuneSettings(epochs=1, lr=1e-4, batch_size=16, max_length=32)


@pytest.fixture(scope="module")
def trec_encoder(surrogate: Surrogate) -> dict[str, torch.Tensor]:
    return encoder_state(train_source(surrogate, suite_task("trec_coarse", 64), QUICK, progress=False))


def test_the_encoder_carries_over_and_the_head_does_not(
    surrogate: Surrogate, trec_encoder: dict[str, torch.Tensor]
) -> None:
    assert not any(k.startswith("classifier") for k in trec_encoder)
    plain = build_classifier(surrogate.folder, suite_task("sms_spam", 8), seed=3)
    moved = build_classifier(surrogate.folder, suite_task("sms_spam", 8), seed=3)
    moved.bert.load_state_dict(trec_encoder)
    # Same seed, same head; the encoder is the source's, not the surrogate's.
    assert torch.equal(plain.classifier.weight, moved.classifier.weight)
    name = "encoder.layer.5.output.dense.weight"
    assert torch.equal(moved.bert.state_dict()[name], trec_encoder[name])
    assert not torch.equal(plain.bert.state_dict()[name], trec_encoder[name])


def test_target_scores_are_deterministic_and_depend_on_the_source(
    surrogate: Surrogate, trec_encoder: dict[str, torch.Tensor]
) -> None:
    train = suite_task("rotten_tomatoes", 48)
    test = load_task(SUITE_DATA / "rotten_tomatoes" / "test.jsonl.gz", label_names=train.label_names)
    test = test.with_examples(test.examples[:64])
    alone = target_score(surrogate, train, test, QUICK, progress=False)
    again = target_score(surrogate, train, test, QUICK, progress=False)
    after = target_score(surrogate, train, test, QUICK, trec_encoder, progress=False)
    assert alone == again
    assert 0.0 <= alone <= 1.0 and 0.0 <= after <= 1.0
    assert after != alone


def test_regression_is_scored_by_pearson_and_a_constant_prediction_by_zero(surrogate: Surrogate) -> None:
    task = suite_task("vader_tweets", 40)
    model = build_classifier(surrogate.folder, task, seed=0)
    r = score_classifier(model, surrogate.tokenizer, task, max_length=32)
    assert -1.0 <= r <= 1.0 and r != 0.0
    with torch.no_grad():
        model.classifier.weight.zero_()  # the output is the bias alone: constant
    assert score_classifier(model, surrogate.tokenizer, task, max_length=32) == 0.0


def test_accuracy_counts_argmax_hits(surrogate: Surrogate) -> None:
    examples = tuple(Example(text=t, label=i % 2) for i, t in enumerate(["good", "bad", "fine", "awful"]))
    task = TaskData("toy", examples, "class", ("a", "b"))
    model = build_classifier(surrogate.folder, task, seed=0)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([1.0, 0.0]))  # always class 0
    assert score_classifier(model, surrogate.tokenizer, task) == 0.5  # labels 0, 1, 0, 1
