"""The state dir: one job at a time, and a damaged unit file is recomputed, never trusted."""

from __future__ import annotations

from pathlib import Path

import pytest
from indexer_testkit import run_in_process, store_tasks, text_manifest

from fute.embedding import TEMP_PREFIX
from indexer.errors import IndexerError
from indexer.state import StateDir


def test_a_state_dir_admits_one_job(tmp_path: Path) -> None:
    with StateDir(tmp_path / "state"), pytest.raises(IndexerError, match="in use by another indexing job"):
        StateDir(tmp_path / "state")
    StateDir(tmp_path / "state").close()  # released on close


def test_partial_write_left_by_a_kill_is_removed_on_open(tmp_path: Path) -> None:
    with StateDir(tmp_path / "state") as st:
        partial = st.units_dir / f"{TEMP_PREFIX}abc123.safetensors"
        partial.write_bytes(b"half a file")
        finished = st.units_dir / "f00d.safetensors"
        finished.write_bytes(b"kept: not a temporary file")
    with StateDir(tmp_path / "state") as st:
        assert sorted(p.name for p in st.units_dir.iterdir()) == ["f00d.safetensors"]


def test_damaged_unit_file_is_recomputed(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    state, store = tmp_path / "state", tmp_path / "store"
    first = run_in_process(manifest, state, store)
    victim = next(r for r in first.units if r.task == "trec_coarse")
    path = state / "units" / f"{victim.key}.safetensors"
    path.write_bytes(path.read_bytes()[:100])  # truncated, as by a disk problem
    second = run_in_process(manifest, state, store)
    assert {r.task: r.status for r in second.units} == {"sms_spam": "skipped", "trec_coarse": "computed"}
    with StateDir(state) as st:
        assert [k for _, k, _ in st.events(second.run_id, "computed")] == [victim.key]
    assert len(store_tasks(store, "minilm-text")) == 2
