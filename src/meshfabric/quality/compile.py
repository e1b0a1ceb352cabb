"""Quality rules → SQL in the source's dialect: one aggregate scan, plus a statement per rule
that needs a GROUP BY, a join or a second pass.

Every aggregate rule of a product becomes one or more aggregates of a single
``SELECT … FROM <product>`` statement (:func:`compile_scan`), so the source reads the product
once however many rules it has:

>>> from meshfabric.types import LogicalType
>>> from meshfabric.spec.quality_rules import CompletenessRule, RangeRule
>>> cols = [ColumnInfo("id", "bigint", LogicalType("bigint")), ColumnInfo("amount", "double", LogicalType("double"))]
>>> rules = [CompletenessRule(type="not_null", column="id"), RangeRule(type="range", column="amount", min=0)]
>>> print(compile_scan(rules, cols, '"orders"', "postgres").sql)
SELECT COUNT(*) AS "n", COUNT("id") AS "r0_nonnull", COUNT("amount") AS "r1_checked", \
COUNT(CASE WHEN NOT "amount" IS NULL AND NOT (NOT ("amount" = CAST('NaN' AS DOUBLE PRECISION)) \
AND "amount" >= 0) THEN 1 END) AS "r1_failing" FROM (SELECT * FROM "orders") AS "_mf_t"

(NaN fails every bound explicitly: PostgreSQL sorts it above every number.)

Rules that cannot be aggregates of that scan get statements of their own: uniqueness (GROUP BY
the key), referential integrity (an anti-join), custom SQL, quantiles where the dialect has no
ordered-set aggregate (SQLite, MariaDB: the two order statistics around the quantile are read
with ORDER BY … LIMIT 2 OFFSET k, so the result is exact), and the anomaly sample. Failing-row
samples are a further statement per failed rule, sent only when it failed.

SQL is built as sqlglot trees and generated with ``unsupported_level=ErrorLevel.RAISE``; what a
dialect does differently lives in its dialect object (:mod:`meshfabric.connectors.dialects`),
nowhere else. The product's
relation is the FROM-clause text the connector gives (a quoted table, ``(sql) AS _mf_src``, a
DuckDB file reader); it is sent as written and wrapped as ``(SELECT * FROM <relation>)``, so it
can be aliased whatever its form.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from meshfabric.connectors import dialects
from meshfabric.connectors.base import ColumnInfo
from meshfabric.connectors.dialects import Dialect
from meshfabric.connectors.pushdown import subquery_sql
from meshfabric.errors import ConfigError
from meshfabric.spec.quality_rules import (
    AcceptedValuesRule,
    AnomalyRule,
    AnyRule,
    CompletenessRule,
    CustomSqlRule,
    FormatRule,
    FreshnessRule,
    LengthRule,
    RangeRule,
    ReferentialRule,
    RegexRule,
    StatisticRule,
    UniquenessRule,
    literal_problem,
)

PLACEHOLDER = "__mf_relation__"
#: the alias of the product inside every compiled statement
ALIAS = "_mf_t"
_TEMPORAL = ("date", "timestamp", "timestamptz")


# ---------------------------------------------------------------------------------------------
# Dialects

#: how one source kind spells what quality rules need (:mod:`meshfabric.connectors.dialects`)
SqlDialect = Dialect


def dialect(name: str) -> Dialect:
    """The dialect object of a source kind, for the quality rules run in it."""
    try:
        return dialects.dialect(name)
    except dialects.UnknownDialect:
        raise ConfigError(f"quality rules cannot run in a '{name}' source") from None


# ---------------------------------------------------------------------------------------------
# Columns and literals


def resolve(names: Sequence[str], columns: Sequence[ColumnInfo], where: str = "the product") -> list[ColumnInfo]:
    """The source columns ``names`` refer to: exact spelling first, then case-blind."""
    by_name = {c.name: c for c in columns}
    lower: dict[str, list[ColumnInfo]] = {}
    for c in columns:
        lower.setdefault(c.name.lower(), []).append(c)
    out = []
    for name in names:
        found = by_name.get(name) or (lower[name.lower()][0] if len(lower.get(name.lower(), [])) == 1 else None)
        if found is None:
            import difflib

            close = difflib.get_close_matches(name, list(by_name), n=1)
            raise ConfigError(f"column '{name}' is not in {where}",
                              hint=f"did you mean '{close[0]}'?" if close else f"it has: {', '.join(by_name)}")
        out.append(found)
    return out


def ref(col: ColumnInfo, table: str | None = ALIAS) -> exp.Column:
    return exp.column(col.name, table=exp.to_identifier(table, quoted=True) if table else None, quoted=True)


def literal(value: Any, col: ColumnInfo, d: Dialect) -> exp.Expression:
    """A spec value as a literal comparable with ``col``: temporal columns get typed literals
    from ISO text, numeric columns numbers (a string that is no number is refused)."""
    problem = literal_problem(value, str(col.type))
    if problem:
        raise ConfigError(f"column '{col.name}': {problem}")
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    logical = col.type.name
    if logical in _TEMPORAL:
        return d.temporal(str(value), logical)
    if col.type.is_numeric:
        if isinstance(value, int | float):
            return _number(value)
        try:
            return _number(float(value) if "." in str(value) or "e" in str(value).lower() else int(value))
        except ValueError:
            raise ConfigError(f"'{value}' is not a number, and column '{col.name}' is {col.type}") from None
    if isinstance(value, int | float):
        return _number(value)
    return exp.Literal.string(str(value))


def _number(value: float | int) -> exp.Expression:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{value} cannot be compared in SQL")
    text = repr(value) if isinstance(value, float) else str(int(value))
    if text.startswith("-"):
        return exp.Neg(this=exp.Literal.number(text[1:]))
    return exp.Literal.number(text)


def _all(*conditions: exp.Expression) -> exp.Expression:
    """``a AND b AND …`` (sqlglot types ``and_`` as a Condition)."""
    return cast(exp.Expression, exp.and_(*conditions))


def _count_if(condition: exp.Expression) -> exp.Expression:
    case = exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))])
    return exp.Count(this=case)


def _not_null(cols: Sequence[ColumnInfo], table: str | None = ALIAS) -> exp.Expression:
    return _all(*[exp.Not(this=exp.Is(this=ref(c, table), expression=exp.Null())) for c in cols])


# ---------------------------------------------------------------------------------------------
# Row predicates


def failing_predicate(rule: AnyRule, cols: Sequence[ColumnInfo], d: Dialect) -> exp.Expression | None:
    """The condition a row fails ``rule`` on, nulls excluded where the rule says so; None for
    rules that are not judged row by row in the main scan.

    >>> from meshfabric.types import LogicalType
    >>> from meshfabric.spec.quality_rules import FormatRule
    >>> c = [ColumnInfo("mail", "varchar(80)", LogicalType("string"), case_insensitive=True)]
    >>> d = dialect("mysql")
    >>> d.sql(failing_predicate(FormatRule(type="format", column="mail", format="country_code"), c, d))
    "NOT `_mf_t`.`mail` IS NULL AND NOT (REGEXP_INSTR(`_mf_t`.`mail`, '(?-i)^[A-Z]{2}$') > 0)"
    """
    if isinstance(rule, CompletenessRule):
        return exp.Is(this=ref(cols[0]), expression=exp.Null())
    if not isinstance(rule, AcceptedValuesRule | RangeRule | RegexRule | FormatRule | LengthRule):
        return None
    col = cols[0]
    value = ref(col)
    valid: exp.Expression
    if isinstance(rule, AcceptedValuesRule):
        values = [literal(v, col, d) for v in rule.values]
        valid = exp.In(this=d.exact(value, col), expressions=values) if values else exp.false()
        valid = _not_nan(valid, value, col, d)
    elif isinstance(rule, RangeRule):
        parts: list[exp.Expression] = []
        if rule.min is not None:
            low = literal(rule.min, col, d)
            parts.append(exp.GTE(this=value.copy(), expression=low) if rule.inclusive else
                         exp.GT(this=value.copy(), expression=low))
        if rule.max is not None:
            high = literal(rule.max, col, d)
            parts.append(exp.LTE(this=value.copy(), expression=high) if rule.inclusive else
                         exp.LT(this=value.copy(), expression=high))
        valid = _not_nan(_all(*parts), value, col, d)
    elif isinstance(rule, RegexRule | FormatRule):
        valid = d.regex(d.text(value, col), rule.regex)
    else:
        length = d.length(d.text(value, col))
        bounds: list[exp.Expression] = []
        if rule.min is not None:
            bounds.append(exp.GTE(this=length, expression=exp.Literal.number(rule.min)))
        if rule.max is not None:
            bounds.append(exp.LTE(this=length.copy(), expression=exp.Literal.number(rule.max)))
        valid = _all(*bounds)
    return _all(_not_null([col]), exp.Not(this=exp.Paren(this=valid)))


def _not_nan(valid: exp.Expression, value: exp.Expression, col: ColumnInfo, d: Dialect) -> exp.Expression:
    """``NOT isnan(value) AND valid`` where the column can hold NaN: NaN fails every bound and
    list, whatever the source's NaN ordering or (Parquet) statistics say about ``valid``."""
    nan = d.nonfinite(value.copy(), col, "nan")
    return valid if nan is None else _all(exp.Not(this=exp.Paren(this=nan)), valid)


