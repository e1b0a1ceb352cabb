"""The Spark engine's set-up, without starting Spark: the engine: setting, finding the driver
jars, refusing what cannot work with one message that says how to fix it, the SQL Spark gets,
and which big scans are read in ranges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from meshfabric.errors import ConfigError, QueryError
from meshfabric.spec.models import MeshSpec, SparkEngineSpec


def test_engine_defaults_to_duckdb_and_takes_spark_in_short_or_full() -> None:
    assert MeshSpec(name="w").engine == "duckdb"
    assert MeshSpec(name="w", engine="spark").engine == SparkEngineSpec(master="local[2]")
    full = MeshSpec(name="w", engine={"kind": "spark", "master": "spark://10.0.0.5:7077",
                                      "conf": {"spark.executor.memory": "4g"}, "jars": ["/opt/pg.jar"]}).engine
    assert isinstance(full, SparkEngineSpec) and full.master == "spark://10.0.0.5:7077"


@pytest.mark.parametrize("engine", [
    "flink",
    {"kind": "spark", "master": "yarn"},
    {"kind": "spark", "conf": {"spark.jars.packages": "org.postgresql:postgresql:42.7.4"}},
    {"kind": "spark", "colour": "blue"},
])
def test_engine_settings_that_cannot_work_are_refused_when_loaded(engine: Any) -> None:
    with pytest.raises(ValidationError):
        MeshSpec(name="w", engine=engine)


def test_download_settings_are_refused_with_the_local_alternative() -> None:
    with pytest.raises(ValidationError, match="list local jar files under 'jars'"):
        SparkEngineSpec(conf={"spark.jars.packages": "x"})


def test_driver_jars_are_found_in_the_jar_folders_and_listed_files_win(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.spark.session import find_jars

    (tmp_path / "postgresql.jar").write_bytes(b"")
    (tmp_path / "mariadb-java-client.jar").write_bytes(b"")
    monkeypatch.setenv("MESHFABRIC_SPARK_JARS", str(tmp_path))
    found = find_jars(["/opt/jdbc/postgresql-42.7.4.jar"])
    assert found["postgres"] == Path("/opt/jdbc/postgresql-42.7.4.jar")
    assert found["mysql"] == (tmp_path / "mariadb-java-client.jar").resolve()
    assert "sqlite" not in found


def test_a_missing_driver_jar_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.spark.session import EngineUnavailable, find_jars, require_driver

    monkeypatch.setenv("MESHFABRIC_SPARK_JARS", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="MariaDB/MySQL JDBC driver jar") as caught:
        require_driver("mysql", find_jars())
    assert "apt-get install libmariadb-java" in str(caught.value.hint)
    assert caught.value.exit_code == 2


def test_without_java_the_engine_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from meshfabric.spark.session import EngineUnavailable, require_java

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="Java is not installed") as caught:
        require_java()
    assert "openjdk-17-jre-headless" in str(caught.value.hint)


def test_without_pyspark_the_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from meshfabric.spark import spark_session
    from meshfabric.spark.session import EngineUnavailable

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(EngineUnavailable, match="pyspark is not installed") as caught:
        spark_session(SparkEngineSpec())
    assert caught.value.hint == "pip install 'meshfabric[spark]'"


def test_an_unreachable_master_fails_at_once_instead_of_hanging() -> None:
    import socket

    from meshfabric.spark.session import EngineUnavailable, check_master

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineUnavailable, match=f"spark://127.0.0.1:{port} is not reachable") as caught:
        check_master(f"spark://127.0.0.1:{port}", timeout=2)
    assert "engine.master" in str(caught.value.hint)


def test_the_session_ships_local_jars_and_keeps_user_settings() -> None:
    from meshfabric.spark.session import session_conf

    conf = session_conf(SparkEngineSpec(master="spark://10.1.2.3:7077", conf={"spark.sql.shuffle.partitions": 8}),
                        {"postgres": Path("/usr/share/java/postgresql.jar")})
    assert conf["spark.jars"] == "/usr/share/java/postgresql.jar"
    assert conf["spark.sql.shuffle.partitions"] == "8"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert "spark.driver.host" not in conf  # a remote cluster must reach the driver by its real address
    assert not any("packages" in k or "ivy" in k for k in conf)


def test_the_engine_query_is_transpiled_and_functions_spark_lacks_are_refused() -> None:
    from meshfabric.spark import to_spark_sql

    assert to_spark_sql("SELECT a::INT, sha256(b) FROM __mf_scan_0") == \
        "SELECT CAST(a AS INT), SHA2(b, 256) FROM __mf_scan_0"
    with pytest.raises(QueryError, match="Spark has no function hash") as caught:
        to_spark_sql("SELECT hash(a) FROM __mf_scan_0")
    assert "--engine duckdb" in str(caught.value.hint)


def test_jdbc_urls_use_spark_dialects_and_keep_the_password_out_of_the_url() -> None:
    from meshfabric.connectors import get_connector
    from meshfabric.spark.reads import jdbc_url
    from meshfabric.spec.models import SourceSpec

    maria = get_connector("m", SourceSpec.model_validate({"kind": "mysql", "url": "mysql://bob@db.example:3307/shop",
                                                          "password": "${PW}"}, context={"resolved": True}),
                          Path("."))
    url, props = jdbc_url("mysql", maria)
    assert url.startswith("jdbc:mysql://db.example:3307/shop?permitMysqlScheme")
    assert props["driver"] == "org.mariadb.jdbc.Driver" and props["user"] == "bob" and "PW" not in url


def _scan(rows: int | None, columns: dict[str, Any]) -> tuple[Any, Any]:
    from meshfabric.connectors.base import ColumnStatistics, TableStatistics
    from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog
    from meshfabric.query.planner import Scan
    from meshfabric.spec.models import OutputPort
    from meshfabric.types import parse_type

    binding = ProductBinding("sales", "orders", "pg", OutputPort(source="pg", table="orders"),
                             (ProductColumn("id", parse_type("bigint")), ProductColumn("status", parse_type("string")),
                              ProductColumn("customer", parse_type("integer"))))
    catalog = StaticCatalog({"sales.orders": binding}, {})
    catalog._statistics["sales.orders"] = TableStatistics(rows, columns={
        name: ColumnStatistics(distinct=d, min=lo, max=hi) for name, (d, lo, hi) in columns.items()})
    return Scan("__mf_scan_0", binding, ("id", "status", "customer")), catalog


def test_big_scans_are_read_in_ranges_of_their_most_distinct_integer_column() -> None:
    from meshfabric.spark.reads import partitioning

    scan, catalog = _scan(6_000_000, {"id": (-1.0, 1, 6_000_000), "customer": (150_000, 1, 150_000),
                                      "status": (3, "F", "P")})
    assert partitioning(scan, catalog, parallelism=2) == ("id", 1, 6_000_000, 4)
    assert partitioning(scan, catalog, parallelism=8) == ("id", 1, 6_000_000, 12)


def test_small_scans_and_scans_without_known_bounds_are_read_whole() -> None:
    from meshfabric.spark.reads import partitioning

    scan, catalog = _scan(50_000, {"id": (-1.0, 1, 50_000)})
    assert partitioning(scan, catalog, parallelism=2) is None
    scan, catalog = _scan(6_000_000, {"status": (3, "F", "P")})
    assert partitioning(scan, catalog, parallelism=2) is None


def test_importing_the_engine_does_not_import_pyspark() -> None:
    import subprocess
    import sys

    code = "import sys, meshfabric.spark, meshfabric.mesh; print('pyspark' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_an_unknown_engine_name_is_a_usage_error() -> None:
    from meshfabric.access.enforce import QueryService

    service = QueryService.__new__(QueryService)
    service.engine = "duckdb"
    with pytest.raises(ConfigError, match="unknown query engine 'flink'"):
        service.engine_spec("flink")
    assert service.engine_spec(None) is None
    assert service.engine_spec("spark") == SparkEngineSpec()
