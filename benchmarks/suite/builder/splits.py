"""Examples, cleaning and deduplication, and the stratified train/dev/test split."""

from __future__ import annotations

import collections
import logging
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

CAPS: dict[str, int] = {"train": 1000, "dev": 200, "test": 500}
SPLITS = ("train", "dev", "test")

Label = str | float


@dataclass
class Example:
    text: str
    label: Label
    text_pair: str | None = None
    group: str | None = None

    def key(self) -> tuple[str, str | None]:
        return (self.text, self.text_pair)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.text_pair is not None:
            out["text_pair"] = self.text_pair
        out["label"] = self.label
        return out


_WS = re.compile(r"\s+")


def clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return _WS.sub(" ", text).strip()


def dedupe(examples: Iterable[Example], kind: str) -> list[Example]:
    """Drop empty texts, normalise whitespace, dedupe on (text, text_pair).

    For class tasks a text seen with two different labels is dropped altogether; for
    regression the first occurrence wins.
    """
    seen: dict[tuple[str, str | None], Example] = {}
    conflicted: set[tuple[str, str | None]] = set()
    for ex in examples:
        ex.text = clean(ex.text)
        if ex.text_pair is not None:
            ex.text_pair = clean(ex.text_pair)
            if not ex.text_pair:
                continue
        if not ex.text:
            continue
        k = ex.key()
        if k in seen:
            if kind == "class" and seen[k].label != ex.label:
                conflicted.add(k)
            continue
        seen[k] = ex
    if conflicted:
        LOG.info("dropping %d texts with conflicting labels", len(conflicted))
    return [ex for k, ex in seen.items() if k not in conflicted]


def _by_class(examples: Sequence[Example], kind: str) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = collections.defaultdict(list)
    for ex in examples:
        out[str(ex.label) if kind == "class" else "_all"].append(ex)
    return dict(sorted(out.items()))


def largest_remainder(total: int, weights: Sequence[float], minimum: Sequence[int]) -> list[int]:
    """Integer allocation of ``total`` proportional to ``weights``, then raised to per-slot minima
    (taking from the largest slots) when ``total`` allows."""
    wsum = sum(weights) or 1.0
    raw = [total * w / wsum for w in weights]
    alloc = [int(r) for r in raw]
    left = total - sum(alloc)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - alloc[i]), i))
    for i in order[:left]:
        alloc[i] += 1
    if sum(minimum) <= total:
        for i, lo in enumerate(minimum):
            while alloc[i] < lo:
                j = max(range(len(alloc)), key=lambda k: (alloc[k] - minimum[k], -k))
                if alloc[j] - minimum[j] <= 0:
                    break
                alloc[j] -= 1
                alloc[i] += 1
    return alloc


def stratified_take(
    examples: Sequence[Example], n: int, kind: str, rng: random.Random, balance: bool = False
) -> list[Example]:
    """Take ``n`` examples keeping the class distribution (or balancing it), >=3 per class where possible."""
    groups = _by_class(examples, kind)
    if n >= len(examples):
        everything = list(examples)
        rng.shuffle(everything)
        return everything
    names = list(groups)
    sizes = [len(groups[c]) for c in names]
    if balance:
        # water-filling: equal share per class, capped by availability
        alloc = [0] * len(names)
        remaining = n
        open_idx = [i for i in range(len(names))]
        while remaining > 0 and open_idx:
            share = max(1, remaining // len(open_idx))
            nxt = []
            for i in open_idx:
                take = min(share, sizes[i] - alloc[i], remaining)
                alloc[i] += take
                remaining -= take
                if alloc[i] < sizes[i]:
                    nxt.append(i)
                if remaining == 0:
                    break
            open_idx = nxt
    else:
        minimum = [min(3, s) for s in sizes]
        alloc = largest_remainder(n, [float(s) for s in sizes], minimum)
        # proportional allocation may exceed availability only for tiny classes; fix up
        overflow = 0
        for i, s in enumerate(sizes):
            if alloc[i] > s:
                overflow += alloc[i] - s
                alloc[i] = s
        while overflow > 0:
            i = max(range(len(names)), key=lambda j: (sizes[j] - alloc[j], -j))
            if sizes[i] - alloc[i] <= 0:
                break
            alloc[i] += 1
            overflow -= 1
    out: list[Example] = []
    for name, k in zip(names, alloc, strict=True):
        pool = list(groups[name])
        rng.shuffle(pool)
        out.extend(pool[:k])
    rng.shuffle(out)
    return out


def stratified_partition(
    examples: Sequence[Example], sizes: Sequence[int], kind: str, rng: random.Random
) -> list[list[Example]]:
    """Partition ``examples`` into len(sizes) parts of (about) the given sizes, stratified by class,
    with every class in every part where it has enough examples."""
    groups = _by_class(examples, kind)
    parts: list[list[Example]] = [[] for _ in sizes]
    total = sum(sizes) or 1
    for name in groups:
        pool = list(groups[name])
        rng.shuffle(pool)
        m = len(pool)
        minimum = [1 if m >= len(sizes) else 0 for _ in sizes]
        alloc = largest_remainder(m, [s / total for s in sizes], minimum)
        start = 0
        for i, k in enumerate(alloc):
            parts[i].extend(pool[start : start + k])
            start += k
    # Enforce sizes: move surplus from over-full parts (taking from the part's largest class)
    # to the part with the largest deficit; drop only if no part has room.
    for i, cap in enumerate(sizes):
        while len(parts[i]) > cap:
            counts = collections.Counter(str(ex.label) if kind == "class" else "_all" for ex in parts[i])
            big = max(sorted(counts), key=lambda c: counts[c])
            for j in range(len(parts[i]) - 1, -1, -1):
                lab = str(parts[i][j].label) if kind == "class" else "_all"
                if lab == big:
                    moved = parts[i].pop(j)
                    deficits = [(sizes[k] - len(parts[k]), -k) for k in range(len(sizes)) if k != i]
                    best = max(deficits) if deficits else (0, 0)
                    if best[0] > 0:
                        parts[-best[1]].append(moved)
                    break
    for p in parts:
        rng.shuffle(p)
    return parts


def split_sizes(n: int) -> list[int]:
    """Split sizes for a pool of ``n`` examples: the caps, or scaled down proportionally."""
    caps = [CAPS[s] for s in SPLITS]
    if n >= sum(caps):
        return caps
    sizes = largest_remainder(n, [float(c) for c in caps], [0, 0, 0])
    return sizes


def make_splits(
    examples: Sequence[Example], kind: str, rng: random.Random, balance: bool = False
) -> dict[str, list[Example]]:
    """Dedupe, sample up to sum(CAPS) and partition into train/dev/test."""
    pool = dedupe(examples, kind)
    total = min(len(pool), sum(CAPS.values()))
    chosen = stratified_take(pool, total, kind, rng, balance=balance)
    parts = stratified_partition(chosen, split_sizes(len(chosen)), kind, rng)
    return dict(zip(SPLITS, parts, strict=True))
