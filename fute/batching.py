"""Tokenisation once per task, then length-bucketed batches with dynamic padding.

Padding every batch to the longest sequence *in that batch* (not to ``max_length``) and
grouping similar lengths together is most of the speed on a CPU: attention and the feed-
forward layers then work on real tokens, not on padding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fute.data.records import Example


@dataclass(frozen=True)
class Encoded:
    """Token ids of each example (unpadded) and the label targets as a tensor."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Batch:
    """A padded batch: ``index`` says which examples of the task it holds."""

    index: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    targets: torch.Tensor


def encode(examples: Sequence[Example], tokenizer: object, max_length: int, targets: torch.Tensor) -> Encoded:
    """Tokenise texts (and text pairs) once, truncated to ``max_length`` tokens, unpadded."""
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples]
    has_pairs = any(p is not None for p in pairs)
    out = tokenizer(  # type: ignore[operator]
        texts,
        [p or "" for p in pairs] if has_pairs else None,
        truncation=True,
        max_length=max_length,
        padding=False,
    )
    token_types = out.get("token_type_ids") if has_pairs else None
    return Encoded(list(out["input_ids"]), token_types, targets)


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool, seed: int
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length.

    With ``shuffle`` the examples are shuffled, cut into chunks of 50 batches, sorted by
    length inside each chunk, and the batches shuffled: randomness for SGD, little padding.
    Without it, batches follow length order (for passes where order does not matter).
    """
    n = len(lengths)
    order = np.arange(n)
    lens = np.asarray(lengths)
    if not shuffle:
        order = order[np.argsort(lens, kind="stable")]
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    chunk = batch_size * 50
    sorted_chunks = [
        c[np.argsort(lens[c], kind="stable")] for c in (order[i : i + chunk] for i in range(0, n, chunk))
    ]
    flat = np.concatenate(sorted_chunks)
    batches = [flat[i : i + batch_size] for i in range(0, n, batch_size)]
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def collate(encoded: Encoded, index: np.ndarray, pad_id: int) -> Batch:
    """Pad the chosen examples to the longest among them."""
    seqs = [encoded.input_ids[i] for i in index]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    types = torch.zeros((len(seqs), width), dtype=torch.long) if encoded.token_type_ids else None
    for row, i in enumerate(index):
        seq = encoded.input_ids[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        if types is not None and encoded.token_type_ids is not None:
            types[row, : len(seq)] = torch.tensor(encoded.token_type_ids[i])
    return Batch(index, ids, mask, types, encoded.targets[torch.as_tensor(index)])


def iter_batches(
    encoded: Encoded, batch_size: int, pad_id: int, *, shuffle: bool, seed: int = 0
) -> Iterator[Batch]:
    """Padded batches over an encoded task (see :func:`bucketed_batches`)."""
    lengths = [len(s) for s in encoded.input_ids]
    for index in bucketed_batches(lengths, batch_size, shuffle=shuffle, seed=seed):
        yield collate(encoded, index, pad_id)
