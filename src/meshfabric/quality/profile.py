"""Column profiles computed inside the source, in its own SQL dialect.

A profile reads no rows out of the source: it sends a handful of aggregate statements over one
connection (``Connector.run_on_port``), each generated with sqlglot for the source's dialect
with ``unsupported_level=RAISE``:

1. **one scan** for every column at once: row count, non-null count, exact distinct count,
   min / max, mean, string length min / max / mean, and — where the dialect has an exact
   ordered-set aggregate — the quantiles (PostgreSQL ``percentile_cont``, DuckDB
   ``quantile_cont``);
2. **one scan** for the moments of every numeric column: sums of (x − c)², (x − c)³, (x − c)⁴
   around c = the mean from statement 1, from which stddev, skewness and kurtosis follow. Taking
   powers around the mean rather than raw power sums avoids the cancellation that makes
   Σx⁴-based kurtosis meaningless for values far from 0;
3. **quantiles** on MariaDB/MySQL and SQLite, which lack ``percentile_cont``: one statement per
   numeric column that numbers the non-null values in order (``ROW_NUMBER() OVER (ORDER BY x)``)
   and returns only the order statistics needed; the quantile is interpolated between the two
   nearest ranks, h = (n − 1)·q, exactly as ``percentile_cont`` and numpy's default ("linear")
   do. This is exact, not an estimate: the tolerance is floating-point rounding (1e-9 relative);
4. **top values**: one bounded ``GROUP BY … ORDER BY count DESC, value LIMIT k`` per column.

NaN and ±∞ (float columns of PostgreSQL, DuckDB and Parquet; ±∞ in SQLite) are counted apart
(``nan_count``, ``posinf_count``, ``neginf_count``; None where the column cannot hold them) and
every statistic — min, max, mean, moments, quantiles — describes the finite values. Top values
keep them, as the strings "NaN", "Infinity" and "-Infinity" in JSON.

Definitions: ``null_pct`` is a percentage (0–100) of all rows; ``distinct`` counts non-null
values; ``stddev`` is the sample standard deviation (n − 1); ``skewness`` is the adjusted
Fisher–Pearson coefficient G1 = g1·√(n(n−1))/(n−2) and ``kurtosis`` the sample *excess*
kurtosis G2 = ((n+1)·g2 + 6)·(n−1)/((n−2)(n−3)) — the definitions of DuckDB's ``skewness`` /
``kurtosis``, pandas and Excel — None when there are too few values or all values are equal.
String lengths are in characters (``CHAR_LENGTH`` on MariaDB).

Strings are compared byte-wise everywhere (``COLLATE "C"`` on PostgreSQL, ``CAST(… AS BINARY)``
on MariaDB, ``COLLATE BINARY`` on SQLite), so distinct counts, min / max and top values are the
same whatever the source's collation — and the same as meshfabric's query engine (DuckDB) gives:
a case-insensitive MariaDB column still has 'a' and 'A' as two values.

Columns classified ``pii`` keep their counts and length statistics but not their values (min,
max, quantiles, top values) unless ``reveal=True``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from meshfabric.connectors.dialects import dialect
from meshfabric.errors import ConfigError, NotFound
from meshfabric.types import INTEGER_TYPES, NUMERIC_TYPES

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.catalog import ProductInfo
    from meshfabric.connectors.base import ColumnInfo, Connector, PortSession
    from meshfabric.spec.models import OutputPort

#: quantiles reported by default
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: how many top values per column by default
TOP = 10
TEMPORAL = ("date", "time", "timestamp", "timestamptz")


def kind_of(logical: str) -> str:
    """How a logical type is profiled: numeric, string, temporal, boolean, identifier or other."""
    if logical in NUMERIC_TYPES:
        return "numeric"
    if logical == "string":
        return "string"
    if logical in TEMPORAL:
        return "temporal"
    if logical == "boolean":
        return "boolean"
    if logical == "uuid":
        return "identifier"
    return "other"


def quantile_key(q: float) -> str:
    """``0.05`` → ``p5``, ``0.5`` → ``p50``, ``0.999`` → ``p99.9``."""
    return f"p{q * 100:g}"


@dataclass
class ColumnProfile:
    """What one column looks like. Fields that do not apply to its kind stay None / empty."""

    name: str
    type: str
    kind: str
    count: int
    nulls: int
    null_pct: float
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    stddev: float | None = None
    skewness: float | None = None
    kurtosis: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    min_length: int | None = None
    max_length: int | None = None
    mean_length: float | None = None
    top_values: list[dict[str, Any]] = field(default_factory=list)
    #: values withheld because the column is classified pii
    redacted: bool = False
    #: NaN, +∞ and −∞ values of a float column, counted apart (None where the source cannot hold
    #: them); min, max, mean, stddev, skewness, kurtosis and quantiles describe the finite values
    nan_count: int | None = None
    posinf_count: int | None = None
    neginf_count: int | None = None

    @property
    def finite_count(self) -> int:
        """Non-null values that are neither NaN nor ±∞."""
        return self.count - (self.nan_count or 0) - (self.posinf_count or 0) - (self.neginf_count or 0)

    def to_dict(self) -> dict[str, Any]:
        out = {k: _json_value(v) for k, v in asdict(self).items()}
        out["top_values"] = [{**t, "value": _special(t.get("value"))} for t in self.top_values]
        return out


@dataclass
class ProductProfile:
    """A product's profile: row count, one :class:`ColumnProfile` per column, and the SQL sent."""

    product: str
    source: str
    dialect: str
    rows: int
    columns: list[ColumnProfile]
    statements: list[str]
    seconds: float
    profiled_at: dt.datetime

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name or c.name.lower() == name.lower():
                return c
        raise NotFound(f"column '{name}' is not in the profile of {self.product or 'this port'}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product, "source": self.source, "dialect": self.dialect, "rows": self.rows,
            "columns": [c.to_dict() for c in self.columns], "statements": self.statements,
            "seconds": round(self.seconds, 6), "profiled_at": self.profiled_at.isoformat(),
        }

    def metrics(self) -> list[tuple[str, str, float]]:
        """(metric, column, value) of the numbers worth watching over time, for the monitor:
        ``profile.row_count/*`` and per column ``profile.null_pct``, ``profile.distinct`` and,
        for numeric columns, ``profile.mean`` and ``profile.stddev``."""
        out: list[tuple[str, str, float]] = [("profile.row_count", "*", float(self.rows))]
        for c in self.columns:
            candidates: list[tuple[str, Any]] = [("null_pct", c.null_pct), ("distinct", c.distinct)]
            if c.kind == "numeric":
                candidates += [("mean", c.mean), ("stddev", c.stddev)]
            out += [(f"profile.{name}", c.name, float(v)) for name, v in candidates
                    if v is not None and math.isfinite(float(v))]
        return out


