"""Alerts end to end: webhooks delivered to a real HTTP server on 127.0.0.1 (started here),
retried after a 500, recorded as failed when unreachable; mesh.yaml configuration reaching a
caller that only holds the store; the CLI; a PostgreSQL metadata store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from helpers import MESH_YAML, build_workspace, cli, default_store, free_port, pg_database, store_dump_text
from helpers import WebhookReceiver as Hook
from meshfabric import Mesh
from meshfabric.quality import alerts
from meshfabric.quality.alerts import Webhook
from meshfabric.quality.detectors import MADDetector, ZScoreDetector
from meshfabric.quality.monitor import MonitorConfig, Observation, observe, record
from meshfabric.store import Store, open_store
from meshfabric.store.models import AlertDeliveryRow, EventRow, MetricPointRow

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as h:
        yield h


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


DETECTORS = (MADDetector(window=10, min_points=5),)


def spike(store: Store, config: MonitorConfig, value: float = 40.0, series: str = "row_count") -> Any:
    """Ten calm points then one spike on sales.orders/<series>/*: exactly one alert opens."""
    for i in range(10):
        record(store, [Observation("sales.orders", series, 1.0 if i % 2 else -1.0, ts=T0 + timedelta(hours=i))],
               config=config)
    return record(store, [Observation("sales.orders", series, value, ts=T0 + timedelta(hours=10))], config=config)


def deliveries(store: Store) -> list[AlertDeliveryRow]:
    with store.read() as s:
        return list(s.scalars(select(AlertDeliveryRow).order_by(AlertDeliveryRow.id)))


def test_delivered_with_env_headers_and_no_secret_stored(
    store: Store, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MF_HOOK_TOKEN", "s3cret-token-value")
    config = MonitorConfig(DETECTORS, (Webhook(hook.url, {"Authorization": "Bearer ${MF_HOOK_TOKEN}"}),))
    result = spike(store, config)
    [alert] = result.alerts
    assert [(d.status, d.attempts, d.http_status, d.error) for d in result.deliveries] == [("delivered", 1, 200, "")]
    [req] = hook.requests
    assert req["path"] == "/hook"
    assert req["headers"]["Authorization"] == "Bearer s3cret-token-value"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    assert body["type"] == "meshfabric.alert" and body["reason"] == "opened"
    assert body["alert"]["id"] == alert.id and body["alert"]["series"] == "sales.orders/row_count/*"
    assert body["alert"]["detector"] == "mad" and body["alert"]["value"] == 40.0
    [row] = deliveries(store)
    assert (row.alert_id, row.target, row.status) == (alert.id, hook.url, "delivered")
    assert "s3cret-token-value" not in store_dump_text(store.url)
    # a repeat is counted on the alert, not sent again
    again = record(store, [Observation("sales.orders", "row_count", 40.0, ts=T0 + timedelta(hours=11))],
                   config=config)
    assert again.fired and again.deliveries == [] and len(hook.requests) == 1


def test_retried_after_a_500(store: Store, hook: Hook) -> None:
    hook.script = [500, 503]
    config = MonitorConfig(DETECTORS, (Webhook(hook.url, attempts=3, backoff=0.01),))
    result = spike(store, config)
    assert [(d.status, d.attempts, d.http_status) for d in result.deliveries] == [("delivered", 3, 200)]
    assert len(hook.requests) == 3
    assert hook.requests[0]["body"] == hook.requests[2]["body"]  # the same alert each time


def test_unreachable_is_recorded_as_failed_and_the_alert_kept(store: Store) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    config = MonitorConfig(DETECTORS, (Webhook(url, attempts=3, backoff=0.01, timeout=2),))
    result = spike(store, config)
    [d] = result.deliveries
    assert (d.status, d.attempts, d.http_status) == ("failed", 3, None)
    assert "refused" in d.error.lower()
    [alert] = alerts.list_alerts(store, status="open")
    assert alert.id == result.alerts[0].id and alert.occurrences == 1
    assert [r.status for r in deliveries(store)] == ["failed"]


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (302, 1), (429, 2)])
def test_client_errors_are_not_retried_and_redirects_not_followed(
    store: Store, hook: Hook, status: int, attempts: int
) -> None:
    hook.script = [status, status]
    config = MonitorConfig(DETECTORS, (Webhook(hook.url, attempts=2, backoff=0.01),))
    [d] = spike(store, config).deliveries
    assert (d.status, d.attempts, d.http_status) == ("failed", attempts, status)
    assert len(hook.requests) == attempts


def test_min_severity_and_unset_variables(store: Store, hook: Hook) -> None:
    config = MonitorConfig(
        (ZScoreDetector(window=100, min_points=30),),
        (Webhook(hook.url, min_severity="high"), Webhook("http://127.0.0.1/${MF_UNSET_HOOK_PATH}")),
    )
    calm = [1.0 if i % 2 else -1.0 for i in range(100)]
    for i, v in enumerate(calm):
        record(store, [Observation("sales.orders", "mean", v, "amount", T0 + timedelta(hours=i))], config=config)
    medium = record(store, [Observation("sales.orders", "mean", 3.5, "amount", T0 + timedelta(hours=100))],
                    config=config)
    # medium: only the second webhook wants it, and its URL names a variable that is not set
    assert [(d.status, d.attempts) for d in medium.deliveries] == [("failed", 0)]
    assert "MF_UNSET_HOOK_PATH" in medium.deliveries[0].error
    assert hook.requests == []
    high = record(store, [Observation("sales.orders", "mean", 6.0, "amount", T0 + timedelta(hours=101))],
                  config=config)
    assert sorted(d.status for d in high.deliveries) == ["delivered", "failed"]
    assert [r["body"]["reason"] for r in hook.requests] == ["escalated"]


# ---------------------------------------------------------------------------------------------
# mesh.yaml, the SDK and the CLI


def alerting_workspace(root: Path, url: str) -> Path:
    mesh_yaml = MESH_YAML + f"""\
alerts:
  webhooks:
    - url: {url}
      headers:
        X-Team: sales
      backoff: 0.01
  detectors:
    zscore:
      enabled: false
    mad:
      window: 10
      min_points: 5
    seasonal:
      enabled: false
  resolve_after: 0
"""
    return build_workspace(root, mesh=mesh_yaml)


def test_mesh_yaml_configuration_reaches_a_caller_holding_only_the_store(
    tmp_path: Path, hook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    root = alerting_workspace(tmp_path / "shop", hook.url)
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        with mesh.store.write() as s:  # as a quality run stores its points ...
            points = [MetricPointRow(series="sales.orders/completeness/amount", product="sales.orders",
                                     metric="completeness", value=v, ts=T0 + timedelta(hours=i))
                      for i, v in enumerate([1.0, 0.99] * 5 + [0.2])]
            s.add_all(points)
        for i in range(len(points)):  # ... and hands each run's points to the monitor with the store only
            observe(mesh.store, [points[i]])
        [alert] = mesh.alerts.list(product="sales.orders")
        assert alert.detector == "mad" and alert.value == 0.2 and alert.severity == "high"
        assert [r["headers"]["X-Team"] for r in hook.requests] == ["sales"]
        assert [d.status for d in mesh.alerts.deliveries(alert.id)] == ["delivered"]
        assert mesh.alerts.list(product="sales.orders", status="resolved") == []
        with mesh.store.read() as s:
            kinds = [e.event_type for e in s.scalars(select(EventRow))]
        assert kinds.count("quality.alert") == 1

    with default_store():
        code, out, err = cli(capsys, "-w", root, "alerts", "list", "--json")
        assert code == 0, err
        [listed] = json.loads(out)
        assert listed["id"] == alert.id and listed["status"] == "open" and listed["column"] == "amount"
        code, out, _ = cli(capsys, "-w", root, "alerts", "list", "--product", "sales.orders", "--status", "open")
        assert code == 0 and "completeness" in out and "mad" in out
        code, out, _ = cli(capsys, "-w", root, "alerts", "show", alert.id, "--json")
        assert code == 0 and [d["status"] for d in json.loads(out)["deliveries"]] == ["delivered"]
        assert cli(capsys, "-w", root, "alerts", "ack", alert.id, "--note", "on it")[0] == 0
        code, out, _ = cli(capsys, "-w", root, "alerts", "list", "--status", "acknowledged", "--json")
        assert [a["id"] for a in json.loads(out)] == [alert.id]
        code, out, _ = cli(capsys, "-w", root, "alerts", "deliver", alert.id)
        assert code == 0 and "delivered" in out
        assert hook.requests[-1]["body"]["reason"] == "redelivered"
        assert cli(capsys, "-w", root, "alerts", "resolve", alert.id)[0] == 0
        code, _, err = cli(capsys, "-w", root, "alerts", "ack", alert.id)
        assert code == 2 and "resolved" in err
        code, _, err = cli(capsys, "-w", root, "alerts", "show", 999)
        assert code == 2 and "999" in err
        code, _, err = cli(capsys, "-w", root, "alerts", "list", "--status", "sleeping")
        assert code == 2 and "sleeping" in err


def test_cli_deliver_exits_1_when_the_endpoint_is_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = alerting_workspace(tmp_path / "shop", f"http://127.0.0.1:{free_port()}/hook")
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        result = spike(mesh.store, MonitorConfig(DETECTORS))
        alert_id = result.alerts[0].id
    with default_store():
        code, out, _ = cli(capsys, "-w", root, "alerts", "deliver", alert_id, "--json")
        assert code == 1 and json.loads(out)[0]["status"] == "failed"


def test_postgres_metadata_store(pg_url: str, hook: Hook) -> None:
    with pg_database("mf_alerts") as url:
        store = open_store(url)
        try:
            config = MonitorConfig(DETECTORS, (Webhook(hook.url),), resolve_after=2)
            result = spike(store, config)
            [alert] = result.alerts
            assert alert.ts == T0 + timedelta(hours=10) and alert.ts.tzinfo is not None
            record(store, [Observation("sales.orders", "row_count", 40.0, ts=T0 + timedelta(hours=11))],
                   config=config)
            assert alerts.get_alert(store, alert.id).occurrences == 2
            for h in (12, 13):
                record(store, [Observation("sales.orders", "row_count", 1.0, ts=T0 + timedelta(hours=h))],
                       config=config)
            assert alerts.get_alert(store, alert.id).status == "resolved"
            assert [d.status for d in alerts.deliveries(store, alert.id)] == ["delivered"]
        finally:
            store.close()
