"""Which filters a SQL source may evaluate, and the SQL it is sent.

A filter is pushed only when the source is certain to keep exactly the rows DuckDB would keep,
because a pushed filter can also carry a LIMIT and a row-level security rule. That rules out
more than it seems (see "Pushdown correctness traps" in the design notes):

collations that ignore case or trailing spaces, ``LIKE`` escapes, booleans that hold 2, zero
dates that are ``IS NULL``, ``real`` columns compared in single precision, ``timestamptz``
literals read in the session's time zone. What each source kind compares like DuckDB is
decided by its dialect object, whose module says why (:mod:`meshfabric.connectors.dialects`);
this module applies those answers to a predicate, generically. Comparing two columns is exact
only where both sides are read alike, so it needs the same type on both sides and a family the
dialect allows.

Everything not listed as safe is refused: function calls, subqueries, arithmetic that sqlglot
cannot fold into a literal.

>>> from meshfabric.types import LogicalType
>>> cols = {"l_shipdate": ColumnInfo("l_shipdate", "date", LogicalType("date"))}
>>> f = sqlglot.parse_one("l_shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR", dialect="duckdb")
>>> prepare_predicate(f, cols, "mysql").sql("mysql")
"`l_shipdate` < CAST('1995-01-01' AS DATE)"
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.simplify import simplify

from meshfabric.connectors import dialects
from meshfabric.connectors.base import ColumnInfo, ScanRequest, TableInfo
from meshfabric.connectors.dialects import Dialect, UnsupportedType, native_base, native_collation
from meshfabric.connectors.dialects.base import FAMILIES
from meshfabric.types import INTEGER_TYPES

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.spec.models import OutputPort

__all__ = [
    "KeyRef",
    "KeyValues",
    "ScanPlan",
    "UnknownColumn",
    "UnsupportedType",
    "build_count",
    "build_create_table",
    "build_select",
    "equi_joinable",
    "key_filter",
    "native_base",
    "native_collation",
    "plan_scan",
    "portable_predicate",
    "prepare_predicate",
    "quote_ident",
    "sql_type",
    "subquery_sql",
    "table_ref",
]

# ---------------------------------------------------------------------------------------------
# What each source evaluates like DuckDB (the decisions live in its dialect object)

_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_INTEGER_TYPES = frozenset(INTEGER_TYPES)
_ORDERING = (exp.LT, exp.LTE, exp.GT, exp.GTE)


def _pushdown_dialect(dialect: str, rules: str | None = None) -> Dialect:
    """The dialect object whose pushdown answers apply: ``rules`` names a source kind whose
    answers differ from its SQL dialect's (``files``: DuckDB reading files)."""
    try:
        return dialects.dialect(rules or dialect)
    except dialects.UnknownDialect:
        raise ValueError(f"no pushdown rules for '{rules or dialect}'") from None


def _family(col: ColumnInfo, d: Dialect) -> str | None:
    """The comparison family of a column, or None when only IS NULL may be pushed."""
    family = FAMILIES.get(col.type.name)
    if family is None or col.type.name not in d.pushable_natives:
        return None
    allowed = d.pushable_natives[col.type.name]
    if allowed is None:
        return family if col.native_type.strip() else None
    return family if native_base(col.native_type) in allowed else None


# ---------------------------------------------------------------------------------------------
# Literals


_NUMBER = re.compile(r"^(\d{1,30}(\.\d{0,30})?|\.\d{1,30})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?$")


@dataclass(frozen=True)
class _Value:
    kind: str  # number | string | date | timestamp | boolean
    node: exp.Expression
    text: str = ""


def _temporal(text: str, kind: str) -> _Value | None:
    """A DATE or TIMESTAMP literal from ISO text, normalised so every dialect reads it alike."""
    m = _TIMESTAMP.match(text.strip())
    if not m:
        return None
    day, clock = m.group(1), m.group(2)
    try:
        dt.date.fromisoformat(day)
        if clock:
            dt.time.fromisoformat(clock if clock.count(":") == 2 else clock + ":00")
    except ValueError:
        return None
    if kind == "date":
        if clock:
            return None
        return _Value("date", exp.Cast(this=exp.Literal.string(day), to=exp.DataType.build("DATE")), day)
    stamp = f"{day} {clock or '00:00:00'}"
    if stamp.count(":") == 1:
        stamp += ":00"
    return _Value("timestamp", exp.Cast(this=exp.Literal.string(stamp), to=exp.DataType.build("TIMESTAMP")), stamp)


