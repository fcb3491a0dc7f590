"""Model embedding cost: a prompt-LLM and a callable model task against a dataset task of the same size.

    python benchmarks/model_embedding_cost.py                   # N = 100, one thread
    python benchmarks/model_embedding_cost.py --sizes 100,1000 --repeats 2

For each N, in one process and one after another (so the machine's other load falls on
every row alike):

* ``dataset``: the ``fim`` method in the default space (``FimSettings`` defaults,
  ``max_examples`` N) on N examples of a suite task's train split (default
  ``rotten_tomatoes``, whose texts have the suite's median length);
* ``callable``: a shipped callable (default VADER) on N examples of the packaged U, then
  the same FIM on (U, outputs) through ``fute.model_embedding.embed_model``;
* ``llm``: SmolLM2-135M-Instruct with a packaged prompt on the same U, scored by both
  paths of ``CausalLMAdapter`` (``plain``: every prompt in full, in input order, 64
  examples per adapter call: the code before issue 18; ``shared-prefix``: the prompts'
  common token prefix run once, length-grouped batches, 256 examples per call: the
  default), then the FIM on (U, outputs), measured once (it is the same work whichever
  path scored: the two paths' outputs are equal within float rounding, and the script
  prints the largest difference).

Phases: ``load`` (building the adapter and its identity, which hashes the weight files),
``score`` (``predict_corpus`` with the prediction cache off, so the model really runs),
``fine-tune`` and ``gradient`` (the FIM's ``train`` and gradient pass, timed by wrapping
them for the run), ``fim-rest`` (the rest of the embedding: tokenising, output
information, Fisher shaping, sketch). Each figure is wall seconds and CPU seconds of this
process; at one thread the CPU seconds are what the work costs, the wall seconds add
whatever else the machine was doing. With ``--repeats R`` every measurement runs R times
(the two scoring paths in alternating order) and the table keeps the smallest.

Ratios: a model task's ``score + FIM`` (the work per task; ``+load`` adds building the
model) over the dataset task's FIM (the first of ``--datasets``; with more, also over
their median and mean). Results go to ``--out``.txt/.json.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner, suite_tasks
from fute.corpus import load_corpus
from fute.data import cap_examples, load_task
from fute.methods import make_method
from fute.methods.fim import FimSettings
from fute.model_embedding import DEFAULT_PREDICT_BATCH, embed_model, predict_corpus
from fute.models import AdapterOptions, load_adapter
from fute.models.base import ModelAdapter
from fute.models.causal_lm import SCORING_PATHS, CausalLMAdapter, ScoringPath
from fute.runtime import configure_threads
from fute.surrogate import load_surrogate

log = logging.getLogger("model_embedding_cost")

RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("load", "score", "fine-tune", "gradient", "fim-rest")
#: Examples per adapter call of each scoring path: ``plain`` keeps the chunk of the code
#: before issue 18 (64), ``shared-prefix`` today's default, so the row is the code as shipped.
CHUNK: dict[ScoringPath, int] = {"plain": 64, "shared-prefix": DEFAULT_PREDICT_BATCH}


@dataclass
class Row:
    """One task's phases: for each phase, the wall and CPU seconds of every repeat."""

    kind: str  # dataset | callable | llm
    name: str
    variant: str = ""  # the scoring path of an llm row
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def best(self, phase: str, clock: str) -> float:
        """The smallest of the repeats (0 for a phase this task does not have)."""
        values = (self.wall if clock == "wall" else self.cpu).get(phase, [])
        return min(values) if values else 0.0

    def work(self, clock: str) -> float:
        """Scoring plus the FIM: what one more task of this kind costs once models are loaded."""
        return sum(self.best(p, clock) for p in PHASES if p != "load")

    def label(self) -> str:
        return f"{self.kind} {self.name}" + (f" [{self.variant}]" if self.variant else "")


