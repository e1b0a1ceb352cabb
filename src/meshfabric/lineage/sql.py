"""Table- and column-level lineage derived from SQL text with sqlglot."""

from __future__ import annotations

from typing import Any


def sql_lineage(sql: str, dialect: str | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    raise NotImplementedError("sql_lineage is being built")
