"""A job as plain steps: plan units, skip the finished ones, compute the rest, upload each.

Order of effects for a unit: compute (worker) → write its file atomically (state dir) →
ledger "computed" → upsert by task id (index) → ledger "uploaded". A kill between any two
steps is repaired by the next run: no file means recompute; a file means skip and upload
unless the ledger shows this exact upload (same key and metadata) on this sink.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from fute.embedding import TaskEmbedding, TaskInfo
from indexer.errors import IndexerError
from indexer.manifest import DatasetSpec, Manifest
from indexer.progress import JobProgress
from indexer.report import RunReport, UnitRecord, UnitStatus
from indexer.sinks import Sink
from indexer.state import EventKind, StateDir
from indexer.units import Unit, plan_units, upload_fingerprint
from indexer.worker import UnitJob, UnitResult

logger = logging.getLogger(__name__)

BackendName = Literal["local", "ray"]
BACKENDS: tuple[BackendName, ...] = ("local", "ray")


@dataclass(frozen=True)
class RunOptions:
    """How to run a job.

    Attributes:
        backend: ``local`` (process pool) or ``ray``.
        workers: local worker processes; 0 runs units in this process, one at a time.
        threads: torch threads (Ray: CPUs) per unit.
        ray_address: Ray cluster address; None starts a local Ray.
        gpus_per_unit: Ray GPUs per unit; None: 1 when the cluster has GPUs, else 0.
        progress: show progress bars (when stderr is a terminal).
        prediction_cache: cache of model predictions on U (None: fute's default).
        dry_run: plan and report what would run; compute and upload nothing.
        reupload: upload every finished unit even when the ledger says the sink has it.
    """

    backend: BackendName = "local"
    workers: int = 1
    threads: int = 1
    ray_address: str | None = None
    gpus_per_unit: float | None = None
    progress: bool = True
    prediction_cache: Path | None = None
    dry_run: bool = False
    reupload: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise IndexerError(f"unknown backend {self.backend!r}; valid: {list(BACKENDS)}")
        if self.workers < 0 or self.threads < 1:
            raise IndexerError(f"workers must be >= 0 and threads >= 1, got {self.workers}, {self.threads}")


def default_parallelism(cpus: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) for this machine: units of ~4 threads, at least one worker."""
    cpus = cpus or os.cpu_count() or 1
    workers = max(1, cpus // 4)
    return workers, max(1, cpus // workers)


def new_run_id() -> str:
    """A sortable, unique run id."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def _task_info(unit: Unit, emb: TaskEmbedding) -> TaskInfo:
    """The metadata the index gets: the manifest's current entry over what the worker measured."""
    entry = unit.entry
    source = str(entry.path) if isinstance(entry, DatasetSpec) else emb.task.source
    return dataclasses.replace(
        emb.task,
        name=entry.name,
        task_type=entry.task_type or emb.task.task_type,
        source=source,
        tags=entry.tags,
    )


class _Job:
    """The state of one run (records, ledger writes, uploads); built and driven by :func:`run_job`."""

    def __init__(self, manifest: Manifest, state: StateDir, sink: Sink | None, options: RunOptions) -> None:
        self.manifest, self.state, self.sink, self.options = manifest, state, sink, options
        self.run_id = new_run_id()
        self.report = RunReport(
            run_id=self.run_id,
            manifest=str(manifest.source),
            state_dir=str(state.path),
            sink=sink.name if sink else "-",
            backend=options.backend,
            workers=options.workers,
            started=time.time(),
        )
        self.records: dict[tuple[str, str], UnitRecord] = {}

    def record(self, unit: Unit, status: UnitStatus, **kw: Any) -> UnitRecord:
        rec = UnitRecord(
            key=unit.key, task=unit.entry.name, space=unit.space.name, kind=unit.kind, status=status, **kw
        )
        self.records[(rec.task, rec.space)] = rec
        self.report.units.append(rec)
        return rec

    def event(
        self, unit: Unit, event: EventKind, *, seconds: float | None = None, detail: str | None = None
    ) -> None:
        self.state.record(
            self.run_id,
            unit.key,
            unit.label,
            event,
            method=unit.space.method,
            kind=unit.kind,
            seconds=seconds,
            detail=detail,
        )

    def upload(self, unit: Unit, emb: TaskEmbedding, rec: UnitRecord) -> None:
        """Upsert ``emb`` as ``unit``'s task unless this exact upload is already recorded."""
        if self.sink is None:
            return
        info = _task_info(unit, emb)
        fingerprint = upload_fingerprint(unit, info.to_json())
        if (
            not self.options.reupload
            and self.state.uploaded(self.sink.name, unit.space.name, unit.task_id) == fingerprint
        ):
            rec.uploaded = True
            return
        try:
            self.sink.upload(
                unit.space.name,
                unit.task_id,
                dataclasses.replace(emb, task=info),
                backend=unit.space.backend,
                keep_neighbours=unit.space.keep_neighbours,
            )
        except IndexerError as exc:
            logger.error("%s: %s", unit.label, exc)
            rec.status, rec.error = "upload_failed", str(exc)
            self.event(unit, "upload_failed", detail=str(exc))
            return
        self.state.record_upload(self.sink.name, unit.space.name, unit.task_id, fingerprint)
        self.event(unit, "uploaded")
        rec.uploaded = True


def _refused_spaces(manifest: Manifest, sink: Sink, units: list[Unit]) -> dict[str, str]:
    """Spaces whose target holds another identity, with the reason: checked before computing.

    The expected identity is the manifest space's own (its method bound to the surrogate,
    with the corpus hash when model entries go there), so a mismatch costs seconds, not
    the whole job.
    """
    from indexer.units import corpus_hash
    from indexer.worker import worker_cache

    refused: dict[str, str] = {}
    for spec in manifest.spaces:
        mine = [u for u in units if u.space.name == spec.name and u.error is None]
        if not mine:
            continue
        corpus = corpus_hash(manifest.corpus) if any(u.kind == "model" for u in mine) else None
        expected = worker_cache().method(spec).space(corpus)
        reason = sink.refusal(spec.name, expected)
        if reason is not None:
            logger.error("space %r: %s", spec.name, reason)
            refused[spec.name] = reason
    return refused


def _jobs(groups: dict[str, list[Unit]], options: RunOptions) -> Iterator[UnitJob]:
    for units in groups.values():
        yield UnitJob.of(units[0], options.threads, options.prediction_cache)


def run_job(
    manifest: Manifest,
    state: StateDir,
    sink: Sink | None,
    options: RunOptions,
    *,
    console: Console | None = None,
) -> RunReport:
    """Run (or resume) the job of ``manifest``: returns the report; failures are in it, not raised.

    ``console`` is where progress bars draw (the console of the CLI's log handler).

    Raises:
        IndexerError: the job cannot run at all (no sink for a real run, Ray missing).
    """
    if sink is None and not options.dry_run:
        raise IndexerError("a run needs a target: --store DIR or --server HOST:PORT (or --dry-run)")
    job = _Job(manifest, state, sink, options)
    units = list(plan_units(manifest))
    logger.info(
        "run %s: %d units from %s (state %s, target %s)",
        job.run_id,
        len(units),
        manifest.source,
        state.path,
        job.report.sink,
    )
    refused: dict[str, str] = {}
    if not options.dry_run:
        state.start_run(job.run_id, manifest.source)
        assert sink is not None
        refused = _refused_spaces(manifest, sink, units)
    history = {
        (s.method, k): t
        for s in manifest.spaces
        for k in ("dataset", "model")
        if (t := state.mean_seconds(s.method, k)) is not None
    }
    groups: dict[str, list[Unit]] = {}
    with JobProgress(
        len(units), enabled=options.progress and not options.dry_run, history=history, console=console
    ) as progress:
        for unit in units:
            kind = (unit.space.method, unit.kind)
            error = unit.error or refused.get(unit.space.name)
            if error is not None:
                job.record(unit, "failed", error=error)
                if not options.dry_run:
                    job.event(unit, "failed", detail=error)
                progress.finish(unit.key, unit.label, kind, None, False, "failed")
                continue
            emb = state.load_unit(unit.key)
            if emb is None:
                groups.setdefault(unit.key, []).append(unit)
                continue
            rec = job.record(unit, "skipped")
            if not options.dry_run:
                if state.status(unit.key) != "done":
                    # Written by a job killed before its ledger entry: the file is the truth.
                    job.event(unit, "recovered", detail="unit file found without a ledger entry")
                job.upload(unit, emb, rec)
            progress.finish(unit.key, unit.label, kind, None, True, "already done")
        if options.dry_run:
            for group in groups.values():
                for unit in group:
                    job.record(unit, "planned")
        else:
            progress.restart_clock()
            _compute(job, groups, progress)
    job.report.finished = time.time()
    if not options.dry_run:
        state.finish_run(job.run_id, job.report.counts())
        state.write_report(job.run_id, job.report.to_json())
    return job.report


def _compute(job: _Job, groups: dict[str, list[Unit]], progress: JobProgress) -> None:
    """Compute every group (units sharing a key compute once), storing and uploading each result."""
    options = job.options
    if not groups:
        return

    def on_start(j: UnitJob) -> None:
        first = groups[j.key][0]
        progress.start(j.key, j.label, (first.space.method, first.kind))

    results: Iterator[tuple[UnitJob, UnitResult]]
    if options.backend == "ray":
        from indexer.ray_backend import run_ray

        results = run_ray(
            _jobs(groups, options),
            options.ray_address,
            options.threads,
            options.gpus_per_unit,
            on_start,
            progress.tick,
            num_cpus=max(options.workers, 1) * options.threads,
        )
    elif options.workers == 0:
        from indexer.local_pool import run_serial

        results = run_serial(_jobs(groups, options), on_start)
    else:
        from indexer.local_pool import run_pool

        results = run_pool(
            _jobs(groups, options),
            min(options.workers, len(groups)),
            options.threads,
            on_start,
            progress.tick,
        )
    for j, result in results:
        _finish(job, groups[j.key], result, progress)


def _finish(job: _Job, group: list[Unit], result: UnitResult, progress: JobProgress) -> None:
    first = group[0]
    kind = (first.space.method, first.kind)
    if result.embedding is None:
        error = result.error or "unknown error"
        logger.error("%s failed: %s", first.label, error)
        for unit in group:
            job.record(unit, "failed", seconds=result.seconds, worker=result.worker, error=error)
            job.event(unit, "failed", seconds=result.seconds, detail=error)
            progress.finish(unit.key, unit.label, kind, result.seconds, False, "FAILED")
        return
    # On disk first: from here on a kill cannot lose this unit's work.
    job.state.save_unit(first.key, result.embedding)
    job.event(first, "computed", seconds=result.seconds, detail=result.worker)
    for unit in group:
        rec = job.record(unit, "computed", seconds=result.seconds, worker=result.worker)
        job.upload(unit, result.embedding, rec)
        # Units sharing a key count once each in the overall bar (the first carries the timing).
        progress.finish(
            unit.key, unit.label, kind, result.seconds if unit is first else None, True, "computed"
        )
