"""Every connector against the real thing: PostgreSQL and MariaDB servers, SQLite and DuckDB
files, Parquet/CSV/JSON folders. Nothing is mocked."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from helpers import my_exec, pg_exec
from meshfabric.connectors import KINDS, get_connector
from meshfabric.connectors.base import Connector, ScanRequest
from meshfabric.errors import SourceError
from meshfabric.spec.models import OutputPort, SourceSpec

SAMPLE = pa.table(
    {
        "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "amount": pa.array(
            [Decimal("1.25"), Decimal("-3.10"), None, Decimal("0.07"), Decimal("1234567890123.45")],
            pa.decimal128(15, 2),
        ),
        "name": ["alpha", "Alpha", "béta 😀", None, "alpha "],
        "day": pa.array([dt.date(1994, 1, 1), dt.date(2020, 2, 29), None, dt.date(1970, 1, 1), dt.date(9999, 12, 31)]),
        "at": pa.array(
            [
                dt.datetime(2020, 1, 1, 1, 2, 3, 456789),
                None,
                dt.datetime(1999, 12, 31, 23, 59, 59),
                None,
                dt.datetime(2038, 1, 19, 3, 14, 8),
            ],
            pa.timestamp("us"),
        ),
        "ratio": [0.5, None, -2.25, 1e10, 0.0],
        "ok": [True, False, None, True, False],
    }
)
SERVER = {"postgres", "mysql"}


def resolved_spec(**fields: object) -> SourceSpec:
    """A source spec as connectors receive it: ${ENV} already substituted, so secrets are literal."""
    return SourceSpec.model_validate(fields, context={"resolved": True})


def f(text: str) -> sqlglot.exp.Expression:
    return sqlglot.parse_one(text, dialect="duckdb")


def unique(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def make(kind: str, request: pytest.FixtureRequest, root: Path, name: str | None = None) -> Connector:
    if kind == "postgres":
        spec = SourceSpec(kind="postgres", url=request.getfixturevalue("pg_url"))
    elif kind == "mysql":
        spec = SourceSpec(kind="mysql", url=request.getfixturevalue("mysql_url"))
    elif kind == "sqlite":
        spec = SourceSpec(kind="sqlite", path="data/source.sqlite")
    elif kind == "duckdb":
        spec = SourceSpec(kind="duckdb", path="data/source.duckdb")
    else:
        (root / "lake").mkdir(exist_ok=True)
        spec = SourceSpec(kind="files", path="lake")
    return get_connector(name or f"{kind}_src", spec, root)


def port_of(connector: Connector, table: str) -> OutputPort:
    if connector.kind == "files":
        return OutputPort(source=connector.name, path=f"{table}.parquet")
    return OutputPort(source=connector.name, table=table)


KIND_PARAMS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mariadb),
    "sqlite",
    "duckdb",
    "files",
]


@pytest.fixture(params=KIND_PARAMS)
def loaded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Connector, OutputPort]:
    """A connector of each kind holding SAMPLE in a fresh table."""
    connector = make(request.param, request, tmp_path)
    table = unique("sample")
    assert connector.write(table, SAMPLE, "create") == SAMPLE.num_rows
    return connector, port_of(connector, table)


def test_every_kind_is_registered() -> None:
    assert set(KINDS) == {"postgres", "mysql", "sqlite", "duckdb", "files"}


class TestEveryConnector:
    def test_write_then_scan_gives_the_same_table(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        result = connector.scan(ScanRequest(port))
        assert result.table.schema == SAMPLE.schema, result.table.schema
        assert result.table.equals(SAMPLE), result.table.to_pylist()

    def test_write_modes(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        table = port.table or str(port.path).removesuffix(".parquet")
        with pytest.raises(SourceError, match="already exists"):
            connector.write(table, SAMPLE, "create")
        connector.write(table, SAMPLE, "append")
        assert connector.scan(ScanRequest(port, columns=[])).rows == 2 * SAMPLE.num_rows
        connector.write(table, SAMPLE.slice(0, 2), "replace")
        assert connector.scan(ScanRequest(port)).table.equals(SAMPLE.slice(0, 2))

    def test_projection_keeps_requested_order_and_names(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        result = connector.scan(ScanRequest(port, columns=["name", "ID"]))
        assert result.table.column_names == ["name", "id"]
        assert result.table.column("id").to_pylist() == [1, 2, 3, 4, 5]
        assert result.source_sql is not None
        assert "amount" not in result.source_sql and "ratio" not in result.source_sql

    def test_no_columns_counts_rows(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        everything = connector.scan(ScanRequest(port, columns=[]))
        assert (everything.rows, everything.table.num_columns) == (5, 0)
        some = connector.scan(ScanRequest(port, columns=[], filters=[f("id > 2")]))
        assert some.rows == 3
        capped = connector.scan(ScanRequest(port, columns=[], limit=2))
        assert capped.rows == 2

    def test_pushed_filters_reduce_the_rows_that_leave_the_source(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        rows = SAMPLE.to_pylist()
        checks = {
            "id >= 2": lambda r: r["id"] >= 2,
            "day < DATE '2000-01-01' + INTERVAL 1 YEAR": lambda r: (
                r["day"] is not None and r["day"] < dt.date(2001, 1, 1)
            ),
            "ratio IS NOT NULL": lambda r: r["ratio"] is not None,
        }
        filters = {text: f(text) for text in checks}
        result = connector.scan(ScanRequest(port, columns=["id"], filters=list(filters.values())))
        pushed = [text for text, node in filters.items() if any(p is node for p in result.pushed_filters)]
        assert "id >= 2" in pushed and "WHERE" in (result.source_sql or "")
        # exactly the rows that pass the pushed filters left the source, no more
        expected = sorted(r["id"] for r in rows if all(checks[text](r) for text in pushed))
        assert sorted(result.table.column("id").to_pylist()) == expected
        assert result.rows < SAMPLE.num_rows

    def test_limit_stays_home_when_a_filter_cannot_be_pushed(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        result = connector.scan(ScanRequest(port, columns=["id"], filters=[f("abs(id) > 3")], limit=1))
        assert result.pushed_filters == []
        assert "LIMIT" not in (result.source_sql or "")
        assert result.rows == SAMPLE.num_rows  # the engine filters, then limits
        limited = connector.scan(ScanRequest(port, columns=["id"], filters=[f("id > 3")], limit=1))
        assert limited.rows == 1

    def test_missing_table_names_the_source_and_a_close_match(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        real = port.table or str(port.path)
        typo = real[:-1] + ("x" if real[-1] != "x" else "y")
        bad = (
            OutputPort(source=connector.name, table=typo)
            if port.table
            else OutputPort(source=connector.name, path=typo)
        )
        with pytest.raises(SourceError) as err:
            connector.columns(bad)
        text = str(err.value)
        assert f"'{typo}' not found in source '{connector.name}'" in text
        assert "did you mean" in text and real.split("/")[-1].removesuffix(".parquet") in text

    def test_missing_column_is_a_source_error(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        with pytest.raises(SourceError, match="column 'nam' not found"):
            connector.scan(ScanRequest(port, columns=["nam"]))

    def test_concurrent_scans_from_threads(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded

        def one(i: int) -> tuple[int, list[int]]:
            low = i % 5 + 1
            result = connector.scan(ScanRequest(port, columns=["id"], filters=[f(f"id >= {low}")]))
            return low, sorted(result.table.column("id").to_pylist())

        with ThreadPoolExecutor(8) as pool:
            for low, ids in pool.map(one, range(24)):
                assert ids == list(range(low, 6))

    def test_stats_and_listing(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        stats = connector.stats(port)
        assert stats.row_count is not None
        if stats.exact:
            assert stats.row_count == 5
        listed = {t.qualified.split(".")[-1] if connector.kind != "files" else t.name for t in connector.list_tables()}
        assert (port.table or port.path) in listed
        connector.test()

    def test_columns_describe_logical_types(self, loaded: tuple[Connector, OutputPort]) -> None:
        connector, port = loaded
        types = {c.name: str(c.type) for c in connector.columns(port)}
        assert types == {
            "id": "bigint",
            "amount": "decimal(15,2)",
            "name": "string",
            "day": "date",
            "at": "timestamp",
            "ratio": "double",
            "ok": "boolean",
        }


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def duckdb_postgres(url: str) -> duckdb.DuckDBPyConnection:
    ext = Path(duckdb.__file__).parent.parent / "duckdb_extension_postgres/extensions/v1.5.5/postgres.duckdb_extension"
    con = duckdb.connect()
    con.execute(f"INSTALL '{ext}'")
    con.execute("LOAD postgres_scanner")
    con.execute(f"ATTACH '{url}' AS pg (TYPE postgres, READ_ONLY)")
    return con


@pytest.mark.postgres
class TestPostgres:
    def test_types_equal_duckdbs_postgres_scanner(self, pg_url: str, tmp_path: Path) -> None:
        table = unique("types")
        pg_exec(
            pg_url,
            f"""CREATE TABLE {table} (
                d152 numeric(15,2), dfree numeric, dwide numeric(40,5), i2 smallint, i4 integer, i8 bigint,
                r real, dp double precision, t text, vc varchar(10), ch char(5), b boolean, dt date,
                ts timestamp, tstz timestamptz, tm time, iv interval, by bytea, u uuid, j jsonb, js json,
                ai integer[], at text[], an numeric(10,2)[], m money, bits bit(3))""",
            f"""INSERT INTO {table} VALUES (
                1234567890123.45, 3.14159, 12345678901234567890123.12345, -2, 7, 9000000000, 1.5, 2.25,
                'tëxt 😀', 'vc', 'ab', true, '1994-01-01', '2020-01-01 10:11:12.123456',
                '2020-06-01 12:00:00+02', '10:11:12', '1 day 02:00:00', '\\x0102',
                'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{"a": [1, 2]}}', '[1, "x"]', '{{1,2,NULL}}',
                '{{a,b}}', '{{1.50,2.25}}', 12.34, B'101')""",
            f"INSERT INTO {table} (i4) VALUES (NULL)",
        )
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        ours = connector.scan(ScanRequest(OutputPort(source="pg", table=table))).table
        theirs = duckdb_postgres(pg_url).execute(f"SELECT * FROM pg.public.{table}").to_arrow_table()
        assert ours.column_names == theirs.column_names
        for name in ours.column_names:
            if name == "dwide":
                # PostgreSQL rounds numeric → double correctly; DuckDB's scanner is 1 ulp off here
                assert ours.column(name)[0].as_py() == pytest.approx(theirs.column(name)[0].as_py(), rel=1e-15)
                continue
            assert ours.column(name).to_pylist() == theirs.column(name).to_pylist(), name
        for name in ("d152", "dfree", "dwide", "dt", "ts", "i2", "r", "t", "b"):
            assert ours.schema.field(name).type == theirs.schema.field(name).type, name
        assert ours.schema.field("d152").type == pa.decimal128(15, 2)
        assert ours.schema.field("an").type == pa.list_(pa.decimal128(10, 2))

    def test_string_range_needs_c_collation(self, pg_url: str, tmp_path: Path) -> None:
        table = unique("coll")
        pg_exec(
            pg_url,
            f'CREATE TABLE {table} (c text COLLATE "C", i text COLLATE "und-x-icu")',
            f"INSERT INTO {table} VALUES ('a', 'a'), ('B', 'B'), ('b', 'b')",
        )
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        port = OutputPort(source="pg", table=table)
        by_c = connector.scan(ScanRequest(port, columns=["c"], filters=[f("c > 'a'")]))
        assert [p.sql() for p in by_c.pushed_filters] == ["c > 'a'"]
        assert sorted(by_c.table.column("c").to_pylist()) == ["b"]  # DuckDB's byte order: 'B' < 'a'
        by_icu = connector.scan(ScanRequest(port, columns=["i"], filters=[f("i > 'a'"), f("i = 'b'")]))
        assert [p.sql() for p in by_icu.pushed_filters] == ["i > 'a'", "i = 'b'"]
        assert 'COLLATE "C" > \'a\'' in (by_icu.source_sql or "")  # the range in the byte order
        assert by_icu.table.column("i").to_pylist() == ["b"]
        # the trap itself: PostgreSQL's ICU order puts 'B' after 'a'
        assert pg_exec(pg_url, f"SELECT count(*) FROM {table} WHERE i > 'a'")[0][0] == 2

    def test_nondeterministic_collation_is_case_insensitive(self, pg_url: str, tmp_path: Path) -> None:
        table, coll = unique("nd"), unique("ci")
        pg_exec(
            pg_url,
            f"CREATE COLLATION {coll} (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
            f"CREATE TABLE {table} (s text COLLATE {coll})",
            f"INSERT INTO {table} VALUES ('abc'), ('ABC')",
        )
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        port = OutputPort(source="pg", table=table)
        assert connector.columns(port)[0].case_insensitive
        result = connector.scan(ScanRequest(port, filters=[f("s = 'abc'")]))
        # compared in the C collation: only 'abc', as in DuckDB
        assert len(result.pushed_filters) == 1 and result.table.column("s").to_pylist() == ["abc"]
        assert 'COLLATE "C"' in (result.source_sql or "")
        assert pg_exec(pg_url, f"SELECT count(*) FROM {table} WHERE s = 'abc'")[0][0] == 2

    def test_sql_port(self, pg_url: str, tmp_path: Path) -> None:
        table = unique("base")
        pg_exec(
            pg_url,
            f"CREATE TABLE {table} AS SELECT g AS n, (g * 1.5)::numeric(10,1) AS v, 'x' || g AS s "
            "FROM generate_series(1, 100) g",
        )
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        port = OutputPort(source="pg", sql=f"SELECT n, v * 2 AS v2, s FROM {table} WHERE n <= 50")
        cols = {c.name: str(c.type) for c in connector.columns(port)}
        assert cols == {"n": "integer", "v2": "double", "s": "string"}
        result = connector.scan(ScanRequest(port, columns=["v2", "n"], filters=[f("n > 40")], limit=3))
        assert result.rows == 3 and result.table.column_names == ["v2", "n"]
        assert result.source_sql is not None and "LIMIT 3" in result.source_sql
        with pytest.raises(SourceError, match="exactly one SELECT"):
            connector.scan(ScanRequest(OutputPort(source="pg", sql=f"DELETE FROM {table}")))
        with pytest.raises(SourceError, match="sql failed"):
            connector.columns(OutputPort(source="pg", sql="SELECT nope FROM nowhere"))

    def test_parallel_read_equals_one_connection(
        self, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from meshfabric.connectors import postgres

        table = unique("big")
        pg_exec(
            pg_url,
            f"CREATE TABLE {table} AS SELECT g AS id, (g % 97)::numeric(12,2) AS v, md5(g::text) AS h "
            "FROM generate_series(1, 30000) g",
            f"ANALYZE {table}",
        )
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        request = ScanRequest(OutputPort(source="pg", table=table), filters=[f("v < 50")])
        single = connector.scan(request).table
        monkeypatch.setattr(postgres, "PARALLEL_MIN_PAGES", 1)
        monkeypatch.setattr(postgres.os, "cpu_count", lambda: 3)
        ranged = connector.scan(request)
        parallel = ranged.table
        assert (ranged.source_sql or "").endswith("/* read in 3 ctid ranges on one snapshot */")  # --stats tells
        assert (
            parallel.num_rows == single.num_rows == pg_exec(pg_url, f"SELECT count(*) FROM {table} WHERE v < 50")[0][0]
        )
        assert parallel.sort_by("id").equals(single.sort_by("id"))
        assert len(connector._ranges(connector._run(lambda c: connector._resolve(c, table)))) == 3

    def test_errors_name_the_source_and_hide_the_password(self, pg_url: str, tmp_path: Path) -> None:
        secret = "s3cret-Pa55"
        cases = {
            "postgresql://postgres:%s@127.0.0.1:1/x": "cannot reach",
            "postgresql://postgres:%s@127.0.0.1:5432/no_such_db_mf": "does not exist",
            "postgresql://no_such_role_mf:%s@127.0.0.1:5432/postgres": "authentication failed",
        }
        for url, expected in cases.items():
            connector = get_connector("pg_bad", resolved_spec(kind="postgres", url=url % secret), tmp_path)
            started = time.perf_counter()
            with pytest.raises(SourceError) as err:
                connector.test()
            text = str(err.value)
            assert "source 'pg_bad'" in text and expected in text, text
            assert secret not in text and secret not in repr(err.value)
            if expected == "cannot reach":
                assert "gave up after 3 attempts" in text  # transient: retried with backoff
            else:
                assert time.perf_counter() - started < 2, "permanent failures are not retried"

    def test_stats_of_an_analyzed_table_are_estimates(self, pg_url: str, tmp_path: Path) -> None:
        table = unique("est")
        pg_exec(pg_url, f"CREATE TABLE {table} AS SELECT g FROM generate_series(1, 5000) g", f"ANALYZE {table}")
        connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
        stats = connector.stats(OutputPort(source="pg", table=table))
        assert stats.row_count == 5000 and not stats.exact and (stats.size_bytes or 0) > 0
        view = connector.stats(OutputPort(source="pg", sql=f"SELECT * FROM {table} WHERE g < 100"))
        assert view.row_count is not None and 1 <= view.row_count <= 5000

    def test_separate_fields_instead_of_url(self, pg_url: str, tmp_path: Path) -> None:
        database = pg_url.rsplit("/", 1)[1]
        spec = SourceSpec(kind="postgres", host="127.0.0.1", port="5432", database=database, user="postgres")
        get_connector("pg", spec, tmp_path).test()


# ---------------------------------------------------------------------------------------------
# MariaDB


@pytest.mark.mariadb
class TestMariaDB:
    def test_case_insensitive_and_pad_space_collations_compare_bytes(self, mysql_url: str, tmp_path: Path) -> None:
        table = unique("coll")
        my_exec(
            mysql_url,
            f"CREATE TABLE {table} (ci VARCHAR(10) COLLATE utf8mb4_general_ci, bin VARCHAR(10) COLLATE utf8mb4_bin, "
            "nopad VARCHAR(10) COLLATE utf8mb4_nopad_bin)",
            f"INSERT INTO {table} VALUES ('abc', 'abc', 'abc'), ('ABC', 'ABC', 'ABC'), ('abc ', 'abc ', 'abc ')",
        )
        # the traps, shown by MariaDB itself
        assert my_exec(mysql_url, f"SELECT count(*) FROM {table} WHERE ci = 'abc'")[0][0] == 3
        assert my_exec(mysql_url, f"SELECT count(*) FROM {table} WHERE bin = 'abc'")[0][0] == 2
        connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
        port = OutputPort(source="my", table=table)
        info = {c.name: c for c in connector.columns(port)}
        assert info["ci"].case_insensitive and not info["bin"].case_insensitive
        for column in ("ci", "bin"):  # pushed as CAST(col AS BINARY): only DuckDB's one row
            result = connector.scan(ScanRequest(port, columns=[column], filters=[f(f"{column} = 'abc'")]))
            assert len(result.pushed_filters) == 1 and "AS BINARY" in (result.source_sql or "")
            assert result.table.column(column).to_pylist() == ["abc"]
        exact = connector.scan(ScanRequest(port, columns=["nopad"], filters=[f("nopad = 'abc'")]))
        assert len(exact.pushed_filters) == 1 and exact.table.column("nopad").to_pylist() == ["abc"]

    def test_types_survive_connectorx(self, mysql_url: str, tmp_path: Path) -> None:
        table = unique("types")
        my_exec(
            mysql_url,
            "SET SESSION sql_mode = ''",
            f"""CREATE TABLE {table} (a DECIMAL(20,15), b DECIMAL(38,2), c DECIMAL(65,10), d DATE, e DATETIME(6),
                f TIMESTAMP(3) NULL, g TIME, h TINYINT(1), i TINYINT UNSIGNED, j BIGINT UNSIGNED, k YEAR,
                l VARCHAR(20) CHARACTER SET utf8mb4, m BLOB, n FLOAT, o ENUM('x','y'), p CHAR(4))""",
        )
        my_exec(
            mysql_url,
            "SET SESSION sql_mode = '', time_zone = '+00:00'",
            f"""INSERT INTO {table} VALUES (12345.123456789012345, 123456789012345678901234567890123456.78,
                12345678901234567890.0123456789, '0000-00-00', '2020-02-29 23:59:59.123456',
                '2020-06-01 12:00:00.123', '-100:00:00', 2, 255, 18446744073709551615, 2024, 'héllo 😀',
                x'00ff', 1.5, 'y', 'ab  ')""",
            f"INSERT INTO {table} (a) VALUES (NULL)",
        )
        connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
        result = connector.scan(ScanRequest(OutputPort(source="my", table=table)))
        row = result.table.to_pylist()[0]
        assert row["a"] == Decimal("12345.123456789012345")
        assert row["b"] == Decimal("123456789012345678901234567890123456.78")
        assert row["c"] == pytest.approx(12345678901234567890.0123456789)
        assert row["d"] is None  # zero date
        assert row["e"] == dt.datetime(2020, 2, 29, 23, 59, 59, 123456)
        assert row["f"] == dt.datetime(2020, 6, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
        assert row["g"] == "-100:00:00"
        assert row["h"] is True and row["i"] == 255 and row["j"] == Decimal(18446744073709551615)
        assert (row["k"], row["l"], row["m"], row["n"], row["o"], row["p"]) == (
            2024,
            "héllo 😀",
            b"\x00\xff",
            1.5,
            "y",
            "ab",
        )
        types = result.table.schema
        assert types.field("a").type == pa.decimal128(20, 15) and types.field("b").type == pa.decimal128(38, 2)
        assert types.field("c").type == pa.float64() and types.field("f").type == pa.timestamp("us", "UTC")
        assert all(v is None for k, v in result.table.to_pylist()[1].items())

    def test_sql_port(self, mysql_url: str, tmp_path: Path) -> None:
        table = unique("base")
        my_exec(
            mysql_url,
            f"CREATE TABLE {table} (n INT, v DECIMAL(10,1), s VARCHAR(5) COLLATE utf8mb4_nopad_bin)",
            f"INSERT INTO {table} VALUES (1, 1.5, 'a'), (2, 3.0, 'b'), (3, 4.5, 'c')",
        )
        connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
        port = OutputPort(source="my", sql=f"SELECT n, v * 2 AS v2, s FROM {table}")
        cols = {c.name: c for c in connector.columns(port)}
        assert cols["v2"].type.name == "decimal" and cols["v2"].type.scale == 1
        assert not cols["s"].case_insensitive
        result = connector.scan(ScanRequest(port, columns=["s", "v2"], filters=[f("s >= 'b'"), f("n < 3")]))
        assert result.table.to_pylist() == [{"s": "b", "v2": Decimal("6.0")}]
        assert len(result.pushed_filters) == 2

    def test_errors_name_the_source_and_hide_the_password(self, mysql_url: str, tmp_path: Path) -> None:
        secret = "s3cret-Pa55"
        database = mysql_url.rsplit("/", 1)[1]
        cases = {
            f"mysql://root:{secret}@127.0.0.1:3306/{database}": "access denied",
            f"mysql://root@127.0.0.1:3306/no_such_db_mf?x={secret}": "does not exist",
            f"mysql://root:{secret}@127.0.0.1:1/{database}": "cannot reach",
        }
        for url, expected in cases.items():
            connector = get_connector("my_bad", resolved_spec(kind="mysql", url=url), tmp_path)
            with pytest.raises(SourceError) as err:
                connector.scan(ScanRequest(OutputPort(source="my_bad", table="t")))
            text = str(err.value)
            assert "source 'my_bad'" in text and expected in text, text
            assert secret not in text

    def test_stats_count_small_tables(self, mysql_url: str, tmp_path: Path) -> None:
        table = unique("st")
        my_exec(mysql_url, f"CREATE TABLE {table} (n INT)", f"INSERT INTO {table} VALUES (1), (2), (3)")
        connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
        assert connector.stats(OutputPort(source="my", table=table)).row_count == 3


# ---------------------------------------------------------------------------------------------
# Files


class TestFiles:
    @pytest.fixture
    def lake(self, tmp_path: Path) -> Connector:
        root = tmp_path / "lake"
        (root / "sales" / "year=2020").mkdir(parents=True)
        (root / "sales" / "year=2021").mkdir(parents=True)
        pq.write_table(SAMPLE.slice(0, 3), root / "sales" / "year=2020" / "part-0.parquet")
        pq.write_table(SAMPLE.slice(3), root / "sales" / "year=2021" / "part-0.parquet")
        (root / "people.csv").write_text("id,name,born\n1,Ann,1990-01-02\n2,Bob,\n3,,2001-12-31\n")
        (root / "events.jsonl").write_text('{"id": 1, "kind": "a"}\n{"id": 2, "kind": null}\n')
        (tmp_path / "secret.parquet").write_bytes((root / "sales" / "year=2020" / "part-0.parquet").read_bytes())
        os.symlink(tmp_path / "secret.parquet", root / "link.parquet")
        os.symlink(tmp_path, root / "up")
        return get_connector("lake", SourceSpec(kind="files", path="lake"), tmp_path)

    def test_glob_folder_csv_and_json(self, lake: Connector) -> None:
        glob = lake.scan(ScanRequest(OutputPort(source="lake", path="sales/*/*.parquet"), columns=["id"]))
        assert sorted(glob.table.column("id").to_pylist()) == [1, 2, 3, 4, 5]
        folder = lake.scan(
            ScanRequest(
                OutputPort(source="lake", path="sales", options={"hive_partitioning": True}),
                columns=["year"],
                filters=[f("year = 2021")],
            )
        )
        assert folder.rows == 2
        people = lake.scan(ScanRequest(OutputPort(source="lake", path="people.csv"), filters=[f("born IS NULL")]))
        assert people.table.column("name").to_pylist() == ["Bob"]
        assert people.table.schema.field("born").type == pa.date32()
        events = lake.scan(ScanRequest(OutputPort(source="lake", path="events.jsonl")))
        assert events.table.to_pylist() == [{"id": 1, "kind": "a"}, {"id": 2, "kind": None}]
        assert lake.stats(OutputPort(source="lake", path="people.csv")).row_count == 3

    def test_a_rewritten_file_is_described_again(self, lake: Connector, tmp_path: Path) -> None:
        """A file's description is remembered between queries only while its size and time
        stay: a CSV that gains a column, and a Parquet file whose type changes, are read anew."""
        port = OutputPort(source="lake", path="people.csv")
        assert [c.name for c in lake.columns(port)] == ["id", "name", "born"]
        (tmp_path / "lake" / "people.csv").write_text("id,name,born,city\n1,Ann,1990-01-02,Oslo\n")
        assert [c.name for c in lake.columns(port)] == ["id", "name", "born", "city"]
        assert lake.scan(ScanRequest(port, columns=["city"])).table.column("city").to_pylist() == ["Oslo"]
        one = tmp_path / "lake" / "one.parquet"
        pq.write_table(pa.table({"x": pa.array([1], pa.int64())}), one)
        parquet = OutputPort(source="lake", path="one.parquet")
        assert lake.read_in_place(ScanRequest(parquet, columns=["x"])).sql
        assert [c.type.name for c in lake.columns(parquet)] == ["bigint"]
        pq.write_table(pa.table({"x": pa.array(["a", "b"])}), one)
        assert [c.type.name for c in lake.columns(parquet)] == ["string"]

    def test_listing_groups_partitions(self, lake: Connector) -> None:
        names = {t.name for t in lake.list_tables()}
        assert {"people.csv", "events.jsonl", "sales/**/*.parquet"} <= names

    @pytest.mark.parametrize(
        "path",
        [
            "../secret.parquet",
            "sales/../../secret.parquet",
            "link.parquet",
            "up/secret.parquet",
            "up/*.parquet",
            "/etc/passwd",
            "*/../../secret.parquet",
        ],
    )
    def test_paths_leaving_the_folder_are_refused(self, lake: Connector, tmp_path: Path, path: str) -> None:
        with pytest.raises(SourceError, match="outside the folder of source 'lake'"):
            lake.scan(ScanRequest(OutputPort(source="lake", path=path, format="parquet")))
        absolute_inside = str(tmp_path / "lake" / "people.csv")
        assert lake.scan(ScanRequest(OutputPort(source="lake", path=absolute_inside), columns=[])).rows == 3

    def test_writes_stay_inside_too(self, lake: Connector) -> None:
        for bad in ("../out", "up/out", "/tmp/out"):
            with pytest.raises(SourceError, match="outside the folder"):
                lake.write(bad, SAMPLE)
        with pytest.raises(SourceError, match="compressed files are only read"):
            lake.write("out.csv.gz", SAMPLE)

    def test_unknown_reader_option_is_refused(self, lake: Connector) -> None:
        port = OutputPort(source="lake", path="people.csv", options={"filename": "x", "read_text": True})
        with pytest.raises(SourceError, match="reader option"):
            lake.scan(ScanRequest(port))

    def test_missing_folder(self, tmp_path: Path) -> None:
        connector = get_connector("nofolder", SourceSpec(kind="files", path="nowhere"), tmp_path)
        with pytest.raises(SourceError, match="source 'nofolder': folder 'nowhere' not found"):
            connector.test()


# ---------------------------------------------------------------------------------------------
# SQLite and DuckDB files


def test_sqlite_missing_file_and_bad_values(tmp_path: Path) -> None:
    missing = get_connector("lite", SourceSpec(kind="sqlite", path="nope.sqlite"), tmp_path)
    with pytest.raises(SourceError, match=r"source 'lite': database file 'nope\.sqlite' not found"):
        missing.test()
    import sqlite3

    db = tmp_path / "x.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (n INTEGER, s TEXT COLLATE NOCASE, d DATE)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, "a", "2020-01-01"), ("oops", "B", None)])
        conn.execute("CREATE VIEW v AS SELECT n * 2 AS n2, s FROM t WHERE typeof(n) = 'integer'")
    connector = get_connector("lite", SourceSpec(kind="sqlite", path="x.sqlite"), tmp_path)
    with pytest.raises(SourceError, match="column 'n' declared INTEGER holds a value"):
        connector.scan(ScanRequest(OutputPort(source="lite", table="t")))
    cols = {c.name: c for c in connector.columns(OutputPort(source="lite", table="t"))}
    assert cols["s"].case_insensitive and str(cols["d"].type) == "date"
    view = connector.scan(ScanRequest(OutputPort(source="lite", table="v")))
    assert view.table.to_pylist() == [{"n2": 2, "s": "a"}]
    assert str(connector.columns(OutputPort(source="lite", table="v"))[0].type) == "bigint"


def test_duckdb_reads_while_another_thread_writes(tmp_path: Path) -> None:
    connector = get_connector("duck", SourceSpec(kind="duckdb", path="d.duckdb"), tmp_path)
    connector.write("t", SAMPLE, "create")
    port = OutputPort(source="duck", table="t")
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(10):
                connector.write("t", SAMPLE, "append")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: connector.scan(ScanRequest(port, columns=[])).rows, range(20)))
    thread.join()
    assert not errors
    assert all(c % 5 == 0 and 5 <= c <= 55 for c in counts)
    assert connector.scan(ScanRequest(port, columns=[])).rows == 55


def test_duckdb_sql_port_cannot_read_other_files(tmp_path: Path) -> None:
    connector = get_connector("duck", SourceSpec(kind="duckdb", path="d.duckdb"), tmp_path)
    connector.write("t", SAMPLE, "create")
    (tmp_path / "other.csv").write_text("a\n1\n")
    port = OutputPort(source="duck", sql=f"SELECT * FROM read_csv('{tmp_path / 'other.csv'}')")
    with pytest.raises(SourceError, match="source 'duck'"):
        connector.scan(ScanRequest(port))
    missing = get_connector("duck2", SourceSpec(kind="duckdb", path="none.duckdb"), tmp_path)
    with pytest.raises(SourceError, match=r"database file 'none\.duckdb' not found"):
        missing.test()


# ---------------------------------------------------------------------------------------------
# Connection pools of the server connectors


def pg_backend(connector: Connector) -> int:
    """The backend pid of the connection the connector's pool hands out next."""
    return int(connector._run(lambda conn: connector._rows(conn, "SELECT pg_backend_pid()"))[0][0])  # type: ignore[attr-defined]


