"""``fute eval``: how well rankers built on task embeddings pick source tasks."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

from fute.errors import ConfigError
from fute.evaluation.folders import load_embedding_dir, vector_norms
from fute.transfer_prediction import FEATURE_SETS

if TYPE_CHECKING:
    from rich.console import Console

    from fute.evaluation.ground_truth import GroundTruth
    from fute.evaluation.rankings import RankerResult, Similarities


def _rankers(specs: list[list[str]]) -> list[tuple[str, Path, Path]]:
    out = []
    for spec in specs:
        if len(spec) not in (2, 3):
            raise ConfigError(f"--ranker takes NAME TARGET_DIR [SOURCE_DIR], got {spec}")
        name, targets = spec[0], Path(spec[1])
        out.append((name, targets, Path(spec[2]) if len(spec) == 3 else targets))
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names) or {"random", "oracle"} & set(names):
        raise ConfigError(f"ranker names must be unique and not 'random' or 'oracle': {names}")
    return out


def _check_names(rankers: list[tuple[str, Path, Path]], paired: list[str]) -> None:
    known = [n for n, _, _ in rankers] + ["random"]
    unknown = [n for n in paired if n not in known]
    if unknown:
        raise ConfigError(f"--paired names rankers {unknown} that are not given; known: {known}")


def _cmd_eval(args: argparse.Namespace) -> int:
    from rich.console import Console

    from fute.evaluation.ground_truth import load_ground_truth
    from fute.evaluation.rankings import (
        csls_similarities,
        embedding_similarities,
        evaluate_ranker,
        oracle_scores,
        random_result,
    )
    from fute.evaluation.report import paired_markdown, paired_table, summary_table

    rankers = _rankers(args.ranker)
    if not rankers:
        raise ConfigError("give at least one --ranker NAME TARGET_DIR [SOURCE_DIR]")
    paired = args.paired or [rankers[0][0]]
    _check_names(rankers, paired)
    console = Console()
    gt = load_ground_truth(args.ground_truth)
    results: list[RankerResult] = []
    sims_by_ranker: dict[str, Similarities] = {}
    first_norms: tuple[dict[str, float], dict[str, float]] = ({}, {})  # (sources, targets)
    for name, target_dir, source_dir in rankers:
        targets, sources = load_embedding_dir(target_dir), load_embedding_dir(source_dir)
        try:
            sims = embedding_similarities(targets, sources, gt)
        except ValueError as exc:
            raise ConfigError(f"ranker {name!r} ({target_dir}, {source_dir}): {exc}") from None
        sims_by_ranker[name] = sims
        for k in args.csls:
            label = f"{name} csls@{k}"
            results.append(evaluate_ranker(label, csls_similarities(targets, sources, gt, k), gt))
        if name == rankers[0][0]:  # the predictor is built on the first ranker; it reads norms
            first_norms = (vector_norms(sources), vector_norms(targets))
        results.append(evaluate_ranker(name, sims, gt))
    results.append(random_result(gt))
    first = rankers[0][0]
    predicted = (
        _predictor_results(args, gt, first, sims_by_ranker[first], first_norms, console)
        if args.predictor
        else []
    )
    shown = [*results, *predicted, evaluate_ranker("oracle", oracle_scores(gt), gt)]
    title = (
        f"source ranking on {len(gt.targets)} targets x {len(gt.sources(gt.targets[0]))} sources, "
        f"seeds {gt.seeds()} (mean [95% bootstrap over targets]); seed noise {gt.seed_noise():.3f}, "
        f"seed-to-seed Spearman {gt.seed_agreement():.2f}"
    )
    console.print(summary_table(shown, title))
    by_name = {r.name: r for r in shown}
    paired_md = []
    for name in paired:
        heading = f"difference against {name}: mean per target [95% paired bootstrap over targets]"
        console.print(paired_table(shown[:-1], by_name[name], heading))
        paired_md.append(f"{heading}\n\n{paired_markdown(shown[:-1], by_name[name])}")
    if args.out:
        _write_reports(Path(args.out), title, shown, paired_md, sims_by_ranker, gt)
        console.print(f"wrote {args.out}/eval.md, eval.csv, per_target.csv, transfer.png, similarity_*.png")
    return 0


def _predictor_results(
    args: argparse.Namespace,
    gt: GroundTruth,
    name: str,
    sims: Similarities,
    norms: tuple[dict[str, float], dict[str, float]],
    console: Console,
) -> list[RankerResult]:
    """Rankings by held-out predicted gain on ``name``'s similarities, and their calibration."""
    from fute.evaluation.calibration import advice, calibration, leave_one_target_out, target_pairs
    from fute.evaluation.ground_truth import GroundTruth
    from fute.evaluation.rankings import evaluate_ranker
    from fute.evaluation.report import calibration_markdown, calibration_table, write_reliability_plot

    pairs = target_pairs(gt, sims, *norms)
    kept = {tp.target for tp in pairs}
    left = sorted(set(gt.targets) - kept)
    if len(pairs) < 2:
        raise ConfigError(
            f"--predictor needs two or more targets with a baseline (source null) and >= 3 sources; "
            f"{len(pairs)} have them"
        )
    if left:
        console.print(f"predictor: {len(pairs)} targets; left out (no baseline or < 3 sources): {left}")
    sub = GroundTruth({k: v for k, v in gt.runs.items() if k[1] in kept}, gt.config)
    rows, out = [], []
    for fs in args.predictor:
        held = leave_one_target_out(pairs, fs, args.l2)
        label = f"{name} + {held.name}"
        rows.append((label, calibration(pairs, held), advice(pairs, held, gt.seed_noise())))
        out.append(evaluate_ranker(label, held.predicted_gains(pairs), sub))
    title = f"P(help) and predicted gain on {name}, leave one target out ({len(pairs)} targets, pooled pairs)"
    console.print(calibration_table(rows, title))
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "calibration.md").write_text(f"{title}\n\n{calibration_markdown(rows)}")
        write_reliability_plot(folder / "reliability.png", [(n, c) for n, c, _ in rows])
    return out


