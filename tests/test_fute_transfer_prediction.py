"""The transfer predictor: features, monotone fits, metrics against brute force, the package."""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import numpy as np
import pytest

from fute.errors import ConfigError
from fute.transfer_prediction import (
    FEATURES,
    MONOTONE,
    auc,
    brier,
    candidate_features,
    fit_predictor,
    load_predictor,
    reliability,
)


def test_features_standardise_within_the_candidate_set() -> None:
    x = candidate_features(np.array([0.2, 0.4, 0.9]), np.array([0.01, np.nan, -0.02]))
    z = x[:, FEATURES.index("z_cosine")]
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    assert list(x[:, FEATURES.index("target_max_cosine")]) == [0.9] * 3
    assert list(x[:, FEATURES.index("has_prior")]) == [1, 0, 1]
    assert x[1, FEATURES.index("source_prior")] == 0.0  # unknown prior: neutral, flagged
    assert np.all(candidate_features(np.array([0.5]))[:, 0] == 0)  # one candidate: z is 0
    with pytest.raises(ConfigError, match="2 priors for 3 candidates"):
        candidate_features(np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.0]))


def _synthetic(n_targets: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gains that rise with z-cosine, plus noise: what a useful predictor must recover."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n_targets):
        cos = rng.uniform(0.2, 0.9, size=9)
        x = candidate_features(cos)
        xs.append(x)
        ys.append(0.05 * x[:, 0] - 0.02 + rng.normal(0, 0.01, size=9))
    return np.vstack(xs), np.concatenate(ys)


def test_fit_recovers_a_rising_relation_and_calibrates() -> None:
    x, y = _synthetic()
    model = fit_predictor(x, y)
    gain, p = model.predict(x)
    assert np.corrcoef(gain, y)[0, 1] > 0.8
    assert auc(p, y > 0) > 0.85
    assert brier(p, y > 0) < brier(np.full(len(y), (y > 0).mean()), y > 0)
    # Round trip through JSON gives the same predictions.
    from fute.transfer_prediction import TransferPredictor

    raw = model.to_json()
    import json

    data = json.loads(raw)
    data.pop("features")
    again = TransferPredictor(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    np.testing.assert_allclose(again.predict(x)[0], gain)


def test_monotone_features_never_get_negative_coefficients() -> None:
    x, y = _synthetic(seed=3)
    model = fit_predictor(x, -y)  # gains that fall with similarity: the fit must refuse the sign
    for name in MONOTONE:
        i = FEATURES.index(name)
        assert model.gain_coef[i] >= 0 and model.help_coef[i] >= 0


def test_a_source_prior_raises_predictions_and_an_unknown_one_is_average() -> None:
    rng = np.random.default_rng(2)
    xs, ys = [], []
    for _ in range(10):  # sources with a good record help, whatever the cosine
        prior = rng.normal(0, 0.03, size=9)
        xs.append(candidate_features(rng.uniform(0.3, 0.8, size=9), prior))
        ys.append(prior + rng.normal(0, 0.005, size=9))
    model = fit_predictor(np.vstack(xs), np.concatenate(ys), use=("z_cosine", "source_prior", "has_prior"))
    model = replace(model, source_priors={"good": 0.05, "bad": -0.05})
    cos = np.array([0.5, 0.5, 0.5])
    gain, p = model.predict_cosines(cos, model.priors_of(["good", "bad", "unknown"]))
    assert gain[0] > gain[2] > gain[1] and p[0] > p[2] > p[1]
    mean_prior = model.mean[FEATURES.index("source_prior")]
    gain_at_mean, _ = model.predict_cosines(cos[:1], np.array([mean_prior]))
    assert gain[2] == pytest.approx(gain_at_mean[0])


def test_auc_and_brier_match_brute_force() -> None:
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, size=30).astype(float)  # ties on purpose
    y = rng.random(30) < 0.4
    pairs = [(a, b) for a, b in product(s[y], s[~y])]
    expected = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert auc(s, y) == pytest.approx(expected)
    assert np.isnan(auc(s, np.ones(30, bool)))
    p = rng.random(30)
    assert brier(p, y) == pytest.approx(np.mean([(pi - yi) ** 2 for pi, yi in zip(p, y, strict=True)]))
    rows = reliability(p, y, bins=4)
    assert sum(n for _, _, n in rows) == 30
    assert all(lo <= mean <= lo + 0.25 for (mean, _, _), lo in zip(rows, [0, 0.25, 0.5, 0.75], strict=False))


def test_packaged_predictor_loads_and_is_monotone_in_cosine() -> None:
    model = load_predictor()
    assert model.fitted_on["pairs"] > 0 and model.fitted_on["targets"] >= 10
    gain, p = model.predict_cosines(np.array([0.1, 0.3, 0.5, 0.7, 0.9]))
    assert np.all(np.diff(gain) >= -1e-12) and np.all(np.diff(p) >= -1e-12)
    assert np.all((p > 0) & (p < 1))


@pytest.mark.slow
def test_a_source_with_shuffled_labels_gets_a_lower_p_help_than_its_true_labels() -> None:
    """Same inputs, labels made uninformative: the embedding, hence P(help), must see it."""
    import random

    from fute.methods import make_method
    from fute.surrogate import load_surrogate
    from tests.conftest import suite_task

    method = make_method("fim", load_surrogate(), {"max_examples": 100})
    target = method.embed(suite_task("vader_movies", 100), progress=False)
    true = suite_task("rotten_tomatoes", 100)
    labels = [e.label for e in true.examples]
    random.Random(0).shuffle(labels)
    shuffled = replace(
        true,
        name="shuffled",
        examples=tuple(replace(e, label=y) for e, y in zip(true.examples, labels, strict=True)),
    )
    others = [suite_task(n, 100) for n in ("trec_coarse", "sms_spam")]
    cands = [method.embed(t, progress=False) for t in (true, shuffled, *others)]
    gain, p = load_predictor().predict_cosines(np.array([target.cosine(c) for c in cands]))
    assert p[1] < p[0] and gain[1] < gain[0]


def test_a_predictor_file_without_a_newer_feature_still_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Files are read by feature name: one written before ``z_log_norm`` existed predicts as before."""
    import json

    x, y = _synthetic(seed=5)
    model = fit_predictor(x, y, use=("z_cosine", "cosine"))
    raw = json.loads(model.to_json())
    i = FEATURES.index("z_log_norm")
    raw["features"] = [f for f in FEATURES if f != "z_log_norm"]
    for key in ("mean", "scale", "gain_coef", "help_coef"):
        del raw[key][i]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(raw))
    old = load_predictor(path)
    np.testing.assert_allclose(old.predict(x)[0], model.predict(x)[0])
    raw["features"][0] = "no_such_feature"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="no_such_feature"):
        load_predictor(path)


def test_log_norm_is_standardised_and_silent_without_usable_norms() -> None:
    cos = np.array([0.2, 0.4, 0.9])
    col = FEATURES.index("z_log_norm")
    x = candidate_features(cos, norms=np.array([1.0, np.e, np.e**2]))
    np.testing.assert_allclose(x[:, col], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert np.all(candidate_features(cos)[:, col] == 0)
    assert np.all(candidate_features(cos, norms=np.array([1.0, 0.0, 2.0]))[:, col] == 0)
    with pytest.raises(ConfigError, match="2 norms for 3 candidates"):
        candidate_features(cos, norms=np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "a transfer predictor is a JSON object, got list"),
        ("{", "not JSON"),
        ('{"features": ["z_cosine"]}', "lacks fields"),
    ],
)
def test_a_bad_predictor_file_is_one_clear_error(tmp_path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_predictor(path)
    with pytest.raises(ConfigError, match="cannot read the transfer predictor"):
        load_predictor(tmp_path / "missing.json")


def test_target_relative_norm_is_one_value_per_set_and_unknown_without_norms() -> None:
    cos = np.array([0.2, 0.4, 0.9])
    col = FEATURES.index("target_rel_log_norm")
    x = candidate_features(cos, norms=np.array([1.0, np.e, np.e**2]), target_norm=np.e**3)
    np.testing.assert_allclose(x[:, col], [2.0, 2.0, 2.0])  # 3 - mean(0, 1, 2)
    assert np.all(np.isnan(candidate_features(cos, target_norm=5.0)[:, col]))  # no candidate norms
    assert np.all(np.isnan(candidate_features(cos, norms=np.ones(3))[:, col]))  # no target norm
    assert np.all(np.isnan(candidate_features(cos, norms=np.ones(3), target_norm=0.0)[:, col]))


def test_a_target_level_norm_is_learnt_and_an_unknown_one_predicts_as_average() -> None:
    """Targets whose vector is long relative to their candidates are helped less (the kind
    of relation the suite shows); the fit must find it, and a target without norms must be
    predicted as if its norm were the training average."""
    rng = np.random.default_rng(3)
    xs, ys = [], []
    for _ in range(20):
        norms = rng.uniform(1.0, 2.0, size=9)
        rel = rng.normal(0.0, 0.3)
        x = candidate_features(
            rng.uniform(0.2, 0.9, size=9), norms=norms, target_norm=float(np.exp(rel)) * norms.mean()
        )
        xs.append(x)
        ys.append(0.03 * x[:, 0] - 0.1 * x[0, FEATURES.index("target_rel_log_norm")] + rng.normal(0, 0.01, 9))
    x, y = np.vstack(xs), np.concatenate(ys)
    model = fit_predictor(x, y, use=("z_cosine", "target_rel_log_norm"))
    col = FEATURES.index("target_rel_log_norm")
    assert model.help_coef[col] < 0 and model.gain_coef[col] < 0
    assert auc(model.predict(x)[1], y > 0) > auc(x[:, 0], y > 0) + 0.05  # the target level adds
    unknown = x.copy()
    unknown[:, col] = np.nan
    average = x.copy()
    average[:, col] = model.mean[col]
    np.testing.assert_allclose(model.predict(unknown)[0], model.predict(average)[0])
    np.testing.assert_allclose(model.predict(unknown)[1], model.predict(average)[1])
    plain = fit_predictor(x, y, use=("z_cosine",))
    assert plain.gain_coef[col] == 0 and plain.help_coef[col] == 0  # not used unless named
