"""Quality numbers at the edges, on every source kind where the edge exists (issue 17).

* NaN and ±∞ in a float column: ranges (min-only, max-only, both), accepted values and
  statistics agree with the semantics in :mod:`meshfabric.spec.quality_rules` on SQLite (±∞;
  NaN is stored as NULL), DuckDB, Parquet, PostgreSQL and MariaDB (neither), with the failing
  count and the failing-row sample telling the same story; profiles count them apart.
* A rule literal that does not fit its column is refused at apply; one that reaches a run (or a
  rule whose optional dependency is missing) is that rule's error alone.
* The anomaly rule's defaults pass clean Gaussian data and still flag real outliers.
"""

from __future__ import annotations

import math
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from helpers import default_store, pg_database, write
from meshfabric import Mesh

NAN, INF = float("nan"), float("inf")
#: id -> x; row 7 is null
X = {1: 1.0, 2: 2.0, 3: 3.0, 4: NAN, 5: INF, 6: -INF, 7: None, 8: 50.0}
KINDS = ["sqlite", "duckdb", "parquet", "postgres", "mysql"]

MESH = """\
name: edges
sources:
  src:
{source}
domains:
  lab: {{}}
"""

PRODUCT = """\
kind: DataProduct
domain: lab
name: m
owner: lab@example.com
output:
  source: src
  {port}
schema:
  - {{name: id, type: bigint, primary_key: true}}
  - {{name: x, type: double}}
  - {{name: s, type: string}}
quality:
  - {{type: range, column: x, min: 0, name: min_only, metric: r1}}
  - {{type: range, column: x, max: 10, name: max_only, metric: r2}}
  - {{type: range, column: x, min: 0, max: 10, name: both, metric: r3}}
  - {{type: range, column: x, min: 0, max: 100, inclusive: false, name: open, metric: r4}}
  - {{type: accepted_values, column: x, values: [1, 2, 3, 50], name: listed, metric: v1}}
  - {{type: statistic, column: x, statistic: mean, min: 0, max: 100, name: mean_x}}
  - {{type: statistic, column: x, statistic: max, max: 100, name: max_x}}
  - {{type: statistic, column: x, statistic: stddev, max: 100, name: stddev_x}}
  - {{type: statistic, column: x, statistic: median, max: 100, name: median_x}}
  - {{type: statistic, column: x, statistic: distinct_count, min: 1, name: distinct_x}}
  - {{type: accepted_values, column: s, values: [a, b], name: s_listed}}
"""


def held(kind: str) -> dict[int, float | None]:
    """The values each source actually holds: SQLite stores NaN as NULL, MariaDB neither NaN nor ±∞."""
    out = dict(X)
    if kind in ("sqlite", "mysql"):
        out[4] = None
    if kind == "mysql":
        out[5] = out[6] = None
    return out


def rows(kind: str) -> list[tuple[Any, ...]]:
    return [(i, x, "a" if i % 2 else "c") for i, x in held(kind).items()]


