"""SQLite: storage classes instead of types, dates as text, few built-in functions.

Why the choices below:

* Values live in storage classes whatever the declared type: decimals are ``REAL`` and dates
  are text in any format, so only integer, double and string columns push comparisons (of any
  declared type), and temporal literals are plain ISO text (``2024-01-01 10:00:00``).
* Two numeric columns compare by value (``a < b``, and a join's ``a = b``); text columns are
  not compared with each other (each may declare its own collation).
* ``LIKE`` ignores ASCII case, so it stays in DuckDB. Strings compare with ``BINARY`` unless the
  column declares ``NOCASE``/``RTRIM``, which the connector reports as case-insensitive; exact
  comparisons of those add ``COLLATE BINARY``.
* NaN is stored as NULL; ±∞ are REAL values (the literal ``9e999`` reads as +∞).
* There is no ``STDDEV``: it is derived from the count, sum and sum of squares of the values
  shifted by one of them (read by a scalar subquery), so that 1e9 + N(0, 1) keeps its
  variance instead of cancelling to 0. There is no ordered-set aggregate (quantiles are order
  statistics read in a statement of their own) and no ``REGEXP`` function of its own: the
  connector registers Python's ``re.search`` as ``regexp``.
* sqlglot's SQLite generator folds declared types to affinities; ``CREATE TABLE`` keeps the
  names (generated as DuckDB), since the declared type is what tells a reader that text holds
  dates or decimals. SQLite has no time zones: timestamps with one are stored as ``TIMESTAMP``.

>>> SQLite().sql(SQLite().temporal("2024-01-01T10:00:00", "timestamp"))
"'2024-01-01 10:00:00'"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp

from meshfabric.connectors.dialects.base import Dialect

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnInfo


class SQLite(Dialect):
    kind = "sqlite"
    name = "sqlite"

    @property
    def ddl_name(self) -> str:
        return "duckdb"

    types: ClassVar[Mapping[str, str]] = {**Dialect.types, "timestamptz": "TIMESTAMP"}

    pushable_natives: ClassVar[Mapping[str, frozenset[str] | None]] = {"bigint": None, "double": None, "string": None}
    #: two numeric columns compare by value in SQLite as in DuckDB (integer and real storage
    #: classes alike); two text columns may differ in collation, so they are not compared
    pushable_column_families = frozenset({"number"})

    def pushes_string_equality(self, col: ColumnInfo) -> bool:
        return not col.case_insensitive

    def pushes_string_order(self, col: ColumnInfo) -> bool:
        return not col.case_insensitive

    def pushes_bytewise(self, col: ColumnInfo) -> bool:
        return True  # COLLATE BINARY compares the stored UTF-8 bytes (LIKE stays case-blind: never)

    has_stddev = False
    #: NaN cannot be stored (SQLite writes NULL); ±∞ can, in any REAL value
    inf_types = frozenset({"double", "float", "decimal"})

    def _nonfinite(self, value: exp.Expression, which: str) -> exp.Expression:
        infinity: exp.Expression = exp.Literal.number("9e999")  # overflows to +∞ when read
        return exp.EQ(this=value, expression=infinity if which == "posinf" else exp.Neg(this=infinity))

    def bytewise(self, value: exp.Expression) -> exp.Expression:
        return exp.Collate(this=value, expression=exp.Var(this="BINARY"))

    def exact(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        if col.type.name == "string" and col.case_insensitive:
            return self.bytewise(value)
        return value

    def double(self, value: exp.Expression) -> exp.Expression:
        return exp.Cast(this=value, to=exp.DataType.build("REAL", dialect="sqlite"))

    def temporal(self, text: str, logical: str) -> exp.Expression:
        return exp.Literal.string(text.replace("T", " ", 1) if logical != "date" else text[:10])