def my_connection_id(connector: Connector) -> int:
    return int(connector._run(lambda conn: connector._rows(conn, "SELECT CONNECTION_ID()"))[0][0])  # type: ignore[attr-defined]


@pytest.mark.postgres
class TestPostgresPool:
    @pytest.fixture
    def small(self, pg_url: str, tmp_path: Path) -> tuple[Connector, OutputPort]:
        table = unique("pool")
        pg_exec(pg_url, f"CREATE TABLE {table} AS SELECT g AS n FROM generate_series(1, 5) g")
        return get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path), OutputPort(
            source="pg", table=table
        )

    def test_one_connection_serves_every_operation_and_waits_outside_a_transaction(
        self, pg_url: str, small: tuple[Connector, OutputPort]
    ) -> None:
        connector, port = small
        pid = pg_backend(connector)
        for _ in range(3):
            assert connector.scan(ScanRequest(port, filters=[f("n > 2")])).rows == 3
        assert connector.columns(port)[0].name == "n"
        assert pg_backend(connector) == pid
        assert connector._pool.opened == 1  # type: ignore[attr-defined]
        # no snapshot held between operations: the session is idle, not "idle in transaction"
        assert pg_exec(pg_url, f"SELECT state FROM pg_stat_activity WHERE pid = {pid}") == [("idle",)]
        connector.close()
        # the server ends the backend after the client hung up: give a loaded machine a moment
        for _ in range(50):
            if pg_exec(pg_url, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}") == [(0,)]:
                break
            time.sleep(0.1)
        assert pg_exec(pg_url, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}") == [(0,)]

    @pytest.mark.parametrize("checked", [True, False], ids=["checked-when-idle", "replaced-on-failure"])
    def test_a_connection_killed_while_idle_is_discarded(
        self, pg_url: str, small: tuple[Connector, OutputPort], checked: bool
    ) -> None:
        connector, port = small
        connector._pool.check_after = 0.0 if checked else 3600.0  # type: ignore[attr-defined]
        pid = pg_backend(connector)
        pg_exec(pg_url, f"SELECT pg_terminate_backend({pid})")
        time.sleep(0.2)
        assert connector.scan(ScanRequest(port)).rows == 5
        assert pg_backend(connector) != pid
        assert connector._pool.idle == 1  # type: ignore[attr-defined]

    def test_a_failed_statement_does_not_poison_the_pool(self, small: tuple[Connector, OutputPort]) -> None:
        connector, port = small
        with pytest.raises(SourceError):
            connector.scan(ScanRequest(OutputPort(source="pg", sql="SELECT 1/0 AS n")))
        assert connector.scan(ScanRequest(port, columns=[])).rows == 5


