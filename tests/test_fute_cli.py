"""The `fute` command as a user runs it: a real subprocess on real suite data."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
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
    assert "different embedding spaces" in run.stderr and "method: fim != prompt" in run.stderr


# --- Errors as promised and honest output (issue 14), calibrate (issue 17): in process, fast. ---
# Checks that must fail before the model loads name a surrogate folder that does not exist:
# reaching the model would then give a different error.


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random BERT folder: whole commands run in seconds."""
    from tests.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def write_task(path: Path, n: int) -> Path:
    rows = [json.dumps({"text": f"example number {i}", "label": "ab"[i % 2]}) for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from fute.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def subcommand(name: str) -> argparse.ArgumentParser:
    from fute.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise AssertionError("no subcommands")


def test_non_utf8_data_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = b'{"text": "ok", "label": "a"}\n'
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(first + b'{"text": "caf\xe9", "label": "b"}\n')
    out = tmp_path / "e.safetensors"
    offset = len(first) + len(b'{"text": "caf')
    code, _, err = run_main(
        capsys, "embed", str(bad), "-o", str(out), "--surrogate", str(tmp_path / "no-model")
    )
    assert code == 2
    assert err == f"fute embed: error: {bad}:2: not UTF-8 text (byte 0xe9 at byte offset {offset})\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("dim=abc", "fim setting 'dim' must be an integer, got 'abc'"),
        ("epochs=1.5", "fim setting 'epochs' must be an integer, got 1.5"),
        ("lr=fast", "fim setting 'lr' must be a number, got 'fast'"),
    ],
)
def test_wrongly_typed_set_value_fails_before_the_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, expected: str
) -> None:
    data = write_task(tmp_path / "t.jsonl", 10)
    for command in (["embed", str(data)], ["embed-model", "callable:vader"]):
        code, _, err = run_main(capsys, *command, "--set", setting, "--surrogate", str(tmp_path / "no-model"))
        assert code == 2
        assert err == f"fute {command[0]}: error: --set: {expected}\n"


def test_output_into_a_missing_folder_fails_first_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
    from fute.space import EmbeddingSpace

    data = write_task(tmp_path / "t.jsonl", 10)
    nowhere = tmp_path / "no-such-folder"
    no_model = str(tmp_path / "no-model")
    for argv in (
        ["embed", str(data), "-o", str(nowhere / "e.safetensors"), "--surrogate", no_model],
        ["embed-model", "callable:vader", "-o", str(nowhere / "e.safetensors"), "--surrogate", no_model],
        ["finetune", str(data), "-o", str(nowhere / "clf"), "--surrogate", no_model],
    ):
        code, _, err = run_main(capsys, *argv)
        assert code == 2
        assert (
            err
            == f"fute {argv[0]}: error: -o {argv[argv.index('-o') + 1]}: folder {nowhere} does not exist\n"
        )
    space = EmbeddingSpace("m", "h", "fim", "{}", 4)
    files = []
    for name in ("a", "b"):
        files.append(str(tmp_path / f"{name}.safetensors"))
        save_embedding(TaskEmbedding(np.arange(1, 5, dtype=np.float32), space, TaskInfo(name)), files[-1])
    csv_out, png_out = tmp_path / "m.csv", nowhere / "m.png"
    code, out, err = run_main(capsys, "similarity", *files, "--csv", str(csv_out), "--png", str(png_out))
    assert code == 2 and out == ""
    assert err == f"fute similarity: error: --png {png_out}: folder {nowhere} does not exist\n"
    assert not csv_out.exists() and not nowhere.exists()


def test_format_and_split_choose_what_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datasets

    no_model = str(tmp_path / "no-model")
    export = tmp_path / "export.txt"
    export.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n', encoding="utf-8")
    code, _, err = run_main(capsys, "embed", str(export), "--surrogate", no_model)
    assert code == 2 and "cannot tell the format" in err and "--format" in err
    code, _, err = run_main(capsys, "embed", str(export), "--format", "jsonl", "--surrogate", no_model)
    assert code == 2 and f"{export}:2: missing label field 'label'" in err
    # Each split is broken its own way, so the error shows which one was read.
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": [" ", "b"], "label": ["x", "y"]}),
            "test": datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": ["x", "y"]}),
        }
    ).save_to_disk(str(tmp_path / "hf"))
    hf = str(tmp_path / "hf")
    code, _, err = run_main(capsys, "embed", hf, "--surrogate", no_model)
    assert code == 2 and "row 0: field 'text' is empty" in err
    code, _, err = run_main(capsys, "embed", hf, "--split", "test", "--surrogate", no_model)
    assert code == 2 and "row 0: missing field 'text' (row has ['label', 'sentence'])" in err
    code, _, err = run_main(capsys, "embed", hf, "--split", "dev", "--surrogate", no_model)
    assert code == 2 and "no split 'dev'; it has ['test', 'train']" in err and "--split" in err
    code, _, err = run_main(capsys, "embed", str(export), "--split", "test", "--format", "jsonl")
    assert code == 2 and "--split test:" in err and "not a Hugging Face save_to_disk folder" in err


