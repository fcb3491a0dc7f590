"""Model task embeddings (MTE): a black-box model's outputs on U, embedded like a dataset.

The model's outputs on the unlabelled corpus U become the labels of a task (soft labels
for classifiers, scores for regressors) and the *same* embedding method as for datasets
embeds it, in the same space (plus U's hash). Predictions are cached on disk, keyed by the
adapter's identity (model, prompt) and U's content hash; a cache entry is written only
when every batch succeeded and passed validation, and atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fute.corpus import UnlabelledCorpus
from fute.data.records import Example, TaskData
from fute.embedding import TaskEmbedding, TaskInfo
from fute.errors import ConfigError
from fute.file_modes import chmod_like_open
from fute.informativeness import output_information
from fute.methods.base import EmbeddingMethod
from fute.models.base import ModelAdapter, identity_hash, validate_outputs
from fute.models.smollm2 import cache_root

logger = logging.getLogger(__name__)

#: Examples per call to the adapter (each call is validated; progress advances per call).
#: A causal LM length-groups the prompts of one call, so a larger call pads less: at 64,
#: SmolLM2's batches of 8 on U ran 15% padding positions, at 256 4-7% (issue 18,
#: benchmarks/model_embedding_cost.py). Nothing is cached until every call succeeded, so
#: the size changes only how often progress advances.
DEFAULT_PREDICT_BATCH = 256
_CACHE_FORMAT = "fute-predictions/1"


def default_cache_dir() -> Path:
    """``$FUTE_CACHE_DIR/predictions`` (default ``~/.cache/fute/predictions``)."""
    return cache_root() / "predictions"


def cache_key(adapter: ModelAdapter, corpus: UnlabelledCorpus) -> str:
    """sha256 of the adapter identity (model + prompt), its outputs' shape, and U's hash."""
    return identity_hash(
        _CACHE_FORMAT, adapter.identity(), adapter.output_kind, *adapter.label_names, corpus.hash
    )


def _adapter_name(adapter: ModelAdapter) -> str:
    return str(getattr(adapter, "name", type(adapter).__name__))


def _read_cache(path: Path, adapter: ModelAdapter, n: int) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            preds = np.asarray(f["predictions"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable prediction cache %s (%s); recomputing", path, exc)
        return None
    if meta.get("format") != _CACHE_FORMAT:
        logger.warning("ignoring prediction cache %s of format %r; recomputing", path, meta.get("format"))
        return None
    try:
        return validate_outputs(preds, adapter, n, f"{_adapter_name(adapter)} (cache {path.name})")
    except Exception as exc:  # a corrupt entry is recomputed, loudly, never trusted
        logger.warning("ignoring invalid prediction cache %s (%s); recomputing", path, exc)
        return None


def _write_cache(path: Path, preds: np.ndarray, adapter: ModelAdapter, corpus: UnlabelledCorpus) -> None:
    meta = {
        "format": _CACHE_FORMAT,
        "adapter": _adapter_name(adapter),
        "identity": adapter.identity(),
        "output_kind": adapter.output_kind,
        "label_names": list(adapter.label_names),
        "corpus": corpus.hash,
        "corpus_source": corpus.source,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, predictions=preds, meta=np.array(json.dumps(meta)))
        chmod_like_open(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def predict_corpus(
    adapter: ModelAdapter,
    corpus: UnlabelledCorpus,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int = DEFAULT_PREDICT_BATCH,
    progress: bool = True,
) -> np.ndarray:
    """The adapter's validated outputs on every example of U, from the cache when present.

    Raises:
        ModelError: the adapter raised or returned something invalid (nothing is cached).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    name = _adapter_name(adapter)
    n = len(corpus)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"{cache_key(adapter, corpus)}.npz"
    if use_cache and path.is_file():
        cached = _read_cache(path, adapter, n)
        if cached is not None:
            logger.info("predictions of %s on U %s from cache %s", name, corpus.hash[:12], path)
            return cached
    parts: list[np.ndarray] = []
    bar = tqdm(total=n, desc=f"predict {name}", disable=not progress, leave=False, unit="ex")
    try:
        for start in range(0, n, batch_size):
            chunk = corpus.examples[start : start + batch_size]
            out = adapter.predict(chunk)
            parts.append(validate_outputs(out, adapter, len(chunk), name))
            bar.update(len(chunk))
    finally:
        bar.close()
    preds = np.concatenate(parts) if parts else validate_outputs(np.zeros((0,)), adapter, 0, name)
    if use_cache:
        _write_cache(path, preds, adapter, corpus)
        logger.info("cached predictions of %s at %s", name, path)
    return preds