def build(root: Path, kind: str, request: pytest.FixtureRequest) -> Any:
    cleanup = None
    port = "table: m"
    data = rows(kind)
    if kind == "sqlite":
        (root / "data").mkdir(parents=True)
        con = sqlite3.connect(root / "data" / "src.sqlite")
        con.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, x REAL, s TEXT)")
        con.executemany("INSERT INTO m VALUES (?, ?, ?)", data)
        con.commit()
        con.close()
        source = "    kind: sqlite\n    path: data/src.sqlite"
    elif kind in ("duckdb", "parquet"):
        import duckdb
        import pyarrow as pa

        table = pa.table({"id": [r[0] for r in data], "x": [r[1] for r in data], "s": [r[2] for r in data]},
                         schema=pa.schema([("id", pa.int64()), ("x", pa.float64()), ("s", pa.string())]))
        (root / "data" / "files").mkdir(parents=True)
        if kind == "duckdb":
            con = duckdb.connect(str(root / "data" / "src.duckdb"))
            con.register("t", table)
            con.execute("CREATE TABLE m AS SELECT * FROM t")
            con.close()
            source = "    kind: duckdb\n    path: data/src.duckdb"
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, root / "data" / "files" / "m.parquet")
            source = "    kind: files\n    path: data/files"
            port = "path: m.parquet"
    elif kind == "postgres":
        import psycopg

        request.getfixturevalue("pg_url")
        cleanup = pg_database("mf_edge")
        url = cleanup.__enter__()
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE TABLE m (id bigint PRIMARY KEY, x double precision, s text)")
            with con.cursor() as cur:
                cur.executemany("INSERT INTO m VALUES (%s, %s, %s)", data)
        source = f"    kind: postgres\n    url: {url}"
    else:
        import pymysql

        url = request.getfixturevalue("mysql_url")
        table = f"e{uuid.uuid4().hex[:8]}_m"
        con = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=url.rsplit("/", 1)[1],
                              autocommit=True)
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, x DOUBLE, s VARCHAR(8))")
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", data)
        con.close()
        source = f"    kind: mysql\n    url: {url}"
        port = f"table: {table}"
    write(root / "mesh.yaml", MESH.format(source=source))
    write(root / "products" / "m.yaml", PRODUCT.format(port=port))
    return cleanup


@pytest.fixture(params=KINDS)
def edges(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Mesh]]:
    cleanup = build(tmp_path / "ws", request.param, request)
    try:
        with default_store(), Mesh.open(tmp_path / "ws") as mesh:
            mesh.apply()
            yield request.param, mesh
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


def expected_failing(kind: str) -> dict[str, set[int]]:
    """Per row-level rule, the ids that must fail: NaN fails every bound, ±∞ are ordered."""
    values = {i: x for i, x in held(kind).items() if x is not None}

    def failing(ok: Any) -> set[int]:
        return {i for i, x in values.items() if math.isnan(x) or not ok(x)}

    return {
        "min_only": failing(lambda x: x >= 0),
        "max_only": failing(lambda x: x <= 10),
        "both": failing(lambda x: 0 <= x <= 10),
        "open": failing(lambda x: 0 < x < 100),
        "listed": failing(lambda x: x in (1, 2, 3, 50)),
    }


@pytest.mark.slow
def test_nan_and_infinity_fail_bounds_alike_in_counts_and_samples(edges: tuple[str, Mesh]) -> None:
    kind, mesh = edges
    run = mesh.quality.run("lab.m")
    by = {r.rule: r for r in run.results}
    values = [x for x in held(kind).values() if x is not None]
    for name, ids in expected_failing(kind).items():
        result = by[name]
        assert result.error == "", (kind, name, result.error)
        assert (result.failing_rows, result.total_rows) == (len(ids), len(values)), (kind, name)
        assert {row["id"] for row in result.sample} == ids, (kind, name, result.sample)  # at most 5: all of them
        assert result.passed == (not ids)
    # NaN and infinities appear in samples as text JSON can carry
    shown = {row["id"]: row["x"] for row in by["both"].sample}
    if kind in ("duckdb", "parquet", "postgres"):
        assert shown[4] == "nan"
    if kind != "mysql":
        assert shown[5] == "inf" and shown[6] == "-inf"

    finite = [x for x in values if math.isfinite(x)]
    nonfinite = len(values) - len(finite)
    for name, want in (("mean_x", sum(finite) / len(finite)), ("max_x", max(finite)),
                       ("stddev_x", _stdev(finite)), ("median_x", 2.5)):
        result = by[name]
        assert result.observed == pytest.approx(want, rel=1e-9), (kind, name)
        assert result.passed == (nonfinite == 0), (kind, name, result.detail)
        if nonfinite:
            assert result.extra == {"nonfinite_rows": nonfinite} and "NaN or infinite" in result.detail
    assert by["distinct_x"].passed and by["s_listed"].failing_rows == 4


def _stdev(values: list[float]) -> float:
    import statistics

    return statistics.stdev(values)