def test_every_flag_an_error_advises_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datasets

    no_model = str(tmp_path / "no-model")
    (tmp_path / "d.xml").write_text("<x/>")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"text": "a", "label": "pos"}\n{"text": "b", "label": 0.5}\n', encoding="utf-8")
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"], "label": ["x"]})}).save_to_disk(
        str(tmp_path / "hf")
    )
    capsys.readouterr()  # the progress bar of save_to_disk
    flags = {flag for action in subcommand("embed")._actions for flag in action.option_strings}
    advised = set()
    for argv in (
        ["embed", str(tmp_path / "d.xml")],
        ["embed", str(mixed)],
        ["embed", str(tmp_path / "hf"), "--split", "dev"],
        ["embed", str(mixed), "--set", "dim=abc"],
    ):
        code, _, err = run_main(capsys, *argv, "--surrogate", no_model)
        assert code == 2 and len(err.splitlines()) == 1, err
        advised |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", err))
    assert advised == {"--format", "--label-kind", "--split", "--set"}
    assert advised <= flags


def test_example_count_printed_is_the_count_used(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.safetensors"
    data = write_task(tmp_path / "t250.jsonl", 250)
    common = ["--surrogate", str(tiny), "--method", "text", "-o", str(out), "-q"]
    code, printed, _ = run_main(capsys, "embed", str(data), "--max-examples", "150", *common)
    assert code == 0 and "t250 (150 of 250 examples, cap 150) in text" in printed
    assert load_embedding(out).task.n_examples == 150
    big = write_task(tmp_path / "t1200.jsonl", 1200)
    code, printed, _ = run_main(capsys, "embed", str(big), *common)
    assert code == 0 and "t1200 (1000 of 1200 examples, cap 1000) in text" in printed
    assert load_embedding(out).task.n_examples == 1000
    embed_help = " ".join(subcommand("embed").format_help().split())
    assert "--max-examples MAX_EXAMPLES cap on examples, a seeded sample (default 1000" in embed_help


@pytest.mark.parametrize(
    ("command", "default"),
    [
        ("serve", "--port PORT TCP port (0: any free one) (default 50051)"),
        ("search", "-k K results per query (default 10)"),
        ("rank", "--server SERVER host:port of the server (default 127.0.0.1:50051)"),
    ],
)
def test_service_commands_describe_themselves_and_show_defaults(command: str, default: str) -> None:
    parser = subcommand(command)
    assert parser.description and len(parser.description) > 80
    assert default in " ".join(parser.format_help().split())


def test_calibrate_reaches_the_embedding(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    common = [
        "embed-model",
        "callable:vader-probs",
        "--surrogate",
        str(tiny),
        "--corpus-size",
        "40",
        "--set",
        "epochs=0",
        "--set",
        "dim=64",
        "--set",
        "max_length=32",
        "--cache-dir",
        str(tmp_path / "cache"),
        "-q",
    ]
    plain, calibrated = tmp_path / "plain.safetensors", tmp_path / "calibrated.safetensors"
    assert run_main(capsys, *common, "-o", str(plain))[0] == 0
    code, printed, _ = run_main(capsys, *common, "--calibrate", "-o", str(calibrated))
    assert code == 0 and "(40 examples, cap 1000)" in printed
    a, b = load_embedding(plain), load_embedding(calibrated)
    assert "calibrated" in b.task.tags and "calibrated" not in a.task.tags
    assert not np.allclose(a.vector, b.vector)
    code, _, err = run_main(
        capsys, "embed-model", "callable:vader", "--calibrate", "--surrogate", str(tmp_path / "no-model")
    )
    assert (
        code == 2
        and err
        == "fute embed-model: error: --calibrate applies to soft labels; callable:vader gives regression\n"
    )


def test_finetune_quiet_prints_nothing_and_folders_follow_the_umask(tmp_path: Path, tiny: Path) -> None:
    data = write_task(tmp_path / "t.jsonl", 40)
    out = tmp_path / "clf"
    old = os.umask(0o022)  # inherited by the child
    try:
        run = fute("finetune", str(data), "--surrogate", str(tiny), "-o", str(out), "--epochs", "1", "-q")
    finally:
        os.umask(old)
    assert run.returncode == 0, run.stderr
    assert (run.stdout, run.stderr) == ("", "")
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # not mkdtemp's 0700
