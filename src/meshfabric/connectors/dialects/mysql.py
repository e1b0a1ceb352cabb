"""MySQL and MariaDB: collations that ignore case and trailing spaces, no boolean, zero dates.

Why the choices below:

* Strings compare through the column collation: ``_ci`` collations ignore case and every
  ``PAD SPACE`` collation (``utf8mb4_bin`` included) ignores trailing spaces, so string
  predicates are pushed only to columns with a binary ``NO PAD`` collation, and exact
  comparisons in quality rules and profiles cast to ``BINARY``.
* ``LIKE`` follows the collation too, so it goes only to binary ``NO PAD`` columns of a
  character set, where case and trailing spaces count and ``_`` is one character (under
  ``binary`` it would be one byte). Its default escape character is the backslash and DuckDB
  has none, so a pattern holding one is refused; backslashes in any string literal depend on
  the session's ``sql_mode``, so those stay in DuckDB as well.
* There is no boolean (``tinyint(1)`` holds 2), so boolean columns push only ``IS NULL``; and
  zero dates satisfy ``IS NULL``, so date columns do not even push that. Comparing two columns
  is refused: zero dates and padded strings compare MySQL's own way.
* ``REGEXP`` follows the collation, so patterns start with PCRE/ICU's ``(?-i)``; MariaDB has
  no ``REGEXP_LIKE``, both have ``REGEXP_INSTR``.
* ``TIMESTAMP`` columns are read as seconds since the epoch for freshness, whatever the
  session zone; tables written from Arrow use ``DATETIME(6)``, since ``TIMESTAMP`` stops in 2038
  (values are written as UTC).
* No ordered-set aggregate: quantiles are read as order statistics in a statement of their own.

>>> MySQL().sql(MySQL().regex(exp.column("code"), "^[A-Z]{2}$"))
"REGEXP_INSTR(code, '(?-i)^[A-Z]{2}$') > 0"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp

from meshfabric.connectors.dialects.base import Dialect, native_collation

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnInfo

# Binary collations without trailing-space padding; every other collation pads or folds.
_EXACT = re.compile(r"^(binary|\w+_nopad_bin|utf8mb4_0900_bin)$", re.IGNORECASE)
_INTS = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})


class MySQL(Dialect):
    kind = "mysql"
    name = "mysql"

    types: ClassVar[Mapping[str, str]] = {
        **Dialect.types,
        "uint64": "BIGINT UNSIGNED",
        "float32": "FLOAT",
        "string": "LONGTEXT",
        "binary": "LONGBLOB",
        "time": "TIME(6)",
        "timestamp": "DATETIME(6)",
        "timestamptz": "DATETIME(6)",
    }

    pushable_natives: ClassVar[Mapping[str, frozenset[str] | None]] = {
        **dict.fromkeys(("tinyint", "smallint", "integer", "bigint"), _INTS),
        "decimal": frozenset({"decimal"}),
        "double": frozenset({"double"}),
        "string": frozenset({"varchar", "text", "tinytext", "mediumtext", "longtext"}),
        "date": frozenset({"date"}),
        "timestamp": frozenset({"datetime"}),
    }
    #: numbers and dates of one type compare by value, as in DuckDB; strings compare under a
    #: collation (case-blind and pad-space by default), so two string columns never do
    pushable_column_families = frozenset({"number", "temporal"})
    #: SUBSTRING counts characters in a character column (bytes only in binary ones, which are
    #: not pushable strings); ``SUBSTRING(s, 0, n)`` is '' here and s's first n-1 in DuckDB,
    #: which is why only a start from 1 is pushed
    substring_chars = True

    def pushes_string_equality(self, col: ColumnInfo) -> bool:
        return not col.case_insensitive and bool(_EXACT.match(native_collation(col.native_type) or ""))

    def pushes_string_order(self, col: ColumnInfo) -> bool:
        return self.pushes_string_equality(col)

    def pushes_like(self, col: ColumnInfo, pattern: str) -> bool:
        collation = (native_collation(col.native_type) or "").lower()
        return self.pushes_string_equality(col) and collation != "binary" and "\\" not in pattern

    def pushes_bytewise(self, col: ColumnInfo) -> bool:
        # CAST(col AS BINARY) gives the column's bytes: DuckDB's only when they are UTF-8
        collation = (native_collation(col.native_type) or "").lower()
        return collation.startswith(("utf8mb4_", "utf8mb3_", "utf8_", "ascii_"))

    def pushes_bytewise_like(self, col: ColumnInfo, pattern: str) -> bool:
        # a binary LIKE's "_" matches one byte, DuckDB's one character; "\\" escapes in MariaDB
        return self.pushes_bytewise(col) and "_" not in pattern and "\\" not in pattern

    def pushes_null_check(self, col: ColumnInfo) -> bool:
        return col.type.name not in ("date", "timestamp", "timestamptz")

    def pushes_string_literal(self, text: str) -> bool:
        return "\x00" not in text and "\\" not in text

    def bytewise(self, value: exp.Expression) -> exp.Expression:
        return exp.Cast(this=value, to=exp.DataType.build("BINARY", dialect="mysql"))

    def exact(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        if col.type.name == "string":
            return self.bytewise(value)
        return value

    def text(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        if col.type.name == "string":
            return value
        return exp.Cast(this=value, to=exp.DataType.build("CHAR", dialect="mysql"))

    def regex(self, value: exp.Expression, pattern: str) -> exp.Expression:
        found = exp.Anonymous(this="REGEXP_INSTR", expressions=[value, exp.Literal.string("(?-i)" + pattern)])
        return exp.GT(this=found, expression=exp.Literal.number(0))

    def latest(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        if col.type.name == "timestamptz":
            return exp.Anonymous(this="UNIX_TIMESTAMP", expressions=[exp.Max(this=value)])
        return exp.Max(this=value)

    def temporal(self, text: str, logical: str) -> exp.Expression:
        kind = "DATE" if logical == "date" else "DATETIME"
        return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build(kind, dialect="mysql"))
