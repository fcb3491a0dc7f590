"""``python -m server serve`` with the CSLS neighbour lists off, for benchmarks of cosine search.

Usage: python benchmarks/serve_cosine_only.py serve --store DIR --port N [any serve flag]

The store keeps every task's 50 nearest tasks for CSLS (``server.store.hubness``): each
added task costs one exhaustive pass over its space, so a bulk load of n tasks costs n
scans (10,000 x 1,024: 555 tasks/s instead of ~16,000; 100,000: about 30 s per 1,000 by
extrapolation; a million does not fit). This entry point replaces the three functions
that plan and load the lists with ones that keep none, so ingest, start-up and cosine
search can be measured at 100k-1M. Everything else, cosine search included, is the
server's own code. CSLS queries to such a server answer as if no task had neighbours;
benchmarks use cosine only. Not for serving.
"""

from __future__ import annotations

import sys
from typing import Any


def disable_neighbour_lists() -> None:
    """Make the store keep no CSLS neighbour lists (benchmarks only)."""
    from server.store import hubness, task_store

    def no_change(*args: Any, **kwargs: Any) -> hubness.NeighbourChange:
        return hubness.NeighbourChange({})

    def no_tables(db: Any, spaces: dict[str, Any], indexes: Any) -> dict[str, hubness.NeighbourTable]:
        return {name: hubness.NeighbourTable() for name in spaces}

    hubness.plan_upsert = no_change  # type: ignore[assignment]
    hubness.plan_delete = no_change  # type: ignore[assignment]
    task_store.build_neighbours = no_tables  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m server`` with the lists off."""
    disable_neighbour_lists()
    from server.__main__ import main as server_main

    return server_main(argv)


if __name__ == "__main__":
    sys.exit(main())