def finite_value(value: exp.Expression, col: ColumnInfo, d: Dialect) -> exp.Expression:
    """``CASE WHEN value is finite THEN value END`` where the column can hold NaN or ±∞, so
    aggregates see the finite values only; ``value`` itself elsewhere."""
    finite = d.finite(value, col)
    if finite is None:
        return value
    return exp.Case(ifs=[exp.If(this=finite, true=value.copy())])


def nonfinite_count(col: ColumnInfo, d: Dialect) -> exp.Expression | None:
    """How many values of ``col`` are NaN or ±∞ (None where none can be)."""
    finite = d.finite(ref(col), col)
    if finite is None:
        return None
    return _count_if(_all(_not_null([col]), exp.Not(this=exp.Paren(this=finite))))


# ---------------------------------------------------------------------------------------------
# The main scan


@dataclass
class Scan:
    """The statement that measures every aggregate rule; ``aliases[(i, role)]`` names the output
    column holding role ``role`` of rule ``i`` (``("*", "rows")`` is the row count).

    ``apart`` is a second statement over the product for the aggregates a source cannot compute
    in parallel (see :attr:`~meshfabric.connectors.dialects.Dialect.serial_apart`); its columns
    follow the main statement's in ``aliases`` order. :meth:`values` runs both and maps each key to its value.
    """

    sql: str
    aliases: dict[tuple[int | str, str], str] = field(default_factory=dict)
    apart: str | None = None

    @property
    def statements(self) -> list[str]:
        return [self.sql] if self.apart is None else [self.sql, self.apart]

    def values(self, fetch: Callable[[str], Sequence[Sequence[Any]]]) -> dict[tuple[int | str, str], Any]:
        row: list[Any] = []
        for sql in self.statements:
            row.extend(fetch(sql)[0])
        return dict(zip(self.aliases, row, strict=True))


