"""Snapshots: consistent copies of the store database with a SHA-256 beside each.

A snapshot is written to a temporary name, fsynced and renamed, so a crash never leaves
a half snapshot under a real name; restore refuses a file whose hash does not match.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from fute_client.errors import DataLossError, InvalidArgumentError, NotFoundError
from fute_client.types import Snapshot

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SUFFIX = ".sqlite"


def check_name(name: str) -> str:
    """A snapshot name safe as a file name, or INVALID_ARGUMENT."""
    if not _NAME.match(name):
        raise InvalidArgumentError(
            f"snapshot name {name!r} must be 1-64 characters of letters, digits, '.', '_', '-'"
        )
    return name


def default_name() -> str:
    """A timestamped name."""
    return datetime.now(tz=UTC).strftime("snap-%Y%m%dT%H%M%S%fZ")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (so a rename is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finish(tmp: Path, directory: Path, name: str) -> Snapshot:
    """Seal a written temporary snapshot: hash, fsync, rename into place."""
    fsync_file(tmp)
    digest = sha256_of(tmp)
    final = directory / f"{name}{SUFFIX}"
    (directory / f"{name}.sha256").write_text(digest + "\n")
    os.replace(tmp, final)
    fsync_dir(directory)
    return describe(directory, name)


def describe(directory: Path, name: str) -> Snapshot:
    """The record of an existing snapshot, NOT_FOUND otherwise."""
    path = directory / f"{check_name(name)}{SUFFIX}"
    sums = directory / f"{name}.sha256"
    if not path.is_file() or not sums.is_file():
        raise NotFoundError(f"no snapshot named {name!r}")
    st = path.stat()
    return Snapshot(
        name=name,
        sha256=sums.read_text().strip(),
        size_bytes=st.st_size,
        created_time=datetime.fromtimestamp(st.st_mtime, tz=UTC),
    )


def list_all(directory: Path) -> list[Snapshot]:
    """All complete snapshots by name."""
    if not directory.is_dir():
        return []
    names = sorted(p.name[: -len(SUFFIX)] for p in directory.glob(f"*{SUFFIX}"))
    return [describe(directory, n) for n in names if _NAME.match(n)]


def verified_path(directory: Path, name: str) -> Path:
    """Path of a snapshot whose content matches its recorded hash, DATA_LOSS otherwise."""
    snap = describe(directory, name)
    path = directory / f"{name}{SUFFIX}"
    actual = sha256_of(path)
    if actual != snap.sha256:
        raise DataLossError(f"snapshot {name!r} is corrupted: sha256 {actual} != recorded {snap.sha256}")
    return path
