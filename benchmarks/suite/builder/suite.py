"""Building the labelled suite: every task's splits, checked and written, and tasks.json."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.suite.builder.fetch import Fetcher
from benchmarks.suite.builder.layout import SUITE_DIR
from benchmarks.suite.builder.output import jsonl_bytes, write_gz
from benchmarks.suite.builder.readers import licence_of
from benchmarks.suite.builder.registry import TASKS, TaskSpec
from benchmarks.suite.builder.splits import CAPS, SPLITS, Example

LOG = logging.getLogger(__name__)


def check_task(spec: TaskSpec, splits: dict[str, list[Example]]) -> None:
    """Every split non-empty and within its cap, and no text in two splits."""
    seen: dict[str, str] = {}
    for split in SPLITS:
        rows = splits[split]
        if len(rows) > CAPS[split]:
            raise AssertionError(f"{spec.name}/{split}: {len(rows)} > cap {CAPS[split]}")
        if not rows:
            raise AssertionError(f"{spec.name}/{split} is empty")
        for ex in rows:
            if ex.text in seen and seen[ex.text] != split:
                raise AssertionError(
                    f"{spec.name}: text in both {seen[ex.text]} and {split}: {ex.text[:60]!r}"
                )
            seen[ex.text] = split


def task_entry(spec: TaskSpec, splits: dict[str, list[Example]], licence: str) -> dict[str, Any]:
    """The task's tasks.json entry: its spec, what its splits hold, and its provenance."""
    examples = [ex for s in SPLITS for ex in splits[s]]
    entry: dict[str, Any] = {
        "name": spec.name,
        "task_type": spec.task_type,
        "label_kind": spec.label_kind,
        "pair": any(ex.text_pair is not None for ex in examples),
        "description": spec.description,
    }
    if spec.label_kind == "class":
        entry["label_names"] = sorted({str(ex.label) for ex in examples})
    elif spec.label_range is not None:
        entry["label_range"] = list(spec.label_range)
    else:
        vals = [float(ex.label) for ex in examples]
        entry["label_range"] = [min(vals), max(vals)]
    for split in SPLITS:
        entry[f"n_{split}"] = len(splits[split])
    source = spec.source.to_json()
    source["licence"] = licence
    if spec.generator is not None:
        source.update(spec.generator())
    entry["source"] = source
    return entry


def build_suite(fetcher: Fetcher, only: Sequence[str] | None, seed: int, suite_dir: Path = SUITE_DIR) -> None:
    """Build the tasks of ``only`` (all when empty) into ``suite_dir`` (``data/`` and
    ``tasks.json``, whose entries of the other tasks are kept)."""
    tasks_path = suite_dir / "tasks.json"
    existing: dict[str, dict[str, Any]] = {}
    if tasks_path.exists():
        existing = {t["name"]: t for t in json.loads(tasks_path.read_text())}
    specs = [t for t in TASKS if not only or t.name in only]
    if only:
        unknown = set(only) - {t.name for t in TASKS}
        if unknown:
            raise SystemExit(f"unknown task(s): {sorted(unknown)}")
    entries: dict[str, dict[str, Any]] = dict(existing)
    for spec in tqdm(specs, desc="tasks", unit="task"):
        t0 = time.time()
        # A per-task RNG keeps each task reproducible independently of the others.
        rng = random.Random(f"{seed}:{spec.name}")
        splits = spec.builder(fetcher, rng)
        check_task(spec, splits)
        for split in SPLITS:
            write_gz(
                suite_dir / "data" / spec.name / f"{split}.jsonl.gz",
                jsonl_bytes(ex.to_json() for ex in splits[split]),
            )
        entry = task_entry(spec, splits, licence_of(fetcher, spec.source.pinned))
        entries[spec.name] = entry
        LOG.info(
            "%s: train=%d dev=%d test=%d (%.1fs)",
            spec.name,
            entry["n_train"],
            entry["n_dev"],
            entry["n_test"],
            time.time() - t0,
        )
    order = [t.name for t in TASKS]
    out = [entries[n] for n in order if n in entries] + [e for n, e in entries.items() if n not in order]
    tasks_path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    LOG.info("wrote %s (%d tasks)", tasks_path, len(out))
