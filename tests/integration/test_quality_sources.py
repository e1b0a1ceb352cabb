"""Quality rules on every source kind, over one data set with defects of known counts.

The same 40 people rows are loaded into SQLite, a DuckDB file, Parquet, CSV, PostgreSQL and
MariaDB. Expected observations come from plain Python over the rows (:func:`reference`), and a
few are also pinned by hand so the reference itself is checked. Case-insensitive collations
(MariaDB ``utf8mb4_general_ci``, SQLite ``NOCASE``) hold ``C002`` and ``c002``, which must not
count as duplicates: comparisons are exact everywhere.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import default_store, pg_database, write
from meshfabric import Mesh

BASE = datetime(2024, 1, 1)
COUNTRIES = ["PT", "ES", "DE", "FR"]
COLUMNS = ["id", "email", "country", "amount", "code", "name", "created_at", "customer_id", "load"]


def people() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 41):
        rows.append({
            "id": i,
            "email": None if i % 10 == 0 else ("bad-email" if i in (3, 13) else f"user{i}@example.com"),
            "country": None if i in (11, 21) else
            ("XX" if i in (6, 16, 26) else ("pt" if i == 9 else COUNTRIES[i % 4])),
            "amount": None if i == 12 else (-1.0 if i in (4, 14) else (100.5 if i == 39 else i * 2.5)),
            "code": None if i == 30 else ("C002" if i in (2, 3) else ("C020" if i in (20, 21, 22) else
                                                                        ("c002" if i == 31 else f"C{i:03d}"))),
            "name": "x" if i == 17 else ("abcdefghijkl" if i == 18 else ("é" * 10 if i == 19 else f"name{i}")),
            "created_at": BASE + timedelta(hours=i, microseconds=250),
            "customer_id": None if i == 1 else (99 if i in (7, 8) else (i % 6) + 1),
            "load": 1000.0 if i == 25 else 10.0 + (i % 5) * 0.5,
        })
    return rows


ACCOUNTS = [{"id": i, "label": f"account {i}"} for i in range(1, 7)]

PEOPLE_YAML = """\
kind: DataProduct
domain: sales
name: people
owner: sales@example.com
output:
  source: src
  {port}
schema:
  - {{name: id, type: bigint, primary_key: true}}
  - {{name: email, type: string}}
  - {{name: country, type: string}}
  - {{name: amount, type: double}}
  - {{name: code, type: string}}
  - {{name: name, type: string}}
  - {{name: created_at, type: timestamp}}
  - {{name: customer_id, type: bigint}}
  - {{name: load, type: double}}
quality:
  - {{type: not_null, column: id}}
  - {{type: completeness, column: email, threshold: 0.95}}
  - {{type: uniqueness, column: code}}
  - {{type: uniqueness, columns: [customer_id, country], name: customer_country_unique, severity: warning}}
  - {{type: accepted_values, column: country, values: [PT, ES, DE, FR], threshold: 0.9}}
  - {{type: range, column: amount, min: 0, max: 100}}
  - {{type: range, column: amount, min: 0, max: 100, inclusive: false, name: amount_open, metric: range_open}}
  - {{type: format, column: email, format: email}}
  - {{type: format, column: country, format: country_code}}
  - {{type: regex, column: name, pattern: "^name[0-9]+$"}}
  - {{type: length, column: name, min: 2, max: 10}}
  - {{type: freshness, column: created_at, max_age: 7d}}
  - {{type: row_count, min: 10, max: 100}}
  - {{type: referential, column: customer_id, reference: crm.accounts, reference_column: id}}
  - {{type: referential, column: customer_id, reference: crm.customers, name: customer_known_remote, \
metric: referential_remote}}
  - {{type: custom_sql, sql: "SELECT * FROM {{table}} WHERE amount < 0", name: negative_amounts}}
  - {{type: custom_sql, sql: "SELECT MAX(amount) FROM {{table}}", returns: metric, min: 0, max: 200, \
name: max_amount}}
  - {{type: statistic, column: amount, statistic: mean, min: 0, max: 100}}
  - {{type: statistic, column: amount, statistic: stddev, max: 10}}
  - {{type: statistic, column: amount, statistic: median, min: 40, max: 60}}
  - {{type: statistic, column: amount, statistic: quantile, quantile: 0.9, max: 200}}
  - {{type: statistic, column: amount, statistic: min, min: 0}}
  - {{type: statistic, column: amount, statistic: sum, min: 0}}
  - {{type: statistic, column: country, statistic: distinct_count, max: 4}}
  - {{type: schema}}
  - {{type: anomaly, columns: [load], contamination: 0.025, max_share: 0.05}}
