"""Writing outputs byte-reproducibly: JSON lines, gzip without a time stamp, U + provenance."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.suite.builder.layout import RESOURCES_DIR

LOG = logging.getLogger(__name__)


def jsonl_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in rows)


def write_gz(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    path.write_bytes(buf.getvalue())


def write_unlabelled(
    name: str,
    records: list[dict[str, str]],
    description: str,
    seed: int,
    sources: list[dict[str, Any]],
    command: str,
    out_dir: Path = RESOURCES_DIR,
) -> None:
    """Write ``<out_dir>/<name>.jsonl.gz`` and its provenance ``<name>.json`` (``out_dir``
    defaults to ``fute/resources``; another folder lets a test rebuild and compare bytes)."""
    payload = jsonl_bytes(records)
    out_path = out_dir / f"{name}.jsonl.gz"
    write_gz(out_path, payload)
    meta = {
        "name": name,
        "description": description,
        "file": out_path.name,
        "n_records": len(records),
        "n_pairs": sum(1 for r in records if "text_pair" in r),
        "n_single": sum(1 for r in records if "text_pair" not in r),
        "seed": seed,
        "sha256_jsonl": hashlib.sha256(payload).hexdigest(),
        "sha256_file": hashlib.sha256(out_path.read_bytes()).hexdigest(),
        "sources": sources,
        "build_command": f"python benchmarks/suite/build_suite.py {command}",
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    LOG.info("wrote %s (%d records, %d pairs)", out_path, meta["n_records"], meta["n_pairs"])
