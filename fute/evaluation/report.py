"""Evaluation results as a printed table, markdown, CSV and heatmaps."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from fute.evaluation.ground_truth import GroundTruth
from fute.evaluation.rankings import METRICS, RankerResult, Similarities
from fute.similarity import write_heatmap

_LABELS = {
    "ndcg_norm": "NDCG (min-max)",
    "ndcg": "NDCG (raw)",
    "regret@1": "regret@1 %",
    "regret@3": "regret@3 %",
    "spearman": "Spearman",
    "gain@1": "gain@1",
}


def _cell(result: RankerResult, metric: str, with_interval: bool) -> str:
    mean = result.mean(metric)
    if not with_interval or result.name in ("oracle",):
        return f"{mean:.3f}"
    lo, hi = result.interval(metric)
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def summary_table(results: Sequence[RankerResult], title: str, *, with_interval: bool = True) -> Table:
    """Rankers as rows, metric means (with 95% bootstrap intervals over targets) as columns."""
    table = Table(title=title, title_justify="left")
    table.add_column("ranker", style="bold")
    for metric, higher in METRICS.items():
        table.add_column(f"{_LABELS[metric]} {'↑' if higher else '↓'}", justify="right")
    for r in results:
        table.add_row(r.name, *(_cell(r, m, with_interval) for m in METRICS))
    return table


def markdown_table(results: Sequence[RankerResult], *, with_interval: bool = True) -> str:
    """The summary table as GitHub markdown."""
    head = ["ranker", *(f"{_LABELS[m]} {'↑' if up else '↓'}" for m, up in METRICS.items())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        lines.append("| " + " | ".join([r.name, *(_cell(r, m, with_interval) for m in METRICS)]) + " |")
    return "\n".join(lines) + "\n"


def write_per_target_csv(path: str | Path, results: Sequence[RankerResult]) -> None:
    """One row per (ranker, target): the chosen top source and every metric."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ranker", "target", "top1", *METRICS])
        for r in results:
            for t in r.per_target:
                w.writerow([r.name, t.target, t.top1, *(f"{t.values[m]:.6f}" for m in METRICS)])


def transfer_matrix(gt: GroundTruth, tasks: Sequence[str]) -> np.ndarray:
    """Mean gain over the baseline, rows targets and columns sources; NaN where not measured."""
    out = np.full((len(tasks), len(tasks)), np.nan)
    for i, target in enumerate(tasks):
        base = gt.baseline(target)
        for j, source in enumerate(tasks):
            if (source, target) in gt.runs and base is not None:
                out[i, j] = gt.score(source, target) - base
    return out


def similarity_matrix(similarities: Similarities, tasks: Sequence[str]) -> np.ndarray:
    """A ranker's similarities as a matrix, rows targets and columns sources; NaN elsewhere."""
    out = np.full((len(tasks), len(tasks)), np.nan)
    for i, target in enumerate(tasks):
        for j, source in enumerate(tasks):
            if source in similarities.get(target, {}):
                out[i, j] = similarities[target][source]
    return out


def write_transfer_heatmap(path: str | Path, gt: GroundTruth) -> None:
    """PNG of :func:`transfer_matrix`: red cells hurt the target, blue ones helped."""
    tasks = gt.tasks
    write_heatmap(
        path,
        tasks,
        transfer_matrix(gt, tasks),
        "measured transfer: target score after the source minus target alone",
        xlabel="source",
        ylabel="target",
        cmap="RdBu",
        symmetric=True,
    )


def write_similarity_heatmap(
    path: str | Path, name: str, similarities: Similarities, tasks: Sequence[str]
) -> None:
    """PNG of one ranker's target-to-source similarities."""
    write_heatmap(
        path,
        tasks,
        similarity_matrix(similarities, tasks),
        f"{name}: similarity of target (row) to source (column)",
        xlabel="source",
        ylabel="target",
    )
