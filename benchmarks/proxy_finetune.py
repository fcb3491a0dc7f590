"""A proxy fine-tune as a target-aware signal: re-rank cosine's top few by a short trial.

For each target of the ground truth: take its capped training split (the same 300-example
seeded sample the ground truth trains on), train on the first ``--proxy-train`` of them and
score the rest (the target's test split is never read), once from the plain surrogate and
once from each of cosine's top ``--top`` sources (their seed-0 classifiers, kept by
``benchmarks/transfer_ground_truth.py`` under ``runs/transfer/sources``). The proxy gain of
a source is its proxy score minus the plain one. Then, against the measured gains:

- the top pick by proxy gain among cosine's top few, against cosine's own top pick
  (regret@1, gain@1, within seed noise), paired over targets;
- "train alone" advice when every proxy gain is <= 0, against whether any measured source
  helped;
- the cost per query: seconds of proxy training per target (``top + 1`` short runs).

    python -m benchmarks.proxy_finetune --ranker runs/eval/fim-log/target runs/eval/fim-log/source \\
        --top 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import transformers

from benchmarks.common import banner
from benchmarks.transfer_ground_truth import RESULTS, _load
from fute.data.split import cap_examples
from fute.evaluation.folders import load_embedding_dir
from fute.evaluation.ground_truth import GroundTruth, load_ground_truth
from fute.evaluation.metrics import regret_at_k
from fute.evaluation.rankings import embedding_similarities, mean_interval, rank
from fute.models.finetune import FinetuneSettings
from fute.runtime import configure_threads
from fute.surrogate import load_surrogate
from fute.transfer import TransferSettings, encoder_state, target_score


def _encoder(folder: Path) -> dict[str, Any]:
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    return encoder_state(model)


def _regret(gt: GroundTruth, target: str, pick: str) -> float:
    """regret@1 (as ``fute eval`` computes it) of picking ``pick`` first."""
    truth = gt.scores(target)
    return regret_at_k([pick, *(s for s in truth if s != pick)], truth, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ground-truth", type=Path, default=RESULTS / "ground_truth.jsonl")
    ap.add_argument("--ranker", nargs=2, type=Path, metavar=("TARGETS", "SOURCES"), required=True)
    ap.add_argument("--models", type=Path, default=Path("runs/transfer/sources"))
    ap.add_argument("--top", type=int, default=3, help="cosine's top candidates re-ranked by the proxy")
    ap.add_argument("--proxy-train", type=int, default=100, help="target examples the proxy trains on")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--summary-only", action="store_true", help="summarise the targets on file, run none")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "proxy_finetune"
    )
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    configure_threads(args.threads)
    gt = load_ground_truth(args.ground_truth)
    targets, sources = load_embedding_dir(args.ranker[0]), load_embedding_dir(args.ranker[1])
    sims = embedding_similarities(targets, sources, gt)
    surrogate = load_surrogate()
    base = TransferSettings().target
    noise = gt.seed_noise()
    args.out.mkdir(parents=True, exist_ok=True)
    ledger = args.out / "rows.jsonl"  # one finished target per line: a rerun resumes
    rows: list[dict[str, Any]] = (
        [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
        if ledger.exists()
        else []
    )
    done = {r["target"] for r in rows}
    print(banner())
    for t in gt.targets:
        if gt.baseline(t) is None or t in done or args.summary_only:
            continue
        full = cap_examples(_load(t, "train"), base.max_examples, 0)
        train = full.with_examples(full.examples[: args.proxy_train])
        dev = full.with_examples(full.examples[args.proxy_train :])
        settings: FinetuneSettings = replace(base, max_examples=None, seed=0)
        start = time.perf_counter()
        alone = target_score(surrogate, train, dev, settings, None, progress=False)
        top = rank(sims[t])[: args.top]
        proxy = {
            s: target_score(
                surrogate, train, dev, settings, _encoder(args.models / f"{s}-seed0"), progress=False
            )
            - alone
            for s in top
        }
        seconds = time.perf_counter() - start
        truth = gt.scores(t)
        gain = {s: v - gt.baseline(t) for s, v in truth.items()}  # type: ignore[operator]
        pick = max(top, key=lambda s: (proxy[s], -top.index(s)))
        row = {
            "target": t,
            "cosine_top": top,
            "proxy_gain": proxy,
            "pick_cosine": top[0],
            "pick_proxy": pick,
            "gain_cosine": gain[top[0]],
            "gain_proxy": gain[pick],
            "regret_cosine": _regret(gt, t, top[0]),
            "regret_proxy": _regret(gt, t, pick),
            "within_noise_cosine": float(truth[top[0]] >= max(truth.values()) - noise),
            "within_noise_proxy": float(truth[pick] >= max(truth.values()) - noise),
            "advise_alone": bool(max(proxy.values()) <= 0),
            "truly_no_help": bool(max(gain.values()) <= 0),
            "seconds": seconds,
        }
        rows.append(row)
        with ledger.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"{t}: cosine {top[0]} ({row['gain_cosine']:+.3f}), proxy {pick} ({row['gain_proxy']:+.3f}); "
            f"proxy gains {', '.join(f'{s} {v:+.3f}' for s, v in proxy.items())}; {seconds:.0f} s",
            flush=True,
        )
    lines = [
        banner(),
        "",
        f"{len(rows)} targets; top {args.top} by cosine; proxy trains on {args.proxy_train}"
        f" of the capped split and scores the other {base.max_examples - args.proxy_train}",
        "",
    ]
    lines += [
        "| metric | cosine's pick | proxy's pick (of cosine's top) | proxy - cosine [95% paired] |",
        "|---|---|---|---|",
    ]
    for name, key in (
        ("regret@1 %", "regret"),
        ("gain@1", "gain"),
        ("top pick within seed noise", "within_noise"),
    ):
        c = np.array([r[f"{key}_cosine"] for r in rows])
        p = np.array([r[f"{key}_proxy"] for r in rows])
        d, lo, hi = mean_interval(p - c)
        lines.append(f"| {name} | {c.mean():.3f} | {p.mean():.3f} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    right = sum(r["advise_alone"] == r["truly_no_help"] for r in rows)
    advised = sum(r["advise_alone"] for r in rows)
    lines += [
        "",
        f"'train alone' advice (every proxy gain <= 0) right for {right} of {len(rows)} targets "
        f"(advised {advised}, truly no help {sum(r['truly_no_help'] for r in rows)})",
        f"cost per query: {np.mean([r['seconds'] for r in rows]):.1f} s mean ({args.top + 1} proxy runs), "
        f"threads {args.threads}",
    ]
    text = "\n".join(lines)
    print(text)
    (args.out / "proxy_finetune.txt").write_text(text + "\n")
    (args.out / "proxy_finetune.json").write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "settings": asdict(base), "rows": rows},
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
