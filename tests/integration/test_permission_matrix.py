"""The permission matrix of docs/ACCESS.md, cell by cell, through the SDK, the CLI and REST.

One workspace holds ``sales.orders`` (SQLite, two quality rules, two alert series, a contract
with a recorded violation, lineage in and out) and ``hr.salaries``, which only the workspace
admin may discover. Eight principals stand for the eight columns of the matrix:

=========  ===========================================================
mallory    no grant at all
carol      discover on sales.orders
mia        query on sales.orders, ``email`` masked (redact)
fred       query on sales.orders, row filter ``region = 'EU'``
quinn      query on sales.orders, unrestricted
wes        write on sales.orders
olga       owner of domain ``sales`` (admin on its products)
admin      the local principal and the workspace admin
=========  ===========================================================

Every operation (a row of :data:`OPS`) is run for every principal through each interface that
offers it: the SDK (``user=``), the CLI (``meshfabric -w WS --as NAME … --json`` through
:func:`meshfabric.cli.run`, the function ``main`` exits with) and REST (a TestClient over
``create_app(mesh)``, each principal signing in with its own JWT). The three must agree on the
outcome class — allowed, 404 with the text a missing thing gets, 403 — and, when allowed, on a
signature of what was returned (``sig``), which must also show exactly what the matrix says is
withheld (``expect``).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from auth_support import HS_AUTH, bearer, hs_token, secret_env
from helpers import default_store

PRINCIPALS = ("mallory", "carol", "mia", "fred", "quinn", "wes", "olga", "admin")
KIND = {"mallory": "no grant", "carol": "discover", "mia": "query+mask", "fred": "query+row filter",
        "quinn": "query", "wes": "write", "olga": "domain owner", "admin": "workspace admin"}
NOT_FOUND, DENIED = "404", "403"
REFUSED = "exit 2"  # the CLI's answer to either

MESH = """\
name: permission-matrix
sources:
  db:
    kind: sqlite
    path: data/shop.sqlite
domains:
  sales:
    owners: [olga]
  hr:
    owners: [hr-owner]
access:
  local_principal: admin
  admins: [admin]
""" + HS_AUTH

ORDERS = """\
kind: DataProduct
domain: sales
name: orders
owner: sales-team
status: published
description: orders of the shop
output:
  source: db
  table: orders
schema:
  - {name: id, type: bigint}
  - {name: region, type: string}
  - {name: amount, type: double}
  - {name: email, type: string}
quality:
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
  - {type: not_null, column: email, name: email_present}
"""

SALARIES = """\
kind: DataProduct
domain: hr
name: salaries
owner: hr-owner
status: published
output:
  source: db
  table: salaries
schema:
  - {name: id, type: bigint}
  - {name: salary, type: double}
"""

POLICY = """\
kind: AccessPolicy
name: matrix
rules:
  - to: {user: mia}
    product: sales.orders
    columns:
      email: redact
  - to: {user: fred}
    product: sales.orders
    row_filter: "region = 'EU'"
