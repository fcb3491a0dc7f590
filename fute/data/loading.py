"""Load a labelled task from JSONL, CSV/TSV, Parquet or a Hugging Face ``save_to_disk`` folder.

Every bad row is a :class:`~fute.errors.DataError` naming the file, the line (or row) and
the field, so a user can open the file at the right place.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fute.data.records import LABEL_KINDS, Example, LabelKind, TaskData
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
    raise ConfigError(f"{path}: cannot tell the format from the name; pass one of {list(DATA_FORMATS)}")


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def iter_jsonl_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("path:line", object)`` for each non-blank line of a JSON-lines file (``.gz`` too).

    Raises:
        DataError: a line that is not JSON, or not a JSON object, named by file and line.
    """
    with _open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
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
    with _open_text(path) as f:
        reader = csv.DictReader(f, delimiter=delimiter)
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


def _hf_rows(path: Path, split: str) -> Iterator[_Row]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: not a Hugging Face dataset folder written by save_to_disk ({exc})") from exc
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"{path}: no split {split!r}; it has {sorted(ds)}")
        ds = ds[split]
    for row, values in enumerate(ds):
        yield _Row(f"{path}: row {row}", dict(values))


def iter_rows(path: Path, fmt: DataFormat, split: str = "train") -> Iterator[_Row]:
    """Raw rows of a task file with their location, before validation."""
    if fmt == "jsonl":
        return _jsonl_rows(path)
    if fmt in ("csv", "tsv"):
        return _csv_rows(path, "," if fmt == "csv" else "\t")
    if fmt == "parquet":
        return _parquet_rows(path)
    return _hf_rows(path, split)


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


def _infer_label_kind(rows: list[_Row], field: str, from_text: bool) -> LabelKind:
    """Infer the label kind; mixed kinds are an error naming the first conflicting row."""
    first: dict[str, str] = {}
    for row in rows:
        kind = _raw_kind(row.values[field], from_text)
        first.setdefault(kind, row.where)
    kinds = set(first)
    if kinds <= {"int", "str"} and len(kinds) == 1:
        return "class"
    if kinds <= {"int", "float"}:
        return "regression" if "float" in kinds else "class"
    if kinds == {"list"}:
        return "soft"
    seen = ", ".join(f"{k} (first at {w})" for k, w in sorted(first.items(), key=lambda kv: kv[1]))
    raise DataError(
        f"field {field!r} mixes label kinds in one task: {seen}; "
        "make them agree or pass label_kind explicitly"
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

    Raises:
        DataError: a malformed row (file, line, field named), no examples, mixed labels.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    fmt = fmt or detect_format(path)
    if fmt not in DATA_FORMATS:
        raise ConfigError(f"unknown data format {fmt!r}; valid: {list(DATA_FORMATS)}")
    if label_kind is not None and label_kind not in LABEL_KINDS:
        raise ConfigError(f"unknown label kind {label_kind!r}; valid: {list(LABEL_KINDS)}")
    fields = fields or FieldMap()
    rows = list(iter_rows(path, fmt, split))
    if not rows:
        raise DataError(f"{path}: the dataset is empty (no examples)")
    for row in rows:
        if row.values.get(fields.label) is None:
            raise DataError(f"{row.where}: missing label field {fields.label!r}")
    from_text = fmt in ("csv", "tsv")
    kind = label_kind or _infer_label_kind(rows, fields.label, from_text)

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
