"""The metadata store: SQLAlchemy engine, write transactions that never lose an update, migrations.

SQLite (the embedded default) runs in WAL mode with a long busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so two processes never both read-then-write and
collide ("database is locked" comes from upgrading a read lock; taking the write lock first
makes writers queue instead). PostgreSQL write transactions take one transaction-scoped
advisory lock, which serialises appliers the same way.

Waiting is bounded: a write waits at most :data:`BUSY_TIMEOUT` seconds in all for the SQLite
write lock (retries of fast failures included; it once waited 60 s × 8 attempts, ~8 minutes,
and then showed SQLAlchemy's traceback), then raises :class:`StoreBusy` naming the file.
A PostgreSQL store that cannot be reached (port refused, database or role missing, wrong
password) is reported by :class:`StoreUnavailable` with the fix, when the store is opened.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from meshfabric.errors import ConfigError, StoreBusy, StoreUnavailable
from meshfabric.store import models

#: the newest migration; a quick check against alembic_version skips Alembic on every open
HEAD_REVISION = "0012"
_PG_LOCK_KEY = 0x6D657368  # "mesh"
MIGRATIONS = Path(__file__).parent / "migrations"
#: seconds a write waits in all for another process's SQLite write lock before StoreBusy
BUSY_TIMEOUT = float(os.environ.get("MESHFABRIC_STORE_BUSY_TIMEOUT", "60"))
#: libpq keepalive and send timeouts of a PostgreSQL store's connections: a store that stops
#: answering with the socket still open fails its statement within ~30 s instead of never
_PG_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30000,
}


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = _make_engine(url)
        except Exception as exc:
            raise ConfigError(
                f"cannot use metadata store {_redact(url)}: {exc.__class__.__name__}: {exc}",
                hint="check `store:` in mesh.yaml or MESHFABRIC_STORE_URL",
            ) from None
        self.is_sqlite = self.engine.dialect.name == "sqlite"

    def __repr__(self) -> str:
        return f"Store({_redact(self.url)})"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a serialised write transaction; commits on success, rolls back on error.

        On SQLite the write lock is waited for at most :data:`BUSY_TIMEOUT` seconds in all
        (each retry gets only the time left), then :class:`StoreBusy` says who to look for.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT
        attempt = 0
        while True:
            attempt += 1
            started = False
            try:
                with self.engine.connect() as conn:
                    # the flag lives on the pooled DBAPI connection: cleared after this transaction,
                    # or every later read on it would begin IMMEDIATE and queue behind writers
                    conn.info["mf_immediate"] = True
                    if self.is_sqlite:
                        _busy_timeout(conn, deadline - time.monotonic())
                    try:
                        with conn.begin():
                            if not self.is_sqlite:
                                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                            session = Session(bind=conn, expire_on_commit=False, autoflush=True)
                            started = True
                            try:
                                yield session
                                session.flush()
                            finally:
                                session.close()
                    finally:
                        conn.info.pop("mf_immediate", None)
                        if self.is_sqlite:
                            _busy_timeout(conn, BUSY_TIMEOUT)
                return
            except OperationalError as exc:
                if not (self.is_sqlite and _locked(exc)):
                    raise
                left = deadline - time.monotonic()
                # a lock error before the body ran, with time left (WAL recovery, a checkpoint):
                # retry the whole transaction within what is left; a body is never run twice
                if not started and left > 0.1:
                    time.sleep(min(0.05 * 2**attempt, left / 2))
                    continue
                raise self._busy() from None

    def _busy(self) -> StoreBusy:
        path = self.engine.url.database or "(memory)"
        return StoreBusy(
            f"the metadata store {path} stayed locked by another process for {BUSY_TIMEOUT:g} s; "
            "nothing was written",
            hint=f"find the process holding it with `fuser -v {path}` or `lsof {path}` (a long apply, a "
            "`sqlite3` shell left in a transaction...), let it finish or stop it, then run the command "
            "again; MESHFABRIC_STORE_BUSY_TIMEOUT sets how many seconds to wait",
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to HEAD_REVISION (no-op when already there)."""
        if self.current_revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.connect() as conn:
                conn.info["mf_immediate"] = True
                try:
                    with conn.begin():
                        if not self.is_sqlite:
                            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                        cfg.attributes["connection"] = conn
                        command.upgrade(cfg, "head")
                finally:
                    conn.info.pop("mf_immediate", None)
        except OperationalError as exc:
            if self.is_sqlite and _locked(exc):
                raise self._busy() from None
            raise self.unavailable(exc) from None

    def check(self) -> None:
        """Connect once; a store that cannot be reached raises :class:`StoreUnavailable`."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            if self.is_sqlite and _locked(exc):
                raise self._busy() from None
            raise self.unavailable(exc) from None

    def unavailable(self, exc: OperationalError) -> StoreUnavailable:
        """What is wrong with the store's connection and how to fix it, without the password."""
        return _unavailable(self.engine, _redact(self.url), exc)

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:
            return None

    def close(self) -> None:
        self.engine.dispose()


