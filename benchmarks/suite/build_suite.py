#!/usr/bin/env python
"""Build the FUTE task suite and its unlabelled corpora: ``python benchmarks/suite/build_suite.py COMMAND``.

The documented entry point (README, benchmarks/suite/README.md, and the ``build_command``
recorded in ``fute/resources/unlabelled_*.json``) of the package
:mod:`benchmarks.suite.builder`, where the build lives, split by job; ``python -m
benchmarks.suite.builder COMMAND`` is the same command. ``--help`` lists the commands.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a file, Python puts benchmarks/suite/ first on sys.path, not the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.suite.builder.cli import main

    sys.exit(main())
