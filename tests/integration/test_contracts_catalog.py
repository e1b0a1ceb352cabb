"""Contracts in the catalog: generate, store, export, test against metrics, guard product changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import CONFORMANCE
from helpers import ORDERS_YAML, build_workspace, cli, default_store_url, flat, store_snapshot, write
from meshfabric import Mesh, NotFound
from meshfabric.contracts.odcs import load_contract, validate_odcs
from meshfabric.errors import ContractBroken

ORDERS = "products/sales/orders.yaml"
ODCS_EXAMPLES = CONFORMANCE / "odcs" / "examples"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = build_workspace(tmp_path / "ws")
    with Mesh.open(root) as mesh:
        mesh.apply()
    return root


def test_generate_save_export_round_trip(ws: Path) -> None:
    with Mesh.open(ws) as mesh:
        contract = mesh.contracts.generate("sales.orders", "crm", {"availability": 0.999, "latency": 200}, save=True)
        assert contract.product_fqn == "sales.orders" and contract.consumer_domain == "crm"
        assert [p.name for p in contract.bound_properties()] == ["order_id", "customer_id", "amount", "status"]
        stored = mesh.contracts.list(product="sales.orders")
        assert [(c.id, c.consumer) for c in stored] == [(contract.id, "crm")]
        exported = yaml.safe_load(mesh.contracts.export(contract.id[:8]))
        assert exported == contract.to_dict() and validate_odcs(exported) == []
        assert [e.event_type for e in mesh.events.list(event_type="contract.*")] == ["contract.created"]


def test_generate_refuses_unknown_products_and_domains(ws: Path) -> None:
    with Mesh.open(ws) as mesh:
        with pytest.raises(NotFound, match=r"did you mean 'sales\.orders'"):
            mesh.contracts.generate("sales.order", "crm")
        with pytest.raises(NotFound, match="did you mean 'crm'"):
            mesh.contracts.generate("sales.orders", "crn")


def test_compliance_violations_are_persisted_and_emitted(ws: Path) -> None:
    with Mesh.open(ws) as mesh:
        contract = mesh.contracts.generate("sales.orders", "crm", save=True)
        ok = mesh.contracts.test(contract.id, {"availability": 0.999, "latency": 120, "completeness": 0.99,
                                               "accuracy": 0.995})
        assert ok.compliant and list(ok) == []
        bad = mesh.contracts.test(contract.id, {"availability": 0.9, "latency": 2500, "completeness": 0.99})
        assert {v.metric for v in bad} == {"availability", "latency"}
        assert [m.metric for m in bad.missing] == ["accuracy"]
        assert len(mesh.contracts.violations(contract.id)) == 2
        events = mesh.events.list(event_type="contract.violated")
        assert sorted(e.data["metric"] for e in events) == ["availability", "latency"]
        assert all(e.data["contract"] == contract.id and e.domain == "sales" for e in events)


def test_apply_refuses_a_change_that_breaks_a_consumer_contract(ws: Path) -> None:
    with Mesh.open(ws) as mesh:
        mesh.contracts.generate("sales.orders", "crm", save=True)
    url = default_store_url(ws)
    before = store_snapshot(url)
    # dropping a nullable column is BACKWARD-compatible, but the crm contract relies on it
    write(ws / ORDERS, ORDERS_YAML.replace("  - name: status\n    type: string\n", ""))
    with Mesh.open(ws) as mesh, pytest.raises(ContractBroken) as err:
        mesh.apply()
    assert err.value.breaks == [
        "sales.orders: contract " + err.value.breaks[0].split()[2] + " with 'crm': column 'status' the contract "
        "relies on was removed"
    ]
    assert store_snapshot(url) == before


def test_cli_contract_commands(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "orders-crm.odcs.yaml"
    code, _, err = cli(capsys, "-w", ws, "contract", "generate", "sales.orders", "--consumer", "crm",
                       "-r", "completeness=0.99", "-o", out_file)
    assert code == 0 and load_contract(out_file).sla("completeness") is not None
    code, out, _ = cli(capsys, "-w", ws, "contract", "import", out_file)
    assert code == 0 and "imported contract" in out
    code, out, _ = cli(capsys, "-w", ws, "contract", "list", "--json")
    [listed] = json.loads(out)
    assert listed["product"] == "sales.orders" and listed["consumer"] == "crm"
    code, out, _ = cli(capsys, "-w", ws, "contract", "test", listed["id"][:8], "-m", "availability=0.999",
                       "-m", "latency=100", "-m", "completeness=0.98", "-m", "accuracy=0.999")
    assert code == 1 and "completeness" in out  # 0.98 < the raised 0.99
    code, out, _ = cli(capsys, "-w", ws, "contract", "test", listed["id"][:8], "-m", "latency=fast")
    assert code == 2
    code, out, _ = cli(capsys, "-w", ws, "contract", "check")
    assert code == 0
    write(ws / ORDERS, ORDERS_YAML.replace("  - name: amount\n    type: double\n", ""))
    code, _, err = cli(capsys, "-w", ws, "contract", "check")
    assert code == 1 and "column 'amount' the contract relies on was removed" in flat(err)
    code, _, err = cli(capsys, "-w", ws, "contract", "show", "nonexistent")
    assert code == 2 and "contract 'nonexistent' not found" in err


def test_cli_changelog_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = ODCS_EXAMPLES / "sla__database-table-sla.odcs.yaml"
    doc = yaml.safe_load(src.read_text())
    old = write(tmp_path / "old.yaml", yaml.safe_dump(doc))
    code, out, _ = cli(capsys, "contract", "changelog", old, old)
    assert code == 0 and "no changes" in out
    lowered = json.loads(json.dumps(doc))
    for prop in lowered.get("slaProperties", []):
        if isinstance(prop.get("value"), int | float) and prop["value"] > 1:
            prop["value"] = prop["value"] * 10  # e.g. a latency promise made ten times weaker
    new = write(tmp_path / "new.yaml", yaml.safe_dump(lowered))
    code, out, _ = cli(capsys, "contract", "changelog", old, new, "--json")
    changes = json.loads(out)
    assert changes and code == (1 if any(c["severity"] == "error" for c in changes) else 0)
