"""Prompt task embeddings (TuPaTE / FUTE): the surrogate is frozen, a prompt is trained.

Two prompt forms:

- ``soft``: ``length`` trainable vectors prepended to the input embeddings (TuPaTE).
- ``prefix``: a trainable block of ``length`` vectors for *every* layer, written over the
  prompt positions before each layer runs (deep prompt tuning, as in FUTE's per-layer
  prefix); the embedding averages the layers' blocks.

Every task starts from the same seeded prompt, so the embedding is the trained prompt
minus that shared start: the common offset would otherwise make all cosines near 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from fute.batching import encode
from fute.data.records import TaskData
from fute.errors import ConfigError
from fute.heads import TaskHead, task_targets
from fute.methods.base import EmbeddingMethod, SpaceParts, make_space, settings_json
from fute.runtime import seeded
from fute.space import EmbeddingSpace
from fute.surrogate import Surrogate
from fute.task_model import TaskModel
from fute.training import TrainConfig, train

PromptKind = Literal["soft", "prefix"]
PROMPT_KINDS: tuple[PromptKind, ...] = ("soft", "prefix")


@dataclass(frozen=True)
class PromptSettings:
    """Settings of the prompt method; all but ``max_examples`` define the space."""

    kind: PromptKind = "soft"
    length: int = 16  # prompt tokens, as in FUTE
    epochs: int = 2
    lr: float = 1e-2  # FUTE's rate for datasets
    batch_size: int = 32
    max_length: int = 128
    init_scale: float = 0.02  # std of the shared initial prompt
    seed: int = 0
    max_examples: int = 1000

    def __post_init__(self) -> None:
        if self.kind not in PROMPT_KINDS:
            raise ConfigError(f"unknown prompt kind {self.kind!r}; valid: {list(PROMPT_KINDS)}")
        if self.length < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"invalid prompt settings: {self}")


class SoftPrompt(nn.Module):
    """``length`` vectors prepended to the input embeddings."""

    def __init__(self, length: int, hidden: int, init_scale: float) -> None:
        super().__init__()
        self.length = length
        self.weight = nn.Parameter(torch.randn(length, hidden) * init_scale)

    def prepend(self, embeds: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.weight.expand(embeds.shape[0], -1, -1), embeds], dim=1)

    def embedding(self) -> torch.Tensor:
        return self.weight.detach().reshape(-1)


class LayerPrefix(nn.Module):
    """A prompt block per layer, written over the first ``length`` positions of each layer's input.

    Layer 0's block is prepended to the input embeddings; pre-forward hooks overwrite the
    prompt positions of layers 1.. with their own block.
    """

    def __init__(self, length: int, hidden: int, layers: nn.ModuleList, init_scale: float) -> None:
        super().__init__()
        self.length = length
        self.weight = nn.Parameter(torch.randn(len(layers), length, hidden) * init_scale)
        self._handles = [
            layer.register_forward_pre_hook(self._hook(i), with_kwargs=True)
            for i, layer in enumerate(layers)
            if i > 0
        ]

    def _hook(self, i: int) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            key = "hidden_states"
            hidden = args[0] if args else kwargs[key]
            block = self.weight[i].expand(hidden.shape[0], -1, -1)
            hidden = torch.cat([block, hidden[:, self.length :]], dim=1)
            if args:
                return (hidden, *args[1:]), kwargs
            return args, {**kwargs, key: hidden}

        return hook

    def prepend(self, embeds: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.weight[0].expand(embeds.shape[0], -1, -1), embeds], dim=1)

    def embedding(self) -> torch.Tensor:
        return self.weight.detach().mean(dim=0).reshape(-1)

    def remove(self) -> None:
        """Detach the hooks from the backbone."""
        for handle in self._handles:
            handle.remove()


class PromptMethod(EmbeddingMethod):
    """The prompt embedding method bound to a surrogate."""

    name = "prompt"
    settings: PromptSettings

    def __init__(self, surrogate: Surrogate, settings: PromptSettings | None = None) -> None:
        self.surrogate = surrogate
        self.settings = settings or PromptSettings()
        self._frozen = surrogate.fresh_backbone()
        for p in self._frozen.parameters():
            p.requires_grad_(False)

    @property
    def dim(self) -> int:
        """Vector length: prompt tokens × hidden size."""
        return self.settings.length * self.surrogate.hidden_size

    def space(self, corpus: str | None = None) -> EmbeddingSpace:
        """The space of this method's embeddings."""
        parts = SpaceParts("prompt", settings_json(self.settings, exclude=("max_examples",)), self.dim)
        return make_space(self.surrogate, parts, corpus)

    def _make_prompt(self) -> SoftPrompt | LayerPrefix:
        s, hidden = self.settings, self.surrogate.hidden_size
        if s.kind == "soft":
            return SoftPrompt(s.length, hidden, s.init_scale)
        return LayerPrefix(s.length, hidden, self.surrogate.layers(self._frozen), s.init_scale)

    def vectors(self, task: TaskData, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Train a prompt and head on ``task`` with the surrogate frozen; return prompt − start."""
        s = self.settings
        tok = self.surrogate.tokenizer
        # The tokens must leave room for the prompt within the position embeddings.
        max_len = s.max_length
        with seeded(s.seed):
            prompt = self._make_prompt()
            start = prompt.embedding().clone()
            head = TaskHead(self.surrogate.hidden_size, task.num_outputs)
            model = TaskModel(self._frozen, head, prompt)
            data = encode(task.examples, tok, max_len, task_targets(task))
            config = TrainConfig(epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, seed=s.seed)
            try:
                params = [*prompt.parameters(), *head.parameters()]
                train(
                    model,
                    params,
                    data,
                    task.label_kind,
                    config,
                    tok.pad_token_id,
                    desc=f"prompt {task.name}",
                    progress=progress,
                )
            finally:
                if isinstance(prompt, LayerPrefix):
                    prompt.remove()
        return (prompt.embedding() - start).numpy().astype(np.float32), None