"""

ACCOUNTS_YAML = """\
kind: DataProduct
domain: crm
name: accounts
owner: crm@example.com
output:
  source: src
  {port}
schema:
  - {{name: id, type: bigint}}
  - {{name: label, type: string}}
"""

CUSTOMERS_YAML = """\
kind: DataProduct
domain: crm
name: customers
owner: crm@example.com
output:
  source: lake
  path: customers.csv
schema:
  - {name: customer_id, type: bigint}
  - {name: name, type: string}
"""

CLEAN_YAML = """\
kind: DataProduct
domain: sales
name: clean
owner: sales@example.com
output:
  source: src
  {port}
quality:
  - {{type: not_null, column: id}}
  - {{type: row_count, min: 40, max: 40}}
  - {{type: range, column: id, min: 1, max: 40}}
  - {{type: accepted_values, column: id, values: [{ids}]}}
  - {{type: length, column: name, min: 1, max: 20}}
  - {{type: statistic, column: load, statistic: max, max: 1000}}
  - {{type: statistic, column: id, statistic: distinct_count, min: 40, max: 40}}
  - {{type: freshness, column: created_at, max_age: 100000d}}
"""


# ---------------------------------------------------------------------------------------------
# The reference: what each rule must observe, in plain Python


def percentile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    h = q * (len(ordered) - 1)
    k = math.floor(h)
    upper = ordered[min(k + 1, len(ordered) - 1)]
    return ordered[k] + (h - k) * (upper - ordered[k])


def reference() -> dict[str, tuple[float, int | None, int | None]]:
    """rule name → (observed, failing rows, checked rows) from the rows themselves."""
    rows = people()
    n = len(rows)

    def share(failing: int, checked: int) -> tuple[float, int, int]:
        return ((checked - failing) / checked if checked else 1.0, failing, checked)

    def valid(col: str, ok: Any) -> tuple[float, int, int]:
        values = [r[col] for r in rows if r[col] is not None]
        return share(sum(1 for v in values if not ok(v)), len(values))

    def dupes(cols: list[str]) -> tuple[float, int, int]:
        keys = [tuple(r[c] for c in cols) for r in rows if all(r[c] is not None for c in cols)]
        counts = Counter(keys)
        return share(sum(c for c in counts.values() if c > 1), len(keys))

    import re

    amounts = [r["amount"] for r in rows if r["amount"] is not None]
    known = {a["id"] for a in ACCOUNTS}
    return {
        "not_null_id": share(0, n),
        "completeness_email": share(sum(1 for r in rows if r["email"] is None), n),
        "uniqueness_code": dupes(["code"]),
        "customer_country_unique": dupes(["customer_id", "country"]),
        "accepted_values_country": valid("country", lambda v: v in COUNTRIES),
        "range_amount": valid("amount", lambda v: 0 <= v <= 100),
        "amount_open": valid("amount", lambda v: 0 < v < 100),
        "format_email": valid("email", lambda v: re.search(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$", v)),
        "format_country": valid("country", lambda v: re.search(r"^[A-Z]{2}$", v)),
        "regex_name": valid("name", lambda v: re.search(r"^name[0-9]+$", v)),
        "length_name": valid("name", lambda v: 2 <= len(v) <= 10),
        "row_count": (float(n), None, None),
        "referential_customer_id": valid("customer_id", lambda v: v in known),
        "customer_known_remote": valid("customer_id", lambda v: v in known),
        "negative_amounts": share(sum(1 for v in amounts if v < 0), n),
        "max_amount": (max(amounts), None, None),
        "mean_amount": (statistics.fmean(amounts), None, None),
        "stddev_amount": (statistics.stdev(amounts), None, None),
        "median_amount": (percentile_cont(amounts, 0.5), None, None),
        "quantile_0.9_amount": (percentile_cont(amounts, 0.9), None, None),
        "min_amount": (min(amounts), None, None),
        "sum_amount": (math.fsum(amounts), None, None),
        "distinct_count_country": (float(len({r["country"] for r in rows if r["country"] is not None})), None, None),
        "schema": (1.0, None, None),
    }


#: the verdicts the spec's thresholds give on this data
PASSES = {
    "not_null_id", "row_count", "max_amount", "mean_amount", "quantile_0.9_amount", "schema", "anomaly_load",
    "median_amount", "sum_amount",
}
FAILS = {
    "completeness_email", "uniqueness_code", "accepted_values_country", "range_amount", "amount_open", "format_email",
    "format_country", "regex_name", "length_name", "freshness_created_at", "referential_customer_id",
    "customer_known_remote", "negative_amounts", "stddev_amount", "min_amount", "distinct_count_country",
    "customer_country_unique",
}


def test_reference_matches_the_defects_put_in() -> None:
    """The reference counts what the data set was built with."""
    ref = reference()
    assert ref["completeness_email"] == (0.9, 4, 40)
    assert ref["uniqueness_code"][1:] == (5, 39)  # C002 ×2 and C020 ×3; c002 differs in case
    assert ref["accepted_values_country"][1:] == (4, 38)  # XX ×3 and pt
    assert ref["range_amount"][1:] == (3, 39) and ref["amount_open"][1:] == (4, 39)  # 100.0 is on the bound
    assert ref["length_name"][1:] == (2, 40)  # 'é' × 10 is 10 characters (20 bytes)
    assert ref["referential_customer_id"][1:] == (2, 39)
    assert ref["distinct_count_country"][0] == 6.0


# ---------------------------------------------------------------------------------------------
# Loading the rows into each source kind


MESH = """\
name: q
sources:
  src:
{source}
  lake:
    kind: files
    path: data/lake