def measures(rule: AnyRule, cols: Sequence[ColumnInfo], d: Dialect, key: str = "shift") -> dict[str, exp.Expression]:
    """The aggregates rule ``rule`` needs from the main scan, by role (``key`` names the
    placeholder of a subquery over the product, where the rule needs one)."""
    if isinstance(rule, CompletenessRule):
        return {"nonnull": exp.Count(this=ref(cols[0]))}
    if isinstance(rule, UniquenessRule | ReferentialRule | AnomalyRule):
        return {"checked": _count_if(_not_null(cols))}
    predicate = failing_predicate(rule, cols, d)
    if predicate is not None:
        return {"checked": exp.Count(this=ref(cols[0])), "failing": _count_if(predicate)}
    if isinstance(rule, FreshnessRule):
        return {"latest": d.latest(ref(cols[0]), cols[0])}
    if isinstance(rule, StatisticRule):
        return _statistic(rule, cols[0], d, key)
    return {}


def _statistic(rule: StatisticRule, col: ColumnInfo, d: Dialect, key: str = "shift") -> dict[str, exp.Expression]:
    value = ref(col)
    if rule.statistic == "distinct_count":
        return {"value": exp.Count(this=exp.Distinct(expressions=[d.exact(value, col)]))}
    if not col.type.is_numeric:
        raise ConfigError(f"rule '{rule.label}': {rule.statistic} needs a numeric column; '{col.name}' is {col.type}")
    out: dict[str, exp.Expression] = {}
    nonfinite = nonfinite_count(col, d)
    if nonfinite is not None:
        out["nonfinite"] = nonfinite
    finite = finite_value(value, col, d)
    number = d.double(finite)
    if rule.statistic == "mean":
        out["value"] = exp.Avg(this=number)
    elif rule.statistic in ("min", "max", "sum"):
        agg = {"min": exp.Min, "max": exp.Max, "sum": exp.Sum}[rule.statistic]
        out["value"] = cast(exp.Expression, agg(this=number))
    elif rule.statistic == "stddev" and d.has_stddev:
        out["value"] = exp.StddevSamp(this=number)
    elif rule.statistic == "stddev":
        # sums of d = x - c around one of the column's own values c: no cancellation when the
        # values sit far from 0 (see variance_from_shifted_sums)
        shifted = exp.Paren(this=exp.Sub(this=number, expression=_shift(col, d, key)))
        out.update({"n": exp.Count(this=finite.copy()), "sum": exp.Sum(this=shifted),
                    "sumsq": exp.Sum(this=exp.Mul(this=shifted.copy(), expression=shifted.copy()))})
    else:
        q = rule.q if rule.q is not None else 0.5
        out.update({"value": d.quantile(finite, q)} if d.quantile_in_scan else {"n": exp.Count(this=finite)})
    return out


