"""The manifest's parsers: one per section, each handed a :class:`ParseContext`.

Every entry is validated before anything runs: method settings through
:func:`fute.methods.make_settings`, adapter options through
:class:`fute.models.AdapterOptions`, formats and label kinds against fute's tuples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from fute.corpus import DEFAULT_CORPUS_SEED, DEFAULT_CORPUS_SIZE, PACKAGED_PREFIX
from fute.data import DATA_FORMATS, LABEL_KINDS, FieldMap
from fute.data.text_files import decode_utf8
from fute.errors import ConfigError
from fute.methods import METHODS, make_settings
from fute.models import SCHEMES, AdapterOptions
from fute.models.smollm2 import SMOLLM2_NAME
from fute.surrogate import DEFAULT_SURROGATE
from fute_client.types import BACKENDS, Backend
from indexer.errors import ManifestError
from indexer.manifest.specs import CorpusSpec, DatasetSpec, Manifest, ModelSpec, SpaceSpec
from indexer.manifest.yaml_lines import Entry, LineChecker, compose, entry_label

#: Task names become task ids in the index; the store allows up to 256 bytes.
MAX_NAME_CHARS = 200
TOP_LEVEL_KEYS = ("version", "surrogate", "tags", "corpus", "spaces", "datasets", "models")
SPACE_KEYS = ("name", "method", "settings", "backend", "surrogate", "keep_neighbours")
DATASET_KEYS = ("name", "path", "format", "fields", "label_kind", "split", "task_type", "tags", "spaces")
MODEL_KEYS = ("name", "adapter", "prompt", "options", "task_type", "tags", "spaces")
CORPUS_KEYS = ("path", "size", "seed")
FIELD_KEYS = ("text", "text_pair", "label")
#: AdapterOptions fields a manifest may set under ``options`` (``prompt`` has its own key).
OPTION_KEYS = tuple(f.name for f in dataclasses.fields(AdapterOptions) if f.name != "prompt")
SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True)
class ParseContext:
    """What the section parsers share: where errors point, what relative paths resolve
    against, the manifest-wide defaults, the spaces defined so far and the names taken."""

    chk: LineChecker
    base: Path  # the manifest's folder
    surrogate: str  # the default surrogate of a space
    tags: tuple[str, ...]  # tags every dataset and model gets
    spaces: tuple[SpaceSpec, ...] = ()
    #: Names already taken, each with the label of the entry that took it (spaces have
    #: their own namespace; datasets and models share one, as they share task ids).
    space_names: dict[str, str] = field(default_factory=dict)
    task_names: dict[str, str] = field(default_factory=dict)

    def resolve(self, text: str) -> Path:
        """A path from the manifest: absolute, relative ones against the manifest's folder."""
        path = Path(text).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()


def _name(e: Entry, seen: dict[str, str]) -> str:
    name = e.req("name")
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise e.fail("name", f"must be 1-{MAX_NAME_CHARS} printable characters")
    if name in seen:
        raise e.fail("name", f"{name!r} is already the name of {seen[name]}")
    seen[name] = e.label
    return name


