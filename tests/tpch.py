"""TPC-H for meshfabric's tests and benchmarks: data, loaders, the 22 queries and a result comparer.

The data comes from the ``tpchgen-cli`` wheel (offline, seconds per scale factor). The federated
layout spreads the eight tables over three domains in three kinds of source, so every
interesting query joins across sources:

* ``sales``     customer, orders, nation, region  -> PostgreSQL
* ``supply``    part, supplier, partsupp          -> MariaDB
* ``logistics`` lineitem                          -> a Parquet file

:data:`QUERIES` holds the query texts over plain TPC-H table names (validation parameters), the
form DuckDB runs as the co-located baseline; :func:`product_sql` rewrites one to address
products as ``domain.product``.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

TABLES = ("region", "nation", "customer", "orders", "supplier", "part", "partsupp", "lineitem")

DOMAINS = {
    "customer": "sales",
    "orders": "sales",
    "nation": "sales",
    "region": "sales",
    "part": "supply",
    "supplier": "supply",
    "partsupp": "supply",
    "lineitem": "logistics",
}

#: Column types as the TPC-H specification declares them. Fixed-width CHAR(n) is declared as
#: VARCHAR(n): PostgreSQL returns CHAR(n) padded with blanks, which would make 'BUILDING' differ
#: from what DuckDB reads in the Parquet baseline.
SCHEMA: dict[str, list[tuple[str, str]]] = {
    "region": [("r_regionkey", "BIGINT"), ("r_name", "VARCHAR(25)"), ("r_comment", "VARCHAR(152)")],
    "nation": [
        ("n_nationkey", "BIGINT"),
        ("n_name", "VARCHAR(25)"),
        ("n_regionkey", "BIGINT"),
        ("n_comment", "VARCHAR(152)"),
    ],
    "customer": [
        ("c_custkey", "BIGINT"),
        ("c_name", "VARCHAR(25)"),
        ("c_address", "VARCHAR(40)"),
        ("c_nationkey", "BIGINT"),
        ("c_phone", "VARCHAR(15)"),
        ("c_acctbal", "DECIMAL(15,2)"),
        ("c_mktsegment", "VARCHAR(10)"),
        ("c_comment", "VARCHAR(117)"),
    ],
    "orders": [
        ("o_orderkey", "BIGINT"),
        ("o_custkey", "BIGINT"),
        ("o_orderstatus", "VARCHAR(1)"),
        ("o_totalprice", "DECIMAL(15,2)"),
        ("o_orderdate", "DATE"),
        ("o_orderpriority", "VARCHAR(15)"),
        ("o_clerk", "VARCHAR(15)"),
        ("o_shippriority", "INTEGER"),
        ("o_comment", "VARCHAR(79)"),
    ],
    "supplier": [
        ("s_suppkey", "BIGINT"),
        ("s_name", "VARCHAR(25)"),
        ("s_address", "VARCHAR(40)"),
        ("s_nationkey", "BIGINT"),
        ("s_phone", "VARCHAR(15)"),
        ("s_acctbal", "DECIMAL(15,2)"),
        ("s_comment", "VARCHAR(101)"),
    ],
    "part": [
        ("p_partkey", "BIGINT"),
        ("p_name", "VARCHAR(55)"),
        ("p_mfgr", "VARCHAR(25)"),
        ("p_brand", "VARCHAR(10)"),
        ("p_type", "VARCHAR(25)"),
        ("p_size", "INTEGER"),
        ("p_container", "VARCHAR(10)"),
        ("p_retailprice", "DECIMAL(15,2)"),
        ("p_comment", "VARCHAR(23)"),
    ],
    "partsupp": [
        ("ps_partkey", "BIGINT"),
        ("ps_suppkey", "BIGINT"),
        ("ps_availqty", "INTEGER"),
        ("ps_supplycost", "DECIMAL(15,2)"),
        ("ps_comment", "VARCHAR(199)"),
    ],
    "lineitem": [
        ("l_orderkey", "BIGINT"),
        ("l_partkey", "BIGINT"),
        ("l_suppkey", "BIGINT"),
        ("l_linenumber", "INTEGER"),
        ("l_quantity", "DECIMAL(15,2)"),
        ("l_extendedprice", "DECIMAL(15,2)"),
        ("l_discount", "DECIMAL(15,2)"),
        ("l_tax", "DECIMAL(15,2)"),
        ("l_returnflag", "VARCHAR(1)"),
        ("l_linestatus", "VARCHAR(1)"),
        ("l_shipdate", "DATE"),
        ("l_commitdate", "DATE"),
        ("l_receiptdate", "DATE"),
        ("l_shipinstruct", "VARCHAR(25)"),
        ("l_shipmode", "VARCHAR(10)"),
        ("l_comment", "VARCHAR(44)"),
    ],
}

PRIMARY_KEYS = {
    "region": ("r_regionkey",),
    "nation": ("n_nationkey",),
    "customer": ("c_custkey",),
    "orders": ("o_orderkey",),
    "supplier": ("s_suppkey",),
    "part": ("p_partkey",),
    "partsupp": ("ps_partkey", "ps_suppkey"),
    "lineitem": ("l_orderkey", "l_linenumber"),
}

QUERIES: dict[int, str] = {
    1: """
SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
       avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc,
       count(*) AS count_order
FROM lineitem
WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus
""",
    2: """
SELECT s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment
FROM part, supplier, partsupp, nation, region
WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15 AND p_type LIKE '%BRASS'
  AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey AND r_name = 'EUROPE'
  AND ps_supplycost = (
      SELECT min(ps_supplycost)
      FROM partsupp, supplier, nation, region
      WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND s_nationkey = n_nationkey
        AND n_regionkey = r_regionkey AND r_name = 'EUROPE')
ORDER BY s_acctbal DESC, n_name, s_name, p_partkey
LIMIT 100
""",
    3: """
SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
FROM customer, orders, lineitem
WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey
  AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15'
GROUP BY l_orderkey, o_orderdate, o_shippriority
ORDER BY revenue DESC, o_orderdate, l_orderkey
LIMIT 10
""",
    4: """
SELECT o_orderpriority, count(*) AS order_count
FROM orders
WHERE o_orderdate >= DATE '1993-07-01' AND o_orderdate < DATE '1993-07-01' + INTERVAL '3' MONTH
  AND EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)
GROUP BY o_orderpriority
ORDER BY o_orderpriority
""",
    5: """
SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM customer, orders, lineitem, supplier, nation, region
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
  AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
  AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01'
  AND o_orderdate < DATE '1994-01-01' + INTERVAL '1' YEAR
GROUP BY n_name
ORDER BY revenue DESC
""",
    6: """
SELECT sum(l_extendedprice * l_discount) AS revenue
FROM lineitem
WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR
  AND l_discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 AND l_quantity < 24
""",
    7: """
