"""Evaluation results as a printed table, markdown, CSV and heatmaps."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from fute.evaluation.calibration import Advice, Calibration
from fute.evaluation.ground_truth import GroundTruth
from fute.evaluation.rankings import METRICS, RankerResult, Similarities, paired_differences
from fute.similarity import write_heatmap

_LABELS = {
    "ndcg_norm": "NDCG (min-max)",
    "ndcg": "NDCG (raw)",
    "regret@1": "regret@1 %",
    "regret@3": "regret@3 %",
    "spearman": "Spearman",
    "gain@1": "gain@1",
    "within_noise@1": "top within noise",
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


def _paired_cell(
    result: RankerResult, baseline: RankerResult, metric: str, diff: tuple[float, float, float]
) -> str:
    # regret is in percent already; one decimal is its resolution at these sizes
    digits = 1 if metric.startswith("regret") else 3
    cell = f"{result.mean(metric):.{digits}f}"
    if result is not baseline:
        d, lo, hi = diff
        cell += f" ({d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}])"
    return cell


def _paired_rows(results: Sequence[RankerResult], baseline: RankerResult) -> list[list[str]]:
    common = {t.target for t in baseline.per_target}
    rows = []
    for r in results:
        mine = r.subset(common)
        diffs = paired_differences(mine, baseline.subset({t.target for t in mine.per_target}))
        rows.append([r.name, *(_paired_cell(r, baseline, m, diffs[m]) for m in METRICS)])
    return rows


def paired_table(results: Sequence[RankerResult], baseline: RankerResult, title: str) -> Table:
    """Each ranker's mean and, in brackets, its difference from ``baseline``: mean per-target
    difference [95% paired bootstrap over targets]. An interval that excludes 0 is a
    difference these targets can tell from noise."""
    table = Table(title=title, title_justify="left")
    table.add_column("ranker", style="bold")
    for metric, higher in METRICS.items():
        table.add_column(f"{_LABELS[metric]} {'↑' if higher else '↓'}", justify="right")
    for row in _paired_rows(results, baseline):
        table.add_row(*row)
    return table


def paired_markdown(results: Sequence[RankerResult], baseline: RankerResult) -> str:
    """:func:`paired_table` as GitHub markdown."""
    head = ["ranker", *(f"{_LABELS[m]} {'↑' if up else '↓'}" for m, up in METRICS.items())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in _paired_rows(results, baseline)]
    return "\n".join(lines) + "\n"


_CALIBRATION_HEAD = (
    "predictor",
    "AUC P(help)",
    "AUC z-cosine",
    "AUC difference [95% paired]",
    "Brier",
    "Brier of base rate",
    "r(pred, gain)",
    "'train alone' right",
    "top pick within noise",
)


def _calibration_row(name: str, c: Calibration, a: Advice) -> list[str]:
    return [
        name,
        f"{c.auc_p_help:.3f}",
        f"{c.auc_z_cosine:.3f}",
        "{:+.3f} [{:+.3f}, {:+.3f}]".format(*c.auc_difference),
        f"{c.brier:.3f}",
        f"{c.brier_base_rate:.3f}",
        f"{c.gain_pearson:.3f}",
        f"{a.advice_right}/{a.targets} (advised {a.advised_alone}, truly none {a.truly_no_help})",
        f"{a.top_pick_within_noise}/{a.targets}",
    ]


def calibration_table(rows: Sequence[tuple[str, Calibration, Advice]], title: str) -> Table:
    """Held-out calibration of each predictor: AUC of P(help) beside standardised cosine's,
    Brier beside the base rate's, and the whole-ranking advice."""
    table = Table(title=title, title_justify="left")
    for col in _CALIBRATION_HEAD:
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for name, c, a in rows:
        table.add_row(*_calibration_row(name, c, a))
    return table


def calibration_markdown(rows: Sequence[tuple[str, Calibration, Advice]]) -> str:
    """:func:`calibration_table` as GitHub markdown."""
    lines = ["| " + " | ".join(_CALIBRATION_HEAD) + " |", "|" + "---|" * len(_CALIBRATION_HEAD)]
    lines += ["| " + " | ".join(_calibration_row(*row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_reliability_plot(path: str | Path, curves: Sequence[tuple[str, Calibration]]) -> None:
    """PNG of held-out P(help) against the observed share that helped, per predictor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for name, c in curves:
        ax.plot([r[0] for r in c.reliability], [r[1] for r in c.reliability], marker="o", label=name)
    ax.set_xlabel("predicted P(help), held-out target")
    ax.set_ylabel("observed share of sources that helped")
    ax.set_title("Calibration of P(help)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