"""

ROWS = [(1, "EU", 10.0, "ann@eu.example"), (2, "EU", 20.0, "bob@eu.example"), (3, "US", 999.0, "cy@us.example"),
        (4, "US", 0.0, "dee@us.example"), (5, "APAC", 50.0, None)]
EMAILS = {r[3] for r in ROWS if r[3]}


def _event(job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": "2024-06-01T00:00:00Z", "producer": "https://example.com/matrix",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "matrix", "name": job},
            "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
            "outputs": [{"namespace": ns, "name": n} for ns, n in outputs]}


def _build(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "specs").mkdir()
    (root / "policies").mkdir()
    (root / "mesh.yaml").write_text(MESH)
    (root / "specs" / "orders.yaml").write_text(ORDERS)
    (root / "specs" / "salaries.yaml").write_text(SALARIES)
    (root / "policies" / "matrix.yaml").write_text(POLICY)
    with sqlite3.connect(root / "data" / "shop.sqlite") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, region TEXT, amount REAL, email TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?)", ROWS)
        conn.execute("CREATE TABLE salaries (id INTEGER, salary REAL)")
        conn.execute("INSERT INTO salaries VALUES (1, 123456.0)")


def _alert(mesh: Any, metric: str, column: str) -> int:
    from datetime import UTC, datetime, timedelta

    from meshfabric.quality.detectors import MADDetector
    from meshfabric.quality.monitor import MonitorConfig, Observation, record

    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    record(mesh.store, [Observation("sales.orders", metric, 1.0 if i % 2 else -1.0, column, t0 + timedelta(hours=i))
                        for i in range(10)], config=config)
    record(mesh.store, [Observation("sales.orders", metric, 40.0, column, t0 + timedelta(hours=10))], config=config)
    found = [a for a in mesh.alerts.list(product="sales.orders") if a.metric == metric]
    assert len(found) == 1, found
    return int(found[0].id)


def _populate(mesh: Any, base: Path) -> dict[str, Any]:
    """Principals, grants, lineage, a stored quality run, contracts, a violation and alerts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    mesh.apply()
    access = mesh.access
    for name in PRINCIPALS:
        access.create_principal(name)  # the local admin too: it signs in over REST like the others
    for name, permission in (("carol", "discover"), ("mia", "query"), ("fred", "query"), ("quinn", "query"),
                             ("wes", "write")):
        access.grant(name, permission, product="sales.orders", grantee_kind="user")
    mesh.lineage.ingest(_event("load_orders", [("raw", "orders")], [("meshfabric", "sales.orders")]))
    pay = _event("pay", [("meshfabric", "sales.orders")], [("meshfabric", "hr.salaries")])
    pay["outputs"][0]["facets"] = {"columnLineage": {
        "_producer": "https://example.com/matrix", "_schemaURL": "https://example.com/column-lineage",
        "fields": {"salary": {"inputFields": [
            {"namespace": "meshfabric", "name": "sales.orders", "field": "amount"}]}}}}
    mesh.lineage.ingest(pay)
    mesh.quality.run("sales.orders")
    contract = mesh.contracts.generate("sales.orders", "hr", save=True)
    mesh.contracts.generate("hr.salaries", "sales", save=True)
    mesh.contracts.test(contract.id, {"completeness": 0.01, "freshness_hours": 1e6})
    ids = {"contract": contract.id,
           "email_alert": _alert(mesh, "null_pct", "email"), "amount_alert": _alert(mesh, "mean", "amount"),
           "ack_alert": _alert(mesh, "ack_me", "amount"), "resolve_alert": _alert(mesh, "resolve_me", "amount")}
    doc = contract.to_dict()
    # every service level met exactly: a compliant test records no violation
    ids["metrics"] = {p["property"]: p["value"] for p in doc.get("slaProperties", [])
                      if isinstance(p.get("value"), int | float)}
    doc["id"] = "matrix-imported"
    (base / "import.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    empty = pa.table({"id": pa.array([], pa.int64()), "region": pa.array([], pa.string()),
                      "amount": pa.array([], pa.float64()), "email": pa.array([], pa.string())})

    pq.write_table(empty, base / "empty.parquet")
    ids["empty"] = empty
    return ids


@dataclass
class World:
    root: Path
    mesh: Any
    client: Any
    tmp: Path
    ids: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from fastapi.testclient import TestClient

    from meshfabric import Mesh
    from meshfabric.api.app import create_app

    base = tmp_path_factory.mktemp("matrix")
    root = base / "ws"
    _build(root)
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        ids = _populate(mesh, base)
        with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
            yield World(root, mesh, client, base, ids)


# -- running one cell through each interface --------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok", NOT_FOUND, DENIED
    data: Any = None  # the JSON-shaped answer when ok
    message: str = ""  # the error text otherwise
    status: str = ""  # the HTTP status of a REST refusal


def _sdk(call: Callable[[], Any]) -> Outcome:
    from meshfabric.errors import AccessDenied, NotFound, QueryError

    try:
        return Outcome("ok", _plain(call()))
    except NotFound as exc:
        return Outcome(NOT_FOUND, message=exc.message)
    except AccessDenied as exc:
        return Outcome(DENIED, message=exc.message)
    except QueryError as exc:  # SQL naming a product it may not discover: the error a missing one gets
        assert exc.message.endswith("not found"), exc.message
        return Outcome(NOT_FOUND, message=exc.message)


