"""The ablation's per-tensor sketches reproduce the embeddings `fute embed` writes."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ablation.profiles import TrainVariant, compute_profile
from benchmarks.ablation.vectors import DEFAULT, Option, cosine_table, selected, vector
from fute.methods.fim import FimMethod, FimSettings
from fute.surrogate import Surrogate
from tests.conftest import suite_task, tiny_surrogate


@pytest.fixture(scope="module")
def tiny_profile(surrogate: Surrogate) -> tuple[Surrogate, dict[str, np.ndarray]]:
    tiny = tiny_surrogate(surrogate)
    variant = TrainVariant("e1", 1, estimators=("mean_sq", "batch_sq"))
    return tiny, compute_profile(tiny, variant, suite_task("sms_spam", 24))


@pytest.mark.parametrize("dim", [1024, 4096])
def test_default_option_equals_the_library_embedding(
    tiny_profile: tuple[Surrogate, dict[str, np.ndarray]], dim: int
) -> None:
    tiny, profile = tiny_profile
    emb = FimMethod(tiny, FimSettings(dim=dim, transform="none")).embed(
        suite_task("sms_spam", 24), progress=False
    )
    got = vector(profile, DEFAULT.vary(dim=dim))
    np.testing.assert_allclose(got, emb.vector, rtol=1e-4, atol=1e-6 * float(np.abs(emb.vector).max()))


@pytest.mark.parametrize(
    ("option", "settings"),
    [
        (Option(norm="tensor"), {"normalise": "tensor", "transform": "none"}),
        (Option(norm="layer"), {"normalise": "layer", "transform": "none"}),
        (Option(log=True), {}),  # the library default since the ablation
        (Option(log=True, norm="tensor", dim=2048), {"transform": "log", "normalise": "tensor", "dim": 2048}),
        (
            Option(params="attention", norm="layer"),
            {"parameters": "attention", "normalise": "layer", "transform": "none"},
        ),
    ],
)
def test_ablated_options_equal_the_library_settings_that_implement_them(
    tiny_profile: tuple[Surrogate, dict[str, np.ndarray]], option: Option, settings: dict[str, object]
) -> None:
    """Whatever the ablation picks can become a default without changing what it measured."""
    tiny, profile = tiny_profile
    emb = FimMethod(tiny, FimSettings(**settings)).embed(suite_task("sms_spam", 24), progress=False)  # type: ignore[arg-type]
    got = vector(profile, option)
    np.testing.assert_allclose(got, emb.vector, rtol=1e-4, atol=1e-5 * float(np.abs(emb.vector).max()))


def test_stored_norms_match_the_sketched_tensors(
    tiny_profile: tuple[Surrogate, dict[str, np.ndarray]],
) -> None:
    _, profile = tiny_profile
    names = profile["names"]
    # Only the first tensor, normalised: the sketch of a unit-norm tensor has norm ~1 (CountSketch
    # preserves norms in expectation), whatever the raw scale of the Fisher values.
    raw = profile["mean_sq/raw"][0] / np.sqrt(profile["mean_sq/raw_sq"][0])
    assert 0.5 < float(np.linalg.norm(raw)) < 1.5
    assert selected(names, "no_word_embeddings").sum() == len(names) - 1


def test_subsets_and_norms_change_the_vector(tiny_profile: tuple[Surrogate, dict[str, np.ndarray]]) -> None:
    _, profile = tiny_profile
    base = vector(profile, DEFAULT)
    for opt in (Option(params="attention"), Option(norm="tensor"), Option(norm="layer"), Option(log=True)):
        other = vector(profile, opt)
        cos = float(base @ other / np.linalg.norm(base) / np.linalg.norm(other))
        assert cos < 0.9999, opt.label()


def test_centring_removes_the_shared_direction() -> None:
    shared = np.array([10.0, 0.0, 0.0])
    targets = {"t": shared + np.array([0.0, 1.0, 0.0])}
    sources = {"a": shared + np.array([0.0, 1.0, 0.0]), "b": shared + np.array([0.0, -1.0, 0.0])}
    plain = cosine_table(targets, sources, {"t": ["a", "b"]}, centre=False)
    centred = cosine_table(targets, sources, {"t": ["a", "b"]}, centre=True)
    assert plain["t"]["b"] > 0.9  # everything looks alike before centring
    assert centred["t"]["a"] == pytest.approx(1.0) and centred["t"]["b"] == pytest.approx(-1.0)
