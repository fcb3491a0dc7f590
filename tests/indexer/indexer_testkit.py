"""Helpers of the indexer tests: small real suite data in tmp dirs, manifests, runs, store reads."""

from __future__ import annotations

import gzip
from pathlib import Path

import yaml

from fute_client.types import Task
from indexer.manifest import Manifest, load_manifest
from indexer.report import RunReport
from indexer.runner import RunOptions, run_job
from indexer.sinks import store_sink
from indexer.state import StateDir
from server.config import StoreConfig
from server.store.task_store import TaskStore

ROOT = Path(__file__).resolve().parents[2]
SUITE_DATA = ROOT / "benchmarks" / "suite" / "data"
#: Real suite tasks used as datasets (single texts and pairs, classes and scores).
TASKS = ("sms_spam", "trec_coarse", "subjectivity", "vader_tweets", "brown_genre", "chatterbot_topic")


def copy_task(name: str, dest: Path, n: int) -> Path:
    """The first ``n`` training rows of suite task ``name`` as ``dest/name.jsonl`` (small, fast units)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{name}.jsonl"
    with gzip.open(SUITE_DATA / name / "train.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [line for _, line in zip(range(n), f, strict=False)]
    out.write_text("".join(lines), encoding="utf-8")
    return out


def write_manifest(path: Path, data: dict[str, object]) -> Path:
    """Write ``data`` as a YAML manifest."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def text_manifest(
    tmp: Path,
    tasks: tuple[str, ...],
    *,
    n: int = 48,
    max_examples: int = 48,
    models: list[dict[str, object]] | None = None,
) -> Path:
    """A manifest of ``tasks`` (copied, ``n`` rows each) in one ``text`` space."""
    data_dir = tmp / "data"
    datasets = [
        {"name": t, "path": str(copy_task(t, data_dir, n).relative_to(tmp)), "task_type": "suite"}
        for t in tasks
    ]
    manifest: dict[str, object] = {
        "tags": ["test"],
        "corpus": {"size": 32},
        "spaces": [{"name": "minilm-text", "method": "text", "settings": {"max_examples": max_examples}}],
        "datasets": datasets,
    }
    if models:
        manifest["models"] = models
    return write_manifest(tmp / "jobs.yaml", manifest)


def run_in_process(manifest: Path | Manifest, state: Path, store: Path, **options: object) -> RunReport:
    """One run with units computed in this process (``workers=0``: fast, shares the loaded surrogate)."""
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    opts = RunOptions(**{"workers": 0, "threads": 2, "progress": False, **options})  # type: ignore[arg-type]
    sink = store_sink(store)
    try:
        with StateDir(state) as st:
            return run_job(m, st, sink, opts)
    finally:
        sink.close()


def store_tasks(store: Path, space: str) -> list[Task]:
    """Every task of ``space`` in the store at ``store`` (with vectors), read and closed again."""
    with TaskStore(StoreConfig(path=store, device="cpu")) as st:
        return list(st.iter_tasks(space, with_vectors=True))


def unit_keys(state: Path) -> set[str]:
    """Keys of the unit files in a state dir."""
    return {p.name.removesuffix(".safetensors") for p in (state / "units").glob("*.safetensors")}
