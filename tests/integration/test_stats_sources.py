"""Statistics of a known table from each source kind's own catalog: PostgreSQL pg_class/pg_stats,
MariaDB information_schema + column_stats, SQLite sqlite_stat1, DuckDB stats(), Parquet
footers, CSV; then the store's cache: round trip, invalidation when the port changes, refresh
after apply that survives a source failing."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers import build_workspace, default_store, my_exec, pg_exec
from meshfabric.connectors import get_connector
from meshfabric.connectors.base import Connector
from meshfabric.spec.models import OutputPort, SourceSpec

ROWS = 10_000


def _connector(name: str, spec: dict[str, Any], root: Path | None = None) -> Connector:
    return get_connector(name, SourceSpec.model_validate(spec), root or Path.cwd())


def _port(source: str, **fields: Any) -> OutputPort:
    return OutputPort.model_validate({"source": source, **fields})


def _near(value: float | None, expected: float, tolerance: float) -> bool:
    return value is not None and abs(value - expected) <= tolerance * max(1.0, abs(expected))


@pytest.fixture
def table_name() -> str:
    return f"facts_{uuid.uuid4().hex[:8]}"


# -- PostgreSQL -------------------------------------------------------------------------------

@pytest.mark.postgres
def test_postgres_reads_pg_class_and_pg_stats(pg_url: str, table_name: str) -> None:
    pg_exec(
        pg_url,
        f"CREATE TABLE {table_name} (id int PRIMARY KEY, grp int, maybe int, day date, amount numeric(10,2), "
        "label text) WITH (autovacuum_enabled = false)",
        f"INSERT INTO {table_name} SELECT i, i % 25, CASE WHEN i % 10 = 0 THEN NULL ELSE i END, "
        "date '2024-01-01' + (i % 366), (i % 1000) / 4.0, 'label ' || (i % 7) FROM generate_series(1, 10000) i",
    )
    c = _connector("pg", {"kind": "postgres", "url": pg_url})
    try:
        port = _port("pg", table=table_name)
        first = c.statistics(port)  # never analysed, and not allowed to: counted, no columns
        assert first.row_count == ROWS and first.exact and first.columns == {}
        assert "never analysed" in first.origin
        stats = c.statistics(port, analyze="missing")  # a plain `stats refresh`: ANALYZE once
        assert stats.origin == "postgres pg_stats" and not stats.exact
        assert _near(stats.row_count, ROWS, 0.05)
        cols = stats.columns
        assert _near(cols["id"].distinct, ROWS, 0.1)  # n_distinct -1: a share of the rows
        assert cols["grp"].distinct == 25
        assert _near(cols["maybe"].null_fraction, 0.1, 0.02) and cols["id"].null_fraction == 0
        assert cols["day"].min == date(2024, 1, 1) and cols["day"].max == date(2024, 12, 31)
        assert isinstance(cols["amount"].max, Decimal) and cols["amount"].max == Decimal("249.75")
        assert cols["label"].min == "label 0" and cols["label"].max == "label 6"
        hist = cols["id"].histogram
        assert hist is not None and len(hist) > 10 and list(hist) == sorted(hist)
        assert cols["id"].avg_width == 4
        # analysed before: a refresh without --analyze leaves it alone, and reads the same
        again = c.statistics(port)
        assert again.columns.keys() == cols.keys()
        query = c.statistics(_port("pg", sql=f"SELECT * FROM {table_name} WHERE id <= 100"))
        assert query.origin == "postgres EXPLAIN" and query.row_count is not None and 50 <= query.row_count <= 200
    finally:
        c.close()


# -- MariaDB ----------------------------------------------------------------------------------

@pytest.mark.mariadb
def test_mariadb_reads_column_stats_and_index_cardinalities(mysql_url: str, table_name: str) -> None:
    db = mysql_url.rsplit("/", 1)[1]
    my_exec(
        db,
        f"CREATE TABLE {table_name} (id INT PRIMARY KEY, grp INT, maybe INT, day DATE, amount DECIMAL(10,2), "
        "label VARCHAR(20), INDEX (grp))",
        f"INSERT INTO {table_name} SELECT seq, seq % 25, IF(seq % 10 = 0, NULL, seq), "
        "DATE '2024-01-01' + INTERVAL (seq % 366) DAY, (seq % 1000) / 4, CONCAT('label ', seq % 7) "
        "FROM seq_1_to_10000",
    )
    c = _connector("my", {"kind": "mysql", "url": mysql_url})
    try:
        port = _port("my", table=table_name)
        before = c.statistics(port)  # no column_stats yet, and not allowed to ANALYZE
        assert before.row_count == ROWS and before.exact
        assert before.columns["id"].distinct == ROWS  # a one-column unique index: every row
        assert before.columns["grp"].distinct is not None and before.columns["grp"].min is None
        stats = c.statistics(port, analyze="missing")  # small and without column_stats: ANALYZE … PERSISTENT
        assert stats.origin == "mariadb column_stats" and stats.row_count == ROWS
        cols = stats.columns
        assert cols["id"].min == 1 and cols["id"].max == ROWS
        assert cols["day"].min == date(2024, 1, 1) and cols["day"].max == date(2024, 12, 31)
        assert cols["amount"].min == Decimal("0.00") and cols["amount"].max == Decimal("249.75")
        assert cols["label"].min == "label 0" and cols["label"].max == "label 6"
        assert _near(cols["maybe"].null_fraction, 0.1, 0.001) and cols["id"].null_fraction == 0
        assert _near(cols["id"].distinct, ROWS, 0.01) and _near(cols["grp"].distinct, 25, 0.01)
        assert _near(cols["maybe"].distinct, 9000, 0.01)
        hist = cols["grp"].histogram
        assert hist is not None and len(hist) > 2 and list(hist) == sorted(hist) and hist[0] == 0
        # column_stats exist now: a plain refresh reads them without ANALYZE
        again = c.statistics(port, analyze="missing")
        assert again.columns["id"].max == ROWS
        view = c.statistics(_port("my", sql=f"SELECT * FROM {table_name} WHERE id <= 100"))
        assert view.origin == "mariadb EXPLAIN" and view.row_count is not None and view.row_count > 0
    finally:
        c.close()


@pytest.mark.mariadb
def test_mariadb_first_column_of_a_composite_key_counts_its_own_values(mysql_url: str, table_name: str) -> None:
    """information_schema gives every column of a unique composite key the whole key's count;
    InnoDB's own per-prefix estimate says how many values its first column has (join estimates
    divide by it: 100,000 would make a 1,000-key join look 100 times more selective)."""
    db = mysql_url.rsplit("/", 1)[1]
    my_exec(
        db,
        f"CREATE TABLE {table_name} (part INT, supp INT, qty INT, PRIMARY KEY (part, supp))",
        f"INSERT INTO {table_name} SELECT seq DIV 4, seq % 4, seq FROM seq_0_to_{ROWS - 1}",
        f"ANALYZE TABLE {table_name}",
    )
    c = _connector("my", {"kind": "mysql", "url": mysql_url})
    try:
        cols = c.statistics(_port("my", table=table_name)).columns
        assert _near(cols["part"].distinct, ROWS / 4, 0.3), cols["part"]
        assert "supp" not in cols or cols["supp"].distinct is None or cols["supp"].distinct < ROWS / 2
    finally:
        c.close()


# -- SQLite -----------------------------------------------------------------------------------

def _sqlite_table(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE facts (id INTEGER PRIMARY KEY, grp INT, maybe INT, day DATE, amount NUMERIC(10,2))")
        con.execute("CREATE INDEX facts_grp ON facts (grp)")
        con.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?)", [
            (i, i % 25, None if i % 10 == 0 else i, (date(2024, 1, 1) + timedelta(days=i % 366)).isoformat(),
             (i % 1000) / 4) for i in range(1, rows + 1)])
    con.close()


def test_sqlite_small_tables_are_exact(tmp_path: Path) -> None:
    _sqlite_table(tmp_path / "db.sqlite", ROWS)
    c = _connector("lite", {"kind": "sqlite", "path": "db.sqlite"}, tmp_path)
    stats = c.statistics(_port("lite", table="facts"))
    assert stats.row_count == ROWS and stats.exact
    cols = stats.columns
    assert cols["id"].distinct == ROWS and cols["grp"].distinct == 25
    assert cols["maybe"].null_fraction == pytest.approx(0.1)
    assert cols["day"].min == date(2024, 1, 1) and cols["day"].max == date(2024, 12, 31)
    assert cols["amount"].max == Decimal("249.75")


def test_sqlite_large_tables_use_sqlite_stat1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshfabric.connectors.statistics as s

    monkeypatch.setattr(s, "SMALL_ROWS", 100)
    _sqlite_table(tmp_path / "db.sqlite", ROWS)
    c = _connector("lite", {"kind": "sqlite", "path": "db.sqlite"}, tmp_path)
    port = _port("lite", table="facts")
    before = c.statistics(port)  # never analysed: the rowid and index seeks only
    assert before.origin == "sqlite sqlite_stat1" and before.row_count == ROWS
    assert before.columns["id"].distinct == ROWS and before.columns["grp"].distinct is None
    assert (before.columns["grp"].min, before.columns["grp"].max) == (0, 24)
    assert "maybe" not in before.columns
    stats = c.statistics(port, analyze="always")
    assert stats.columns["grp"].distinct == 25 and stats.columns["id"].max == ROWS


# -- DuckDB -----------------------------------------------------------------------------------

def _duckdb_table(path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE facts AS SELECT i AS id, i % 25 AS grp, CASE WHEN i % 10 = 0 THEN NULL ELSE i END "
                "AS maybe, DATE '2024-01-01' + (i % 366)::INT AS day, ((i % 1000) / 4)::DECIMAL(10,2) AS amount "
                "FROM range(1, 10001) r(i)")
    con.execute("CHECKPOINT")
    con.close()


@pytest.mark.parametrize("small", [True, False])
def test_duckdb_table_statistics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: bool) -> None:
    import meshfabric.connectors.statistics as s

    if not small:
        monkeypatch.setattr(s, "SMALL_ROWS", 100)
    _duckdb_table(tmp_path / "db.duckdb")
    c = _connector("duck", {"kind": "duckdb", "path": "db.duckdb"}, tmp_path)
    stats = c.statistics(_port("duck", table="facts"))
    assert stats.row_count == ROWS
    cols = stats.columns
    assert (cols["id"].min, cols["id"].max) == (1, ROWS)
    assert (cols["day"].min, cols["day"].max) == (date(2024, 1, 1), date(2024, 12, 31))
    assert cols["amount"].max == Decimal("249.75") and cols["grp"].distinct is not None
    assert _near(cols["grp"].distinct, 25, 0.2) and _near(cols["id"].distinct, ROWS, 0.35)
    if small:
        assert stats.origin == "duckdb aggregate (small table)"
        assert cols["maybe"].null_fraction == pytest.approx(0.1) and cols["id"].distinct == ROWS
    else:
        assert stats.origin == "duckdb table statistics"
        assert cols["maybe"].null_fraction is None and cols["id"].null_fraction == 0


# -- files ------------------------------------------------------------------------------------

def test_parquet_footers_give_exact_min_max_and_null_fractions(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "lake" / "facts"
    folder.mkdir(parents=True)
    for part in range(2):
        ids = list(range(part * 5000 + 1, part * 5000 + 5001))
        table = pa.table({
            "id": pa.array(ids, pa.int64()),
            "maybe": pa.array([None if i % 10 == 0 else i for i in ids], pa.int64()),
            "day": pa.array([date(2024, 1, 1) + timedelta(days=i % 366) for i in ids], pa.date32()),
            "amount": pa.array([Decimal(i % 1000) / 4 for i in ids], pa.decimal128(10, 2)),
            "label": pa.array([f"label {i % 7}" for i in ids]),
        })
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=1500)
    c = _connector("lake", {"kind": "files", "path": "lake"}, tmp_path)
    stats = c.statistics(_port("lake", path="facts/*.parquet"))
    assert stats.origin == "parquet footer" and stats.row_count == ROWS and stats.exact
    cols = stats.columns
    assert (cols["id"].min, cols["id"].max) == (1, ROWS)
    assert cols["maybe"].null_fraction == pytest.approx(0.1) and cols["id"].null_fraction == 0
    assert (cols["day"].min, cols["day"].max) == (date(2024, 1, 1), date(2024, 12, 31))
    assert (cols["amount"].min, cols["amount"].max) == (Decimal("0.00"), Decimal("249.75"))
    assert (cols["label"].min, cols["label"].max) == ("label 0", "label 6")


def test_csv_gives_its_row_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshfabric.connectors.files as files

    (tmp_path / "lake").mkdir()
    lines = ["id,grp"] + [f"{i},{i % 25}" for i in range(1, ROWS + 1)]
    (tmp_path / "lake" / "facts.csv").write_text("\n".join(lines) + "\n")
    c = _connector("lake", {"kind": "files", "path": "lake"}, tmp_path)
    small = c.statistics(_port("lake", path="facts.csv"))
    assert small.row_count == ROWS and small.exact and small.columns["grp"].distinct == 25
    monkeypatch.setattr(files, "COUNT_TEXT_BYTES", 1000)
    big = c.statistics(_port("lake", path="facts.csv"))
    assert big.origin == "csv line estimate" and big.columns == {} and _near(big.row_count, ROWS, 0.1)


def test_a_source_that_cannot_say_more_gives_its_row_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.connectors.sqlite import SQLiteConnector

    _sqlite_table(tmp_path / "db.sqlite", 50)

    def broken(self: Any, port: Any, conn: Any) -> Any:
        raise sqlite3.OperationalError("no such table: sqlite_stat1")

    monkeypatch.setattr(SQLiteConnector, "_statistics", broken)
    c = _connector("lite", {"kind": "sqlite", "path": "db.sqlite"}, tmp_path)
    stats = c.statistics(_port("lite", table="facts"))
    assert stats.row_count == 50 and stats.columns == {} and "row count only" in stats.origin


# -- the store's cache ------------------------------------------------------------------------

@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    with default_store():
        yield build_workspace(tmp_path / "ws")


def test_apply_fills_the_cache_and_the_query_catalog_reads_it(workspace: Path) -> None:
    from meshfabric import Mesh
    from meshfabric.catalog.queryable import StoreCatalog

    with Mesh.open(workspace) as mesh:
        mesh.apply()
        shipments = mesh.stats.get("logistics.shipments")
        assert shipments is not None and shipments.row_count == 15 and shipments.origin == "parquet footer"
        assert shipments.columns["cost"].max == Decimal("7.50")
        catalog = StoreCatalog(mesh.store, mesh.connections)
        binding = catalog.lookup("sales", "orders")
        assert binding is not None
        cached = catalog.statistics(binding)
        assert cached is not None and cached.row_count == 20 and cached.columns["order_id"].distinct == 20
        assert cached == mesh.stats.get("sales.orders")
        assert mesh.stats.stale() == []
        assert sorted(mesh.stats.stale(max_age=0.000001)) == ["crm.customers", "logistics.shipments", "sales.orders"]


def test_a_changed_port_invalidates_the_cached_statistics(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric import Mesh
    from meshfabric.catalog.queryable import StoreCatalog
    from meshfabric.connectors.sqlite import SQLiteConnector
    from meshfabric.errors import SourceError

    with sqlite3.connect(workspace / "data" / "shop.sqlite") as con:
        con.execute("CREATE TABLE orders_v2 AS SELECT * FROM orders WHERE order_id <= 5")
    con.close()
    with Mesh.open(workspace) as mesh:
        mesh.apply()
        assert mesh.stats.get("sales.orders").row_count == 20  # type: ignore[union-attr]

        def down(self: Any, port: Any, *, analyze: str = "never") -> Any:
            raise SourceError(self.name, "the server went away")

        monkeypatch.setattr(SQLiteConnector, "statistics", down)
        spec = workspace / "products" / "sales" / "orders.yaml"
        spec.write_text(spec.read_text().replace("table: orders", "table: orders_v2"))
        result = mesh.apply()  # the refresh fails: the apply does not
        assert result.applied
        assert mesh.stats.get("sales.orders") is None
        catalog = StoreCatalog(mesh.store, mesh.connections)
        assert catalog.statistics(catalog.lookup("sales", "orders")) is None  # type: ignore[arg-type]
        view = mesh.stats.show("sales.orders")
        assert not view.current and "went away" in view.error and view.stale
        monkeypatch.undo()
        report = mesh.stats.refresh(["sales.orders"])
        assert report.count("ok") == 1
        assert mesh.stats.get("sales.orders").row_count == 5  # type: ignore[union-attr]


def test_refresh_on_apply_records_a_source_that_is_down(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric import Mesh
    from meshfabric.connectors.files import FilesConnector
    from meshfabric.errors import SourceError

    def down(self: Any, port: Any, *, analyze: str = "never") -> Any:
        raise SourceError(self.name, "cannot reach the folder", hint="check the mount")

    monkeypatch.setattr(FilesConnector, "statistics", down)
    with Mesh.open(workspace) as mesh:
        result = mesh.apply()
        assert result.applied
        assert mesh.stats.get("sales.orders") is not None  # the other source answered
        assert mesh.stats.get("crm.customers") is None
        view = mesh.stats.show("crm.customers")
        assert view.taken_at is None and "cannot reach the folder" in view.error and "check the mount" in view.error
        report = mesh.stats.refresh()
        assert report.count("error") == 2 and report.count("ok") == 1
        json.dumps(report.to_dict())


def test_views_and_queries_are_never_run_for_statistics(tmp_path: Path) -> None:
    import duckdb

    forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r"
    with sqlite3.connect(tmp_path / "db.sqlite") as con:
        con.execute(f"CREATE VIEW forever AS {forever}")
    con.close()
    lite = _connector("lite", {"kind": "sqlite", "path": "db.sqlite"}, tmp_path)
    stats = lite.statistics(_port("lite", table="forever"))
    assert stats.row_count is None and stats.columns == {}
    duck = duckdb.connect(str(tmp_path / "db.duckdb"))
    duck.execute("CREATE TABLE t AS SELECT range AS n FROM range(1000)")
    duck.execute("CREATE VIEW big AS SELECT a.n FROM t a, t b, t c")  # a billion rows if it were run
    duck.close()
    c = _connector("duck", {"kind": "duckdb", "path": "db.duckdb"}, tmp_path)
    view = c.statistics(_port("duck", table="big"))
    assert view.origin == "duckdb EXPLAIN" and view.row_count is not None and view.row_count >= 1000


def test_a_deleted_product_loses_its_statistics(workspace: Path) -> None:
    from meshfabric import Mesh

    with Mesh.open(workspace) as mesh:
        mesh.apply()
        assert mesh.stats.get("logistics.shipments") is not None
        (workspace / "products" / "logistics" / "shipments.yaml").unlink()
        result = mesh.apply()
        assert any(c.action == "delete" and c.name == "logistics.shipments" for c in result.changes)
        assert "logistics.shipments" not in mesh.stats._rows()
        assert mesh.stats.get("sales.orders") is not None


def test_aged_statistics_are_refreshed_behind_a_query(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    import meshfabric.catalog.statistics as cs
    from meshfabric import Mesh
    from meshfabric.catalog.queryable import StoreCatalog

    with Mesh.open(workspace) as mesh:
        mesh.apply()
        before = mesh.stats.get("sales.orders")
        assert before is not None and before.taken_at is not None
        monkeypatch.setenv("MESHFABRIC_STATS_MAX_AGE", "0.000001")
        monkeypatch.setattr(cs, "RETRY_AFTER", timedelta(0))
        catalog = StoreCatalog(mesh.store, mesh.connections)
        used = catalog.statistics(catalog.lookup("sales", "orders"))  # type: ignore[arg-type]
        assert used == before  # the query plans with what there is, at once
        thread = cs._RUNNING.get(mesh.store.url)
        assert thread is not None
        thread.join(60)
        after = mesh.stats.get("sales.orders")
        assert after is not None and after.taken_at is not None and after.taken_at > before.taken_at
        assert mesh.query("SELECT count(*) AS n FROM sales.orders").rows == [(20,)]
