"""Prompt sets: how a prompt-based LLM becomes a classifier (file format ``fute-prompts/1``).

A prompt file is YAML::

    format: fute-prompts/1
    prompts:
      sentiment:
        task_type: sentiment            # optional, copied into the embedding's TaskInfo
        system: You are ...             # optional system message (chat models only)
        template: "Text: {text}\\n..."   # {text}; {text_pair} for pair inputs
        labels:                         # class -> verbaliser words, in head order
          negative: [negative, bad]
          positive: [positive, good]

A prompt is referenced as ``NAME`` (from the packaged ``default.yaml``) or ``FILE#NAME``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from fute.data.text_files import decode_utf8
from fute.errors import ConfigError

PROMPT_FORMAT = "fute-prompts/1"
_FIELDS = {"template", "labels", "task_type", "system"}
_PLACEHOLDERS = {"text", "text_pair"}


@dataclass(frozen=True)
class PromptSpec:
    """One prompt: template, verbalisers per class (in class order), task type, system message."""

    name: str
    template: str
    labels: tuple[tuple[str, tuple[str, ...]], ...]
    task_type: str = ""
    system: str | None = None

    @property
    def label_names(self) -> tuple[str, ...]:
        """Class names in output order."""
        return tuple(name for name, _ in self.labels)

    def render(self, text: str, text_pair: str | None = None) -> str:
        """The user message for one example (a missing pair becomes an empty string)."""
        return self.template.format(text=text, text_pair=text_pair or "")

    def canonical(self) -> str:
        """Canonical JSON of everything that changes a model's outputs (part of its identity)."""
        return json.dumps(
            {
                "template": self.template,
                "labels": [[n, list(v)] for n, v in self.labels],
                "system": self.system,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


def _parse_prompt(name: str, raw: Any, where: str) -> PromptSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: prompt {name!r} must be a mapping with {sorted(_FIELDS)}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: prompt {name!r} has unknown fields {unknown}; valid: {sorted(_FIELDS)}")
    template = raw.get("template")
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(f"{where}: prompt {name!r} needs a non-empty string 'template'")
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if "text" not in fields or fields - _PLACEHOLDERS:
        raise ConfigError(
            f"{where}: prompt {name!r}: the template must use {{text}} and may use {{text_pair}}; "
            f"found placeholders {sorted(fields)}"
        )
    labels = raw.get("labels")
    if not isinstance(labels, dict) or len(labels) < 2:
        raise ConfigError(
            f"{where}: prompt {name!r} needs 'labels': a mapping of at least 2 classes to verbalisers"
        )
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for cls, words in labels.items():
        # YAML 1.1 reads unquoted yes/no/on/off as booleans: say so rather than use "False".
        hint = " (quote words such as 'yes', 'no', 'on', 'off' in YAML)"
        if not isinstance(cls, str):
            raise ConfigError(f"{where}: prompt {name!r}: class name {cls!r} is not a string{hint}")
        if isinstance(words, str):
            words = [words]
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            raise ConfigError(
                f"{where}: prompt {name!r}, class {cls!r}: verbalisers must be non-empty strings{hint}"
            )
        parsed.append((str(cls), tuple(words)))
    system = raw.get("system")
    if system is not None and not isinstance(system, str):
        raise ConfigError(f"{where}: prompt {name!r}: 'system' must be a string")
    return PromptSpec(name, template, tuple(parsed), str(raw.get("task_type", "")), system)


def load_prompt_file(path: str | Path | None = None) -> dict[str, PromptSpec]:
    """All prompts of a prompt file (the packaged ``default.yaml`` when ``path`` is None)."""
    if path is None:
        text = files("fute").joinpath("resources", "prompts", "default.yaml").read_text(encoding="utf-8")
        where = "packaged prompts default.yaml"
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"{p}: no such prompt file")
        text, where = decode_utf8(p.read_bytes(), str(p), ConfigError), str(p)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != PROMPT_FORMAT:
        raise ConfigError(f"{where}: expected a mapping with format: {PROMPT_FORMAT} and 'prompts'")
    prompts = raw.get("prompts")
    if not isinstance(prompts, dict) or not prompts:
        raise ConfigError(f"{where}: 'prompts' must be a non-empty mapping of name -> prompt")
    return {str(n): _parse_prompt(str(n), v, where) for n, v in prompts.items()}


def load_prompt(ref: str) -> PromptSpec:
    """A prompt by reference: ``NAME`` (packaged) or ``FILE#NAME``."""
    path, sep, name = ref.rpartition("#")
    prompts = load_prompt_file(path if sep else None)
    key = name if sep else ref
    if key not in prompts:
        raise ConfigError(
            f"unknown prompt {key!r} in {path if sep else 'the packaged prompts'}; valid: {sorted(prompts)}"
        )
    return prompts[key]
