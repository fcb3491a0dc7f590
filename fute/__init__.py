"""FUTE: unified task embeddings for datasets and models, on one shared surrogate model."""

from fute.embedding import TaskEmbedding, TaskInfo, load_embedding, save_embedding
from fute.errors import (
    ConfigError,
    DataError,
    EmbeddingFileError,
    FuteError,
    ModelError,
    ModelNotFoundError,
    SpaceMismatchError,
)
from fute.space import EmbeddingSpace, check_same_space

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "EmbeddingFileError",
    "EmbeddingSpace",
    "FuteError",
    "ModelError",
    "ModelNotFoundError",
    "SpaceMismatchError",
    "TaskEmbedding",
    "TaskInfo",
    "__version__",
    "check_same_space",
    "load_embedding",
    "save_embedding",
]
