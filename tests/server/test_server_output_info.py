"""Models that say nothing (issue 16, item 4) in the store: a model task's output
information is stored with it, travels over gRPC, comes back in search results, survives
a restart, is covered by the row checksum, arrives from embedding files and the indexer,
and `fute search`/`fute rank` flag a model whose outputs say little."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fute.cli import main as fute_main
from fute.embedding import TaskEmbedding, TaskInfo, load_embedding, save_embedding
from fute.informativeness import LOW_ENTROPY_THRESHOLD, OutputInformation, output_information
from fute.space import EmbeddingSpace
from fute_client import TaskSearchClient
from fute_client.contract import TaskSearchAPI
from fute_client.types import OutputInfo, Task
from indexer.sinks import store_sink
from server.app import TaskSearchServer
from server.config import StoreConfig
from server.embedding_upload import identity_of, output_info_of, upload_embeddings
from server.store import StoreCorruptedError, TaskStore

DIM = 8
SAYS_LITTLE = OutputInfo(
    n=100, n_answers=2, answer_entropy=0.0, majority_share=1.0, majority_index=1, spread=0.01
)
SAYS_MUCH = OutputInfo(
    n=200,
    n_answers=10,
    answer_entropy=0.91,
    majority_share=0.2,
    majority_index=3,
    spread=0.4,
    source_mi=0.25,
    source_nmi=0.08,
)


def _vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=DIM).astype(np.float32)


def _tasks() -> list[Task]:
    return [
        Task(id="lexicon", vector=_vec(1), kind="model", label_names=("neg", "pos"), output_info=SAYS_LITTLE),
        Task(id="tagger", vector=_vec(2), kind="model", output_info=SAYS_MUCH),
        Task(id="data", vector=_vec(3), kind="dataset"),
        Task(id="old-model", vector=_vec(4), kind="model"),  # stored without it
    ]


def test_output_info_round_trips_and_rides_on_hits(api: TaskSearchAPI) -> None:
    api.create_space("s", DIM, keep_neighbours=True)
    assert api.upsert("s", _tasks()).failed == 0
    got = {t.id: t.output_info for t in api.get("s", ["lexicon", "tagger", "data", "old-model"])}
    assert got == {"lexicon": SAYS_LITTLE, "tagger": SAYS_MUCH, "data": None, "old-model": None}
    (hits,) = api.search("s", [_vec(9)], k=4)
    assert {h.id: h.task.output_info for h in hits} == got
    ranking = api.rank_sources("s", _vec(9), similarity="csls", csls_k=2)
    assert {h.id: h.task.output_info for h in ranking} == got
    # a replacement without it clears it
    api.upsert("s", [Task(id="tagger", vector=_vec(2), kind="model")])
    assert api.get("s", ["tagger"])[0].output_info is None


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (Task(id="d", vector=_vec(1), kind="dataset", output_info=SAYS_MUCH), "describes a model's outputs"),
        (
            Task(id="m", vector=_vec(1), kind="model", output_info=OutputInfo(10, 2, 1.5, 0.5, 0, 0.1)),
            r"output_info.answer_entropy must be in \[0, 1\], got 1.5",
        ),
        (
            Task(id="m", vector=_vec(1), kind="model", output_info=OutputInfo(10, 2, 0.5, 0.5, 2, 0.1)),
            r"output_info.majority_index must be in \[0, 2\), got 2",
        ),
        (
            Task(id="m", vector=_vec(1), kind="model", output_info=OutputInfo(10, 2, 0.5, 0.5, 0, 0.1, 0.3)),
            "source_mi and source_nmi are set together",
        ),
        (
            Task(
                id="m", vector=_vec(1), kind="model", output_info=OutputInfo(10, 2, 0.5, float("nan"), 0, 0.1)
            ),
            r"output_info.majority_share must be in \[0, 1\], got nan",
        ),
    ],
)
def test_bad_output_info_is_refused_per_item_naming_the_field(
    api: TaskSearchAPI, task: Task, message: str
) -> None:
    api.create_space("s", DIM)
    good = Task(id="ok", vector=_vec(5), kind="model", output_info=SAYS_LITTLE)
    result = api.upsert("s", [task, good])
    assert (result.upserted, result.failed) == (1, 1)
    (error,) = result.errors
    assert error.code == "INVALID_ARGUMENT"
    assert re.search(message, error.message), error.message
    assert [t.id for t in api.iter_tasks("s")] == ["ok"]


def test_output_info_survives_a_restart_and_is_checksummed(tmp_path: Path) -> None:
    config = StoreConfig(path=tmp_path / "s", device="cpu")
    with TaskStore(config) as store:
        store.create_space("s", DIM)
        store.upsert("s", _tasks())
    with TaskStore(config) as store:
        assert store.get("s", ["lexicon"])[0].output_info == SAYS_LITTLE
    conn = sqlite3.connect(tmp_path / "s" / "tasks.sqlite")
    stored = conn.execute("SELECT output_info FROM tasks WHERE id = 'lexicon'").fetchone()[0]
    assert json.loads(stored)["answer_entropy"] == 0.0
    conn.execute("UPDATE tasks SET output_info = ? WHERE id = 'lexicon'", (stored.replace("0.0", "0.9", 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorruptedError, match=r"task 'lexicon'.*metadata checksum"):
        TaskStore(config)


def _model_embedding(name: str, seed: int, preds: np.ndarray, space: EmbeddingSpace) -> TaskEmbedding:
    info = output_information(preds, "class")
    task = TaskInfo(name=name, kind="model", label_names=("ham", "spam"), output_info=info.to_pairs())
    return TaskEmbedding(vector=_vec(seed), space=space, task=task)


def _space() -> EmbeddingSpace:
    return EmbeddingSpace("MiniLM", "ab" * 8, "fim", '{"epochs":1}', DIM, corpus="c" * 16)


def test_uploads_from_files_and_the_indexer_sink_store_it(tmp_path: Path) -> None:
    space = _space()
    one_answer = np.tile([0.1, 0.9], (50, 1))  # the same answer for all of U
    varied = np.random.default_rng(0).dirichlet([1, 1], size=50)
    path = tmp_path / "m.safetensors"
    save_embedding(_model_embedding("constant", 1, one_answer, space), path)
    from_file = load_embedding(path)
    want = output_info_of(OutputInformation.from_pairs(from_file.task.output_info))
    assert want is not None and want.answer_entropy == 0.0
    with TaskStore(StoreConfig(path=tmp_path / "store", device="cpu")) as store:
        store.create_space("fim", DIM, identity=identity_of(space))
        upload_embeddings(store, "fim", [from_file])
        assert store.get("fim", ["constant"])[0].output_info == want
    sink = store_sink(tmp_path / "indexed")
    try:
        emb = _model_embedding("varied", 2, varied, space)
        sink.upload("fim", "varied", emb)
        stored = sink.api.get("fim", ["varied"])[0].output_info
        assert stored is not None and stored.answer_entropy > LOW_ENTROPY_THRESHOLD
        assert stored == output_info_of(OutputInformation.from_pairs(emb.task.output_info))
    finally:
        sink.close()


def test_cli_flags_models_that_say_little(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client.create_space("s", DIM)
    client.upsert("s", _tasks())
    server = f"127.0.0.1:{running_server[1]}"
    base = ["--server", server, "--space", "s", "--id", "data"]
    assert fute_main(["search", *base, "-k", "3"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[-2] if line.endswith("(!)") else line.split()[-1]: line for line in out.splitlines()[2:5]
    }
    assert rows["lexicon"].endswith("lexicon  (!)")
    assert not rows["tagger"].endswith("(!)")
    assert "(!) lexicon: its outputs on U say little (answer entropy 0.00, 100% 'pos'" in out
    assert f"answer entropy below {LOW_ENTROPY_THRESHOLD}" in out
    assert "(!) tagger" not in out
    assert fute_main(["rank", *base, "--kind", "any", "--json"]) == 0
    ranking = {r["id"]: r for r in json.loads(capsys.readouterr().out)["ranking"]}
    assert ranking["lexicon"]["says_little"] is True
    assert ranking["lexicon"]["output_info"]["majority_share"] == 1.0
    assert ranking["tagger"]["says_little"] is False
    assert "output_info" not in ranking["old-model"]


def test_cli_csls_options(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client.create_space("s", DIM, keep_neighbours=True)
    client.upsert("s", [Task(id=f"t{i}", vector=_vec(10 + i), kind="dataset") for i in range(8)])
    base = ["--server", f"127.0.0.1:{running_server[1]}", "--space", "s", "--id", "t0"]
    assert fute_main(["search", *base, "-k", "3", "--similarity", "csls", "--csls-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["rank", "csls"]
    want = client.search("s", ["t0"], k=3, similarity="csls", csls_k=3)[0]
    assert [line.split()[-1] for line in lines[2:5]] == [h.id for h in want]
    assert [float(line.split()[1]) for line in lines[2:5]] == pytest.approx([h.score for h in want], abs=1e-4)
    assert fute_main(["rank", *base, "--similarity", "csls", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["ranking"]
    assert [r["id"] for r in rows] == [h.id for h in client.rank_sources("s", "t0", similarity="csls")]
    for bad, message in (
        (["--similarity", "csls", "--csls-k", "0"], "csls_k must be in [1, 50], got 0"),
        (["--csls-k", "4"], "csls_k applies to similarity 'csls' only"),
        (["--similarity", "csls", "--csls-k", "-1"], "csls_k must be a positive integer, got -1"),
    ):
        assert fute_main(["rank", *base, *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and "INVALID_ARGUMENT" in err
        assert len(err.strip().splitlines()) == 1


def test_the_contract_and_fute_records_of_output_information_stay_field_for_field() -> None:
    """The conversions copy by field name: a field added to one record must be added to both."""
    from dataclasses import fields

    from fute.informativeness import OutputInformation
    from fute_client.types import OutputInfo

    assert [f.name for f in fields(OutputInfo)] == [f.name for f in fields(OutputInformation)]
