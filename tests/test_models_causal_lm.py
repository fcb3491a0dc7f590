"""Prompt-based causal LMs: exact verbaliser scoring on a tiny Llama, and the real SmolLM2."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from fute.corpus import CorpusExample, load_corpus
from fute.errors import ConfigError
from fute.methods import FimSettings, make_method
from fute.model_embedding import embed_model
from fute.models import AdapterOptions, load_adapter
from fute.models.causal_lm import PLAIN_ANSWER_SUFFIX, CausalLMAdapter
from fute.models.prompts import PromptSpec, load_prompt
from fute.surrogate import Surrogate
from tests.conftest import tiny_surrogate

smollm2 = pytest.importorskip("fute.models.smollm2")


@pytest.fixture(scope="session")
def smol_dir() -> Path:
    """The real SmolLM2 folder (converted from the packaged GGUF once per machine)."""
    try:
        return Path(smollm2.smollm2_dir())
    except smollm2.ModelNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tiny_llm(smol_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template."""
    folder = tmp_path_factory.mktemp("tiny-llm")
    tok = AutoTokenizer.from_pretrained(smol_dir, local_files_only=True)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    for f in smol_dir.iterdir():
        if f.name.startswith(("tokenizer", "chat_template", "special_tokens")):
            shutil.copy(f, folder / f.name)
    return folder


MULTI = PromptSpec(
    "multi",
    "Review: {text}\nIs it good?",
    (("bad", ("bad", "extraordinarily unpleasant")), ("good", ("good", "magnificently wonderful"))),
)


def test_multi_token_verbalisers_are_scored_exactly(tiny_llm: Path) -> None:
    adapter = CausalLMAdapter(tiny_llm, MULTI)
    assert any(len(v) > 2 for v in adapter._verbalisers)  # really multi-token
    prompts = [
        adapter._prompt_ids(CorpusExample(t)) for t in ("fine film", "a much longer text about a film")
    ]
    got = adapter.verbaliser_logprobs(prompts)
    # Reference: one unpadded forward per (prompt, verbaliser), teacher-forced sum of log-probs.
    for i, p in enumerate(prompts):
        for j, v in enumerate(adapter._verbalisers):
            with torch.no_grad():
                logits = adapter.model(input_ids=torch.tensor([p + v])).logits[0]
            logp = torch.log_softmax(logits.double(), -1)
            want = sum(float(logp[len(p) - 1 + t, tok]) for t, tok in enumerate(v))
            assert got[i, j] == pytest.approx(want, abs=1e-4)


def test_soft_labels_take_each_class_best_verbaliser(tiny_llm: Path) -> None:
    adapter = CausalLMAdapter(tiny_llm, MULTI, batch_size=2)
    examples = [CorpusExample(t) for t in ("one", "two words", "three more words")]
    probs = adapter.predict(examples)
    assert probs.shape == (3, 2) and np.allclose(probs.sum(1), 1)
    logprobs = adapter.verbaliser_logprobs([adapter._prompt_ids(ex) for ex in examples])
    best = np.stack([logprobs[:, :2].max(1), logprobs[:, 2:].max(1)], axis=1)
    expect = np.exp(best) / np.exp(best).sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expect, atol=1e-6)
    # Batched (left-padded) and one-by-one give the same outputs.
    single = np.concatenate([adapter.predict([ex]) for ex in examples])
    np.testing.assert_allclose(probs, single, atol=1e-5)


def test_two_prompts_differ_and_one_prompt_is_stable(tiny_llm: Path) -> None:
    a = CausalLMAdapter(tiny_llm, load_prompt("sentiment"))
    b = CausalLMAdapter(tiny_llm, load_prompt("spam"))
    a2 = CausalLMAdapter(tiny_llm, load_prompt("sentiment"))
    ex = [CorpusExample("Free entry! Win a prize now"), CorpusExample("See you at lunch")]
    assert a.identity() == a2.identity() != b.identity()
    np.testing.assert_array_equal(a.predict(ex), a2.predict(ex))
    assert not np.allclose(a.predict(ex), b.predict(ex), atol=1e-4)


def test_chat_template_and_plain_rendering(tiny_llm: Path) -> None:
    chat = CausalLMAdapter(tiny_llm, MULTI)
    plain = CausalLMAdapter(tiny_llm, MULTI, use_chat_template=False)
    assert chat.use_chat and not plain.use_chat
    assert "<|im_start|>assistant" in chat.tokenizer.decode(chat._prompt_ids(CorpusExample("x")))
    assert str(chat.tokenizer.decode(plain._prompt_ids(CorpusExample("x")))).endswith(PLAIN_ANSWER_SUFFIX)
    # Without a chat template the verbaliser follows "Answer:" after a space.
    assert plain._verbalisers[0] == plain.tokenizer(" bad", add_special_tokens=False)["input_ids"]
    assert chat.identity() != plain.identity()


