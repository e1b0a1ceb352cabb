"""CSV and JSON files on the Spark engine: read by Spark's own readers with an explicit schema
(the product's declared columns, equal to what DuckDB reads), giving the DuckDB engine's rows and
Arrow types; what Spark cannot read the same way goes through the connector, never differently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from access_support import MESH, ORDERS, ORDERS_ROWS, SECRETS, build, setup_principals

pytestmark = pytest.mark.slow

LAKE = "sources:\n  lake:\n    kind: files\n    path: data/lake\n"

CSV_TEXT = (
    "id|name|note|amount|price|day|active\n"
    '1|Ann|"a, b\nsecond line"|12.50|1.25|2024-01-02|true\n'
    '2|"Bob ""the"" builder"|""||0.1|2023-12-31|false\n'
    "3||plain|-3.75|||\n"
    '4|"x|y"|"q, r"|100|2.5|2020-02-29|true\n'
)

EVENTS = [
    {"id": 1, "kind": "click", "value": 1.5, "day": "2024-01-02", "at": "2024-01-02 03:04:05", "ok": True},
    {"id": 2, "kind": "", "value": None, "day": None, "at": "2023-12-31 23:59:59", "ok": False},
    {"id": 3, "kind": "view, \"quoted\"", "day": "2020-02-29", "at": "2020-02-29 00:00:00", "ok": None},
]
NESTED = [
    {"id": 1, "tags": ["a", "b"], "attrs": {"x": 1, "y": "p"}},
    {"id": 2, "tags": [], "attrs": {"x": None, "y": "q"}},
]


def _product(name: str, path: str, columns: str, options: str = "") -> str:
    return (f"kind: DataProduct\ndomain: sales\nname: {name}\nowner: sales-owner\nstatus: published\n"
            f"output:\n  source: lake\n  path: {path}\n{options}schema:\n{columns}")


def _cols(*pairs: tuple[str, str]) -> str:
    return "".join(f"  - name: {n}\n    type: {t}\n" for n, t in pairs)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, spark_engine: Any) -> Iterator[Any]:
    from meshfabric import Mesh

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MESHFABRIC_MASK_SALT", "salt-for-tests")
        env.delenv("MESHFABRIC_STORE_URL", raising=False)
        yield from _workspace(tmp_path_factory, spark_engine, Mesh)


def _workspace(tmp_path_factory: pytest.TempPathFactory, spark_engine: Any, Mesh: Any) -> Iterator[Any]:
    conf = "".join(f"      {k}: \"{v}\"\n" for k, v in spark_engine.conf.items())
    engine = f"engine:\n  kind: spark\n  master: {spark_engine.master}\n  conf:\n{conf}"
    text = MESH.replace("sources:\n", LAKE) + engine
    root = build(tmp_path_factory.mktemp("files") / "ws", mesh=text)
    lake = root / "data" / "lake"
    (lake / "items").mkdir(parents=True)
    (lake / "items" / "items.csv").write_text(CSV_TEXT)
    (lake / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (lake / "nested.jsonl").write_text("".join(json.dumps(e) + "\n" for e in NESTED))
    # cards get a letter in front, or DuckDB would read the column as bigint, not the declared string
    (lake / "orders.csv").write_text("id,region,amount,email,card,ssn,birth,note\n" + "".join(
        f"{i},{r},{a:.1f},{e},c{c},{n},{b},{t}\n" for i, r, a, e, c, n, b, t in ORDERS_ROWS))
    import gzip

    (lake / "stamps.csv.gz").write_bytes(gzip.compress(
        b"id,at,note\n1,2024-01-02 03:04:05,a\n2,2024-01-02 03:04:05.123456,\n3,,\"b\"\"c\"\n"))
    (lake / "eu_dates.csv").write_text("id,d\n1,02/03/2024\n2,31/12/2023\n3,\n")
    (lake / "na.csv").write_text("id,name\n1,NA\n2,\n3,x\n")
    (lake / "array.json").write_text(json.dumps(EVENTS, indent=1))
    specs = root / "specs"
    (specs / "stamps.yaml").write_text(_product(
        "stamps", "stamps.csv.gz", _cols(("id", "bigint"), ("at", "timestamp"), ("note", "string"))))
    (specs / "eu_dates.yaml").write_text(_product("eu_dates", "eu_dates.csv", _cols(("id", "bigint"), ("d", "date"))))
    (specs / "na.yaml").write_text(_product("na", "na.csv", _cols(("id", "bigint"), ("name", "string")),
                                            "  options:\n    nullstr: NA\n"))
    (specs / "array.yaml").write_text(_product(
        "array", "array.json", _cols(("id", "bigint"), ("kind", "string"), ("value", "double"),
                                     ("day", "date"), ("at", "timestamp"), ("ok", "boolean"))))
    (specs / "orders.yaml").write_text(ORDERS.replace("  source: db\n  table: orders\n",
                                                      "  source: lake\n  path: orders.csv\n"))
    (specs / "items.yaml").write_text(_product(
        "items", "items", _cols(("id", "bigint"), ("name", "string"), ("note", "string"), ("amount", "double"),
                                ("price", "double"), ("day", "date"), ("active", "boolean")),
        "  format: csv\n  options:\n    header: true\n    delim: '|'\n"))
    (specs / "events.yaml").write_text(_product(
        "events", "events.jsonl", _cols(("id", "bigint"), ("kind", "string"), ("value", "double"),
                                         ("day", "date"), ("at", "timestamp"), ("ok", "boolean"))))
    nested = _cols(("id", "bigint"), ("tags", "list<string>"), ("attrs", "struct<x bigint, y string>"))
    (specs / "nested.yaml").write_text(_product("nested", "nested.jsonl", nested))
    with Mesh.open(root) as m:
        m.apply()
        setup_principals(m)
        yield m


def _same(mesh: Any, sql: str, user: str | None = None) -> tuple[Any, Any]:
    duck = mesh.query(sql, user=user, engine="duckdb")
    spark = mesh.query(sql, user=user, engine="spark")
    assert [(f.name, f.type) for f in spark.arrow().schema] == [(f.name, f.type) for f in duck.arrow().schema]
    assert spark.arrow().to_pylist() == duck.arrow().to_pylist()
    return duck, spark


@pytest.mark.parametrize("sql", [
    "SELECT * FROM sales.items ORDER BY id",
    "SELECT id, note FROM sales.items WHERE name IS NULL OR note IS NULL ORDER BY id",
    "SELECT count(*) AS n, sum(amount) AS total, max(day) AS last FROM sales.items WHERE active",
    "SELECT name FROM sales.items WHERE amount > 0 ORDER BY name",
    "SELECT count(*) AS n FROM sales.items",
])
def test_csv_is_read_by_spark_with_the_duckdb_engines_rows_and_types(mesh: Any, sql: str) -> None:
    _, spark = _same(mesh, sql)
    (scan,) = spark.stats.scans
    assert scan.placement == "engine"  # Spark's CSV reader, not the connector's Arrow


def test_csv_values_are_the_files(mesh: Any) -> None:
    rows = mesh.query("SELECT id, name, note, amount FROM sales.items ORDER BY id", engine="spark").rows
    assert rows[0] == (1, "Ann", "a, b\nsecond line", 12.5)
    assert rows[1] == (2, 'Bob "the" builder', None, None)
    assert rows[3][1] == "x|y"


@pytest.mark.parametrize("sql", [
    "SELECT * FROM sales.events ORDER BY id",
    "SELECT id, at FROM sales.events WHERE day >= DATE '2021-01-01' OR value IS NULL ORDER BY id",
])
def test_json_lines_are_read_by_spark_with_the_duckdb_engines_rows_and_types(mesh: Any, sql: str) -> None:
    _, spark = _same(mesh, sql)
    (scan,) = spark.stats.scans
    assert scan.placement == "engine"


def test_nested_json_falls_back_to_the_connector_with_the_same_answer(mesh: Any) -> None:
    _, spark = _same(mesh, "SELECT * FROM sales.nested ORDER BY id")
    (scan,) = spark.stats.scans
    assert scan.placement == "source"  # Spark's arrays and structs are not DuckDB's Arrow types


@pytest.mark.parametrize("sql", [
    "SELECT * FROM sales.orders ORDER BY id",
    "SELECT region, count(*) AS n, sum(amount) AS total FROM sales.orders GROUP BY region ORDER BY region",
    "SELECT max(amount) AS top, min(birth) AS oldest FROM sales.orders WHERE amount > 5",
    "SELECT id, 1 / (amount - 999) AS x FROM sales.orders ORDER BY id",
])
def test_a_masked_filtered_principal_gets_the_same_answer_over_csv(mesh: Any, sql: str) -> None:
    _, spark = _same(mesh, sql, user="alice")
    assert spark.stats.scans[0].placement == "engine"
    shown = repr(spark.arrow().to_pylist())
    assert not [s for s in SECRETS if s in shown]


@pytest.mark.parametrize(("sql", "how"), [
    ("SELECT * FROM sales.stamps ORDER BY id", "engine"),  # gzip, ISO timestamps: Spark's reader
    ("SELECT * FROM sales.array ORDER BY id", "engine"),  # a file holding one JSON array
    ("SELECT * FROM sales.eu_dates ORDER BY id", "source"),  # dates as %d/%m/%Y: the connector
    ("SELECT * FROM sales.na ORDER BY id", "source"),  # nullstr: an option Spark's reader lacks
])
def test_what_spark_reads_and_what_falls_back_give_the_same_answers(mesh: Any, sql: str, how: str) -> None:
    _, spark = _same(mesh, sql)
    assert spark.stats.scans[0].placement == how
