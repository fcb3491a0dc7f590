"""Any Python callable as a black-box model: ``package.module:function``.

The function takes a list of texts and returns ``(n, classes)`` probabilities or ``(n,)``
scores. Its label names and output kind come from the :func:`fute_adapter` decorator, or
from the caller (``--labels``, ``--output-kind``) for functions that do not carry them.
Text pairs are joined with a newline: such functions see single texts.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from fute.corpus import CorpusExample
from fute.errors import ConfigError, ModelError, ModelNotFoundError
from fute.models.base import OutputKind, check_output_kind, identity_hash

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
PAIR_SEPARATOR = "\n"


def fute_adapter(
    *, labels: tuple[str, ...] = (), kind: OutputKind = "soft", requires: tuple[str, ...] = ()
) -> Callable[[F], F]:
    """Declare a function's label names, output kind and the distributions whose versions identify it."""
    check_output_kind(kind)
    if kind == "soft" and len(labels) < 2:
        raise ConfigError(f"a soft-label adapter needs at least 2 label names, got {list(labels)}")

    def mark(fn: F) -> F:
        fn.fute_labels = tuple(labels)  # type: ignore[attr-defined]
        fn.fute_kind = kind  # type: ignore[attr-defined]
        fn.fute_requires = tuple(requires)  # type: ignore[attr-defined]
        return fn

    return mark


def resolve_callable(spec: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (``function`` may be dotted: ``Class.method``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"callable spec {spec!r} must look like package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelNotFoundError(f"callable {spec!r}: cannot import {module_name!r} ({exc})") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"callable {spec!r}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"callable {spec!r} is a {type(obj).__name__}, not callable")
    return obj  # type: ignore[no-any-return]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of the defining module's source, so editing the function changes its identity."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        path = None
    if path is None:
        return "no-source"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CallableAdapter:
    """Wraps a Python function that maps texts to probabilities or scores."""

    def __init__(
        self,
        fn: Callable[..., Any],
        spec: str,
        *,
        label_names: tuple[str, ...] | None = None,
        output_kind: str | None = None,
        name: str | None = None,
    ) -> None:
        self.fn = fn
        self.spec = spec
        self.name = name or spec
        kind = output_kind or getattr(fn, "fute_kind", None)
        if kind is None:
            raise ConfigError(f"callable {spec!r} does not declare its output kind; pass soft or regression")
        self.output_kind: OutputKind = check_output_kind(kind)
        labels = label_names if label_names is not None else tuple(getattr(fn, "fute_labels", ()))
        if self.output_kind == "soft" and len(labels) < 2:
            raise ConfigError(
                f"callable {spec!r} gives soft labels but declares {len(labels)} label names; pass them"
            )
        self.label_names: tuple[str, ...] = labels if self.output_kind == "soft" else ()
        requires: tuple[str, ...] = getattr(fn, "fute_requires", ())
        top = getattr(fn, "__module__", "").split(".")[0]
        self._versions = [f"{d}=={_version(d)}" for d in (*requires, top)]

    def identity(self) -> str:
        """The function's qualified name, package versions, source hash and declared outputs."""
        qualname = f"{getattr(self.fn, '__module__', '?')}:{getattr(self.fn, '__qualname__', '?')}"
        return identity_hash(
            "callable/1",
            qualname,
            *self._versions,
            _source_hash(self.fn),
            self.output_kind,
            *self.label_names,
        )

    def predict(self, examples: Sequence[CorpusExample]) -> np.ndarray:
        """Call the function on the texts (pairs joined by a newline)."""
        texts = [
            ex.text if ex.text_pair is None else ex.text + PAIR_SEPARATOR + ex.text_pair for ex in examples
        ]
        try:
            out = self.fn(texts)
        except Exception as exc:  # a user's function may raise anything: report it, don't mask it
            raise ModelError(f"callable {self.spec!r} raised {type(exc).__name__}: {exc}") from exc
        return np.asarray(out) if not isinstance(out, np.ndarray) else out
