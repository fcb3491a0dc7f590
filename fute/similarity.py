"""Cosine similarity between task embeddings of one space, as a matrix, a table and a picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fute.embedding import TaskEmbedding
from fute.errors import FuteError
from fute.space import check_one_space


def cosine_matrix(embeddings: Sequence[TaskEmbedding]) -> np.ndarray:
    """Pairwise cosines; raises :class:`~fute.errors.SpaceMismatchError` unless every pair
    of embeddings may be compared (:func:`~fute.space.check_one_space`)."""
    if not embeddings:
        raise FuteError("no embeddings to compare")
    check_one_space([(e.space, repr(e.task.name)) for e in embeddings])
    mat = np.stack([e.vector.astype(np.float64) for e in embeddings])
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    unit = mat / np.where(norms > 0, norms, 1.0)
    sims: np.ndarray = unit @ unit.T
    return sims


def neighbourhood_radius(sims: np.ndarray, k: int) -> np.ndarray:
    """r(x): each task's mean similarity to its ``k`` most similar *other* tasks.

    A hub (a task close to many others) has a large r. ``k`` is capped at n - 1; with one
    task, r = 0. Raises :class:`~fute.errors.FuteError` for k < 1 or a non-square matrix.
    """
    if k < 1:
        raise FuteError(f"CSLS needs k >= 1 nearest tasks, got {k}")
    n = sims.shape[0]
    if sims.ndim != 2 or sims.shape[1] != n:
        raise FuteError(f"expected a square similarity matrix, got shape {sims.shape}")
    if n == 1:
        return np.zeros(1)
    k = min(k, n - 1)
    others = sims[~np.eye(n, dtype=bool)].reshape(n, n - 1)
    # the k largest of each row (order within them does not matter for the mean)
    top = np.partition(others, n - 1 - k, axis=1)[:, n - 1 - k :]
    radius: np.ndarray = top.mean(axis=1)
    return radius


def csls_matrix(sims: np.ndarray, k: int) -> np.ndarray:
    """Cross-domain similarity local scaling (Conneau et al., 2018) over one set of tasks:
    CSLS(x, y) = 2 cos(x, y) - r(x) - r(y), r from :func:`neighbourhood_radius`.

    It lowers every similarity of a hub, so a task that is near everything stops being
    everyone's nearest neighbour; for each row the order of the other tasks is the cosine
    order shifted by r(y), so it can change only through the other tasks' radii.
    """
    radius = neighbourhood_radius(sims, k)
    out: np.ndarray = 2.0 * sims - radius[:, None] - radius[None, :]
    return out


def render_table(names: Sequence[str], sims: np.ndarray, title: str = "cosine similarity") -> str:
    """A rich table of the matrix as plain text; ``*`` marks each row's nearest other task."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("task", style="bold", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for i, name in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        best = max(others, key=lambda j: sims[i, j]) if others else -1
        cells = [f"{sims[i, j]:.3f}*" if j == best else f"{sims[i, j]:.3f} " for j in range(len(names))]
        table.add_row(name, *cells)
    # Wide enough for every name in full: a truncated task name is useless in this table.
    width = max(80, sum(max(len(n), 5) + 3 for n in names) + max(len(n) for n in names) + 8)
    console = Console(width=width, record=True, force_terminal=False)
    with console.capture() as capture:
        console.print(table)
    return capture.get()


def write_csv(path: str | Path, names: Sequence[str], sims: np.ndarray) -> None:
    """The matrix as CSV with task names on both axes."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["task", *names])
        for name, row in zip(names, sims, strict=True):
            writer.writerow([name, *(f"{v:.6f}" for v in row)])


def write_heatmap(
    path: str | Path,
    names: Sequence[str],
    sims: np.ndarray,
    title: str,
    *,
    xlabel: str = "",
    ylabel: str = "",
    cmap: str = "viridis",
    symmetric: bool = False,
) -> None:
    """A PNG heatmap of the square matrix, values written in the cells; NaN cells stay blank.

    The colour range covers the off-diagonal values only, so a diagonal of ones does not
    wash out the differences between tasks. ``symmetric`` centres the range on 0 (for
    gains and losses on a diverging map).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    fig, ax = plt.subplots(figsize=(2 + 0.6 * n, 1.5 + 0.6 * n))
    off = sims[~np.eye(n, dtype=bool)] if n > 1 else sims.ravel()
    lo, hi = float(np.nanmin(off)), float(np.nanmax(off))
    if symmetric:
        lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    im = ax.imshow(sims, cmap=cmap, vmin=lo, vmax=hi)
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if np.isnan(sims[i, j]):
                    continue
                # Dark text on the bright end of the map, light text on the dark end.
                color = "black" if sims[i, j] > (lo + hi) / 2 else "white"
                ax.text(j, i, f"{sims[i, j]:.2f}", ha="center", va="center", fontsize=6, color=color)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
