"""kill -9 in the middle of a job, then resume: every unit exactly once in the index, none recomputed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from indexer_testkit import ROOT, TASKS, store_tasks, text_manifest, unit_keys

from fute.embedding import load_embedding
from indexer.state import StateDir

#: Seconds to wait for the first unit (process start, torch import, surrogate load, one unit).
FIRST_UNIT_TIMEOUT_S = 120
#: Five real tasks of 120 examples: the job is still running when unit one is done.
JOB_TASKS = TASKS[:5]


def _index_cmd(manifest: Path, state: Path, store: Path) -> list[str]:
    # The real local pool (one spawned worker process), as a user runs it.
    return [
        sys.executable,
        "-m",
        "indexer",
        str(manifest),
        "--store",
        str(store),
        "--state",
        str(state),
        "--workers",
        "1",
        "--threads",
        "1",
        "-q",
    ]


def test_kill_9_then_resume_gives_every_unit_exactly_once(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, JOB_TASKS, n=120, max_examples=120)
    state, store = tmp_path / "state", tmp_path / "store"
    proc = subprocess.Popen(
        _index_cmd(manifest, state, store),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + FIRST_UNIT_TIMEOUT_S
    try:
        while not unit_keys(state) if state.exists() else True:
            assert proc.poll() is None, (
                f"job ended early: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
            assert time.monotonic() < deadline, "no unit finished in time"
            time.sleep(0.05)
    finally:
        # SIGKILL to the whole session: the driver and its pool worker die without cleanup.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_at_kill = unit_keys(state)
    assert 1 <= len(done_at_kill) < len(JOB_TASKS), (
        "the kill must land mid-job for this test to mean anything"
    )
    with StateDir(state) as st:
        first_run = st.run_ids()[0]

    resumed = subprocess.run(
        _index_cmd(manifest, state, store), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    tasks = store_tasks(store, "minilm-text")
    assert sorted(t.id for t in tasks) == sorted(JOB_TASKS)  # every unit, exactly once
    keys = unit_keys(state)
    assert len(keys) == len(JOB_TASKS) and done_at_kill <= keys
    by_name = {load_embedding(state / "units" / f"{k}.safetensors").task.name: k for k in keys}
    for task in tasks:  # the index holds the vectors on disk
        vec = task.vector
        assert vec is not None
        assert np.array_equal(vec, load_embedding(state / "units" / f"{by_name[task.id]}.safetensors").vector)
    with StateDir(state) as st:
        second_run = st.run_ids()[-1]
        assert second_run != first_run
        recomputed = {k for _, k, _ in st.events(second_run, "computed")}
        # Units finished before the kill were not recomputed; the others were, once.
        assert not recomputed & done_at_kill
        assert recomputed == keys - done_at_kill
        # Over both runs each unit was computed (or, if killed between file and ledger, recovered) once.
        made = Counter(k for _, k, e in st.events() if e in ("computed", "recovered"))
        assert made == Counter(dict.fromkeys(keys, 1))

    # A third run finds everything done.
    again = subprocess.run(
        _index_cmd(manifest, state, store), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0
    assert f"{len(JOB_TASKS)} units: 0 computed, {len(JOB_TASKS)} already done" in again.stdout.replace(
        "\n", " "
    )
