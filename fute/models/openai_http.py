"""An OpenAI-compatible HTTP endpoint with a prompt as a classifier (hosted LLMs).

Two ways of reading verbaliser scores, both without generating text:

- ``completions`` (exact): one request per example sends the filled prompt followed by
  each verbaliser with ``echo: true, max_tokens: 0, logprobs: 1``; the log-probabilities
  of the verbaliser's own tokens are summed (multi-token verbalisers scored exactly).
  vLLM, llama.cpp's server and fute's own :mod:`~fute.models.openai_server` support it.
- ``chat`` (approximate): one request per example with ``max_tokens: 1, logprobs: true,
  top_logprobs: 20``; a verbaliser scores the log-probability of the best top token that
  equals it or starts it; one absent from the top list gets the lowest listed value.

Network failures and 5xx answers are retried with backoff; a 4xx answer, a timeout after
the last retry, or an answer that is not the expected JSON is a :class:`ModelError`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np

from fute.corpus import CorpusExample
from fute.errors import ConfigError, ModelError
from fute.models.base import OutputKind, identity_hash, softmax
from fute.models.causal_lm import render_prompt, verbaliser_text
from fute.models.prompts import PromptSpec

logger = logging.getLogger(__name__)

TOP_LOGPROBS = 20


class OpenAIAdapter:
    """``openai:URL``: URL is the API base (e.g. ``http://host:8000/v1``)."""

    output_kind: OutputKind = "soft"

    def __init__(
        self,
        base_url: str,
        model: str,
        prompt: PromptSpec,
        *,
        api: str = "completions",
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint {base_url!r} must be an http:// or https:// URL")
        if api not in ("completions", "chat"):
            raise ConfigError(f"unknown API kind {api!r}; valid: ['completions', 'chat']")
        if timeout <= 0 or retries < 0:
            raise ConfigError(f"timeout must be > 0 and retries >= 0, got {timeout}, {retries}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.prompt = prompt
        self.api = api
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.name = f"{model}@{self.base_url}+{prompt.name}"
        self.label_names = prompt.label_names
        self._words = [(c, w) for c, (_, words) in enumerate(prompt.labels) for w in words]

    def identity(self) -> str:
        """Endpoint URL, model name, API kind and prompt."""
        return identity_hash("openai/1", self.base_url, self.model, self.api, self.prompt.canonical())

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/{path}"
        headers = {"Content-Type": "application/json"}
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code < 500:
                    raise ModelError(f"endpoint {url} answered HTTP {exc.code}: {detail}") from exc
                last = exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = exc
            else:
                try:
                    parsed = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise ModelError(
                        f"endpoint {url} answered with something that is not JSON: {raw[:200]!r}"
                    ) from exc
                if not isinstance(parsed, dict):
                    raise ModelError(f"endpoint {url} answered JSON that is not an object: {raw[:200]!r}")
                return parsed
            logger.warning(
                "endpoint %s: attempt %d of %d failed: %s", url, attempt + 1, self.retries + 1, last
            )
        raise ModelError(
            f"endpoint {url} is unreachable or failing after {self.retries + 1} attempts: {last}"
        )

    def _completion_scores(self, example: CorpusExample) -> np.ndarray:
        rendered = render_prompt(None, self.prompt, example, use_chat=False)
        prompts = [rendered + verbaliser_text(w, False) for _, w in self._words]
        answer = self._post(
            "completions",
            {
                "model": self.model,
                "prompt": prompts,
                "max_tokens": 0,
                "echo": True,
                "logprobs": 1,
                "temperature": 0,
            },
        )
        try:
            choices = sorted(answer["choices"], key=lambda c: int(c["index"]))
            if len(choices) != len(prompts):
                raise ValueError(f"{len(choices)} choices for {len(prompts)} prompts")
            scores = np.empty(len(prompts))
            for j, choice in enumerate(choices):
                lp = choice["logprobs"]
                total, seen = 0.0, 0
                for token, logprob, offset in zip(
                    lp["tokens"], lp["token_logprobs"], lp["text_offset"], strict=True
                ):
                    # Tokens that end inside the verbaliser belong to it (one may straddle the boundary).
                    if int(offset) + len(str(token)) > len(rendered):
                        total += float(logprob)
                        seen += 1
                if seen == 0:
                    raise ValueError("no verbaliser tokens in the echoed prompt")
                scores[j] = total
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"endpoint {self.base_url}: malformed completions answer ({exc})") from exc
        return scores

    def _chat_scores(self, example: CorpusExample) -> np.ndarray:
        user = self.prompt.render(example.text, example.text_pair)
        messages = [{"role": "system", "content": self.prompt.system}] if self.prompt.system else []
        messages.append({"role": "user", "content": user})
        answer = self._post(
            "chat/completions",
            {
                "model": self.model,
                "messages": messages,
                "max_tokens": 1,
                "logprobs": True,
                "top_logprobs": TOP_LOGPROBS,
                "temperature": 0,
            },
        )
        try:
            top = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            pairs = [(str(t["token"]).strip(), float(t["logprob"])) for t in top]
            if not pairs:
                raise ValueError("empty top_logprobs")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"endpoint {self.base_url}: malformed chat answer ({exc})") from exc
        floor = min(lp for _, lp in pairs)
        scores = np.full(len(self._words), floor)
        for j, (_, word) in enumerate(self._words):
            matches = [lp for tok, lp in pairs if tok and word.startswith(tok)]
            if matches:
                scores[j] = max(matches)
        return scores

    def predict(self, examples: Sequence[CorpusExample]) -> np.ndarray:
        """Soft labels: softmax over classes of each class's best verbaliser score."""
        score = self._completion_scores if self.api == "completions" else self._chat_scores
        out = np.empty((len(examples), len(self.label_names)))
        for i, ex in enumerate(examples):
            s = score(ex)
            if not np.all(np.isfinite(s)):
                raise ModelError(
                    f"endpoint {self.base_url} returned NaN or infinite log-probabilities for example {i}"
                )
            best = np.full(len(self.label_names), -np.inf)
            for j, (c, _) in enumerate(self._words):
                best[c] = np.maximum(best[c], s[j])  # propagates NaN, which validation then reports
            out[i] = softmax(best)
        return out
