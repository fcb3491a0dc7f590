"""A prompt-based causal LM as a classifier (the FUTE recipe for LLMs).

(LLM, prompt) is one model. Each example fills the prompt's template (inside the model's
chat template when it has one); the log-probability of every verbaliser is read at the
first generated position, multi-token verbalisers scored exactly by teacher forcing
(log P(v) = Σ_k log P(v_k | prompt, v_<k), continuing from the prompt's KV cache); each
class keeps its best verbaliser and a softmax over classes gives the soft label. No text is
generated or parsed.

The cost is the model's forward over the prompt tokens (matrix products are 80-87% of it,
profiled on SmolLM2), so :meth:`CausalLMAdapter.predict` runs as few token positions as it
can by default (``scoring="shared-prefix"``): the token prefix every prompt of a call
shares (chat template, system turn and the instruction before ``{text}``: 37 of the ~69
tokens of SmolLM2's sentiment prompt on U) runs once and its KV cache is copied into each
batch, and the prompts are sorted by length so a batch pads only to its own longest.
``scoring="plain"`` runs every prompt in full, in input order; the two agree within float
rounding (tested on the real SmolLM2), so the choice is not part of the model's identity.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

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

#: How :meth:`CausalLMAdapter.predict` runs its prompts (module docstring): ``shared-prefix``
#: runs the prompts' common token prefix once and length-groups the batches; ``plain`` runs
#: every prompt in full in input order (the reference path).
ScoringPath = Literal["plain", "shared-prefix"]
SCORING_PATHS: tuple[ScoringPath, ...] = ("plain", "shared-prefix")


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
        scoring: ScoringPath = "shared-prefix",
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.folder = Path(folder).expanduser()
        if not (self.folder / "config.json").is_file():
            raise ModelNotFoundError(f"{self.folder}: no config.json; give a local causal LM folder")
        if batch_size < 1 or max_text_tokens < 1:
            raise ConfigError(
                f"batch_size and max_text_tokens must be >= 1, got {batch_size}, {max_text_tokens}"
            )
        if scoring not in SCORING_PATHS:
            raise ConfigError(f"unknown scoring path {scoring!r}; valid: {list(SCORING_PATHS)}")
        # Not part of identity(): both paths give the same outputs, so cached predictions of
        # one are valid for the other.
        self.scoring: ScoringPath = scoring
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
        # The last shared prefix seen and its KV cache (batch 1): every call of one prompt
        # on U has the same prefix, so it runs once per adapter, not once per call.
        self._prefix_memo: tuple[tuple[int, ...], Any] | None = None
        self._prefix_ok = True  # turned off for caches that may drop the prefix (sliding windows)
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

    def verbaliser_logprobs(self, prompts: Sequence[list[int]], shared_prefix: int = 0) -> np.ndarray:
        """log P(verbaliser | prompt) for each prompt (rows) and verbaliser (columns).

        With ``shared_prefix`` = P > 0, every prompt starts with the same P tokens and is
        longer than P: those run once (their KV cache, memoised) and only the rest of each
        prompt runs in the batch.
        """
        # One forward over the left-padded prompts scores every verbaliser's first token at
        # the last position and keeps the KV cache; multi-token verbalisers then continue
        # from that cache with only their own tokens, so a prompt is never run twice.
        if shared_prefix:
            head = prompts[0][:shared_prefix]
            if any(len(p) <= shared_prefix or p[:shared_prefix] != head for p in prompts):
                raise ConfigError(f"the prompts do not all extend a shared prefix of {shared_prefix} tokens")
        ids, mask = left_pad([p[shared_prefix:] for p in prompts], self._pad)
        multi = [j for j, v in enumerate(self._verbalisers) if len(v) > 1]
        with torch.inference_mode():
            cached: dict[str, Any] = {}
            if shared_prefix:
                prefix_cache = self._prefix_cache(tuple(head))
                prefix_cache.batch_repeat_interleave(len(prompts))
                cached[self._cache_argument] = prefix_cache
                # The prefix's columns lead the mask; a shorter prompt's padding then sits
                # between prefix and text, masked out like any left padding.
                mask = torch.cat([torch.ones((len(prompts), shared_prefix), dtype=torch.long), mask], 1)
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared_prefix:]
            # Only the last position's logits: a full vocabulary row per position is the memory hog.
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=position_ids,
                logits_to_keep=1,
                use_cache=bool(multi) or bool(shared_prefix),
                **cached,
            )
            first = torch.log_softmax(out.logits[:, -1].double(), dim=-1)
            scores = first[:, [v[0] for v in self._verbalisers]].numpy().copy()
            if multi:
                # transformers renamed the cache ``past_key_values`` -> ``cache`` (5.x).
                cache = out.cache if hasattr(out, "cache") else out.past_key_values
                scores[:, multi] += self._continuation_logprobs(cache, mask, multi)
        return scores

    def _prefix_cache(self, prefix: tuple[int, ...]) -> Any:
        """A fresh copy of the KV cache of ``prefix`` alone (batch 1); the forward extends it."""
        if self._prefix_memo is None or self._prefix_memo[0] != prefix:
            ids = torch.tensor([prefix])
            out = self.model(
                input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=1, use_cache=True
            )
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
            self._prefix_memo = (prefix, cache)
        return copy.deepcopy(self._prefix_memo[1])

    def shared_prefix_length(self, prompts: Sequence[list[int]]) -> int:
        """Tokens every prompt starts with, leaving each at least one token of its own (0: none)."""
        if not prompts or not self._prefix_ok:
            return 0
        first, limit = prompts[0], min(len(p) for p in prompts) - 1
        k = 0
        while k < limit and all(p[k] == first[k] for p in prompts):
            k += 1
        if k and self._prefix_memo is None:
            # A sliding-window cache keeps only the last W positions: check once that this
            # model's cache keeps the whole prefix, or fall back to full prompts.
            with torch.inference_mode():
                sliding = any(getattr(self._prefix_cache(tuple(first[:k])), "is_sliding", [False]))
            if sliding:
                logger.info("causal LM %s: sliding-window cache, prompts run in full", self.name)
                self._prefix_ok, self._prefix_memo = False, None
                return 0
        return k

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
        prompts = [self._prompt_ids(ex) for ex in examples]  # tokenised once
        if self.scoring == "plain":
            order, shared = list(range(len(prompts))), 0
        else:
            # Sorted by length, so each batch pads only to its own longest prompt; the
            # rows go back to input order below. sorted() is stable: ties keep input order.
            order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
            shared = self.shared_prefix_length(prompts)
        out = np.zeros((len(prompts), len(self.label_names)))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            try:
                logprobs = self.verbaliser_logprobs([prompts[i] for i in rows], shared)
            except (RuntimeError, IndexError) as exc:
                raise ModelError(f"causal LM {self.name} failed on examples {_rows(rows)}: {exc}") from exc
            out[rows] = softmax(self.class_scores(logprobs))
        return out


def _rows(rows: list[int]) -> str:
    """Example indices for an error message: ``a..b`` when contiguous, else the first few."""
    if rows == list(range(rows[0], rows[-1] + 1)):
        return f"{rows[0]}..{rows[-1] + 1}"
    shown = ", ".join(str(i) for i in sorted(rows)[:8])
    return shown + (", ..." if len(rows) > 8 else "")
