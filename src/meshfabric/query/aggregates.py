"""Aggregation pushdown: a grouped SELECT over products of one SQL source runs in that source,
and only its groups move.

``SELECT region, sum(amount) FROM sales.orders GROUP BY region`` read product by product moves
every order into the engine to make a handful of rows; TPC-H Q13's derived table counts 1.5M
orders per customer to return 150,000 counts. Pushed, PostgreSQL (or MariaDB, or SQLite)
aggregates where the rows lie.

A SELECT is pushed whole, or not at all, and only when every part of it means the same in the
source as in DuckDB:

* it is the query itself, a derived table or a CTE body, with no subquery, window, DISTINCT,
  HAVING or set operation inside, and its own ORDER BY/LIMIT only at the top (they stay in the
  engine, over the pushed result);
* its FROM items are unsecured product references of one source, inner- or left-joined;
* every condition (WHERE and ON) translates exactly: a predicate over one product's columns that
  its source evaluates like DuckDB (:func:`meshfabric.connectors.pushdown.prepare_predicate`), or
  an equality between two columns the source compares like DuckDB;
* it groups by plain columns whose equality is exact in the source (no case-blind collation),
  and computes only ``count(*)``, ``count(col)``, ``count(DISTINCT col)`` (exact columns),
  ``min``/``max`` (exact order) and ``sum`` of integer or decimal columns — no floating-point sum
  or average, whose rounding would differ.

The engine query keeps the SELECT's place and names: it reads the pushed result and casts each
aggregate to the type DuckDB would have given it (``count`` BIGINT, an integer ``sum`` HUGEINT, a
decimal ``sum`` DECIMAL(38, s)), so the answer is DuckDB's to the type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlglot import exp

from meshfabric.query.joins import _aliased, _plain, _sql_port, join_rows, take_references

if TYPE_CHECKING:
    from meshfabric.connectors.base import ColumnInfo
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.planner import Scan
    from meshfabric.types import LogicalType

_INTEGERS = ("tinyint", "smallint", "integer", "bigint")


@dataclass
class _Member:
    scan: Scan
    instance: int
    alias: str
    infos: dict[str, ColumnInfo]  # real source columns


@dataclass
class _Output:
    name: str  # the name the engine query gives it
    source: exp.Expression  # the expression the source computes (as o<k>)
    logical: LogicalType
    cast: str | None  # the DuckDB type the engine casts it to, None to keep the source's


def push_aggregates(
    query: exp.Query,
    scans: list[Scan],
    catalog: ProductCatalog,
    *,
    tag: str,
    columns_of: Callable[[Scan], Mapping[str, ColumnInfo]],
    relation_of: Callable[[Scan], str],
) -> tuple[exp.Query, list[Scan], dict[str, float]]:
    """Push every grouped SELECT of ``query`` that can run whole in its source (see the module);
    return the engine query (edited in place, a new root when the whole query was pushed), the
    scans (each pushed SELECT's references replaced by one scan of its result) and the pushed
    scans' estimated rows."""
    from meshfabric.query.planner import SCAN_PREFIX

    by_instance = {i: s for s in scans for i in s.instances}
    out_scans = list(scans)
    estimates: dict[str, float] = {}
    fresh = len(scans) + 100  # distinct from the names joins may take
    root = query
    for select in list(query.find_all(exp.Select)):
        top = select is root
        if not (top or _derived(select)):
            continue
        members = _members(select, tag, by_instance, catalog)
        if members is None:
            continue
        try:
            connector = catalog.connector(members[0].scan.source)
            for m in members:
                m.infos = dict(columns_of(m.scan))
            built = _statement(select, members, connector, relation_of, renamed=_renamed(select))
        except Exception:  # a port that cannot be resolved is read as usual (and reports its error)
            continue
        if built is None:
            continue
        statement, outputs, groups = built
        name = f"{SCAN_PREFIX}{fresh}"
        fresh += 1
        scan = _scan(name, members, statement, outputs)
        wrapper = _engine_select(select, name, outputs, top)
        if wrapper is None:
            continue
        if top:
            root = wrapper
        else:
            select.replace(wrapper)
        estimates[name] = _estimate(members, groups, catalog)
        scan = replace(scan, why=(f"grouped in the source: ~{estimates[name]:,.0f} groups move "
                                  "instead of its products' rows",))
        out_scans = take_references(out_scans, by_instance, scan)
    return root, out_scans, estimates


def _derived(select: exp.Select) -> bool:
    """Whether ``select`` is a derived table's or a CTE's body."""
    parent = select.parent
    if isinstance(parent, exp.CTE):
        return True
    return isinstance(parent, exp.Subquery) and isinstance(parent.parent, (exp.From, exp.Join))


def _members(select: exp.Select, tag: str, by_instance: Mapping[int, Scan],
             catalog: ProductCatalog) -> list[_Member] | None:
    """The product references a pushable SELECT reads, all of one source; None when it is not."""
    if not select.args.get("group") and not select.find(exp.AggFunc):
        return None
    if any(select.args.get(k) for k in ("distinct", "having", "qualify", "windows", "laterals", "pivots")):
        return None
    if any(n is not select for n in select.find_all(exp.Select)) or select.find(exp.Window, exp.Subquery):
        return None
    if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
           for e in select.expressions):
        return None
    from_ = select.args.get("from_")
    if from_ is None:
        return None
    items = [from_.this, *(j.this for j in select.args.get("joins") or [])]
    for join in select.args.get("joins") or []:
        side = (join.side or "").upper()
        if side not in ("", "LEFT") or (join.kind or "").upper() not in ("", "INNER", "CROSS", "OUTER"):
            return None
        if join.args.get("using") or join.args.get("method"):
            return None
    members: list[_Member] = []
    for item in items:
        if not isinstance(item, exp.Table) or tag not in item.meta or any(
                item.args.get(k) for k in ("joins", "pivots", "laterals")):
            return None
        alias = item.args.get("alias")
        if alias is not None and alias.columns:
            return None
        scan = by_instance.get(item.meta[tag])
        if scan is None or not _plain(scan, catalog, columns=False):
            return None
        members.append(_Member(scan, item.meta[tag], item.alias_or_name, {}))
    if len({m.scan.source for m in members}) != 1 or len({m.alias.lower() for m in members}) != len(members):
        return None
    return members