def _shift(col: ColumnInfo, d: Dialect, key: str) -> exp.Expression:
    """``(SELECT x FROM <product> WHERE x is a finite non-null value LIMIT 1)``: one of the
    column's values, read once, for placeholder ``PLACEHOLDER + key``."""
    inner = ref(col, "_mf_c")
    where = _not_null([col], "_mf_c")
    finite = d.finite(inner.copy(), col)
    if finite is not None:
        where = _all(where, finite)
    query = exp.select(d.double(inner)).from_(_product("_mf_c", PLACEHOLDER + key)).where(where).limit(1)
    return exp.Subquery(this=query)


def variance_from_shifted_sums(n: int, s1: float, s2: float) -> float | None:
    """The sample variance of n values from s1 = Σ(x − c) and s2 = Σ(x − c)² for any shift c.

    Σx² − (Σx)²/n cancels catastrophically when the mean is large against the spread
    (1e9 + N(0, 1) gives 0); around a shift c near the values, the terms stay the size of the
    spread. Profiles shift by the mean (:mod:`.profile`), the statistic rule by one of the values.

    >>> variance_from_shifted_sums(3, 1.0 + 2.0 + 3.0 - 3 * 2.0, 1.0 + 0.0 + 1.0)
    1.0
    """
    if n < 2:
        return None
    m = s1 / n
    return max(s2 - n * m * m, 0.0) / (n - 1)


