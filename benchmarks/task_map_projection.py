"""How faithful the console's task map is: classical MDS against SMACOF on the suite.

Usage: python benchmarks/task_map_projection.py [--method text] [--max-examples 24] [--set key=value]
Embeds every suite task (train split, capped) with one method, then prints, for each
projection of ``server.http_api.task_map``, the Spearman correlation of 2-D distances with
cosine distances over all pairs and Kruskal's stress-1 against sqrt(2 - 2 cos), and which
one the map route picks. The numbers in docs/service.md come from the defaults.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fute.cli.args import parse_overrides
from fute.data import cap_examples, load_task
from fute.methods import make_method
from fute.surrogate import load_surrogate
from server.http_api.task_map import chord_distances, classical_mds, faithfulness, smacof, task_map

SUITE = Path(__file__).resolve().parent / "suite"


def suite_cosines(method: str, max_examples: int, overrides: dict[str, object]) -> np.ndarray:
    """The cosine matrix of the suite tasks embedded with ``method``."""
    fute_method = make_method(method, load_surrogate(), {"max_examples": max_examples, **overrides})
    vectors = []
    for entry in json.loads((SUITE / "tasks.json").read_text()):
        task = load_task(SUITE / "data" / entry["name"] / "train.jsonl.gz", name=entry["name"])
        vectors.append(fute_method.embed(cap_examples(task, max_examples, seed=0), progress=False).vector)
    unit = np.stack(vectors).astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return unit @ unit.T


def main() -> None:
    """Print the faithfulness of both projections."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", default="text", help="embedding method (text is fast)")
    parser.add_argument("--max-examples", type=int, default=24, help="examples per task")
    parser.add_argument("--set", action="append", default=[], help="method setting key=value")
    args = parser.parse_args()
    cos = suite_cosines(args.method, args.max_examples, parse_overrides(args.set))
    dist = chord_distances(cos)
    start = classical_mds(dist)
    for name, xy in (("classical MDS", start), ("SMACOF from classical MDS", smacof(dist, start))):
        rho, stress = faithfulness(xy, dist)
        print(f"{name:<28} spearman {rho:.3f}  stress-1 {stress:.3f}")
    print(f"the map route picks: {task_map(cos).method}")


if __name__ == "__main__":
    main()
