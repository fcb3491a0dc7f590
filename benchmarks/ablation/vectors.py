"""Stage two: turn cached profiles into task vectors under one combination of options."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from benchmarks.ablation.profiles import SKETCH_DIM
from fute.methods.fisher_shaping import in_parameter_set, tensor_weights

DIMS = (1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class Option:
    """One FIM recipe: training variant, estimator, parameters, normalisation, log, centring, dim."""

    variant: str = "e1"
    estimator: str = "mean_sq"
    params: str = "all"
    norm: str = "none"  # scale each tensor (or layer) to unit norm before concatenating
    log: bool = False
    centre: bool = False  # subtract the mean source vector (a statistic the index can hold)
    dim: int = 4096

    def label(self) -> str:
        """Short name for tables."""
        extra = [x for x, on in (("log", self.log), ("centred", self.centre)) if on]
        return "/".join([self.variant, self.estimator, self.params, self.norm, *extra, str(self.dim)])

    def vary(self, **changes: object) -> Option:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT = Option()


def selected(names: np.ndarray, params: str) -> np.ndarray:
    """Boolean mask of the tensors in a parameter set."""
    return np.asarray([in_parameter_set(str(n), params) for n in names])


def vector(profile: dict[str, np.ndarray], option: Option) -> np.ndarray:
    """The task vector of ``option`` from a profile (centring is applied across tasks, later)."""
    kind = "log" if option.log else "raw"
    sketches = profile[f"{option.estimator}/{kind}"].astype(np.float64)
    sq = profile[f"{option.estimator}/{kind}_sq"].astype(np.float64)
    names = profile["names"]
    keep = selected(names, option.params)
    # Normalisation sees only the selected tensors, as in the library where the others never
    # enter the Fisher pass. (The log is relative to the mean over *all* tensors here, over
    # the selected ones in the library: the two differ only for a subset with ``log``.)
    kept = [str(n) for n in names[keep]]
    weights = np.zeros(len(names))
    weights[keep] = tensor_weights(kept, [float(x) for x in sq[keep]], option.norm)
    full = weights @ sketches
    if SKETCH_DIM % option.dim:
        raise ValueError(f"dim {option.dim} does not divide {SKETCH_DIM}")
    # CountSketch buckets are hash % dim: a power-of-two sketch folds exactly into a smaller one.
    folded: np.ndarray = full.reshape(SKETCH_DIM // option.dim, option.dim).sum(axis=0)
    return folded


def cosine_table(
    targets: dict[str, np.ndarray], sources: dict[str, np.ndarray], pairs: dict[str, list[str]], centre: bool
) -> dict[str, dict[str, float]]:
    """Cosine of each target with its candidate sources, optionally after centring on the sources' mean."""
    mean = np.mean(list(sources.values()), axis=0) if centre else 0.0

    def unit(v: np.ndarray) -> np.ndarray:
        c = v - mean
        n = float(np.linalg.norm(c))
        return c / n if n > 0 else c

    tu = {k: unit(v) for k, v in targets.items()}
    su = {k: unit(v) for k, v in sources.items()}
    return {t: {s: float(tu[t] @ su[s]) for s in cands} for t, cands in pairs.items()}
