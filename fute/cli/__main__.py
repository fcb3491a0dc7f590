"""``python -m fute.cli``: the ``fute`` command."""

import sys

from fute.cli import main

sys.exit(main())
