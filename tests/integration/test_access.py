"""The access layer end to end: policies applied and versioned with the specs, principals and
grants from the CLI, audit of every decision, listings filtered, PostgreSQL store, a MariaDB
source whose collation keeps the row filter out of the source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import MESH, POLICY, build, setup_principals
from helpers import cli, default_store
from meshfabric.errors import AccessDenied, NotFound, QueryError, SpecError


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFABRIC_MASK_SALT", "salt-for-tests")
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return build(tmp_path / "ws")


@pytest.fixture
def mesh(ws: Path) -> Iterator[Any]:
    from meshfabric import Mesh

    with Mesh.open(ws) as m:
        m.apply()
        setup_principals(m)
        yield m


def _json(capsys: pytest.CaptureFixture[str], *args: object) -> Any:
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    return json.loads(out)


# -- default behaviour ---------------------------------------------------------------------------
def test_without_access_config_the_local_principal_is_an_admin(tmp_path: Path) -> None:
    from meshfabric import Mesh

    root = build(tmp_path / "ws", mesh=MESH.split("access:")[0])
    with Mesh.open(root) as m:
        m.apply()
        me = m.access.principal("local")
        assert me.is_admin and m.access.visible_products(None) is None
        out = m.query("SELECT ssn FROM sales.orders ORDER BY id").arrow().to_pylist()
        assert out[0] == {"ssn": "111-11-1111"}  # admins see raw values
        assert m.access.audit_log(limit=1)[0].principal == "local"


def test_a_non_admin_local_principal_cannot_act_as_others(tmp_path: Path) -> None:
    from meshfabric import Mesh

    root = build(tmp_path / "ws", mesh=MESH.replace("admins: [admin]", "admins: [someone-else]"))
    with Mesh.open(root) as m:
        m.apply()
        with pytest.raises(AccessDenied, match="needs a workspace admin"):
            m.query("SELECT 1", user="alice")
        with pytest.raises(AccessDenied):
            m.access.create_principal("eve")
        # the audit log itself is for workspace admins, which this local principal is not
        with pytest.raises(AccessDenied, match="is not an admin"):
            m.access.audit_log(limit=5)
        from sqlalchemy import select

        from meshfabric.store.models_access import AuditRow

        with m.store.read() as s:
            last = [(r.action, r.decision) for r in s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(3))]
        assert last[0] == ("access.read", "denied") and ("manage", "denied") in last


# -- policies applied like specs -----------------------------------------------------------------
def test_policy_version_rises_only_when_policies_change(ws: Path, mesh: Any) -> None:
    assert mesh.access.policy_version() == 1
    assert mesh.apply().count("update") == 0 and mesh.access.policy_version() == 1
    (ws / "policies" / "shop.yaml").write_text(POLICY.replace("ssn: redact", "ssn: 'null'"))
    result = mesh.apply()
    assert [c.name for c in result.changes if c.kind == "policy" and c.action == "update"] == ["shop-policy"]
    assert mesh.access.policy_version() == 2
    out = mesh.query("SELECT ssn FROM sales.orders", user="alice").arrow().to_pylist()
    assert out == [{"ssn": None}, {"ssn": None}]
    assert mesh.access.audit_log(limit=1)[0].policy_version == 2
    (ws / "policies" / "shop.yaml").unlink()
    assert any(c.kind == "policy" and c.action == "delete" for c in mesh.apply().changes)
    assert mesh.access.policy_version() == 3
    assert "policy" in {e.event_type.split("_")[0].split(".")[1] for e in mesh.events.list(event_type=None)
                        if e.event_type.startswith("access.policy")}


@pytest.mark.parametrize("bad,line,fragment", [
    ("      ssn: scramble\n", 10, "ssn"),
    ("    row_filter: \"region = (SELECT 1)\"\n", 12, "subqueries"),
    ("      nosuch: redact\n", 10, "no column 'nosuch'"),
])
def test_policy_errors_name_file_and_line_and_nothing_is_written(ws: Path, mesh: Any, bad: str, line: int,
                                                                 fragment: str) -> None:
    lines = POLICY.splitlines(keepends=True)
    key = bad.split(":")[0].strip()
    index = next(i for i, t in enumerate(lines) if t.strip().startswith(key + ":")) if key in POLICY else 9
    lines[index if key in POLICY else 9] = bad
    (ws / "policies" / "shop.yaml").write_text("".join(lines))
    with pytest.raises(SpecError) as info:
        mesh.apply()
    text = str(info.value)
    assert "policies/shop.yaml:" in text and fragment in text, text
    assert mesh.access.policy_version() == 1


def test_unknown_product_in_a_policy_is_reported(ws: Path, mesh: Any) -> None:
    (ws / "policies" / "shop.yaml").write_text(POLICY.replace("product: sales.orders", "product: sales.orderz"))
    with pytest.raises(SpecError, match=r"shop.yaml:5: field 'rules.0.product'.*did you mean 'sales.orders'"):
        mesh.apply()


# -- grants, listings, write, profile ------------------------------------------------------------
def test_listings_and_lookups_follow_discover(mesh: Any) -> None:
    assert [p.fqn for p in mesh.products(user="carol")] == ["sales.orders"]
    assert mesh.product("sales.orders", user="carol").fqn == "sales.orders"
    with pytest.raises(AccessDenied, match=r"may discover product 'sales\.orders' but not query it"):
        mesh.query("SELECT id FROM sales.orders", user="carol")
    with pytest.raises(NotFound) as hidden:
        mesh.product("hr.salaries", user="carol")
    with pytest.raises(NotFound) as missing:
        mesh.product("hr.nope", user="carol")
    assert str(hidden.value).replace("hr.salaries", "X") == str(missing.value).replace("hr.nope", "X")
    assert mesh.access.visible_products("mallory") == set()


def test_domain_owners_administer_their_products(mesh: Any) -> None:
    mesh.access.create_principal("sales-owner")
    assert mesh.access.can("sales-owner", "admin", "sales.orders")
    assert not mesh.access.can("sales-owner", "discover", "hr.salaries")
    out = mesh.query("SELECT ssn FROM sales.orders WHERE id = 3", user="sales-owner").arrow().to_pylist()
    # no rule of the policy is for the owner (they target role analyst), so it reads raw values
    assert out == [{"ssn": "999-99-9999"}]


def test_write_needs_the_write_permission(mesh: Any) -> None:
    import pyarrow as pa

    batch = pa.table({"id": [9], "region": ["EU"], "amount": [1.0], "email": ["n@x"], "card": ["1"], "ssn": ["s"],
                      "birth": [None], "note": ["n"]})
    with pytest.raises(AccessDenied, match="may not write"):
        mesh.write("sales.orders", batch, user="alice")
    assert mesh.write("sales.orders", batch, user="etl-bot") == 1
    assert {e.action for e in mesh.access.audit_log(limit=3)} >= {"write"}


def test_profiles_are_refused_to_filtered_principals(mesh: Any) -> None:
    with pytest.raises(AccessDenied, match="a profile measures every row"):
        mesh.profile("sales.orders", user="alice")
    assert mesh.profile("sales.orders").product == "sales.orders"


def test_events_for_grants_roles_and_denials(mesh: Any) -> None:
    with pytest.raises(QueryError):
        mesh.query("SELECT * FROM hr.salaries", user="alice")
    types = [e.event_type for e in mesh.events.list()]
    assert "access.granted" in types and "access.role_assigned" in types and "access.denied" in types


def test_revoke_takes_effect_on_the_next_query(mesh: Any) -> None:
    assert mesh.query("SELECT count(*) AS n FROM crm.customers", user="alice").arrow().to_pylist() == [{"n": 2}]
    assert mesh.access.revoke("analyst", "query", product="crm.customers") == 1
    with pytest.raises(QueryError, match="not found"):
        mesh.query("SELECT count(*) FROM crm.customers", user="alice")


def test_audit_records_fingerprint_rows_latency(mesh: Any) -> None:
    mesh.query("SELECT id FROM sales.orders WHERE amount > 1", user="alice")
    mesh.query("SELECT id FROM sales.orders WHERE amount > 15", user="alice")
    a, b = mesh.access.audit_log(user="alice", action="query", limit=2)
    assert a.sql_fingerprint == b.sql_fingerprint and len(a.sql_fingerprint) == 64
    assert (a.rows, b.rows) == (1, 2) and a.latency_ms is not None and a.latency_ms > 0
    assert a.resource == "sales.orders" and a.decision == "allowed" and a.policy_version == 1


def test_attribute_injection_matches_nothing(mesh: Any) -> None:
    mesh.access.create_principal("trudy", attributes={"region": "EU' OR '1'='1"})
    mesh.access.assign_role("trudy", "analyst")
    assert mesh.query("SELECT id FROM sales.orders", user="trudy").arrow().num_rows == 0


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_users_roles_grants_policy_audit(ws: Path, mesh: Any, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    w = ["-w", ws]
    code, out, err = cli(capsys, *w, "users", "add", "dave", "--group", "eu-team", "--attr", "region=EU")
    assert code == 0, err
    assert cli(capsys, *w, "roles", "assign", "analyst", "dave")[0] == 0
    users = {u["name"]: u for u in _json(capsys, *w, "users", "list", "--json")}
    assert users["dave"]["attributes"] == {"region": "EU"} and users["dave"]["roles"] == ["analyst"]
    assert users["admin"]["is_admin"] is True
    code, out, err = cli(capsys, *w, "grants", "add", "query", "--group", "eu-team", "--product", "crm.customers")
    assert code == 0, err
    grants = _json(capsys, *w, "grants", "list", "--json")
    assert {"grantee_kind": "group", "grantee": "eu-team", "resource": "crm.customers"}.items() <= next(
        g for g in grants if g["grantee"] == "eu-team").items()
    eff = _json(capsys, *w, "policy", "test", "--user", "dave", "--product", "sales.orders", "--json")
    assert eff["permission"] == "query" and eff["row_filter"] == "region = 'EU'"
    assert {m["column"]: m["mask"] for m in eff["masks"]}["card"] == "show_last_n:4"
    code, out, _ = cli(capsys, *w, "policy", "test", "--user", "dave", "--product", "sales.orders")
    assert "row filter: region = 'EU'" in out and "show_last_n:4" in out
    assert cli(capsys, *w, "query", "SELECT count(*) FROM sales.orders", "--as", "dave")[0] == 0
    entries = _json(capsys, *w, "audit", "--user", "dave", "--json")
    assert entries[0]["principal"] == "dave" and entries[0]["rows"] == 1
    export = tmp_path / "audit.jsonl"
    assert cli(capsys, *w, "audit", "--since", "1h", "--export", export)[0] == 0
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    assert lines and all("sql_fingerprint" in x for x in lines)
    shown = cli(capsys, *w, "policy", "show")[1]
    assert "policy version 1" in shown and "shop-policy" in shown
    assert "analyst" in cli(capsys, *w, "roles", "list")[1]
    assert "eu-team" in cli(capsys, *w, "groups", "list")[1]


@pytest.mark.parametrize("args,fragment", [
    (["grants", "add", "rule", "--role", "analyst", "--product", "sales.orders"], "unknown permission"),
    (["grants", "add", "query", "--product", "sales.orders"], "exactly one grantee"),
    (["grants", "add", "query", "--role", "analyst"], "exactly one product, one domain or one source"),
    (["grants", "add", "query", "--role", "nobody", "--domain", "sales"], "role 'nobody' not found"),
    (["users", "add", "bad name"], "not a valid principal name"),
    (["users", "add", "x", "--attr", "novalue"], "KEY=VALUE"),
    (["users", "add", "x", "--kind", "robot"], "unknown principal kind"),
    (["roles", "assign", "analyst", "ghost"], "principal 'ghost' not found"),
    (["policy", "test", "--user", "ghost", "--product", "sales.orders"], "principal 'ghost' not found"),
    (["audit", "--since", "yesterday"], "neither a time nor a duration"),
    (["query", "SELECT 1", "--as", "ghost"], "principal 'ghost' not found"),
    (["grants", "revoke", "admin", "--role", "analyst", "--domain", "sales"], "holds no admin grant"),
])
def test_cli_bad_input_exits_2_with_a_message(ws: Path, mesh: Any, capsys: pytest.CaptureFixture[str],
                                              args: list[str], fragment: str) -> None:
    code, out, err = cli(capsys, "-w", ws, *args)
    assert code == 2, (out, err)
    assert fragment in " ".join(err.split()) and "Traceback" not in err


# -- PostgreSQL store ------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_store(ws: Path, pg_url: str) -> None:
    from meshfabric import Mesh

    with default_store(), Mesh.open(ws, store=pg_url) as m:
        m.apply()
        setup_principals(m)
        out = m.query("SELECT id, ssn FROM sales.orders ORDER BY id", user="alice").arrow().to_pylist()
        assert out == [{"id": 1, "ssn": "***"}, {"id": 2, "ssn": "***"}]
        entry = m.access.audit_log(user="alice", limit=1)[0]
        assert entry.rows == 2 and entry.policy_version == m.access.policy_version() >= 1
        assert m.access.audit_count(user="alice") >= 1
        assert m.access.principal("alice").roles == ("analyst",)


# -- a MariaDB source whose collation keeps the filter in the engine ------------------------------
@pytest.mark.mariadb
def test_mariadb_case_insensitive_filter_is_applied_at_the_scan(tmp_path: Path, mysql_url: str) -> None:
    import pymysql

    from meshfabric import Mesh

    db = mysql_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS acc_orders")
        cur.execute("CREATE TABLE acc_orders (id INT, region VARCHAR(8) COLLATE utf8mb4_general_ci, secret TEXT)")
        cur.executemany("INSERT INTO acc_orders VALUES (%s, %s, %s)",
                        [(1, "EU", "ok"), (2, "eu", "LOWER-CASE-HIDDEN"), (3, "US", "US-HIDDEN")])
    conn.close()
    root = tmp_path / "ws"
    root.mkdir()
    (root / "mesh.yaml").write_text(
        f"name: m\nsources:\n  maria:\n    kind: mysql\n    url: {mysql_url}\ndomains:\n  sales: {{}}\n"
        "access:\n  local_principal: admin\n  admins: [admin]\n")
    (root / "orders.yaml").write_text(
        "kind: DataProduct\ndomain: sales\nname: orders\nowner: o\nstatus: published\n"
        "output: {source: maria, table: acc_orders}\n")
    (root / "policy.yaml").write_text(
        "kind: AccessPolicy\nname: p\nrules:\n  - to: everyone\n    product: sales.orders\n"
        "    row_filter: \"region = {user.region}\"\n")
    with default_store(), Mesh.open(root) as m:
        m.apply()
        m.access.create_principal("alice", attributes={"region": "EU"})
        m.access.create_role("r")
        m.access.assign_role("alice", "r")
        m.access.grant("r", "query", product="sales.orders")
        plan = str(m.explain("SELECT * FROM sales.orders", user="alice"))
        # the collation would also admit 'eu': the filter reaches MariaDB over the column's bytes
        source_sql = plan.split("source SQL:")[1].split("\n")[0]
        assert "CAST(`region` AS BINARY) = 'EU'" in source_sql and "kept:" not in plan
        out = m.query("SELECT * FROM sales.orders WHERE CASE WHEN secret <> 'ok' THEN CAST(secret AS INT) = 0 "
                      "ELSE true END", user="alice").arrow().to_pylist()
        assert out == [{"id": 1, "region": "EU", "secret": "ok"}]


def test_the_event_log_is_read_and_written_by_workspace_admins_only(mesh: Any) -> None:
    """Events carry what changed across every domain (grants, denials, alerts with their values):
    reading, following, subscribing, publishing and retrying are workspace-admin actions."""
    from meshfabric.events import DomainEvent

    event = DomainEvent("product.updated", "sales", {"product": "sales.orders"})
    for call in (lambda: mesh.events.list(user="alice"),
                 lambda: mesh.events.replay(lambda e: None, user="alice"),
                 lambda: next(mesh.events.iter_new(0, user="alice")),
                 lambda: mesh.events.subscribe("*", lambda e: None, name="spy", user="alice"),
                 lambda: mesh.events.dead_letters(user="alice"),
                 lambda: mesh.events.publish(event, user="etl-bot")):
        with pytest.raises(AccessDenied, match="is not an admin"):
            call()
    assert "spy" not in {s.name for s in mesh.events.subscriptions}
    published = mesh.events.publish(event)  # the workspace admin
    assert mesh.events.list(event_type="product.updated", newest_first=True, limit=1)[0].id == published.id
    denied = [e for e in mesh.access.audit_log(user="alice", decision="denied") if e.action == "events.read"]
    assert len(denied) == 5


def test_a_referential_rule_shows_no_counts_measured_over_rows_hidden_in_the_referenced_product(
        ws: Path, mesh: Any) -> None:
    """crm.customers.id must exist in sales.orders.id: how many customers have no order is
    counted over every order, also those alice's row filter on sales.orders hides from her — so
    she gets the verdict without the counts, though she reads crm.customers.id unmasked."""
    spec = ws / "specs" / "customers.yaml"
    spec.write_text(spec.read_text() + "quality:\n  - {type: referential, column: id, reference: sales.orders, "
                                       "reference_column: id, name: has_orders}\n")
    mesh.apply()
    mine = {r.rule: r for r in mesh.quality.run("crm.customers", user="alice").results}["has_orders"]
    assert mine.failing_rows is None and mine.total_rows is None and mine.sample == []
    admin = {r.rule: r for r in mesh.quality.run("crm.customers").results}["has_orders"]
    assert admin.total_rows is not None and admin.passed == mine.passed
    [stored] = [r for r in mesh.quality.history("crm.customers", user="alice", limit=1)[0].results
                if r.rule == "has_orders"]
    assert stored.failing_rows is None


def test_the_raw_metadata_graph_is_a_workspace_admins(ws: Path) -> None:
    """``mesh.graph`` shows every node of every product (quality scores included): an SDK user
    acting as a principal without admin rights reads lineage and the catalog through the services
    instead, which leave out what it may not discover."""
    from meshfabric import Mesh

    with Mesh.open(ws) as m:
        m.apply()
        setup_principals(m)
        assert m.graph.get("product", "sales.orders") is not None  # the workspace admin
        m.settings.acting = "alice"
        with pytest.raises(AccessDenied, match="is not an admin"):
            m.graph  # noqa: B018
