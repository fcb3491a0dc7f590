"""Fast checks on the committed task suite (benchmarks/suite) and the default unlabelled corpus.

These read only the committed files; they need none of the build-time packages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "benchmarks" / "suite"
TASKS_JSON = SUITE / "tasks.json"
RESOURCES = REPO / "fute" / "resources"
SPLITS = ("train", "dev", "test")
CAPS = {"train": 1000, "dev": 200, "test": 500}
LABEL_KINDS = {"class", "regression"}


def _tasks() -> list[dict[str, Any]]:
    return list(json.loads(TASKS_JSON.read_text(encoding="utf-8")))


def _rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


TASKS = _tasks()
TASK_IDS = [t["name"] for t in TASKS]


def test_suite_shape() -> None:
    names = [t["name"] for t in TASKS]
    assert len(names) == len(set(names))
    assert len(names) >= 12
    assert any(t.get("pair") for t in TASKS), "at least one text-pair task"
    assert {t["label_kind"] for t in TASKS} == LABEL_KINDS
    on_disk = {p.name for p in (SUITE / "data").iterdir() if p.is_dir()}
    assert on_disk == set(names), "data folders and tasks.json disagree"


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_task_metadata(task: dict[str, Any]) -> None:
    assert task["label_kind"] in LABEL_KINDS
    assert isinstance(task["task_type"], str) and task["task_type"]
    src = task["source"]
    for key in ("package", "version", "registry", "path_in_package", "licence"):
        assert isinstance(src.get(key), str) and src[key], key
    assert src["registry"] in {"pypi", "debian", "npm"}
    if task["label_kind"] == "class":
        names = task["label_names"]
        assert len(names) >= 2 and len(set(names)) == len(names)
        assert all(isinstance(n, str) and n for n in names)


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_task_files(task: dict[str, Any]) -> None:
    name, kind, pair = task["name"], task["label_kind"], bool(task.get("pair"))
    label_names = set(task.get("label_names", []))
    seen: dict[str, str] = {}
    labels_seen: set[str] = set()
    for split in SPLITS:
        path = SUITE / "data" / name / f"{split}.jsonl.gz"
        assert path.is_file(), path
        rows = _rows(path)
        assert len(rows) == task[f"n_{split}"], f"{name}/{split} count differs from tasks.json"
        assert 0 < len(rows) <= CAPS[split]
        keys_in_split = set()
        for row in rows:
            expected = {"text", "label", "text_pair"} if pair else {"text", "label"}
            assert set(row) == expected, row
            text = row["text"]
            assert isinstance(text, str) and text.strip() == text and text
            if pair:
                assert isinstance(row["text_pair"], str) and row["text_pair"].strip()
            label = row["label"]
            if kind == "class":
                assert isinstance(label, str) and label in label_names, label
                labels_seen.add(label)
            else:
                assert isinstance(label, float) and math.isfinite(label), label
                lo, hi = task.get("label_range", [-math.inf, math.inf])
                assert lo <= label <= hi
            key = text + "\x00" + row.get("text_pair", "")
            assert key not in keys_in_split, f"duplicate in {name}/{split}: {text[:60]!r}"
            keys_in_split.add(key)
            # splits must not share a text
            assert seen.get(text, split) == split, f"{name}: {text[:60]!r} in {seen[text]} and {split}"
            seen[text] = split
    if kind == "class":
        assert labels_seen == label_names


@pytest.mark.parametrize("name", ["default", "multilingual"])
def test_unlabelled_matches_sha_and_is_unique(name: str) -> None:
    meta = json.loads((RESOURCES / f"unlabelled_{name}.json").read_text(encoding="utf-8"))
    payload = gzip.decompress((RESOURCES / meta["file"]).read_bytes())
    assert hashlib.sha256(payload).hexdigest() == meta["sha256_jsonl"]
    rows = [json.loads(line) for line in payload.decode("utf-8").splitlines()]
    assert len(rows) == meta["n_records"]
    n_pairs = sum(1 for r in rows if "text_pair" in r)
    assert n_pairs == meta["n_pairs"]
    assert 0 < n_pairs < len(rows) if name == "default" else n_pairs == 0
    texts: list[str] = []
    for r in rows:
        assert set(r) <= {"text", "text_pair"} and "label" not in r
        for key in ("text", "text_pair"):
            if key in r:
                assert isinstance(r[key], str) and r[key].strip()
                texts.append(r[key])
    assert len(texts) == len(set(texts)), "duplicate texts in U"
    assert {s["package"] for s in meta["sources"]} and all(s["licence"] for s in meta["sources"])
