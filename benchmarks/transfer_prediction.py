"""Calibrate and judge predicted transfer gain and P(help), leaving one target out.

For every target of the ground truth with a baseline, its candidates are the sources
measured on it; their cosines come from ``fute eval``-style embedding folders (targets on
the ground truth's capped sample, sources on their whole split). Leaving one target out,
the predictor (``fute.transfer_prediction``) is fit on the other targets' pairs and
predicts the held-out target's; the pooled predictions are judged against measured gain:

- P(help): AUC for "gain > 0" against standardised cosine's AUC, Brier score against the
  base rate, a reliability table (and ``transfer_calibration.png``);
- the ranking by predicted gain against cosine's, per target (NDCG, regret, Spearman,
  gain@1) with paired bootstrap intervals; targets whose top pick is within seed noise of
  the best; how often "train on the target alone" was the right advice.

Finally it fits on every target and writes the packaged predictor (``--write``).

    python -m benchmarks.transfer_prediction \\
        --ranker fim runs/eval/fim-log/target runs/eval/fim-log/source \\
        --ranker text runs/eval/text/target runs/eval/text/source --write
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import banner
from fute.cli.evaluate import load_embedding_dir
from fute.evaluation.ground_truth import GroundTruth, load_ground_truth
from fute.evaluation.rankings import RankerResult, evaluate_ranker, paired_differences
from fute.transfer_prediction import (
    FEATURE_SETS,
    FEATURES,
    PACKAGED,
    TransferPredictor,
    auc,
    brier,
    candidate_features,
    fit_predictor,
    reliability,
)

RESULTS = Path(__file__).resolve().parent / "results"
GROUND_TRUTH = RESULTS / "transfer" / "ground_truth.jsonl"
PACKAGED_PATH = Path(__file__).resolve().parents[1] / "fute" / "resources" / PACKAGED


@dataclass(frozen=True)
class TargetPairs:
    """One target's candidates: names, cosines, measured gains."""

    target: str
    sources: tuple[str, ...]
    cosines: np.ndarray
    gains: np.ndarray


def gains_of(gt: GroundTruth, target: str) -> dict[str, float]:
    """Measured gain of each source on ``target``: score after it minus the target alone."""
    base = gt.baseline(target)
    assert base is not None
    return {s: v - base for s, v in gt.scores(target).items()}


def target_pairs(gt: GroundTruth, folders: tuple[Path, Path]) -> list[TargetPairs]:
    """Targets with a baseline and embeddings, each with the measured sources it has vectors of."""
    targets, sources = (load_embedding_dir(f) for f in folders)
    out = []
    for t in gt.targets:
        if gt.baseline(t) is None or t not in targets:
            continue
        gains = gains_of(gt, t)
        names = tuple(s for s in sorted(gains) if s in sources)
        if len(names) < 3:
            continue
        cos = np.array([targets[t].cosine(sources[s]) for s in names])
        out.append(TargetPairs(t, names, cos, np.array([gains[s] for s in names])))
    return out


def source_priors(pairs: list[TargetPairs], exclude: set[str]) -> dict[str, float]:
    """Each source's mean measured gain over the targets not in ``exclude``."""
    seen: dict[str, list[float]] = {}
    for tp in pairs:
        if tp.target in exclude:
            continue
        for s, g in zip(tp.sources, tp.gains, strict=True):
            seen.setdefault(s, []).append(float(g))
    return {s: float(np.mean(v)) for s, v in seen.items()}


def features_of(tp: TargetPairs, priors: dict[str, float] | None) -> np.ndarray:
    """Features of one target's pairs; priors by source name (NaN where unknown)."""
    p = None if priors is None else np.array([priors.get(s, np.nan) for s in tp.sources])
    return candidate_features(tp.cosines, p)


