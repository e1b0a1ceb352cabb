"""Decide what each source is asked for: the federated planner, as functions over sqlglot trees.

Input is a query that passed :mod:`meshfabric.query.guard`; output is a :class:`Plan`: one
:class:`Scan` per distinct read of a product (its columns, the filter conjuncts its source can
evaluate, sometimes a LIMIT) and the query the engine runs once every scan is registered under
its internal name. Planning reads no data: besides the tree it only consults the catalog (the
bindings, and each connector's verdict on a predicate given the port's real columns), so the
same query over the same catalog always gives the same plan — the seam where a cost-based
planner will later decide more.

Every product reference is planned on its own, because one product can appear several times
with different needs (a correlated subquery over the same table, a self-join). For each
reference the planner collects

* the columns the query reads from it — after sqlglot's ``qualify`` resolved every column to
  its source, so correlated references count for the outer reference;
* the filter conjuncts that mention only that reference and hold for every row that can reach
  the result: WHERE conjuncts and INNER JOIN ON conjuncts of the scope it is selected in, the ON
  conjuncts of a LEFT/SEMI/ANTI join about its right side, and never a WHERE conjunct about the
  null-supplying side of an outer join. A disjunction whose every branch says something about
  the reference yields the disjunction of those parts (TPC-H Q19's ``(p AND l1) OR (p AND l2)``
  pushes ``l1 OR l2`` to lineitem): it is implied by the original, so pushing it only removes
  rows that could never match.

Pushing is an optimisation, never a change of meaning: the engine runs the whole original query
again over the scanned rows, so every filter is re-applied where the user wrote it.

>>> from meshfabric.query.planner import restrict_predicate
>>> import sqlglot
>>> pred = sqlglot.parse_one("(p.brand = 'A' AND l.qty < 5) OR (p.brand = 'B' AND l.qty > 9)")
>>> restrict_predicate(pred, "l", lambda e: True).sql()
'"qty" < 5 OR "qty" > 9'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlglot import exp
from sqlglot.errors import OptimizeError

from meshfabric.errors import QueryError, SourceError
from meshfabric.query.guard import DIALECT, product_tables, resolve_product
from meshfabric.query.secure import SALT_COLUMN, SECURE_TAG, SecuredView

if TYPE_CHECKING:
    from sqlglot.optimizer.scope import Scope

    from meshfabric.connectors.base import ColumnInfo, Connector, ScanRequest, TableStatistics
    from meshfabric.query.catalog import ProductBinding, ProductCatalog
    from meshfabric.query.optimizer import DynamicFilter, ScanCost
    from meshfabric.spec.models import OutputPort
    from meshfabric.types import LogicalType

T = TypeVar("T")

SCAN_PREFIX = "__mf_scan_"
_TAG = "mf_instance"
_IN_TAG = "mf_in_subquery"

#: Functions whose value differs between evaluations or between servers' clocks and zones.
_VOLATILE = tuple(
    t for n in ("Rand", "Uuid", "CurrentDate", "CurrentTimestamp", "CurrentTime") if (t := getattr(exp, n, None))
)
_VOLATILE_NAMES = frozenset({"now", "random", "gen_random_uuid", "setseed"})

#: Clauses after which a LIMIT no longer means "the first n rows the source returns".
_BLOCKS_LIMIT = ("with_", "joins", "laterals", "where", "group", "having", "qualify", "order", "distinct", "windows")


@dataclass(frozen=True)
class Scan:
    """One read of one product, registered in the engine as ``name``.

    ``filters`` are the conjuncts the source said it can evaluate exactly
    (:meth:`Connector.can_push`), over unqualified column names; ``kept`` are conjuncts about this
    product alone that the source cannot evaluate (they run only in the engine). ``instances``
    are the product references of the query this scan serves, numbered in tree order.
    """

    name: str
    binding: ProductBinding
    columns: tuple[str, ...]
    filters: tuple[exp.Expression, ...] = ()
    kept: tuple[exp.Expression, ...] = ()
    limit: int | None = None
    instances: tuple[int, ...] = ()
    #: the access policy's row filter of a secured product: pushed like any filter when the
    #: source can evaluate it, and applied again by the engine while it loads the scan, before
    #: any user expression runs, so hidden rows are never visible to the query
    row_filter: exp.Expression | None = None
    #: salt of ``hash`` masks, supplied to the engine as a column of the scan (never SQL text)
    salt: str | None = field(default=None, repr=False)
    #: where the scan runs: "source" (its connector reads it and the rows move into the engine)
    #: or "engine" (the engine's DuckDB reads the data where it lies; see :mod:`.optimizer`)
    placement: str = "source"
    #: keys this scan waits for before it is sent (:class:`~meshfabric.query.optimizer.DynamicFilter`)
    dynamic: tuple[DynamicFilter, ...] = ()
    #: rows the optimizer expects the scan to return (after its dynamic filters)
    estimated_rows: float | None = None
    #: the products of a join pushed into the source (:mod:`.joins`), in the order joined: the
    #: scan reads them as one statement (its port's ``sql``); empty for a read of one product
    joined: tuple[str, ...] = ()
    #: the scan is a grouped SELECT run whole in the source (:mod:`.aggregates`): its columns are
    #: that SELECT's outputs, not the products' columns
    aggregated: bool = False
    #: why the optimizer chose what it did for this scan, for ``explain`` (costs in seconds)
    why: tuple[str, ...] = ()
    #: seconds the optimizer expects the scan to take (its link and rows), None before it ran
    estimated_seconds: float | None = None

    @property
    def source(self) -> str:
        return self.binding.source

    @property
    def product(self) -> str:
        return " + ".join(self.joined) if self.joined else self.binding.fqn

    def request(self) -> ScanRequest:
        """The connector request for this scan (filters copied: connectors may rewrite them)."""
        from meshfabric.connectors.base import ScanRequest

        return ScanRequest(
            port=self.binding.port,
            columns=list(self.columns),
            filters=[f.copy() for f in self.filters],
            limit=self.limit,
        )

    def describe(self, source_sql: str | None = None) -> str:
        n_all = len(self.binding.columns) if not self.joined else len(self.columns)
        lines = [
            f"{self.name} <- {self.product}  (source '{self.source}')",
            f"    columns: {', '.join(self.columns) or '(row count only)'}  ({len(self.columns)} of {n_all})",
        ]
        if self.placement == "engine":
            lines.append("    runs in: the engine, reading the files where they lie (no rows move)")
        if self.aggregated:
            lines.append(f"    aggregated in the source: {', '.join(self.joined)} (only the groups move)")
        elif self.joined:
            lines.append(f"    joined in the source: {', '.join(self.joined)} (one statement; only joined rows move)")
        if self.estimated_rows is not None:
            lines.append(f"    estimated rows: {self.estimated_rows:,.0f}")
        if self.estimated_seconds is not None:
            lines.append(f"    estimated cost: {self.estimated_seconds:.3f} s")
        lines += [f"    why: {reason}" for reason in self.why]
        lines += [f"    waits for: {d.describe()}" for d in self.dynamic]
        lines += [f"    pushed:  {f.sql(dialect=DIALECT)}" for f in self.filters]
        lines += [f"    kept:    {f.sql(dialect=DIALECT)}  (the source cannot evaluate it)" for f in self.kept]
        if self.row_filter is not None:
            lines.append(f"    policy:  rows where {self.row_filter.sql(dialect=DIALECT)}  (applied at the scan)")
        if self.limit is not None:
            lines.append(f"    limit:   {self.limit}")
        if source_sql:
            lines.append(f"    source SQL: {source_sql}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Plan:
    """What runs where: the scans, and the query the engine runs over them."""

    query: exp.Query
    scans: tuple[Scan, ...]
    source_sql: dict[str, str] = field(default_factory=dict)

    @property
    def sql(self) -> str:
        """The engine query text (DuckDB), product references replaced by scan names."""
        return self.query.sql(dialect=DIALECT)

    def as_dict(self) -> dict[str, object]:
        """The plan for tools (``explain --json``): per scan where it runs, what it reads, the
        filters it pushes or keeps, the keys it waits for, its estimated rows and source SQL."""
        from meshfabric.connectors.pushdown import KeyRef

        def text(f: exp.Expression) -> str:
            return f.sql(dialect=DIALECT) if f.find(KeyRef) is None else "(keys)"

        return {
            "scans": [
                {
                    "name": s.name,
                    "product": s.product,
                    "source": s.source,
                    "placement": s.placement,
                    "joined": list(s.joined),
                    "aggregated": s.aggregated,
                    "columns": list(s.columns),
                    "pushed_filters": [text(f) for f in s.filters],
                    "kept_filters": [text(f) for f in s.kept],
                    "dynamic_filters": [
                        {"column": d.column, "producer": d.producer, "producer_column": d.producer_column,
                         "kind": d.kind, "expected_keep": d.keep,
                         "expected_seconds": list(d.seconds) if d.seconds is not None else None}
                        for d in s.dynamic
                    ],
                    "estimated_rows": s.estimated_rows,
                    "estimated_seconds": s.estimated_seconds,
                    "why": list(s.why),
                    "limit": s.limit,
                    "source_sql": self.source_sql.get(s.name),
                }
                for s in self.scans
            ],
            "engine_sql": self.sql,
        }

    def __str__(self) -> str:
        head = f"plan: {len(self.scans)} scan{'s' if len(self.scans) != 1 else ''}, joined in DuckDB"
        parts = [head]
        parts += [s.describe(self.source_sql.get(s.name)) for s in self.scans]
        parts.append("engine SQL:\n    " + self.query.sql(dialect=DIALECT, pretty=True).replace("\n", "\n    "))
        return "\n".join(parts)


@dataclass
class _Instance:
    """One product reference of the query while it is being planned."""

    id: int
    binding: ProductBinding
    alias: str
    renames_columns: bool
    secured: SecuredView | None = None
    #: the policy's row filter over the product's real column names (as offered to the source)
    policy_filter: exp.Expression | None = None
    columns: set[str] = field(default_factory=set)
    filters: list[exp.Expression] = field(default_factory=list)
    kept: list[exp.Expression] = field(default_factory=list)


def plan(expression: exp.Query, catalog: ProductCatalog, *, limit: int | None = None) -> Plan:
    """Plan a guarded query: which scans to run and the engine query over them.

    ``limit`` caps the result rows (the API's and CLI's ``--limit``) on top of any LIMIT in the
    query. The catalog is read for bindings, connectors' ``can_push`` and the real columns of each
    port (collations decide what can be pushed); nothing else is touched.

    Traced as a ``plan`` span (the OpenTelemetry API, only when the process exports spans): the scans
    planned and the filters pushed to their sources.
    """
    from meshfabric.query.engine import tracer

    spans = tracer()
    if spans is None:
        return _plan(expression, catalog, limit)
    with spans.start_as_current_span("plan") as span:
        planned = _plan(expression, catalog, limit)
        span.set_attribute("meshfabric.scans", len(planned.scans))
        span.set_attribute("meshfabric.products", sorted({s.product for s in planned.scans}))
        span.set_attribute("meshfabric.filters_pushed", sum(len(s.filters) for s in planned.scans))
        return planned


def _plan(expression: exp.Query, catalog: ProductCatalog, limit: int | None) -> Plan:
    query = with_limit(expression.copy(), limit) if limit is not None else expression.copy()
    instances = _tag_instances(query, catalog)
    equalities: list[_Equality] = []
    semi: list[tuple[int, str, int]] = []
    if instances:
        for number, node in enumerate(query.find_all(exp.In)):
            if node.args.get("query") is not None:
                node.meta[_IN_TAG] = number
        equalities = _analyse(query, instances, catalog, semi)
    scan_limit = pushable_limit(query) if len(instances) == 1 else None
    scans = _build_scans(instances, scan_limit, _relations(instances, equalities))
    rewritten = _rewrite(query, instances, scans)  # names only: the scans' placement and keys come next
    estimates: dict[str, float] = {}
    if scans:
        from meshfabric.query.aggregates import push_aggregates

        rewritten, scans, estimates = push_aggregates(
            rewritten, scans, catalog, tag=_TAG, columns_of=_scan_columns(catalog),
            relation_of=_scan_relation(catalog))
        inside = {i for s in scans if s.aggregated for i in s.instances}
        # an aggregated scan returns groups, not its products' rows: it gives and takes no keys
        equalities = [e for e in equalities if e[0][0] not in inside and e[1][0] not in inside]
        semi = [t for t in semi if t[0] not in inside]
    if len(scans) > 1:
        from meshfabric.query.partial import push_partial

        rewritten, scans, partial = push_partial(
            rewritten, scans, catalog, tag=_TAG, excluded={i for i, _, _ in semi},
            columns_of=_scan_columns(catalog), relation_of=_scan_relation(catalog))
        estimates.update(partial)
        # a partial scan's rows are groups of its product: its keys still give and take keys
        keyed = {i: {c.name for c in s.binding.columns} for s in scans if s.name in partial for i in s.instances}
        equalities = [e for e in equalities if all(side[1] in keyed.get(side[0], {side[1]}) for side in e[:2])]
    if len(scans) > 1:
        from meshfabric.query.joins import push_joins

        scans, joined = push_joins(
            rewritten, scans, equalities, catalog, tag=_TAG, excluded={i for i, _, _ in semi},
            columns_of=_scan_columns(catalog), relation_of=_scan_relation(catalog))
        estimates.update(joined)
    if len(scans) > 1:
        from meshfabric.query.joins import push_semijoins

        scans, absorbed = push_semijoins(rewritten, scans, catalog, tag=_TAG, columns_of=_scan_columns(catalog),
                                         relation_of=_scan_relation(catalog))
        # a reference read inside another scan's statement gives and takes no keys
        equalities = [e for e in equalities if e[0][0] not in absorbed and e[1][0] not in absorbed]
        semi = [t for t in semi if t[0] not in absorbed]
    return Plan(rewritten, tuple(_optimise(scans, equalities, catalog, semi, rewritten, estimates)))


def _scan_columns(catalog: ProductCatalog) -> Callable[[Scan], dict[str, ColumnInfo]]:
    return lambda s: _COLUMNS.get(catalog.connector(s.source), s.binding.port, _port_key(s.binding))


def _scan_relation(catalog: ProductCatalog) -> Callable[[Scan], str]:
    return lambda s: _RELATIONS.get(catalog.connector(s.source), s.binding.port, _port_key(s.binding))


def _subquery_keys(
    scans: list[Scan], placed: dict[str, str], semi: list[tuple[int, str, int]], query: exp.Query
) -> dict[str, DynamicFilter]:
    """``x IN (SELECT ...)`` where the subquery is uncorrelated and reads only scans the engine
    reads in place: the scan of ``x`` waits for the subquery's distinct result as its keys
    (TPC-H Q18: the few orders whose lines sum past 300, not all 1.5M of them)."""
    from meshfabric.query import optimizer

    nodes = {n.meta[_IN_TAG]: n for n in query.find_all(exp.In) if _IN_TAG in n.meta}
    in_place = {name for name, where in placed.items() if where == "engine"}
    by_instance = {i: s for s in scans for i in s.instances}
    found: dict[str, DynamicFilter] = {}
    for instance_id, column, number in semi:
        scan = by_instance.get(instance_id)
        node = nodes.get(number)
        if scan is None or node is None or len(scan.instances) != 1 or placed[scan.name] != "source":
            continue
        if scan.row_filter is not None or scan.salt is not None or scan.limit is not None or scan.name in found:
            continue
        sub = node.args["query"]
        sub = sub.this if isinstance(sub, exp.Subquery) else sub
        read = {t.name for t in sub.find_all(exp.Table)}
        if not read or not read <= in_place or not isinstance(sub, exp.Query) or len(sub.selects) != 1:
            continue
        kind = optimizer.key_kind(next((c.type.name for c in scan.binding.columns if c.name == column), ""))
        if kind is not None:
            found[scan.name] = optimizer.DynamicFilter(
                column, "(subquery)", "", kind, optimizer.SUBQUERY_KEEP, subquery=sub.sql(dialect=DIALECT),
                in_tag=number)
    return found


def _optimise(
    scans: list[Scan], equalities: list[_Equality], catalog: ProductCatalog,
    semi: list[tuple[int, str, int]], query: exp.Query, joined: Mapping[str, float] | None = None,
) -> list[Scan]:
    """Placement, estimates and dynamic filters (:mod:`meshfabric.query.optimizer`)."""
    from meshfabric.query import optimizer

    if not scans:
        return scans
    stats = optimizer.statistics_of(scans, catalog)
    estimates = {s.name: (joined or {}).get(s.name) or optimizer.estimate_rows(s, stats[s.name]) for s in scans}
    placed = {s.name: _placement(s, catalog) for s in scans}
    from_subqueries = _subquery_keys(scans, placed, semi, query) if semi else {}
    for name, found in from_subqueries.items():
        estimates[name] = max(estimates[name] * found.keep, 1.0)
    mutual = [(a, b) for a, b, both in equalities if both]
    directed = [(a, b) for a, b, both in equalities if not both]
    consumers = {s.name for s in scans if placed[s.name] == "source"
                 and s.row_filter is None and s.salt is None and s.limit is None}
    costs = {s.name: _cost(s, placed[s.name], stats[s.name], catalog) for s in scans}
    dynamic = (optimizer.plan_dynamic_filters(scans, mutual, directed, estimates, stats, consumers=consumers,
                                              costs=costs, arrays=_array_consumers(scans, catalog))
               if equalities else {})
    out = []
    for s in scans:
        filters = dynamic.get(s.name, ())
        rows = estimates[s.name]
        for f in filters:
            rows *= f.keep
        if s.name in from_subqueries:
            filters = (from_subqueries[s.name], *filters)
        rows = max(rows, 1.0)
        out.append(replace(s, placement=placed[s.name], dynamic=filters, estimated_rows=rows,
                           estimated_seconds=costs[s.name].seconds(rows),
                           why=(*s.why, _placement_reason(s, placed[s.name], costs[s.name]))))
    return out


def _array_consumers(scans: list[Scan], catalog: ProductCatalog) -> set[str]:
    """The scans whose source takes an integer key set as one array literal (its dialect's
    ``integer_key_array``): they may be sent far more keys (:func:`optimizer.key_cap`)."""
    from meshfabric.connectors import dialects

    found = set()
    for s in scans:
        try:
            connector = catalog.connector(s.source)
            if dialects.dialect(connector.pushdown_rules or connector.dialect).integer_key_array:
                found.add(s.name)
        except Exception:  # an unknown source is reported when the scan runs
            continue
    return found


def _placement_reason(scan: Scan, placement: str, cost: ScanCost) -> str:
    if placement == "engine":
        return "read by the engine where its files lie: nothing crosses a link"
    link = cost.link
    where = (f"over its {link.origin} link ({link.bytes_per_second / 1e6:,.0f} MB/s, "
             f"{link.latency * 1000:.1f} ms a statement)" if link is not None else "")
    if scan.row_filter is not None or scan.salt is not None:
        return f"read by its connector {where}: the access policy is applied while its rows load"
    return f"read by its connector {where}".rstrip()


def _cost(scan: Scan, placement: str, stats: TableStatistics | None, catalog: ProductCatalog) -> ScanCost:
    from meshfabric.query import optimizer

    link = None
    if placement == "source":
        try:
            link = optimizer.link_of(catalog.connector(scan.source))
        except Exception:  # an unknown source is reported when the scan runs
            link = optimizer.DEFAULT_LINK
    return optimizer.ScanCost(link, optimizer.row_width(scan, stats), optimizer.table_rows(stats))


def _placement(scan: Scan, catalog: ProductCatalog) -> str:
    """"engine" when the engine's DuckDB can read the scan's data itself and no access policy
    has to be applied while loading it; "source" otherwise."""
    if scan.row_filter is not None or scan.salt is not None or not scan.columns:
        return "source"
    try:
        connector = catalog.connector(scan.source)
    except Exception:  # an unknown source is reported when the scan runs
        return "source"
    return "engine" if getattr(connector, "reads_in_place", False) else "source"


def with_limit(query: exp.Query, limit: int) -> exp.Query:
    """Cap the rows a query returns at ``limit``, keeping a smaller LIMIT it already has.

    >>> import sqlglot
    >>> with_limit(sqlglot.parse_one("SELECT a FROM d.t LIMIT 50"), 10).sql()
    'SELECT a FROM d.t LIMIT 10'
    >>> with_limit(sqlglot.parse_one("SELECT a FROM d.t LIMIT 5 OFFSET 2"), 10).sql()
    'SELECT a FROM d.t LIMIT 5 OFFSET 2'
    """
    if limit < 0:
        raise QueryError("limit must be zero or more")
    node = query.args.get("limit")
    current = _literal_int(node.expression) if isinstance(node, exp.Limit) else None
    if node is None or current is not None:
        return query.limit(limit if current is None else min(current, limit), copy=False)
    return exp.select("*").from_(query.subquery("__mf_limited")).limit(limit)


def pushable_limit(query: exp.Query) -> int | None:
    """Rows a single-product query can ask its source for, or None when a LIMIT would be wrong.

    Only a plain projection of one product qualifies: any filter, join, grouping, ordering,
    DISTINCT, window or aggregate makes "the first n rows of the source" a different set. The
    engine keeps its LIMIT anyway.

    >>> import sqlglot
    >>> pushable_limit(sqlglot.parse_one("SELECT a, b + 1 FROM d.t LIMIT 10 OFFSET 5"))
    15
    >>> pushable_limit(sqlglot.parse_one("SELECT a FROM d.t ORDER BY a LIMIT 10")) is None
    True
    """
    if not isinstance(query, exp.Select) or any(query.args.get(k) for k in _BLOCKS_LIMIT):
        return None
    node = query.args.get("limit")
    if not isinstance(node, exp.Limit):
        return None
    from_ = query.args.get("from_")
    if from_ is None or not isinstance(from_.this, exp.Table):
        return None
    if any(True for _ in query.find_all(exp.AggFunc, exp.Window, exp.Subquery)):
        return None
    if any(isinstance(n, exp.Query) for n in query.walk() if n is not query):
        return None
    count = _literal_int(node.expression)
    offset_node = query.args.get("offset")
    offset = _literal_int(offset_node.expression) if isinstance(offset_node, exp.Offset) else 0
    if count is None or offset is None:
        return None
    return count + offset


def restrict_predicate(
    predicate: exp.Expression,
    alias: str,
    pushable: Callable[[exp.Expression], bool],
    refused: list[exp.Expression] | None = None,
) -> exp.Expression | None:
    """The part of ``predicate`` that speaks about ``alias`` alone, over unqualified columns.

    The result is implied by the predicate (true whenever it is true), so filtering the rows of
    ``alias`` with it keeps every row that can satisfy the predicate. AND keeps the parts that
    qualify; OR qualifies only if every branch does. An atom qualifies when all its columns are
    ``alias.column``, it has no subquery, aggregate, window or volatile function, and
    ``pushable`` accepts it. Atoms about ``alias`` that ``pushable`` rejects go to ``refused``.

    >>> import sqlglot
    >>> p = sqlglot.parse_one("o.d < DATE '1995-01-01' AND o.k = c.k AND o.x IN (SELECT 1)")
    >>> restrict_predicate(p, "o", lambda e: True).sql()
    '"d" < CAST(\\'1995-01-01\\' AS DATE)'
    >>> restrict_predicate(sqlglot.parse_one("o.a = 1 OR c.b = 2"), "o", lambda e: True) is None
    True
    """
    if isinstance(predicate, exp.Paren):
        return restrict_predicate(predicate.this, alias, pushable, refused)
    if isinstance(predicate, exp.And | exp.Or):
        parts = [restrict_predicate(p, alias, pushable, refused) for p in _operands(predicate)]
        if isinstance(predicate, exp.And):
            kept = [p for p in parts if p is not None]
            return exp.and_(*kept, copy=False) if kept else None
        if any(p is None for p in parts):
            return None
        return exp.or_(*(exp.paren(p, copy=False) if isinstance(p, exp.And) else p for p in parts), copy=False)
    if not _is_row_atom(predicate):
        return None
    columns = list(predicate.find_all(exp.Column))
    if not columns or any(c.table != alias for c in columns):
        return None
    atom = _unqualified(predicate)
    if pushable(atom):
        return atom
    if refused is not None:
        refused.append(atom)
    return None


# -- instances ---------------------------------------------------------------------------------
def _tag_instances(query: exp.Query, catalog: ProductCatalog) -> list[_Instance]:
    """Number every product reference (in tree order) and remember its product and alias."""
    instances = []
    for index, table in enumerate(product_tables(query)):
        binding = resolve_product(table, catalog)
        table.meta[_TAG] = index
        alias_node = table.args.get("alias")
        instances.append(
            _Instance(
                id=index,
                binding=binding,
                alias=table.alias_or_name,
                renames_columns=bool(alias_node is not None and alias_node.columns),
                secured=table.meta.get(SECURE_TAG),
            )
        )
    return instances


# -- analysis: columns and filters per instance ------------------------------------------------
def _analyse(
    query: exp.Query, instances: list[_Instance], catalog: ProductCatalog,
    semi: list[tuple[int, str, int]] | None = None,
) -> list[_Equality]:
    """Fill in each instance's columns and filters from a qualified copy of the query; return
    the column equalities ``a.x = b.y`` between two references that can feed dynamic filters:
    ``(a side, b side, True)`` when the conjunct holds for every row of both that can reach the
    result, ``(inner side, outer side, False)`` for a correlated subquery's conjunct that holds
    for every inner row that counts (:func:`meshfabric.query.optimizer.plan_dynamic_filters`).

    Two passes: the first collects columns and the conjuncts that could filter each reference;
    only the ports with such conjuncts are then introspected (concurrently) for the source's
    verdict, and the second pass restricts each conjunct to what the source accepts.
    """
    from sqlglot.optimizer.scope import traverse_scope

    tree = _qualified(query, instances)
    by_id = {i.id: i for i in instances}
    real = {i.id: {c.name.lower(): c.name for c in i.binding.columns} for i in instances}
    candidates: list[tuple[_Instance, str, exp.Expression]] = []
    equalities: list[_Equality] = []
    for scope in traverse_scope(tree):
        sources = _scope_instances(scope)
        outer: dict[str, int] = {}
        parent = scope.parent
        while parent is not None:
            for alias, instance_id in _scope_instances(parent).items():
                outer.setdefault(alias, instance_id)
            parent = parent.parent
        for column in scope.columns:
            instance_id = sources.get(column.table)
            if instance_id is not None:
                name = real[instance_id].get(column.name.lower())
                if name is not None:
                    by_id[instance_id].columns.add(name)
        if isinstance(scope.expression, exp.Select):
            holds_for: dict[int, tuple[exp.Expression, set[str]]] = {}
            for alias, conjunct in _scope_conjuncts(scope.expression, sources):
                holds_for.setdefault(id(conjunct), (conjunct, set()))[1].add(alias)
                inst = by_id[sources[alias]]
                if not inst.renames_columns and restrict_predicate(conjunct, alias, lambda e: True) is not None:
                    candidates.append((inst, alias, conjunct))
            for conjunct, aliases in holds_for.values():
                if semi is not None and isinstance(conjunct, exp.In) and _IN_TAG in conjunct.meta:
                    # ``alias.x IN (uncorrelated subquery)``: x's keys are the subquery's result
                    target = conjunct.this
                    inner = next((sc for sc in scope.subquery_scopes
                                  if sc.expression is conjunct.args["query"]
                                  or sc.expression.parent is conjunct.args["query"]), None)
                    if (isinstance(target, exp.Column) and target.table in aliases and target.table in sources
                            and inner is not None and not inner.external_columns):
                        name = real[sources[target.table]].get(target.name.lower())
                        if name is not None and not by_id[sources[target.table]].renames_columns:
                            semi.append((sources[target.table], name, conjunct.meta[_IN_TAG]))
                            # ``x IN (SELECT y FROM t WHERE <t's own filters>)``: every x that counts
                            # is one of t's y values — t's scan can give x's scan its keys
                            producer = _plain_column_subquery(inner, real, by_id)
                            if producer is not None:
                                equalities.append(((sources[target.table], name), producer, False))
                    continue
                pair = _equality(conjunct, sources, real, by_id)
                if pair is not None and {pair[0][2], pair[1][2]} <= aliases:
                    equalities.append(((pair[0][0], pair[0][1]), (pair[1][0], pair[1][1]), True))
                elif scope.is_correlated_subquery and outer:
                    # ``inner.y = outer.x``: the inner side is bound where the conjunct holds for it
                    pair = _equality(conjunct, {**outer, **sources}, real, by_id)
                    if pair is None:
                        continue
                    inner, other = (pair[0], pair[1]) if pair[0][2] in sources else (pair[1], pair[0])
                    if inner[2] in aliases and other[2] not in sources:
                        equalities.append(((inner[0], inner[1]), (other[0], other[1]), False))

    secured = [i for i in instances if i.secured is not None and i.secured.row_filter is not None]
    deciders = _push_deciders([inst for inst, _, _ in candidates] + secured, catalog)
    for inst, alias, conjunct in candidates:
        mapping, decide = real[inst.id], deciders[inst.id]
        refused: list[exp.Expression] = []
        found = restrict_predicate(conjunct, alias, lambda e, d=decide, m=mapping: d(_rename(e, m)), refused)
        if found is not None:
            found = _rename(found, mapping)
            if decide(found):
                inst.filters.extend(_operands(found) if isinstance(found, exp.And) else [found])
            else:
                inst.kept.append(found)
        inst.kept.extend(_rename(r, mapping) for r in refused)

    for inst in secured:
        # the policy's row filter holds for every row of the reference, whatever the analysis
        # of the surrounding query made of it: its columns are read and it is offered to the source
        assert inst.secured is not None and inst.secured.row_filter is not None
        mapping, decide = real[inst.id], deciders[inst.id]
        for column in inst.secured.row_filter.find_all(exp.Column):
            if column.name.lower() in mapping:
                inst.columns.add(mapping[column.name.lower()])
        inst.policy_filter = _rename(inst.secured.row_filter, mapping)
        for conjunct in _operands_of(inst.policy_filter, exp.And):
            if _is_row_atom(conjunct) and decide(conjunct):
                inst.filters.append(conjunct)
            else:
                inst.kept.append(conjunct)

    for inst in instances:
        if inst.renames_columns:
            # ``AS t(a, b, ...)`` renames columns by position: read them all, in declared order
            inst.columns = {c.name for c in inst.binding.columns}
    return equalities


def _plain_column_subquery(
    scope: Scope, real: dict[int, dict[str, str]], by_id: dict[int, _Instance]
) -> tuple[int, str] | None:
    """(instance, real column) when the scope is ``SELECT col FROM <one product reference>
    [WHERE ...]`` — no join, grouping, aggregate, window, DISTINCT ON or LIMIT: its result is that
    column of the reference's rows after the filters the planner gives the reference itself."""
    select = scope.expression
    if not isinstance(select, exp.Select) or len(select.expressions) != 1:
        return None
    if any(select.args.get(k) for k in ("joins", "group", "having", "qualify", "limit", "offset", "laterals")):
        return None
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        return None
    sources = _scope_instances(scope)
    if len(sources) != 1 or len(scope.sources) != 1:
        return None
    (alias, instance_id), = sources.items()
    column = select.expressions[0]
    column = column.this if isinstance(column, exp.Alias) else column
    if not isinstance(column, exp.Column) or column.table != alias or by_id[instance_id].renames_columns:
        return None
    if select.find(exp.AggFunc, exp.Window):
        return None
    name = real[instance_id].get(column.name.lower())
    return (instance_id, name) if name is not None else None


