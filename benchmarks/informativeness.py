"""How much the packaged black boxes say on each packaged U (issue 16, item 4).

For every model and U: the answer entropy, majority share, spread and (where U records
sources) mutual information with U's sources of the model's outputs
(fute.informativeness). The callables take seconds; no embedding is computed.

    .venv/bin/python benchmarks/informativeness.py [--size 1000] > benchmarks/results/informativeness.txt
"""

from __future__ import annotations

import argparse
import tempfile

from fute.corpus import load_corpus
from fute.informativeness import LOW_ENTROPY_THRESHOLD, output_information
from fute.model_embedding import predict_corpus
from fute.models import AdapterOptions, load_adapter

MODELS = ("vader", "vader-probs", "textblob", "profanity-check", "langid")
CORPORA = ("packaged:default", "packaged:multilingual", "packaged:diverse")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="examples of each U (a seeded sample)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated callables")
    args = parser.parse_args(argv)
    print(f"threshold: answer entropy < {LOW_ENTROPY_THRESHOLD} is flagged")
    with tempfile.TemporaryDirectory() as cache:
        for u in CORPORA:
            corpus = load_corpus(u, limit=args.size)
            print(f"== {u}: {len(corpus)} inputs, hash {corpus.hash[:12]}")
            for name in args.models.split(","):
                adapter = load_adapter(f"callable:{name}", AdapterOptions())
                preds = predict_corpus(adapter, corpus, cache_dir=cache, progress=False)
                info = output_information(preds, adapter.output_kind, corpus.input_sources)
                flag = "  LOW" if info.is_low() else ""
                print(f"{name:16s} {info.describe(adapter.label_names)}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
