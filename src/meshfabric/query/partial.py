"""Partial (eager) aggregation: a grouped SELECT that joins products of several sources has one
of them grouped in its own source first, by the columns the rest of the query needs of it, and
the engine joins and finishes the aggregation over those partial groups.

``SELECT c.segment, sum(o.total) AS revenue, count(*) AS n FROM sales.orders o JOIN
files.customer c ON o.custkey = c.custkey GROUP BY c.segment`` read product by product moves
every order into the engine. PostgreSQL can instead return one row per customer key —
``SELECT custkey, count(*), sum(total) FROM orders GROUP BY custkey`` — and the engine sums the
partial counts and sums per segment. When customers hold ten orders each, a tenth of the rows
move.

The rewrite is correct because each partial row stands for a set of rows of the product that
agree on every column the rest of the query reads of it (the keys, ``K``): they join the same
rows of the other products, fall into the same final group and pass or fail the same
conditions. So the final aggregate over the joined partials equals the aggregate over the
joined rows whenever it decomposes:

* ``count(*)`` → ``sum`` of the partial counts, ``count(x)`` → ``sum`` of partial ``count(x)``
  (``coalesce``-d to 0, cast BIGINT);
* ``sum(x)`` of an integer or decimal column → ``sum`` of partial sums, cast to DuckDB's type
  (HUGEINT, DECIMAL(38, s)) — never a floating-point sum, whose rounding depends on the order;
* ``min``/``max`` → ``min``/``max`` of the partials (the column's order must be DuckDB's);
* an aggregate that ignores duplicates (``min``, ``max``, ``count(DISTINCT …)``) over the other
  products' columns, or over key columns, is kept as it is;
* anything else that reads the product — ``avg``, ``count(DISTINCT x)`` of a non-key column,
  an aggregate of an expression, a duplicate-sensitive aggregate of another product — keeps the
  whole SELECT in the engine.

Only where nothing else can differ: the product is not null-supplied by an outer join (inner
joins, or it is on a LEFT JOIN's preserved side); no RIGHT/FULL/SEMI/ANTI/USING join, no
subquery, window, FILTER, DISTINCT or grouping set in the SELECT; a condition over the product
alone leaves the engine only when its source evaluates it exactly
(:func:`meshfabric.connectors.pushdown.prepare_predicate`), the keys compare in the source as in
DuckDB (no case-blind collation, :mod:`meshfabric.query.aggregates`' rules), and the product is
an unsecured plain read — a masked or row-filtered product is never aggregated in its source.

>>> import sqlglot
>>> from meshfabric.types import LogicalType
>>> q = sqlglot.parse_one(
...     "SELECT c.segment, sum(o.total) AS revenue, count(*) AS n FROM s0 AS o JOIN s1 AS c "
...     "ON o.custkey = c.custkey WHERE o.status = 'F' AND c.nation < 5 GROUP BY c.segment", read="duckdb")
>>> types = {"custkey": LogicalType("bigint"), "total": LogicalType("decimal", 15, 2),
...          "status": LogicalType("string")}
>>> d = decompose(q, "o", {"o": set(types), "c": {"custkey", "segment", "nation"}}, types,
...               exact=lambda column, ordering: True, pushable=lambda conjunct: True)
>>> d.keys, [p.sql() for p in d.partials], [c.sql() for c in d.pushed]
(('custkey',), ['SUM(o.total)', 'COUNT(*)'], ["o.status = 'F'"])
>>> print(d.engine.sql(dialect="duckdb"))
SELECT c.segment, CAST(SUM(CAST(o.mf_partial_0 AS DECIMAL(38, 2))) AS DECIMAL(38, 2)) AS revenue, \
CAST(COALESCE(SUM(CAST(o.mf_partial_1 AS BIGINT)), 0) AS BIGINT) AS n FROM s0 AS o JOIN s1 AS c \
ON o.custkey = c.custkey WHERE c.nation < 5 GROUP BY c.segment
>>> def to_source(node):  # what the source's translator does, here: columns of t0, quoted
...     node = node.copy()
...     for c in node.find_all(exp.Column):
...         c.replace(exp.column(c.name, table="t0", quoted=True))
...     return node
>>> print(partial_statement('"public"."orders"', d, {"custkey": "custkey"}, "postgres", to_source))
SELECT "t0"."custkey" AS "custkey", SUM("t0"."total") AS "mf_partial_0", COUNT(*) AS "mf_partial_1" \
FROM "public"."orders" AS "t0" WHERE "t0"."status" = 'F' GROUP BY "t0"."custkey"

A float sum, a ``count(DISTINCT)`` of a column not among the keys, or the product on the
null-supplied side of a LEFT JOIN keeps the SELECT whole:

>>> bad = ["SELECT c.segment, sum(o.price) AS s FROM s0 AS o JOIN s1 AS c ON o.custkey = c.custkey GROUP BY 1",
...        "SELECT c.segment, count(DISTINCT o.status) AS s FROM s0 AS o JOIN s1 AS c ON o.custkey = c.custkey "
...        "GROUP BY 1",
...        "SELECT c.segment, count(*) AS s FROM s1 AS c LEFT JOIN s0 AS o ON o.custkey = c.custkey GROUP BY 1"]
>>> types["price"] = LogicalType("double")
>>> [decompose(sqlglot.parse_one(s, read="duckdb"), "o", {"o": set(types), "c": {"custkey", "segment"}},
...            types, exact=lambda c, o: True, pushable=lambda c: True) for s in bad]
[None, None, None]
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlglot import exp

from meshfabric.query.aggregates import _INTEGERS, _duckdb_type, _Member, _Translator, _Untranslatable
from meshfabric.query.joins import _aliased, _plain, _qualify, _sql_port, take_references

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnInfo
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.planner import Scan
    from meshfabric.types import LogicalType

#: a partial aggregation is considered only when the groups it is expected to move are at most
#: this share of the rows its product would move without it (statistics are estimates: a rewrite
#: that saves less than half the rows is not worth the risk of a wrong distinct count) …
PARTIAL_WORTH = 0.5
#: … and chosen when its expected seconds — the source grouping every row, then the groups over
#: the link — are at most this share of reading the rows (the same margin as a pushed join's,
#: ``joins.JOIN_WORTH``: the model ignores the parallel ranged reads a plain scan gets)
PARTIAL_TIME_WORTH = 0.6
#: seconds the source spends grouping one row (hashing, spilling to disk past ``work_mem``):
#: PostgreSQL 15 on this 2-core machine grouped TPC-H SF1's 1.5M orders by customer in 1.3-1.8 s
GROUP_SECONDS = 1.0e-6
#: and more for each string key, compared under the column's collation (1.5M orders by customer
#: and priority: 6.7-7.0 s)
STRING_KEY_SECONDS = 2.5e-6

#: prefix of the partial aggregates' columns in the source's result (the engine query may not
#: name ``__mf_`` columns; a SELECT whose products have a column of this prefix is left alone)
PARTIAL_PREFIX = "mf_partial_"


@dataclass(frozen=True)
class Decomposed:
    """A grouped SELECT split around one product reference.

    ``keys`` are the product's columns the rest of the SELECT reads (lower-case, as the query
    names them): the source groups by them. ``partials`` are the aggregates the source computes
    per group (over the reference's qualified columns), named ``mf_partial_<k>`` in its result;
    ``pushed`` the conditions over the product alone that the source evaluates instead of the
    engine; ``engine`` a copy of the SELECT finishing the aggregation over the partials.
    """

    keys: tuple[str, ...]
    partials: tuple[exp.Expression, ...]
    pushed: tuple[exp.Expression, ...]
    engine: exp.Select


def decompose(
    select: exp.Select,
    alias: str,
    names: Mapping[str, Collection[str] | None],
    types: Mapping[str, LogicalType],
    *,
    exact: Callable[[str, bool], bool],
    pushable: Callable[[exp.Expression], bool],
) -> Decomposed | None:
    """Split ``select`` around its FROM item ``alias`` (see the module), or None when the
    rewrite could change the answer.

    ``names`` gives, per FROM item alias (lower-case), the lower-case column names it exposes
    (None when unknown: then every column must be qualified); ``types`` the logical types of the
    product's columns; ``exact(column, ordering)`` whether the source compares (or orders) the
    column as DuckDB does; ``pushable(conjunct)`` whether it evaluates a condition over the
    product alone (qualified by ``alias``) exactly.
    """
    engine = select.copy()
    me = alias.lower()
    if not _shape(engine):
        return None
    items = _items(engine)
    if items is None or me not in items:
        return None
    position = items[me]
    removable = _removable_slots(engine, position)
    if removable is None:
        return None

    def owner(column: exp.Column) -> str | None:
        """The FROM item alias a column reads, "" for a name no item has (an output alias)."""
        name = column.name.lower()
        if column.table:
            table = column.table.lower()
            return table if table in names else None
        if any(cols is None for cols in names.values()):
            return None
        found = [a for a, cols in names.items() if cols is not None and name in cols]
        return found[0] if len(found) == 1 else ("" if not found else None)

    for column in _own(engine, exp.Column):
        if isinstance(column.this, exp.Star) or owner(column) is None:
            return None
    if any(n.startswith(PARTIAL_PREFIX) for cols in names.values() for n in cols or ()):
        return None
    aggregates = list(_own(engine, exp.AggFunc))
    if any(inner is not a and isinstance(inner, exp.AggFunc) for a in aggregates for inner in a.find_all(exp.AggFunc)):
        return None
    inside = {id(c) for a in aggregates for c in a.find_all(exp.Column)}

    pushed: list[exp.Expression] = []
    for conjunct in removable:
        columns = list(conjunct.find_all(exp.Column))
        if (columns and all(owner(c) == me for c in columns) and not conjunct.find(exp.AggFunc)
                and pushable(conjunct)):
            pushed.append(conjunct)
    dropped = {id(c) for conjunct in pushed for c in conjunct.find_all(exp.Column)}
    keys: dict[str, None] = {}
    for column in _own(engine, exp.Column):
        if id(column) in inside or id(column) in dropped or owner(column) != me:
            continue
        keys.setdefault(column.name.lower(), None)
    if not keys or any(k not in types or not exact(k, False) for k in keys):
        return None

    partials: list[exp.Expression] = []
    finals: list[tuple[exp.AggFunc, Callable[[exp.Expression], exp.Expression]]] = []

    def partial(agg: exp.Expression) -> exp.Expression:
        text = agg.sql()
        for k, p in enumerate(partials):
            if p.sql() == text:
                return exp.column(f"{PARTIAL_PREFIX}{k}", table=alias)
        partials.append(agg.copy())
        return exp.column(f"{PARTIAL_PREFIX}{len(partials) - 1}", table=alias)

    for agg in aggregates:
        mine = [c for c in agg.find_all(exp.Column) if owner(c) == me]
        arg = agg.this
        distinct = isinstance(arg, exp.Distinct)
        if isinstance(agg, exp.Count) and isinstance(arg, exp.Star):
            finals.append((agg, _counted(partial(agg))))
        elif not mine:
            if not (isinstance(agg, (exp.Min, exp.Max)) or (isinstance(agg, (exp.Count, exp.Sum)) and distinct)):
                return None  # a duplicate-sensitive aggregate of another product
        elif distinct or agg.args.get("expressions"):
            if not isinstance(agg, exp.Count) or any(c.name.lower() not in keys for c in mine):
                return None  # count(DISTINCT x) of a column not among the keys does not decompose
        elif not isinstance(arg, exp.Column) or owner(arg) != me:
            return None  # an aggregate of an expression
        else:
            column = arg.name.lower()
            logical = types.get(column)
            if logical is None:
                return None
            if isinstance(agg, exp.Count):
                finals.append((agg, _counted(partial(agg))))
            elif isinstance(agg, exp.Sum) and logical.name in _INTEGERS:
                finals.append((agg, _finished(exp.Sum, partial(agg), "HUGEINT")))
            elif isinstance(agg, exp.Sum) and logical.name == "decimal":
                finals.append((agg, _finished(exp.Sum, partial(agg), f"DECIMAL(38, {logical.scale or 0})")))
            elif isinstance(agg, (exp.Min, exp.Max)) and exact(column, True):
                finals.append((agg, _finished(type(agg), partial(agg), _duckdb_type(logical))))
            else:
                return None  # avg, a floating-point sum, an order the source does not share …
    rewritten = {id(a) for a, _ in finals}
    renamed = _renamed(select)
    for e in engine.expressions:
        if not isinstance(e, (exp.Alias, exp.Column)) and not renamed and any(
                id(a) in rewritten for a in e.find_all(exp.AggFunc)):
            return None  # DuckDB names an expression after its text: the rewrite would rename it
    for agg, make in finals:
        agg.replace(make(agg))
    for conjunct in pushed:
        _drop_conjunct(conjunct)
    return Decomposed(tuple(keys), tuple(partials), tuple(pushed), engine)


def partial_statement(
    relation: str,
    decomposed: Decomposed,
    real: Mapping[str, str],
    dialect: str,
    translate: Callable[[exp.Expression], exp.Expression],
    filters: Sequence[exp.Expression] = (),
    named: Mapping[str, str] | None = None,
) -> str:
    """The statement the source runs: the keys (``real`` maps a key to the source's spelling,
    ``named`` to the name it is given in the result, the key itself by default), the partial
    aggregates as ``mf_partial_<k>`` and the conditions (``translate`` turns a query expression into
    the source's, over ``t0``; ``filters`` are conditions already in the source's form, over bare
    columns), grouped by the keys."""
    keys = [exp.column(real[k], table="t0", quoted=True) for k in decomposed.keys]
    projection = [k.copy().as_((named or {}).get(name, name), quoted=True)
                  for k, name in zip(keys, decomposed.keys, strict=True)]
    projection += [translate(p).as_(f"{PARTIAL_PREFIX}{i}", quoted=True) for i, p in enumerate(decomposed.partials)]
    statement = exp.Select(expressions=projection).from_(_aliased(relation, "t0", dialect), copy=False)
    where = {w.sql(dialect=dialect): w for w in [translate(c) for c in decomposed.pushed]
             + [_qualify(f, "t0") for f in filters]}
    if where:
        statement = statement.where(exp.and_(*where.values()), copy=False)
    return statement.group_by(*keys, copy=False).sql(dialect=dialect)


def partial_seconds(rows: float, groups: float, string_keys: int, width: float, partial_width: float,
                    bytes_per_second: float, latency: float) -> tuple[float, float]:
    """Seconds expected for the product read with the partial aggregation and without it: the
    source groups ``rows`` rows, then ``groups`` rows of ``partial_width`` bytes cross the link,
    against ``rows`` rows of ``width`` bytes.

    On loopback (200 MB/s) grouping 1.5M orders by customer costs about what moving them does;
    behind 16 Mbit/s the 100,000 groups win by far:

    >>> [round(x, 2) for x in partial_seconds(1.5e6, 1e5, 0, 24, 40, 200e6, 0.002)]
    [1.67, 2.43]
    >>> [round(x, 2) for x in partial_seconds(1.5e6, 1e5, 0, 24, 40, 2e6, 0.005)]
    [3.65, 20.25]
    """
    from meshfabric.query.optimizer import ROW_SECONDS

    together = latency + rows * (GROUP_SECONDS + string_keys * STRING_KEY_SECONDS) + groups * (
        ROW_SECONDS + partial_width / bytes_per_second)
    apart = latency + rows * (ROW_SECONDS + width / bytes_per_second)
    return together, apart


def _typed(value: exp.Expression, cast: str | None) -> exp.Expression:
    """A partial column as ``cast``: a source may type a computed column loosely (SQLite's sum
    over no rows has no type at all, and arrives as text)."""
    return value.copy() if cast is None else exp.Cast(this=value.copy(), to=exp.DataType.build(cast, dialect="duckdb"))


def _counted(value: exp.Expression) -> Callable[[exp.Expression], exp.Expression]:
    """``count`` finished: the sum of the partial counts (0 over no rows), BIGINT."""
    def make(_: exp.Expression) -> exp.Expression:
        total = exp.Coalesce(this=exp.Sum(this=_typed(value, "BIGINT")), expressions=[exp.Literal.number(0)])
        return exp.Cast(this=total, to=exp.DataType.build("BIGINT"))
    return make


def _finished(kind: type[exp.Func], value: exp.Expression,
              cast: str | None) -> Callable[[exp.Expression], exp.Expression]:
    """``kind`` (sum, min, max) of the partials, each read as ``cast`` and the result cast to it."""
    def make(_: exp.Expression) -> exp.Expression:
        done: exp.Expression = kind(this=_typed(value, cast))
        return done if cast is None else exp.Cast(this=done, to=exp.DataType.build(cast, dialect="duckdb"))
    return make


def _shape(select: exp.Select) -> bool:
    """Nothing in the SELECT that the rewrite does not account for."""
    if not select.args.get("group") and next(_own(select, exp.AggFunc), None) is None:
        return False
    if any(select.args.get(k) for k in ("distinct", "qualify", "windows", "laterals", "pivots", "with_")):
        return False
    group = select.args.get("group")
    if group is not None and any(group.args.get(k) for k in group.args if k != "expressions"):
        return False  # ROLLUP, CUBE, GROUPING SETS, GROUP BY ALL
    if next(_own(select, exp.Select, exp.Window, exp.Subquery, exp.Filter, exp.Exists, exp.Lambda), None):
        return False  # a subquery (other than a FROM item), window, FILTER …
    return not any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
                   for e in select.expressions)


def _own(select: exp.Select, *kinds: type[exp.Expression]) -> Iterator[exp.Expression]:
    """The nodes of ``kinds`` of ``select`` itself, in tree order: not ``select``, and nothing
    inside its FROM items' subqueries (a derived table, a secured product's policy subquery)."""
    from_ = select.args.get("from_")
    items = [from_.this, *(j.this for j in select.args.get("joins") or [])] if from_ is not None else []
    derived = {id(i) for i in items if isinstance(i, exp.Subquery)}
    stack: list[exp.Expression] = [select]
    while stack:
        node = stack.pop()
        if id(node) in derived:
            continue
        if node is not select and isinstance(node, kinds):
            yield node
        stack.extend(reversed(list(node.iter_expressions())))


def _items(select: exp.Select) -> dict[str, int] | None:
    """FROM item alias (lower-case) -> position; None for a FROM the rewrite does not handle."""
    from_ = select.args.get("from_")
    if from_ is None:
        return None
    found: dict[str, int] = {}
    for position, item in enumerate([from_.this, *(j.this for j in select.args.get("joins") or [])]):
        if not isinstance(item, (exp.Table, exp.Subquery)) or any(item.args.get(k) for k in ("joins", "pivots",
                                                                                               "laterals")):
            return None
        name = item.alias_or_name.lower()
        if not name or name in found:
            return None
        found[name] = position
    return found


def _removable_slots(select: exp.Select, position: int) -> list[exp.Expression] | None:
    """The conjuncts that filter the rows of the item at ``position`` wherever they are evaluated
    (WHERE and inner ON), or None when a join could null-supply it or is of a kind not handled."""
    conjuncts: list[exp.Expression] = []
    for pos, join in enumerate(select.args.get("joins") or [], start=1):
        side, kind = (join.side or "").upper(), (join.kind or "").upper()
        if kind not in ("", "INNER", "CROSS", "OUTER") or side in ("RIGHT", "FULL"):
            return None
        if join.args.get("using") or join.args.get("method") or (side == "LEFT" and pos == position):
            return None
        if side != "LEFT" and join.args.get("on") is not None:
            conjuncts += _conjuncts(join.args["on"])
    where = select.args.get("where")
    if where is not None:
        conjuncts += _conjuncts(where.this)
    return conjuncts


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    inner = node
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if isinstance(inner, exp.And):
        return [*_conjuncts(inner.this), *_conjuncts(inner.expression)]
    return [node]


def _drop_conjunct(conjunct: exp.Expression) -> None:
    """Remove one conjunct of a WHERE or ON (an emptied ON becomes TRUE, an emptied WHERE goes)."""
    parent = conjunct.parent
    while isinstance(parent, exp.Paren):  # an emptied group goes with its last conjunct
        conjunct, parent = parent, parent.parent
    if isinstance(parent, exp.And):
        other = parent.expression if parent.this is conjunct else parent.this
        parent.replace(other)
    elif isinstance(parent, exp.Where):
        parent.pop()
    elif isinstance(parent, exp.Join):
        parent.set("on", exp.true())
    else:  # pragma: no cover - _conjuncts only yields these
        raise ValueError("not a conjunct")


def _renamed(select: exp.Select) -> bool:
    parent = select.parent
    alias = parent.args.get("alias") if isinstance(parent, (exp.Subquery, exp.CTE)) else None
    return bool(alias is not None and alias.columns)


# -- choosing where it applies ---------------------------------------------------------------------
def push_partial(
    query: exp.Query,
    scans: list[Scan],
    catalog: ProductCatalog,
    *,
    tag: str,
    excluded: set[int],
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
    relation_of: Callable[[Scan], str],
) -> tuple[exp.Query, list[Scan], dict[str, float]]:
    """Give each grouped SELECT of ``query`` (edited in place) that joins products of several
    sources a partial aggregation of one of them in its source, where it is allowed (see the
    module), expected to move at most :data:`PARTIAL_WORTH` of that product's rows and to take
    at most :data:`PARTIAL_TIME_WORTH` of its time (:func:`partial_seconds`); return
    the engine query (a new root when the root SELECT was rewritten), the scans (the product's
    scan replaced by one of its partial groups) and the new scans' estimated rows. ``excluded``
    are references that must stay as they are (an IN subquery's keys)."""
    from meshfabric.query import optimizer
    from meshfabric.query.planner import SCAN_PREFIX

    if len({s.source for s in scans}) < 2:
        return query, scans, {}  # one source: the whole SELECT is pushed or joined there, if anywhere
    by_instance = {i: s for s in scans for i in s.instances}
    out = list(scans)
    estimates: dict[str, float] = {}
    fresh = len(scans) + 200  # distinct from the names aggregates and joins take
    root = query
    # innermost first: a rewritten SELECT is a copy, so its derived tables must be final before
    for select in reversed(list(query.find_all(exp.Select))):
        if not _shape(select):
            continue
        items = _from_tables(select)
        names = _names(select, tag, by_instance)
        best: tuple[float, Scan, Decomposed, float, float, str, float, float] | None = None
        for alias, table in items.items():
            if tag not in table.meta or table.meta[tag] in excluded:
                continue
            scan = by_instance.get(table.meta[tag])
            if scan is None or len(scan.instances) != 1 or not _plain(scan, catalog):
                continue
            alias_node = table.args.get("alias")
            if alias_node is not None and alias_node.columns:
                continue
            # products of one source joined here are left to the join pushdown (joins.py)
            if any(o is not table and tag in o.meta and (s := by_instance.get(o.meta[tag])) is not None
                   and s.source == scan.source and _plain(s, catalog) for o in items.values()):
                continue
            try:
                built = _build(select, alias, table, scan, names, catalog, columns_of, relation_of,
                               f"{SCAN_PREFIX}{fresh}", tag)
            except Exception:  # a port that cannot be described is read as usual (and reports its error)
                continue
            if built is None:
                continue
            partial_scan, decomposed = built
            stats = optimizer.statistics_of([scan], catalog)[scan.name]
            rows = optimizer.estimate_rows(scan, stats)
            groups = 1.0
            for key in decomposed.keys:
                groups *= optimizer.distinct(stats, key, rows)
            groups = max(1.0, min(groups, rows))
            if groups > PARTIAL_WORTH * rows:
                continue
            try:
                link = optimizer.link_of(catalog.connector(scan.source))
            except Exception:  # an unknown source is reported when the scan runs
                link = optimizer.DEFAULT_LINK
            strings = sum(1 for k in decomposed.keys if _type_of(scan, k) == "string")
            key_width = optimizer.row_width(replace(scan, columns=tuple(
                c.name for c in scan.binding.columns if c.name.lower() in decomposed.keys)), stats)
            together, apart = partial_seconds(rows, groups, strings, optimizer.row_width(scan, stats),
                                              key_width + 16.0 * len(decomposed.partials), link.bytes_per_second,
                                              link.latency)
            if together > PARTIAL_TIME_WORTH * apart:
                continue
            if best is None or apart - together > best[0]:
                best = (apart - together, partial_scan, decomposed, groups, rows, alias, together, apart)
        if best is None:
            continue
        _, partial_scan, decomposed, groups, rows, alias, together, apart = best
        keys = ", ".join(decomposed.keys)
        partial_scan = replace(partial_scan, why=(
            f"partial aggregation in the source below a cross-source join: grouped by {keys}, ~{groups:,.0f} "
            f"groups move instead of ~{rows:,.0f} rows, ~{together:.3f} s against ~{apart:.3f} s; the engine "
            "joins and finishes the aggregation over the partials",))
        if select is root:
            root = decomposed.engine
        else:
            select.replace(decomposed.engine)
        target = _from_tables(decomposed.engine)[alias]
        target.set("this", exp.to_identifier(partial_scan.name))
        fresh += 1
        out = take_references(out, by_instance, partial_scan)
        estimates[partial_scan.name] = groups
    return root, out, estimates


def _type_of(scan: Scan, column: str) -> str:
    return next((c.type.name for c in scan.binding.columns if c.name.lower() == column), "")


def _from_tables(select: exp.Select) -> dict[str, exp.Table]:
    from_ = select.args.get("from_")
    if from_ is None:
        return {}
    items = [from_.this, *(j.this for j in select.args.get("joins") or [])]
    return {t.alias_or_name.lower(): t for t in items if isinstance(t, exp.Table)}


def _names(select: exp.Select, tag: str, by_instance: Mapping[int, Scan]) -> dict[str, Collection[str] | None]:
    """Per FROM item alias, the column names it exposes (None where not known)."""
    from_ = select.args.get("from_")
    found: dict[str, Collection[str] | None] = {}
    if from_ is None:
        return found
    for item in [from_.this, *(j.this for j in select.args.get("joins") or [])]:
        alias = item.alias_or_name.lower()
        scan = by_instance.get(item.meta[tag]) if isinstance(item, exp.Table) and tag in item.meta else None
        columns: Collection[str] | None = None
        alias_node = item.args.get("alias")
        if alias_node is not None and alias_node.columns:
            columns = {c.name.lower() for c in alias_node.columns}
        elif scan is not None and not scan.joined and not scan.aggregated:
            columns = {c.name.lower() for c in scan.binding.columns}
        elif isinstance(item, exp.Subquery) and isinstance(item.this, exp.Query):
            named = item.this.named_selects
            columns = {n.lower() for n in named} if all(named) and "*" not in named else None
        found[alias] = columns
    return found


def _build(
    select: exp.Select, alias: str, table: exp.Table, scan: Scan, names: Mapping[str, Collection[str] | None],
    catalog: ProductCatalog, columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
    relation_of: Callable[[Scan], str], name: str, tag: str,
) -> tuple[Scan, Decomposed] | None:
    """The partial scan of ``table``'s product and the decomposed SELECT, or None."""
    from meshfabric.connectors.pushdown import prepare_predicate
    from meshfabric.query.catalog import ProductBinding, ProductColumn
    from meshfabric.query.planner import _is_row_atom

    connector = catalog.connector(scan.source)
    dialect, rules = connector.dialect, connector.pushdown_rules  # type: ignore[attr-defined]
    infos = dict(columns_of(scan))
    lowered = {n.lower(): n for n in infos}
    declared = {c.name.lower(): c for c in scan.binding.columns}
    real = {n: lowered[n] for n in declared if n in lowered}
    types = {n: infos[r].type for n, r in real.items()}
    member = _Member(scan, table.meta[tag], table.alias_or_name, infos)
    translator = _Translator([member], dialect, rules)

    def exact(column: str, ordering: bool) -> bool:
        try:
            translator.require_exact(0, real[column], ordering=ordering)
        except (_Untranslatable, KeyError):
            return False
        return True

    def pushable(conjunct: exp.Expression) -> bool:
        if not _is_row_atom(conjunct):  # volatile (now(), random()) or not a row's own predicate
            return False
        try:
            translator.predicate(conjunct)
        except _Untranslatable:
            return False
        return True

    def translate(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.AggFunc):
            return translator.output(node.copy().as_("p"), 0, [], False).source
        return translator.predicate(node)

    decomposed = decompose(select, alias, names, types, exact=exact, pushable=pushable)
    if decomposed is None:
        return None
    filters = [p for f in scan.filters if (p := prepare_predicate(f, infos, dialect, rules=rules)) is not None]
    try:
        statement = partial_statement(relation_of(scan), decomposed, real, dialect, translate, filters,
                                      {k: declared[k].name for k in decomposed.keys})
        outputs = [translator.output(p.copy().as_("p"), 0, [], False) for p in decomposed.partials]
    except _Untranslatable:
        return None
    columns = [ProductColumn(declared[k].name, declared[k].type, True) for k in decomposed.keys]
    columns += [ProductColumn(f"{PARTIAL_PREFIX}{k}", o.logical, True) for k, o in enumerate(outputs)]
    binding = ProductBinding(domain=scan.binding.domain, name=scan.binding.name, source=scan.source,
                             port=_sql_port(scan, statement), columns=tuple(columns), status=scan.binding.status)
    partial_scan = replace(scan, name=name, binding=binding, columns=tuple(c.name for c in columns), filters=(),
                           kept=(), joined=(scan.product,), aggregated=True, dynamic=())
    return partial_scan, decomposed
