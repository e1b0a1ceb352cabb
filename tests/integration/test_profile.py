"""Profiles computed in every kind of source equal what DuckDB and numpy compute over the same
data in memory.

The data set is built to catch the usual ways a profile goes wrong: nulls in numeric and string
columns, strings that differ only in case (MariaDB's default collation would merge them),
a two-byte character (bytes vs characters in length), an empty string (the byte-wise minimum),
integer ties (quantile interpolation), decimals, dates and booleans.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import build_workspace, cli, default_store, pg_database, write
from meshfabric import Mesh
from meshfabric.quality.profile import QUANTILES, quantile_key

N = 2000
NAMES = {"alpha": 401, "Alpha": 299, "ALPHA": 203, "beta": 151, "é": 97, "": 83, "x y": 61, "Zeta": 41, "zeta": 37}
NAME_NULLS = 127
COLUMNS = ["id", "amount", "qty", "price", "name", "day", "flag"]
NUMERIC = ["id", "amount", "qty", "price"]
TOP = 5


def dataset() -> pa.Table:
    rng = np.random.default_rng(42)
    names: list[str | None] = [n for n, k in NAMES.items() for _ in range(k)]
    names += [None] * NAME_NULLS
    names += [f"u{i:04d}" for i in range(N - len(names))]
    order = rng.permutation(N)
    names = [names[i] for i in order]
    amount = [None if i % 10 == 3 else round(float(v), 3) for i, v in enumerate(rng.lognormal(3, 0.6, N))]
    qty = [int(v) for v in rng.integers(0, 50, N)]
    price = [None if i % 13 == 0 else Decimal(f"{v:.2f}") for i, v in enumerate(rng.uniform(1, 500, N))]
    day = [dt.date(2024, 1, 1) + dt.timedelta(days=int(v)) for v in rng.integers(0, 366, N)]
    flag = [bool(i % 3 == 0) for i in range(N)]
    return pa.table({
        "id": pa.array(range(1, N + 1), pa.int64()),
        "amount": pa.array(amount, pa.float64()),
        "qty": pa.array(qty, pa.int32()),
        "price": pa.array(price, pa.decimal128(10, 2)),
        "name": pa.array(names, pa.string()),
        "day": pa.array(day, pa.date32()),
        "flag": pa.array(flag, pa.bool_()),
    })


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in COLUMNS), strict=True))


@pytest.fixture(scope="module")
def truth() -> dict[str, dict[str, Any]]:
    """Every profile number computed by DuckDB (and cross-checked with numpy) in memory."""
    table = dataset()
    con = duckdb.connect()
    con.register("t", table)
    out: dict[str, dict[str, Any]] = {}
    for c in COLUMNS:
        q = f'"{c}"'
        n, nn, nd = con.execute(f"SELECT count(*), count({q}), count(DISTINCT {q}) FROM t").fetchone()  # type: ignore[misc]
        col: dict[str, Any] = {"count": nn, "nulls": n - nn, "null_pct": 100 * (n - nn) / n, "distinct": nd}
        if c in NUMERIC:
            qs = ", ".join(str(x) for x in QUANTILES)
            mean, sd, skew, kurt, quant, lo, hi = con.execute(
                f"SELECT avg({q}::DOUBLE), stddev_samp({q}::DOUBLE), skewness({q}::DOUBLE), kurtosis({q}::DOUBLE), "
                f"quantile_cont({q}::DOUBLE, [{qs}]), min({q})::DOUBLE, max({q})::DOUBLE FROM t"
            ).fetchone()  # type: ignore[misc]
            values = np.array([float(v) for v in table.column(c).to_pylist() if v is not None])
            assert mean == pytest.approx(values.mean()) and sd == pytest.approx(values.std(ddof=1))
            assert quant == pytest.approx(list(np.quantile(values, QUANTILES)))
            col.update(mean=mean, stddev=sd, skewness=skew, kurtosis=kurt, min=lo, max=hi,
                       quantiles={quantile_key(x): v for x, v in zip(QUANTILES, quant, strict=True)})
        if c == "name":
            col.update(dict(zip(("min", "max", "min_length", "max_length", "mean_length"), con.execute(
                f"SELECT min({q}), max({q}), min(length({q})), max(length({q})), avg(length({q})) FROM t"
            ).fetchone(), strict=True)))  # type: ignore[arg-type]
        if c == "day":
            lo, hi = con.execute(f"SELECT min({q}), max({q}) FROM t").fetchone()  # type: ignore[misc]
            col.update(min=lo.isoformat(), max=hi.isoformat())
        top = con.execute(
            f"SELECT {q}, count(*) AS n FROM t WHERE {q} IS NOT NULL GROUP BY {q} ORDER BY n DESC, {q} LIMIT {TOP}"
        ).fetchall()
        col["top_values"] = [{"value": float(v) if isinstance(v, Decimal) else v, "count": k} for v, k in top]
        out[c] = col
    return out


def test_the_data_set_has_what_the_tests_rely_on(truth: dict[str, dict[str, Any]]) -> None:
    assert truth["name"]["distinct"] == len(NAMES) + N - sum(NAMES.values()) - NAME_NULLS
    assert truth["name"]["min"] == "" and truth["name"]["max"] == "é"
    assert [v["value"] for v in truth["name"]["top_values"]] == ["alpha", "Alpha", "ALPHA", "beta", "é"]
    assert truth["amount"]["nulls"] == N // 10 and truth["price"]["nulls"] == math.ceil(N / 13)


# ---------------------------------------------------------------------------------------------
# One workspace per source kind, all holding the data set as product data.items


MESH = """\
name: profiles
sources:
  src:
{source}
domains:
  data:
    description: test data
