"""Fine-tune the surrogate into a Hugging Face sequence classifier (``fute finetune``).

The result is a normal model folder (weights, config with ``id2label``, tokenizer) that
:class:`~fute.models.hf_classifier.HFClassifierAdapter` treats as a black box, like any
other model. Training: AdamW, weight decay 0.01, linear schedule with 5% warm-up, as the
embedding methods use. The pieces (build, train, score, save) are public because
:mod:`fute.transfer` chains them into intermediate-task transfer.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fute.batching import encode, iter_batches
from fute.data.records import TaskData
from fute.data.split import cap_examples
from fute.errors import ConfigError
from fute.file_modes import chmod_dir_like_mkdir
from fute.heads import task_loss
from fute.runtime import seeded
from fute.surrogate import Surrogate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """How the classifier is trained."""

    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    seed: int = 0
    max_examples: int | None = None  # seeded cap on training examples; None: all

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 8 or self.lr <= 0:
            raise ConfigError(f"invalid finetune settings: {self}")


def build_classifier(folder: str | Path, task: TaskData, seed: int) -> Any:
    """A sequence classifier for ``task`` on the encoder in ``folder``, its head drawn from ``seed``.

    ``class`` and ``soft`` tasks get a head over ``task.label_names``; ``regression`` one output.
    """
    from transformers import AutoModelForSequenceClassification

    regression = task.label_kind == "regression"
    labels = (
        {}
        if regression
        else {
            "id2label": dict(enumerate(task.label_names)),
            "label2id": {n: i for i, n in enumerate(task.label_names)},
        }
    )
    with seeded(seed):
        return AutoModelForSequenceClassification.from_pretrained(
            folder,
            local_files_only=True,
            num_labels=task.num_outputs,
            problem_type="regression" if regression else "single_label_classification",
            **labels,
        )


def _forward(model: Any, batch: Any) -> torch.Tensor:
    kwargs = {"token_type_ids": batch.token_type_ids} if batch.token_type_ids is not None else {}
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs).logits  # type: ignore[no-any-return]


def train_classifier(
    model: Any, tokenizer: Any, task: TaskData, settings: FinetuneSettings, *, progress: bool = True
) -> Any:
    """Train every parameter of ``model`` on ``task`` (capped by the settings); returns it in eval mode."""
    s = settings
    task = cap_examples(task, s.max_examples, s.seed)
    with seeded(s.seed):
        # Raw targets (not z-scored): the regressor's outputs should be on the task's own scale.
        data = encode(task.examples, tokenizer, s.max_length, torch.as_tensor(task.label_array()))
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=s.lr,
            fused=True,  # one kernel over all tensors: the per-tensor loop was 40% of a CPU step
        )
        total = -(-len(data) // s.batch_size) * s.epochs
        warmup = max(1, int(s.warmup_ratio * total))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: min((k + 1) / warmup, max(0.0, (total - k) / max(1, total - warmup)))
        )
        model.train()
        bar = tqdm(total=total, desc=f"finetune {task.name}", disable=not progress, leave=False, unit="step")
        for epoch in range(s.epochs):
            for batch in iter_batches(
                data, s.batch_size, tokenizer.pad_token_id, shuffle=True, seed=s.seed + epoch
            ):
                loss = task_loss(_forward(model, batch), batch.targets, task.label_kind)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
    model.eval()
    return model


def score_classifier(
    model: Any, tokenizer: Any, task: TaskData, *, max_length: int = 128, batch_size: int = 64
) -> float:
    """The task's main metric on ``task``: accuracy for classes, Pearson r for regression.

    Soft labels are scored as accuracy against their most probable class.
    """
    if task.label_kind == "soft":
        gold = np.asarray([int(np.argmax(ex.label)) for ex in task.examples])
    else:
        gold = task.label_array()
    data = encode(task.examples, tokenizer, max_length, torch.zeros(len(task.examples)))
    outputs = np.zeros((len(data), task.num_outputs), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for batch in iter_batches(data, batch_size, tokenizer.pad_token_id, shuffle=False):
            outputs[batch.index] = _forward(model, batch).float().numpy()
    if task.label_kind == "regression":
        pred = outputs[:, 0]
        if np.std(pred) < 1e-12 or np.std(gold) < 1e-12:
            return 0.0  # a constant prediction carries no correlation
        return float(np.corrcoef(pred, gold)[0, 1])
    return float(np.mean(outputs.argmax(axis=1) == gold))


def save_classifier(model: Any, tokenizer: Any, out: Path, meta: dict[str, Any]) -> Path:
    """Write ``model``, its tokenizer and ``fute_finetune.json`` to the new folder ``out`` atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "fute_finetune.json").write_text(json.dumps(meta, indent=2))
        chmod_dir_like_mkdir(tmp)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def finetune_classifier(
    surrogate: Surrogate,
    task: TaskData,
    out: str | Path,
    settings: FinetuneSettings | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Train a sequence classifier from ``surrogate`` on ``task``; write it to ``out`` atomically.

    ``class`` and ``soft`` tasks give a classifier over ``task.label_names``; ``regression``
    a one-output regressor on the raw scores.
    """
    s = settings or FinetuneSettings()
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} exists; give a new folder for the fine-tuned model")
    # Capped here once (train_classifier's own cap is then a no-op) so the record counts what trained.
    task = cap_examples(task, s.max_examples, s.seed)
    model = build_classifier(surrogate.folder, task, s.seed)
    train_classifier(model, surrogate.tokenizer, task, s, progress=progress)
    n_examples = len(task.examples)
    meta = {
        "task": task.name,
        "source": task.source,
        "label_kind": task.label_kind,
        "n_examples": n_examples,
        "surrogate": surrogate.name,
        "surrogate_sha256": surrogate.weights_sha256,
        "settings": asdict(s),
    }
    save_classifier(model, surrogate.tokenizer, out, meta)
    logger.info("fine-tuned %s on %s (%d examples) -> %s", surrogate.name, task.name, n_examples, out)
    return out
