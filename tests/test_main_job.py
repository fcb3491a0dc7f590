"""The main job's pieces at small scale, as scripts/main_job.sh runs them.

Real processes throughout: ``fute index`` of real suite tasks and a real packaged model
into a store, ``fute serve`` on a free port, and ``examples/query_suite.py`` (which uses
only ``fute_client``) against it. Only the sizes are cut down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit import free_port, serve_argv

from tests.conftest import ROOT, SUITE_DATA

QUERY_SCRIPT = ROOT / "examples" / "query_suite.py"
DATASETS = {"rotten_tomatoes": "sentiment", "vader_movies": "sentiment", "trec_coarse": "question-type"}
MODEL = "vader-probs"
SPACE = "tiny-fim"
SERVE_TIMEOUT_S = 60.0

# Offline as in the main job; a wide console so rich does not wrap table cells.
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}


def write_manifest(path: Path) -> Path:
    """A main_job.yaml in miniature: 3 suite tasks and one callable model, 32 examples each."""
    lines = [
        "version: 1",
        "corpus: {size: 32, seed: 0}",
        "spaces:",
        f"  - {{name: {SPACE}, method: fim, settings: {{dim: 1024, max_examples: 32, epochs: 1}}}}",
        "datasets:",
    ]
    for name, task_type in DATASETS.items():
        data = SUITE_DATA / name / "train.jsonl.gz"
        lines.append(f"  - {{name: {name}, path: '{data}', task_type: {task_type}}}")
    lines += ["models:", f"  - {{name: {MODEL}, adapter: 'callable:{MODEL}', task_type: sentiment}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def fute(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The ``fute`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "fute.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=ENV,
    )


def query(server: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``examples/query_suite.py`` in a subprocess."""
    return subprocess.run(
        [sys.executable, str(QUERY_SCRIPT), "--server", server, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=ENV,
    )


def table_rows(output: str, title_start: str) -> list[list[str]]:
    """The body cells of the first rich table after the line starting with ``title_start``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
        elif line.startswith("└"):
            break
    return rows  # the header row is drawn with ┃, so every │ row is a body row


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Index the tiny manifest into a store and serve it; yields ``host:port``."""
    tmp = tmp_path_factory.mktemp("main_job")
    manifest = write_manifest(tmp / "job.yaml")
    store = tmp / "store"
    # --workers 0: one process for four tiny units; a pool's start-up would dominate.
    indexed = fute(
        "index",
        str(manifest),
        "--store",
        str(store),
        "--state",
        str(tmp / "state"),
        "--prediction-cache",
        str(tmp / "predictions"),
        "--workers",
        "0",
        "-q",
    )
    assert indexed.returncode == 0, indexed.stdout + indexed.stderr

    log = tmp / "server.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            serve_argv(store, "--port", "0", "--grace", "1", module="fute.cli"),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=ENV,
        )
    try:
        # Port 0 lets the server pick a free port; it logs it once the store is loaded.
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while not (match := re.search(r"serving \S+ on port (\d+)", log.read_text())):
            assert proc.poll() is None, f"server exited: {log.read_text()}"
            assert time.monotonic() < deadline, (
                f"server not serving after {SERVE_TIMEOUT_S}s: {log.read_text()}"
            )
            time.sleep(0.2)
        yield f"127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_query_script_finds_neighbours_and_ranks_sources(server: str) -> None:
    run = query(
        server, "--space", SPACE, "--queries", "rotten_tomatoes", MODEL, "--target", "vader_movies", "-k", "3"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    names = {*DATASETS, MODEL}

    index_rows = table_rows(run.stdout, "tasks, each with its nearest other task")
    assert {row[0] for row in index_rows} == names
    assert {row[1] for row in index_rows} == {"dataset", "model"}

    for q in ("rotten_tomatoes", MODEL):
        rows = table_rows(run.stdout, f"FindSimilarTasks: {q} ")
        assert [row[0] for row in rows] == ["1", "2", "3"]
        neighbours = [row[1] for row in rows]
        assert q not in neighbours, "a query is left out of its own results"
        assert set(neighbours) <= names - {q}
        cosines = [float(row[4]) for row in rows]
        assert cosines == sorted(cosines, reverse=True)
        assert all(-1.0 <= c <= 1.0 for c in cosines)

    ranking = table_rows(run.stdout, "RankSourceTasks: sources for vader_movies ")
    assert sorted(row[1] for row in ranking) == sorted(names - {"vader_movies"})
    assert f"{len(names) - 1} candidates" in run.stdout


@pytest.mark.slow
def test_query_script_names_a_missing_task(server: str) -> None:
    run = query(server, "--space", SPACE, "--queries", "no_such_task")
    assert run.returncode == 2
    assert "no_such_task" in run.stderr and "rotten_tomatoes" in run.stderr
    wrong_space = query(server, "--space", "nope")
    assert wrong_space.returncode == 2 and "no space 'nope'" in wrong_space.stderr


def test_query_script_exits_2_when_no_server_answers() -> None:
    server = f"127.0.0.1:{free_port()}"
    run = query(server, "--wait", "1", "--timeout", "2")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "cannot reach a serving TaskSearch server" in run.stderr and server in run.stderr
    assert "Traceback" not in run.stderr
