"""Whole runs into a real TaskStore: idempotent reruns, changed inputs, failure isolation, models, FIM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from indexer_testkit import run_in_process, store_tasks, text_manifest, unit_keys, write_manifest

from fute.embedding import load_embedding
from indexer.state import StateDir

TASKS3 = ("sms_spam", "trec_coarse", "subjectivity")


def _computed(state: Path, run_id: str) -> list[str]:
    with StateDir(state) as st:
        return [k for _, k, _ in st.events(run_id, "computed")]


def test_run_indexes_every_unit_and_rerun_recomputes_nothing(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, TASKS3)
    state, store = tmp_path / "state", tmp_path / "store"
    first = run_in_process(manifest, state, store)
    assert first.counts()["computed"] == 3 and not first.failed
    tasks = {t.id: t for t in store_tasks(store, "minilm-text")}
    assert sorted(tasks) == sorted(TASKS3)
    # The index holds exactly the vectors kept on disk, with the manifest's metadata.
    for rec in first.units:
        emb = load_embedding(state / "units" / f"{rec.key}.safetensors")
        vec = tasks[rec.task].vector
        assert vec is not None and np.array_equal(vec, emb.vector)
        assert tasks[rec.task].task_type == "suite" and tasks[rec.task].tags == ("test",)
    second = run_in_process(manifest, state, store)
    assert second.counts() | {"total": 0} == {
        "computed": 0,
        "skipped": 3,
        "failed": 0,
        "upload_failed": 0,
        "planned": 0,
        "uploaded": 3,
        "total": 0,
    }
    assert _computed(state, second.run_id) == []
    assert len(store_tasks(store, "minilm-text")) == 3
    # The JSON report of each run is kept in the state dir.
    saved = json.loads((state / "reports" / f"{second.run_id}.json").read_text())
    assert saved["counts"]["skipped"] == 3 and len(saved["units"]) == 3


def test_changed_input_recomputes_only_its_unit(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, TASKS3)
    state, store = tmp_path / "state", tmp_path / "store"
    first = run_in_process(manifest, state, store)
    old = {r.task: r.key for r in first.units}
    data = tmp_path / "data" / "trec_coarse.jsonl"
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[1:]))  # drop one example
    second = run_in_process(manifest, state, store)
    status = {r.task: r.status for r in second.units}
    assert status == {"sms_spam": "skipped", "trec_coarse": "computed", "subjectivity": "skipped"}
    new_key = next(r.key for r in second.units if r.task == "trec_coarse")
    assert new_key != old["trec_coarse"]
    assert _computed(state, second.run_id) == [new_key]
    # The index still holds one task per entry, the changed one replaced by id.
    tasks = {t.id: t for t in store_tasks(store, "minilm-text")}
    assert sorted(tasks) == sorted(TASKS3)
    vec = tasks["trec_coarse"].vector
    assert vec is not None
    assert np.array_equal(vec, load_embedding(state / "units" / f"{new_key}.safetensors").vector)


def test_retag_reuploads_without_recomputing(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, ("sms_spam",))
    state, store = tmp_path / "state", tmp_path / "store"
    run_in_process(manifest, state, store)
    data = yaml.safe_load(manifest.read_text())
    data["datasets"][0]["tags"] = ["spam"]
    write_manifest(manifest, data)
    second = run_in_process(manifest, state, store)
    assert second.units[0].status == "skipped" and _computed(state, second.run_id) == []
    (task,) = store_tasks(store, "minilm-text")
    assert task.tags == ("spam", "test")


def test_broken_dataset_fails_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fute.cli import main

    manifest = text_manifest(tmp_path, TASKS3)
    broken = tmp_path / "data" / "trec_coarse.jsonl"
    lines = broken.read_text().splitlines(keepends=True)
    broken.write_text("".join(lines[:5]) + "{not json\n" + "".join(lines[5:]))
    state, store = tmp_path / "state", tmp_path / "store"
    code = main(
        [
            "index",
            str(manifest),
            "--store",
            str(store),
            "--state",
            str(state),
            "--workers",
            "0",
            "--report",
            str(tmp_path / "report.json"),
            "-q",
        ]
    )
    assert code == 1
    out = capsys.readouterr().out
    assert "FAILED trec_coarse @ minilm-text: DataError: " in out and "not valid JSON" in out
    report = json.loads((tmp_path / "report.json").read_text())
    status = {u["task"]: u["status"] for u in report["units"]}
    assert status == {"sms_spam": "computed", "trec_coarse": "failed", "subjectivity": "computed"}
    (failed,) = [u for u in report["units"] if u["status"] == "failed"]
    assert "trec_coarse.jsonl:6" in failed["error"]  # the data error names file and line
    assert sorted(t.id for t in store_tasks(store, "minilm-text")) == ["sms_spam", "subjectivity"]
    with StateDir(state) as st:
        assert st.status(failed["key"]) == "failed"
    # Fixed data: the rerun computes only the unit that failed.
    broken.write_text("".join(lines))
    assert (
        main(["index", str(manifest), "--store", str(store), "--state", str(state), "--workers", "0", "-q"])
        == 0
    )
    assert len(unit_keys(state)) == 3
    assert len(store_tasks(store, "minilm-text")) == 3


def test_missing_file_fails_alone(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    (tmp_path / "data" / "sms_spam.jsonl").unlink()
    report = run_in_process(manifest, tmp_path / "state", tmp_path / "store")
    status = {r.task: (r.status, r.error or "") for r in report.units}
    assert status["sms_spam"][0] == "failed" and "no such data file" in status["sms_spam"][1]
    assert status["trec_coarse"][0] == "computed"


def test_model_entry_is_embedded_on_the_corpus(tmp_path: Path) -> None:
    pytest.importorskip("vaderSentiment", reason="callable:vader needs vaderSentiment")
    manifest = text_manifest(
        tmp_path,
        ("sms_spam",),
        models=[
            {"name": "vader", "adapter": "callable:vader-probs", "task_type": "sentiment"},
        ],
    )
    report = run_in_process(
        manifest, tmp_path / "state", tmp_path / "store", prediction_cache=tmp_path / "predictions"
    )
    assert not report.failed, report.failed
    tasks = {t.id: t for t in store_tasks(tmp_path / "store", "minilm-text")}
    assert tasks["vader"].kind == "model" and tasks["sms_spam"].kind == "dataset"
    assert tasks["vader"].label_names == ("negative", "neutral", "positive")
    model_rec = next(r for r in report.units if r.task == "vader")
    emb = load_embedding(tmp_path / "state" / "units" / f"{model_rec.key}.safetensors")
    assert emb.task.kind == "model" and emb.task.n_examples == 32  # corpus size from the manifest
    assert list((tmp_path / "predictions").glob("*.npz"))  # predictions cached for reruns


@pytest.mark.slow
def test_fim_space_with_tiny_settings(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, ("sms_spam",))
    data = yaml.safe_load(manifest.read_text())
    data["spaces"].append(
        {"name": "minilm-fim", "method": "fim", "settings": {"dim": 1024, "max_examples": 32, "epochs": 0}}
    )
    write_manifest(manifest, data)
    report = run_in_process(manifest, tmp_path / "state", tmp_path / "store")
    assert not report.failed and report.counts()["computed"] == 2
    (task,) = store_tasks(tmp_path / "store", "minilm-fim")
    assert task.vector is not None and task.vector.shape == (1024,) and np.any(task.vector)


def test_server_target_gets_the_same_index_as_a_store(tmp_path: Path) -> None:
    from fute_client import TaskSearchClient
    from indexer.manifest import load_manifest
    from indexer.runner import RunOptions, run_job
    from indexer.sinks import server_sink
    from server.app import create_server
    from server.config import ServerConfig, StoreConfig

    manifest = text_manifest(tmp_path, ("sms_spam", "trec_coarse"))
    server, port = create_server(
        ServerConfig(
            store=StoreConfig(path=tmp_path / "served", device="cpu"),
            host="127.0.0.1",
            port=0,
            workers=2,
            grace_s=1.0,
        )
    )
    try:
        sink = server_sink(f"127.0.0.1:{port}", timeout=10.0)
        with StateDir(tmp_path / "state") as st:
            report = run_job(
                load_manifest(manifest), st, sink, RunOptions(workers=0, threads=2, progress=False)
            )
            again = run_job(
                load_manifest(manifest), st, sink, RunOptions(workers=0, threads=2, progress=False)
            )
        sink.close()
        assert report.counts()["uploaded"] == 2 and again.counts()["computed"] == 0
        with TaskSearchClient(f"127.0.0.1:{port}", timeout=10.0) as client:
            served = {t.id: t for t in client.iter_tasks("minilm-text", with_vectors=True)}
            space = client.describe_space("minilm-text")
    finally:
        server.stop(1.0)
    assert sorted(served) == ["sms_spam", "trec_coarse"]
    assert space.identity is not None and space.identity.method == "text"
    for rec in report.units:
        vec = served[rec.task].vector
        assert vec is not None
        assert np.array_equal(
            vec, load_embedding(tmp_path / "state" / "units" / f"{rec.key}.safetensors").vector
        )


def test_a_space_of_another_identity_is_refused_before_computing(tmp_path: Path) -> None:
    from fute_client.types import SpaceIdentity
    from server.config import StoreConfig
    from server.store.task_store import TaskStore

    manifest = text_manifest(tmp_path, ("sms_spam",))
    store = tmp_path / "store"
    # Someone created the space for another method: the index must refuse these vectors.
    with TaskStore(StoreConfig(path=store, device="cpu")) as st:
        st.create_space(
            "minilm-text",
            384,
            identity=SpaceIdentity(
                surrogate_name="x",
                surrogate_hash="0" * 16,
                method="fim",
                settings="{}",
                reduction="none",
                reduction_seed=0,
                corpus="",
                algorithm_version=1,
            ),
        )
    first = run_in_process(manifest, tmp_path / "state", store)
    (rec,) = first.units
    assert rec.status == "failed" and not rec.uploaded
    # One line naming each differing field, not two JSON dumps.
    assert "different embedding spaces" in (rec.error or "") and "method: fim != text" in (rec.error or "")
    assert _computed(tmp_path / "state", first.run_id) == []  # refused before any work
    assert not (tmp_path / "state" / "units" / f"{rec.key}.safetensors").exists()
    with TaskStore(StoreConfig(path=store, device="cpu")) as st:
        st.delete_space("minilm-text")
    second = run_in_process(manifest, tmp_path / "state", store)
    assert second.units[0].status == "computed" and second.units[0].uploaded
    assert [t.id for t in store_tasks(store, "minilm-text")] == ["sms_spam"]


def test_identical_entries_compute_once_and_index_twice(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path, ("sms_spam",))
    data = yaml.safe_load(manifest.read_text())
    data["datasets"].append({**data["datasets"][0], "name": "sms_spam_copy"})
    write_manifest(manifest, data)
    report = run_in_process(manifest, tmp_path / "state", tmp_path / "store")
    assert len({r.key for r in report.units}) == 1
    assert len(_computed(tmp_path / "state", report.run_id)) == 1
    assert sorted(t.id for t in store_tasks(tmp_path / "store", "minilm-text")) == [
        "sms_spam",
        "sms_spam_copy",
    ]
