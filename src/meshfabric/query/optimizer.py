"""Cost-based choices over a plan: where each scan runs, and which scans wait for another's keys.

The planner (:mod:`meshfabric.query.planner`) decides *what* each scan reads; this module decides
*how*, from the products' statistics (:meth:`ProductCatalog.statistics`, row counts and per-column
distinct counts, null fractions, min/max) and, where a product has none, from fixed defaults.
Every choice only changes how many rows move, never the answer: the engine runs the whole query
again over what the scans return.

Two choices are made here.

**Placement.** A scan of a source the engine's DuckDB can read itself (files on its own disk:
:attr:`Connector.reads_in_place`) runs in the engine, where the data lies — DuckDB's reader
prunes row groups, reads in parallel and streams into the join, and nothing crosses a network.
A scan of a secured product with a row filter or a hash salt is always read by its connector
and loaded through the policy first (see :func:`meshfabric.query.engine.load_secured`).

**Dynamic filters** (semi-join reduction, as Trino's dynamic filtering). When the query equates a
column of one scan with a column of another — directly or through a chain of equalities, in
conjuncts that hold for every row of both — the scan expected to return fewer keys runs first,
and its distinct keys are sent to the other's source as ``column IN (...)`` (a key range when
there are too many). A filter is added only where the estimated reduction pays for the wait;
scans are ordered by their estimated rows, and a scan takes keys only from scans before it, so
the dependencies never form a cycle.

>>> from sqlglot import parse_one
>>> round(selectivity(parse_one("a = 1 AND b < 5"), None), 4)
0.0167
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnStatistics, TableStatistics
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.planner import Scan

#: rows assumed for a product without statistics
DEFAULT_ROWS = 1_000_000.0
#: selectivity of ``column = literal`` when the column's distinct count is unknown
DEFAULT_EQ = 0.05
DEFAULT_RANGE = 1 / 3
DEFAULT_LIKE = 0.1
DEFAULT_OTHER = 0.5

#: a scan expected to return fewer rows than this waits for keys only from a scan expected to
#: return at most SMALL_PRODUCER_ROWS (both are quick; its fewer keys then shrink a big scan:
#: region -> nation -> customer -> orders). Its own time hardly changes by waiting — whether
#: it waits is decided by what its keys then save downstream (TPC-H Q11: 10,000 suppliers,
#: 400 of one nation, whose keys keep 4 % of 800,000 partsupp rows)
MIN_CONSUMER_ROWS = 20_000.0
SMALL_PRODUCER_ROWS = 1_000.0
#: a dynamic filter is planned only when it is expected to keep at most this share of the rows
MAX_KEEP = 0.5
#: at run time, key sets up to this size are sent as ``IN (...)``; larger ones as a key range
MAX_KEYS = {"integer": 100_000, "date": 10_000, "string": 10_000}
#: planned only when the producer is expected to return at most this many keys, and no more than
#: its kind's MAX_KEYS (a range of a bigger set rarely reduces anything, and the wait is lost:
#: TPC-H Q12 at SF5 waited for 150,000 order keys, then read all 7.5M orders)
MAX_PLANNED_KEYS = 150_000.0
#: integer keys a source taking them as one array literal (PostgreSQL's ``= ANY(...)``) is sent
#: as a list, and planned for: parsed as one constant, 300,000 keys cost PostgreSQL 0.65-0.79 s
#: over 1.5M orders where an IN list cost 1.1-1.2 s
ARRAY_MAX_KEYS = 1_000_000


def key_cap(kind: str, arrays: bool = False) -> int:
    """The most keys of ``kind`` sent as a list to a consumer (``arrays``: its source takes an
    integer key set as one array literal); beyond it, their range.

    >>> key_cap("integer"), key_cap("integer", arrays=True), key_cap("string", arrays=True)
    (100000, 1000000, 10000)
    """
    return ARRAY_MAX_KEYS if arrays and kind == "integer" else MAX_KEYS.get(kind, 0)

#: the share of a scan's rows an uncorrelated ``IN (subquery)`` is assumed to keep (no estimate
#: of a subquery's result is made yet)
SUBQUERY_KEEP = 0.01

_INTEGER = frozenset({"tinyint", "smallint", "integer", "bigint"})


@dataclass(frozen=True)
class DynamicFilter:
    """``column`` of the consuming scan takes the distinct values of ``producer_column`` of
    scan ``producer`` (real column names of each product), keys of ``kind`` (integer, string,
    date); ``keep`` is the share of the consumer's rows the planner expected it to keep."""

    column: str
    producer: str
    producer_column: str
    kind: str
    keep: float = 1.0
    #: the engine's SQL of an uncorrelated ``IN (subquery)`` whose result gives the keys, run
    #: first in a hardened session of its own (it reads only scans the engine reads in place)
    subquery: str | None = None
    #: the producer's filters only the engine can apply (DuckDB SQL over its columns): its keys
    #: are taken after them (Q9's parts named '%green%', which MariaDB cannot compare exactly)
    where: str | None = None
    #: why it was chosen: the seconds expected waiting for the keys and without them (None for
    #: a small scan that waits to pass its keys on, and for subquery keys)
    seconds: tuple[float, float] | None = None
    #: the number the planner gave the ``IN (subquery)`` conjunct these keys answer: the engine
    #: reads the keys instead of running the subquery a second time
    in_tag: int | None = None
    #: the most keys sent as a list (:func:`key_cap` for the consumer's source); more: their range
    cap: int | None = None

    @property
    def max_keys(self) -> int:
        return self.cap if self.cap is not None else key_cap(self.kind)

    def describe(self) -> str:
        if self.subquery is not None:
            return f"{self.column} IN (the keys its IN subquery returns, run first in the engine)"
        text = f"{self.column} IN (keys of {self.producer}.{self.producer_column}, expected to keep {self.keep:.1%}"
        if self.seconds is not None:
            text += f"; ~{self.seconds[0]:.3f} s with the wait against ~{self.seconds[1]:.3f} s without"
        return text + ")"


