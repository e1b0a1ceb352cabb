"""``meshfabric apply`` end to end through the CLI: validation, drift, sources, semantics, events, secrets.

Every mistake is checked three ways: exit code, a message naming file, line, field and a hint,
and a store left exactly as it was (every row of every table compared before and after).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import (
    MESH_YAML,
    ORDERS_YAML,
    SHIPMENTS_YAML,
    build_workspace,
    cli,
    copy_workspace,
    default_store,
    default_store_url,
    flat,
    line_of,
    pg_database,
    store_dump_text,
    store_snapshot,
    write,
)

ORDERS = "products/sales/orders.yaml"
CUSTOMERS = "products/crm/customers.yaml"
SHIPMENTS = "products/logistics/shipments.yaml"


def _apply_json(capsys: pytest.CaptureFixture[str], ws: Path, *args: str) -> dict:
    code, out, err = cli(capsys, "-w", ws, "apply", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def _events(capsys: pytest.CaptureFixture[str], ws: Path, *args: str) -> list[dict]:
    code, out, err = cli(capsys, "-w", ws, "events", "list", "--json", "--limit", "1000", *args)
    assert code == 0, err
    return json.loads(out)


def _edit(ws: Path, rel: str, old: str, new: str) -> str:
    path = ws / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return text


@pytest.fixture(autouse=True)
def _own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from meshfabric import Mesh

    root = build_workspace(tmp_path_factory.mktemp("template") / "ws")
    with default_store(), Mesh.open(root) as mesh:
        assert mesh.apply().count("create") == 8
    return root


@pytest.fixture
def ws(applied_template: Path, tmp_path: Path) -> Path:
    """The standard workspace, applied once (a copy of one applied workspace, to keep tests fast)."""
    return copy_workspace(applied_template, tmp_path / "ws")


# -- spec mistakes ------------------------------------------------------------------------------


@dataclass
class Mistake:
    """An edit that breaks the workspace and what the error must say about it."""

    break_it: Callable[[Path], str | None]  # returns the text of the broken file, to find lines in
    file: str
    line: int | str  # a number, or a piece of text whose line in the broken file is meant
    field: str | None
    says: str
    hint: str


def _unknown_field(ws: Path) -> str:
    return _edit(ws, ORDERS, "owner:", "ownr:")


def _missing_field(ws: Path) -> str:
    return _edit(ws, ORDERS, "owner: sales-team@example.com\n", "")


def _bad_type(ws: Path) -> str:
    return _edit(ws, ORDERS, "type: double", "type: duble")


def _invalid_yaml(ws: Path) -> str:
    return _edit(ws, ORDERS, "description: Every order with its amount", "description: Every order: with amount")


def _unknown_domain(ws: Path) -> str:
    return _edit(ws, ORDERS, "domain: sales", "domain: sale")


def _unknown_source(ws: Path) -> str:
    return _edit(ws, ORDERS, "source: shop_db", "source: shopdb")


def _duplicate(ws: Path) -> str:
    text = (ws / ORDERS).read_text()
    write(ws / "products/sales/orders_copy.yaml", text.replace("description: Every", "description: Copy of every"))
    return text


def _bad_status(ws: Path) -> str:
    return _edit(ws, ORDERS, "status: published", "status: publishd")


def _table_and_path(ws: Path) -> str:
    return _edit(ws, ORDERS, "  table: orders", "  table: orders\n  path: orders.csv")


def _invalid_name(ws: Path) -> str:
    return _edit(ws, ORDERS, "name: orders", "name: Orders-2")


def _backward(ws: Path) -> str:
    return _edit(ws, ORDERS, "status: published", "status: draft")


def _unset_env(ws: Path) -> str:
    mesh = _edit(ws, "mesh.yaml", "sources:\n", "sources:\n  warehouse:\n    kind: postgres\n    host: 127.0.0.1\n"
                 "    database: wh\n    password: ${MF_TEST_NEVER_SET_PW}\n")
    _edit(ws, ORDERS, "source: shop_db", "source: warehouse")
    return mesh


def _path_on_database(ws: Path) -> str:
    return _edit(ws, ORDERS, "  table: orders", "  path: orders.parquet")


def _unknown_kind(ws: Path) -> str:
    return _edit(ws, SHIPMENTS, "kind: DataProduct", "kind: DataProdcut")


def _unknown_column_field(ws: Path) -> str:
    return _edit(ws, SHIPMENTS, "  - name: carrier\n    type: string", "  - name: carrier\n    typ: string")


MISTAKES = {
    "unknown field": Mistake(_unknown_field, ORDERS, "ownr:", "ownr", "unknown field 'ownr'", "did you mean 'owner'?"),
    "missing required field": Mistake(_missing_field, ORDERS, 1, "owner", "required field 'owner' is missing",
                                      "add 'owner:'"),
    "bad type name": Mistake(_bad_type, ORDERS, "duble", "schema.2.type", "unknown type 'duble'",
                             "did you mean 'double'?"),
    "invalid yaml": Mistake(_invalid_yaml, ORDERS, "Every order:", None, "not valid YAML", "indentation"),
    "unknown domain": Mistake(_unknown_domain, ORDERS, "domain: sale", "domain",
                              "domain 'sale' is not declared in mesh.yaml", "did you mean 'sales'?"),
    "unknown source": Mistake(_unknown_source, ORDERS, "source: shopdb", "output.source",
                              "source 'shopdb' is not declared in mesh.yaml", "did you mean 'shop_db'?"),
    "duplicate product": Mistake(_duplicate, "products/sales/orders_copy.yaml", 1, "name",
                                 "'sales.orders' is also defined in products/sales/orders.yaml:1",
                                 "give one of them another name"),
    "bad status": Mistake(_bad_status, ORDERS, "status: publishd", "status", "'publishd' is not allowed",
                          "did you mean 'published'?"),
    "table and path": Mistake(_table_and_path, ORDERS, "output:", "output",
                              "needs exactly one of 'table', 'path' or 'sql' (found 'table' and 'path')",
                              "'table' and 'path'"),
    "invalid name": Mistake(_invalid_name, ORDERS, "name: Orders-2", "name", "'Orders-2' is not a valid name",
                            "try 'orders_2'"),
    "backward lifecycle": Mistake(_backward, ORDERS, "status: draft", "status",
                                  "status cannot go back from 'published' to 'draft'",
                                  "keep status 'published' or move forward"),
    "unset env variable": Mistake(_unset_env, "mesh.yaml", "password:", "sources.warehouse.password",
                                  "references ${MF_TEST_NEVER_SET_PW}, which is not set",
                                  "export MF_TEST_NEVER_SET_PW="),
    "path on a database source": Mistake(_path_on_database, ORDERS, "path: orders.parquet", "output.path",
                                         "source 'shop_db' is a sqlite database: use 'table' or 'sql'",
                                         "e.g. table:"),
    "unknown kind": Mistake(_unknown_kind, SHIPMENTS, 1, "kind", "unknown kind 'DataProdcut'",
                            "did you mean 'DataProduct'?"),
    "unknown column field": Mistake(_unknown_column_field, SHIPMENTS, "typ: string", "schema.2.typ",
                                    "unknown field 'typ'", "did you mean 'type'?"),
}


@pytest.mark.parametrize("kind", list(MISTAKES))
def test_spec_mistake_is_reported_with_file_line_field_hint_and_writes_nothing(
    kind: str, ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MF_TEST_NEVER_SET_PW", raising=False)
    mistake = MISTAKES[kind]
    # a second apply of the good workspace changes nothing: that is the state to keep
    again = _apply_json(capsys, ws)
    assert again["summary"]["create"] == again["summary"]["update"] == again["summary"]["delete"] == 0
    url = default_store_url(ws)
    before = store_snapshot(url)

    broken = mistake.break_it(ws)
    line = mistake.line if isinstance(mistake.line, int) else line_of(broken or "", mistake.line)
    code, out, err = cli(capsys, "-w", ws, "apply")

    assert code == 2, out + err
    assert f"{mistake.file}:{line}:" in err, err
    if mistake.field:
        assert f"field '{mistake.field}'" in err, err
    assert mistake.says in err, err
    assert mistake.hint in err, err
    assert "Traceback" not in err
    assert store_snapshot(url) == before


def test_one_bad_file_among_valid_changes_writes_nothing(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    before = store_snapshot(url)
    # valid changes: an edited product, a new product, a removed product ...
    _edit(ws, CUSTOMERS, "description: One row per customer", "description: Customers, deduplicated")
    write(ws / "products/sales/big_orders.yaml", ORDERS_YAML.replace("name: orders", "name: big_orders"))
    (ws / SHIPMENTS).unlink()
    # ... and one broken file
    write(ws / "products/logistics/carriers.yaml", SHIPMENTS_YAML.replace("name: shipments", "name: carriers")
          .replace("owner:", "ownr:"))
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 2
    assert "products/logistics/carriers.yaml:" in err and "did you mean 'owner'?" in err
    assert "nothing was written" in err
    assert store_snapshot(url) == before


def test_backward_transition_found_while_writing_rolls_back_every_other_change(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lifecycle check runs inside the write transaction, after other rows were changed."""
    url = default_store_url(ws)
    before = store_snapshot(url)
    _edit(ws, "mesh.yaml", "owners: [crm-team@example.com]", "owners: [someone-else@example.com]")
    _edit(ws, CUSTOMERS, "version: 1.0.0", "version: 2.0.0")
    write(ws / "products/sales/big_orders.yaml", ORDERS_YAML.replace("name: orders", "name: big_orders"))
    _backward(ws)
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 2 and "status cannot go back" in err
    assert store_snapshot(url) == before