def _plain(value: Any) -> Any:
    """SDK answers as the JSON the CLI and REST print."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif isinstance(value, list):
        value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
    return json.loads(json.dumps(value, default=str))


def _cli(world: World, user: str, args: list[str], *, parse: str = "json") -> Outcome:
    from meshfabric.cli import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["-w", str(world.root), "--as", user, *args])
    text = " ".join(err.getvalue().split())
    if code == 0:
        body = out.getvalue()
        return Outcome("ok", json.loads(body) if parse == "json" else yaml.safe_load(body) if parse == "yaml"
                       else body)
    # both refusals exit 2 (bad input); which one it was shows in the text, compared with the SDK's
    assert code == 2, f"exit {code}: {text} {out.getvalue()[:500]}"
    return Outcome(REFUSED, message=text.removeprefix("error: ").split(" hint: ")[0])


def _rest(world: World, user: str, method: str, path: str, **kw: Any) -> Outcome:
    response = world.client.request(method, path, headers=bearer(hs_token(sub=user)), **kw)
    if response.status_code in (200, 201):
        kind = response.headers.get("content-type", "")
        return Outcome("ok", response.json() if "json" in kind else response.text)
    assert response.status_code in (400, 403, 404), response.text
    status = str(response.status_code)
    return Outcome(NOT_FOUND if status == "404" else status, message=response.json()["detail"], status=status)


def _items(data: Any) -> Any:
    return data["items"] if isinstance(data, dict) and "items" in data else data


# -- signatures: what an answer shows, reduced to what the matrix talks about -----------------
def _rule_values(run: dict[str, Any]) -> str:
    """Per rule: its verdict is always there; ``values`` or ``withheld`` for what it measured."""
    out = []
    for r in sorted(run["results"], key=lambda r: r["rule"]):
        assert r["passed"] in (True, False)
        measured = (r["observed"], r["failing_rows"], r["total_rows"], r["sample"])
        if measured == (None, None, None, []):
            out.append(f"{r['rule']}=withheld")
            # a score is 1 - failing/total of its rules: withheld with them
            assert run["score"] is None and r["dimension"] not in run["dimension_scores"], run
        else:
            assert r["total_rows"] == len(ROWS), r  # a count over every row, never over the admitted ones
            out.append(f"{r['rule']}=values")
    return " ".join(out)


def _alert_values(alert: dict[str, Any]) -> str:
    if alert["value"] is None:
        assert alert["expected"] is None and alert["score"] is None and "withheld" in alert["message"]
        return f"{alert['metric']}=withheld"
    assert alert["value"] == 40.0
    return f"{alert['metric']}=values"


def _keys(nodes: list[dict[str, Any]]) -> str:
    return " ".join(sorted({n["key"] for n in nodes if n["kind"] in ("product", "dataset")}))


def _query_rows(data: Any) -> str:
    rows = data["rows"] if isinstance(data, dict) else [list(r.values()) for r in data]
    shown = []
    for i, region, email in sorted(rows, key=lambda r: r[0]):
        shown.append(f"{i}{region}:{'raw' if email in EMAILS else 'null' if email is None else 'masked'}")
    return " ".join(shown)


def _plan(text: str) -> str:
    masked = "'***'" in text
    filtered = re.search(r"policy:\s+rows where", text) is not None
    return "mask" * masked + "+" * (masked and filtered) + "filter" * filtered or "plain"


# -- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One row: how each interface performs it (None: the interface does not offer it), the
    signature of an allowed answer, and the expected outcome per principal (PRINCIPALS order):
    NOT_FOUND, DENIED or the expected signature."""

    name: str
    sdk: Callable[[World, str], Any]
    cli: Callable[[World, str], Outcome] | None
    rest: Callable[[World, str], Outcome] | None
    sig: Callable[[Any], str]
    expect: tuple[str, ...]


def _cli_json(*args: Any) -> Callable[[World, str], Outcome]:
    return lambda w, u: _cli(w, u, [a(w) if callable(a) else a for a in args] + ["--json"])


def _get(path: str, **params: Any) -> Callable[[World, str], Outcome]:
    return lambda w, u: _rest(w, u, "GET", path.format(**w.ids), params=params)


def _cid(key: str) -> Callable[[World], str]:
    return lambda w: str(w.ids[key])


def _ingest_sdk(w: World, u: str) -> Any:
    return w.mesh.lineage.ingest(_event("load_orders", [("raw", "orders")], [("meshfabric", "sales.orders")]), user=u)


