"""Pushdown rules and SQL generation, checked against real engines where no server is needed.

The property tests evaluate every predicate the rules accept for SQLite in SQLite itself and
compare the rows with DuckDB evaluating the original predicate over the same data.
"""

from __future__ import annotations

import doctest
import sqlite3
from typing import ClassVar

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from meshfabric.connectors import pushdown
from meshfabric.connectors.base import ColumnInfo, ScanRequest, TableInfo
from meshfabric.connectors.pushdown import (
    UnknownColumn,
    build_count,
    build_create_table,
    build_select,
    plan_scan,
    portable_predicate,
    prepare_predicate,
    subquery_sql,
    table_ref,
)
from meshfabric.spec.models import OutputPort


def col(name: str, native: str, logical: str, **kw: object) -> ColumnInfo:
    from meshfabric.types import parse_type

    return ColumnInfo(name, native, parse_type(logical), **kw)  # type: ignore[arg-type]


def f(text: str) -> exp.Expression:
    return sqlglot.parse_one(text, dialect="duckdb")


def pushed(text: str, cols: dict[str, ColumnInfo], dialect: str) -> str | None:
    out = prepare_predicate(f(text), cols, dialect)
    return out.sql(dialect=dialect) if out is not None else None


PG = {
    "l_shipdate": col("l_shipdate", "date", "date"),
    "l_discount": col("l_discount", "numeric(15,2)", "decimal(15,2)"),
    "l_quantity": col("l_quantity", "numeric(15,2)", "decimal(15,2)"),
    "name_c": col("name_c", 'text COLLATE "C"', "string"),
    "name_en": col("name_en", 'character varying(20) COLLATE "en_US.utf8"', "string"),
    "code": col("code", 'character(3) COLLATE "C"', "string"),
    "nd": col("nd", 'text COLLATE "und-ci"', "string", case_insensitive=True),
    "ratio": col("ratio", "real", "float"),
    "unbounded": col("unbounded", "numeric", "double"),
    "ts": col("ts", "timestamp with time zone", "timestamptz"),
    "flag": col("flag", "boolean", "boolean"),
    "Mixed Case": col("Mixed Case", "integer", "integer"),
}
MY = {
    "ci": col("ci", "varchar(20) COLLATE utf8mb4_general_ci", "string", case_insensitive=True),
    "bin": col("bin", "varchar(20) COLLATE utf8mb4_bin", "string"),
    "nopad": col("nopad", "longtext COLLATE utf8mb4_nopad_bin", "string"),
    "d": col("d", "date", "date"),
    "flag": col("flag", "tinyint(1)", "boolean"),
    "n": col("n", "int(11)", "integer"),
    "amount": col("amount", "decimal(15,2)", "decimal(15,2)"),
}


class TestTpchPredicates:
    """The filters of TPC-H Q6 arrive with constant arithmetic; sqlglot folds it first."""

    Q6: ClassVar[list[str]] = [
        "l_shipdate >= DATE '1994-01-01'",
        "l_shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR",
        "l_discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01",
        "l_quantity < 24",
    ]

    @pytest.mark.parametrize("dialect", ["postgres", "mysql", "duckdb"])
    def test_q6_pushes_in_every_server_dialect(self, dialect: str) -> None:
        cols = {k: v for k, v in PG.items() if k.startswith("l_")}
        if dialect == "mysql":
            cols = {k: col(k, "date" if "date" in k else "decimal(15,2)", c.type.__str__()) for k, c in cols.items()}
        out = [pushed(text, cols, dialect) for text in self.Q6]
        assert None not in out
        assert "1995-01-01" in out[1]
        assert "0.05" in out[2] and "0.07" in out[2]

    def test_folded_literal_is_exact(self) -> None:
        assert pushed("l_discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01", PG, "postgres") == (
            '"l_discount" BETWEEN 0.05 AND 0.07'
        )
        assert pushed("l_shipdate < DATE '1994-01-31' + INTERVAL 1 MONTH", PG, "postgres") == (
            "\"l_shipdate\" < CAST('1994-02-28' AS DATE)"
        )

    def test_string_literal_against_date_becomes_a_date(self) -> None:
        assert pushed("l_shipdate = '1994-01-01'", PG, "postgres") == "\"l_shipdate\" = CAST('1994-01-01' AS DATE)"
        assert pushed("l_shipdate = '1994-02-30'", PG, "postgres") is None
        assert pushed("l_shipdate = 'yesterday'", PG, "postgres") is None


