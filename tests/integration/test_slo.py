"""SLOs end to end over real sources: probes in SQLite and files sources, the scheduler's leases
(threads and two schedulers on one store, SQLite and PostgreSQL), SLO and threshold alerts with
their lifecycle, the CLI and REST, and access (a product one may not discover does not exist)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import MESH_YAML, ORDERS_YAML, SPEC_FILES, build_workspace, cli, default_store, pg_database, write
from meshfabric import Mesh
from meshfabric.errors import AccessDenied, MeshfabricError, NotFound
from meshfabric.observe.scheduler import Scheduler, release_lease, take_lease
from meshfabric.store.models import AlertRow, EventRow, MetricPointRow
from meshfabric.store.models_observe import ObserveLeaseRow

EVENTS_YAML = """\
kind: DataProduct
domain: sales
name: events
owner: sales-team@example.com
status: published
output:
  source: shop_db
  table: events
schema:
  - name: id
    type: bigint
  - name: kind
    type: string
  - name: updated_at
    type: timestamp
slos:
  freshness: {max_minutes: 60, objective: 0.99, window: 1d}
  every: 1m
"""
ORDERS_RULES = ORDERS_YAML + """\
quality:
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
"""
SLO_MESH = MESH_YAML + """\
slos:
  quality: {min_score: 0.95, window: 7d}
