"""The surrogate with a task head (and optionally a trainable prompt) as one module."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from fute.batching import Batch
from fute.heads import TaskHead, mean_pool


class InputPrompt(Protocol):
    """Something that prepends trainable vectors to the input embeddings."""

    length: int

    def prepend(self, embeds: torch.Tensor) -> torch.Tensor: ...


class TaskModel(nn.Module):
    """Backbone → (prompt) → mean pooling over real tokens → head."""

    def __init__(self, backbone: nn.Module, head: TaskHead, prompt: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.prompt = prompt

    def forward(self, batch: Batch) -> torch.Tensor:
        mask = batch.attention_mask
        kwargs: dict[str, torch.Tensor] = {}
        if batch.token_type_ids is not None:
            kwargs["token_type_ids"] = batch.token_type_ids
        if self.prompt is None:
            out = self.backbone(input_ids=batch.input_ids, attention_mask=mask, **kwargs)
            hidden = out.last_hidden_state
        else:
            n = int(self.prompt.length)  # type: ignore[arg-type]
            embeds = self.backbone.get_input_embeddings()(batch.input_ids)  # type: ignore[operator]
            embeds = self.prompt.prepend(embeds)  # type: ignore[operator]
            full_mask = torch.cat([mask.new_ones(mask.shape[0], n), mask], dim=1)
            if "token_type_ids" in kwargs:
                tt = kwargs["token_type_ids"]
                kwargs["token_type_ids"] = torch.cat([tt.new_zeros(tt.shape[0], n), tt], dim=1)
            out = self.backbone(inputs_embeds=embeds, attention_mask=full_mask, **kwargs)
            hidden = out.last_hidden_state[:, n:]
        return self.head(mean_pool(hidden, mask))  # type: ignore[no-any-return]
