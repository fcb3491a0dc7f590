"""Ray backend: the same :func:`~indexer.worker.compute_unit` as Ray tasks, locally or on a cluster.

Each unit asks for ``threads`` CPUs and, when the cluster has GPUs, ``num_gpus`` per unit
(so units spread over GPU nodes). Data paths in the manifest must be readable on the
worker nodes (a shared file system); results come back to the driver, which alone writes
the state dir and the index.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from indexer.errors import IndexerError
from indexer.worker import UnitJob, UnitResult, compute_unit

logger = logging.getLogger(__name__)

TICK_S = 0.5


def import_ray() -> Any:
    """The ``ray`` module, or an IndexerError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise IndexerError(f"--ray needs the 'ray' package (pip install 'ray>=2.9'): {exc}") from exc
    return ray


def run_ray(
    jobs: Iterable[UnitJob],
    address: str | None,
    threads: int,
    gpus_per_unit: float | None,
    on_start: Callable[[UnitJob], None],
    tick: Callable[[], None],
    *,
    num_cpus: int | None = None,
) -> Iterator[tuple[UnitJob, UnitResult]]:
    """Run units as Ray tasks; yield results as they finish.

    Args:
        address: a cluster (``ray://host:10001``, ``host:6379``, ``auto``), or None for a
            local Ray started here with ``num_cpus`` CPUs.
        threads: CPUs (torch threads) per unit.
        gpus_per_unit: GPUs per unit; None: 1 when the cluster has GPUs, else 0.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    try:
        resources = ray.cluster_resources()
        gpus = gpus_per_unit if gpus_per_unit is not None else (1.0 if resources.get("GPU", 0) > 0 else 0.0)
        slots = max(1, int(resources.get("CPU", 1) // max(threads, 1)))
        logger.info(
            "ray: %s CPUs, %s GPUs; %d CPU(s) and %g GPU(s) per unit, %d units in flight",
            resources.get("CPU", 0),
            resources.get("GPU", 0),
            threads,
            gpus,
            slots,
        )
        remote = ray.remote(compute_unit).options(num_cpus=threads, num_gpus=gpus)
        queue = list(jobs)
        queue.reverse()
        inflight: dict[Any, UnitJob] = {}
        while queue or inflight:
            while queue and len(inflight) < slots:
                job = queue.pop()
                inflight[remote.remote(job)] = job
                on_start(job)
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=TICK_S)
            tick()
            for ref in done:
                job = inflight.pop(ref)
                try:
                    result: UnitResult = ray.get(ref)
                except Exception as exc:  # a dead worker or node: the unit fails, the job goes on
                    result = UnitResult(job.key, 0.0, error=f"ray task failed: {type(exc).__name__}: {exc}")
                yield job, result
    finally:
        if started_here:
            ray.shutdown()
