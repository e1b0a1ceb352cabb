"""The planner as pure functions: SQL in, scans out.

Each case reads like a doctest: a query over a small catalog and the scans the planner must ask
for, written compactly as ``product: columns | pushed filters``. The catalog's connector is an
in-memory test double (:class:`MemoryConnector`) whose ``can_push`` refuses string predicates
on case-insensitive columns and function calls it does not know, like a cautious SQL source.
The engine tests reuse the double.
"""

from __future__ import annotations

import doctest
import time
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from meshfabric.connectors.base import ColumnInfo, Connector, ScanRequest, ScanResult, TableInfo, TableStats
from meshfabric.connectors.pushdown import KeyRef, prepare_predicate
from meshfabric.errors import QueryError
from meshfabric.query import guard as guard_module
from meshfabric.query import planner as planner_module
from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog
from meshfabric.query.guard import guard
from meshfabric.query.planner import Plan, plan, pushable_limit, restrict_predicate, with_limit
from meshfabric.spec.models import OutputPort, SourceSpec
from meshfabric.types import from_arrow


class MemoryConnector(Connector):
    """A source holding Arrow tables in memory; scans run their SQL in a private DuckDB.

    ``case_insensitive`` names columns compared case-blind "in the source", so string predicates
    on them must not be pushed. ``before_scan`` lets a test delay or fail a scan.
    """

    kind = "memory"
    dialect = "duckdb"

    def __init__(
        self,
        name: str,
        tables: dict[str, pa.Table],
        *,
        case_insensitive: Iterable[str] = (),
        before_scan: Callable[[ScanRequest], None] | None = None,
    ) -> None:
        super().__init__(name, SourceSpec(kind="files", path="."), Path("."))
        self.tables = tables
        self.case_insensitive = set(case_insensitive)
        self.before_scan = before_scan
        self.requests: list[ScanRequest] = []

    def test(self) -> None:
        return None

    def list_tables(self) -> list[TableInfo]:
        return [TableInfo(name) for name in self.tables]

    def columns(self, port: OutputPort) -> list[ColumnInfo]:
        table = self.tables[str(port.table)]
        return [
            ColumnInfo(f.name, str(f.type), from_arrow(f.type), f.nullable, f.name in self.case_insensitive)
            for f in table.schema
        ]

    def can_push(self, predicate: exp.Expression, columns: dict[str, ColumnInfo]) -> bool:
        for column in predicate.find_all(exp.Column):
            info = columns.get(column.name)
            if info is None or (info.case_insensitive and info.type.name == "string"):
                return False
        return predicate.find(exp.Anonymous) is None

    def scan(self, request: ScanRequest) -> ScanResult:
        import duckdb

        if self.before_scan is not None:
            self.before_scan(request)
        self.requests.append(request)
        start = time.perf_counter()
        conn = duckdb.connect()
        conn.register("t", self.tables[str(request.port.table)])
        columns = ", ".join(f'"{c}"' for c in request.columns or []) or "1 AS one"
        sql = f"SELECT {columns} FROM t"
        if request.filters:
            sql += " WHERE " + " AND ".join(f"({self._render(f)})" for f in request.filters)
        if request.limit is not None:
            sql += f" LIMIT {request.limit}"
        table = conn.execute(sql).to_arrow_table()
        if not request.columns:
            table = table.select([])
        return ScanResult(table, sql, list(request.filters), time.perf_counter() - start)

    def _render(self, predicate: exp.Expression) -> str:
        """A filter as DuckDB text; a dynamic filter's key set through the pushdown module, the
        way SQL sources receive it."""
        if predicate.find(KeyRef) is None:
            return predicate.sql(dialect="duckdb")
        columns = {c.name: c for c in self.columns(OutputPort(source=self.name, table=next(iter(self.tables))))}
        for table in self.tables.values():
            columns.update({f.name: ColumnInfo(f.name, str(f.type), from_arrow(f.type)) for f in table.schema})
        prepared = prepare_predicate(predicate, columns, "duckdb")
        assert prepared is not None, predicate
        return prepared.sql(dialect="duckdb")

    def write(self, table: str, data: pa.Table, mode: str = "append") -> int:  # type: ignore[override]
        raise NotImplementedError("the memory test source is read-only")

    def stats(self, port: OutputPort) -> TableStats:
        return TableStats(self.tables[str(port.table)].num_rows, exact=True)


ORDERS = pa.table(
    {
        "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "customer_id": pa.array([10, 10, 20, 30, 30, None], pa.int64()),
        "amount": pa.array(
            [Decimal(x) for x in ("5.00", "25.50", "12.00", "99.99", "1.10", "40.00")], pa.decimal128(12, 2)
        ),
        "status": pa.array(["open", "shipped", "open", "Open", "cancelled", "open"]),
        "ordered_at": pa.array([date(2024, 1, d) for d in (1, 2, 3, 4, 5, 6)], pa.date32()),
    }
)
CUSTOMERS = pa.table(
    {
        "id": pa.array([10, 20, 30, 40], pa.int64()),
        "name": pa.array(["Ada", "bob", "Cy", "Dee"]),
        "region": pa.array(["EU", "us", "EU", "APAC"]),
    }
)


