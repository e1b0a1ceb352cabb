"""Discovery end to end: scan sources (SQLite, files, PostgreSQL, MariaDB), classify from values,
keep samples in the process, remember scans as events, flag unclassified PII, draft specs that
apply and reach search, suggest masks, and refuse what a principal may not do."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import cli, my_exec, pg_database, pg_exec, write

FIRST = ["Anna", "John", "Maria", "Lukas", "Sophie", "James", "Emma", "Pierre", "Giulia", "Lars", "Olivia", "Noah"]
LAST = ["Schmidt", "Smith", "Garcia", "Müller", "Dubois", "Rossi", "Jansen", "Nilsson", "Brown", "Kowalski"]

MESH = """\
name: disc
sources:
  app_db:
    kind: sqlite
    path: data/app.sqlite
  lake:
    kind: files
    path: data/lake
domains:
  crm:
    description: Customers and their contacts
    owners: [crm-team@example.com]
  sales:
    description: Orders and revenue
    owners: [sales-team@example.com]
access:
  local_principal: admin
  admins: [admin]
"""

CUSTOMERS = """\
kind: DataProduct
domain: crm
name: customers
owner: crm-team@example.com
description: One row per customer
status: published
output:
  source: app_db
  table: customers
schema:
  - name: id
    type: bigint
  - name: full_name
    type: string
    classification: [pii]
  - name: mail
    type: string
  - name: signup
    type: string
