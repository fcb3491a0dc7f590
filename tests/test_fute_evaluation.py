"""Source-ranking evaluation: metrics against hand-computed values, ground-truth parsing, `fute eval`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fute.cli import main
from fute.embedding import TaskEmbedding, TaskInfo, save_embedding
from fute.errors import DataError
from fute.evaluation import (
    evaluate_ranker,
    load_ground_truth,
    ndcg,
    oracle_scores,
    random_result,
    regret_at_k,
)
from fute.evaluation.metrics import spearman
from fute.space import EmbeddingSpace

TRUTH = {"a": 0.9, "b": 0.7, "c": 0.5, "d": 0.6}


def test_ndcg_matches_the_formula_and_is_one_for_the_ideal_order() -> None:
    order = ["b", "a", "d", "c"]
    dcg = 0.7 / math.log2(2) + 0.9 / math.log2(3) + 0.6 / math.log2(4) + 0.5 / math.log2(5)
    ideal = 0.9 / math.log2(2) + 0.7 / math.log2(3) + 0.6 / math.log2(4) + 0.5 / math.log2(5)
    assert ndcg(order, TRUTH) == pytest.approx(dcg / ideal)
    assert ndcg(["a", "b", "d", "c"], TRUTH) == pytest.approx(1.0)


def test_min_max_ndcg_separates_orders_that_raw_ndcg_barely_does() -> None:
    narrow = {"a": 0.80, "b": 0.79, "c": 0.78, "d": 0.77}
    worst = ["d", "c", "b", "a"]
    assert ndcg(worst, narrow) > 0.95  # raw scores in a narrow band: any order looks good
    # Min-max: relevances 0, 1/3, 2/3, 1 in reverse order.
    expected = (1 / 3 / math.log2(3) + 2 / 3 / math.log2(4) + 1 / math.log2(5)) / (
        1 + 2 / 3 / math.log2(3) + 1 / 3 / math.log2(4)
    )
    assert ndcg(worst, narrow, normalise=True) == pytest.approx(expected)


def test_regret_is_relative_loss_of_the_best_in_top_k() -> None:
    order = ["c", "d", "a", "b"]
    assert regret_at_k(order, TRUTH, 1) == pytest.approx(100 * (0.9 - 0.5) / 0.9)
    assert regret_at_k(order, TRUTH, 2) == pytest.approx(100 * (0.9 - 0.6) / 0.9)
    assert regret_at_k(order, TRUTH, 3) == 0.0


def test_metrics_refuse_rankings_of_other_candidates() -> None:
    with pytest.raises(ValueError, match="different candidates"):
        ndcg(["a", "b"], TRUTH)
    with pytest.raises(ValueError, match="k must be"):
        regret_at_k(list(TRUTH), TRUTH, 0)


def test_spearman_is_one_for_a_monotone_map_and_zero_for_constants() -> None:
    assert spearman({k: v**3 for k, v in TRUTH.items()}, TRUTH) == pytest.approx(1.0)
    assert spearman(dict.fromkeys(TRUTH, 0.5), TRUTH) == 0.0


def _write_truth(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _grid(
    tasks: list[str], score: dict[tuple[str, str], float], base: float = 0.5
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for seed in (0, 1):
        for t in tasks:
            rows.append({"source": None, "target": t, "seed": seed, "score": base})
            for s in tasks:
                if s != t:
                    rows.append(
                        {"source": s, "target": t, "seed": seed, "score": score[(s, t)] + 0.01 * seed}
                    )
    return rows


def test_ground_truth_averages_seeds_and_knows_the_baseline(tmp_path: Path) -> None:
    tasks = ["x", "y", "z"]
    score = {(s, t): 0.1 * (i + 1) for i, (s, t) in enumerate((s, t) for s in tasks for t in tasks if s != t)}
    gt = load_ground_truth(_write_truth(tmp_path / "gt.jsonl", _grid(tasks, score)))
    assert gt.targets == tasks and gt.sources("x") == ["y", "z"]
    assert gt.score("y", "x") == pytest.approx(score[("y", "x")] + 0.005)
    assert gt.baseline("x") == 0.5
    assert gt.seed_noise() == pytest.approx(0.01 * 6 / 9)  # 6 transfer pairs differ by 0.01, baselines by 0
    oracle = evaluate_ranker("oracle", oracle_scores(gt), gt)
    assert oracle.mean("regret@1") == 0.0 and oracle.mean("ndcg_norm") == pytest.approx(1.0)
    # The reverse of the truth is the worst order: regret@1 equals the full spread.
    reverse = {t: {s: -v for s, v in gt.scores(t).items()} for t in gt.targets}
    worst = evaluate_ranker("worst", reverse, gt)
    assert worst.mean("spearman") == pytest.approx(-1.0)
    assert worst.mean("ndcg_norm") < random_result(gt).mean("ndcg_norm") < 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "gt.jsonl:2: not valid JSON"),
        ('{"source": "a", "target": "b", "seed": 0}', "gt.jsonl:2: missing field 'score'"),
        ('{"source": "a", "target": "b", "seed": "0", "score": 1}', "gt.jsonl:2: field 'seed'"),
        ('{"source": "a", "target": "b", "seed": 0, "score": NaN}', "gt.jsonl:2: field 'score'"),
        ('{"source": "b", "target": "b", "seed": 0, "score": 1}', "gt.jsonl:2: source and target"),
        ('{"source": "a", "target": "b", "seed": 0, "score": 0.2}', "already has score 0.1"),
    ],
)
def test_bad_ground_truth_lines_are_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "gt.jsonl"
    path.write_text('{"source": "a", "target": "b", "seed": 0, "score": 0.1}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        load_ground_truth(path)


def _embedding(name: str, vector: np.ndarray, space: EmbeddingSpace) -> TaskEmbedding:
    return TaskEmbedding(
        task=TaskInfo(name=name, kind="dataset", label_kind="class"),
        space=space,
        vector=vector.astype(np.float32),
    )


def test_fute_eval_ranks_by_embeddings_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = ["x", "y", "z", "w"]
    rng = np.random.default_rng(0)
    vectors = {t: rng.normal(size=8) for t in tasks}
    # Truth = cosine of the vectors, so a ranker using those vectors is the oracle.
    cos = {
        (s, t): float(vectors[s] @ vectors[t] / np.linalg.norm(vectors[s]) / np.linalg.norm(vectors[t]))
        for s in tasks
        for t in tasks
    }
    truth = _write_truth(tmp_path / "gt.jsonl", _grid(tasks, {k: 0.5 + 0.4 * v for k, v in cos.items()}))
    space = EmbeddingSpace("s", "0" * 16, "fim", "{}", 8)
    folder = tmp_path / "emb"
    folder.mkdir()
    for t in tasks:
        save_embedding(_embedding(t, vectors[t], space), folder / f"{t}.safetensors")
    out = tmp_path / "report"
    assert main(["eval", "--ground-truth", str(truth), "--ranker", "vec", str(folder), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vec" in printed and "oracle" in printed and "random" in printed
    rows = (out / "eval.csv").read_text().splitlines()
    vec_regret = next(r for r in rows if r.startswith("vec,regret@1,"))
    assert float(vec_regret.split(",")[2]) == pytest.approx(0.0)
    assert (out / "transfer.png").stat().st_size > 1000 and (out / "similarity_vec.png").exists()
    assert "| vec |" in (out / "eval.md").read_text()


def test_fute_eval_names_the_task_without_an_embedding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = _write_truth(tmp_path / "gt.jsonl", _grid(["x", "y"], {("x", "y"): 0.6, ("y", "x"): 0.7}))
    folder = tmp_path / "emb"
    folder.mkdir()
    save_embedding(
        _embedding("x", np.ones(4), EmbeddingSpace("s", "0" * 16, "fim", "{}", 4)), folder / "x.safetensors"
    )
    assert main(["eval", "--ground-truth", str(truth), "--ranker", "vec", str(folder)]) == 2
    assert "missing embeddings: targets ['y']" in capsys.readouterr().err


def test_seed_agreement_is_the_spearman_of_two_seeds(tmp_path: Path) -> None:
    rows = [{"source": None, "target": "t", "seed": s, "score": 0.5} for s in (0, 1)]
    first, second = [0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.3, 0.4]  # one swap: rho = 0.8
    for name, a, b in zip("abcd", first, second, strict=True):
        rows += [
            {"source": name, "target": "t", "seed": 0, "score": a},
            {"source": name, "target": "t", "seed": 1, "score": b},
        ]
    gt = load_ground_truth(_write_truth(tmp_path / "gt.jsonl", rows))
    assert gt.seed_agreement() == pytest.approx(0.8)
    one_seed = load_ground_truth(_write_truth(tmp_path / "one.jsonl", [r for r in rows if r["seed"] == 0]))
    assert math.isnan(one_seed.seed_agreement())


def test_csls_similarities_equal_the_csls_matrix_when_targets_are_the_sources() -> None:
    from fute.evaluation.ground_truth import GroundTruth
    from fute.evaluation.rankings import csls_similarities
    from fute.similarity import cosine_matrix, csls_matrix

    rng = np.random.default_rng(4)
    space = EmbeddingSpace("s", "0" * 16, "fim", "{}", 6)
    names = ["a", "b", "c", "d", "e"]
    embs = {n: _embedding(n, rng.normal(size=6), space) for n in names}
    runs: dict[tuple[str | None, str], dict[int, float]] = {
        (s, t): {0: 0.5} for t in names for s in names if s != t
    }
    got = csls_similarities(embs, embs, GroundTruth(runs), k=2)
    want = csls_matrix(cosine_matrix([embs[n] for n in names]), 2)
    for i, t in enumerate(names):
        for j, s in enumerate(names):
            if s != t:
                assert got[t][s] == pytest.approx(want[i, j], abs=1e-6)
