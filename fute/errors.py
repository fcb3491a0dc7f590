"""The exception family of the `fute` library.

Every error a user can cause derives from :class:`FuteError`, so callers (the CLI, the
server, the indexer) can translate them at their boundary without catching bugs.
"""

from __future__ import annotations


class FuteError(Exception):
    """Base class for errors the user can act on."""


class DataError(FuteError, ValueError):
    """A task file is malformed; the message names file, line (or row) and field."""


class ConfigError(FuteError, ValueError):
    """A setting has an invalid value; the message lists what is allowed."""


class ModelNotFoundError(FuteError, FileNotFoundError):
    """A model is not on disk; the message says where we looked and how to provide one."""


class ModelError(FuteError, RuntimeError):
    """A model misbehaved: raised, returned the wrong shape, NaN, or unsupported type."""


class SpaceMismatchError(FuteError, ValueError):
    """Two embeddings from different embedding spaces were compared."""


class EmbeddingFileError(FuteError, ValueError):
    """An embedding file is missing, truncated or not a fute embedding."""
