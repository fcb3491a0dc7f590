"""Task heads and their losses, one per label kind, on mean-pooled surrogate states."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fute.data.records import LabelKind, TaskData


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the hidden states of real tokens (``mask`` 1), as sentence-transformers does."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class TaskHead(nn.Module):
    """A linear layer from the pooled representation to the task's outputs."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, num_outputs)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(pooled))  # type: ignore[no-any-return]


def task_targets(task: TaskData) -> torch.Tensor:
    """Targets for the loss: class ids, z-scored regression scores, or probability rows.

    Regression scores are standardised per task so that the gradients of a task with
    scores in [-4, 4] and one in [0, 1] have the same scale in the shared space.
    """
    labels = torch.as_tensor(task.label_array())
    if task.label_kind == "regression":
        std = labels.std().clamp(min=1e-6) if len(labels) > 1 else torch.tensor(1.0)
        return (labels - labels.mean()) / std
    return labels


def task_loss(
    logits: torch.Tensor, targets: torch.Tensor, kind: LabelKind, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy for classes and soft labels, squared error for regression."""
    if kind == "class":
        return F.cross_entropy(logits, targets, reduction=reduction)
    if kind == "soft":
        per_example = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)
        return per_example.mean() if reduction == "mean" else per_example.sum()
    return F.mse_loss(logits.squeeze(-1), targets, reduction=reduction)