def _write_reports(
    out: Path,
    title: str,
    shown: list[RankerResult],
    paired_md: list[str],
    sims_by_ranker: dict[str, Similarities],
    gt: GroundTruth,
) -> None:
    from fute.evaluation.rankings import METRICS
    from fute.evaluation.report import (
        markdown_table,
        write_per_target_csv,
        write_similarity_heatmap,
        write_transfer_heatmap,
    )

    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.md").write_text("\n\n".join([f"{title}\n\n{markdown_table(shown)}", *paired_md]))
    with open(out / "eval.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ranker", "metric", "mean", "ci_low", "ci_high"])
        for r in shown:
            for m in METRICS:
                lo, hi = r.interval(m)
                w.writerow([r.name, m, f"{r.mean(m):.6f}", f"{lo:.6f}", f"{hi:.6f}"])
    write_per_target_csv(out / "per_target.csv", shown)
    write_transfer_heatmap(out / "transfer.png", gt)
    for name, sims in sims_by_ranker.items():
        slug = re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")  # a ranker name may hold spaces
        write_similarity_heatmap(out / f"similarity_{slug}.png", name, sims, gt.tasks)


def register_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fute eval``."""
    p = sub.add_parser(
        "eval",
        help="score source-task rankings against measured transfer (NDCG, regret@k)",
        description="For each target task of the ground truth, rank its candidate sources by the cosine "
        "of their task embeddings and compare with the measured transfer: NDCG (raw and min-max "
        "normalised relevance), regret@1 and @3, Spearman, and the gain of the top source over the "
        "target alone; random order and the oracle are always included.",
    )
    p.add_argument(
        "--ground-truth",
        required=True,
        type=Path,
        help="JSONL of transfer runs (benchmarks/transfer_ground_truth.py)",
    )
    p.add_argument(
        "--ranker",
        nargs="+",
        action="append",
        default=[],
        metavar="ARG",
        help="NAME TARGET_DIR [SOURCE_DIR]: folders of embedding files named by task; targets are "
        "embedded from their own data, sources from theirs or as models (repeatable)",
    )
    p.add_argument(
        "--paired",
        action="append",
        default=[],
        metavar="NAME",
        help="also show every ranker's difference from this one (a --ranker name or 'random'), "
        "with a 95%% paired bootstrap interval over targets (repeatable; default: the first ranker)",
    )
    p.add_argument(
        "--predictor",
        action="append",
        default=[],
        choices=list(FEATURE_SETS),
        metavar="FEATURES",
        help="judge the transfer predictor (predicted gain, P(help)) on the first ranker's "
        "similarities, fit leaving one target out, with this feature set "
        f"({', '.join(FEATURE_SETS)}; the packaged predictor, which the store serves, uses "
        "z+cos+prior+tnorm); repeatable",
    )
    p.add_argument(
        "--csls",
        type=int,
        action="append",
        default=[],
        metavar="K",
        help="also rank every ranker's candidates by CSLS over K nearest tasks (hub-aware, as "
        "FindSimilarTasks/RankSourceTasks similarity=csls), named 'NAME csls@K' (repeatable)",
    )
    p.add_argument("--l2", type=float, default=1.0, help="penalty of the predictor's fits (default 1.0)")
    p.add_argument(
        "-o",
        "--out",
        help="folder for eval.md, eval.csv, per_target.csv, heatmaps (and with --predictor "
        "calibration.md and reliability.png)",
    )
    p.set_defaults(func=_cmd_eval)
