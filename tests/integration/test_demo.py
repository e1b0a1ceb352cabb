"""``meshfabric demo``: three domains in SQLite, DuckDB and Parquet, one cross-domain query, and
30 days of history replayed for the dashboard."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from helpers import cli, flat
from meshfabric import Mesh
from meshfabric.cli.demo import DOUBLE_LOAD, HISTORY_DAYS, MARKER, demo_sql

ORDERS = 20_000


@pytest.fixture(autouse=True)
def _default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "important.txt").write_text("keep me")
    code, out, err = cli(capsys, "demo", folder, "--orders", "100")
    assert code == 2
    assert "exists and is not a meshfabric demo folder" in err
    assert sorted(p.name for p in folder.iterdir()) == ["important.txt"]
    assert (folder / "important.txt").read_text() == "keep me"
    assert "Traceback" not in out + err


def _co_located_answer(root: Path, sql: str) -> list[dict]:
    """The demo question answered by DuckDB alone over copies of the three sources' data."""
    con = duckdb.connect()
    try:
        for schema in ("sales", "crm", "logistics"):
            con.execute(f"CREATE SCHEMA {schema}")
        with sqlite3.connect(root / "data" / "crm.sqlite") as lite:
            rows = lite.execute("SELECT customer_id, country, segment FROM customers").fetchall()
        customers = pa.table({"customer_id": [r[0] for r in rows], "country": [r[1] for r in rows],
                              "segment": [r[2] for r in rows]})
        con.register("customers_arrow", customers)
        con.execute("CREATE TABLE crm.customers AS SELECT * FROM customers_arrow")
        con.execute(f"ATTACH '{root / 'data' / 'sales.duckdb'}' AS sales_src (READ_ONLY)")
        con.execute("CREATE TABLE sales.orders AS SELECT * FROM sales_src.orders")
        con.execute("CREATE TABLE logistics.shipments AS SELECT * FROM "
                    f"read_parquet('{root / 'data' / 'lake' / 'shipments'}/*.parquet')")
        return con.execute(sql).to_arrow_table().to_pylist()
    finally:
        con.close()


@pytest.mark.slow
def test_demo_runs_end_to_end_and_answers_correctly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    code, out, err = cli(capsys, "demo", root, "--orders", ORDERS)
    assert code == 0, out + err
    text = flat(out)
    for step in ("1. Generate data", "2. Write the workspace", "3. Plan", "4. Apply", "5. Replay the last 30 days",
                 "6. Query across domains"):
        assert step in text
    assert f"{ORDERS:,} orders" in text
    assert "answered in" in text
    # the data is dated up to yesterday; the day loaded twice is DOUBLE_LOAD days before today
    found = re.search(r"orders of (\d{4}-\d{2}-\d{2}) loaded twice", text)
    assert found is not None, text
    twice = dt.date.fromisoformat(found.group(1))
    today = twice + dt.timedelta(days=DOUBLE_LOAD)
    # the quality step catches the day loaded twice: duplicates, and the volume spike on that day
    assert "FAIL uniqueness_order_id" in text
    assert f"{twice} zscore" in text or f"{twice} mad" in text
    # the replay says what went wrong in the loads and what the runs measured then
    assert f"{HISTORY_DAYS} days replayed" in text and "90 quality runs" in text
    assert "no shipment file landed" in text and "failing freshness_shipped_at" in text
    assert f"sales: the load of {twice} ran twice" in text
    assert "failing accepted_values_country" in text
    # and how to open the dashboard
    assert f"meshfabric -w {root} serve --no-auth" in text and "http://127.0.0.1:8420/" in text
    # discovery: search ranks, typos are read, SQL-defined lineage, impact across domains
    found = text[text.index('Search the catalog: "customer email"'):text.index("Search with a typo")]
    assert "crm.customers" in found
    assert "chanel → channel" in text and "sales.daily_revenue matched on" in text
    assert "sales.orders.amount ────AGGREGATION────▶ sales.daily_revenue.revenue_eur" in text
    assert "contract" in text and "with consumer logistics" in text
    # access: the same question, two roles, two answers; neither shows a raw email; audited
    maria = text[text.index("Query crm.customers as maria"):text.index("Query crm.customers as frank")]
    frank = text[text.index("Query crm.customers as frank"):text.index("maria asks for sales.orders")]
    assert "@" not in maria + frank and "***" in frank and " PT " in maria
    assert not any(country in maria for country in (" DE ", " FR ", " ES ", " NL ", " PL "))
    assert "refused: product 'sales.orders' not found" in text
    # once she may discover it: the verdicts of its quality rules, never a value measured from its data
    verdicts = text[text.index("maria sees its quality verdicts"):text.index("The audit trail of both")]
    assert "score withheld" in verdicts and "values shown" not in verdicts and verdicts.count("values withheld") >= 5
    assert "FAIL uniqueness_order_id" in verdicts
    trail = text[text.index("The audit trail of both"):]
    assert "denied" in trail and "allowed" in trail and "maria" in trail and "frank" in trail
    assert "domain events recorded" in text and "4 product.created" in text
    assert (root / MARKER).is_file()

    sql = demo_sql(today)
    expected = _co_located_answer(root, sql)
    assert 0 < len(expected) <= 10
    # the printed result carries the top row of the co-located answer
    top = expected[0]
    assert top["country"] in out and top["carrier"] in out

    with Mesh.open(root) as mesh:
        products = {p.fqn: p for p in mesh.products()}
        assert {fqn: (p.source, p.status) for fqn, p in products.items()} == {
            "crm.customers": ("crm_db", "published"),
            "sales.orders": ("sales_db", "published"),
            "sales.daily_revenue": ("sales_db", "published"),
            "logistics.shipments": ("lake", "published"),
        }
        got = mesh.query(sql).arrow().to_pylist()
        _assert_history(mesh, today)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g["country"], g["carrier"], g["orders"]) == (e["country"], e["carrier"], e["orders"])
        assert float(g["revenue_eur"]) == pytest.approx(float(e["revenue_eur"]))
        assert g["avg_delivery_days"] == pytest.approx(e["avg_delivery_days"])

    # the workspace is a normal workspace afterwards
    code, listed, _ = cli(capsys, "-w", root, "products", "list", "--json")
    assert code == 0 and len(json.loads(listed)) == 4

    # running the demo again in its own folder starts over cleanly
    code, out, err = cli(capsys, "demo", root, "--orders", 2_000)
    assert code == 0, out + err
    assert "2,000 orders" in flat(out)
    code, events, _ = cli(capsys, "-w", root, "events", "list", "--json", "--type", "product.created")
    assert len(json.loads(events)) == 4