# -- estimates -----------------------------------------------------------------------------------
def column_stats(stats: TableStatistics | None, column: str) -> ColumnStatistics | None:
    if stats is None:
        return None
    found = stats.columns.get(column)
    if found is None:
        lowered = column.lower()
        found = next((c for n, c in stats.columns.items() if n.lower() == lowered), None)
    return found


def table_rows(stats: TableStatistics | None) -> float:
    if stats is None or stats.row_count is None or stats.row_count < 0:
        return DEFAULT_ROWS
    return float(max(stats.row_count, 1))


def distinct(stats: TableStatistics | None, column: str, rows: float | None = None) -> float:
    """Distinct non-null values of ``column`` among ``rows`` rows (the whole table by default)."""
    total = table_rows(stats)
    rows = total if rows is None else rows
    col = column_stats(stats, column)
    if col is None or col.distinct is None or col.distinct <= 0:
        return max(rows, 1.0)
    d = float(col.distinct)
    if rows >= total:
        return max(min(d, rows), 1.0)
    # values surviving a random sample of rows/total of the rows (each value equally frequent)
    per_value = total / d
    return max(min(d, d * (1.0 - (1.0 - rows / total) ** per_value)), 1.0)


def selectivity(predicate: exp.Expression, stats: TableStatistics | None) -> float:
    """The share of rows ``predicate`` (over unqualified columns) is expected to keep."""
    node = predicate
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return selectivity(node.left, stats) * selectivity(node.right, stats)
    if isinstance(node, exp.Or):
        a, b = selectivity(node.left, stats), selectivity(node.right, stats)
        return min(1.0, a + b - a * b)
    if isinstance(node, exp.Not):
        return max(0.0, 1.0 - selectivity(node.this, stats))
    column = _column_of(node)
    col = column_stats(stats, column) if column else None
    eq = _eq(stats, column) if column else DEFAULT_EQ
    if isinstance(node, exp.EQ):
        other = node.expression if isinstance(node.this, exp.Column) else node.this
        return DEFAULT_RANGE if isinstance(other, exp.Column) else eq
    if isinstance(node, exp.NEQ):
        return 1.0 - eq
    if isinstance(node, exp.In):
        items = node.expressions
        if len(items) == 1 and type(items[0]).__name__ == "KeyRef":
            return min(1.0, len(items[0].meta["keys"].values) * eq)
        return min(1.0, max(len(items), 1) * eq)
    if isinstance(node, exp.Is):
        if col is not None and col.null_fraction is not None:
            return col.null_fraction
        return DEFAULT_EQ
    if isinstance(node, exp.Like):
        return DEFAULT_LIKE
    if isinstance(node, exp.Between):
        return _range(col, _literal(node.args.get("low")), _literal(node.args.get("high")))
    bound = _bound(node)
    if bound is not None:
        _, low, high = bound
        return _range(col, low, high)
    if isinstance(node, exp.LT | exp.LTE | exp.GT | exp.GTE):
        return DEFAULT_RANGE  # two columns, or an expression
    return DEFAULT_OTHER


