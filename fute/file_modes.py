"""Permissions of files written atomically: the user's umask, as ``open()`` would give.

Atomic writes go through ``tempfile.mkstemp`` / ``mkdtemp``, which create 0600 files and
0700 folders whatever the umask; renamed into place, an embedding or a model folder would
then be private to its writer while a plain ``open()`` makes it readable by the group the
user chose. These functions give the renamed result the mode ``open()`` / ``mkdir`` would.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    match = re.search(r"^Umask:\s*([0-7]+)$", status, re.MULTILINE)
    if match:
        return int(match.group(1), 8)
    # Elsewhere the only way is to set it and put it back; the lock keeps our threads out.
    with _LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def chmod_like_open(path: str | os.PathLike[str]) -> None:
    """Give a file made by ``mkstemp`` the mode ``open(path, "w")`` would: 0666 less the umask."""
    os.chmod(path, 0o666 & ~current_umask())


def chmod_dir_like_mkdir(folder: str | os.PathLike[str]) -> None:
    """Give a folder made by ``mkdtemp`` the mode ``mkdir`` would (0777 less the umask).

    Files inside were written by ``open()`` and already carry the umask; only the folder
    itself needs fixing.
    """
    os.chmod(folder, 0o777 & ~current_umask())
