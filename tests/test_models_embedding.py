"""Model task embeddings: outputs → task → embedding, the prediction cache, failures, the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from tiny_model import embed_model_argv

from fute.cli import main
from fute.corpus import CorpusExample, UnlabelledCorpus, load_corpus
from fute.embedding import load_embedding
from fute.errors import ConfigError, ModelError
from fute.methods import FimSettings, make_method
from fute.model_embedding import cache_key, embed_model, predict_corpus
from fute.models import AdapterOptions, load_adapter
from fute.models.base import OutputKind, identity_hash
from fute.surrogate import Surrogate
from tests.conftest import tiny_surrogate


@pytest.fixture(scope="module")
def tiny(surrogate: Surrogate) -> Surrogate:
    """A 2-layer random BERT with the real tokenizer: FIM on it takes well under a second."""
    return tiny_surrogate(surrogate)


@pytest.fixture(scope="module")
def corpus() -> UnlabelledCorpus:
    return load_corpus(limit=24)


class FakeAdapter:
    """A deterministic model whose outputs depend on the texts and a 'prompt' string."""

    def __init__(self, prompt: str = "p1", kind: OutputKind = "soft", broken: str = "") -> None:
        self.prompt = prompt
        self.output_kind: OutputKind = kind
        self.label_names: tuple[str, ...] = ("a", "b", "c") if kind == "soft" else ()
        self.broken = broken
        self.calls = 0
        self.name = f"fake-{prompt}"

    def identity(self) -> str:
        return identity_hash("fake", self.prompt, self.broken)

    def predict(self, examples: Sequence[CorpusExample]) -> np.ndarray:
        self.calls += 1
        if self.broken == "raise":
            raise ModelError("boom")
        seed = sum(ord(c) for c in self.prompt)
        lengths = np.array([len(ex.text) for ex in examples], dtype=np.float64)
        if self.output_kind == "regression":
            return np.sin(lengths * seed)
        logits = np.stack([np.sin(lengths * seed), np.cos(lengths * seed), np.sin(lengths / seed)], axis=1)
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        if self.broken == "nan" and self.calls == 2:  # the *second* batch goes wrong
            probs[0, 0] = np.nan
        if self.broken == "shape":
            return np.asarray(probs[:, :2])
        return np.asarray(probs)


def _method(tiny: Surrogate) -> object:
    return make_method("fim", tiny, FimSettings(dim=256, max_examples=64, max_length=32, batch_size=8))


def test_mte_lives_in_the_dataset_space_plus_corpus(
    tiny: Surrogate, corpus: UnlabelledCorpus, tmp_path: Path
) -> None:
    method = _method(tiny)
    emb = embed_model(FakeAdapter(), method, corpus, cache_dir=tmp_path, progress=False)  # type: ignore[arg-type]
    assert emb.task.kind == "model"
    assert emb.task.label_kind == "soft" and emb.task.label_names == ("a", "b", "c")
    assert emb.task.n_examples == len(corpus) == 24
    assert emb.space.corpus == corpus.hash
    assert emb.space.identity() == method.space().identity()  # type: ignore[attr-defined]


def test_two_prompts_give_two_embeddings_and_the_same_prompt_twice_the_same(
    tiny: Surrogate, corpus: UnlabelledCorpus, tmp_path: Path
) -> None:
    method = _method(tiny)
    a1 = embed_model(FakeAdapter("p1"), method, corpus, cache_dir=tmp_path, progress=False)  # type: ignore[arg-type]
    a2 = embed_model(FakeAdapter("p1"), method, corpus, cache_dir=tmp_path, use_cache=False, progress=False)  # type: ignore[arg-type]
    b = embed_model(FakeAdapter("p2"), method, corpus, cache_dir=tmp_path, progress=False)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a1.vector, a2.vector)
    assert not np.allclose(a1.vector, b.vector)
    assert a1.cosine(b) < 0.9999


def test_regression_model_gives_a_regression_task(
    tiny: Surrogate, corpus: UnlabelledCorpus, tmp_path: Path
) -> None:
    emb = embed_model(
        FakeAdapter(kind="regression"), _method(tiny), corpus, cache_dir=tmp_path, progress=False
    )  # type: ignore[arg-type]
    assert emb.task.label_kind == "regression" and emb.task.label_names == ()


def test_predictions_are_cached_by_identity_and_corpus(corpus: UnlabelledCorpus, tmp_path: Path) -> None:
    adapter = FakeAdapter()
    first = predict_corpus(adapter, corpus, cache_dir=tmp_path, batch_size=10, progress=False)
    assert adapter.calls == 3  # 24 examples in batches of 10
    again = predict_corpus(adapter, corpus, cache_dir=tmp_path, batch_size=10, progress=False)
    assert adapter.calls == 3  # served from the cache
    np.testing.assert_array_equal(first, again)
    assert (tmp_path / f"{cache_key(adapter, corpus)}.npz").is_file()
    other = load_corpus(limit=24, seed=1)
    assert cache_key(adapter, other) != cache_key(adapter, corpus)
    assert cache_key(FakeAdapter("p2"), corpus) != cache_key(adapter, corpus)


def test_corrupt_cache_entry_is_recomputed(corpus: UnlabelledCorpus, tmp_path: Path) -> None:
    adapter = FakeAdapter()
    predict_corpus(adapter, corpus, cache_dir=tmp_path, progress=False)
    path = tmp_path / f"{cache_key(adapter, corpus)}.npz"
    path.write_bytes(b"garbage")
    out = predict_corpus(adapter, corpus, cache_dir=tmp_path, progress=False)
    assert adapter.calls == 2 and out.shape == (24, 3)


@pytest.mark.parametrize(("broken", "message"), [("raise", "boom"), ("nan", "NaN"), ("shape", "shape")])
def test_misbehaving_model_is_a_clear_error_and_caches_nothing(
    tiny: Surrogate, corpus: UnlabelledCorpus, tmp_path: Path, broken: str, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        embed_model(
            FakeAdapter(broken=broken),
            _method(tiny),
            corpus,
            cache_dir=tmp_path,  # type: ignore[arg-type]
            batch_size=10,
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []


def _cli(tiny_folder: Path, tmp_path: Path, spec: str, out: Path, *extra: str) -> int:
    cache = str(tmp_path / "cache")
    return main(embed_model_argv(spec, out, tiny_folder, "--corpus-size", "16", "--cache-dir", cache, *extra))


def test_cli_embed_model_with_a_real_callable(tiny_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "vader.safetensors"
    assert _cli(tiny_folder, tmp_path, "callable:vader", out, "--task-type", "sentiment") == 0
    emb = load_embedding(out)
    assert emb.task.kind == "model" and emb.task.task_type == "sentiment"
    assert emb.task.label_kind == "regression" and emb.space.dim == 128
    assert emb.space.corpus == load_corpus(limit=16).hash
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_cli_failing_model_writes_nothing(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad.safetensors"
    # math.sqrt of a list of texts raises TypeError inside the "model".
    code = _cli(tiny_folder, tmp_path, "callable:math:sqrt", out, "--output-kind", "regression")
    assert code == 2
    assert "raised TypeError" in capsys.readouterr().err
    assert not out.exists()
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_cli_bad_spec_lists_the_schemes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed-model", "nonsense", "-q"]) == 2
    assert "hf" in capsys.readouterr().err


def test_llm_spec_without_prompt_is_an_error() -> None:
    with pytest.raises(ConfigError, match="prompt"):
        load_adapter("llm:smollm2", AdapterOptions())


@pytest.mark.slow
def test_real_vader_mte_on_real_minilm(surrogate: Surrogate, tmp_path: Path) -> None:
    """Real VADER, TextBlob and py3langid on real U through the real MiniLM (FIM, small settings)."""
    corpus = load_corpus(limit=16)
    method = make_method(
        "fim", surrogate, FimSettings(dim=1024, max_examples=16, max_length=48, batch_size=16)
    )
    embs = {
        name: embed_model(
            load_adapter(f"callable:{name}"), method, corpus, cache_dir=tmp_path, progress=False
        )
        for name in ("vader", "textblob", "langid")
    }
    assert embs["vader"].space.corpus == corpus.hash and embs["vader"].task.label_kind == "regression"
    assert embs["langid"].task.label_kind == "soft"
    # Two sentiment regressors agree more with each other than with a language identifier.
    assert embs["vader"].cosine(embs["textblob"]) > embs["vader"].cosine(embs["langid"])


def test_prior_calibration_removes_a_constant_bias(
    tiny: Surrogate, corpus: UnlabelledCorpus, tmp_path: Path
) -> None:
    from fute.model_embedding import calibrate_soft

    biased = np.array([[0.1, 0.9], [0.2, 0.8], [0.15, 0.85]])
    cal = calibrate_soft(biased)
    assert np.allclose(cal.sum(1), 1, atol=1e-6)
    assert cal[1, 0] > 0.5 > cal[0, 0]  # relative to the model's average, example 1 leans to class 0
    assert list(np.argsort(cal[:, 0])) == list(np.argsort(biased[:, 0]))  # order per class kept
    method = _method(tiny)
    raw = embed_model(FakeAdapter(), method, corpus, cache_dir=tmp_path, progress=False)  # type: ignore[arg-type]
    calibrated = embed_model(
        FakeAdapter(),
        method,
        corpus,
        cache_dir=tmp_path,
        progress=False,  # type: ignore[arg-type]
        calibrate=True,
    )
    assert "calibrated" in calibrated.task.tags and "calibrated" not in raw.task.tags
    assert not np.allclose(raw.vector, calibrated.vector)
    assert len(list(tmp_path.glob("*.npz"))) == 1  # the cache holds the raw outputs once
    with pytest.raises(ConfigError, match="regressor"):
        embed_model(
            FakeAdapter(kind="regression"),
            method,
            corpus,
            cache_dir=tmp_path,
            progress=False,  # type: ignore[arg-type]
            calibrate=True,
        )