class TestCollations:
    def test_mysql_case_insensitive_collation_is_compared_byte_wise(self) -> None:
        # the collation would match 'ABC' too: the column's bytes are compared instead
        assert pushed("ci = 'abc'", MY, "mysql") == "CAST(`ci` AS BINARY) = 'abc'"
        assert pushed("ci IN ('a', 'b')", MY, "mysql") == "CAST(`ci` AS BINARY) IN ('a', 'b')"
        assert pushed("ci IS NULL", MY, "mysql") == "`ci` IS NULL"

    def test_mysql_pad_space_binary_collation_is_compared_byte_wise(self) -> None:
        # utf8mb4_bin still ignores trailing spaces: 'a' = 'a ' is true in MariaDB, not as bytes
        assert pushed("bin = 'abc'", MY, "mysql") == "CAST(`bin` AS BINARY) = 'abc'"
        assert pushed("bin > 'abc'", MY, "mysql") == "CAST(`bin` AS BINARY) > 'abc'"

    def test_mysql_nopad_binary_collation_is_pushed(self) -> None:
        assert pushed("nopad = 'abc'", MY, "mysql") == "`nopad` = 'abc'"
        assert pushed("nopad > 'abc'", MY, "mysql") == "`nopad` > 'abc'"

    def test_mysql_refuses_like_booleans_backslashes_and_date_null_checks(self) -> None:
        assert pushed("ci LIKE 'a%'", MY, "mysql") == "CAST(`ci` AS BINARY) LIKE 'a%'"
        assert pushed("ci LIKE 'a_c'", MY, "mysql") is None  # a binary '_' is one byte
        assert pushed("nopad LIKE 'a\\%'", MY, "mysql") is None
        assert pushed("flag = TRUE", MY, "mysql") is None
        assert pushed("flag", MY, "mysql") is None
        assert pushed("nopad = 'a\\b'", MY, "mysql") is None
        assert pushed("d IS NULL", MY, "mysql") is None  # zero dates satisfy IS NULL
        assert pushed("n IS NULL", MY, "mysql") == "`n` IS NULL"

    def test_postgres_range_needs_c_collation_equality_does_not(self) -> None:
        assert pushed("name_en = 'x'", PG, "postgres") == "\"name_en\" = 'x'"
        # a locale's order is not DuckDB's: the range is compared in the C collation
        assert pushed("name_en < 'x'", PG, "postgres") == "CAST(\"name_en\" AS TEXT) COLLATE \"C\" < 'x'"
        assert pushed("name_en BETWEEN 'a' AND 'b'", PG, "postgres") == \
            "CAST(\"name_en\" AS TEXT) COLLATE \"C\" BETWEEN 'a' AND 'b'"
        assert pushed("name_c < 'x'", PG, "postgres") == "\"name_c\" < 'x'"
        assert pushed("name_c BETWEEN 'a' AND 'b'", PG, "postgres") == "\"name_c\" BETWEEN 'a' AND 'b'"

    def test_postgres_refuses_padded_chars_and_compares_nondeterministic_collations_byte_wise(self) -> None:
        assert pushed("code = 'ab'", PG, "postgres") is None
        assert pushed("nd = 'x'", PG, "postgres") == "CAST(\"nd\" AS TEXT) COLLATE \"C\" = 'x'"

    def test_postgres_like_without_backslash(self) -> None:
        assert pushed("name_en LIKE 'ab%'", PG, "postgres") == "\"name_en\" LIKE 'ab%'"
        assert pushed("name_en NOT LIKE 'ab%'", PG, "postgres") == "NOT (\"name_en\" LIKE 'ab%')"
        assert pushed("name_en LIKE 'a\\%'", PG, "postgres") is None
        assert pushed("name_en ILIKE 'ab%'", PG, "postgres") is None
        assert pushed("name_en LIKE 'a!%' ESCAPE '!'", PG, "postgres") is None

    def test_substrings_from_one_go_where_characters_are_counted_like_duckdb(self) -> None:
        assert pushed("SUBSTRING(name_en, 1, 2) IN ('13', '31')", PG, "postgres") == \
            "SUBSTRING(\"name_en\" FROM 1 FOR 2) IN ('13', '31')"
        assert pushed("substr(name_en, 3) = 'x'", PG, "postgres") == "SUBSTRING(\"name_en\" FROM 3) = 'x'"
        # ordering under a locale: the substring is compared in the C collation
        assert pushed("SUBSTRING(name_en, 1, 1) < 'x'", PG, "postgres") == \
            "CAST(SUBSTRING(\"name_en\" FROM 1 FOR 1) AS TEXT) COLLATE \"C\" < 'x'"
        assert pushed("SUBSTRING(ci, 2, 2) = 'ab'", MY, "mysql") == "CAST(SUBSTRING(`ci`, 2, 2) AS BINARY) = 'ab'"
        # a start of 0 or below means something else in each database; bounds must be literals
        assert pushed("SUBSTRING(name_en, 0, 2) = 'x'", PG, "postgres") is None
        assert pushed("SUBSTRING(name_en, -2, 2) = 'x'", PG, "postgres") is None
        assert pushed("SUBSTRING(name_en, n, 2) = 'x'", PG, "postgres") is None
        assert pushed("SUBSTRING(code, 1, 2) = 'ab'", PG, "postgres") is None  # char(n) pads
        assert pushed("SUBSTRING(s, 1, 2) = 'ab'", {"s": col("s", "TEXT", "string")}, "sqlite") is None

    def test_sqlite_refuses_like_and_compares_nocase_byte_wise(self) -> None:
        cols = {"s": col("s", "TEXT", "string"), "n": col("n", "TEXT", "string", case_insensitive=True)}
        assert pushed("s = 'x'", cols, "sqlite") == "\"s\" = 'x'"
        assert pushed("s LIKE 'x%'", cols, "sqlite") is None
        assert pushed("n = 'x'", cols, "sqlite") == "\"n\" COLLATE BINARY = 'x'"
        assert pushed("n LIKE 'x%'", cols, "sqlite") is None


