"""Leave-one-target-out judging of the transfer predictor, and `fute eval --predictor`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fute.cli import main
from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
from fute.evaluation.calibration import (
    TargetPairs,
    advice,
    calibration,
    features_of,
    fit_on_all,
    leave_one_target_out,
    target_pairs,
)
from fute.evaluation.ground_truth import GroundTruth
from fute.evaluation.rankings import evaluate_ranker
from fute.space import EmbeddingSpace
from fute.transfer_prediction import FEATURES, HELP_THRESHOLD, auc, candidate_features


def _truth(n_targets: int = 8, seed: int = 0) -> tuple[GroundTruth, dict[str, dict[str, float]]]:
    """Gains that rise with the cosine, plus noise; a baseline for every target."""
    rng = np.random.default_rng(seed)
    tasks = [f"t{i}" for i in range(n_targets)]
    runs: dict[tuple[str | None, str], dict[int, float]] = {}
    sims: dict[str, dict[str, float]] = {}
    for t in tasks:
        runs[(None, t)] = {0: 0.5}
        sims[t] = {}
        for s in tasks:
            if s == t:
                continue
            cos = float(rng.uniform(0.1, 0.9))
            sims[t][s] = cos
            runs[(s, t)] = {0: 0.5 + 0.1 * (cos - 0.5) + float(rng.normal(0, 0.01))}
    return GroundTruth(runs), sims


def test_a_held_out_target_never_sees_its_own_gains() -> None:
    gt, sims = _truth()
    pairs = target_pairs(gt, sims)
    before = leave_one_target_out(pairs, "z+cos+prior")
    # Rewrite the held-out target's measured gains: its own prediction must not move,
    # while every other target's (which trained on them) may.
    changed = [replace(tp, gains=-tp.gains) if tp.target == "t0" else tp for tp in pairs]
    after = leave_one_target_out(changed, "z+cos+prior")
    np.testing.assert_allclose(after.per_target["t0"].gain, before.per_target["t0"].gain)
    np.testing.assert_allclose(after.per_target["t0"].p_help, before.per_target["t0"].p_help)
    assert not np.allclose(after.per_target["t1"].gain, before.per_target["t1"].gain)


def test_calibration_matches_brute_force_and_a_rising_truth_is_learnt() -> None:
    gt, sims = _truth(10)
    pairs = target_pairs(gt, sims)
    held = leave_one_target_out(pairs, "z+cos")
    c = calibration(pairs, held)
    gains = np.concatenate([tp.gains for tp in pairs])
    p = np.concatenate([held.per_target[tp.target].p_help for tp in pairs])
    z = np.concatenate([candidate_features(tp.cosines)[:, 0] for tp in pairs])
    assert c.pairs == len(gains) == 90
    assert c.auc_p_help == pytest.approx(auc(p, gains > 0))
    assert c.auc_z_cosine == pytest.approx(auc(z, gains > 0))
    assert c.auc_difference[0] == pytest.approx(c.auc_p_help - c.auc_z_cosine)
    assert c.auc_difference[1] <= c.auc_difference[0] <= c.auc_difference[2]
    assert c.gain_pearson > 0.8 and c.brier < c.brier_base_rate
    # z and cosine only rise with cosine, so the predicted gain orders each target as
    # cosine does; here that order is the truth's up to the noise.
    ranked = evaluate_ranker("pred", held.predicted_gains(pairs), gt)
    by_cosine = evaluate_ranker("cos", sims, gt)
    assert ranked.mean("spearman") == pytest.approx(by_cosine.mean("spearman"))
    assert ranked.mean("spearman") > 0.8


def test_advice_says_train_alone_exactly_where_nothing_reaches_the_threshold() -> None:
    pairs = [
        TargetPairs("a", ("x", "y", "z"), np.array([0.1, 0.2, 0.3]), np.array([-0.1, -0.2, -0.05])),
        TargetPairs("b", ("x", "y", "z"), np.array([0.1, 0.2, 0.3]), np.array([0.1, -0.2, 0.05])),
    ]
    from fute.evaluation.calibration import HeldOut, Prediction

    below, above = HELP_THRESHOLD - 0.1, HELP_THRESHOLD + 0.1
    held = HeldOut(
        "z",
        {
            "a": Prediction(np.array([0.0, 0.0, 0.1]), np.array([below, below, below])),
            "b": Prediction(np.array([0.0, 0.0, 0.1]), np.array([below, above, below])),
        },
    )
    a = advice(pairs, held, noise=0.0)
    # a: advised alone, truly none helps (right); b: not advised, x helps (right).
    assert (a.advised_alone, a.truly_no_help, a.advice_right) == (1, 1, 2)
    # Top pick by predicted gain is z on both: best on a (-0.05), 0.05 below the best on b.
    assert a.top_pick_within_noise == 1
    assert advice(pairs, held, noise=0.06).top_pick_within_noise == 2


def test_norms_enter_only_when_every_candidate_has_one() -> None:
    gt, sims = _truth(4)
    norms = {f"t{i}": float(i + 1) for i in range(4)}
    with_norms = target_pairs(gt, sims, norms)
    assert all(tp.norms is not None for tp in with_norms)
    partial = target_pairs(gt, sims, {"t0": 1.0})
    assert all(tp.norms is None for tp in partial)
    model = fit_on_all(with_norms, "z+norm", fitted_on={"ground_truth": "synthetic"})
    assert model.fitted_on["targets"] == 4 and model.fitted_on["ground_truth"] == "synthetic"
    assert model.source_priors == {}  # a feature set without the prior keeps none


def test_a_held_out_target_norm_reaches_its_own_features_only() -> None:
    gt, sims = _truth(6)
    norms = {f"t{i}": float(i + 1) for i in range(6)}
    pairs = target_pairs(gt, sims, norms, {"t0": 9.0, "t1": 2.0})
    by = {tp.target: tp for tp in pairs}
    assert by["t0"].target_norm == 9.0 and by["t2"].target_norm is None
    col = FEATURES.index("target_rel_log_norm")
    want = np.log(9.0) - np.log(np.array([norms[s] for s in by["t0"].sources])).mean()
    np.testing.assert_allclose(features_of(by["t0"], None)[:, col], want)
    assert np.all(np.isnan(features_of(by["t2"], None)[:, col]))
    held = leave_one_target_out(pairs, "z+cos+prior+tnorm")
    assert all(np.all(np.isfinite(held.per_target[t].p_help)) for t in by)  # unknown norms: imputed


def _save(folder: Path, name: str, vector: np.ndarray, space: EmbeddingSpace) -> None:
    info = TaskInfo(name=name, kind="dataset", label_kind="class")
    emb = TaskEmbedding(task=info, space=space, vector=vector.astype(np.float32))
    save_embedding(emb, folder / f"{name}.safetensors")


def test_fute_eval_judges_the_predictor_and_prints_paired_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    tasks = [f"t{i}" for i in range(6)]
    vectors = {t: rng.normal(size=8) for t in tasks}
    unit = {t: v / np.linalg.norm(v) for t, v in vectors.items()}
    rows = []
    for t in tasks:
        rows.append({"source": None, "target": t, "seed": 0, "score": 0.5})
        for s in tasks:
            if s != t:
                rows.append(
                    {"source": s, "target": t, "seed": 0, "score": 0.5 + 0.1 * float(unit[s] @ unit[t])}
                )
    truth = tmp_path / "gt.jsonl"
    truth.write_text("".join(json.dumps(r) + "\n" for r in rows))
    space = EmbeddingSpace("s", "0" * 16, "fim", "{}", 8)
    folder = tmp_path / "emb"
    folder.mkdir()
    for t in tasks:
        _save(folder, t, vectors[t], space)
    out = tmp_path / "report"
    args = ["eval", "--ground-truth", str(truth), "--ranker", "vec", str(folder), "--predictor", "z+cos"]
    assert main([*args, "--paired", "random", "-o", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal's width
    assert "leave one target out (6 targets" in printed and "difference against random" in printed
    md = (out / "eval.md").read_text()
    assert "| vec + predictor (z+cos) |" in md and "difference against random" in md
    assert (out / "calibration.md").read_text().count("| vec + predictor (z+cos) |") == 1
    assert (out / "reliability.png").stat().st_size > 1000
    csv = (out / "eval.csv").read_text().splitlines()
    # cosine is the truth here, so the cosine ranker's top pick is the best on every target
    assert next(r for r in csv if r.startswith("vec,within_noise@1,")).split(",")[2] == "1.000000"


def test_fute_eval_refuses_an_unknown_paired_ranker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "emb"
    folder.mkdir()
    truth = tmp_path / "gt.jsonl"
    truth.write_text(json.dumps({"source": "a", "target": "b", "seed": 0, "score": 0.5}) + "\n")
    code = main(["eval", "--ground-truth", str(truth), "--ranker", "vec", str(folder), "--paired", "nope"])
    assert code == 2
    assert "--paired names rankers ['nope'] that are not given" in capsys.readouterr().err
