"""The SparkSession queries run on: found Java, local JDBC driver jars, quiet logs, one per process.

Spark allows one SparkContext per process, and starting one costs 5–15 s (a JVM, then the
executors), so the context is started once and kept; each query gets a light
``newSession()`` of its own — its temp views (the scans) and SQL settings are private to it
while executors and cached jars are shared. A different ``engine:`` setting (another master,
other conf) stops the running context and starts the new one.

Nothing is downloaded: the JDBC drivers are local jar files — by default Debian's packages
under ``/usr/share/java`` (``MESHFABRIC_SPARK_JARS`` names other folders, ``engine.jars`` in
mesh.yaml other files) — handed to the driver's class path and shipped to the executors with
``spark.jars``. Every way this can fail before a query runs (no Java, no pyspark, a missing
jar, a master that does not answer) is one :class:`EngineUnavailable` saying what to install
or fix.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshfabric.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from meshfabric.spec.models import SparkEngineSpec

#: where driver jars are looked for unless MESHFABRIC_SPARK_JARS (folders, ':'-separated) says otherwise
JAR_DIRS: tuple[str, ...] = ("/usr/share/java",)


class EngineUnavailable(ConfigError):
    """The Spark engine cannot start: what is missing and how to get it (exit 2, HTTP 400 like
    every configuration error)."""

    title = "query engine unavailable"


@dataclass(frozen=True)
class Driver:
    """A JDBC driver meshfabric reads one source kind through."""

    kind: str
    label: str
    #: file names tried in each jar folder, the first found wins
    files: tuple[str, ...]
    #: how a file listed in ``engine.jars`` is recognised
    stem: tuple[str, ...]
    driver_class: str
    debian_package: str


DRIVERS: dict[str, Driver] = {
    "postgres": Driver("postgres", "PostgreSQL", ("postgresql.jar",), ("postgresql",), "org.postgresql.Driver",
                       "libpostgresql-jdbc-java"),
    "mysql": Driver("mysql", "MariaDB/MySQL", ("mariadb-java-client.jar",), ("mariadb-java-client",),
                    "org.mariadb.jdbc.Driver", "libmariadb-java"),
    "sqlite": Driver("sqlite", "SQLite", ("sqlite-jdbc.jar", "xerial-sqlite-jdbc.jar"), ("sqlite-jdbc", "xerial"),
                     "org.sqlite.JDBC", "libxerial-sqlite-jdbc-java"),
}


def jar_dirs() -> list[Path]:
    """The folders searched for driver jars (``MESHFABRIC_SPARK_JARS`` or :data:`JAR_DIRS`)."""
    given = os.environ.get("MESHFABRIC_SPARK_JARS")
    return [Path(p).expanduser() for p in (given.split(os.pathsep) if given else JAR_DIRS) if p]


def find_jars(listed: list[str] | tuple[str, ...] = ()) -> dict[str, Path]:
    """The driver jar of each source kind found: a file of ``listed`` whose name says which
    driver it is, else the first known file name in the jar folders.

    >>> find_jars(["/opt/jdbc/postgresql-42.7.4.jar"])["postgres"].name  # doctest: +SKIP
    'postgresql-42.7.4.jar'
    """
    found: dict[str, Path] = {}
    for text in listed:
        path = Path(text).expanduser()
        for driver in DRIVERS.values():
            if driver.kind not in found and path.name.lower().startswith(driver.stem):
                found[driver.kind] = path
    for driver in DRIVERS.values():
        if driver.kind in found:
            continue
        for folder in jar_dirs():
            hit = next((folder / f for f in driver.files if (folder / f).is_file()), None)
            if hit is not None:
                found[driver.kind] = hit.resolve()
                break
    return found


def require_driver(kind: str, jars: dict[str, Path]) -> Path:
    """The jar of ``kind``'s driver, or EngineUnavailable naming the package that brings it."""
    driver = DRIVERS[kind]
    path = jars.get(kind)
    if path is None or not path.is_file():
        where = str(path) if path is not None else " or ".join(str(d / driver.files[0]) for d in jar_dirs())
        raise EngineUnavailable(
            f"the {driver.label} JDBC driver jar for Spark is missing (looked for {where})",
            hint=f"install it with `apt-get install {driver.debian_package}`, or list the jar file under "
                 "engine.jars in mesh.yaml (MESHFABRIC_SPARK_JARS names other folders)",
        )
    return path


