"""A prompt-based causal LM as a classifier (the FUTE recipe for LLMs).

(LLM, prompt) is one model. Each example fills the prompt's template (inside the model's
chat template when it has one); the log-probability of every verbaliser is read at the
first generated position, multi-token verbalisers scored exactly by teacher forcing
(log P(v) = Σ_k log P(v_k | prompt, v_<k), continuing from the prompt's KV cache); each
class keeps its best verbaliser and a softmax over classes gives the soft label. No text is
generated or parsed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fute.corpus import CorpusExample
from fute.errors import ConfigError, ModelError, ModelNotFoundError
from fute.models.base import OutputKind, identity_hash, softmax
from fute.models.prompts import PromptSpec
from fute.surrogate import weights_hash

logger = logging.getLogger(__name__)

#: Appended to the prompt of a model without a chat template; its verbalisers then get a
#: leading space, as a word following "Answer:" is tokenised.
PLAIN_ANSWER_SUFFIX = "\nAnswer:"


def render_prompt(tokenizer: Any, prompt: PromptSpec, example: CorpusExample, use_chat: bool) -> str:
    """The full model input for one example: the chat-formatted turn, or the plain template."""
    user = prompt.render(example.text, example.text_pair)
    if not use_chat:
        prefix = f"{prompt.system}\n\n" if prompt.system else ""
        return prefix + user + PLAIN_ANSWER_SUFFIX
    messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
    messages.append({"role": "user", "content": user})
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return str(text)


def verbaliser_text(word: str, use_chat: bool) -> str:
    """A verbaliser as it follows the prompt: as written in a chat reply, after a space otherwise."""
    return word if use_chat else " " + word.lstrip()


def left_pad(seqs: Sequence[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids left-padded to the longest sequence (every sequence ends in the last
    column, where the next token is predicted) and the matching attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, width - len(s) :] = 1
    return ids, mask


class CausalLMAdapter:
    """A local causal LM folder plus a prompt, scored on verbalisers."""

    output_kind: OutputKind = "soft"

    def __init__(
        self,
        folder: str | Path,
        prompt: PromptSpec,
        *,
        batch_size: int = 8,
        max_text_tokens: int = 256,
        use_chat_template: bool | None = None,
        name: str | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.folder = Path(folder).expanduser()
        if not (self.folder / "config.json").is_file():
            raise ModelNotFoundError(f"{self.folder}: no config.json; give a local causal LM folder")
        if batch_size < 1 or max_text_tokens < 1:
            raise ConfigError(
                f"batch_size and max_text_tokens must be >= 1, got {batch_size}, {max_text_tokens}"
            )
        self.prompt = prompt
        self.name = name or f"{self.folder.name}+{prompt.name}"
        self.batch_size = batch_size
        self.max_text_tokens = max_text_tokens
        self.label_names = prompt.label_names
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        try:
            # The Auto class resolves the model class from the config type through its table.
            self.model = AutoModelForCausalLM.from_pretrained(self.folder, local_files_only=True)
        except ValueError as exc:
            raise ConfigError(f"{self.folder}: not a causal LM transformers knows ({exc})") from exc
        self.model.eval()  # type: ignore[no-untyped-call]
        has_template = getattr(self.tokenizer, "chat_template", None) is not None
        if use_chat_template and not has_template:
            raise ConfigError(f"{self.folder}: the tokenizer has no chat template")
        self.use_chat = has_template if use_chat_template is None else use_chat_template
        self._pad = self.tokenizer.pad_token_id
        if self._pad is None:
            self._pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        # Token ids of each verbaliser, flattened; `_owner[j]` is the class of verbaliser j.
        self._verbalisers: list[list[int]] = []
        self._owner: list[int] = []
        for c, (cls, words) in enumerate(prompt.labels):
            for word in words:
                ids = self.tokenizer(verbaliser_text(word, self.use_chat), add_special_tokens=False)[
                    "input_ids"
                ]
                if not ids:
                    raise ConfigError(
                        f"prompt {prompt.name!r}, class {cls!r}: verbaliser {word!r} has no tokens"
                    )
                self._verbalisers.append(list(ids))
                self._owner.append(c)
        self._max_v = max(len(v) for v in self._verbalisers)
        forward_args = inspect.signature(self.model.forward).parameters
        self._cache_argument = "cache" if "cache" in forward_args else "past_key_values"
        self._identity: str | None = None
        logger.info(
            "causal LM %s: %d classes, %d verbalisers (up to %d tokens), chat template %s",
            self.name,
            len(self.label_names),
            len(self._verbalisers),
            self._max_v,
            self.use_chat,
        )

    def identity(self) -> str:
        """sha256 of the weights, the prompt and how it is rendered."""
        if self._identity is None:
            self._identity = identity_hash(
                "causal_lm/1",
                weights_hash(self.folder),
                self.prompt.canonical(),
                f"chat={self.use_chat}",
                str(self.max_text_tokens),
            )
        return self._identity

    def _prompt_ids(self, example: CorpusExample) -> list[int]:
        # Long texts are cut by tokens *before* templating, so the question after them survives.
        ids = self.tokenizer(example.text, add_special_tokens=False)["input_ids"]
        text = example.text
        if len(ids) > self.max_text_tokens:
            text = str(self.tokenizer.decode(ids[: self.max_text_tokens]))
        rendered = render_prompt(
            self.tokenizer, self.prompt, CorpusExample(text, example.text_pair), self.use_chat
        )
        out: list[int] = self.tokenizer(rendered, add_special_tokens=not self.use_chat)["input_ids"]
        return out

    def verbaliser_logprobs(self, prompts: Sequence[list[int]]) -> np.ndarray:
        """log P(verbaliser | prompt) for each prompt (rows) and verbaliser (columns)."""
        # One forward over the left-padded prompts scores every verbaliser's first token at
        # the last position and keeps the KV cache; multi-token verbalisers then continue
        # from that cache with only their own tokens, so a prompt is never run twice.
        ids, mask = left_pad(prompts, self._pad)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        multi = [j for j, v in enumerate(self._verbalisers) if len(v) > 1]
        with torch.inference_mode():
            # Only the last position's logits: a full vocabulary row per position is the memory hog.
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=position_ids,
                logits_to_keep=1,
                use_cache=bool(multi),
            )
            first = torch.log_softmax(out.logits[:, -1].double(), dim=-1)
            scores = first[:, [v[0] for v in self._verbalisers]].numpy().copy()
            if multi:
                # transformers renamed the cache ``past_key_values`` -> ``cache`` (5.x).
                cache = out.cache if hasattr(out, "cache") else out.past_key_values
                scores[:, multi] += self._continuation_logprobs(cache, mask, multi)
        return scores

    def _continuation_logprobs(self, cache: Any, mask: torch.Tensor, multi: list[int]) -> np.ndarray:
        """Σ_{t>=1} log P(v_t | prompt, v_<t) for each prompt and multi-token verbaliser."""
        n_prompts, n_multi = mask.shape[0], len(multi)
        # Feed v_0..v_{L-2}: the logits after v_{t-1} predict v_t. Shorter verbalisers are
        # right-padded; causal attention keeps the padding out of their own positions.
        steps = max(len(self._verbalisers[j]) for j in multi) - 1
        feed = torch.full((n_multi, steps), self._pad, dtype=torch.long)
        feed_mask = torch.zeros((n_multi, steps), dtype=torch.long)
        for k, j in enumerate(multi):
            head = self._verbalisers[j][:-1]
            feed[k, : len(head)] = torch.tensor(head)
            feed_mask[k, : len(head)] = 1
        # Row r = prompt r // n_multi continued by verbaliser multi[r % n_multi].
        cache.batch_repeat_interleave(n_multi)
        prompt_lengths = mask.sum(-1).repeat_interleave(n_multi)
        out = self.model(
            input_ids=feed.repeat(n_prompts, 1),
            attention_mask=torch.cat([mask.repeat_interleave(n_multi, 0), feed_mask.repeat(n_prompts, 1)], 1),
            position_ids=prompt_lengths[:, None] + torch.arange(steps)[None, :],
            **{self._cache_argument: cache},
        )
        logp = torch.log_softmax(out.logits.double(), dim=-1)
        sums = np.zeros((n_prompts, n_multi))
        for k, j in enumerate(multi):
            v = self._verbalisers[j]
            rows = torch.arange(k, n_prompts * n_multi, n_multi)
            picked = logp[rows][:, torch.arange(len(v) - 1), torch.tensor(v[1:])]
            sums[:, k] = picked.sum(-1).numpy()
        return sums

    def class_scores(self, logprobs: np.ndarray) -> np.ndarray:
        """Each class's best verbaliser log-probability, shape ``(n, classes)``."""
        out = np.full((logprobs.shape[0], len(self.label_names)), -np.inf)
        for j, c in enumerate(self._owner):
            out[:, c] = np.maximum(out[:, c], logprobs[:, j])
        return out

    def predict(self, examples: Sequence[CorpusExample]) -> np.ndarray:
        """Soft labels: softmax over classes of the best verbaliser log-probability."""
        rows: list[np.ndarray] = []
        for start in range(0, len(examples), self.batch_size):
            chunk = examples[start : start + self.batch_size]
            try:
                logprobs = self.verbaliser_logprobs([self._prompt_ids(ex) for ex in chunk])
            except (RuntimeError, IndexError) as exc:
                raise ModelError(
                    f"causal LM {self.name} failed on examples {start}..{start + len(chunk)}: {exc}"
                ) from exc
            rows.append(softmax(self.class_scores(logprobs)))
        return np.concatenate(rows) if rows else np.zeros((0, len(self.label_names)))