domains:
  sales: {{}}
  crm: {{}}
"""


def _sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, country TEXT, amount REAL, "
                "code TEXT COLLATE NOCASE, name TEXT, created_at TIMESTAMP, customer_id INTEGER, load REAL)")
    con.executemany(f"INSERT INTO people VALUES ({', '.join('?' * len(COLUMNS))})",
                    [tuple(r[c].isoformat(sep=" ") if c == "created_at" else r[c] for c in COLUMNS) for r in people()])
    con.execute("CREATE TABLE accounts (id INTEGER, label TEXT)")
    con.executemany("INSERT INTO accounts VALUES (?, ?)", [(a["id"], a["label"]) for a in ACCOUNTS])
    con.commit()
    con.close()


def _arrow() -> tuple[Any, Any]:
    import pyarrow as pa

    schema = pa.schema([("id", pa.int64()), ("email", pa.string()), ("country", pa.string()),
                        ("amount", pa.float64()), ("code", pa.string()), ("name", pa.string()),
                        ("created_at", pa.timestamp("us")), ("customer_id", pa.int64()), ("load", pa.float64())])
    people_table = pa.Table.from_pylist(people(), schema=schema)
    accounts = pa.Table.from_pylist(ACCOUNTS, schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    return people_table, accounts


def _duckdb(path: Path) -> None:
    import duckdb

    people_table, accounts = _arrow()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.register("p", people_table)
    con.register("a", accounts)
    con.execute("CREATE TABLE people AS SELECT * FROM p")
    con.execute("CREATE TABLE accounts AS SELECT * FROM a")
    con.close()


def _files(folder: Path, fmt: str) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    people_table, accounts = _arrow()
    if fmt == "parquet":
        pq.write_table(people_table, folder / "people.parquet")
        pq.write_table(accounts, folder / "accounts.parquet")
    else:
        pcsv.write_csv(people_table, folder / "people.csv")
        pcsv.write_csv(accounts, folder / "accounts.csv")


def _postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql://", "postgresql://", 1), autocommit=True) as con:
        con.execute("CREATE TABLE people (id bigint PRIMARY KEY, email text, country text, amount double precision, "
                    "code text, name text, created_at timestamp, customer_id bigint, load double precision)")
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO people VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                            [tuple(r[c] for c in COLUMNS) for r in people()])
            cur.execute("CREATE TABLE accounts (id bigint, label text)")
            cur.executemany("INSERT INTO accounts VALUES (%s, %s)", [(a["id"], a["label"]) for a in ACCOUNTS])


def _mysql(url: str, prefix: str) -> None:
    import pymysql

    from meshfabric.connectors import server_address
    from meshfabric.spec.models import SourceSpec

    addr = server_address(SourceSpec(kind="mysql", url=url), default_port=3306)
    con = pymysql.connect(host=addr.host, port=addr.port, user=addr.user or "root", password="",
                          database=addr.database, autocommit=True, charset="utf8mb4")
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE {prefix}people (id BIGINT PRIMARY KEY, email VARCHAR(80), country VARCHAR(4) "
                    "COLLATE utf8mb4_general_ci, amount DOUBLE, code VARCHAR(20) COLLATE utf8mb4_general_ci, "
                    "name VARCHAR(40), created_at DATETIME(6), customer_id BIGINT, `load` DOUBLE) "
                    "CHARACTER SET utf8mb4")
        cur.executemany(f"INSERT INTO {prefix}people VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                        [tuple(r[c] for c in COLUMNS) for r in people()])
        cur.execute(f"CREATE TABLE {prefix}accounts (id BIGINT, label VARCHAR(40))")
        cur.executemany(f"INSERT INTO {prefix}accounts VALUES (%s, %s)", [(a["id"], a["label"]) for a in ACCOUNTS])
    con.close()


KINDS = ["sqlite", "duckdb", "parquet", "csv", "postgres", "mysql"]


def build(root: Path, kind: str, request: pytest.FixtureRequest) -> tuple[Path, Iterator[None] | None]:
    """A workspace whose source ``src`` is of ``kind``; returns it and a cleanup to close."""
    cleanup = None
    table_prefix = ""
    if kind == "sqlite":
        _sqlite(root / "data" / "src.sqlite")
        source = "    kind: sqlite\n    path: data/src.sqlite"
    elif kind == "duckdb":
        _duckdb(root / "data" / "src.duckdb")
        source = "    kind: duckdb\n    path: data/src.duckdb"
    elif kind in ("parquet", "csv"):
        _files(root / "data" / "files", kind)
        source = "    kind: files\n    path: data/files"
    elif kind == "postgres":
        request.getfixturevalue("pg_url")
        cleanup = pg_database("mf_q")
        url = cleanup.__enter__()
        _postgres(url)
        source = f"    kind: postgres\n    url: {url}"
    else:
        url = request.getfixturevalue("mysql_url")
        import uuid

        table_prefix = f"q{uuid.uuid4().hex[:8]}_"
        _mysql(url, table_prefix)
        source = f"    kind: mysql\n    url: {url}"
    write(root / "mesh.yaml", MESH.format(source=source))
    write(root / "data" / "lake" / "customers.csv",
          "customer_id,name\n" + "".join(f"{i},c{i}\n" for i in range(1, 7)))
    if kind in ("parquet", "csv"):
        people_port, accounts_port = f"path: people.{kind}", f"path: accounts.{kind}"
    else:
        people_port, accounts_port = f"table: {table_prefix}people", f"table: {table_prefix}accounts"
    write(root / "products" / "people.yaml", PEOPLE_YAML.format(port=people_port))
    write(root / "products" / "accounts.yaml", ACCOUNTS_YAML.format(port=accounts_port))
    write(root / "products" / "customers.yaml", CUSTOMERS_YAML)
    write(root / "products" / "clean.yaml",
          CLEAN_YAML.format(port=people_port, ids=", ".join(str(i) for i in range(1, 41))))
    return root, cleanup


@pytest.fixture(params=KINDS)
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Mesh]]:
    kind = request.param
    root, cleanup = build(tmp_path / "ws", kind, request)
    try:
        with default_store(), Mesh.open(root) as mesh:
            mesh.apply()
            yield kind, mesh
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


def count_statements(mesh: Mesh) -> list[str]:
    """Every statement sent through the source connector's port sessions, recorded here (not by
    the quality module), so a compiler that sent more than it says would be caught."""
    sent: list[str] = []
    connector = mesh.connector("src")
    original = connector.run_on_port

    def run_on_port(port: Any, fn: Any) -> Any:
        def wrapped(session: Any) -> Any:
            fetch = session.fetch

            def counting(sql: str) -> Any:
                sent.append(sql)
                return fetch(sql)

            session.fetch = counting
            return fn(session)

        return original(port, wrapped)

    connector.run_on_port = run_on_port  # type: ignore[method-assign]
    return sent


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.mark.slow
def test_every_rule_observes_the_known_defects(workspace: tuple[str, Mesh]) -> None:
    kind, mesh = workspace
    sent = count_statements(mesh)
    run = mesh.quality.run("sales.people")
    assert run.status == "failed", run.error
    by_name = {r.rule: r for r in run.results}
    ref = reference()
    for name, (observed, failing, checked) in ref.items():
        result = by_name[name]
        assert result.observed == pytest.approx(observed, rel=1e-9, abs=1e-12), (kind, name)
        assert (result.failing_rows, result.total_rows) == (failing, checked), (kind, name)
    assert set(by_name) == set(ref) | {"freshness_created_at", "anomaly_load"}
    for name in PASSES:
        assert by_name[name].passed, (kind, name, by_name[name])
    for name in FAILS:
        assert not by_name[name].passed, (kind, name, by_name[name])

    newest = max(r["created_at"] for r in people())
    fresh = by_name["freshness_created_at"]
    assert fresh.observed == pytest.approx((run.started_at.replace(tzinfo=None) - newest).total_seconds(), abs=1e-3)

    anomaly = by_name["anomaly_load"]
    assert (anomaly.failing_rows, anomaly.total_rows) == (1, 40)
    assert anomaly.sample[0]["id"] == 25 and anomaly.sample[0]["load"] == 1000.0 and anomaly.sample[0]["_flagged"]
    assert len(anomaly.sample) == 5 and not any(s["_flagged"] for s in anomaly.sample[1:])
    assert anomaly.extra == {"sample_size": 40}
    assert "all 40 rows" in anomaly.detail

    # samples: bounded, and made of failing rows only
    assert [s["code"] for s in by_name["uniqueness_code"].sample] == ["C020", "C002"]
    assert [s["rows"] for s in by_name["uniqueness_code"].sample] == [3, 2]
    assert by_name["uniqueness_code"].extra["duplicate_values"] == 2
    assert sorted(s["id"] for s in by_name["range_amount"].sample) == [4, 14, 39]
    assert {s["country"] for s in by_name["accepted_values_country"].sample} == {"XX", "pt"}
    assert len(by_name["format_email"].sample) == 2
    assert sorted(s["customer_id"] for s in by_name["referential_customer_id"].sample) == [99, 99]
    assert sorted(s["customer_id"] for s in by_name["customer_known_remote"].sample) == [99, 99]
    assert all(len(r.sample) <= 5 for r in run.results)

    # statements: one aggregate scan, then only what needs its own statement
    assert sent[0].startswith("SELECT COUNT(*) AS") and sent.count(sent[0]) == 1
    quantiles = 0 if kind in ("postgres", "duckdb", "parquet", "csv") else 2  # median and q0.9 on SQLite/MariaDB
    # PostgreSQL: the distinct count and the quantiles get a statement apart, so the main scan stays parallel
    quantiles += 1 if kind == "postgres" else 0
    grouped = 2 + 1 + 2 + 1  # two uniqueness rules, one local anti-join, two custom queries, the anomaly sample
    # a failing rule's sample takes one statement more, except uniqueness (its pass brings the sample)
    failed_row_rules = sum(1 for r in run.results
                           if not r.passed and r.failing_rows and r.type not in ("anomaly", "uniqueness"))
    assert len(sent) == 1 + grouped + quantiles + failed_row_rules, sent
    # the remote reference's 6 keys are read once through the query engine, then checked in the scan
    assert run.queries == len(sent) + 1
    assert "IN (1, 2, 3, 4, 5, 6)" in sent[0]


@pytest.mark.slow
def test_aggregate_rules_run_in_one_statement(workspace: tuple[str, Mesh]) -> None:
    kind, mesh = workspace
    sent = count_statements(mesh)
    run = mesh.quality.run("sales.clean")
    assert run.status == "passed", [r for r in run.results if not r.passed] or run.error
    assert len(run.results) == 8
    # PostgreSQL cannot parallelise a scan holding COUNT(DISTINCT …) or a quantile: those go apart
    expected = 2 if kind == "postgres" else 1
    assert len(sent) == expected and run.queries == expected
    if kind == "postgres":
        assert "DISTINCT" not in sent[0] and "WITHIN GROUP" not in sent[0]
    assert run.score == 1.0


@pytest.mark.slow
def test_run_is_persisted_with_series_and_events(workspace: tuple[str, Mesh]) -> None:
    from sqlalchemy import select

    from meshfabric.store.models import EventRow, MetricPointRow, QualityResultRow, QualityRunRow

    _, mesh = workspace
    run = mesh.quality.run("sales.people")
    with mesh.store.read() as s:
        stored = s.get(QualityRunRow, run.id)
        assert stored is not None and stored.status == "failed" and stored.score == pytest.approx(run.score)
        assert stored.queries == run.queries and stored.rules_failed == run.rules_failed
        results = list(s.scalars(select(QualityResultRow).where(QualityResultRow.run_id == run.id)))
        assert len(results) == len(run.results)
        points = {p.series: p.value for p in s.scalars(select(MetricPointRow))}
        mine = select(EventRow).where(EventRow.correlation_id == run.correlation_id)
        events = [e.event_type for e in s.scalars(mine)]
    assert points["sales.people/completeness/email"] == pytest.approx(0.9)
    assert points["sales.people/completeness.failing_rows/email"] == 4
    assert points["sales.people/uniqueness.duplicate_values/code"] == 2
    assert points["sales.people/range_open/amount"] == pytest.approx(35 / 39)
    assert points["sales.people/row_count/*"] == 40
    assert points["sales.people/score/*"] == pytest.approx(run.score)
    assert points["sales.people/quantile_0.9/amount"] == pytest.approx(reference()["quantile_0.9_amount"][0])
    assert events == ["quality.run_completed", "quality.failed"]
    history = mesh.quality.history("sales.people")
    assert history[0].id == run.id and len(history[0].results) == len(run.results)


@pytest.mark.postgres
def test_postgres_case_insensitive_columns_are_compared_exactly(pg_url: str, tmp_path: Path) -> None:
    """citext compares and matches case-blind; rules must not: 'a' is not 'A' and '^a' does not
    match 'A...' — the same verdicts as every other source."""
    import psycopg

    with pg_database("mf_qci") as url:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS citext")
            con.execute("CREATE TABLE t (k citext)")
            con.execute("INSERT INTO t VALUES ('a'), ('A'), ('ab'), (NULL)")
        write(tmp_path / "ws" / "mesh.yaml", MESH.format(source=f"    kind: postgres\n    url: {url}"))
        write(tmp_path / "ws" / "products" / "t.yaml", """\
kind: DataProduct
domain: sales
name: t
owner: o
output: {source: src, table: t}
quality:
  - {type: uniqueness, column: k}
  - {type: accepted_values, column: k, values: [a, ab]}
  - {type: regex, column: k, pattern: "^a"}
  - {type: statistic, column: k, statistic: distinct_count, min: 3, max: 3}
""")
        with default_store(), Mesh.open(tmp_path / "ws") as mesh:
            mesh.apply()
            run = mesh.quality.run("sales.t")
    assert run.error == ""
    got = {r.rule: (r.passed, r.failing_rows) for r in run.results}
    assert got == {"uniqueness_k": (True, 0), "accepted_values_k": (False, 1), "regex_k": (False, 1),
                   "distinct_count_k": (True, None)}
