"""Metadata filters compiled to a parameterised SQL condition over ``tasks``.

A filter matches when every ``must`` condition holds and no ``must_not`` one does. Values
always travel as SQL parameters, never inside the SQL text.

Limits are checked on the filter's own numbers before any SQL is built: each condition is
one term of an ``AND`` chain, and SQLite refuses an expression tree deeper than 1,000
("Expression tree is too large"), and a statement with more than 32,766 parameters. The
limits below keep every filter well inside both, so a filter within them never fails in
SQLite.
"""

from __future__ import annotations

from fute_client.errors import InvalidArgumentError
from fute_client.types import Condition, Filter
from server.echo import shown

# Column of each plain field; ``tag`` is a join on task_tags instead.
_COLUMNS: dict[str, str] = {"kind": "t.kind", "task_type": "t.task_type", "name": "t.name", "id": "t.id"}

MAX_FILTER_VALUES = 1000  # values of one condition
MAX_FILTER_CONDITIONS = 64  # conditions of one filter, must and must_not together
MAX_FILTER_TOTAL_VALUES = 10_000  # values of all conditions of one filter together


def check_filter_size(flt: Filter) -> None:
    """INVALID_ARGUMENT when ``flt`` exceeds a documented limit (conditions or values)."""
    conditions = (*flt.must, *flt.must_not)
    if len(conditions) > MAX_FILTER_CONDITIONS:
        raise InvalidArgumentError(
            f"filter has {len(conditions)} conditions ({len(flt.must)} must, {len(flt.must_not)} must_not), "
            f"at most {MAX_FILTER_CONDITIONS} allowed; put alternatives in one condition's any_of"
        )
    for cond in conditions:
        if len(cond.any_of) > MAX_FILTER_VALUES:
            raise InvalidArgumentError(
                f"filter condition on {shown(cond.field)} has {len(cond.any_of)} values, "
                f"at most {MAX_FILTER_VALUES} allowed"
            )
    total = sum(len(c.any_of) for c in conditions)
    if total > MAX_FILTER_TOTAL_VALUES:
        raise InvalidArgumentError(
            f"filter has {total} values over its conditions, at most {MAX_FILTER_TOTAL_VALUES} allowed"
        )


def _condition_sql(cond: Condition) -> tuple[str, list[str]]:
    if not cond.any_of:
        raise InvalidArgumentError(f"filter condition on {shown(cond.field)} has no values")
    marks = ",".join("?" * len(cond.any_of))
    values = list(cond.any_of)
    if cond.field == "tag":
        sql = f"EXISTS (SELECT 1 FROM task_tags g WHERE g.vec_id = t.vec_id AND g.tag IN ({marks}))"
        return sql, values
    if cond.field == "kind":
        bad = sorted(set(values) - {"dataset", "model"})
        if bad:
            raise InvalidArgumentError(f"filter on kind: unknown kinds {shown(bad)}; valid: dataset, model")
    return f"{_COLUMNS[cond.field]} IN ({marks})", values


def compile_filter(flt: Filter | None) -> tuple[str, list[str]]:
    """SQL boolean expression over alias ``t`` (tasks) and its parameters; ``1`` for none.

    Raises INVALID_ARGUMENT (before building anything) for a filter over the limits.
    """
    if flt is None or flt.is_empty():
        return "1", []
    check_filter_size(flt)
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