class TestMySQLLike:
    """LIKE goes to binary NO PAD columns, where MariaDB matches like DuckDB (checked against a
    real server in the integration tests); never with a backslash, MySQL's escape character."""

    def test_binary_nopad_columns_take_like_and_not_like(self) -> None:
        assert pushed("nopad LIKE 'a%'", MY, "mysql") == "`nopad` LIKE 'a%'"
        assert pushed("nopad LIKE 'a_c'", MY, "mysql") == "`nopad` LIKE 'a_c'"
        assert pushed("nopad NOT LIKE '%c '", MY, "mysql") == "NOT (`nopad` LIKE '%c ')"
        assert pushed("nopad LIKE 'it''s%'", MY, "mysql") == "`nopad` LIKE 'it''s%'"

    def test_backslashes_escapes_and_other_collations_are_refused(self) -> None:
        for text in ("nopad LIKE 'a\\_c'", "nopad LIKE '%\\'", "nopad LIKE 'a!%' ESCAPE '!'", "nopad ILIKE 'a%'"):
            assert pushed(text, MY, "mysql") is None, text
        byte_wise = {"raw": col("raw", "varchar(10) COLLATE binary", "string")}
        assert pushed("raw LIKE 'a_c'", byte_wise, "mysql") is None  # '_' would be one byte there
        assert pushed("raw = 'abc'", byte_wise, "mysql") == "`raw` = 'abc'"


