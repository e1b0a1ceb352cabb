"""Migrations 0005 and 0010: the search tables come and go with them; 0010 replaces 0005's
full-text structure (FTS5 / tsvector) with the impact-ordered postings and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from helpers import pg_database
from meshfabric.store import HEAD_REVISION, MIGRATIONS, Store, open_store

SEARCH_TABLES = {"search_documents", "search_terms", "search_postings"}
FTS_TABLE = "search_fts"


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
        assert tables >= SEARCH_TABLES
        assert not any(t.startswith(FTS_TABLE) for t in tables)
        if store.is_sqlite:
            with store.engine.connect() as conn:
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'search_postings'")).scalar()
            assert "without rowid" in sql.lower()
        assert inspect(store.engine).get_pk_constraint("search_postings")["constrained_columns"] == [
            "term",
            "tier",
            "ordinal",
        ]
        _alembic(store, "downgrade", "0009")
        tables = _tables(store)
        assert FTS_TABLE in tables and "search_postings" not in tables
        if store.is_sqlite:
            with store.engine.connect() as conn:
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'search_fts'")).scalar()
            assert "fts5" in sql.lower()
        else:
            assert {i["name"] for i in inspect(store.engine).get_indexes(FTS_TABLE)} == {"ix_search_fts_tsv"}
        _alembic(store, "downgrade", "0004")
        assert not any(t.startswith("search_") for t in _tables(store))
        _alembic(store, "upgrade", "head")
        assert store.current_revision() == HEAD_REVISION
        assert _tables(store) >= SEARCH_TABLES
    finally:
        store.close()


def test_sqlite_search_migrations_up_and_down(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.mark.postgres
def test_postgresql_search_migrations_up_and_down(pg_url: str) -> None:
    with pg_database() as url:
        _check(url)
