"""The diverse unlabelled corpus U: many kinds of input, as the paper's U has.

The FUTE paper's U takes ~1,000 inputs from each of ~109 datasets of many kinds. The
English prose of ``unlabelled_default`` makes the input distribution dominate every
model embedding (docs/models.md); this U mixes glosses, usage examples, sayings, jokes,
quiz questions with answers, news, encyclopedia and fiction sentences, sentence pairs and
a multilingual slice. No source is the data of a suite task (benchmarks/suite/tasks.json).
"""

from __future__ import annotations

import gzip
import html
import itertools
import json
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.suite.builder.corpus import (
    U_SOURCE_NOTES,
    good_sentence,
    lee_paragraphs,
    sentences_of,
    split_sentences,
    wiki_paragraphs,
)
from benchmarks.suite.builder.fetch import PACKAGES, Fetcher, find_one
from benchmarks.suite.builder.layout import DATA_DIR, RESOURCES_DIR
from benchmarks.suite.builder.multilingual import UDHR_LANGUAGES, udhr_paragraphs
from benchmarks.suite.builder.output import write_unlabelled
from benchmarks.suite.builder.readers import licence_of
from benchmarks.suite.builder.splits import clean

LOG = logging.getLogger(__name__)

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


def _singles(paras: list[list[str]]) -> list[DiverseRecord]:
    return [{"text": s} for p in sentences_of(paras) for s in p if good_sentence(s)]


def _pairs(paras: list[list[str]]) -> list[DiverseRecord]:
    out: list[DiverseRecord] = []
    for p in sentences_of(paras):
        for a, b in itertools.pairwise(p):
            if good_sentence(a) and good_sentence(b) and a != b:
                out.append({"text": a, "text_pair": b})
    return out


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def reuters_paragraphs(fetcher: Fetcher) -> list[list[str]]:
    """Sentences of the Reuters-21578 articles shipped by R's ``tm`` (acq and crude)."""
    root = fetcher.unpacked(PACKAGES["tm"])
    texts = find_one(root, "tm/texts/acq/reut-00001.xml").parents[1]
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
        for line in find_one(root, f"dict/{fname}").read_text(encoding="utf-8").splitlines():
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
    data = json.loads(find_one(fetcher.unpacked(PACKAGES[key]), path).read_text(encoding="utf-8-sig"))
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
    folder = find_one(root, "games/fortunes/computers").parent
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
        paras = udhr_paragraphs(find_one(root, f"declaration/{code}.html"))
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
                **pkg.provenance(src.path),
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
