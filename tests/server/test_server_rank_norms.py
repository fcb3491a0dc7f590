"""A transfer predictor that reads vector norms gets them from the store: the candidates'
raw stored vectors and the target's own, for a vector target and a stored one alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fute.transfer_prediction import FEATURES, candidate_features, fit_predictor, load_predictor
from fute_client.types import Task
from server.config import StoreConfig
from server.store import TaskStore


def _norm_reading_predictor(path: Path) -> Path:
    """A predictor fit on synthetic pairs where a target long against its candidates is
    helped less: its norm feature has a non-zero weight."""
    rng = np.random.default_rng(11)
    xs, ys = [], []
    for _ in range(16):
        norms = rng.uniform(1.0, 3.0, size=8)
        target = float(np.exp(rng.normal(0, 0.4)) * norms.mean())
        x = candidate_features(rng.uniform(0.1, 0.9, size=8), norms=norms, target_norm=target)
        xs.append(x)
        rel = x[0, FEATURES.index("target_rel_log_norm")]
        ys.append(0.02 * x[:, 0] - 0.08 * rel + rng.normal(0, 0.01, size=8))
    model = fit_predictor(
        np.vstack(xs), np.concatenate(ys), use=("z_cosine", "cosine", "target_rel_log_norm")
    )
    assert model.reads_norms
    path.write_text(model.to_json())
    return path


def test_rankings_read_stored_norms_and_the_target_norm(tmp_path: Path) -> None:
    predictor_file = _norm_reading_predictor(tmp_path / "p.json")
    predictor = load_predictor(predictor_file)
    rng = np.random.default_rng(2)
    # Vectors of very different lengths: cosine ignores them, the predictor must not.
    vectors = (rng.normal(size=(10, 6)) * rng.uniform(0.5, 4.0, size=(10, 1))).astype(np.float32)
    config = StoreConfig(path=tmp_path / "store", device="cpu", transfer_predictor=predictor_file)
    with TaskStore(config) as store:
        store.create_space("s", 6)
        store.upsert("s", [Task(id=f"t{i}", vector=v, kind="dataset") for i, v in enumerate(vectors)])
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        for scale in (0.3, 5.0):  # the same direction, a short and a long target
            target = (rng.normal(size=6) * scale).astype(np.float32)
            cos = unit @ (target / np.linalg.norm(target))
            by_cos = np.argsort(-cos, kind="stable")
            ranked = store.rank_sources("s", target, order="similarity")
            assert [h.id for h in ranked] == [f"t{i}" for i in by_cos]
            gain, p_help = predictor.predict_cosines(
                cos[by_cos], None, norms[by_cos], float(np.linalg.norm(target.astype(np.float64)))
            )
            np.testing.assert_allclose([h.predicted_gain for h in ranked], gain, atol=1e-6)
            np.testing.assert_allclose([h.p_help for h in ranked], p_help, atol=1e-6)
        # A stored target: its own stored vector gives the target norm (and it is no candidate).
        ranked = store.rank_sources("s", "t0", order="similarity")
        others = np.arange(1, 10)
        cos = unit[others] @ unit[0]
        by_cos = others[np.argsort(-cos, kind="stable")]
        gain, _ = predictor.predict_cosines(np.sort(cos)[::-1], None, norms[by_cos], float(norms[0]))
        np.testing.assert_allclose([h.predicted_gain for h in ranked], gain, atol=1e-6)
        # The norm moves P(help): a longer copy of the same target is predicted to gain less.
        short = store.rank_sources("s", vectors[0] * 0.25, order="similarity")
        long = store.rank_sources("s", vectors[0] * 4.0, order="similarity")
        assert [h.id for h in short] == [h.id for h in long]
        assert all(a.p_help > b.p_help for a, b in zip(short, long, strict=True))


def test_norms_follow_replacements_deletions_and_restarts(tmp_path: Path) -> None:
    """The index keeps each vector's norm: a replaced vector's new norm, a deleted task's
    absence and a restart (rebuilt from SQLite) all reach the predictions."""
    predictor_file = _norm_reading_predictor(tmp_path / "p.json")
    predictor = load_predictor(predictor_file)
    rng = np.random.default_rng(4)
    vectors = (rng.normal(size=(8, 6)) * rng.uniform(0.5, 4.0, size=(8, 1))).astype(np.float32)
    target = rng.normal(size=6).astype(np.float32)
    config = StoreConfig(path=tmp_path / "store", device="cpu", transfer_predictor=predictor_file)

    def check(store: TaskStore, stored: dict[str, np.ndarray]) -> None:
        names = sorted(stored)
        mat = np.stack([stored[n] for n in names]).astype(np.float64)
        cos = (mat / np.linalg.norm(mat, axis=1, keepdims=True)) @ (target / np.linalg.norm(target))
        by_cos = np.argsort(-cos, kind="stable")
        ranked = store.rank_sources("s", target, order="similarity")
        assert [h.id for h in ranked] == [names[i] for i in by_cos]
        gain, _ = predictor.predict_cosines(
            cos[by_cos], None, np.linalg.norm(mat, axis=1)[by_cos], float(np.linalg.norm(target))
        )
        np.testing.assert_allclose([h.predicted_gain for h in ranked], gain, atol=1e-6)

    stored = {f"t{i}": v for i, v in enumerate(vectors)}
    with TaskStore(config) as store:
        store.create_space("s", 6)
        store.upsert("s", [Task(id=k, vector=v, kind="dataset") for k, v in stored.items()])
        check(store, stored)
        stored["t1"] = stored["t1"] * 6.0  # same direction, another norm
        store.upsert("s", [Task(id="t1", vector=stored["t1"], kind="dataset")])
        store.delete("s", ids=["t2"])
        del stored["t2"]
        check(store, stored)
    with TaskStore(config) as store:  # a restart rebuilds the index from SQLite
        check(store, stored)