def _make_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    if url.startswith("postgresql"):
        kwargs["pool_pre_ping"] = True
        # settings in the URL's query (?connect_timeout=…) win over these defaults
        given = {k.lower() for k in _query_keys(url)}
        kwargs["connect_args"] = {k: v for k, v in _PG_CONNECT_ARGS.items() if k not in given}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: Engine) -> None:
    """Take transaction control from pysqlite so writes can BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("mf_immediate") else "BEGIN")


def open_store(url: str, *, migrate: bool = True) -> Store:
    """The store at ``url``, migrated; an unreachable one raises StoreUnavailable (exit 2)."""
    store = Store(url)
    try:
        if store.is_sqlite:
            db = store.engine.url.database
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        store.check()
        if migrate:
            store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _query_keys(url: str) -> list[str]:
    return [part.split("=", 1)[0] for part in url.partition("?")[2].split("&") if part]


def _locked(exc: OperationalError) -> bool:
    text_ = str(exc.orig).lower()
    return "locked" in text_ or "busy" in text_


def _busy_timeout(conn: Any, seconds: float) -> None:
    """Set the busy timeout of ``conn``'s SQLite connection (outside any transaction)."""
    raw = conn.connection.dbapi_connection
    raw.execute(f"PRAGMA busy_timeout={max(1, int(seconds * 1000))}")


_PG_PROBLEMS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r'database "([^"]+)" does not exist'),
        "database '{0}' does not exist on {where}",
        "create it with `createdb -h {host} -p {port} {0}` (as a role allowed to create databases), "
        "or fix the database name in `store:` of mesh.yaml / MESHFABRIC_STORE_URL",
    ),
    (
        re.compile(r'role "([^"]+)" does not exist'),
        "role '{0}' does not exist on {where}",
        "create it with `createuser -h {host} -p {port} {0}` (or CREATE ROLE {0} LOGIN) and grant it the "
        "store's database, or fix the user in `store:` / MESHFABRIC_STORE_URL",
    ),
    (
        re.compile(r"password authentication failed for user \"?([^\"]*)\"?"),
        "password authentication failed for user '{0}' on {where}",
        "check the password in the store URL (or the ${{ENV}} variable it names) and the server's pg_hba.conf",
    ),
    (
        re.compile(r"(?:no password supplied|fe_sendauth)"),
        "the server asks for a password and the store URL gives none ({where})",
        "put the password in the URL as ${{ENV_VAR}} (postgresql://user:${{MESH_DB_PASSWORD}}@host/db)",
    ),
    (
        re.compile(r"no pg_hba\.conf entry"),
        "the server at {where} does not accept this client, user or database (pg_hba.conf)",
        "add a pg_hba.conf entry for this host and user, or connect as another user",
    ),
    (
        re.compile(r"connection refused|is the server running", re.IGNORECASE),
        "nothing accepts connections at {host}:{port}",
        "check that PostgreSQL is running and listens on that host and port (`pg_isready -h {host} -p {port}`), "
        "or fix the port in `store:` of mesh.yaml / MESHFABRIC_STORE_URL",
    ),
    (
        re.compile(r"failed to resolve host|could not translate host name|name or service not known", re.IGNORECASE),
        "unknown host '{host}'",
        "fix the host in `store:` of mesh.yaml / MESHFABRIC_STORE_URL",
    ),
    (
        re.compile(r"timeout expired|timed out", re.IGNORECASE),
        "no answer from {host}:{port} within the connect timeout",
        "check the host, port and firewall, or raise ?connect_timeout=SECONDS in the store URL",
    ),
]


def _unavailable(engine: Engine, where: str, exc: OperationalError) -> StoreUnavailable:
    url = engine.url
    if engine.dialect.name == "sqlite":
        return StoreUnavailable(
            f"cannot open the metadata store {url.database}: {str(exc.orig).splitlines()[0]}",
            hint="check that its folder exists and is writable, or set `store:` in mesh.yaml / MESHFABRIC_STORE_URL",
        )
    raw = str(exc.orig)
    host, port = url.host or "localhost", url.port or 5432
    for pattern, message, hint in _PG_PROBLEMS:
        m = pattern.search(raw)
        if m:
            args = [g or url.username or "" for g in m.groups()]
            fmt = {"where": f"{host}:{port}", "host": host, "port": port}
            return StoreUnavailable(
                "cannot open the metadata store " + where + ": " + message.format(*args, **fmt),
                hint=hint.format(*args, **fmt),
            )
    first = (raw.strip().splitlines() or [type(exc.orig).__name__])[0][:300]
    if url.password:
        first = first.replace(url.password, "***")
    return StoreUnavailable(
        f"cannot open the metadata store {where}: {first}",
        hint="check `store:` in mesh.yaml or MESHFABRIC_STORE_URL, and that the server is running",
    )


__all__ = ["BUSY_TIMEOUT", "HEAD_REVISION", "Store", "models", "open_store"]
