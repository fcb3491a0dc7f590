"""Embedding speed: fute's methods against a straightforward version of the authors' recipe.

Usage:
    python benchmarks/embedding_speed.py                     # rotten_tomatoes, 1,000 examples
    python benchmarks/embedding_speed.py --task sms_spam --examples 500 --methods fim,text

For each method (``fim``, ``prompt``, ``text``) one dataset embedding is made twice on the
same real suite task, the same packaged surrogate (all-MiniLM-L6-v2) and the same settings
(epochs, learning rate, batch size, ``max_length`` 128):

* ``fute``: ``fute.methods.make_method(...).embed(task)`` (tokenised once, length-bucketed
  batches padded to the longest in the batch);
* ``recipe``: the recipe as TaskEmb / TuPaTE / FUTE code write it, reimplemented plainly
  here: every example padded to ``max_length``, a plain shuffled training loop, and for
  FIM a per-batch gradient pass squaring each batch's gradient.

Each run happens in a fresh subprocess so its peak RSS (``ru_maxrss``) is its own; the
table gives wall time of the embedding (model already loaded), examples per second,
peak RSS and its growth over the loaded state, and the speed-up of fute over the recipe.
Results go to ``--out``.txt/.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner, suite_tasks
from fute.data import TaskData, cap_examples, load_task
from fute.heads import TaskHead, mean_pool, task_loss, task_targets
from fute.methods import METHODS, make_method
from fute.methods.fim import FimSettings
from fute.methods.prompt import PromptSettings
from fute.methods.text import TextSettings
from fute.runtime import configure_threads, seeded
from fute.surrogate import Surrogate, load_surrogate

log = logging.getLogger("embedding_speed")

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("fute", "recipe")
WARMUP = 0.05  # share of warm-up steps, as fute.training and the authors
WEIGHT_DECAY = 0.01


@dataclass
class Run:
    """One embedding made by one variant of one method."""

    method: str
    variant: str
    examples: int
    wall_s: float
    examples_per_s: float
    peak_rss_mib: float  # peak resident memory of the whole run (model included)
    peak_growth_mib: float  # peak minus the resident memory once model and data were loaded
    dim: int
    norm: float
    vector_head: list[float]  # first 1,024 values, to compare variants where that is meaningful


# ---------------------------------------------------------------- the plain recipe


def _padded(surrogate: Surrogate, task: TaskData, max_length: int) -> dict[str, torch.Tensor]:
    """Every example tokenised and padded to ``max_length``, as the reference code does."""
    texts = [ex.text for ex in task.examples]
    pairs = [ex.text_pair or "" for ex in task.examples] if task.is_pair else None
    enc = surrogate.tokenizer(
        texts, pairs, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


class PlainModel(nn.Module):
    """Backbone (optionally behind a soft prompt) → mean pooling → linear head."""

    def __init__(self, backbone: nn.Module, head: TaskHead, prompt: nn.Parameter | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.prompt = prompt

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = inputs["attention_mask"]
        extra = {k: v for k, v in inputs.items() if k == "token_type_ids"}
        if self.prompt is None:
            hidden = self.backbone(
                input_ids=inputs["input_ids"], attention_mask=mask, **extra
            ).last_hidden_state
        else:
            n = self.prompt.shape[0]
            embeds = self.backbone.get_input_embeddings()(inputs["input_ids"])  # type: ignore[operator]
            embeds = torch.cat([self.prompt.expand(embeds.shape[0], -1, -1), embeds], dim=1)
            full_mask = torch.cat([mask.new_ones(mask.shape[0], n), mask], dim=1)
            if extra:
                tt = extra["token_type_ids"]
                extra = {"token_type_ids": torch.cat([tt.new_zeros(tt.shape[0], n), tt], dim=1)}
            out = self.backbone(inputs_embeds=embeds, attention_mask=full_mask, **extra)
            hidden = out.last_hidden_state[:, n:]
        logits: torch.Tensor = self.head(mean_pool(hidden, mask))
        return logits


def _chunks(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """``order`` cut into consecutive index blocks of ``batch_size``."""
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _batches(
    inputs: dict[str, torch.Tensor], batch_size: int, order: torch.Tensor
) -> list[dict[str, torch.Tensor]]:
    """The padded inputs of each index block of ``order``."""
    return [{k: v[idx] for k, v in inputs.items()} for idx in _chunks(order, batch_size)]


def _plain_train(
    model: PlainModel,
    params: list[nn.Parameter],
    inputs: dict[str, torch.Tensor],
    targets: torch.Tensor,
    kind: Any,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> None:
    """The plain loop: shuffle, fixed-size padded batches, AdamW with linear warm-up and decay."""
    n = len(targets)
    steps = math.ceil(n / batch_size) * epochs
    warm = max(1, int(WARMUP * steps))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    model.train()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for batch, idx in zip(_batches(inputs, batch_size, order), _chunks(order, batch_size), strict=True):
            loss = task_loss(model(batch), targets[idx], kind)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
    model.eval()


def recipe_fim(surrogate: Surrogate, task: TaskData, s: FimSettings) -> np.ndarray:
    """TaskEmb's FIM: fine-tune everything, then square each batch's gradient and sum / n.

    Returns the full Fisher vector (one value per backbone parameter), as the reference
    code stores it; fute also sketches it, which is included in fute's time.
    """
    inputs = _padded(surrogate, task, s.max_length)
    targets = task_targets(task)
    with seeded(s.seed):
        backbone = surrogate.fresh_backbone()
        model = PlainModel(backbone, TaskHead(surrogate.hidden_size, task.num_outputs))
        params = list(model.parameters())
        _plain_train(model, params, inputs, targets, task.label_kind, s.epochs, s.lr, s.batch_size, s.seed)
        named = list(backbone.parameters())
        acc = [torch.zeros_like(p) for p in named]
        order = torch.arange(len(targets))
        for batch, idx in zip(
            _batches(inputs, s.batch_size, order), _chunks(order, s.batch_size), strict=True
        ):
            model.zero_grad()
            task_loss(model(batch), targets[idx], task.label_kind).backward()  # type: ignore[no-untyped-call]
            for a, p in zip(acc, named, strict=True):
                if p.grad is not None:
                    a.add_(p.grad.detach() ** 2)
        full = torch.cat([(a / len(targets)).reshape(-1) for a in acc])
    return full.numpy().astype(np.float32)


def recipe_prompt(surrogate: Surrogate, task: TaskData, s: PromptSettings) -> np.ndarray:
    """TuPaTE/FUTE's prompt: frozen model, train a 16-token soft prompt and the head."""
    inputs = _padded(surrogate, task, s.max_length)
    targets = task_targets(task)
    with seeded(s.seed):
        backbone = surrogate.fresh_backbone()
        for p in backbone.parameters():
            p.requires_grad_(False)
        prompt = nn.Parameter(torch.randn(s.length, surrogate.hidden_size) * s.init_scale)
        start = prompt.detach().clone()
        head = TaskHead(surrogate.hidden_size, task.num_outputs)
        model = PlainModel(backbone, head, prompt)
        params = [prompt, *head.parameters()]
        _plain_train(model, params, inputs, targets, task.label_kind, s.epochs, s.lr, s.batch_size, s.seed)
    return (prompt.detach() - start).reshape(-1).numpy().astype(np.float32)


