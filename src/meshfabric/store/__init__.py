"""The metadata store: SQLAlchemy engine, write transactions that never lose an update, migrations.

SQLite (the embedded default) runs in WAL mode with a long busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so two processes never both read-then-write and
collide ("database is locked" comes from upgrading a read lock; taking the write lock first
makes writers queue instead). PostgreSQL write transactions take one transaction-scoped
advisory lock, which serialises appliers the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from meshfabric.errors import ConfigError
from meshfabric.store import models

#: the newest migration; a quick check against alembic_version skips Alembic on every open
HEAD_REVISION = "0009"
_PG_LOCK_KEY = 0x6D657368  # "mesh"
MIGRATIONS = Path(__file__).parent / "migrations"


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
        """A session in a serialised write transaction; commits on success, rolls back on error."""
        for attempt in range(8):
            try:
                with self.engine.connect() as conn:
                    # the flag lives on the pooled DBAPI connection: cleared after this transaction,
                    # or every later read on it would begin IMMEDIATE and queue behind writers
                    conn.info["mf_immediate"] = True
                    try:
                        with conn.begin():
                            if not self.is_sqlite:
                                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                            session = Session(bind=conn, expire_on_commit=False, autoflush=True)
                            try:
                                yield session
                                session.flush()
                            finally:
                                session.close()
                    finally:
                        conn.info.pop("mf_immediate", None)
                return
            except OperationalError as exc:
                # the busy timeout makes this rare; retry the whole transaction, never surface it
                if self.is_sqlite and "locked" in str(exc.orig) and attempt < 7:
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise

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
        kwargs["pool_pre_ping"] = True
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
        kwargs["pool_pre_ping"] = True
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
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("mf_immediate") else "BEGIN")


def open_store(url: str, *, migrate: bool = True) -> Store:
    store = Store(url)
    if store.is_sqlite:
        db = store.engine.url.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        store.migrate()
    return store


__all__ = ["HEAD_REVISION", "Store", "models", "open_store"]
