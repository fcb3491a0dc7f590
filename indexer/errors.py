"""Errors of the indexer, inside the ``fute`` exception family so ``fute``'s CLI reports them."""

from __future__ import annotations

from fute.errors import ConfigError, FuteError


class ManifestError(ConfigError):
    """A manifest is malformed; the message names the file, line, entry and field."""


class IndexerError(FuteError):
    """The job cannot run at all (state dir unusable, Ray missing, sink unreachable)."""
