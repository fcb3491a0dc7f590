"""Metadata filters compiled to a parameterised SQL condition over ``tasks``.

A filter matches when every ``must`` condition holds and no ``must_not`` one does. Values
always travel as SQL parameters, never inside the SQL text.
"""

from __future__ import annotations

from fute_client.errors import InvalidArgumentError
from fute_client.types import Condition, Filter

# Column of each plain field; ``tag`` is a join on task_tags instead.
_COLUMNS: dict[str, str] = {"kind": "t.kind", "task_type": "t.task_type", "name": "t.name", "id": "t.id"}

MAX_FILTER_VALUES = 1000


def _condition_sql(cond: Condition) -> tuple[str, list[str]]:
    if not cond.any_of:
        raise InvalidArgumentError(f"filter condition on {cond.field!r} has no values")
    if len(cond.any_of) > MAX_FILTER_VALUES:
        raise InvalidArgumentError(
            f"filter condition on {cond.field!r} has {len(cond.any_of)} values, "
            f"at most {MAX_FILTER_VALUES} allowed"
        )
    marks = ",".join("?" * len(cond.any_of))
    values = list(cond.any_of)
    if cond.field == "tag":
        sql = f"EXISTS (SELECT 1 FROM task_tags g WHERE g.vec_id = t.vec_id AND g.tag IN ({marks}))"
        return sql, values
    if cond.field == "kind":
        bad = sorted(set(values) - {"dataset", "model"})
        if bad:
            raise InvalidArgumentError(f"filter on kind: unknown kinds {bad}; valid: dataset, model")
    return f"{_COLUMNS[cond.field]} IN ({marks})", values


def compile_filter(flt: Filter | None) -> tuple[str, list[str]]:
    """SQL boolean expression over alias ``t`` (tasks) and its parameters; ``1`` for none."""
    if flt is None or flt.is_empty():
        return "1", []
    parts: list[str] = []
    params: list[str] = []
    for cond in flt.must:
        sql, values = _condition_sql(cond)
        parts.append(sql)
        params.extend(values)
    for cond in flt.must_not:
        sql, values = _condition_sql(cond)
        parts.append(f"NOT ({sql})")
        params.extend(values)
    return " AND ".join(parts), params
