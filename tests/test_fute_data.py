"""Loading labelled tasks: every format, every label kind, and bad input with its location."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from fute.data import FieldMap, cap_examples, load_task, split_task
from fute.errors import ConfigError, DataError

ROWS = [
    {"text": "a fine film", "label": "pos"},
    {"text": "dull and slow", "label": "neg"},
    {"text": "loved it", "label": "pos"},
    {"text": "not again", "label": "neg"},
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_classes_are_sorted_names(tmp_path: Path) -> None:
    task = load_task(write_jsonl(tmp_path / "t.jsonl", ROWS))
    assert task.label_kind == "class"
    assert task.label_names == ("neg", "pos")
    assert [ex.label for ex in task.examples] == [1, 0, 1, 0]
    assert task.name == "t"
    assert not task.is_pair


def test_integer_classes_sort_numerically(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": lab} for i, lab in enumerate([10, 2, 2, 10, 1])]
    task = load_task(write_jsonl(tmp_path / "t.jsonl", rows))
    assert task.label_names == ("1", "2", "10")
    assert [ex.label for ex in task.examples] == [2, 1, 1, 2, 0]


def test_gzipped_jsonl_with_pairs_and_regression(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in range(3):
            f.write(json.dumps({"text": f"q{i}", "text_pair": f"a{i}", "label": 0.5 * i}) + "\n")
    task = load_task(path)
    assert task.label_kind == "regression"
    assert task.is_pair
    assert [ex.text_pair for ex in task.examples] == ["a0", "a1", "a2"]
    assert task.num_outputs == 1


def test_soft_labels(tmp_path: Path) -> None:
    rows = [{"text": "x", "label": [0.25, 0.75]}, {"text": "y", "label": [1.0, 0.0]}]
    task = load_task(write_jsonl(tmp_path / "s.jsonl", rows), label_names=("no", "yes"))
    assert task.label_kind == "soft"
    assert task.examples[0].label == (0.25, 0.75)
    assert task.label_array().shape == (2, 2)


def test_csv_and_tsv_with_custom_fields(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('sentence,y\n"hello, world",1\nbye,0\n', encoding="utf-8")
    task = load_task(csv_path, fields=FieldMap(text="sentence", label="y"))
    assert task.label_kind == "class"
    assert task.examples[0].text == "hello, world"
    tsv_path = tmp_path / "d.tsv"
    tsv_path.write_text("text\tlabel\nup\t0.5\ndown\t-1.25\n", encoding="utf-8")
    reg = load_task(tsv_path)
    assert reg.label_kind == "regression"
    assert [ex.label for ex in reg.examples] == [0.5, -1.25]


def test_parquet_and_hf_folder(tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    assert load_task(tmp_path / "d.parquet").label_names == ("neg", "pos")
    ds = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:2])}
    )
    ds.save_to_disk(str(tmp_path / "hf"))
    assert len(load_task(tmp_path / "hf").examples) == 4
    assert len(load_task(tmp_path / "hf", split="test").examples) == 2
    with pytest.raises(DataError, match="no split 'dev'"):
        load_task(tmp_path / "hf", split="dev")


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n{"text": "broken", "label": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        load_task(path)


def test_missing_label_names_line_and_field(tmp_path: Path) -> None:
    rows = [*ROWS[:2], {"text": "no label here"}]
    with pytest.raises(DataError, match=r"t\.jsonl:3: missing label field 'label'"):
        load_task(write_jsonl(tmp_path / "t.jsonl", rows))


def test_missing_text_field(tmp_path: Path) -> None:
    rows = [*ROWS[:2], {"sentence": "wrong column", "label": "pos"}]
    with pytest.raises(DataError, match=r"t\.jsonl:3: missing field 'text'"):
        load_task(write_jsonl(tmp_path / "t.jsonl", rows))


def test_csv_missing_label_cell(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\nfine,1\nbroken\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.csv:3: missing label field 'label'"):
        load_task(path)


def test_empty_dataset(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_task(path)


def test_mixed_label_kinds_in_one_task(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": "pos"}, {"text": "b", "label": 0.5}, {"text": "c", "label": "neg"}]
    with pytest.raises(DataError, match=r"mixes label kinds.*t\.jsonl:2"):
        load_task(write_jsonl(tmp_path / "t.jsonl", rows))


def test_soft_labels_must_sum_to_one_and_agree_in_width(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"s\.jsonl:2: field 'label': soft label sums to 0\.9"):
        load_task(
            write_jsonl(
                tmp_path / "s.jsonl", [{"text": "a", "label": [0.5, 0.5]}, {"text": "b", "label": [0.4, 0.5]}]
            )
        )
    with pytest.raises(DataError, match=r"w\.jsonl:2.*3 probabilities, the first row has 2"):
        load_task(
            write_jsonl(
                tmp_path / "w.jsonl",
                [{"text": "a", "label": [0.5, 0.5]}, {"text": "b", "label": [0.2, 0.3, 0.5]}],
            )
        )


def test_nan_regression_score_and_empty_text(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("text,label\nok,1.5\nbad,nan\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"n\.csv:3: field 'label': score is NaN"):
        load_task(path)
    with pytest.raises(DataError, match=r"e\.jsonl:1: field 'text' is empty"):
        load_task(write_jsonl(tmp_path / "e.jsonl", [{"text": "  ", "label": "a"}]))


def test_single_class_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 2 classes"):
        load_task(
            write_jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])
        )
    (tmp_path / "d.xml").write_text("<x/>")
    with pytest.raises(ConfigError, match="cannot tell the format"):
        load_task(tmp_path / "d.xml")
    with pytest.raises(DataError, match="no such file"):
        load_task(tmp_path / "missing.jsonl")


def test_split_is_deterministic_and_order_independent(tmp_path: Path) -> None:
    rows = [{"text": f"example number {i}", "label": str(i % 3)} for i in range(200)]
    task = load_task(write_jsonl(tmp_path / "t.jsonl", rows))
    a = split_task(task, 0.2, seed=1)
    b = split_task(task.with_examples(tuple(reversed(task.examples))), 0.2, seed=1)
    assert {ex.text for ex in a.dev.examples} == {ex.text for ex in b.dev.examples}
    assert 20 <= len(a.dev.examples) <= 60
    assert not {ex.text for ex in a.dev.examples} & {ex.text for ex in a.train.examples}
    other = split_task(task, 0.2, seed=2)
    assert {ex.text for ex in other.dev.examples} != {ex.text for ex in a.dev.examples}


def test_cap_is_seeded_subset(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": str(i % 2)} for i in range(50)]
    task = load_task(write_jsonl(tmp_path / "t.jsonl", rows))
    capped = cap_examples(task, 10, seed=3)
    assert len(capped.examples) == 10
    assert capped.examples == cap_examples(task, 10, seed=3).examples
    assert set(capped.examples) <= set(task.examples)
    assert cap_examples(task, 100) is task


@pytest.mark.parametrize("name", ["bad.jsonl", "bad.csv", "bad.jsonl.gz"])
def test_non_utf8_byte_names_file_line_and_offset(tmp_path: Path, name: str) -> None:
    head = b"text,label\n" if name.endswith(".csv") else b'{"text": "fine", "label": "a"}\n'
    bad = b"caf\xe9,b\n" if name.endswith(".csv") else b'{"text": "caf\xe9", "label": "b"}\n'
    data = head + bad
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    offset = len(head) + bad.index(b"\xe9")
    with pytest.raises(DataError, match=rf"{name}:2: not UTF-8 text \(byte 0xe9 at byte offset {offset}\)"):
        load_task(path)


def test_utf8_byte_order_mark_is_stripped(tmp_path: Path) -> None:
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(b"\xef\xbb\xbftext,label\nhello,a\nbye,b\n")
    assert [ex.text for ex in load_task(csv_path).examples] == ["hello", "bye"]
    jsonl_path = tmp_path / "notepad.jsonl"
    jsonl_path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in ROWS).encode())
    assert load_task(jsonl_path).label_names == ("neg", "pos")


def test_empty_label_cell_is_an_error_like_a_missing_label(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\nfine,pos\nnothing here,\nbad,neg\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.csv:3: empty label field 'label'"):
        load_task(path)
    rows = [*ROWS[:2], {"text": "blank", "label": "  "}]
    with pytest.raises(DataError, match=r"t\.jsonl:3: empty label field 'label'"):
        load_task(write_jsonl(tmp_path / "t.jsonl", rows))


def test_float_among_class_ids_is_an_error_not_regression(tmp_path: Path) -> None:
    path = tmp_path / "stars.csv"
    path.write_text("text,label\ngreat,5\nbad,1\nmeh,3\nhalf,4.5\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"mixes label kinds.*int \(first at .*stars\.csv:2\).*float.*--label-kind"
    ):
        load_task(path)
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": 0}, {"text": "c", "label": 0.5}]
    with pytest.raises(DataError, match="mixes label kinds"):
        load_task(write_jsonl(tmp_path / "t.jsonl", rows))
    # Said explicitly, the same file is a regression task.
    assert load_task(path, label_kind="regression").label_kind == "regression"


def test_hf_class_label_names_are_kept(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive", "mixed"]),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"text": ["good", "bad", "fine", "awful"], "label": [1, 0, 1, 0]}, features
    )
    ds.save_to_disk(str(tmp_path / "hf"))
    task = load_task(tmp_path / "hf")
    # The ClassLabel's names in its id order, the unused class included: ids keep their meaning.
    assert task.label_names == ("negative", "positive", "mixed")
    assert [ex.label for ex in task.examples] == [1, 0, 1, 0]
    unlabelled = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, -1]}, features)
    unlabelled.save_to_disk(str(tmp_path / "unlabelled"))
    with pytest.raises(DataError, match=r"unlabelled: row 1: field 'label': -1 is not a class id"):
        load_task(tmp_path / "unlabelled")


def test_format_is_chosen_not_guessed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.txt", ROWS)
    assert load_task(path, fmt="jsonl").label_names == ("neg", "pos")
    gz = tmp_path / "export.data"  # gzipped, whatever the name says
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert len(load_task(gz, fmt="jsonl").examples) == 4
