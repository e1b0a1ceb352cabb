"""Join pushdown: product references of one SQL source, inner-joined in one SELECT, read as one
statement that the source joins itself.

Without it every product is read on its own and DuckDB joins the rows: a query joining
``customer`` and ``orders`` of one PostgreSQL database moves both tables (or waits for one's keys
to shrink the other — a second round trip). Pushed, PostgreSQL joins them where they lie, with
its own indexes, and only the joined rows move.

Three pure steps over sqlglot trees, and :func:`push_joins` choosing where they apply:

* :func:`joined_statement` — the statement the source runs, in its dialect: the members' tables
  under aliases ``t0, t1, …``, the join equalities (those written in the query and those implied
  by a chain of them, e.g. ``p.partkey = l.partkey = ps.partkey`` joins part and partsupp), and
  each member's pushed filters;
* :func:`merge_members` — the engine query rewritten to read the joined scan once, under the alias
  of the first member, with the other members' column references pointed at it;
* the scan of the joined statement is an ordinary scan of a ``sql`` port, so connectors read it
  like any other port and dynamic filters apply to its columns.

Correctness does not depend on the choice: the engine query keeps every condition, so the source
only removes rows the engine would remove anyway. Only references that are safe to merge are
merged: unsecured (a product with a mask or row filter is always read alone, through its policy),
inner-joined before any outer join, without ``*`` in the SELECT list, whose column names are
distinct across the members, in a source whose column comparisons match DuckDB's
(:func:`meshfabric.connectors.pushdown.equi_joinable`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnInfo
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.planner import Scan
    from meshfabric.spec.models import OutputPort

#: meta key of a tagged product reference (the planner's ``_TAG``: instance number)
Tag = str

#: a joined read is chosen when it is expected to take at most this share of the separate reads'
#: time. The model counts what moves, not the source's own join work nor the parallel ranged reads
#: separate scans get, so it asks for a clear margin: measured on TPC-H SF1 (PostgreSQL, MariaDB
#: with its default 128 MB buffer pool), joins expected at 0.34-0.42 of apart ran faster pushed,
#: those at 0.62 and 0.83 slower
JOIN_WORTH = 0.6

_INNER_KINDS = ("", "INNER", "CROSS")


# -- the statement the source runs -------------------------------------------------------------
@dataclass(frozen=True)
class JoinMember:
    """One product reference joined in the source: FROM-clause text reading its port (names
    resolved by the connector), the columns it contributes and its pushed filters (conjuncts
    over unqualified column names, already in the source's form)."""

    relation: str
    columns: tuple[str, ...]
    filters: tuple[exp.Expression, ...] = ()


@dataclass(frozen=True)
class SemiJoin:
    """``[NOT] EXISTS`` over one more product of the source, correlated to the members by
    equalities ``on`` — ``(member, member's column, this product's column)`` — and filtered by
    ``member``'s filters (its relation and filters only are used)."""

    negated: bool
    member: JoinMember
    on: tuple[tuple[int, str, str], ...]


def joined_statement(
    members: Sequence[JoinMember], conditions: Sequence[tuple[int, str, int, str]], dialect: str,
    semijoins: Sequence[SemiJoin] = (),
) -> str:
    """``SELECT`` the members' columns ``FROM`` their relations, joined on ``conditions`` —
    ``(member, column, member, column)`` equalities — and filtered by each member's filters.

    >>> segment = exp.column("c_mktsegment", quoted=True).eq("B")
    >>> print(joined_statement(
    ...     [JoinMember('"public"."customer"', ("c_custkey", "c_name"), (segment,)),
    ...      JoinMember('"public"."orders"', ("o_custkey", "o_total"))],
    ...     [(0, "c_custkey", 1, "o_custkey")], "postgres"))
    SELECT "t0"."c_custkey" AS "c_custkey", "t0"."c_name" AS "c_name", "t1"."o_custkey" AS "o_custkey", \
"t1"."o_total" AS "o_total" FROM "public"."customer" AS "t0", "public"."orders" AS "t1" \
WHERE "t0"."c_custkey" = "t1"."o_custkey" AND "t0"."c_mktsegment" = 'B'
    >>> orders = JoinMember('"public"."orders"', (), (exp.column("o_total", quoted=True) > 10,))
    >>> print(joined_statement([JoinMember('"public"."customer"', ("c_custkey",))], [], "postgres",
    ...                        [SemiJoin(True, orders, ((0, "c_custkey", "o_custkey"),))]))
    SELECT "t0"."c_custkey" AS "c_custkey" FROM "public"."customer" AS "t0" WHERE NOT EXISTS(SELECT 1 \
FROM "public"."orders" AS "e0" WHERE "e0"."o_custkey" = "t0"."c_custkey" AND ("e0"."o_total" > 10))
    """
    projection: list[exp.Expression] = []
    tables: list[exp.Expression] = []
    for index, member in enumerate(members):
        alias = f"t{index}"
        projection += [exp.column(c, table=alias, quoted=True).as_(c, quoted=True) for c in member.columns]
        tables.append(_aliased(member.relation, alias, dialect))
    where: list[exp.Expression] = [
        exp.EQ(this=exp.column(ac, table=f"t{a}", quoted=True), expression=exp.column(bc, table=f"t{b}", quoted=True))
        for a, ac, b, bc in conditions
    ]
    for index, member in enumerate(members):
        for predicate in member.filters:
            where.append(_qualify(predicate, f"t{index}"))
    for index, semi in enumerate(semijoins):
        alias = f"e{index}"
        inner: list[exp.Expression] = [
            exp.EQ(this=exp.column(column, table=alias, quoted=True),
                   expression=exp.column(outer, table=f"t{member}", quoted=True))
            for member, outer, column in semi.on
        ]
        inner += [_qualify(p, alias) for p in semi.member.filters]
        probe = exp.Select(expressions=[exp.Literal.number(1)]).from_(
            _aliased(semi.member.relation, alias, dialect), copy=False)
        probe = probe.where(exp.and_(*(_grouped(w) for w in inner), copy=False), copy=False)
        exists: exp.Expression = exp.Exists(this=probe)
        where.append(exp.Not(this=exists) if semi.negated else exists)
    select = exp.Select(expressions=projection).from_(tables[0], copy=False)
    for table in tables[1:]:
        select = select.join(table, copy=False)
    if where:
        select = select.where(exp.and_(*(_grouped(w) for w in where), copy=False), copy=False)
    return select.sql(dialect=dialect)


def _aliased(relation: str, alias: str, dialect: str) -> exp.Expression:
    """The FROM item ``relation`` (a table name or ``(sql) AS x``) under ``alias``."""
    parsed = sqlglot.parse_one(f"SELECT 1 FROM {relation}", read=dialect)
    from_ = parsed.args["from_"]
    item = from_.this
    item.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return item


def _qualify(predicate: exp.Expression, alias: str) -> exp.Expression:
    copy = predicate.copy()
    for column in copy.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier(alias, quoted=True))
    return copy


