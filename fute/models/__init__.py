"""Black-box model adapters, resolved from a spec string through one table.

=====================  =====================================================
spec                   adapter
=====================  =====================================================
``hf:PATH``            local Hugging Face sequence classifier folder
``llm:smollm2``        the packaged SmolLM2-135M-Instruct + ``prompt``
``llm:PATH``           a local causal LM folder + ``prompt``
``callable:NAME``      a shipped adapter (:data:`BUILTIN_CALLABLES`)
``callable:pkg.m:fn``  any Python function texts -> outputs
``openai:URL``         an OpenAI-compatible endpoint + ``prompt`` + ``model``
=====================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fute.errors import ConfigError
from fute.models.base import OUTPUT_KINDS, ModelAdapter, OutputKind, validate_outputs

ApiKind = Literal["completions", "chat"]
API_KINDS: tuple[ApiKind, ...] = ("completions", "chat")

#: Short names of the shipped callable adapters (``callable:vader``).
BUILTIN_CALLABLES: dict[str, str] = {
    "vader": "fute.models.builtin:vader_compound",
    "vader-probs": "fute.models.builtin:vader_probs",
    "textblob": "fute.models.builtin:textblob_polarity",
    "profanity-check": "fute.models.builtin:profanity_probs",
    "langid": "fute.models.builtin:langid_chatterbot",
}


@dataclass(frozen=True)
class AdapterOptions:
    """Options of the adapters; each adapter reads the ones that concern it.

    Attributes:
        prompt: prompt reference ``NAME`` or ``FILE#NAME`` (``llm:`` and ``openai:``).
        labels: label names of a callable that does not declare them.
        output_kind: ``soft`` or ``regression`` of a callable that does not declare it.
        model: model name sent to an ``openai:`` endpoint.
        api: ``completions`` (exact verbaliser scores via echo) or ``chat`` (top logprobs).
        timeout: seconds per HTTP request.
        retries: extra attempts after a failed HTTP request.
        batch_size: examples per forward pass inside local models.
        max_length: token limit of the inputs of local models.
    """

    prompt: str | None = None
    labels: tuple[str, ...] | None = None
    output_kind: OutputKind | None = None
    model: str | None = None
    api: ApiKind = "completions"
    timeout: float = 30.0
    retries: int = 2
    batch_size: int = 8
    max_length: int = 256

    def __post_init__(self) -> None:
        if self.api not in API_KINDS:
            raise ConfigError(f"unknown API kind {self.api!r}; valid: {list(API_KINDS)}")
        if self.output_kind is not None and self.output_kind not in OUTPUT_KINDS:
            raise ConfigError(f"unknown output kind {self.output_kind!r}; valid: {list(OUTPUT_KINDS)}")

    def require_prompt(self, scheme: str) -> str:
        """The prompt reference, or an error saying that ``scheme`` needs one."""
        if not self.prompt:
            raise ConfigError(f"{scheme}: adapters need a prompt (--prompt NAME or FILE#NAME)")
        return self.prompt


def _hf(target: str, options: AdapterOptions) -> ModelAdapter:
    from fute.models.hf_classifier import HFClassifierAdapter

    return HFClassifierAdapter(target, max_length=options.max_length)


def _llm(target: str, options: AdapterOptions) -> ModelAdapter:
    from fute.models.causal_lm import CausalLMAdapter
    from fute.models.prompts import load_prompt
    from fute.models.smollm2 import SMOLLM2_NAME, smollm2_dir

    prompt = load_prompt(options.require_prompt("llm"))
    folder = smollm2_dir() if target == SMOLLM2_NAME else target
    name = f"{target if target == SMOLLM2_NAME else folder}+{prompt.name}"
    return CausalLMAdapter(
        folder, prompt, batch_size=options.batch_size, max_text_tokens=options.max_length, name=str(name)
    )


def _callable(target: str, options: AdapterOptions) -> ModelAdapter:
    from fute.models.callables import CallableAdapter, resolve_callable

    spec = BUILTIN_CALLABLES.get(target, target)
    return CallableAdapter(
        resolve_callable(spec), spec, label_names=options.labels, output_kind=options.output_kind, name=target
    )


def _openai(target: str, options: AdapterOptions) -> ModelAdapter:
    from fute.models.openai_http import OpenAIAdapter
    from fute.models.prompts import load_prompt

    if not options.model:
        raise ConfigError("openai: adapters need the endpoint's model name (--model NAME)")
    prompt = load_prompt(options.require_prompt("openai"))
    return OpenAIAdapter(
        target, options.model, prompt, api=options.api, timeout=options.timeout, retries=options.retries
    )


_SCHEMES: dict[str, Callable[[str, AdapterOptions], ModelAdapter]] = {
    "hf": _hf,
    "llm": _llm,
    "callable": _callable,
    "openai": _openai,
}
SCHEMES: tuple[str, ...] = tuple(_SCHEMES)


def load_adapter(spec: str, options: AdapterOptions | None = None) -> ModelAdapter:
    """Build the adapter named by ``SCHEME:TARGET`` (see the module docstring)."""
    scheme, sep, target = spec.partition(":")
    if not sep or scheme not in _SCHEMES or not target:
        raise ConfigError(f"model spec {spec!r} must be SCHEME:TARGET with SCHEME one of {list(SCHEMES)}")
    return _SCHEMES[scheme](target, options or AdapterOptions())


__all__ = [
    "API_KINDS",
    "BUILTIN_CALLABLES",
    "SCHEMES",
    "AdapterOptions",
    "ApiKind",
    "ModelAdapter",
    "OutputKind",
    "load_adapter",
    "validate_outputs",
]
