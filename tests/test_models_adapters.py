"""Unlabelled corpus, output validation, prompt files and the callable adapters (real packages)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from fute.corpus import CorpusExample, corpus_hash, load_corpus
from fute.errors import ConfigError, DataError, ModelError, ModelNotFoundError
from fute.models import BUILTIN_CALLABLES, AdapterOptions, load_adapter
from fute.models.base import validate_outputs
from fute.models.builtin import LANGID_CHATTERBOT
from fute.models.callables import CallableAdapter, fute_adapter
from fute.models.prompts import load_prompt, load_prompt_file
from tests.conftest import ROOT

# ---- corpus -------------------------------------------------------------------------------


def test_default_corpus_is_a_seeded_sample_with_a_content_hash() -> None:
    a, b = load_corpus(limit=50), load_corpus(limit=50)
    assert len(a) == 50 and a.hash == b.hash and a.examples == b.examples
    assert a.hash == corpus_hash(a.examples)
    assert load_corpus(limit=50, seed=1).hash != a.hash
    full = load_corpus(limit=None)
    assert len(full) == 3000
    assert sum(ex.text_pair is not None for ex in full.examples) == 600


def test_user_corpus_is_deduplicated_and_pairs_change_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl.gz"
    rows = [{"text": "a b"}, {"text": "a b"}, {"text": "a b", "text_pair": "c"}, {"text": "d"}]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    corpus = load_corpus(path, limit=None)
    assert corpus.examples == (CorpusExample("a b"), CorpusExample("a b", "c"), CorpusExample("d"))
    assert corpus_hash((CorpusExample("a b"),)) != corpus_hash((CorpusExample("a b", ""),))


def test_packaged_multilingual_corpus_by_name() -> None:
    multi = load_corpus("packaged:multilingual", limit=None)
    assert len(multi) == 615 and all(ex.text_pair is None for ex in multi.examples)
    assert multi.source == "packaged:multilingual"
    # Its point is text an English-only U lacks: most of it is not ASCII.
    assert sum(not ex.text.isascii() for ex in multi.examples) > 400
    assert load_corpus("packaged:default", limit=50).hash == load_corpus(limit=50).hash
    with pytest.raises(ConfigError, match=r"no packaged corpus 'klingon'.*multilingual"):
        load_corpus("packaged:klingon")


@pytest.mark.parametrize(
    "line", ['{"text": ""}', "not json", '{"txt": "a"}', '{"text": "a", "text_pair": 3}', "[1, 2]"]
)
def test_malformed_corpus_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(DataError, match=r"u\.jsonl:2"):
        load_corpus(path)


# ---- output validation --------------------------------------------------------------------


class _Declared:
    def __init__(self, kind: str, labels: tuple[str, ...] = ()) -> None:
        self.output_kind = kind
        self.label_names = labels

    def identity(self) -> str:
        return "x"


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (np.ones((3, 3)) / 3, "shape"),
        (np.array([[0.5, 0.5], [np.nan, 1.0], [1.0, 0.0]]), "NaN"),
        (np.array([[1.5, -0.5], [0.5, 0.5], [1.0, 0.0]]), "negative"),
        (np.array([[0.7, 0.7], [0.5, 0.5], [1.0, 0.0]]), "sum to 1"),
        ("not numbers", "not numbers"),
    ],
)
def test_bad_soft_outputs_are_named(outputs: object, message: str) -> None:
    with pytest.raises(ModelError, match=message) as info:
        validate_outputs(outputs, _Declared("soft", ("a", "b")), 3, "my-model")  # type: ignore[arg-type]
    assert "my-model" in str(info.value)


def test_regression_outputs_accept_a_column_and_reject_inf() -> None:
    adapter = _Declared("regression")
    out = validate_outputs(np.array([[1.0], [2.0]]), adapter, 2)  # type: ignore[arg-type]
    assert out.shape == (2,) and out.dtype == np.float32
    with pytest.raises(ModelError, match="Inf"):
        validate_outputs(np.array([1.0, np.inf]), adapter, 2)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="shape"):
        validate_outputs(np.array([1.0, 2.0, 3.0]), adapter, 2)  # type: ignore[arg-type]


# ---- prompt files -------------------------------------------------------------------------


def test_packaged_prompts_cover_the_issue_task_types() -> None:
    prompts = load_prompt_file()
    assert set(prompts) == {"sentiment", "spam", "question_type", "topic", "language"}
    assert prompts["question_type"].label_names == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    assert prompts["spam"].label_names == ("ham", "spam")  # as sms_spam names them
    assert "{text}" not in prompts["sentiment"].render("great film")


def test_prompt_file_reference_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text(
        "format: fute-prompts/1\nprompts:\n  yn:\n    template: 'Q: {text}'\n"
        "    labels: {'no': ['no'], 'yes': ['yes', sure]}\n"
    )
    assert load_prompt(f"{good}#yn").labels == (("no", ("no",)), ("yes", ("yes", "sure")))
    with pytest.raises(ConfigError, match="valid: \\['yn'\\]"):
        load_prompt(f"{good}#other")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "format: fute-prompts/1\nprompts:\n  x:\n    template: 'Q: {text}'\n    labels: {no: [a], b: [b]}\n"
    )
    with pytest.raises(ConfigError, match="quote"):  # YAML 1.1 reads `no` as False
        load_prompt(f"{bad}#x")
    bad.write_text(
        "format: fute-prompts/1\nprompts:\n  x:\n    template: 'Q: {question}'\n    labels: {a: [a], b: [b]}\n"
    )
    with pytest.raises(ConfigError, match="placeholders"):
        load_prompt(f"{bad}#x")
    bad.write_text("format: fute-prompts/1\nprompts:\n  x:\n    template: '{text}'\n    labels: {a: [a]}\n")
    with pytest.raises(ConfigError, match="at least 2"):
        load_prompt(f"{bad}#x")


# ---- callables ----------------------------------------------------------------------------


def test_shipped_sentiment_adapters_score_real_text() -> None:
    texts = [CorpusExample("What a wonderful, lovely day!"), CorpusExample("This is awful and I hate it.")]
    for name in ("vader", "textblob"):
        adapter = load_adapter(f"callable:{name}")
        scores = validate_outputs(adapter.predict(texts), adapter, 2, name)
        assert adapter.output_kind == "regression"
        assert scores[0] > 0 > scores[1], name
    probs = load_adapter("callable:vader-probs")
    p = validate_outputs(probs.predict(texts), probs, 2)
    assert probs.label_names == ("negative", "neutral", "positive")
    assert p[0, 2] > p[0, 0] and p[1, 0] > p[1, 2]


def test_shipped_profanity_and_langid_adapters() -> None:
    profanity = load_adapter("callable:profanity-check")
    p = validate_outputs(
        profanity.predict([CorpusExample("you stupid fucking idiot"), CorpusExample("the weather is nice")]),
        profanity,
        2,
    )
    assert p[0, 1] > 0.5 > p[1, 1]
    langid = load_adapter("callable:langid")
    assert set(langid.label_names) <= set(_chatterbot_languages())
    texts = [
        "Le chat est sur la table et il dort.",
        "Der Hund schläft unter dem Tisch.",
        "El perro come la carne en la cocina y los niños están jugando en el jardín.",
    ]
    q = validate_outputs(langid.predict([CorpusExample(t) for t in texts]), langid, 3)
    assert [langid.label_names[i] for i in q.argmax(1)] == ["french", "german", "spanish"]


def test_multilingual_corpus_exercises_a_language_identifier() -> None:
    # What the packaged multilingual U is for: py3langid, blind on the English U, tells many
    # languages apart on it.
    langid = load_adapter("callable:langid")

    def answers(corpus: str | None) -> set[str]:
        probs = langid.predict(list(load_corpus(corpus, limit=200).examples))
        return {langid.label_names[i] for i in probs.argmax(1)}

    assert len(answers(None)) <= 3
    assert len(answers("packaged:multilingual")) >= 15


def _chatterbot_languages() -> list[str]:
    tasks = json.loads((ROOT / "benchmarks" / "suite" / "tasks.json").read_text())
    return next(t["label_names"] for t in tasks if t["name"] == "chatterbot_language")


def test_langid_labels_are_chatterbot_names() -> None:
    assert set(LANGID_CHATTERBOT) == set(_chatterbot_languages()) - {"hinglish", "traditionalchinese"}


def test_every_builtin_alias_resolves() -> None:
    for name in BUILTIN_CALLABLES:
        adapter = load_adapter(f"callable:{name}")
        assert len(adapter.identity()) == 64


@fute_adapter(labels=("short", "long"), kind="soft")
def _length_model(texts: list[str]) -> np.ndarray:
    p = np.array([min(len(t) / 100, 1.0) for t in texts])
    return np.stack([1 - p, p], axis=1)


def test_user_callable_spec_pairs_and_identity() -> None:
    adapter = load_adapter("callable:tests.test_models_adapters:_length_model")
    out = adapter.predict([CorpusExample("ab", "cd")])
    assert out.shape == (1, 2) and out[0, 1] == pytest.approx(0.05)  # "ab\ncd": pair joined
    relabelled = load_adapter(
        "callable:tests.test_models_adapters:_length_model", AdapterOptions(labels=("s", "l"))
    )
    assert relabelled.identity() != adapter.identity()
    assert load_adapter("callable:tests.test_models_adapters:_length_model").identity() == adapter.identity()


def test_callable_errors() -> None:
    with pytest.raises(ConfigError, match=r"package\.module:function"):
        load_adapter("callable:nomodule")
    with pytest.raises(ModelNotFoundError, match="cannot import"):
        load_adapter("callable:no_such_pkg_xyz.mod:fn")
    with pytest.raises(ConfigError, match="no attribute"):
        load_adapter("callable:math:nothing_here")
    with pytest.raises(ConfigError, match="not callable"):
        load_adapter("callable:math:pi")
    with pytest.raises(ConfigError, match="output kind"):
        load_adapter("callable:math:sqrt")  # undeclared function, no --output-kind
    with pytest.raises(ConfigError, match="label names"):
        CallableAdapter(lambda t: t, "x:y", output_kind="soft")
