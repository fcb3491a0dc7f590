"""Verbaliser scoring speed: fute's KV-cache continuation against one forward per verbaliser.

    .venv/bin/python benchmarks/llm_scoring.py                      # SmolLM2, 64 examples of U
    .venv/bin/python benchmarks/llm_scoring.py --prompts spam,topic --examples 32

For each packaged prompt, the same examples of the packaged U are scored twice with the
packaged SmolLM2-135M-Instruct, both in batches of ``--batch-size``:

* ``fute``: ``CausalLMAdapter.verbaliser_logprobs`` (one forward over the prompts, then the
  multi-token verbalisers continue from the prompts' KV cache);
* ``per-verbaliser``: the straightforward exact way, and fute's own before the cache: the
  prompt alone plus prompt + v for every multi-token verbaliser v, all in one left-padded
  batch, so each prompt runs ``1 + #multi-token verbalisers`` times.

Both give log P(v | prompt) by teacher forcing; the script prints the wall time of each,
the speed-up and the largest difference between the two score matrices.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

# Run as a script from the repository root: make `benchmarks` importable as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import banner
from fute.corpus import load_corpus
from fute.models.causal_lm import CausalLMAdapter, left_pad
from fute.models.prompts import load_prompt
from fute.models.smollm2 import smollm2_dir
from fute.runtime import configure_threads


def per_verbaliser_logprobs(adapter: CausalLMAdapter, prompts: Sequence[list[int]]) -> np.ndarray:
    """Reference: every multi-token verbaliser appended to its prompt and run in full."""
    verbalisers = adapter._verbalisers
    multi = [j for j, v in enumerate(verbalisers) if len(v) > 1]
    seqs = [s for p in prompts for s in [p, *(p + verbalisers[j] for j in multi)]]
    ids, mask = left_pad(seqs, adapter._pad)
    keep = max(len(v) for v in verbalisers) + 1
    with torch.inference_mode():
        out = adapter.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
            logits_to_keep=keep,
        )
    logp = torch.log_softmax(out.logits[:, -keep:].double(), dim=-1)
    per_prompt = 1 + len(multi)
    scores = np.zeros((len(prompts), len(verbalisers)))
    for row in range(len(prompts)):
        base = row * per_prompt
        for j, v in enumerate(verbalisers):
            if len(v) == 1:
                scores[row, j] = float(logp[base, -1, v[0]])
        for k, j in enumerate(multi):
            v = verbalisers[j]
            cols = torch.arange(keep - 1 - len(v), keep - 1)
            scores[row, j] = float(logp[base + 1 + k, cols, torch.tensor(v)].sum())
    return scores


def _timed(
    score: Callable[[list[list[int]]], np.ndarray], batches: list[list[list[int]]]
) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    rows = [score(batch) for batch in batches]
    return time.perf_counter() - start, np.concatenate(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", default="sentiment,spam,question_type,topic,language")
    parser.add_argument("--examples", type=int, default=64, help="examples of the packaged U")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    configure_threads(args.threads)
    print(banner())
    print(f"command: python benchmarks/llm_scoring.py --prompts {args.prompts} --examples {args.examples}")
    folder = smollm2_dir()
    examples = load_corpus(limit=args.examples).examples
    print(f"SmolLM2-135M-Instruct, {len(examples)} examples of U, batch {args.batch_size}")
    print(f"{'prompt':<14} {'multi':>5} {'fute s':>8} {'per-verb s':>10} {'speed-up':>8} {'max |diff|':>10}")
    for name in args.prompts.split(","):
        adapter = CausalLMAdapter(folder, load_prompt(name), batch_size=args.batch_size)
        prompt_ids = [adapter._prompt_ids(ex) for ex in examples]
        batches = [prompt_ids[i : i + args.batch_size] for i in range(0, len(prompt_ids), args.batch_size)]
        adapter.verbaliser_logprobs(batches[0])  # warm-up: first-call allocations
        fute_s, fute_scores = _timed(adapter.verbaliser_logprobs, batches)
        ref_s, ref_scores = _timed(lambda b, a=adapter: per_verbaliser_logprobs(a, b), batches)
        n_multi = sum(len(v) > 1 for v in adapter._verbalisers)
        diff = float(np.abs(fute_scores - ref_scores).max())
        print(f"{name:<14} {n_multi:>5} {fute_s:>8.2f} {ref_s:>10.2f} {ref_s / fute_s:>7.2f}x {diff:>10.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