def _check_setting_types(entry: Entry, method: str, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with float-like strings made floats; other values whose type differs from the default's are errors.

    YAML 1.1 reads ``1e-3`` (no dot) as a string: that one is taken as the float it means.
    """
    defaults = make_settings(method)
    out = dict(raw)
    for key, value in raw.items():
        if not hasattr(defaults, key):
            continue  # make_settings reports unknown keys with the valid list
        default = getattr(defaults, key)
        if default is None or value is None:
            continue
        ok = isinstance(value, type(default)) and not (
            isinstance(value, bool) and not isinstance(default, bool)
        )
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if isinstance(default, float) and isinstance(value, str):
            try:
                out[key], ok = float(value), True
            except ValueError:
                ok = False
        if not ok:
            raise entry.fail(f"settings.{key}", f"must be {type(default).__name__}, got {value!r}")
    return out


def _space(ctx: ParseContext, i: int, raw: Any) -> SpaceSpec:
    e = Entry(ctx.chk, ("spaces", i), entry_label("spaces", i, raw), raw, SPACE_KEYS)
    name = _name(e, ctx.space_names)
    method = e.choice("method", METHODS)
    if method is None:
        raise e.fail("method", f"is required; one of {list(METHODS)}")
    overrides = e.mapping("settings")
    overrides = _check_setting_types(e, method, overrides)
    try:
        settings = make_settings(method, overrides)
    except ConfigError as exc:
        raise e.fail("settings", str(exc)) from exc
    # choice() validated the value against BACKENDS, the members of the Backend literal.
    backend = cast(Backend, e.choice("backend", BACKENDS, "flat"))
    return SpaceSpec(
        name=name,
        method=method,
        settings=settings,
        surrogate=e.str_("surrogate", ctx.surrogate) or ctx.surrogate,
        backend=backend,
        keep_neighbours=e.bool_("keep_neighbours", False),
    )


def _entry_spaces(ctx: ParseContext, e: Entry) -> tuple[str, ...]:
    names = tuple(s.name for s in ctx.spaces)
    chosen = e.strings("spaces") or names
    for name in chosen:
        if name not in names:
            raise e.fail("spaces", f"unknown space {name!r}; defined: {list(names)}")
    if len(set(chosen)) != len(chosen):
        raise e.fail("spaces", "lists a space twice")
    return chosen


def _dataset(ctx: ParseContext, i: int, raw: Any) -> DatasetSpec:
    e = Entry(ctx.chk, ("datasets", i), entry_label("datasets", i, raw), raw, DATASET_KEYS)
    name = _name(e, ctx.task_names)
    path = ctx.resolve(e.req("path"))
    fmt = e.choice("format", DATA_FORMATS)
    fields_raw = e.mapping("fields")
    unknown = sorted(set(fields_raw) - set(FIELD_KEYS))
    if unknown:
        raise e.fail(f"fields.{unknown[0]}", f"unknown column role; valid: {list(FIELD_KEYS)}")
    for key, value in fields_raw.items():
        if not isinstance(value, str) or not value:
            raise e.fail(f"fields.{key}", f"must be a column name (string), got {value!r}")
    return DatasetSpec(
        name=name,
        path=path,
        fmt=fmt,  # type: ignore[arg-type]
        fields=FieldMap(**fields_raw),
        label_kind=e.choice("label_kind", LABEL_KINDS),  # type: ignore[arg-type]
        split=e.str_("split", "train") or "train",
        task_type=e.str_("task_type", "") or "",
        tags=tuple(dict.fromkeys(ctx.tags + e.strings("tags"))),
        spaces=_entry_spaces(ctx, e),
    )


def _model(ctx: ParseContext, i: int, raw: Any) -> ModelSpec:
    e = Entry(ctx.chk, ("models", i), entry_label("models", i, raw), raw, MODEL_KEYS)
    name = _name(e, ctx.task_names)
    adapter = e.req("adapter")
    scheme, sep, target = adapter.partition(":")
    if not sep or scheme not in SCHEMES or not target:
        raise e.fail("adapter", f"{adapter!r} must be SCHEME:TARGET with SCHEME one of {list(SCHEMES)}")
    if scheme == "hf" or (scheme == "llm" and target != SMOLLM2_NAME):
        # A local model folder: relative to the manifest's folder, like dataset paths.
        adapter = f"{scheme}:{ctx.resolve(target)}"
    prompt = e.str_("prompt")
    if prompt is not None and "#" in prompt:
        file, _, pname = prompt.rpartition("#")
        prompt = f"{ctx.resolve(file)}#{pname}"
    options_raw = e.mapping("options")
    unknown = sorted(set(options_raw) - set(OPTION_KEYS))
    if unknown:
        raise e.fail(f"options.{unknown[0]}", f"unknown adapter option; valid: {list(OPTION_KEYS)}")
    kwargs = dict(options_raw)
    if "labels" in kwargs:
        labels = kwargs["labels"]
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise e.fail("options.labels", f"must be a list of strings, got {labels!r}")
        kwargs["labels"] = tuple(labels)
    try:
        options = AdapterOptions(prompt=prompt, **kwargs)
    except (ConfigError, TypeError) as exc:
        raise e.fail("options", str(exc)) from exc
    if scheme in ("llm", "openai") and not prompt:
        raise e.fail("prompt", f"is required for {scheme}: adapters")
    return ModelSpec(
        name=name,
        adapter=adapter,
        options=options,
        task_type=e.str_("task_type", "") or "",
        tags=tuple(dict.fromkeys(ctx.tags + e.strings("tags"))),
        spaces=_entry_spaces(ctx, e),
    )


def _corpus(ctx: ParseContext, raw: Any) -> CorpusSpec:
    if raw is None:
        return CorpusSpec()
    e = Entry(ctx.chk, ("corpus",), "corpus", raw, CORPUS_KEYS)
    path = e.str_("path")
    size = e.int_("size", DEFAULT_CORPUS_SIZE, minimum=0, nullable=True)
    seed = e.int_("seed", DEFAULT_CORPUS_SEED)
    assert seed is not None
    located: Path | str | None = path
    if path and not path.startswith(PACKAGED_PREFIX):
        located = ctx.resolve(path)
    return CorpusSpec(path=located or None, size=size or None, seed=seed)


def _list(chk: LineChecker, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise chk.error((key,), f"{key!r} must be a list of entries, got {type(value).__name__}")
    return value


def parse_manifest(text: str, source: Path) -> Manifest:
    """Validate manifest ``text``; relative paths resolve against ``source``'s folder.

    Raises:
        ManifestError: naming file, line, entry and field.
    """
    data, chk = compose(text, source)
    if not isinstance(data, dict):
        raise chk.error((), f"the manifest must be a mapping with keys {list(TOP_LEVEL_KEYS)}")
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise chk.error((unknown[0],), f"unknown top-level key {unknown[0]!r}; valid: {list(TOP_LEVEL_KEYS)}")
    version = data.get("version", 1)
    if version not in SUPPORTED_VERSIONS:
        raise chk.error(
            ("version",), f"version {version!r} is not supported; valid: {list(SUPPORTED_VERSIONS)}"
        )
    top = Entry(
        chk,
        (),
        "manifest",
        {k: v for k, v in data.items() if k in ("surrogate", "tags")},
        ("surrogate", "tags"),
    )
    surrogate = top.str_("surrogate", DEFAULT_SURROGATE) or DEFAULT_SURROGATE
    ctx = ParseContext(chk=chk, base=source.resolve().parent, surrogate=surrogate, tags=top.strings("tags"))
    spaces = tuple(_space(ctx, i, raw) for i, raw in enumerate(_list(chk, data, "spaces")))
    if not spaces:
        raise chk.error(("spaces",), "'spaces' must list at least one space (name, method, settings)")
    ctx = dataclasses.replace(ctx, spaces=spaces)
    datasets = tuple(_dataset(ctx, i, raw) for i, raw in enumerate(_list(chk, data, "datasets")))
    models = tuple(_model(ctx, i, raw) for i, raw in enumerate(_list(chk, data, "models")))
    if not datasets and not models:
        raise chk.error((), "the manifest lists no datasets and no models")
    return Manifest(
        source=source.resolve(),
        surrogate=surrogate,
        tags=ctx.tags,
        corpus=_corpus(ctx, data.get("corpus")),
        spaces=spaces,
        datasets=datasets,
        models=models,
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file (see :func:`parse_manifest`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from exc
    return parse_manifest(decode_utf8(data, str(path), ManifestError), path)
