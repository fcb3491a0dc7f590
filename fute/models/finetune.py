"""Fine-tune the surrogate into a Hugging Face sequence classifier (``fute finetune``).

The result is a normal model folder (weights, config with ``id2label``, tokenizer) that
:class:`~fute.models.hf_classifier.HFClassifierAdapter` treats as a black box, like any
other model. Training: AdamW, weight decay 0.01, linear schedule with 5% warm-up, as the
embedding methods use.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fute.batching import encode, iter_batches
from fute.data.records import TaskData
from fute.data.split import cap_examples
from fute.errors import ConfigError
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
    from transformers import AutoModelForSequenceClassification

    s = settings or FinetuneSettings()
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} exists; give a new folder for the fine-tuned model")
    task = cap_examples(task, s.max_examples, s.seed)
    regression = task.label_kind == "regression"
    num_labels = 1 if regression else len(task.label_names)
    labels = (
        {}
        if regression
        else {
            "id2label": dict(enumerate(task.label_names)),
            "label2id": {n: i for i, n in enumerate(task.label_names)},
        }
    )
    with seeded(s.seed):
        model = AutoModelForSequenceClassification.from_pretrained(
            surrogate.folder,
            local_files_only=True,
            num_labels=num_labels,
            problem_type="regression" if regression else "single_label_classification",
            **labels,
        )
        tok = surrogate.tokenizer
        # Raw targets (not z-scored): the regressor's outputs should be on the task's own scale.
        data = encode(task.examples, tok, s.max_length, torch.as_tensor(task.label_array()))
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=s.lr,
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
                data, s.batch_size, tok.pad_token_id, shuffle=True, seed=s.seed + epoch
            ):
                kwargs = {"token_type_ids": batch.token_type_ids} if batch.token_type_ids is not None else {}
                logits = model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs
                ).logits
                loss = task_loss(logits, batch.targets, task.label_kind)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        meta = {
            "task": task.name,
            "source": task.source,
            "label_kind": task.label_kind,
            "n_examples": len(task.examples),
            "surrogate": surrogate.name,
            "surrogate_sha256": surrogate.weights_sha256,
            "settings": asdict(s),
        }
        (tmp / "fute_finetune.json").write_text(json.dumps(meta, indent=2))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("fine-tuned %s on %s (%d examples) -> %s", surrogate.name, task.name, len(task.examples), out)
    return out
