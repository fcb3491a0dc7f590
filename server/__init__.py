"""The FUTE TaskSearch server: a FAISS-backed task index behind gRPC.

``server.store.TaskStore`` is the in-process engine (usable without gRPC);
``server.app.create_server`` puts it behind the ``fute.v1.TaskSearch`` service.
"""

__version__ = "0.1.0"
