"""SQL lineage is complete for real engines: for generated statements, tables holding *only* the columns
the lineage reports (direct edges, field-level and dataset-level indirect dependencies) are enough for
DuckDB, SQLite, PostgreSQL and MariaDB to run the statement. A column the lineage missed would make
the engine fail to bind it; the reported direct inputs are also checked to be exactly the ones built in."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshfabric.lineage import SqlLineage, analyze_sql

COLS = ["id", "qty", "amount", "price", "score", "n", "v", "w"]


@dataclass
class Case:
    sql: str
    expected: dict[str, set[str]]  # output column → its direct source columns (table.col)
    target: tuple[str, list[str]] | None  # INSERT target table and its columns, created beforehand


@st.composite
def statements(draw: st.DrawFn, prefix: str) -> Case:
    n = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(["orders", "items", "users", "events"]), min_size=n, max_size=n,
                          unique=True))
    tbls = [(f"{prefix}{name}", f"a{i}", draw(st.lists(st.sampled_from(COLS), min_size=1, max_size=4, unique=True)))
            for i, name in enumerate(names)]

    def column() -> tuple[str, str]:
        name, alias, cols = draw(st.sampled_from(tbls))
        col = draw(st.sampled_from(cols))
        return f"{alias}.{col}", f"{name}.{col}"

    grouped = draw(st.booleans())
    items: list[tuple[str, set[str], bool]] = []  # sql, sources, is aggregate
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["identity", "arith", "agg", "window"] if not grouped
                                    else ["identity", "arith", "agg"]))
        operands = [column() for _ in range(1 if kind == "identity" else draw(st.integers(1, 3)))]
        expr = " + ".join(o[0] for o in operands) if kind != "identity" else operands[0][0]
        if kind == "arith":
            expr = f"({expr} * {draw(st.integers(2, 9))})"
        elif kind == "agg":
            expr = f"{draw(st.sampled_from(['sum', 'min', 'max', 'avg']))}({expr})"
        elif kind == "window":
            expr = f"{draw(st.sampled_from(['sum', 'min', 'max']))}({expr}) OVER (ORDER BY {column()[0]})"
        items.append((expr, {o[1] for o in operands}, kind == "agg"))
    if not grouped:
        items = [i for i in items if not i[2]] or [(tbls[0][1] + "." + tbls[0][2][0],
                                                    {f"{tbls[0][0]}.{tbls[0][2][0]}"}, False)]
    select = ", ".join(f"{sql} AS o{i}" for i, (sql, _s, _a) in enumerate(items))
    frm = f"{tbls[0][0]} {tbls[0][1]}"
    for name, alias, cols in tbls[1:]:
        left = draw(st.sampled_from(tbls[0][2]))
        join = draw(st.sampled_from(["JOIN", "LEFT JOIN"]))
        frm += f" {join} {name} {alias} ON {tbls[0][1]}.{left} = {alias}.{cols[0]}"
    query = f"SELECT {select} FROM {frm}"
    if draw(st.booleans()):
        name, alias, cols = draw(st.sampled_from(tbls))
        query += f" WHERE {alias}.{draw(st.sampled_from(cols))} > {draw(st.integers(0, 5))}"
    keys = [sql for sql, _s, agg in items if not agg]
    if grouped and keys and any(agg for _q, _s, agg in items):
        query += " GROUP BY " + ", ".join(keys)
    outs = [f"o{i}" for i in range(len(items))]
    wrap = draw(st.sampled_from(["plain", "cte", "derived", "insert"]))
    target = None
    if wrap == "cte":
        query = f"WITH q AS ({query}) SELECT {', '.join(outs)} FROM q"
    elif wrap == "derived":
        query = f"SELECT {', '.join('d.' + o for o in outs)} FROM ({query}) d"
    elif wrap == "insert":
        cols = [f"c{i}" for i in range(len(items))]
        target = (f"{prefix}target", cols)
        query = f"INSERT INTO {prefix}target ({', '.join(cols)}) {query}"
        outs = [f"{prefix}target.{c}" for c in cols]
    return Case(query, {o: sources for o, (_q, sources, _a) in zip(outs, items, strict=True)}, target)


def _tables_needed(result: SqlLineage) -> dict[str, set[str]]:
    needed: dict[str, set[str]] = {t: set() for t in result.sources}
    for stmt in result.statements:
        refs = [i.source for c in stmt.columns for i in c.inputs] + [d.source for d in stmt.dataset]
        for ref in refs:
            assert ref.table is not None
            needed.setdefault(ref.table, set()).add(ref.column)
    return needed


def _check(case: Case, dialect: str, execute: Callable[[str], None]) -> None:
    result = analyze_sql(case.sql, dialect=dialect)
    assert result.warnings == []
    got = {str(c.target): {str(i.source) for i in c.direct} for c in result.statements[0].columns}
    assert got == case.expected, case.sql
    for table, cols in _tables_needed(result).items():
        assert cols, f"{table} is read but no column of it is reported"
        execute(f"CREATE TABLE {table} ({', '.join(f'{c} INTEGER' for c in sorted(cols))})")
    if case.target is not None:
        name, cols = case.target
        execute(f"CREATE TABLE {name} ({', '.join(f'{c} DOUBLE PRECISION' for c in cols)})")
    execute(case.sql)  # binds every column: a column missing from the lineage fails here


SETTINGS = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@SETTINGS
@given(statements(prefix=""))
def test_duckdb_runs_on_exactly_the_reported_columns(case: Case) -> None:
    import duckdb

    con = duckdb.connect()
    try:
        _check(case, "duckdb", lambda sql: con.execute(sql))
    finally:
        con.close()


@SETTINGS
@given(statements(prefix=""))
def test_sqlite_runs_on_exactly_the_reported_columns(case: Case) -> None:
    con = sqlite3.connect(":memory:")
    try:
        _check(case, "sqlite", lambda sql: con.execute(sql))
    finally:
        con.close()


@pytest.fixture()
def pg_conn(pg_url: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        yield conn


@pytest.mark.slow
@SETTINGS
@given(statements(prefix="lin."))
def test_postgres_runs_on_exactly_the_reported_columns(pg_conn: Any, case: Case) -> None:
    try:
        with pg_conn.cursor() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS lin")
            _check(case, "postgres", lambda sql: cur.execute(sql))
    finally:
        pg_conn.rollback()  # PostgreSQL DDL is transactional: every example starts from nothing


@pytest.fixture()
def my_conn(mysql_url: str) -> Iterator[Any]:
    import pymysql

    db = mysql_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=db, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.slow
@SETTINGS
@given(statements(prefix=""))
def test_mariadb_runs_on_exactly_the_reported_columns(my_conn: Any, case: Case) -> None:
    created: list[str] = []

    def execute(sql: str) -> None:
        with my_conn.cursor() as cur:
            if sql.startswith("CREATE TABLE "):
                name = sql.split()[2]
                cur.execute(f"DROP TABLE IF EXISTS {name}")
                created.append(name)
            cur.execute(sql)

    try:
        _check(case, "mysql", execute)
    finally:
        with my_conn.cursor() as cur:
            for name in created:
                cur.execute(f"DROP TABLE IF EXISTS {name}")