@pytest.mark.mariadb
class TestMariaDBPool:
    @pytest.fixture
    def small(self, mysql_url: str, tmp_path: Path) -> tuple[Connector, OutputPort]:
        table = unique("pool")
        my_exec(mysql_url, f"CREATE TABLE {table} (n INT)", f"INSERT INTO {table} VALUES (1), (2), (3), (4), (5)")
        return get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path), OutputPort(
            source="my", table=table
        )

    def test_one_connection_serves_every_operation(self, small: tuple[Connector, OutputPort]) -> None:
        connector, port = small
        first = my_connection_id(connector)
        for _ in range(3):
            assert connector.scan(ScanRequest(port, filters=[f("n > 2")])).rows == 3
        assert my_connection_id(connector) == first and connector._pool.opened == 1  # type: ignore[attr-defined]

    def test_a_pooled_session_sees_rows_committed_since_its_last_use(
        self, mysql_url: str, small: tuple[Connector, OutputPort]
    ) -> None:
        connector, port = small
        assert connector.scan(ScanRequest(port, columns=[])).rows == 5
        my_exec(mysql_url, f"INSERT INTO {port.table} VALUES (6)")
        assert connector.stats(port).row_count == 6  # counted on the pooled connection

    @pytest.mark.parametrize("checked", [True, False], ids=["checked-when-idle", "replaced-on-failure"])
    def test_a_connection_killed_while_idle_is_discarded(
        self, mysql_url: str, small: tuple[Connector, OutputPort], checked: bool
    ) -> None:
        connector, port = small
        connector._pool.check_after = 0.0 if checked else 3600.0  # type: ignore[attr-defined]
        first = my_connection_id(connector)
        my_exec(mysql_url, f"KILL {first}")
        assert connector.scan(ScanRequest(port)).rows == 5
        assert my_connection_id(connector) != first

    def test_ssl_mode_disabled_skips_tls_in_pymysql_and_connectorx(
        self, mysql_url: str, small: tuple[Connector, OutputPort], tmp_path: Path
    ) -> None:
        _, port = small
        plain = get_connector("my", SourceSpec(kind="mysql", url=mysql_url + "?ssl-mode=DISABLED"), tmp_path)
        assert plain.scan(ScanRequest(port)).rows == 5
        assert plain._run(lambda conn: conn.ssl) is False  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Column-to-column comparisons, pushed where exact, against DuckDB over the same rows