class Phases:
    """Wall and CPU seconds per named phase, accumulated over nested ``timed`` blocks."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[phase] = self.wall.get(phase, 0.0) + time.perf_counter() - wall
            self.cpu[phase] = self.cpu.get(phase, 0.0) + time.process_time() - cpu

    def into(self, row: Row, total: str | None = None) -> None:
        """Add this run's phases to ``row``; ``total`` becomes ``fim-rest`` minus the sub-phases."""
        if total is not None:
            for clocks in (self.wall, self.cpu):
                inner = sum(clocks.get(p, 0.0) for p in ("score", "fine-tune", "gradient"))
                clocks["fim-rest"] = clocks.pop(total) - inner
        for phase, value in self.wall.items():
            row.wall.setdefault(phase, []).append(value)
        for phase, value in self.cpu.items():
            row.cpu.setdefault(phase, []).append(value)


@contextlib.contextmanager
def fim_phases(phases: Phases, outputs: np.ndarray | None = None) -> Iterator[None]:
    """Time the FIM's fine-tune and gradient pass (and model scoring) while the block runs.

    With ``outputs``, ``embed_model`` gets them instead of running the model again (the
    scoring was timed on its own).
    """
    import fute.methods.fim as fim
    import fute.model_embedding as me

    patched: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, attr: str, phase: str) -> None:
        original = getattr(owner, attr, None)
        if original is None:  # renamed since: the phase then stays inside fim-rest
            log.warning("cannot time %s: %r has no %s", phase, owner, attr)
            return

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            with phases.timed(phase):
                return original(*args, **kwargs)

        patched.append((owner, attr, original))
        setattr(owner, attr, timed_call)

    wrap(fim, "train", "fine-tune")
    wrap(fim.FimMethod, "_gradient_pass", "gradient")
    if outputs is None:
        wrap(me, "predict_corpus", "score")
    else:
        patched.append((me, "predict_corpus", me.predict_corpus))
        me.predict_corpus = lambda *args, **kwargs: outputs  # type: ignore[assignment]
    try:
        yield
    finally:
        for owner, attr, original in reversed(patched):
            setattr(owner, attr, original)


@contextlib.contextmanager
def profiled(report: list[str], title: str, enabled: bool) -> Iterator[None]:
    """Run the block under cProfile when enabled; its top functions go into ``report``."""
    if not enabled:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("tottime").print_stats(15)
        report.append(f"### {title}\n{out.getvalue()}")


def tokens_run(adapter: CausalLMAdapter, examples: list[Any], path: ScoringPath, chunk: int) -> int:
    """Token positions the forward passes of one scoring path run (padding included)."""
    total = 0
    for start in range(0, len(examples), chunk):
        prompts = [adapter._prompt_ids(ex) for ex in examples[start : start + chunk]]
        lengths = [len(p) for p in prompts]
        shared = 0
        if path == "shared-prefix":
            lengths.sort()
            shared = adapter.shared_prefix_length(prompts)
            total += shared
        for b in range(0, len(lengths), adapter.batch_size):
            batch = lengths[b : b + adapter.batch_size]
            total += len(batch) * (max(batch) - shared)
    return total


