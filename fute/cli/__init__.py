"""The ``fute`` command: subcommands for embedding and comparing tasks.

Packages above ``fute`` (the server, the indexer) add their own subcommands through the
``fute.commands`` entry-point group, so this module never imports them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from fute.cli.args import (
    DefaultsHelpFormatter,
    add_corpus,
    add_embedding_output,
    add_method,
    add_runtime,
    add_surrogate,
    add_task_file,
    check_output_file,
    corpus_from_args,
    default_cap,
    examples_used,
    load_task_from_args,
    method_settings,
    parse_overrides,
    quiet_libraries,
)
from fute.cli.evaluate import register_eval
from fute.cli.models import register_embed_model, register_finetune
from fute.errors import ConfigError, FuteError

if TYPE_CHECKING:
    from fute.corpus import UnlabelledCorpus
    from fute.data.records import TaskData
    from fute.embedding import TaskInfo
    from fute.methods import EmbeddingMethod
    from fute.surrogate import Surrogate

logger = logging.getLogger("fute")

__all__ = ["build_parser", "main", "parse_overrides"]


def _cmd_embed(args: argparse.Namespace) -> int:
    from fute.embedding import TaskInfo, save_embedding
    from fute.methods import make_method
    from fute.runtime import configure_threads
    from fute.surrogate import load_surrogate

    # Everything a user can get wrong is checked before the surrogate loads.
    check_output_file("-o", args.out)
    settings = method_settings(args.method, args.set, args.max_examples)
    if args.quiet:
        quiet_libraries()
    configure_threads(args.threads)
    if args.corpus is not None and not args.on_u:
        raise ConfigError(
            "--corpus chooses the U of --on-u; without --on-u a dataset is embedded on its own inputs"
        )
    task = load_task_from_args(args)
    corpus = corpus_from_args(args) if args.on_u else None
    surrogate = load_surrogate(args.surrogate)
    method = make_method(args.method, surrogate, settings)
    info = TaskInfo.of_dataset(
        task, source=str(Path(args.data).resolve()), task_type=args.task_type, tags=tuple(args.tag)
    )
    out = Path(args.out) if args.out else Path(f"{task.name}.{args.method}.safetensors")
    if corpus is not None:
        return _embed_on_u(args, task, method, surrogate, corpus, info, out)
    emb = method.embed(task, info, progress=not args.quiet)
    save_embedding(emb, out, with_full=args.full)
    used = examples_used(emb.task.n_examples, len(task.examples), settings.max_examples)
    print(f"{out}: {task.name} ({used}) in {emb.space.describe()}")
    return 0


def _embed_on_u(
    args: argparse.Namespace,
    task: TaskData,
    method: EmbeddingMethod,
    surrogate: Surrogate,
    corpus: UnlabelledCorpus,
    info: TaskInfo,
    out: Path,
) -> int:
    from fute.dataset_on_u import embed_dataset_on_u
    from fute.embedding import save_embedding
    from fute.informativeness import OutputInformation
    from fute.transfer import TransferSettings

    # One cap for both sides: the classifier trains on as many examples as the method embeds.
    recipe = replace(TransferSettings().source, max_examples=method.settings.max_examples)
    emb = embed_dataset_on_u(task, method, surrogate, corpus, info, settings=recipe, progress=not args.quiet)
    save_embedding(emb, out, with_full=args.full)
    trained = examples_used(
        min(len(task.examples), recipe.max_examples or len(task.examples)),
        len(task.examples),
        recipe.max_examples,
    )
    print(
        f"{out}: {task.name} seen on U {corpus.hash[:12]} (classifier on {trained}) in {emb.space.describe()}"
    )
    information = OutputInformation.from_pairs(emb.task.output_info)
    if information is not None:
        print(f"  its classifier's outputs on U: {information.describe(emb.task.label_names)}")
    return 0


def _cmd_similarity(args: argparse.Namespace) -> int:
    from fute.embedding import load_embedding
    from fute.similarity import cosine_matrix, csls_matrix, render_table, write_csv, write_heatmap

    check_output_file("--csv", args.csv)
    check_output_file("--png", args.png)
    embeddings = [load_embedding(p) for p in args.files]
    names = [e.task.name for e in embeddings]
    sims = cosine_matrix(embeddings)
    measure = "cosine similarity"
    if args.csls is not None:
        sims = csls_matrix(sims, args.csls)
        measure = f"CSLS (k={min(args.csls, max(len(names) - 1, 1))})"
    print(f"space: {embeddings[0].space.describe()}")
    print(render_table(names, sims, title=f"{measure} (* each row's nearest other task)"))
    if args.csv:
        write_csv(args.csv, names, sims)
    if args.png:
        write_heatmap(args.png, names, sims, f"{embeddings[0].space.method}: {measure}")
    return 0


def _register_embed(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from fute.methods import METHODS

    p = sub.add_parser(
        "embed",
        help="embed a labelled dataset (dataset task embedding)",
        description="Compute the task embedding of a labelled dataset file (JSONL, CSV, TSV, Parquet "
        "or a Hugging Face save_to_disk folder) and write it as a .safetensors embedding file.",
    )
    p.add_argument("data", help="task file or folder")
    add_embedding_output(p, "task family, e.g. sentiment")
    add_method(p, "--set estimator=batch_sq --set dim=8192")
    add_surrogate(p)
    p.add_argument(
        "--max-examples",
        type=int,
        help=f"cap on examples, a seeded sample (default {default_cap(METHODS)}; the setting max_examples)",
    )
    p.add_argument(
        "--on-u",
        action="store_true",
        help="see the dataset on U, to compare it with models: a classifier fine-tuned on it labels U "
        "(--corpus), and those outputs are embedded like a model's, in U's space (docs/models.md)",
    )
    add_corpus(p, "with --on-u")
    add_task_file(p)
    add_runtime(p)
    p.set_defaults(func=_cmd_embed)


def _register_similarity(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "similarity",
        help="table of cosine similarities between embedding files",
        description="Print the cosine similarity of every pair of task embeddings (all of one space).",
    )
    p.add_argument("files", nargs="+", help="embedding files written by `fute embed`")
    p.add_argument("--csv", help="also write the matrix as CSV")
    p.add_argument("--png", help="also write a heatmap PNG")
    p.add_argument(
        "--csls",
        type=int,
        metavar="K",
        help="hub-aware similarity instead of cosine: 2 cos(x, y) - r(x) - r(y), r the mean cosine of a "
        "task to its K nearest other tasks (CSLS; K capped at the number of other tasks)",
    )
    p.set_defaults(func=_cmd_similarity)


_BUILTIN: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _register_embed,
    _register_similarity,
    register_embed_model,
    register_finetune,
    register_eval,
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: built-in subcommands plus those registered by installed packages."""
    parser = argparse.ArgumentParser(
        prog="fute",
        description="Task search on unified task embeddings (FUTE). `fute COMMAND --help` explains each.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _BUILTIN:
        register(sub)
    for ep in sorted(entry_points(group="fute.commands"), key=lambda e: e.name):
        try:
            plugin = ep.load()
        except ImportError as exc:
            logger.debug("subcommands of %s unavailable: %s", ep.value, exc)
            continue
        plugin(sub)
    # One help style for every subcommand, plugins' too: each option shows its default.
    for command in sub.choices.values():
        command.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fute`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except FuteError as exc:
        print(f"fute {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
