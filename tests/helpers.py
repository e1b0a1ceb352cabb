"""Small helpers shared by the tests: build a workspace in a tmp folder, run the CLI, snapshot the store.

The standard workspace (:func:`build_workspace`) has three domains whose products live in two
sources: ``shop_db`` (a SQLite file holding ``orders``) and ``lake`` (a folder with a CSV of
customers and two Parquet files of shipments). Spec files are written as literal YAML text so
tests know on which line every field sits.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

MESH_YAML = """\
name: shop
description: A small shop for tests
sources:
  shop_db:
    kind: sqlite
    path: data/shop.sqlite
    description: Orders database
  lake:
    kind: files
    path: data/lake
domains:
  sales:
    description: Orders and revenue
    owners: [sales-team@example.com]
  crm:
    description: Customers
    owners: [crm-team@example.com]
  logistics:
    description: Shipments
    owners: [logistics-team@example.com]
"""

ORDERS_YAML = """\
kind: DataProduct
domain: sales
name: orders
owner: sales-team@example.com
description: Every order with its amount
tags: [orders, revenue]
status: published
version: 1.0.0
output:
  source: shop_db
  table: orders
schema:
  - name: order_id
    type: bigint
    nullable: false
  - name: customer_id
    type: bigint
  - name: amount
    type: double
  - name: status
    type: string
"""

CUSTOMERS_YAML = """\
kind: DataProduct
domain: crm
name: customers
owner: crm-team@example.com
description: One row per customer
tags: [customer]
status: published
version: 1.0.0
output:
  source: lake
  path: customers.csv
schema:
  - name: customer_id
    type: bigint
    nullable: false
  - name: name
    type: string
    classification: pii
  - name: country
    type: string
