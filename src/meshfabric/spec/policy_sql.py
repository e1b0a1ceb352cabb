"""SQL inside policies: parsed once with sqlglot, checked against the query guard's allowlist,
and bound to a principal by replacing ``{user.<attribute>}`` with literal nodes.

>>> expr = parse_policy_sql("region = {user.region} AND amount < 100")
>>> bind(expr, "alice", {"region": "EU'; DROP TABLE x --"}).sql(dialect="duckdb")
"region = 'EU''; DROP TABLE x --' AND amount < 100"
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sqlglot import exp

#: ``{user.region}``; ``{user.name}`` is the principal's name
PLACEHOLDER = re.compile(r"\{\s*user\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_MARK = "mf_user_attribute_"


def check_expression(text: str, *, what: str) -> None:
    """Raise ValueError (pydantic reports it with file and line) if ``text`` is not an allowed
    expression."""
    parse_policy_sql(text, what=what)


def check_mask_columns(text: str, column: str) -> None:
    """A custom mask may reference only the column it masks."""
    expr = parse_policy_sql(text, what="mask")
    others = sorted({c.name for c in expr.find_all(exp.Column) if c.name.lower() != column.lower()})
    if others:
        raise ValueError(f"the mask of '{column}' may reference only '{column}', not {', '.join(others)}")
    if PLACEHOLDER.search(text):
        raise ValueError("a mask cannot use {user.…} placeholders; use a row filter")


@lru_cache(maxsize=1024)
def _parse(text: str) -> exp.Expression:
    import sqlglot

    marked = PLACEHOLDER.sub(lambda m: _MARK + m.group(1), text)
    return sqlglot.parse_one(f"SELECT {marked}", read="duckdb")


def parse_policy_sql(text: str, *, what: str = "expression") -> exp.Expression:
    """The expression of a mask or row filter, checked: one expression, allowlisted nodes and
    functions, unqualified columns, no subqueries, aggregates, windows or stars."""
    from sqlglot.errors import SqlglotError

    from meshfabric.errors import QueryError
    from meshfabric.query.guard import check_node

    if not text or not text.strip():
        raise ValueError(f"the {what} is empty")
    try:
        select = _parse(text)
    except (SqlglotError, RecursionError, ValueError, TypeError) as exc:
        raise ValueError(f"the {what} is not valid SQL: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not isinstance(select, exp.Select) or len(select.expressions) != 1 or any(
        v for k, v in select.args.items() if k != "expressions"
    ):
        raise ValueError(f"the {what} must be one SQL expression, e.g. region = 'EU'")
    expr = select.expressions[0]
    if isinstance(expr, exp.Alias):
        raise ValueError(f"the {what} must be one SQL expression without an alias")
    for node in expr.walk():
        if isinstance(node, exp.Query | exp.AggFunc | exp.Window | exp.Star):
            raise ValueError(f"the {what} may not contain subqueries, aggregates, windows or *: "
                             f"'{node.sql(dialect='duckdb')[:60]}'")
        try:
            check_node(node)
        except QueryError as err:
            raise ValueError(f"the {what} is refused: {err.message}") from None
    for column in expr.find_all(exp.Column):
        if column.table:
            raise ValueError(f"the {what} must use unqualified column names: '{column.sql()}'")
        if column.name.lower().startswith("__mf_"):
            raise ValueError(f"the name '{column.name}' is reserved")
    return expr


def bind(expr: exp.Expression, name: str, attributes: dict[str, Any]) -> exp.Expression:
    """A copy with each ``{user.x}`` replaced by the attribute's value as a literal node
    (strings quoted by sqlglot, numbers as numbers, booleans, NULL when the principal lacks it —
    which makes a comparison unknown, so the row filter keeps no rows)."""
    values = {**attributes, "name": name}
    out = expr.copy()
    if isinstance(out, exp.Column) and out.name.startswith(_MARK):
        return literal(values.get(out.name[len(_MARK):]))
    for column in list(out.find_all(exp.Column)):
        if column.name.startswith(_MARK):
            column.replace(literal(values.get(column.name[len(_MARK):])))
    return out


def literal(value: Any) -> exp.Expression:
    if value is None or isinstance(value, list | dict | tuple):
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    text = str(value)
    if "\x00" in text:
        return exp.Null()  # no SQL string holds a NUL: match nothing rather than something else
    return exp.Literal.string(text)
