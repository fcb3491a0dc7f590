"""Hub-aware similarity (CSLS) in the library and in `fute similarity --csls K`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fute.cli import main
from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
from fute.errors import FuteError
from fute.similarity import csls_matrix, neighbourhood_radius
from fute.space import EmbeddingSpace


def _csls_bruteforce(sims: list[list[float]], k: int) -> list[list[float]]:
    """Straight from the definition, one task at a time, with sorted lists."""
    n = len(sims)
    kk = min(k, n - 1)
    r = [sum(sorted((sims[i][j] for j in range(n) if j != i), reverse=True)[:kk]) / kk for i in range(n)]
    return [[2 * sims[i][j] - r[i] - r[j] for j in range(n)] for i in range(n)]


def _unit(rows: np.ndarray) -> np.ndarray:
    out: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def _hub_and_pairs() -> tuple[list[str], np.ndarray]:
    """Three pairs of related tasks and one hub that sits between all of them."""
    rng = np.random.default_rng(7)
    centres = _unit(rng.normal(size=(3, 16)))
    hub = centres.sum(axis=0)
    rows = [hub]
    names = ["hub"]
    for i, c in enumerate(centres):
        for j in range(2):
            rows.append(c + 0.9 * _unit(rng.normal(size=(1, 16)))[0])
            names.append(f"t{i}{'ab'[j]}")
    return names, _unit(np.stack(rows))


def test_csls_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng.normal(size=(9, 5)))
    sims = vecs @ vecs.T
    for k in (1, 3, 8, 50):  # 50: capped at n - 1
        want = np.array(_csls_bruteforce(sims.tolist(), k))
        np.testing.assert_allclose(csls_matrix(sims, k), want, atol=1e-12)
    assert neighbourhood_radius(np.ones((1, 1)), 3).tolist() == [0.0]
    with pytest.raises(FuteError, match="k >= 1"):
        csls_matrix(sims, 0)
    with pytest.raises(FuteError, match="square"):
        neighbourhood_radius(sims[:3], 2)


def test_csls_stops_a_hub_from_being_everyones_nearest() -> None:
    names, vecs = _hub_and_pairs()
    sims = vecs @ vecs.T

    def nearest(m: np.ndarray) -> list[str]:
        masked = np.where(np.eye(len(names), dtype=bool), -np.inf, m)
        return [names[int(j)] for j in masked.argmax(axis=1)]

    by_cos, by_csls = nearest(sims), nearest(csls_matrix(sims, 2))
    hub_cos = sum(1 for i, n in enumerate(by_cos) if i and n == "hub")
    hub_csls = sum(1 for i, n in enumerate(by_csls) if i and n == "hub")
    assert hub_cos >= 3 and hub_csls < hub_cos  # seeded: 3 of 6 by cosine, 1 by CSLS
    # each demoted task now finds its own pair
    for i, name in enumerate(names[1:], start=1):
        if by_cos[i] == "hub" and by_csls[i] != "hub":
            assert by_csls[i][:2] == name[:2]


def test_cli_similarity_csls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names, vecs = _hub_and_pairs()
    space = EmbeddingSpace("m", "h", "fim", "{}", vecs.shape[1])
    files = []
    for name, v in zip(names, vecs, strict=True):
        files.append(str(tmp_path / f"{name}.safetensors"))
        save_embedding(TaskEmbedding(v.astype(np.float32), space, TaskInfo(name)), files[-1])
    out_csv = tmp_path / "csls.csv"
    assert main(["similarity", *files, "--csls", "2", "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "CSLS (k=2)" in printed
    with open(out_csv, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    got = np.array([[float(x) for x in row[1:]] for row in rows[1:]])
    sims = vecs.astype(np.float32).astype(np.float64) @ vecs.astype(np.float32).astype(np.float64).T
    np.testing.assert_allclose(got, csls_matrix(sims, 2), atol=1e-5)
    assert main(["similarity", *files, "--csls", "0"]) == 2
    assert "k >= 1" in capsys.readouterr().err
