"""SLO alerts routed by domain and severity to a local webhook receiver (JSON and Slack-compatible)
and a local SMTP server (aiosmtpd), started here on free ports; retries with backoff, every
attempt recorded, failures recorded, silenced alerts held back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from helpers import MESH_YAML, SPEC_FILES, build_workspace, default_store, free_port
from helpers import WebhookReceiver as Hook
from meshfabric import Mesh
from meshfabric.observe import alerting
from meshfabric.quality import alerts as alert_store
from meshfabric.spec.observe_models import AlertRouteSpec, ObservabilitySpec, SmtpSpec

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
  - name: updated_at
    type: timestamp
"""


class Mailbox:
    """aiosmtpd handler: keeps every message; answers DATA with the next scripted reply."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []
        self.script: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.script:
            return self.script.pop(0)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def stale_workspace(root: Path, routes: str) -> Path:
    build_workspace(root, mesh=MESH_YAML + routes, specs={**SPEC_FILES, "products/sales/events.yaml": EVENTS_YAML})
    newest = (datetime.now(UTC) - timedelta(hours=5)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(root / "data" / "shop.sqlite") as con:
        con.execute("CREATE TABLE events (id INTEGER, updated_at TIMESTAMP)")
        con.execute("INSERT INTO events VALUES (1, ?)", (newest,))
    con.close()
    return root


def test_routes_by_domain_and_severity_to_webhooks_and_email(tmp_path: Path, hook: Hook,
                                                              smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    routes = f"""\
observability:
  smtp: {{host: 127.0.0.1, port: {port}, sender: alerts@shop.test}}
  routes:
    - {{domains: [sales], min_severity: high, webhook: "{hook.base}/sales"}}
    - {{min_severity: critical, webhook: "{hook.base}/slack", format: slack}}
    - {{domains: [crm], webhook: "{hook.base}/crm"}}
    - {{domains: [sales], email: [oncall@shop.test, lead@shop.test]}}
