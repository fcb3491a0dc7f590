"""The `fute` command as a user runs it: a real subprocess on real suite data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fute.embedding import load_embedding
from tests.conftest import SUITE_DATA


def fute(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fute.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_help_lists_every_subcommand() -> None:
    out = fute("--help")
    assert out.returncode == 0
    for command in ("embed", "similarity", "serve", "search", "rank"):
        assert command in out.stdout
    embed_help = fute("embed", "--help").stdout
    assert "--method" in embed_help and "fim" in embed_help and "--set" in embed_help


@pytest.mark.slow
def test_embed_then_similarity_table(tmp_path: Path) -> None:
    outputs = []
    for task in ("rotten_tomatoes", "vader_movies", "trec_coarse"):
        out = tmp_path / f"{task}.safetensors"
        run = fute(
            "embed",
            str(SUITE_DATA / task / "train.jsonl.gz"),
            "--name",
            task,
            "--method",
            "text",
            "--max-examples",
            "100",
            "--task-type",
            "x",
            "--tag",
            "suite",
            "-o",
            str(out),
            "-q",
        )
        assert run.returncode == 0, run.stderr
        assert out.exists()
        outputs.append(str(out))
    emb = load_embedding(outputs[0])
    assert emb.task.name == "rotten_tomatoes" and emb.task.tags == ("suite",) and emb.task.n_examples == 100
    table = fute("similarity", *outputs, "--csv", str(tmp_path / "m.csv"), "--png", str(tmp_path / "m.png"))
    assert table.returncode == 0, table.stderr
    assert "rotten_tomatoes" in table.stdout and "trec_coarse" in table.stdout
    body = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert len(body) == 3 and all(line.count("*") == 1 for line in body)  # one nearest task per row
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[0] == "task,rotten_tomatoes,vader_movies,trec_coarse"
    assert rows[1].split(",")[1] == "1.000000"
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_fim_with_settings_and_full_vector(tmp_path: Path) -> None:
    out = tmp_path / "e.safetensors"
    run = fute(
        "embed",
        str(SUITE_DATA / "sms_spam" / "train.jsonl.gz"),
        "--max-examples",
        "24",
        "--set",
        "dim=1024",
        "--set",
        "estimator=batch_sq",
        "--full",
        "-o",
        str(out),
        "-q",
    )
    assert run.returncode == 0, run.stderr
    emb = load_embedding(out, with_full=True)
    assert emb.space.dim == 1024 and '"estimator":"batch_sq"' in emb.space.settings
    assert emb.full is not None and emb.full.shape == (22_713_216,)


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "a"}\n{"text": "y"}\n')
    run = fute("embed", str(bad), "--method", "text")
    assert run.returncode == 2
    assert "bad.jsonl:2: missing label field 'label'" in run.stderr
    assert "Traceback" not in run.stderr
    run = fute("embed", str(bad), "--set", "nonsense")
    assert run.returncode == 2 and "--set expects key=value" in run.stderr


def test_similarity_across_spaces_is_refused(tmp_path: Path) -> None:
    import numpy as np

    from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
    from fute.space import EmbeddingSpace

    a = EmbeddingSpace("m", "h", "fim", "{}", 4)
    b = EmbeddingSpace("m", "h", "prompt", "{}", 4)
    save_embedding(TaskEmbedding(np.ones(4, dtype=np.float32), a, TaskInfo("x")), tmp_path / "a.safetensors")
    save_embedding(TaskEmbedding(np.ones(4, dtype=np.float32), b, TaskInfo("y")), tmp_path / "b.safetensors")
    run = fute("similarity", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"))
    assert run.returncode == 2
    assert "different embedding spaces" in run.stderr and "method: 'fim' != 'prompt'" in run.stderr
