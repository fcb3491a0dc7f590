"""How much a model's outputs on U say: the statistics, their record, the CLI's warning."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from tiny_model import embed_model_argv

from fute.cli import main
from fute.corpus import load_corpus
from fute.embedding import TaskInfo, load_embedding
from fute.informativeness import (
    LOW_ENTROPY_THRESHOLD,
    REGRESSION_BINS,
    OutputInformation,
    output_information,
)
from fute.model_embedding import predict_corpus
from fute.models import AdapterOptions, load_adapter
from fute.surrogate import Surrogate
from tests.conftest import tiny_surrogate


def _onehot(idx: list[int], k: int) -> np.ndarray:
    out = np.full((len(idx), k), 0.0)
    out[np.arange(len(idx)), idx] = 1.0
    return out


def _mi_bruteforce(a: list[int], s: list[str]) -> float:
    """Σ p(a,s) log2 p(a,s) / (p(a) p(s)), straight from the definition."""
    n = len(a)
    total = 0.0
    for x in set(a):
        for y in set(s):
            pxy = sum(1 for i in range(n) if a[i] == x and s[i] == y) / n
            if pxy > 0:
                total += pxy * math.log2(pxy / ((a.count(x) / n) * (s.count(y) / n)))
    return total


def test_constant_outputs_say_nothing() -> None:
    info = output_information(np.tile([0.9, 0.1], (50, 1)), "soft", ["x"] * 25 + ["y"] * 25)
    assert info.answer_entropy == 0.0 and info.majority_share == 1.0 and info.spread == pytest.approx(0.0)
    assert info.majority_index == 0 and info.source_mi == 0.0 and info.source_nmi == 0.0
    assert info.is_low() and "-0.00" not in info.describe()
    flat = output_information(np.full(30, 0.25), "regression")
    assert flat.answer_entropy == 0.0 and flat.spread == 0.0 and flat.n_answers == REGRESSION_BINS
    assert flat.source_mi is None and flat.is_low()


def test_balanced_answers_have_full_entropy_and_soft_spread() -> None:
    info = output_information(_onehot([0, 1, 2, 3] * 10, 4), "soft")
    assert info.answer_entropy == pytest.approx(1.0) and info.majority_share == pytest.approx(0.25)
    assert info.spread == pytest.approx(0.75)  # TV of a one-hot row to the uniform mean
    assert not info.is_low()
    # Probabilities that move without flipping the answer: no entropy, but spread
    probs = np.stack([np.linspace(0.55, 0.95, 40), 1 - np.linspace(0.55, 0.95, 40)], axis=1)
    moving = output_information(probs, "soft")
    assert moving.answer_entropy == 0.0 and moving.spread > 0.05


def test_mutual_information_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    a = [int(x) for x in rng.integers(0, 3, size=200)]
    s = [("p", "q", "r", "t")[int(x)] for x in rng.integers(0, 4, size=200)]
    s = [src if i % 3 else f"{src}{a[i]}" for i, src in enumerate(s)]  # some dependence
    info = output_information(_onehot(a, 3), "soft", s)
    assert info.source_mi == pytest.approx(_mi_bruteforce(a, s), abs=1e-9)
    # answers that are a function of the source: the source explains all of them
    by_source = output_information(_onehot([0, 1] * 20, 2), "soft", ["u", "v"] * 20)
    assert by_source.source_mi == pytest.approx(1.0) and by_source.source_nmi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="input sources"):
        output_information(_onehot([0, 1], 2), "soft", ["u"])


def test_regression_bins_span_the_observed_range() -> None:
    scores = np.linspace(-1.0, 1.0, REGRESSION_BINS * 7)
    info = output_information(scores, "regression")
    assert info.answer_entropy == pytest.approx(1.0) and info.majority_share == pytest.approx(0.1)
    assert info.spread == pytest.approx(0.5, abs=0.02)  # mean |y| over half the range, uniform y


def test_record_round_trips_and_old_records_load() -> None:
    info = output_information(_onehot([0, 0, 1], 2), "soft", ["a", "b", "b"])
    assert OutputInformation.from_pairs(info.to_pairs()) == info
    task = TaskInfo(name="m", kind="model", output_info=info.to_pairs())
    assert TaskInfo.from_json(task.to_json()) == task
    # a record without the field serialises without it, and a file from before it loads
    plain = TaskInfo(name="d")
    assert "output_info" not in json.loads(plain.to_json())
    assert TaskInfo.from_json(json.dumps({"name": "d", "tags": []})).output_info == ()
    assert OutputInformation.from_pairs(()) is None


def test_real_black_boxes_on_the_packaged_corpora() -> None:
    """The measurement behind the threshold, on 300 inputs of each U: a language identifier
    and a profanity filter say almost nothing on English prose, VADER says a lot everywhere."""
    opts = AdapterOptions()
    english = load_corpus("packaged:default", limit=300)
    diverse = load_corpus("packaged:diverse", limit=300)
    got: dict[tuple[str, str], OutputInformation] = {}
    for name in ("vader", "langid", "profanity-check"):
        adapter = load_adapter(f"callable:{name}", opts)
        for tag, corpus in (("default", english), ("diverse", diverse)):
            preds = predict_corpus(adapter, corpus, use_cache=False, progress=False)
            got[(name, tag)] = output_information(preds, adapter.output_kind, corpus.input_sources)
    assert got[("langid", "default")].is_low() and got[("profanity-check", "default")].is_low()
    assert not got[("vader", "default")].is_low() and not got[("vader", "diverse")].is_low()
    assert got[("langid", "default")].source_mi is None
    # on the diverse U the language identifier's answers follow the input's source (UDHR)
    lang = got[("langid", "diverse")]
    assert lang.source_nmi is not None and lang.source_nmi > 0.3
    assert lang.answer_entropy > got[("langid", "default")].answer_entropy


def _embed(tiny_folder: Path, tmp_path: Path, spec: str, *extra: str) -> Path:
    out = tmp_path / f"{spec.split(':')[-1]}.safetensors"
    code = main(embed_model_argv(spec, out, tiny_folder, "--corpus-size", "40", "--no-cache", *extra))
    assert code == 0
    return out


def test_embed_model_records_and_prints_the_information(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fute.model_embedding")
    out = _embed(tiny_folder, tmp_path, "callable:langid")  # English U: 'english' for all
    printed = capsys.readouterr().out
    info = OutputInformation.from_pairs(load_embedding(out).task.output_info)
    assert info is not None and info.n == 40 and info.is_low()
    assert "outputs on U: answer entropy" in printed and "'english'" in printed
    assert printed.count(f"warning: answer entropy below {LOW_ENTROPY_THRESHOLD}") == 1
    # the CLI prints the warning once; the library's log line is switched off there
    assert not [r for r in caplog.records if "says little on U" in r.getMessage()]

    out = _embed(tiny_folder, tmp_path, "callable:vader", "--corpus", "packaged:diverse")
    printed = capsys.readouterr().out
    info = OutputInformation.from_pairs(load_embedding(out).task.output_info)
    assert info is not None and not info.is_low() and info.source_mi is not None
    assert "MI with U's sources" in printed and "warning" not in printed


def test_library_warns_about_a_model_that_says_nothing(
    surrogate: Surrogate, caplog: pytest.LogCaptureFixture
) -> None:
    from fute.methods import FimSettings, make_method
    from fute.model_embedding import embed_model

    method = make_method(
        "fim", tiny_surrogate(surrogate), FimSettings(dim=64, max_examples=16, max_length=16)
    )
    corpus = load_corpus(limit=16)
    caplog.set_level(logging.WARNING, logger="fute.model_embedding")
    emb = embed_model(load_adapter("callable:langid"), method, corpus, use_cache=False, progress=False)
    assert [
        r for r in caplog.records if "says little on U" in r.getMessage() and "'english'" in r.getMessage()
    ]
    assert OutputInformation.from_pairs(emb.task.output_info) is not None
