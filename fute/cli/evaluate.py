"""``fute eval``: how well rankers built on task embeddings pick source tasks."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from fute.embedding import TaskEmbedding
from fute.errors import ConfigError


def load_embedding_dir(folder: Path) -> dict[str, TaskEmbedding]:
    """Every ``*.safetensors`` embedding in ``folder``, by task name.

    Raises:
        ConfigError: the folder is missing, empty, or names one task twice.
    """
    from fute.embedding import load_embedding

    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder of embedding files")
    out: dict[str, TaskEmbedding] = {}
    where: dict[str, Path] = {}
    for path in sorted(folder.glob("*.safetensors")):
        emb = load_embedding(path)
        name = emb.task.name
        if name in out:
            raise ConfigError(
                f"task {name!r} has two embeddings in {folder}: {where[name].name} and {path.name}"
            )
        out[name], where[name] = emb, path
    if not out:
        raise ConfigError(f"{folder}: no .safetensors embedding files")
    return out


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


def _cmd_eval(args: argparse.Namespace) -> int:
    from rich.console import Console

    from fute.evaluation.ground_truth import load_ground_truth
    from fute.evaluation.rankings import (
        METRICS,
        RankerResult,
        embedding_similarities,
        evaluate_ranker,
        oracle_scores,
        random_result,
    )
    from fute.evaluation.report import (
        markdown_table,
        summary_table,
        write_per_target_csv,
        write_similarity_heatmap,
        write_transfer_heatmap,
    )

    console = Console()
    gt = load_ground_truth(args.ground_truth)
    results: list[RankerResult] = []
    sims_by_ranker = {}
    for name, target_dir, source_dir in _rankers(args.ranker):
        targets, sources = load_embedding_dir(target_dir), load_embedding_dir(source_dir)
        try:
            sims = embedding_similarities(targets, sources, gt)
        except ValueError as exc:
            raise ConfigError(f"ranker {name!r} ({target_dir}, {source_dir}): {exc}") from None
        sims_by_ranker[name] = sims
        results.append(evaluate_ranker(name, sims, gt))
    results.append(random_result(gt))
    results.append(evaluate_ranker("oracle", oracle_scores(gt), gt))
    title = (
        f"source ranking on {len(gt.targets)} targets x {len(gt.sources(gt.targets[0]))} sources, "
        f"seeds {gt.seeds()} (mean [95% bootstrap over targets]); seed noise {gt.seed_noise():.3f}"
    )
    console.print(summary_table(results, title))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.md").write_text(f"{title}\n\n{markdown_table(results)}")
        with open(out / "eval.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["ranker", "metric", "mean", "ci_low", "ci_high"])
            for r in results:
                for m in METRICS:
                    lo, hi = r.interval(m)
                    w.writerow([r.name, m, f"{r.mean(m):.6f}", f"{lo:.6f}", f"{hi:.6f}"])
        write_per_target_csv(out / "per_target.csv", results)
        write_transfer_heatmap(out / "transfer.png", gt)
        for name, sims in sims_by_ranker.items():
            slug = re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")  # a ranker name may hold spaces
            write_similarity_heatmap(out / f"similarity_{slug}.png", name, sims, gt.tasks)
        console.print(f"wrote {out}/eval.md, eval.csv, per_target.csv, transfer.png, similarity_*.png")
    return 0


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
    p.add_argument("-o", "--out", help="folder for eval.md, eval.csv, per_target.csv and heatmaps")
    p.set_defaults(func=_cmd_eval)
