"""The indexing manifest: a YAML file of spaces, datasets, models, the corpus U and tags.

Split by job: :mod:`.specs` (what a validated manifest holds), :mod:`.yaml_lines` (YAML
read with the line of every node, so an error reads ``jobs.yaml:14: datasets[3] (name
'sst'), field 'fields.label': must be a string``) and :mod:`.parse` (the section parsers,
sharing one :class:`~indexer.manifest.parse.ParseContext`).

Problems with the *content* of files (a missing or malformed dataset) are not manifest
errors: they fail that unit alone when the job runs.
"""

from __future__ import annotations

from indexer.manifest.parse import MAX_NAME_CHARS, ParseContext, load_manifest, parse_manifest
from indexer.manifest.specs import CorpusSpec, DatasetSpec, Manifest, ModelSpec, SpaceSpec

__all__ = [
    "MAX_NAME_CHARS",
    "CorpusSpec",
    "DatasetSpec",
    "Manifest",
    "ModelSpec",
    "ParseContext",
    "SpaceSpec",
    "load_manifest",
    "parse_manifest",
]