def binding(domain: str, name: str, source: str, table: pa.Table, port_table: str | None = None) -> ProductBinding:
    port = OutputPort(source=source, table=port_table or name)
    columns = tuple(ProductColumn(f.name, from_arrow(f.type), f.nullable) for f in table.schema)
    return ProductBinding(domain, name, source, port, columns)


def memory_catalog(
    *,
    crm_case_insensitive: Iterable[str] = ("name", "region"),
    before_scan: dict[str, Callable[[ScanRequest], None]] | None = None,
) -> StaticCatalog:
    """sales.orders in source 'shop', crm.customer in source 'crm' (case-insensitive strings)."""
    hooks = before_scan or {}
    shop = MemoryConnector("shop", {"orders": ORDERS}, before_scan=hooks.get("shop"))
    crm = MemoryConnector(
        "crm", {"customer": CUSTOMERS}, case_insensitive=crm_case_insensitive, before_scan=hooks.get("crm")
    )
    catalog = StaticCatalog(
        {
            "sales.orders": binding("sales", "orders", "shop", ORDERS),
            "crm.customer": binding("crm", "customer", "crm", CUSTOMERS),
        },
        {"shop": shop, "crm": crm},
    )
    catalog.load_statistics()  # six and four rows: too few for any scan to wait for keys
    return catalog


CATALOG = memory_catalog()


def plan_of(sql: str, *, limit: int | None = None) -> Plan:
    return plan(guard(sql, CATALOG).expression, CATALOG, limit=limit)


def scans(sql: str, *, limit: int | None = None) -> list[str]:
    """The plan's scans as ``product: columns | filter; filter`` lines (filters sorted)."""
    out = []
    for scan in plan_of(sql, limit=limit).scans:
        line = f"{scan.product}: {', '.join(scan.columns)}"
        filters = sorted(f.sql(dialect="duckdb") for f in scan.filters)
        if filters:
            line += " | " + "; ".join(filters)
        if scan.limit is not None:
            line += f" | limit {scan.limit}"
        out.append(line)
    return out


def kept(sql: str) -> list[str]:
    return sorted(k.sql(dialect="duckdb") for s in plan_of(sql).scans for k in s.kept)


# -- the module's own examples -----------------------------------------------------------------------
@pytest.mark.parametrize("module", [planner_module, guard_module], ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.failed == 0


# -- projections --------------------------------------------------------------------------------------
def test_reads_only_the_columns_the_query_uses() -> None:
    assert scans("SELECT id FROM sales.orders WHERE amount > 10") == ['sales.orders: id, amount | "amount" > 10']


def test_star_reads_every_column_and_exclude_still_reads_the_excluded_one() -> None:
    every = "sales.orders: id, customer_id, amount, status, ordered_at"
    assert scans("SELECT * FROM sales.orders") == [every]
    # the engine's EXCLUDE must find the column it excludes
    assert scans("SELECT * EXCLUDE (status) FROM sales.orders") == [every]


def test_count_star_reads_no_column() -> None:
    assert scans("SELECT count(*) FROM sales.orders") == ["sales.orders: "]


def test_exists_subquery_star_reads_only_what_its_conditions_use() -> None:
    assert scans(
        "SELECT name FROM crm.customer c WHERE EXISTS (SELECT * FROM sales.orders o WHERE o.customer_id = c.id)"
    ) == ["crm.customer: id, name", "sales.orders: customer_id"]


def test_correlated_column_counts_for_the_outer_reference() -> None:
    assert scans(
        "SELECT id FROM sales.orders o WHERE amount > (SELECT avg(amount) FROM sales.orders i "
        "WHERE i.customer_id = o.customer_id)"
    ) == ["sales.orders: id, customer_id, amount"]


def test_alias_column_list_reads_every_column_and_pushes_nothing() -> None:
    # ``AS o(a, b)`` renames by position, so the scan must keep the declared column order
    assert scans("SELECT a FROM sales.orders AS o(a, b) WHERE b = 10") == [
        "sales.orders: id, customer_id, amount, status, ordered_at"
    ]


def test_three_part_column_reference_is_rewritten_to_the_alias() -> None:
    the_plan = plan_of("SELECT sales.orders.id FROM sales.orders")
    assert the_plan.sql == "SELECT orders.id FROM __mf_scan_0 AS orders"


def test_unknown_column_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="cannot resolve"):
        plan_of("SELECT nope FROM sales.orders")


