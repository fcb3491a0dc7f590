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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.common import banner
from fute.evaluation.calibration import (
    TargetPairs,
    advice,
    calibration,
    fit_on_all,
    leave_one_target_out,
    target_pairs,
)
from fute.evaluation.folders import load_embedding_dir, vector_norms
from fute.evaluation.ground_truth import GroundTruth, load_ground_truth
from fute.evaluation.rankings import METRICS, RankerResult, evaluate_ranker, paired_differences
from fute.evaluation.report import (
    calibration_markdown,
    calibration_table,
    paired_markdown,
    paired_table,
    write_reliability_plot,
)
from fute.transfer_prediction import FEATURE_SETS, FEATURES, PACKAGED

RESULTS = Path(__file__).resolve().parent / "results"
GROUND_TRUTH = RESULTS / "transfer" / "ground_truth.jsonl"
PACKAGED_PATH = Path(__file__).resolve().parents[1] / "fute" / "resources" / PACKAGED


def folder_pairs(gt: GroundTruth, folders: tuple[Path, Path]) -> list[TargetPairs]:
    """:func:`target_pairs` on cosines of the embeddings in (target folder, source folder);
    a source without a vector is left out of its targets' candidates."""
    targets, sources = (load_embedding_dir(f) for f in folders)
    sims = {
        t: {s: targets[t].cosine(sources[s]) for s in gt.sources(t) if s in sources}
        for t in gt.targets
        if t in targets
    }
    return target_pairs(gt, sims, vector_norms(sources), vector_norms(targets))


def _ranker(
    name: str, gt: GroundTruth, pairs: list[TargetPairs], scores: dict[str, np.ndarray]
) -> RankerResult:
    sims = {tp.target: dict(zip(tp.sources, map(float, scores[tp.target]), strict=True)) for tp in pairs}
    # Only the sources with vectors take part (the ground truth may hold more).
    keep = {(s, tp.target) for tp in pairs for s in tp.sources} | {(None, tp.target) for tp in pairs}
    sub = GroundTruth({k: v for k, v in gt.runs.items() if k in keep}, gt.config)
    return evaluate_ranker(name, sims, sub)


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
    console = Console(width=200, record=True)
    console.print(banner())
    gt = load_ground_truth(args.ground_truth)
    noise = gt.seed_noise()
    name0, t0, s0 = args.ranker[0]
    pairs = folder_pairs(gt, (Path(t0), Path(s0)))
    pooled_gain = np.concatenate([tp.gains for tp in pairs])
    console.print(
        f"{len(pairs)} targets, {len(pooled_gain)} pairs; {100 * (pooled_gain <= 0).mean():.0f}% of pairs hurt "
        f"or tie; seed noise (mean |seed a - seed b|) {noise:.3f}; seed-to-seed Spearman (the ceiling) "
        f"{gt.seed_agreement():.2f}; {len(gt.runs)} (source, target) cells, "
        f"seeds {gt.seeds()}"
    )
    variants = [leave_one_target_out(pairs, name, args.l2) for name in FEATURE_SETS]
    rows = [(h.name, calibration(pairs, h), advice(pairs, h, noise)) for h in variants]
    calib_title = "P(help) and predicted gain, leave one target out (pooled pairs)"
    console.print(calibration_table(rows, calib_title))
    cosine = _ranker(f"{name0} cosine", gt, pairs, {tp.target: tp.cosines for tp in pairs})
    rankers = [cosine] + [
        _ranker(h.name, gt, pairs, {t: p.gain for t, p in h.per_target.items()}) for h in variants
    ]
    for name, tdir, sdir in args.ranker[1:]:
        other = {tp.target: tp for tp in folder_pairs(gt, (Path(tdir), Path(sdir)))}
        rankers.append(
            _ranker(f"{name} cosine", gt, pairs, {tp.target: _align(tp, other[tp.target]) for tp in pairs})
        )
    rank_title = "Rankings, mean over targets; differences against cosine: mean [95% paired bootstrap]"
    console.print(paired_table(rankers, cosine, rank_title))
    record: dict[str, Any] = {
        "banner": banner(),
        "targets": [tp.target for tp in pairs],
        "seed_noise": noise,
        "seed_agreement": gt.seed_agreement(),
        "pairs": len(pooled_gain),
        "share_hurting_or_tie": float((pooled_gain <= 0).mean()),
        "predictors": {n: {"calibration": asdict(c), "advice": asdict(a)} for n, c, a in rows},
        "rankings": {
            r.name: {"mean": {m: r.mean(m) for m in METRICS}, "minus_cosine": paired_differences(r, cosine)}
            for r in rankers
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transfer_prediction.txt").write_text(console.export_text())
    (args.out / "transfer_prediction.md").write_text(
        f"{calib_title}\n\n{calibration_markdown(rows)}\n{rank_title}\n\n{paired_markdown(rankers, cosine)}"
    )
    (args.out / "transfer_prediction.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    write_reliability_plot(args.out / "transfer_calibration.png", [(n, c) for n, c, _ in rows])
    if args.write:
        fitted_on = {
            "ground_truth": str(args.ground_truth.name),
            "embeddings": f"{name0}: {t0} / {s0}",
            "space_key": next(iter(load_embedding_dir(Path(t0)).values())).space.key,
            "command": f"python -m benchmarks.transfer_prediction --serve-features {args.serve_features} --write",
        }
        model = fit_on_all(pairs, args.serve_features, args.l2, fitted_on)
        PACKAGED_PATH.write_text(model.to_json() + "\n")
        console.print(f"wrote {PACKAGED_PATH} (features {list(FEATURES)})")


def _align(tp: TargetPairs, other: TargetPairs) -> np.ndarray:
    by_name = dict(zip(other.sources, other.cosines, strict=True))
    return np.array([by_name[s] for s in tp.sources])


if __name__ == "__main__":
    main()
