"""Ablate the FIM recipe against the suite's measured transfer; choose settings honestly.

    python -m benchmarks.ablation                  # compute missing profiles, then report
    python -m benchmarks.ablation --report-only    # tables from cached profiles

Needs ``benchmarks/results/transfer/ground_truth.jsonl`` (``benchmarks.transfer_ground_truth``)
and, for the TextEmb/prompt/model rows, ``runs/eval`` (``benchmarks.suite_embeddings --models``).
Writes ``benchmarks/results/ablation.md`` and ``ablation.csv``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import transformers
from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from benchmarks.ablation.profiles import VARIANTS, load_or_compute
from benchmarks.ablation.vectors import DEFAULT, DIMS, Option, cosine_table, vector
from benchmarks.common import banner, suite_tasks
from benchmarks.suite_embeddings import ROOT as EMB_ROOT
from benchmarks.suite_embeddings import SOURCE_MODELS, TARGET_EXAMPLES
from benchmarks.transfer_ground_truth import DEFAULT_TASKS
from fute.corpus import load_corpus
from fute.data.loading import load_task
from fute.data.split import cap_examples
from fute.embedding import load_embedding
from fute.evaluation.ground_truth import GroundTruth, load_ground_truth
from fute.evaluation.metrics import spearman
from fute.evaluation.rankings import (
    METRICS,
    RankerResult,
    evaluate_ranker,
    oracle_scores,
    paired_differences,
    random_result,
)
from fute.evaluation.report import markdown_table
from fute.methods.fisher_shaping import NORMALISATIONS as NORMS
from fute.methods.fisher_shaping import PARAMETER_SETS
from fute.model_embedding import model_task, predict_corpus
from fute.models import load_adapter
from fute.runtime import configure_threads
from fute.surrogate import load_surrogate

RESULTS = Path(__file__).resolve().parent.parent / "results"
GROUND_TRUTH = RESULTS / "transfer" / "ground_truth.jsonl"
PROFILES = Path("runs/ablation/profiles")
SELECT_BY = "ndcg_norm"
# The recipe that became FimSettings' default (transform="log"): see docs/evaluation.md.
CHOSEN = Option(log=True)  # min-max NDCG: rewards the top of the ranking, unlike raw NDCG not saturated

Profiles = dict[str, dict[str, dict[str, np.ndarray]]]  # role -> task -> profile


def compute_profiles(tasks: list[str], variants: list[str], with_models: bool) -> dict[str, Profiles]:
    """Every (variant, role, task) profile, computed when not cached."""
    surrogate = load_surrogate()
    corpus = load_corpus() if with_models else None
    out: dict[str, Profiles] = {}
    jobs = [(v, r, t) for v in variants for r in ("target", "source") for t in tasks]
    if with_models:
        jobs += [("e1", "source-model", t) for t in tasks]
    for variant, role, name in tqdm(jobs, desc="profiles", unit="task"):
        if role == "source-model":
            assert corpus is not None
            adapter = load_adapter(f"hf:{SOURCE_MODELS / f'{name}-seed0'}")
            task = model_task(adapter, corpus, predict_corpus(adapter, corpus, progress=False), name)
        else:
            task = load_task(suite_tasks([name])[0].split("train"), name=name)
            if role == "target":
                task = cap_examples(task, TARGET_EXAMPLES, seed=0)
        out.setdefault(variant, {}).setdefault(role, {})[name] = load_or_compute(
            PROFILES, surrogate, VARIANTS[variant], role, task
        )
    return out


def option_sims(
    profiles: dict[str, Profiles], gt: GroundTruth, opt: Option, sources_role: str = "source"
) -> dict[str, dict[str, float]]:
    """Similarities of every target to its candidate sources under ``opt``."""
    p = profiles[opt.variant]
    targets = {t: vector(p["target"][t], opt) for t in gt.targets}
    sources = {s: vector(p[sources_role][s], opt) for s in gt.tasks}
    return cosine_table(targets, sources, {t: gt.sources(t) for t in gt.targets}, opt.centre)


def grid(variants: list[str], profiles: dict[str, Profiles]) -> Iterator[Option]:
    """Every combination the profiles allow."""
    for v in variants:
        any_profile = next(iter(profiles[v]["target"].values()))
        estimators = sorted({k.split("/")[0] for k in any_profile if "/" in k})
        for est, params, norm, log, centre, dim in itertools.product(
            estimators, PARAMETER_SETS, NORMS, (False, True), (False, True), DIMS
        ):
            yield Option(v, est, params, norm, log, centre, dim)


def embedding_sims(
    gt: GroundTruth, recipe: str, sources_role: str = "source"
) -> dict[str, dict[str, float]] | None:
    """Similarities from embedding files of ``benchmarks.suite_embeddings``, if they are all there."""
    folder = EMB_ROOT / recipe
    paths_t = {t: folder / "target" / f"{t}.safetensors" for t in gt.targets}
    paths_s = {s: folder / sources_role / f"{s}.safetensors" for s in gt.tasks}
    if not all(p.exists() for p in [*paths_t.values(), *paths_s.values()]):
        return None
    t_emb = {k: load_embedding(p) for k, p in paths_t.items()}
    s_emb = {k: load_embedding(p) for k, p in paths_s.items()}
    return {t: {s: t_emb[t].cosine(s_emb[s]) for s in gt.sources(t)} for t in gt.targets}


def mix(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Average of two rankers' similarities after z-scoring each per target (different scales)."""

    def z(row: dict[str, float]) -> dict[str, float]:
        v = np.asarray(list(row.values()))
        sd = float(v.std()) or 1.0
        return {k: (x - float(v.mean())) / sd for k, x in row.items()}

    return {t: {s: (z(a[t])[s] + z(b[t])[s]) / 2 for s in a[t]} for t in a}


