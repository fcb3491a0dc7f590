"""The diverse unlabelled corpus U (``packaged:diverse``): content, provenance, rebuild."""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
from pathlib import Path

import pytest

from benchmarks.suite.builder.diverse import DIVERSE_SOURCES, build_diverse
from benchmarks.suite.builder.fetch import PACKAGES, Fetcher
from benchmarks.suite.builder.layout import DEFAULT_CACHE, SEED
from fute.corpus import load_corpus

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "fute" / "resources"
SUITE = REPO / "benchmarks" / "suite"


def _meta() -> dict[str, object]:
    meta: dict[str, object] = json.loads((RESOURCES / "unlabelled_diverse.json").read_text(encoding="utf-8"))
    return meta


def _rows() -> list[dict[str, str]]:
    payload = gzip.decompress((RESOURCES / "unlabelled_diverse.jsonl.gz").read_bytes())
    return [json.loads(line) for line in payload.decode("utf-8").splitlines()]


def test_diverse_records_match_their_provenance() -> None:
    meta, rows = _meta(), _rows()
    payload = gzip.decompress((RESOURCES / "unlabelled_diverse.jsonl.gz").read_bytes())
    assert hashlib.sha256(payload).hexdigest() == meta["sha256_jsonl"]
    assert len(rows) == meta["n_records"]
    sources = meta["sources"]
    assert isinstance(sources, list)
    by_name = {s["name"]: s for s in sources}
    counts = collections.Counter(r["source"] for r in rows)
    pairs = collections.Counter(r["source"] for r in rows if "text_pair" in r)
    # every record names a recorded source, and the per-source counts are the recorded ones
    assert set(counts) == set(by_name)
    for name, src in by_name.items():
        assert counts[name] == src["n_single"] + src["n_pairs"], name
        assert pairs[name] == src["n_pairs"], name
        for key in ("package", "version", "registry", "path_in_package", "licence", "kind"):
            assert src[key], f"{name}: no {key}"
        assert src["registry"] in {"pypi", "npm", "debian"}
    texts = [t for r in rows for t in (r["text"], r.get("text_pair")) if t is not None]
    assert len(texts) == len(set(texts)), "duplicate texts in U"
    assert all(t.strip() == t and t for t in texts)


def test_diverse_is_diverse() -> None:
    """Many sources and kinds, pairs of several kinds, questions, and a multilingual slice."""
    meta, rows = _meta(), _rows()
    sources = meta["sources"]
    assert isinstance(sources, list)
    assert len(sources) >= 12 and len({s["package"] for s in sources}) >= 6
    share = collections.Counter(r["source"] for r in rows)
    assert max(share.values()) / len(rows) < 0.15, "one source dominates U"
    pair_kinds = {r["source"] for r in rows if "text_pair" in r}
    assert len(pair_kinds) >= 4
    assert sum(1 for r in rows if r["text"].endswith("?")) >= 150
    non_latin = sum(1 for r in rows if any(ord(c) > 0x370 for c in r["text"]))
    assert non_latin >= 100
    lengths = sorted(len(r["text"].split()) for r in rows)
    assert lengths[len(lengths) // 10] <= 6 and lengths[-len(lengths) // 10] >= 20  # short and long


def test_diverse_shares_no_text_with_the_suite_tasks() -> None:
    """U must not contain the labelled evaluation data (any split of any suite task)."""
    texts = {t for r in _rows() for t in (r["text"], r.get("text_pair")) if t is not None}
    files = sorted((SUITE / "data").glob("*/*.jsonl.gz"))
    assert len(files) >= 16 * 3
    for path in files:
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            row = json.loads(line)
            for key in ("text", "text_pair"):
                assert row.get(key) not in texts, f"{path}: {str(row.get(key))[:60]!r} is in U"


def test_load_diverse_keeps_sources_aligned_through_the_sample() -> None:
    full = load_corpus("packaged:diverse", limit=None)
    rows = _rows()
    assert full.input_sources == tuple(r["source"] for r in rows)
    sample = load_corpus("packaged:diverse", limit=300, seed=3)
    assert sample.input_sources is not None and len(sample.input_sources) == 300
    origin = {(r["text"], r.get("text_pair")): r["source"] for r in rows}
    for ex, src in zip(sample.examples, sample.input_sources, strict=True):
        assert origin[(ex.text, ex.text_pair)] == src
    # a different U is a different space
    assert sample.hash != load_corpus("packaged:default", limit=300, seed=3).hash
    assert load_corpus("packaged:default", limit=10).input_sources is None


def test_partial_sources_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"text": "a b c", "source": "x"}\n{"text": "d e f"}\n', encoding="utf-8")
    assert load_corpus(path, limit=None).input_sources is None
    path.write_text('{"text": "a b c", "source": "x"}\n{"text": "d e f", "source": "y"}\n', encoding="utf-8")
    assert load_corpus(path, limit=None).input_sources == ("x", "y")


@pytest.mark.slow  # fetches the pinned source packages from their registries when not cached
def test_diverse_rebuild_is_byte_identical(tmp_path: Path) -> None:
    """``build_suite.py diverse`` from the pinned packages gives the committed bytes."""
    try:
        fetcher = Fetcher(DEFAULT_CACHE)
        for key in {s.pkg_key for s in DIVERSE_SOURCES}:
            fetcher.unpacked(PACKAGES[key])
    except (RuntimeError, OSError) as exc:  # pragma: no cover - no registry reachable
        pytest.skip(f"pinned source packages unavailable: {exc}")
    build_diverse(fetcher, SEED, tmp_path)
    for name in ("unlabelled_diverse.jsonl.gz", "unlabelled_diverse.json"):
        assert (tmp_path / name).read_bytes() == (RESOURCES / name).read_bytes(), name
