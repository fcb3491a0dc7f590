"""``python -m server serve|search|rank ...``: the server's subcommands without ``fute``."""

from __future__ import annotations

import argparse
import sys

from fute.errors import FuteError
from server.cli import register


def main(argv: list[str] | None = None) -> int:
    """Parse and run one subcommand."""
    parser = argparse.ArgumentParser(prog="python -m server", description="FUTE TaskSearch server and client")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except FuteError as exc:  # as `fute` does: one line, exit 2
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
