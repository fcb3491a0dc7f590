"""Where the build reads and writes, and the seed every output is drawn with."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SUITE_DIR = REPO / "benchmarks" / "suite"
DATA_DIR = SUITE_DIR / "data"
RESOURCES_DIR = REPO / "fute" / "resources"
DEFAULT_CACHE = Path("/tmp/fute_suite_cache")
SEED = 20240601
