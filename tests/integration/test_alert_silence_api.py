"""``POST /api/v1/alerts/{id}/silence`` (``alert.manage``): a body ``{"for": "2h"}`` or
``{"until": ISO time}``; the writer silences, a discover-only principal is refused, another
product's alert does not exist for a principal that may not discover it, and a bad body is a
problem naming what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app
from meshfabric.quality.detectors import MADDetector
from meshfabric.quality.monitor import MonitorConfig, Observation, record

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _alert(mesh: Mesh, product: str, series: str) -> int:
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    for i in range(10):
        record(mesh.store, [Observation(product, series, 1.0 if i % 2 else -1.0, ts=T0 + timedelta(hours=i))],
               config=config)
    record(mesh.store, [Observation(product, series, 40.0, ts=T0 + timedelta(hours=10))], config=config)
    [alert] = [a for a in mesh.alerts.list(product=product) if a.metric == series]
    return alert.id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Mesh, dict[str, int]]]:
    import access_support as acc
    from auth_support import HS_AUTH, secret_env

    root = tmp_path_factory.mktemp("silence") / "ws"
    acc.build(root, mesh=acc.MESH + HS_AUTH)
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        acc.setup_principals(mesh)
        ids = {name: _alert(mesh, product, name) for name, product in
               (("orders_a", "sales.orders"), ("orders_b", "sales.orders"), ("orders_c", "sales.orders"),
                ("customers_a", "crm.customers"))}
        with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
            yield client, mesh, ids


def _as(user: str) -> dict[str, str]:
    from auth_support import bearer, hs_token

    return bearer(hs_token(sub=user))


def _silence(client: TestClient, user: str, alert_id: int, body: Any) -> Any:
    from auth_support import secret_env

    with secret_env():
        return client.post(f"/api/v1/alerts/{alert_id}/silence", json=body, headers=_as(user))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_writer_silences_for_a_while_or_until_a_time(served: tuple[TestClient, Mesh, dict[str, int]]) -> None:
    client, mesh, ids = served
    before = datetime.now(UTC)
    done = _silence(client, "etl-bot", ids["orders_a"], {"for": "2h", "note": "upstream maintenance"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "open" and body["note"] == "upstream maintenance"
    until = _at(body["silenced_until"])
    assert before + timedelta(hours=2) <= until <= datetime.now(UTC) + timedelta(hours=2)
    # the REST model shows it on reads too, and the change is an event naming who silenced it
    from auth_support import secret_env

    with secret_env():
        shown = client.get(f"/api/v1/alerts/{ids['orders_a']}", headers=_as("etl-bot")).json()
    assert _at(shown["silenced_until"]) == until
    silenced = mesh.events.list(event_type="quality.alert_silenced")
    [event] = [e for e in silenced if e.data["alert_id"] == ids["orders_a"]]
    assert event.data["by"] == "etl-bot"

    done = _silence(client, "etl-bot", ids["orders_b"], {"until": "2031-01-02T03:04:05+01:00"})
    assert done.status_code == 200, done.text
    assert _at(done.json()["silenced_until"]) == datetime(2031, 1, 2, 2, 4, 5, tzinfo=UTC)
    # no offset: UTC
    done = _silence(client, "etl-bot", ids["orders_b"], {"until": "2031-01-02T03:04:05"})
    assert _at(done.json()["silenced_until"]) == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    # 0s lifts the silence
    done = _silence(client, "etl-bot", ids["orders_b"], {"for": "0s"})
    assert done.status_code == 200 and _at(done.json()["silenced_until"]) <= datetime.now(UTC)
    assert not mesh.alerts.get(ids["orders_b"]).silenced()


def test_discover_only_is_refused_and_a_hidden_product_s_alert_does_not_exist(
        served: tuple[TestClient, Mesh, dict[str, int]]) -> None:
    client, mesh, ids = served
    # carol may discover sales.orders: she sees the alert but may not manage it
    refused = _silence(client, "carol", ids["orders_c"], {"for": "1h"})
    assert refused.status_code == 403, refused.text
    assert mesh.alerts.get(ids["orders_c"]).silenced_until is None
    # crm.customers is not hers to discover; mallory holds nothing: both like a missing alert
    hidden = _silence(client, "carol", ids["customers_a"], {"for": "1h"})
    missing = _silence(client, "carol", 987654321, {"for": "1h"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(str(ids["customers_a"]), "N") == missing.json()["detail"].replace(
        "987654321", "N")
    assert _silence(client, "mallory", ids["orders_c"], {"for": "1h"}).status_code == 404
    assert mesh.alerts.get(ids["customers_a"]).silenced_until is None


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"for": "2 hours"}, 400, "'2 hours' is not a duration"),
    ({"for": "-1h"}, 400, "is not a duration"),
    ({"for": "99999999999999w"}, 400, "last representable time"),
    ({}, 400, "exactly one of 'for'"),
    ({"for": "1h", "until": "2031-01-01T00:00:00Z"}, 400, "exactly one of 'for'"),
    ({"until": "next tuesday"}, 422, "until"),
    ({"for": "1h", "forever": True}, 422, "forever"),
])
def test_a_bad_body_says_what_is_wrong(served: tuple[TestClient, Mesh, dict[str, int]], body: dict[str, Any],
                                       status: int, says: str) -> None:
    client, mesh, ids = served
    answer = _silence(client, "etl-bot", ids["orders_c"], body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]
    assert mesh.alerts.get(ids["orders_c"]).silenced_until is None


def test_a_resolved_alert_cannot_be_silenced(served: tuple[TestClient, Mesh, dict[str, int]]) -> None:
    client, mesh, _ = served
    alert_id = _alert(mesh, "sales.orders", "resolved_one")
    mesh.alerts.resolve(alert_id)
    answer = _silence(client, "etl-bot", alert_id, {"for": "1h"})
    assert answer.status_code == 400 and "resolved" in answer.json()["detail"]
