"""The unlabelled corpus U on which black-box models are run (model task embeddings).

U is a list of single texts and text pairs. Its *content hash* (sha256 of a canonical
serialisation of the examples actually used, after any subsample) becomes part of the
embedding space of every model embedding computed on it: two model embeddings are only
comparable when they saw the same U.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from fute.data.loading import iter_jsonl_objects
from fute.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Examples used from U by default. 1,000 is what the FUTE paper takes per source dataset
#: and what a CPU runs a FIM embedding on in about a minute; LLM adapters need far fewer
#: (100-300 are plenty on a CPU), see ``docs/models.md``.
DEFAULT_CORPUS_SIZE = 1000
#: Seed of the subsample of U (part of the content hash through the examples it picks).
DEFAULT_CORPUS_SEED = 0
#: Corpora shipped in ``fute/resources`` (provenance in the ``.json`` beside each), named
#: ``packaged:NAME`` wherever a corpus file is accepted. ``default`` is English prose;
#: ``multilingual`` (UDHR paragraphs in 41 languages) is for models whose task is about
#: language, which English text cannot exercise (docs/models.md); ``diverse`` mixes many
#: kinds of input (glosses, questions, chat, jokes, news, pairs, 41 languages), as the
#: paper's U does, and records each input's source.
PACKAGED_CORPORA: dict[str, str] = {
    "default": "unlabelled_default.jsonl.gz",
    "multilingual": "unlabelled_multilingual.jsonl.gz",
    "diverse": "unlabelled_diverse.jsonl.gz",
}
PACKAGED_PREFIX = "packaged:"


@dataclass(frozen=True)
class CorpusExample:
    """One unlabelled input: a text, or a text pair."""

    text: str
    text_pair: str | None = None


@dataclass(frozen=True)
class UnlabelledCorpus:
    """The examples of U, their content hash and where they came from.

    ``input_sources`` names, per example, the source an input was drawn from (the optional
    ``source`` field of each JSONL line) when every line has one, else it is ``None``. It
    is not part of the hash: it describes U, it does not change what a model sees.
    """

    examples: tuple[CorpusExample, ...]
    hash: str
    source: str
    input_sources: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.input_sources is not None and len(self.input_sources) != len(self.examples):
            raise ValueError(
                f"{len(self.input_sources)} input sources for {len(self.examples)} examples of U"
            )

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


def _read_jsonl(path: Path) -> list[tuple[CorpusExample, str | None]]:
    """Every line's example and its optional ``source`` name, in file order."""
    out: list[tuple[CorpusExample, str | None]] = []
    try:
        for where, row in iter_jsonl_objects(path):
            text, pair, origin = row.get("text"), row.get("text_pair"), row.get("source")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: expected an object with a non-empty string field 'text'")
            if pair is not None and not isinstance(pair, str):
                raise DataError(f"{where}: field 'text_pair' must be a string or absent")
            if origin is not None and not isinstance(origin, str):
                raise DataError(f"{where}: field 'source' must be a string or absent")
            out.append((CorpusExample(text, pair), origin))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the corpus ({exc})") from exc
    return out


def _locate(path: str | Path | None) -> tuple[Path, str]:
    """The file behind a corpus argument and its name: ``None`` and ``packaged:NAME`` are
    packaged corpora, anything else a user's file."""
    if path is None:
        path = PACKAGED_PREFIX + "default"
    if isinstance(path, str) and path.startswith(PACKAGED_PREFIX):
        name = path[len(PACKAGED_PREFIX) :]
        if name not in PACKAGED_CORPORA:
            raise ConfigError(f"no packaged corpus {name!r}; packaged corpora: {sorted(PACKAGED_CORPORA)}")
        return Path(str(files("fute").joinpath("resources", PACKAGED_CORPORA[name]))), path
    source_path = Path(path).expanduser()
    return source_path, str(source_path.resolve())


def load_corpus(
    path: str | Path | None = None,
    *,
    limit: int | None = DEFAULT_CORPUS_SIZE,
    seed: int = DEFAULT_CORPUS_SEED,
) -> UnlabelledCorpus:
    """Load U: the packaged corpus by default, ``packaged:NAME`` for another packaged one
    (:data:`PACKAGED_CORPORA`), or a user's JSONL file (``text``, optional ``text_pair``
    and ``source``, the name of where the input came from).

    Duplicates are dropped (first occurrence kept). With ``limit``, a seeded random subset
    of that size is kept in file order; ``None`` keeps everything.

    Raises:
        DataError: the file is missing, malformed or empty.
        ConfigError: ``limit`` is below 1, or no packaged corpus has that name.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"corpus limit must be >= 1 (or None for all), got {limit}")
    source_path, source = _locate(path)
    if not source_path.is_file():
        raise DataError(f"{source_path}: no such corpus file (JSONL with 'text' and optional 'text_pair')")
    seen: set[CorpusExample] = set()
    unique: list[tuple[CorpusExample, str | None]] = []
    for ex, origin in _read_jsonl(source_path):
        if ex not in seen:
            seen.add(ex)
            unique.append((ex, origin))
    if not unique:
        raise DataError(f"{source_path}: the corpus is empty")
    if limit is not None and len(unique) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(unique), size=limit, replace=False))
        unique = [unique[i] for i in keep]
        source = f"{source} (seeded sample of {limit}, seed {seed})"
    examples = tuple(ex for ex, _ in unique)
    origins = [origin for _, origin in unique]
    # Sources only when every input has one: a partial labelling would skew any statistic
    input_sources = tuple(o for o in origins if o is not None)
    digest = corpus_hash(examples)
    logger.info("corpus U: %d examples from %s, hash %s", len(examples), source, digest[:12])
    return UnlabelledCorpus(
        examples=examples,
        hash=digest,
        source=source,
        input_sources=input_sources if len(input_sources) == len(examples) else None,
    )