class _Untranslatable(Exception):
    """A part of the SELECT that the source would not compute exactly as DuckDB does."""


def _renamed(select: exp.Select) -> bool:
    """Whether the outputs are renamed by position (``(SELECT ...) AS t(a, b)``)."""
    parent = select.parent
    alias = parent.args.get("alias") if isinstance(parent, (exp.Subquery, exp.CTE)) else None
    return bool(alias is not None and alias.columns)


def _statement(select: exp.Select, members: list[_Member], connector: object,
               relation_of: Callable[[Scan], str], *, renamed: bool,
               ) -> tuple[str, list[_Output], list[tuple[int, str]]] | None:
    """The SELECT in the source's dialect, its outputs and its group columns; None when a part of
    it cannot be translated exactly."""
    dialect = connector.dialect  # type: ignore[attr-defined]
    rules = connector.pushdown_rules  # type: ignore[attr-defined]
    translator = _Translator(members, dialect, rules)
    try:
        groups = [translator.column(g) for g in (select.args["group"].expressions if select.args.get("group") else [])]
        for i, real in groups:
            translator.require_exact(i, real, ordering=False)
        outputs = [translator.output(e, k, groups, renamed) for k, e in enumerate(select.expressions)]
        where = [translator.predicate(c) for c in _conjuncts(select.args.get("where"))]
        source_select = exp.Select(expressions=[o.source.as_(f"o{k}", quoted=True) for k, o in enumerate(outputs)])
        source_select = source_select.from_(_aliased(relation_of(members[0].scan), "t0", dialect), copy=False)
        for index, join in enumerate(select.args.get("joins") or [], start=1):
            on = [translator.predicate(c) for c in _conjuncts(join.args.get("on"))]
            condition = exp.and_(*on) if on else exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(1))
            source_select = source_select.join(
                _aliased(relation_of(members[index].scan), f"t{index}", dialect), on=condition,
                join_type="LEFT" if (join.side or "").upper() == "LEFT" else None, copy=False)
        if where:
            source_select = source_select.where(exp.and_(*where), copy=False)
        if groups:
            source_select = source_select.group_by(
                *(exp.column(real, table=f"t{i}", quoted=True) for i, real in groups), copy=False)
    except _Untranslatable:
        return None
    return source_select.sql(dialect=dialect), outputs, groups


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    node = node.this if isinstance(node, exp.Where) else node
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this), *_conjuncts(node.expression)]
    return [node]