def recipe_text(surrogate: Surrogate, task: TaskData, s: TextSettings) -> np.ndarray:
    """TextEmb: mean over the dataset of the frozen encoder's mean-pooled token states."""
    inputs = _padded(surrogate, task, s.max_length)
    backbone = surrogate.fresh_backbone()
    total = torch.zeros(surrogate.hidden_size, dtype=torch.float64)
    order = torch.arange(len(task.examples))
    with torch.inference_mode():
        for batch in _batches(inputs, s.batch_size, order):
            extra = {k: v for k, v in batch.items() if k == "token_type_ids"}
            out = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **extra)
            total += mean_pool(out.last_hidden_state, batch["attention_mask"]).sum(dim=0).double()
    return (total / len(task.examples)).numpy().astype(np.float32)


# ---------------------------------------------------------------- one run (in a subprocess)


def _settings(method: str, examples: int, epochs: int | None) -> Any:
    """The method's default settings, capped to ``examples``, epochs overridden if given."""
    if method == "fim":
        fim = FimSettings(max_examples=examples)
        return fim if epochs is None else replace(fim, epochs=epochs)
    if method == "prompt":
        prompt = PromptSettings(max_examples=examples)
        return prompt if epochs is None else replace(prompt, epochs=epochs)
    if method == "text":
        return TextSettings(max_examples=examples)
    raise ValueError(f"unknown method {method!r}; valid: {METHODS}")


