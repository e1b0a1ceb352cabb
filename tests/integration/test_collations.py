"""Collation detection against the real engines: a string column is trusted with a pushed filter
(and so with a row-level security filter) only when its source compares it byte for byte, as
DuckDB does. Each test asks the engine itself what ``col = 'abc'`` matches and checks that the
connector's ``case_insensitive`` agrees, and that a filtered scan returns exactly the rows
DuckDB keeps from an unfiltered one. Nothing is mocked."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import default_store
from meshfabric.connectors import get_connector
from meshfabric.connectors.base import Connector, ScanRequest
from meshfabric.connectors.duckdb import collated_columns
from meshfabric.connectors.mysql import collation_insensitive
from meshfabric.connectors.sqlite import column_collations
from meshfabric.spec.models import OutputPort, SourceSpec

#: values that tell case, accents, trailing spaces and Unicode normalisation apart
VALUES = ["abc", "ABC", "Abc", "àbc", "abc ", "e\u0301", "\u00e9", "E\u0301", "\u00c9"]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def f(text: str) -> sqlglot.exp.Expression:
    return sqlglot.parse_one(text, dialect="duckdb")


def assert_filter_exact(connector: Connector, port: OutputPort, column: str, literal: str = "abc") -> None:
    """A scan filtered on ``column = literal`` keeps exactly the rows DuckDB keeps from an
    unfiltered scan: the source itself when the filter was pushed, the engine otherwise."""
    everything = connector.scan(ScanRequest(port, columns=[column])).table.column(column).to_pylist()
    quoted = '"' + column.replace('"', '""') + '"'
    escaped = literal.replace("'", "''")
    filtered = connector.scan(ScanRequest(port, columns=[column], filters=[f(f"{quoted} = '{escaped}'")]))
    got = filtered.table.column(column).to_pylist()
    exact = sorted(v for v in everything if v == literal)
    if filtered.pushed_filters:  # trusted at the source: nothing more, nothing less
        assert sorted(got) == exact, (column, filtered.source_sql)
    else:  # the engine applies it to what the source returned
        assert sorted(v for v in got if v == literal) == exact, (column, filtered.source_sql)


# ---------------------------------------------------------------------------------------------
# SQLite


def sqlite_truth(conn: sqlite3.Connection, relation: str, column: str) -> bool:
    """True when SQLite finds ``column`` equal to a string whose bytes differ (NOCASE, RTRIM...)."""
    col = '"' + column.replace('"', '""') + '"'
    sql = f"SELECT count(*) FROM {relation} WHERE {col} = ? AND {col} <> ? COLLATE BINARY"
    return any(conn.execute(sql, (p, p)).fetchone()[0] > 0 for p in VALUES)


_COLLATION_NAMES = st.sampled_from(
    ["NOCASE", "nocase", "NoCase", '"nocase"', '"NOCASE"', "[nocase]", "`nocase`", "'nocase'", "RTRIM", "rtrim",
     '"rtrim"', "BINARY", "binary", '"BINARY"']
)  # fmt: skip
_OTHER_CLAUSES = st.lists(
    st.sampled_from(
        [
            "DEFAULT 'x'",
            "DEFAULT ('x' COLLATE NOCASE)",
            "NOT NULL",
            "NOT NULL DEFAULT ''",
            "CHECK (length(c) < 99)",
            "CHECK (c <> 'ZZ' COLLATE NOCASE)",
            "/* COLLATE NOCASE */",
            "-- COLLATE NOCASE\n",
            'CONSTRAINT "k" CHECK (1)',
            "UNIQUE",
            "DEFAULT 'COLLATE NOCASE'",
        ]
    ),
    max_size=3,
    unique=True,
)
_TYPES = st.sampled_from(["TEXT", "text", "VARCHAR(10)", "", "CLOB", "NVARCHAR ( 20 )", "character varying"])
_NAMES = st.sampled_from(["c", '"c"', "[c]", "`c`", "C"])


@st.composite
def sqlite_columns(draw: st.DrawFn) -> str:
    """One column definition of ``c``, its collation (if any) anywhere among other clauses."""
    clauses = draw(_OTHER_CLAUSES)
    collation = draw(st.none() | _COLLATION_NAMES)
    if collation is not None:
        clauses.insert(draw(st.integers(0, len(clauses))), f"COLLATE {collation}")
    spacing = draw(st.sampled_from([" ", "\n  ", "\t"]))
    return spacing.join([draw(_NAMES), draw(_TYPES), *clauses]).replace("--", spacing + "--")


@contextmanager
def sqlite_file(root: Path, *statements: str) -> Iterator[Connector]:
    db = root / f"{unique('lite')}.sqlite"
    conn = sqlite3.connect(db)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.executemany("INSERT OR IGNORE INTO t (c) VALUES (?)", [(v,) for v in VALUES])
        conn.commit()
    finally:
        conn.close()
    try:
        yield get_connector("lite", SourceSpec(kind="sqlite", path=db.name), root)
    finally:
        db.unlink()


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=sqlite_columns())
def test_sqlite_collation_anywhere_in_the_column_definition(tmp_path: Path, column: str) -> None:
    with sqlite_file(tmp_path, f"CREATE TABLE t (id INTEGER PRIMARY KEY, {column}, z TEXT)") as connector:
        with sqlite3.connect(connector.path) as conn:  # type: ignore[attr-defined]
            truth = sqlite_truth(conn, "t", "c")
        port = OutputPort(source="lite", table="t")
        cols = {c.name.lower(): c for c in connector.columns(port)}
        assert cols["c"].case_insensitive == truth, column
        assert not cols["z"].case_insensitive
        assert_filter_exact(connector, port, cols["c"].name)


def test_sqlite_nocase_after_default_was_the_reported_gap(tmp_path: Path) -> None:
    with sqlite_file(tmp_path, "CREATE TABLE t (c TEXT DEFAULT 'x' COLLATE NOCASE)") as connector:
        port = OutputPort(source="lite", table="t")
        assert connector.columns(port)[0].case_insensitive
        result = connector.scan(ScanRequest(port, filters=[f("c = 'abc'")]))
        # compared as COLLATE BINARY: only the exact value, as in DuckDB
        assert len(result.pushed_filters) == 1 and "COLLATE BINARY" in (result.source_sql or "")
        assert result.table.column("c").to_pylist() == [v for v in VALUES if v == "abc"]


SQLITE_VIEWS = [
    "SELECT c FROM t",
    "SELECT c AS renamed FROM t",
    "SELECT b AS c FROM t",
    "SELECT b COLLATE NOCASE AS c FROM t",
    "SELECT b COLLATE RTRIM AS c FROM t",
    "SELECT upper(c) AS c FROM t",
    "SELECT c || '' AS c FROM t",
    "SELECT coalesce(c, b) AS c FROM t",
    "SELECT CASE WHEN id > 0 THEN c END AS c FROM t",
    "SELECT c FROM (SELECT c FROM t)",
    "SELECT c FROM t UNION ALL SELECT 'x'",
    "SELECT 'x' AS c UNION ALL SELECT c FROM t",
    "SELECT (SELECT c FROM t AS i WHERE i.id = o.id) AS c FROM t AS o",
    "SELECT max(c) AS c FROM t GROUP BY id",
    "SELECT c FROM t WHERE c = c COLLATE BINARY",
    "SELECT b || c AS c FROM t",
]


@pytest.mark.parametrize("body", SQLITE_VIEWS)
@pytest.mark.parametrize("column", ["c TEXT COLLATE NOCASE", "c TEXT", "c TEXT COLLATE RTRIM"])
def test_sqlite_views_and_sql_ports_carry_the_collation_of_their_expression(
    tmp_path: Path, body: str, column: str
) -> None:
    with sqlite_file(
        tmp_path,
        f"CREATE TABLE t (id INTEGER PRIMARY KEY, {column}, b TEXT)",
        f"CREATE VIEW v AS {body}",
    ) as connector:
        with sqlite3.connect(connector.path) as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE t SET b = c")
            name = conn.execute("SELECT name FROM pragma_table_info('v')").fetchone()[0]
            truth = sqlite_truth(conn, "v", name)
        for port in (OutputPort(source="lite", table="v"), OutputPort(source="lite", sql=body)):
            (col,) = connector.columns(port)
            assert col.case_insensitive == truth, (port, body)
            assert_filter_exact(connector, port, col.name)


def test_sqlite_unknown_collation_counts_as_insensitive(tmp_path: Path) -> None:
    db = tmp_path / "custom.sqlite"
    conn = sqlite3.connect(db)
    conn.create_collation("folded", lambda a, b: (a.lower() > b.lower()) - (a.lower() < b.lower()))
    conn.execute("CREATE TABLE t (c TEXT COLLATE folded, d TEXT)")
    conn.commit()
    conn.close()
    connector = get_connector("lite", SourceSpec(kind="sqlite", path=db.name), tmp_path)
    cols = {c.name: c for c in connector.columns(OutputPort(source="lite", table="t"))}
    assert cols["c"].case_insensitive and not cols["d"].case_insensitive


def test_sqlite_column_collations_reads_every_spelling() -> None:
    conn = sqlite3.connect(":memory:")
    ddl = (
        'CREATE TABLE "T x" ("Mixed Case" TEXT NOT NULL DEFAULT \'a\' CHECK ("Mixed Case" <> \'\') '
        "COLLATE \"nocase\", [r] TEXT /* x */ COLLATE RTRIM, b TEXT DEFAULT ('y' COLLATE NOCASE), "
        "g TEXT GENERATED ALWAYS AS (b COLLATE NOCASE) VIRTUAL, h TEXT GENERATED ALWAYS AS (b) COLLATE NOCASE)"
    )
    conn.execute(ddl)
    got = column_collations(conn, '"T x"', ["Mixed Case", "r", "b", "g", "h"], ddl)
    assert got == {"Mixed Case": "NOCASE", "r": "RTRIM", "b": "BINARY", "g": "BINARY", "h": "NOCASE"}
    # a DDL that cannot be replayed leaves every collation unknown
    assert column_collations(conn, '"T x"', ["b"], "CREATE TABLE broken (") == {"b": None}


# ---------------------------------------------------------------------------------------------
# DuckDB


def duckdb_truth(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> bool:
    """True when DuckDB finds ``column`` equal to a string whose bytes differ."""
    col = '"' + column.replace('"', '""') + '"'
    sql = f"SELECT count(*) FROM {relation} WHERE {col} = ? AND encode({col}) <> encode(?)"
    return any(con.execute(sql, [p, p]).fetchone()[0] > 0 for p in VALUES)  # type: ignore[index]


DUCKDB_COLUMNS = [
    "VARCHAR",
    "VARCHAR COLLATE NOCASE",
    "VARCHAR COLLATE nocase",
    "VARCHAR COLLATE NOACCENT",
    "VARCHAR COLLATE NFC",
    "VARCHAR COLLATE nocase.noaccent",
    "VARCHAR COLLATE noaccent.nocase",
    "VARCHAR COLLATE nfc.nocase",
    "TEXT DEFAULT 'x' COLLATE NOCASE",
    "VARCHAR NOT NULL DEFAULT '' CHECK (length(c) < 99) COLLATE NOCASE",
    'STRING COLLATE "NOCASE"',
    "VARCHAR COLLATE C",
]
DUCKDB_VIEWS = [
    "SELECT c FROM t",
    "SELECT c AS renamed FROM t",
    "SELECT upper(c) AS c FROM t",
    "SELECT c || '' AS c FROM t",
    "SELECT b COLLATE NOCASE AS c FROM t",
    "SELECT b COLLATE NOACCENT AS c FROM t",
    "SELECT coalesce(c, b) AS c FROM t",
    "SELECT c FROM t UNION ALL SELECT 'x'",
    "SELECT CAST(c AS VARCHAR) AS c FROM t",
    "SELECT b AS c FROM t",
]


def duckdb_file(root: Path, column: str, *views: str) -> tuple[Connector, Path]:
    path = root / f"{unique('duck')}.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE TABLE t (id INTEGER, c {column}, b VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", [[i, v, v] for i, v in enumerate(VALUES)])
        for i, body in enumerate(views):
            con.execute(f"CREATE VIEW v{i} AS {body}")
    finally:
        con.close()
    return get_connector("duck", SourceSpec(kind="duckdb", path=path.name), root), path


@pytest.mark.parametrize("column", DUCKDB_COLUMNS)
def test_duckdb_column_collations(tmp_path: Path, column: str) -> None:
    try:
        connector, path = duckdb_file(tmp_path, column, *DUCKDB_VIEWS)
    except duckdb.Error as exc:  # a spelling this DuckDB does not take
        pytest.skip(f"DuckDB refuses {column!r}: {str(exc).splitlines()[0]}")
    with duckdb.connect(str(path), read_only=True) as con:
        truths = {"t": duckdb_truth(con, "t", "c")}
        names = {}
        for i, _ in enumerate(DUCKDB_VIEWS):
            names[f"v{i}"] = con.execute(f"DESCRIBE v{i}").fetchall()[0][0]
            truths[f"v{i}"] = duckdb_truth(con, f"v{i}", names[f"v{i}"])
    if column.upper().endswith("COLLATE NOCASE"):
        assert truths["t"]  # the probe values do tell
    cols = {c.name: c for c in connector.columns(OutputPort(source="duck", table="t"))}
    assert cols["c"].case_insensitive == truths["t"] and not cols["b"].case_insensitive
    assert_filter_exact(connector, OutputPort(source="duck", table="t"), "c")
    for i, body in enumerate(DUCKDB_VIEWS):
        for port in (OutputPort(source="duck", table=f"v{i}"), OutputPort(source="duck", sql=body)):
            (col,) = connector.columns(port)
            assert col.case_insensitive == truths[f"v{i}"], (column, body)
            assert_filter_exact(connector, port, col.name)
            if col.case_insensitive:
                assert connector.scan(ScanRequest(port, filters=[f(f"\"{col.name}\" = 'abc'")])).pushed_filters == []


def test_duckdb_default_collation_makes_every_string_collated() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (c VARCHAR, n INTEGER)")
    assert collated_columns(con, "t", ["c"]) == set()
    con.execute("SET default_collation = 'nocase'")
    assert collated_columns(con, "t", ["c"]) == {"c"}
    # a relation that cannot be planned leaves every column collated
    assert collated_columns(con, "no_such_table", ["c", "d"]) == {"c", "d"}


def test_duckdb_odd_column_names_are_probed_exactly(tmp_path: Path) -> None:
    path = tmp_path / "odd.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute('CREATE TABLE t ("we(ird ""x" VARCHAR, "Mixed Case" VARCHAR COLLATE NOCASE, "select" VARCHAR)')
        con.execute("INSERT INTO t VALUES ('abc', 'abc', 'abc'), ('ABC', 'ABC', 'ABC')")
    connector = get_connector("duck", SourceSpec(kind="duckdb", path=path.name), tmp_path)
    port = OutputPort(source="duck", table="t")
    cols = {c.name: c.case_insensitive for c in connector.columns(port)}
    assert cols == {'we(ird "x': False, "Mixed Case": True, "select": False}
    for name in cols:
        assert_filter_exact(connector, port, name)


# ---------------------------------------------------------------------------------------------
# MariaDB / MySQL


def test_mysql_collation_names() -> None:
    insensitive = ["utf8mb4_general_ci", "utf8mb4_0900_ai_ci", "utf8mb4_uca1400_as_ci", "utf8mb4_0900_as_ci",
                   "latin1_swedish_ci", "utf8mb4_general_nopad_ci", "utf8mb4_thai_520_w2", "utf8mb4_uca1400_ai_cs",
                   None, ""]  # fmt: skip
    sensitive = ["utf8mb4_bin", "utf8mb4_nopad_bin", "binary", "utf8mb4_0900_as_cs", "latin1_general_cs", "UTF8MB4_BIN"]
    assert all(collation_insensitive(c) for c in insensitive)
    assert not any(collation_insensitive(c) for c in sensitive)


@contextmanager
def my_database(collation: str = "utf8mb4_general_ci") -> Iterator[tuple[str, Callable[..., list[Any]]]]:
    """A MariaDB database of this test's own, with ``collation`` as its default."""
    import pymysql

    name = unique("mf_coll")
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True, charset="utf8mb4")

    def run(*statements: str, params: Any = None) -> list[Any]:
        out: list[Any] = []
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql, params)
                out = list(cur.fetchall())
        return out

    run(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE {collation}", f"USE `{name}`")
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}", run
    finally:
        run(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def my_truth(run: Callable[..., list[Any]], relation: str, column: str) -> bool:
    """True when MariaDB finds ``column`` equal to a string that differs by more than trailing
    spaces (PAD SPACE is the pushdown rules' business, told by the collation name)."""
    col = f"`{column}`"
    sql = (
        f"SELECT count(*) FROM {relation} WHERE {col} = %s "
        f"AND CAST(TRIM(TRAILING ' ' FROM {col}) AS BINARY) <> CAST(TRIM(TRAILING ' ' FROM %s) AS BINARY)"
    )
    return any(run(sql, params=(p, p))[0][0] > 0 for p in VALUES)


@pytest.mark.mariadb
def test_mariadb_collations_defaults_enums_and_views(mysql_url: str, tmp_path: Path) -> None:
    with my_database("utf8mb4_unicode_ci") as (url, run):
        run(
            "CREATE TABLE t (id INT, "
            "inherit_db VARCHAR(10), "  # database default: utf8mb4_unicode_ci
            "ci VARCHAR(10) COLLATE utf8mb4_general_ci, "
            "nopad_ci VARCHAR(10) COLLATE utf8mb4_general_nopad_ci, "
            "bin VARCHAR(10) COLLATE utf8mb4_bin, "
            "nopad_bin TEXT COLLATE utf8mb4_nopad_bin, "
            "w2 VARCHAR(10) COLLATE utf8mb4_thai_520_w2, "
            "latin_ci VARCHAR(10) CHARACTER SET latin1, "
            "e ENUM('abc', 'ABC', 'àbc') COLLATE utf8mb4_bin, "
            "e_ci ENUM('abc', 'xyz'), "
            "s SET('abc', 'xyz')) ",
            "CREATE TABLE t2 (x VARCHAR(10), y VARCHAR(10) COLLATE utf8mb4_nopad_bin) "
            "DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
        )
        rows = [
            (i, v, v, v, v, v, v, v if v.isascii() else None, v if v in ("abc", "ABC", "àbc") else None, "abc", "abc")
            for i, v in enumerate(VALUES)
        ]
        run("SET sql_mode = ''")
        with_params = "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        for row in rows:
            run(with_params, params=row)
        for v in VALUES:
            run("INSERT INTO t2 VALUES (%s, %s)", params=(v, v))
        run(
            "CREATE VIEW v AS SELECT id, nopad_bin AS plain, nopad_bin COLLATE utf8mb4_general_ci AS forced_ci, "
            "CONCAT(ci, '') AS concat_ci, UPPER(nopad_bin) AS upper_bin, "
            "CAST(ci AS CHAR(10)) AS cast_ci FROM t"
        )
        connector = get_connector("my", SourceSpec(kind="mysql", url=url), tmp_path)
        for relation, port in [
            ("t", OutputPort(source="my", table="t")),
            ("t2", OutputPort(source="my", table="t2")),
            ("v", OutputPort(source="my", table="v")),
            ("v", OutputPort(source="my", sql="SELECT * FROM v")),
        ]:
            cols = {c.name: c for c in connector.columns(port) if c.type.name == "string"}
            for name, col in cols.items():
                truth = my_truth(run, relation, name)
                assert col.case_insensitive == truth, (relation, name, col.native_type)
                assert_filter_exact(connector, port, name)
        t = {c.name: c for c in connector.columns(OutputPort(source="my", table="t"))}
        assert t["inherit_db"].native_type.endswith("utf8mb4_unicode_ci") and t["inherit_db"].case_insensitive
        assert t["e_ci"].case_insensitive and t["s"].case_insensitive and not t["e"].case_insensitive
        t2 = {c.name: c for c in connector.columns(OutputPort(source="my", table="t2"))}
        assert t2["x"].case_insensitive and not t2["y"].case_insensitive


# ---------------------------------------------------------------------------------------------
# PostgreSQL


@contextmanager
def pg_schema(pg_url: str) -> Iterator[tuple[str, Callable[..., list[Any]]]]:
    """A schema of this test's own (citext installed in it), dropped afterwards."""
    import psycopg

    schema = unique("mf_coll")
    conn = psycopg.connect(pg_url, autocommit=True)

    def run(*statements: str, params: Any = None) -> list[Any]:
        out: list[Any] = []
        for sql in statements:
            cur = conn.execute(sql, params)
            out = list(cur.fetchall()) if cur.description else []
        return out

    run(f'CREATE SCHEMA "{schema}"', f'SET search_path = "{schema}"', f'CREATE EXTENSION citext SCHEMA "{schema}"')
    try:
        yield schema, run
    finally:
        run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def pg_truth(run: Callable[..., list[Any]], relation: str, column: str) -> bool:
    """True when PostgreSQL finds ``column`` equal to a string whose text differs (as DuckDB
    reads it: ``char(n)`` without its padding)."""
    sql = f'SELECT count(*) FROM {relation} WHERE "{column}" = %s AND ("{column}"::text COLLATE "C") <> %s'
    return any(run(sql, params=(p, p))[0][0] > 0 for p in VALUES)


@pytest.mark.postgres
def test_postgres_citext_domains_arrays_collations_and_views(pg_url: str, tmp_path: Path) -> None:
    with pg_schema(pg_url) as (schema, run):
        run(
            "CREATE DOMAIN ci1 AS citext",
            "CREATE DOMAIN ci2 AS ci1",
            "CREATE COLLATION nd (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
            "CREATE COLLATION nd_accents (provider = icu, locale = 'und-u-ks-level1', deterministic = false)",
            "CREATE DOMAIN nd_text AS text COLLATE nd",
            "CREATE DOMAIN nd_text2 AS nd_text",
            "CREATE DOMAIN plain_text AS text CHECK (VALUE <> '')",
            "CREATE TABLE t (id int, a citext, b ci2, c text COLLATE nd, d nd_text2, e char(5), f text, "
            'g varchar(10) COLLATE "C", h plain_text, i text COLLATE nd_accents, j text COLLATE "und-x-icu", '
            "arr citext[], darr ci2[], tarr text[])",
        )
        for i, v in enumerate(VALUES):
            run(
                "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ARRAY[%s], ARRAY[%s], ARRAY[%s])",
                params=(i, v, v, v, v, v[:5], v, v, v, v, v, v, v, v),
            )
        run(
            "CREATE VIEW v AS SELECT id, a, b, f, f COLLATE nd AS forced, upper(a::text) AS upper_text, "
            "a || '' AS concat_ci, d AS renamed, e FROM t"
        )
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        for relation, port in [
            ("t", OutputPort(source="pg", table=f"{schema}.t")),
            ("v", OutputPort(source="pg", table=f"{schema}.v")),
            ("v", OutputPort(source="pg", sql=f'SELECT * FROM "{schema}".v')),
        ]:
            cols = {c.name: c for c in connector.columns(port)}
            for name, col in cols.items():
                if col.type.name != "string":
                    continue
                truth = pg_truth(run, relation, name)
                assert col.case_insensitive == truth, (relation, name, col.native_type)
                assert_filter_exact(connector, port, name)
            if relation == "t":
                assert cols["arr"].case_insensitive and cols["darr"].case_insensitive
                assert not cols["tarr"].case_insensitive


# ---------------------------------------------------------------------------------------------
# End to end: a row filter on a case-insensitive column is never trusted at the source

#: 12 rows: exactly three are 'abc'; the other nine equal it under NOCASE, RTRIM, citext or _ci
NAMES = ["abc"] * 3 + ["ABC"] * 3 + ["Abc"] * 3 + ["aBC"] * 3


def _sqlite_source(root: Path) -> str:
    with sqlite3.connect(root / "src.sqlite") as conn:
        conn.execute("CREATE TABLE people (id INTEGER, name TEXT DEFAULT 'x' COLLATE NOCASE)")
        conn.executemany("INSERT INTO people VALUES (?, ?)", list(enumerate(NAMES)))
    return "kind: sqlite\n    path: src.sqlite"


def _sqlite_view_source(root: Path) -> str:
    with sqlite3.connect(root / "src.sqlite") as conn:
        conn.execute("CREATE TABLE base (id INTEGER, n TEXT)")
        conn.execute("CREATE VIEW people AS SELECT id, n COLLATE NOCASE AS name FROM base")
        conn.executemany("INSERT INTO base VALUES (?, ?)", list(enumerate(NAMES)))
    return "kind: sqlite\n    path: src.sqlite"


def _duckdb_source(root: Path) -> str:
    with duckdb.connect(str(root / "src.duckdb")) as con:
        con.execute("CREATE TABLE people (id INTEGER, name VARCHAR COLLATE NOCASE)")
        con.executemany("INSERT INTO people VALUES (?, ?)", [list(r) for r in enumerate(NAMES)])
    return "kind: duckdb\n    path: src.duckdb"


def _duckdb_view_source(root: Path) -> str:
    with duckdb.connect(str(root / "src.duckdb")) as con:
        con.execute("CREATE TABLE base (id INTEGER, n VARCHAR COLLATE nocase.noaccent)")
        con.execute("CREATE VIEW people AS SELECT id, n || '' AS name FROM base")
        con.executemany("INSERT INTO base VALUES (?, ?)", [list(r) for r in enumerate(NAMES)])
    return "kind: duckdb\n    path: src.duckdb"


@pytest.fixture
def pg_people(pg_url: str) -> Iterator[tuple[str, str]]:
    with pg_schema(pg_url) as (schema, run):
        run("CREATE DOMAIN name_ci AS citext", "CREATE TABLE people (id int, name name_ci)")
        for i, n in enumerate(NAMES):
            run("INSERT INTO people VALUES (%s, %s)", params=(i, n))
        yield f"kind: postgres\n    url: {pg_url}\n", schema


@pytest.fixture
def my_people() -> Iterator[str]:
    with my_database("utf8mb4_general_ci") as (url, run):
        run("CREATE TABLE base (id INT, n VARCHAR(10) COLLATE utf8mb4_nopad_bin)")
        run("CREATE VIEW people AS SELECT id, n COLLATE utf8mb4_general_ci AS name FROM base")
        for i, n in enumerate(NAMES):
            run("INSERT INTO base VALUES (%s, %s)", params=(i, n))
        yield f"kind: mysql\n    url: {url}\n"


SOURCES = {
    "sqlite": _sqlite_source,
    "sqlite_view": _sqlite_view_source,
    "duckdb": _duckdb_source,
    "duckdb_view": _duckdb_view_source,
}


@pytest.fixture(
    params=[
        *SOURCES,
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mariadb),
    ]
)
def people_workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    table = "people"
    if request.param in SOURCES:
        source = SOURCES[request.param](root)
    elif request.param == "postgres":
        source, schema = request.getfixturevalue("pg_people")
        table = f"{schema}.people"
    else:
        source = request.getfixturevalue("my_people")
    (root / "mesh.yaml").write_text(
        f"name: m\nsources:\n  src:\n    {source.rstrip()}\ndomains:\n  hr: {{}}\n"
        "access:\n  local_principal: admin\n  admins: [admin]\n"
    )
    (root / "people.yaml").write_text(
        "kind: DataProduct\ndomain: hr\nname: people\nowner: o\nstatus: published\n"
        f"output: {{source: src, table: {table}}}\n"
    )
    (root / "policy.yaml").write_text(
        "kind: AccessPolicy\nname: p\nrules:\n  - to: everyone\n    product: hr.people\n"
        "    row_filter: \"name = 'abc'\"\n"
    )
    return root