def require_java() -> str:
    """The ``java`` Spark will start (JAVA_HOME's, else the one on PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise EngineUnavailable(
            "Java is not installed: the Spark engine needs a Java 17 (or 21) runtime",
            hint="install it (`apt-get install openjdk-17-jre-headless`) or set JAVA_HOME",
        )
    return found


def require_pyspark() -> None:
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        raise EngineUnavailable("pyspark is not installed: the Spark engine needs it",
                                hint="pip install 'meshfabric[spark]'")


def check_master(master: str, timeout: float) -> None:
    """Refuse a standalone master that does not accept a connection within ``timeout`` seconds
    (Spark itself would retry registering for a minute and then leave a dead context)."""
    if not master.startswith("spark://"):
        return
    for hostport in master[len("spark://"):].split(","):
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "7077")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            last = f"{host}:{port} ({reason})"
    raise EngineUnavailable(
        f"the Spark master {master} is not reachable: {last}",
        hint="start the cluster (sbin/start-master.sh and a worker) or fix engine.master in mesh.yaml; "
             "`--engine duckdb` runs the query without Spark",
    )


def _loopback(master: str) -> bool:
    if master.startswith("local"):
        return True
    hosts = [h.rpartition(":")[0] or h for h in master[len("spark://"):].split(",")]
    try:
        return all(h == "localhost" or ipaddress.ip_address(h).is_loopback for h in hosts)
    except ValueError:
        return False


_LOG4J = """\
# warn, not error: pyspark prints a note on how to change the level whenever they differ
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.utils.name = org.apache.spark.util.Utils
logger.utils.level = error
"""
_log_file: Path | None = None


def _quiet_logging() -> Path:
    """A log4j2 configuration at level error (Spark's default prints every stage at WARN/INFO)."""
    global _log_file
    if _log_file is None or not _log_file.exists():
        fd, name = tempfile.mkstemp(prefix="mf-spark-log4j2-", suffix=".properties")
        with os.fdopen(fd, "w") as f:
            f.write(_LOG4J)
        _log_file = Path(name)
    return _log_file


def session_conf(spec: SparkEngineSpec, jars: dict[str, Path]) -> dict[str, str]:
    """The Spark settings of a session for ``spec``: meshfabric's defaults, then ``spec.conf``.

    >>> from meshfabric.spec.models import SparkEngineSpec
    >>> conf = session_conf(SparkEngineSpec(conf={"spark.ui.enabled": True}), {"postgres": Path("/j/pg.jar")})
    >>> conf["spark.jars"], conf["spark.driver.extraClassPath"], conf["spark.ui.enabled"]
    ('/j/pg.jar', '/j/pg.jar', 'true')
    """
    files = [str(p) for p in jars.values()]
    files += [str(Path(j).expanduser()) for j in spec.jars if str(Path(j).expanduser()) not in files]
    conf = {
        "spark.app.name": "meshfabric",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # dates and timestamps are computed and returned in UTC, as in the DuckDB engine
        "spark.sql.session.timeZone": "UTC",
        # `SELECT * FROM parquet.`/path`` would read any file the driver can: only scans are readable
        "spark.sql.runSQLOnFiles": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_quiet_logging()}",
    }
    if files:
        conf["spark.jars"] = ",".join(files)
        conf["spark.driver.extraClassPath"] = os.pathsep.join(files)
    if _loopback(spec.master):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    for key, value in spec.conf.items():
        conf[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return conf


class _Running:
    """The process's one SparkContext (as a root session) and the settings it was started with."""

    lock = threading.Lock()
    session: SparkSession | None = None
    key: tuple[Any, ...] | None = None
    jars: dict[str, Path] = {}  # noqa: RUF012 - replaced, never mutated


def spark_session(spec: SparkEngineSpec) -> tuple[SparkSession, dict[str, Path]]:
    """A new SparkSession (private temp views and SQL settings) on the context for ``spec``,
    started on first use, and the driver jars it has. Raises EngineUnavailable when Spark
    cannot start: no pyspark, no Java, an unreachable master."""
    require_pyspark()
    jars = find_jars(spec.jars)
    conf = session_conf(spec, jars)
    key = (spec.master, tuple(sorted(conf.items())))
    with _Running.lock:
        running = _Running.session
        if running is not None and _Running.key == key and _alive(running):
            return running.newSession(), _Running.jars
        require_java()
        check_master(spec.master, spec.connect_timeout)
        if running is not None:
            running.stop()
            _Running.session = None
        _Running.session = _start(spec.master, conf)
        _Running.key, _Running.jars = key, jars
        return _Running.session.newSession(), jars


def stop() -> None:
    """Stop the process's Spark context (tests, ``Mesh.close`` of a long-lived process)."""
    with _Running.lock:
        if _Running.session is not None:
            _Running.session.stop()
            _Running.session, _Running.key = None, None


def _alive(session: SparkSession) -> bool:
    sc = session.sparkContext
    return getattr(sc, "_jsc", None) is not None and not sc._jsc.sc().isStopped()


def _start(master: str, conf: dict[str, str]) -> SparkSession:
    import warnings

    if _loopback(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with warnings.catch_warnings():
        # pyspark warns about pandas versions while importing; meshfabric hands it Arrow only
        warnings.simplefilter("ignore", FutureWarning)
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.master(master)
        for k, v in conf.items():
            builder = builder.config(k, v)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start or the master refused the application
            raise EngineUnavailable(
                f"Spark could not start on {master}: {_first_line(str(exc))}",
                hint="check engine.master and engine.conf in mesh.yaml and that Java 17 runs (`java -version`)",
            ) from None
    session.sparkContext.setLogLevel("ERROR")
    import logging

    # pyspark logs every failed statement with its Java stack to stderr; meshfabric reports
    # each failure itself, as one message
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).disabled = True
    return session


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 300 else line[:299] + "…"