def _assert_history(mesh: Mesh, today: dt.date) -> None:
    """The history the dashboard draws, read the way the UI reads it: each domain's health over
    the replayed days (SDK and REST agree), SLO status."""
    from fastapi.testclient import TestClient

    from meshfabric.api.app import create_app

    until = dt.datetime.now(dt.UTC)
    since = dt.datetime.combine(today - dt.timedelta(days=HISTORY_DAYS + 1), dt.time(), dt.UTC)
    health = {d: mesh.observe.health(d, since=since, until=until) for d in ("crm", "sales", "logistics")}
    with TestClient(create_app(mesh, auth=False)) as client:
        for domain, h in health.items():
            got = client.get(f"/api/v1/domains/{domain}/health",
                             params={"since": since.isoformat(), "until": until.isoformat()})
            assert got.status_code == 200, got.text
            rest = got.json()
            assert rest["quality_trends"] == h["quality_trends"]
            assert rest["usage_patterns"]["usage"] == h["usage_patterns"]["usage"]
            assert rest["slo_compliance"] == h["slo_compliance"]
    first = today - dt.timedelta(days=HISTORY_DAYS)
    for domain, h in health.items():
        trend = h["quality_trends"]
        # a quality run every replayed morning, and today's
        days = {dt.date.fromisoformat(d) for d in trend["dates"]}
        assert {first + dt.timedelta(days=i) for i in range(HISTORY_DAYS)} <= days, (domain, trend["dates"])
        # each domain's loads went wrong once: the trend line moves, for that reason
        assert min(trend["scores"]) < 0.99 and max(trend["scores"]) == 1.0, (domain, trend["scores"])
        # freshness probed every morning; the stale mornings count against the SLO
        assert h["slo_compliance"]["metrics"]["freshness"] is not None, (domain, h["slo_compliance"])
        if domain != "crm":  # (crm's are the mornings after a day without sign-ups: not every month has one)
            assert h["slo_compliance"]["metrics"]["freshness"] < 1, (domain, h["slo_compliance"])
    by_day = dict(zip(health["logistics"]["quality_trends"]["dates"], health["logistics"]["quality_trends"]["scores"],
                      strict=True))
    assert by_day[str(today - dt.timedelta(days=5))] < 0.9 and by_day[str(today - dt.timedelta(days=3))] == 1.0
    # usage by hour from audited queries: the report job at 07:00 and analysts through the day
    sales = health["sales"]
    usage = sales["usage_patterns"]["usage"]
    assert usage[7] >= 15 and sum(1 for n in usage if n) >= 5, usage
    assert sales["usage_patterns"]["peak_hour"] == 7
    perf = sales["performance_metrics"]
    assert perf["queries"] == sum(usage) and perf["query_latency"]["p50"] > 0
    # every product read from a source was probed each replayed morning (SLO evaluations)
    for status in mesh.observe.status(at=until):
        if status.product == "sales.daily_revenue":
            continue
        fresh = next(o for o in status.objectives if o.objective.name == "freshness")
        assert fresh.good + fresh.bad >= HISTORY_DAYS, (status.product, fresh)
    history = mesh.quality.history("sales.orders", limit=100)
    assert len({r.started_at.date() for r in history}) >= HISTORY_DAYS + 1
    assert any("freshness_order_date" in [x.rule for x in r.results if not x.passed] for r in history)