class TestColumnPairs:
    """``a < b`` over two columns: pushed only where the source reads both like DuckDB."""

    DATES: ClassVar[dict[str, ColumnInfo]] = {
        "a": col("a", "date", "date"),
        "b": col("b", "date", "date"),
        "n1": col("n1", "numeric(15,2)", "decimal(15,2)"),
        "n2": col("n2", "numeric(15,2)", "decimal(15,2)"),
        "n3": col("n3", "numeric(12,2)", "decimal(12,2)"),
        "i4": col("i4", "integer", "integer"),
        "i8": col("i8", "bigint", "bigint"),
        "ts1": col("ts1", "timestamp without time zone", "timestamp"),
        "ts2": col("ts2", "timestamp without time zone", "timestamp"),
        "tz1": col("tz1", "timestamp with time zone", "timestamptz"),
        "tz2": col("tz2", "timestamp with time zone", "timestamptz"),
        "r1": col("r1", "real", "float"),
        "r2": col("r2", "real", "float"),
        "f1": col("f1", "boolean", "boolean"),
        "f2": col("f2", "boolean", "boolean"),
    }

    @pytest.mark.parametrize("text", ["a < b", "b >= a", "n1 <> n2", "n1 = n2", "ts1 <= ts2", "NOT a > b"])
    def test_same_type_numbers_and_dates_in_postgres_and_duckdb(self, text: str) -> None:
        duck = {
            "a": col("a", "DATE", "date"),
            "b": col("b", "DATE", "date"),
            "n1": col("n1", "DECIMAL(15,2)", "decimal(15,2)"),
            "n2": col("n2", "DECIMAL(15,2)", "decimal(15,2)"),
            "ts1": col("ts1", "TIMESTAMP", "timestamp"),
            "ts2": col("ts2", "TIMESTAMP", "timestamp"),
        }
        assert pushed(text, self.DATES, "postgres") is not None
        assert pushed(text, duck, "duckdb") is not None

    def test_tpch_q12_dates_are_pushed_as_written(self) -> None:
        cols = {k: col(k, "date", "date") for k in ("l_commitdate", "l_receiptdate")}
        assert pushed("l_commitdate < l_receiptdate", cols, "postgres") == '"l_commitdate" < "l_receiptdate"'

    @pytest.mark.parametrize(
        "text",
        [
            "a < ts1",
            "n1 < n3",
            "i4 = i8",
            "tz1 < tz2",
            "r1 = r2",
            "f1 = f2",
            "a < b + 1",
            "a IN (b)",
            "a BETWEEN b AND b",
        ],
    )
    def test_mixed_types_floats_zones_and_expressions_are_refused(self, text: str) -> None:
        assert pushed(text, self.DATES, "postgres") is None

    def test_postgres_strings_under_one_collation(self) -> None:
        assert pushed("name_c = name_c", PG, "postgres") == '"name_c" = "name_c"'
        cols = {
            "c1": col("c1", 'text COLLATE "C"', "string"),
            "c2": col("c2", 'character varying(9) COLLATE "C"', "string"),
            "e1": col("e1", 'text COLLATE "en_US.utf8"', "string"),
            "e2": col("e2", 'text COLLATE "en_US.utf8"', "string"),
            "nd": PG["nd"],
            "code": PG["code"],
        }
        assert pushed("c1 < c2", cols, "postgres") is None  # text and varchar: not one type
        assert pushed("c1 <= c1", cols, "postgres") == '"c1" <= "c1"'
        assert pushed("e1 = e2", cols, "postgres") == '"e1" = "e2"'  # deterministic: byte-wise
        assert pushed("e1 < e2", cols, "postgres") is None  # ordered by the locale
        assert pushed("c1 = e1", cols, "postgres") is None  # PostgreSQL cannot even pick one
        assert pushed("nd = nd", cols, "postgres") is None
        assert pushed("code = code", cols, "postgres") is None

    def test_mysql_and_sqlite_compare_no_string_pair(self) -> None:
        cols = {k: col(k, "date", "date") for k in ("a", "b")} | {"x": MY["nopad"], "y": MY["nopad"]}
        for dialect in ("mysql", "sqlite"):
            assert pushed("x = y", cols, dialect) is None
        assert pushed("a < b", cols, "mysql") == "`a` < `b`"  # dates compare by value in MariaDB
        assert pushed("a < b", cols, "sqlite") is None  # dates are text in SQLite

    def test_strings_of_a_duckdb_database_stay_but_files_take_them(self) -> None:
        cols = {k: col(k, "VARCHAR", "string") for k in ("s", "t")}
        assert pushed("s < t", cols, "duckdb") is None  # COLLATE NOCASE would be invisible
        files = prepare_predicate(f("s < t"), cols, "duckdb", rules="files")
        assert files is not None and files.sql("duckdb") == '"s" < "t"'
        assert (
            prepare_predicate(
                f("s < t"), {**cols, "t": col("t", "VARCHAR", "string", case_insensitive=True)}, "duckdb", rules="files"
            )
            is None
        )