"""
    root = stale_workspace(tmp_path / "ws", routes)
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        mesh.observe.run_probe("sales.events")
        result = mesh.observe.check("sales.events")
        assert {a.detector for a, _ in result.notified} == {"slo.threshold", "slo.burn.page", "slo.burn.ticket"}
        # JSON to the sales route: all three (high, critical, high)
        sales = hook.bodies("/sales")
        assert sorted(b["alert"]["detector"] for b in sales) == ["slo.burn.page", "slo.burn.ticket", "slo.threshold"]
        assert all(b["type"] == "meshfabric.alert" and b["reason"] == "opened" for b in sales)
        assert all(b["alert"]["product"] == "sales.events" for b in sales)
        # Slack-compatible text only for the critical one
        slack = hook.bodies("/slack")
        assert len(slack) == 1 and set(slack[0]) == {"text"} and "[CRITICAL] sales.events" in slack[0]["text"]
        # the crm route sees nothing of sales
        assert hook.bodies("/crm") == []
        # e-mail: 3 alerts x 2 recipients through the local SMTP server
        assert len(box.messages) == 6
        to = sorted(rcpt[0] for rcpt, _ in box.messages)
        assert to == ["lead@shop.test"] * 3 + ["oncall@shop.test"] * 3
        subjects = {m["Subject"] for _, m in box.messages}
        assert "[meshfabric critical] sales.events: slo.burn.page" in subjects
        assert all(m["From"] == "alerts@shop.test" for _, m in box.messages)
        # every delivery recorded with its channel and attempts
        assert len(result.deliveries) == 3 + 1 + 6
        assert {d.channel for d in result.deliveries} == {"webhook", "slack", "email"}
        assert all(d.status == "delivered" and d.attempts == 1 and len(d.attempt_log or []) == 1
                   for d in result.deliveries)
        page = next(a for a, _ in result.notified if a.detector == "slo.burn.page")
        stored = alert_store.deliveries(mesh.store, page.id)
        assert {d.target for d in stored} == {f"{hook.base}/sales", f"{hook.base}/slack", "mailto:oncall@shop.test",
                                              "mailto:lead@shop.test"}
        # fresh data: the threshold alert resolves, and the routes hear of it
        with sqlite3.connect(root / "data" / "shop.sqlite") as con:
            con.execute("UPDATE events SET updated_at = ?", (datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),))
        con.close()
        mesh.observe.run_probe("sales.events")
        resolved = mesh.observe.check("sales.events")
        assert [(a.detector, r) for a, r in resolved.notified] == [("slo.threshold", "resolved")]
        assert hook.bodies("/sales")[-1]["reason"] == "resolved"


def _alert(store: Any) -> alert_store.AlertInfo:
    from meshfabric.store.models import AlertRow, utcnow

    now = utcnow()
    with store.write() as s:
        row = AlertRow(series="sales.orders/slo.freshness", product="sales.orders", detector="slo.burn.page",
                       severity="critical", value=20.0, expected=14.4, message="burning", status="open",
                       dedup_key="slo|sales.orders|freshness|page", occurrences=1, ts=now, created_at=now,
                       updated_at=now)
        s.add(row)
        s.flush()
        return alert_store.alert_info(row)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    from meshfabric.store import open_store

    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def test_webhook_retries_with_backoff_and_records_each_attempt(store: Any, hook: Hook) -> None:
    alert = _alert(store)
    waits: list[float] = []
    hook.script = [503, 500]
    spec = ObservabilitySpec(routes=[AlertRouteSpec(webhook=f"{hook.base}/x", attempts=4, backoff=0.25)])
    [delivery] = alerting.route(store, [(alert, "opened")], spec, sleep=waits.append)
    assert delivery.status == "delivered" and delivery.attempts == 3 and delivery.http_status == 200
    assert [a["status"] for a in delivery.attempt_log or []] == ["failed", "failed", "delivered"]
    assert [a["http_status"] for a in delivery.attempt_log or []] == [503, 500, 200]
    assert waits == [0.25, 0.5]
    # a 4xx is the request's fault: not retried
    hook.script = [400]
    [refused] = alerting.route(store, [(alert, "opened")], spec, sleep=waits.append)
    assert refused.status == "failed" and refused.attempts == 1 and "400" in refused.error
    # nobody listening: every attempt fails and is recorded
    dead = ObservabilitySpec(routes=[AlertRouteSpec(webhook=f"http://127.0.0.1:{free_port()}/x", attempts=3,
                                                    backoff=0)])
    [failed] = alerting.route(store, [(alert, "opened")], dead, sleep=lambda _: None)
    assert failed.status == "failed" and failed.attempts == 3 and len(failed.attempt_log or []) == 3
    assert failed.http_status is None and failed.error
    assert [d.status for d in alert_store.deliveries(store, alert.id)] == ["delivered", "failed", "failed"]


def test_smtp_retries_temporary_failures_only(store: Any, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    alert = _alert(store)
    spec = ObservabilitySpec(smtp=SmtpSpec(host="127.0.0.1", port=port, timeout=5),
                             routes=[AlertRouteSpec(email=["a@shop.test"], attempts=3, backoff=0)])
    box.script = ["451 4.3.0 try again later"]
    [mail] = alerting.route(store, [(alert, "opened")], spec, sleep=lambda _: None)
    assert mail.status == "delivered" and mail.attempts == 2 and mail.channel == "email"
    assert "451" in (mail.attempt_log or [])[0]["error"] and len(box.messages) == 1
    _, message = box.messages[0]
    assert "burning" in message.get_payload() and "sales.orders" in message["Subject"]
    box.script = ["554 5.7.1 rejected"]
    [rejected] = alerting.route(store, [(alert, "opened")], spec, sleep=lambda _: None)
    assert rejected.status == "failed" and rejected.attempts == 1 and "554" in rejected.error
    # no server at all: connection refused, retried, recorded
    down = ObservabilitySpec(smtp=SmtpSpec(host="127.0.0.1", port=free_port(), timeout=2),
                             routes=[AlertRouteSpec(email=["a@shop.test"], attempts=2, backoff=0)])
    [refused] = alerting.route(store, [(alert, "opened")], down, sleep=lambda _: None)
    assert refused.status == "failed" and refused.attempts == 2
    # e-mail recipients without an SMTP server configured: recorded as failed, not raised
    [unset] = alerting.route(store, [(alert, "opened")],
                             ObservabilitySpec(routes=[AlertRouteSpec(email=["a@shop.test"])]))
    assert unset.status == "failed" and "smtp" in unset.error


def test_silenced_alerts_are_held_back(store: Any, hook: Hook) -> None:
    alert = _alert(store)
    spec = ObservabilitySpec(routes=[AlertRouteSpec(webhook=f"{hook.base}/x")])
    silenced = alert_store.silence(store, alert.id, datetime.now(UTC) + timedelta(hours=2), note="maintenance")
    assert silenced.silenced() and silenced.status == "open"
    assert alerting.route(store, [(silenced, "escalated")], spec) == []
    assert hook.requests == []
    # a silence in the past is lifted
    lifted = alert_store.silence(store, alert.id, datetime.now(UTC) - timedelta(seconds=1))
    assert len(alerting.route(store, [(lifted, "escalated")], spec)) == 1
    # the quality monitor's webhooks respect the silence too (a manual redelivery does not)
    again = alert_store.silence(store, alert.id, datetime.now(UTC) + timedelta(hours=1))
    hooks = [alert_store.Webhook(f"{hook.base}/m", min_severity="medium")]
    assert alert_store.deliver(store, [(again, "escalated")], hooks) == []
    assert len(alert_store.deliver(store, [(again, "redelivered")], hooks)) == 1
    # a resolved alert cannot be silenced
    alert_store.resolve(store, alert.id)
    with pytest.raises(Exception, match="resolved"):
        alert_store.silence(store, alert.id, datetime.now(UTC) + timedelta(hours=1))