# -- filters --------------------------------------------------------------------------------------------
def test_where_conjuncts_go_to_the_product_they_mention() -> None:
    assert scans(
        "SELECT o.id, c.name FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id "
        "WHERE o.amount >= 10 AND c.id < 40 AND o.amount < c.id"
    ) == [
        'sales.orders: id, customer_id, amount | "amount" >= 10',
        'crm.customer: id, name | "id" < 40',
    ]


def test_inner_join_on_conjuncts_are_pushed_like_where() -> None:
    assert scans(
        "SELECT o.id FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id AND c.id > 15 AND o.id < 5"
    ) == ['sales.orders: id, customer_id | "id" < 5', 'crm.customer: id | "id" > 15']


def test_where_on_the_null_supplying_side_of_a_left_join_stays_in_the_engine() -> None:
    # pushing ``o.id IS NULL`` into orders would turn every customer into an "orderless" one
    assert scans(
        "SELECT c.id FROM crm.customer c LEFT JOIN sales.orders o ON o.customer_id = c.id WHERE o.id IS NULL"
    ) == ["crm.customer: id", "sales.orders: id, customer_id"]


def test_left_join_on_conjunct_about_the_right_side_is_pushed_into_it() -> None:
    assert scans(
        "SELECT c.id, count(o.id) FROM crm.customer c "
        "LEFT JOIN sales.orders o ON o.customer_id = c.id AND o.amount > 10 AND c.id > 15 GROUP BY c.id"
    ) == ["crm.customer: id", 'sales.orders: id, customer_id, amount | "amount" > 10']


def test_right_and_full_joins_push_nothing_into_null_supplied_sides() -> None:
    assert scans(
        "SELECT c.id FROM sales.orders o RIGHT JOIN crm.customer c ON o.customer_id = c.id AND o.amount > 1 "
        "WHERE o.amount < 50 AND c.id > 10"
    ) == ["sales.orders: customer_id, amount", 'crm.customer: id | "id" > 10']
    assert scans(
        "SELECT c.id FROM sales.orders o FULL JOIN crm.customer c ON o.customer_id = c.id "
        "WHERE o.amount < 50 AND c.id > 10"
    ) == ["sales.orders: customer_id, amount", "crm.customer: id"]


def test_semi_and_anti_join_conditions_filter_their_right_side() -> None:
    for kind in ("SEMI", "ANTI"):
        assert scans(
            f"SELECT c.id FROM crm.customer c {kind} JOIN sales.orders o ON o.customer_id = c.id AND o.amount > 20"
        ) == ["crm.customer: id", 'sales.orders: customer_id, amount | "amount" > 20']


def test_or_of_branches_yields_the_implied_filter_per_product() -> None:
    assert scans(
        "SELECT o.id FROM sales.orders o, crm.customer c WHERE o.customer_id = c.id AND "
        "((o.amount < 10 AND c.id = 10) OR (o.amount > 50 AND c.id = 30))"
    ) == [
        'sales.orders: id, customer_id, amount | "amount" < 10 OR "amount" > 50',
        'crm.customer: id | "id" = 10 OR "id" = 30',
    ]


def test_or_with_a_branch_silent_about_a_product_pushes_nothing_to_it() -> None:
    assert scans(
        "SELECT o.id FROM sales.orders o, crm.customer c WHERE o.customer_id = c.id AND (o.amount < 10 OR c.id = 30)"
    ) == ["sales.orders: id, customer_id, amount", "crm.customer: id"]


def test_string_predicates_on_case_insensitive_columns_are_kept() -> None:
    sql = "SELECT c.id FROM crm.customer c WHERE c.region = 'EU' AND c.id > 1"
    assert scans(sql) == ['crm.customer: id, region | "id" > 1']
    assert kept(sql) == ["\"region\" = 'EU'"]


def test_subqueries_volatile_functions_and_aggregates_are_not_pushed() -> None:
    assert scans(
        "SELECT id FROM sales.orders WHERE amount > random() AND customer_id IN (SELECT id FROM crm.customer) "
        "AND ordered_at < current_date"
    ) == ["sales.orders: id, customer_id, amount, ordered_at", "crm.customer: id"]
    assert scans("SELECT status FROM sales.orders GROUP BY status HAVING sum(amount) > 10") == [
        "sales.orders: amount, status"
    ]


def test_outer_filter_reaches_a_product_inside_a_cte() -> None:
    assert scans("WITH big AS (SELECT id, amount FROM sales.orders) SELECT id FROM big WHERE amount > 20") == [
        'sales.orders: id, amount | "amount" > 20'
    ]