class TestRefusals:
    @pytest.mark.parametrize(
        "text",
        [
            "abs(l_quantity) > 1",
            "l_quantity > ratio",
            "l_quantity > l_shipdate",
            "l_quantity + 1 > l_discount",
            "l_quantity IN (SELECT 1)",
            "l_quantity = 1 / 3",
            "l_quantity = 1e3",
            "l_quantity = CAST(1.5 AS INTEGER)",
            "l_quantity = NULL",
            "l_quantity IS NOT DISTINCT FROM 1",
            "t.l_quantity = 1",
            "unknown_col = 1",
            "ratio = 1",
            "unbounded = 0.1",
            "ts > TIMESTAMP '2020-01-01 00:00:00'",
            "l_quantity = '1'",
            "name_c = 1",
            "l_quantity = ?",
            "l_shipdate < current_date",
        ],
    )
    def test_not_pushed(self, text: str) -> None:
        assert not portable_predicate(f(text), PG, "postgres")

    def test_or_needs_both_sides(self) -> None:
        assert pushed("l_quantity > 1 OR abs(l_quantity) > 2", PG, "postgres") is None
        assert pushed("l_quantity > 1 OR l_quantity IS NULL", PG, "postgres") == (
            '("l_quantity" > 1) OR ("l_quantity" IS NULL)'
        )

    def test_not_keeps_its_operand_grouped(self) -> None:
        assert pushed("NOT l_quantity IS NULL", PG, "postgres") == 'NOT ("l_quantity" IS NULL)'
        assert pushed("l_quantity NOT IN (1, 2)", PG, "postgres") == 'NOT ("l_quantity" IN (1, 2))'

    def test_literal_on_the_left(self) -> None:
        assert pushed("24 > l_quantity", PG, "postgres") == '24 > "l_quantity"'


class TestNames:
    def test_columns_resolve_case_blind_and_are_quoted_exactly(self) -> None:
        assert pushed('"Mixed Case" = 1', PG, "postgres") == '"Mixed Case" = 1'
        assert pushed('"mixed case" = 1', PG, "postgres") is None  # quoted means exact
        assert pushed("L_QUANTITY = 1", PG, "postgres") == '"l_quantity" = 1'

    def test_identifiers_with_quotes_are_escaped_per_dialect(self) -> None:
        port = OutputPort(source="s", table="t")
        cols = ['we"ird', "back`tick"]
        assert build_select(port, cols, [], None, "postgres") == 'SELECT "we""ird", "back`tick" FROM "t"'
        assert build_select(port, cols, [], None, "mysql") == 'SELECT `we"ird`, `back``tick` FROM `t`'

    def test_schema_qualified_tables(self) -> None:
        assert table_ref("tpch.Orders", "postgres").sql("postgres") == '"tpch"."Orders"'
        assert table_ref(TableInfo("o", "s"), "mysql").sql("mysql") == "`s`.`o`"
        with pytest.raises(ValueError):
            table_ref("", "postgres")