def _bound(node: exp.Expression) -> tuple[str, float | None, float | None] | None:
    """``column < literal`` and its kin as (column, low, high), else None."""
    if not isinstance(node, exp.LT | exp.LTE | exp.GT | exp.GTE):
        return None
    flipped = not isinstance(node.this, exp.Column)
    column, other = (node.expression, node.this) if flipped else (node.this, node.expression)
    if not isinstance(column, exp.Column):
        return None
    value = _literal(other)
    if value is None:
        return None
    below = isinstance(node, exp.LT | exp.LTE) != flipped
    return (column.name, None, value) if below else (column.name, value, None)


def _eq(stats: TableStatistics | None, column: str | None) -> float:
    col = column_stats(stats, column) if column else None
    if col is None or not col.distinct:
        return DEFAULT_EQ
    return min(1.0, 1.0 / float(col.distinct))


def _column_of(node: exp.Expression) -> str | None:
    for key in ("this", "expression"):
        side = node.args.get(key)
        if isinstance(side, exp.Column):
            return side.name
    return None


def _literal(node: Any) -> float | None:
    """A comparable number for a literal: numbers as they are, dates as ordinal days."""
    import datetime as dt

    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Literal):
        if not node.is_string:
            try:
                return float(node.this)
            except ValueError:
                return None
        try:
            return float(dt.date.fromisoformat(str(node.this)[:10]).toordinal())
        except ValueError:
            return None
    if isinstance(node, exp.Cast):
        return _literal(node.this)
    if isinstance(node, exp.Neg):
        inner = _literal(node.this)
        return -inner if inner is not None else None
    return None


def _number(value: Any) -> float | None:
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return float(value.date().toordinal())
    if isinstance(value, dt.date):
        return float(value.toordinal())
    return None


def _range(col: ColumnStatistics | None, low: float | None, high: float | None) -> float:
    """The share of values in [low, high] by linear interpolation over the column's min/max."""
    if col is None:
        return DEFAULT_RANGE if (low is None) != (high is None) else DEFAULT_RANGE / 1.5
    lo, hi = _number(col.min), _number(col.max)
    if lo is None or hi is None or hi <= lo:
        return DEFAULT_RANGE
    a = lo if low is None else max(lo, low)
    b = hi if high is None else min(hi, high)
    share = (b - a) / (hi - lo) if b > a else 0.0
    return min(1.0, max(share, 1.0 / max(float(col.distinct or 1000.0), 1.0)))


def estimate_rows(scan: Scan, stats: TableStatistics | None) -> float:
    """Rows a scan is expected to return: the table's rows times every filter's selectivity."""
    rows = table_rows(stats)
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for predicate in (*scan.filters, *scan.kept):
        bound = _bound(predicate)
        if bound is None:
            rows *= selectivity(predicate, stats)
            continue
        # the bounds of one column combine into one range (not two independent halves)
        low, high = ranges.get(bound[0], (None, None))
        if bound[1] is not None:
            low = bound[1] if low is None else max(low, bound[1])
        if bound[2] is not None:
            high = bound[2] if high is None else min(high, bound[2])
        ranges[bound[0]] = (low, high)
    for column, (low, high) in ranges.items():
        rows *= _range(column_stats(stats, column), low, high)
    if scan.limit is not None:
        rows = min(rows, float(scan.limit))
    return max(rows, 1.0)


# -- the choices -----------------------------------------------------------------------------------
def key_kind(type_name: str) -> str | None:
    """The kind of keys a column of this logical type gives, or None when it gives none."""
    if type_name in _INTEGER:
        return "integer"
    if type_name in ("string", "date"):
        return {"string": "string", "date": "date"}[type_name]
    return None


