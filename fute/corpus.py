"""The unlabelled corpus U on which black-box models are run (model task embeddings).

U is a list of single texts and text pairs. Its *content hash* (sha256 of a canonical
serialisation of the examples actually used, after any subsample) becomes part of the
embedding space of every model embedding computed on it: two model embeddings are only
comparable when they saw the same U.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from fute.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Examples used from U by default. 1,000 is what the FUTE paper takes per source dataset
#: and what a CPU runs a FIM embedding on in about a minute; LLM adapters need far fewer
#: (100-300 are plenty on a CPU), see ``docs/models.md``.
DEFAULT_CORPUS_SIZE = 1000
#: Seed of the subsample of U (part of the content hash through the examples it picks).
DEFAULT_CORPUS_SEED = 0
PACKAGED_CORPUS = "unlabelled_default.jsonl.gz"


@dataclass(frozen=True)
class CorpusExample:
    """One unlabelled input: a text, or a text pair."""

    text: str
    text_pair: str | None = None


@dataclass(frozen=True)
class UnlabelledCorpus:
    """The examples of U, their content hash and where they came from."""

    examples: tuple[CorpusExample, ...]
    hash: str
    source: str

    def __len__(self) -> int:
        return len(self.examples)


def corpus_hash(examples: tuple[CorpusExample, ...]) -> str:
    """sha256 over the examples in order, one canonical JSON line each (pairs included)."""
    digest = hashlib.sha256()
    for ex in examples:
        line = json.dumps([ex.text, ex.text_pair], ensure_ascii=False, separators=(",", ":"))
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _read_jsonl(path: Path) -> list[CorpusExample]:
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[CorpusExample] = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{where}: not valid JSON ({exc.msg})") from exc
                if (
                    not isinstance(row, dict)
                    or not isinstance(row.get("text"), str)
                    or not row["text"].strip()
                ):
                    raise DataError(f"{where}: expected an object with a non-empty string field 'text'")
                pair = row.get("text_pair")
                if pair is not None and not isinstance(pair, str):
                    raise DataError(f"{where}: field 'text_pair' must be a string or absent")
                out.append(CorpusExample(row["text"], pair))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the corpus ({exc})") from exc
    return out


def load_corpus(
    path: str | Path | None = None,
    *,
    limit: int | None = DEFAULT_CORPUS_SIZE,
    seed: int = DEFAULT_CORPUS_SEED,
) -> UnlabelledCorpus:
    """Load U: the packaged corpus by default, or a user's JSONL file (``text``, optional ``text_pair``).

    Duplicates are dropped (first occurrence kept). With ``limit``, a seeded random subset
    of that size is kept in file order; ``None`` keeps everything.

    Raises:
        DataError: the file is missing, malformed or empty.
        ConfigError: ``limit`` is below 1.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"corpus limit must be >= 1 (or None for all), got {limit}")
    if path is None:
        resource = files("fute").joinpath("resources", PACKAGED_CORPUS)
        source_path = Path(str(resource))
        source = f"packaged:{PACKAGED_CORPUS}"
    else:
        source_path = Path(path).expanduser()
        source = str(source_path.resolve())
    if not source_path.is_file():
        raise DataError(f"{source_path}: no such corpus file (JSONL with 'text' and optional 'text_pair')")
    seen: set[CorpusExample] = set()
    unique: list[CorpusExample] = []
    for ex in _read_jsonl(source_path):
        if ex not in seen:
            seen.add(ex)
            unique.append(ex)
    if not unique:
        raise DataError(f"{source_path}: the corpus is empty")
    if limit is not None and len(unique) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(unique), size=limit, replace=False))
        unique = [unique[i] for i in keep]
        source = f"{source} (seeded sample of {limit}, seed {seed})"
    examples = tuple(unique)
    digest = corpus_hash(examples)
    logger.info("corpus U: %d examples from %s, hash %s", len(examples), source, digest[:12])
    return UnlabelledCorpus(examples=examples, hash=digest, source=source)
