"""Seeded CountSketch: a full Fisher vector (one value per parameter) down to ``dim`` values.

Each parameter entry goes to one of ``dim`` buckets with a random sign; the hashes are
derived from the seed and the *tensor's name*, generated tensor by tensor, so the
projection streams over the model and never holds a dense ``n_params × dim`` matrix.
CountSketch preserves inner products in expectation, and so (approximately) cosines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from fute.errors import ConfigError

MIN_DIM, MAX_DIM = 64, 1 << 20


@dataclass(frozen=True)
class CountSketch:
    """A seeded CountSketch projection to ``dim`` values."""

    dim: int
    seed: int = 0
    name: str = "countsketch"

    def __post_init__(self) -> None:
        if not MIN_DIM <= self.dim <= MAX_DIM:
            raise ConfigError(f"reduction dim must be in [{MIN_DIM}, {MAX_DIM}], got {self.dim}")

    def _tensor_key(self, tensor_name: str) -> np.uint64:
        digest = hashlib.blake2b(f"{self.seed}\x00{tensor_name}".encode(), digest_size=8).digest()
        return np.uint64(int.from_bytes(digest, "big"))

    def hashes(self, tensor_name: str, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Buckets and signs of elements ``start .. start+count`` of a tensor.

        Each element's hash depends only on (seed, tensor name, element index), via
        splitmix64, so the result does not depend on how the tensor is streamed.
        """
        with np.errstate(over="ignore"):
            z = np.arange(start, start + count, dtype=np.uint64) + self._tensor_key(tensor_name)
            z = z + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        buckets = ((z >> np.uint64(1)) % np.uint64(self.dim)).astype(np.int64)
        signs = (z & np.uint64(1)).astype(np.float64) * 2.0 - 1.0
        return buckets, signs

    def project(self, tensors: Iterable[tuple[str, torch.Tensor]], chunk: int = 1 << 22) -> np.ndarray:
        """Sketch named tensors (their concatenation in any order) into a float32 vector."""
        out = np.zeros(self.dim, dtype=np.float64)
        for name, tensor in tensors:
            flat = tensor.detach().reshape(-1).to(torch.float64).numpy()
            for begin in range(0, flat.size, chunk):
                values = flat[begin : begin + chunk]
                buckets, signs = self.hashes(name, begin, values.size)
                out += np.bincount(buckets, weights=values * signs, minlength=self.dim)
        return out.astype(np.float32)