#: (side, side, holds for both): see :func:`_analyse`
_Equality = tuple[tuple[int, str], tuple[int, str], bool]


def _equality(
    conjunct: exp.Expression, sources: dict[str, int], real: dict[int, dict[str, str]], by_id: dict[int, _Instance]
) -> tuple[tuple[int, str, str], tuple[int, str, str]] | None:
    """``a.x = b.y`` between two different, unrenamed product references of the scope:
    ((instance, real column, alias), ...) for each side, else None."""
    while isinstance(conjunct, exp.Paren):
        conjunct = conjunct.this
    if not isinstance(conjunct, exp.EQ):
        return None
    sides = []
    for side in (conjunct.this, conjunct.expression):
        if not isinstance(side, exp.Column) or side.table not in sources:
            return None
        instance_id = sources[side.table]
        name = real[instance_id].get(side.name.lower())
        if name is None or by_id[instance_id].renames_columns:
            return None
        sides.append((instance_id, name, side.table))
    if sides[0][0] == sides[1][0]:
        return None
    return sides[0], sides[1]


def _qualified(query: exp.Query, instances: list[_Instance]) -> exp.Expression:
    """A copy of the query with every column resolved to ``source_alias.column``.

    DuckDB matches identifiers case-insensitively even when quoted, so the copy drops quoting
    before sqlglot normalises names. Star modifiers (EXCLUDE, REPLACE) are dropped so a star
    counts as reading every column: the engine's star then finds every column it may name.
    """
    from sqlglot.optimizer.pushdown_predicates import pushdown_predicates
    from sqlglot.optimizer.qualify import qualify

    tree = query.copy()
    for ident in tree.find_all(exp.Identifier):
        ident.set("quoted", False)
    for star in tree.find_all(exp.Star):
        for key in ("except_", "except", "replace", "rename"):
            if key in star.args:
                star.set(key, None)
    for exists in tree.find_all(exp.Exists):
        _drop_exists_projection(exists)
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for inst in instances:
        b = inst.binding
        schema.setdefault(b.domain.lower(), {})[b.name.lower()] = {
            c.name.lower(): _sqlglot_type(c.type) for c in b.columns
        }
        if inst.secured is not None and inst.secured.salt is not None:
            schema[b.domain.lower()][b.name.lower()][SALT_COLUMN] = "VARCHAR"
    try:
        tree = qualify(tree, schema=schema, dialect=DIALECT, quote_identifiers=False)
    except OptimizeError as exc:
        raise QueryError(f"cannot resolve the query's columns: {_first_line(str(exc))}") from None
    if any(d.args.get("on") for d in tree.find_all(exp.Distinct)):
        # sqlglot would move an outer filter below DISTINCT ON, changing which row it keeps
        return tree
    try:
        # moves outer WHERE conjuncts into derived tables and CTEs when that is safe, so they
        # reach the product references inside; analysis only, the engine runs the original
        return pushdown_predicates(tree.copy(), dialect=DIALECT)
    except (OptimizeError, ValueError, KeyError, AttributeError):
        return tree


