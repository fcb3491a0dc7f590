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

    def _generator(self, tensor_name: str) -> torch.Generator:
        digest = hashlib.blake2b(f"{self.seed}\x00{tensor_name}".encode(), digest_size=8).digest()
        gen = torch.Generator()
        gen.manual_seed(int.from_bytes(digest, "big") & ((1 << 63) - 1))
        return gen

    def project(self, tensors: Iterable[tuple[str, torch.Tensor]], chunk: int = 1 << 22) -> np.ndarray:
        """Sketch named tensors (their concatenation in any order) into a float32 vector."""
        out = torch.zeros(self.dim, dtype=torch.float64)
        for name, tensor in tensors:
            flat = tensor.detach().reshape(-1).to(torch.float64)
            gen = self._generator(name)
            for start in range(0, flat.numel(), chunk):
                values = flat[start : start + chunk]
                buckets = torch.randint(self.dim, (values.numel(),), generator=gen)
                signs = torch.randint(2, (values.numel(),), generator=gen, dtype=torch.int8) * 2 - 1
                out.index_add_(0, buckets, values * signs)
        return out.numpy().astype(np.float32)
