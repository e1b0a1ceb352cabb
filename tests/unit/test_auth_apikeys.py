"""API keys in the store: format, hashed storage, verification, expiry, revocation, last use."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from meshfabric.auth import AuthenticationFailed, apikeys
from meshfabric.auth.service import expiry
from meshfabric.errors import ConfigError, NotFound
from meshfabric.store import Store, open_store
from meshfabric.store.models_auth import ApiKeyRow


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def test_key_format_and_entropy() -> None:
    keys = {apikeys.new_key()[0] for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert apikeys.KEY_RE.match(key) and len(key) == 3 + 16 + 1 + 43


def test_only_the_hash_of_the_secret_is_stored(store: Store) -> None:
    created = apikeys.create(store, "etl", name="loader", created_by="local")
    _, key_id, secret = created.key.split("_", 2)
    with store.read() as s:
        row = s.scalars(select(ApiKeyRow)).one()
    assert row.key_id == key_id and row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (row.secret_hash, row.name, row.key_id)
    assert created.info.status == "active" and created.to_dict()["key"] == created.key
    assert "key" not in created.info.to_dict()


def test_verify_names_the_principal_and_records_last_use(store: Store) -> None:
    created = apikeys.create(store, "etl")
    assert apikeys.verify(store, created.key) == "etl"
    first = apikeys.list_keys(store)[0].last_used_at
    assert first is not None
    # within a minute a second use writes nothing
    assert apikeys.verify(store, f"  {created.key} ") == "etl"
    assert apikeys.list_keys(store)[0].last_used_at == first
    with store.write() as s:
        s.execute(update(ApiKeyRow).values(last_used_at=datetime.now(UTC) - timedelta(minutes=5)))
    apikeys.verify(store, created.key)
    assert apikeys.list_keys(store)[0].last_used_at > first  # type: ignore[operator]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('keys') / 'store.db'}")
    apikeys.create(s, "etl")
    yield s
    s.close()


@given(text=st.one_of(st.text(max_size=120), st.from_regex(apikeys.KEY_RE, fullmatch=True)))
def test_arbitrary_text_never_verifies(shared_store: Store, text: str) -> None:
    with pytest.raises(AuthenticationFailed):
        apikeys.verify(shared_store, text)


def test_expired_and_revoked_keys_fail(store: Store) -> None:
    old = apikeys.create(store, "etl", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="expired"):
        apikeys.verify(store, old.key)
    live = apikeys.create(store, "etl", expires_at=datetime.now(UTC) + timedelta(days=1))
    assert apikeys.verify(store, live.key) == "etl"
    # revoking by the full key works too (the id is its second part)
    assert apikeys.revoke(store, live.key).status == "revoked"
    with pytest.raises(AuthenticationFailed, match="invalid API key"):
        apikeys.verify(store, live.key)
    assert apikeys.list_keys(store) == []
    assert [k.status for k in apikeys.list_keys(store, include_inactive=True)] == ["expired", "revoked"]
    with pytest.raises(NotFound, match="no API key"):
        apikeys.revoke(store, "ffffffffffffffff")


def test_list_by_principal(store: Store) -> None:
    apikeys.create(store, "etl")
    apikeys.create(store, "bi")
    assert [k.principal for k in apikeys.list_keys(store, principal="bi")] == ["bi"]
    assert len(apikeys.list_keys(store)) == 2


def test_expiry_parsing() -> None:
    soon = expiry("2h")
    assert soon is not None and timedelta(minutes=119) < soon - datetime.now(UTC) <= timedelta(hours=2)
    assert expiry(None) is None
    assert expiry("2999-05-06T07:08:09+02:00").isoformat() == "2999-05-06T07:08:09+02:00"  # type: ignore[union-attr]
    for bad, message in (("yesterday", "neither a duration nor a date"), ("1999-01-01", "in the past")):
        with pytest.raises(ConfigError, match=message):
            expiry(bad)
