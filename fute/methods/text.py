"""TextEmb (Vu et al., 2020): the mean of the frozen surrogate's mean-pooled token states."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from fute.batching import encode, iter_batches
from fute.data.records import TaskData
from fute.errors import ConfigError
from fute.heads import mean_pool
from fute.methods.base import EmbeddingMethod, SpaceParts, make_space, settings_json
from fute.space import EmbeddingSpace
from fute.surrogate import Surrogate


@dataclass(frozen=True)
class TextSettings:
    """Settings of TextEmb; labels are not used at all."""

    batch_size: int = 64
    max_length: int = 128
    seed: int = 0  # only picks the capped sample
    max_examples: int = 1000

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_length < 8:
            raise ConfigError(f"invalid text settings: {self}")


class TextMethod(EmbeddingMethod):
    """The TextEmb baseline bound to a surrogate."""

    name = "text"
    settings: TextSettings

    def __init__(self, surrogate: Surrogate, settings: TextSettings | None = None) -> None:
        self.surrogate = surrogate
        self.settings = settings or TextSettings()
        self._model = surrogate.fresh_backbone().eval()

    def space(self, corpus: str | None = None) -> EmbeddingSpace:
        """The space of this method's embeddings (labels play no part, so no corpus either)."""
        parts = SpaceParts(
            "text",
            settings_json(self.settings, exclude=("batch_size", "seed", "max_examples")),
            self.surrogate.hidden_size,
        )
        return make_space(self.surrogate, parts, None)

    def vectors(self, task: TaskData, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Average the pooled states of the task's texts."""
        s = self.settings
        data = encode(task.examples, self.surrogate.tokenizer, s.max_length, torch.zeros(len(task.examples)))
        total = torch.zeros(self.surrogate.hidden_size, dtype=torch.float64)
        bar = tqdm(total=len(data), desc=f"text {task.name}", disable=not progress, leave=False, unit="ex")
        with torch.inference_mode():
            for batch in iter_batches(
                data, s.batch_size, self.surrogate.tokenizer.pad_token_id, shuffle=False
            ):
                kwargs = {} if batch.token_type_ids is None else {"token_type_ids": batch.token_type_ids}
                out = self._model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs)
                total += mean_pool(out.last_hidden_state, batch.attention_mask).sum(dim=0).double()
                bar.update(len(batch.index))
        bar.close()
        return (total / len(data)).numpy().astype(np.float32), None
