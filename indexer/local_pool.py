"""The default backend: a local process pool running :func:`~indexer.worker.compute_unit`.

Processes (not threads) because the GIL and torch's per-process thread pool would
otherwise serialise the work; ``spawn`` because forking a process that imported torch is
unsafe. Each worker loads the surrogate once and keeps it (:class:`~indexer.worker.WorkerCache`).
At most ``workers`` units are in flight, so "submitted" means "running" for the progress
rows, and a dead worker process (OOM killer, segfault) costs its in-flight units one retry.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from indexer.worker import UnitJob, UnitResult, compute_unit, init_worker

logger = logging.getLogger(__name__)

#: Seconds between progress ticks while waiting for workers.
TICK_S = 0.5
#: Attempts a unit gets when its worker process dies under it.
MAX_ATTEMPTS = 2


def run_serial(
    jobs: Iterable[UnitJob], on_start: Callable[[UnitJob], None]
) -> Iterator[tuple[UnitJob, UnitResult]]:
    """Run units one after another in this process (``--workers 0``: debugging, tiny jobs)."""
    for job in jobs:
        on_start(job)
        yield job, compute_unit(job)


def run_pool(
    jobs: Iterable[UnitJob],
    workers: int,
    threads: int,
    on_start: Callable[[UnitJob], None],
    tick: Callable[[], None],
) -> Iterator[tuple[UnitJob, UnitResult]]:
    """Run units on ``workers`` processes with ``threads`` torch threads each; yield results as they finish."""
    ctx = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    queue = list(jobs)
    queue.reverse()  # pop() from the end keeps manifest order
    attempts: dict[str, int] = {}
    logger.info("local pool: %d worker processes x %d torch threads", workers, threads)
    while queue:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=init_worker, initargs=(threads, level)
        )
        inflight: dict[Future[UnitResult], UnitJob] = {}
        broken = False
        try:
            while (queue or inflight) and not broken:
                while queue and len(inflight) < workers:
                    job = queue.pop()
                    attempts[job.key] = attempts.get(job.key, 0) + 1
                    inflight[pool.submit(compute_unit, job)] = job
                    if attempts[job.key] == 1:
                        on_start(job)
                done, _ = wait(inflight, timeout=TICK_S, return_when=FIRST_COMPLETED)
                tick()
                for fut in done:
                    job = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        inflight[fut] = job  # handled with the other in-flight units below
                        continue
                    yield job, result
            if broken:
                for job in inflight.values():
                    if attempts[job.key] >= MAX_ATTEMPTS:
                        yield (
                            job,
                            UnitResult(
                                job.key,
                                0.0,
                                error="a worker process died twice running this unit "
                                "(killed for memory, or crashed)",
                            ),
                        )
                    else:
                        logger.warning("a worker process died; retrying %s", job.label)
                        queue.append(job)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
