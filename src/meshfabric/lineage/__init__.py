"""Lineage: table and column lineage derived from SQL (:mod:`meshfabric.query.lineage`), and the lineage graph of
datasets, jobs and runs kept in the store (:mod:`.service`), fed by applied products and
OpenLineage events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshfabric.query.lineage import SqlLineage

#: names served lazily from :mod:`meshfabric.query.lineage` (it imports sqlglot only when a function runs)
_FROM_SQL = ("ColumnLineage", "ColumnRef", "InputField", "SqlLineage", "SqlLineageError", "StatementLineage",
             "Transformation")


def sql_lineage(sql: str, dialect: str | None = None, schema: dict[str, Any] | None = None, *,
                indirect: bool = False, end_to_end: bool = False, ambiguous: str = "unresolved") -> dict[str, Any]:
    """Table and column lineage of a SQL statement or script; see :func:`meshfabric.query.lineage.sql_lineage`."""
    from meshfabric.query.lineage import sql_lineage as _impl

    return _impl(sql, dialect=dialect, schema=schema, indirect=indirect, end_to_end=end_to_end, ambiguous=ambiguous)


def analyze_sql(sql: str, dialect: str | None = None, schema: dict[str, Any] | None = None, *,
                ambiguous: str = "unresolved") -> SqlLineage:
    """Typed column lineage (OpenLineage transformation types) per statement; see
    :func:`meshfabric.query.lineage.analyze_sql`."""
    from meshfabric.query.lineage import analyze_sql as _impl

    return _impl(sql, dialect=dialect, schema=schema, ambiguous=ambiguous)


def __getattr__(name: str) -> Any:
    if name in _FROM_SQL:
        from meshfabric.query import lineage

        return getattr(lineage, name)
    raise AttributeError(f"module 'meshfabric.lineage' has no attribute '{name}'")


__all__ = ["analyze_sql", "sql_lineage", *_FROM_SQL]
