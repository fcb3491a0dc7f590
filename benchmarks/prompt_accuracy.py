"""How well do the packaged black boxes do their own task? Accuracy on the suite's test splits.

    .venv/bin/python benchmarks/prompt_accuracy.py                 # 100 test examples per case
    .venv/bin/python benchmarks/prompt_accuracy.py --examples 300 --cases smollm2-sentiment

A model task embedding can only carry what the model's outputs carry, so this is the first
thing to know when a model is not retrieved next to its task's datasets
(``model_retrieval.py``). For each soft-label model whose classes name a suite task's
labels, the first ``--examples`` test examples whose gold label the model can say are
labelled; the table gives accuracy of the argmax, accuracy after prior calibration (each
class's probability divided by its mean over these examples, as ``--calibrate`` does over
U), the majority-class accuracy on the same examples, and how often the model's most
frequent answer is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Run as a script from the repository root: make `benchmarks` importable as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner, suite_tasks
from fute.corpus import CorpusExample
from fute.data import load_task
from fute.models import AdapterOptions, load_adapter
from fute.runtime import configure_threads


@dataclass(frozen=True)
class Case:
    """A model, the suite task of its type, and its class -> task label mapping (None: same names)."""

    key: str
    spec: str
    task: str
    prompt: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None


CASES: tuple[Case, ...] = (
    Case(
        "smollm2-sentiment",
        "llm:smollm2",
        "rotten_tomatoes",
        "sentiment",
        (("negative", "rotten"), ("positive", "fresh")),
    ),
    Case("smollm2-spam", "llm:smollm2", "sms_spam", "spam"),
    Case("smollm2-question", "llm:smollm2", "trec_coarse", "question_type"),
    Case("smollm2-topic", "llm:smollm2", "chatterbot_topic", "topic"),
    Case("smollm2-language", "llm:smollm2", "chatterbot_language", "language"),
    Case(
        "profanity-check",
        "callable:profanity-check",
        "sms_spam",
        None,
        (("clean", "ham"), ("profane", "spam")),
    ),
    Case("py3langid", "callable:langid", "chatterbot_language"),
)


def evaluate(case: Case, n: int) -> dict[str, object]:
    """Accuracy figures of one case on the first ``n`` usable test examples."""
    adapter = load_adapter(case.spec, AdapterOptions(prompt=case.prompt))
    to_task = dict(case.labels) if case.labels else {name: name for name in adapter.label_names}
    folder = suite_tasks([case.task])[0]
    task = load_task(folder.split("test"), name=case.task)
    known = set(to_task.values())
    labelled = [(ex, task.label_names[ex.label]) for ex in task.examples if isinstance(ex.label, int)]
    usable = [(ex, name) for ex, name in labelled if name in known][:n]
    gold = np.array([name for _, name in usable])
    start = time.perf_counter()
    probs = adapter.predict([CorpusExample(ex.text, ex.text_pair) for ex, _ in usable])
    seconds = time.perf_counter() - start
    said = np.array([to_task.get(c, "") for c in adapter.label_names])
    calibrated = probs / np.maximum(probs.mean(axis=0, keepdims=True), 1e-12)
    answers = said[probs.argmax(1)]
    top_answer, top_count = Counter(answers.tolist()).most_common(1)[0]
    return {
        "case": case.key,
        "task": case.task,
        "n": len(usable),
        "classes": len(known),
        "accuracy": float((answers == gold).mean()),
        "calibrated": float((said[calibrated.argmax(1)] == gold).mean()),
        "majority": Counter(gold.tolist()).most_common(1)[0][1] / len(usable),
        "top_answer": f"{top_answer} {top_count / len(usable):.0%}",
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--cases", help=f"comma-separated subset of {[c.key for c in CASES]}")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    configure_threads(args.threads)
    wanted = set(args.cases.split(",")) if args.cases else None
    print(banner())
    print(f"command: python benchmarks/prompt_accuracy.py --examples {args.examples}")
    header = f"{'model':<18} {'task':<20} {'n':>4} {'cls':>3} {'acc':>5} {'calib':>5} {'major':>5}  most frequent answer"
    print(header)
    for case in CASES:
        if wanted is not None and case.key not in wanted:
            continue
        r = evaluate(case, args.examples)
        print(
            f"{r['case']!s:<18} {r['task']!s:<20} {r['n']:>4} {r['classes']:>3} {r['accuracy']:>5.2f}"
            f" {r['calibrated']:>5.2f} {r['majority']:>5.2f}  {r['top_answer']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
