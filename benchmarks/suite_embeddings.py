"""Embed the transfer suite's tasks for ``fute eval`` and the ablations: targets, sources, source models.

A *recipe* is a method with settings under a name. For each recipe and task this writes
``ROOT/NAME/target/TASK.safetensors`` (the target's first few hundred training examples,
the same seeded sample the ground truth trained on with seed 0) and
``ROOT/NAME/source/TASK.safetensors`` (the source's whole training split). With
``--models`` it also writes ``ROOT/NAME/source-model/TASK.safetensors``: the model task
embedding of the source classifier the ground truth fine-tuned (seed 0), computed on U
(``--corpus packaged:NAME``: on that U instead, into ``source-model-NAME``). With
``--contrast-seeds N`` it also writes ``target-contrast`` and ``source-contrast``: each
dataset's label-contrast embedding (its vector minus the mean of N embeddings of the same
examples with their labels permuted, seeds 0..N-1; the twins are kept under
``shuffled/SEED/``). Existing files are reused; a recipe name reused with other settings
is refused.

    python -m benchmarks.suite_embeddings                          # fim, prompt, text + models
    python -m benchmarks.suite_embeddings --recipe fim4=fim:epochs=4,lr=1e-4
    python -m benchmarks.suite_embeddings --recipe fim-log=fim --models --corpus packaged:diverse
    python -m benchmarks.suite_embeddings --recipe fim-log=fim --contrast-seeds 3
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transformers
from rich.console import Console
from tqdm.auto import tqdm

from benchmarks.common import SuiteTask, banner, suite_tasks
from benchmarks.label_contrast import contrast, shuffle_labels
from benchmarks.transfer_ground_truth import DEFAULT_TASKS
from fute.cli import parse_overrides
from fute.corpus import load_corpus
from fute.data.loading import load_task
from fute.data.records import TaskData
from fute.data.split import cap_examples
from fute.embedding import TaskEmbedding, TaskInfo, load_embedding, save_embedding
from fute.methods import make_method
from fute.model_embedding import embed_model
from fute.models import load_adapter
from fute.runtime import configure_threads
from fute.surrogate import Surrogate, load_surrogate
from fute.transfer import TransferSettings

ROOT = Path("runs/eval")
SOURCE_MODELS = Path("runs/transfer/sources")
TARGET_EXAMPLES = TransferSettings().target.max_examples


@dataclass(frozen=True)
class Recipe:
    """A named embedding method with its settings."""

    name: str
    method: str
    settings: dict[str, Any]

    @classmethod
    def parse(cls, spec: str) -> Recipe:
        """``NAME=METHOD[:KEY=VALUE,...]`` or just ``METHOD`` (named after it, default settings)."""
        head = spec.split(":", 1)[0]
        name, rest = spec.split("=", 1) if "=" in head else ("", spec)
        method, _, raw = rest.partition(":")
        settings = parse_overrides([kv for kv in raw.split(",") if kv]) if raw else {}
        return cls(name or method, method, settings)

    def folder(self, root: Path, role: str) -> Path:
        """Where this recipe's embeddings of one role live; checks the settings on record."""
        base = root / self.name
        record = base / "recipe.json"
        mine = {"method": self.method, "settings": self.settings}
        if record.exists() and json.loads(record.read_text()) != mine:
            raise SystemExit(f"{base} holds recipe {record.read_text()}, not {mine}; pick another name")
        base.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(mine, sort_keys=True))
        (base / role).mkdir(exist_ok=True)
        return base / role


def _dataset(name: str, role: str, suite_task: SuiteTask) -> TaskData:
    """The examples a role embeds: a target's capped sample or a source's whole split."""
    task = load_task(suite_task.split("train"), name=name)
    return cap_examples(task, TARGET_EXAMPLES, seed=0) if role == "target" else task


def embed_datasets(
    surrogate: Surrogate,
    recipe: Recipe,
    tasks: list[str],
    role: str,
    root: Path = ROOT,
    progress: bool = True,
) -> Path:
    """Dataset embeddings of ``tasks`` as targets (capped sample) or sources (whole split)."""
    folder = recipe.folder(root, role)
    method = make_method(recipe.method, surrogate, recipe.settings)
    suite = {t.name: t for t in suite_tasks(tasks)}
    for name in tqdm(tasks, desc=f"{recipe.name} {role}s", unit="task", disable=not progress):
        path = folder / f"{name}.safetensors"
        if path.exists():
            continue
        task = _dataset(name, role, suite[name])
        info = TaskInfo.of_dataset(task, task_type=suite[name].task_type)
        save_embedding(method.embed(task, info, progress=False), path)
    return folder


