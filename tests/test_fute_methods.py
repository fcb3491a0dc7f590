"""Embedding methods: estimator maths on a tiny model, and task similarity on the real MiniLM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fute.batching import encode, iter_batches
from fute.data import Example, TaskData
from fute.errors import ConfigError
from fute.heads import TaskHead, task_loss, task_targets
from fute.methods import ESTIMATORS, FimMethod, FimSettings, PromptMethod, PromptSettings, make_method
from fute.similarity import cosine_matrix
from fute.surrogate import Surrogate
from fute.task_model import TaskModel
from tests.conftest import suite_task, tiny_surrogate


@pytest.fixture(scope="module")
def tiny(surrogate: Surrogate) -> Surrogate:
    """A 2-layer random BERT with the real tokenizer: fast enough for exact reference maths."""
    return tiny_surrogate(surrogate)


def toy_task(n: int = 12) -> TaskData:
    words = ["good", "bad", "fine", "awful", "film", "plot", "great", "dull"]
    rng = np.random.default_rng(1)
    examples = tuple(Example(" ".join(rng.choice(words, 3 + i % 4)), i % 3) for i in range(n))
    return TaskData("toy", examples, "class", ("a", "b", "c"))


def reference_fisher(tiny: Surrogate, task: TaskData, estimator: str, batch_size: int) -> torch.Tensor:
    """Per-example gradients by brute force, combined by the textbook formulas."""
    torch.manual_seed(0)
    backbone = tiny.fresh_backbone()
    head = TaskHead(tiny.hidden_size, task.num_outputs)
    model = TaskModel(backbone, head).eval()
    data = encode(task.examples, tiny.tokenizer, 32, task_targets(task))
    params = list(backbone.parameters())

    def flat_grad(loss: torch.Tensor) -> torch.Tensor:
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(grads, params, strict=False)
            ]
        )

    n = len(task.examples)
    if estimator == "batch_sq":
        total = sum(
            flat_grad(task_loss(model(b), b.targets, "class")).square()
            for b in iter_batches(data, batch_size, tiny.tokenizer.pad_token_id, shuffle=False)
        )
        return total / n  # type: ignore[no-any-return]
    per_example = [
        flat_grad(task_loss(model(b), b.targets, "class"))
        for b in iter_batches(data, 1, tiny.tokenizer.pad_token_id, shuffle=False)
    ]
    stacked = torch.stack(per_example)
    if estimator == "mean_sq":
        return stacked.mean(0).square()
    return stacked.square().mean(0)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_estimators_match_textbook_formulas(tiny: Surrogate, estimator: str) -> None:
    task = toy_task()
    method = FimMethod(tiny, FimSettings(estimator=estimator, epochs=0, batch_size=4, max_length=32, dim=64))  # type: ignore[arg-type]
    ours = torch.cat([t.reshape(-1) for _, t in method.fisher(task, progress=False)])
    ref = reference_fisher(tiny, task, estimator, batch_size=4)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-12)


def test_estimators_differ(tiny: Surrogate) -> None:
    task = toy_task()
    method = FimMethod(tiny, FimSettings(epochs=1, batch_size=4, max_length=32, dim=64))
    out = method.fisher_estimates(task, ESTIMATORS, progress=False)
    vecs = {e: torch.cat([t.reshape(-1) for _, t in v]) for e, v in out.items()}
    # Jensen: the mean of squares is never below the square of the mean.
    assert torch.all(vecs["example_sq"] >= vecs["mean_sq"] - 1e-9)
    assert not torch.allclose(vecs["example_sq"], vecs["mean_sq"])


def test_parameter_set_without_word_embeddings(tiny: Surrogate) -> None:
    task = toy_task()
    full = FimMethod(tiny, FimSettings(epochs=0, max_length=32, dim=64)).fisher(task, progress=False)
    cut = FimMethod(
        tiny, FimSettings(epochs=0, max_length=32, dim=64, parameters="no_word_embeddings")
    ).fisher(task, progress=False)
    assert len(cut) == len(full) - 1
    assert "embeddings.word_embeddings.weight" not in dict(cut)


def test_bad_settings_list_valid_values(tiny: Surrogate) -> None:
    with pytest.raises(ConfigError, match=r"unknown FIM estimator 'squared'.*batch_sq"):
        FimSettings(estimator="squared")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"unknown fim settings \['learning_rate'\]"):
        make_method("fim", tiny, {"learning_rate": 1})
    with pytest.raises(ConfigError, match=r"unknown method 'bert'.*fim"):
        make_method("bert", tiny)
    with pytest.raises(ConfigError, match="unknown prompt kind"):
        PromptSettings(kind="lora")  # type: ignore[arg-type]


def test_prefix_trains_every_layer(tiny: Surrogate) -> None:
    method = PromptMethod(
        tiny, PromptSettings(kind="prefix", length=4, epochs=2, max_length=32, batch_size=4)
    )
    emb = method.embed(toy_task(), progress=False)
    assert emb.vector.shape == (4 * 16,)
    # The hooks must leave the shared frozen backbone clean for the next task.
    assert all(not layer._forward_pre_hooks for layer in tiny.layers(method._frozen))
    again = method.embed(toy_task(), progress=False)
    assert np.array_equal(emb.vector, again.vector)


# --- the real packaged MiniLM on real data (benchmarks/suite, sources in its README) --------------

SENTIMENT_A, SENTIMENT_B, QUESTIONS = "rotten_tomatoes", "vader_movies", "trec_coarse"


@pytest.fixture(scope="module")
def real_tasks() -> list[TaskData]:
    return [suite_task(name, 200) for name in (SENTIMENT_A, SENTIMENT_B, QUESTIONS)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "settings"),
    # The per-layer prefix variant does not pass this check (cosine margin -0.25 at 150
    # examples, README); it stays an option for the ranking ablations, not a default.
    [("fim", FimSettings()), ("prompt", PromptSettings())],
    ids=["fim", "prompt-soft"],
)
def test_sentiment_tasks_are_closer_to_each_other_than_to_questions(
    surrogate: Surrogate, real_tasks: list[TaskData], method: str, settings: object
) -> None:
    m = make_method(method, surrogate, settings)
    sims = cosine_matrix([m.embed(t, progress=False) for t in real_tasks])
    sentiment_pair = sims[0, 1]
    assert sentiment_pair > sims[0, 2], sims
    assert sentiment_pair > sims[1, 2], sims


@pytest.mark.slow
def test_same_data_settings_and_seed_give_bitwise_equal_embeddings(surrogate: Surrogate) -> None:
    task = suite_task(SENTIMENT_A, 48)
    settings = FimSettings(dim=1024, max_examples=48)
    a = FimMethod(surrogate, settings).embed(task, progress=False)
    b = FimMethod(surrogate, settings).embed(task, progress=False)
    assert np.array_equal(a.vector, b.vector)
    assert a.space == b.space
    c = FimMethod(surrogate, replace(settings, seed=1)).embed(task, progress=False)
    assert not np.array_equal(a.vector, c.vector)
    assert c.space.key != a.space.key


@pytest.mark.slow
def test_text_baseline_ignores_labels(surrogate: Surrogate) -> None:
    task = suite_task(SENTIMENT_A, 40)
    relabelled = task.with_examples(tuple(replace(ex, label=1 - int(ex.label)) for ex in task.examples))  # type: ignore[arg-type]
    m = make_method("text", surrogate)
    a, b = m.embed(task, progress=False), m.embed(relabelled, progress=False)
    assert a.vector.shape == (384,)
    assert np.allclose(a.vector, b.vector)


def test_early_stopping_restores_the_best_dev_state(tiny: Surrogate) -> None:
    from fute.data import split_task
    from fute.training import TrainConfig, evaluate_loss, train

    task = toy_task(60)
    parts = split_task(task, 0.3, seed=0)
    tok = tiny.tokenizer
    train_data = encode(parts.train.examples, tok, 32, task_targets(parts.train))
    dev_data = encode(parts.dev.examples, tok, 32, task_targets(parts.dev))
    torch.manual_seed(0)
    model = TaskModel(tiny.fresh_backbone(), TaskHead(tiny.hidden_size, task.num_outputs))
    config = TrainConfig(epochs=6, lr=5e-2, batch_size=4, patience=1)
    result = train(
        model,
        list(model.parameters()),
        train_data,
        "class",
        config,
        tok.pad_token_id,
        dev_data,
        progress=False,
    )
    assert result.best_dev_loss is not None
    assert result.epochs_run < config.epochs  # dev loss rose, so it stopped early
    # The model left behind is the one that scored best on dev, not the last one trained.
    assert evaluate_loss(model, dev_data, "class", 4, tok.pad_token_id) == pytest.approx(
        result.best_dev_loss, rel=1e-6
    )


def test_new_fim_options_enter_the_space_only_when_set(tiny: Surrogate) -> None:
    """Spaces made before an option existed keep their identity; setting it makes a new space."""
    plain = FimMethod(tiny, FimSettings(transform="none")).space()
    assert "transform" not in plain.settings and "normalise" not in plain.settings
    logged = FimMethod(tiny, FimSettings(normalise="tensor")).space()
    assert '"transform":"log"' in logged.settings and '"normalise":"tensor"' in logged.settings
    assert logged.key != plain.key
    with pytest.raises(ConfigError, match="unknown transform 'sqrt'"):
        FimSettings(transform="sqrt")  # type: ignore[arg-type]