"""

SHIPMENTS_YAML = """\
kind: DataProduct
domain: logistics
name: shipments
owner: logistics-team@example.com
description: One row per shipped order
status: draft
version: 0.1.0
output:
  source: lake
  path: shipments/*.parquet
schema:
  - name: shipment_id
    type: bigint
  - name: order_id
    type: bigint
  - name: carrier
    type: string
  - name: cost
    type: decimal(10,2)
"""

SPEC_FILES = {
    "products/sales/orders.yaml": ORDERS_YAML,
    "products/crm/customers.yaml": CUSTOMERS_YAML,
    "products/logistics/shipments.yaml": SHIPMENTS_YAML,
}

COUNTRIES = ["PT", "ES", "PT", "DE", "FR", "ES"]
NAMES = ["Ana", "Ben", "Chloé", "Dev", "Eun", "Fatima"]


def customers_rows() -> list[tuple[int, str, str]]:
    return [(i + 1, NAMES[i], COUNTRIES[i]) for i in range(len(NAMES))]


def orders_rows() -> list[tuple[int, int, float, str]]:
    return [(i, (i % 6) + 1, i * 10.5, "cancelled" if i % 4 == 0 else "completed") for i in range(1, 21)]


def shipments_rows() -> list[tuple[int, int, str, Decimal]]:
    shipped = [o for o in orders_rows() if o[3] == "completed"]
    return [(n + 1, o[0], "DHL" if o[0] % 2 else "UPS", Decimal(f"{3 + o[0] % 5}.50")) for n, o in enumerate(shipped)]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not found in:\n{text}")


def write_sqlite(path: Path, ddl: str, rows: list[tuple[Any, ...]], table: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(ddl)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    con.close()


def write_data(root: Path) -> None:
    """The data behind the standard workspace's three products."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_sqlite(
        root / "data" / "shop.sqlite",
        "CREATE TABLE orders (order_id INTEGER NOT NULL PRIMARY KEY, customer_id INTEGER, amount REAL, status TEXT)",
        orders_rows(),
        "orders",
    )
    lines = ["customer_id,name,country"] + [f"{i},{n},{c}" for i, n, c in customers_rows()]
    write(root / "data" / "lake" / "customers.csv", "\n".join(lines) + "\n")
    schema = pa.schema([("shipment_id", pa.int64()), ("order_id", pa.int64()), ("carrier", pa.string()),
                        ("cost", pa.decimal128(10, 2))])
    rows = shipments_rows()
    for part, chunk in (("a", [r for r in rows if r[1] <= 10]), ("b", [r for r in rows if r[1] > 10])):
        table = pa.table(list(zip(*chunk, strict=True)), schema=schema)
        target = root / "data" / "lake" / "shipments" / f"shipments-{part}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)


def build_workspace(root: Path, *, mesh: str = MESH_YAML, specs: dict[str, str] | None = None) -> Path:
    """The standard workspace in ``root``: mesh.yaml, the three product specs and their data."""
    write(root / "mesh.yaml", mesh)
    for rel, text in (SPEC_FILES if specs is None else specs).items():
        write(root / rel, text)
    write_data(root)
    return root


def default_store_url(root: Path) -> str:
    return f"sqlite:///{root / '.meshfabric' / 'store.db'}"


def store_snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table in the store, as sorted reprs (compare two snapshots with ==)."""
    from sqlalchemy import MetaData

    from meshfabric.store import Store

    store = Store(url)
    try:
        meta = MetaData()
        meta.reflect(store.engine)
        with store.engine.connect() as conn:
            return {
                name: sorted(repr(tuple(row)) for row in conn.execute(table.select()))
                for name, table in sorted(meta.tables.items())
            }
    finally:
        store.close()


def store_dump_text(url: str) -> str:
    """Every value in the store as one text (for 'this secret appears nowhere' checks)."""
    return "\n".join(row for rows in store_snapshot(url).values() for row in rows)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cli(capsys: Any, *args: Any) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr) with colour codes removed."""
    from meshfabric.cli import run
    from meshfabric.cli._common import console, err_console

    console.width = err_console.width = 240
    capsys.readouterr()
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, _ANSI.sub("", captured.out), _ANSI.sub("", captured.err)


def flat(text: str) -> str:
    """Whitespace collapsed, so assertions do not depend on where a console wrapped a line."""
    return " ".join(text.split())


PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@contextmanager
def pg_database(prefix: str = "mf_t") -> Iterator[str]:
    """A PostgreSQL database of its own for one test, dropped afterwards; yields its URL.

    Use it together with the ``pg_url`` fixture, which skips (or fails under CI) when the server
    is unreachable.
    """
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def default_store() -> Iterator[None]:
    """MESHFABRIC_STORE_URL unset for the duration, so workspaces use their own SQLite store."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        yield


def copy_workspace(template: Path, target: Path) -> Path:
    """A copy of an applied workspace, store included (its store URL is derived from its folder)."""
    import shutil

    return Path(shutil.copytree(template, target))


def in_threads(worker: Callable[[Any], Any], url: str, threads: int = 4) -> list[Any]:
    """Run ``worker(store)`` in ``threads`` threads at once, each on a store of its own opened on
    ``url``; returns what they returned, and raises the first exception any of them hit."""
    import threading

    from meshfabric.store import open_store

    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        store = open_store(url)
        try:
            results.append(worker(store))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)
        finally:
            store.close()

    started = [threading.Thread(target=run) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    if errors:
        raise errors[0]
    return results


def pg_exec(url: str, *statements: str) -> list[Any]:
    """Run statements on a PostgreSQL database in autocommit; the rows of the last one."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        out: list[Any] = []
        for sql in statements:
            cur = conn.execute(sql)
            out = cur.fetchall() if cur.description else []
        return out


def product_catalog(connector: Any, products: dict[str, Any]) -> Any:
    """A query catalog over real ports of ``connector`` (``{fqn: OutputPort}``), with columns as
    the connector describes them."""
    from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog

    bindings = {}
    for fqn, port in products.items():
        domain, name = fqn.split(".")
        columns = tuple(ProductColumn(c.name, c.type, c.nullable) for c in connector.columns(port))
        bindings[fqn] = ProductBinding(domain, name, connector.name, port, columns)
    return StaticCatalog(bindings, {connector.name: connector})


def my_exec(database: str | None, *statements: str) -> list[Any]:
    """Run statements on MariaDB in autocommit (``database``: a name, a ``mysql://`` URL, or None
    for the server); the rows of the last one."""
    import pymysql

    if database and "://" in database:
        database = database.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                           charset="utf8mb4", autocommit=True)
    try:
        out: list[Any] = []
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
                out = list(cur.fetchall())
        return out
    finally:
        conn.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (as long as nobody takes it meanwhile)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_api(mesh: Any, *, timeout: float = 30.0) -> tuple[str, Any, Any]:
    """The REST API over ``mesh`` (no authentication) on a real uvicorn server in a thread:
    (base url, server, thread); stop it with ``server.should_exit = True`` and ``thread.join()``."""
    import threading
    import time

    import uvicorn

    from meshfabric.api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(mesh, auth=False), host="127.0.0.1", port=port,
                                          log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


class WebhookReceiver:
    """A local webhook receiver: records every POST (path, headers, JSON body) and answers with
    the next status of ``script`` (then 200; a redirect status points at ``/elsewhere``).
    ``url`` is ``<base>/hook``; a context manager, or ``close()`` it."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        self.script: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(body)})
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base + "/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path: str) -> list[Any]:
        return [r["body"] for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_serve(ws: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Any, str]:
    """``meshfabric -w WS serve --port P *args`` in a subprocess on its own store (the workspace's),
    waited for until /api/v1/health answers; returns (the process, its base URL). Terminate it."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "MESHFABRIC_STORE_URL"}
    proc = subprocess.Popen([sys.executable, "-c", "from meshfabric.cli import main; main()", "-w", str(ws),
                             "serve", "--port", str(port), *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, base


def duckdb_reference(tables: dict[str, Any]) -> Any:
    """An in-memory DuckDB holding each Arrow table as ``schema.name`` (keys are fqns): the
    co-located answer federated queries are held to."""
    import duckdb

    conn = duckdb.connect()
    for fqn, table in tables.items():
        schema, name = fqn.split(".")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.register("incoming", table)
        conn.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM incoming")
        conn.unregister("incoming")
    return conn


def grouped_select(
    groups: list[str], aggregates: list[str], source: str, conditions: list[str], having: str | None = None
) -> str:
    """``SELECT g0.., a0.. FROM source WHERE .. GROUP BY .. [HAVING ..]``: the grouped queries the
    aggregation pushdown tests generate (outputs named g<i> and a<i>)."""
    select = [*(f"{g} AS g{i}" for i, g in enumerate(groups)), *(f"{a} AS a{i}" for i, a in enumerate(aggregates))]
    sql = f"SELECT {', '.join(select)} FROM {source}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if groups:
        sql += " GROUP BY " + ", ".join(groups)
        if having:
            sql += f" HAVING {having}"
    return sql


def same_typed(sql: str, catalog: Any, reference: Any, **kw: Any) -> None:
    """The federated answer of ``sql`` equals DuckDB's over the co-located ``reference``: the same
    column names and types, and the same rows (in order when the query orders them)."""
    from meshfabric.query import run_query

    got = run_query(sql, catalog, **kw).arrow()
    want = reference.execute(sql).to_arrow_table()
    assert got.schema.names == want.schema.names, sql
    assert got.schema.types == want.schema.types, sql

    def rows(table: Any) -> list[tuple[Any, ...]]:
        found = [tuple(r.values()) for r in table.to_pylist()]
        return found if " ORDER BY " in sql else sorted(found, key=repr)

    assert rows(got) == rows(want), sql