def test_filter_on_an_aggregate_or_window_output_is_not_pushed_below_it() -> None:
    assert scans(
        "SELECT * FROM (SELECT customer_id, sum(amount) AS total FROM sales.orders GROUP BY 1) t WHERE total > 10"
    ) == ["sales.orders: customer_id, amount"]
    assert scans(
        "SELECT * FROM (SELECT id, row_number() OVER (ORDER BY amount) AS rn FROM sales.orders) t WHERE id > 2"
    ) == ["sales.orders: id, amount"]


def test_outer_filter_is_not_pushed_below_distinct_on() -> None:
    # filtering first would change which row DISTINCT ON keeps per customer
    assert scans(
        "SELECT * FROM (SELECT DISTINCT ON (customer_id) customer_id, amount FROM sales.orders "
        "ORDER BY customer_id, amount DESC) t WHERE amount < 30"
    ) == ["sales.orders: customer_id, amount"]


def test_restrict_predicate_collects_what_the_source_refuses() -> None:
    import sqlglot

    refused: list[exp.Expression] = []
    pred = sqlglot.parse_one("o.a = 1 AND o.b = 'x' AND o.c = p.c")
    found = restrict_predicate(pred, "o", lambda e: "'x'" not in e.sql(), refused)
    assert found is not None and found.sql() == '"a" = 1'
    assert [r.sql() for r in refused] == ["\"b\" = 'x'"]


# -- instances and deduplication -----------------------------------------------------------------------
def test_each_reference_of_a_product_gets_its_own_filters() -> None:
    assert scans(
        "SELECT a.id FROM sales.orders a JOIN sales.orders b ON a.customer_id = b.customer_id "
        "WHERE a.amount > 10 AND b.amount < 5"
    ) == [
        'sales.orders: id, customer_id, amount | "amount" > 10',
        'sales.orders: customer_id, amount | "amount" < 5',
    ]


def test_identical_reads_are_merged_into_one_scan() -> None:
    the_plan = plan_of(
        "SELECT a.id FROM sales.orders a JOIN sales.orders b ON a.customer_id = b.customer_id "
        "WHERE a.amount > 10 AND b.amount > 10"
    )
    assert [(s.columns, s.instances) for s in the_plan.scans] == [(("id", "customer_id", "amount"), (0, 1))]
    assert the_plan.sql.count("__mf_scan_0") == 2


def test_engine_query_keeps_aliases_and_names_only_scans() -> None:
    the_plan = plan_of("SELECT orders.id FROM sales.orders JOIN crm.customer AS c ON orders.customer_id = c.id")
    assert the_plan.sql == (
        "SELECT orders.id FROM __mf_scan_0 AS orders JOIN __mf_scan_1 AS c ON orders.customer_id = c.id"
    )


# -- limits ------------------------------------------------------------------------------------------------
def test_limit_is_pushed_only_into_a_plain_single_product_projection() -> None:
    assert scans("SELECT id, amount * 2 FROM sales.orders LIMIT 3 OFFSET 1") == ["sales.orders: id, amount | limit 4"]
    for blocked in (
        "SELECT id FROM sales.orders WHERE amount > 1 LIMIT 3",
        "SELECT id FROM sales.orders ORDER BY id LIMIT 3",
        "SELECT DISTINCT id FROM sales.orders LIMIT 3",
        "SELECT count(*) FROM sales.orders LIMIT 3",
        "SELECT id, row_number() OVER () FROM sales.orders LIMIT 3",
        "SELECT o.id FROM sales.orders o, crm.customer c LIMIT 3",
    ):
        assert all("limit" not in line for line in scans(blocked)), blocked


def test_run_limit_merges_with_the_query_limit_and_keeps_the_final_limit() -> None:
    assert scans("SELECT id FROM sales.orders", limit=2) == ["sales.orders: id | limit 2"]
    the_plan = plan_of("SELECT id FROM sales.orders LIMIT 5", limit=2)
    assert the_plan.sql.endswith("LIMIT 2")


def test_with_limit_wraps_a_query_whose_limit_is_not_a_number() -> None:
    import sqlglot

    query = sqlglot.parse_one("SELECT id FROM d.t LIMIT 1 + 1", read="duckdb")
    assert with_limit(query, 3).sql() == "SELECT * FROM (SELECT id FROM d.t LIMIT 1 + 1) AS __mf_limited LIMIT 3"
    assert pushable_limit(sqlglot.parse_one("SELECT id FROM d.t LIMIT 1 + 1")) is None


# -- printing ----------------------------------------------------------------------------------------------
def test_plan_prints_sources_columns_filters_and_engine_sql() -> None:
    text = str(plan_of("SELECT c.name FROM crm.customer c WHERE c.region = 'EU' AND c.id > 1"))
    assert "crm.customer  (source 'crm')" in text
    assert 'pushed:  "id" > 1' in text
    assert "kept:    \"region\" = 'EU'" in text
    assert "engine SQL:" in text and "__mf_scan_0 AS c" in text