@pytest.mark.slow
def test_profile_counts_nan_and_infinity_apart(edges: tuple[str, Mesh]) -> None:
    kind, mesh = edges
    prof = mesh.quality.profile("lab.m")
    x = prof.column("x")
    h = held(kind)
    finite = [v for v in h.values() if v is not None and math.isfinite(v)]
    nan = sum(1 for v in h.values() if v is not None and math.isnan(v))
    posinf = sum(1 for v in h.values() if v == INF)
    neginf = sum(1 for v in h.values() if v == -INF)
    assert (x.nan_count or 0, x.posinf_count or 0, x.neginf_count or 0) == (nan, posinf, neginf), kind
    assert (x.min, x.max) == (1.0, 50.0)
    assert x.mean == pytest.approx(sum(finite) / len(finite))
    assert x.stddev == pytest.approx(_stdev(finite))
    assert x.quantiles["p50"] == pytest.approx(2.5)
    tops = {t["value"] for t in x.to_dict()["top_values"]}
    assert {1.0, 2.0, 3.0, 50.0} <= tops
    if nan:
        assert "NaN" in tops
    if posinf:
        assert {"Infinity", "-Infinity"} <= tops
    assert None not in tops


# ---------------------------------------------------------------------------------------------
# Literals of the wrong type; rules that cannot be measured


def test_a_number_for_a_text_column_is_refused_at_apply(tmp_path: Path) -> None:
    from meshfabric.errors import SpecError

    root = tmp_path / "ws"
    build(root, "sqlite", None)  # type: ignore[arg-type]
    text = (root / "products" / "m.yaml").read_text()
    write(root / "products" / "m.yaml", text.replace("values: [a, b]", "values: [10001, 10002]"))
    with default_store(), pytest.raises(SpecError) as caught, Mesh.open(root) as mesh:
        mesh.apply()
    problem = caught.value.problems[0]
    assert problem.file.endswith("m.yaml") and problem.line == text.splitlines().index(
        "  - {type: accepted_values, column: s, values: [a, b], name: s_listed}") + 1
    assert "quality.10.values.0" in str(problem.field) and "write it as text ('10001')" in problem.message


def test_a_source_schema_is_checked_at_apply_too(tmp_path: Path) -> None:
    """No declared schema: the literals are checked against the source's columns at apply."""
    from meshfabric.errors import SpecError

    root = tmp_path / "ws"
    build(root, "sqlite", None)  # type: ignore[arg-type]
    text = (root / "products" / "m.yaml").read_text()
    head, _, _ = text.partition("schema:")
    write(root / "products" / "m.yaml", head + "quality:\n  - {type: range, column: x, min: zero}\n")
    with default_store(), pytest.raises(SpecError) as caught, Mesh.open(root) as mesh:
        mesh.apply()
    problem = caught.value.problems[0]
    assert problem.field == "quality.0.min" and problem.line == head.count("\n") + 2
    assert "'zero' is not a number" in problem.message


