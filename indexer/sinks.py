"""Where finished units go: an in-process :class:`TaskStore` or a server through the client.

Both have the TaskSearch API, so one class serves both. An upload is an upsert by task id
(the manifest entry's name) into the index space named like the manifest space: uploading
the same unit twice replaces it, which is what makes a resumed job leave every unit
exactly once in the index. A space is created on first use with the embedding's identity;
an existing space with another identity refuses the upload (FAILED_PRECONDITION).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fute.embedding import TaskEmbedding
from fute.errors import SpaceMismatchError
from fute.space import EmbeddingSpace, check_same_space
from fute_client.contract import TaskSearchAPI
from fute_client.errors import AlreadyExistsError, NotFoundError, TaskSearchError
from indexer.errors import IndexerError
from server.embedding_upload import embedding_space_of, identity_of, task_of

logger = logging.getLogger(__name__)


class Sink:
    """Upserts embeddings into spaces of a TaskSearch API, creating spaces as needed.

    Args:
        api: a ``TaskStore`` or a ``TaskSearchClient``.
        name: identifies the target in the ledger (``store:/abs/dir`` or ``server:host:port``).
    """

    def __init__(self, api: TaskSearchAPI, name: str) -> None:
        self.api = api
        self.name = name
        self._ready: set[str] = set()

    def _ensure_space(self, space: str, emb: TaskEmbedding, backend: str, keep_neighbours: bool) -> None:
        if space in self._ready:
            return
        try:
            self.api.describe_space(space)
        except NotFoundError:
            try:
                self.api.create_space(
                    space,
                    emb.space.dim,
                    backend=backend,
                    identity=identity_of(emb.space),
                    keep_neighbours=keep_neighbours,
                )
                logger.info(
                    "created space %r (dim %d, %s%s) on %s",
                    space,
                    emb.space.dim,
                    backend,
                    ", neighbour lists kept" if keep_neighbours else "",
                    self.name,
                )
            except AlreadyExistsError:
                pass  # another job created it meanwhile; the upsert checks its identity
        self._ready.add(space)

    def refusal(self, space: str, expected: EmbeddingSpace) -> str | None:
        """Why this target would refuse embeddings of ``expected`` in ``space``, or ``None``.

        Asked before anything is computed: a space that exists with another identity (or
        with none) names each differing field; a missing space will be created.
        """
        try:
            found = self.api.describe_space(space)
        except NotFoundError:
            return None
        except TaskSearchError as exc:
            return f"cannot describe space {space!r} on {self.name}: {exc}"
        if found.identity is None:
            return f"space {space!r} on {self.name} was created without an embedding-space identity"
        try:
            check_same_space(
                embedding_space_of(found.identity, found.dim),
                expected,
                f"space {space!r} on {self.name}",
                "this manifest's space",
            )
        except SpaceMismatchError as exc:
            return str(exc)
        return None

    def upload(
        self,
        space: str,
        task_id: str,
        emb: TaskEmbedding,
        *,
        backend: str = "flat",
        keep_neighbours: bool = False,
    ) -> None:
        """Upsert one embedding as task ``task_id`` (a missing space is created with
        ``backend`` and ``keep_neighbours``).

        Raises:
            IndexerError: the target refused it (identity mismatch, invalid vector, unreachable).
        """
        try:
            self._ensure_space(space, emb, backend, keep_neighbours)
            result = self.api.upsert(space, [task_of(emb, task_id)], expected_identity=identity_of(emb.space))
        except TaskSearchError as exc:
            raise IndexerError(f"upload of {task_id!r} to space {space!r} on {self.name}: {exc}") from exc
        if result.failed:
            detail = "; ".join(e.message for e in result.errors)
            raise IndexerError(f"upload of {task_id!r} to space {space!r} on {self.name} rejected: {detail}")

    def close(self) -> None:
        """Close the underlying store or channel."""
        close = getattr(self.api, "close", None)
        if close is not None:
            close()


def store_sink(path: str | Path) -> Sink:
    """A sink over an in-process ``TaskStore`` in ``path`` (created if missing)."""
    from server.config import StoreConfig
    from server.store.task_store import TaskStore

    resolved = Path(path).resolve()
    try:
        store = TaskStore(StoreConfig(path=resolved, device="cpu"))
    except TaskSearchError as exc:
        # Typically a `fute serve` holds the store: then upload through it with --server.
        raise IndexerError(
            f"cannot open store {resolved}: {exc} (if a server runs on it, use --server)"
        ) from exc
    return Sink(store, f"store:{resolved}")


def server_sink(
    target: str,
    *,
    token: str | None = None,
    root_certificates: bytes | None = None,
    timeout: float = 30.0,
    wait: float = 0.0,
) -> Sink:
    """A sink over a TaskSearch server at ``host:port``; checked to be reachable first.

    ``wait``: seconds to wait for a server that is still starting (0: fail at once).
    """
    from fute_client import TaskSearchClient
    from server.connection import wait_until_serving

    client = TaskSearchClient(target, token=token, root_certificates=root_certificates, timeout=timeout)
    try:
        wait_until_serving(client, wait)
    except TaskSearchError as exc:
        client.close()
        raise IndexerError(f"cannot reach the server at {target}: {exc}") from exc
    return Sink(client, f"server:{target}")
