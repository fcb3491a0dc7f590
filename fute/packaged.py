"""Folders shipped inside installed Python packages (the packaged models), found offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fute.errors import ModelNotFoundError


def package_folder(module: str, missing: str) -> Path:
    """The folder of the installed package ``module``, found without importing it.

    Raises:
        ModelNotFoundError: with the message ``missing`` when no such package is installed.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(missing)
    return Path(next(iter(spec.submodule_search_locations)))
