"""Shared fixtures: real PostgreSQL and MariaDB databases created and dropped per test session.

A test that needs a server fails under CI=true when the server is unreachable and is skipped
with a one-line reason elsewhere.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Timing depends on the machine's load (2 shared cores in CI): a slow example is not a wrong one.
settings.register_profile("meshfabric", deadline=None, print_blob=True)
settings.load_profile("meshfabric")

PG_HOST, PG_PORT = "127.0.0.1", 5432
MY_HOST, MY_PORT = "127.0.0.1", 3306
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# Apache-2.0 peer data kept in the repository (see tests/conformance/README.md)
CONFORMANCE = Path(__file__).resolve().parent / "conformance"
# Confluent Community License data: only from shared/ beside the checkout, never copied
CONFLUENT_CASES = SHARED / "conformance" / "confluent-json-schema"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    msg = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(msg + " (required under CI=true)")
    pytest.skip(msg)


def require_shared(path: Path) -> None:
    """Data that may not be copied into the repository: skip without it, fail under CI=true."""
    if path.exists():
        return
    msg = f"{path} is not beside the checkout (Confluent Community License data, not copied)"
    if IN_CI:
        pytest.fail(msg + " (required under CI=true)")
    pytest.skip(msg)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database, dropped at the end of the session."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = _unique("mf_test")
    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(
            f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres", autocommit=True
        ) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """URL of a fresh MariaDB database, dropped at the end of the session."""
    require_server("MariaDB", MY_HOST, MY_PORT)
    import pymysql

    name = _unique("mf_test")
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield f"mysql://root@{MY_HOST}:{MY_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def both_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A fresh, migrated metadata store: once on SQLite, once on a PostgreSQL database of its own."""
    from helpers import pg_database
    from meshfabric.store import open_store

    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            yield store
        finally:
            store.close()
        return
    request.getfixturevalue("pg_url")
    with pg_database("mf_store") as url:
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()


# -- Apache Spark: a standalone cluster on loopback ------------------------------------------------
def require_spark() -> None:
    """pyspark, Java and the PostgreSQL/MariaDB JDBC jars: skip without them, fail under CI=true."""
    import importlib.util
    import shutil

    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append("pyspark (pip install 'meshfabric[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("java")
    for jar, package in (("postgresql.jar", "libpostgresql-jdbc-java"), ("mariadb-java-client.jar", "libmariadb-java")):
        if not (Path("/usr/share/java") / jar).is_file():
            missing.append(f"/usr/share/java/{jar} (apt-get install {package})")
    if not missing:
        return
    msg = "the Spark engine needs " + ", ".join(missing)
    if IN_CI:
        pytest.fail(msg + " (required under CI=true)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone Spark master and one worker (1 core, 1 GB) started from pyspark's bundled
    launcher on 127.0.0.1 (``meshfabric.spark.cluster``); yields ``spark://127.0.0.1:PORT`` and
    stops both, and the executors the worker started, at the end of the session."""
    require_spark()
    from meshfabric.spark.cluster import standalone_cluster

    # start-up is waited for, not timed: two JVMs take 5-30 s on a loaded 2-core machine
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster"), cores=1, memory="1g") as url:
        yield url


@pytest.fixture(scope="session")
def spark_engine(spark_master: str) -> Iterator[object]:
    """The engine settings every Spark test runs with (the cluster above), its SparkContext
    started once for the session (pyspark holds one per process) and stopped at the end."""
    from meshfabric.spark import spark_session, stop
    from meshfabric.spec.models import SparkEngineSpec

    spec = SparkEngineSpec(master=spark_master, conf={"spark.executor.memory": "768m",
                                                      "spark.sql.shuffle.partitions": "4"})
    spark_session(spec)
    try:
        yield spec
    finally:
        stop()