def _drop_exists_projection(exists: exp.Exists) -> None:
    """``EXISTS (SELECT * ...)`` reads no column through its star: count it as ``SELECT 1``.

    The engine still runs ``SELECT *`` over the narrower scan, which is fine: EXISTS only asks
    whether a row is there.
    """
    select = exists.this.unnest() if isinstance(exists.this, exp.Subquery) else exists.this
    if not isinstance(select, exp.Select) or any(select.args.get(k) for k in ("having", "qualify", "windows")):
        return
    if all(isinstance(e, exp.Star) for e in select.expressions):
        select.set("expressions", [exp.Literal.number(1)])


def _scope_instances(scope: Scope) -> dict[str, int]:
    """Alias -> instance id of the product references selected in this scope."""
    found: dict[str, int] = {}
    for name, source in scope.sources.items():
        if isinstance(source, exp.Table) and _TAG in source.meta:
            found[name] = source.meta[_TAG]
    return found


def _scope_conjuncts(select: exp.Select, sources: dict[str, int]) -> Iterable[tuple[str, exp.Expression]]:
    """(alias, conjunct) pairs where the conjunct filters the rows of that product reference.

    Join order is left-deep: a LEFT JOIN null-supplies its right side, RIGHT JOIN everything
    before it, FULL JOIN both. A WHERE conjunct may be pushed only into references no outer join
    null-supplies; an inner join's ON conjunct into references not null-supplied up to that
    join; a LEFT, SEMI or ANTI join's ON conjunct only into the joined reference itself.
    References inside a parenthesised join group are left alone.
    """
    from_ = select.args.get("from_")
    if from_ is None:
        return
    joins: list[exp.Join] = list(select.args.get("joins") or [])
    items = [from_.this, *(j.this for j in joins)]
    position: dict[str, int] = {}
    grouped: set[str] = set()
    for pos, item in enumerate(items):
        if isinstance(item, exp.Table) and _TAG in item.meta and item.alias_or_name in sources:
            position[item.alias_or_name] = pos
            # a parenthesised join group hangs its joins under its first table
            if item.args.get("joins"):
                grouped.update(t.alias_or_name for t in item.find_all(exp.Table))
        elif isinstance(item, exp.Subquery) and not item.alias:
            grouped.update(t.alias_or_name for t in item.find_all(exp.Table))
    null_from: dict[str, int] = {}
    hidden: set[str] = set()
    for pos, join in enumerate(joins, start=1):
        side, kind = (join.side or "").upper(), (join.kind or "").upper()
        here = [a for a, p in position.items() if p == pos]
        if kind in ("SEMI", "ANTI"):
            hidden.update(here)
            continue
        if side in ("LEFT", "FULL"):
            for a in here:
                null_from.setdefault(a, pos)
        if side in ("RIGHT", "FULL"):
            for a, p in position.items():
                if p < pos:
                    null_from.setdefault(a, pos)

    def eligible(upto: int) -> list[str]:
        return [
            a
            for a, p in position.items()
            if p <= upto and a not in grouped and a not in hidden and null_from.get(a, upto + 1) > upto
        ]

    where = select.args.get("where")
    if where is not None:
        targets = eligible(len(items))
        for conjunct in _operands_of(where.this, exp.And):
            for alias in targets:
                yield alias, conjunct
    for pos, join in enumerate(joins, start=1):
        on = join.args.get("on")
        if on is None:
            continue
        side, kind = (join.side or "").upper(), (join.kind or "").upper()
        if kind in ("SEMI", "ANTI") or side == "LEFT":
            targets = [a for a, p in position.items() if p == pos and a not in grouped]
        elif side in ("RIGHT", "FULL"):
            continue
        else:
            targets = eligible(pos)
        for conjunct in _operands_of(on, exp.And):
            for alias in targets:
                yield alias, conjunct


