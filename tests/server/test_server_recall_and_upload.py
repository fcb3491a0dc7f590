"""Approximate backends against exact search; uploading fute TaskEmbeddings; the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from kit import unit
from server_testkit import make_tasks

from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
from fute.space import EmbeddingSpace
from fute_client import TaskSearchClient
from fute_client.errors import FailedPreconditionError
from server.__main__ import main as server_main
from server.app import TaskSearchServer
from server.cli import register
from server.config import IndexParams
from server.embedding_upload import identity_of, upload_embeddings
from server.store.recall import clustered_vectors, measure_recall


@pytest.mark.parametrize("backend", ["ivf", "hnsw"])
def test_approximate_backends_have_high_recall(backend: str) -> None:
    data = clustered_vectors(3100, 32, clusters=30, seed=2)
    report = measure_recall(backend, data[:3000], data[3000:], 10, IndexParams(ivf_nlist=64, ivf_nprobe=16))  # type: ignore[arg-type]
    assert report.recall >= 0.9, report
    exact = measure_recall("flat", data[:3000], data[3000:], 10, IndexParams())
    assert exact.recall == 1.0


SPACE = EmbeddingSpace(surrogate_name="MiniLM", surrogate_hash="f" * 64, method="fim", settings="{}", dim=8)


def _emb(name: str, seed: int, space: EmbeddingSpace = SPACE) -> TaskEmbedding:
    vec = np.random.default_rng(seed).normal(size=space.dim).astype(np.float32)
    return TaskEmbedding(
        vector=vec,
        space=space,
        task=TaskInfo(name=name, kind="model", task_type="sentiment", source="/m/" + name, tags=("en",)),
    )


def test_upload_task_embeddings_checks_the_space(client: TaskSearchClient) -> None:
    created = client.create_space("fim", 8, identity=identity_of(SPACE))
    assert created.space_key == SPACE.key
    embs = [_emb(f"e{i}", i) for i in range(5)]
    assert upload_embeddings(client, "fim", embs).upserted == 5
    t = client.get("fim", ["e2"], with_vectors=True)[0]
    assert (t.kind, t.task_type, t.source.model, t.tags) == ("model", "sentiment", "/m/e2", ("en",))
    np.testing.assert_array_equal(t.vector, embs[2].vector)
    other = EmbeddingSpace(
        surrogate_name="MiniLM", surrogate_hash="0" * 64, method="fim", settings="{}", dim=8
    )
    with pytest.raises(FailedPreconditionError, match="surrogate_hash"):
        upload_embeddings(client, "fim", [_emb("x", 9, other)])


def test_register_adds_the_three_subcommands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["serve", "--store", "/tmp/x", "--port", "0"])
    assert callable(args.func) and args.port == 0
    assert parser.parse_args(["search", "--space", "s", "--id", "a"]).k == 10
    assert parser.parse_args(["rank", "--space", "s", "--id", "a"]).k == 0


def test_cli_search_and_rank(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks, vectors = make_tasks(30, 8)
    client.create_space("s", 8)
    client.upsert("s", tasks)
    server = f"127.0.0.1:{running_server[1]}"
    np.save(tmp_path / "q.npy", vectors[3])
    assert (
        server_main(
            [
                "search",
                "--server",
                server,
                "--space",
                "s",
                "--vector",
                str(tmp_path / "q.npy"),
                "-k",
                "4",
                "--json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)[0]
    expected = np.argsort(-(unit(vectors) @ unit(vectors[3])))[:4]
    assert [r["id"] for r in rows] == [tasks[i].id for i in expected]
    assert (
        server_main(
            ["rank", "--server", server, "--space", "s", "--id", "task-0003", "--kind", "model", "--json"]
        )
        == 0
    )
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    assert "task-0003" not in {r["id"] for r in ranking}
    assert {r["kind"] for r in ranking} == {"model"} and len(ranking) == 15 - (
        1 if tasks[3].kind == "model" else 0
    )
    save_embedding(_emb("probe", 1, EmbeddingSpace("m", "h", "fim", "{}", 8)), tmp_path / "e.safetensors")
    search_emb = [
        "search",
        "--server",
        server,
        "--space",
        "s",
        "--embedding",
        str(tmp_path / "e.safetensors"),
    ]
    # An embedding file claims its space; a space of plain vectors cannot vouch for it.
    assert server_main([*search_emb, "-k", "2"]) == 2
    assert "without an embedding-space identity" in capsys.readouterr().err
    client.create_space("ident", 8, identity=identity_of(EmbeddingSpace("m", "h", "fim", "{}", 8)))
    client.upsert("ident", tasks)
    assert server_main([*search_emb[:4], "ident", *search_emb[5:], "-k", "2"]) == 0
    assert "rank" in capsys.readouterr().out
    assert server_main(["search", "--server", server, "--space", "nope", "--id", "x"]) == 2
    assert "NOT_FOUND" in capsys.readouterr().err
