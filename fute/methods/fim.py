"""FIM task embeddings (TaskEmb / FUTE): fine-tune, then read the empirical Fisher diagonal.

1. Fine-tune surrogate + head on the task (AdamW, linear schedule, warm-up).
2. One more pass without updates, accumulating gradients of the loss w.r.t. the backbone
   (head excluded), combined by one of three estimators:

   - ``batch_sq``:   Σ_batches (∇ mean batch loss)² / N      (TaskEmb)
   - ``mean_sq``:    (Σ_i ∇ loss_i / N)²                      (the FUTE code)
   - ``example_sq``: Σ_i (∇ loss_i)² / N                      (the exact empirical Fisher)

3. The full vector (one value per parameter) is shaped (``transform``: by default
   ``log1p(F / mean F)``; optional per-tensor or per-layer ``normalise``; see
   :mod:`fute.methods.fisher_shaping`) and sketched to ``dim`` values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from fute.batching import Encoded, encode, iter_batches
from fute.data.records import TaskData
from fute.data.split import cap_examples, split_task
from fute.errors import ConfigError
from fute.heads import TaskHead, task_loss, task_targets
from fute.methods.base import EmbeddingMethod, SpaceParts, make_space, settings_json
from fute.methods.fisher_shaping import (
    NORMALISATIONS,
    PARAMETER_SETS,
    TRANSFORMS,
    Normalisation,
    ParameterSet,
    Transform,
    in_parameter_set,
    shape,
)
from fute.reduce import CountSketch
from fute.runtime import seeded
from fute.space import EmbeddingSpace
from fute.surrogate import Surrogate
from fute.task_model import TaskModel
from fute.training import TrainConfig, train

logger = logging.getLogger(__name__)

Estimator = Literal["batch_sq", "mean_sq", "example_sq"]
ESTIMATORS: tuple[Estimator, ...] = ("batch_sq", "mean_sq", "example_sq")


# Options added after spaces existed: left out of a space's settings while at these values,
# so a missing key in a stored space means this value (fute.methods.from_space relies on it).
NEUTRAL_SETTINGS: dict[str, Any] = {"transform": "none", "normalise": "none"}


@dataclass(frozen=True)
class FimSettings:
    """Settings of the FIM method; all but ``max_examples`` define the space."""

    estimator: Estimator = "mean_sq"  # kept by the fidelity benchmark and the ablation (README)
    epochs: int = 1  # fine-tuning passes before the gradient pass (0: none)
    patience: int | None = None  # early stopping on a 10% dev split; None: fixed epochs
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 128  # tokens per example (pairs together)
    parameters: ParameterSet = "all"  # which backbone tensors enter the vector
    # log1p(F / mean F) before the sketch: on the suite's measured transfer it doubled the
    # Spearman correlation of similarity and transfer gain (docs/evaluation.md, ablation).
    transform: Transform = "log"
    normalise: Normalisation = "none"  # unit norm per "tensor" or per "layer" before the sketch
    dim: int = 4096  # sketch size of the indexed vector
    seed: int = 0  # head init, dropout, batch order and the sketch
    max_examples: int = 1000  # cap per task (seeded sample); not part of the space

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"unknown FIM estimator {self.estimator!r}; valid: {list(ESTIMATORS)}")
        if self.parameters not in PARAMETER_SETS:
            raise ConfigError(f"unknown parameter set {self.parameters!r}; valid: {list(PARAMETER_SETS)}")
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"unknown transform {self.transform!r}; valid: {list(TRANSFORMS)}")
        if self.normalise not in NORMALISATIONS:
            raise ConfigError(f"unknown normalisation {self.normalise!r}; valid: {list(NORMALISATIONS)}")
        if self.epochs < 0 or self.batch_size < 1 or self.max_length < 8 or self.max_examples < 2:
            raise ConfigError(f"invalid FIM settings: {self}")


class FimMethod(EmbeddingMethod):
    """The FIM embedding method bound to a surrogate."""

    name = "fim"
    settings: FimSettings

    def __init__(self, surrogate: Surrogate, settings: FimSettings | None = None) -> None:
        self.surrogate = surrogate
        self.settings = settings or FimSettings()
        self.sketch = CountSketch(self.settings.dim, self.settings.seed)

    def space(self, corpus: str | None = None) -> EmbeddingSpace:
        """The space of this method's embeddings."""
        parts = SpaceParts(
            "fim",
            settings_json(
                self.settings,
                exclude=("dim", "max_examples"),
                neutral=NEUTRAL_SETTINGS,
            ),
            self.settings.dim,
            self.sketch.name,
            self.settings.seed,
        )
        return make_space(self.surrogate, parts, corpus)

    def vectors(self, task: TaskData, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Fine-tune on ``task``, compute the Fisher vector, sketch it (the full one kept too)."""
        full_named = shape(
            self.fisher(task, progress=progress), self.settings.transform, self.settings.normalise
        )
        vector = self.sketch.project(full_named)
        full = np.concatenate([t.reshape(-1).numpy() for _, t in full_named]).astype(np.float32)
        return vector, full

    def fisher(self, task: TaskData, *, progress: bool = True) -> list[tuple[str, torch.Tensor]]:
        """The full Fisher vector as named tensors, in the backbone's parameter order."""
        return self.fisher_estimates(task, (self.settings.estimator,), progress=progress)[
            self.settings.estimator
        ]

    def fisher_estimates(
        self, task: TaskData, estimators: tuple[Estimator, ...], *, progress: bool = True
    ) -> dict[Estimator, list[tuple[str, torch.Tensor]]]:
        """Fine-tune once, then run one gradient pass per estimator (for comparing them)."""
        s = self.settings
        for est in estimators:
            if est not in ESTIMATORS:
                raise ConfigError(f"unknown FIM estimator {est!r}; valid: {list(ESTIMATORS)}")
        task = cap_examples(task, s.max_examples, s.seed)
        tok = self.surrogate.tokenizer
        with seeded(s.seed):
            backbone = self.surrogate.fresh_backbone()
            head = TaskHead(self.surrogate.hidden_size, task.num_outputs)
            model = TaskModel(backbone, head)
            config = TrainConfig(
                epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, patience=s.patience, seed=s.seed
            )
            if s.patience is not None and s.epochs > 0:
                parts = split_task(task, 0.1, s.seed)
                train_data = encode(parts.train.examples, tok, s.max_length, task_targets(parts.train))
                dev_data: Encoded | None = encode(
                    parts.dev.examples, tok, s.max_length, task_targets(parts.dev)
                )
            else:
                train_data = encode(task.examples, tok, s.max_length, task_targets(task))
                dev_data = None
            train(
                model,
                list(model.parameters()),
                train_data,
                task.label_kind,
                config,
                tok.pad_token_id,
                dev_data,
                desc=f"fim fine-tune {task.name}",
                progress=progress,
            )
            all_data = encode(task.examples, tok, s.max_length, task_targets(task))
            named = self._selected(backbone)
            return {
                est: self._gradient_pass(model, named, all_data, task, est, progress) for est in estimators
            }

    def _selected(self, backbone: nn.Module) -> list[tuple[str, nn.Parameter]]:
        word = backbone.get_input_embeddings().weight  # type: ignore[operator]
        word_name = next(n for n, p in backbone.named_parameters() if p is word)
        named = [
            (n, p)
            for n, p in backbone.named_parameters()
            if in_parameter_set(n, self.settings.parameters, word_embeddings=word_name)
        ]
        if not named:
            raise ConfigError(
                f"parameter set {self.settings.parameters!r} selects no tensor of this surrogate"
            )
        return named

    def _gradient_pass(
        self,
        model: TaskModel,
        named: list[tuple[str, nn.Parameter]],
        data: Encoded,
        task: TaskData,
        estimator: Estimator,
        progress: bool,
    ) -> list[tuple[str, torch.Tensor]]:
        """Accumulate squared gradients by ``estimator`` (no parameter updates)."""
        s = self.settings
        model.eval()  # no dropout: the Fisher of the trained model, not of a noisy copy
        for p in model.parameters():
            p.requires_grad_(False)
        params = [p for _, p in named]
        for p in params:
            p.requires_grad_(True)
        n = len(data)
        acc = [torch.zeros_like(p) for p in params]
        pad = self.surrogate.tokenizer.pad_token_id
        batch_size = 1 if estimator == "example_sq" else s.batch_size
        bar = tqdm(total=n, desc=f"fim {estimator} {task.name}", disable=not progress, leave=False, unit="ex")
        for batch in iter_batches(data, batch_size, pad, shuffle=False):
            logits = model(batch)
            if estimator == "mean_sq":
                # Summed loss: .grad accumulates Σ_i ∇ loss_i over all batches.
                task_loss(logits, batch.targets, task.label_kind, reduction="sum").backward()  # type: ignore[no-untyped-call]
            else:
                loss = task_loss(logits, batch.targets, task.label_kind)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for a, g in zip(acc, grads, strict=True):
                    if g is not None:
                        a.addcmul_(g, g)
            bar.update(len(batch.index))
        bar.close()
        out: list[tuple[str, torch.Tensor]] = []
        for (name, p), a in zip(named, acc, strict=True):
            if estimator == "mean_sq":
                g = p.grad / n if p.grad is not None else torch.zeros_like(a)
                value = g.square()
            else:
                value = a / n
            out.append((name, value))
            p.grad = None
        return out