def _push_deciders(instances: list[_Instance], catalog: ProductCatalog) -> dict[int, Callable[[exp.Expression], bool]]:
    """Per instance, the source's verdict on a predicate.

    The verdict needs the port's real columns (a collation decides whether a string predicate
    may go). They are read concurrently, once per port, and kept for a short while: a stale
    answer cannot change a result, because the connector decides again with fresh columns when
    it scans and the engine re-applies every filter; it could only push a little less.
    """
    connectors = {i.binding.source: catalog.connector(i.binding.source) for i in instances}
    ports = {(i.binding.source, _port_key(i.binding)): i.binding for i in instances}
    if not ports:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    def fetch(key: tuple[str, str]) -> dict[str, ColumnInfo]:
        return _COLUMNS.get(connectors[key[0]], ports[key].port, key[1])

    with ThreadPoolExecutor(max_workers=min(len(ports), 8), thread_name_prefix="mf-plan") as pool:
        infos = dict(zip(ports, pool.map(fetch, ports), strict=True))
    return {
        i.id: _decider(connectors[i.binding.source], infos[(i.binding.source, _port_key(i.binding))]) for i in instances
    }


def _port_key(b: ProductBinding) -> str:
    return b.port.model_dump_json()


class _PortCache(Generic[T]):
    """What ``read`` tells of an output port, per connector object, for ``ttl`` seconds."""

    def __init__(self, ttl: float, read: Callable[[Connector, OutputPort], T]) -> None:
        import threading
        import weakref

        self.ttl = ttl
        self.read = read
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[Connector, dict[str, tuple[float, T]]] = weakref.WeakKeyDictionary()

    def get(self, connector: Connector, port: OutputPort, key: str) -> T:
        import time

        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(connector, {}).get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        found = self.read(connector, port)
        with self._lock:
            self._entries.setdefault(connector, {})[key] = (now, found)
        return found


