"""Task embedding records and their file format.

An embedding file is a ``safetensors`` file: tensor ``vector`` (float32, the indexable
vector), optionally ``full`` (the unreduced vector, e.g. one value per surrogate parameter),
and string metadata holding the :class:`~fute.space.EmbeddingSpace` and :class:`TaskInfo`
as JSON. safetensors is safe to load (no pickle) and readable from any language.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from fute.errors import EmbeddingFileError
from fute.file_modes import chmod_like_open
from fute.space import EmbeddingSpace, check_same_space

if TYPE_CHECKING:
    from fute.data.records import TaskData

FILE_FORMAT = "fute-embedding/1"
# Name prefix of the temporary file save_embedding renames into place; a process killed
# mid-write leaves one behind, which owners of a folder may delete when nothing writes there.
TEMP_PREFIX = ".tmp-"

TaskKind = Literal["dataset", "model"]
TASK_KINDS: tuple[TaskKind, ...] = ("dataset", "model")


@dataclass(frozen=True)
class TaskInfo:
    """What a vector describes: a labelled dataset or a black-box model.

    Attributes:
        name: display name, unique within a user's collection by convention.
        kind: ``dataset`` (dataset task embedding) or ``model`` (model task embedding).
        task_type: free-form family such as ``sentiment`` or ``language-id`` (may be empty).
        label_kind: ``class``, ``regression`` or ``soft``.
        label_names: class names in head order (empty for regression).
        source: where it came from: a data file, a model folder, an adapter and prompt.
        n_examples: examples that went into the embedding.
        tags: free-form labels for filtering.
        output_info: for a model, how much its outputs on U say, as (name, value) pairs
            (:class:`fute.informativeness.OutputInformation`); empty for datasets and for
            files written before it existed.
    """

    name: str
    kind: TaskKind = "dataset"
    task_type: str = ""
    label_kind: str = "class"
    label_names: tuple[str, ...] = ()
    source: str = ""
    n_examples: int = 0
    tags: tuple[str, ...] = ()
    output_info: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of_dataset(
        cls, task: TaskData, *, source: str | None = None, task_type: str = "", tags: tuple[str, ...] = ()
    ) -> TaskInfo:
        """The TaskInfo of a loaded dataset task (the one place a dataset's is built):
        its name, labels and example count, ``source`` (default: the task's own)."""
        return cls(
            name=task.name,
            kind="dataset",
            task_type=task_type,
            label_kind=task.label_kind,
            label_names=task.label_names,
            source=task.source if source is None else source,
            n_examples=len(task.examples),
            tags=tags,
        )

    def to_json(self) -> str:
        """Serialise to JSON (tuples become lists). An empty ``output_info`` is left out, so
        a record without one serialises as it did before the field existed."""
        raw = asdict(self)
        if not raw["output_info"]:
            del raw["output_info"]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TaskInfo:
        """Inverse of :meth:`to_json`, tolerant of fields added by newer versions."""
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in raw.items() if k in known}
        for key in ("label_names", "tags"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if "output_info" in kwargs:
            kwargs["output_info"] = tuple((str(k), float(v)) for k, v in kwargs["output_info"])
        return cls(**kwargs)


@dataclass(frozen=True)
class TaskEmbedding:
    """A task's vector in an embedding space, with what it describes.

    ``vector`` is float32 with ``space.dim`` values; ``full`` is the optional unreduced
    vector (not indexable, kept for analysis).
    """

    vector: np.ndarray
    space: EmbeddingSpace
    task: TaskInfo
    full: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.vector.ndim != 1 or self.vector.shape[0] != self.space.dim:
            raise EmbeddingFileError(
                f"embedding of {self.task.name!r} has shape {self.vector.shape}, "
                f"its space says dim {self.space.dim}"
            )
        if not np.all(np.isfinite(self.vector)):
            raise EmbeddingFileError(f"embedding of {self.task.name!r} contains NaN or Inf")

    def cosine(self, other: TaskEmbedding) -> float:
        """Cosine similarity; an error when the two live in different spaces."""
        check_same_space(self.space, other.space, repr(self.task.name), repr(other.task.name))
        a = self.vector.astype(np.float64)
        b = other.vector.astype(np.float64)
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(a @ b / denom) if denom > 0 else 0.0


def save_embedding(emb: TaskEmbedding, path: str | os.PathLike[str], *, with_full: bool = False) -> Path:
    """Write ``emb`` to ``path`` atomically (a crash never leaves a half-written file)."""
    path = Path(path)
    tensors = {"vector": np.ascontiguousarray(emb.vector, dtype=np.float32)}
    if with_full and emb.full is not None:
        tensors["full"] = np.ascontiguousarray(emb.full, dtype=np.float32)
    metadata = {"format": FILE_FORMAT, "space": emb.space.to_json(), "task": emb.task.to_json()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".safetensors", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        chmod_like_open(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_embedding(path: str | os.PathLike[str], *, with_full: bool = False) -> TaskEmbedding:
    """Read an embedding file written by :func:`save_embedding`."""
    path = Path(path)
    if not path.is_file():
        raise EmbeddingFileError(f"{path}: no such embedding file")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise EmbeddingFileError(f"{path}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != FILE_FORMAT:
        raise EmbeddingFileError(
            f"{path}: format {metadata.get('format')!r}, expected {FILE_FORMAT!r} "
            "(was it written by `fute embed`?)"
        )
    if "vector" not in tensors:
        raise EmbeddingFileError(f"{path}: missing tensor 'vector'")
    try:
        space = EmbeddingSpace.from_json(metadata["space"])
        task = TaskInfo.from_json(metadata["task"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise EmbeddingFileError(f"{path}: bad metadata ({exc})") from exc
    full = tensors.get("full") if with_full else None
    return TaskEmbedding(vector=tensors["vector"], space=space, task=task, full=full)
