"""One dialect object per source kind: every place where a source's SQL differs.

Pushdown (:mod:`meshfabric.connectors.pushdown`), quality rules
(:mod:`meshfabric.quality.compile`) and profiles (:mod:`meshfabric.quality.profile`) ask the
source's :class:`Dialect` instead of branching on its name: how to quote and generate, which
filters the source evaluates exactly like DuckDB, how it compares strings byte-wise, spells
regular expressions, lengths, doubles, quantiles and temporal literals, and which column type
stores an Arrow type. Each module says why its source differs:

* :mod:`.postgres` — PostgreSQL
* :mod:`.mysql` — MySQL and MariaDB
* :mod:`.sqlite` — SQLite
* :mod:`.duckdb` — DuckDB databases, and files read by DuckDB (source kind ``files``)

>>> d = dialect("mysql")
>>> d.quote("Total"), dialect("postgres").quote("Total")
('`Total`', '"Total"')
>>> dialect("files").name
'duckdb'
"""

from __future__ import annotations

from meshfabric.connectors.dialects.base import (
    Dialect,
    UnknownDialect,
    UnsupportedType,
    native_base,
    native_collation,
)
from meshfabric.connectors.dialects.duckdb import DuckDB, Files
from meshfabric.connectors.dialects.mysql import MySQL
from meshfabric.connectors.dialects.postgres import Postgres
from meshfabric.connectors.dialects.sqlite import SQLite

__all__ = [
    "Dialect",
    "UnknownDialect",
    "UnsupportedType",
    "dialect",
    "native_base",
    "native_collation",
]

_DIALECTS: dict[str, Dialect] = {d.kind: d for d in (Postgres(), MySQL(), SQLite(), DuckDB(), Files())}


def dialect(kind: str) -> Dialect:
    """The dialect object of a source kind (``postgres``, ``mysql``, ``sqlite``, ``duckdb``,
    ``files``); its :attr:`~Dialect.name` is the sqlglot dialect its SQL is generated in."""
    try:
        return _DIALECTS[kind]
    except KeyError:
        raise UnknownDialect(f"no SQL dialect for source kind '{kind}'",
                             hint="known: " + ", ".join(_DIALECTS)) from None