def embed_contrast(
    surrogate: Surrogate,
    recipe: Recipe,
    tasks: list[str],
    role: str,
    seeds: int,
    root: Path = ROOT,
    progress: bool = True,
) -> Path:
    """Label-contrast embeddings of ``tasks`` in ``role`` (after :func:`embed_datasets`):
    each minus the mean of its ``seeds`` shuffled-label twins (permutation seeds 0..N-1,
    the same examples and label counts), written to ``ROLE-contrast``."""
    plain = recipe.folder(root, role)
    folder = recipe.folder(root, f"{role}-contrast")
    method = make_method(recipe.method, surrogate, recipe.settings)
    suite = {t.name: t for t in suite_tasks(tasks)}
    units = [(name, seed) for name in tasks for seed in range(seeds)]
    bar = tqdm(units, desc=f"{recipe.name} {role} twins", unit="emb", disable=not progress)
    twins: dict[str, list[TaskEmbedding]] = {name: [] for name in tasks}
    for name, seed in bar:
        twin_dir = root / recipe.name / "shuffled" / str(seed) / role
        twin_dir.mkdir(parents=True, exist_ok=True)
        path = twin_dir / f"{name}.safetensors"
        if not path.exists():
            task = _dataset(name, role, suite[name])
            info = TaskInfo.of_dataset(task, task_type=suite[name].task_type)
            save_embedding(method.embed(shuffle_labels(task, seed), info, progress=False), path)
        twins[name].append(load_embedding(path))
    for name in tasks:
        emb = load_embedding(plain / f"{name}.safetensors")
        save_embedding(contrast(emb, twins[name]), folder / f"{name}.safetensors")
    return folder


def embed_source_models(
    surrogate: Surrogate,
    recipe: Recipe,
    tasks: list[str],
    models: Path = SOURCE_MODELS,
    root: Path = ROOT,
    progress: bool = True,
    corpus_spec: str | None = None,
) -> Path:
    """Model embeddings, on U (the default one, or ``corpus_spec``), of the ground truth's
    seed-0 source classifiers."""
    suffix = "" if corpus_spec is None else "-" + corpus_spec.removeprefix("packaged:").replace("/", "_")
    folder = recipe.folder(root, "source-model" + suffix)
    method = make_method(recipe.method, surrogate, recipe.settings)
    corpus = load_corpus(corpus_spec)
    types = {t.name: t.task_type for t in suite_tasks(tasks)}
    for name in tqdm(tasks, desc=f"{recipe.name} source models", unit="model", disable=not progress):
        path = folder / f"{name}.safetensors"
        if path.exists():
            continue
        model_dir = models / f"{name}-seed0"
        if not model_dir.is_dir():
            raise SystemExit(f"{model_dir}: no source classifier; run benchmarks.transfer_ground_truth first")
        adapter = load_adapter(f"hf:{model_dir}")
        info = TaskInfo(name=name, kind="model", task_type=types[name], source=str(model_dir))
        save_embedding(embed_model(adapter, method, corpus, info, progress=False), path)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", action="append", type=Recipe.parse, help="NAME=METHOD[:K=V,...] (repeatable)")
    ap.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    ap.add_argument("--models", action="store_true", help="also embed the source classifiers (first recipe)")
    ap.add_argument("--corpus", help="U of the source models: packaged:NAME or a JSONL file (default U)")
    ap.add_argument(
        "--contrast-seeds",
        type=int,
        default=0,
        metavar="N",
        help="also write label-contrast embeddings, minus the mean of N shuffled-label twins",
    )
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.contrast_seeds < 0:
        ap.error(f"--contrast-seeds must be 0 or more, got {args.contrast_seeds}")
    recipes: list[Recipe] = args.recipe or [Recipe.parse(m) for m in ("fim", "prompt", "text")]
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    configure_threads(args.threads)
    console = Console()
    console.print(banner())
    surrogate = load_surrogate()
    for recipe in recipes:
        t0 = time.perf_counter()
        for role in ("target", "source"):
            embed_datasets(surrogate, recipe, args.tasks, role, args.root)
            if args.contrast_seeds:
                embed_contrast(surrogate, recipe, args.tasks, role, args.contrast_seeds, args.root)
        console.print(f"{recipe.name}: {time.perf_counter() - t0:.0f} s -> {args.root / recipe.name}")
    if args.models:
        t0 = time.perf_counter()
        embed_source_models(surrogate, recipes[0], args.tasks, root=args.root, corpus_spec=args.corpus)
        console.print(f"source models ({recipes[0].name}): {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
