"""Command-line options shared by several ``fute`` subcommands, declared once."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fute.data import DATA_FORMATS, LABEL_KINDS, FieldMap, TaskData, load_task
from fute.data.loading import detect_format
from fute.errors import ConfigError, FuteError
from fute.surrogate import DEFAULT_SURROGATE

if TYPE_CHECKING:
    from fute.corpus import UnlabelledCorpus


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless the help text already says it.

    Unlike ``argparse.ArgumentDefaultsHelpFormatter`` it leaves out defaults that are no
    value (None, False, empty), so ``--help`` never prints "(default: None)".
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, str | list) and not default)
        ):
            return action.help
        return f"{text} (default %(default)s)"


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
    p.add_argument(
        "--format",
        choices=DATA_FORMATS,
        help="file format (default: from the name: .jsonl/.ndjson, .csv, .tsv, .parquet, optionally "
        ".gz; a folder is hf, a Hugging Face save_to_disk folder)",
    )
    p.add_argument(
        "--split",
        help="split of a Hugging Face save_to_disk DatasetDict folder (default train)",
    )


def load_task_from_args(args: argparse.Namespace) -> TaskData:
    """The task file named by ``args.data`` read with the options of :func:`add_task_file`.

    Raises:
        ConfigError: ``--split`` given for anything but a Hugging Face folder (it would be ignored).
    """
    fields = FieldMap(text=args.text_field, text_pair=args.pair_field, label=args.label_field)
    path = Path(args.data)
    if args.split is not None and path.exists() and (args.format or detect_format(path)) != "hf":
        raise ConfigError(
            f"--split {args.split}: {path} is not a Hugging Face save_to_disk folder; only those have splits"
        )
    return load_task(
        path,
        name=args.name,
        fmt=args.format,
        fields=fields,
        label_kind=args.label_kind,
        split=args.split or "train",
    )


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings to a dict; values are Python literals when they parse (1e-3, None)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise FuteError(f"--set expects key=value, got {pair!r}")
        try:
            out[key.strip()] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key.strip()] = raw
    return out


def method_settings(method: str, pairs: Sequence[str], max_examples: int | None = None) -> Any:
    """The settings dataclass of ``method`` from ``--set`` pairs (and ``--max-examples``).

    Built before any model loads, so a wrong key or a wrongly typed value fails at once.

    Raises:
        ConfigError: an unknown key or a value of the wrong type, prefixed with ``--set``.
    """
    from fute.methods import make_settings

    overrides = parse_overrides(pairs)
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    try:
        return make_settings(method, overrides)
    except ConfigError as exc:
        raise ConfigError(f"--set: {exc}") from exc


def default_cap(methods: Sequence[str]) -> str:
    """The default ``max_examples`` of ``methods``, for ``--help``: ``1000`` or ``fim 1000, text 500``."""
    from fute.methods import settings_class

    caps = {m: settings_class(m)().max_examples for m in methods}
    if len(set(caps.values())) == 1:
        return str(next(iter(caps.values())))
    return ", ".join(f"{m} {c}" for m, c in caps.items())


def check_output_file(flag: str, path: str | Path | None) -> None:
    """Fail before any work when ``path`` (an output file or new folder) lies in a missing folder.

    Raises:
        ConfigError: naming the flag, the path and the folder that does not exist.
    """
    if path is None:
        return
    parent = Path(path).expanduser().absolute().parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {parent} does not exist")


def examples_used(used: int, available: int, cap: int | None) -> str:
    """``150 of 250 examples, cap 150`` (or ``250 examples, cap 1000``): what went in, honestly."""
    counted = f"{used} of {available} examples" if used != available else f"{used} examples"
    return f"{counted}, cap {cap}" if cap is not None else counted


def add_runtime(p: argparse.ArgumentParser, quiet_help: str = "no progress bars") -> None:
    """``--threads`` and ``--quiet``."""
    p.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    p.add_argument("-q", "--quiet", action="store_true", help=quiet_help)


def quiet_libraries() -> None:
    """Silence transformers' progress bars and load reports (``--quiet``); errors still raise.

    transformers configures its own logger when first used, overriding a level set on it
    beforehand, so its own switches are used.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # transformers leaves them untyped
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def add_method(p: argparse.ArgumentParser, set_example: str) -> None:
    """``-m/--method`` and the repeatable ``--set KEY=VALUE`` of its settings."""
    from fute.methods import METHODS

    p.add_argument("-m", "--method", choices=METHODS, default="fim", help="embedding method (default fim)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"method setting, e.g. {set_example} (repeatable)",
    )


def add_corpus(p: argparse.ArgumentParser, size_note: str = "100-300 are plenty for LLMs on a CPU") -> None:
    """``--corpus``, ``--corpus-size`` and ``--corpus-seed``: which U, how much of it."""
    from fute.corpus import DEFAULT_CORPUS_SEED, DEFAULT_CORPUS_SIZE

    p.add_argument(
        "--corpus",
        help="unlabelled corpus: a JSONL file (text, optional text_pair and source) or packaged:NAME "
        "(default: English prose; multilingual: 41 languages; diverse: many kinds of input); "
        "default: packaged:default",
    )
    p.add_argument(
        "--corpus-size",
        type=int,
        default=DEFAULT_CORPUS_SIZE,
        help=f"examples of U used, a seeded sample (default {DEFAULT_CORPUS_SIZE}; 0: all; {size_note})",
    )
    p.add_argument("--corpus-seed", type=int, default=DEFAULT_CORPUS_SEED, help="seed of that sample")


def corpus_from_args(args: argparse.Namespace) -> UnlabelledCorpus:
    """The U of ``--corpus``/``--corpus-size``/``--corpus-seed``."""
    from fute.corpus import load_corpus

    return load_corpus(
        args.corpus, limit=None if args.corpus_size == 0 else args.corpus_size, seed=args.corpus_seed
    )


def add_embedding_output(p: argparse.ArgumentParser, task_type_help: str) -> None:
    """``-o/--out``, ``--task-type``, ``--tag`` and ``--full``: what an embedding file records."""
    p.add_argument("-o", "--out", help="output file (default: NAME.METHOD.safetensors)")
    p.add_argument("--task-type", default="", help=task_type_help)
    p.add_argument("--tag", action="append", default=[], help="tag (repeatable)")
    p.add_argument("--full", action="store_true", help="also store the unreduced vector")
