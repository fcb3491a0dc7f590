"""The default unlabelled corpus U: English sentences and sentence pairs from three sources.

The sentence tools here (splitting, quote balancing, the sentence filter) and the
paragraph readers of the Lee, Wikipedia and Austen texts serve the diverse U too.
"""

from __future__ import annotations

import bz2
import html
import logging
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.suite.builder.fetch import PACKAGES, Fetcher, find_one
from benchmarks.suite.builder.layout import RESOURCES_DIR
from benchmarks.suite.builder.output import write_unlabelled
from benchmarks.suite.builder.readers import licence_of, read_r_lazyload
from benchmarks.suite.builder.splits import clean

LOG = logging.getLogger(__name__)

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


def sentences_of(paras: list[list[str]]) -> list[list[str]]:
    """Each paragraph's sentences, cleaned and with dangling quotes dropped."""
    return [[balance_quotes(clean(s)) for s in p] for p in paras]


def lee_paragraphs(fetcher: Fetcher) -> list[list[str]]:
    root = fetcher.unpacked(PACKAGES["gensim"])
    text = find_one(root, "gensim/test/test_data/lee_background.cor").read_text(
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
    path = find_one(
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
    folder = find_one(root, "janeaustenr/data/Rdata.rdx").parent
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


def build_unlabelled(
    fetcher: Fetcher, seed: int, total: int, pair_frac: float, out_dir: Path = RESOURCES_DIR
) -> None:
    """The default U: ``total`` records in equal shares of the sources, ``pair_frac`` of them pairs."""
    rng = random.Random(f"{seed}:unlabelled")
    per_source = total // len(U_SOURCES)
    records: list[dict[str, str]] = []
    used: set[str] = set()
    provenance: list[dict[str, Any]] = []
    for i, (name, pkg_key, path, reader) in enumerate(tqdm(U_SOURCES, desc="U sources", unit="src")):
        n_src = per_source if i < len(U_SOURCES) - 1 else total - per_source * (len(U_SOURCES) - 1)
        n_pairs = round(n_src * pair_frac)
        paras = reader(fetcher)
        sents_all = sentences_of(paras)
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
                **pkg.provenance(path),
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
    write_unlabelled("unlabelled_default", records, description, seed, provenance, "unlabelled", out_dir)
