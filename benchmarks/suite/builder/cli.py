"""The command line of the build: ``python benchmarks/suite/build_suite.py COMMAND``."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from benchmarks.suite.builder import __doc__ as BUILD_DOC
from benchmarks.suite.builder.corpus import build_unlabelled
from benchmarks.suite.builder.diverse import build_diverse
from benchmarks.suite.builder.fetch import PACKAGES, Fetcher
from benchmarks.suite.builder.layout import DEFAULT_CACHE, RESOURCES_DIR, SEED
from benchmarks.suite.builder.multilingual import build_multilingual
from benchmarks.suite.builder.suite import build_suite

LOG = logging.getLogger(__name__)


COMMANDS = ("suite", "unlabelled", "multilingual", "diverse", "all", "fetch")


def main(argv: Sequence[str] | None = None) -> int:
    """Build what ``COMMAND`` names (``all``: the suite and the three corpora); exit status."""
    ap = argparse.ArgumentParser(description=BUILD_DOC.split("\n\n")[0] if BUILD_DOC else None)
    ap.add_argument("command", choices=COMMANDS, help="what to build")
    ap.add_argument(
        "--out-dir",
        type=Path,
        default=RESOURCES_DIR,
        help="folder for the diverse U (default fute/resources)",
    )
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/unpack cache folder")
    ap.add_argument(
        "--extra-cache",
        type=Path,
        action="append",
        default=[],
        help="extra folders searched for already-downloaded archives (repeatable)",
    )
    ap.add_argument("--only", nargs="+", help="build only these tasks (suite)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--u-size", type=int, default=3000, help="number of records in U")
    ap.add_argument("--u-pair-frac", type=float, default=0.2, help="fraction of U records that are pairs")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    fetcher = Fetcher(args.cache, args.extra_cache)
    t0 = time.time()
    if args.command == "fetch":
        for pkg in tqdm(PACKAGES.values(), desc="fetch", unit="pkg"):
            fetcher.unpacked(pkg)
    if args.command in ("suite", "all"):
        build_suite(fetcher, args.only, args.seed)
    if args.command in ("unlabelled", "all"):
        build_unlabelled(fetcher, args.seed, args.u_size, args.u_pair_frac)
    if args.command in ("multilingual", "all"):
        build_multilingual(fetcher, args.seed)
    if args.command in ("diverse", "all"):
        build_diverse(fetcher, args.seed, args.out_dir)
    LOG.info("done in %.1fs", time.time() - t0)
    return 0