def _table(title: str, results: list[RankerResult]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("recipe", style="bold")
    for m, up in METRICS.items():
        table.add_column(f"{m} {'↑' if up else '↓'}", justify="right")
    for r in results:
        cells = []
        for m in METRICS:
            lo, hi = r.interval(m)
            cells.append(f"{r.mean(m):.3f} [{lo:.2f},{hi:.2f}]")
        table.add_row(r.name, *cells)
    return table


def seed_ceiling(gt: GroundTruth) -> float:
    """Mean over targets of the Spearman between two seeds' transfer scores: the noise ceiling."""
    seeds = gt.seeds()
    if len(seeds) < 2:
        return float("nan")
    return float(
        np.mean([spearman(gt.seed_scores(t, seeds[0]), gt.seed_scores(t, seeds[1])) for t in gt.targets])
    )


def held_out_selection(
    gt: GroundTruth, scored: dict[Option, RankerResult], refs: dict[str, RankerResult], splits: int, seed: int
) -> tuple[list[tuple[str, dict[str, float]]], dict[str, int]]:
    """Pick the best option on half the targets, score it on the other half; over random splits.

    Returns mean held-out metrics of the selected option and of each reference, and how
    often each option was selected.
    """
    rng = np.random.default_rng(seed)
    targets = gt.targets
    held: dict[str, list[dict[str, float]]] = {"selected": [], "default": []}
    for name in refs:
        held[name] = []
    picks: dict[str, int] = {}
    for _ in range(splits):
        perm = rng.permutation(len(targets))
        half = len(targets) // 2
        folds = [{targets[i] for i in perm[:half]}, {targets[i] for i in perm[half:]}]
        for choose, report in (folds, folds[::-1]):
            best = max(scored, key=lambda o: (scored[o].subset(choose).mean(SELECT_BY), o == DEFAULT))
            picks[best.label()] = picks.get(best.label(), 0) + 1
            held["selected"].append({m: scored[best].subset(report).mean(m) for m in METRICS})
            held["default"].append({m: scored[DEFAULT].subset(report).mean(m) for m in METRICS})
            for name, r in refs.items():
                held[name].append({m: r.subset(report).mean(m) for m in METRICS})
    rows = [(name, {m: float(np.mean([h[m] for h in hs])) for m in METRICS}) for name, hs in held.items()]
    return rows, picks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument(
        "--no-models", action="store_true", help="skip model embeddings of the source classifiers"
    )
    ap.add_argument("--splits", type=int, default=50, help="random target halvings for held-out selection")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compute-only", action="store_true", help="fill the profile cache, no report")
    ap.add_argument("--out", type=Path, default=RESULTS / "ablation.md")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    configure_threads(args.threads)
    console = Console(width=200)
    t0 = time.perf_counter()
    profiles = compute_profiles(DEFAULT_TASKS, args.variants, not args.no_models)
    console.print(f"profiles ready in {time.perf_counter() - t0:.0f} s")
    if args.compute_only:
        return
    gt = load_ground_truth(GROUND_TRUTH)

    scored: dict[Option, RankerResult] = {}
    for opt in tqdm(list(grid(args.variants, profiles)), desc="options", unit="opt"):
        scored[opt] = evaluate_ranker(opt.label(), option_sims(profiles, gt, opt), gt)

    refs: dict[str, RankerResult] = {"random": random_result(gt)}
    text = embedding_sims(gt, "text")
    if text is not None:
        refs["TextEmb"] = evaluate_ranker("TextEmb", text, gt)
    for folder in sorted(EMB_ROOT.glob("prompt*")):
        prompt = embedding_sims(gt, folder.name)
        if prompt is not None:
            name = f"prompt {json.loads((folder / 'recipe.json').read_text())['settings']}"
            refs[name] = evaluate_ranker(name, prompt, gt)
    if "source-model" in profiles.get("e1", {}):
        for tag, opt in (("FUTE default", DEFAULT), ("default + log", DEFAULT.vary(log=True))):
            mte = option_sims(profiles, gt, opt, "source-model")
            dte = option_sims(profiles, gt, opt)
            refs[f"model emb. of sources ({tag})"] = evaluate_ranker(
                f"model emb. of sources ({tag})", mte, gt
            )
            refs[f"dataset + model emb. ({tag})"] = evaluate_ranker(
                f"dataset + model emb. ({tag})", mix(dte, mte), gt
            )
            if text is not None:
                refs[f"fim ({tag}) + TextEmb"] = evaluate_ranker(f"fim ({tag}) + TextEmb", mix(dte, text), gt)
    refs["oracle"] = evaluate_ranker("oracle", oracle_scores(gt), gt)

    lines = [
        "# FIM recipe ablation on measured transfer",
        "",
        "```",
        banner(),
        "```",
        "",
        f"Ground truth: {len(gt.targets)} targets x {len(gt.sources(gt.targets[0]))} sources, seeds {gt.seeds()}, "
        f"configuration in `{GROUND_TRUTH.with_suffix('.config.json').name}`. Mean |seed 0 - seed 1| of a "
        f"transfer score: {gt.seed_noise():.4f}; Spearman between the two seeds' source orders, mean over "
        f"targets (a noise ceiling for any ranker): {seed_ceiling(gt):.3f}.",
        "",
        "Cells: mean over all targets [95% bootstrap interval over targets]. `gain@1`: score after the "
        "top-ranked source minus the target trained alone.",
        "",
    ]
    factors: list[tuple[str, list[Option]]] = [
        ("training", [DEFAULT.vary(variant=v) for v in args.variants]),
        ("estimator", [DEFAULT.vary(estimator=e) for e in ("batch_sq", "mean_sq")]),
        ("parameters", [DEFAULT.vary(params=p) for p in PARAMETER_SETS]),
        (
            "normalisation",
            [DEFAULT.vary(norm=n) for n in NORMS] + [DEFAULT.vary(log=True), DEFAULT.vary(centre=True)],
        ),
        ("dimension", [DEFAULT.vary(dim=d) for d in DIMS]),
    ]
    for title, options in factors:
        results = [scored[o] for o in options if o in scored]
        console.print(_table(f"{title} (others at the default {DEFAULT.label()})", results))
        lines += [f"## {title} (others at the default `{DEFAULT.label()}`)", "", markdown_table(results), ""]
    ref_list = list(refs.values())
    console.print(_table("references", [scored[DEFAULT], *ref_list]))
    lines += ["## references", "", markdown_table([scored[DEFAULT], *ref_list]), ""]

    best_all = sorted(scored.values(), key=lambda r: -r.mean(SELECT_BY))[:10]
    console.print(
        _table(f"top 10 of {len(scored)} combinations by {SELECT_BY} on ALL targets (optimistic)", best_all)
    )
    lines += [
        f"## top 10 of {len(scored)} combinations by {SELECT_BY} on all targets (in-sample: optimistic)",
        "",
        markdown_table(best_all),
        "",
    ]
    chosen = scored[CHOSEN]
    head = ["against", *METRICS]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    diff_table = Table(title=f"chosen {CHOSEN.label()} minus each reference: mean [95% paired bootstrap]")
    for h in head:
        diff_table.add_column(h, justify="right")
    for name, r in [("FUTE default", scored[DEFAULT]), *((k, v) for k, v in refs.items() if k != "oracle")]:
        diffs = paired_differences(chosen, r)
        cells = [f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in (diffs[m] for m in METRICS)]
        diff_table.add_row(name, *cells)
        md.append(f"| {name} | " + " | ".join(cells) + " |")
    console.print(diff_table)
    lines += [
        f"## chosen `{CHOSEN.label()}` minus each reference (mean over targets [95% paired bootstrap])",
        "",
        *md,
        "",
    ]
    baselines = {k: v for k, v in refs.items() if k != "oracle"}
    # Two searches: the whole grid, and a coarse one (training x estimator x normalisation x
    # log, all parameters, dim 4096) that has far fewer ways to fit noise in 5 targets.
    coarse = {o: r for o, r in scored.items() if o.params == "all" and o.dim == 4096 and not o.centre}
    for grid_name, candidates in (("whole grid", scored), ("coarse grid", coarse)):
        held, picks = held_out_selection(gt, candidates, baselines, args.splits, 0)
        title = (
            f"held-out, {grid_name} ({len(candidates)} combinations): choose by {SELECT_BY} on half the "
            f"targets, report on the other half ({args.splits} random halvings x 2)"
        )
        table = Table(title=title, title_justify="left")
        table.add_column("ranker")
        for m in METRICS:
            table.add_column(m, justify="right")
        md = ["| ranker | " + " | ".join(METRICS) + " |", "|" + "---|" * (len(METRICS) + 1)]
        for name, values in held:
            table.add_row(name, *(f"{values[m]:.3f}" for m in METRICS))
            md.append(f"| {name} | " + " | ".join(f"{values[m]:.3f}" for m in METRICS) + " |")
        console.print(table)
        top_picks = sorted(picks.items(), key=lambda kv: -kv[1])[:5]
        console.print("most often selected: " + ", ".join(f"{k} ({v}x)" for k, v in top_picks))
        lines += [
            f"## {title}",
            "",
            *md,
            "",
            "Most often selected: " + ", ".join(f"`{k}` ({v}x)" for k, v in top_picks),
            "",
        ]
    args.out.write_text("\n".join(lines) + "\n")
    with open(args.out.with_suffix(".csv"), "w", encoding="utf-8") as f:
        f.write(",".join([*asdict(DEFAULT), *METRICS]) + "\n")
        for opt, r in scored.items():
            f.write(
                ",".join([*(str(v) for v in asdict(opt).values()), *(f"{r.mean(m):.6f}" for m in METRICS)])
                + "\n"
            )
    console.print(f"wrote {args.out} and {args.out.with_suffix('.csv')} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
