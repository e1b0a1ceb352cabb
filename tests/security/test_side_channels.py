"""Side channels around the SQL path: every data-returning route and command tried as principals
the SQL path restricts, and as principals it does not (so each test can fail both ways).

Principals of the workspace (access_support's, plus two):

* ``admin`` — the workspace admin (local principal, also signing in over REST): sees everything;
* ``etl-bot`` — write (so query) on sales.orders, no policy: the legitimate non-admin reader;
* ``alice`` — sales.orders masked *and* row-filtered (region EU), crm.customers email masked;
* ``mona`` — sales.orders masked only (id hashed, amount nulled, ssn redacted), no row filter;
* ``fred`` — sales.orders and sales.regions row-filtered only (region = 'EU'), no mask;
* ``carol`` — may only discover sales.orders;
* ``mallory`` — holds nothing (signs in with an API key).

``hr.salaries`` is hidden from everyone but admin: it has rules, runs, alerts, a contract, schema
versions, lineage downstream of sales.orders and OpenLineage events. Each attack asserts the exact
safe answer (404 like a missing thing, 403, or values withheld as None / []).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import access_support as acc
from auth_support import HS_AUTH, bearer, hs_token, secret_env
from helpers import cli, default_store

SALT = "side-channel-salt-41"
T0 = datetime(2031, 5, 1, tzinfo=UTC)
HIDDEN_SALARY = 123456.0
HIDDEN_AMOUNT = 999.0
#: keys whose values are ids, times or durations: random digits there prove nothing about leaks
_VOLATILE = {"id", "run_id", "correlation_id", "started_at", "finished_at", "seconds", "queries", "ts",
             "created_at", "updated_at", "at", "latency_ms"}


def _values(text: str) -> str:
    """A JSON answer without its ids, times and durations, for searching it for a hidden value."""
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in _VOLATILE}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    try:
        return json.dumps(strip(json.loads(text)))
    except ValueError:
        return text

MESH = acc.MESH.replace("  admins: [admin]\n", "  admins: [admin]\n  query_timeout:\n    default: 120\n"
                        "    users: {fred: 2}\n") + HS_AUTH

ORDERS = acc.ORDERS.replace("  - name: id\n    type: bigint\n", "  - name: id\n    type: bigint\n"
                            "    primary_key: true\n", 1) + """\
quality:
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
  - {type: statistic, column: amount, statistic: max, max: 100000, name: max_amount}
  - {type: accepted_values, column: region, values: [EU, US], name: known_regions}
  - {type: not_null, column: email}
  - {type: custom_sql, name: top_amount, sql: "SELECT max(amount) FROM {table}", returns: metric, min: 0, max: 100000}
  - {type: row_count, min: 1}
"""

SALARIES = acc.SALARIES + """\
quality:
  - {type: range, column: salary, min: 0, max: 1000, name: sane_salary}
  - {type: statistic, column: salary, statistic: max, max: 10, name: top_salary}
"""

REGIONS = """\
kind: DataProduct
domain: sales
name: regions
owner: sales-owner
status: published
output:
  source: db
  table: regions
schema:
  - name: id
    type: bigint
  - name: region
    type: string
"""

POLICY = acc.POLICY + """\
  - to: {role: masker}
    product: sales.orders
    columns:
      id: hash
      amount: 'null'
      ssn: redact
  - to: {role: filtered}
    domain: sales
    row_filter: "region = 'EU'"