_TIMESTAMP_TYPES = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME}
_TIMESTAMPNTZ = getattr(exp.DataType.Type, "TIMESTAMPNTZ", None)
if _TIMESTAMPNTZ is not None:
    _TIMESTAMP_TYPES.add(_TIMESTAMPNTZ)


def _plain_value(node: exp.Expression) -> _Value | None:
    if isinstance(node, exp.Paren):
        return _plain_value(node.this)
    if isinstance(node, exp.Boolean):
        return _Value("boolean", exp.Boolean(this=bool(node.this)))
    if isinstance(node, exp.Literal):
        text = str(node.this)
        if node.is_string:
            return _Value("string", exp.Literal.string(text), text)
        return _Value("number", exp.Literal.number(text), text) if _NUMBER.match(text) else None
    if isinstance(node, exp.Neg):
        inner = _plain_value(node.this)
        if inner is None or inner.kind != "number" or inner.text.startswith("-"):
            return None
        return _Value("number", exp.Literal.number("-" + inner.text), "-" + inner.text)
    if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
        inner = node.this
        if not (isinstance(inner, exp.Literal) and inner.is_string):
            return None
        if node.to.this == exp.DataType.Type.DATE:
            return _temporal(str(inner.this), "date")
        if node.to.this in _TIMESTAMP_TYPES:
            return _temporal(str(inner.this), "timestamp")
    return None


_UNFOLDABLE = (exp.Column, exp.Div, exp.Query, exp.Placeholder, exp.Parameter, exp.TryCast)
_FOLDABLE_FUNCS = (exp.Cast, exp.Interval)


def _value(node: exp.Expression) -> _Value | None:
    """A literal (or constant expression sqlglot folds into one) in a form every dialect reads."""
    value = _plain_value(node)
    if value is not None:
        return value
    for part in node.walk():
        if isinstance(part, _UNFOLDABLE) or (isinstance(part, exp.Func) and type(part) not in _FOLDABLE_FUNCS):
            # Division is float division in DuckDB and exact in sqlglot's folding.
            return None
    try:
        folded = simplify(node.copy(), dialect="duckdb")
    except (SqlglotError, ArithmeticError, ValueError, TypeError, OverflowError):
        return None
    return _plain_value(folded)


def _value_for(col: ColumnInfo, family: str, value: _Value, d: Dialect) -> exp.Expression | None:
    """The literal to compare ``col`` with, or None when the source could compare differently."""
    if family == "number":
        return value.node if value.kind == "number" else None
    if family == "boolean":
        return value.node if value.kind == "boolean" else None
    if family == "string":
        return value.node if value.kind == "string" and d.pushes_string_literal(value.text) else None
    if family == "temporal":
        if value.kind in ("date", "timestamp"):
            return value.node
        if value.kind == "string":
            # DuckDB casts the string to the column's type before comparing.
            converted = _temporal(value.text, col.type.name)
            return converted.node if converted is not None else None
    return None


# ---------------------------------------------------------------------------------------------
# Predicates


