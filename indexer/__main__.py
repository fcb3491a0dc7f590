"""``python -m indexer MANIFEST ...`` is ``fute index MANIFEST ...``."""

from __future__ import annotations

import sys

from fute.cli import main

if __name__ == "__main__":
    sys.exit(main(["index", *sys.argv[1:]]))