def test_long_texts_are_cut_before_the_template(tiny_llm: Path) -> None:
    adapter = CausalLMAdapter(tiny_llm, MULTI, max_text_tokens=5)
    ids = adapter._prompt_ids(CorpusExample("word " * 500))
    assert len(ids) < 80 and "Is it good?" in adapter.tokenizer.decode(ids)


@pytest.mark.slow
def test_real_smollm2_sentiment_prompt_orders_texts(smol_dir: Path) -> None:
    adapter = load_adapter("llm:smollm2", AdapterOptions(prompt="sentiment"))
    pos = ["I absolutely loved this wonderful film!", "A delightful, heartwarming and brilliant story."]
    neg = ["This was a terrible, boring waste of time.", "Awful acting and a horrible, stupid plot."]
    probs = adapter.predict([CorpusExample(t) for t in pos + neg])
    positive = list(adapter.label_names).index("positive")
    assert probs[:2, positive].min() > probs[2:, positive].max()


@pytest.mark.slow
def test_real_smollm2_mte_two_prompts_two_embeddings(
    smol_dir: Path, surrogate: Surrogate, tmp_path: Path
) -> None:
    # Real SmolLM2 outputs on real U; a tiny random surrogate keeps the FIM part fast (the
    # real MiniLM's FIM is exercised by test_models_embedding.py::test_real_vader_mte_on_real_minilm).
    tiny = tiny_surrogate(surrogate)
    corpus = load_corpus(limit=10)
    method = make_method("fim", tiny, FimSettings(dim=512, max_examples=10, max_length=32, batch_size=4))
    embs = {}
    for name in ("sentiment", "spam"):
        adapter = load_adapter("llm:smollm2", AdapterOptions(prompt=name))
        embs[name] = embed_model(adapter, method, corpus, cache_dir=tmp_path, progress=False)
    again = embed_model(
        load_adapter("llm:smollm2", AdapterOptions(prompt="sentiment")),
        method,
        corpus,
        cache_dir=tmp_path,
        progress=False,
    )
    assert embs["sentiment"].task.label_names == ("negative", "positive")
    assert not np.allclose(embs["sentiment"].vector, embs["spam"].vector)
    np.testing.assert_array_equal(embs["sentiment"].vector, again.vector)
    assert len(list(tmp_path.glob("*.npz"))) == 2


LENGTHS = (
    "fine film",
    "a much longer text about a film that goes on and on, with commas, clauses and more words",
    "ok",
    "Two sentences here. And a second one that is somewhat longer than the first.",
    "short one",
)


def test_shared_prefix_scores_equal_full_prompts(tiny_llm: Path) -> None:
    adapter = CausalLMAdapter(tiny_llm, MULTI)
    prompts = [adapter._prompt_ids(CorpusExample(t)) for t in LENGTHS]
    shared = adapter.shared_prefix_length(prompts)
    assert 0 < shared < min(len(p) for p in prompts)  # the template's head, never a whole prompt
    assert all(p[:shared] == prompts[0][:shared] for p in prompts)
    # Multi-token verbalisers continue from a cache that holds prefix + padded text.
    full = adapter.verbaliser_logprobs(prompts)
    np.testing.assert_allclose(adapter.verbaliser_logprobs(prompts, shared), full, atol=1e-5)
    with pytest.raises(ConfigError, match="shared prefix"):
        adapter.verbaliser_logprobs([*prompts, [1, 2, 3]], shared)


def test_scoring_paths_give_the_same_outputs_in_input_order(tiny_llm: Path) -> None:
    examples = [CorpusExample(t) for t in LENGTHS] + [CorpusExample("a pair", "with its second text")]
    fast = CausalLMAdapter(tiny_llm, MULTI, batch_size=2)
    plain = CausalLMAdapter(tiny_llm, MULTI, batch_size=2, scoring="plain")
    assert fast.scoring == "shared-prefix" and fast.identity() == plain.identity()  # caches stay valid
    got = fast.predict(examples)
    np.testing.assert_allclose(got, plain.predict(examples), atol=1e-5)
    np.testing.assert_allclose(got, np.concatenate([plain.predict([ex]) for ex in examples]), atol=1e-5)
    assert fast.predict([]).shape == (0, 2)
    with pytest.raises(ConfigError, match="scoring path"):
        CausalLMAdapter(tiny_llm, MULTI, scoring="fast")  # type: ignore[arg-type]


@pytest.mark.slow
def test_real_smollm2_shared_prefix_equals_plain_on_u(smol_dir: Path) -> None:
    # Real U examples of different lengths, the real model and two packaged prompts: one
    # with single-token verbalisers and text last, one with multi-token verbalisers and an
    # instruction after the text.
    examples = list(load_corpus(limit=12).examples)
    for name in ("sentiment", "topic"):
        fast = CausalLMAdapter(smol_dir, load_prompt(name))
        plain = CausalLMAdapter(smol_dir, load_prompt(name), scoring="plain")
        prompts = [fast._prompt_ids(ex) for ex in examples]
        assert fast.shared_prefix_length(prompts) > 20  # chat template, system turn, instruction
        np.testing.assert_allclose(fast.predict(examples), plain.predict(examples), atol=1e-5)