def _column(node: exp.Expression, columns: Mapping[str, ColumnInfo]) -> ColumnInfo | None:
    """The source column an unqualified reference names (DuckDB resolves names case-blind)."""
    if isinstance(node, exp.Paren):
        return _column(node.this, columns)
    if not isinstance(node, exp.Column) or node.table or not isinstance(node.this, exp.Identifier):
        return None
    name = node.name
    if name in columns:
        return columns[name]
    if node.this.quoted:
        return None
    matches = [c for n, c in columns.items() if n.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _count(node: exp.Expression | None) -> int | None:
    """The value of a non-negative integer literal, else None."""
    if isinstance(node, exp.Literal) and not node.is_string and str(node.this).isdigit():
        return int(node.this)
    return None


def _grouped(node: exp.Expression) -> exp.Expression:
    """Parenthesised unless atomic, so precedence never depends on the target dialect."""
    return node if isinstance(node, (exp.Paren, exp.Column, exp.Boolean)) else exp.Paren(this=node)


def _ref(col: ColumnInfo) -> exp.Column:
    return exp.column(col.name, quoted=True)


def _only_args(node: exp.Expression, allowed: set[str]) -> bool:
    return all(key in allowed for key, value in node.args.items() if value not in (None, False, [], ""))


# ---------------------------------------------------------------------------------------------
# Key sets: the values a dynamic filter sends as ``column IN (...)``


#: the kinds of keys a dynamic filter carries, by the comparison family they are compared in
KEY_KINDS = {"integer": "number", "string": "string", "date": "temporal"}


@dataclass(frozen=True)
class KeyValues:
    """The distinct non-null keys of a dynamic filter, Python values of one ``kind``
    (:data:`KEY_KINDS`). Immutable and shared by every copy of the tree that carries it."""

    kind: str
    values: tuple[object, ...]
    #: where the keys come from, for plans and statistics ("__mf_scan_2.l_orderkey")
    origin: str = ""

    def __deepcopy__(self, memo: dict[int, object]) -> KeyValues:
        return self

    def render(self, dialect: str) -> str:
        """The comma-separated literals for ``dialect``: integers as digits (a million of them
        in well under a second), dates and strings through the dialect's own generator. Empty
        renders as ``NULL``, which no key equals.

        >>> KeyValues("integer", (3, 1)).render("postgres"), KeyValues("string", ("it's",)).render("mysql")
        ('3, 1', "'it''s'")
        """
        if not self.values:
            return "NULL"
        if self.kind == "integer":
            return ", ".join(str(int(v)) for v in self.values)  # type: ignore[call-overload]
        d = dialects.dialect(dialect)
        if self.kind == "date":
            date = exp.DataType.build("DATE")
            return ", ".join(d.sql(exp.Cast(this=exp.Literal.string(v.isoformat()), to=date))  # type: ignore[attr-defined]
                             for v in self.values)
        return ", ".join(d.sql(exp.Literal.string(str(v))) for v in self.values)


class KeyRef(exp.Expression, exp.Func):
    """``column IN (KEY_REF('<label>'))``: a dynamic filter's key set as one node of the tree.

    The keys live in ``meta["keys"]`` (:class:`KeyValues`), never as one sqlglot node per key:
    building and rendering 100,000 literal nodes costs seconds, the text costs milliseconds.
    :func:`prepare_predicate` turns it into the literal list of the source's dialect; rendered
    as a plain expression it shows only its label.
    """

    arg_types: ClassVar[dict[str, bool]] = {"this": True}

    @classmethod
    def of(cls, keys: KeyValues) -> KeyRef:
        label = f"{len(keys.values):,} keys of {keys.origin}" if keys.origin else f"{len(keys.values):,} keys"
        node = cls(this=exp.Literal.string(label))
        node.meta["keys"] = keys
        return node

    @property
    def keys(self) -> KeyValues:
        found = self.meta.get("keys")
        if not isinstance(found, KeyValues):
            raise ValueError("a KEY_REF without its keys")
        return found


def key_filter(column: str, keys: KeyValues) -> exp.In:
    """The dynamic filter ``column IN (<keys>)`` over an unqualified column."""
    return exp.In(this=exp.column(column, quoted=True), expressions=[KeyRef.of(keys)])


@dataclass
class _Preparer:
    columns: Mapping[str, ColumnInfo]
    dialect: Dialect

    def prepare(self, node: exp.Expression) -> exp.Expression | None:
        if isinstance(node, exp.Paren):
            inner = self.prepare(node.this)
            return exp.Paren(this=inner) if inner is not None else None
        if isinstance(node, exp.Not):
            inner = self.prepare(node.this)
            return exp.Not(this=_grouped(inner)) if inner is not None else None
        if isinstance(node, (exp.And, exp.Or)) and _only_args(node, {"this", "expression"}):
            left, right = self.prepare(node.this), self.prepare(node.expression)
            if left is None or right is None:
                return None
            return type(node)(this=_grouped(left), expression=_grouped(right))
        if isinstance(node, exp.Column):
            col = _column(node, self.columns)
            if col is None or _family(col, self.dialect) != "boolean":
                return None
            return exp.EQ(this=_ref(col), expression=exp.Boolean(this=True))
        if isinstance(node, _COMPARISONS) and _only_args(node, {"this", "expression"}):
            return self._comparison(node)
        if isinstance(node, exp.Is) and _only_args(node, {"this", "expression"}):
            col = _column(node.this, self.columns)
            if col is None or not isinstance(node.expression, exp.Null) or not self.dialect.pushes_null_check(col):
                return None
            return exp.Is(this=_ref(col), expression=exp.Null())
        if isinstance(node, exp.In) and _only_args(node, {"this", "expressions"}):
            return self._in(node)
        if isinstance(node, exp.Between) and _only_args(node, {"this", "low", "high"}):
            return self._between(node)
        if isinstance(node, exp.Like) and _only_args(node, {"this", "expression", "negate"}):
            return self._like(node)
        return None

    def _side(self, col: ColumnInfo, node: exp.Expression) -> exp.Expression | None:
        family = _family(col, self.dialect)
        value = _value(node)
        if family is None or value is None:
            return None
        return _value_for(col, family, value, self.dialect)

    def _string_ok(self, col: ColumnInfo, ordering: bool) -> bool:
        if _family(col, self.dialect) != "string":
            return True
        return self.dialect.pushes_string_order(col) if ordering else self.dialect.pushes_string_equality(col)

    def _side_ref(self, col: ColumnInfo, ordering: bool) -> exp.Expression | None:
        """The column as compared with a literal: itself where the source compares it like
        DuckDB, else its byte-wise form where the dialect has one (a case-blind MariaDB column
        as ``CAST(col AS BINARY)``), else None."""
        if self._string_ok(col, ordering):
            return _ref(col)
        if self.dialect.pushes_bytewise(col):
            return self.dialect.bytewise(_ref(col))
        return None

    def _operand(self, node: exp.Expression, ordering: bool) -> tuple[ColumnInfo, exp.Expression] | None:
        """The compared side naming a column, as the source compares it: the column
        (:meth:`_side_ref`), or ``SUBSTRING(column, start[, length])`` of a string column with
        literal bounds where the dialect counts characters like DuckDB (a start below 1 means
        different things in different databases, so it stays in DuckDB)."""
        col = _column(node, self.columns)
        if col is not None:
            ref = self._side_ref(col, ordering)
            return (col, ref) if ref is not None else None
        if not (isinstance(node, exp.Substring) and _only_args(node, {"this", "start", "length"})
                and self.dialect.substring_chars):
            return None
        col = _column(node.this, self.columns)
        start, length = _count(node.args.get("start")), node.args.get("length")
        if col is None or _family(col, self.dialect) != "string" or start is None or start < 1:
            return None
        count = _count(length) if length is not None else None
        if length is not None and count is None:
            return None
        part = exp.Substring(this=_ref(col), start=exp.Literal.number(start),
                             length=exp.Literal.number(count) if count is not None else None)
        if self._string_ok(col, ordering):
            return col, part
        return (col, self.dialect.bytewise(part)) if self.dialect.pushes_bytewise(col) else None

    def _comparison(self, node: exp.Expression) -> exp.Expression | None:
        first, second = _column(node.this, self.columns), _column(node.expression, self.columns)
        if first is not None and second is not None:
            return self._column_pair(node, first, second)
        ordering = isinstance(node, _ORDERING)
        side, other, flipped = self._operand(node.this, ordering), node.expression, False
        if side is None:
            side, other, flipped = self._operand(node.expression, ordering), node.this, True
        if side is None:
            return None
        col, ref = side
        literal = self._side(col, other)
        if literal is None:
            return None
        left, right = (literal, ref) if flipped else (ref, literal)
        return type(node)(this=left, expression=right)

    def _column_pair(self, node: exp.Expression, left: ColumnInfo, right: ColumnInfo) -> exp.Expression | None:
        """``a < b`` over two columns of one type, where the source compares them like DuckDB."""
        family = _family(left, self.dialect)
        if family not in self.dialect.pushable_column_families or _family(right, self.dialect) != family:
            return None
        if left.type != right.type or native_base(left.native_type) != native_base(right.native_type):
            return None
        if family == "string" and not self.dialect.pushes_column_strings(left, right, isinstance(node, _ORDERING)):
            return None
        return type(node)(this=_ref(left), expression=_ref(right))

    def _in(self, node: exp.In) -> exp.Expression | None:
        side = self._operand(node.this, ordering=False)
        items = node.expressions
        if side is None or not items:
            return None
        col, ref = side
        if len(items) == 1 and isinstance(items[0], KeyRef):
            return self._keys(col, ref, items[0].keys)
        literals = [self._side(col, item) for item in items]
        if any(lit is None for lit in literals):
            return None
        return exp.In(this=ref, expressions=literals)

    def _keys(self, col: ColumnInfo, ref: exp.Expression, keys: KeyValues) -> exp.Expression | None:
        """A key set the column compares exactly like DuckDB: integers with a number column,
        dates with a date column, strings the dialect compares byte-wise; rendered as text."""
        family = _family(col, self.dialect)
        if family is None or KEY_KINDS.get(keys.kind) != family:
            return None
        if keys.kind == "integer" and col.type.name not in _INTEGER_TYPES:
            return None
        if keys.kind == "date" and col.type.name != "date":
            return None
        if keys.kind == "string" and not all(self.dialect.pushes_string_literal(str(v)) for v in keys.values):
            return None
        if keys.kind == "integer" and keys.values and self.dialect.integer_key_array:
            # one array literal: the server parses one constant, not one per key (PostgreSQL,
            # 100,000 keys over orders: 0.39-0.50 s against 0.57-0.60 s as an IN list)
            array = exp.Literal.string("{" + keys.render(self.dialect.name).replace(" ", "") + "}")
            bigints = exp.DataType.build("BIGINT[]", dialect=self.dialect.name)
            return exp.EQ(this=ref, expression=exp.Any(this=exp.Paren(this=exp.Cast(this=array, to=bigints))))
        return exp.In(this=ref, expressions=[exp.Var(this=keys.render(self.dialect.name))])

    def _between(self, node: exp.Between) -> exp.Expression | None:
        col = _column(node.this, self.columns)
        ref = self._side_ref(col, ordering=True) if col is not None else None
        if col is None or ref is None:
            return None
        low, high = self._side(col, node.args["low"]), self._side(col, node.args["high"])
        if low is None or high is None:
            return None
        return exp.Between(this=ref, low=low, high=high)

    def _like(self, node: exp.Like) -> exp.Expression | None:
        col = _column(node.this, self.columns)
        pattern = node.expression
        if col is None or _family(col, self.dialect) != "string":
            return None
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            return None
        text = str(pattern.this)
        if not self.dialect.pushes_string_literal(text):
            return None
        if self.dialect.pushes_like(col, text):
            ref = _ref(col)
        elif self.dialect.pushes_bytewise_like(col, text):
            ref = self.dialect.bytewise(_ref(col))
        else:
            return None
        like = exp.Like(this=ref, expression=exp.Literal.string(text))
        return exp.Not(this=exp.Paren(this=like)) if node.args.get("negate") else like


def prepare_predicate(
    predicate: exp.Expression, columns: Mapping[str, ColumnInfo], dialect: str, *, rules: str | None = None
) -> exp.Expression | None:
    """``predicate`` rewritten for the source, or None when it must stay in DuckDB.

    The rewrite quotes each column with its exact source name and folds constant expressions
    into literals (``DATE '1994-01-01' + INTERVAL '1' YEAR`` → ``CAST('1995-01-01' AS DATE)``).
    ``rules`` names the source kind whose pushdown answers apply when they are not the dialect's
    (``files``: DuckDB over files, see :mod:`meshfabric.connectors.dialects.duckdb`).
    """
    return _Preparer(columns, _pushdown_dialect(dialect, rules)).prepare(predicate)


def equi_joinable(left: ColumnInfo, right: ColumnInfo, dialect: str, *, rules: str | None = None) -> bool:
    """Whether ``left = right`` between columns of two tables of one source keeps exactly the
    row pairs DuckDB keeps (same type, and strings compared byte-wise): the condition for a
    join pushed into the source (:mod:`meshfabric.query.joins`).

    >>> from meshfabric.types import LogicalType
    >>> k = ColumnInfo("k", "integer", LogicalType("integer"))
    >>> ci = ColumnInfo("s", "varchar(10)", LogicalType("string"), case_insensitive=True)
    >>> equi_joinable(k, k, "postgres"), equi_joinable(ci, ci, "mysql")
    (True, False)
    """
    d = _pushdown_dialect(dialect, rules)
    node = exp.EQ(this=_ref(left), expression=_ref(right))
    return _Preparer({}, d)._column_pair(node, left, right) is not None


def portable_predicate(
    predicate: exp.Expression, columns: Mapping[str, ColumnInfo], dialect: str, *, rules: str | None = None
) -> bool:
    """Whether the source keeps exactly the rows DuckDB keeps for ``predicate``."""
    return prepare_predicate(predicate, columns, dialect, rules=rules) is not None


# ---------------------------------------------------------------------------------------------
# SQL generation


def _gen(node: exp.Expression, dialect: str) -> str:
    return dialects.dialect(dialect).sql(node)


def quote_ident(name: str, dialect: str) -> str:
    """An identifier quoted for ``dialect``, whatever characters it holds."""
    return dialects.dialect(dialect).quote(name)


def table_ref(name: str | TableInfo, dialect: str) -> exp.Table:
    """A table reference: a TableInfo verbatim, or ``schema.table`` text as written in a spec.

    Text parts keep the case the user wrote; quotes in the text are honoured.
    """
    if isinstance(name, TableInfo):
        return exp.table_(exp.to_identifier(name.name, quoted=True), db=_quoted(name.schema))
    try:
        parsed = exp.to_table(name, dialect=dialect)
    except SqlglotError:
        parsed = None
    if not isinstance(parsed, exp.Table) or not parsed.name:
        raise ValueError(f"'{name}' is not a table name")
    return exp.table_(exp.to_identifier(parsed.name, quoted=True), db=_quoted(parsed.db or None))


def _quoted(name: str | None) -> exp.Identifier | None:
    return exp.to_identifier(name, quoted=True) if name else None


def split_table_name(name: str, dialect: str) -> tuple[str | None, str, bool]:
    """``(schema, table, quoted)`` of a table name as written; quoted means match case exactly."""
    try:
        parsed = exp.to_table(name, dialect=dialect)
    except SqlglotError:
        raise ValueError(f"'{name}' is not a table name") from None
    ident = parsed.this
    if not isinstance(ident, exp.Identifier) or not ident.name:
        raise ValueError(f"'{name}' is not a table name")
    return (parsed.db or None), ident.name, bool(ident.quoted)


_LEADING_QUERY = re.compile(r"^\s*(\(\s*)*(select|with|values|table)\b", re.IGNORECASE)


def subquery_sql(sql: str, dialect: str) -> str:
    """The text of an output port's ``sql`` checked to be one read query, ready to wrap.

    The text is sent as written (re-generating it could change its meaning); sqlglot only
    checks that it is a single query. Text sqlglot cannot parse must still start like a query.
    """
    text = sql.strip().rstrip(";").strip()
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError:
        if _LEADING_QUERY.match(text) and ";" not in text:
            return text
        raise ValueError("the output port's sql is not a query sqlglot can read") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ValueError("the output port's sql must be exactly one SELECT query")
    return text


def _relation_sql(
    port: OutputPort, relation: TableInfo | exp.Expression | str | None, dialect: str, alias: str = "_mf_src"
) -> str:
    if isinstance(relation, str):
        return relation
    if isinstance(relation, TableInfo):
        return _gen(table_ref(relation, dialect), dialect)
    if isinstance(relation, exp.Expression):
        return _gen(relation, dialect)
    if port.sql:
        return f"({subquery_sql(port.sql, dialect)}) AS {quote_ident(alias, dialect)}"
    if port.table:
        return _gen(table_ref(port.table, dialect), dialect)
    raise ValueError("the output port has no table or sql for a SQL source")


def _where(filters: Sequence[exp.Expression], dialect: str) -> str:
    if not filters:
        return ""
    return " WHERE " + " AND ".join(_gen(_grouped(f), dialect) for f in filters)


def _limit(limit: int | None) -> str:
    if limit is None:
        return ""
    if limit < 0:
        raise ValueError("limit must not be negative")
    return f" LIMIT {int(limit)}"


def build_select(
    port: OutputPort,
    columns: Sequence[str],
    filters: Sequence[exp.Expression],
    limit: int | None,
    dialect: str,
    *,
    relation: TableInfo | exp.Expression | str | None = None,
    select: Mapping[str, exp.Expression] | None = None,
) -> str:
    """``SELECT <columns> FROM <port> [WHERE <filters>] [LIMIT n]`` in ``dialect``.

    ``filters`` must come from :func:`prepare_predicate`. ``relation`` replaces what the port
    names (a resolved TableInfo, a table function); ``select`` gives a read expression for some
    columns (``CAST(x AS TEXT)`` for a type the driver cannot carry), aliased back to the name.

    >>> from meshfabric.spec.models import OutputPort
    >>> build_select(OutputPort(source="s", table="tpch.orders"), ["o_id", "Total"], [], 10, "mysql")
    'SELECT `o_id`, `Total` FROM `tpch`.`orders` LIMIT 10'
    """
    if not columns:
        raise ValueError("build_select needs at least one column; use build_count for none")
    select = select or {}
    items = []
    for name in columns:
        ident = exp.to_identifier(name, quoted=True)
        expr = select.get(name)
        items.append(_gen(exp.alias_(expr, ident) if expr is not None else exp.Column(this=ident), dialect))
    source = _relation_sql(port, relation, dialect)
    return f"SELECT {', '.join(items)} FROM {source}{_where(filters, dialect)}{_limit(limit)}"


def build_count(
    port: OutputPort,
    filters: Sequence[exp.Expression],
    limit: int | None,
    dialect: str,
    *,
    relation: TableInfo | exp.Expression | str | None = None,
) -> str:
    """A statement returning one row, column ``n``: how many rows a scan with no columns has.

    >>> from meshfabric.spec.models import OutputPort
    >>> build_count(OutputPort(source="s", table="t"), [], 5, "postgres")
    'SELECT COUNT(*) AS "n" FROM (SELECT 1 AS "one" FROM "t" LIMIT 5) AS "_mf_rows"'
    """
    source = _relation_sql(port, relation, dialect)
    n = quote_ident("n", dialect)
    if limit is None:
        return f"SELECT COUNT(*) AS {n} FROM {source}{_where(filters, dialect)}"
    inner = f"SELECT 1 AS {quote_ident('one', dialect)} FROM {source}{_where(filters, dialect)}{_limit(limit)}"
    return f"SELECT COUNT(*) AS {n} FROM ({inner}) AS {quote_ident('_mf_rows', dialect)}"


# ---------------------------------------------------------------------------------------------
# Planning one scan


class UnknownColumn(LookupError):
    """A requested column the source relation does not have."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(name)
        self.name = name
        self.available = list(available)


@dataclass
class ScanPlan:
    """What one scan sends to a SQL source and what it promises back."""

    sql: str
    #: exact source names of the selected columns, in the requested order
    columns: list[str]
    #: the caller's filter objects that the statement evaluates
    pushed: list[exp.Expression] = field(default_factory=list)
    #: the same filters as rewritten for the source (what the WHERE clause holds)
    prepared: list[exp.Expression] = field(default_factory=list)
    #: True when the statement returns only a row count (column ``n``)
    count_only: bool = False
    limit_pushed: bool = False


def resolve_columns(requested: Sequence[str] | None, available: Mapping[str, ColumnInfo]) -> list[str]:
    """Exact source names for the requested columns: exact match first, then case-blind."""
    if requested is None:
        return list(available)
    out: list[str] = []
    lower: dict[str, list[str]] = {}
    for name in available:
        lower.setdefault(name.lower(), []).append(name)
    for name in requested:
        if name in available:
            exact = name
        elif len(lower.get(name.lower(), [])) == 1:
            exact = lower[name.lower()][0]
        else:
            raise UnknownColumn(name, list(available))
        if exact not in out:
            out.append(exact)
    return out


def plan_scan(
    request: ScanRequest,
    available: Mapping[str, ColumnInfo],
    dialect: str,
    *,
    relation: TableInfo | exp.Expression | str | None = None,
    select: Mapping[str, exp.Expression] | None = None,
    rules: str | None = None,
) -> ScanPlan:
    """Decide the statement of one scan: projection, the filters that are safe, the limit.

    The limit goes to the source only when every filter does; otherwise the source would cut
    rows before the remaining filters run. ``rules`` as for :func:`prepare_predicate`.
    """
    names = resolve_columns(request.columns, available)
    pushed: list[exp.Expression] = []
    prepared: list[exp.Expression] = []
    for predicate in request.filters:
        ready = prepare_predicate(predicate, available, dialect, rules=rules)
        if ready is not None:
            pushed.append(predicate)
            prepared.append(ready)
    limit_pushed = request.limit is not None and len(pushed) == len(request.filters)
    limit = request.limit if limit_pushed else None
    if not names:
        sql = build_count(request.port, prepared, limit, dialect, relation=relation)
        return ScanPlan(sql, [], pushed, prepared, count_only=True, limit_pushed=limit_pushed)
    sql = build_select(request.port, names, prepared, limit, dialect, relation=relation, select=select)
    return ScanPlan(sql, names, pushed, prepared, limit_pushed=limit_pushed)


# ---------------------------------------------------------------------------------------------
# Creating tables from Arrow schemas


def sql_type(arrow_type: pa.DataType, dialect: str) -> str:
    """The column type that stores ``arrow_type`` in ``dialect`` and reads back as the same
    logical type (decimals keep precision and scale, timestamps keep microseconds).

    >>> import pyarrow as pa
    >>> sql_type(pa.timestamp("us", tz="UTC"), "mysql"), sql_type(pa.uint64(), "duckdb")
    ('DATETIME(6)', 'UBIGINT')
    """
    return dialects.dialect(dialect).column_type(arrow_type)


def build_create_table(
    table: str | TableInfo,
    schema: pa.Schema,
    dialect: str,
    *,
    string_collation: str | None = None,
) -> str:
    """``CREATE TABLE`` for an Arrow schema; ``string_collation`` is added to text columns.

    >>> import pyarrow as pa
    >>> build_create_table("s.t", pa.schema([("Price", pa.decimal128(15, 2)), ("name", pa.string())]),
    ...                    "mysql", string_collation="utf8mb4_nopad_bin")
    'CREATE TABLE `s`.`t` (`Price` DECIMAL(15, 2), `name` LONGTEXT COLLATE utf8mb4_nopad_bin)'
    """
    import pyarrow.types as t

    d = dialects.dialect(dialect)
    defs = []
    for f in schema:
        kind = exp.DataType.build(d.column_type(f.type), dialect=d.ddl_name)
        constraints = []
        base = f.type.value_type if t.is_dictionary(f.type) else f.type
        if string_collation and (t.is_string(base) or t.is_large_string(base)):
            constraints.append(
                exp.ColumnConstraint(kind=exp.CollateColumnConstraint(this=exp.Var(this=string_collation)))
            )
        defs.append(exp.ColumnDef(this=exp.to_identifier(f.name, quoted=True), kind=kind, constraints=constraints))
    create = exp.Create(this=exp.Schema(this=table_ref(table, dialect), expressions=defs), kind="TABLE")
    return create.sql(dialect=d.ddl_name, unsupported_level=ErrorLevel.RAISE)
