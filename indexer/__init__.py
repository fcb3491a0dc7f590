"""Batch indexing jobs: a YAML manifest of datasets and models embedded into spaces.

``fute index MANIFEST --store DIR`` (or ``--server HOST:PORT``) plans one *unit* per
(task, space), computes the units that are not already on disk (a local process pool or
Ray), and upserts each finished embedding into the index. See ``docs/indexing.md``.

The package imports ``fute`` and ``server``; neither imports it.
"""

from __future__ import annotations

__all__: list[str] = []