"""

PRINCIPALS = ("admin", "etl-bot", "alice", "mona", "fred", "carol", "mallory")
RESTRICTED = ("alice", "mona", "fred")


class World:
    """What the tests share: the open mesh, its REST client, credentials and ids."""

    def __init__(self, root: Path, mesh: Any, client: TestClient) -> None:
        self.root, self.mesh, self.client = root, mesh, client
        self.api_keys: dict[str, str] = {}
        self.alerts: dict[str, int] = {}
        self.run_ids: dict[str, str] = {}

    def headers(self, user: str) -> dict[str, str]:
        if user in self.api_keys:
            return {"X-API-Key": self.api_keys[user]}
        return bearer(hs_token(sub=user))

    def get(self, user: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(user))

    def post(self, user: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.client.post(path, params=params, json=body, headers=self.headers(user))


def _record_alert(mesh: Any, product: str, metric: str, column: str, spike: float) -> int:
    from meshfabric.quality.detectors import MADDetector
    from meshfabric.quality.monitor import MonitorConfig, Observation, record

    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    for i in range(10):
        record(mesh.store, [Observation(product, metric, 1.0 if i % 2 else 2.0, column, T0 + timedelta(hours=i))],
               config=config)
    record(mesh.store, [Observation(product, metric, spike, column, T0 + timedelta(hours=10))], config=config)
    found = [a for a in mesh.alerts.list(product=product) if a.metric == metric and a.column == column]
    assert found, f"no alert on {product}/{metric}/{column}"
    return int(found[0].id)


def _auth_service(mesh: Any) -> Any:
    import inspect

    from meshfabric.auth.service import AuthService

    if "store" in inspect.signature(AuthService.__init__).parameters:
        return AuthService(mesh.store, mesh.settings, mesh.access)
    return AuthService(mesh)


def _ol_event(run_id: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": "2024-05-01T10:00:00Z",
            "producer": "https://example.test/producer",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id}, "job": {"namespace": "etl", "name": f"job-{run_id[:8]}"},
            "inputs": inputs, "outputs": outputs}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from meshfabric import Mesh
    from meshfabric.api.app import create_app
    root = tmp_path_factory.mktemp("side") / "ws"
    acc.build(root, mesh=MESH, policy=POLICY)
    (root / "specs" / "orders.yaml").write_text(ORDERS)
    (root / "specs" / "salaries.yaml").write_text(SALARIES)
    (root / "specs" / "regions.yaml").write_text(REGIONS)
    with sqlite3.connect(root / "data" / "shop.sqlite") as conn:
        conn.execute("CREATE TABLE regions (id INTEGER, region TEXT COLLATE NOCASE)")
        conn.executemany("INSERT INTO regions VALUES (?,?)", [(1, "EU"), (2, "eu"), (3, "Eu"), (4, "US")])
    old = os.environ.get("MESHFABRIC_MASK_SALT")
    os.environ["MESHFABRIC_MASK_SALT"] = SALT
    try:
        with secret_env(), default_store(), Mesh.open(root) as mesh:
            mesh.apply()
            acc.setup_principals(mesh)
            access = mesh.access
            access.create_principal("admin")
            access.create_role("masker")
            access.create_role("filtered")
            access.create_principal("mona")
            access.create_principal("fred")
            access.assign_role("mona", "masker")
            access.assign_role("fred", "filtered")
            access.grant("masker", "query", product="sales.orders")
            access.grant("filtered", "query", domain="sales")
            # the hidden product's quality record, alerts, contract, lineage and events
            mesh.quality.run("hr.salaries")
            mesh.quality.run("sales.orders")
            with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
                w = World(root, mesh, client)
                auth = _auth_service(mesh)
                w.api_keys["mallory"] = auth.create_api_key("mallory").key
                w.api_keys["carol"] = auth.create_api_key("carol").key
                w.alerts["salary"] = _record_alert(mesh, "hr.salaries", "max", "salary", HIDDEN_SALARY)
                w.alerts["amount"] = _record_alert(mesh, "sales.orders", "max", "amount", HIDDEN_AMOUNT)
                w.alerts["custom"] = _record_alert(mesh, "sales.orders", "top_amount", "*", HIDDEN_AMOUNT)
                w.alerts["rows"] = _record_alert(mesh, "sales.orders", "row_count", "*", 777.0)
                w.alerts["email"] = _record_alert(mesh, "sales.orders", "avg_len", "email", 321.0)
                mesh.lineage.add_transformation(["sales.orders"], "hr.salaries",
                                                columns=[("sales.orders.amount", "hr.salaries.salary")])
                mesh.lineage.add_transformation(["hr.salaries"], "crm.customers")
                mesh.lineage.add_transformation(["sales.orders"], "sales.regions")
                rid = str(uuid.uuid4())
                mesh.lineage.ingest(_ol_event(rid, [{"namespace": "warehouse", "name": "raw_pay"}],
                                              [{"namespace": "meshfabric", "name": "hr.salaries"}]))
                w.run_ids["hidden"] = rid
                rid = str(uuid.uuid4())
                mesh.lineage.ingest(_ol_event(rid, [{"namespace": "warehouse", "name": "raw_orders"}],
                                              [{"namespace": "meshfabric", "name": "sales.orders"}]))
                w.run_ids["visible"] = rid
                _contracts(mesh, root)
                yield w
    finally:
        if old is None:
            os.environ.pop("MESHFABRIC_MASK_SALT", None)
        else:
            os.environ["MESHFABRIC_MASK_SALT"] = old


def _contracts(mesh: Any, root: Path) -> None:
    from meshfabric.contracts.odcs import dump_contract

    for cid, product, consumer in (("ctr-pay-hidden", "hr.salaries", "sales"),
                                   ("ctr-pay-orders", "sales.orders", "crm"), ("zz-only-hidden", "hr.salaries", "crm")):
        contract = mesh.contracts.generate(product, consumer)
        doc = contract.to_dict()
        doc["id"] = cid
        path = root / f"{cid}.yaml"
        from meshfabric.contracts.odcs import Contract

        path.write_text(dump_contract(Contract(doc)))
        mesh.contracts.import_(path)
    for cid in ("ctr-pay-hidden", "ctr-pay-orders"):
        metrics = {k: 0.0 for k in ("completeness", "freshness_hours", "availability", "row_count")}
        try:
            mesh.contracts.test(cid, {"row_count": 4242.0, **metrics})
        except Exception:  # a metric the contract does not know is fine
            mesh.contracts.test(cid, {"row_count": 4242.0})


def _same_problem(hidden: Any, missing: Any, hidden_name: str, missing_name: str) -> None:
    """Two problem documents that differ only in the name asked for."""
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    a, b = hidden.json(), missing.json()
    for doc, name in ((a, hidden_name), (b, missing_name)):
        doc.pop("instance", None)
        for key in ("detail", "hint"):
            if isinstance(doc.get(key), str):
                doc[key] = doc[key].replace(name, "NAME").replace(name.split(":", 1)[-1], "NAME")
    assert a == b


def _no_salary(text: str) -> None:
    assert "salar" not in text.lower() and "123456" not in text and "hr-owner" not in text, text[:500]


# == quality runs =================================================================================
def _results(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in body["results"]}


def test_quality_run_as_admin_and_the_legitimate_reader_shows_values(world: World) -> None:
    for user in ("admin", "etl-bot"):
        r = world.post(user, "/api/v1/products/sales.orders/quality/runs", statements="true")
        assert r.status_code == 200, r.text
        body = r.json()
        res = _results(body)
        assert res["max_amount"]["observed"] == HIDDEN_AMOUNT and res["top_amount"]["observed"] == HIDDEN_AMOUNT
        assert res["small_amounts"]["failing_rows"] == 1 and res["small_amounts"]["total_rows"] == 5
        assert res["known_regions"]["sample"] == [{"id": 5, "region": "APAC"}]
        assert body["statements"] and body["score"] is not None and body["dimension_scores"]


@pytest.mark.parametrize("user", RESTRICTED)
def test_quality_run_of_a_restricted_principal_withholds_what_it_cannot_query(world: World, user: str) -> None:
    r = world.post(user, "/api/v1/products/sales.orders/quality/runs", statements="true")
    assert r.status_code == 200, r.text
    body = r.json()
    res = _results(body)
    assert body["statements"] == []
    for rule in ("small_amounts", "max_amount", "top_amount", "known_regions"):
        got = res[rule]
        assert (got["observed"], got["failing_rows"], got["total_rows"], got["sample"], got["extra"]) == (
            None, None, None, [], {}), (rule, got)
    assert "999" not in _values(r.text) and "APAC" not in r.text and "hidden@us.com" not in r.text
    # the verdicts stay
    assert res["small_amounts"]["passed"] is False and res["max_amount"]["passed"] is True
    # scores are measured over every row and column: only dimensions of rules it may see
    hidden_dims = {res[k]["dimension"] for k in ("small_amounts", "max_amount", "top_amount", "known_regions")}
    assert body["score"] is None and not hidden_dims & set(body["dimension_scores"])
    if user == "mona":  # no row filter, email unmasked: what it could count itself stays
        assert res["not_null_email"]["total_rows"] == 5 and res["row_count"]["observed"] == 5
    else:
        assert res["not_null_email"]["total_rows"] is None and res["row_count"]["observed"] is None
        assert body["dimension_scores"] == {}


def test_quality_history_of_a_discover_only_principal_has_no_values(world: World) -> None:
    for user, product in (("carol", "sales.orders"), ("alice", "sales.orders"), ("mona", "sales.orders")):
        r = world.get(user, f"/api/v1/products/{product}/quality/runs")
        assert r.status_code == 200, r.text
        runs = r.json()["items"]
        assert runs
        for run in runs:
            assert run["score"] is None and run["error"] in ("", run["error"])
            res = _results(run)
            assert res["max_amount"]["observed"] is None and res["small_amounts"]["sample"] == []
            assert res["known_regions"]["sample"] == [] and res["top_amount"]["observed"] is None
        assert "999" not in _values(r.text) and "APAC" not in r.text
    admin = world.get("admin", "/api/v1/products/sales.orders/quality/runs").json()["items"][0]
    assert _results(admin)["max_amount"]["observed"] == HIDDEN_AMOUNT and admin["score"] is not None


def test_quality_of_a_discover_only_principal_runs_nothing(world: World) -> None:
    r = world.post("carol", "/api/v1/products/sales.orders/quality/runs")
    assert r.status_code == 403 and "999" not in _values(r.text)


@pytest.mark.parametrize("path", ["quality/runs", "quality/rules", "profile"])
@pytest.mark.parametrize("user", ["alice", "mona", "fred", "carol", "mallory", "etl-bot"])
def test_hidden_product_quality_is_a_missing_product(world: World, user: str, path: str) -> None:
    for method in ("get", "post") if path == "quality/runs" else ("get",):
        hidden = getattr(world, method)(user, f"/api/v1/products/hr.salaries/{path}")
        missing = getattr(world, method)(user, f"/api/v1/products/hr.nothing/{path}")
        _same_problem(hidden, missing, "hr.salaries", "hr.nothing")
        assert "123456" not in hidden.text
    assert world.get("admin", "/api/v1/products/hr.salaries/quality/runs").json()["items"]


def test_sdk_and_cli_quality_as_restricted_principals(world: World, capsys: Any) -> None:
    run = world.mesh.quality.run("sales.orders", user="mona")
    by = {r.rule: r for r in run.results}
    assert by["known_regions"].sample == [] and by["top_amount"].observed is None and run.statements == []
    assert world.mesh.quality.run("sales.orders", user="etl-bot").results[0].sample
    code, out, err = cli(capsys, "-w", world.root, "--as", "alice", "quality", "run", "sales.orders", "--json")
    assert code in (0, 1), err
    assert "999" not in _values(out) and "APAC" not in out and "hidden@us.com" not in out
    code, out, err = cli(capsys, "-w", world.root, "--as", "carol", "quality", "history", "sales.orders", "--json")
    assert code == 0, err
    assert "999" not in _values(out) and "APAC" not in out
    code, out, err = cli(capsys, "-w", world.root, "--as", "alice", "quality", "history", "hr.salaries", "--json")
    assert code != 0 and "123456" not in out + err
    code, out, err = cli(capsys, "-w", world.root, "quality", "history", "sales.orders", "--json")
    assert code == 0 and "999" in out


# == profiles ====================================================================================
def test_profiles(world: World) -> None:
    admin = world.get("admin", "/api/v1/products/sales.orders/profile", columns="amount,region")
    assert admin.status_code == 200
    cols = {c["name"]: c for c in admin.json()["columns"]}
    assert cols["amount"]["max"] == HIDDEN_AMOUNT
    for user in ("alice", "fred"):  # a row filter: a profile measures every row
        assert world.get(user, "/api/v1/products/sales.orders/profile").status_code == 403
        assert world.get(user, "/api/v1/products/sales.orders/profile", record="true").status_code == 403
    assert world.get("carol", "/api/v1/products/sales.orders/profile").status_code == 403
    mona = world.get("mona", "/api/v1/products/sales.orders/profile", record="true")
    assert mona.status_code == 200, mona.text
    names = {c["name"] for c in mona.json()["columns"]}
    assert names and not names & {"id", "amount", "ssn"} and "999.0" not in mona.text
    for cols_asked in ("amount", "id,region", "AMOUNT"):
        r = world.get("mona", "/api/v1/products/sales.orders/profile", columns=cols_asked)
        assert r.status_code == 403 and "999.0" not in r.text
    assert world.get("etl-bot", "/api/v1/products/sales.orders/profile", columns="amount").json()[
        "columns"][0]["max"] == HIDDEN_AMOUNT


# == alerts ======================================================================================
def _alert_values(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a["value"], a["expected"], a["score"])


def test_alert_values_only_for_principals_that_could_query_them(world: World) -> None:
    admin = {a["id"]: a for a in world.get("admin", "/api/v1/alerts").json()["items"]}
    assert admin[world.alerts["salary"]]["value"] == HIDDEN_SALARY
    assert admin[world.alerts["custom"]]["value"] == HIDDEN_AMOUNT
    bot = {a["id"]: a for a in world.get("etl-bot", "/api/v1/alerts").json()["items"]}
    assert world.alerts["salary"] not in bot
    assert bot[world.alerts["amount"]]["value"] == bot[world.alerts["custom"]]["value"] == HIDDEN_AMOUNT
    withheld = {
        "alice": {"amount", "custom", "rows", "email"},
        "fred": {"amount", "custom", "rows", "email"},
        "carol": {"amount", "custom", "rows", "email"},
        "mona": {"amount", "custom"},
    }
    for user, names in withheld.items():
        r = world.get(user, "/api/v1/alerts")
        assert r.status_code == 200, r.text
        items = {a["id"]: a for a in r.json()["items"]}
        assert world.alerts["salary"] not in items and "salar" not in r.text and "123456" not in r.text
        for name in names:
            a = items[world.alerts[name]]
            assert _alert_values(a) == (None, None, None), (user, name, a)
            assert "999" not in a["message"]
            one = world.get(user, f"/api/v1/alerts/{world.alerts[name]}").json()
            assert _alert_values(one) == (None, None, None), (user, name)
        for name in {"amount", "custom", "rows", "email"} - names:
            assert items[world.alerts[name]]["value"] is not None, (user, name)
    assert world.get("mallory", "/api/v1/alerts").json()["items"] == []


def test_alerts_filtered_by_a_hidden_product_look_missing(world: World) -> None:
    hidden = world.get("alice", "/api/v1/alerts", product="hr.salaries")
    missing = world.get("alice", "/api/v1/alerts", product="hr.nothing")
    _same_problem(hidden, missing, "hr.salaries", "hr.nothing")


@pytest.mark.parametrize("user", ["alice", "mona", "fred", "carol", "mallory", "etl-bot"])
def test_guessing_a_hidden_alert_id_is_a_missing_alert(world: World, user: str) -> None:
    hid, nope = world.alerts["salary"], 987_654_321
    for suffix, method in (("", "get"), ("/ack", "post"), ("/resolve", "post")):
        hidden = getattr(world, method)(user, f"/api/v1/alerts/{hid}{suffix}")
        missing = getattr(world, method)(user, f"/api/v1/alerts/{nope}{suffix}")
        _same_problem(hidden, missing, str(hid), str(nope))
    assert world.mesh.alerts.get(hid).status == "open"


def test_ack_and_resolve_need_write(world: World, capsys: Any) -> None:
    aid = world.alerts["email"]
    for user in ("alice", "mona", "fred", "carol"):
        for action in ("ack", "resolve"):
            r = world.post(user, f"/api/v1/alerts/{aid}/{action}", {"note": "mine"})
            assert r.status_code == 403, (user, r.text)
    code, _, _ = cli(capsys, "-w", world.root, "--as", "carol", "alerts", "ack", aid)
    assert code == 2
    assert world.mesh.alerts.get(aid).status == "open"
    acked = world.post("etl-bot", f"/api/v1/alerts/{aid}/ack", {"note": "on it"})
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "etl-bot"


def test_cli_alerts_as_restricted_principals(world: World, capsys: Any) -> None:
    code, out, err = cli(capsys, "-w", world.root, "--as", "mona", "alerts", "list", "--json")
    assert code == 0, err
    assert "123456.0" not in out and "999.0" not in out
    code, out, err = cli(capsys, "-w", world.root, "--as", "mona", "alerts", "show", world.alerts["custom"], "--json")
    assert code == 0 and "999" not in _values(out)
    code, out, _ = cli(capsys, "-w", world.root, "alerts", "show", world.alerts["custom"], "--json")
    assert code == 0 and "999" in out


# == contracts, violations, schema versions =======================================================
def test_contracts_of_hidden_products_do_not_exist(world: World) -> None:
    ids = [c["id"] for c in world.get("alice", "/api/v1/contracts").json()["items"]]
    assert ids == ["ctr-pay-orders"]
    assert {c["id"] for c in world.get("admin", "/api/v1/contracts").json()["items"]} >= {
        "ctr-pay-hidden", "ctr-pay-orders", "zz-only-hidden"}
    for user in ("alice", "carol", "mallory", "etl-bot"):
        for guess in ("ctr-pay-hidden", "zz-only", "zz-only-hidden"):
            _same_problem(world.get(user, f"/api/v1/contracts/{guess}"),
                          world.get(user, "/api/v1/contracts/nope-nope"), guess, "nope-nope")
        hidden = world.get(user, "/api/v1/contracts", product="hr.salaries")
        _same_problem(hidden, world.get(user, "/api/v1/contracts", product="hr.nothing"), "hr.salaries", "hr.nothing")
    # a prefix ambiguous only because of the hidden contract is not ambiguous for alice
    mine = world.get("alice", "/api/v1/contracts/ctr-pay")
    assert mine.status_code == 200 and mine.json()["id"] == "ctr-pay-orders", mine.text
    assert world.get("admin", "/api/v1/contracts/ctr-pay").status_code == 404  # ambiguous for admin
    assert world.get("admin", "/api/v1/contracts/zz-only").json()["id"] == "zz-only-hidden"


def test_contract_violations_keep_values_to_unrestricted_readers(world: World) -> None:
    contracts = world.mesh.contracts
    admin = contracts.violations()
    assert any(v["contract_id"] == "ctr-pay-hidden" for v in admin)
    assert any(v["actual"] is not None for v in admin if v["contract_id"] == "ctr-pay-orders")
    assert any(v["actual"] is not None for v in contracts.violations(user="etl-bot"))
    for user in ("alice", "carol", "fred"):
        seen = contracts.violations(user=user)
        assert seen and all(v["contract_id"] == "ctr-pay-orders" and v["actual"] is None for v in seen), user
    from meshfabric.errors import NotFound

    for user in ("alice", "carol", "mallory"):
        with pytest.raises(NotFound) as hidden:
            contracts.violations("ctr-pay-hidden", user=user)
        with pytest.raises(NotFound) as missing:
            contracts.violations("nope-nope", user=user)
        assert str(hidden.value).replace("ctr-pay-hidden", "X") == str(missing.value).replace("nope-nope", "X")
    assert contracts.violations(user="mallory") == []


def test_cli_contracts_as_restricted_principals(world: World, capsys: Any) -> None:
    code, out, err = cli(capsys, "-w", world.root, "--as", "alice", "contract", "list", "--json")
    assert code == 0, err
    assert "ctr-pay-orders" in out and "ctr-pay-hidden" not in out and "salar" not in out


@pytest.mark.parametrize("user", ["alice", "carol", "mallory", "etl-bot"])
def test_schema_versions_of_hidden_products(world: World, user: str) -> None:
    for suffix in ("/schemas", "/schemas/1", "", "/schemas/99"):
        _same_problem(world.get(user, f"/api/v1/products/hr.salaries{suffix}"),
                      world.get(user, f"/api/v1/products/hr.nothing{suffix}"), "hr.salaries", "hr.nothing")
    assert world.get("admin", "/api/v1/products/hr.salaries/schemas").json()["items"]
    assert world.get(user, "/api/v1/products/sales.orders/schemas").status_code == (
        404 if user == "mallory" else 200)


# == lineage ======================================================================================
WALKS = ["upstream", "downstream", "impact"] + [f"export:{f}" for f in ("json", "openlineage", "dot", "mermaid")]


def _walk(world: World, user: str, walk: str, node: str, **params: Any) -> Any:
    if walk.startswith("export:"):
        return world.get(user, "/api/v1/lineage/export", node=node, format=walk.split(":")[1], **params)
    return world.get(user, f"/api/v1/lineage/{walk}", node=node, **params)


@pytest.mark.parametrize("walk", WALKS)
def test_lineage_walks_leave_hidden_products_out(world: World, walk: str) -> None:
    for columns in ("false", "true"):
        params = {} if walk.startswith(("impact", "export")) else {"columns": columns}
        admin = _walk(world, "admin", walk, "sales.orders", **params)
        assert admin.status_code == 200, admin.text
        assert ("hr.salaries" in admin.text) == (walk != "upstream"), admin.text
        for user in ("alice", "carol", "fred", "etl-bot"):
            r = _walk(world, user, walk, "sales.orders", **params)
            assert r.status_code == 200, r.text
            _no_salary(r.text)
            # a product node's quality score is measured over all its rows and columns
            assert ("quality_score" in r.text) == ("quality_score" in admin.text and user == "etl-bot"), user
            if walk in ("downstream", "impact") and user == "alice":
                assert "crm.customers" in r.text  # beyond the hidden product, still reachable
            if walk in ("downstream", "impact") and user in ("alice", "fred"):
                assert "sales.regions" in r.text


@pytest.mark.parametrize("walk", WALKS)
@pytest.mark.parametrize("node,missing", [
    ("hr.salaries", "hr.nothing"), ("product:hr.salaries", "product:hr.nothing"),
    ("hr.salaries.salary", "hr.nothing.salary"), ("column:hr.salaries.salary", "column:hr.nothing.salary"),
])
def test_lineage_rooted_at_a_hidden_node_is_a_missing_node(world: World, walk: str, node: str, missing: str) -> None:
    for user in ("alice", "mallory"):
        _same_problem(_walk(world, user, walk, node), _walk(world, user, walk, missing), node, missing)
    assert _walk(world, "admin", walk, node).status_code == 200


def test_marquez_graph_and_column_lineage(world: World) -> None:
    ns = "dataset:meshfabric:"
    for path, node, missing in (
        ("/api/v1/lineage", f"{ns}hr.salaries", f"{ns}hr.nothing"),
        ("/api/v1/column-lineage", f"{ns}hr.salaries", f"{ns}hr.nothing"),
        ("/api/v1/column-lineage", "datasetField:meshfabric:hr.salaries:salary",
         "datasetField:meshfabric:hr.nothing:salary"),
    ):
        assert world.get("admin", path, nodeId=node).status_code == 200
        for user in ("alice", "mallory"):
            _same_problem(world.get(user, path, nodeId=node), world.get(user, path, nodeId=missing), node, missing)
    for path, params in (("/api/v1/lineage", {}), ("/api/v1/column-lineage", {"withDownstream": "true"})):
        admin = world.get("admin", path, nodeId=f"{ns}sales.orders", **params)
        assert admin.status_code == 200 and "hr.salaries" in admin.text
        for user in ("alice", "carol", "etl-bot"):
            r = world.get(user, path, nodeId=f"{ns}sales.orders", **params)
            assert r.status_code == 200, r.text
            _no_salary(r.text)
    job = world.get("alice", "/api/v1/lineage", nodeId=f"job:etl:job-{world.run_ids['hidden'][:8]}")
    if job.status_code == 200:
        _no_salary(job.text)


def test_raw_openlineage_events(world: World) -> None:
    admin = world.get("admin", "/api/v1/lineage/events").json()
    assert {e["event"]["run"]["runId"] for e in admin["items"]} >= set(world.run_ids.values())
    for user in ("alice", "carol", "etl-bot", "mallory"):
        r = world.get(user, "/api/v1/lineage/events")
        assert r.status_code == 200
        _no_salary(r.text)
        assert world.run_ids["hidden"] not in r.text
        assert r.json()["total"] == (0 if user == "mallory" else admin["total"] - 1)
        guessed = world.get(user, "/api/v1/lineage/events", runId=world.run_ids["hidden"]).json()
        assert guessed["items"] == [] and guessed["total"] == 0
        by_name = world.get(user, "/api/v1/lineage/events", dataset="meshfabric/hr.salaries").json()
        assert by_name["items"] == [] and by_name["total"] == 0
    assert world.get("alice", "/api/v1/lineage/events", runId=world.run_ids["visible"]).json()["total"] == 1


def _physical_name(world: World, fqn: str) -> tuple[str, str]:
    from meshfabric.lineage.ol_names import physical_names

    with world.mesh.store.read() as s:
        names = physical_names(s)
    return next((k for k, v in names.items() if v == fqn), ("sqlite", "no-physical-name-for-sqlite"))


def test_openlineage_post_naming_hidden_products(world: World) -> None:
    from meshfabric.lineage.ol_names import MESH_NAMESPACE

    total = world.get("admin", "/api/v1/lineage/events").json()["total"]
    ns, name = _physical_name(world, "hr.salaries")
    mine = {"namespace": MESH_NAMESPACE, "name": "sales.orders"}
    facet = {"columnLineage": {
        "_producer": "https://example.test", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/"
        "ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
        "fields": {"amount": {"inputFields": [
            {"namespace": MESH_NAMESPACE, "name": "hr.salaries", "field": "salary"}]}}}}
    attacks = {
        "output by fqn": ([], [{"namespace": MESH_NAMESPACE, "name": "hr.salaries"}]),
        "input by fqn": ([{"namespace": MESH_NAMESPACE, "name": "hr.salaries"}], [mine]),
        "output by table": ([], [{"namespace": ns, "name": name}]),
        "input by table": ([{"namespace": ns, "name": name}], [mine]),
        "column lineage only": ([], [{**mine, "facets": facet}]),
        "column lineage by table": ([], [{**mine, "facets": {"columnLineage": {
            **facet["columnLineage"], "fields": {"amount": {"inputFields": [
                {"namespace": ns, "name": name, "field": "salary"}]}}}}}]),
    }
    if ns == "sqlite":  # a SQLite table has no OpenLineage name of its own: only the fqn names it
        attacks = {k: v for k, v in attacks.items() if "table" not in k}
    for label, (inputs, outputs) in attacks.items():
        for user in ("etl-bot", "mallory", "alice"):
            r = world.post(user, "/api/v1/lineage", _ol_event(str(uuid.uuid4()), inputs, outputs))
            if user in ("mallory", "alice"):  # no write anywhere: not a producer
                assert r.status_code == 403, (label, user, r.text)
            else:
                assert r.status_code == 404, (label, r.text)
            _no_salary(r.text.replace("'hr.salaries'", "'NAME'"))  # the name it sent, echoed like a missing one
    # the same names of a missing product: the same answer
    missing = world.post("etl-bot", "/api/v1/lineage", _ol_event(str(uuid.uuid4()), [],
                                                                 [{"namespace": MESH_NAMESPACE, "name": "hr.nothing"}]))
    assert missing.status_code == 404
    assert world.get("admin", "/api/v1/lineage/events").json()["total"] == total
    # the legitimate producer writes its own product
    ok = world.post("etl-bot", "/api/v1/lineage",
                    _ol_event(str(uuid.uuid4()), [{"namespace": "w", "name": "x"}], [mine]))
    assert ok.status_code == 201, ok.text


# == events log and search ========================================================================
def test_events_log_is_for_admins(world: World, capsys: Any) -> None:
    assert world.get("admin", "/api/v1/events").json()["items"]
    for user in ("alice", "carol", "etl-bot", "mallory"):
        r = world.get(user, "/api/v1/events")
        assert r.status_code == 403, r.text
        _no_salary(r.text)
        assert world.get(user, "/api/v1/events", domain="hr").status_code == 403
    code, out, err = cli(capsys, "-w", world.root, "--as", "alice", "events", "list", "--json")
    assert code == 2 and "123456" not in out + err


@pytest.mark.parametrize("q", ["salaries", "salary", "hr-owner", "hr", "salaris", "salry", "hr owner", ""])
def test_search_never_shows_hidden_products(world: World, q: str) -> None:
    admin = world.get("admin", "/api/v1/search", q=q, limit=100).json()
    if q:
        assert "hr.salaries" in [h["fqn"] for h in admin["items"]], admin
    for user in ("alice", "carol", "etl-bot", "mallory"):
        r = world.get(user, "/api/v1/search", q=q, limit=100)
        assert r.status_code == 200
        body = r.json()
        assert all(not h["fqn"].startswith("hr") for h in body["items"]), body
        _no_salary(json.dumps(body["items"]))
        # typo corrections come from the words of products it may discover
        assert not any("salar" in v or v == "hr" for v in body["corrections"].values()), body["corrections"]
    for filt in ({"owner": "hr-owner"}, {"domain": "hr"}, {"classification": "pii"}):
        assert all(not h["fqn"].startswith("hr") for h in world.get("alice", "/api/v1/search", q=q, **filt)
                   .json()["items"])


def test_catalog_listings(world: World, capsys: Any) -> None:
    for user in ("alice", "carol", "mallory"):
        for path in ("/api/v1/products", "/api/v1/domains"):
            r = world.get(user, path)
            assert r.status_code == 200
            _no_salary(r.text)
    assert "hr.salaries" in world.get("admin", "/api/v1/products").text
    code, out, _ = cli(capsys, "-w", world.root, "--as", "alice", "search", "salary", "--json")
    assert code in (0, 1) and "hr.salaries" not in out


# == query statistics, EXPLAIN, time limit ========================================================
def test_scan_statistics_count_only_admitted_rows(world: World, capsys: Any) -> None:
    mesh = world.mesh
    fred = mesh.query("SELECT id FROM sales.regions", user="fred")
    assert fred.arrow().column("id").to_pylist() == [1]
    for stats in (fred.scan_stats(), fred.stats.as_dict()["scans"]):
        assert [s["rows"] for s in stats] == [1], stats
    assert fred.stats.rows_moved == 1
    admin = mesh.query("SELECT id FROM sales.regions WHERE region = 'EU'")
    assert sorted(admin.arrow().column("id").to_pylist()) == [1] and admin.stats.rows_moved >= 1
    assert sum(s["rows"] for s in mesh.query("SELECT id FROM sales.regions").scan_stats()) == 4
    alice_orders = mesh.query("SELECT id FROM sales.orders", user="fred")
    assert sum(s["rows"] for s in alice_orders.scan_stats()) == 2
    code, out, err = cli(capsys, "-w", world.root, "--as", "fred", "query", "SELECT id FROM sales.regions", "--stats")
    assert code == 0, err
    assert "4 rows" not in out and " 3 rows" not in out


def test_explain_shows_no_values_and_no_hidden_products(world: World, capsys: Any) -> None:
    from meshfabric.errors import MeshfabricError

    plan = str(world.mesh.explain("SELECT * FROM sales.orders o JOIN crm.customers c ON o.id = c.id", user="alice"))
    for secret in [*acc.SECRETS, SALT, "US", "APAC"]:
        assert secret not in plan, secret
    assert "policy" in plan.lower()
    errors = []
    for product in ("hr.salaries", "hr.nothing"):
        with pytest.raises(MeshfabricError) as info:
            world.mesh.explain(f"SELECT * FROM {product}", user="alice")
        errors.append(str(info.value).replace(product, "X"))
    assert errors[0] == errors[1]
    code, out, _ = cli(capsys, "-w", world.root, "--as", "alice", "explain", "SELECT * FROM sales.orders")
    assert code == 0 and "hidden@us.com" not in out and SALT not in out


def test_rest_time_limit_frees_the_worker(world: World) -> None:
    sql = ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
           "SELECT count(*) AS c FROM t, sales.regions")
    start = time.monotonic()
    r = world.post("fred", "/api/v1/query", {"sql": sql})
    elapsed = time.monotonic() - start
    assert r.status_code in (400, 408, 422, 503, 504), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert elapsed < 30, elapsed
    start = time.monotonic()
    ok = world.post("fred", "/api/v1/query", {"sql": "SELECT count(*) AS c FROM sales.regions"})
    assert ok.status_code == 200 and ok.json()["rows"] == [[1]]
    assert time.monotonic() - start < 15
    assert world.post("admin", "/api/v1/query", {"sql": "SELECT count(*) AS c FROM sales.regions"}).json()[
        "rows"] == [[4]]