# -- costs: compute where it runs, bytes over the link ------------------------------------------
@dataclass(frozen=True)
class Link:
    """The link between the engine and a source: bytes per second it delivers into the engine
    (driver and conversion included) and the round trip of one statement."""

    bytes_per_second: float
    latency: float
    #: "configured" (mesh.yaml ``network``), "measured" (this process's recent scans) or "default"
    origin: str = "default"


#: a source on the same machine read through its driver into Arrow: bytes cost little next to the
#: per-row work of the driver and the conversion (ROW_SECONDS)
DEFAULT_LINK = Link(200e6, 0.002)
#: seconds each row costs a source scan besides its bytes (measured on this 2-core machine:
#: PostgreSQL and MariaDB scans into Arrow took 0.6-5 µs per row, ~1.5 µs typically)
ROW_SECONDS = 1.5e-6
#: rows per second the engine's DuckDB scans from files read in place
ENGINE_ROWS_PER_SECOND = 50e6
#: seconds one key costs in a dynamic filter: rendering, sending, and the source parsing it
KEY_SECONDS = 2e-6
#: a dynamic filter is chosen when it is expected to take at most this share of the time without
WORTH = 0.9

_OBSERVED: dict[str, tuple[float, float]] = {}  # source key -> (bytes/s, latency s), smoothed


def _source_key(connector: Any) -> str:
    spec = connector.spec
    return f"{connector.kind}:{connector.name}:{spec.url or spec.host or spec.path or ''}"


def observe_scan(connector: Any, nbytes: int, seconds: float, rows: int) -> None:
    """Fold one finished scan into the source's measured link: big scans measure throughput,
    small ones the round trip. Smoothed toward the better value: a slower observation moves the
    estimate by 30 %, a faster one replaces it — a scan's time also holds the source's own work
    and, for the first scans, opening connections, so the best of recent scans is the link's."""
    if seconds <= 0:
        return
    key = _source_key(connector)
    seen = _OBSERVED.get(key)
    rate, latency = seen or (None, None)
    transfer = seconds - rows * ROW_SECONDS
    if nbytes >= 1 << 20 and transfer > 0:
        measured = nbytes / transfer
        rate = measured if rate is None else max(measured, 0.7 * rate + 0.3 * measured)
    elif rows <= 1000:
        latency = seconds if latency is None else min(seconds, 0.7 * latency + 0.3 * seconds)
    if rate is None and latency is None:
        return
    _OBSERVED[key] = (rate or DEFAULT_LINK.bytes_per_second, DEFAULT_LINK.latency if latency is None else latency)


def link_of(connector: Any) -> Link:
    """The source's link: configured values first, then what its scans measured, then defaults."""
    network = getattr(connector.spec, "network", None)
    seen = _OBSERVED.get(_source_key(connector))
    rate, latency, origin = DEFAULT_LINK.bytes_per_second, DEFAULT_LINK.latency, "default"
    if seen is not None:
        rate, latency, origin = seen[0], seen[1], "measured"
    if network is not None and network.bandwidth_mbps:
        rate, origin = network.bandwidth_mbps * 1e6 / 8, "configured"
    if network is not None and network.latency_ms is not None:
        latency, origin = network.latency_ms / 1000, "configured"
    return Link(rate, latency, origin)


#: bytes a value of each logical type takes in Arrow when a source's statistics do not say
_WIDTHS = {"boolean": 1, "tinyint": 1, "smallint": 2, "integer": 4, "bigint": 8, "double": 8, "float": 4,
           "date": 4, "timestamp": 8, "timestamptz": 8, "decimal": 16, "string": 24}


def row_width(scan: Scan, stats: TableStatistics | None) -> float:
    """Bytes one row of the scan takes: the source's average widths, else per type."""
    types = {c.name: c.type.name for c in scan.binding.columns}
    width = 0.0
    for name in scan.columns:
        col = column_stats(stats, name)
        width += float(col.avg_width) if col is not None and col.avg_width else _WIDTHS.get(types.get(name, ""), 16)
    return max(width, 1.0)


@dataclass(frozen=True)
class ScanCost:
    """What a scan costs to wait for: over its source's link, or in the engine where it lies."""

    link: Link | None  # None: read in place by the engine
    width: float
    table_rows: float

    def seconds(self, rows: float) -> float:
        if self.link is None:
            return self.table_rows / ENGINE_ROWS_PER_SECOND
        return self.link.latency + rows * (ROW_SECONDS + self.width / self.link.bytes_per_second)