class _Translator:
    def __init__(self, members: list[_Member], dialect: str, rules: str | None) -> None:
        from meshfabric.connectors.pushdown import _pushdown_dialect

        self.members = members
        self.dialect = dialect
        self.rules = rules
        self.rules_dialect = _pushdown_dialect(dialect, rules)
        self.by_alias = {m.alias.lower(): i for i, m in enumerate(members)}
        self.lowered = [{n.lower(): n for n in m.infos} for m in members]

    def column(self, node: exp.Expression) -> tuple[int, str]:
        """(member, real column name) a column reference reads."""
        if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
            raise _Untranslatable
        name = node.name.lower()
        if node.table:
            index = self.by_alias.get(node.table.lower())
            if index is None or name not in self.lowered[index]:
                raise _Untranslatable
            return index, self.lowered[index][name]
        found = [(i, names[name]) for i, names in enumerate(self.lowered) if name in names]
        if len(found) != 1:
            raise _Untranslatable
        return found[0]

    def require_exact(self, index: int, real: str, *, ordering: bool) -> None:
        """Equality (or order) of the column in the source is DuckDB's."""
        from meshfabric.connectors.dialects.base import FAMILIES

        info = self.members[index].infos[real]
        family = FAMILIES.get(info.type.name)
        if family == "string":
            d = self.rules_dialect
            ok = d.pushes_string_order(info) if ordering else d.pushes_string_equality(info)
            if not ok:
                raise _Untranslatable
        elif family not in ("number", "temporal", "boolean"):
            raise _Untranslatable

    def ref(self, node: exp.Expression) -> exp.Expression:
        index, real = self.column(node)
        return exp.column(real, table=f"t{index}", quoted=True)

    def predicate(self, node: exp.Expression) -> exp.Expression:
        from meshfabric.connectors.pushdown import equi_joinable, prepare_predicate

        columns = list(node.find_all(exp.Column))
        resolved = [self.column(c) for c in columns]
        used = {i for i, _ in resolved}
        if len(used) == 1:
            (index,) = used
            bare = node.copy()
            for column in list(bare.find_all(exp.Column)):
                _, real = self.column(column)
                column.replace(exp.column(real, quoted=True))
            prepared = prepare_predicate(bare, self.members[index].infos, self.dialect, rules=self.rules)
            if prepared is None:
                raise _Untranslatable
            for column in prepared.find_all(exp.Column):
                if not column.table:
                    column.set("table", exp.to_identifier(f"t{index}", quoted=True))
            return prepared
        inner = node
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if len(used) == 2 and isinstance(inner, exp.EQ) and all(isinstance(s, exp.Column)
                                                                 for s in (inner.this, inner.expression)):
            (a, ca), (b, cb) = self.column(inner.this), self.column(inner.expression)
            if equi_joinable(self.members[a].infos[ca], self.members[b].infos[cb], self.dialect, rules=self.rules):
                return exp.EQ(this=exp.column(ca, table=f"t{a}", quoted=True),
                              expression=exp.column(cb, table=f"t{b}", quoted=True))
        raise _Untranslatable

    def exact_sum(self, node: exp.Expression, scale: int) -> exp.Expression:
        """``sum`` as an exact decimal where the source would widen it to an unbounded numeric
        (PostgreSQL) or a double-sized decimal; SQLite sums integers exactly as it is."""
        total: exp.Expression = exp.Sum(this=self.ref(node))
        if self.dialect in ("postgres", "mysql"):
            total = exp.Cast(this=total, to=exp.DataType.build(f"DECIMAL(38, {scale})"))
        return total

    def output(self, node: exp.Expression, k: int, groups: Sequence[tuple[int, str]], renamed: bool) -> _Output:
        from meshfabric.types import LogicalType

        alias = node.alias if isinstance(node, exp.Alias) else ""
        inner = node.this if isinstance(node, exp.Alias) else node
        if isinstance(inner, exp.Column):
            index, real = self.column(inner)
            if groups and (index, real) not in groups:
                raise _Untranslatable  # the engine reports the error; the source must not answer
            info = self.members[index].infos[real]
            return _Output(alias or inner.name, exp.column(real, table=f"t{index}", quoted=True), info.type,
                           _duckdb_type(info.type))
        if not alias:
            if not renamed:
                raise _Untranslatable  # DuckDB names an expression after its text: keep it in the engine
            alias = f"o{k}"
        if isinstance(inner, exp.Count):
            arg = inner.this
            if isinstance(arg, exp.Star):
                return _Output(alias, exp.Count(this=exp.Star()), LogicalType("bigint"), "BIGINT")
            if isinstance(arg, exp.Distinct):
                (only,) = arg.expressions if len(arg.expressions) == 1 else (None,)
                if only is None:
                    raise _Untranslatable
                index, real = self.column(only)
                self.require_exact(index, real, ordering=False)
                return _Output(alias, exp.Count(this=exp.Distinct(expressions=[self.ref(only)])),
                               LogicalType("bigint"), "BIGINT")
            return _Output(alias, exp.Count(this=self.ref(arg)), LogicalType("bigint"), "BIGINT")
        if isinstance(inner, (exp.Min, exp.Max)) and not inner.args.get("expressions"):
            index, real = self.column(inner.this)
            self.require_exact(index, real, ordering=True)
            info = self.members[index].infos[real]
            return _Output(alias, type(inner)(this=self.ref(inner.this)), info.type, _duckdb_type(info.type))
        if isinstance(inner, exp.Sum):
            index, real = self.column(inner.this)
            t = self.members[index].infos[real].type
            if t.name in _INTEGERS:
                return _Output(alias, self.exact_sum(inner.this, 0), LogicalType("decimal", 38, 0), "HUGEINT")
            if t.name == "decimal":
                scale = t.scale or 0
                return _Output(alias, self.exact_sum(inner.this, scale), LogicalType("decimal", 38, scale),
                               f"DECIMAL(38, {scale})")
        raise _Untranslatable