def calibrate_soft(predictions: np.ndarray) -> np.ndarray:
    """Prior calibration over U: divide each class's probability by its mean over U, renormalise.

    A small prompted LLM often puts most mass on one class for every input (SmolLM2 says
    ``positive`` for every sentence of U); the FIM then sees a near-constant label. Dividing
    by the model's average output (the "contextual calibration" idea of Zhao et al., 2021,
    with U's mean instead of a content-free input) keeps what varies between examples.
    """
    prior = np.clip(predictions.astype(np.float64).mean(axis=0, keepdims=True), 1e-12, None)
    scaled = predictions / prior
    out: np.ndarray = (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def model_task(
    adapter: ModelAdapter, corpus: UnlabelledCorpus, predictions: np.ndarray, name: str
) -> TaskData:
    """U's examples labelled with the model's outputs: a ``soft`` or ``regression`` task."""
    examples: list[Example] = []
    for ex, y in zip(corpus.examples, predictions, strict=True):
        label: float | tuple[float, ...] = (
            float(y) if adapter.output_kind == "regression" else tuple(float(v) for v in y)
        )
        examples.append(Example(text=ex.text, label=label, text_pair=ex.text_pair))
    return TaskData(
        name=name,
        examples=tuple(examples),
        label_kind=adapter.output_kind,
        label_names=adapter.label_names,
        source=corpus.source,
    )


def embed_model(
    adapter: ModelAdapter,
    method: EmbeddingMethod,
    corpus: UnlabelledCorpus,
    info: TaskInfo | None = None,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int = DEFAULT_PREDICT_BATCH,
    progress: bool = True,
    calibrate: bool = False,
    warn_low_information: bool = True,
) -> TaskEmbedding:
    """The model task embedding of ``adapter``: ``method`` on (U, model outputs), in U's space.

    With ``calibrate`` (soft outputs only), the outputs are prior-calibrated over U first
    (:func:`calibrate_soft`); the cache keeps the raw outputs. The embedding's
    ``task.output_info`` records how much the outputs say (:mod:`fute.informativeness`);
    below :data:`~fute.informativeness.LOW_ENTROPY_THRESHOLD` a warning is logged (unless
    ``warn_low_information`` is off: a caller that shows the record itself).

    Raises:
        ModelError: the model misbehaved; nothing was cached or written.
    """
    name = info.name if info is not None else _adapter_name(adapter)
    if calibrate and adapter.output_kind != "soft":  # before the model runs, not after
        raise ConfigError(f"calibration applies to soft labels; model {name} is a regressor")
    preds = predict_corpus(
        adapter, corpus, cache_dir=cache_dir, use_cache=use_cache, batch_size=batch_size, progress=progress
    )
    if calibrate:
        preds = validate_outputs(calibrate_soft(preds), adapter, len(corpus), f"{name} (calibrated)")
    if adapter.output_kind == "regression" and float(np.std(preds)) == 0.0:
        logger.warning("model %s gives the same score on all of U: its embedding carries little", name)
    # Measured on the labels the method sees (after calibration, when asked for)
    information = output_information(preds, adapter.output_kind, corpus.input_sources)
    if warn_low_information and information.is_low():
        logger.warning(
            "model %s says little on U (%s): its embedding is mostly U's input signature",
            name,
            information.describe(adapter.label_names),
        )
    task = model_task(adapter, corpus, preds, name)
    base = info or TaskInfo(name=name)
    full_info = TaskInfo(
        name=base.name,
        kind="model",
        task_type=base.task_type,
        label_kind=adapter.output_kind,
        label_names=adapter.label_names,
        source=base.source or _adapter_name(adapter),
        # The method records how many examples it used after its own cap.
        n_examples=len(task.examples),
        tags=(*base.tags, "calibrated") if calibrate else base.tags,
        output_info=information.to_pairs(),
    )
    return method.embed(task, full_info, corpus=corpus.hash, progress=progress)
