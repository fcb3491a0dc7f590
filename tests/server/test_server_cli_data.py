"""The user's path over a real server: spaces, upload, identity on queries, rank --data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fute.cli import main as fute_main
from fute.embedding import TaskEmbedding, TaskInfo, load_embedding, save_embedding
from fute.methods import make_method
from fute.methods.from_space import method_for_space, space_settings
from fute.space import EmbeddingSpace, canonical_settings
from fute.surrogate import Surrogate
from fute_client import TaskSearchClient
from fute_client.errors import FailedPreconditionError
from server.app import TaskSearchServer
from server.embedding_upload import identity_of, task_of, upload_embeddings

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "suite" / "data"


def _space(**settings: object) -> EmbeddingSpace:
    base = {"estimator": "mean_sq", "epochs": 1, "transform": "log"}
    return EmbeddingSpace("MiniLM", "ab" * 8, "fim", canonical_settings({**base, **settings}), 8)


def _emb(name: str, seed: int, space: EmbeddingSpace, kind: str = "dataset") -> TaskEmbedding:
    vec = np.random.default_rng(seed).normal(size=space.dim).astype(np.float32)
    return TaskEmbedding(vector=vec, space=space, task=TaskInfo(name=name, kind=kind))  # type: ignore[arg-type]


def _saved(tmp_path: Path, n: int) -> list[Path]:
    """``n`` embedding files e0..e{n-1} of :func:`_space`, as ``fute embed`` writes them."""
    files = [tmp_path / f"e{i}.safetensors" for i in range(n)]
    for i, path in enumerate(files):
        save_embedding(_emb(f"e{i}", i, _space()), path)
    return files


def _address(running_server: tuple[TaskSearchServer, int]) -> str:
    return f"127.0.0.1:{running_server[1]}"


def test_queries_with_another_identity_are_refused_naming_each_field(client: TaskSearchClient) -> None:
    space = _space()
    client.create_space("fim", 8, identity=identity_of(space))
    upload_embeddings(client, "fim", [_emb(f"t{i}", i, space) for i in range(4)])
    query = np.ones(8, np.float32)
    other = identity_of(_space(estimator="batch_sq"))
    with pytest.raises(FailedPreconditionError, match="estimator: mean_sq != batch_sq"):
        client.search("fim", [query], k=2, expected_identity=other)
    with pytest.raises(FailedPreconditionError, match="estimator: mean_sq != batch_sq"):
        client.rank_sources("fim", query, expected_identity=other)
    # Its own identity is answered, and the same as without one.
    own = client.search("fim", [query], k=3, expected_identity=identity_of(space))
    assert [h.id for h in own[0]] == [h.id for h in client.search("fim", [query], k=3)[0]]
    assert len(client.rank_sources("fim", query, expected_identity=identity_of(space))) == 4


def test_cli_embedding_queries_carry_their_identity(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    space = _space()
    client.create_space("fim", 8, identity=identity_of(space))
    upload_embeddings(client, "fim", [_emb(f"t{i}", i, space) for i in range(4)])
    save_embedding(_emb("q", 9, _space(estimator="batch_sq")), tmp_path / "q.safetensors")
    server = _address(running_server)
    for command in ("search", "rank"):
        argv = [command, "--server", server, "--space", "fim", "--embedding", str(tmp_path / "q.safetensors")]
        assert fute_main(argv) == 2
        err = capsys.readouterr().err
        assert "FAILED_PRECONDITION" in err and "estimator: mean_sq != batch_sq" in err
        assert len(err.strip().splitlines()) == 1


def test_spaces_lists_the_flags_that_reproduce_each_recipe(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An older space: no transform key means the neutral value, which is not today's default.
    old = EmbeddingSpace("MiniLM", "ab" * 8, "fim", canonical_settings({"estimator": "batch_sq"}), 2048)
    client.create_space("old", 2048, identity=identity_of(old))
    client.create_space("plain", 4)
    assert fute_main(["spaces", "--server", _address(running_server)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("old"))
    assert "--method fim" in line and "--set estimator=batch_sq" in line
    assert "--set dim=2048" in line and "--set transform=none" in line
    assert "(plain vectors, no identity)" in next(x for x in out.splitlines() if x.startswith("plain"))
    assert fute_main(["spaces", "--server", _address(running_server), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["old"]["settings"]["transform"] == "none" and rows["old"]["settings"]["dim"] == 2048
    assert rows["old"]["settings"] == space_settings(old)


def test_spaces_of_a_store_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.config import StoreConfig
    from server.store import TaskStore

    with TaskStore(StoreConfig(path=tmp_path / "st", device="cpu")) as store:
        store.create_space("fim", 8, identity=identity_of(_space()))
        store.upsert("fim", [task_of(_emb("a", 1, _space()))])
    assert fute_main(["spaces", "--store", str(tmp_path / "st")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fim"))
    assert line.split()[1:3] == ["8", "1"]


def test_upload_creates_the_space_from_the_first_file_and_checks_the_rest(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = _saved(tmp_path, 3)
    server = _address(running_server)
    assert fute_main(["upload", *map(str, files), "--server", server, "--space", "new"]) == 0
    assert "uploaded 3 of 3" in capsys.readouterr().out
    described = client.describe_space("new")
    assert described.task_count == 3 and described.space_key == _space().key
    np.testing.assert_array_equal(
        client.get("new", ["e1"], with_vectors=True)[0].vector, load_embedding(files[1]).vector
    )
    save_embedding(_emb("x", 7, _space(epochs=3)), tmp_path / "x.safetensors")
    assert fute_main(["upload", str(tmp_path / "x.safetensors"), "--server", server, "--space", "new"]) == 2
    err = capsys.readouterr().err
    assert "FAILED_PRECONDITION" in err and "epochs: 1 != 3" in err
    assert client.describe_space("new").task_count == 3  # nothing written


def test_upload_of_models_on_two_u_creates_nothing_and_one_u_pins_the_new_space(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = _address(running_server)
    dataset, on_u1, on_u2 = (tmp_path / f"{n}.safetensors" for n in ("d", "m1", "m2"))
    save_embedding(_emb("d", 1, _space()), dataset)
    save_embedding(_emb("m1", 2, replace(_space(), corpus="u1" * 8), "model"), on_u1)
    save_embedding(_emb("m2", 3, replace(_space(), corpus="u2" * 8), "model"), on_u2)
    # each model file passes against the dataset file, but not against the other model
    up = ["upload", str(dataset), str(on_u1), str(on_u2), "--server", server, "--space", "mixed"]
    assert fute_main(up) == 2
    err = capsys.readouterr().err
    assert "corpus: " + "u1" * 8 + " != " + "u2" * 8 in err and len(err.strip().splitlines()) == 1
    assert "mixed" not in [s.name for s in client.list_spaces()]  # refused before a space was made
    assert fute_main(["upload", str(dataset), str(on_u1), "--server", server, "--space", "mixed"]) == 0
    capsys.readouterr()
    identity = client.describe_space("mixed").identity
    assert identity is not None and identity.corpus == "u1" * 8


def test_upload_keep_neighbours_creates_a_csls_space_and_spaces_shows_it(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = _saved(tmp_path, 4)
    server = _address(running_server)
    up = ["upload", "--server", server]
    assert fute_main([*up, *map(str, files[:2]), "--space", "kept", "--keep-neighbours"]) == 0
    assert "neighbour lists kept" in capsys.readouterr().out
    assert fute_main([*up, *map(str, files[:2]), "--space", "plain"]) == 0
    capsys.readouterr()
    assert (
        client.describe_space("kept").keep_neighbours and not client.describe_space("plain").keep_neighbours
    )
    assert len(client.search("kept", ["e0"], k=1, similarity="csls")[0]) == 1
    # a later upload into the kept space needs no flag; asking it of a plain space is refused
    assert fute_main([*up, str(files[2]), "--space", "kept"]) == 0
    capsys.readouterr()
    assert fute_main([*up, str(files[3]), "--space", "plain", "--keep-neighbours"]) == 2
    err = capsys.readouterr().err
    assert "--keep-neighbours: space 'plain' exists without neighbour lists" in err
    assert len(err.strip().splitlines()) == 1
    assert client.describe_space("plain").task_count == 2  # nothing written
    assert fute_main(["spaces", "--server", server]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[4] == "csls"
    assert {x.split()[0]: x.split()[4] for x in lines[1:]} == {"kept": "yes", "plain": "no"}
    assert fute_main(["spaces", "--server", server, "--json"]) == 0
    rows = {r["name"]: r["keep_neighbours"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"kept": True, "plain": False}
    search = ["search", "--server", server, "--space", "plain", "--id", "e0", "--similarity", "csls"]
    assert fute_main(search) == 2
    err = capsys.readouterr().err
    assert "FAILED_PRECONDITION" in err and "create the space with keep_neighbours" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_method_for_space_rebuilds_the_recipe_and_refuses_other_weights(surrogate: Surrogate) -> None:
    made = make_method("fim", surrogate, {"estimator": "batch_sq", "transform": "none", "dim": 1024})
    rebuilt = method_for_space(made.space(), surrogate, max_examples=50)
    assert rebuilt.space().key == made.space().key
    assert rebuilt.settings.max_examples == 50  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="weights sha256"):
        method_for_space(replace(made.space(), surrogate_hash="0" * 16), surrogate)


@pytest.mark.slow
def test_rank_data_embeds_with_the_space_recipe_and_leaves_itself_out(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    surrogate: Surrogate,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from fute.data import load_task

    method = make_method("text", surrogate, {"max_examples": 40})
    names = ["sms_spam", "trec_coarse", "rotten_tomatoes", "vader_movies"]
    embs = []
    for name in names:
        path = SUITE / name / "train.jsonl.gz"
        task = load_task(path, name=name)
        info = TaskInfo.of_dataset(task, source=str(path.resolve()))
        embs.append(method.embed(task, info, progress=False))
    lexicon = replace(embs[3], task=replace(embs[3].task, name="a-lexicon", kind="model"))
    client.create_space("text", embs[0].space.dim, identity=identity_of(embs[0].space))
    upload_embeddings(client, "text", [*embs, lexicon])
    server = _address(running_server)
    target = SUITE / "sms_spam" / "train.jsonl.gz"
    argv = ["rank", "--server", server, "--space", "text", "--data", str(target), "--max-examples", "40"]
    assert fute_main([*argv, "--json", "-q", "--order", "similarity"]) == 0
    captured = capsys.readouterr()
    ranking = json.loads(captured.out)["ranking"]
    # Datasets only by default, the target's own indexed copy left out, most similar first.
    assert [r["id"] for r in ranking] == sorted(
        names[1:], key=lambda n: -embs[0].cosine(embs[names.index(n)])
    )
    for row in ranking:
        assert row["score"] == pytest.approx(embs[0].cosine(embs[names.index(row["id"])]), abs=1e-5)
    assert "40 of 1000 examples (cap 40" in captured.err
    assert fute_main([*argv, "--json", "-q", "--kind", "any"]) == 0
    assert "a-lexicon" in {r["id"] for r in json.loads(capsys.readouterr().out)["ranking"]}
    # search --data: the same vector, nearest first, itself left out.
    assert (
        fute_main(
            [
                "search",
                "--server",
                server,
                "--space",
                "text",
                "--data",
                str(target),
                "--max-examples",
                "40",
                "-k",
                "2",
                "--json",
                "-q",
            ]
        )
        == 0
    )
    assert [h["id"] for h in json.loads(capsys.readouterr().out)[0]] == [r["id"] for r in ranking[:2]]


@pytest.mark.slow
def test_rank_data_refuses_a_space_of_other_weights_before_embedding(
    client: TaskSearchClient,
    running_server: tuple[TaskSearchServer, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    foreign = EmbeddingSpace(
        "all-MiniLM-L6-v2", "0" * 16, "text", canonical_settings({"max_length": 128}), 384
    )
    client.create_space("foreign", 384, identity=identity_of(foreign))
    target = SUITE / "sms_spam" / "train.jsonl.gz"
    argv = ["rank", "--server", _address(running_server), "--space", "foreign", "--data", str(target)]
    assert fute_main(argv) == 2
    err = capsys.readouterr().err
    assert "weights sha256" in err and "0000000000000000" in err and len(err.strip().splitlines()) == 1


def test_ranking_predictions_over_grpc_equal_the_library(client: TaskSearchClient) -> None:
    from fute.transfer_prediction import load_predictor

    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(12, 8)).astype(np.float32)
    client.create_space("p", 8)
    from fute_client.types import Task

    client.upsert("p", [Task(id=f"s{i}", vector=v, kind="dataset") for i, v in enumerate(vectors)])
    target = rng.normal(size=8).astype(np.float32)
    full = client.rank_sources("p", target, order="similarity")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ (target / np.linalg.norm(target))
    order = np.argsort(-cos)
    assert [h.id for h in full] == [f"s{i}" for i in order] and full.candidates == 12
    # The library's computation on what the store holds: cosines, raw vector norms, target norm.
    norms, target_norm = np.linalg.norm(vectors.astype(np.float64), axis=1), float(np.linalg.norm(target))
    gain, p_help = load_predictor().predict_cosines(cos[order], None, norms[order], target_norm)
    np.testing.assert_allclose([h.predicted_gain for h in full], gain, atol=1e-6)
    np.testing.assert_allclose([h.p_help for h in full], p_help, atol=1e-6)
    assert full.none_expected_to_help == bool(p_help.max() < 0.5)
    assert bool(full.advice) == full.none_expected_to_help
    # The default order is the library's predicted gain, with the same numbers per source.
    by_gain = client.rank_sources("p", target)
    assert [h.id for h in by_gain] == [f"s{order[j]}" for j in np.argsort(-gain, kind="stable")]
    assert {h.id: h.p_help for h in by_gain} == pytest.approx({h.id: h.p_help for h in full})
    # The top k carry the predictions of the whole candidate set, whatever k is.
    top = client.rank_sources("p", target, k=3, order="similarity")
    assert [(h.id, h.p_help) for h in top] == [(h.id, h.p_help) for h in full[:3]]
    # FindSimilarTasks carries no predictions.
    assert client.search("p", [target], k=2)[0][0].p_help is None


def test_ranking_orders_by_predicted_gain_unless_asked_for_similarity(client: TaskSearchClient) -> None:
    """Sources with a measured record (the packaged predictor's priors, by task id) move
    against cosine order; the order is the library's, and similarity order stays on request."""
    from fute.transfer_prediction import load_predictor
    from fute_client.errors import InvalidArgumentError
    from fute_client.types import Task

    predictor = load_predictor()
    known = sorted(predictor.source_priors, key=predictor.source_priors.__getitem__)
    assert len(known) >= 4
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(len(known), 8)).astype(np.float32)
    client.create_space("order", 8)
    client.upsert(
        "order", [Task(id=i, vector=v, kind="dataset") for i, v in zip(known, vectors, strict=True)]
    )
    target = rng.normal(size=8).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ (target / np.linalg.norm(target))
    by_cos = np.argsort(-cos, kind="stable")
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    gain, _ = predictor.predict_cosines(
        cos[by_cos],
        predictor.priors_of([known[i] for i in by_cos]),
        norms[by_cos],
        float(np.linalg.norm(target)),
    )
    by_gain = [known[by_cos[j]] for j in np.argsort(-gain, kind="stable")]

    ranked = client.rank_sources("order", target)
    assert ranked.order == "predicted_gain" and [h.id for h in ranked] == by_gain
    assert by_gain != [known[i] for i in by_cos]  # the priors do move this set
    gains = [h.predicted_gain for h in ranked]
    assert gains == sorted(gains, reverse=True)
    similar = client.rank_sources("order", target, order="similarity")
    assert similar.order == "similarity" and [h.id for h in similar] == [known[i] for i in by_cos]
    # The same candidate carries the same prediction in either order.
    assert {h.id: h.p_help for h in ranked} == pytest.approx({h.id: h.p_help for h in similar})
    # rerank_top 2: only the two most similar swap places (if they should); the rest keep cosine order.
    two = client.rank_sources("order", target, rerank_top=2)
    assert {h.id for h in two[:2]} == {known[i] for i in by_cos[:2]}
    assert [h.id for h in two[2:]] == [known[i] for i in by_cos[2:]]
    assert [h.id for h in client.rank_sources("order", target, k=3)] == by_gain[:3]
    with pytest.raises(InvalidArgumentError, match="rerank_top must be in"):
        client.rank_sources("order", target, rerank_top=10**6)
