"""Embedding spaces: what makes two task embeddings comparable.

FUTE's promise is that every embedding computed with the same surrogate weights, the same
method and settings, the same reduction and (for model embeddings) the same unlabelled
corpus lives in one vector space. :class:`EmbeddingSpace` records exactly those things;
comparing vectors of two different spaces is an error, never a number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fute.errors import SpaceMismatchError

# Bumped whenever the computation of an embedding changes in a way that moves vectors:
# the library version alone is provenance, this is identity.
# 2: fused AdamW in fine-tuning (same maths, different rounding: vectors move by ~1e-6).
ALGORITHM_VERSION = 2


@dataclass(frozen=True)
class EmbeddingSpace:
    """The identity of a vector space of task embeddings.

    Attributes:
        surrogate_name: human-readable name of the surrogate model (e.g. ``all-MiniLM-L6-v2``).
        surrogate_hash: sha256 prefix of the surrogate's weight files; the real identity.
        method: embedding method (``fim``, ``prompt``, ``text``).
        settings: the method's settings that change vectors, as canonical JSON.
        dim: length of the stored vector.
        reduction: ``none`` or the name of the projection (``countsketch``).
        reduction_seed: seed of the projection (0 when there is none).
        corpus: content hash of the unlabelled corpus U used for model embeddings, or
            ``None`` for a space that so far holds only dataset embeddings. A dataset
            embedding does not depend on U, so it is comparable with model embeddings of
            any one corpus; two model embeddings must share theirs.
        algorithm_version: see :data:`ALGORITHM_VERSION`.
        library_version: the ``fute`` version that wrote it (provenance, not identity).
    """

    surrogate_name: str
    surrogate_hash: str
    method: str
    settings: str
    dim: int
    reduction: str = "none"
    reduction_seed: int = 0
    corpus: str | None = None
    algorithm_version: int = ALGORITHM_VERSION
    library_version: str = field(default="", compare=False)

    def identity(self) -> dict[str, Any]:
        """The fields that decide comparability (corpus and library version excluded)."""
        d = asdict(self)
        d.pop("library_version")
        d.pop("corpus")
        return d

    @property
    def key(self) -> str:
        """A short stable id of the space (16 hex chars), the same for equal identities."""
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def settings_dict(self) -> dict[str, Any]:
        """The method settings decoded from their canonical JSON."""
        out: dict[str, Any] = json.loads(self.settings)
        return out

    def to_json(self) -> str:
        """Serialise all fields, library version included."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EmbeddingSpace:
        """Inverse of :meth:`to_json`; unknown keys are an error, not silently dropped."""
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SpaceMismatchError(f"unknown embedding-space fields {unknown}; known: {sorted(known)}")
        return cls(**raw)

    def describe(self) -> str:
        """One line for tables and error messages."""
        corpus = f", corpus {self.corpus[:12]}" if self.corpus else ""
        return (
            f"{self.method}[{self.settings}] on {self.surrogate_name}@{self.surrogate_hash[:12]}, "
            f"dim {self.dim} ({self.reduction}, seed {self.reduction_seed}){corpus}"
        )


def _show(value: Any) -> str:
    """A field value as a user types it: ``mean_sq``, ``4096``, ``none`` for a missing one."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _settings_of(space: EmbeddingSpace) -> dict[str, Any]:
    try:
        return space.settings_dict()
    except ValueError:  # not JSON: compare it whole
        return {"settings": space.settings}


def space_differences(a: EmbeddingSpace, b: EmbeddingSpace) -> list[str]:
    """Every field that keeps ``a`` and ``b`` apart, as ``field: value_a != value_b``.

    Settings are compared key by key (``estimator: mean_sq != batch_sq``), so a user sees
    which ``--set`` flag differs; the corpus differs only when both spaces have one. An
    empty list means embeddings of ``a`` and ``b`` may be compared.
    """
    ia, ib = a.identity(), b.identity()
    diffs: list[str] = []
    for key in ia:
        if ia[key] == ib[key]:
            continue
        if key == "settings":
            sa, sb = _settings_of(a), _settings_of(b)
            for name in sorted(set(sa) | set(sb)):
                if sa.get(name) != sb.get(name):
                    diffs.append(f"{name}: {_show(sa.get(name))} != {_show(sb.get(name))}")
        else:
            diffs.append(f"{key}: {_show(ia[key])} != {_show(ib[key])}")
    if a.corpus is not None and b.corpus is not None and a.corpus != b.corpus:
        diffs.append(f"corpus: {a.corpus} != {b.corpus}")
    return diffs


def check_same_space(a: EmbeddingSpace, b: EmbeddingSpace, what_a: str = "a", what_b: str = "b") -> None:
    """Raise :class:`SpaceMismatchError` unless embeddings of ``a`` and ``b`` may be compared.

    The message lists each field that differs (:func:`space_differences`), so the user
    sees *why*.
    """
    diffs = space_differences(a, b)
    if diffs:
        raise SpaceMismatchError(
            f"cannot compare {what_a} and {what_b}: they live in different embedding spaces ("
            + "; ".join(diffs)
            + ")"
        )


def check_one_space(spaces: Sequence[tuple[EmbeddingSpace, str]]) -> EmbeddingSpace:
    """Raise :class:`SpaceMismatchError` unless every pair of ``(space, what)`` may be
    compared; return the space they share (one with a corpus, when any has one).

    Pairwise, because comparability is not transitive: a space without a corpus (a
    dataset's) may be compared with any U, so a dataset and two models on two different U
    pass two checks against the dataset while the models may not be compared.
    """
    if not spaces:
        raise ValueError("check_one_space needs at least one space")
    first, what_first = spaces[0]
    anchor, what_anchor = next(((s, w) for s, w in spaces if s.corpus is not None), spaces[0])
    for space, what in spaces[1:]:
        # Every field but the corpus equals the first's; every corpus equals the first corpus.
        check_same_space(first, space, what_first, what)
        check_same_space(anchor, space, what_anchor, what)
    return anchor


def canonical_settings(settings: dict[str, Any]) -> str:
    """Canonical JSON for settings: sorted keys, no whitespace, so equal settings hash equal."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))