def _ingest_cli(w: World, u: str) -> Outcome:
    path = w.tmp / f"event-{u}.json"
    path.write_text(json.dumps(_event("load_orders", [("raw", "orders")], [("meshfabric", "sales.orders")])))
    out = _cli(w, u, ["lineage", "ingest", str(path), "--json"])
    return Outcome("ok", out.data[0]) if out.kind == "ok" else out


def _ingest_rest(w: World, u: str) -> Outcome:
    return _rest(w, u, "POST", "/api/v1/lineage",
                 json=_event("load_orders", [("raw", "orders")], [("meshfabric", "sales.orders")]))


def _run_all(d: Any) -> str:
    """Every stored run of a history is shaped alike."""
    return " | ".join(sorted({_rule_values(r) for r in _items(d)}))


def _alerts(d: Any) -> str:
    return " ".join(sorted(_alert_values(a) for a in _items(d) if a["metric"] in ALERT_METRICS))


def _profile(d: Any) -> str:
    assert d["rows"] == len(ROWS) and all(c["count"] is not None for c in d["columns"])
    return " ".join(sorted(c["name"] for c in d["columns"]))


def _violations(d: Any) -> str:
    return " ".join(f"{v['metric']}={'withheld' if v['actual'] is None else 'values'}" for v in d)


def _graph_ids(d: Any) -> str:
    return " ".join(sorted(n["id"] for n in d["graph"] if n["type"] != "JOB"))


ALERT_METRICS = {"null_pct", "mean", "ack_me", "resolve_me"}
FULL_RUN = "email_present=values small_amounts=values"
MASKED_RUN = "email_present=withheld small_amounts=values"
NO_RUN = "email_present=withheld small_amounts=withheld"
ALL_PRODUCTS = "hr.salaries sales.orders"
FIELDS = " ".join(f"datasetField:meshfabric:sales.orders:{c}" for c in ("amount", "email", "id", "region"))
FULL_QUERY = "1EU:raw 2EU:raw 3US:raw 4US:raw 5APAC:null"
SQL = "SELECT id, region, email FROM sales.orders"


def _row(first: str, discover: str, masked: str, filtered: str, query: str, write: str, owner: str,
         admin: str) -> tuple[str, ...]:
    return (first, discover, masked, filtered, query, write, owner, admin)


def _seven(value: str) -> tuple[str, ...]:
    return (NOT_FOUND, *[value] * 7)


def _writers(value: str, below: str = DENIED) -> tuple[str, ...]:
    return (NOT_FOUND, below, below, below, below, value, value, value)


