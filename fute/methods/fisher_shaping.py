"""Which Fisher values enter a FIM vector, and how they are scaled before the sketch.

The raw Fisher diagonal is dominated by a few tensors (the word-embedding rows of frequent
tokens, the last layers) whose scale says more about the tokens a task uses than about
what it asks of the model. These options reshape it; ``benchmarks/ablation`` measures
which ones rank source tasks better, and the defaults of :class:`FimSettings` follow it.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

import torch

ParameterSet = Literal[
    "all",
    "no_word_embeddings",
    "attention",
    "ffn",
    "embeddings",
    "layer0",
    "layer1",
    "layer2",
    "layer3",
    "layer4",
    "layer5",
]
PARAMETER_SETS: tuple[ParameterSet, ...] = get_args(ParameterSet)
Normalisation = Literal["none", "tensor", "layer"]
NORMALISATIONS: tuple[Normalisation, ...] = get_args(Normalisation)
Transform = Literal["none", "log"]
TRANSFORMS: tuple[Transform, ...] = get_args(Transform)

_LAYER = re.compile(r"(?:^|\.)(?:layer|block)\.(\d+)\.")


def layer_of(name: str) -> str:
    """``emb``, ``L<i>`` or ``other`` (e.g. a pooler) for a backbone parameter name."""
    if name.startswith(("embeddings.", "shared.", "embed_tokens.")):
        return "emb"
    m = _LAYER.search(name)
    return f"L{m.group(1)}" if m else "other"


def in_parameter_set(
    name: str, params: str, *, word_embeddings: str = "embeddings.word_embeddings.weight"
) -> bool:
    """True when the tensor ``name`` belongs to the parameter set ``params``."""
    if params == "all":
        return True
    if params == "no_word_embeddings":
        return name != word_embeddings
    if params == "attention":
        return ".attention." in name or ".SelfAttention." in name
    if params == "ffn":
        is_ffn = ".intermediate." in name or ".DenseReluDense." in name
        return is_ffn or (".output." in name and ".attention." not in name)
    if params == "embeddings":
        return layer_of(name) == "emb"
    if params.startswith("layer") and params[5:].isdigit():
        return layer_of(name) == f"L{params[5:]}"
    raise ValueError(f"unknown parameter set {params!r}; valid: {list(PARAMETER_SETS)}")


def log_transform(named: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    """``log1p(F / mean F)``, the mean over every value of every tensor.

    Relative to the mean so that the result does not depend on the loss scale; log1p keeps
    zeros at zero and compresses the few huge values.
    """
    total = sum(float(t.double().sum()) for _, t in named)
    count = sum(t.numel() for _, t in named)
    mean = total / max(1, count)
    if mean <= 0:
        return [(n, t.double()) for n, t in named]
    return [(n, torch.log1p(t.double() / mean)) for n, t in named]


def tensor_weights(names: list[str], sq_norms: list[float], normalise: str) -> list[float]:
    """Per-tensor factors that give each tensor (``tensor``) or each layer (``layer``) unit norm."""
    if normalise == "none":
        return [1.0] * len(names)
    if normalise == "tensor":
        return [1.0 / sq**0.5 if sq > 0 else 0.0 for sq in sq_norms]
    if normalise == "layer":
        groups = [layer_of(n) for n in names]
        totals: dict[str, float] = {}
        for g, sq in zip(groups, sq_norms, strict=True):
            totals[g] = totals.get(g, 0.0) + sq
        return [1.0 / totals[g] ** 0.5 if totals[g] > 0 else 0.0 for g in groups]
    raise ValueError(f"unknown normalisation {normalise!r}; valid: {list(NORMALISATIONS)}")


def shape(
    named: list[tuple[str, torch.Tensor]], transform: str, normalise: str
) -> list[tuple[str, torch.Tensor]]:
    """Apply the transform, then the per-tensor or per-layer normalisation."""
    if transform == "log":
        named = log_transform(named)
    elif transform != "none":
        raise ValueError(f"unknown transform {transform!r}; valid: {list(TRANSFORMS)}")
    if normalise == "none":
        return named
    weights = tensor_weights(
        [n for n, _ in named], [float(t.double().square().sum()) for _, t in named], normalise
    )
    return [(n, t * w) for (n, t), w in zip(named, weights, strict=True)]