def compile_scan(rules: Sequence[AnyRule], columns: Sequence[ColumnInfo], relation: str, dialect_name: str) -> Scan:
    """The single aggregate statement over the product for ``rules`` (see the module example)."""
    d = dialect(dialect_name)
    items: list[exp.Expression] = [cast(exp.Expression, exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True))]
    serial: list[tuple[tuple[int | str, str], exp.Expression]] = []
    aliases: dict[tuple[int | str, str], str] = {("*", "rows"): "n"}
    subqueries: dict[str, str] = {}
    for i, rule in enumerate(rules):
        cols = resolve(rule.column_names(), columns)
        subqueries[PLACEHOLDER + f"shift{i}"] = relation
        for role, node in measures(rule, cols, d, f"shift{i}").items():
            alias = f"r{i}_{role}"
            item = cast(exp.Expression, exp.alias_(node, alias, quoted=True))
            if d.serial_apart and _not_partial(node):
                serial.append(((i, role), item))
                continue
            aliases[(i, role)] = alias
            items.append(item)
    apart = None
    if serial:
        for key, item in serial:
            aliases[key] = item.alias
        apart = select_sql(exp.select(*(item for _, item in serial)), relation, d, table_alias=None,
                           relations=subqueries)
    return Scan(select_sql(exp.select(*items), relation, d, table_alias=None, relations=subqueries), aliases, apart)


def _not_partial(node: exp.Expression) -> bool:
    """Whether an aggregate cannot be computed as partial aggregates (a DISTINCT aggregate or an
    ordered-set aggregate)."""
    return node.find(exp.Distinct, exp.WithinGroup) is not None


def select_sql(query: exp.Select, relation: str, d: Dialect, *, table_alias: str | None = ALIAS,
               relations: Mapping[str, str] | None = None) -> str:
    """Generate ``query`` (whose FROM is filled in here) with the relation text put in place.

    Columns are referenced as ``_mf_t.col`` so the statement can also join; with
    ``table_alias=None`` they are unqualified and the product is still read as ``_mf_t``.
    """
    if query.args.get("from_") is None and query.args.get("from") is None:
        query = query.from_(_product())
    if table_alias is None:
        for column in query.find_all(exp.Column):
            if column.table == ALIAS:
                column.set("table", None)
    text = d.sql(query)
    for placeholder, rel in {PLACEHOLDER: relation, **(relations or {})}.items():
        quoted = d.quote(placeholder)
        if quoted not in text and placeholder != PLACEHOLDER:
            continue
        once = placeholder == PLACEHOLDER or placeholder.endswith("ref")  # a shift subquery may repeat
        if (once and text.count(quoted) > 1) or (placeholder == PLACEHOLDER and text.count(quoted) != 1):
            raise ConfigError("a quality rule's values collide with meshfabric's placeholder text")
        text = text.replace(quoted, f"(SELECT * FROM {rel})")
    return text


# ---------------------------------------------------------------------------------------------
# Statements of their own


def _product(alias: str = ALIAS, placeholder: str = PLACEHOLDER) -> exp.Table:
    """The placeholder table (replaced by the relation text after generation), aliased."""
    return exp.Table(this=exp.to_identifier(placeholder, quoted=True),
                     alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))


