"""What every dialect object answers, with the defaults a source kind overrides where it differs.

One object per source kind serves three readers: :mod:`meshfabric.connectors.pushdown` (which
filters the source evaluates exactly like DuckDB, the SQL and the tables it is sent),
:mod:`meshfabric.quality.compile` (quality rules as SQL) and :mod:`meshfabric.quality.profile`
(column profiles computed in the source). SQL is built as sqlglot trees and generated with
``unsupported_level=ErrorLevel.RAISE``, so a construct a dialect lacks fails loudly instead of
being written in a form the source reads differently.

The pushdown answers default to *refuse*: a filter is sent only where a dialect module states
why the source keeps exactly the rows DuckDB would keep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from meshfabric.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.connectors.base import ColumnInfo

__all__ = ["FAMILIES", "Dialect", "UnknownDialect", "UnsupportedType", "native_base", "native_collation"]

#: the comparison family of each logical type a filter may compare with a literal
FAMILIES: Mapping[str, str] = {
    "tinyint": "number",
    "smallint": "number",
    "integer": "number",
    "bigint": "number",
    "decimal": "number",
    "double": "number",
    "string": "string",
    "date": "temporal",
    "timestamp": "temporal",
    "boolean": "boolean",
}


class UnsupportedType(TypeError):
    """An Arrow type a dialect has no column type for."""


class UnknownDialect(ConfigError, ValueError):
    """A source kind no dialect object is written for."""


_COLLATE = re.compile(r"\s+COLLATE\s+(\"[^\"]+\"|\S+)\s*$", re.IGNORECASE)


def native_collation(native_type: str) -> str | None:
    """The collation a connector appended to a native type (``text COLLATE "C"``), if any.

    >>> native_collation('character varying(25) COLLATE "en_US.utf8"')
    'en_US.utf8'
    """
    m = _COLLATE.search(native_type)
    return m.group(1).strip('"') if m else None


def native_base(native_type: str) -> str:
    """``character varying(25) COLLATE "C"`` → ``character varying``; ``int(11) unsigned`` → ``int``.

    >>> native_base("int(11) unsigned zerofill"), native_base('character varying(25) COLLATE "C"')
    ('int', 'character varying')
    """
    text = _COLLATE.sub("", native_type).lower()
    text = re.sub(r"\(.*?\)", "", text)
    text = re.sub(r"\b(unsigned|signed|zerofill)\b", "", text)
    return " ".join(text.split())


class Dialect:
    """How one source kind spells SQL and where it compares values differently from DuckDB.

    Subclasses override only where they differ from these defaults (sqlglot's generic spelling,
    and no pushdown beyond ``IS NULL``).
    """

    #: the source kind this object serves: its key in :func:`~meshfabric.connectors.dialects.dialect`
    kind = ""
    #: the sqlglot dialect SQL is generated in
    name = ""

    # -----------------------------------------------------------------------------------------
    # Generating SQL

    def sql(self, node: exp.Expression) -> str:
        return node.sql(dialect=self.name, unsupported_level=ErrorLevel.RAISE)

    def quote(self, name: str) -> str:
        """An identifier quoted for the dialect, whatever characters it holds."""
        return self.sql(exp.to_identifier(name, quoted=True))

    @property
    def ddl_name(self) -> str:
        """The sqlglot dialect ``CREATE TABLE`` is generated in."""
        return self.name

    # -----------------------------------------------------------------------------------------
    # Column types for Arrow types (tables written from Arrow data)

    #: the column types of the Arrow types dialects spell differently: ``string`` also stores
    #: the null type, ``float32`` also float16; ``timestamptz`` is a timestamp with a zone
    types: ClassVar[Mapping[str, str]] = {
        "int8": "TINYINT",
        "uint64": "DECIMAL(20,0)",
        "float32": "REAL",
        "float64": "DOUBLE",
        "string": "TEXT",
        "binary": "BLOB",
        "time": "TIME",
        "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMP WITH TIME ZONE",
    }
    #: whether durations become INTERVAL columns and lists array columns
    intervals_and_arrays = False

    def column_type(self, arrow_type: pa.DataType) -> str:
        """The column type that stores ``arrow_type`` and reads back as the same logical type
        (decimals keep precision and scale, timestamps keep microseconds)."""
        import pyarrow as pa
        import pyarrow.types as t

        at = arrow_type
        if t.is_dictionary(at):
            return self.column_type(at.value_type)
        if t.is_null(at):
            return self.types["string"]
        if t.is_boolean(at):
            return "BOOLEAN"
        simple = {
            pa.int8(): self.types["int8"],
            pa.int16(): "SMALLINT",
            pa.int32(): "INTEGER",
            pa.int64(): "BIGINT",
            pa.uint8(): "SMALLINT",
            pa.uint16(): "INTEGER",
            pa.uint32(): "BIGINT",
            pa.uint64(): self.types["uint64"],
            pa.float16(): self.types["float32"],
            pa.float32(): self.types["float32"],
            pa.float64(): self.types["float64"],
            pa.date32(): "DATE",
            pa.date64(): "DATE",
        }
        if at in simple:
            return simple[at]
        if t.is_decimal(at):
            return f"DECIMAL({at.precision},{at.scale})"
        if t.is_string(at) or t.is_large_string(at) or getattr(t, "is_string_view", lambda _: False)(at):
            return self.types["string"]
        if t.is_binary(at) or t.is_large_binary(at) or t.is_fixed_size_binary(at):
            return self.types["binary"]
        if t.is_time(at):
            return self.types["time"]
        if t.is_timestamp(at):
            return self.types["timestamptz" if at.tz else "timestamp"]
        if (t.is_duration(at) or t.is_interval(at)) and self.intervals_and_arrays:
            return "INTERVAL"
        if (t.is_list(at) or t.is_large_list(at)) and self.intervals_and_arrays:
            return self.column_type(at.value_type) + "[]"
        raise UnsupportedType(f"no {self.kind} column type for Arrow type {at}")

    # -----------------------------------------------------------------------------------------
    # Pushdown: what the source evaluates exactly like DuckDB

    #: per logical type, the native base types (:func:`native_base`) whose values compare like
    #: DuckDB's; None accepts any declared type, a missing logical type allows only IS NULL
    pushable_natives: ClassVar[Mapping[str, frozenset[str] | None]] = {}
    #: families (number, temporal, string) whose columns may be compared with each other when
    #: both have the same type; strings must also pass :meth:`pushes_column_strings`
    pushable_column_families: frozenset[str] = frozenset()

    #: whether an integer key set is sent as ``col = ANY('{1,2,…}'::BIGINT[])`` rather than
    #: ``col IN (1, 2, …)``
    integer_key_array = False
    #: whether ``SUBSTRING(s, start, length)`` with ``start >= 1`` counts characters (code
    #: points) like DuckDB, so a substring of a string column compares like the column
    substring_chars = False

    def pushes_string_equality(self, col: ColumnInfo) -> bool:
        """Whether ``=``, ``<>`` and ``IN`` on this string column keep the rows DuckDB keeps."""
        return False

    def pushes_string_order(self, col: ColumnInfo) -> bool:
        """Whether ``<``, ``<=``, ``>``, ``>=`` and ``BETWEEN`` on this string column do."""
        return False

    def pushes_like(self, col: ColumnInfo, pattern: str) -> bool:
        """Whether ``col LIKE pattern`` matches the rows DuckDB's LIKE matches."""
        return False

    def pushes_null_check(self, col: ColumnInfo) -> bool:
        """Whether ``col IS NULL`` holds for exactly the values DuckDB reads as NULL."""
        return True

    def pushes_string_literal(self, text: str) -> bool:
        """Whether a string literal with this text reaches the source unchanged."""
        return "\x00" not in text

    def pushes_column_strings(self, a: ColumnInfo, b: ColumnInfo, ordering: bool) -> bool:
        """Whether two string columns compare like DuckDB (``ordering``: for <, <=, >, >=)."""
        return False

    def pushes_bytewise(self, col: ColumnInfo) -> bool:
        """Whether a string comparison the column's collation would answer differently (case-blind,
        PAD SPACE, a locale's order) may be pushed over :meth:`bytewise` of the column, which
        compares the bytes DuckDB compares (both UTF-8)."""
        return False

    def pushes_bytewise_like(self, col: ColumnInfo, pattern: str) -> bool:
        """Whether ``bytewise(col) LIKE pattern`` matches the rows DuckDB's LIKE matches."""
        return False

    # -----------------------------------------------------------------------------------------
    # Expressions for quality rules and profiles

    #: whether a quantile can be an aggregate of the main scan (an exact ordered-set aggregate);
    #: otherwise quantiles are read as order statistics in a statement of their own
    quantile_in_scan = False
    #: whether STDDEV_SAMP exists; otherwise it is derived from count, sum and sum of squares
    has_stddev = True
    #: whether aggregates that cannot be partial (``COUNT(DISTINCT …)``, ordered-set quantiles)
    #: get a statement of their own, so that they do not keep the main scan from running in parallel
    serial_apart = False

    #: logical types whose values may be NaN in this source, and those that may be ±infinity
    nan_types: frozenset[str] = frozenset()
    inf_types: frozenset[str] = frozenset()

    def nonfinite(self, value: exp.Expression, col: ColumnInfo, which: str) -> exp.Expression | None:
        """The condition that ``value`` (a value of ``col``) is NaN (``which="nan"``), +∞
        (``"posinf"``) or −∞ (``"neginf"``); None where ``col`` cannot hold such a value here."""
        if col.type.name not in (self.nan_types if which == "nan" else self.inf_types):
            return None
        return self._nonfinite(value, which)

    def _nonfinite(self, value: exp.Expression, which: str) -> exp.Expression:
        raise NotImplementedError(self.name)

    def finite(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression | None:
        """The condition that ``value`` is neither NaN nor ±∞ (NULL for NULL); None where every
        value of ``col`` is finite in this source."""
        parts = [c for w in ("nan", "posinf", "neginf") if (c := self.nonfinite(value.copy(), col, w)) is not None]
        if not parts:
            return None
        either = parts[0]
        for part in parts[1:]:
            either = exp.Or(this=either, expression=part)
        return exp.Not(this=exp.Paren(this=either))

    def bytewise(self, value: exp.Expression) -> exp.Expression:
        """A string expression that compares, orders and groups byte-wise whatever the column's
        collation: DuckDB's semantics, so profiles and checks agree with the query engine."""
        return value

    def exact(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        """The column in a form whose equality and grouping are byte-wise; ordering may still
        follow the collation (cheaper than :meth:`bytewise` where the source allows it)."""
        return value

    def text(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        """The column as text, for patterns and lengths."""
        if col.type.name == "string":
            return value
        return exp.Cast(this=value, to=exp.DataType.build("TEXT"))

    def regex(self, value: exp.Expression, pattern: str) -> exp.Expression:
        """Whether ``value`` contains a match of ``pattern``, case counting."""
        return exp.RegexpLike(this=value, expression=exp.Literal.string(pattern))

    def length(self, value: exp.Expression) -> exp.Expression:
        """Length in characters, not bytes (sqlglot spells it ``CHAR_LENGTH`` on MySQL)."""
        return exp.Length(this=value)

    def double(self, value: exp.Expression) -> exp.Expression:
        """``value`` as a double-precision float."""
        return exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))

    def quantile(self, value: exp.Expression, q: float | Sequence[float]) -> exp.Expression:
        """The exact interpolated quantile (``percentile_cont``) of ``value`` as a double, or
        the list of them for a sequence of ``q``; only where :attr:`quantile_in_scan`."""
        raise NotImplementedError(self.name)

    def latest(self, value: exp.Expression, col: ColumnInfo) -> exp.Expression:
        """The newest value of a temporal column, for freshness."""
        return exp.Max(this=value)

    def temporal(self, text: str, logical: str) -> exp.Expression:
        """A literal of logical type ``logical`` (date, timestamp, timestamptz) from ISO text."""
        kind = "DATE" if logical == "date" else "TIMESTAMP"
        return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build(kind))


def quantile_literal(q: float | Sequence[float]) -> exp.Expression:
    """``0.5`` as a number, ``[0.25, 0.75]`` as an array of numbers."""
    if isinstance(q, int | float):
        return exp.Literal.number(q)
    return exp.Array(expressions=[exp.Literal.number(repr(float(x))) for x in q])
