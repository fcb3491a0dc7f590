"""Measure intermediate-task transfer on the suite: the ground truth for ``fute eval``.

For each seed and each source task: fine-tune the packaged MiniLM on the source (all its
training examples), then for every other target fine-tune that encoder on the target's
first few hundred training examples (seeded cap) and score the target's test split. The
same target run from the plain surrogate is the baseline (source ``null``).

Resumable: every finished run is one JSON line in ``--out``; a rerun skips what is there
and refuses to mix configurations. Source classifiers are kept under ``--models`` (seed
0 ones are the black boxes whose model embeddings ``fute eval`` also ranks with).

    python -m benchmarks.transfer_ground_truth            # about 60 min on 2 quiet cores
    python -m benchmarks.transfer_ground_truth --tasks sms_spam trec_coarse --seeds 0
    python -m benchmarks.transfer_ground_truth --tasks $(python -m benchmarks.transfer_ground_truth \
        --list-targets) --source-only subjectivity --seeds 0 1 2 --threads 1   # the full matrix

``--shard K/N`` splits the (seed, source) groups between N workers started with the same
arguments (worker K takes every N-th group), so two single-thread workers can share 2
cores; each run is one appended line well under a page, so their rows do not interleave.

``--tasks`` are targets and sources; ``--source-only`` tasks are sources only (a target at
its ceiling from the capped split teaches nothing about ranking, but it is still a
candidate source).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import transformers
from rich.console import Console
from tqdm.auto import tqdm

from benchmarks.common import banner, suite_tasks
from fute.data.loading import load_task
from fute.data.records import TaskData
from fute.models.finetune import FinetuneSettings, save_classifier
from fute.runtime import configure_threads
from fute.surrogate import load_surrogate
from fute.transfer import TransferSettings, encoder_state, target_score, train_source

# Ten tasks in five families (sentiment, question type, spam, dialogue response selection,
# topic/intent), sized to run in about an hour on 2 cores. Left out: near-duplicates
# (vader_nyt), tiny (debates_party), at the ceiling with 300 examples (subjectivity 0.996),
# or slow for their signal (amazon_food_rating, brown_genre, chatterbot_language).
DEFAULT_TASKS = [
    "vader_tweets",
    "vader_movies",
    "vader_amazon",
    "rotten_tomatoes",
    "trec_coarse",
    "trec_fine",
    "sms_spam",
    "movie_dialogue",
    "chatterbot_topic",
    "hass_intent",
]
# Every suite task that learns from its capped 300-example split. subjectivity is left out
# as a target only: it scores 0.996 from 300 examples, so no source can show a gain there.
ALL_TARGETS = [
    *DEFAULT_TASKS,
    "vader_nyt",
    "debates_party",
    "amazon_food_rating",
    "brown_genre",
    "chatterbot_language",
]
SOURCE_ONLY = ["subjectivity"]
RESULTS = Path(__file__).resolve().parent / "results" / "transfer"


def _load(name: str, split: str, label_names: tuple[str, ...] | None = None) -> TaskData:
    task = suite_tasks([name])[0]
    return load_task(task.split(split), name=name, label_names=label_names)


def _config(
    settings: TransferSettings, tasks: list[str], seeds: list[int], surrogate_sha: str
) -> dict[str, Any]:
    return {
        "tasks": tasks,
        "seeds": seeds,
        "source": asdict(settings.source),
        "target": asdict(settings.target),
        "metric": "accuracy (class), Pearson r (regression), on each target's test split",
        "surrogate_sha256": surrogate_sha,
    }


def _shard(text: str) -> tuple[int, int]:
    """Parse ``K/N`` (0 <= K < N) for ``--shard``; argparse reports the ValueError."""
    k, sep, n = text.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 0 <= int(k) < int(n):
        raise argparse.ArgumentTypeError(f"--shard wants K/N with 0 <= K < N, got {text!r}")
    return int(k), int(n)


def _done(out: Path) -> set[tuple[str | None, str, int]]:
    if not out.exists():
        return set()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["source"], r["target"], r["seed"]) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, help="targets and sources")
    ap.add_argument("--source-only", nargs="*", default=[], help="tasks used as sources only")
    ap.add_argument("--list-targets", action="store_true", help="print ALL_TARGETS and exit")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--target-examples", type=int, default=TransferSettings().target.max_examples)
    ap.add_argument("--out", type=Path, default=RESULTS / "ground_truth.jsonl")
    ap.add_argument("--models", type=Path, default=Path("runs/transfer/sources"))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--shard", type=_shard, default=(0, 1), metavar="K/N", help="worker K of N")
    args = ap.parse_args()
    if args.list_targets:
        print(" ".join(ALL_TARGETS))
        return
    sources = list(dict.fromkeys([*args.tasks, *args.source_only]))
    console = Console()
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # one load report per run would bury the progress bar
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    configure_threads(args.threads)
    console.print(banner())
    surrogate = load_surrogate()
    base = TransferSettings()
    target = FinetuneSettings(**{**asdict(base.target), "max_examples": args.target_examples})
    settings = TransferSettings(source=base.source, target=target)
    config = _config(settings, args.tasks, args.seeds, surrogate.weights_sha256)
    config["source_only"] = args.source_only
    config_path = args.out.with_suffix(".config.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if config_path.exists():
        old = json.loads(config_path.read_text())
        growing = ("tasks", "seeds", "source_only")
        changed = {k for k in config if k not in growing and old.get(k) != config[k]}
        if changed:
            raise SystemExit(
                f"{args.out} was made with other settings ({sorted(changed)}); use another --out"
            )
        config["tasks"] = list(dict.fromkeys(old["tasks"] + args.tasks))
        config["seeds"] = sorted(set(old["seeds"]) | set(args.seeds))
        config["source_only"] = list(dict.fromkeys(old.get("source_only", []) + args.source_only))
    config["banner"] = banner()
    config_path.write_text(json.dumps(config, indent=2) + "\n")

    train = {n: _load(n, "train") for n in sources}
    test = {n: _load(n, "test", train[n].label_names) for n in args.tasks}
    done = _done(args.out)
    shard, n_shards = args.shard
    groups = [(seed, src) for seed in args.seeds for src in [None, *sources]]
    mine = {g for i, g in enumerate(groups) if i % n_shards == shard}
    todo = [
        (src, tgt, seed)
        for seed, src in groups
        if (seed, src) in mine
        for tgt in args.tasks
        if src != tgt and (src, tgt, seed) not in done
    ]
    console.print(f"{len(done)} runs on file, {len(todo)} to go -> {args.out}")
    bar = tqdm(total=len(todo), desc="transfer runs", unit="run")
    with args.out.open("a") as sink:
        for seed in args.seeds:
            for src in [None, *sources]:
                if (seed, src) not in mine:
                    continue
                targets = [t for t in args.tasks if t != src and (src, t, seed) not in done]
                if not targets:
                    continue
                encoder = None
                if src is not None:
                    t0 = time.perf_counter()
                    folder = args.models / f"{src}-seed{seed}"
                    source_settings = FinetuneSettings(**{**asdict(settings.source), "seed": seed})
                    model = train_source(surrogate, train[src], source_settings, progress=False)
                    if seed == 0 and not folder.exists():
                        meta = {
                            "task": src,
                            "label_kind": train[src].label_kind,
                            "settings": asdict(source_settings),
                        }
                        save_classifier(model, surrogate.tokenizer, folder, meta)
                    encoder = encoder_state(model)
                    del model
                    bar.write(f"source {src} seed {seed}: {time.perf_counter() - t0:.0f} s")
                for tgt in targets:
                    t0 = time.perf_counter()
                    target_settings = FinetuneSettings(**{**asdict(settings.target), "seed": seed})
                    score = target_score(
                        surrogate, train[tgt], test[tgt], target_settings, encoder, progress=False
                    )
                    row = {
                        "source": src,
                        "target": tgt,
                        "seed": seed,
                        "score": round(score, 6),
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    bar.update(1)
                    bar.set_postfix_str(f"{src}->{tgt} {score:.3f}")
    bar.close()


if __name__ == "__main__":
    main()