SELECT supp_nation, cust_nation, l_year, sum(volume) AS revenue
FROM (
    SELECT n1.n_name AS supp_nation, n2.n_name AS cust_nation, extract(year FROM l_shipdate) AS l_year,
           l_extendedprice * (1 - l_discount) AS volume
    FROM supplier, lineitem, orders, customer, nation n1, nation n2
    WHERE s_suppkey = l_suppkey AND o_orderkey = l_orderkey AND c_custkey = o_custkey
      AND s_nationkey = n1.n_nationkey AND c_nationkey = n2.n_nationkey
      AND ((n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY') OR (n1.n_name = 'GERMANY' AND n2.n_name = 'FRANCE'))
      AND l_shipdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31'
) AS shipping
GROUP BY supp_nation, cust_nation, l_year
ORDER BY supp_nation, cust_nation, l_year
""",
    8: """
SELECT o_year, sum(CASE WHEN nation = 'BRAZIL' THEN volume ELSE 0 END) / sum(volume) AS mkt_share
FROM (
    SELECT extract(year FROM o_orderdate) AS o_year, l_extendedprice * (1 - l_discount) AS volume,
           n2.n_name AS nation
    FROM part, supplier, lineitem, orders, customer, nation n1, nation n2, region
    WHERE p_partkey = l_partkey AND s_suppkey = l_suppkey AND l_orderkey = o_orderkey
      AND o_custkey = c_custkey AND c_nationkey = n1.n_nationkey AND n1.n_regionkey = r_regionkey
      AND r_name = 'AMERICA' AND s_nationkey = n2.n_nationkey
      AND o_orderdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31' AND p_type = 'ECONOMY ANODIZED STEEL'
) AS all_nations
GROUP BY o_year
ORDER BY o_year
""",
    9: """
SELECT nation, o_year, sum(amount) AS sum_profit
FROM (
    SELECT n_name AS nation, extract(year FROM o_orderdate) AS o_year,
           l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity AS amount
    FROM part, supplier, lineitem, partsupp, orders, nation
    WHERE s_suppkey = l_suppkey AND ps_suppkey = l_suppkey AND ps_partkey = l_partkey
      AND p_partkey = l_partkey AND o_orderkey = l_orderkey AND s_nationkey = n_nationkey
      AND p_name LIKE '%green%'
) AS profit
GROUP BY nation, o_year
ORDER BY nation, o_year DESC
""",
    10: """
SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, c_acctbal, n_name,
       c_address, c_phone, c_comment
FROM customer, orders, lineitem, nation
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate >= DATE '1993-10-01'
  AND o_orderdate < DATE '1993-10-01' + INTERVAL '3' MONTH AND l_returnflag = 'R'
  AND c_nationkey = n_nationkey
GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
ORDER BY revenue DESC, c_custkey
LIMIT 20
""",
    11: """
SELECT ps_partkey, sum(ps_supplycost * ps_availqty) AS value
FROM partsupp, supplier, nation
WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey AND n_name = 'GERMANY'
GROUP BY ps_partkey
HAVING sum(ps_supplycost * ps_availqty) > (
    SELECT sum(ps_supplycost * ps_availqty) * 0.0001
    FROM partsupp, supplier, nation
    WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey AND n_name = 'GERMANY')
ORDER BY value DESC, ps_partkey
""",
    12: """
SELECT l_shipmode,
       sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH' THEN 1 ELSE 0 END) AS high_line_count,
       sum(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH' THEN 1 ELSE 0 END)
           AS low_line_count
FROM orders, lineitem
WHERE o_orderkey = l_orderkey AND l_shipmode IN ('MAIL', 'SHIP') AND l_commitdate < l_receiptdate
  AND l_shipdate < l_commitdate AND l_receiptdate >= DATE '1994-01-01'
  AND l_receiptdate < DATE '1994-01-01' + INTERVAL '1' YEAR
GROUP BY l_shipmode
ORDER BY l_shipmode
""",
    13: """
SELECT c_count, count(*) AS custdist
FROM (
    SELECT c_custkey, count(o_orderkey)
    FROM customer LEFT OUTER JOIN orders ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%'
    GROUP BY c_custkey
) AS c_orders (c_custkey, c_count)
GROUP BY c_count
ORDER BY custdist DESC, c_count DESC
""",
    14: """
SELECT 100.00 * sum(CASE WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
       / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
FROM lineitem, part
WHERE l_partkey = p_partkey AND l_shipdate >= DATE '1995-09-01'
  AND l_shipdate < DATE '1995-09-01' + INTERVAL '1' MONTH
""",
    15: """
WITH revenue0 AS (
    SELECT l_suppkey AS supplier_no, sum(l_extendedprice * (1 - l_discount)) AS total_revenue
    FROM lineitem
    WHERE l_shipdate >= DATE '1996-01-01' AND l_shipdate < DATE '1996-01-01' + INTERVAL '3' MONTH
    GROUP BY l_suppkey)
SELECT s_suppkey, s_name, s_address, s_phone, total_revenue
FROM supplier, revenue0
WHERE s_suppkey = supplier_no AND total_revenue = (SELECT max(total_revenue) FROM revenue0)
ORDER BY s_suppkey
""",
    16: """
SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) AS supplier_cnt
FROM partsupp, part
WHERE p_partkey = ps_partkey AND p_brand <> 'Brand#45' AND p_type NOT LIKE 'MEDIUM POLISHED%'
  AND p_size IN (49, 14, 23, 45, 19, 3, 36, 9)
  AND ps_suppkey NOT IN (SELECT s_suppkey FROM supplier WHERE s_comment LIKE '%Customer%Complaints%')
GROUP BY p_brand, p_type, p_size
ORDER BY supplier_cnt DESC, p_brand, p_type, p_size
""",
    17: """
SELECT sum(l_extendedprice) / 7.0 AS avg_yearly
FROM lineitem, part
WHERE p_partkey = l_partkey AND p_brand = 'Brand#23' AND p_container = 'MED BOX'
  AND l_quantity < (SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)
""",
    18: """
SELECT c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) AS total_quantity
FROM customer, orders, lineitem
WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey HAVING sum(l_quantity) > 300)
  AND c_custkey = o_custkey AND o_orderkey = l_orderkey
GROUP BY c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
ORDER BY o_totalprice DESC, o_orderdate, o_orderkey
LIMIT 100
""",
    19: """
SELECT sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem, part
WHERE (p_partkey = l_partkey AND p_brand = 'Brand#12'
       AND p_container IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
       AND l_quantity >= 1 AND l_quantity <= 1 + 10 AND p_size BETWEEN 1 AND 5
       AND l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')
   OR (p_partkey = l_partkey AND p_brand = 'Brand#23'
       AND p_container IN ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
       AND l_quantity >= 10 AND l_quantity <= 10 + 10 AND p_size BETWEEN 1 AND 10
       AND l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')
   OR (p_partkey = l_partkey AND p_brand = 'Brand#34'
       AND p_container IN ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
       AND l_quantity >= 20 AND l_quantity <= 20 + 10 AND p_size BETWEEN 1 AND 15
       AND l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')
""",
    20: """
SELECT s_name, s_address
FROM supplier, nation
WHERE s_suppkey IN (
        SELECT ps_suppkey
        FROM partsupp
        WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_name LIKE 'forest%')
          AND ps_availqty > (
              SELECT 0.5 * sum(l_quantity)
              FROM lineitem
              WHERE l_partkey = ps_partkey AND l_suppkey = ps_suppkey
                AND l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR))
  AND s_nationkey = n_nationkey AND n_name = 'CANADA'
ORDER BY s_name
""",
    21: """
SELECT s_name, count(*) AS numwait
FROM supplier, lineitem l1, orders, nation
WHERE s_suppkey = l1.l_suppkey AND o_orderkey = l1.l_orderkey AND o_orderstatus = 'F'
  AND l1.l_receiptdate > l1.l_commitdate
  AND EXISTS (SELECT * FROM lineitem l2 WHERE l2.l_orderkey = l1.l_orderkey AND l2.l_suppkey <> l1.l_suppkey)
  AND NOT EXISTS (
      SELECT * FROM lineitem l3
      WHERE l3.l_orderkey = l1.l_orderkey AND l3.l_suppkey <> l1.l_suppkey AND l3.l_receiptdate > l3.l_commitdate)
  AND s_nationkey = n_nationkey AND n_name = 'SAUDI ARABIA'
GROUP BY s_name
ORDER BY numwait DESC, s_name
LIMIT 100
""",
    22: """
SELECT cntrycode, count(*) AS numcust, sum(c_acctbal) AS totacctbal
FROM (
    SELECT substring(c_phone FROM 1 FOR 2) AS cntrycode, c_acctbal
    FROM customer
    WHERE substring(c_phone FROM 1 FOR 2) IN ('13', '31', '23', '29', '30', '18', '17')
      AND c_acctbal > (
          SELECT avg(c_acctbal) FROM customer
          WHERE c_acctbal > 0.00 AND substring(c_phone FROM 1 FOR 2) IN ('13', '31', '23', '29', '30', '18', '17'))
      AND NOT EXISTS (SELECT * FROM orders WHERE o_custkey = c_custkey)
) AS custsale
GROUP BY cntrycode
ORDER BY cntrycode
""",
}


def product_sql(query: int | str, domains: dict[str, str] | None = None) -> str:
    """A TPC-H query with every table addressed as ``domain.product``.

    >>> product_sql("SELECT count(*) FROM lineitem l, orders WHERE l.l_orderkey = o_orderkey")
    'SELECT COUNT(*) FROM logistics.lineitem AS l, sales.orders WHERE l.l_orderkey = o_orderkey'
    """
    import sqlglot
    from sqlglot import exp

    mapping = DOMAINS if domains is None else domains
    tree = sqlglot.parse_one(QUERIES[query] if isinstance(query, int) else query, read="duckdb")
    for table in tree.find_all(exp.Table):
        domain = mapping.get(table.name.lower())
        if domain is not None and not table.args.get("db"):
            table.set("db", exp.to_identifier(domain))
    return tree.sql(dialect="duckdb")


def ordered(query: int) -> bool:
    """Whether a query fixes the order of its rows. Every ORDER BY here breaks ties with a key
    (some gained one over the specification's text) so a LIMIT selects the same rows everywhere."""
    return "ORDER BY" in QUERIES[query].upper()


# -- data ------------------------------------------------------------------------------------------
def generate(scale: float, directory: Path) -> dict[str, Path]:
    """The eight tables as Parquet files at ``scale``, generated once into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {t: directory / f"{t}.parquet" for t in TABLES}
    if all(f.exists() for f in files.values()):
        return files
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    subprocess.run(
        [exe, "parquet", "-s", str(scale), "--output-dir", str(directory), "--overwrite"],
        check=True,
        capture_output=True,
    )
    return files


def read_table(path: Path) -> Any:
    """A Parquet file as an Arrow table with plain strings (the drivers do not take string_view)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    fields = [pa.field(f.name, pa.string(), f.nullable) if pa.types.is_string_view(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields))


def _ddl(table: str, quote: str, prefix: str = "", suffix: str = "") -> str:
    cols = ", ".join(f"{quote}{name}{quote} {kind}" for name, kind in SCHEMA[table])
    key = ", ".join(PRIMARY_KEYS[table])
    return f"CREATE TABLE {prefix}{table} ({cols}, PRIMARY KEY ({key})){suffix}"


def load_postgres(url: str, files: dict[str, Path], tables: Iterable[str], *, prefix: str = "") -> None:
    """Create and fill ``tables`` (named ``prefix + table``) in the PostgreSQL database at ``url``."""
    import psycopg
    import pyarrow.csv as pcsv

    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            name = prefix + table
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(_ddl(table, '"', prefix))
            data = read_table(files[table])
            buffer = _csv_bytes(data, pcsv)
            names = ", ".join(column for column, _ in SCHEMA[table])
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY {name} ({names}) FROM STDIN WITH (FORMAT csv, HEADER true)") as cp,
            ):
                cp.write(buffer)
            conn.execute(f"ANALYZE {name}")


def load_mariadb(
    url: str, files: dict[str, Path], tables: Iterable[str], *, prefix: str = "", collation: str | None = None
) -> None:
    """Create and fill ``tables`` (named ``prefix + table``) in the MariaDB database at ``url``.

    Without ``collation`` the server default applies (case-insensitive), which is what most
    real databases have and what the planner must not push string predicates into.
    """
    import pymysql

    parsed = urlparse(url)
    conn = pymysql.connect(
        host=parsed.hostname,
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.path.lstrip("/"),
        autocommit=True,
    )
    suffix = f" COLLATE {collation}" if collation else ""
    try:
        with conn.cursor() as cur:
            for table in tables:
                name = prefix + table
                cur.execute(f"DROP TABLE IF EXISTS {name}")
                cur.execute(_ddl(table, "`", prefix, suffix))
                data = read_table(files[table])
                names = [column for column, _ in SCHEMA[table]]
                insert = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
                for batch in data.to_batches(max_chunksize=5000):
                    columns = [batch.column(name).to_pylist() for name in names]
                    cur.executemany(insert, list(zip(*columns, strict=True)))
                cur.execute(f"ANALYZE TABLE {name}")
    finally:
        conn.close()


def _csv_bytes(data: Any, pcsv: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    pcsv.write_csv(data, sink)
    return sink.getvalue().to_pybytes()


def duckdb_baseline(files: dict[str, Path]) -> Any:
    """A DuckDB connection with each table a view over its Parquet file: the co-located baseline."""
    import duckdb

    conn = duckdb.connect()
    for table, path in files.items():
        conn.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path.as_posix()}')")
    return conn


# -- federated layout ------------------------------------------------------------------------------
@dataclass
class Layout:
    """Where each product lives: source names and the port each product reads from."""

    sources: dict[str, dict[str, Any]]
    ports: dict[str, dict[str, Any]]


def federated_layout(pg_url: str, mysql_url: str, parquet_dir: Path, *, prefix: str = "") -> Layout:
    """Sources and output ports of the federated TPC-H mesh (as mesh.yaml / product specs say).

    ``prefix`` is the table-name prefix the loaders used in the two databases."""
    sources = {
        "sales_pg": {"kind": "postgres", "url": pg_url},
        "supply_maria": {"kind": "mysql", "url": mysql_url},
        "lake": {"kind": "files", "path": str(parquet_dir)},
    }
    ports: dict[str, dict[str, Any]] = {}
    for table, domain in DOMAINS.items():
        if domain == "sales":
            ports[table] = {"source": "sales_pg", "table": prefix + table}
        elif domain == "supply":
            ports[table] = {"source": "supply_maria", "table": prefix + table}
        else:
            ports[table] = {"source": "lake", "path": f"{table}.parquet", "format": "parquet"}
    return Layout(sources, ports)


def federated_catalog(layout: Layout, files: dict[str, Path], root: Path, *, statistics: bool = True) -> Any:
    """A StaticCatalog over the layout's real connectors, products typed from the Parquet schemas,
    with every product's statistics read from its source (unless ``statistics`` is False)."""
    import pyarrow.parquet as pq

    from meshfabric.connectors import get_connector
    from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog
    from meshfabric.spec.models import OutputPort, SourceSpec
    from meshfabric.types import from_arrow

    connectors = {
        name: get_connector(name, SourceSpec.model_validate(spec), root) for name, spec in layout.sources.items()
    }
    bindings = {}
    for table, domain in DOMAINS.items():
        schema = pq.read_schema(files[table])
        columns = tuple(ProductColumn(f.name, from_arrow(f.type), f.nullable) for f in schema)
        port = OutputPort.model_validate(layout.ports[table])
        bindings[f"{domain}.{table}"] = ProductBinding(domain, table, port.source, port, columns)
    catalog = StaticCatalog(bindings, connectors)
    if statistics:
        catalog.load_statistics()
    return catalog


@contextmanager
def loaded_split(pg_url: str, mysql_url: str, files: dict[str, Path], lake: Path, *, prefix: str) -> Iterator[Any]:
    """The federated split loaded — sales tables into PostgreSQL and supply tables into MariaDB
    (named with ``prefix``), lineitem copied into ``lake`` — as a catalog of its products (with
    statistics), whose connectors are closed afterwards."""
    tables = {domain: [t for t, d in DOMAINS.items() if d == domain] for domain in set(DOMAINS.values())}
    load_postgres(pg_url, files, tables["sales"], prefix=prefix)
    load_mariadb(mysql_url, files, tables["supply"], prefix=prefix)
    for table in tables["logistics"]:
        shutil.copy(files[table], lake / files[table].name)
    catalog = federated_catalog(federated_layout(pg_url, mysql_url, lake, prefix=prefix), files, lake)
    try:
        yield catalog
    finally:
        for connector in catalog.connectors.values():
            connector.close()


# -- comparing results ------------------------------------------------------------------------------
def rows_of(table: Any) -> list[tuple[Any, ...]]:
    """Rows of an Arrow table as tuples, by position (column names may differ)."""
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(table.num_rows)]


def same_value(a: Any, b: Any, rel: float = 1e-6, abs_: float = 1e-6) -> bool:
    """Equality with a tolerance for decimals and floats (sums and averages round differently)."""
    if a is None or b is None:
        return a is None and b is None
    numeric = (int, float, Decimal)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)
    if isinstance(a, date) and isinstance(b, date):
        return a == b
    return bool(a == b)


def assert_same_result(actual: Any, expected: Any, *, ordered: bool) -> None:
    """Fail with the first differing row unless both tables hold the same rows.

    Unordered comparisons sort rows by a key that rounds numbers, so tolerance still applies.
    """
    got, want = rows_of(actual), rows_of(expected)
    assert actual.num_columns == expected.num_columns, (actual.column_names, expected.column_names)
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}"
    if not ordered:
        got, want = sorted(got, key=_sort_key), sorted(want, key=_sort_key)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if not all(same_value(x, y) for x, y in zip(g, w, strict=True)):
            raise AssertionError(f"row {i} differs:\n  got      {g}\n  expected {w}")


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    key = []
    for v in row:
        if v is None:
            key.append((0, ""))
        elif isinstance(v, int | float | Decimal) and not isinstance(v, bool):
            key.append((1, round(float(v), 4)))
        else:
            key.append((2, str(v)))
    return tuple(key)
