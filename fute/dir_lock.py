"""One process at a time in a folder: an exclusive ``flock`` on ``FOLDER/LOCK``.

The kernel releases the lock when its holder exits, kill -9 included, so a crash never
leaves a folder locked. The search store and the indexer's state dir both use it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from pathlib import Path
from typing import IO

LOCK_NAME = "LOCK"


def lock_dir(folder: Path, in_use: Callable[[], Exception]) -> IO[str]:
    """Hold ``folder/LOCK`` exclusively without waiting; close the returned file to release it.

    Raises:
        the exception ``in_use()`` returns (chained on the ``OSError``) when another
        process holds the lock.
    """
    f = (folder / LOCK_NAME).open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        f.close()
        raise in_use() from exc
    return f
