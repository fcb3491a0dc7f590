"""The indexing manifest: a YAML file of spaces, datasets, models, the corpus U and tags.

Parsing keeps the line of every node (from PyYAML's node marks), so an error reads
``jobs.yaml:14: datasets[3] (name 'sst'), field 'fields.label': must be a string``. Every
entry is validated before anything runs: method settings through
:func:`fute.methods.make_settings`, adapter options through
:class:`fute.models.AdapterOptions`, formats and label kinds against fute's tuples.

Problems with the *content* of files (a missing or malformed dataset) are not manifest
errors: they fail that unit alone when the job runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from fute.corpus import DEFAULT_CORPUS_SEED, DEFAULT_CORPUS_SIZE, PACKAGED_PREFIX
from fute.data import DATA_FORMATS, LABEL_KINDS, FieldMap, LabelKind
from fute.data.loading import DataFormat
from fute.data.text_files import decode_utf8
from fute.errors import ConfigError
from fute.methods import METHODS, make_settings
from fute.models import SCHEMES, AdapterOptions
from fute.models.smollm2 import SMOLLM2_NAME
from fute.surrogate import DEFAULT_SURROGATE
from fute_client.types import BACKENDS, Backend
from indexer.errors import ManifestError

#: Task names become task ids in the index; the store allows up to 256 bytes.
MAX_NAME_CHARS = 200
TOP_LEVEL_KEYS = ("version", "surrogate", "tags", "corpus", "spaces", "datasets", "models")
SPACE_KEYS = ("name", "method", "settings", "backend", "surrogate")
DATASET_KEYS = ("name", "path", "format", "fields", "label_kind", "split", "task_type", "tags", "spaces")
MODEL_KEYS = ("name", "adapter", "prompt", "options", "task_type", "tags", "spaces")
CORPUS_KEYS = ("path", "size", "seed")
FIELD_KEYS = ("text", "text_pair", "label")
#: AdapterOptions fields a manifest may set under ``options`` (``prompt`` has its own key).
OPTION_KEYS = tuple(f.name for f in dataclasses.fields(AdapterOptions) if f.name != "prompt")
SUPPORTED_VERSIONS = (1,)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SpaceSpec:
    """One embedding space: a method with settings on a surrogate, stored as index space ``name``."""

    name: str
    method: str
    settings: Any  # the method's frozen settings dataclass (validated)
    surrogate: str
    backend: Backend = "flat"


@dataclass(frozen=True)
class DatasetSpec:
    """A labelled dataset file or folder, embedded into ``spaces``."""

    name: str
    path: Path
    fmt: DataFormat | None
    fields: FieldMap
    label_kind: LabelKind | None
    split: str
    task_type: str
    tags: tuple[str, ...]
    spaces: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    """A black-box model (adapter spec + prompt + options), embedded on U into ``spaces``."""

    name: str
    adapter: str
    options: AdapterOptions  # carries the prompt too
    task_type: str
    tags: tuple[str, ...]
    spaces: tuple[str, ...]

    @property
    def prompt(self) -> str | None:
        """The prompt reference (``NAME`` or ``FILE#NAME``), if any."""
        return self.options.prompt


@dataclass(frozen=True)
class CorpusSpec:
    """The unlabelled corpus U: a JSONL file, ``packaged:NAME`` or None (the packaged default),
    and a seeded sample size."""

    path: Path | str | None = None
    size: int | None = DEFAULT_CORPUS_SIZE
    seed: int = DEFAULT_CORPUS_SEED


@dataclass(frozen=True)
class Manifest:
    """A validated manifest; paths are absolute (relative ones resolve against its folder)."""

    source: Path
    surrogate: str
    tags: tuple[str, ...]
    corpus: CorpusSpec
    spaces: tuple[SpaceSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    models: tuple[ModelSpec, ...]

    def space(self, name: str) -> SpaceSpec:
        """The space called ``name``."""
        for s in self.spaces:
            if s.name == name:
                return s
        raise KeyError(name)


# --------------------------------------------------------------------- YAML with lines


def _plain(node: yaml.Node, path: Path_, lines: dict[Path_, int], where: str) -> Any:
    """A node as plain Python, recording the 1-based line of every node under its path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node)
            if not isinstance(key, str):
                raise ManifestError(
                    f"{where}:{key_node.start_mark.line + 1}: keys must be strings, got {key!r}"
                )
            if key in out:
                raise ManifestError(f"{where}:{key_node.start_mark.line + 1}: key {key!r} appears twice")
            out[key] = _plain(value_node, (*path, key), lines, where)
            lines[(*path, key)] = key_node.start_mark.line + 1  # errors point at the key, not the block below
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, (*path, i), lines, where) for i, v in enumerate(node.value)]
    return _construct(node)


def _construct(node: yaml.Node) -> Any:
    """A scalar (or a complex key) as Python; the composer already resolved its tag (int, bool, ...)."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


class _Checker:
    """Builds error messages that name the file, line, entry and field."""

    def __init__(self, source: Path, lines: dict[Path_, int]) -> None:
        self.source = source
        self.lines = lines

    def line(self, path: Path_) -> int | None:
        # The deepest recorded ancestor: a missing field is reported at its entry's line.
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None

    def error(self, path: Path_, message: str, entry: str = "") -> ManifestError:
        line = self.line(path)
        where = f"{self.source}:{line}" if line else str(self.source)
        return ManifestError(f"{where}: {entry + ', ' if entry else ''}{message}")


def _entry_label(section: str, index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{section}[{index}]" + (f" (name {name!r})" if isinstance(name, str) else "")


class _Entry:
    """Typed access to one mapping of the manifest; every error names entry and field."""

    def __init__(self, chk: _Checker, path: Path_, label: str, raw: Any, keys: tuple[str, ...]) -> None:
        self.chk, self.path, self.label = chk, path, label
        if not isinstance(raw, dict):
            raise chk.error(path, f"must be a mapping, got {type(raw).__name__}", label)
        unknown = sorted(set(raw) - set(keys))
        if unknown:
            raise chk.error((*path, unknown[0]), f"unknown field {unknown[0]!r}; valid: {list(keys)}", label)
        self.raw: dict[str, Any] = raw

    def fail(self, field: str, message: str) -> ManifestError:
        return self.chk.error((*self.path, *field.split(".")), f"field {field!r}: {message}", self.label)

    def str_(self, field: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.raw.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"must be a non-empty string, got {value!r}")
        return value

    def req(self, field: str) -> str:
        value = self.str_(field, required=True)
        assert value is not None
        return value

    def choice(self, field: str, valid: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.str_(field, default)
        if value is not None and value not in valid:
            raise self.fail(field, f"{value!r} is not one of {list(valid)}")
        return value

    def int_(
        self, field: str, default: int | None, *, minimum: int = 0, nullable: bool = False
    ) -> int | None:
        value = self.raw.get(field, default)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(field, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def strings(self, field: str) -> tuple[str, ...]:
        value = self.raw.get(field, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(field, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def mapping(self, field: str) -> dict[str, Any]:
        value = self.raw.get(field, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a mapping, got {type(value).__name__}")
        return value

    def name(self, seen: dict[str, str]) -> str:
        name = self.req("name")
        if len(name) > MAX_NAME_CHARS or not name.isprintable():
            raise self.fail("name", f"must be 1-{MAX_NAME_CHARS} printable characters")
        if name in seen:
            raise self.fail("name", f"{name!r} is already the name of {seen[name]}")
        seen[name] = self.label
        return name


def _resolve(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _check_setting_types(entry: _Entry, method: str, raw: dict[str, Any]) -> dict[str, Any]:
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


def _space(chk: _Checker, i: int, raw: Any, seen: dict[str, str], surrogate: str) -> SpaceSpec:
    e = _Entry(chk, ("spaces", i), _entry_label("spaces", i, raw), raw, SPACE_KEYS)
    name = e.name(seen)
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
        surrogate=e.str_("surrogate", surrogate) or surrogate,
        backend=backend,
    )


def _entry_spaces(e: _Entry, spaces: tuple[SpaceSpec, ...]) -> tuple[str, ...]:
    names = tuple(s.name for s in spaces)
    chosen = e.strings("spaces") or names
    for name in chosen:
        if name not in names:
            raise e.fail("spaces", f"unknown space {name!r}; defined: {list(names)}")
    if len(set(chosen)) != len(chosen):
        raise e.fail("spaces", "lists a space twice")
    return chosen


def _dataset(
    chk: _Checker,
    i: int,
    raw: Any,
    seen: dict[str, str],
    base: Path,
    spaces: tuple[SpaceSpec, ...],
    tags: tuple[str, ...],
) -> DatasetSpec:
    e = _Entry(chk, ("datasets", i), _entry_label("datasets", i, raw), raw, DATASET_KEYS)
    name = e.name(seen)
    path = _resolve(base, e.req("path"))
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
        tags=tuple(dict.fromkeys(tags + e.strings("tags"))),
        spaces=_entry_spaces(e, spaces),
    )


def _model(
    chk: _Checker,
    i: int,
    raw: Any,
    seen: dict[str, str],
    base: Path,
    spaces: tuple[SpaceSpec, ...],
    tags: tuple[str, ...],
) -> ModelSpec:
    e = _Entry(chk, ("models", i), _entry_label("models", i, raw), raw, MODEL_KEYS)
    name = e.name(seen)
    adapter = e.req("adapter")
    scheme, sep, target = adapter.partition(":")
    if not sep or scheme not in SCHEMES or not target:
        raise e.fail("adapter", f"{adapter!r} must be SCHEME:TARGET with SCHEME one of {list(SCHEMES)}")
    if scheme == "hf" or (scheme == "llm" and target != SMOLLM2_NAME):
        # A local model folder: relative to the manifest's folder, like dataset paths.
        adapter = f"{scheme}:{_resolve(base, target)}"
    prompt = e.str_("prompt")
    if prompt is not None and "#" in prompt:
        file, _, pname = prompt.rpartition("#")
        prompt = f"{_resolve(base, file)}#{pname}"
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
        tags=tuple(dict.fromkeys(tags + e.strings("tags"))),
        spaces=_entry_spaces(e, spaces),
    )


def _corpus(chk: _Checker, raw: Any, base: Path) -> CorpusSpec:
    if raw is None:
        return CorpusSpec()
    e = _Entry(chk, ("corpus",), "corpus", raw, CORPUS_KEYS)
    path = e.str_("path")
    size = e.int_("size", DEFAULT_CORPUS_SIZE, minimum=0, nullable=True)
    seed = e.int_("seed", DEFAULT_CORPUS_SEED)
    assert seed is not None
    located: Path | str | None = path
    if path and not path.startswith(PACKAGED_PREFIX):
        located = _resolve(base, path)
    return CorpusSpec(path=located or None, size=size or None, seed=seed)


def _list(chk: _Checker, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise chk.error((key,), f"{key!r} must be a list of entries, got {type(value).__name__}")
    return value


def parse_manifest(text: str, source: Path) -> Manifest:
    """Validate manifest ``text``; relative paths resolve against ``source``'s folder.

    Raises:
        ManifestError: naming file, line, entry and field.
    """
    where = str(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if node is None:
        raise ManifestError(f"{where}: the manifest is empty")
    lines: dict[Path_, int] = {}
    data = _plain(node, (), lines, where)
    chk = _Checker(source, lines)
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
    top = _Entry(
        chk,
        (),
        "manifest",
        {k: v for k, v in data.items() if k in ("surrogate", "tags")},
        ("surrogate", "tags"),
    )
    surrogate = top.str_("surrogate", DEFAULT_SURROGATE) or DEFAULT_SURROGATE
    tags = top.strings("tags")
    base = source.resolve().parent
    seen_spaces: dict[str, str] = {}
    spaces = tuple(
        _space(chk, i, raw, seen_spaces, surrogate) for i, raw in enumerate(_list(chk, data, "spaces"))
    )
    if not spaces:
        raise chk.error(("spaces",), "'spaces' must list at least one space (name, method, settings)")
    seen: dict[str, str] = {}
    datasets = tuple(
        _dataset(chk, i, raw, seen, base, spaces, tags) for i, raw in enumerate(_list(chk, data, "datasets"))
    )
    models = tuple(
        _model(chk, i, raw, seen, base, spaces, tags) for i, raw in enumerate(_list(chk, data, "models"))
    )
    if not datasets and not models:
        raise chk.error((), "the manifest lists no datasets and no models")
    return Manifest(
        source=source.resolve(),
        surrogate=surrogate,
        tags=tags,
        corpus=_corpus(chk, data.get("corpus"), base),
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
