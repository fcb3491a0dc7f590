"""What seeing a dataset on U costs (``fute embed --on-u``) against its plain embedding.

In one process, for each suite task named: the plain dataset task embedding of N train
examples (``fim``, ``max_examples`` N), then the same examples seen on U
(:func:`fute.dataset_on_u.embed_dataset_on_u` on N examples of the packaged U), and, apart,
the fine-tune alone (the transfer source recipe), so the table splits the on-U cost into
its classifier and its model embedding on U. CPU seconds of the process (which a loaded
machine inflates far less than wall seconds) and wall seconds, both printed.

    OMP_NUM_THREADS=1 python benchmarks/on_u_cost.py --tasks rotten_tomatoes sms_spam --n 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, as documented

from benchmarks.common import banner, suite_tasks
from fute.corpus import load_corpus
from fute.data.loading import load_task
from fute.data.split import cap_examples
from fute.dataset_on_u import embed_dataset_on_u
from fute.embedding import TaskInfo
from fute.methods import make_method
from fute.models.finetune import finetune_classifier
from fute.runtime import configure_threads
from fute.surrogate import load_surrogate
from fute.transfer import TransferSettings


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["rotten_tomatoes"], help="suite tasks")
    ap.add_argument("--n", type=int, default=1000, help="train examples per task, and examples of U")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    configure_threads(args.threads)
    print(banner())
    print(f"command: python benchmarks/on_u_cost.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    surrogate = load_surrogate()
    method = make_method("fim", surrogate, {"max_examples": args.n})
    corpus = load_corpus(limit=args.n)
    recipe = replace(TransferSettings().source, max_examples=args.n)
    rows: list[dict[str, object]] = []
    for suite_task in suite_tasks(args.tasks):
        task = cap_examples(load_task(suite_task.split("train"), name=suite_task.name), args.n, seed=0)
        info = TaskInfo.of_dataset(task, task_type=suite_task.task_type)
        start = _clock()
        method.embed(task, info, progress=False)
        plain = _since(start)
        start = _clock()
        embed_dataset_on_u(task, method, surrogate, corpus, info, settings=recipe, progress=False)
        on_u = _since(start)
        with tempfile.TemporaryDirectory() as tmp:
            start = _clock()
            finetune_classifier(surrogate, task, Path(tmp) / "clf", recipe, progress=False)
            tune = _since(start)
        rows.append(
            {
                "task": task.name,
                "examples": len(task.examples),
                "plain_cpu_s": plain[0],
                "plain_wall_s": plain[1],
                "on_u_cpu_s": on_u[0],
                "on_u_wall_s": on_u[1],
                "finetune_cpu_s": tune[0],
                "ratio_cpu": on_u[0] / plain[0],
                "ratio_wall": on_u[1] / plain[1],
            }
        )
    print(f"\nU: {len(corpus)} examples of packaged:default ({corpus.hash[:12]}); recipe {recipe}")
    print(
        "| task | examples | plain CPU s (wall) | on U CPU s (wall) | of which fine-tune CPU s | on U / plain, CPU (wall) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['examples']} | {r['plain_cpu_s']:.1f} ({r['plain_wall_s']:.1f}) | "
            f"{r['on_u_cpu_s']:.1f} ({r['on_u_wall_s']:.1f}) | {r['finetune_cpu_s']:.1f} | "
            f"{r['ratio_cpu']:.2f}x ({r['ratio_wall']:.2f}x) |"
        )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
