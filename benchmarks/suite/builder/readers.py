"""Readers of package contents: R lazy-load databases and declared licences."""

from __future__ import annotations

import bz2
import json
import lzma
import re
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.suite.builder.fetch import Fetcher, Package, find_one


def read_r_lazyload(folder: Path, names: Sequence[str]) -> dict[str, Any]:
    """Read objects from an R lazy-load database (``Rdata.rdx``/``Rdata.rdb``) with ``rdata``.

    The .rdx index is a gzip-serialised R list (variables -> [offset, length]); every chunk in
    the .rdb is a 4-byte big-endian length, then either zlib data (compression type 1) or a
    type byte ('Z' raw LZMA2, '2' bzip2, '0' none) followed by the payload.
    """
    import rdata  # build-time dependency only

    def convert(raw: bytes) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rdata.conversion.convert(rdata.parser.parse_data(raw, expand_altrep=True))

    index = convert((folder / "Rdata.rdx").read_bytes())
    blob = (folder / "Rdata.rdb").read_bytes()
    out: dict[str, Any] = {}
    for name in names:
        off, length = (int(x) for x in index["variables"][name])
        chunk = blob[off : off + length]
        expect = struct.unpack(">I", chunk[:4])[0]
        kind = chunk[4:5]
        if kind == b"Z":
            dec = lzma.LZMADecompressor(
                format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 26}]
            )
            raw = dec.decompress(chunk[5:])
        elif kind == b"2":
            raw = bz2.decompress(chunk[5:])
        elif kind == b"0":
            raw = chunk[5:]
        else:
            raw = zlib.decompress(chunk[4:])
        if len(raw) != expect:
            raise ValueError(f"{name}: decompressed {len(raw)} bytes, header says {expect}")
        out[name] = convert(raw)
    return out


def wheel_licence(root: Path) -> str:
    for meta in sorted(root.rglob("METADATA")) + sorted(root.rglob("PKG-INFO")):
        txt = meta.read_text(encoding="utf-8", errors="replace")
        for pat in (r"^License-Expression: (.+)$", r"^License: (.+)$", r"^Classifier: License :: (.+)$"):
            m = re.search(pat, txt, re.M)
            if m and m.group(1).strip().lower() not in ("unknown", "none", ""):
                return m.group(1).strip()
    return "unknown"


def r_licence(root: Path) -> str:
    desc = find_one(root, "DESCRIPTION").read_text(encoding="utf-8", errors="replace")
    m = re.search(r"^License: (.+)$", desc, re.M)
    return m.group(1).strip() if m else "unknown"


def npm_licence(root: Path) -> str:
    meta = json.loads(find_one(root, "package.json").read_text())
    return str(meta.get("license", "unknown"))


_SPDX = {
    "mit": "MIT",
    "mit license": "MIT",
    "osi approved :: mit license": "MIT",
    "mit + file license": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "osi approved :: bsd license": "BSD-3-Clause",
    "lgpl-2.1-only": "LGPL-2.1-only",
}


def licence_of(fetcher: Fetcher, pkg: Package) -> str:
    """The package's licence as declared in its metadata, normalised to SPDX where known."""
    root = fetcher.unpacked(pkg)
    if pkg.registry == "pypi":
        raw = wheel_licence(root)
    elif pkg.registry == "debian":
        raw = r_licence(root)
    else:
        raw = npm_licence(root)
    return _SPDX.get(raw.strip().lower(), raw)