class TestStatements:
    def test_sql_port_is_wrapped_as_a_subquery(self) -> None:
        port = OutputPort(source="s", sql="SELECT a, b FROM t WHERE c > 1;")
        cond = prepare_predicate(f("a = 1"), {"a": col("a", "integer", "integer")}, "postgres")
        assert cond is not None
        sql = build_select(port, ["a"], [cond], 10, "postgres")
        assert sql == 'SELECT "a" FROM (SELECT a, b FROM t WHERE c > 1) AS "_mf_src" WHERE ("a" = 1) LIMIT 10'

    def test_sql_port_must_be_one_query(self) -> None:
        for bad in ["DELETE FROM t", "SELECT 1; DROP TABLE t", "CREATE TABLE x (a INT)"]:
            with pytest.raises(ValueError):
                subquery_sql(bad, "postgres")
        assert subquery_sql("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "postgres").startswith("WITH")

    def test_count_without_and_with_limit(self) -> None:
        port = OutputPort(source="s", table="t")
        assert build_count(port, [], None, "mysql") == "SELECT COUNT(*) AS `n` FROM `t`"
        assert "LIMIT 3" in build_count(port, [], 3, "mysql")

    def test_plan_keeps_limit_only_when_every_filter_is_pushed(self) -> None:
        port = OutputPort(source="s", table="t")
        all_pushed = plan_scan(ScanRequest(port, ["l_quantity"], [f("l_quantity > 1")], 5), PG, "postgres")
        assert all_pushed.limit_pushed and all_pushed.sql.endswith("LIMIT 5")
        partly = plan_scan(ScanRequest(port, ["l_quantity"], [f("l_quantity > 1"), f("ratio = 1")], 5), PG, "postgres")
        assert not partly.limit_pushed and "LIMIT" not in partly.sql
        assert [p.sql() for p in partly.pushed] == ["l_quantity > 1"]

    def test_plan_orders_columns_as_requested_and_reports_unknown(self) -> None:
        port = OutputPort(source="s", table="t")
        plan = plan_scan(ScanRequest(port, ["L_DISCOUNT", "l_quantity"]), PG, "postgres")
        assert plan.columns == ["l_discount", "l_quantity"]
        with pytest.raises(UnknownColumn) as err:
            plan_scan(ScanRequest(port, ["nope"]), PG, "postgres")
        assert err.value.name == "nope"

    def test_count_only_plan(self) -> None:
        plan = plan_scan(ScanRequest(OutputPort(source="s", table="t"), [], [f("l_quantity > 1")]), PG, "postgres")
        assert plan.count_only and plan.sql.startswith("SELECT COUNT(*)")

    def test_create_table_keeps_decimal_and_collation(self) -> None:
        schema = pa.schema([("p", pa.decimal128(15, 2)), ("s", pa.string()), ("t", pa.timestamp("us", "UTC"))])
        assert build_create_table("x", schema, "postgres") == (
            'CREATE TABLE "x" ("p" DECIMAL(15, 2), "s" TEXT, "t" TIMESTAMPTZ)'
        )
        assert build_create_table("x", schema, "mysql", string_collation="utf8mb4_nopad_bin") == (
            "CREATE TABLE `x` (`p` DECIMAL(15, 2), `s` LONGTEXT COLLATE utf8mb4_nopad_bin, `t` DATETIME(6))"
        )
        # SQLite keeps the declared names: they are what tells a reader the type
        assert "DECIMAL(15, 2)" in build_create_table("x", schema, "sqlite")

    def test_doctests(self) -> None:
        assert doctest.testmod(pushdown).failed == 0


# ---------------------------------------------------------------------------------------------
# Property tests: what is pushed to SQLite keeps exactly DuckDB's rows

ROWS = [
    (1, 1, 0.5, "abc", "abc"),
    (2, -3, 2.25, "ABC", "ABC"),
    (3, None, None, None, None),
    (4, 7, 1e10, "abc ", "abc "),
    (5, 0, -0.0, "a%c", "a%c"),
    (6, 2, 3.0, "b", "B"),
    (7, 24, 0.07, "", ""),
    (8, 10, 0.05, "zz", "Zz"),
]
SQLITE_COLS = {
    "i": col("i", "INTEGER", "bigint"),
    "x": col("x", "REAL", "double"),
    "s": col("s", "TEXT", "string"),
    "ci": col("ci", "TEXT COLLATE NOCASE", "string", case_insensitive=True),
}
_names = st.sampled_from(["i", "x", "s", "ci", "I", "S"])
_literals = st.one_of(
    st.integers(-5, 30).map(str),
    st.sampled_from(["0.05", "0.07", "2.25", "1.0", "-0.0", "3"]),
    st.sampled_from(["'abc'", "'ABC'", "'abc '", "'b'", "''", "'a%'", "'%c'", "'Zz'", "'1'"]),
    st.sampled_from(["0.06 - 0.01", "2 * 3", "'ab' || 'c'", "TRUE", "NULL", "DATE '2020-01-01'"]),
)
_ops = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])


@st.composite
def _atoms(draw: st.DrawFn) -> str:
    name = draw(_names)
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return f"{name} {draw(_ops)} {draw(_literals)}"
    if kind == 1:
        return f"{draw(_literals)} {draw(_ops)} {name}"
    if kind == 2:
        items = draw(st.lists(_literals, min_size=1, max_size=3))
        return f"{name} {'NOT ' if draw(st.booleans()) else ''}IN ({', '.join(items)})"
    if kind == 3:
        return f"{name} BETWEEN {draw(_literals)} AND {draw(_literals)}"
    if kind == 4:
        return f"{name} IS {'NOT ' if draw(st.booleans()) else ''}NULL"
    return f"{name} LIKE {draw(st.sampled_from(['%a%', 'a_c', 'ABC', '%c ']))!r}"


