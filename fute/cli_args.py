"""Command-line options shared by several ``fute`` subcommands, declared once."""

from __future__ import annotations

import argparse

from fute.data import LABEL_KINDS, FieldMap, TaskData, load_task
from fute.surrogate import DEFAULT_SURROGATE


def add_surrogate(p: argparse.ArgumentParser) -> None:
    """``--surrogate``: the packaged model's name or a local model folder."""
    p.add_argument(
        "--surrogate",
        default=DEFAULT_SURROGATE,
        help=f"packaged model name or local model folder (default {DEFAULT_SURROGATE})",
    )


def add_task_file(p: argparse.ArgumentParser) -> None:
    """``--name`` and the columns of a task file (as read by :func:`fute.data.load_task`)."""
    p.add_argument("--name", help="task name (default: file stem)")
    p.add_argument("--text-field", default="text", help="column of the text (default text)")
    p.add_argument("--pair-field", default="text_pair", help="column of the second text, if any")
    p.add_argument("--label-field", default="label", help="column of the label (default label)")
    p.add_argument("--label-kind", choices=LABEL_KINDS, help="override the inferred label kind")


def load_task_from_args(args: argparse.Namespace) -> TaskData:
    """The task file named by ``args.data`` read with the options of :func:`add_task_file`."""
    fields = FieldMap(text=args.text_field, text_pair=args.pair_field, label=args.label_field)
    return load_task(args.data, name=args.name, fields=fields, label_kind=args.label_kind)


def add_runtime(p: argparse.ArgumentParser) -> None:
    """``--threads`` and ``--quiet``."""
    p.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