def _grouped(node: exp.Expression) -> exp.Expression:
    return node if isinstance(node, (exp.Paren, exp.Column, exp.EQ, exp.In, exp.Like, exp.Between, exp.Exists,
                                     exp.Not)) else exp.paren(
        node, copy=False)


# -- the engine query ------------------------------------------------------------------------------
def merge_members(select: exp.Select, keeper: exp.Table, others: Sequence[exp.Table], scan_name: str) -> None:
    """Rewrite ``select`` (in place) to read ``scan_name`` once instead of the member tables:
    ``keeper`` reads the joined scan under its own alias, the other members' joins are dropped
    (their ON conditions move to WHERE, which is the same for inner joins) and their columns are
    read through the keeper's alias — in this SELECT and in subqueries correlated to it.

    >>> from sqlglot import parse_one
    >>> q = parse_one("SELECT c.name, o.total FROM s0 AS c JOIN s1 AS o ON o.ck = c.k JOIN s2 AS l "
    ...               "ON l.ok = o.k WHERE c.seg = 'B' AND EXISTS (SELECT 1 FROM s3 AS x WHERE x.k = o.k)")
    >>> tables = {t.alias: t for t in q.find_all(exp.Table)}
    >>> merge_members(q, tables["c"], [tables["o"]], "s9")
    >>> print(q.sql())
    SELECT c.name, c.total FROM s9 AS c JOIN s2 AS l ON l.ok = c.k WHERE (c.seg = 'B' \
AND EXISTS(SELECT 1 FROM s3 AS x WHERE x.k = c.k)) AND c.ck = c.k
    """
    renamed = {t.alias_or_name.lower() for t in others}
    keep_alias = keeper.alias_or_name
    moved: list[exp.Expression] = []
    joins = list(select.args.get("joins") or [])
    for join in joins:
        if join.this in others:
            on = join.args.get("on")
            if on is not None:
                moved.append(on)
            join.pop()
    if select.args.get("from_") is not None and select.args["from_"].this in others:  # pragma: no cover
        raise ValueError("the first FROM item must be the keeper")
    keeper.set("this", exp.to_identifier(scan_name))
    for column in select.find_all(exp.Column):
        if column.table and column.table.lower() in renamed:
            column.set("table", exp.to_identifier(keep_alias))
    for condition in moved:
        for column in condition.find_all(exp.Column):
            if column.table and column.table.lower() in renamed:
                column.set("table", exp.to_identifier(keep_alias))
        select.where(condition, copy=False)


