"""Contract compliance recorded by ``meshfabric contract test`` and read back from ``GET /metrics``
(parsed with prometheus-client's parser) and from the product snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from auth_support import auth_workspace, bearer, hs_token, secret_env
from helpers import cli
from meshfabric import Mesh
from meshfabric.api.app import create_app
from meshfabric.contracts.compliance import compliance_series
from meshfabric.observe.metrics import COMPLIANCE, product_snapshot
from meshfabric.store.models import ContractViolationRow, MetricPointRow

PROM = bearer(hs_token(sub="prom"))
KEPT = {"availability": 0.9999, "latency": 10, "completeness": 0.9999, "accuracy": 0.9999}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path / "ws")
        with Mesh.open(root) as mesh:
            mesh.apply()
            mesh.access.create_role("metrics-reader")
            mesh.access.create_principal("prom")
            mesh.access.assign_role("prom", "metrics-reader")
        yield root


def _compliance(client: TestClient) -> dict[tuple[str, str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics", headers=PROM)
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    family = families["meshfabric_product_contract_compliance"]
    return {(s.labels["domain"], s.labels["product"], s.labels["contract"]): s.value for s in family.samples}


def _test(capsys: Any, ws: Path, contract_id: str, metrics: dict[str, float]) -> int:
    args = [a for name, value in metrics.items() for a in ("-m", f"{name}={value}")]
    code, _, _ = cli(capsys, "-w", ws, "contract", "test", contract_id, *args)
    return code


def test_contract_test_records_compliance_and_metrics_expose_it(ws: Path, capsys: Any) -> None:
    with Mesh.open(ws) as mesh:
        contract = mesh.contracts.generate("sales.orders", "crm", save=True)
        checks = mesh.contracts.test(contract.id, KEPT).judged  # how many promises the contract makes
    assert checks >= 2

    mesh = Mesh.open(ws)
    mesh.metrics.refresh_seconds = 0  # render on every scrape
    try:
        with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
            assert _compliance(client) == {("sales", "sales.orders", contract.id): 1.0}

            # one promise broken, one measurement missing: (checks - 2) of checks passed
            broken = {**KEPT, "availability": 0.5}
            del broken["accuracy"]
            assert _test(capsys, ws, contract.id, broken) == 1
            expected = (checks - 2) / checks
            assert _compliance(client) == {("sales", "sales.orders", contract.id): pytest.approx(expected)}

            snap = product_snapshot(mesh.store, "sales.orders")["contract_compliance"]
            assert snap["value"] == pytest.approx(expected) and snap["contract"] == contract.id

            # the point and the violation it summarises were written together, at the same time
            with mesh.store.read() as s:
                points = s.scalars(select(MetricPointRow).where(
                    MetricPointRow.series == compliance_series("sales.orders", contract.id))
                    .order_by(MetricPointRow.id)).all()
                violations = s.scalars(select(ContractViolationRow)).all()
            assert [p.value for p in points] == [1.0, pytest.approx(expected)]
            assert {p.metric for p in points} == {COMPLIANCE} and {p.product for p in points} == {"sales.orders"}
            assert [v.metric for v in violations] == ["availability"]
            assert violations[0].measured_at == points[-1].ts

            assert _test(capsys, ws, contract.id, KEPT) == 0
            assert _compliance(client) == {("sales", "sales.orders", contract.id): 1.0}
    finally:
        mesh.close()


def test_contract_test_refused_records_nothing(ws: Path, capsys: Any) -> None:
    with Mesh.open(ws) as mesh:
        contract = mesh.contracts.generate("sales.orders", "crm", save=True)
    code, _, _ = cli(capsys, "-w", ws, "contract", "test", contract.id, "-m", "latency=fast")
    with Mesh.open(ws) as mesh, mesh.store.read() as s:
        recorded = s.scalars(select(MetricPointRow).where(MetricPointRow.metric == COMPLIANCE)).all()
    # a value the CLI cannot read as a number is refused before any evaluation: no verdict, no point
    assert code == 2 and recorded == []