def duplicates_sql(rule: UniquenessRule, columns: Sequence[ColumnInfo], relation: str, dialect_name: str,
                   limit: int) -> str:
    """One GROUP BY pass for a uniqueness rule: the ``limit`` most repeated key values with their
    row counts (``_mf_rows``), each row also carrying the totals over all duplicated values —
    how many values are duplicated (``_mf_dup_values``) and how many rows share them
    (``_mf_dup_rows``). No row back means no duplicates.

    >>> from meshfabric.types import LogicalType
    >>> from meshfabric.spec.quality_rules import UniquenessRule
    >>> cols = [ColumnInfo("sku", "varchar", LogicalType("string"), case_insensitive=True)]
    >>> print(duplicates_sql(UniquenessRule(type="uniqueness", column="sku"), cols, "`items`", "mysql", 10))
    SELECT `_mf_d`.`sku` AS `sku`, `_mf_d`.`_mf_rows` AS `_mf_rows`, COUNT(*) OVER () AS `_mf_dup_values`, \
SUM(`_mf_d`.`_mf_rows`) OVER () AS `_mf_dup_rows` FROM (SELECT CAST(`_mf_t`.`sku` AS BINARY) AS `sku`, \
COUNT(*) AS `_mf_rows` FROM (SELECT * FROM `items`) AS `_mf_t` WHERE NOT `_mf_t`.`sku` IS NULL \
GROUP BY CAST(`_mf_t`.`sku` AS BINARY) HAVING COUNT(*) > 1) AS `_mf_d` ORDER BY `_mf_d`.`_mf_rows` DESC LIMIT 10
    """
    d = dialect(dialect_name)
    cols = resolve(rule.column_names(), columns)
    keys = [d.exact(ref(c), c) for c in cols]
    count = exp.Count(this=exp.Star())
    groups = exp.select(*[exp.alias_(k.copy(), c.name, quoted=True) for k, c in zip(keys, cols, strict=True)],
                        exp.alias_(count, "_mf_rows", quoted=True)).from_(_product())
    groups = groups.where(_not_null(cols)).group_by(*keys)
    groups = groups.having(exp.GT(this=count.copy(), expression=exp.Literal.number(1)))

    def inner(name: str) -> exp.Column:
        return exp.column(name, table=exp.to_identifier("_mf_d", quoted=True), quoted=True)

    every = exp.Window(this=exp.Count(this=exp.Star()))
    rows_total = exp.Window(this=exp.Sum(this=inner("_mf_rows")))
    outer = exp.select(*[exp.alias_(inner(c.name), c.name, quoted=True) for c in cols],
                       exp.alias_(inner("_mf_rows"), "_mf_rows", quoted=True),
                       exp.alias_(every, "_mf_dup_values", quoted=True),
                       exp.alias_(rows_total, "_mf_dup_rows", quoted=True))
    outer = outer.from_(exp.alias_(exp.Subquery(this=groups), "_mf_d", table=True, quoted=True))
    outer = outer.order_by(exp.Ordered(this=inner("_mf_rows"), desc=True)).limit(limit)
    return select_sql(outer, relation, d)


def orphans_sql(rule: ReferentialRule, columns: Sequence[ColumnInfo], relation: str,
                ref_columns: Sequence[ColumnInfo], ref_relation: str, dialect_name: str,
                sample: int | None = None) -> str:
    """Rows whose key has no match in the referenced product, both read in the same source:
    their count, or (``sample``) the first of them.

    An anti-join: the product LEFT JOIN the referenced product's DISTINCT keys, keeping the rows
    with no partner. Every source plans it as a hash or indexed join (SQLite builds an automatic
    index on the distinct keys); a correlated ``NOT EXISTS`` is a nested loop on SQLite and
    MariaDB when the referenced key has no index (14 s at 30k × 30k rows on SQLite, 0.01 s as a
    join). Keys are compared exactly (:meth:`~meshfabric.connectors.dialects.Dialect.exact`).

    >>> from meshfabric.types import LogicalType
    >>> from meshfabric.spec.quality_rules import ReferentialRule
    >>> rule = ReferentialRule(type="referential", column="cid", reference="crm.c", reference_column="id")
    >>> print(orphans_sql(rule, [ColumnInfo("cid", "INTEGER", LogicalType("bigint"))], '"o"',
    ...                   [ColumnInfo("id", "INTEGER", LogicalType("bigint"))], '"c"', "sqlite"))
    SELECT COUNT(*) AS "failing" FROM (SELECT * FROM "o") AS "_mf_t" LEFT JOIN (SELECT DISTINCT "_mf_r"."id" AS "k0" \
FROM (SELECT * FROM "c") AS "_mf_r" WHERE NOT "_mf_r"."id" IS NULL) AS "_mf_k" ON "_mf_k"."k0" = "_mf_t"."cid" \
WHERE NOT "_mf_t"."cid" IS NULL AND "_mf_k"."k0" IS NULL
    """
    d = dialect(dialect_name)
    cols = resolve(rule.column_names(), columns)
    ref_cols = resolve(rule.reference_names(), ref_columns, f"product {rule.reference}")
    names = [f"k{j}" for j in range(len(cols))]
    keys = exp.select(*[exp.alias_(d.exact(ref(r, "_mf_r"), r), k, quoted=True) for r, k in zip(ref_cols, names,
                                                                                                    strict=True)])
    keys = keys.distinct().from_(_product("_mf_r", PLACEHOLDER + "ref")).where(_not_null(ref_cols, "_mf_r"))

    def key(name: str) -> exp.Column:
        return exp.column(name, table=exp.to_identifier("_mf_k", quoted=True), quoted=True)

    on = _all(*[exp.EQ(this=key(k), expression=d.exact(ref(c), c)) for c, k in zip(cols, names, strict=True)])
    condition = _all(_not_null(cols), exp.Is(this=key(names[0]), expression=exp.Null()))
    if sample is None:
        query = exp.select(exp.alias_(exp.Count(this=exp.Star()), "failing", quoted=True))
    else:
        query = exp.select(*[ref(c) for c in cols])
    query = query.from_(_product()).join(exp.alias_(exp.Subquery(this=keys), "_mf_k", table=True, quoted=True),
                                         on=on, join_type="left").where(condition)
    if sample is not None:
        query = query.limit(sample)
    return select_sql(query, relation, d, relations={PLACEHOLDER + "ref": ref_relation})


