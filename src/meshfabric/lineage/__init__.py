"""Lineage: table and column lineage derived from SQL (:mod:`.sql`), and the lineage graph of
datasets, jobs and runs kept in the store (:mod:`.service`), fed by applied products and
OpenLineage events."""

from __future__ import annotations

from typing import Any


def sql_lineage(sql: str, dialect: str | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Table and column lineage of a SQL statement or script; see :func:`.sql.sql_lineage`."""
    from meshfabric.lineage.sql import sql_lineage as _impl

    return _impl(sql, dialect=dialect, schema=schema)


__all__ = ["sql_lineage"]