# -- choosing what to push -------------------------------------------------------------------------
@dataclass
class _Candidate:
    """A product reference that may be merged: its FROM item, and the scan that reads it (which
    may also serve other references of the same product)."""

    scan: Scan
    table: exp.Table
    instance: int


def push_joins(
    query: exp.Query,
    scans: list[Scan],
    equalities: Sequence[tuple[tuple[int, str], tuple[int, str], bool]],
    catalog: ProductCatalog,
    *,
    tag: str,
    excluded: set[int],
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
    relation_of: Callable[[Scan], str],
) -> tuple[list[Scan], dict[str, float]]:
    """Merge, in ``query`` (edited in place), the references that are worth joining in their
    source; return the scans (each merged group replaced by one joined scan, named after its
    first member's) and the estimated rows of the joined scans.

    ``tag`` is the meta key holding a product reference's instance number; ``excluded`` the
    instances that must stay alone (they take keys from an IN subquery); ``columns_of`` gives a
    scan's real source columns and ``relation_of`` the FROM text reading its port.
    """
    from meshfabric.query.planner import SCAN_PREFIX

    by_instance = {i: s for s in scans for i in s.instances}
    out_scans = list(scans)
    estimates: dict[str, float] = {}
    fresh = len(scans)
    for select in list(query.find_all(exp.Select)):
        candidates = _candidates(select, tag, by_instance, excluded, catalog)
        if len(candidates) < 2:
            continue
        in_scope = {t.meta[tag] for t in _from_items(select) if isinstance(t, exp.Table) and tag in t.meta}
        classes = _classes([e for e in equalities if e[2] and e[0][0] in in_scope and e[1][0] in in_scope])
        by_source: dict[str, list[_Candidate]] = {}
        for c in candidates:
            by_source.setdefault(c.scan.source, []).append(c)
        for source, group in by_source.items():
            if len(group) < 2:
                continue
            try:
                connector = catalog.connector(source)
            except Exception:  # an unknown source is reported when the scan runs
                continue
            chosen = _component(group, classes, connector, columns_of)
            if chosen is None:
                continue
            members, conditions = chosen
            joined = _joined_scan(members, conditions, connector, columns_of, relation_of,
                                  f"{SCAN_PREFIX}{fresh}")
            if joined is None:
                continue
            worth, rows, together, apart = _worth(members, conditions, joined, catalog)
            if not worth:
                continue
            joined = replace(joined, why=(f"joined in the source: ~{rows:,.0f} rows, ~{together:.3f} s, against "
                                          f"~{apart:.3f} s reading its {len(members)} products apart",))
            fresh += 1
            merge_members(select, members[0].table, [m.table for m in members[1:]], joined.name)
            out_scans = take_references(out_scans, by_instance, joined)
            estimates[joined.name] = rows
    return out_scans, estimates


