"""Progress of a job: an overall bar with ETA and one row per running unit with its own ETA.

Workers run in other processes (or machines), so a unit's progress is its elapsed time
against an estimate: the mean time of finished units of the same method and kind (from
this state dir's history, then from this run). Every finished unit is also logged with
the overall ETA, which is what lands in files when stderr is not a terminal.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger(__name__)

#: Assumed seconds per unit before any unit of its kind has finished.
DEFAULT_ESTIMATE_S = 30.0


class JobProgress:
    """Overall and per-unit progress; a no-op display when ``enabled`` is False (still logs)."""

    def __init__(
        self,
        total: int,
        *,
        enabled: bool,
        history: dict[tuple[str, str], float] | None = None,
        console: Console | None = None,
    ) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._paced = 0  # units finished since the clock started (the ETA's pace)
        self._history = dict(history or {})
        self._seen: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._running: dict[str, tuple[TaskID | None, float, float]] = {}
        # Share the console of the log handler (the CLI's RichHandler) so log lines print above the bars.
        console = console or Console(stderr=True)
        self._progress: Progress | None = None
        if enabled and console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
        self._overall: TaskID | None = None

    def __enter__(self) -> JobProgress:
        if self._progress is not None:
            self._progress.start()
            self._overall = self._progress.add_task(
                "[bold]all units", total=self.total, count=f"0/{self.total}"
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def restart_clock(self) -> None:
        """Start timing the pace here: units skipped before computing began would flatter it."""
        self.started = time.monotonic()
        self._paced = 0

    def estimate(self, kind: tuple[str, str]) -> float:
        """Expected seconds for a unit of (method, kind)."""
        seen = self._seen.get(kind)
        if seen:
            return sum(seen) / len(seen)
        return self._history.get(kind, DEFAULT_ESTIMATE_S)

    def start(self, key: str, label: str, kind: tuple[str, str]) -> None:
        """A unit was handed to a worker."""
        est = max(self.estimate(kind), 0.1)
        task = None
        if self._progress is not None:
            # The unit's "total" is its estimated seconds; ``tick`` advances it with the clock.
            task = self._progress.add_task(f"  {label}", total=est, count="")
        self._running[key] = (task, time.monotonic(), est)

    def tick(self) -> None:
        """Advance the per-unit rows by elapsed time (never to 100% before they finish)."""
        if self._progress is None:
            return
        now = time.monotonic()
        for task, t0, est in self._running.values():
            if task is not None:
                self._progress.update(task, completed=min(now - t0, 0.99 * est))

    def finish(
        self, key: str, label: str, kind: tuple[str, str], seconds: float | None, ok: bool, status: str
    ) -> None:
        """A unit is finished (computed, skipped or failed)."""
        task, _, _ = self._running.pop(key, (None, 0.0, 0.0))
        if seconds is not None and ok:
            self._seen[kind].append(seconds)
        self.done += 1
        self._paced += 1
        if self._progress is not None:
            if task is not None:
                self._progress.remove_task(task)
            if self._overall is not None:
                self._progress.update(self._overall, completed=self.done, count=f"{self.done}/{self.total}")
        logger.info(
            "[%d/%d] %s: %s%s; ETA %s",
            self.done,
            self.total,
            label,
            status,
            f" in {seconds:.1f}s" if seconds is not None else "",
            self.eta_text(),
        )

    def eta_text(self) -> str:
        """Overall remaining time from the mean pace so far."""
        left = self.total - self.done
        if left <= 0:
            return "0s"
        if self._paced == 0:
            return "unknown"
        pace = (time.monotonic() - self.started) / self._paced
        return f"{pace * left:.0f}s"
