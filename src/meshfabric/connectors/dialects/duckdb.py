"""DuckDB, the query engine's own dialect: a DuckDB database, and files read by a private DuckDB.

Why the choices below:

* Every comparison is DuckDB's own, so any column of a family pushes, except string predicates
  on columns that ignore case.
* A DuckDB database may declare ``COLLATE NOCASE`` on a column and ``DESCRIBE`` does not say so,
  so two string columns of a database are never compared in the source. Files (the ``files``
  source kind, :class:`Files`) are read by a private DuckDB and a file column has no collation,
  so there two string columns compare like the engine.
* ``quantile_cont`` is an exact quantile inside the main scan.
* Doubles hold NaN and ±∞ (``ISNAN``/``ISINF``). NaN sorts above every number, and on Parquet
  a comparison such as ``x <= 100`` may be folded to TRUE from row-group statistics that leave
  NaN out, so NaN is always tested for explicitly.
* Tables written from Arrow keep unsigned 64-bit integers (``UBIGINT``), zones
  (``TIMESTAMPTZ``), intervals and lists.

>>> DuckDB().sql(DuckDB().quantile(exp.column("x"), [0.25, 0.75]))
'QUANTILE_CONT(CAST(x AS DOUBLE), [0.25, 0.75])'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp

from meshfabric.connectors.dialects.base import FAMILIES, Dialect, quantile_literal

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnInfo

class DuckDB(Dialect):
    kind = "duckdb"
    name = "duckdb"

    types: ClassVar[Mapping[str, str]] = {**Dialect.types, "uint64": "UBIGINT", "timestamptz": "TIMESTAMPTZ"}
    intervals_and_arrays = True

    pushable_natives: ClassVar[Mapping[str, frozenset[str] | None]] = dict.fromkeys(FAMILIES, None)
    pushable_column_families = frozenset({"number", "temporal"})
    substring_chars = True

    def pushes_string_equality(self, col: ColumnInfo) -> bool:
        return not col.case_insensitive

    def pushes_string_order(self, col: ColumnInfo) -> bool:
        return not col.case_insensitive

    def pushes_like(self, col: ColumnInfo, pattern: str) -> bool:
        return not col.case_insensitive

    quantile_in_scan = True
    nan_types = frozenset({"double", "float"})
    inf_types = frozenset({"double", "float"})

    def _nonfinite(self, value: exp.Expression, which: str) -> exp.Expression:
        if which == "nan":
            return exp.Anonymous(this="ISNAN", expressions=[value])
        sign = exp.GT if which == "posinf" else exp.LT
        return exp.and_(exp.Anonymous(this="ISINF", expressions=[value]),
                        sign(this=value.copy(), expression=exp.Literal.number(0)))

    def quantile(self, value: exp.Expression, q: float | Sequence[float]) -> exp.Expression:
        return exp.Anonymous(this="QUANTILE_CONT", expressions=[self.double(value), quantile_literal(q)])


class Files(DuckDB):
    """Files read by a private DuckDB: the same engine, and a file column has no collation."""

    kind = "files"

    pushable_column_families = frozenset({"number", "temporal", "string"})

    def pushes_column_strings(self, a: ColumnInfo, b: ColumnInfo, ordering: bool) -> bool:
        return not a.case_insensitive and not b.case_insensitive
