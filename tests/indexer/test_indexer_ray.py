"""Ray in local mode runs the same units as the local pool and gives the same embeddings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from indexer_testkit import run_in_process, store_tasks, text_manifest

from fute.embedding import load_embedding

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'ray>=2.9')"
)


@needs_ray
def test_ray_local_matches_the_local_pool(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    # Same thread count on both sides: float sums depend on how torch splits the work.
    pool = run_in_process(manifest, tmp_path / "pool-state", tmp_path / "pool-store", workers=1, threads=1)
    ray = run_in_process(
        manifest, tmp_path / "ray-state", tmp_path / "ray-store", backend="ray", workers=1, threads=1
    )
    assert not pool.failed and not ray.failed
    assert ray.backend == "ray" and ray.counts()["computed"] == 2
    assert {r.key for r in pool.units} == {r.key for r in ray.units}
    assert all(r.worker and r.worker.split(":")[-1] != "" for r in ray.units)
    for rec in pool.units:
        a = load_embedding(tmp_path / "pool-state" / "units" / f"{rec.key}.safetensors")
        b = load_embedding(tmp_path / "ray-state" / "units" / f"{rec.key}.safetensors")
        assert a.space == b.space and a.task == b.task
        np.testing.assert_allclose(a.vector, b.vector, rtol=0, atol=1e-6)
    ids = sorted(t.id for t in store_tasks(tmp_path / "ray-store", "minilm-text"))
    assert ids == ["sms_spam", "trec_coarse"]


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from indexer.errors import IndexerError
    from indexer.ray_backend import import_ray

    real_import = builtins.__import__

    def no_ray(name: str, *args: object, **kwargs: object) -> object:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(IndexerError, match="--ray needs the 'ray' package"):
        import_ray()