def push_semijoins(
    query: exp.Query,
    scans: list[Scan],
    catalog: ProductCatalog,
    *,
    tag: str,
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
    relation_of: Callable[[Scan], str],
) -> tuple[list[Scan], set[int]]:
    """Evaluate in the source, and drop from ``query`` (edited in place), each ``[NOT] EXISTS``
    that its source answers exactly like DuckDB; return the scans and the product references
    the source now reads inside another scan's statement.

    Taken: a conjunct of a SELECT's WHERE, ``[NOT] EXISTS (SELECT … FROM b WHERE …)`` where b is
    a plain read of a product of the same source as a, the one reference of that SELECT it is
    correlated to, and each condition is either ``b.y = a.x`` (compared alike,
    :func:`~meshfabric.connectors.pushdown.equi_joinable`) or a filter of b the source evaluates
    exactly. a's scan then reads ``… WHERE [NOT] EXISTS (…)``: TPC-H Q22's customers without
    orders are found in PostgreSQL instead of moving the orders' keys. Nothing else is taken:
    a subquery that groups or aggregates (``EXISTS (SELECT count(*) …)`` always holds), joins,
    limits, reads a secured product or a filter kept for the engine, or a reference an outer
    join can null-supply; and both scans must serve that one reference each.
    """
    originals = list(query.find_all(exp.Exists))
    if not originals or len(scans) < 2:
        return scans, set()
    copy = _qualified_scans(query, scans)
    if copy is None:
        return scans, set()
    copies = list(copy.find_all(exp.Exists))
    if len(copies) != len(originals):  # pragma: no cover - qualify keeps every EXISTS
        return scans, set()
    by_instance = {i: s for s in scans for i in s.instances}
    out = list(scans)
    absorbed: set[int] = set()
    for original, qualified in zip(originals, copies, strict=True):
        found = _semijoin(qualified, tag, by_instance, catalog, columns_of)
        if found is None or _where_select(original) is None:
            continue
        outer, inner, semi = found
        try:
            connector = catalog.connector(outer.source)
            dialect, rules = connector.dialect, connector.pushdown_rules  # type: ignore[attr-defined]
            from meshfabric.connectors.pushdown import prepare_predicate

            infos = columns_of(outer)
            filters = [p for f in outer.filters if (p := prepare_predicate(f, infos, dialect, rules=rules)) is not None]
            statement = joined_statement(
                [JoinMember(relation_of(outer), outer.columns, tuple(filters))], [], dialect,
                [replace(semi, member=replace(semi.member, relation=relation_of(inner)))])
        except Exception:  # a port that cannot be resolved is read alone (and reports its error)
            continue
        from meshfabric.query.catalog import ProductBinding, ProductColumn

        types = {c.name: c for c in outer.binding.columns}
        columns = tuple(ProductColumn(n, types[n].type, types[n].nullable) for n in outer.columns)
        binding = ProductBinding(domain=outer.binding.domain, name=outer.binding.name, source=outer.source,
                                 port=_sql_port(outer, statement), columns=columns, status=outer.binding.status)
        word = "NOT EXISTS" if semi.negated else "EXISTS"
        merged = replace(
            outer, binding=binding, filters=(), instances=(*outer.instances, *inner.instances),
            joined=(outer.product, inner.product),
            why=(*outer.why, f"{word} over {inner.product} evaluated in the source: its rows never move"),
        )
        node = original.parent if isinstance(original.parent, exp.Not) else original
        node.replace(exp.true())
        out = take_references(out, by_instance, merged)
        absorbed.update(inner.instances)
    return out, absorbed


def _where_select(node: exp.Expression) -> exp.Select | None:
    """The SELECT whose WHERE has ``node`` (or ``NOT node``) as one of its AND-ed conjuncts."""
    parent = node.parent
    if isinstance(parent, exp.Not):
        parent = parent.parent
    while isinstance(parent, (exp.And, exp.Paren)):
        parent = parent.parent
    if isinstance(parent, exp.Where) and isinstance(parent.parent, exp.Select):
        return parent.parent
    return None


