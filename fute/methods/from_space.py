"""Rebuild the embedding method of a stored space, so a new task lands in that space.

A server's space records its identity (:class:`fute.space.EmbeddingSpace`): surrogate
hash, method and the settings that move vectors. A user who wants to query that space
with a new dataset must embed it with exactly that recipe; copying settings by hand is
how spaces leak. :func:`method_for_space` does it from the identity and proves the result
by a round trip: the rebuilt method's own space must equal the stored one, field by field.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fute.errors import SpaceMismatchError
from fute.methods import make_method, settings_class
from fute.methods.base import EmbeddingMethod
from fute.methods.fim import NEUTRAL_SETTINGS as FIM_NEUTRAL
from fute.space import EmbeddingSpace, space_differences
from fute.surrogate import Surrogate

# The value a key means when a stored space's settings leave it out (see settings_json).
_NEUTRAL: dict[str, dict[str, Any]] = {"fim": FIM_NEUTRAL}


def check_surrogate(space: EmbeddingSpace, surrogate: Surrogate) -> None:
    """Raise :class:`SpaceMismatchError` unless ``surrogate`` has the space's weights."""
    prefix = space.surrogate_hash
    if not prefix or not surrogate.weights_sha256.startswith(prefix):  # no hash vouches for nothing
        raise SpaceMismatchError(
            f"surrogate {surrogate.name} has weights sha256 {surrogate.weights_sha256[:16]}, but the "
            f"space was embedded with {space.surrogate_name}@{prefix}; pass --surrogate with that model"
        )


def space_settings(space: EmbeddingSpace) -> dict[str, Any]:
    """Every setting of the space's method as ``--set`` values, ``max_examples`` aside.

    Keys a stored space leaves out at their neutral value are filled in with it, and the
    sketch dimension comes from the space: ``make_method(space.method, s, space_settings(space))``
    is the space's recipe.
    """
    values: dict[str, Any] = {**_NEUTRAL.get(space.method, {}), **space.settings_dict()}
    if "dim" in {f.name for f in fields(settings_class(space.method))}:
        values["dim"] = space.dim
    return values


def non_default_settings(space: EmbeddingSpace) -> dict[str, Any]:
    """The settings of :func:`space_settings` that differ from this fute's defaults."""
    defaults = settings_class(space.method)()
    return {k: v for k, v in space_settings(space).items() if getattr(defaults, k, object()) != v}


def method_for_space(
    space: EmbeddingSpace, surrogate: Surrogate, *, max_examples: int | None = None
) -> EmbeddingMethod:
    """The method (with settings) whose embeddings live in ``space``.

    ``max_examples`` caps the task (it is not part of a space). Guarantees: the returned
    method's ``space(space.corpus)`` has the same identity as ``space``; otherwise
    :class:`SpaceMismatchError` lists each field that could not be reproduced. The
    surrogate's weights must match the space's hash.
    """
    check_surrogate(space, surrogate)
    names = {f.name for f in fields(settings_class(space.method))}
    values = space_settings(space)
    if max_examples is not None:
        values["max_examples"] = max_examples
    unknown = sorted(set(values) - names)
    if unknown:
        raise SpaceMismatchError(
            f"the space's {space.method} settings have keys {unknown} this fute does not know; "
            "upgrade fute or embed with the version that made the space"
        )
    method = make_method(space.method, surrogate, values)
    diffs = space_differences(method.space(space.corpus), space)
    if diffs:
        raise SpaceMismatchError(f"cannot reproduce the space's recipe with this fute ({'; '.join(diffs)})")
    return method