PAIRS = pa.table(
    {
        "id": pa.array(range(1, 8), pa.int64()),
        "d1": pa.array(
            [dt.date(1994, 1, 1), dt.date(1995, 6, 1), None, dt.date(2000, 1, 1), dt.date(1990, 1, 1)] * 1
            + [dt.date(1996, 3, 1), dt.date(1996, 3, 1)]
        ),
        "d2": pa.array(
            [
                dt.date(1994, 2, 1),
                dt.date(1995, 1, 1),
                dt.date(1995, 1, 1),
                None,
                dt.date(1990, 1, 1),
                dt.date(1996, 3, 2),
                dt.date(1996, 3, 1),
            ]
        ),
        "n1": pa.array(
            [
                Decimal("1.00"),
                Decimal("2.50"),
                Decimal("-1.00"),
                None,
                Decimal("0.00"),
                Decimal("9.99"),
                Decimal("3.00"),
            ],
            pa.decimal128(15, 2),
        ),
        "n2": pa.array(
            [
                Decimal("1.00"),
                Decimal("2.49"),
                Decimal("-0.99"),
                Decimal("5.00"),
                Decimal("0.00"),
                None,
                Decimal("3.01"),
            ],
            pa.decimal128(15, 2),
        ),
        "t1": pa.array(
            [
                dt.datetime(2020, 1, 1, 0, 0, 0, 1),
                None,
                dt.datetime(2020, 1, 1),
                dt.datetime(1999, 1, 1),
                dt.datetime(2020, 1, 1),
                dt.datetime(2021, 5, 5),
                dt.datetime(2021, 5, 5),
            ],
            pa.timestamp("us"),
        ),
        "t2": pa.array(
            [
                dt.datetime(2020, 1, 1),
                dt.datetime(2020, 1, 1),
                dt.datetime(2020, 1, 1),
                dt.datetime(1999, 1, 1, 0, 0, 1),
                None,
                dt.datetime(2021, 5, 4),
                dt.datetime(2021, 5, 5),
            ],
            pa.timestamp("us"),
        ),
        "s1": ["a", "B", "abc", None, "é", "abc ", "Zz"],
        "s2": ["B", "a", "abc", "x", "e", "abc", "zz"],
        "i1": pa.array([1, 2, 3, 4, None, 6, 7], pa.int64()),
        "i2": pa.array([1, 3, 2, 4, 5, None, 0], pa.int32()),
    }
)
PAIR_PREDICATES = [
    "d1 < d2",
    "d1 = d2",
    "NOT d1 >= d2",
    "n1 > n2",
    "n1 = n2",
    "n2 <= n1",
    "t1 <> t2",
    "t1 < t2",
    "d1 < d2 OR n1 = n2",
    "s1 = s2",
    "s1 < s2",
    "i1 = i2",  # bigint against integer: not one type, never pushed
]
#: the sources whose reading of two same-typed number/date/timestamp columns DuckDB's equals
PAIRS_PUSHED = {"postgres", "duckdb", "files", "mysql"}


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_column_pairs_keep_exactly_duckdbs_rows(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    connector = make(kind, request, tmp_path)
    table = unique("pairs")
    connector.write(table, PAIRS, "create")
    port = port_of(connector, table)
    reference = duckdb.connect()
    reference.register("pairs", PAIRS)
    for text in PAIR_PREDICATES:
        predicate = f(text)
        result = connector.scan(ScanRequest(port, columns=["id"], filters=[predicate]))
        expected = sorted(r[0] for r in reference.execute(f"SELECT id FROM pairs WHERE {text}").fetchall())
        got = sorted(result.table.column("id").to_pylist())
        columns = {c.name for c in predicate.find_all(sqlglot.exp.Column)}
        numeric_or_temporal = not columns & {"s1", "s2", "i1", "i2"}
        if kind in PAIRS_PUSHED and numeric_or_temporal:
            assert result.pushed_filters, (kind, text)
        if kind == "files" and columns <= {"s1", "s2"}:
            assert result.pushed_filters, (kind, text)  # no collation in a file
        if kind not in PAIRS_PUSHED or "i1" in columns:
            assert not result.pushed_filters, (kind, text)
        if result.pushed_filters:
            assert got == expected, (kind, text, result.source_sql)
        else:
            assert got == list(range(1, 8)), (kind, text)


# ---------------------------------------------------------------------------------------------
# LIKE on MariaDB: pushed to binary NO PAD columns, matching DuckDB's LIKE character for character

LIKE_VALUES = ["abc", "ABC", "abc ", "a_c", "a%c", "a\\c", "a\\_c", "aéc", "é", "a😀c", "", None, "xabc", "it's"]
LIKE_PATTERNS = [
    "%",
    "a%",
    "%c",
    "a_c",
    "_",
    "__",
    "a%c",
    "abc",
    "abc ",
    "%C",
    "",
    "%'%",
    "a%c%",
    "a\\c",  # a backslash: MySQL's escape character, DuckDB's plain character — never pushed
    "a\\_c",
    "%\\%",
]


@pytest.mark.mariadb
def test_like_on_a_binary_nopad_column_matches_duckdb(mysql_url: str, tmp_path: Path) -> None:
    connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
    table = unique("like")
    data = pa.table({"id": pa.array(range(len(LIKE_VALUES)), pa.int64()), "s": LIKE_VALUES})
    connector.write(table, data, "create")  # strings become LONGTEXT COLLATE utf8mb4_nopad_bin
    my_exec(
        mysql_url,
        f"ALTER TABLE {table} ADD COLUMN ci VARCHAR(20) COLLATE utf8mb4_general_ci",
        f"UPDATE {table} SET ci = s",
    )
    port = OutputPort(source="my", table=table)
    assert "utf8mb4_nopad_bin" in {c.name: c for c in connector.columns(port)}["s"].native_type
    reference = duckdb.connect()
    reference.register("t", data)
    for pattern in LIKE_PATTERNS:
        literal = "'" + pattern.replace("'", "''") + "'"
        for negate in ("", "NOT "):
            text = f"s {negate}LIKE {literal}"
            result = connector.scan(ScanRequest(port, columns=["id"], filters=[f(text)]))
            expected = sorted(r[0] for r in reference.execute(f"SELECT id FROM t WHERE {text}").fetchall())
            got = sorted(result.table.column("id").to_pylist())
            if "\\" in pattern:
                assert not result.pushed_filters and len(got) == len(LIKE_VALUES), text
            else:
                assert len(result.pushed_filters) == 1 and "LIKE" in (result.source_sql or ""), text
                assert got == expected, (text, result.source_sql)
        # a case-blind column takes LIKE over its bytes, where a binary '_' (one byte) and MySQL's
        # backslash escape cannot differ from DuckDB
        insensitive = connector.scan(ScanRequest(port, columns=["id"], filters=[f(f"ci LIKE {literal}")]))
        if "_" in pattern or "\\" in pattern:
            assert not insensitive.pushed_filters, pattern
        else:
            assert insensitive.pushed_filters and "AS BINARY" in (insensitive.source_sql or ""), pattern
            want = sorted(r[0] for r in reference.execute(f"SELECT id FROM t WHERE s LIKE {literal}").fetchall())
            assert sorted(insensitive.table.column("id").to_pylist()) == want, (pattern, insensitive.source_sql)


CASE_VALUES = ["abc", "ABC", "Abc", "abc ", "ab", "abd", "aéc", "AÉC", "é", "E", "e", "z", "Z", "a😀c", "", None]
CASE_PREDICATES = ["= 'abc'", "<> 'abc'", "< 'abc'", ">= 'ABC'", "> 'e'", "BETWEEN 'ABC' AND 'abd'",
                   "IN ('abc', 'E', 'aéc')", "NOT IN ('abc', 'z')", "= 'abc '", "< 'é'", "LIKE 'a%'", "LIKE '%C'",
                   "NOT LIKE '%é%'"]


def _case_blind_matches_duckdb(connector: Any, port: OutputPort, column: str, marker: str) -> None:
    reference = duckdb.connect()
    reference.register("t", pa.table({"id": pa.array(range(len(CASE_VALUES)), pa.int64()), "v": CASE_VALUES}))
    for predicate in CASE_PREDICATES:
        result = connector.scan(ScanRequest(port, columns=["id"], filters=[f(f"{column} {predicate}")]))
        want = sorted(r[0] for r in reference.execute(f"SELECT id FROM t WHERE v {predicate}").fetchall())
        assert result.pushed_filters and marker in (result.source_sql or ""), (predicate, result.source_sql)
        assert sorted(result.table.column("id").to_pylist()) == want, (predicate, result.source_sql)


@pytest.mark.mariadb
def test_case_blind_mariadb_strings_are_compared_byte_wise_like_duckdb(mysql_url: str, tmp_path: Path) -> None:
    """utf8mb4_general_ci matches 'ABC' for 'abc' and 'abc ' for 'abc' (PAD SPACE): pushed as
    CAST(col AS BINARY), MariaDB keeps exactly DuckDB's rows."""
    connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
    table = unique("case")
    my_exec(mysql_url, f"CREATE TABLE {table} (id BIGINT, ci VARCHAR(20) COLLATE utf8mb4_general_ci)")
    for i, v in enumerate(CASE_VALUES):
        my_exec(mysql_url, f"INSERT INTO {table} VALUES ({i}, " + ("NULL" if v is None else "'" + v + "'") + ")")
    try:
        _case_blind_matches_duckdb(connector, OutputPort(source="my", table=table), "ci", "AS BINARY")
    finally:
        connector.close()
        my_exec(mysql_url, f"DROP TABLE {table}")


def _case_values_table(pg_url: str, prefix: str, columns: str) -> str:
    """A new schema holding the case-blind ICU collation ``blind`` and table ``t`` (id, then
    ``columns``, where ``{schema}`` names the schema), each string column holding CASE_VALUES."""
    schema = unique(prefix)
    pg_exec(pg_url, f"CREATE SCHEMA {schema}",
            f"CREATE COLLATION {schema}.blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
            f"CREATE TABLE {schema}.t (id BIGINT, {columns.format(schema=schema)})")
    width = columns.count(",") + 1
    for i, v in enumerate(CASE_VALUES):
        value = "NULL" if v is None else "'" + v + "'"
        pg_exec(pg_url, f"INSERT INTO {schema}.t VALUES ({i}, {', '.join([value] * width)})")
    return schema


@pytest.mark.postgres
def test_locale_and_nondeterministic_postgres_strings_are_compared_byte_wise(pg_url: str, tmp_path: Path) -> None:
    """A nondeterministic ICU collation (case-blind) and a locale's order: pushed in the C
    collation, PostgreSQL keeps exactly DuckDB's rows."""
    schema = _case_values_table(pg_url, "mf_case", 'ci TEXT COLLATE {schema}.blind, loc TEXT COLLATE "und-x-icu"')
    connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
    try:
        port = OutputPort(source="pg", table=f"{schema}.t")
        _case_blind_matches_duckdb(connector, port, "ci", 'COLLATE "C"')
        reference = duckdb.connect()
        reference.register("t", pa.table({"id": pa.array(range(len(CASE_VALUES)), pa.int64()), "v": CASE_VALUES}))
        for predicate in ("< 'abc'", "BETWEEN 'ABC' AND 'abd'", "> 'e'"):
            result = connector.scan(ScanRequest(port, columns=["id"], filters=[f(f"loc {predicate}")]))
            want = sorted(r[0] for r in reference.execute(f"SELECT id FROM t WHERE v {predicate}").fetchall())
            assert sorted(result.table.column("id").to_pylist()) == want, (predicate, result.source_sql)
    finally:
        connector.close()
        pg_exec(pg_url, f"DROP SCHEMA {schema} CASCADE")


SUBSTRING_PREDICATES = ["SUBSTRING({c}, 1, 2) = 'ab'", "SUBSTRING({c}, 2, 2) IN ('bc', 'éc', '😀c', 'BC', 'b')",
                        "SUBSTRING({c}, 2) = 'bc '", "SUBSTRING({c}, 1, 0) = ''", "SUBSTRING({c}, 3, 5) < 'c'",
                        "substr({c}, 1, 1) <> 'a'", "'A' >= SUBSTRING({c}, 1, 1)", "SUBSTRING({c}, 9, 1) = ''"]


def _substrings_match_duckdb(connector: Any, port: OutputPort, column: str) -> None:
    """A substring of a string column, compared with literals in the source, keeps DuckDB's rows
    (characters, not bytes: 'a😀c' and 'aéc'); a start below 1 is never sent."""
    reference = duckdb.connect()
    reference.register("t", pa.table({"id": pa.array(range(len(CASE_VALUES)), pa.int64()), "v": CASE_VALUES}))
    for template in SUBSTRING_PREDICATES:
        result = connector.scan(ScanRequest(port, columns=["id"], filters=[f(template.format(c=column))]))
        want = sorted(r[0] for r in reference.execute(f"SELECT id FROM t WHERE {template.format(c='v')}").fetchall())
        assert result.pushed_filters and "SUBSTRING" in (result.source_sql or "").upper(), (template, result.source_sql)
        assert sorted(result.table.column("id").to_pylist()) == want, (template, result.source_sql)
    kept = connector.scan(ScanRequest(port, columns=["id"], filters=[f(f"SUBSTRING({column}, 0, 2) = 'a'")]))
    assert not kept.pushed_filters and kept.table.num_rows == len(CASE_VALUES)


@pytest.mark.mariadb
def test_substrings_of_mariadb_strings_are_compared_like_duckdb(mysql_url: str, tmp_path: Path) -> None:
    connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
    table = unique("substr")
    my_exec(mysql_url, f"CREATE TABLE {table} (id BIGINT, ci VARCHAR(20) COLLATE utf8mb4_general_ci, "
                       "nb VARCHAR(20) COLLATE utf8mb4_nopad_bin)")
    for i, v in enumerate(CASE_VALUES):
        value = "NULL" if v is None else "'" + v + "'"
        my_exec(mysql_url, f"INSERT INTO {table} VALUES ({i}, {value}, {value})")
    try:
        port = OutputPort(source="my", table=table)
        _substrings_match_duckdb(connector, port, "ci")
        _substrings_match_duckdb(connector, port, "nb")
    finally:
        connector.close()
        my_exec(mysql_url, f"DROP TABLE {table}")


@pytest.mark.postgres
def test_substrings_of_postgres_strings_are_compared_like_duckdb(pg_url: str, tmp_path: Path) -> None:
    schema = _case_values_table(pg_url, "mf_substr", "s VARCHAR(20), ci TEXT COLLATE {schema}.blind")
    connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
    try:
        port = OutputPort(source="pg", table=f"{schema}.t")
        _substrings_match_duckdb(connector, port, "s")
        _substrings_match_duckdb(connector, port, "ci")
    finally:
        connector.close()
        pg_exec(pg_url, f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.mariadb
def test_a_large_mariadb_table_is_read_in_key_ranges_with_the_same_rows(
    mysql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filtered scan of a big table goes out as one statement per primary-key range, read
    concurrently; the rows are exactly those of one statement, filters and limits included."""
    from meshfabric.connectors import mysql

    monkeypatch.setattr(mysql, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    connector = get_connector("my", SourceSpec(kind="mysql", url=mysql_url), tmp_path)
    keyed, text_key, no_key = unique("rng"), unique("rngs"), unique("rngn")
    my_exec(mysql_url, f"CREATE TABLE {keyed} (id BIGINT PRIMARY KEY, g INT, v VARCHAR(10))",
            f"CREATE TABLE {text_key} (k VARCHAR(10) PRIMARY KEY, g INT)", f"CREATE TABLE {no_key} (g INT)")
    values = ", ".join(f"({i * 7 - 50}, {i % 5}, 'v{i}')" for i in range(1000))
    my_exec(mysql_url, f"INSERT INTO {keyed} VALUES {values}",
            f"INSERT INTO {text_key} VALUES " + ", ".join(f"('k{i}', {i % 5})" for i in range(100)),
            f"INSERT INTO {no_key} VALUES " + ", ".join(f"({i % 5})" for i in range(100)))
    sent: list[list[str]] = []
    read = mysql.MySQLConnector._read

    def spy(self: Any, sql: list[str]) -> pa.Table:
        sent.append(sql)
        return read(self, sql)

    monkeypatch.setattr(mysql.MySQLConnector, "_read", spy)
    try:
        port = OutputPort(source="my", table=keyed)
        got = connector.scan(ScanRequest(port, columns=["id", "v"], filters=[f("g = 3")]))
        assert len(sent[-1]) == 3 and all("`id`" in s for s in sent[-1][1:]), sent[-1]
        assert (got.source_sql or "").endswith("/* read in 3 primary-key ranges, one connection each */")
        assert sorted(got.table.column("id").to_pylist()) == [i * 7 - 50 for i in range(1000) if i % 5 == 3]
        # a key set on the split column: each range is sent only the keys it can hold
        from meshfabric.connectors.pushdown import KeyValues, key_filter

        wanted = [i * 7 - 50 for i in range(0, 1000, 9)]
        keyed_read = connector.scan(ScanRequest(port, columns=["id"], filters=[
            key_filter("id", KeyValues("integer", tuple(wanted))), f("g <> 4")]))
        assert sorted(keyed_read.table.column("id").to_pylist()) == [k for k in wanted if ((k + 50) // 7) % 5 != 4]
        assert len(sent[-1]) == 3
        listed = [s.split("IN (")[1].split(")")[0].count(",") + 1 for s in sent[-1]]
        assert sum(listed) == len(wanted) and max(listed) < len(wanted), listed
        # unfiltered reads move every row anyway: one statement, as is one with a limit
        assert connector.scan(ScanRequest(port, columns=["id"])).rows == 1000 and len(sent[-1]) == 1
        assert connector.scan(ScanRequest(port, columns=["id"], filters=[f("g = 3")], limit=5)).rows == 5
        assert len(sent[-1]) == 1
        for table in (text_key, no_key):  # no integer key to split on
            other = connector.scan(ScanRequest(OutputPort(source="my", table=table), columns=["g"],
                                               filters=[f("g = 1")]))
            assert other.rows == 20 and len(sent[-1]) == 1
    finally:
        connector.close()
        my_exec(mysql_url, f"DROP TABLE {keyed}", f"DROP TABLE {text_key}", f"DROP TABLE {no_key}")