def federated_orphans_sql(rule: ReferentialRule, product: str, *, sample: int | None = None) -> str:
    """The same check over two sources, for the federated query engine (product names, DuckDB).

    >>> from meshfabric.spec.quality_rules import ReferentialRule
    >>> rule = ReferentialRule(type="referential", column="customer_id", reference="crm.customers")
    >>> federated_orphans_sql(rule, "sales.orders")
    'SELECT COUNT(*) AS failing FROM sales.orders AS c WHERE NOT "c"."customer_id" IS NULL AND NOT EXISTS(SELECT 1 \
FROM crm.customers AS p WHERE "p"."customer_id" = "c"."customer_id")'
    """
    keys = rule.column_names()
    refs = rule.reference_names()
    col = [exp.column(k, table="c", quoted=True) for k in keys]
    match = _all(*[exp.EQ(this=exp.column(r, table="p", quoted=True), expression=c.copy())
                       for r, c in zip(refs, col, strict=True)])
    inner = exp.select(exp.Literal.number(1)).from_(exp.alias_(exp.to_table(rule.reference), "p", table=True))
    condition = _all(*[exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())) for c in col],
                         exp.Not(this=exp.Exists(this=inner.where(match))))
    items = [exp.alias_(exp.Count(this=exp.Star()), "failing")] if sample is None else [c.copy() for c in col]
    query = exp.select(*items).from_(exp.alias_(exp.to_table(product), "c", table=True)).where(condition)
    if sample is not None:
        query = query.limit(sample)
    return query.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)


_AFTER_TABLE = re.compile(r"\{table\}(\s*)(\S+)?", re.IGNORECASE)
_CLAUSE_WORDS = {"where", "join", "inner", "left", "right", "full", "cross", "natural", "group", "order", "limit",
                 "having", "window", "union", "except", "intersect", "on", "using", "qualify", "offset", "fetch",
                 "lateral", "straight_join"}


def custom_relation(text: str, relation: str, d: Dialect) -> str:
    """A custom rule's SQL with ``{table}`` replaced by the product's relation as a subquery,
    aliased ``t`` unless the rule gives it an alias of its own.

    >>> custom_relation("SELECT * FROM {table} WHERE amount < 0", '"orders"', dialect("postgres"))
    'SELECT * FROM (SELECT * FROM "orders") AS "t" WHERE amount < 0'
    >>> custom_relation("SELECT * FROM {table} AS o", '"orders"', dialect("postgres"))
    'SELECT * FROM (SELECT * FROM "orders") AS o'
    """

    def sub(m: re.Match[str]) -> str:
        follow = (m.group(2) or "").strip()
        aliased = bool(follow) and follow.lower() not in _CLAUSE_WORDS and follow[0] not in "),;"
        head = f"(SELECT * FROM {relation})"
        if not aliased:
            head += f" AS {d.quote('t')}"
        return head + m.group(1) + (m.group(2) or "")

    return _AFTER_TABLE.sub(sub, text)