"""


def set_events(root: Path, minutes_old: float) -> None:
    newest = (datetime.now(UTC) - timedelta(minutes=minutes_old)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(root / "data" / "shop.sqlite") as con:
        con.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER, kind TEXT, updated_at TIMESTAMP)")
        con.execute("DELETE FROM events")
        con.executemany("INSERT INTO events VALUES (?, ?, ?)", [(1, "a", "2020-01-01 00:00:00"), (2, "b", newest)])
    con.close()


def workspace(root: Path, minutes_old: float = 5) -> Path:
    build_workspace(root, mesh=SLO_MESH, specs={**SPEC_FILES, "products/sales/orders.yaml": ORDERS_RULES,
                                                "products/sales/events.yaml": EVENTS_YAML})
    set_events(root, minutes_old)
    return root


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    root = workspace(tmp_path / "ws")
    with default_store(), Mesh.open(root) as m:
        m.apply()
        yield m


def series_of(mesh: Mesh, product: str) -> dict[str, list[float]]:
    with mesh.store.read() as s:
        rows = s.execute(select(MetricPointRow.series, MetricPointRow.value).where(MetricPointRow.product == product)
                         .order_by(MetricPointRow.id))
        out: dict[str, list[float]] = {}
        for series, value in rows:
            out.setdefault(series, []).append(value)
        return out


def test_probes_write_the_agreed_series(mesh: Mesh) -> None:
    result = mesh.observe.run_probe("sales.events")
    assert result.available and result.column == "updated_at" and result.row_count == 2
    assert result.freshness_minutes is not None and 4.5 < result.freshness_minutes < 7
    found = series_of(mesh, "sales.events")
    assert set(found) == {"sales.events/availability", "sales.events/freshness.minutes", "sales.events/row_count"}
    assert found["sales.events/availability"] == [1.0] and found["sales.events/row_count"] == [2.0]
    # no timestamp column: availability and row count, freshness not measurable and said so
    orders = mesh.observe.run_probe("sales.orders")
    assert orders.available and orders.freshness_minutes is None and orders.row_count == 20
    assert "not measurable" in orders.note
    assert set(series_of(mesh, "sales.orders")) == {"sales.orders/availability", "sales.orders/row_count"}
    # a files source (parquet glob) through its own connector
    shipments = mesh.observe.run_probe("logistics.shipments")
    assert shipments.available and shipments.row_count == 15


def test_unreachable_source_is_unavailability(mesh: Mesh) -> None:
    with sqlite3.connect(mesh.root / "data" / "shop.sqlite") as con:  # type: ignore[operator]
        con.execute("ALTER TABLE events RENAME TO events_gone")
    con.close()
    result = mesh.observe.run_probe("sales.events")
    assert not result.available and result.note
    assert series_of(mesh, "sales.events") == {"sales.events/availability": [0.0]}


def test_stale_product_raises_deduplicated_alerts_that_resolve(mesh: Mesh) -> None:
    root = mesh.root
    assert root is not None
    set_events(root, 180)
    mesh.observe.run_probe("sales.events")
    first = mesh.observe.check("sales.events")
    opened = {(a.detector, a.severity, reason) for a, reason in first.notified}
    # threshold (the seed's freshness > max → high) and both burn rules: every evaluation is bad
    assert opened == {("slo.threshold", "high", "opened"), ("slo.burn.page", "critical", "opened"),
                      ("slo.burn.ticket", "high", "opened")}
    status = {o.objective.name: o for o in first.slos.objectives}
    assert status["freshness"].status == "breached" and status["freshness"].compliance == 0.0
    assert status["freshness"].objective.threshold == 60 and status["freshness"].objective.origin == "product"
    # again: the same three alerts, one more occurrence each, nothing new to notify
    mesh.observe.run_probe("sales.events")
    again = mesh.observe.check("sales.events")
    assert again.notified == []
    with mesh.store.read() as s:
        rows = list(s.scalars(select(AlertRow).where(AlertRow.product == "sales.events")))
    assert len(rows) == 3 and {r.occurrences for r in rows} == {2}
    threshold = next(r for r in rows if r.detector == "slo.threshold")
    assert threshold.series == "sales.events/freshness.minutes" and threshold.expected == 60
    # fresh data: the threshold alert resolves; the burn rules still see the bad hour
    set_events(root, 1)
    mesh.observe.run_probe("sales.events")
    fresh = mesh.observe.check("sales.events")
    assert [(a.detector, r) for a, r in fresh.notified] == [("slo.threshold", "resolved")]
    with mesh.store.read() as s:
        resolved = s.get(AlertRow, threshold.id)
        assert resolved is not None and resolved.status == "resolved" and resolved.resolved_by is None
        kinds = [e.event_type for e in s.scalars(select(EventRow).where(EventRow.event_type.like("slo.%")))]
    assert kinds.count("slo.alert") == 3 and kinds.count("slo.alert_resolved") == 1


def test_low_quality_score_is_a_medium_alert(mesh: Mesh) -> None:
    run = mesh.quality.run("sales.orders")
    assert run.score is not None and run.score < 0.95
    checked = mesh.observe.check("sales.orders")
    threshold = [a for a, _ in checked.notified if a.detector == "slo.threshold"]
    assert len(threshold) == 1 and threshold[0].severity == "medium"
    assert threshold[0].series == "sales.orders/score/*" and threshold[0].value == pytest.approx(run.score)
    quality = next(o for o in checked.slos.objectives if o.objective.name == "quality")
    # the workspace's slos: in mesh.yaml gave the quality objective its 7-day window
    assert quality.objective.origin == "workspace" and quality.objective.window == timedelta(days=7)
    assert quality.bad == 1 and quality.status == "breached"


def test_scheduler_runs_each_check_once_across_processes(mesh: Mesh) -> None:
    schedulers = [Scheduler(mesh.observe, holder=f"p{i}") for i in range(4)]
    reports = []
    barrier = threading.Barrier(4)

    def go(s: Scheduler) -> None:
        barrier.wait()
        reports.append(s.tick())

    threads = [threading.Thread(target=go, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = [r for report in reports for r in report.ran]
    keys = [(p, t) for p, t, _ in ran]
    assert len(keys) == len(set(keys)), "a check ran twice"
    expected = {(p, t) for p in ("crm.customers", "logistics.shipments", "sales.events", "sales.orders")
                for t in ("probe", "slo")} | {("sales.orders", "quality"), ("*", "compact")}
    assert set(keys) == expected  # metric compaction too, once, under its workspace lease
    assert all(status == "ok" for _, _, status in ran)
    # nothing is due again until the product's interval has passed
    assert schedulers[0].tick().ran == []
    later = Scheduler(mesh.observe, holder="later", clock=lambda: datetime.now(UTC) + timedelta(minutes=2))
    due = {(p, t) for p, t, _ in later.tick().ran}
    # sales.events is checked every minute (its slos.every); the others every 5 minutes
    assert due == {("sales.events", "probe"), ("sales.events", "slo")}
    with mesh.store.read() as s:
        leases = {(r.product, r.task): r for r in s.scalars(select(ObserveLeaseRow))}
    assert leases[("sales.events", "probe")].holder == "later"
    assert all(r.last_status == "ok" for r in leases.values())


def test_an_expired_lease_of_a_dead_holder_is_taken_over(mesh: Mesh) -> None:
    now = datetime.now(UTC)
    every = timedelta(minutes=5)
    assert take_lease(mesh.store, "sales.orders", "probe", "dead", now=now, every=every, ttl=timedelta(minutes=1))
    # held: nobody else gets it, even when due
    assert not take_lease(mesh.store, "sales.orders", "probe", "alive", now=now + timedelta(seconds=30), every=every)
    # the holder died without releasing: after the lease expires another process takes it
    assert take_lease(mesh.store, "sales.orders", "probe", "alive", now=now + timedelta(minutes=2), every=every)
    # the dead holder cannot release what it no longer holds
    assert not release_lease(mesh.store, "sales.orders", "probe", "dead", started=now, status="ok")
    assert release_lease(mesh.store, "sales.orders", "probe", "alive", started=now + timedelta(minutes=2),
                         status="ok", now=now + timedelta(minutes=2))
    assert not take_lease(mesh.store, "sales.orders", "probe", "x", now=now + timedelta(minutes=3), every=every)
    assert take_lease(mesh.store, "sales.orders", "probe", "x", now=now + timedelta(minutes=7), every=every)


@pytest.mark.postgres
def test_leases_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    with pg_database() as url, Mesh.open(root, store=url) as m:
        m.apply()
        reports = []

        def go(i: int) -> None:
            with Mesh.open(root, store=url) as other:
                reports.append(Scheduler(other.observe, holder=f"pg{i}").tick())

        threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        keys = [(p, t) for r in reports for p, t, _ in r.ran]
        assert len(keys) == len(set(keys)) == 10  # 9 product checks and the hourly metric compaction
        status = {p.product: p for p in m.observe.status()}
        assert status["sales.events"].objectives[0].good == 1


def test_cli_slo_status_observe_run_and_alert_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = workspace(tmp_path / "ws", minutes_old=500)
    with default_store():
        assert cli(capsys, "-w", root, "apply")[0] == 0
        code, out, _ = cli(capsys, "-w", root, "observe", "run", "--once", "--json")
        assert code == 0
        report = json.loads(out)
        assert {"product": "sales.events", "task": "probe", "status": "ok"} in report["ran"]
        assert {a["detector"] for a in report["alerts"] if a["product"] == "sales.events"} == {
            "slo.threshold", "slo.burn.page", "slo.burn.ticket"}
        code, out, _ = cli(capsys, "-w", root, "observe", "run", "--once")
        assert code == 0 and "nothing due" in out
        code, out, _ = cli(capsys, "-w", root, "slo", "status", "--domain", "sales", "--json")
        assert code == 0
        found = {p["product"]: p for p in json.loads(out)}
        assert set(found) == {"sales.events", "sales.orders"}
        fresh = next(o for o in found["sales.events"]["objectives"] if o["name"] == "freshness")
        assert fresh["status"] == "breached" and fresh["alerts"] == ["page", "ticket"]
        assert fresh["current"] > 490 and fresh["budget_remaining"] < 0
        code, out, _ = cli(capsys, "-w", root, "slo", "status", "--product", "sales.events")
        assert code == 0 and "breached" in out and "freshness" in out
        page = next(a for a in report["alerts"] if a["detector"] == "slo.burn.page")
        code, out, _ = cli(capsys, "-w", root, "alerts", "silence", page["alert_id"], "--for", "2h", "--json")
        assert code == 0
        silenced = json.loads(out)
        until = datetime.fromisoformat(silenced["silenced_until"])
        assert timedelta(minutes=119) < until - datetime.now(UTC) <= timedelta(hours=2)
        assert silenced["status"] == "open"
        code, out, _ = cli(capsys, "-w", root, "alerts", "ack", page["alert_id"], "--json")
        assert code == 0 and json.loads(out)["status"] == "acknowledged"
        assert json.loads(out)["silenced_until"] == silenced["silenced_until"]
        code, _, err = cli(capsys, "-w", root, "alerts", "silence", page["alert_id"], "--for", "soon")
        assert code == 2 and "duration" in err


def test_rest_slos_and_domain_health(mesh: Mesh) -> None:
    from meshfabric.api.app import create_app

    mesh.observe.run_probe("sales.events")
    mesh.observe.run_probe("sales.orders")
    mesh.quality.run("sales.orders")
    for _ in range(3):
        mesh.query("SELECT count(*) FROM sales.orders")
    mesh.query("SELECT * FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id")
    with pytest.raises(MeshfabricError):
        mesh.query("SELECT nope FROM sales.orders")
    with TestClient(create_app(mesh, auth=False)) as client:
        body = client.get("/api/v1/slos", params={"domain": "sales"}).json()
        assert body["total"] == 2
        events = next(p for p in body["items"] if p["product"] == "sales.events")
        fresh = next(o for o in events["objectives"] if o["name"] == "freshness")
        assert fresh["status"] == "ok" and fresh["compliance"] == 1 and fresh["budget_remaining"] == 1
        assert fresh["max_minutes"] == 60 and set(fresh["burn_rates"]) == {"5m", "30m", "1h", "6h"}
        assert client.get("/api/v1/slos", params={"product": "sales.nope"}).status_code == 404
        health = client.get("/api/v1/domains/sales/health")
        assert health.status_code == 200, health.text
        h = health.json()
        assert h["products"] == ["sales.events", "sales.orders"]
        assert h["quality_trends"]["dates"] == [datetime.now(UTC).strftime("%Y-%m-%d")]
        assert h["quality_trends"]["trend"] == "stable" and h["quality_trends"]["scores"][0] < 0.95
        assert h["slo_compliance"]["metrics"]["freshness"] == 1.0
        assert h["slo_compliance"]["metrics"]["quality"] == 0.0
        perf = h["performance_metrics"]
        assert perf["queries"] == 5 and perf["error_rate"]["errors"] == 1
        assert perf["error_rate"]["value"] == pytest.approx(20.0)
        assert perf["query_latency"]["p50"] > 0 and perf["query_latency"]["p95"] >= perf["query_latency"]["p50"]
        assert sum(h["usage_patterns"]["usage"]) == 5
        peak = h["usage_patterns"]["peak_hour"]
        assert h["usage_patterns"]["usage"][peak] == max(h["usage_patterns"]["usage"]) > 0
        crm = client.get("/api/v1/domains/crm/health").json()
        assert crm["performance_metrics"]["queries"] == 1
        assert client.get("/api/v1/domains/nope/health").status_code == 404
        bad = client.get("/api/v1/domains/sales/health",
                         params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
        assert bad.status_code == 400


def test_access_decides_what_exists(tmp_path: Path) -> None:
    from access_support import build, setup_principals

    root = build(tmp_path / "secure")
    with default_store(), Mesh.open(root) as m:
        m.apply()
        setup_principals(m)
        m.observe.run_probe("sales.orders")
        m.observe.check("sales.orders")
        assert {p.product for p in m.observe.status()} >= {"sales.orders", "crm.customers"}
        assert m.observe.status(user="mallory") == []
        with pytest.raises(NotFound):
            m.observe.status(product="sales.orders", user="mallory")
        with pytest.raises(NotFound):
            m.observe.health("sales", user="mallory")
        # carol may discover sales.orders: its SLO status, without the measured values
        carol = m.observe.status(user="carol")
        assert [p.product for p in carol] == ["sales.orders"]
        assert all(o.current is None for o in carol[0].objectives)
        admin = m.observe.status(product="sales.orders")[0]
        assert next(o for o in admin.objectives if o.objective.name == "freshness").current is not None
        with pytest.raises(AccessDenied):
            m.observe.probe("sales.orders", user="carol")
        # silencing is alert.manage (write on the product)
        alert = m.alerts.list(product="sales.orders")[0]
        with pytest.raises(AccessDenied):
            m.alerts.silence(alert.id, datetime.now(UTC) + timedelta(hours=1), user="carol")
        with pytest.raises(NotFound):
            m.alerts.silence(alert.id, datetime.now(UTC) + timedelta(hours=1), user="mallory")
        done = m.alerts.silence(alert.id, datetime.now(UTC) + timedelta(hours=1), user="etl-bot")
        assert done.silenced_until is not None


def test_every_comes_from_the_product_spec(tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    write(root / "products" / "sales" / "events.yaml", EVENTS_YAML.replace("every: 1m", "every: 2m"))
    with default_store(), Mesh.open(root) as m:
        m.apply()
        _, every = m.observe.objectives("sales.events")
        assert every == timedelta(minutes=2)


def test_silence_of_the_probes_is_no_recovery(mesh: Mesh) -> None:
    root = mesh.root
    assert root is not None
    set_events(root, 180)
    mesh.observe.run_probe("sales.events")
    opened = {a.detector for a, _ in mesh.observe.check("sales.events").notified}
    assert opened == {"slo.threshold", "slo.burn.page", "slo.burn.ticket"}
    # 20 minutes later and no probe since (the source stopped answering): the 5-minute window is
    # empty, so the page rule is not judged and stays open; the data is 20 minutes older than measured
    later = datetime.now(UTC) + timedelta(minutes=20)
    quiet = mesh.observe.check("sales.events", at=later)
    assert quiet.notified == []
    fresh = next(o for o in quiet.slos.objectives if o.objective.name == "freshness")
    assert fresh.current is not None and 199 < fresh.current < 202
    assert fresh.burn_rates["5m"] is None and fresh.burn_rates["1h"] is not None
    assert {a.detector for a in mesh.alerts.list(product="sales.events", status="open")} == opened


def test_start_scheduler_runs_in_the_background_until_stopped(mesh: Mesh) -> None:
    import time

    from meshfabric.observe.scheduler import start_scheduler

    stop = start_scheduler(mesh, every=timedelta(seconds=1))
    try:
        deadline = time.monotonic() + 30
        done: set[tuple[str, str]] = set()
        while time.monotonic() < deadline and ("sales.orders", "slo") not in done:
            time.sleep(0.2)
            with mesh.store.read() as s:
                done = {(r.product, r.task) for r in s.scalars(select(ObserveLeaseRow))
                        if r.last_run_at is not None}
        assert {("sales.events", "probe"), ("sales.orders", "quality"), ("sales.orders", "slo")} <= done
    finally:
        stop()
    assert not any(t.name == "meshfabric-observe" and t.is_alive() for t in threading.enumerate())


def test_observe_run_in_separate_processes_runs_each_check_once(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = workspace(tmp_path / "ws")
    env = {k: v for k, v in os.environ.items() if k != "MESHFABRIC_STORE_URL"}
    with default_store(), Mesh.open(root) as m:
        m.apply()
    command = [sys.executable, "-c", "import sys; from meshfabric.cli import main; sys.exit(main())",
               "-w", str(root), "observe", "run", "--once", "--json"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    ran = [(r["product"], r["task"]) for out, _ in outs for r in json.loads(out)["ran"]]
    assert len(ran) == len(set(ran)) == 10, ran  # 9 product checks and the hourly metric compaction


def _counts_match_python(m: Mesh) -> None:
    import random

    from meshfabric.observe import slo as slomath

    rng = random.Random(12)
    end = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    points = [(end - timedelta(seconds=rng.randint(0, 9 * 3600)), float(rng.choice([30, 60, 119.5, 120, 120.5, 500])))
              for _ in range(600)]
    points += [(end, 200.0), (end - timedelta(hours=1), 10.0), (end + timedelta(seconds=1), 999.0)]  # borders
    with m.store.write() as s:
        s.add_all([MetricPointRow(series="sales.events/freshness.minutes", product="sales.events",
                                  metric="freshness.minutes", value=v, ts=t) for t, v in points])
    objective = slomath.Objective("freshness", 0.99, timedelta(hours=8), 120.0)
    in_store = m.observe._counts("sales.events/freshness.minutes", objective, end)
    expected = slomath.evaluate(objective, slomath.evaluations(objective, points), end)
    got = slomath.evaluate_counts(objective, in_store, end)
    assert (got.good, got.bad, got.compliance, got.budget_remaining) == (
        expected.good, expected.bad, expected.compliance, expected.budget_remaining)
    assert got.burn_rates == expected.burn_rates and got.firing == expected.firing


def test_counting_in_the_store_matches_the_math(mesh: Mesh) -> None:
    _counts_match_python(mesh)


@pytest.mark.postgres
def test_counting_in_postgresql_matches_the_math(pg_url: str, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    with pg_database() as url, Mesh.open(root, store=url) as m:
        m.apply()
        _counts_match_python(m)