def _special(value: Any) -> Any:
    """NaN and infinities as the strings JSON has no numbers for: "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# SQL in the source's dialect


class _SQL:
    """Statements over a port's relation, spelled by the source's dialect object
    (:mod:`meshfabric.connectors.dialects`); every statement is generated with RAISE."""

    def __init__(self, dialect_name: str) -> None:
        self.d = dialect(dialect_name)

    def gen(self, node: exp.Expression) -> str:
        return self.d.sql(node)

    @staticmethod
    def col(name: str) -> exp.Column:
        return exp.column(exp.to_identifier(name, quoted=True))

    @staticmethod
    def ident(name: str) -> exp.Identifier:
        return exp.to_identifier(name, quoted=True)

    def key(self, column: ColumnInfo, kind: str) -> exp.Expression:
        """What distinct counts and top values group by: strings byte-wise, identifiers as text."""
        ref = self.col(column.name)
        if kind == "string":
            return self.d.bytewise(ref)
        if kind == "identifier":
            return exp.cast(ref, exp.DataType.build("TEXT"))
        return ref

    def select(self, items: list[tuple[exp.Expression, str]], relation: str, *,
               where: exp.Expression | None = None, group: exp.Expression | None = None,
               order: list[exp.Expression] | None = None, limit: int | None = None) -> str:
        """``SELECT items FROM relation ...``: the relation is the connector's text for the port."""
        columns = ", ".join(self.gen(exp.Alias(this=e, alias=self.ident(a))) for e, a in items)
        parts = [f"SELECT {columns}", f"FROM {relation}"]
        if where is not None:
            parts.append("WHERE " + self.gen(where))
        if group is not None:
            parts.append("GROUP BY " + self.gen(group))
        if order:
            parts.append("ORDER BY " + ", ".join(self.gen(o) for o in order))
        if limit is not None:
            parts.append(f"LIMIT {int(limit)}")
        return " ".join(parts)


@dataclass
class _Col:
    info: ColumnInfo
    kind: str
    redacted: bool
    i: int

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"


