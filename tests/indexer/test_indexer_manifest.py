"""Manifest parsing: a good manifest becomes typed specs; a bad one names file, line, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from fute.methods import FimSettings, TextSettings
from indexer.errors import ManifestError
from indexer.manifest import load_manifest, parse_manifest

GOOD = """\
version: 1
tags: [team-a]
corpus: {size: 64, seed: 3}
spaces:
  - name: text
    method: text
    settings: {max_examples: 200}
  - name: fim
    method: fim
    settings: {dim: 1024, lr: 1e-3, epochs: 0}
    backend: hnsw
datasets:
  - name: sst
    path: data/sst.jsonl
    fields: {text: sentence, label: y}
    label_kind: class
    tags: [sentiment]
    spaces: [text]
  - name: qqp
    path: /abs/qqp.parquet
    format: parquet
models:
  - name: vader
    adapter: callable:vader
    task_type: sentiment
  - name: clf
    adapter: hf:models/clf
    options: {max_length: 64}
  - name: small
    adapter: llm:smollm2
    prompt: prompts.yaml#mine
"""


def test_good_manifest_becomes_typed_specs(tmp_path: Path) -> None:
    m = parse_manifest(GOOD, tmp_path / "jobs.yaml")
    assert [s.name for s in m.spaces] == ["text", "fim"]
    assert m.spaces[0].settings == TextSettings(max_examples=200)
    # YAML 1.1 reads 1e-3 as a string; the manifest takes it as the float it means.
    assert m.spaces[1].settings == FimSettings(dim=1024, lr=1e-3, epochs=0)
    assert m.spaces[1].backend == "hnsw"
    sst, qqp = m.datasets
    assert sst.path == (tmp_path / "data" / "sst.jsonl").resolve()  # relative to the manifest
    assert qqp.path == Path("/abs/qqp.parquet")
    assert (sst.fields.text, sst.fields.text_pair, sst.fields.label) == ("sentence", "text_pair", "y")
    assert sst.tags == ("team-a", "sentiment") and qqp.tags == ("team-a",)
    assert sst.spaces == ("text",) and qqp.spaces == ("text", "fim")  # default: every space
    vader, clf, small = m.models
    assert small.adapter == "llm:smollm2"  # the packaged LLM is a name, not a folder
    assert small.prompt == f"{(tmp_path / 'prompts.yaml').resolve()}#mine"
    assert vader.adapter == "callable:vader" and vader.task_type == "sentiment"
    assert clf.adapter == f"hf:{(tmp_path / 'models' / 'clf').resolve()}"
    assert clf.options.max_length == 64
    assert (m.corpus.size, m.corpus.seed, m.corpus.path) == (64, 3, None)


def test_corpus_path_is_a_file_or_a_packaged_name(tmp_path: Path) -> None:
    body = "datasets:\n  - {name: a, path: a.jsonl}\n"
    packaged = parse_manifest(HEAD + "corpus: {path: 'packaged:multilingual'}\n" + body, tmp_path / "j.yaml")
    assert packaged.corpus.path == "packaged:multilingual"  # a name, not a file beside the manifest
    own = parse_manifest(HEAD + "corpus: {path: u.jsonl}\n" + body, tmp_path / "j.yaml")
    assert own.corpus.path == (tmp_path / "u.jsonl").resolve()


def _bad(text: str, tmp_path: Path) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, tmp_path / "jobs.yaml")
    return str(info.value)


HEAD = "spaces:\n  - name: text\n    method: text\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # unknown field of a dataset: entry, field, line, valid fields
        (
            HEAD
            + "datasets:\n  - name: a\n    path: a.jsonl\n  - name: sst\n    path: b.jsonl\n    colour: red\n",
            ["jobs.yaml:9:", "datasets[1] (name 'sst')", "unknown field 'colour'", "'label_kind'"],
        ),
        # a method setting fute does not know (validated by fute.methods.make_settings)
        (
            "spaces:\n  - name: f\n    method: fim\n    settings: {dimension: 8}\ndatasets:\n  - {name: a, path: a}\n",
            [
                "jobs.yaml:4:",
                "spaces[0] (name 'f')",
                "field 'settings'",
                "unknown fim settings ['dimension']",
            ],
        ),
        # a setting of the wrong type
        (
            "spaces:\n  - name: f\n    method: fim\n    settings:\n      dim: lots\ndatasets:\n  - {name: a, path: a}\n",
            ["jobs.yaml:5:", "spaces[0] (name 'f')", "field 'settings.dim'", "must be int"],
        ),
        # an invalid value caught by the settings dataclass
        (
            "spaces:\n  - name: f\n    method: fim\n    settings: {estimator: best}\ndatasets:\n  - {name: a, path: a}\n",
            ["spaces[0] (name 'f')", "field 'settings'", "unknown FIM estimator 'best'"],
        ),
        (
            "spaces:\n  - name: f\n    method: magic\ndatasets:\n  - {name: a, path: a}\n",
            [
                "jobs.yaml:3:",
                "spaces[0] (name 'f')",
                "field 'method'",
                "'magic' is not one of ['fim', 'prompt', 'text']",
            ],
        ),
        (
            HEAD + "datasets:\n  - name: a\n    path: a.jsonl\n    spaces: [nope]\n",
            ["jobs.yaml:7:", "datasets[0] (name 'a')", "field 'spaces'", "unknown space 'nope'", "['text']"],
        ),
        (
            HEAD
            + "datasets:\n  - name: a\n    path: a.jsonl\nmodels:\n  - name: a\n    adapter: callable:vader\n",
            ["jobs.yaml:8:", "models[0] (name 'a')", "field 'name'", "already the name of datasets[0]"],
        ),
        (
            HEAD + "datasets:\n  - name: a\n",
            ["jobs.yaml:5:", "datasets[0] (name 'a')", "field 'path': is required"],
        ),
        (HEAD + "datasets:\n  - path: a.jsonl\n", ["datasets[0]", "field 'name': is required"]),
        (
            HEAD + "datasets:\n  - name: a\n    path: a.jsonl\n    fields: {label: 3}\n",
            ["jobs.yaml:7:", "datasets[0] (name 'a')", "field 'fields.label'", "column name"],
        ),
        (
            HEAD + "datasets:\n  - name: a\n    path: a.jsonl\n    label_kind: ordinal\n",
            [
                "datasets[0] (name 'a')",
                "field 'label_kind'",
                "'ordinal' is not one of ['class', 'regression', 'soft']",
            ],
        ),
        (
            HEAD + "models:\n  - name: m\n    adapter: torch:thing\n",
            ["jobs.yaml:6:", "models[0] (name 'm')", "field 'adapter'", "SCHEME:TARGET"],
        ),
        (
            HEAD + "models:\n  - name: m\n    adapter: llm:smollm2\n",
            ["models[0] (name 'm')", "field 'prompt': is required"],
        ),
        (
            HEAD + "models:\n  - name: m\n    adapter: callable:vader\n    options: {api: grpc}\n",
            ["models[0] (name 'm')", "field 'options'", "unknown API kind 'grpc'"],
        ),
        (
            HEAD + "models:\n  - name: m\n    adapter: callable:vader\n    options: {temperature: 0}\n",
            ["models[0] (name 'm')", "field 'options.temperature'", "unknown adapter option"],
        ),
        (
            HEAD + "corpus: {size: -1}\ndatasets:\n  - {name: a, path: a}\n",
            ["corpus", "field 'size'", ">= 0"],
        ),
        (HEAD + "dataset:\n  - {name: a, path: a}\n", ["jobs.yaml:4:", "unknown top-level key 'dataset'"]),
        (HEAD, ["lists no datasets and no models"]),
        ("spaces: []\ndatasets:\n  - {name: a, path: a}\n", ["'spaces' must list at least one space"]),
        (HEAD + "datasets:\n  - name: a\n    path: [a\n", ["jobs.yaml:", "not valid YAML"]),
        ("version: 2\n" + HEAD, ["version 2 is not supported"]),
    ],
)
def test_bad_manifest_names_entry_and_field(body: str, expected: list[str], tmp_path: Path) -> None:
    message = _bad(body, tmp_path)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_missing_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "absent.yaml")


def test_cli_reports_bad_manifest_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fute.cli import main

    path = tmp_path / "jobs.yaml"
    path.write_text(HEAD + "datasets:\n  - name: sst\n    path: a.jsonl\n    colour: red\n", encoding="utf-8")
    assert main(["index", str(path), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert "datasets[0] (name 'sst')" in err and "unknown field 'colour'" in err
    assert not (tmp_path / "store").exists()  # nothing ran


def test_non_utf8_manifest_names_line_and_byte_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fute.cli import main

    path = tmp_path / "jobs.yaml"
    body = (HEAD + "datasets:\n  - name: caf\xe9\n    path: a.jsonl\n").encode("latin-1")
    path.write_bytes(body)
    offset = body.index(b"\xe9")
    line = body[:offset].count(b"\n") + 1
    expected = f"{path}:{line}: not UTF-8 text (byte 0xe9 at byte offset {offset})"
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(info.value) == expected
    assert main(["index", str(path), "--store", str(tmp_path / "store")]) == 2
    assert capsys.readouterr().err == f"fute index: error: {expected}\n"
    assert not (tmp_path / "store").exists()  # nothing ran


def test_manifest_byte_order_mark_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (HEAD + "datasets:\n  - name: a\n    path: a.jsonl\n").encode())
    assert [d.name for d in load_manifest(path).datasets] == ["a"]


def test_report_into_a_missing_folder_fails_before_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fute.cli import main

    path = tmp_path / "jobs.yaml"
    path.write_text(HEAD + "datasets:\n  - name: a\n    path: a.jsonl\n", encoding="utf-8")
    report = tmp_path / "no-such-folder" / "report.json"
    assert main(["index", str(path), "--store", str(tmp_path / "store"), "--report", str(report)]) == 2
    err = capsys.readouterr().err
    assert err == f"fute index: error: --report {report}: folder {report.parent} does not exist\n"
    assert not (tmp_path / "store").exists() and not (tmp_path / "jobs.index-state").exists()


def test_a_space_may_keep_neighbours_and_the_sink_creates_it_so(tmp_path: Path) -> None:
    """``keep_neighbours`` (default false) reaches create_space through the sink; a value
    that is not a boolean names entry, field and line."""
    import numpy as np

    from fute.embedding import TaskEmbedding, TaskInfo
    from fute.space import EmbeddingSpace
    from indexer.sinks import store_sink

    text = GOOD.replace("    backend: hnsw\n", "    backend: hnsw\n    keep_neighbours: true\n")
    m = parse_manifest(text, tmp_path / "jobs.yaml")
    assert [s.keep_neighbours for s in m.spaces] == [False, True]
    bad = GOOD.replace("    backend: hnsw\n", "    backend: hnsw\n    keep_neighbours: yes please\n")
    with pytest.raises(ManifestError) as caught:
        parse_manifest(bad, tmp_path / "jobs.yaml")
    err = str(caught.value)
    assert "jobs.yaml:12:" in err and "spaces[1] (name 'fim')" in err
    assert "field 'keep_neighbours': must be true or false, got 'yes please'" in err
    space = EmbeddingSpace("m", "h" * 16, "fim", "{}", 4)
    emb = TaskEmbedding(vector=np.ones(4, np.float32), space=space, task=TaskInfo(name="a", kind="dataset"))
    sink = store_sink(tmp_path / "store")
    try:
        sink.upload("kept", "a", emb, keep_neighbours=True)
        sink.upload("plain", "a", emb)
        assert sink.api.describe_space("kept").keep_neighbours
        assert not sink.api.describe_space("plain").keep_neighbours
    finally:
        sink.close()
