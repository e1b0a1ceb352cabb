"""Contract compliance as a product metric: the share of a contract's checks that passed
(:attr:`Evaluation.share`), its series in ``metric_points``, the lowest share in
``product_snapshot`` and the ``meshfabric_product_contract_compliance`` gauge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from meshfabric.contracts.compliance import COMPLIANCE_METRIC, compliance_series, evaluate
from meshfabric.contracts.odcs import Contract
from meshfabric.observe.metrics import COMPLIANCE, product_snapshot, split_series
from meshfabric.observe.prometheus import StoreCollector
from meshfabric.store import Store, open_store
from meshfabric.store.models import ContractRow, DomainRow, MetricPointRow, ProductRow

AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def contract(quality: list[dict[str, Any]], sla: list[dict[str, Any]] | None = None) -> Contract:
    doc: dict[str, Any] = {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "c-1", "version": "1.0.0", "status": "active",
        "schema": [{"name": "orders", "properties": [{"name": "id", "quality": quality}]}],
    }  # fmt: skip
    if sla is not None:
        doc["slaProperties"] = sla
    return Contract(doc)


RULES = [{"metric": "nullValues", "mustBe": 0}, {"metric": "duplicateValues", "mustBeLessThan": 5},
         {"metric": "rowCount", "mustBeGreaterThan": 10}, {"type": "text", "description": "read by people"}]


@pytest.mark.parametrize(("metrics", "share"), [
    ({"orders.id.nullValues": 0, "orders.id.duplicateValues": 1, "orders.id.rowCount": 11}, 1.0),
    ({"orders.id.nullValues": 3, "orders.id.duplicateValues": 1, "orders.id.rowCount": 11}, 2 / 3),
    ({"orders.id.nullValues": 3, "orders.id.duplicateValues": 9, "orders.id.rowCount": 1}, 0.0),
    # a missing measurement is not a kept promise; the text rule is not judged at all
    ({"orders.id.nullValues": 0, "orders.id.duplicateValues": 1}, 2 / 3),
    ({}, 0.0),
])
def test_share_of_passed_checks(metrics: dict[str, float], share: float) -> None:
    result = evaluate(contract(RULES), metrics, measured_at=AT)
    assert result.judged == 3 and len(result.not_evaluated) == 1
    assert result.share == pytest.approx(share)
    assert (result.share == 1.0) == result.compliant


def test_nothing_numeric_to_judge_has_no_share() -> None:
    result = evaluate(contract([{"type": "text", "description": "kept by hand"}]), {"x": 1}, measured_at=AT)
    assert result.judged == 0 and result.share is None


def test_series_name_round_trips() -> None:
    series = compliance_series("sales.orders", "orders-crm-1")
    assert series == "sales.orders/contract.compliance/orders-crm-1"
    assert split_series(series) == ("sales.orders", COMPLIANCE, "orders-crm-1")
    assert COMPLIANCE_METRIC == COMPLIANCE  # the writer's name is the one observe reads


# ---------------------------------------------------------------------------- store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime.now(UTC)
    with s.engine.begin() as conn:
        conn.execute(insert(DomainRow), [{"name": d, "owners": []} for d in ("crm", "sales")])
        conn.execute(insert(ProductRow), [
            {"domain": d, "name": n, "owner": "o", "status": "published", "version": "1", "source": "db",
             "spec": {}, "spec_hash": "", "columns": []} for d, n in (("sales", "orders"), ("crm", "customers"))])
        conn.execute(insert(ContractRow), [
            {"id": cid, "product": product, "consumer": "crm", "version": "1.0.0", "status": "active",
             "document": {}, "created_at": now, "updated_at": now}
            for cid, product in (("c-a", "sales.orders"), ("c-b", "sales.orders"), ("c-c", "crm.customers"))])
    yield s
    s.close()


def _share(store: Store, product: str, contract_id: str, value: float, ts: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(MetricPointRow), [{"series": compliance_series(product, contract_id), "product": product,
                                               "metric": COMPLIANCE, "value": value, "ts": ts}])


def test_snapshot_holds_the_least_kept_contract(store: Store) -> None:
    now = datetime.now(UTC)
    assert product_snapshot(store, "sales.orders")["contract_compliance"] is None
    _share(store, "sales.orders", "c-a", 0.25, now - timedelta(hours=2))
    _share(store, "sales.orders", "c-a", 1.0, now - timedelta(hours=1))  # the latest test of c-a
    _share(store, "sales.orders", "c-b", 0.5, now - timedelta(minutes=5))
    # a contract no longer bound to the product (re-imported for another) does not count
    _share(store, "sales.orders", "c-c", 0.0, now)
    snap = product_snapshot(store, "sales.orders")["contract_compliance"]
    assert snap["value"] == 0.5 and snap["contract"] == "c-b"
    assert {cid: v["value"] for cid, v in snap["contracts"].items()} == {"c-a": 1.0, "c-b": 0.5}


def _scrape(collector: StoreCollector) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def _gauge(families: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    family = families["meshfabric_product_contract_compliance"]
    return {(s.labels["domain"], s.labels["product"], s.labels["contract"]): s.value for s in family.samples}


def test_collector_exposes_the_latest_share_per_contract(store: Store) -> None:
    now = datetime.now(UTC)
    collector = StoreCollector(store)
    assert _gauge(_scrape(collector)) == {}
    _share(store, "sales.orders", "c-a", 0.75, now - timedelta(minutes=10))
    _share(store, "sales.orders", "c-c", 0.0, now)  # not bound to sales.orders: no labels
    _share(store, "ghost.product", "c-a", 0.0, now)  # not in the catalog: no labels
    assert _gauge(_scrape(collector)) == {("sales", "sales.orders", "c-a"): 0.75}
    # later points are read incrementally; an older point does not replace a newer one
    _share(store, "sales.orders", "c-a", 1.0, now)
    _share(store, "sales.orders", "c-b", 0.5, now)
    _share(store, "crm.customers", "c-c", 0.25, now - timedelta(minutes=1))
    _share(store, "sales.orders", "c-b", 0.0, now - timedelta(days=1))
    assert _gauge(_scrape(collector)) == {("sales", "sales.orders", "c-a"): 1.0,
                                          ("sales", "sales.orders", "c-b"): 0.5,
                                          ("crm", "crm.customers", "c-c"): 0.25}
    # a fresh collector (first rendering: loose index scan) reads the same
    assert _gauge(_scrape(StoreCollector(store))) == _gauge(_scrape(collector))
