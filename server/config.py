"""Typed configuration of the store and the server (frozen dataclasses, no dicts)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fute_client.types import RankOrder

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: CSLS (server.store.hubness): neighbours of a radius when a request names none (Conneau
#: et al.'s k), and the most a request may name, which is also how many neighbours the
#: store keeps per task.
DEFAULT_CSLS_K = 10
MAX_CSLS_K = 50

Device = Literal["auto", "cpu", "gpu"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class IndexParams:
    """Parameters of the approximate backends (ignored by flat) and of the re-scoring of
    the reduced-precision exact ones (``flat_fp16``, ``flat_sq8``)."""

    ivf_nlist: int = 256  # lists; lowered to n/39 when trained on fewer vectors
    ivf_nprobe: int = 16  # lists visited per query
    hnsw_m: int = 32  # graph degree
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    # flat_fp16 / flat_sq8: re-score the candidates from the stored float32 vectors, so
    # results and cosines are exact search's; False returns the codes' own scores.
    rescore: bool = True


@dataclass(frozen=True)
class StoreConfig:
    """Settings of a :class:`~server.store.TaskStore`.

    Attributes:
        path: store directory (created if missing): ``tasks.sqlite``, ``snapshots/``.
        device: where FAISS searches: ``auto`` (GPU if FAISS sees one), ``cpu`` or ``gpu``.
        index_params: parameters of the IVF and HNSW backends.
        max_k: largest k a search may ask for (FAISS GPU caps it at 2048).
        max_queries: queries per FindSimilarTasks call.
        max_batch: tasks per upsert request (or per streamed batch).
        max_matrix_ids: tasks in one SimilarityMatrix call.
        max_reply_bytes: largest reply a read may build; a call whose reply is
            estimated (from its own numbers, before any record is loaded) to exceed it
            is RESOURCE_EXHAUSTED. The server sets it to its ``max_message_bytes``.
        transfer_predictor: JSON file of the predictor of transfer gain and P(help) that
            RankSourceTasks applies (``fute.transfer_prediction``); None: the packaged one,
            calibrated on the suite's measured transfer.
        rank_order: how RankSourceTasks orders candidates when a request does not say:
            ``predicted_gain`` (on the suite's held-out targets it ranked better than
            cosine, docs/evaluation.md) or ``similarity``.
    """

    path: Path
    device: Device = "auto"
    index_params: IndexParams = field(default_factory=IndexParams)
    max_k: int = 1024
    max_queries: int = 256
    max_batch: int = 10_000
    max_matrix_ids: int = 1024
    max_reply_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    transfer_predictor: Path | None = None
    rank_order: RankOrder = "predicted_gain"


@dataclass(frozen=True)
class ServerConfig:
    """Settings of the gRPC server.

    Attributes:
        store: the store it serves.
        host: interface to bind (``127.0.0.1`` keeps it local; ``[::]`` for all).
        port: TCP port; 0 picks a free one (``create_server`` returns it).
        max_message_bytes: limit on request and reply size, enforced both ways
            (RESOURCE_EXHAUSTED beyond it).
        workers: threads serving calls concurrently.
        search_threads: OpenMP threads of one FAISS call in a serving thread; None gives
            each worker an equal share of the cores (at least 1), so concurrent calls do
            not oversubscribe them.
        read_tokens: bearer tokens allowed to read; auth is on when any token is set.
        write_tokens: bearer tokens allowed to read and write.
        tls_cert: PEM certificate chain file; TLS is on when set (with ``tls_key``).
        tls_key: PEM private key file.
        grace_s: seconds in-flight calls get to finish on shutdown.
        http_port: port of the HTTP/JSON API and console (``server.http_api``); None: no
            HTTP server, 0: any free one.
        http_host: interface of the HTTP server; None: ``host``.
    """

    store: StoreConfig
    host: str = "127.0.0.1"
    port: int = 50051
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    workers: int = 8
    search_threads: int | None = None
    read_tokens: frozenset[str] = frozenset()
    write_tokens: frozenset[str] = frozenset()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_s: float = 10.0
    http_port: int | None = None
    http_host: str | None = None

    @property
    def threads_per_call(self) -> int:
        """OpenMP threads a FAISS call gets in a serving thread (``search_threads`` resolved)."""
        if self.search_threads is not None:
            return self.search_threads
        return max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def auth_enabled(self) -> bool:
        """Whether calls need a bearer token."""
        return bool(self.read_tokens or self.write_tokens)