_predicates = st.recursive(
    _atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) AND ({p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) OR ({p[1]})"),
        inner.map(lambda p: f"NOT ({p})"),
    ),
    max_leaves=4,
)


@pytest.fixture(scope="module")
def engines() -> tuple[sqlite3.Connection, duckdb.DuckDBPyConnection]:
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE t (id INTEGER, i INTEGER, x REAL, s TEXT, ci TEXT COLLATE NOCASE)")
    lite.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", ROWS)
    duck = duckdb.connect()
    duck.execute("CREATE TABLE t (id BIGINT, i BIGINT, x DOUBLE, s VARCHAR, ci VARCHAR)")
    duck.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", ROWS)
    return lite, duck


def _duck_rows(duck: duckdb.DuckDBPyConnection, predicate: str) -> set[int] | None:
    try:
        return {r[0] for r in duck.execute(f"SELECT id FROM t WHERE {predicate}").fetchall()}
    except duckdb.Error:
        return None  # not valid DuckDB (e.g. comparing a number with 'abc'): nothing to compare


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_predicates)
def test_sqlite_keeps_duckdb_rows(engines: tuple[sqlite3.Connection, duckdb.DuckDBPyConnection], text: str) -> None:
    lite, duck = engines
    expected = _duck_rows(duck, text)
    prepared = prepare_predicate(f(text), SQLITE_COLS, "sqlite")
    if prepared is None or expected is None:
        return
    sql = prepared.sql(dialect="sqlite")
    got = {r[0] for r in lite.execute(f"SELECT id FROM t WHERE {sql}").fetchall()}
    assert got == expected, f"{text} → {sql}"


@settings(max_examples=300, deadline=None)
@given(text=_predicates, dialect=st.sampled_from(["postgres", "mysql", "sqlite", "duckdb"]))
def test_pushed_sql_is_valid_in_its_dialect(text: str, dialect: str) -> None:
    cols = {
        "i": col("i", "bigint" if dialect != "sqlite" else "INTEGER", "bigint"),
        "x": col("x", {"postgres": "double precision", "mysql": "double"}.get(dialect, "DOUBLE"), "double"),
        "s": col(
            "s",
            {"postgres": 'text COLLATE "C"', "mysql": "text COLLATE utf8mb4_nopad_bin"}.get(dialect, "TEXT"),
            "string",
        ),
        "ci": col("ci", "text", "string", case_insensitive=True),
    }
    prepared = prepare_predicate(f(text), cols, dialect)
    if prepared is None:
        return
    sql = prepared.sql(dialect=dialect)
    reparsed = sqlglot.parse_one(sql, dialect=dialect)
    allowed = (
        exp.Column,
        exp.Identifier,
        exp.Literal,
        exp.Boolean,
        exp.Null,
        exp.Cast,
        exp.DataType,
        exp.Paren,
        exp.Not,
        exp.And,
        exp.Or,
        exp.EQ,
        exp.NEQ,
        exp.LT,
        exp.LTE,
        exp.GT,
        exp.GTE,
        exp.In,
        exp.Between,
        exp.Is,
        exp.Like,
        exp.Neg,
        exp.Date,
        exp.DataTypeParam,
        exp.Collate,
        exp.Var,
    )
    bad = [type(n).__name__ for n in reparsed.walk() if not isinstance(n, allowed)]
    assert not bad, f"{sql}: {bad}"
    # the case-insensitive column is only ever compared in its byte-wise form
    for column in reparsed.find_all(exp.Column):
        if column.name == "ci" and isinstance(column.parent, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE,
                                                              exp.In, exp.Between, exp.Like)):
            raise AssertionError(f"{sql}: ci compared as the source's collation compares it")


def test_float_literal_text_never_uses_exponent() -> None:
    cols = {"x": col("x", "double precision", "double")}
    assert pushed("x > 0.000001", cols, "postgres") == '"x" > 0.000001'
    assert pushed("x > 1e-6", cols, "postgres") is None