def _semijoin(
    exists: exp.Exists, tag: str, by_instance: Mapping[int, Scan], catalog: ProductCatalog,
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
) -> tuple[Scan, Scan, SemiJoin] | None:
    """(outer scan, inner scan, the semi-join without relations) when ``exists`` — in a
    qualified copy of the query — can be evaluated by the outer scan's source; else None."""
    from meshfabric.connectors.pushdown import equi_joinable, prepare_predicate
    from meshfabric.query.secure import SECURE_TAG

    outer_select = _where_select(exists)
    sub = exists.this.this if isinstance(exists.this, exp.Subquery) else exists.this
    if outer_select is None or not isinstance(sub, exp.Select):
        return None
    if any(sub.args.get(k) for k in ("joins", "group", "having", "qualify", "limit", "offset", "laterals",
                                     "windows", "with_")) or sub.find(exp.AggFunc, exp.Window):
        return None
    table = sub.args["from_"].this if sub.args.get("from_") is not None else None
    where = sub.args.get("where")
    if not isinstance(table, exp.Table) or tag not in table.meta or SECURE_TAG in table.meta or where is None:
        return None
    inner_alias = table.alias_or_name
    inner_scan = by_instance.get(table.meta[tag])
    outer_items = {i.alias_or_name: i for i in _from_items(outer_select)}
    if any((j.side or "") or (j.kind or "").upper() not in _INNER_KINDS for j in outer_select.args.get("joins") or []):
        return None  # an outer join could null-supply the reference: not a filter of its rows
    if inner_scan is None or not _plain(inner_scan, catalog, columns=False) or len(inner_scan.instances) != 1:
        return None
    inner_cols = columns_of(inner_scan)
    outer_alias: str | None = None
    on: list[tuple[str, str]] = []
    filters: list[exp.Expression] = []
    for conjunct in _conjuncts(where.this):
        if conjunct.find(exp.Query):
            return None
        columns = list(conjunct.find_all(exp.Column))
        tables = {c.table for c in columns}
        if columns and tables == {inner_alias}:
            bare = conjunct.copy()
            for c in bare.find_all(exp.Column):
                c.set("table", None)
            prepared = prepare_predicate(bare, inner_cols, catalog.connector(inner_scan.source).dialect,
                                         rules=catalog.connector(inner_scan.source).pushdown_rules)
            if prepared is None:
                return None
            filters.append(prepared)
            continue
        if not (isinstance(conjunct, exp.EQ) and len(columns) == 2 and len(tables) == 2 and inner_alias in tables
                and all(isinstance(side, exp.Column) for side in (conjunct.this, conjunct.expression))):
            return None
        mine, theirs = sorted(columns, key=lambda c: c.table != inner_alias)
        if outer_alias not in (None, theirs.table):
            return None  # correlated to two references
        outer_alias = theirs.table
        on.append((theirs.name, mine.name))
    item = outer_items.get(outer_alias or "")
    if (not on or not isinstance(item, exp.Table) or tag not in item.meta or SECURE_TAG in item.meta
            or item.args.get("joins")):
        return None
    outer_scan = by_instance.get(item.meta[tag])
    if (outer_scan is None or outer_scan is inner_scan or len(outer_scan.instances) != 1
            or not _plain(outer_scan, catalog) or outer_scan.source != inner_scan.source):
        return None
    outer_cols = columns_of(outer_scan)
    connector = catalog.connector(outer_scan.source)
    pairs: list[tuple[int, str, str]] = []
    for outer_name, inner_name in on:
        left, right = _named(outer_cols, outer_name), _named(inner_cols, inner_name)
        if left is None or right is None or left.name not in outer_scan.columns:
            return None
        if not equi_joinable(left, right, connector.dialect, rules=connector.pushdown_rules):  # type: ignore[attr-defined]
            return None
        pairs.append((0, left.name, right.name))
    negated = isinstance(exists.parent, exp.Not)
    return outer_scan, inner_scan, SemiJoin(negated, JoinMember("", (), tuple(filters)), tuple(pairs))


def _named(columns: Mapping[str, ColumnInfo], name: str) -> ColumnInfo | None:
    """The column ``name`` (DuckDB resolves names case-blind) or None."""
    if name in columns:
        return columns[name]
    matches = [c for n, c in columns.items() if n.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this), *_conjuncts(node.expression)]
    return [node]


