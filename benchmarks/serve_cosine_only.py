"""``python -m server serve`` with the CSLS neighbour lists off, for benchmarks of cosine search.

Usage: python benchmarks/serve_cosine_only.py serve --store DIR --port N [any serve flag]

From d76f814 to f7aec73 the store kept every task's 50 nearest tasks for CSLS in every
space (``server.store.hubness``), one exhaustive pass per added task: a bulk load of n
tasks cost n scans (measured in process at 10k x 1,024 then: 555 tasks/s). Since f7aec73
only spaces created with ``keep_neighbours`` keep them, so for the default spaces of the
benchmarks this changes nothing; it is kept for before/after runs against a tree of that
window (``fixed_costs.py --before-root``) and for spaces that keep lists. It replaces the
three functions that plan and load the lists with ones that keep none; everything else,
cosine search included, is the server's own code. CSLS queries to such a server answer
as if no task had neighbours. Not for serving.
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
