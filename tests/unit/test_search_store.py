"""Migration 0005: the search tables and the dialect's full-text structure come and go with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from helpers import pg_database
from meshfabric.store import HEAD_REVISION, MIGRATIONS, Store, open_store
from meshfabric.store.models_search import FTS_SHADOW_TABLES, FTS_TABLE, UNMODELLED_TABLES

SEARCH_TABLES = {"search_documents", "search_terms"}


def _alembic(store: Store, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as conn:
        conn.info["mf_immediate"] = True
        with conn.begin():
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def _check(url: str) -> None:
    store = open_store(url)
    try:
        tables = _tables(store)
        assert tables >= SEARCH_TABLES | {FTS_TABLE}
        if store.is_sqlite:
            assert tables >= FTS_SHADOW_TABLES
            with store.engine.connect() as conn:
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'search_fts'")).scalar()
            assert "fts5" in sql.lower()
        else:
            assert {i["name"] for i in inspect(store.engine).get_indexes(FTS_TABLE)} == {"ix_search_fts_tsv"}
        _alembic(store, "downgrade", "0004")
        assert not _tables(store) & (SEARCH_TABLES | UNMODELLED_TABLES)
        _alembic(store, "upgrade", "head")
        assert store.current_revision() == HEAD_REVISION
        assert _tables(store) >= SEARCH_TABLES | {FTS_TABLE}
    finally:
        store.close()


def test_sqlite_migration_creates_and_drops_the_fts5_table(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.mark.postgres
def test_postgresql_migration_creates_and_drops_the_tsvector_table(pg_url: str) -> None:
    with pg_database() as url:
        _check(url)