def _qualified_scans(query: exp.Query, scans: Sequence[Scan]) -> exp.Query | None:
    """A copy of the engine query with every column qualified by its FROM item's alias (None
    when sqlglot cannot resolve it: the query is then left as it is)."""
    from sqlglot.errors import OptimizeError
    from sqlglot.optimizer.qualify import qualify

    schema = {s.name: {c: "VARCHAR" for c in s.columns} for s in scans}
    try:
        return qualify(query.copy(), schema=schema, dialect="duckdb", quote_identifiers=False,
                       validate_qualify_columns=False)
    except (OptimizeError, ValueError, KeyError, AttributeError):
        return None


def take_references(scans: list[Scan], by_instance: dict[int, Scan], new: Scan) -> list[Scan]:
    """``scans`` with ``new`` taking over the references it serves: each leaves the scan that
    read it (a scan serving other references of its product goes on serving them);
    ``by_instance`` (reference → scan) follows."""
    taken = set(new.instances)
    kept = []
    for s in scans:
        rest = tuple(i for i in s.instances if i not in taken)
        if rest:
            kept.append(s if rest == s.instances else replace(s, instances=rest))
    for s in kept:
        for i in s.instances:
            by_instance[i] = s
    for i in taken:
        by_instance.pop(i, None)
    return [*kept, new]


def _from_items(select: exp.Select) -> list[exp.Expression]:
    from_ = select.args.get("from_")
    if from_ is None:
        return []
    return [from_.this, *(j.this for j in select.args.get("joins") or [])]


def _candidates(select: exp.Select, tag: str, by_instance: Mapping[int, Scan], excluded: set[int],
                catalog: ProductCatalog) -> list[_Candidate]:
    """The FROM items of ``select`` that may be merged: single-reference scans of plain product
    reads, inner-joined before any other kind of join."""
    if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
           for e in select.expressions):
        return []
    items = _from_items(select)
    joins = list(select.args.get("joins") or [])
    found: list[_Candidate] = []
    for position, item in enumerate(items):
        if position > 0:
            join = joins[position - 1]
            if ((join.side or "").upper() or (join.kind or "").upper() not in _INNER_KINDS
                    or join.args.get("using") or join.args.get("method")):
                break  # members must all come before the first outer, semi or USING join
        if not isinstance(item, exp.Table) or tag not in item.meta:
            continue
        if any(item.args.get(k) for k in ("joins", "pivots", "laterals")):
            continue
        scan = by_instance.get(item.meta[tag])
        if scan is None or item.meta[tag] in excluded or not _plain(scan, catalog):
            continue
        found.append(_Candidate(scan, item, item.meta[tag]))
    if len(found) < 2:
        return []
    aliases = {c.table.alias_or_name.lower() for c in found}
    for inner in select.find_all(exp.Select):
        if inner is select:
            continue
        shadowing = {t.alias_or_name.lower() for t in inner.find_all(exp.Table, exp.Subquery) if t.alias_or_name}
        if shadowing & aliases:
            return []  # an inner scope reuses a member's alias: leave this SELECT alone
    return found


def _plain(scan: Scan, catalog: ProductCatalog, *, columns: bool = True) -> bool:
    """A plain read of one product from a source that runs statements over several tables: no
    policy, LIMIT or earlier pushdown (and, with ``columns``, at least one column read)."""
    if scan.row_filter is not None or scan.salt is not None or scan.limit is not None:
        return False
    if columns and not scan.columns:
        return False
    if scan.joined or scan.aggregated:
        return False
    try:
        connector = catalog.connector(scan.source)
    except Exception:
        return False
    return bool(getattr(connector, "pushes_joins", False))


def _classes(equalities: Sequence[tuple[tuple[int, str], tuple[int, str], bool]]) -> dict[tuple[int, str], int]:
    """Equivalence class number of each (instance, column) side."""
    from meshfabric.query.optimizer import _Classes

    classes = _Classes()
    for a, b, _ in equalities:
        classes.union(a, b)
    numbers: dict[tuple[int, str], int] = {}
    for index, members in enumerate(classes.members().values()):
        for m in members:
            numbers[m] = index
    return numbers


