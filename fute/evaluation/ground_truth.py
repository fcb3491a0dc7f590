"""Measured intermediate-task transfer: which source helped which target, by how much.

The file is JSON lines, one finished run each, written by
``benchmarks/transfer_ground_truth.py``::

    {"source": "trec_coarse", "target": "trec_fine", "seed": 0, "score": 0.71, "seconds": 12.3}
    {"source": null, "target": "trec_fine", "seed": 0, "score": 0.64, "seconds": 11.8}

``source: null`` is the target trained alone (the baseline). A ``.config.json`` beside it
records how the runs were trained; it is provenance and is read when present.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fute.data.loading import iter_jsonl_objects
from fute.errors import DataError


@dataclass(frozen=True)
class GroundTruth:
    """Transfer scores per (source, target) and seed; ``None`` as source is the baseline."""

    runs: dict[tuple[str | None, str], dict[int, float]]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        """Targets with at least one transfer run, sorted."""
        return sorted({t for s, t in self.runs if s is not None})

    @property
    def tasks(self) -> list[str]:
        """Every task named as source or target, sorted."""
        return sorted({t for _, t in self.runs} | {s for s, _ in self.runs if s is not None})

    def sources(self, target: str) -> list[str]:
        """Sources measured on ``target`` (never the target itself), sorted."""
        return sorted(s for s, t in self.runs if t == target and s is not None)

    def score(self, source: str | None, target: str) -> float:
        """Mean score over the seeds that ran."""
        return float(np.mean(list(self.runs[(source, target)].values())))

    def scores(self, target: str) -> dict[str, float]:
        """Mean score of ``target`` after each source: the truth a ranking is judged by."""
        return {s: self.score(s, target) for s in self.sources(target)}

    def baseline(self, target: str) -> float | None:
        """Mean score of ``target`` trained alone, if measured."""
        return self.score(None, target) if (None, target) in self.runs else None

    def seeds(self) -> list[int]:
        """Every seed that appears."""
        return sorted({seed for per_seed in self.runs.values() for seed in per_seed})

    def seed_scores(self, target: str, seed: int) -> dict[str, float]:
        """Scores of one seed only (sources that ran with it)."""
        return {
            s: self.runs[(s, target)][seed] for s in self.sources(target) if seed in self.runs[(s, target)]
        }

    def seed_noise(self) -> float:
        """Mean absolute difference between two seeds of the same run (pairs with two or more)."""
        diffs = [
            abs(v[a] - v[b])
            for v in self.runs.values()
            for i, a in enumerate(sorted(v))
            for b in sorted(v)[i + 1 :]
        ]
        return float(np.mean(diffs)) if diffs else float("nan")

    def seed_agreement(self) -> float:
        """The ceiling a ranker can be judged to: mean over targets and seed pairs of the
        Spearman correlation between two seeds' scores of the same sources (targets with
        at least 3 sources measured under both seeds); NaN with one seed."""
        from scipy.stats import spearmanr

        values = []
        seeds = self.seeds()
        for target in self.targets:
            for i, a in enumerate(seeds):
                for b in seeds[i + 1 :]:
                    sa, sb = self.seed_scores(target, a), self.seed_scores(target, b)
                    both = sorted(set(sa) & set(sb))
                    if len(both) >= 3:
                        rho = spearmanr([sa[s] for s in both], [sb[s] for s in both])[0]
                        if np.isfinite(rho):
                            values.append(float(rho))
        return float(np.mean(values)) if values else float("nan")


def _row_value(row: dict[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise DataError(f"{where}: missing field {key!r} (have {sorted(row)})")
    return row[key]


def load_ground_truth(path: str | Path) -> GroundTruth:
    """Read a ground-truth JSONL file (and its ``.config.json`` when present).

    Raises:
        DataError: a missing file, a line that is not JSON, a missing or mistyped field
            (file and line named), or a (source, target, seed) given twice with different scores.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: no such ground-truth file (make one with benchmarks/transfer_ground_truth.py)"
        )
    runs: dict[tuple[str | None, str], dict[int, float]] = defaultdict(dict)
    for where, row in iter_jsonl_objects(path):
        source, target = _row_value(row, "source", where), _row_value(row, "target", where)
        seed, score = _row_value(row, "seed", where), _row_value(row, "score", where)
        if source is not None and not isinstance(source, str):
            raise DataError(f"{where}: field 'source' must be a task name or null, got {source!r}")
        if not isinstance(target, str) or not target:
            raise DataError(f"{where}: field 'target' must be a task name, got {target!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise DataError(f"{where}: field 'seed' must be an integer, got {seed!r}")
        if not isinstance(score, int | float) or isinstance(score, bool) or not np.isfinite(score):
            raise DataError(f"{where}: field 'score' must be a finite number, got {score!r}")
        if source == target:
            raise DataError(f"{where}: source and target are both {target!r}")
        old = runs[(source, target)].get(seed)
        if old is not None and old != score:
            raise DataError(
                f"{where}: ({source}, {target}, seed {seed}) already has score {old}, now {score}"
            )
        runs[(source, target)][seed] = float(score)
    if not runs:
        raise DataError(f"{path}: no runs")
    config_path = path.with_suffix(".config.json")
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return GroundTruth(dict(runs), config)
