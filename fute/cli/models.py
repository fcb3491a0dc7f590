"""``fute embed-model`` and ``fute finetune``: model task embeddings from the command line."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from fute.cli.args import (
    add_corpus,
    add_embedding_output,
    add_method,
    add_runtime,
    add_surrogate,
    add_task_file,
    check_output_file,
    corpus_from_args,
    examples_used,
    load_task_from_args,
    method_settings,
    quiet_libraries,
)
from fute.errors import ConfigError

logger = logging.getLogger(__name__)


def _cmd_embed_model(args: argparse.Namespace) -> int:
    from fute.embedding import TaskInfo, save_embedding
    from fute.informativeness import LOW_ENTROPY_THRESHOLD, OutputInformation
    from fute.methods import make_method
    from fute.model_embedding import embed_model
    from fute.models import AdapterOptions, load_adapter
    from fute.runtime import configure_threads
    from fute.surrogate import load_surrogate

    configure_threads(args.threads)
    options = AdapterOptions(
        prompt=args.prompt,
        labels=tuple(x.strip() for x in args.labels.split(",")) if args.labels else None,
        output_kind=args.output_kind,
        model=args.model,
        api=args.api,
        timeout=args.timeout,
        retries=args.retries,
        batch_size=args.model_batch_size,
    )
    # Cheap checks first: a bad output path, corpus or method setting fails before a model loads.
    check_output_file("-o", args.out)
    settings = method_settings(args.method, args.set)
    if args.quiet:
        quiet_libraries()
    corpus = corpus_from_args(args)
    adapter = load_adapter(args.model_spec, options)
    if args.calibrate and adapter.output_kind != "soft":
        raise ConfigError(
            f"--calibrate applies to soft labels; {args.model_spec} gives {adapter.output_kind}"
        )
    surrogate = load_surrogate(args.surrogate)
    method = make_method(args.method, surrogate, settings)
    task_type = args.task_type
    prompt = getattr(adapter, "prompt", None)
    if not task_type and prompt is not None:
        task_type = str(getattr(prompt, "task_type", ""))
    # The default name doubles as the output file name: keep it to safe characters.
    name = args.name or re.sub(r"[^A-Za-z0-9._+-]+", "_", str(getattr(adapter, "name", args.model_spec)))
    info = TaskInfo(
        name=name, kind="model", task_type=task_type, source=args.model_spec, tags=tuple(args.tag)
    )
    emb = embed_model(
        adapter,
        method,
        corpus,
        info,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=not args.quiet,
        calibrate=args.calibrate,
        warn_low_information=False,  # printed below with the record, once
    )
    out = Path(args.out) if args.out else Path(f"{name}.{args.method}.safetensors")
    save_embedding(emb, out, with_full=args.full)
    used = examples_used(emb.task.n_examples, len(corpus), settings.max_examples)
    print(f"{out}: model {name} on U {corpus.hash[:12]} ({used}) in {emb.space.describe()}")
    information = OutputInformation.from_pairs(emb.task.output_info)
    if information is not None:
        print(f"  outputs on U: {information.describe(emb.task.label_names)}")
        if information.is_low():
            print(
                f"  warning: answer entropy below {LOW_ENTROPY_THRESHOLD}: the outputs say little on this U, "
                "so the embedding is mostly U's input signature; try another --corpus or --calibrate"
            )
    return 0


def register_embed_model(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fute embed-model``."""
    from fute.models import API_KINDS, BUILTIN_CALLABLES
    from fute.models.base import OUTPUT_KINDS

    p = sub.add_parser(
        "embed-model",
        help="embed a black-box model (model task embedding)",
        description="Run a model on the unlabelled corpus U, take its outputs as labels and embed them with "
        "the same method as datasets, into the same space. MODEL is hf:FOLDER (sequence classifier), "
        "llm:smollm2 or llm:FOLDER with --prompt, callable:package.module:function or callable:NAME "
        f"(shipped: {', '.join(BUILTIN_CALLABLES)}), or openai:BASE_URL with --prompt and --model. "
        "Model outputs are cached on disk (key: model, prompt, U).",
    )
    p.add_argument("model_spec", metavar="MODEL", help="adapter spec, e.g. callable:vader or llm:smollm2")
    p.add_argument(
        "--prompt",
        help="prompt NAME (packaged: sentiment, spam, question_type, topic, language) or FILE.yaml#NAME",
    )
    add_corpus(p)
    add_method(p, "--set dim=8192; use the dataset embeddings' settings")
    add_surrogate(p)
    add_embedding_output(p, "task family (default: the prompt's task_type)")
    p.add_argument("--name", help="name of the model in the embedding (default: from the spec)")
    p.add_argument("--labels", help="comma-separated label names of a callable that does not declare them")
    p.add_argument("--output-kind", choices=OUTPUT_KINDS, help="soft or regression, for such a callable")
    p.add_argument("--model", help="model name sent to an openai: endpoint")
    p.add_argument(
        "--api",
        choices=API_KINDS,
        default="completions",
        help="openai: completions (exact verbaliser scores, echo) or chat (top logprobs)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts per HTTP request (default 2)")
    p.add_argument("--model-batch-size", type=int, default=8, help="examples per forward pass of a local LLM")
    p.add_argument(
        "--cache-dir",
        help="prediction cache (default $FUTE_CACHE_DIR/predictions or ~/.cache/fute/predictions)",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="prior-calibrate soft labels over U (divide by the mean output; for biased LLM prompts)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write cached predictions")
    add_runtime(p)
    p.set_defaults(func=_cmd_embed_model)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from fute.models.finetune import FinetuneSettings, finetune_classifier
    from fute.runtime import configure_threads
    from fute.surrogate import load_surrogate

    check_output_file("-o", args.out)
    if Path(args.out).exists():
        raise ConfigError(f"-o {args.out} exists; give a new folder for the fine-tuned model")
    if args.quiet:
        # transformers reports that the new head is untrained, which is the point of fine-tuning.
        quiet_libraries()
    configure_threads(args.threads)
    task = load_task_from_args(args)
    settings = FinetuneSettings(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=args.seed,
        max_examples=args.max_examples,
    )
    surrogate = load_surrogate(args.surrogate)
    out = finetune_classifier(surrogate, task, args.out, settings, progress=not args.quiet)
    if not args.quiet:
        available = len(task.examples)
        used = examples_used(min(available, args.max_examples or available), available, args.max_examples)
        print(
            f"{out}: {task.label_kind} model on {task.name} ({used}); embed it with `fute embed-model hf:{out}`"
        )
    return 0


def register_finetune(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fute finetune``."""

    p = sub.add_parser(
        "finetune",
        help="fine-tune the surrogate into a classifier folder (a black-box model)",
        description="Train a Hugging Face sequence classifier from the surrogate on a labelled task file and "
        "save it as a model folder; `fute embed-model hf:FOLDER` then embeds it like any other model.",
    )
    p.add_argument("data", help="task file or folder (as for `fute embed`)")
    p.add_argument("-o", "--out", required=True, help="new folder for the model")
    add_surrogate(p)
    p.add_argument("--epochs", type=int, default=2, help="training passes (default 2)")
    p.add_argument("--lr", type=float, default=5e-5, help="AdamW learning rate (default 5e-5)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per step (default 32)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per example (default 128)")
    p.add_argument(
        "--max-examples", type=int, help="cap on training examples, a seeded sample (default: none, all)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the head, the order and the cap (default 0)")
    add_task_file(p)
    add_runtime(p, quiet_help="print nothing but errors")
    p.set_defaults(func=_cmd_finetune)
