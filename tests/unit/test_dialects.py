"""The dialect objects: one per source kind, the only place a source's SQL differs.

Pushdown, quality compilation and profiling ask these objects; the tests here check the
registry, that the readers no longer branch on a dialect's name, and the few invariants the
readers rely on (exact is bytewise where it matters, files differ from DuckDB only in column
pairs, every column type generated for an Arrow type parses in the dialect it is written in).
"""

from __future__ import annotations

import ast
import inspect
import sqlite3

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from meshfabric.connectors import KINDS, pushdown
from meshfabric.connectors.base import ColumnInfo
from meshfabric.connectors.dialects import Dialect, UnknownDialect, UnsupportedType, dialect
from meshfabric.errors import ConfigError
from meshfabric.quality import compile as qc
from meshfabric.quality import profile
from meshfabric.types import LogicalType

SQL_KINDS = ["postgres", "mysql", "sqlite", "duckdb"]


def string(name: str = "s", native: str = "text", *, insensitive: bool = False) -> ColumnInfo:
    return ColumnInfo(name, native, LogicalType("string"), case_insensitive=insensitive)


def test_every_source_kind_has_a_dialect_named_for_sqlglot() -> None:
    for kind in KINDS:
        d = dialect(kind)
        assert d.kind == kind
        assert sqlglot.Dialect.get_or_raise(d.name) is not None
    assert dialect("files").name == "duckdb"


def test_an_unknown_kind_is_a_config_error_and_each_reader_keeps_its_message() -> None:
    with pytest.raises(UnknownDialect) as info:
        dialect("oracle")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert "postgres" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="quality rules cannot run in a 'oracle' source"):
        qc.dialect("oracle")
    with pytest.raises(ValueError, match="no pushdown rules for 'oracle'"):
        pushdown.prepare_predicate(sqlglot.parse_one("s = 'a'"), {"s": string()}, "oracle")


@pytest.mark.parametrize("module", [pushdown, qc, profile])
def test_readers_do_not_branch_on_a_dialect_name(module: object) -> None:
    """``if dialect == "mysql"`` belongs in the dialect object, not in its readers."""
    names = set(SQL_KINDS) | {"files"}
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    branches = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                values = part.elts if isinstance(part, ast.Tuple | ast.List | ast.Set) else [part]
                if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                    branches.append(ast.unparse(node))
    assert branches == []


def test_the_quality_dialect_is_the_shared_object() -> None:
    assert qc.SqlDialect is Dialect
    for kind in SQL_KINDS:
        assert qc.dialect(kind) is dialect(kind)
        assert profile._SQL(kind).d is dialect(kind)


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_exact_is_bytewise_wherever_the_collation_could_fold(kind: str) -> None:
    """Quality rules use the cheaper ``exact``; it may skip the byte-wise form only where the
    column's equality is already byte-wise."""
    d = dialect(kind)
    value = exp.column("s", quoted=True)
    folding = string(insensitive=True)
    assert d.sql(d.exact(value.copy(), folding)) == d.sql(d.bytewise(value.copy()))
    plain = d.sql(d.exact(value.copy(), string()))
    assert plain in (d.sql(value), d.sql(d.bytewise(value.copy())))
    number = ColumnInfo("n", "integer", LogicalType("bigint"))
    assert d.sql(d.exact(value.copy(), number)) == d.sql(value)


def test_sqlite_bytewise_tells_case_apart_in_a_nocase_column() -> None:
    d = dialect("sqlite")
    key = d.sql(d.bytewise(exp.column("s", quoted=True)))
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (s TEXT COLLATE NOCASE)")
    con.executemany("INSERT INTO t VALUES (?)", [("a",), ("A",), ("a",)])
    assert con.execute("SELECT COUNT(DISTINCT s) FROM t").fetchone() == (1,)
    assert con.execute(f"SELECT COUNT(DISTINCT {key}) FROM t").fetchone() == (2,)
    assert con.execute(f"SELECT MIN({key}) FROM t").fetchone() == ("A",)


def test_files_differ_from_duckdb_only_in_comparing_string_columns() -> None:
    duck, files = dialect("duckdb"), dialect("files")
    a, b = string("a", "VARCHAR"), string("b", "VARCHAR")
    assert "string" not in duck.pushable_column_families and "string" in files.pushable_column_families
    assert not duck.pushes_column_strings(a, b, True) and files.pushes_column_strings(a, b, True)
    assert not files.pushes_column_strings(a, string("b", "VARCHAR", insensitive=True), False)
    assert files.pushable_natives == duck.pushable_natives
    assert files.types == duck.types


def test_a_dialect_that_states_nothing_pushes_only_null_checks() -> None:
    class Bare(Dialect):
        kind = name = "postgres"

    cols = {"s": string(), "n": ColumnInfo("n", "integer", LogicalType("integer"))}
    prepare = pushdown._Preparer(cols, Bare())
    for text in ["s = 'a'", "s LIKE 'a%'", "n = 1", "n < n"]:
        assert prepare.prepare(sqlglot.parse_one(text, dialect="duckdb")) is None, text
    assert prepare.prepare(sqlglot.parse_one("n IS NULL")) is not None


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_quantiles_exist_exactly_where_they_go_in_the_scan(kind: str) -> None:
    d = dialect(kind)
    x = exp.column("x", quoted=True)
    if d.quantile_in_scan:
        one, many = d.sql(d.quantile(x.copy(), 0.5)), d.sql(d.quantile(x.copy(), [0.25, 0.75]))
        assert "0.5" in one and "0.25" in many and "0.75" in many
        sqlglot.parse_one(f"SELECT {many} FROM t", dialect=d.name)
    else:
        with pytest.raises(NotImplementedError):
            d.quantile(x, 0.5)


ARROW = [pa.null(), pa.bool_(), pa.int8(), pa.uint64(), pa.float16(), pa.float64(), pa.decimal128(38, 9),
         pa.string(), pa.large_binary(), pa.time64("us"), pa.date32(), pa.timestamp("us"),
         pa.timestamp("us", tz="UTC"), pa.duration("us"), pa.list_(pa.int32()), pa.dictionary(pa.int8(), pa.string())]


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_every_column_type_parses_where_it_is_written(kind: str) -> None:
    d = dialect(kind)
    written = 0
    for at in ARROW:
        try:
            text = d.column_type(at)
        except UnsupportedType as exc:
            assert kind in str(exc)
            continue
        exp.DataType.build(text, dialect=d.ddl_name)
        written += 1
    assert written >= len(ARROW) - 2
