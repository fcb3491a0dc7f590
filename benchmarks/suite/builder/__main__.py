"""``python -m benchmarks.suite.builder COMMAND``: the same as ``build_suite.py COMMAND``."""

import sys

from benchmarks.suite.builder.cli import main

sys.exit(main())
