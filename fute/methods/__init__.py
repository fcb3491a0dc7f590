"""Task embedding methods, chosen by name through one table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, Literal

from fute.errors import ConfigError
from fute.methods.base import EmbeddingMethod
from fute.methods.fim import ESTIMATORS, FimMethod, FimSettings
from fute.methods.prompt import PROMPT_KINDS, PromptMethod, PromptSettings
from fute.methods.text import TextMethod, TextSettings
from fute.surrogate import Surrogate

MethodName = Literal["fim", "prompt", "text"]
METHODS: tuple[MethodName, ...] = ("fim", "prompt", "text")

_TABLE: dict[str, tuple[type[Any], Callable[[Surrogate, Any], EmbeddingMethod]]] = {
    "fim": (FimSettings, FimMethod),
    "prompt": (PromptSettings, PromptMethod),
    "text": (TextSettings, TextMethod),
}


def settings_class(method: str) -> type[Any]:
    """The settings dataclass of ``method``."""
    if method not in _TABLE:
        raise ConfigError(f"unknown method {method!r}; valid: {list(METHODS)}")
    return _TABLE[method][0]


def make_settings(method: str, overrides: dict[str, Any] | None = None) -> Any:
    """Settings for ``method`` with ``overrides``; an unknown key is an error listing the valid ones."""
    cls = settings_class(method)
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides or {}) - valid)
    if unknown:
        raise ConfigError(f"unknown {method} settings {unknown}; valid: {sorted(valid)}")
    return cls(**(overrides or {}))


def make_method(method: str, surrogate: Surrogate, settings: Any = None) -> EmbeddingMethod:
    """Bind ``method`` to ``surrogate``; ``settings`` is a dataclass, a dict of overrides, or None."""
    cls, factory = _TABLE.get(method, (None, None))
    if cls is None or factory is None:
        raise ConfigError(f"unknown method {method!r}; valid: {list(METHODS)}")
    if settings is None or isinstance(settings, dict):
        settings = make_settings(method, settings)
    elif not isinstance(settings, cls):
        raise ConfigError(f"method {method!r} takes {cls.__name__}, got {type(settings).__name__}")
    return factory(surrogate, settings)


__all__ = [
    "ESTIMATORS",
    "METHODS",
    "PROMPT_KINDS",
    "EmbeddingMethod",
    "FimMethod",
    "FimSettings",
    "MethodName",
    "PromptMethod",
    "PromptSettings",
    "TextMethod",
    "TextSettings",
    "make_method",
    "make_settings",
    "settings_class",
]
