"""YAML read with the line of every node, and typed access to its mappings whose errors
name the file, line, entry and field (``jobs.yaml:14: datasets[3] (name 'sst'), field
'fields.label': must be a string``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from indexer.errors import ManifestError

#: Where a node sits: the keys and list indexes from the root.
NodePath = tuple[str | int, ...]


def compose(text: str, source: Path) -> tuple[Any, LineChecker]:
    """``text`` as plain Python and a checker that knows the line of each of its nodes.

    Raises:
        ManifestError: invalid YAML (with its line), an empty document, a non-string or
            repeated key.
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
    lines: dict[NodePath, int] = {}
    data = _plain(node, (), lines, where)
    return data, LineChecker(source, lines)


def _plain(node: yaml.Node, path: NodePath, lines: dict[NodePath, int], where: str) -> Any:
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


class LineChecker:
    """Builds error messages that name the file, line, entry and field."""

    def __init__(self, source: Path, lines: dict[NodePath, int]) -> None:
        self.source = source
        self.lines = lines

    def line(self, path: NodePath) -> int | None:
        # The deepest recorded ancestor: a missing field is reported at its entry's line.
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None

    def error(self, path: NodePath, message: str, entry: str = "") -> ManifestError:
        line = self.line(path)
        where = f"{self.source}:{line}" if line else str(self.source)
        return ManifestError(f"{where}: {entry + ', ' if entry else ''}{message}")


def entry_label(section: str, index: int, raw: Any) -> str:
    """``section[index]``, with the entry's name when it has one."""
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{section}[{index}]" + (f" (name {name!r})" if isinstance(name, str) else "")


class Entry:
    """Typed access to one mapping of the manifest; every error names entry and field."""

    def __init__(self, chk: LineChecker, path: NodePath, label: str, raw: Any, keys: tuple[str, ...]) -> None:
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

    def bool_(self, field: str, default: bool) -> bool:
        value = self.raw.get(field, default)
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, got {value!r}")
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