#: the real columns of a port (a collation decides what may be pushed)
_COLUMNS: _PortCache[dict[str, ColumnInfo]] = _PortCache(30.0, lambda c, p: {col.name: col for col in c.columns(p)})
#: FROM-clause text reading a port, names resolved by its connector (for joins pushed into it)
_RELATIONS: _PortCache[str] = _PortCache(30.0, lambda c, p: c.run_on_port(p, lambda session: session.relation))


def _decider(connector: Connector, columns: dict[str, ColumnInfo]) -> Callable[[exp.Expression], bool]:
    lowered = {k.lower(): v for k, v in columns.items()}

    def decide(predicate: exp.Expression) -> bool:
        named = {c.name for c in predicate.find_all(exp.Column)}
        if any(n not in columns and n.lower() not in lowered for n in named):
            return False
        view = {n: columns.get(n) or lowered[n.lower()] for n in named}
        return bool(connector.can_push(predicate, {**columns, **view}))

    return decide


# -- scans and the engine query ----------------------------------------------------------------
def _relations(instances: list[_Instance], equalities: list[_Equality]) -> dict[int, tuple[str, ...]]:
    """Per reference, the equalities it takes part in, by product: references that are joined
    differently are not merged into one scan, so each can take the keys its own joins offer."""
    fqn = {i.id: i.binding.fqn.lower() for i in instances}
    found: dict[int, set[str]] = {}
    for (a, ca), (b, cb), both in equalities:
        if fqn.get(a) == fqn.get(b):
            continue  # a product joined with itself offers no keys worth a second read
        found.setdefault(a, set()).add(f"{ca}={fqn.get(b)}.{cb}")
        if both:
            found.setdefault(b, set()).add(f"{cb}={fqn.get(a)}.{ca}")
    return {k: tuple(sorted(v)) for k, v in found.items()}


