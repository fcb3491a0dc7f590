"""Load a labelled task from JSONL, CSV/TSV, Parquet or a Hugging Face ``save_to_disk`` folder.

Every bad row is a :class:`~fute.errors.DataError` naming the file, the line (or row) and
the field, so a user can open the file at the right place.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fute.data.records import LABEL_KINDS, Example, LabelKind, TaskData
from fute.data.text_files import iter_text_lines
from fute.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

DataFormat = Literal["jsonl", "csv", "tsv", "parquet", "hf"]
DATA_FORMATS: tuple[DataFormat, ...] = ("jsonl", "csv", "tsv", "parquet", "hf")

_SOFT_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class FieldMap:
    """Which columns hold the text, the optional second text, and the label."""

    text: str = "text"
    text_pair: str = "text_pair"
    label: str = "label"


@dataclass(frozen=True)
class _Row:
    where: str  # "path:line" or "path: row N", for error messages
    values: dict[str, Any]


@dataclass(frozen=True)
class _Table:
    rows: list[_Row]
    # Class names in id order when the file declares them (a datasets ClassLabel feature).
    class_names: tuple[str, ...] | None = None


def detect_format(path: Path) -> DataFormat:
    """Guess the format from the path; a folder is a Hugging Face ``save_to_disk`` folder."""
    if path.is_dir():
        return "hf"
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".csv", "csv"),
        (".tsv", "tsv"),
        (".parquet", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt  # type: ignore[return-value]
    raise ConfigError(
        f"{path}: cannot tell the format from the name; choose it with --format "
        f"(format: in a manifest), one of {list(DATA_FORMATS)}"
    )


def iter_jsonl_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("path:line", object)`` for each non-blank line of a JSON-lines file (gzipped too).

    Raises:
        DataError: a line that is not UTF-8, not JSON, or not a JSON object, named by file
            and line.
    """
    for lineno, line in enumerate(iter_text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(values, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(values).__name__}")
        yield f"{path}:{lineno}", values


def _jsonl_rows(path: Path) -> Iterator[_Row]:
    for where, values in iter_jsonl_objects(path):
        yield _Row(where, values)


def _csv_rows(path: Path, delimiter: str) -> Iterator[_Row]:
    reader = csv.DictReader(iter_text_lines(path), delimiter=delimiter)
    try:
        for values in reader:
            if None in values:
                raise DataError(f"{path}:{reader.line_num}: more cells than the header has columns")
            yield _Row(f"{path}:{reader.line_num}", dict(values))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from exc


def _parquet_rows(path: Path) -> Iterator[_Row]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    row = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for values in batch.to_pylist():
            yield _Row(f"{path}: row {row}", values)
            row += 1


def _hf_table(path: Path, split: str, label_field: str) -> _Table:
    """Rows of a ``save_to_disk`` folder; the ids of a ``ClassLabel`` label become its names."""
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: not a Hugging Face dataset folder written by save_to_disk ({exc})") from exc
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(
                f"{path}: no split {split!r}; it has {sorted(ds)} (choose one with --split; split: in a manifest)"
            )
        ds = ds[split]
    feature = ds.features.get(label_field)
    names = tuple(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    rows = []
    for row, values in enumerate(ds):
        where = f"{path}: row {row}"
        label = values.get(label_field)
        if names is not None and label is not None:
            if not 0 <= label < len(names):  # -1 is how datasets marks an unlabelled row
                raise DataError(
                    f"{where}: field {label_field!r}: {label!r} is not a class id of its ClassLabel "
                    f"(0..{len(names) - 1}: {list(names)})"
                )
            values = {**values, label_field: names[label]}
        rows.append(_Row(where, dict(values)))
    return _Table(rows, names)


def _read_table(path: Path, fmt: DataFormat, split: str, label_field: str) -> _Table:
    """Raw rows of a task file with their location, before validation."""
    if fmt == "jsonl":
        return _Table(list(_jsonl_rows(path)))
    if fmt in ("csv", "tsv"):
        return _Table(list(_csv_rows(path, "," if fmt == "csv" else "\t")))
    if fmt == "parquet":
        return _Table(list(_parquet_rows(path)))
    return _hf_table(path, split, label_field)


def _raw_kind(value: Any, from_text: bool) -> str:
    """Classify one raw label: 'str', 'int', 'float' or 'list' (CSV cells are parsed)."""
    if isinstance(value, bool):
        return "str"  # booleans are class names, "True"/"False"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, str) and from_text:
        text = value.strip()
        if text.startswith("["):
            return "list"
        try:
            int(text)
            return "int"
        except ValueError:
            pass
        try:
            float(text)
            return "float"
        except ValueError:
            return "str"
    return "str"


_INFERRED: dict[frozenset[str], LabelKind] = {
    frozenset({"str"}): "class",
    frozenset({"int"}): "class",
    frozenset({"float"}): "regression",
    frozenset({"list"}): "soft",
}


def _infer_label_kind(path: Path, rows: list[_Row], field: str, from_text: bool) -> LabelKind:
    """Infer the label kind; mixed kinds are an error naming the first row of each.

    Integer labels are class ids, so integers mixed with floats are an error too: a float
    among class ids is as likely a typo as a score, and guessing would silently turn a
    classification task into a regression one.
    """
    first: dict[str, str] = {}
    for row in rows:
        kind = _raw_kind(row.values[field], from_text)
        first.setdefault(kind, row.where)
    inferred = _INFERRED.get(frozenset(first))
    if inferred is not None:
        return inferred
    seen = ", ".join(f"{k} (first at {w})" for k, w in sorted(first.items(), key=lambda kv: kv[1]))
    raise DataError(
        f"{path}: field {field!r} mixes label kinds in one task: {seen}; make them agree or set the "
        "label kind (--label-kind; label_kind: in a manifest)"
    )


def _parse_soft(value: Any, where: str, field: str) -> tuple[float, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: field {field!r}: soft label is not a JSON list ({exc.msg})") from exc
    if not isinstance(value, list | tuple) or not value:
        raise DataError(f"{where}: field {field!r}: soft label must be a non-empty list of probabilities")
    try:
        probs = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: field {field!r}: soft label holds a non-number") from exc
    if any(not math.isfinite(p) or p < 0 for p in probs):
        raise DataError(f"{where}: field {field!r}: soft label has a negative, NaN or Inf entry")
    if abs(sum(probs) - 1.0) > _SOFT_SUM_TOLERANCE:
        raise DataError(f"{where}: field {field!r}: soft label sums to {sum(probs):.4f}, not 1")
    return probs


def _parse_float(value: Any, where: str, field: str) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: field {field!r}: {value!r} is not a number") from exc
    if not math.isfinite(score):
        raise DataError(f"{where}: field {field!r}: score is NaN or Inf")
    return score


def _text(row: _Row, field: str, required: bool) -> str | None:
    value = row.values.get(field)
    if value is None:
        if required:
            present = sorted(row.values)
            raise DataError(f"{row.where}: missing field {field!r} (row has {present})")
        return None
    if not isinstance(value, str):
        raise DataError(f"{row.where}: field {field!r} must be text, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{row.where}: field {field!r} is empty")
    return value


def _class_sort_key(name: str) -> tuple[int, float, str]:
    # Integer class ids sort numerically (2 before 10); names alphabetically.
    try:
        return (0, float(int(name)), "")
    except ValueError:
        return (1, 0.0, name)


def load_task(
    path: str | Path,
    *,
    name: str | None = None,
    fmt: DataFormat | None = None,
    fields: FieldMap | None = None,
    label_kind: LabelKind | None = None,
    label_names: tuple[str, ...] | None = None,
    split: str = "train",
) -> TaskData:
    """Load a labelled task.

    Args:
        path: a ``.jsonl``/``.csv``/``.tsv``/``.parquet`` file (optionally ``.gz`` for the
            text formats) or a Hugging Face ``save_to_disk`` folder.
        name: task name; defaults to the file stem.
        fmt: file format; guessed from the path when omitted.
        fields: column names of text, optional second text, and label.
        label_kind: ``class``, ``regression`` or ``soft``; inferred when omitted
            (strings/ints are classes, floats regression, lists soft labels).
        label_names: class names in head order; for ``class`` the default is the sorted
            set of labels, for ``soft`` ``class_0..class_{k-1}``.
        split: which split of a ``DatasetDict`` folder to read.

    A Hugging Face ``ClassLabel`` label keeps its names: ids map to them, and they are the
    default ``label_names`` (in id order, unused classes included).

    Raises:
        DataError: a malformed row (file, line, field named), a byte that is not UTF-8
            (file, line, byte offset), an empty or missing label, no examples, mixed labels.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    fmt = fmt or detect_format(path)
    if fmt not in DATA_FORMATS:
        raise ConfigError(f"unknown data format {fmt!r}; valid: {list(DATA_FORMATS)}")
    if path.is_dir() and fmt != "hf":
        raise DataError(f"{path}: a folder, not a {fmt} file; folders are read as hf (save_to_disk) folders")
    if label_kind is not None and label_kind not in LABEL_KINDS:
        raise ConfigError(f"unknown label kind {label_kind!r}; valid: {list(LABEL_KINDS)}")
    fields = fields or FieldMap()
    table = _read_table(path, fmt, split, fields.label)
    rows = table.rows
    if not rows:
        raise DataError(f"{path}: the dataset is empty (no examples)")
    for row in rows:
        value = row.values.get(fields.label)
        if value is None:
            raise DataError(f"{row.where}: missing label field {fields.label!r}")
        if isinstance(value, str) and not value.strip():
            # An empty CSV cell is a missing label, not a class named "".
            raise DataError(f"{row.where}: empty label field {fields.label!r}")
    from_text = fmt in ("csv", "tsv")
    kind = label_kind or _infer_label_kind(path, rows, fields.label, from_text)
    if kind == "class" and label_names is None:
        label_names = table.class_names

    texts = [
        (_text(row, fields.text, required=True) or "", _text(row, fields.text_pair, required=False))
        for row in rows
    ]
    labels: list[int | float | tuple[float, ...]]
    names: tuple[str, ...]
    if kind == "class":
        raw = [str(row.values[fields.label]).strip() for row in rows]
        names = label_names or tuple(sorted(set(raw), key=_class_sort_key))
        index = {n: i for i, n in enumerate(names)}
        labels = []
        for row, value in zip(rows, raw, strict=True):
            if value not in index:
                raise DataError(f"{row.where}: field {fields.label!r}: {value!r} is not one of {list(names)}")
            labels.append(index[value])
    elif kind == "regression":
        labels = [_parse_float(row.values[fields.label], row.where, fields.label) for row in rows]
        names = ()
    else:
        soft = [_parse_soft(row.values[fields.label], row.where, fields.label) for row in rows]
        width = len(soft[0])
        for row, probs in zip(rows, soft, strict=True):
            if len(probs) != width:
                raise DataError(
                    f"{row.where}: field {fields.label!r}: {len(probs)} probabilities, "
                    f"the first row has {width}"
                )
        names = label_names or tuple(f"class_{i}" for i in range(width))
        if len(names) != width:
            raise DataError(f"{path}: {len(names)} label names for {width}-way soft labels")
        labels = list(soft)
    if kind != "regression" and len(names) < 2:
        raise DataError(f"{path}: a classification task needs at least 2 classes, found {list(names)}")
    examples = tuple(Example(text=t, text_pair=p, label=y) for (t, p), y in zip(texts, labels, strict=True))
    logger.info("loaded %d %s examples from %s", len(examples), kind, path)
    return TaskData(
        name=name or path.name.split(".")[0],
        examples=examples,
        label_kind=kind,
        label_names=names,
        source=str(path),
    )