def measure(args: argparse.Namespace, n: int, surrogate: Any, report: list[str]) -> dict[str, Any]:
    """Every row for one N."""
    settings = FimSettings(max_examples=n)  # the default space; max_examples is not part of it
    method = make_method("fim", surrogate, {"max_examples": n})
    corpus = load_corpus(limit=n)
    rows: list[Row] = []
    extra: dict[str, Any] = {"n_corpus": len(corpus), "corpus_hash": corpus.hash}

    for task_name in args.datasets:
        row = Row("dataset", task_name)
        task = cap_examples(load_task(suite_tasks([task_name])[0].split("train")), n, settings.seed)
        extra.setdefault("n_dataset", {})[task_name] = len(task.examples)
        for _ in range(args.repeats):
            phases = Phases()
            title = f"N={n} dataset {task_name}"
            with profiled(report, title, args.profile), fim_phases(phases), phases.timed("total"):
                method.embed(task, progress=False)
            phases.into(row, total="total")
        rows.append(row)
        log.info("N=%d dataset %s: %.1f CPU s", n, task_name, row.work("cpu"))

    def model_row(row: Row, adapter: ModelAdapter, outputs: np.ndarray | None = None) -> None:
        for _ in range(args.repeats):
            phases = Phases()
            title = f"N={n} {row.label()}"
            with profiled(report, title, args.profile), fim_phases(phases, outputs), phases.timed("total"):
                embed_model(
                    adapter, method, corpus, use_cache=False, progress=False, warn_low_information=False
                )
            phases.into(row, total="total")

    for name in args.callables:
        row = Row("callable", name)
        phases = Phases()
        with phases.timed("load"):
            adapter = load_adapter(f"callable:{name}")
            adapter.identity()
        phases.into(row)
        model_row(row, adapter)
        rows.append(row)
        log.info("N=%d callable %s: %.1f CPU s", n, name, row.work("cpu"))

    for prompt in args.prompts:
        phases = Phases()
        with phases.timed("load"):
            llm = load_adapter("llm:smollm2", AdapterOptions(prompt=prompt, batch_size=args.model_batch_size))
            llm.identity()  # hashes the weight files once; predict_corpus's cache key reuses it
        assert isinstance(llm, CausalLMAdapter)
        paths: tuple[ScoringPath, ...] = args.paths
        by_path = {path: Row("llm", llm.name, path) for path in paths}
        for path in by_path.values():
            phases.into(path)
        outputs: dict[str, np.ndarray] = {}
        for r in range(args.repeats):
            # Alternate the order so drifting background load does not favour one path.
            for path in paths if r % 2 == 0 else paths[::-1]:
                llm.scoring = path
                phases = Phases()
                title = f"N={n} llm {llm.name} score [{path}]"
                with profiled(report, title, args.profile), phases.timed("score"):
                    outputs[path] = predict_corpus(
                        llm, corpus, use_cache=False, progress=False, batch_size=CHUNK[path]
                    )
                phases.into(by_path[path])
        diff = float(np.abs(outputs[paths[0]] - outputs[paths[-1]]).max()) if len(paths) > 1 else None
        # The FIM on (U, outputs) once, on the outputs just scored; both rows share its figures.
        fim_row = Row("llm", llm.name, "fim")
        model_row(fim_row, llm, outputs[paths[-1]])
        for path_row in by_path.values():
            for phase in ("fine-tune", "gradient", "fim-rest"):
                path_row.wall[phase] = fim_row.wall[phase]
                path_row.cpu[phase] = fim_row.cpu[phase]
            rows.append(path_row)
        examples = list(corpus.examples)
        extra.setdefault("llm", {})[llm.name] = {
            "max_abs_diff_plain_vs_shared": diff,
            "tokens_in_prompts": sum(len(llm._prompt_ids(ex)) for ex in examples),
            # Counted for both paths even when one was not timed: positions are exact.
            "tokens_run": {p: tokens_run(llm, examples, p, CHUNK[p]) for p in SCORING_PATHS},
            "shared_prefix_tokens": llm.shared_prefix_length([llm._prompt_ids(ex) for ex in examples]),
        }
        log.info("N=%d llm %s: outputs of the paths differ by at most %s", n, llm.name, diff)
    return {"n": n, "rows": rows, **extra}