def _component(
    group: list[_Candidate], classes: Mapping[tuple[int, str], int], connector: object,
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
) -> tuple[list[_Candidate], list[tuple[int, str, int, str]]] | None:
    """The largest set of ``group`` connected by equalities the source compares like DuckDB,
    with distinct column names, in FROM order; and its join conditions over member indexes."""
    from meshfabric.connectors.pushdown import equi_joinable

    dialect, rules = connector.dialect, connector.pushdown_rules  # type: ignore[attr-defined]
    try:
        infos = {c.scan.name: dict(columns_of(c.scan)) for c in group}
    except Exception:  # a port that cannot be described is read alone (and reports its error)
        return None
    index_of = {c.instance: i for i, c in enumerate(group)}
    by_class: dict[int, list[tuple[int, str]]] = {}
    for side, number in classes.items():
        if side[0] in index_of:
            by_class.setdefault(number, []).append(side)
    edges: dict[tuple[int, int], tuple[str, str]] = {}
    for sides in by_class.values():
        present = sorted((s for s in sides if s[0] in index_of), key=lambda s: (index_of[s[0]], s[1]))
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                ia, ib = index_of[a[0]], index_of[b[0]]
                if ia == ib or (ia, ib) in edges:
                    continue
                left = infos[group[ia].scan.name].get(a[1])
                right = infos[group[ib].scan.name].get(b[1])
                if left is not None and right is not None and equi_joinable(left, right, dialect, rules=rules):
                    edges[(ia, ib)] = (a[1], b[1])
    # connected components over the edges, largest first (ties: earliest in FROM)
    parent = list(range(len(group)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(b)] = find(a)
    components: dict[int, list[int]] = {}
    for i in range(len(group)):
        components.setdefault(find(i), []).append(i)
    best = max(components.values(), key=lambda m: (len(m), -m[0]))
    if len(best) < 2:
        return None
    names = [n.lower() for i in best for n in group[i].scan.columns]
    if len(names) != len(set(names)):
        return None  # two members share a column name: the engine could not tell them apart
    members = [group[i] for i in best]
    remap = {old: new for new, old in enumerate(best)}
    conditions = [(remap[a], ca, remap[b], cb) for (a, b), (ca, cb) in sorted(edges.items())
                  if a in remap and b in remap]
    return members, conditions


def _joined_scan(
    members: list[_Candidate], conditions: list[tuple[int, str, int, str]], connector: object,
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]], relation_of: Callable[[Scan], str], name: str,
) -> Scan | None:
    """The scan reading the members joined in their source, or None when a port cannot be
    resolved (the members are then read alone, and report the error)."""
    from meshfabric.connectors.pushdown import prepare_predicate
    from meshfabric.query.catalog import ProductBinding, ProductColumn

    dialect, rules = connector.dialect, connector.pushdown_rules  # type: ignore[attr-defined]
    parts: list[JoinMember] = []
    try:
        for m in members:
            infos = columns_of(m.scan)
            filters = [p for f in m.scan.filters
                       if (p := prepare_predicate(f, infos, dialect, rules=rules)) is not None]
            parts.append(JoinMember(relation_of(m.scan), m.scan.columns, tuple(filters)))
        statement = joined_statement(parts, conditions, dialect)
    except Exception:  # a port that cannot be resolved is read alone (and reports its error)
        return None
    first = members[0].scan
    types = {c.name: c for m in members for c in m.scan.binding.columns}
    columns = tuple(ProductColumn(n, types[n].type, types[n].nullable) for m in members for n in m.scan.columns)
    binding = ProductBinding(
        domain=first.binding.domain, name=first.binding.name, source=first.source,
        port=_sql_port(first, statement), columns=columns, status=first.binding.status,
    )
    scan = replace(
        first, name=name, binding=binding, columns=tuple(c.name for c in columns), filters=(),
        kept=tuple(k for m in members for k in m.scan.kept),
        instances=tuple(m.instance for m in members),
        joined=tuple(m.scan.product for m in members),
    )
    return scan