def _build_scans(
    instances: list[_Instance], limit: int | None, relations: dict[int, tuple[str, ...]] | None = None
) -> list[Scan]:
    """One scan per distinct (product, pushed filters, limit, joins); columns of merged reads are
    united.

    A merged scan may carry columns one reference does not use; that is harmless because the
    engine names every column it reads.
    """
    relations = relations or {}
    groups: dict[tuple[str, tuple[str, ...], int | None, str, tuple[str, ...]], list[_Instance]] = {}
    for inst in instances:
        filters = _dedupe(inst.filters)
        inst.filters = filters
        secured = inst.secured
        policy = "" if secured is None else (
            (secured.row_filter.sql(dialect=DIALECT) if secured.row_filter is not None else "")
            + ("#salt" if secured.salt is not None else "")
        )
        key = (inst.binding.fqn.lower(), tuple(sorted(f.sql(dialect=DIALECT) for f in filters)), limit, policy,
               relations.get(inst.id, ()))
        groups.setdefault(key, []).append(inst)
    scans = []
    for number, members in enumerate(groups.values()):
        first = members[0]
        wanted = set().union(*(m.columns for m in members))
        columns = tuple(c.name for c in first.binding.columns if c.name in wanted)
        # only what holds for every reference the scan serves: a producer's keys are taken
        # after its kept filters, and must cover each reference
        common = set.intersection(*({k.sql(dialect=DIALECT) for k in m.kept} for m in members))
        kept = [k for k in _dedupe([k for m in members for k in m.kept]) if k.sql(dialect=DIALECT) in common]
        scans.append(
            Scan(
                name=f"{SCAN_PREFIX}{number}",
                binding=first.binding,
                columns=columns,
                filters=tuple(first.filters),
                kept=tuple(kept),
                limit=limit,
                instances=tuple(m.id for m in members),
                row_filter=first.policy_filter,
                salt=first.secured.salt if first.secured is not None else None,
            )
        )
    return scans