OPS: list[Op] = [
    Op("product show",
       lambda w, u: w.mesh.product("sales.orders", user=u),
       _cli_json("products", "show", "sales.orders"),
       _get("/api/v1/products/sales.orders"),
       lambda d: d["fqn"], _seven("sales.orders")),
    Op("products list",
       lambda w, u: w.mesh.products(user=u),
       _cli_json("products", "list"),
       _get("/api/v1/products"),
       lambda d: " ".join(sorted(p["fqn"] for p in _items(d))),
       ("", *["sales.orders"] * 6, ALL_PRODUCTS)),
    Op("domains list",
       lambda w, u: w.mesh.domains(user=u),
       _cli_json("domains"),
       _get("/api/v1/domains"),
       lambda d: " ".join(sorted(f"{x['name']}:{x['products']}" for x in _items(d))),
       ("", *["sales:1"] * 6, "hr:1 sales:1")),
    Op("schema history",
       lambda w, u: w.mesh.schemas.history("sales.orders", user=u),
       _cli_json("schema", "history", "sales.orders"),
       _get("/api/v1/products/sales.orders/schemas"),
       lambda d: " ".join(str(v["version"]) for v in _items(d)), _seven("1")),
    Op("schema version",
       lambda w, u: w.mesh.schemas.get("sales.orders", 1, user=u),
       lambda w, u: _cli(w, u, ["schema", "show", "sales.orders", "--version", "1"]),  # always JSON
       _get("/api/v1/products/sales.orders/schemas/1"),
       lambda d: f"{d['product']}@{d['version']}", _seven("sales.orders@1")),
    Op("contract list",
       lambda w, u: w.mesh.contracts.list(user=u),
       _cli_json("contract", "list"),
       _get("/api/v1/contracts"),
       lambda d: " ".join(sorted({c["product"] for c in _items(d)})),
       ("", *["sales.orders"] * 6, ALL_PRODUCTS)),
    Op("contract show",
       lambda w, u: w.mesh.contracts.get(w.ids["contract"], user=u),
       _cli_json("contract", "show", _cid("contract")),
       _get("/api/v1/contracts/{contract}"),
       lambda d: d["name"], _seven("sales.orders for hr")),
    Op("contract generate --save",
       lambda w, u: w.mesh.contracts.generate("sales.orders", "hr", save=True, user=u),
       lambda w, u: _cli(w, u, ["contract", "generate", "sales.orders", "--consumer", "hr", "--save"], parse="yaml"),
       None,
       lambda d: d["name"], _writers("sales.orders for hr")),
    Op("contract import",
       lambda w, u: w.mesh.contracts.import_(w.tmp / "import.yaml", user=u),
       lambda w, u: _cli(w, u, ["contract", "import", str(w.tmp / "import.yaml"), "--json"]),
       None,
       lambda d: d["id"], _writers("matrix-imported")),
    Op("contract test",
       lambda w, u: {"compliant": w.mesh.contracts.test(w.ids["contract"], w.ids["metrics"], user=u).compliant},
       lambda w, u: _cli(w, u, ["contract", "test", str(w.ids["contract"]), "--json",
                                *[f"--metric={k}={v}" for k, v in w.ids["metrics"].items()]]),
       None,
       lambda d: f"compliant={d['compliant']}", _writers("compliant=True")),
    Op("contract violations",
       lambda w, u: w.mesh.contracts.violations(w.ids["contract"], user=u),
       _cli_json("contract", "violations", _cid("contract")),
       None,
       _violations,
       _row(NOT_FOUND, "completeness=withheld", "completeness=withheld", "completeness=withheld",
            *["completeness=values"] * 4)),
    Op("quality rules",
       lambda w, u: [r.model_dump(mode="json", exclude_none=True, by_alias=True)
                     for r in w.mesh.quality.rules("sales.orders", user=u)],
       _cli_json("quality", "rules", "sales.orders"),
       _get("/api/v1/products/sales.orders/quality/rules"),
       lambda d: " ".join(sorted(r["name"] for r in _items(d))), _seven("email_present small_amounts")),
    Op("quality run",
       lambda w, u: w.mesh.quality.run("sales.orders", user=u),
       lambda w, u: _cli_quality_run(w, u),
       lambda w, u: _rest(w, u, "POST", "/api/v1/products/sales.orders/quality/runs"),
       _rule_values, _row(NOT_FOUND, DENIED, MASKED_RUN, NO_RUN, *[FULL_RUN] * 4)),
    Op("quality history",
       lambda w, u: w.mesh.quality.history("sales.orders", user=u),
       _cli_json("quality", "history", "sales.orders"),
       _get("/api/v1/products/sales.orders/quality/runs"),
       _run_all, _row(NOT_FOUND, NO_RUN, MASKED_RUN, NO_RUN, *[FULL_RUN] * 4)),
    Op("profile",
       lambda w, u: w.mesh.profile("sales.orders", user=u),
       _cli_json("profile", "sales.orders"),
       _get("/api/v1/products/sales.orders/profile"),
       _profile, _row(NOT_FOUND, DENIED, "amount id region", DENIED, *["amount email id region"] * 4)),
    Op("alerts list",
       lambda w, u: w.mesh.alerts.list(user=u),
       _cli_json("alerts", "list"),
       _get("/api/v1/alerts"),
       _alerts,
       _row("", "ack_me=withheld mean=withheld null_pct=withheld resolve_me=withheld",
            "ack_me=values mean=values null_pct=withheld resolve_me=values",
            "ack_me=withheld mean=withheld null_pct=withheld resolve_me=withheld",
            *["ack_me=values mean=values null_pct=values resolve_me=values"] * 4)),
    Op("alerts show",
       lambda w, u: w.mesh.alerts.get(w.ids["email_alert"], user=u),
       _cli_json("alerts", "show", _cid("email_alert")),
       _get("/api/v1/alerts/{email_alert}"),
       _alert_values, _row(NOT_FOUND, *["null_pct=withheld"] * 3, *["null_pct=values"] * 4)),
    Op("alerts ack",
       lambda w, u: w.mesh.alerts.ack(w.ids["ack_alert"], user=u),
       _cli_json("alerts", "ack", _cid("ack_alert")),
       lambda w, u: _rest(w, u, "POST", f"/api/v1/alerts/{w.ids['ack_alert']}/ack"),
       lambda d: f"{d['status']} {_alert_values(d)}", _writers("acknowledged ack_me=values")),
    Op("alerts resolve",
       lambda w, u: w.mesh.alerts.resolve(w.ids["resolve_alert"], user=u),
       _cli_json("alerts", "resolve", _cid("resolve_alert")),
       lambda w, u: _rest(w, u, "POST", f"/api/v1/alerts/{w.ids['resolve_alert']}/resolve"),
       lambda d: f"{d['status']} {_alert_values(d)}", _writers("resolved resolve_me=values")),
    Op("lineage upstream",
       lambda w, u: w.mesh.lineage.upstream("sales.orders", user=u),
       _cli_json("lineage", "upstream", "sales.orders"),
       _get("/api/v1/lineage/upstream", node="sales.orders"),
       lambda d: _keys(d["nodes"]), _seven("raw/orders")),
    Op("lineage downstream",
       lambda w, u: w.mesh.lineage.downstream("sales.orders", user=u),
       _cli_json("lineage", "downstream", "sales.orders"),
       _get("/api/v1/lineage/downstream", node="sales.orders"),
       lambda d: _keys(d["nodes"]), (NOT_FOUND, *[""] * 6, "hr.salaries")),
    Op("lineage impact",
       lambda w, u: w.mesh.lineage.impact("sales.orders", user=u),
       _cli_json("lineage", "impact", "sales.orders"),
       _get("/api/v1/lineage/impact", node="sales.orders"),
       lambda d: " ".join(sorted(p["product"] for p in d["products"])) + f" counted={'hidden_products' in d}",
       (NOT_FOUND, *["sales.orders counted=False"] * 6, "hr.salaries sales.orders counted=False")),
    Op("lineage export",
       lambda w, u: json.loads(w.mesh.lineage.export("sales.orders", user=u)),
       lambda w, u: _cli(w, u, ["lineage", "export", "sales.orders", "--format", "json"]),
       _get("/api/v1/lineage/export", node="sales.orders"),
       lambda d: _keys(d["nodes"]),
       (NOT_FOUND, *["raw/orders sales.orders"] * 6, "hr.salaries raw/orders sales.orders")),
    Op("lineage graph (Marquez)",
       lambda w, u: w.mesh.lineage.marquez("dataset:meshfabric:sales.orders", user=u),
       _cli_json("lineage", "graph", "dataset:meshfabric:sales.orders"),
       _get("/api/v1/lineage", nodeId="dataset:meshfabric:sales.orders"),
       _graph_ids,
       (NOT_FOUND, *["dataset:meshfabric:sales.orders dataset:raw:orders"] * 6,
        "dataset:meshfabric:hr.salaries dataset:meshfabric:sales.orders dataset:raw:orders")),
    Op("column lineage",
       lambda w, u: w.mesh.lineage.column_lineage("dataset:meshfabric:sales.orders", with_downstream=True, user=u),
       _cli_json("lineage", "column-lineage", "dataset:meshfabric:sales.orders", "--downstream"),
       _get("/api/v1/column-lineage", nodeId="dataset:meshfabric:sales.orders", withDownstream="true"),
       _graph_ids, (NOT_FOUND, *[FIELDS] * 6, "datasetField:meshfabric:hr.salaries:salary " + FIELDS)),
    Op("lineage events",
       lambda w, u: {"items": w.mesh.lineage.events(user=u)[0]},
       _cli_json("lineage", "events"),
       _get("/api/v1/lineage/events"),
       lambda d: " ".join(sorted({i["job"]["name"] for i in _items(d)})),
       ("", *["load_orders"] * 6, "load_orders pay")),
    Op("lineage ingest",
       _ingest_sdk, _ingest_cli, _ingest_rest,
       lambda d: "duplicate" if d["duplicate"] else "stored", (*[DENIED] * 5, *["stored"] * 3)),
    Op("events list",
       lambda w, u: w.mesh.events.list(limit=5, user=u),
       _cli_json("events", "list", "--limit", "5"),
       _get("/api/v1/events", limit=5),
       lambda d: f"{len(_items(d))} events", (*[DENIED] * 7, "5 events")),
    Op("query",
       lambda w, u: w.mesh.query(SQL, user=u).arrow().to_pylist(),
       lambda w, u: _cli(w, u, ["query", SQL, "--format", "json"]),
       lambda w, u: _rest(w, u, "POST", "/api/v1/query", json={"sql": SQL}),
       _query_rows,
       _row(NOT_FOUND, DENIED, "1EU:masked 2EU:masked 3US:masked 4US:masked 5APAC:masked", "1EU:raw 2EU:raw",
            *[FULL_QUERY] * 4)),
    Op("explain",
       lambda w, u: {"plan": str(w.mesh.explain(SQL, user=u))},
       _cli_json("explain", SQL),
       None,
       lambda d: _plan(d["plan"]), _row(NOT_FOUND, DENIED, "mask", "filter", *["plain"] * 4)),
    Op("write",
       lambda w, u: {"rows": w.mesh.write("sales.orders", w.ids["empty"], user=u)},
       lambda w, u: _cli(w, u, ["products", "write", "sales.orders", str(w.tmp / "empty.parquet")], parse="text"),
       None,
       lambda d: "written", _writers("written")),
    Op("search",
       lambda w, u: w.mesh.search("orders", user=u),
       _cli_json("search", "orders"),
       _get("/api/v1/search", q="orders"),
       lambda d: " ".join(sorted(h["fqn"] for h in _items(d) if h["kind"] == "product")),
       ("", *["sales.orders"] * 7)),
]


