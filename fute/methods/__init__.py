"""Task embedding methods, chosen by name through one table."""

from __future__ import annotations

import types
import typing
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


def _type_matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` may fill a settings field annotated ``hint`` (an int is a float, a bool no number)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_type_matches(value, arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is Literal:
        return isinstance(value, str)  # membership is checked by the dataclass, listing the valid values
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is Literal:
        return f"one of {list(typing.get_args(hint))}"
    names = {int: "an integer", float: "a number", bool: "True or False", str: "a string", type(None): "None"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def make_settings(method: str, overrides: dict[str, Any] | None = None) -> Any:
    """Settings for ``method`` with ``overrides``.

    Raises:
        ConfigError: an unknown key (listing the valid ones), or a value of the wrong type
            (naming the expected type), before any model is loaded.
    """
    cls = settings_class(method)
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides or {}) - valid)
    if unknown:
        raise ConfigError(f"unknown {method} settings {unknown}; valid: {sorted(valid)}")
    hints = typing.get_type_hints(cls)
    for key, value in (overrides or {}).items():
        if not _type_matches(value, hints[key]):
            raise ConfigError(f"{method} setting {key!r} must be {_type_name(hints[key])}, got {value!r}")
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
