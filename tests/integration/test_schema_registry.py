"""The schema registry end to end: versions on apply, refusals with every reason, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ORDERS_YAML, build_workspace, cli, default_store_url, flat, store_snapshot, write, write_sqlite
from meshfabric import IncompatibleSchema, Mesh
from meshfabric.contracts import SchemaRegistry

ORDERS = "products/sales/orders.yaml"


def add_orders_column(ws: Path, ddl_type: str, spec: str) -> None:
    """Give the source table a new column and declare it in the spec."""
    write_sqlite(
        ws / "data" / "shop.sqlite",
        "CREATE TABLE orders (order_id INTEGER NOT NULL PRIMARY KEY, customer_id INTEGER, amount REAL, "
        f"status TEXT, channel {ddl_type})",
        [(1, 1, 10.5, "completed", "web")],
        "orders",
    )
    write(ws / ORDERS, ORDERS_YAML + spec)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = build_workspace(tmp_path / "ws")
    with Mesh.open(root) as mesh:
        mesh.apply()
    return root


def test_first_apply_registers_version_one_of_each_product(ws: Path) -> None:
    with Mesh.open(ws) as mesh:
        versions = SchemaRegistry(mesh.store).history("sales.orders")
        assert [v.version for v in versions] == [1]
        assert [c["name"] for c in versions[0].schema] == ["order_id", "customer_id", "amount", "status"]
        assert versions[0].mode == "BACKWARD" and versions[0].kind == "tabular"
        # re-applying an unchanged schema registers nothing
        mesh.apply()
        assert len(SchemaRegistry(mesh.store).history("sales.orders")) == 1


def test_a_compatible_change_adds_a_version_and_an_event(ws: Path) -> None:
    add_orders_column(ws, "TEXT", "  - name: channel\n    type: string\n")
    with Mesh.open(ws) as mesh:
        result = mesh.apply()
        change = next(c for c in result.changes if c.name == "sales.orders")
        assert change.detail["schema_version"] == 2
        added = mesh.events.list(event_type="schema.version_added", domain="sales")
        assert [e.data["version"] for e in added] == [1, 2]
        assert added[-1].correlation_id == result.correlation_id


def test_a_breaking_change_is_refused_with_every_reason_and_nothing_written(ws: Path) -> None:
    url = default_store_url(ws)
    before = store_snapshot(url)
    add_orders_column(ws, "TEXT NOT NULL", "  - name: channel\n    type: string\n    nullable: false\n")
    text = (ws / ORDERS).read_text().replace("  - name: customer_id\n    type: bigint",
                                             "  - name: customer_id\n    type: bigint\n    nullable: false")
    write(ws / ORDERS, text)
    with Mesh.open(ws) as mesh, pytest.raises(IncompatibleSchema) as err:
        mesh.apply()
    reasons = err.value.reasons
    assert len(reasons) == 2
    assert any("new required column 'channel' has no default" in r for r in reasons)
    assert any("column 'customer_id' became not null" in r for r in reasons)
    assert all(r.startswith("sales.orders (products/sales/orders.yaml, mode BACKWARD)") for r in reasons)
    assert store_snapshot(url) == before


def test_the_product_mode_decides(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_orders_column(ws, "TEXT NOT NULL", "  - name: channel\n    type: string\n    nullable: false\n")
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 1 and "new required column 'channel'" in flat(err)
    write(ws / ORDERS, (ws / ORDERS).read_text() + "compatibility: NONE\n")
    code, out, err = cli(capsys, "-w", ws, "apply")
    assert code == 0, err
    code, out, _ = cli(capsys, "-w", ws, "schema", "history", "sales.orders", "--json")
    history = json.loads(out)
    assert [(v["version"], v["mode"]) for v in history] == [(2, "NONE"), (1, "BACKWARD")]
    code, out, _ = cli(capsys, "-w", ws, "schema", "diff", "sales.orders", "1", "2", "--json")
    assert {c["type"] for c in json.loads(out)["changes"]} == {"REQUIRED_COLUMN_ADDED"}
    code, out, _ = cli(capsys, "-w", ws, "schema", "show", "sales.orders", "--version", "1")
    assert json.loads(out)["version"] == 1
    code, _, err = cli(capsys, "-w", ws, "schema", "show", "sales.orders", "--version", "9")
    assert code == 2 and "has no schema version 9" in err


def test_schema_check_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v1 = write(tmp_path / "v1.yaml", "- {name: id, type: integer, nullable: false}\n- {name: email, type: string}\n")
    v2 = write(tmp_path / "v2.yaml", "columns:\n  - {name: id, type: bigint, nullable: false}\n"
                                     "  - {name: email, type: string}\n  - {name: note, type: string}\n")
    v3 = write(tmp_path / "v3.yaml", "- {name: id, type: bigint, nullable: false}\n")
    code, out, _ = cli(capsys, "schema", "check", v2, v1, "--json")
    assert code == 0 and json.loads(out)["compatible"] is True
    code, out, _ = cli(capsys, "schema", "check", "--mode", "FORWARD", v2, v1, "--json")
    body = json.loads(out)
    assert code == 1 and body["compatible"] is False
    first = {k: v for k, v in body["changes"][0].items() if k in ("type", "path", "breaking")}
    assert first == {"type": "TYPE_WIDENED", "path": "#/columns/id", "breaking": True}
    code, out, _ = cli(capsys, "schema", "check", "--mode", "FULL_TRANSITIVE", v3, v2, v1)
    assert code == 1 and "NOT compatible under FULL_TRANSITIVE" in out
    bad = write(tmp_path / "bad.yaml", "- {name: id, type: integr}\n")
    code, _, err = cli(capsys, "schema", "check", bad, v1)
    assert code == 2 and "bad.yaml:1" in err and "did you mean 'integer'?" in err
    code, _, err = cli(capsys, "schema", "check", "--mode", "SIDEWAYS", v2, v1)
    assert code == 2 and "unknown compatibility mode 'SIDEWAYS'" in err
    code, _, err = cli(capsys, "schema", "check", v2)
    assert code == 2


def test_schema_check_cli_reads_json_schema_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path / "old.json", json.dumps({"type": "object", "properties": {"a": {"type": "integer"}}}))
    new = write(tmp_path / "new.json", json.dumps({"type": "object", "properties": {"a": {"type": "string"}}}))
    code, out, _ = cli(capsys, "schema", "check", new, old, "--json")
    body = json.loads(out)
    assert code == 1 and body["compatible"] is False
    assert any(c["path"] == "#/properties/a" and c["breaking"] for c in body["changes"])


EVENTS_SPEC = """\
kind: DataProduct
domain: logistics
name: shipment_events
owner: logistics-team@example.com
description: Shipment events as JSON records
status: published
output:
  source: lake
  path: shipments/*.parquet
compatibility: {mode}
json_schema:
  type: object
  properties:
    shipment_id: {{type: integer}}
    carrier: {{type: {carrier_type}}}
  required: [shipment_id]
  additionalProperties: false
"""


def test_a_json_schema_product_is_versioned_and_guarded(ws: Path) -> None:
    spec = ws / "products" / "logistics" / "events.yaml"
    write(spec, EVENTS_SPEC.format(mode="BACKWARD", carrier_type="string"))
    with Mesh.open(ws) as mesh:
        mesh.apply()
        [v1] = mesh.schemas.history("logistics.shipment_events")
        assert v1.kind == "json" and v1.schema["required"] == ["shipment_id"]
        # narrowing a property's type breaks BACKWARD under Confluent's rules
        write(spec, EVENTS_SPEC.format(mode="BACKWARD", carrier_type="integer"))
        with pytest.raises(IncompatibleSchema) as err:
            mesh.apply()
        assert any("#/properties/carrier" in r for r in err.value.reasons)
        assert len(mesh.schemas.history("logistics.shipment_events")) == 1
        # the same change is accepted once the product's mode says NONE
        write(spec, EVENTS_SPEC.format(mode="NONE", carrier_type="integer"))
        mesh.apply()
        assert [v.version for v in mesh.schemas.history("logistics.shipment_events")] == [2, 1]