"""

PRODUCT = """\
kind: DataProduct
domain: data
name: items
owner: data@example.com
status: published
output:
  source: src
  {port}
"""


def _sqlite(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE items (id INTEGER NOT NULL, amount REAL, qty INTEGER, price DECIMAL(10,2), "
                    "name TEXT, day DATE, flag BOOLEAN)")
        con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?)",
                        [(i, a, q, None if p is None else float(p), n, d.isoformat(), int(f))
                         for i, a, q, p, n, d, f in rows(table)])
    con.close()


def _duckdb(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.register("src", table)
    con.execute("CREATE TABLE items AS SELECT * FROM src")
    con.close()


def _postgres(url: str, table: pa.Table) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE TABLE items (id bigint NOT NULL, amount double precision, qty integer, "
                    "price numeric(10,2), name text, day date, flag boolean)")
        with con.cursor() as cur, cur.copy("COPY items FROM STDIN") as copy:
            for r in rows(table):
                copy.write_row(r)


def _mysql(url: str, table_name: str, table: pa.Table) -> None:
    import pymysql

    db = url.rsplit("/", 1)[1]
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=db, autocommit=True)
    try:
        with con.cursor() as cur:
            # the database default collation (utf8mb4_general_ci) is case-insensitive on purpose
            cur.execute(f"CREATE TABLE `{table_name}` (id bigint NOT NULL, amount double, qty int, "
                        "price decimal(10,2), name varchar(40), day date, flag boolean)")
            cur.executemany(f"INSERT INTO `{table_name}` VALUES (%s,%s,%s,%s,%s,%s,%s)", rows(table))
    finally:
        con.close()


KINDS = ["sqlite", "duckdb", "parquet", "postgres", "mariadb"]


@pytest.fixture(params=KINDS)
def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mesh]:
    kind: str = request.param
    root = tmp_path / "ws"
    table = dataset()
    port = "table: items"
    cleanup = None
    if kind == "sqlite":
        _sqlite(root / "data" / "src.sqlite", table)
        source = "    kind: sqlite\n    path: data/src.sqlite"
    elif kind == "duckdb":
        _duckdb(root / "data" / "src.duckdb", table)
        source = "    kind: duckdb\n    path: data/src.duckdb"
    elif kind == "parquet":
        (root / "data" / "files").mkdir(parents=True)
        pq.write_table(table, root / "data" / "files" / "items.parquet")
        source = "    kind: files\n    path: data/files"
        port = "path: items.parquet"
    elif kind == "postgres":
        request.getfixturevalue("pg_url")
        cleanup = pg_database("mf_prof")
        url = cleanup.__enter__()
        _postgres(url, table)
        source = f"    kind: postgres\n    url: {url}"
    else:
        url = request.getfixturevalue("mysql_url")
        name = f"items_{uuid.uuid4().hex[:8]}"
        _mysql(url, name, table)
        source = f"    kind: mysql\n    url: {url}"
        port = f"table: {name}"
    write(root / "mesh.yaml", MESH.format(source=source))
    write(root / "products" / "items.yaml", PRODUCT.format(port=port))
    try:
        with default_store(), Mesh.open(root) as m:
            m.apply()
            yield m
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


REL = 1e-9


def test_profile_equals_duckdb_and_numpy(mesh: Mesh, truth: dict[str, dict[str, Any]]) -> None:
    prof = mesh.profile("data.items", top=TOP)
    assert prof.rows == N
    assert [c.name for c in prof.columns] == COLUMNS
    for c in prof.columns:
        want = truth[c.name]
        assert (c.count, c.nulls, c.distinct) == (want["count"], want["nulls"], want["distinct"]), c.name
        assert c.null_pct == pytest.approx(want["null_pct"]), c.name
        if c.name in NUMERIC:
            assert c.kind == "numeric"
            for key in ("mean", "stddev", "skewness", "kurtosis", "min", "max"):
                assert getattr(c, key) == pytest.approx(want[key], rel=REL, abs=1e-12), (c.name, key)
            # exact quantiles everywhere (ranks on MariaDB and SQLite): only float rounding differs
            assert c.quantiles == pytest.approx(want["quantiles"], rel=REL), c.name
        got_top = [{"value": v["value"], "count": v["count"]} for v in c.top_values]
        if c.name == "price":
            got_top = [{"value": pytest.approx(v["value"]), "count": v["count"]} for v in got_top]
        if c.name == "day":
            want_top = [{"value": v["value"].isoformat(), "count": v["count"]} for v in want["top_values"]]
        else:
            want_top = want["top_values"]
        assert got_top == want_top, c.name
    name = prof.column("name")
    assert (name.min, name.max) == (truth["name"]["min"], truth["name"]["max"])  # byte order, case kept
    assert (name.min_length, name.max_length) == (truth["name"]["min_length"], truth["name"]["max_length"])
    assert name.mean_length == pytest.approx(truth["name"]["mean_length"], rel=REL)  # characters, not bytes
    day = prof.column("day")
    assert (day.kind, day.min, day.max) == ("temporal", truth["day"]["min"], truth["day"]["max"])
    assert prof.column("flag").kind == "boolean"
    assert prof.column("flag").top_values == [{"value": False, "count": N - len(range(0, N, 3))},
                                              {"value": True, "count": len(range(0, N, 3))}]


def test_profile_runs_in_the_source_in_few_statements(mesh: Mesh) -> None:
    prof = mesh.profile("data.items", top=TOP)
    ranked = prof.dialect in ("mysql", "sqlite")
    # one scan, one moment scan, a quantile statement per numeric column where ranks are needed,
    # one bounded top-values statement per column
    assert len(prof.statements) == 2 + (len(NUMERIC) if ranked else 0) + len(COLUMNS)
    assert all(s.lstrip().upper().startswith("SELECT") for s in prof.statements)
    assert all(f"LIMIT {TOP}" in s for s in prof.statements[-len(COLUMNS):])
    only = mesh.profile("data.items", columns=["amount"], top=0, quantiles=[0.5])
    assert [c.name for c in only.columns] == ["amount"] and only.columns[0].top_values == []
    assert list(only.columns[0].quantiles) == ["p50"]


def test_profile_of_a_sql_port(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _sqlite(root / "data" / "src.sqlite", dataset())
    write(root / "mesh.yaml", MESH.format(source="    kind: sqlite\n    path: data/src.sqlite"))
    write(root / "products" / "items.yaml",
          PRODUCT.format(port="sql: SELECT qty, name FROM items WHERE qty < 10"))
    with default_store(), Mesh.open(root) as m:
        m.apply()
        prof = m.profile("data.items")
    qty = [r[2] for r in rows(dataset()) if r[2] < 10]
    assert prof.rows == len(qty)
    assert prof.column("qty").mean == pytest.approx(float(np.mean(qty)))
    assert prof.column("qty").quantiles["p50"] == pytest.approx(float(np.quantile(qty, 0.5)))


# ---------------------------------------------------------------------------------------------
# CLI and pii


def test_cli_profile_json_and_pii(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build_workspace(tmp_path / "shop")
    with default_store():
        assert cli(capsys, "-w", root, "apply")[0] == 0
        code, out, err = cli(capsys, "-w", root, "profile", "crm.customers", "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["product"] == "crm.customers" and doc["rows"] == 6
        name = next(c for c in doc["columns"] if c["name"] == "name")
        assert name["redacted"] is True and name["top_values"] == [] and name["min"] is None
        assert name["distinct"] == 6 and name["min_length"] == 3  # counts stay
        country = next(c for c in doc["columns"] if c["name"] == "country")
        assert country["top_values"][:2] == [{"value": "ES", "count": 2}, {"value": "PT", "count": 2}]

        code, out, _ = cli(capsys, "-w", root, "profile", "crm.customers", "--reveal-pii", "--top", "2")
        assert code == 0 and "Ana (1)" in out and "withheld" not in out
        code, out, _ = cli(capsys, "-w", root, "profile", "sales.orders", "--sql")
        assert code == 0 and "20 rows" in out and "ROW_NUMBER() OVER" in out
        code, _, err = cli(capsys, "-w", root, "profile", "sales.nope")
        assert code == 2 and "nope" in err
        code, _, err = cli(capsys, "-w", root, "profile", "sales.orders", "--columns", "amount,nope")
        assert code == 2 and "nope" in err


def test_recorded_profiles_are_series_the_monitor_watches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build_workspace(tmp_path / "shop")
    with default_store():
        assert cli(capsys, "-w", root, "apply")[0] == 0
        with Mesh.open(root) as m:
            prof = m.profile("sales.orders")
            result = m.record_profile(prof)
            assert result.points == len(prof.metrics()) and result.fired == []
            series = {m for m, _, _ in prof.metrics()}
            assert {"profile.row_count", "profile.null_pct", "profile.distinct", "profile.mean"} <= series
        code, out, _ = cli(capsys, "-w", root, "profile", "sales.orders", "--record", "--json")
        assert code == 0 and json.loads(out)["alerts"] == []


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_edge_cases_empty_single_constant_all_null_and_far_from_zero(tmp_path: Path, kind: str) -> None:
    from meshfabric.connectors import get_connector
    from meshfabric.quality.profile import profile_port
    from meshfabric.spec.models import OutputPort, SourceSpec

    rng = np.random.default_rng(5)
    far = [1e9 + float(v) for v in rng.normal(0, 1, 500)]  # raw power sums would cancel to noise here
    tables = {"empty": [], "one": [(1.5, "x", None)], "const": [(0.1, "x", None)] * 5,
              "far": [(v, "x", None) for v in far]}
    path = tmp_path / f"edge.{kind}"
    if kind == "sqlite":
        with sqlite3.connect(path) as con:
            for name, data in tables.items():
                con.execute(f'CREATE TABLE {name} (a REAL, "my col" TEXT, "n" INTEGER)')
                con.executemany(f"INSERT INTO {name} VALUES (?,?,?)", data)
        con.close()
    else:
        con = duckdb.connect(str(path))
        for name, data in tables.items():
            con.execute(f'CREATE TABLE {name} (a DOUBLE, "my col" VARCHAR, "n" INTEGER)')
            if data:
                con.executemany(f"INSERT INTO {name} VALUES (?,?,?)", data)
        con.close()
    connector = get_connector("src", SourceSpec(kind=kind, path=str(path)), tmp_path)  # type: ignore[arg-type]

    def prof(table: str) -> Any:
        return profile_port(connector, OutputPort(source="src", table=table))

    empty = prof("empty")
    assert empty.rows == 0 and all((c.count, c.nulls, c.null_pct, c.mean, c.quantiles, c.top_values)
                                   == (0, 0, 0.0, None, {}, []) for c in empty.columns)
    one = prof("one").column("a")
    assert (one.mean, one.stddev, one.skewness, one.quantiles["p50"]) == (1.5, None, None, 1.5)
    const = prof("const").column("a")
    assert const.stddev == 0.0 and const.skewness is None and const.kurtosis is None
    nulls = prof("const").column("n")
    assert (nulls.count, nulls.null_pct, nulls.distinct, nulls.mean, nulls.top_values) == (0, 100.0, 0, None, [])
    assert prof("const").column("my col").top_values == [{"value": "x", "count": 5}]
    got = prof("far").column("a")
    # numpy on centred values as the reference: DuckDB's own skewness() returns NaN here
    x = np.array(far)
    d = x - x.mean()
    n, m2, m3, m4 = len(x), float(np.mean(d**2)), float(np.mean(d**3)), float(np.mean(d**4))
    g1, g2 = m3 / m2**1.5, m4 / m2**2 - 3
    assert got.stddev == pytest.approx(float(x.std(ddof=1)), rel=1e-6)
    assert got.skewness == pytest.approx(g1 * math.sqrt(n * (n - 1)) / (n - 2), abs=1e-3)
    assert got.kurtosis == pytest.approx(((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3)), abs=1e-3)
