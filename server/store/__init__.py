"""The in-process task store: SQLite for durability, one FAISS index per space."""

from server.store.metadata import StoreCorruptedError
from server.store.task_store import TaskStore

__all__ = ["StoreCorruptedError", "TaskStore"]
