"""A local Hugging Face sequence-classification folder as a black-box model.

Label names come from the config's ``id2label``; a one-output model or
``problem_type: regression`` is a regressor (its raw score), anything else a classifier
(softmax over its logits). Pair inputs go to the tokenizer as text pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fute.corpus import CorpusExample
from fute.errors import ConfigError, ModelError
from fute.models.base import OutputKind, identity_hash
from fute.surrogate import resolve_model_dir, weights_hash

logger = logging.getLogger(__name__)


class HFClassifierAdapter:
    """``AutoModelForSequenceClassification`` loaded from a local folder, on the CPU."""

    def __init__(self, folder: str | Path, *, batch_size: int = 32, max_length: int = 128) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.folder = resolve_model_dir(folder)
        self.name = self.folder.name
        if batch_size < 1 or max_length < 8:
            raise ConfigError(f"batch_size must be >= 1 and max_length >= 8, got {batch_size}, {max_length}")
        self.batch_size = batch_size
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(
                self.folder, local_files_only=True
            )
        except ValueError as exc:
            raise ConfigError(f"{self.folder}: not a sequence classifier transformers knows ({exc})") from exc
        self.model.eval()
        config = self.model.config
        n = int(config.num_labels)
        regression = config.problem_type == "regression" or n == 1
        self.output_kind: OutputKind = "regression" if regression else "soft"
        self.label_names: tuple[str, ...] = (
            () if regression else tuple(str(config.id2label[i]) for i in range(n))
        )
        self._identity: str | None = None
        logger.info("HF classifier %s: %s, labels %s", self.folder, self.output_kind, list(self.label_names))

    def identity(self) -> str:
        """sha256 of the weight files plus how inputs are cut."""
        if self._identity is None:
            self._identity = identity_hash("hf_classifier/1", weights_hash(self.folder), str(self.max_length))
        return self._identity

    def predict(self, examples: Sequence[CorpusExample]) -> np.ndarray:
        """Softmax probabilities ``(n, classes)`` or scores ``(n,)``."""
        outputs: list[np.ndarray] = []
        for start in range(0, len(examples), self.batch_size):
            chunk = examples[start : start + self.batch_size]
            texts = [ex.text for ex in chunk]
            pairs = [ex.text_pair for ex in chunk]
            has_pairs = any(p is not None for p in pairs)
            enc = self.tokenizer(
                texts,
                [p or "" for p in pairs] if has_pairs else None,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            try:
                with torch.inference_mode():
                    logits = self.model(**enc).logits.float()
            except (RuntimeError, IndexError) as exc:
                raise ModelError(f"HF classifier {self.folder} failed: {exc}") from exc
            out = logits[:, 0] if self.output_kind == "regression" else torch.softmax(logits, dim=-1)
            outputs.append(out.numpy())
        if not outputs:
            return np.zeros((0,) if self.output_kind == "regression" else (0, len(self.label_names)))
        return np.concatenate(outputs)
