"""Loading the surrogate: the packaged MiniLM, local folders, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fute.errors import ConfigError, ModelNotFoundError
from fute.surrogate import Surrogate, load_surrogate


def test_packaged_minilm_loads_with_identity(surrogate: Surrogate) -> None:
    assert surrogate.config_type == "BertConfig"
    assert surrogate.hidden_size == 384
    assert surrogate.num_parameters() == 22_713_216
    assert len(surrogate.weights_sha256) == 64


def test_weights_equal_the_reference_loader(surrogate: Surrogate) -> None:
    from transformers import AutoModel

    reference = AutoModel.from_pretrained(surrogate.folder, local_files_only=True).eval()
    ours = surrogate.fresh_backbone().eval()
    ids = surrogate.tokenizer(["a small test sentence"], return_tensors="pt")
    with torch.no_grad():
        a = ours(**ids).last_hidden_state
        b = reference(**ids).last_hidden_state
    assert torch.allclose(a, b, atol=1e-5)


def test_fresh_backbones_are_independent_copies(surrogate: Surrogate) -> None:
    a, b = surrogate.fresh_backbone(), surrogate.fresh_backbone()
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))
    assert torch.equal(next(b.parameters()), next(surrogate.fresh_backbone().parameters()))


def test_missing_folder_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"not on disk.*no folder at .*nowhere.*Nothing is fetched"):
        load_surrogate(tmp_path / "nowhere")
    with pytest.raises(ModelNotFoundError, match="not on disk"):
        load_surrogate("sentence-transformers/all-mpnet-base-v2")


def test_folder_without_weights_or_config(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        load_surrogate(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelNotFoundError, match="no weight files"):
        load_surrogate(tmp_path)


def test_unsupported_config_type_is_named(tmp_path: Path, surrogate: Surrogate) -> None:
    from transformers import GPT2Config, GPT2Model

    GPT2Model(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100)).save_pretrained(tmp_path)
    surrogate.tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="GPT2Config is not a supported surrogate encoder"):
        load_surrogate(tmp_path)


def test_local_t5_encoder_folder(tmp_path: Path, surrogate: Surrogate) -> None:
    """A user's T5 checkpoint works as surrogate (tiny random weights, the MiniLM tokenizer)."""
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=surrogate.tokenizer.vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    surrogate.tokenizer.save_pretrained(tmp_path)
    t5 = load_surrogate(tmp_path)
    assert t5.config_type == "T5Config"
    assert t5.hidden_size == 32
    assert len(t5.layers(t5.fresh_backbone())) == 2


def _one_layer_bert(folder: Path) -> Path:
    """A 1-layer random BERT (hidden 32) saved in ``folder``, without a tokenizer; its weights file."""
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=100
        )
    ).save_pretrained(folder)
    return folder / "model.safetensors"


def _save_weights(weights: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file(state, str(weights), metadata={"format": "pt"})


def test_folder_without_tokenizer(tmp_path: Path) -> None:
    _one_layer_bert(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no tokenizer files"):
        load_surrogate(tmp_path)


def test_truncated_checkpoint_fails_loudly(tmp_path: Path, surrogate: Surrogate) -> None:
    from safetensors.torch import load_file

    weights = _one_layer_bert(tmp_path)
    surrogate.tokenizer.save_pretrained(tmp_path)
    state = load_file(str(weights))
    dropped = sorted(state)[0]
    del state[dropped]
    _save_weights(weights, state)
    with pytest.raises(ConfigError, match=r"weights lack 1 backbone tensors"):
        load_surrogate(tmp_path)


def test_unexpected_backbone_tensor_fails_loudly(tmp_path: Path, surrogate: Surrogate) -> None:
    """A tensor under the backbone's own modules that the config lacks is an error; a head is not."""
    from safetensors.torch import load_file

    weights = _one_layer_bert(tmp_path)
    surrogate.tokenizer.save_pretrained(tmp_path)
    state = load_file(str(weights))
    state["classifier.weight"] = torch.zeros(2, 32)  # a task head: stripped
    _save_weights(weights, state)
    assert load_surrogate(tmp_path).num_parameters() > 0
    # A second layer, as in a deeper checkpoint under a shallower config.
    state["encoder.layer.1.output.dense.weight"] = torch.zeros(32, 64)
    _save_weights(weights, state)
    with pytest.raises(
        ConfigError,
        match=r"weights hold 1 tensors the BertModel backbone does not have, "
        r"e\.g\. \['encoder\.layer\.1\.output\.dense\.weight'\]",
    ):
        load_surrogate(tmp_path)