def _rewrite(query: exp.Query, instances: list[_Instance], scans: list[Scan]) -> exp.Query:
    """Point every product reference at its scan, keeping the alias the query uses."""
    scan_of = {i: s.name for s in scans for i in s.instances}
    unaliased = {
        (i.binding.domain.lower(), i.binding.name.lower())
        for i in instances
        if i.alias.lower() == i.binding.name.lower()
    }
    for table in list(query.find_all(exp.Table)):
        if _TAG not in table.meta:
            continue
        # edited in place: a parenthesised join group hangs its joins under this very node
        if table.args.get("alias") is None:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
        table.set("this", exp.to_identifier(scan_of[table.meta[_TAG]]))
        table.set("db", None)
        table.set("catalog", None)
    # ``SELECT sales.orders.id FROM sales.orders`` names the product in the column: keep the alias
    for column in query.find_all(exp.Column):
        db = column.args.get("db")
        if db is not None and (db.name.lower(), column.table.lower()) in unaliased and not column.args.get("catalog"):
            column.set("db", None)
    return query


# -- small helpers -----------------------------------------------------------------------------
def _operands(node: exp.Expression) -> list[exp.Expression]:
    return _operands_of(node, type(node))


def _operands_of(node: exp.Expression, kind: type[exp.Expression]) -> list[exp.Expression]:
    """Flatten a chain of one connective (AND or OR), looking through parentheses."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, kind):
        return [*_operands_of(node.left, kind), *_operands_of(node.right, kind)]
    return [node]


def _is_row_atom(node: exp.Expression) -> bool:
    """Whether a predicate is evaluated on one row alone, the same way wherever it runs."""
    if node.find(exp.Query, exp.AggFunc, exp.Window, exp.Star):
        return False
    if _VOLATILE and node.find(*_VOLATILE):
        return False
    return not any(a.name.lower() in _VOLATILE_NAMES for a in node.find_all(exp.Anonymous))


def _unqualified(predicate: exp.Expression) -> exp.Expression:
    """A copy over bare column names, the form connectors receive."""
    copy = predicate.copy()
    for column in list(copy.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return copy


def _rename(predicate: exp.Expression, mapping: dict[str, str]) -> exp.Expression:
    """Give bare columns the spelling the source uses (the analysis lower-cased them)."""
    copy = predicate.copy()
    for column in list(copy.find_all(exp.Column)):
        column.replace(exp.column(mapping.get(column.name.lower(), column.name), quoted=True))
    return copy


def _dedupe(predicates: list[exp.Expression]) -> list[exp.Expression]:
    seen: dict[str, exp.Expression] = {}
    for p in predicates:
        seen.setdefault(p.sql(dialect=DIALECT), p)
    return list(seen.values())


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None


def _sqlglot_type(t: LogicalType) -> str:
    simple = {
        "string": "VARCHAR",
        "binary": "BLOB",
        "timestamptz": "TIMESTAMPTZ",
        "list": "UNKNOWN",
        "struct": "UNKNOWN",
        "map": "UNKNOWN",
    }
    if t.name == "decimal" and t.precision is not None:
        return f"DECIMAL({t.precision}, {t.scale or 0})"
    return simple.get(t.name, t.name.upper())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def with_source_sql(the_plan: Plan, catalog: ProductCatalog) -> Plan:
    """The plan with, per scan, the statement its connector would send — for ``explain``.

    Rendered by the connectors' own scan planner over the port's real columns, so projection,
    pushed filters and limit are what a scan sends; names the connector resolves only when it
    connects (schema, file paths) are shown as the port spells them.
    """
    previews: dict[str, str] = {}
    for scan in the_plan.scans:
        try:
            previews[scan.name] = source_statement(scan, catalog)
        except (ValueError, LookupError, SourceError) as exc:
            previews[scan.name] = f"(not available: {exc})"
    return replace(the_plan, source_sql=previews)


def source_statement(scan: Scan, catalog: ProductCatalog) -> str:
    """The statement ``scan`` sends to its source, in the source's dialect (for a scan placed in
    the engine, or a connector that reads files with its own DuckDB, the DuckDB statement over
    the files). Another engine that reads the source itself (Spark over JDBC) sends this text.

    Raises ValueError or LookupError when the port cannot be resolved, SourceError when the
    source cannot be asked for its columns.
    """
    from meshfabric.connectors.pushdown import plan_scan

    connector = catalog.connector(scan.source)
    if scan.placement == "engine" or getattr(connector, "reads_in_place", False):
        read = connector.read_in_place(scan.request())
        return read.shown or read.sql
    columns = _COLUMNS.get(connector, scan.binding.port, _port_key(scan.binding))
    return plan_scan(scan.request(), columns, connector.dialect, relation=None, rules=connector.pushdown_rules).sql