def _duckdb_type(logical: LogicalType) -> str | None:
    """The DuckDB type the engine gives a column of this logical type (a source may describe a
    computed column loosely: SQLite's ``min`` over no rows has no type at all)."""
    from meshfabric.query.planner import _sqlglot_type

    name = _sqlglot_type(logical)
    return None if name == "UNKNOWN" else name


def _engine_select(select: exp.Select, scan_name: str, outputs: list[_Output], top: bool) -> exp.Select | None:
    """What the engine runs in the pushed SELECT's place: its outputs, read from the scan, cast to
    DuckDB's types; at the top also its ORDER BY (over output names) and LIMIT."""
    projection: list[exp.Expression] = []
    for k, o in enumerate(outputs):
        value: exp.Expression = exp.column(f"o{k}", quoted=True)
        if o.cast is not None:
            value = exp.Cast(this=value, to=exp.DataType.build(o.cast, dialect="duckdb"))
        projection.append(value.as_(o.name, quoted=True))
    wrapper = exp.Select(expressions=projection).from_(exp.to_table(scan_name), copy=False)
    order = select.args.get("order")
    if order is not None:
        if not top:
            return None
        by_text = {e.this.sql() if isinstance(e, exp.Alias) else e.sql(): o.name
                   for e, o in zip(select.expressions, outputs, strict=True)}
        names = {o.name.lower() for o in outputs}
        ordered = []
        for item in order.expressions:
            key = item.this
            if isinstance(key, exp.Literal) and not key.is_string:
                target: exp.Expression = key.copy()
            elif isinstance(key, exp.Column) and not key.table and key.name.lower() in names:
                target = exp.column(key.name, quoted=True)
            elif key.sql() in by_text:
                target = exp.column(by_text[key.sql()], quoted=True)
            else:
                return None
            ordered.append(replace_ordered(item, target))
        wrapper = wrapper.order_by(*ordered, copy=False)
    for key in ("limit", "offset"):
        if select.args.get(key) is not None:
            if not top:
                return None
            wrapper.set(key, select.args[key].copy())
    return wrapper


def replace_ordered(item: exp.Ordered, target: exp.Expression) -> exp.Ordered:
    copy = item.copy()
    copy.set("this", target)
    return copy


def _scan(name: str, members: list[_Member], statement: str, outputs: list[_Output]) -> Scan:
    from meshfabric.query.catalog import ProductBinding, ProductColumn

    first = members[0].scan
    columns = tuple(ProductColumn(f"o{k}", o.logical, True) for k, o in enumerate(outputs))
    binding = ProductBinding(domain=first.binding.domain, name=first.binding.name, source=first.source,
                             port=_sql_port(first, statement), columns=columns,
                             status=first.binding.status)
    return replace(first, name=name, binding=binding, columns=tuple(c.name for c in columns), filters=(), kept=(),
                   instances=tuple(m.instance for m in members), joined=tuple(m.scan.product for m in members),
                   aggregated=True, dynamic=())


def _estimate(members: list[_Member], groups: list[tuple[int, str]], catalog: ProductCatalog) -> float:
    """Groups expected: the product of the group columns' distinct counts, at most the rows."""
    from meshfabric.query import optimizer

    if not groups:
        return 1.0
    stats = optimizer.statistics_of([m.scan for m in members], catalog)
    rows = [optimizer.estimate_rows(m.scan, stats[m.scan.name]) for m in members]
    total = join_rows(rows, [{} for _ in members], [])  # an upper bound: the cross product
    found = 1.0
    for index, real in groups:
        found *= optimizer.distinct(stats[members[index].scan.name], real, rows[index])
    return max(1.0, min(found, total))