def run_one(method: str, variant: str, task_name: str, examples: int, epochs: int | None) -> Run:
    """Load, then time one embedding; memory is this process's own."""
    configure_threads()
    surrogate = load_surrogate()
    folder = suite_tasks([task_name])[0]
    task = cap_examples(load_task(folder.split("train"), name=task_name), examples, seed=0)
    settings = _settings(method, len(task.examples), epochs)
    embedder = make_method(method, surrogate, settings) if variant == "fute" else None
    loaded = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    if embedder is not None:
        vector = np.asarray(embedder.embed(task, progress=False).vector)
    elif method == "fim":
        vector = recipe_fim(surrogate, task, settings)
    elif method == "prompt":
        vector = recipe_prompt(surrogate, task, settings)
    else:
        vector = recipe_text(surrogate, task, settings)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    n = len(task.examples)
    return Run(
        method=method,
        variant=variant,
        examples=n,
        wall_s=wall,
        examples_per_s=n / wall,
        peak_rss_mib=peak / 2**20,
        peak_growth_mib=max(0, peak - loaded) / 2**20,
        dim=int(vector.size),
        norm=float(np.linalg.norm(vector)),
        vector_head=[float(x) for x in vector.reshape(-1)[:1024]],
    )


def spawn(method: str, variant: str, args: argparse.Namespace) -> Run:
    """Run one measurement in a fresh interpreter and read its JSON line."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        f"{method}:{variant}",
        "--task",
        args.task,
        "--examples",
        str(args.examples),
    ]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{method}:{variant} failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    return Run(**json.loads(line))


# ---------------------------------------------------------------- report


def format_runs(runs: list[Run]) -> str:
    """The table and the fute / recipe ratios per method."""
    lines = [
        f"{'method':<7} {'variant':<7} {'examples':>8} {'wall s':>8} {'ex/s':>8} {'peak MiB':>9} {'growth MiB':>10} {'dim':>10}"
    ]
    for r in runs:
        lines.append(
            f"{r.method:<7} {r.variant:<7} {r.examples:8d} {r.wall_s:8.2f} {r.examples_per_s:8.1f} "
            f"{r.peak_rss_mib:9.0f} {r.peak_growth_mib:10.0f} {r.dim:10d}"
        )
    lines.append(
        "fute against the recipe (speed-up = recipe wall time / fute wall time; memory = fute / recipe)"
    )
    for method in dict.fromkeys(r.method for r in runs):
        pair = {r.variant: r for r in runs if r.method == method}
        if set(pair) != set(VARIANTS):
            continue
        f, b = pair["fute"], pair["recipe"]
        extra = ""
        if method == "text":  # same frozen encoder, same masking: the vectors must agree
            a, c = np.asarray(f.vector_head), np.asarray(b.vector_head)
            extra = f", cosine of the vectors {float(a @ c / np.linalg.norm(a) / np.linalg.norm(c)):.6f}"
        lines.append(
            f"  {method:<7} speed-up {b.wall_s / f.wall_s:.2f}x, peak memory {f.peak_rss_mib / b.peak_rss_mib:.2f}x, "
            f"growth {f.peak_growth_mib / max(b.peak_growth_mib, 1e-9):.2f}x{extra}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every method and variant, print and save the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="rotten_tomatoes", help="suite task (benchmarks/suite)")
    parser.add_argument(
        "--examples", type=int, default=1000, help="examples of its train split (seeded sample)"
    )
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {VARIANTS}"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the methods' training epochs")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "embedding_speed", help="results path without suffix"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # METHOD:VARIANT, run in this process
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.one:
        method, variant = args.one.split(":")
        print(json.dumps(asdict(run_one(method, variant, args.task, args.examples, args.epochs))), flush=True)
        return 0
    methods = [m for m in args.methods.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    bad = [m for m in methods if m not in METHODS] + [v for v in variants if v not in VARIANTS]
    if bad:
        parser.error(f"unknown {bad}; methods: {METHODS}, variants: {VARIANTS}")
    head = banner() + f"\ncommand: python {' '.join(['benchmarks/embedding_speed.py', *sys.argv[1:]])}"
    print(head, flush=True)
    runs: list[Run] = []
    for method in methods:
        for variant in variants:
            run = spawn(method, variant, args)
            print(
                f"{method}/{variant}: {run.wall_s:.1f}s, {run.examples_per_s:.1f} ex/s, peak {run.peak_rss_mib:.0f} MiB",
                flush=True,
            )
            runs.append(run)
    table = format_runs(runs)
    print(table, flush=True)
    text = f"{head}\ntask {args.task}, {runs[0].examples if runs else 0} examples (train split)\n{table}\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(text)
    payload = {"banner": head, "task": args.task, "runs": [asdict(r) for r in runs]}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
