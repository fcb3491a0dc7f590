"""Labelled task data: records, loaders for JSONL/CSV/Parquet/HF folders, splitting."""

from fute.data.loading import DATA_FORMATS, FieldMap, load_task
from fute.data.records import LABEL_KINDS, Example, LabelKind, TaskData
from fute.data.split import Split, cap_examples, split_task

__all__ = [
    "DATA_FORMATS",
    "LABEL_KINDS",
    "Example",
    "FieldMap",
    "LabelKind",
    "Split",
    "TaskData",
    "cap_examples",
    "load_task",
    "split_task",
]