def _cli_quality_run(w: World, u: str) -> Outcome:
    """``quality run`` exits 1 when a rule of severity error fails — as both rules here do."""
    from meshfabric.cli import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["-w", str(w.root), "--as", u, "quality", "run", "sales.orders", "--json"])
    if code == 1:
        data = json.loads(out.getvalue())
        return Outcome("ok", data[0] if isinstance(data, list) else data)
    return _cli(w, u, ["quality", "run", "sales.orders", "--json"])


#: what a principal may never find in any answer: products it may not discover, and raw values
#: it may not read
NEVER: dict[str, tuple[str, ...]] = {
    "mallory": ("sales.orders", "hr.salaries", *EMAILS),
    "carol": ("hr.salaries", *EMAILS),
    "mia": ("hr.salaries", *EMAILS),
    "fred": ("hr.salaries", "cy@us.example", "dee@us.example"),
    "quinn": ("hr.salaries",), "wes": ("hr.salaries",), "olga": ("hr.salaries",), "admin": (),
}

CELLS = [pytest.param(op, i, id=f"{op.name}-{KIND[u]}") for op in OPS for i, u in enumerate(PRINCIPALS)]


@pytest.mark.parametrize(("op", "column"), CELLS)
def test_cell(world: World, op: Op, column: int) -> None:
    user, expected = PRINCIPALS[column], op.expect[column]
    with secret_env():
        answers = {"sdk": _sdk(lambda: op.sdk(world, user))}
        if op.cli is not None:
            answers["cli"] = op.cli(world, user)
        if op.rest is not None:
            answers["rest"] = op.rest(world, user)
    sdk = answers["sdk"]
    for interface, got in answers.items():
        where = f"{op.name} as {user} ({KIND[user]}) via {interface}"
        if expected in (NOT_FOUND, DENIED):
            want = REFUSED if interface == "cli" else expected
            assert got.kind == want, f"{where}: expected {want}, got {got.kind} {got.data!r:.300}"
            # one text for one refusal, whichever interface asked
            assert got.message == sdk.message, f"{where}: {got.message!r} != {sdk.message!r}"
            if interface == "rest":
                status = expected
                assert got.status == status, f"{where}: HTTP {got.status}, expected {status}"
            continue
        assert got.kind == "ok", f"{where}: expected allowed, got {got.kind}: {got.message}"
        assert op.sig(got.data) == expected, f"{where}: {op.sig(got.data)!r} != {expected!r}"
        text = json.dumps(got.data, default=str)
        for secret in NEVER[user]:
            assert secret not in text, f"{where}: the answer holds {secret!r}"
