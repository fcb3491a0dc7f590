"""Query an indexed task suite through the generated client: the main job's last step.

Needs only ``fute_client`` and ``rich`` (no torch, no fute), as any remote caller would:

    python examples/query_suite.py --server 127.0.0.1:50051 --space minilm-fim

Prints the space and its tasks with each task's nearest other task (SimilarityMatrix),
the most similar tasks to a few query tasks (FindSimilarTasks, each query left out of its
own results) and the candidate source tasks for a target, best first (RankSourceTasks).
Exit status 2, with one line saying why, when the server cannot be reached or the space
or a query task is not there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from fute_client import (
    Condition,
    Filter,
    Hit,
    NotFoundError,
    Space,
    Task,
    TaskSearchClient,
    TaskSearchError,
    UnavailableError,
)
from fute_client.errors import DeadlineExceededError

DEFAULT_QUERIES = ("rotten_tomatoes", "trec_coarse", "sms_spam", "smollm2-sentiment")
DEFAULT_TARGET = "vader_movies"

# Piped output (logs, CI) gets 120 columns instead of rich's 80, so table cells do not wrap.
PIPED_WIDTH = 120


class QueryError(Exception):
    """A precondition of the queries failed; the message says which."""


def wait_until_serving(client: TaskSearchClient, server: str, wait_s: float) -> list[Space]:
    """The server's spaces, retrying while it is unreachable or still loading its store.

    ``ListSpaces`` rather than a health probe: it needs the loaded store, so an answer
    means every later call can be served.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.list_spaces(timeout=5.0)
        except (UnavailableError, DeadlineExceededError) as exc:
            if time.monotonic() >= deadline:
                raise QueryError(
                    f"cannot reach a serving TaskSearch server at {server} (waited {wait_s:.0f}s): {exc}"
                ) from exc
            time.sleep(0.5)


def settings_text(settings: str) -> str:
    """The space's method settings (a JSON object) as ``key=value`` pairs; raw if not JSON."""
    try:
        values = json.loads(settings)
    except ValueError:
        return settings
    if not isinstance(values, dict):
        return settings
    return ", ".join(f"{k}={v}" for k, v in values.items())


def exclude(task_id: str) -> Filter:
    """A filter leaving one task out: a query is trivially its own nearest neighbour."""
    return Filter(must_not=(Condition("id", (task_id,)),))


def hits_table(hits: Sequence[Hit], query: Task) -> Table:
    """Rank, task, kind, task type and cosine of each hit (and, in a source ranking, its
    predicted gain and P(help)); ``*`` marks the query's own type."""
    predicted = bool(hits) and hits[0].p_help is not None
    table = Table()
    table.add_column("rank", justify="right")
    table.add_column("task")
    table.add_column("kind")
    table.add_column("task_type")
    table.add_column("cosine", justify="right")
    if predicted:
        table.add_column("predicted gain", justify="right")
        table.add_column("P(help)", justify="right")
    for rank, hit in enumerate(hits, 1):
        same = "*" if query.task_type and hit.task.task_type == query.task_type else ""
        cells = [str(rank), hit.id, hit.task.kind, hit.task.task_type + same, f"{hit.score:.3f}"]
        if predicted:
            cells += [f"{hit.predicted_gain:+.3f}", f"{hit.p_help:.2f}"]
        table.add_row(*cells)
    return table


def nearest_table(tasks: Sequence[Task], ids: Sequence[str], sims: np.ndarray) -> tuple[Table, str]:
    """Every task with its nearest other task, and how often that one shares its type.

    Counted only over tasks whose type has another member in the index; for the rest no
    neighbour could share it.
    """
    by_id = {t.id: t for t in tasks}
    table = Table()
    for name in ("task", "kind", "task_type", "nearest other task", "cosine"):
        table.add_column(name, justify="right" if name == "cosine" else "left")
    type_counts: dict[str, int] = {}
    for t in tasks:
        type_counts[t.task_type] = type_counts.get(t.task_type, 0) + 1
    hits = eligible = 0
    masked = sims.astype(np.float64, copy=True)
    np.fill_diagonal(masked, -np.inf)
    for i, task_id in enumerate(ids):
        task = by_id[task_id]
        j = int(np.argmax(masked[i]))
        near = by_id[ids[j]]
        same = bool(task.task_type) and near.task_type == task.task_type
        if type_counts.get(task.task_type, 0) > 1:
            eligible += 1
            hits += same
        table.add_row(
            task_id,
            task.kind,
            task.task_type,
            near.id + (" *" if same else ""),
            f"{masked[i, j]:.3f}",
        )
    summary = (
        f"nearest other task has the same task_type for {hits} of {eligible} tasks whose type "
        "has another member (* above)"
    )
    return table, summary


