"""The outcome of a run: one row per unit, a rich summary table and a JSON report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from rich.console import Console
from rich.table import Table

UnitStatus = Literal["computed", "skipped", "failed", "upload_failed", "planned"]
UNIT_STATUSES: tuple[UnitStatus, ...] = ("computed", "skipped", "failed", "upload_failed", "planned")


@dataclass
class UnitRecord:
    """What happened to one unit in this run.

    ``skipped``: its embedding was already on disk (not recomputed). ``upload_failed``:
    computed and kept on disk, but the index refused it (a rerun only uploads it).
    ``planned``: a dry run.
    """

    key: str
    task: str
    space: str
    kind: str
    status: UnitStatus
    uploaded: bool = False
    seconds: float | None = None
    worker: str = ""
    error: str | None = None


@dataclass
class RunReport:
    """A whole run: settings, timings and every unit."""

    run_id: str
    manifest: str
    state_dir: str
    sink: str
    backend: str
    workers: int
    started: float
    finished: float = 0.0
    units: list[UnitRecord] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Units per status, plus uploads."""
        out: dict[str, int] = {s: 0 for s in UNIT_STATUSES}
        for u in self.units:
            out[u.status] += 1
        out["uploaded"] = sum(u.uploaded for u in self.units)
        out["total"] = len(self.units)
        return out

    @property
    def failed(self) -> list[UnitRecord]:
        """Units that failed to compute or to upload."""
        return [u for u in self.units if u.status in ("failed", "upload_failed")]

    @property
    def seconds(self) -> float:
        """Wall time of the run."""
        return max(0.0, self.finished - self.started)

    def units_per_minute(self) -> float:
        """Units computed per minute of wall time (skipped ones excluded)."""
        computed = self.counts()["computed"]
        return 60.0 * computed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict of the run (for ``--report`` and ``STATE/reports``)."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "units"},
            "seconds": round(self.seconds, 3),
            "units_per_minute": round(self.units_per_minute(), 3),
            "counts": self.counts(),
            "units": [asdict(u) for u in self.units],
        }


_STYLE = {
    "computed": "green",
    "skipped": "cyan",
    "failed": "red",
    "upload_failed": "red",
    "planned": "yellow",
}


def render_summary(report: RunReport, console: Console, *, max_rows: int = 200) -> None:
    """Print the summary table (failures first) and the totals line."""
    table = Table(title=f"fute index: run {report.run_id}", show_lines=False)
    for col in ("task", "space", "kind", "status", "uploaded", "seconds", "error"):
        table.add_column(col, overflow="fold", max_width=80 if col == "error" else None)
    rows = sorted(report.units, key=lambda u: (u.status not in ("failed", "upload_failed"), u.task, u.space))
    for u in rows[:max_rows]:
        table.add_row(
            u.task,
            u.space,
            u.kind,
            f"[{_STYLE[u.status]}]{u.status}[/]",
            "yes" if u.uploaded else "no",
            f"{u.seconds:.1f}" if u.seconds is not None else "-",
            u.error or "",
        )
    if len(rows) > max_rows:
        table.caption = f"{len(rows) - max_rows} more units in the JSON report"
    console.print(table)
    # Errors again in full, one per line: table cells fold long messages, these never do.
    for u in report.failed:
        console.print(
            f"FAILED {u.task} @ {u.space}: {u.error}", soft_wrap=True, markup=False, highlight=False
        )
    c = report.counts()
    console.print(
        f"{c['total']} units: {c['computed']} computed, {c['skipped']} already done, "
        f"{c['failed']} failed, {c['upload_failed']} upload failed; "
        + (f"{c['planned']} to compute (dry run); " if c["planned"] else "")
        + f"{c['uploaded']} uploaded "
        f"in {report.seconds:.1f}s ({report.units_per_minute():.1f} units/min)"
    )