def format_block(result: dict[str, Any], datasets: list[str]) -> str:
    """The table of one N in both clocks, then the ratios to each dataset task."""
    n, rows = result["n"], result["rows"]
    lines = [
        f"## N = {n} (U: packaged default, {result['n_corpus']} examples, hash {result['corpus_hash'][:12]})"
    ]
    for clock in ("cpu", "wall"):
        lines.append(f"{clock.upper()} seconds (smallest of the repeats)")
        head = f"{'task':<44}" + "".join(f"{p:>10}" for p in PHASES) + f"{'work':>9}{'+load':>9}"
        lines.append(head)
        for row in rows:
            cells = "".join(f"{row.best(p, clock):>10.2f}" for p in PHASES)
            work = row.work(clock)
            lines.append(f"{row.label():<44}{cells}{work:>9.2f}{work + row.best('load', clock):>9.2f}")
    for name, info in result.get("llm", {}).items():
        runs, diff = info["tokens_run"], info["max_abs_diff_plain_vs_shared"]
        lines.append(
            f"{name}: {info['tokens_in_prompts']} prompt tokens, shared prefix {info['shared_prefix_tokens']}; "
            f"positions run: plain {runs['plain']}, shared-prefix {runs['shared-prefix']} "
            f"({runs['plain'] / max(1, runs['shared-prefix']):.2f}x fewer)"
            + (f"; outputs max |plain - shared-prefix| {diff:.1e}" if diff is not None else "")
        )
    refs: list[tuple[str, Callable[[str], float]]] = []
    for ds in datasets[:1]:  # the reference dataset; the others are summarised below
        base = next(r for r in rows if r.kind == "dataset" and r.name == ds)
        refs.append((f"dataset {ds}", base.work))
    if len(datasets) > 1:
        works = {c: [r.work(c) for r in rows if r.kind == "dataset"] for c in ("cpu", "wall")}
        refs.append((f"median of the {len(datasets)} datasets", lambda c: float(np.median(works[c]))))
        refs.append((f"mean of the {len(datasets)} datasets", lambda c: float(np.mean(works[c]))))
        lines.append(
            f"dataset work over {len(datasets)} tasks, CPU s: min {min(works['cpu']):.2f}, "
            f"median {np.median(works['cpu']):.2f}, mean {np.mean(works['cpu']):.2f}, max {max(works['cpu']):.2f}"
        )
    for title, ref in refs:
        lines.append(f"ratios to {title} (work; +load in brackets), CPU s / wall s:")
        for row in rows:
            if row.kind == "dataset":
                continue
            parts = []
            for clock in ("cpu", "wall"):
                work, load = row.work(clock), row.best("load", clock)
                parts.append(f"{work / ref(clock):.2f}x ({(work + load) / ref(clock):.2f}x)")
            lines.append(f"  {row.label():<44} {parts[0]:>16} / {parts[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every N, print and save the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100", help="comma-separated N (examples per task)")
    parser.add_argument(
        "--datasets",
        default="rotten_tomatoes",
        help="comma-separated suite tasks, the first the reference (or all: every suite task)",
    )
    parser.add_argument("--callables", default="vader", help="comma-separated shipped callables")
    parser.add_argument("--prompts", default="sentiment", help="comma-separated packaged prompts for SmolLM2")
    parser.add_argument(
        "--paths",
        default=",".join(SCORING_PATHS),
        help=f"scoring paths of the LLM to time, comma-separated, of {SCORING_PATHS}",
    )
    parser.add_argument(
        "--model-batch-size", type=int, default=8, help="prompts per forward (the CLI default)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of every measurement; the table keeps the best"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile every task: top functions to OUT_profile.txt"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "model_embedding_cost", help="results path without suffix"
    )
    args = parser.parse_args(argv)
    if args.datasets == "all":
        names = [t.name for t in suite_tasks()]
        args.datasets = ["rotten_tomatoes", *(x for x in names if x != "rotten_tomatoes")]
    else:
        args.datasets = [x for x in args.datasets.split(",") if x]
    args.callables = [x for x in args.callables.split(",") if x]
    args.prompts = [x for x in args.prompts.split(",") if x]
    args.paths = tuple(x for x in SCORING_PATHS if x in args.paths.split(","))
    if not args.datasets or args.repeats < 1 or not args.paths:
        parser.error(f"give at least one dataset, --repeats >= 1 and --paths of {SCORING_PATHS}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("fute", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    threads = configure_threads(args.threads)
    head = banner() + f"\ncommand: python {' '.join(['benchmarks/model_embedding_cost.py', *sys.argv[1:]])}"
    head += f"\nthreads {threads}, repeats {args.repeats}, model batch {args.model_batch_size}, prediction cache off"
    # Other jobs share the machine: the load says how far wall seconds are from CPU seconds.
    head += "\nload average at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(head, flush=True)
    surrogate = load_surrogate()
    report: list[str] = []
    results = []
    for n in (int(x) for x in args.sizes.split(",") if x):
        result = measure(args, n, surrogate, report)
        print(format_block(result, args.datasets), flush=True)
        results.append(result)
    head += "\nload average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = head + "\n\n" + "\n\n".join(format_block(r, args.datasets) for r in results) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(text)
    payload = {
        "banner": head,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": [{**r, "rows": [asdict(row) for row in r["rows"]]} for r in results],
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2, default=str))
    if report:
        profile_path = args.out.with_name(args.out.name + "_profile.txt")
        profile_path.write_text(head + "\n\n" + "\n".join(report))
        print(f"profiles: {profile_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