def _sql_port(scan: Scan, statement: str) -> OutputPort:
    """A port of ``scan``'s source reading ``statement`` (the query layer builds no specs: the
    port is a copy of the member's own with only its ``sql``)."""
    return scan.binding.port.model_copy(update={"table": None, "path": None, "format": None, "options": {},
                                                "sql": statement})


def _worth(members: list[_Candidate], conditions: Sequence[tuple[int, str, int, str]], scan: Scan,
           catalog: ProductCatalog) -> tuple[bool, float, float, float]:
    """The rows the joined scan is expected to move, and whether moving them beats reading the
    members apart.

    Joined, the source evaluates only the pushed filters: a filter kept for the engine (a
    case-blind LIKE) shrinks nothing that moves. Apart, each member can at best be shrunk by
    dynamic filters to its rows that join the others' — after the others' kept filters, since
    keys are taken from rows the engine filtered — but never below what its own pushed filters
    leave.
    """
    from meshfabric.query import optimizer

    stats = optimizer.statistics_of([m.scan for m in members], catalog)
    pushed = [optimizer.estimate_rows(replace(m.scan, kept=()), stats[m.scan.name]) for m in members]
    filtered = [optimizer.estimate_rows(m.scan, stats[m.scan.name]) for m in members]
    widths = [optimizer.row_width(m.scan, stats[m.scan.name]) for m in members]
    ndv = [{c: optimizer.distinct(stats[m.scan.name], c, pushed[i]) for c in m.scan.columns
            if (known := optimizer.column_stats(stats[m.scan.name], c)) is not None and known.distinct}
           for i, m in enumerate(members)]
    moved = join_rows(pushed, ndv, conditions)
    apart_rows = [min(pushed[i], join_rows([pushed[j] if j == i else filtered[j] for j in range(len(members))],
                                           ndv, conditions))
                  for i in range(len(members))]
    try:
        link = optimizer.link_of(catalog.connector(scan.source))
    except Exception:  # an unknown source is reported when the scan runs
        link = optimizer.DEFAULT_LINK
    together = optimizer.ScanCost(link, sum(widths), 0.0).seconds(moved)
    # a member whose scan also serves other references is read apart anyway: joining it saves
    # nothing of that read (and costs the source a second pass over its table)
    apart = sum(optimizer.ScanCost(link, w, 0.0).seconds(r)
                for r, w, m in zip(apart_rows, widths, members, strict=True) if len(m.scan.instances) == 1)
    # apart, the bigger reads wait for the smaller ones' keys: sent, and one round trip more each
    apart += (sum(apart_rows) - max(apart_rows)) * optimizer.KEY_SECONDS
    return together <= JOIN_WORTH * apart, moved, together, apart


def join_rows(rows: Sequence[float], ndv: Sequence[Mapping[str, float]],
              conditions: Sequence[tuple[int, str, int, str]]) -> float:
    """Rows of an equi-join: the members' rows multiplied, divided for each condition that joins
    two parts not yet joined by the larger distinct count of its columns (the classic estimate
    for key/foreign-key joins; conditions closing a cycle are not counted, which overestimates).
    ``ndv`` holds the distinct counts the statistics know.

    >>> join_rows([150_000, 1_500_000], [{"c_custkey": 150_000}, {"o_custkey": 100_000}],
    ...           [(0, "c_custkey", 1, "o_custkey")])
    1500000.0
    >>> join_rows([200_000, 800_000], [{}, {}], [(0, "p_partkey", 1, "ps_partkey")])
    800000.0
    """
    total = 1.0
    for r in rows:
        total *= max(r, 1.0)
    parent = list(range(len(rows)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, ca, b, cb in conditions:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        parent[rb] = ra
        # an unknown distinct count is taken from the other side, or (both unknown) the smaller
        # side is taken for the key: a foreign key joined to its key keeps the larger side
        known = [d for d in (ndv[a].get(ca), ndv[b].get(cb)) if d is not None]
        total /= max(max(known) if known else min(rows[a], rows[b]), 1.0)
    return max(total, 1.0)