@pytest.mark.parametrize("kind", ["unknown field", "backward lifecycle", "unset env variable"])
def test_dry_run_refuses_the_same_mistakes(kind: str, ws: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MF_TEST_NEVER_SET_PW", raising=False)
    before = store_snapshot(default_store_url(ws))
    MISTAKES[kind].break_it(ws)
    code, _, err = cli(capsys, "-w", ws, "apply", "--dry-run")
    assert code == 2 and MISTAKES[kind].says in err
    assert store_snapshot(default_store_url(ws)) == before


def test_every_problem_is_listed_at_once(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _unknown_field(ws)
    _edit(ws, CUSTOMERS, "status: published", "status: live")
    _edit(ws, SHIPMENTS, "type: decimal(10,2)", "type: decimel(10,2)")
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 2
    for file in (ORDERS, CUSTOMERS, SHIPMENTS):
        assert f"{file}:" in err


# -- sources that cannot be read ----------------------------------------------------------------


def test_unreachable_postgres_source_is_a_source_error(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    _edit(ws, "mesh.yaml", "sources:\n", "sources:\n  warehouse:\n    kind: postgres\n"
          "    url: postgresql://reader@127.0.0.1:1/warehouse\n")
    _edit(ws, ORDERS, "source: shop_db", "source: warehouse")
    before = store_snapshot(url)
    code, out, err = cli(capsys, "-w", ws, "apply")
    assert code == 2, out + err
    assert "source 'warehouse'" in err
    assert "Traceback" not in err
    assert store_snapshot(url) == before


def test_missing_table_is_a_source_error_naming_source_and_table(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    _edit(ws, ORDERS, "table: orders", "table: orderz")
    before = store_snapshot(url)
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 2
    assert "source 'shop_db'" in err and "orderz" in err
    assert store_snapshot(url) == before


def test_missing_file_is_a_source_error(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    _edit(ws, CUSTOMERS, "path: customers.csv", "path: custmers.csv")
    before = store_snapshot(url)
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 2
    assert "source 'lake'" in err and "custmers.csv" in err
    assert store_snapshot(url) == before


# -- schema drift -------------------------------------------------------------------------------


def test_declared_column_missing_in_the_source_fails_the_check(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    before = store_snapshot(url)
    _edit(ws, ORDERS, "  - name: status\n", "  - name: discount\n    type: double\n  - name: status\n")
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 1
    text = flat(err)
    assert "sales.orders: column 'discount' is declared (double) but the source has no such column" in text
    assert "it has: order_id, customer_id, amount, status" in text
    assert "--allow-drift" in text
    assert store_snapshot(url) == before


def test_type_mismatch_names_both_sides(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    before = store_snapshot(url)
    _edit(ws, ORDERS, "  - name: amount\n    type: double", "  - name: amount\n    type: string")
    _edit(ws, SHIPMENTS, "type: decimal(10,2)", "type: decimal(12,2)")
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 1
    text = flat(err)
    assert "sales.orders: column 'amount' is declared string but the source has double" in text
    assert "logistics.shipments: column 'cost' is declared decimal(12,2) but the source has decimal(10,2)" in text
    assert store_snapshot(url) == before


def test_allow_drift_applies_with_a_warning(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a drift that is still a compatible schema change (decimal precision widens)
    _edit(ws, SHIPMENTS, "type: decimal(10,2)", "type: decimal(12,2)")
    code, out, err = cli(capsys, "-w", ws, "apply", "--allow-drift")
    assert code == 0, err
    assert "warning:" in err and "column 'cost' is declared decimal(12,2) but the source has decimal(10,2)" in flat(err)
    assert "~ product logistics.shipments" in out
    code, out, _ = cli(capsys, "-w", ws, "products", "show", "logistics.shipments", "--json")
    cost = next(c for c in json.loads(out)["columns"] if c["name"] == "cost")
    assert cost["type"] == "decimal(12,2)"


def test_allow_drift_does_not_bypass_the_compatibility_mode(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    before = store_snapshot(url)
    _edit(ws, ORDERS, "  - name: amount\n    type: double", "  - name: amount\n    type: string")
    code, _, err = cli(capsys, "-w", ws, "apply", "--allow-drift")
    assert code == 1
    assert "column 'amount' changed type (double → string) with no promotion between them" in flat(err)
    assert store_snapshot(url) == before


# -- apply semantics ----------------------------------------------------------------------------


def test_first_apply_creates_everything_with_one_correlation_id(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = build_workspace(tmp_path / "ws")
    result = _apply_json(capsys, root)
    assert result["summary"] == {"create": 8, "update": 0, "unchanged": 0, "delete": 0}
    created = {(c["kind"], c["name"]) for c in result["changes"]}
    assert created == {("source", "shop_db"), ("source", "lake"), ("domain", "sales"), ("domain", "crm"),
                       ("domain", "logistics"), ("product", "sales.orders"), ("product", "crm.customers"),
                       ("product", "logistics.shipments")}
    events = _events(capsys, root)
    assert sorted(e["event_type"] for e in events) == sorted(
        ["source.registered"] * 2 + ["domain.created"] * 3 + ["product.created"] * 3 + ["schema.version_added"] * 3)
    assert {e["correlation_id"] for e in events} == {result["correlation_id"]}
    assert result["events"] == len(events)
    created_orders = next(e for e in events if e["data"].get("product") == "sales.orders")
    assert created_orders["domain"] == "sales"
    assert created_orders["data"]["version"] == "1.0.0" and created_orders["data"]["status"] == "published"


def test_second_apply_changes_nothing_and_emits_nothing(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = default_store_url(ws)
    before = store_snapshot(url)
    result = _apply_json(capsys, ws)
    assert result["summary"] == {"create": 0, "update": 0, "unchanged": 8, "delete": 0}
    assert result["events"] == 0
    assert store_snapshot(url) == before
    code, out, _ = cli(capsys, "-w", ws, "apply")
    assert code == 0 and "applied: 0 create, 0 update, 0 delete, 8 unchanged" in out


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build_workspace(tmp_path / "ws")
    code, out, err = cli(capsys, "-w", root, "apply", "--dry-run")
    assert code == 0, err
    assert "+ product sales.orders" in out and "+ domain crm" in out and "+ source lake" in out
    assert "plan: 8 create, 0 update, 0 delete, 0 unchanged (dry run: nothing written)" in out
    snap = store_snapshot(default_store_url(root))
    from meshfabric.store.models_search import FTS_SHADOW_TABLES

    bookkeeping = {"alembic_version", *FTS_SHADOW_TABLES}  # rows the migrations themselves write
    assert all(rows == [] for name, rows in snap.items() if name not in bookkeeping), snap
    # and after an apply, a dry run shows updates and deletes like a diff
    _apply_json(capsys, root)
    before = store_snapshot(default_store_url(root))
    _edit(root, ORDERS, "version: 1.0.0", "version: 1.1.0")
    (root / SHIPMENTS).unlink()
    code, out, _ = cli(capsys, "-w", root, "apply", "--dry-run")
    assert code == 0
    assert "~ product sales.orders  (version)" in out
    assert "- product logistics.shipments" in out
    assert "  product crm.customers" in out
    assert "plan: 0 create, 1 update, 1 delete, 6 unchanged" in out
    assert store_snapshot(default_store_url(root)) == before


def test_update_names_the_changed_fields_and_bumps_the_revision(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(ws, ORDERS, "description: Every order with its amount", "description: Every order, with its amount")
    _edit(ws, ORDERS, "version: 1.0.0", "version: 1.1.0")
    result = _apply_json(capsys, ws)
    change = next(c for c in result["changes"] if c["name"] == "sales.orders")
    assert change["action"] == "update"
    assert change["changed"] == ["description", "version"]
    assert change["revision"] == 2
    assert result["summary"] == {"create": 0, "update": 1, "unchanged": 7, "delete": 0}
    _, out, _ = cli(capsys, "-w", ws, "products", "show", "sales.orders", "--json")
    shown = json.loads(out)
    assert shown["version"] == "1.1.0" and shown["revision"] == 2
    assert shown["description"] == "Every order, with its amount"
    events = _events(capsys, ws, "--correlation", result["correlation_id"])
    assert [(e["event_type"], e["data"]["changed"]) for e in events] == [
        ("product.updated", ["description", "version"])]


def test_status_change_and_schema_change_emit_their_events(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(ws, ORDERS, "status: published", "status: deprecated")
    _edit(ws, ORDERS, "  - name: status\n    type: string\n", "")
    result = _apply_json(capsys, ws)
    change = next(c for c in result["changes"] if c["name"] == "sales.orders")
    assert change["changed"] == ["schema", "status"]
    events = {e["event_type"]: e for e in _events(capsys, ws, "--correlation", result["correlation_id"])}
    assert set(events) == {
        "product.updated", "product.status_changed", "product.schema_changed", "schema.version_added"
    }
    assert events["product.status_changed"]["data"] == {"product": "sales.orders", "from": "published",
                                                         "to": "deprecated"}
    assert [c["name"] for c in events["product.schema_changed"]["data"]["new"]] == ["order_id", "customer_id",
                                                                                    "amount"]
    # forward moves are allowed all the way to retired
    _edit(ws, ORDERS, "status: deprecated", "status: retired")
    assert _apply_json(capsys, ws)["summary"]["update"] == 1


def test_domain_and_source_changes_are_updates(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(ws, "mesh.yaml", "owners: [crm-team@example.com]", "owners: [crm-team@example.com, ana@example.com]")
    _edit(ws, "mesh.yaml", "description: Orders database", "description: The orders database")
    result = _apply_json(capsys, ws)
    changes = {(c["kind"], c["name"]): c for c in result["changes"] if c["action"] == "update"}
    assert set(changes) == {("domain", "crm"), ("source", "shop_db")}
    assert changes[("domain", "crm")]["changed"] == ["owners"]
    assert changes[("source", "shop_db")]["changed"] == ["description"]
    types = sorted(e["event_type"] for e in _events(capsys, ws, "--correlation", result["correlation_id"]))
    assert types == ["domain.updated", "source.updated"]
    _, out, _ = cli(capsys, "-w", ws, "domains", "--json")
    crm = next(d for d in json.loads(out) if d["name"] == "crm")
    assert crm["owners"] == ["crm-team@example.com", "ana@example.com"]


def test_removed_spec_file_deletes_the_product_on_a_full_apply(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / SHIPMENTS).unlink()
    result = _apply_json(capsys, ws)
    deleted = [c for c in result["changes"] if c["action"] == "delete"]
    assert [(c["kind"], c["name"]) for c in deleted] == [("product", "logistics.shipments")]
    events = _events(capsys, ws, "--correlation", result["correlation_id"])
    assert [(e["event_type"], e["domain"], e["data"]["product"]) for e in events] == [
        ("product.deleted", "logistics", "logistics.shipments")]
    _, out, _ = cli(capsys, "-w", ws, "products", "list", "--json")
    assert sorted(p["fqn"] for p in json.loads(out)) == ["crm.customers", "sales.orders"]


def test_removed_domain_and_source_are_deleted(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / SHIPMENTS).unlink()
    _edit(ws, "mesh.yaml", "  logistics:\n    description: Shipments\n    owners: [logistics-team@example.com]\n", "")
    result = _apply_json(capsys, ws)
    deleted = sorted((c["kind"], c["name"]) for c in result["changes"] if c["action"] == "delete")
    assert deleted == [("domain", "logistics"), ("product", "logistics.shipments")]
    _, out, _ = cli(capsys, "-w", ws, "domains", "--json")
    assert sorted(d["name"] for d in json.loads(out)) == ["crm", "sales"]


def test_scoped_apply_never_touches_products_outside_the_scope(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / CUSTOMERS).unlink()  # outside the scope: must survive
    _edit(ws, SHIPMENTS, "version: 0.1.0", "version: 0.2.0")  # outside the scope: must not be applied
    _edit(ws, ORDERS, "version: 1.0.0", "version: 1.0.1")  # inside
    write(ws / "products/sales/returns.yaml", ORDERS_YAML.replace("name: orders", "name: returns"))  # inside
    result = _apply_json(capsys, ws, "products/sales")
    product_changes = {c["name"]: c["action"] for c in result["changes"] if c["kind"] == "product"}
    assert product_changes == {"sales.orders": "update", "sales.returns": "create"}
    _, out, _ = cli(capsys, "-w", ws, "products", "list", "--json")
    products = {p["fqn"]: p for p in json.loads(out)}
    assert set(products) == {"crm.customers", "logistics.shipments", "sales.orders", "sales.returns"}
    assert products["logistics.shipments"]["version"] == "0.1.0"
    # a file removed inside the scope is deleted by a scoped apply of that folder
    (ws / "products/sales/returns.yaml").unlink()
    result = _apply_json(capsys, ws, "products/sales")
    assert [(c["action"], c["name"]) for c in result["changes"] if c["kind"] == "product"] == [
        ("unchanged", "sales.orders"), ("delete", "sales.returns")]
    # and the full apply finally catches up with everything
    result = _apply_json(capsys, ws)
    assert {c["name"]: c["action"] for c in result["changes"] if c["kind"] == "product"} == {
        "crm.customers": "delete", "logistics.shipments": "update", "sales.orders": "unchanged"}


def test_scoped_apply_of_one_file(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(ws, ORDERS, "version: 1.0.0", "version: 1.0.1")
    _edit(ws, CUSTOMERS, "version: 1.0.0", "version: 1.0.1")
    result = _apply_json(capsys, ws, str(ws / CUSTOMERS))
    assert [(c["action"], c["name"]) for c in result["changes"] if c["kind"] == "product"] == [
        ("update", "crm.customers")]
    # a path relative to the workspace given with -w works from any folder
    result = _apply_json(capsys, ws, ORDERS)
    assert [(c["action"], c["name"]) for c in result["changes"] if c["kind"] == "product"] == [
        ("update", "sales.orders")]


def test_scoped_apply_outside_the_workspace_is_refused(ws: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code, _, err = cli(capsys, "-w", ws, "apply", str(outside))
    assert code == 2
    assert "not inside the workspace" in err


def test_moving_a_spec_file_records_its_new_place(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.move(ws / ORDERS, ws / "products/orders.yaml")
    result = _apply_json(capsys, ws)
    change = next(c for c in result["changes"] if c["name"] == "sales.orders")
    assert change["action"] == "update"
    _, out, _ = cli(capsys, "-w", ws, "products", "show", "sales.orders", "--json")
    assert json.loads(out)["file"] == "products/orders.yaml"
    assert _apply_json(capsys, ws)["summary"]["update"] == 0


def test_product_without_declared_schema_takes_the_sources_columns(ws: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    text = (ws / ORDERS).read_text()
    (ws / ORDERS).write_text(text[: text.index("schema:")], encoding="utf-8")
    _apply_json(capsys, ws)
    _, out, _ = cli(capsys, "-w", ws, "products", "show", "sales.orders", "--json")
    cols = {c["name"]: c["type"] for c in json.loads(out)["columns"]}
    assert cols == {"order_id": "bigint", "customer_id": "bigint", "amount": "double", "status": "string"}


def test_source_schema_change_updates_a_product_without_declared_schema(ws: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    text = (ws / ORDERS).read_text()
    (ws / ORDERS).write_text(text[: text.index("schema:")], encoding="utf-8")
    _apply_json(capsys, ws)
    with sqlite3.connect(ws / "data" / "shop.sqlite") as con:
        con.execute("ALTER TABLE orders ADD COLUMN note TEXT")
    con.close()
    result = _apply_json(capsys, ws)
    change = next(c for c in result["changes"] if c["name"] == "sales.orders")
    assert (change["action"], change["changed"]) == ("update", ["schema"])
    events = {e["event_type"]: e for e in _events(capsys, ws, "--correlation", result["correlation_id"])}
    assert set(events) == {"product.updated", "product.schema_changed", "schema.version_added"}
    assert [c["name"] for c in events["product.schema_changed"]["data"]["new"]][-1] == "note"
    assert _apply_json(capsys, ws)["summary"]["update"] == 0


def test_sdk_apply_matches_the_cli(tmp_path: Path) -> None:
    from meshfabric import Mesh

    root = build_workspace(tmp_path / "ws")
    with Mesh.open(root) as mesh:
        plan = mesh.apply(dry_run=True)
        assert not plan.applied and plan.count("create") == 8
        got: list[str] = []
        mesh.events.subscribe("product.*", lambda e: got.append(f"{e.event_type} {e.data['product']}"),
                              name="sdk-test")
        result = mesh.apply()
        assert result.applied and result.count("create") == 8
        # apply delivers what it emitted to the subscribers of this process
        assert sorted(got) == ["product.created crm.customers", "product.created logistics.shipments",
                               "product.created sales.orders"]
        (root / SHIPMENTS).unlink()
        mesh.apply()
        assert got[3:] == ["product.deleted logistics.shipments"]
        assert [p.fqn for p in mesh.products()] == ["crm.customers", "sales.orders"]


# -- secrets ------------------------------------------------------------------------------------

SECRET = "pw-" + uuid.uuid4().hex  # a value that cannot appear anywhere by chance


def _secret_mesh(url_with_secret: str) -> str:
    return MESH_YAML.replace("sources:\n", "sources:\n  warehouse:\n    kind: postgres\n"
                             f"    url: {url_with_secret}\n    password: ${{MF_TEST_SECRET_PW}}\n")


def test_secret_never_reaches_the_store_output_or_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_TEST_SECRET_PW", SECRET)
    mesh = _secret_mesh("postgresql://reader:${MF_TEST_SECRET_PW}@127.0.0.1:1/warehouse")
    root = build_workspace(tmp_path / "ws", mesh=mesh)
    seen: list[str] = []
    # a product on the unreachable source: the error must name the source, not the password
    write(root / "products/sales/wh_orders.yaml", ORDERS_YAML.replace("name: orders", "name: wh_orders")
          .replace("source: shop_db", "source: warehouse"))
    code, out, err = cli(capsys, "-w", root, "apply")
    assert code == 2 and "source 'warehouse'" in err
    seen += [out, err]
    code, out, err = cli(capsys, "-w", root, "apply", "--dry-run")
    seen += [out, err]
    (root / "products/sales/wh_orders.yaml").unlink()
    code, out, err = cli(capsys, "-w", root, "apply", "--json")
    assert code == 0, err
    seen += [out, err]
    codes = {}
    for args in (["sources", "list"], ["sources", "list", "--json"], ["sources", "test", "warehouse"],
                 ["sources", "test", "--json"], ["events", "list", "--json"], ["products", "list", "--json"]):
        code, out, err = cli(capsys, "-w", root, *args)
        codes[" ".join(args)] = code
        seen += [out, err]
        if args[:2] == ["sources", "test"]:
            assert "warehouse" in out + err
    # `sources test` fails on the unreachable warehouse ...
    assert codes == {"sources list": 0, "sources list --json": 0, "sources test warehouse": 1,
                     "sources test --json": 1, "events list --json": 0, "products list --json": 0}
    for text in seen:
        assert SECRET not in text
    dump = store_dump_text(default_store_url(root))
    assert SECRET not in dump
    assert "${MF_TEST_SECRET_PW}" in dump  # ... the store keeps the reference, as written


# -- real database sources ----------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_source_with_secret_applies_and_checks_drift(pg_url: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    table = f"orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (order_id bigint NOT NULL, customer_id bigint, amount double precision, "
                     "status text)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 1, 10.5, 'completed')")
    monkeypatch.setenv("MF_TEST_SECRET_PW", SECRET)  # trust auth ignores it; it must still never be stored
    host_db = pg_url.removeprefix("postgresql://postgres@")
    root = build_workspace(tmp_path / "ws", mesh=_secret_mesh(f"postgresql://postgres:${{MF_TEST_SECRET_PW}}@{host_db}"))
    write(root / "products/sales/wh_orders.yaml", ORDERS_YAML.replace("name: orders", "name: wh_orders")
          .replace("source: shop_db", "source: warehouse").replace("table: orders", f"table: {table}"))
    result = _apply_json(capsys, root)
    assert result["summary"]["create"] == 10
    _, out, _ = cli(capsys, "-w", root, "products", "show", "sales.wh_orders", "--json")
    assert json.loads(out)["source"] == "warehouse"
    # drift against PostgreSQL names both sides
    _edit(root, "products/sales/wh_orders.yaml", "type: double", "type: decimal(12,2)")
    code, out2, err = cli(capsys, "-w", root, "apply")
    assert code == 1
    assert "column 'amount' is declared decimal(12,2) but the source has double" in flat(err)
    for text in (out, out2, err, store_dump_text(default_store_url(root))):
        assert SECRET not in text


@pytest.mark.mariadb
def test_mariadb_source_applies_and_missing_table_is_a_source_error(mysql_url: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import pymysql

    table = f"orders_{uuid.uuid4().hex[:8]}"
    db = mysql_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (order_id BIGINT NOT NULL, customer_id BIGINT, amount DOUBLE, "
                    "status VARCHAR(20))")
    conn.close()
    mesh = MESH_YAML.replace("sources:\n", f"sources:\n  shop_my:\n    kind: mysql\n    url: {mysql_url}\n")
    root = build_workspace(tmp_path / "ws", mesh=mesh)
    write(root / "products/sales/my_orders.yaml", ORDERS_YAML.replace("name: orders", "name: my_orders")
          .replace("source: shop_db", "source: shop_my").replace("table: orders", f"table: {table}"))
    result = _apply_json(capsys, root)
    assert any(c["name"] == "sales.my_orders" and c["action"] == "create" for c in result["changes"])
    url = default_store_url(root)
    before = store_snapshot(url)
    _edit(root, "products/sales/my_orders.yaml", f"table: {table}", "table: no_such_table")
    code, _, err = cli(capsys, "-w", root, "apply")
    assert code == 2 and "source 'shop_my'" in err and "no_such_table" in err
    assert store_snapshot(url) == before


@pytest.mark.postgres
def test_postgresql_store_from_mesh_yaml(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pg_database("mf_store") as url:
        monkeypatch.setenv("MF_TEST_STORE_URL", url)
        root = build_workspace(tmp_path / "ws", mesh=MESH_YAML + "store: ${MF_TEST_STORE_URL}\n")
        first = _apply_json(capsys, root)
        assert first["summary"]["create"] == 8
        before = store_snapshot(url)
        # 8 creations + one schema.version_added per product
        assert len(before["products"]) == 3 and len(before["events"]) == 11
        assert _apply_json(capsys, root)["summary"]["unchanged"] == 8
        assert store_snapshot(url) == before
        assert not (root / ".meshfabric" / "store.db").exists()  # nothing went to the default store
        _unknown_field(root)
        code, _, err = cli(capsys, "-w", root, "apply")
        assert code == 2 and "did you mean 'owner'?" in err
        assert store_snapshot(url) == before
        events = _events(capsys, root, "--type", "product.*")
        assert sorted(e["data"]["product"] for e in events) == ["crm.customers", "logistics.shipments",
                                                                "sales.orders"]


def test_the_sdk_refuses_to_apply_a_path_that_does_not_exist(tmp_path: Path) -> None:
    from meshfabric import Mesh
    from meshfabric.errors import ConfigError

    root = build_workspace(tmp_path / "ws")
    with default_store(), Mesh.open(root) as mesh:
        with pytest.raises(ConfigError, match="does not exist"):
            mesh.apply(root / "products" / "nonexistent")
        assert mesh.products() == []  # nothing applied
