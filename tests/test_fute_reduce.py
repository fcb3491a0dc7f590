"""CountSketch against a dense brute-force reference on seeded data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from fute.errors import ConfigError
from fute.reduce import CountSketch


def dense_reference(sketch: CountSketch, tensors: list[tuple[str, torch.Tensor]]) -> np.ndarray:
    """Build the explicit sparse projection matrix the sketch stands for and apply it."""
    out = np.zeros(sketch.dim)
    for name, t in tensors:
        n = t.numel()
        buckets, signs = sketch.hashes(name, 0, n)
        matrix = np.zeros((sketch.dim, n))
        matrix[buckets, np.arange(n)] = signs
        out += matrix @ t.reshape(-1).double().numpy()
    return out


def test_hashes_are_uniform_and_balanced() -> None:
    buckets, signs = CountSketch(100, seed=0).hashes("w", 0, 200_000)
    counts = np.bincount(buckets, minlength=100)
    assert counts.min() > 1700 and counts.max() < 2300
    assert abs(signs.mean()) < 0.01


def test_matches_dense_projection() -> None:
    rng = torch.Generator().manual_seed(0)
    tensors = [("a.weight", torch.randn(30, 7, generator=rng)), ("b.bias", torch.randn(11, generator=rng))]
    sketch = CountSketch(64, seed=5)
    assert np.allclose(sketch.project(tensors), dense_reference(sketch, tensors), atol=1e-5)
    # Streaming in chunks gives the same vector as one pass.
    assert np.allclose(sketch.project(tensors, chunk=16), sketch.project(tensors), atol=1e-6)


def test_seed_and_names_change_the_projection() -> None:
    t = [("w", torch.arange(1000, dtype=torch.float32))]
    assert np.array_equal(CountSketch(128, 1).project(t), CountSketch(128, 1).project(t))
    assert not np.allclose(CountSketch(128, 1).project(t), CountSketch(128, 2).project(t))
    assert not np.allclose(CountSketch(128, 1).project(t), CountSketch(128, 1).project([("v", t[0][1])]))


def test_preserves_cosine_order_of_heavy_tailed_vectors() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_cauchy(200_000) ** 2  # Fisher diagonals are squared, heavy-tailed
    vecs = [np.abs(base * rng.lognormal(0, s, base.size)) for s in np.linspace(0.2, 2.0, 8)]

    def cos(m: np.ndarray) -> np.ndarray:
        m = m / np.linalg.norm(m, axis=1, keepdims=True)
        return (m @ m.T)[np.triu_indices(len(m), 1)]

    sketch = CountSketch(2048, seed=0)
    reduced = np.stack([sketch.project([("x", torch.from_numpy(v))]) for v in vecs])
    rho = spearmanr(cos(np.stack(vecs)), cos(reduced.astype(np.float64))).statistic
    assert rho > 0.9


@pytest.mark.parametrize("dim", [0, 10, 1 << 21])
def test_dimension_bounds(dim: int) -> None:
    with pytest.raises(ConfigError, match="reduction dim"):
        CountSketch(dim)
