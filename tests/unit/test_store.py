"""The metadata store: migrations, SQLite settings, write transactions, PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from helpers import in_threads, pg_database, store_snapshot
from meshfabric.errors import ConfigError
from meshfabric.store import HEAD_REVISION, MIGRATIONS, Store, open_store
from meshfabric.store.models import Base, DomainRow, SourceRow

TABLES = {"sources", "domains", "products", "events", "subscriber_offsets", "dead_letters", "alembic_version"}


def _alembic_head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"migrations must have one head, found {heads}"
    return heads[0]


def test_head_revision_is_alembics_head() -> None:
    assert _alembic_head() == HEAD_REVISION


def _modelled(name: str | None, type_: str, _parents: object) -> bool:
    """Every table is compared except those a migration creates with raw SQL and lists by name in
    ``Base.metadata.info["unmodelled_tables"]`` (full-text index structures)."""
    return type_ != "table" or name not in Base.metadata.info.get("unmodelled_tables", ())


def _check_fresh_store(url: str) -> None:
    store = open_store(url)
    try:
        assert store.current_revision() == HEAD_REVISION
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        # the migrations create exactly what the models declare
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": _modelled})
            assert compare_metadata(context, Base.metadata) == []
        with store.write() as s:
            s.add(DomainRow(name="sales", description="d", owners=["a@b"]))
        before = store_snapshot(url)
        # migrating again, and opening again, changes nothing
        store.migrate()
    finally:
        store.close()
    again = open_store(url)
    try:
        assert again.current_revision() == HEAD_REVISION
        with again.read() as s:
            assert [d.name for d in s.scalars(select(DomainRow))] == ["sales"]
    finally:
        again.close()
    assert store_snapshot(url) == before


def test_fresh_sqlite_store_migrates_to_head_and_is_idempotent(tmp_path: Path) -> None:
    _check_fresh_store(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}")


@pytest.mark.postgres
def test_fresh_postgresql_store_migrates_to_head_and_is_idempotent(pg_url: str) -> None:
    with pg_database() as url:
        _check_fresh_store(url)


@pytest.mark.postgres
def test_postgres_scheme_alias_is_accepted(pg_url: str) -> None:
    with pg_database() as url:
        store = open_store(url.replace("postgresql://", "postgres://"))
        try:
            assert store.current_revision() == HEAD_REVISION
            assert not store.is_sqlite
        finally:
            store.close()


def test_sqlite_store_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_open_store_without_migrate_leaves_the_database_empty(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", migrate=False)
    try:
        assert store.current_revision() is None
        assert inspect(store.engine).get_table_names() == []
    finally:
        store.close()


def test_write_rolls_back_everything_on_error(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(RuntimeError), store.write() as s:
            s.add(SourceRow(name="db", kind="sqlite", description="", spec={"kind": "sqlite"}))
            s.flush()
            raise RuntimeError("boom")
        with store.read() as s:
            assert s.scalars(select(SourceRow)).all() == []
        with store.write() as s:
            s.add(SourceRow(name="db", kind="sqlite", description="", spec={"kind": "sqlite", "path": "x"}))
        with store.read() as s:
            assert s.get(SourceRow, "db").spec == {"kind": "sqlite", "path": "x"}
    finally:
        store.close()


def test_concurrent_writers_in_threads_lose_no_update(tmp_path: Path) -> None:
    """Read-modify-write in store.write() is serialised: 4 threads x 25 increments = 100."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    setup = open_store(url)
    with setup.write() as s:
        s.add(DomainRow(name="counter", description="0", owners=[]))
    setup.close()
    def worker(store: Store) -> None:
        for _ in range(25):
            with store.write() as s:
                row = s.get(DomainRow, "counter")
                row.description = str(int(row.description) + 1)

    in_threads(worker, url)
    check = open_store(url)
    with check.read() as s:
        assert s.get(DomainRow, "counter").description == "100"
    check.close()


def test_bad_store_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        Store("nosuchdialect://admin:topsecret@db.example/meta")
    assert "topsecret" not in str(info.value)
    assert "MESHFABRIC_STORE_URL" in (info.value.hint or "")


def test_store_repr_hides_the_password() -> None:
    store = Store("postgresql://admin:topsecret@127.0.0.1:1/meta")
    try:
        assert "topsecret" not in repr(store)
        assert "127.0.0.1" in repr(store)
    finally:
        store.close()


def test_sqlite_store_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "store.db"
    store = open_store(f"sqlite:///{target}")
    store.close()
    assert target.is_file()


def test_a_read_after_a_write_does_not_take_the_write_lock(tmp_path: Path) -> None:
    """A read that a write's connection serves later begins a plain (deferred) transaction: were it
    IMMEDIATE, a read inside another thread's — or this thread's own — open write would wait out
    the busy timeout."""
    import threading

    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    with store.write() as s:
        s.add(DomainRow(name="d", description="", owners=[]))
    with store.engine.connect() as conn:  # the pool hands back the write's connection
        assert not conn.info.get("mf_immediate")
    entered, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.write():
            entered.set()
            release.wait(30)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert entered.wait(30)
        with store.read() as s:  # must not queue behind the open write
            assert s.scalar(select(DomainRow.name)) == "d"
    finally:
        release.set()
        t.join()