def _plain(value: Any, col: _Col) -> Any:
    """A driver value as plain JSON-able Python: numbers as int/float, times as ISO text, bytes as text."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", errors="replace")
    if col.kind == "boolean":
        return bool(value) if not isinstance(value, str) else value.lower() in ("1", "t", "true")
    if col.kind == "numeric":
        if col.info.type.name in INTEGER_TYPES:
            try:
                return int(value)
            except (TypeError, ValueError):
                return _float(value)
        return _float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value if isinstance(value, int | float | str) else str(value)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


# ---------------------------------------------------------------------------------------------
# Profiling


def profile_port(
    connector: Connector,
    port: OutputPort,
    *,
    product: str = "",
    columns: Sequence[str] | None = None,
    top: int = TOP,
    quantiles: Sequence[float] = QUANTILES,
    pii: Sequence[str] = (),
    reveal: bool = False,
) -> ProductProfile:
    """Profile the columns of one output port in its source (all columns when ``columns`` is None).

    ``pii`` names columns whose values are withheld unless ``reveal``.
    """
    if top < 0:
        raise ConfigError("top must not be negative")
    qs = sorted({float(q) for q in quantiles})
    if any(not 0 <= q <= 1 for q in qs):
        raise ConfigError("quantiles must lie between 0 and 1")
    started = time.perf_counter()
    statements: list[str] = []

    def run(session: PortSession) -> tuple[int, list[ColumnProfile]]:
        def fetch(sql: str) -> list[tuple[Any, ...]]:
            statements.append(sql)
            return session.fetch(sql)

        cols = _choose(session.columns, columns, {p.lower() for p in pii}, reveal)
        return _profile(_SQL(session.dialect), session.relation, cols, fetch, top, qs)

    rows, profiles = connector.run_on_port(port, run)
    return ProductProfile(product, connector.name, connector.dialect, rows, profiles, statements,
                          time.perf_counter() - started, dt.datetime.now(dt.UTC))


def profile_sample(sample: pa.Table, columns: Sequence[ColumnInfo]) -> tuple[int, list[ColumnProfile]]:
    """Profile rows already read (a bounded sample, e.g. discovery's) with the statement
    :func:`profile_port` sends, run by a private single-threaded in-memory DuckDB over the Arrow
    table: counts, nulls, distinct values, lengths and means — no value (min, max, quantiles,
    top values) and no higher moments."""
    import duckdb

    from meshfabric.connectors.duckdb import fetch_rows

    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        con.register("_mf_sample", sample)
        cols = [_Col(c, kind_of(c.type.name), True, i) for i, c in enumerate(columns)]
        return _profile(_SQL("duckdb"), '"_mf_sample"', cols, lambda sql: fetch_rows(con, sql), 0, [],
                        moments=False)
    finally:
        con.close()


def profile_product(info: ProductInfo, connector: Connector, **options: Any) -> ProductProfile:
    """Profile a catalog product: the columns of its effective schema, pii ones withheld."""
    from meshfabric.spec.models import OutputPort

    port = OutputPort.model_validate(info.output)
    names = [c["name"] for c in info.columns] or None
    pii = [c["name"] for c in info.columns if "pii" in [str(t).lower() for t in c.get("classification") or []]]
    options.setdefault("columns", names)
    return profile_port(connector, port, product=info.fqn, pii=pii, **options)


def _choose(available: list[ColumnInfo], wanted: Sequence[str] | None, pii: set[str], reveal: bool) -> list[_Col]:
    from meshfabric.connectors.pushdown import UnknownColumn, resolve_columns

    by_name = {c.name: c for c in available}
    try:
        names = resolve_columns(list(wanted) if wanted is not None else None, by_name)
    except UnknownColumn as exc:
        raise NotFound(f"column '{exc.name}' is not in the source",
                       hint="columns: " + ", ".join(exc.available)) from None
    return [_Col(by_name[n], kind_of(by_name[n].type.name), n.lower() in pii and not reveal, i)
            for i, n in enumerate(names)]


def _profile(
    sql: _SQL, relation: str, cols: list[_Col], fetch: Callable[[str], list[tuple[Any, ...]]],
    top: int, qs: list[float], *, moments: bool = True,
) -> tuple[int, list[ColumnProfile]]:
    d = sql.d
    items: list[tuple[exp.Expression, str]] = [(exp.Count(this=exp.Star()), "n")]
    for c in cols:
        ref, p = sql.col(c.info.name), f"c{c.i}_"
        items.append((exp.Count(this=ref), p + "nn"))
        if c.kind != "other":
            items.append((exp.Count(this=exp.Distinct(expressions=[sql.key(c.info, c.kind)])), p + "nd"))
        finite = _finite(d, ref, c)
        if c.numeric:
            for which in ("nan", "posinf", "neginf"):
                special = d.nonfinite(ref.copy(), c.info, which)
                if special is not None:
                    items.append((exp.Count(this=exp.Case(ifs=[exp.If(this=special, true=exp.Literal.number(1))])),
                                  p + which))
        if c.kind in ("numeric", "temporal") and not c.redacted:
            items += [(exp.Min(this=finite), p + "min"), (exp.Max(this=finite.copy()), p + "max")]
        if c.kind == "string" and not c.redacted:
            key = d.bytewise(ref)
            items += [(exp.Min(this=key), p + "min"), (exp.Max(this=key), p + "max")]
        if c.numeric:
            items.append((exp.Avg(this=d.double(finite.copy())), p + "mean"))
            if d.quantile_in_scan and qs and not c.redacted:
                items.append((d.quantile(finite.copy(), qs), p + "q"))
        if c.kind == "string":
            length = d.length(ref)
            items += [(exp.Min(this=length), p + "lmin"), (exp.Max(this=length), p + "lmax"),
                      (exp.Avg(this=d.double(length)), p + "lmean")]
    names = [alias for _, alias in items]
    row = dict(zip(names, fetch(sql.select(items, relation))[0], strict=True))
    total = _int(row["n"])
    profiles = []
    for c in cols:
        p = f"c{c.i}_"
        count = _int(row[p + "nn"])
        prof = ColumnProfile(
            c.info.name, str(c.info.type), c.kind, count, total - count,
            round(100.0 * (total - count) / total, 6) if total else 0.0,
            redacted=c.redacted,
        )
        if p + "nd" in row:
            prof.distinct = _int(row[p + "nd"])
        if p + "min" in row:
            prof.min, prof.max = _plain(row[p + "min"], c), _plain(row[p + "max"], c)
        if c.numeric:
            for which in ("nan", "posinf", "neginf"):
                if p + which in row:
                    setattr(prof, f"{which}_count", _int(row[p + which]))
            prof.mean = _float(row[p + "mean"]) if prof.finite_count else None
            if p + "q" in row and row[p + "q"] is not None:
                prof.quantiles = {quantile_key(q): float(v) for q, v in zip(qs, row[p + "q"], strict=True)}
        if c.kind == "string" and count:
            prof.min_length, prof.max_length = _int(row[p + "lmin"]), _int(row[p + "lmax"])
            prof.mean_length = _float(row[p + "lmean"])
        profiles.append(prof)
    numeric = [(c, prof) for c, prof in zip(cols, profiles, strict=True)
               if c.numeric and prof.finite_count and prof.mean is not None and math.isfinite(prof.mean)]
    if numeric and moments:
        _moments(sql, relation, numeric, fetch)
    if not d.quantile_in_scan and qs:
        for c, prof in numeric:
            if not c.redacted:
                prof.quantiles = _ranked_quantiles(sql, relation, c, prof.finite_count, qs, fetch)
    if top:
        for c, prof in zip(cols, profiles, strict=True):
            if c.kind != "other" and not c.redacted and prof.count:
                prof.top_values = _top_values(sql, relation, c, top, fetch)
    return total, profiles


def _moments(sql: _SQL, relation: str, numeric: list[tuple[_Col, ColumnProfile]],
             fetch: Callable[[str], list[tuple[Any, ...]]]) -> None:
    """Central moment sums in one scan; stddev, skewness and kurtosis from them (see the module notes)."""
    inner: list[tuple[exp.Expression, str]] = []
    outer: list[tuple[exp.Expression, str]] = []
    for c, prof in numeric:
        d = f"d{c.i}"
        shift = float(prof.mean or 0.0)
        value = sql.d.double(_finite(sql.d, sql.col(c.info.name), c))
        # x + 3.5 rather than x - -3.5: "--" starts a comment in PostgreSQL and SQLite
        magnitude = exp.Literal.number(repr(abs(shift)))
        centred = exp.Add(this=value, expression=magnitude) if shift < 0 else exp.Sub(this=value, expression=magnitude)
        inner.append((centred, d))
        outer += [(exp.Sum(this=_power(sql.col(d), k)), f"{d}_{k}") for k in range(1, 5)]
    derived = f"({sql.select(inner, relation)}) AS {sql.gen(sql.ident('_mf_dev'))}"
    row = fetch(sql.select(outer, derived))[0]
    for n, (_, prof) in enumerate(numeric):
        s1, s2, s3, s4 = (_float(v) or 0.0 for v in row[4 * n : 4 * n + 4])
        _finish_moments(prof, prof.finite_count, float(prof.mean or 0.0), s1, s2, s3, s4)


def _finite(d: Any, ref: exp.Expression, c: _Col) -> exp.Expression:
    """``CASE WHEN ref is finite THEN ref END`` for a column that may hold NaN or ±∞, so that
    aggregates describe the finite values; ``ref`` itself otherwise."""
    finite = d.finite(ref.copy(), c.info) if c.numeric else None
    return ref.copy() if finite is None else exp.Case(ifs=[exp.If(this=finite, true=ref.copy())])


def _power(ref: exp.Expression, k: int) -> exp.Expression:
    """``ref * ref * … `` (k factors), portable where POWER() is not (SQLite has none)."""
    node = ref.copy()
    for _ in range(k - 1):
        node = exp.Mul(this=node, expression=ref.copy())
    return node


def _finish_moments(prof: ColumnProfile, n: int, shift: float, s1: float, s2: float, s3: float, s4: float) -> None:
    """From sums of powers of d = x − shift to mean, sample stddev, G1 and G2."""
    m = s1 / n
    c2 = s2 - n * m * m  # variance_from_shifted_sums in meshfabric.quality.compile, the same shift
    c3 = s3 - 3 * m * s2 + 2 * n * m**3
    c4 = s4 - 4 * m * s3 + 6 * m * m * s2 - 3 * n * m**4
    prof.mean = shift + m
    if n < 2:
        return
    variance = max(c2, 0.0) / (n - 1)
    stddev = math.sqrt(variance)
    if stddev <= 1e-12 * max(1.0, abs(prof.mean)):
        prof.stddev = 0.0  # all values equal: skewness and kurtosis are undefined
        return
    prof.stddev = stddev
    m2, m3, m4 = c2 / n, c3 / n, c4 / n
    if n >= 3:
        g1 = m3 / m2**1.5
        prof.skewness = g1 * math.sqrt(n * (n - 1)) / (n - 2)
    if n >= 4:
        g2 = m4 / (m2 * m2) - 3.0
        prof.kurtosis = ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))


def _ranked_quantiles(sql: _SQL, relation: str, c: _Col, count: int, qs: list[float],
                      fetch: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, float]:
    """Exact quantiles from the order statistics around h = (count − 1)·q (module notes, step 3)."""
    positions = {}
    for q in qs:
        h = (count - 1) * q
        positions[q] = (math.floor(h), math.ceil(h), h - math.floor(h))
    ranks = sorted({r + 1 for lo, hi, _ in positions.values() for r in (lo, hi)})
    ref = sql.col(c.info.name)
    window = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[exp.Ordered(this=ref)]))
    where: exp.Expression = exp.Not(this=exp.Is(this=ref.copy(), expression=exp.Null()))
    finite = sql.d.finite(ref.copy(), c.info)
    if finite is not None:
        where = exp.and_(where, finite)
    inner = sql.select([(sql.d.double(ref), "v"), (window, "rn")], relation, where=where)
    outer = sql.select(
        [(sql.col("rn"), "rn"), (sql.col("v"), "v")], f"({inner}) AS {sql.gen(sql.ident('_mf_ranked'))}",
        where=exp.In(this=sql.col("rn"), expressions=[exp.Literal.number(r) for r in ranks]),
    )
    values = {int(rn): float(v) for rn, v in fetch(outer)}
    out = {}
    for q, (lo, hi, frac) in positions.items():
        low, high = values[lo + 1], values[hi + 1]
        out[quantile_key(q)] = low + (high - low) * frac
    return out


def _top_values(sql: _SQL, relation: str, c: _Col, top: int,
                fetch: Callable[[str], list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """The ``top`` most frequent non-null values, ties broken by value (byte order for strings)."""
    key = sql.key(c.info, c.kind)
    # aliases no source column is likely to share: ORDER BY must see these, not a real column
    statement = sql.select(
        [(key, "_mf_value"), (exp.Count(this=exp.Star()), "_mf_count")], relation,
        where=exp.Not(this=exp.Is(this=sql.col(c.info.name), expression=exp.Null())),
        group=key.copy(),
        order=[exp.Ordered(this=sql.col("_mf_count"), desc=True), exp.Ordered(this=sql.col("_mf_value"))],
        limit=top,
    )
    return [{"value": _plain(v, c), "count": int(n)} for v, n in fetch(statement)]
