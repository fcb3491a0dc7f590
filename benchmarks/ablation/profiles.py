"""Stage one of the ablation: per-tensor sketches of each task's Fisher, computed once.

Re-running fine-tuning for every combination of normalisation, parameter subset and
dimension would take days on a CPU. Instead each (training variant, task, role) is
trained once; for every estimator it keeps, per parameter tensor, the CountSketch of the
Fisher values and of their log, and the squared norm of each. Because CountSketch is
linear and hashes by (seed, tensor name, index), any per-tensor weighting, subset or
power-of-two dimension of the default embedding is then exact arithmetic on these
arrays: the ``e1/mean_sq/all/none/4096`` vector equals what ``fute embed`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fute.data.records import TaskData
from fute.methods.fim import Estimator, FimMethod, FimSettings
from fute.methods.fisher_shaping import log_transform
from fute.reduce import CountSketch
from fute.surrogate import Surrogate

SKETCH_DIM = 8192  # the largest dimension ablated; smaller powers of two are folds of it


@dataclass(frozen=True)
class TrainVariant:
    """How long the surrogate is fine-tuned on the task before the Fisher is read."""

    name: str
    epochs: int
    lr: float = 5e-5
    patience: int | None = None
    estimators: tuple[Estimator, ...] = ("mean_sq", "batch_sq")

    def settings(self) -> FimSettings:
        """FIM settings of this variant (sketch at :data:`SKETCH_DIM`, all parameters)."""
        return FimSettings(epochs=self.epochs, lr=self.lr, patience=self.patience, dim=SKETCH_DIM)


# example_sq (one backward pass per example) is left out: on 2 CPU cores it tripled the
# cost of a profile, and the sketch-fidelity benchmark already compares the estimators.
VARIANTS: dict[str, TrainVariant] = {
    v.name: v
    for v in (
        TrainVariant("e0", 0),  # the pretrained surrogate with a fresh head: no fine-tuning
        TrainVariant("e1", 1),  # the library default
        TrainVariant("e3", 3),
        TrainVariant("es", 4, patience=1),  # early stopping on a 10% dev split, at most 4 epochs
    )
}


def profile_path(root: Path, variant: str, role: str, task: str) -> Path:
    """Where one profile is cached."""
    return root / variant / role / f"{task}.npz"


def compute_profile(surrogate: Surrogate, variant: TrainVariant, task: TaskData) -> dict[str, np.ndarray]:
    """Per-tensor sketches (raw and log) and squared norms of ``task``'s Fisher, per estimator."""
    method = FimMethod(surrogate, variant.settings())
    estimates = method.fisher_estimates(task, variant.estimators, progress=False)
    sketch = CountSketch(SKETCH_DIM, seed=0)
    out: dict[str, np.ndarray] = {}
    for est, named in estimates.items():
        out["names"] = np.asarray([n for n, _ in named])
        out["sizes"] = np.asarray([t.numel() for _, t in named])
        logged = log_transform(named)
        for kind, tensors in (("raw", [(n, t.double()) for n, t in named]), ("log", logged)):
            out[f"{est}/{kind}"] = np.stack([sketch.project([(n, t)]) for n, t in tensors])
            out[f"{est}/{kind}_sq"] = np.asarray([float(t.square().sum()) for _, t in tensors])
    return out


def load_or_compute(
    root: Path, surrogate: Surrogate, variant: TrainVariant, role: str, task: TaskData
) -> dict[str, np.ndarray]:
    """The cached profile, computing and saving it (atomically) when missing."""
    path = profile_path(root, variant.name, role, task.name)
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    profile = compute_profile(surrogate, variant, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **profile)  # type: ignore[arg-type]
    tmp.replace(path)
    return profile