def custom_sql(rule: CustomSqlRule, relation: str, dialect_name: str, *, sample: int | None = None) -> str:
    """The statement a custom rule runs: the failing rows counted (or sampled), or its metric."""
    d = dialect(dialect_name)
    try:
        text = subquery_sql(custom_relation(rule.sql, relation, d), dialect_name)
    except ValueError as exc:
        raise ConfigError(f"rule '{rule.label}': {exc}") from None
    if rule.returns == "metric":
        return text
    if sample is not None:
        return f"SELECT * FROM ({text}) AS {d.quote('_mf_failing')} LIMIT {int(sample)}"
    return f"SELECT COUNT(*) AS {d.quote('failing')} FROM ({text}) AS {d.quote('_mf_failing')}"


def quantile_sql(rule: StatisticRule, columns: Sequence[ColumnInfo], relation: str, dialect_name: str,
                 offset: int) -> str:
    """The two order statistics from ``offset`` on, for an exact interpolated quantile where the
    dialect has no ordered-set aggregate.

    >>> from meshfabric.types import LogicalType
    >>> cols = [ColumnInfo("x", "REAL", LogicalType("double"))]
    >>> rule = StatisticRule(type="statistic", column="x", statistic="median", max=10)
    >>> print(quantile_sql(rule, cols, '"t"', "sqlite", 4))
    SELECT CAST("_mf_t"."x" AS REAL) AS "v" FROM (SELECT * FROM "t") AS "_mf_t" WHERE NOT "_mf_t"."x" IS NULL \
AND NOT ("_mf_t"."x" = 9e999 OR "_mf_t"."x" = -9e999) ORDER BY "v" LIMIT 2 OFFSET 4
    """
    d = dialect(dialect_name)
    col = resolve([rule.column], columns)[0]
    where = _not_null([col])
    finite = d.finite(ref(col), col)
    if finite is not None:  # statistics are over the finite values
        where = _all(where, finite)
    query = exp.select(exp.alias_(d.double(ref(col)), "v", quoted=True)).from_(_product()).where(where)
    query = query.order_by(exp.column("v", quoted=True)).limit(2).offset(offset)
    return select_sql(query, relation, d)


def sample_sql(rule: AnyRule, columns: Sequence[ColumnInfo], keys: Sequence[ColumnInfo], relation: str,
               dialect_name: str, limit: int) -> str:
    """Up to ``limit`` rows failing a row-level rule: the product's key columns and the rule's."""
    d = dialect(dialect_name)
    cols = resolve(rule.column_names(), columns)
    predicate = failing_predicate(rule, cols, d)
    if predicate is None:
        raise ValueError(f"rule '{rule.label}' has no row predicate")
    shown = list(dict.fromkeys([*keys, *cols]))
    return select_sql(exp.select(*[ref(c) for c in shown]).where(predicate).limit(limit), relation, d)


def anomaly_sample_sql(rule: AnomalyRule, columns: Sequence[ColumnInfo], keys: Sequence[ColumnInfo], relation: str,
                       dialect_name: str, *, random: bool) -> str:
    """Rows with no null in the rule's columns, as doubles, with the key columns; a random
    ``sample_size`` of them when ``random`` (there are more rows than that)."""
    d = dialect(dialect_name)
    cols = resolve(rule.column_names(), columns)
    for c in cols:
        if not c.type.is_numeric:
            raise ConfigError(f"rule '{rule.label}': column '{c.name}' is {c.type}; anomaly detection needs numbers")
    items: list[exp.Expression] = [ref(k) for k in keys if k not in cols]
    items += [cast(exp.Expression, exp.alias_(d.double(ref(c)), c.name, quoted=True)) for c in cols]
    query = exp.select(*items).where(_not_null(cols))
    if random:
        query = query.order_by(exp.Rand())
    return select_sql(query.limit(rule.sample_size), relation, d)