def semi_join_keep(keys: float, producer: TableStatistics | None, producer_column: str,
                   consumer: TableStatistics | None, column: str) -> float:
    """The share of the consumer's rows whose ``column`` is among ``keys`` values of the
    producer's column, assuming the smaller domain is contained in the larger (a foreign key in
    its key): keys over the larger of the two columns' distinct counts — the producer's own
    (all of its rows) when the consumer's is unknown.

    >>> semi_join_keep(25, None, "n", None, "s")   # no statistics: 25 of a million values
    2.5e-05
    """
    domain = distinct(producer, producer_column)
    col = column_stats(consumer, column)
    if col is not None and col.distinct:
        domain = max(domain, float(col.distinct))
    return min(1.0, keys / max(domain, 1.0))


Side = tuple[int, str]
"""A column of one product reference: (instance number in the query, real column name)."""


class _Classes:
    """Union-find over the columns of product references."""

    def __init__(self) -> None:
        self.parent: dict[Side, Side] = {}

    def find(self, x: Side) -> Side:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Side, b: Side) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def members(self) -> dict[Side, list[Side]]:
        out: dict[Side, list[Side]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return out


def plan_dynamic_filters(
    scans: Sequence[Scan],
    mutual: Sequence[tuple[Side, Side]],
    directed: Sequence[tuple[Side, Side]],
    estimates: Mapping[str, float],
    stats: Mapping[str, TableStatistics | None],
    *,
    consumers: set[str],
    costs: Mapping[str, ScanCost] | None = None,
    arrays: set[str] | None = None,
) -> dict[str, tuple[DynamicFilter, ...]]:
    """Which scans wait for which keys.

    ``mutual`` pairs columns of two product references that are equal on every row of both that
    can reach the result (they chain: a = b and b = c relate a and c); ``directed`` pairs
    (consumer side, producer side) where only the consumer's rows are bound — a correlated
    subquery's ``inner.y = outer.x``: every inner row that counts has a value among the outer
    rows'. ``consumers`` are the scans that may wait (read by their source, no row filter, salt or
    LIMIT); ``estimates`` the rows each scan is expected to return; ``costs`` each scan's link and
    row width (without them every source is on :data:`DEFAULT_LINK` with 16-byte rows);
    ``arrays`` the scans whose source takes integer keys as one array (:func:`key_cap`).

    A scan expected to return at least :data:`MIN_CONSUMER_ROWS` waits for keys when the time it
    is then expected to take — the producer's (if it is read in place: scanning its table in the
    engine), the keys sent, and the rows kept over its own link — is at most :data:`WORTH` of the
    time it takes without: a slow link makes a smaller reduction worth the wait.

    A scan serving several references (one product read alike in a query and its subquery) takes
    a producer's keys only when *every* reference it serves is related to a reference that
    producer serves: the producer returns the same rows for all of its references, so its keys
    cover each of them.

    >>> from types import SimpleNamespace as S
    >>> cols = [S(name="k", type=S(name="integer"))]
    >>> small, big = S(name="a", instances=(0,), kept=(), binding=S(columns=cols)), \
S(name="b", instances=(1,), kept=(), binding=S(columns=cols))
    >>> chosen = plan_dynamic_filters([small, big], [((0, "k"), (1, "k"))], [], {"a": 100.0, "b": 1e6},
    ...                               {"a": None, "b": None}, consumers={"b"})
    >>> chosen["b"][0].describe()
    'k IN (keys of a.k, expected to keep 0.0%; ~0.005 s with the wait against ~1.582 s without)'
    """
    by_name = {s.name: s for s in scans}
    scan_of = {i: s.name for s in scans for i in s.instances}
    types = {s.name: {c.name: c.type.name for c in s.binding.columns} for s in scans}

    def kind(side: Side) -> str | None:
        name = scan_of.get(side[0])
        return key_kind(types[name].get(side[1], "")) if name is not None else None

    classes = _Classes()
    for left, right in mutual:
        if kind(left) is not None and kind(left) == kind(right):
            classes.union(left, right)
    related: dict[Side, set[Side]] = {}
    for members in classes.members().values():
        for member in members:
            related.setdefault(member, set()).update(m for m in members if m != member)
    for consumer, producer in directed:
        if kind(consumer) is not None and kind(consumer) == kind(producer):
            related.setdefault(consumer, set()).add(producer)
            related[consumer].update(related.get(producer, set()))
    if not related:
        return {}
    rows = dict(estimates)
    order = sorted(by_name, key=lambda n: (rows.get(n, DEFAULT_ROWS), n))
    position = {n: i for i, n in enumerate(order)}
    chosen: dict[str, list[DynamicFilter]] = {}
    for name in order:
        scan = by_name[name]
        if name not in consumers:
            continue
        small = rows.get(name, DEFAULT_ROWS) < MIN_CONSUMER_ROWS
        # a scan reading one product for several references filters on keys covering them all; a
        # join pushed into the source filters each member on its own columns
        owners = [(i,) for i in scan.instances] if getattr(scan, "joined", ()) else [tuple(scan.instances)]
        for served, first, column in sorted({(g, g[0], col) for g in owners for inst, col in related if inst == g[0]}):
            best: tuple[float, str, str] | None = None
            for inst, col in related[(first, column)]:
                producer = scan_of.get(inst)
                if producer is None or producer == name or position[producer] > position[name]:
                    continue
                if small and rows.get(producer, DEFAULT_ROWS) > SMALL_PRODUCER_ROWS:
                    continue  # a small scan waits only on another small one: its keys may shrink a big one later
                serves = set(by_name[producer].instances)
                if not all(any(j in serves and c == col for j, c in related.get((i, column), ()))
                           for i in served):
                    continue
                keys = distinct(stats.get(producer), col, rows.get(producer, DEFAULT_ROWS))
                if best is None or keys < best[0]:
                    best = (keys, producer, col)
            kind_of = key_kind(types[name].get(column, "")) or "integer"
            cap = key_cap(kind_of, name in (arrays or ()))
            # an array carries its keys whole; an IN list up to MAX_PLANNED_KEYS of them
            planned = float(cap) if cap > MAX_KEYS.get(kind_of, 0) else min(MAX_PLANNED_KEYS, float(cap))
            if best is None or best[0] > planned:
                continue  # more keys than a list carries: the range sent instead rarely cuts anything
            keep = semi_join_keep(best[0], stats.get(best[1]), best[2], stats.get(name), column)
            if small:
                if keep > MAX_KEEP:
                    continue
            else:
                mine = (costs or {}).get(name) or ScanCost(DEFAULT_LINK, 16.0, DEFAULT_ROWS)
                theirs = (costs or {}).get(best[1]) or ScanCost(DEFAULT_LINK, 16.0, DEFAULT_ROWS)
                here = rows.get(name, DEFAULT_ROWS)
                without = mine.seconds(here)
                waited = theirs.seconds(rows.get(best[1], DEFAULT_ROWS)) + best[0] * KEY_SECONDS + mine.seconds(
                    here * keep)
                if waited > WORTH * without:
                    continue
            kept = by_name[best[1]].kept
            where = " AND ".join(f"({k.sql(dialect='duckdb')})" for k in kept) if kept else None
            chosen.setdefault(name, []).append(
                DynamicFilter(column, best[1], best[2], key_kind(types[name][column]) or "integer", keep, where=where,
                              seconds=None if small else (waited, without), cap=cap))
            rows[name] = max(rows.get(name, DEFAULT_ROWS) * keep, 1.0)
    # a small scan waits only when its keys go on to a big one (region -> nation -> customer)
    wanted = {n for n in chosen if estimates.get(n, DEFAULT_ROWS) >= MIN_CONSUMER_ROWS}
    grew = True
    while grew:
        feeding = {f.producer for n in wanted for f in chosen[n]} & set(chosen)
        grew = not feeding <= wanted
        wanted |= feeding
    return {k: tuple(v) for k, v in chosen.items() if k in wanted}


def statistics_of(scans: Sequence[Scan], catalog: ProductCatalog) -> dict[str, TableStatistics | None]:
    """Each scan's product statistics, None where the catalog has none (never raises)."""
    found: dict[str, TableStatistics | None] = {}
    lookup = getattr(catalog, "statistics", None)
    for scan in scans:
        try:
            found[scan.name] = lookup(scan.binding) if lookup is not None else None
        except Exception:  # statistics only steer plans: a failure must not fail a query
            found[scan.name] = None
    return found