def test_row_filter_on_a_case_insensitive_column_is_not_trusted_at_the_source(people_workspace: Path) -> None:
    from meshfabric import Mesh

    with default_store(), Mesh.open(people_workspace) as m:
        m.apply()
        m.access.create_principal("alice")
        m.access.create_role("r")
        m.access.assign_role("alice", "r")
        m.access.grant("r", "query", product="hr.people")
        seen = m.query("SELECT id, name FROM hr.people ORDER BY id", user="alice").arrow().to_pylist()
        everything = m.query("SELECT name FROM hr.people").arrow().column("name").to_pylist()
        exact = [n for n in everything if n == "abc"]
        assert len(everything) == 12 and len(exact) == 3
        assert [r["name"] for r in seen] == exact
        hidden = m.query("SELECT count(*) AS n FROM hr.people WHERE name <> 'abc'", user="alice").arrow()
        assert hidden.column("n").to_pylist() == [0]
        # the admin sees the true numbers, the 9-vs-12 case of the review
        assert m.query("SELECT count(*) AS n FROM hr.people").arrow().column("n").to_pylist() == [12]
        assert m.query("SELECT count(*) AS n FROM hr.people WHERE name <> 'abc'").arrow().column("n").to_pylist() == [
            12 - len(exact)
        ]
        # a pushed filter with a pushed LIMIT would stop at the first three NOCASE matches ('abc')
        limited = m.query("SELECT name FROM hr.people WHERE name = 'ABC' LIMIT 3").arrow()
        assert limited.column("name").to_pylist() == ["ABC"] * 3
        assert m.query("SELECT count(*) AS n FROM hr.people WHERE lower(name) = 'abc'").arrow().column(
            "n"
        ).to_pylist() == [12]