def heading(out: Console, text: str) -> None:
    """A table's title on a line of its own (a rich title wraps at the table's width)."""
    out.print()
    out.print(text, style="bold", markup=False, highlight=False, soft_wrap=True)


def run(args: argparse.Namespace, out: Console) -> None:
    """All queries against one server, printed to ``out``; raises QueryError or TaskSearchError."""
    with TaskSearchClient(args.server, timeout=args.timeout) as client:
        spaces = wait_until_serving(client, args.server, args.wait)
        space = next((s for s in spaces if s.name == args.space), None)
        if space is None:
            raise QueryError(f"no space {args.space!r} on {args.server}; it has {[s.name for s in spaces]}")
        info = client.server_info()
        out.print(
            f"[bold]server[/bold] {args.server}: fute-task-search {info.version}, "
            f"{info.index_library} on {info.device}"
        )
        ident = space.identity
        if ident is not None:
            out.print(
                f"[bold]space[/bold] {space.name}: {space.task_count} tasks, {space.dim}-d {space.backend} "
                f"index, method {ident.method} on {ident.surrogate_name}"
                + (f", unlabelled corpus U {ident.corpus[:12]}" if ident.corpus else "")
            )
            out.print(
                f"  settings: {settings_text(ident.settings)}", markup=False, highlight=False, soft_wrap=True
            )

        tasks = sorted(client.iter_tasks(args.space), key=lambda t: (t.kind, t.task_type, t.id))
        by_id = {t.id: t for t in tasks}
        wanted = [*args.queries, args.target]
        missing = [q for q in wanted if q not in by_id]
        if missing:
            raise QueryError(f"not in space {args.space!r}: {missing}; it has {sorted(by_id)}")
        if len(tasks) < 2:
            raise QueryError(f"space {args.space!r} holds {len(tasks)} task(s); the queries need two or more")

        ids, sims = client.similarity_matrix(args.space, [t.id for t in tasks])
        table, summary = nearest_table(tasks, ids, sims)
        heading(out, "tasks, each with its nearest other task (SimilarityMatrix)")
        out.print(table)
        out.print(summary, soft_wrap=True)

        for query in args.queries:
            (hits,) = client.search(args.space, [query], k=args.k, filter=exclude(query))
            q = by_id[query]
            title = f"FindSimilarTasks: {query} ({q.kind}, {q.task_type}), top {args.k}, itself left out"
            heading(out, title)
            out.print(hits_table(hits, q))

        target = by_id[args.target]
        ranking = client.rank_sources(args.space, args.target, candidate_filter=exclude(args.target))
        title = (
            f"RankSourceTasks: sources for {args.target} ({target.kind}, {target.task_type}), "
            f"{len(ranking)} candidates, best first by {ranking.order.replace('_', ' ')}"
        )
        heading(out, title)
        out.print(hits_table(ranking, target))
        if ranking.advice:
            out.print(ranking.advice)
        out.print("[dim]* : same task_type as the query / target[/dim]")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; see ``--help``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--server", default="127.0.0.1:50051", help="host:port of the TaskSearch server")
    p.add_argument("--space", default="minilm-fim", help="space to query")
    p.add_argument(
        "--queries", nargs="+", default=list(DEFAULT_QUERIES), help="task ids for FindSimilarTasks"
    )
    p.add_argument("--target", default=DEFAULT_TARGET, help="task id whose source tasks are ranked")
    p.add_argument("-k", type=int, default=5, help="results per FindSimilarTasks query")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the server to serve")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline per call in seconds")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the queries; 0 on success, 2 with a one-line reason on stderr otherwise."""
    args = parse_args(argv)
    out = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
    err = Console(stderr=True)
    try:
        run(args, out)
    except (QueryError, NotFoundError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except TaskSearchError as exc:
        err.print(
            f"error: {args.server}: {type(exc).__name__}: {exc}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