"""


def _email(i: int) -> str:
    return f"{FIRST[i % len(FIRST)].lower()}.{LAST[i % len(LAST)].lower()}{i}@example.com"


def _name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"


def _workspace(root: Path) -> Path:
    write(root / "mesh.yaml", MESH)
    write(root / "products" / "customers.yaml", CUSTOMERS)
    (root / "data" / "lake").mkdir(parents=True)
    con = sqlite3.connect(root / "data" / "app.sqlite")
    con.execute("CREATE TABLE customers (id INTEGER, full_name TEXT, mail TEXT, signup TEXT)")
    con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                    [(i, _name(i), _email(i), f"2024-0{1 + i % 9}-1{i % 9}") for i in range(200)])
    con.execute("CREATE TABLE t_0042 (c1 INTEGER, c7 TEXT, email_sent INTEGER)")
    con.executemany("INSERT INTO t_0042 VALUES (?, ?, ?)", [(i, _email(i + 1000), i % 2) for i in range(150)])
    con.execute("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, amount REAL, status TEXT)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                    [(i, i % 200, 10.5 + i, ["open", "paid", "shipped"][i % 3]) for i in range(300)])
    con.commit()
    con.close()
    lake = root / "data" / "lake"
    (lake / "landing").mkdir()
    pq.write_table(pa.table({"x": [1, 2], "y": ["a", "b"]}), lake / "landing" / "alpha.parquet")
    pq.write_table(pa.table({"p": [1.0], "q": ["z"], "r": [True]}), lake / "landing" / "beta.parquet")
    for day in ("2026-01-01", "2026-01-02"):
        (lake / "events" / f"dt={day}").mkdir(parents=True)
        pq.write_table(pa.table({"ip": ["10.0.0.1", "192.168.1.20"], "n": [1, 2]}),
                       lake / "events" / f"dt={day}" / "part-0.parquet")
    (lake / "shipments").mkdir()
    for k in range(2):
        pq.write_table(pa.table({"shipment_id": [k], "carrier": ["DHL"]}), lake / "shipments" / f"s{k}.parquet")
    return root


@pytest.fixture
def ws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = _workspace(tmp_path / "ws")
    code, _, err = cli(capsys, "-w", root, "apply")
    assert code == 0, err
    return root


def _discover(capsys: Any, ws: Path, *args: Any) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "-w", ws, "discover", *args, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in items}


def _column(dataset: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in dataset["columns"] if c["name"] == name)


def _events(capsys: Any, ws: Path, kind: str) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "-w", ws, "events", "list", "--type", kind, "--json", "--limit", "500")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_files_source_lists_datasets_by_schema(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "sources", "tables", "lake", "--json")
    assert code == 0, err
    names = {t["name"] for t in json.loads(out)}
    # two files of different schemas in one folder are two datasets; a partitioned folder is one;
    # files sharing a schema are one glob
    assert {"landing/alpha.parquet", "landing/beta.parquet", "events/**/*.parquet", "shipments/*.parquet"} == names


def test_discover_classifies_from_values_and_keeps_the_shape(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = _by_name(_discover(capsys, ws, "app_db", "lake"))
    assert {"customers", "t_0042", "orders", "landing/alpha.parquet", "events/**/*.parquet"} <= set(found)
    for d in found.values():  # the JSON shape is the interface
        assert {"name", "columns", "cluster", "suggested_domain", "description"} <= set(d)
        for c in d["columns"]:
            assert {"name", "semantic_type", "classifications", "confidence", "evidence"} <= set(c)
            assert 0.0 <= c["confidence"] <= 1.0
    opaque = _column(found["t_0042"], "c7")  # an opaque name holding emails is an email
    assert opaque["semantic_type"] == "email" and "pii" in opaque["classifications"]
    sent = _column(found["t_0042"], "email_sent")  # a PII-sounding name holding flags is not
    assert sent["semantic_type"] != "email" and "pii" not in sent["classifications"]
    assert _column(found["customers"], "mail")["semantic_type"] == "email"
    assert _column(found["customers"], "full_name")["semantic_type"] == "person_name"
    assert _column(found["events/**/*.parquet"], "ip")["semantic_type"] == "ip_address"
    assert found["customers"]["product"] == "crm.customers"
    assert found["orders"]["product"] is None
    assert found["customers"]["suggested_domain"] == "crm"


def test_no_sampled_value_leaves_the_process(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "discover", "app_db", "--json")
    assert code == 0, err
    code2, text, _ = cli(capsys, "-w", ws, "discover", "app_db")
    assert code2 == 0
    _code3, events, _ = cli(capsys, "-w", ws, "events", "list", "--json", "--limit", "1000")
    for i in (0, 1, 5, 1003):
        for blob in (out, text, events):
            assert _email(i) not in blob and _name(i) not in blob
    assert "samples" not in out


def test_show_samples_is_for_admins_only(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = _by_name(_discover(capsys, ws, "app_db", "--tables", "t_*", "--show-samples"))
    assert any("@example.com" in str(v) for v in found["t_0042"]["samples"]["c7"])
    assert cli(capsys, "-w", ws, "users", "add", "dora")[0] == 0
    assert cli(capsys, "-w", ws, "grants", "add", "discover", "--source", "app_db", "--user", "dora")[0] == 0
    code, out, err = cli(capsys, "-w", ws, "--as", "dora", "discover", "app_db", "--show-samples")
    assert code != 0 and "admin" in err and "@example.com" not in out


def test_discover_needs_a_source_grant(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "-w", ws, "users", "add", "eve")[0] == 0
    code, out, err = cli(capsys, "-w", ws, "--as", "eve", "discover", "app_db")
    assert code != 0 and "may not discover source 'app_db'" in err and "grants add discover --source app_db" in err
    assert cli(capsys, "-w", ws, "grants", "add", "discover", "--source", "app_db", "--user", "eve")[0] == 0
    code, out, err = cli(capsys, "-w", ws, "--as", "eve", "discover", "app_db", "--json")
    assert code == 0, err
    found = _by_name(json.loads(out))
    # eve may not discover crm.customers: the dataset is reported, the product is not named
    assert found["customers"]["product"] is None
    code, _, err = cli(capsys, "-w", ws, "--as", "eve", "discover", "lake")
    assert code != 0 and "source 'lake'" in err
    code, _, err = cli(capsys, "-w", ws, "grants", "add", "query", "--source", "app_db", "--user", "eve")
    assert code == 2 and "a source grant is 'discover'" in err


def test_rescans_record_what_changed(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _by_name(_discover(capsys, ws, "app_db"))
    assert {d["change"] for d in first.values()} == {"new"}
    appeared = _events(capsys, ws, "discovery.dataset_appeared")
    assert {e["data"]["dataset"] for e in appeared} == {"customers", "t_0042", "orders"}
    flagged = _events(capsys, ws, "discovery.unclassified_pii")
    assert [(e["data"]["product"], e["data"]["column"]) for e in flagged] == [("crm.customers", "mail")]
    assert first["customers"]["flags"][0]["column"] == "mail"
    again = _by_name(_discover(capsys, ws, "app_db"))
    assert {d["change"] for d in again.values()} == {"unchanged"}
    assert len(_events(capsys, ws, "discovery.dataset_appeared")) == 3
    assert len(_events(capsys, ws, "discovery.unclassified_pii")) == 1  # flagged once, not on every scan
    con = sqlite3.connect(ws / "data" / "app.sqlite")
    con.execute("ALTER TABLE orders ADD COLUMN contact TEXT")
    con.execute("UPDATE orders SET contact = 'buyer' || order_id || '@shop.example.org'")
    con.execute("DROP TABLE t_0042")
    con.commit()
    con.close()
    third = _by_name(_discover(capsys, ws, "app_db"))
    assert third["orders"]["change"] == "changed" and "t_0042" not in third
    changed = _events(capsys, ws, "discovery.dataset_changed")
    assert changed[-1]["data"]["dataset"] == "orders" and changed[-1]["data"]["added_columns"] == ["contact"]
    gone = _events(capsys, ws, "discovery.dataset_disappeared")
    assert [e["data"]["dataset"] for e in gone] == ["t_0042"]


def test_drafts_apply_and_reach_search(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drafts = ws / "products" / "drafts"
    code, out, err = cli(capsys, "-w", ws, "discover", "app_db", "--tables", "t_*", "--write", drafts)
    assert code == 0, err
    written = sorted(drafts.rglob("*.yaml"))
    assert len(written) == 1
    text = written[0].read_text()
    assert "status: draft" in text and "kind: DataProduct" in text and "pii" in text
    domain = written[0].parent.name
    if domain not in ("crm", "sales"):  # a new domain must be declared before applying
        (ws / "mesh.yaml").write_text(MESH.replace("domains:\n", f"domains:\n  {domain}: {{}}\n"))
    code, out, err = cli(capsys, "-w", ws, "apply")
    assert code == 0, err
    code, out, err = cli(capsys, "-w", ws, "search", "", "--classification", "pii", "--json")
    assert code == 0, err
    hits = {h["fqn"] for h in json.loads(out)["items"]}
    assert f"{domain}.t_0042" in hits
    from meshfabric import Mesh

    with Mesh.open(ws) as mesh:  # the classification reached the catalog and the metadata graph
        columns = {c["name"]: c for c in mesh.product(f"{domain}.t_0042").columns}
        assert "pii" in columns["c7"]["classification"]
        assert f"{domain}.t_0042.c7" in {n.key for n in mesh.graph.find("column", classification="pii")}
    # a second --write refuses to overwrite and writes nothing
    before = written[0].read_text()
    code, _, err = cli(capsys, "-w", ws, "discover", "app_db", "--tables", "t_*", "--write", ws / "other")
    assert code == 0  # t_0042 is registered now: nothing to draft
    assert not (ws / "other").exists() and written[0].read_text() == before


def test_drafts_are_all_or_nothing(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drafts = ws / "drafts"
    assert cli(capsys, "-w", ws, "discover", "app_db", "--write", drafts)[0] == 0
    files = sorted(drafts.rglob("*.yaml"))
    assert len(files) == 2  # t_0042 and orders; customers is registered
    files[0].write_text("# edited by hand\n")
    code, _, err = cli(capsys, "-w", ws, "discover", "app_db", "--write", drafts)
    assert code == 2 and "exists" in err and "no draft was written" in err
    assert files[0].read_text() == "# edited by hand\n"
    assert cli(capsys, "-w", ws, "discover", "app_db", "--write", drafts, "--force")[0] == 0
    assert "kind: DataProduct" in files[0].read_text()


def test_policy_suggest_masks_pii_a_role_reads(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "-w", ws, "roles", "create", "analyst")[0] == 0
    code, _, err = cli(capsys, "-w", ws, "grants", "add", "query", "--role", "analyst", "--domain", "crm")
    assert code == 0, err
    code, out, err = cli(capsys, "-w", ws, "policy", "suggest", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [(s["grantee"], s["product"], s["column"], s["mask"]) for s in data["suggestions"]] == [
        ("analyst", "crm.customers", "full_name", "hash")]
    code, _, err = cli(capsys, "-w", ws, "policy", "suggest", "--write", "/proc/meshfabric/suggested.yaml")
    assert code == 2 and "cannot write" in err and "Traceback" not in err
    target = ws / "policies" / "suggested.yaml"
    assert cli(capsys, "-w", ws, "policy", "suggest", "--write", target)[0] == 0
    code, _, err = cli(capsys, "-w", ws, "apply")
    assert code == 0, err
    assert json.loads(cli(capsys, "-w", ws, "policy", "suggest", "--json")[1])["suggestions"] == []
    code, _, err = cli(capsys, "-w", ws, "policy", "suggest", "--write", target)
    assert code == 0  # nothing left to suggest: the existing file is not touched


@pytest.mark.parametrize("args,fragment", [
    (["discover", "nowhere"], "source 'nowhere' not found"),
    (["discover", "app_db", "--sample", "0"], "sample must be a whole number"),
    (["grants", "add", "discover", "--source", "nowhere", "--user", "admin"], "source 'nowhere' not found"),
    (["discover", "app_db", "--write", "mesh.yaml"], "is a file, not a folder"),
    (["discover", "app_db", "--write", "/proc/meshfabric-drafts"], "no draft was written"),
])
def test_bad_input_is_exit_2(ws: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    args = [str(ws / a) if a == "mesh.yaml" else a for a in args]
    code, _out, err = cli(capsys, "-w", ws, *args)
    assert code == 2 and fragment in err and "Traceback" not in err


def _server_workspace(root: Path, kind: str, url: str) -> Path:
    write(root / "mesh.yaml", f"name: srv\nsources:\n  db:\n    kind: {kind}\n    url: {url}\ndomains:\n  crm: {{}}\n")
    return root


@pytest.mark.postgres
def test_discover_postgres(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pg_database("mf_disc") as url:
        pg_exec(url, "CREATE TABLE people (pid int, attr3 text, last_ip text, email_sent boolean)",
                "INSERT INTO people SELECT g, 'person' || g || '@corp.example.com', '10.1.' || (g % 250) || '.7', "
                "g % 2 = 0 FROM generate_series(1, 120) g")
        ws = _server_workspace(tmp_path / "ws", "postgres", url)
        found = _by_name(_discover(capsys, ws, "db"))
        people = found["public.people"]
        assert _column(people, "attr3")["semantic_type"] == "email"
        assert _column(people, "last_ip")["semantic_type"] == "ip_address"
        assert "pii" not in _column(people, "email_sent")["classifications"]
        assert people["rows_sampled"] == 120


@pytest.mark.mariadb
def test_discover_mariadb(mysql_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"mf_disc_{uuid.uuid4().hex[:8]}"
    my_exec(None, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        my_exec(name, "CREATE TABLE contacts (id int, f_07 varchar(80), phone_model varchar(40))",
                *[f"INSERT INTO contacts VALUES ({i}, 'contact{i}@mail.example.net', 'Pixel {i % 9}')"
                  for i in range(60)])
        url = mysql_url.rsplit("/", 1)[0] + "/" + name
        ws = _server_workspace(tmp_path / "ws", "mysql", url)
        found = _by_name(_discover(capsys, ws, "db", "--sample", "50"))
        contacts = next(d for n, d in found.items() if n.endswith("contacts"))
        assert _column(contacts, "f_07")["semantic_type"] == "email"
        assert _column(contacts, "phone_model")["semantic_type"] != "phone"
        assert contacts["rows_sampled"] == 50
    finally:
        my_exec(None, f"DROP DATABASE IF EXISTS `{name}`")