def _store_rules(mesh: Mesh, *, before: Sequence[dict[str, object]] = (),
                 after: Sequence[dict[str, object]] = ()) -> None:
    """Put rules into lab.m's stored spec directly, as a spec applied by an older version would
    hold them (apply itself would refuse them now)."""
    from sqlalchemy import select

    from meshfabric.store.models import ProductRow

    with mesh.store.write() as s:
        row = s.scalar(select(ProductRow).where(ProductRow.name == "m"))
        spec = dict(row.spec)
        spec["quality"] = [*before, *spec["quality"], *after]
        row.spec = spec


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "parquet", "postgres", "mysql"])
def test_one_rule_that_cannot_be_measured_keeps_the_others(kind: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ws"
    cleanup = build(root, kind, request)
    try:
        with default_store(), Mesh.open(root) as mesh:
            mesh.apply()
            # a spec applied before literals were checked: the stored rule compares text with numbers
            _store_rules(mesh, after=[{"type": "accepted_values", "column": "s", "values": [10001, 10002],
                                       "name": "typed_wrong"},
                                      {"type": "anomaly", "columns": ["x"], "name": "needs_sklearn"}])
            monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)  # the optional dependency is missing
            run = mesh.quality.run("lab.m")
            assert run.status == "failed" and run.error == ""
            by = {r.rule: r for r in run.results}
            assert "write it as text" in by["typed_wrong"].error and not by["typed_wrong"].passed
            assert "needs scikit-learn" in by["needs_sklearn"].error
            assert by["typed_wrong"].observed is None and by["typed_wrong"].detail.startswith("error: ")
            ok = [r for r in run.results if not r.error]
            assert len(ok) == len(run.results) - 2 and by["s_listed"].failing_rows == 4
            assert by["min_only"].failing_rows == len(expected_failing(kind)["min_only"])
            stored = mesh.quality.history("lab.m")[0]
            assert {r.rule for r in stored.results} == set(by)
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_a_statement_the_source_refuses_keeps_the_others(kind: str, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    """A custom rule whose SQL fails on some value only when it runs (a cast of text) is an error
    of that rule alone — on PostgreSQL too, where a refused statement would abort the session's
    transaction and with it every later statement of the run."""
    root = tmp_path / "ws"
    cleanup = build(root, kind, request)
    try:
        with default_store(), Mesh.open(root) as mesh:
            mesh.apply()
            _store_rules(mesh, before=[{"type": "custom_sql", "name": "cast_fails",
                                        "sql": "SELECT * FROM {table} WHERE CAST(s AS INTEGER) > 0"}])
            run = mesh.quality.run("lab.m")
            assert run.error == "", run.error
            by = {r.rule: r for r in run.results}
            assert by["cast_fails"].error and not by["cast_fails"].passed
            measured = [r for r in run.results if not r.error]
            assert len(measured) == len(run.results) - 1
            assert by["min_only"].failing_rows == len(expected_failing(kind)["min_only"])
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# Anomaly defaults

ANOMALY = """\
kind: DataProduct
domain: lab
name: {name}
owner: lab@example.com
output:
  source: src
  table: {name}
quality:
  - {{type: anomaly, columns: [a, b]{options}}}
"""


def _gaussian_workspace(root: Path, tables: dict[str, list[tuple[float, float]]], options: dict[str, str]) -> None:
    (root / "data").mkdir(parents=True)
    con = sqlite3.connect(root / "data" / "src.sqlite")
    for name, data in tables.items():
        con.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, a REAL, b REAL)")
        con.executemany(f"INSERT INTO {name} (a, b) VALUES (?, ?)", data)
        write(root / "products" / f"{name}.yaml", ANOMALY.format(name=name, options=options.get(name, "")))
    con.commit()
    con.close()
    write(root / "mesh.yaml", MESH.format(source="    kind: sqlite\n    path: data/src.sqlite"))


@pytest.mark.slow
def test_anomaly_defaults_pass_clean_data_and_flag_real_outliers(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    clean = [(rng.gauss(100, 15), rng.gauss(-3, 0.2)) for _ in range(3000)]
    outliers = [(100 + 15 * rng.choice((-10, 10)), -3 + 0.2 * rng.gauss(0, 1)) for _ in range(40)]
    small = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(40)]
    _gaussian_workspace(tmp_path / "ws", {"clean": clean, "dirty": clean[:2000] + outliers, "small": small},
                        {"dirty": ", max_share: 0.01"})
    with default_store(), Mesh.open(tmp_path / "ws") as mesh:
        mesh.apply()
        for name in ("clean", "small"):
            result = mesh.quality.run(f"lab.{name}").results[0]
            assert result.passed and result.error == "", (name, result.observed, result.detail)
            limit = 0.02 if name == "clean" else 0.05  # 40 rows: one row is 2.5 %
            assert result.observed is not None and result.observed <= limit, (name, result.observed)
        dirty = mesh.quality.run("lab.dirty").results[0]
        assert not dirty.passed and dirty.failing_rows is not None
        assert 40 <= dirty.failing_rows <= 40 + 0.01 * 2000, dirty.failing_rows
        assert all(row["_flagged"] and abs(row["a"] - 100) > 100 for row in dirty.sample)
