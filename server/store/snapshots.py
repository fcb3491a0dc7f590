"""Snapshots: consistent copies of the store database with a SHA-256 beside each.

A snapshot is written to a temporary file unique to its call, checked, fsynced, and only
then given its name by a hard link, which fails when the name exists: of concurrent calls
with one name exactly one wins and the others get ALREADY_EXISTS, and a crash never leaves
a half snapshot under a real name. Restore refuses a file whose hash does not match.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fute_client.errors import AlreadyExistsError, DataLossError, InvalidArgumentError, NotFoundError
from fute_client.types import Snapshot
from server.echo import shown

log = logging.getLogger(__name__)

# Matched with fullmatch: ``$`` would also accept a trailing newline.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SUFFIX = ".sqlite"
SUMS_SUFFIX = ".sha256"
TMP_PREFIX = ".tmp-"


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a snapshot name (1-64 of letters, digits, '.', '_', '-')."""
    return _NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    """A snapshot name safe as a file name, or INVALID_ARGUMENT."""
    if not is_valid_name(name):
        raise InvalidArgumentError(
            f"snapshot name {shown(name)} must be 1-64 characters of letters, digits, '.', '_', '-'"
            " (the first a letter or digit)"
        )
    return name


def default_name() -> str:
    """A timestamped name."""
    return datetime.now(tz=UTC).strftime("snap-%Y%m%dT%H%M%S%fZ")


def temp_path(directory: Path, what: str) -> Path:
    """A fresh empty file in ``directory`` no other call uses (hidden: not a snapshot)."""
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{what}-", suffix=SUFFIX, dir=directory)
    os.close(fd)
    return Path(name)


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
    """Flush a directory entry (so a rename is durable): on POSIX the same call as a file's."""
    fsync_file(path)


def finish(tmp: Path, directory: Path, name: str) -> Snapshot:
    """Seal a written and checked temporary snapshot under ``name``.

    The hash file is written first (under a temporary name), then the snapshot takes its
    name with ``os.link``, which refuses an existing name: ALREADY_EXISTS for every caller
    but the first. Only the winner then moves the hash file into place, so a name never
    shows another call's hash. ``tmp`` is left for the caller to remove.
    """
    fsync_file(tmp)
    digest = sha256_of(tmp)
    final = directory / f"{name}{SUFFIX}"
    sums_tmp = tmp.with_suffix(SUMS_SUFFIX)
    sums_tmp.write_text(digest + "\n")
    fsync_file(sums_tmp)
    try:
        os.link(tmp, final)
    except FileExistsError as exc:
        sums_tmp.unlink(missing_ok=True)
        raise AlreadyExistsError(f"snapshot {shown(name)} exists") from exc
    os.replace(sums_tmp, directory / f"{name}{SUMS_SUFFIX}")
    fsync_dir(directory)
    return describe(directory, name)


def describe(directory: Path, name: str) -> Snapshot:
    """The record of an existing snapshot, NOT_FOUND otherwise."""
    path = directory / f"{check_name(name)}{SUFFIX}"
    sums = directory / f"{name}{SUMS_SUFFIX}"
    if not path.is_file() or not sums.is_file():
        raise NotFoundError(f"no snapshot named {shown(name)}")
    st = path.stat()
    return Snapshot(
        name=name,
        sha256=sums.read_text().strip(),
        size_bytes=st.st_size,
        created_time=datetime.fromtimestamp(st.st_mtime, tz=UTC),
    )


def list_all(directory: Path) -> list[Snapshot]:
    """All complete snapshots by name; a stray file (no hash beside it, an unusable name,
    gone while listing) is skipped with a warning instead of failing the whole list."""
    if not directory.is_dir():
        return []
    out: list[Snapshot] = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        name = path.name[: -len(SUFFIX)]
        if name.startswith(TMP_PREFIX):
            continue  # a snapshot being written (or left by a crash): never listed
        if not is_valid_name(name):
            log.warning("skipping %s in the snapshot folder: not a valid snapshot name", shown(path.name))
            continue
        try:
            out.append(describe(directory, name))
        except (NotFoundError, OSError):
            log.warning("skipping snapshot %s: its %s file is missing or unreadable", name, SUMS_SUFFIX)
    return out


def copy_verified(directory: Path, name: str, dest: Path) -> None:
    """Copy a snapshot to ``dest`` and check the copy against the recorded SHA-256, so
    the bytes checked are the bytes restored (DATA_LOSS on a mismatch)."""
    snap = describe(directory, name)
    shutil.copyfile(directory / f"{name}{SUFFIX}", dest)
    actual = sha256_of(dest)
    if actual != snap.sha256:
        raise DataLossError(f"snapshot {name!r} is corrupted: sha256 {actual} != recorded {snap.sha256}")