def training_set(
    pairs: list[TargetPairs], held_out: str | None, with_prior: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of every target but ``held_out``; a pair's prior never includes its own target."""
    xs, ys = [], []
    for tp in pairs:
        if tp.target == held_out:
            continue
        excluded = {tp.target} | ({held_out} if held_out else set())
        xs.append(features_of(tp, source_priors(pairs, excluded) if with_prior else None))
        ys.append(tp.gains)
    return np.vstack(xs), np.concatenate(ys)


@dataclass(frozen=True)
class HeldOut:
    """Leave-one-target-out predictions of one predictor variant."""

    name: str
    per_target: dict[str, tuple[np.ndarray, np.ndarray]]  # target -> (gain, p_help)


def leave_one_target_out(pairs: list[TargetPairs], feature_set: str, l2: float) -> HeldOut:
    """Predict every target from a predictor fit on the others, with one feature subset."""
    use = FEATURE_SETS[feature_set]
    with_prior = "source_prior" in use
    out = {}
    for tp in pairs:
        x, y = training_set(pairs, tp.target, with_prior)
        model = fit_predictor(x, y, use=use, l2=l2)
        priors = source_priors(pairs, {tp.target}) if with_prior else None
        out[tp.target] = model.predict(features_of(tp, priors))
    return HeldOut(f"predictor ({feature_set})", out)


def _ranker(
    name: str, gt: GroundTruth, pairs: list[TargetPairs], scores: dict[str, np.ndarray]
) -> RankerResult:
    sims = {tp.target: dict(zip(tp.sources, map(float, scores[tp.target]), strict=True)) for tp in pairs}
    # Only the sources with vectors take part (the ground truth may hold more).
    keep = {(s, tp.target) for tp in pairs for s in tp.sources} | {(None, tp.target) for tp in pairs}
    sub = GroundTruth({k: v for k, v in gt.runs.items() if k in keep}, gt.config)
    return evaluate_ranker(name, sims, sub)


def _pooled(pairs: list[TargetPairs], held: HeldOut) -> dict[str, Any]:
    gain = np.concatenate([tp.gains for tp in pairs])
    helps = gain > 0
    p = np.concatenate([held.per_target[tp.target][1] for tp in pairs])
    pred = np.concatenate([held.per_target[tp.target][0] for tp in pairs])
    z = np.concatenate([candidate_features(tp.cosines)[:, 0] for tp in pairs])
    return {
        "pairs": len(gain),
        "share_helping": float(helps.mean()),
        "auc_p_help": auc(p, helps),
        "auc_z_cosine": auc(z, helps),
        "brier": brier(p, helps),
        "brier_base_rate": brier(np.full(len(p), helps.mean()), helps),
        "gain_mae": float(np.abs(pred - gain).mean()),
        "gain_mae_mean": float(np.abs(gain.mean() - gain).mean()),
        "gain_pearson": float(np.corrcoef(pred, gain)[0, 1]),
        "reliability": reliability(p, helps),
    }


def _advice(pairs: list[TargetPairs], held: HeldOut, noise: float) -> dict[str, Any]:
    """How often "train alone" was right, and top picks within seed noise of the best."""
    right = alone_advised = within = 0
    for tp in pairs:
        gain, p = held.per_target[tp.target]
        advise_alone = bool(p.max() < 0.5)
        truly_alone = bool(tp.gains.max() <= 0)
        alone_advised += advise_alone
        right += advise_alone == truly_alone
        within += bool(tp.gains[int(np.argmax(gain))] >= tp.gains.max() - noise)
    n = len(pairs)
    return {
        "targets": n,
        "advice_right": right,
        "advised_alone": alone_advised,
        "truly_no_help": sum(bool(tp.gains.max() <= 0) for tp in pairs),
        "top_pick_within_noise": within,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ground-truth", type=Path, default=GROUND_TRUTH)
    ap.add_argument(
        "--ranker",
        nargs=3,
        action="append",
        metavar=("NAME", "TARGETS", "SOURCES"),
        required=True,
        help="embedding folders; the first ranker is the one the predictor is built on",
    )
    ap.add_argument("--l2", type=float, default=1.0, help="ridge / logistic penalty")
    ap.add_argument("--out", type=Path, default=RESULTS / "transfer_prediction")
    ap.add_argument("--write", action="store_true", help=f"write the packaged predictor {PACKAGED}")
    ap.add_argument(
        "--serve-features",
        choices=list(FEATURE_SETS),
        default="z+prior",
        help="feature set of the packaged predictor (chosen by the held-out comparison)",
    )
    args = ap.parse_args()
    console = Console(width=150, record=True)
    console.print(banner())
    gt = load_ground_truth(args.ground_truth)
    noise = gt.seed_noise()
    name0, t0, s0 = args.ranker[0]
    pairs = target_pairs(gt, (Path(t0), Path(s0)))
    pooled_gain = np.concatenate([tp.gains for tp in pairs])
    console.print(
        f"{len(pairs)} targets, {len(pooled_gain)} pairs; {100 * (pooled_gain <= 0).mean():.0f}% of pairs hurt "
        f"or tie; seed noise (mean |seed a - seed b|) {noise:.3f}"
    )
    variants = [leave_one_target_out(pairs, name, args.l2) for name in FEATURE_SETS]
    record: dict[str, Any] = {"banner": banner(), "targets": [tp.target for tp in pairs], "seed_noise": noise}
    calib = Table(title="P(help) and predicted gain, leave one target out (pooled pairs)")
    for col in (
        "variant",
        "AUC P(help)",
        "AUC z-cos",
        "Brier",
        "Brier base",
        "gain MAE",
        "MAE of mean",
        "r(gain)",
    ):
        calib.add_column(col)
    for held in variants:
        pooled = _pooled(pairs, held)
        record[held.name] = {"pooled": pooled, "advice": _advice(pairs, held, noise)}
        calib.add_row(
            held.name,
            f"{pooled['auc_p_help']:.3f}",
            f"{pooled['auc_z_cosine']:.3f}",
            f"{pooled['brier']:.3f}",
            f"{pooled['brier_base_rate']:.3f}",
            f"{pooled['gain_mae']:.4f}",
            f"{pooled['gain_mae_mean']:.4f}",
            f"{pooled['gain_pearson']:.3f}",
        )
    console.print(calib)
    cosine = _ranker(f"{name0} cosine", gt, pairs, {tp.target: tp.cosines for tp in pairs})
    rankers = [cosine] + [
        _ranker(h.name, gt, pairs, {t: g for t, (g, _) in h.per_target.items()}) for h in variants
    ]
    for name, tdir, sdir in args.ranker[1:]:
        other = {tp.target: tp for tp in target_pairs(gt, (Path(tdir), Path(sdir)))}
        rankers.append(
            _ranker(f"{name} cosine", gt, pairs, {tp.target: _align(tp, other[tp.target]) for tp in pairs})
        )
    table = Table(
        title="Rankings, mean over targets; differences against cosine: mean [95% paired bootstrap]"
    )
    for col in ("ranker", "NDCG(min-max)", "regret@1 %", "regret@3 %", "Spearman", "gain@1"):
        table.add_column(col)
    record["rankings"] = {}
    for r in rankers:
        diffs = paired_differences(r, cosine)
        record["rankings"][r.name] = {"mean": {m: r.mean(m) for m in diffs}, "minus_cosine": diffs}
        cells = []
        for m in ("ndcg_norm", "regret@1", "regret@3", "spearman", "gain@1"):
            d, lo, hi = diffs[m]
            digits = 1 if m.startswith("regret") else 3  # regret is already in percent
            cell = f"{r.mean(m):.{digits}f}"
            if r is not cosine:
                cell += f" ({d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}])"
            cells.append(cell)
        table.add_row(r.name, *cells)
    console.print(table)
    for held in variants:
        a = record[held.name]["advice"]
        console.print(
            f"{held.name}: 'train alone' advice right for {a['advice_right']} of {a['targets']} targets "
            f"(advised {a['advised_alone']}, truly no help {a['truly_no_help']}); top pick within seed "
            f"noise of the best for {a['top_pick_within_noise']}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transfer_prediction.txt").write_text(console.export_text())
    (args.out / "transfer_prediction.md").write_text(_markdown(record, [h.name for h in variants]))
    (args.out / "transfer_prediction.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    _plot_reliability(args.out / "transfer_calibration.png", record, [h.name for h in variants])
    if args.write:
        use = FEATURE_SETS[args.serve_features]
        with_prior = "source_prior" in use
        x, y = training_set(pairs, None, with_prior)
        fitted_on = {
            "ground_truth": str(args.ground_truth.name),
            "embeddings": f"{name0}: {t0} / {s0}",
            "space_key": next(iter(load_embedding_dir(Path(t0)).values())).space.key,
            "targets": len(pairs),
            "pairs": len(y),
            "l2": args.l2,
            "command": f"python -m benchmarks.transfer_prediction --serve-features {args.serve_features} --write",
        }
        priors = source_priors(pairs, set()) if with_prior else None
        model: TransferPredictor = fit_predictor(
            x, y, use=use, l2=args.l2, fitted_on=fitted_on, source_priors=priors
        )
        PACKAGED_PATH.write_text(model.to_json() + "\n")
        console.print(f"wrote {PACKAGED_PATH} (features {list(FEATURES)})")


def _markdown(record: dict[str, Any], names: list[str]) -> str:
    """The two tables of the run as markdown, for docs/evaluation.md."""
    lines = [
        "| predictor (features) | AUC P(help) | AUC z-cosine | Brier | Brier of base rate | r(pred, gain) | 'train alone' right | top pick within noise |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        p, a = record[name]["pooled"], record[name]["advice"]
        lines.append(
            f"| {name} | {p['auc_p_help']:.3f} | {p['auc_z_cosine']:.3f} | {p['brier']:.3f} | "
            f"{p['brier_base_rate']:.3f} | {p['gain_pearson']:.3f} | {a['advice_right']}/{a['targets']} | "
            f"{a['top_pick_within_noise']}/{a['targets']} |"
        )
    lines += [
        "",
        "| ranker | NDCG (min-max) | regret@1 % | regret@3 % | Spearman | gain@1 |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in record["rankings"].items():
        cells = []
        for m in ("ndcg_norm", "regret@1", "regret@3", "spearman", "gain@1"):
            digits = 1 if m.startswith("regret") else 3
            d, lo, hi = row["minus_cosine"][m]
            cell = f"{row['mean'][m]:.{digits}f}"
            if (d, lo, hi) != (0.0, 0.0, 0.0):
                cell += f" ({d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}])"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _align(tp: TargetPairs, other: TargetPairs) -> np.ndarray:
    by_name = dict(zip(other.sources, other.cosines, strict=True))
    return np.array([by_name[s] for s in tp.sources])


def _plot_reliability(path: Path, record: dict[str, Any], names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for name in names:
        rows = record[name]["pooled"]["reliability"]
        ax.plot([r[0] for r in rows], [r[1] for r in rows], marker="o", label=name)
    ax.set_xlabel("predicted P(help), held-out target")
    ax.set_ylabel("observed share of sources that helped")
    ax.set_title("Calibration of P(help)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
