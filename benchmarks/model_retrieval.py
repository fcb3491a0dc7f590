"""Model → dataset retrieval on the real task suite (issue 3, "Show").

Embeds every task of ``benchmarks/suite`` (dataset task embeddings, DTE) and a set of
black-box models and (LLM, prompt) pairs (model task embeddings, MTE, on the packaged U),
all with one method and settings, then prints each model's cosine similarity to every
dataset, its nearest datasets, and precision@1 / @3 of retrieving a dataset of the
model's own task type. Embeddings are written under ``--out-dir`` and reused by reruns
(same space only), so a rerun with more models costs only the new ones.

    .venv/bin/python benchmarks/model_retrieval.py            # defaults as in docs/models.md
    .venv/bin/python benchmarks/model_retrieval.py --models vader,smollm2-sentiment
    .venv/bin/python benchmarks/model_retrieval.py --corpus packaged:multilingual
    .venv/bin/python benchmarks/model_retrieval.py --corpus packaged:diverse --csls 3
    .venv/bin/python benchmarks/model_retrieval.py --datasets-on-u runs/transfer/sources

``--datasets-on-u DIR`` stands each dataset in by the model task embedding, on the models'
U, of the classifier fine-tuned on it: both sides of the comparison then have the same
inputs, and only what the labels say can separate them.

``--server-check`` (with ``--csls``) also loads every task into an in-process ``TaskStore``
and checks that the search service's CSLS (``FindSimilarTasks``, ``similarity="csls"``)
gives the same rankings and numbers as the client side.

``--contrast`` replaces every embedding by its label contrast (minus the embedding of the
same inputs with shuffled labels or outputs); ``--contrast-seeds N`` subtracts the mean of N
such nulls (permutation seeds 0..N-1), so that one permutation's noise does not decide. Every run scores with plain cosine and, per
``--csls K``, with CSLS (hub-aware), and
reports the hub statistics (how many models share one nearest dataset) and each model's
output information on U (answer entropy, majority share; fute.informativeness).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, as documented

from benchmarks.label_contrast import CONTRAST_SEED, contrast, null_name, permutation_noise, shuffle_labels
from fute.cli import parse_overrides
from fute.corpus import UnlabelledCorpus, load_corpus
from fute.data import load_task
from fute.embedding import TaskEmbedding, TaskInfo, load_embedding, save_embedding
from fute.errors import FuteError
from fute.informativeness import OutputInformation
from fute.methods import EmbeddingMethod, make_method
from fute.model_embedding import calibrate_soft, embed_model, model_task, predict_corpus
from fute.models import AdapterOptions, load_adapter
from fute.models.smollm2 import cache_root
from fute.runtime import configure_threads
from fute.similarity import cosine_matrix, csls_matrix
from fute.surrogate import load_surrogate

logger = logging.getLogger("model_retrieval")
SUITE = Path(__file__).resolve().parent / "suite"


@dataclass(frozen=True)
class ModelCase:
    """One black-box model of the benchmark and the dataset task types it should retrieve."""

    key: str
    spec: str
    expected: tuple[str, ...]
    prompt: str | None = None
    llm: bool = False
    calibrate: bool = False  # prior-calibrate the soft labels over U (see docs/models.md)


CASES: tuple[ModelCase, ...] = (
    ModelCase("vader", "callable:vader", ("sentiment",)),
    ModelCase("vader-probs", "callable:vader-probs", ("sentiment",)),
    ModelCase("textblob", "callable:textblob", ("sentiment",)),
    ModelCase("profanity-check", "callable:profanity-check", ("spam",)),
    ModelCase("py3langid", "callable:langid", ("language-id",)),
    ModelCase("smollm2-sentiment", "llm:smollm2", ("sentiment",), "sentiment", llm=True),
    ModelCase("smollm2-spam", "llm:smollm2", ("spam",), "spam", llm=True),
    ModelCase("smollm2-question", "llm:smollm2", ("question-type",), "question_type", llm=True),
    ModelCase("smollm2-topic", "llm:smollm2", ("topic",), "topic", llm=True),
    ModelCase("smollm2-language", "llm:smollm2", ("language-id",), "language", llm=True),
    # The same models with prior calibration (predictions come from the cache).
    ModelCase("py3langid-cal", "callable:langid", ("language-id",), calibrate=True),
    ModelCase("smollm2-sentiment-cal", "llm:smollm2", ("sentiment",), "sentiment", llm=True, calibrate=True),
    ModelCase("smollm2-spam-cal", "llm:smollm2", ("spam",), "spam", llm=True, calibrate=True),
    ModelCase(
        "smollm2-question-cal", "llm:smollm2", ("question-type",), "question_type", llm=True, calibrate=True
    ),
    ModelCase("smollm2-topic-cal", "llm:smollm2", ("topic",), "topic", llm=True, calibrate=True),
    ModelCase("smollm2-language-cal", "llm:smollm2", ("language-id",), "language", llm=True, calibrate=True),
)


def _reuse(path: Path, method: EmbeddingMethod) -> TaskEmbedding | None:
    if not path.is_file():
        return None
    emb = load_embedding(path)
    # Reuse only an embedding of the very same space (the corpus is checked by the caller's file name).
    return emb if emb.space.identity() == method.space().identity() else None


def dataset_embeddings(
    method: EmbeddingMethod, out_dir: Path, tasks: list[dict[str, Any]], *, shuffled: int | None = None
) -> list[TaskEmbedding]:
    """DTE of every suite task's train split (cached as files); with ``shuffled`` (a
    permutation seed), of the same split with its labels permuted by that seed (the null of
    a label-contrast embedding)."""
    out: list[TaskEmbedding] = []
    for t in tasks:
        name = str(t["name"])
        file = f"{name}.safetensors"
        path = out_dir / "datasets" / (file if shuffled is None else null_name(file, shuffled))
        emb = _reuse(path, method)
        if emb is None:
            start = time.perf_counter()
            label_names = tuple(str(n) for n in t["label_names"]) if t.get("label_names") else None
            task = load_task(
                SUITE / "data" / name / "train.jsonl.gz",
                name=name,
                label_kind=t["label_kind"],
                label_names=label_names,
            )
            info = TaskInfo.of_dataset(task, task_type=str(t["task_type"]))
            data = task if shuffled is None else shuffle_labels(task, shuffled)
            emb = method.embed(data, info, progress=False)
            save_embedding(emb, path)
            note = "" if shuffled is None else f" (shuffled, seed {shuffled})"
            logger.info("DTE %s%s in %.0f s", name, note, time.perf_counter() - start)
        out.append(emb)
    return out


def datasets_on_u(
    method: EmbeddingMethod,
    out_dir: Path,
    tasks: list[dict[str, Any]],
    classifiers: Path,
    corpus: UnlabelledCorpus,
) -> list[TaskEmbedding]:
    """Each suite dataset as the model task embedding, on ``corpus``, of the classifier
    fine-tuned on it (``classifiers/NAME-seed0``; cached as files per corpus). The vectors
    carry the dataset's name and task type: they stand for the dataset, seen through a
    model of it on the models' own inputs."""
    out: list[TaskEmbedding] = []
    for t in tasks:
        name = str(t["name"])
        path = out_dir / "datasets-on-u" / f"{name}.{corpus.hash[:12]}.safetensors"
        emb = _reuse(path, method)
        if emb is None:
            model_dir = classifiers / f"{name}-seed0"
            if not model_dir.is_dir():
                raise SystemExit(
                    f"{model_dir}: no classifier of {name}; run benchmarks.transfer_ground_truth first"
                )
            start = time.perf_counter()
            info = TaskInfo(name=name, kind="dataset", task_type=str(t["task_type"]), source=str(model_dir))
            emb = embed_model(load_adapter(f"hf:{model_dir}"), method, corpus, info, progress=False)
            save_embedding(emb, path)
            logger.info("%s on U (its classifier's outputs) in %.0f s", name, time.perf_counter() - start)
        out.append(emb)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="fim")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method settings (default: max_examples=200 max_length=64 dim=4096)",
    )
    parser.add_argument(
        "--corpus", help="U for every model: a JSONL file or packaged:NAME (default: packaged:default)"
    )
    parser.add_argument("--corpus-size", type=int, default=200, help="examples of U for callables")
    parser.add_argument("--llm-corpus-size", type=int, default=100, help="examples of U for LLM prompts")
    parser.add_argument("--models", help=f"comma-separated subset of {[c.key for c in CASES]}")
    parser.add_argument(
        "--out-dir",
        default=str(cache_root() / "benchmarks" / "model_retrieval"),
        help="where embeddings are kept for reruns (default under $FUTE_CACHE_DIR or ~/.cache/fute)",
    )
    parser.add_argument(
        "--csls",
        type=int,
        action="append",
        default=[],
        metavar="K",
        help="also score with CSLS over K nearest tasks (repeatable), next to plain cosine",
    )
    parser.add_argument(
        "--contrast",
        action="store_true",
        help="label-contrast embeddings: every task minus the same inputs with shuffled labels "
        "(datasets) or outputs shuffled across U (models)",
    )
    parser.add_argument(
        "--contrast-seeds",
        type=int,
        default=1,
        metavar="N",
        help="with --contrast: subtract the mean of N shuffled twins (permutation seeds 0..N-1)",
    )
    parser.add_argument(
        "--datasets-on-u",
        metavar="DIR",
        help="represent every dataset by the model task embedding, on the same U as the models, of "
        "the classifier fine-tuned on it (DIR/NAME-seed0, as benchmarks.transfer_ground_truth "
        "writes them): models and datasets then share their inputs, and only what the labels say "
        "differs",
    )
    parser.add_argument(
        "--server-check",
        action="store_true",
        help="also load every task into an in-process TaskStore and check that its CSLS (FindSimilarTasks, "
        "similarity csls) reproduces the client-side numbers of each --csls K",
    )
    parser.add_argument("--json", help="also write the results as JSON")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_threads(args.threads)
    settings = {"max_examples": 200, "max_length": 64, "dim": 4096, **parse_overrides(args.set)}
    method = make_method(args.method, load_surrogate(), settings)
    out_dir = Path(args.out_dir) / method.space().key
    tasks = json.loads((SUITE / "tasks.json").read_text())
    if args.contrast_seeds < 1:
        parser.error(f"--contrast-seeds must be at least 1, got {args.contrast_seeds}")
    if args.datasets_on_u and args.contrast:
        parser.error("--datasets-on-u and --contrast are separate measurements; give one")
    if args.datasets_on_u and args.corpus_size != args.llm_corpus_size:
        parser.error(
            "--datasets-on-u puts every model and dataset on one U: give --corpus-size equal to --llm-corpus-size"
        )
    if args.datasets_on_u:
        corpus = load_corpus(args.corpus, limit=args.corpus_size)
        datasets = datasets_on_u(method, out_dir, tasks, Path(args.datasets_on_u), corpus)
    else:
        datasets = dataset_embeddings(method, out_dir, tasks)
    seeds = list(range(CONTRAST_SEED, CONTRAST_SEED + args.contrast_seeds))
    noise: dict[str, tuple[float, float]] = {}
    if args.contrast:
        nulls = [dataset_embeddings(method, out_dir, tasks, shuffled=seed) for seed in seeds]
        if len(seeds) > 1:
            noise.update(
                {d.task.name: permutation_noise(d, [n[i] for n in nulls]) for i, d in enumerate(datasets)}
            )
        datasets = [contrast(d, [n[i] for n in nulls]) for i, d in enumerate(datasets)]
    types = [d.task.task_type for d in datasets]
    wanted = set(args.models.split(",")) if args.models else None
    models: list[tuple[ModelCase, TaskEmbedding, float]] = []
    failed: list[dict[str, object]] = []
    for case in CASES:
        if wanted is not None and case.key not in wanted:
            continue
        corpus = load_corpus(args.corpus, limit=args.llm_corpus_size if case.llm else args.corpus_size)
        path = out_dir / "models" / f"{case.key}.{corpus.hash[:12]}.safetensors"
        start = time.perf_counter()
        try:
            emb = _reuse(path, method)
            if emb is None:
                adapter = load_adapter(case.spec, AdapterOptions(prompt=case.prompt))
                info = TaskInfo(name=case.key, kind="model", task_type=case.expected[0], source=case.spec)
                emb = embed_model(adapter, method, corpus, info, progress=False, calibrate=case.calibrate)
                save_embedding(emb, path)
        except FuteError as exc:
            logger.error("model %s failed: %s", case.key, exc)
            failed.append({"model": case.key, "error": str(exc)})
            continue
        if args.contrast:
            try:
                twins = _shuffled_models(case, corpus, method, path, seeds)
                if len(twins) > 1:
                    noise[case.key] = permutation_noise(emb, twins)
                emb = contrast(emb, twins)
            except FuteError as exc:
                logger.error("model %s (shuffled) failed: %s", case.key, exc)
                failed.append({"model": case.key, "error": str(exc)})
                continue
        models.append((case, emb, round(time.perf_counter() - start, 1)))
    names = [d.task.name for d in datasets]
    measures = ["cosine", *(f"csls{k}" for k in args.csls)]
    record: dict[str, object] = {
        "space": method.space().describe(),
        "corpus": args.corpus or "packaged:default",
        "corpus_size": args.corpus_size,
        "llm_corpus_size": args.llm_corpus_size,
        "contrast": args.contrast,
        "datasets_on_u": args.datasets_on_u,
        "contrast_seeds": args.contrast_seeds if args.contrast else 0,
        "measures": {},
    }
    for measure in measures:
        sims = model_dataset_similarity([e for _, e, _ in models], datasets, measure)
        rows = [*_rows(models, sims, names, types), *failed]
        summary = _summary(rows, names, types)
        print(f"\n===== similarity: {measure}{_contrast_note(args.contrast, args.contrast_seeds)} =====")
        _print(rows, names, types, method.space().describe(), args.corpus)
        print(
            f"hubs: {summary['distinct_top1']} distinct nearest datasets for {summary['n_models']} models; "
            f"most frequent {summary['top_hub']} ({summary['top_hub_count']} models)"
        )
        record["measures"][measure] = {"rows": rows, "summary": summary}  # type: ignore[index]
    if noise:
        print("\nlabel contrast: signal (task minus the twins' mean) and one twin's noise, / |task|")
        for name, (signal, spread) in noise.items():
            print(f"  {name:<20} signal {signal:.3f}  noise {spread:.3f}")
        print(
            f"  median: datasets {np.median([noise[n][0] for n in names]):.3f} / "
            f"{np.median([noise[n][1] for n in names]):.3f}"
            + (
                f", models {np.median([v[0] for k, v in noise.items() if k not in names]):.3f} / "
                f"{np.median([v[1] for k, v in noise.items() if k not in names]):.3f}"
                if len(noise) > len(names)
                else ""
            )
        )
        record["permutation_noise"] = {k: {"signal": v[0], "noise": v[1]} for k, v in noise.items()}
    if args.server_check and args.csls:
        check = server_csls_check([e for _, e, _ in models], datasets, args.csls)
        for k, result in check.items():
            print(
                f"server-side CSLS k={k}: {result['same_order']}/{result['models']} models with the client's "
                f"dataset order, {result['same_nearest_model']}/{result['datasets']} datasets with its nearest "
                f"model, largest |score difference| {result['max_abs_diff']:.2e}"
            )
        record["server_check"] = {str(k): v for k, v in check.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return 0


def _contrast_note(on: bool, seeds: int) -> str:
    if not on:
        return ""
    return " of label-contrast embeddings" + (f" (mean of {seeds} permutations)" if seeds > 1 else "")


def _shuffled_models(
    case: ModelCase, corpus: UnlabelledCorpus, method: EmbeddingMethod, path: Path, seeds: list[int]
) -> list[TaskEmbedding]:
    """The model's embeddings with its outputs permuted across U, one per seed (cached as
    files; the model is loaded and run on U once, and only when a seed's file is missing)."""
    null_paths = [path.with_name(null_name(path.name, seed)) for seed in seeds]
    embs = [_reuse(p, method) for p in null_paths]
    missing = [i for i, e in enumerate(embs) if e is None]
    if missing:
        adapter = load_adapter(case.spec, AdapterOptions(prompt=case.prompt))
        preds = predict_corpus(adapter, corpus, progress=False)
        if case.calibrate:
            preds = calibrate_soft(preds)
        info = TaskInfo(name=case.key, kind="model", task_type=case.expected[0], source=case.spec)
        for i in missing:
            shuffled = preds[np.random.default_rng(seeds[i]).permutation(len(preds))]
            task = model_task(adapter, corpus, shuffled, case.key)
            emb = method.embed(
                task, replace(info, label_kind=adapter.output_kind), corpus=corpus.hash, progress=False
            )
            save_embedding(emb, null_paths[i])
            embs[i] = emb
    return [e for e in embs if e is not None]


def model_dataset_similarity(
    model_embs: list[TaskEmbedding], datasets: list[TaskEmbedding], measure: str
) -> np.ndarray:
    """(models × datasets) similarities: cosine, or ``cslsK``: CSLS over all the tasks of one
    space, as an index holding them would compute r. Models on different U (callables and
    LLM prompts take different numbers of examples) live in different spaces, so each U's
    models are scored in a space of their own with every dataset."""
    out = np.zeros((len(model_embs), len(datasets)))
    for corpus in sorted({m.space.corpus or "" for m in model_embs}):
        rows = [i for i, m in enumerate(model_embs) if (m.space.corpus or "") == corpus]
        everything = [*datasets, *(model_embs[i] for i in rows)]
        cos = cosine_matrix(everything)
        mat = cos if measure == "cosine" else csls_matrix(cos, int(measure.removeprefix("csls")))
        out[rows] = mat[len(datasets) :, : len(datasets)]
    return out


def server_csls_check(
    model_embs: list[TaskEmbedding], datasets: list[TaskEmbedding], ks: list[int]
) -> dict[int, dict[str, float | int]]:
    """The (models x datasets) CSLS block as the search service computes it, against
    :func:`model_dataset_similarity`: every task of the run goes into one space of an
    in-process ``TaskStore`` (created with ``keep_neighbours``, so it keeps each task's
    neighbour radius), each model asks
    ``FindSimilarTasks`` with ``similarity="csls"`` for every dataset (``kind`` filter)."""
    import tempfile

    from fute_client.types import Condition, Filter
    from server.config import StoreConfig
    from server.embedding_upload import task_of
    from server.store import TaskStore

    everything = [*datasets, *model_embs]
    out: dict[int, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory() as tmp, TaskStore(StoreConfig(path=Path(tmp), device="cpu")) as store:
        store.create_space("run", everything[0].space.dim, keep_neighbours=True)
        store.upsert("run", [task_of(e) for e in everything])
        names = [d.task.name for d in datasets]
        only_datasets = Filter(must=(Condition("kind", ("dataset",)),))
        for k in ks:
            client = model_dataset_similarity(model_embs, datasets, f"csls{k}")
            hits = store.search(
                "run",
                [m.task.name for m in model_embs],
                k=len(datasets),
                filter=only_datasets,
                similarity="csls",
                csls_k=k,
            )
            served = np.array([[{h.id: h.score for h in row}[n] for n in names] for row in hits])
            out[k] = {
                "models": len(model_embs),
                "datasets": len(datasets),
                "same_order": int(
                    sum(
                        [names[j] for j in np.argsort(-c, kind="stable")] == [h.id for h in row]
                        for c, row in zip(client, hits, strict=True)
                    )
                ),
                "same_nearest_model": int(np.sum(client.argmax(axis=0) == served.argmax(axis=0))),
                "max_abs_diff": float(np.abs(client - served).max()),
            }
    return out


def _rows(
    models: list[tuple[ModelCase, TaskEmbedding, float]], sims: np.ndarray, names: list[str], types: list[str]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for (case, emb, seconds), row in zip(models, sims, strict=True):
        order = np.argsort(-row)
        hits = [types[i] in case.expected for i in order[:3]]
        information = OutputInformation.from_pairs(emb.task.output_info)
        rows.append(
            {
                "model": case.key,
                "expected": list(case.expected),
                "seconds": seconds,
                "sims": {names[i]: round(float(row[i]), 4) for i in range(len(names))},
                "top3": [names[i] for i in order[:3]],
                "p_at_1": float(hits[0]),
                "p_at_3": sum(hits) / 3,
                "hit_at_3": float(any(hits)),
                "answer_entropy": None if information is None else round(information.answer_entropy, 3),
                "majority_share": None if information is None else round(information.majority_share, 3),
            }
        )
    return rows


def _summary(rows: list[dict[str, object]], names: list[str], types: list[str]) -> dict[str, object]:
    """Means of the table, dataset → model P@1 and the hub statistics (k-occurrence at 1)."""
    ok = [r for r in rows if "error" not in r]
    top1 = [str(r["top3"][0]) for r in ok]  # type: ignore[index]
    counts = {n: top1.count(n) for n in sorted(set(top1))}
    hub = max(counts, key=lambda n: counts[n]) if counts else ""
    plain = [r for r in ok if not str(r["model"]).endswith("-cal")]
    claimed = {t for r in plain for t in r["expected"]}  # type: ignore[attr-defined]
    reverse = [
        float(t in max(plain, key=lambda r: r["sims"][n])["expected"])  # type: ignore[index,operator]
        for n, t in zip(names, types, strict=True)
        if t in claimed
    ]
    return {
        "n_models": len(ok),
        "p_at_1": float(np.mean([r["p_at_1"] for r in ok])) if ok else None,
        "p_at_3": float(np.mean([r["p_at_3"] for r in ok])) if ok else None,
        "dataset_to_model_p_at_1": float(np.mean(reverse)) if reverse else None,
        "distinct_top1": len(counts),
        "top_hub": hub,
        "top_hub_count": counts.get(hub, 0),
        "top1_counts": counts,
    }


def _print(
    rows: list[dict[str, object]], names: list[str], types: list[str], space: str, corpus: str | None
) -> None:
    # The benchmark's product is this table on stdout.
    print(f"space: {space}")
    print(f"U: {corpus or 'packaged:default'}")
    ok = [r for r in rows if "error" not in r]
    width = max(len(n) for n in names)
    print("cosine(model, dataset); * marks the model's own task type")
    print(" " * width + " | " + " | ".join(f"{str(r['model'])[-12:]:>12}" for r in ok))
    for n, t in zip(names, types, strict=True):
        cells = []
        for r in ok:
            sims, expected = r["sims"], r["expected"]
            assert isinstance(sims, dict) and isinstance(expected, list)
            cells.append(f"{sims[n]:11.4f}" + ("*" if t in expected else " "))
        print(f"{n:>{width}} | " + " | ".join(cells))
    print()
    print(f"{'model':<18} {'expected':<14} {'P@1':>4} {'P@3':>5} {'hit@3':>5}  top-3 datasets")
    for r in rows:
        if "error" in r:
            print(f"{r['model']!s:<18} FAILED: {r['error']}")
            continue
        exp = ",".join(r["expected"])  # type: ignore[arg-type]
        top3 = ", ".join(r["top3"])  # type: ignore[arg-type]
        print(
            f"{r['model']!s:<18} {exp:<14} {r['p_at_1']:>4.2f} {r['p_at_3']:>5.2f} {r['hit_at_3']:>5.2f}  {top3}"
        )
    if ok:
        p1 = np.mean([float(r["p_at_1"]) for r in ok])  # type: ignore[arg-type]
        p3 = np.mean([float(r["p_at_3"]) for r in ok])  # type: ignore[arg-type]
        h3 = np.mean([float(r["hit_at_3"]) for r in ok])  # type: ignore[arg-type]
        print(f"{'mean':<18} {'':<14} {p1:>4.2f} {p3:>5.2f} {h3:>5.2f}")
        _print_reverse(ok, names, types)


def _print_reverse(rows: list[dict[str, object]], names: list[str], types: list[str]) -> None:
    """The other direction, "which model does my dataset's task?": models ranked by cosine
    to each dataset of a type some model claims (calibrated twins left out: one vote each)."""
    plain = [r for r in rows if not str(r["model"]).endswith("-cal")]
    claimed = {t for r in plain for t in r["expected"]}  # type: ignore[attr-defined]
    print()
    print(f"{'dataset':<20} {'type':<14} {'P@1':>4}  top-3 models (of {len(plain)})")
    hits: list[float] = []
    for n, t in zip(names, types, strict=True):
        if t not in claimed:
            continue
        order = sorted(plain, key=lambda r: -r["sims"][n])  # type: ignore[index]
        hit = float(t in order[0]["expected"])  # type: ignore[operator]
        hits.append(hit)
        top = ", ".join(f"{r['model']} {r['sims'][n]:.3f}" for r in order[:3])  # type: ignore[index]
        print(f"{n:<20} {t:<14} {hit:>4.2f}  {top}")
    if hits:
        print(f"{'mean':<20} {'':<14} {np.mean(hits):>4.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
