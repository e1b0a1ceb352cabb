"""The secured-subquery rewrite and its path through planner and engine, over in-memory sources.

sales.orders lives in a source that evaluates every predicate; crm.customer in one whose
strings compare case-blind, so a row filter on ``region`` cannot be pushed there and the engine
must drop hidden rows itself while loading the scan.
"""

from __future__ import annotations

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp
from test_query_planner import CUSTOMERS, memory_catalog

from meshfabric.query import explain, run_query
from meshfabric.query.guard import check_sql
from meshfabric.query.secure import SecuredView, secure


def _view(columns: list[str], masks: dict[str, str], row_filter: str | None = None) -> SecuredView:
    return SecuredView(
        tuple((c, sqlglot.parse_one(masks[c], read="duckdb") if c in masks else None) for c in columns),
        sqlglot.parse_one(row_filter, read="duckdb") if row_filter else None,
    )


CUSTOMER = _view(["id", "name", "region"], {"name": "'***'"}, "region = 'EU'")
ORDER = _view(["id", "customer_id", "amount", "status", "ordered_at"], {"status": "upper(status)"}, "amount < 50")


def views(products: tuple[object, ...]) -> dict[str, SecuredView]:
    return {"crm.customer": CUSTOMER, "sales.orders": ORDER}


def test_unaliased_reference_keeps_its_name_and_qualified_columns_work() -> None:
    out = secure(check_sql("SELECT crm.customer.name, customer.id FROM crm.customer"), {"crm.customer": CUSTOMER})
    assert out.sql(dialect="duckdb") == (
        "SELECT customer.name, customer.id FROM (SELECT \"id\" AS \"id\", '***' AS \"name\" FROM crm.customer "
        "WHERE region = 'EU') AS customer")


def test_parenthesised_join_group_is_rewritten_inside() -> None:
    sql = "SELECT * FROM (crm.customer AS c JOIN sales.orders AS o ON o.customer_id = c.id)"
    out = secure(check_sql(sql), views(()))
    assert not [t for t in out.find_all(exp.Table) if t.args.get("alias") and t.alias in ("c", "o")]
    result = run_query(sql, memory_catalog(), views=views).arrow().to_pylist()
    assert {r["name"] for r in result} == {"***"} and all(r["region"] == "EU" for r in result)


def test_pushed_filter_reaches_the_source() -> None:
    catalog = memory_catalog()
    text = str(explain("SELECT id FROM sales.orders", catalog, views=views))
    assert 'pushed:  "amount" < 50' in text and "policy:  rows where" in text
    result = run_query("SELECT id, status FROM sales.orders ORDER BY id", catalog, views=views)
    assert [r["status"] for r in result.arrow().to_pylist()] == ["OPEN", "SHIPPED", "OPEN", "CANCELLED", "OPEN"]
    assert result.stats.scans[0].rows == 5  # the 99.99 order never left the source


def test_kept_filter_drops_hidden_rows_before_any_user_expression() -> None:
    catalog = memory_catalog()
    text = str(explain("SELECT * FROM crm.customer", catalog, views=views))
    assert "kept:" in text and '"region" = \'EU\'' in text
    sql = ("SELECT id FROM crm.customer WHERE CASE WHEN region <> 'EU' THEN CAST('boom' AS INTEGER) = 1 "
           "ELSE true END ORDER BY id")
    result = run_query(sql, catalog, views=views)
    assert result.arrow().to_pylist() == [{"id": 10}, {"id": 30}]
    assert result.stats.scans[0].rows == CUSTOMERS.num_rows  # the source sent all, the engine kept two


def test_secured_references_inside_ctes_subqueries_and_set_operations() -> None:
    sql = ("WITH e AS (SELECT name FROM crm.customer) SELECT name FROM e UNION ALL "
           "SELECT (SELECT max(name) FROM crm.customer) UNION ALL SELECT name FROM crm.customer WHERE region = 'us'")
    result = run_query(sql, memory_catalog(), views=views).arrow().to_pylist()
    assert result == [{"name": "***"}, {"name": "***"}, {"name": "***"}]


@given(st.sets(st.sampled_from(["id", "name", "region"])))
def test_any_mask_set_holds_for_select_star(masked: set[str]) -> None:
    view = _view(["id", "name", "region"], {c: "NULL" for c in masked})

    def these(products: tuple[object, ...]) -> dict[str, SecuredView]:
        return {"crm.customer": view}

    rows = run_query("SELECT * FROM crm.customer c", memory_catalog(), views=these).arrow().to_pylist()
    assert len(rows) == CUSTOMERS.num_rows
    for column in ("id", "name", "region"):
        assert all((r[column] is None) == (column in masked) for r in rows)


def test_secured_scans_load_before_the_session_is_hardened(monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from meshfabric.query import engine

    events: list[str] = []
    sessions: list[duckdb.DuckDBPyConnection] = []
    real_load, real_harden = engine.load_secured, engine.harden

    def load_secured(conn: duckdb.DuckDBPyConnection, *args: object, **kw: object) -> None:
        events.append("load")
        real_load(conn, *args, **kw)  # type: ignore[arg-type]

    def harden(conn: duckdb.DuckDBPyConnection) -> None:
        real_harden(conn)
        events.append("harden")
        sessions.append(conn)
        with pytest.raises(duckdb.Error):
            conn.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            conn.execute("SELECT * FROM read_csv_auto('/etc/passwd')")

    monkeypatch.setattr(engine, "load_secured", load_secured)
    monkeypatch.setattr(engine, "harden", harden)
    sql = "SELECT c.name, o.status FROM crm.customer c JOIN sales.orders o ON o.customer_id = c.id"
    rows = run_query(sql, memory_catalog(), views=views).arrow().to_pylist()
    assert events == ["load", "load", "harden"] and rows
