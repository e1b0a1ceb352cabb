"""API keys for services: ``mf_<key id>_<secret>``, stored as the SHA-256 of the secret.

The secret is 32 random bytes, so a plain SHA-256 cannot be brute-forced and needs no slow KDF;
the digest is compared in constant time. The key id (public, 16 hex digits) finds the row.
``last_used_at`` is written at most once a minute per key, so a busy service does not turn every
read request into a store write.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from meshfabric.auth import AuthenticationFailed
from meshfabric.errors import NotFound
from meshfabric.store import Store
from meshfabric.store.models_auth import ApiKeyRow

PREFIX = "mf_"
KEY_RE = re.compile(r"^mf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
LAST_USED_EVERY = timedelta(seconds=60)
INVALID = "invalid API key"
#: compared against when the key id is unknown, so that case costs the same as a wrong secret
_DUMMY_HASH = hashlib.sha256(b"meshfabric-no-such-key").hexdigest()


def looks_like_api_key(text: str) -> bool:
    return text.startswith(PREFIX)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """``(key, key_id, secret)`` for a fresh key.

    >>> key, key_id, secret = new_key()
    >>> key == f"mf_{key_id}_{secret}" and bool(KEY_RE.match(key))
    True
    """
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return f"{PREFIX}{key_id}_{secret}", key_id, secret


@dataclass(frozen=True)
class ApiKeyInfo:
    """What the store knows of a key: never the key itself."""

    id: str
    principal: str
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "principal": self.principal, "name": self.name, "status": self.status,
                "created_by": self.created_by, "created_at": iso(self.created_at),
                "expires_at": iso(self.expires_at), "last_used_at": iso(self.last_used_at),
                "revoked_at": iso(self.revoked_at)}


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key: ``key`` is shown this once and stored nowhere."""

    key: str
    info: ApiKeyInfo

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.info.to_dict()}


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were written in UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(row.key_id, row.principal, row.name, row.created_by, _aware(row.created_at) or row.created_at,
                      _aware(row.expires_at), _aware(row.last_used_at), _aware(row.revoked_at))


def create(store: Store, principal: str, *, name: str = "", expires_at: datetime | None = None,
           created_by: str = "") -> CreatedApiKey:
    key, key_id, secret = new_key()
    with store.write() as s:
        row = ApiKeyRow(key_id=key_id, secret_hash=hash_secret(secret), principal=principal, name=name,
                        created_by=created_by, created_at=datetime.now(UTC), expires_at=expires_at)
        s.add(row)
        s.flush()
        info = _info(row)
        _event(s, "auth.api_key_created", info, created_by)
    return CreatedApiKey(key, info)


def _event(session: Any, event_type: str, info: ApiKeyInfo, by: str) -> None:
    """A domain event in the caller's transaction (the key itself never goes into one)."""
    from meshfabric.events import DomainEvent, append

    data = {k: v for k, v in info.to_dict().items() if k in ("id", "principal", "name", "expires_at")}
    append(session, DomainEvent(event_type, None, {**data, "by": by}))


def list_keys(store: Store, *, principal: str | None = None, include_inactive: bool = False) -> list[ApiKeyInfo]:
    query = select(ApiKeyRow).order_by(ApiKeyRow.id)
    if principal is not None:
        query = query.where(ApiKeyRow.principal == principal)
    with store.read() as s:
        found = [_info(r) for r in s.scalars(query)]
    return found if include_inactive else [k for k in found if k.status == "active"]


def revoke(store: Store, key_id: str, *, by: str = "") -> ApiKeyInfo:
    key_id = key_id.removeprefix(PREFIX).split("_", 1)[0]
    with store.write() as s:
        row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
        if row is None:
            raise NotFound(f"no API key with id '{key_id}'", hint="list them with `meshfabric apikey list --all`")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            _event(s, "auth.api_key_revoked", _info(row), by)
        return _info(row)


def verify(store: Store, key: str) -> str:
    """The principal the key belongs to, or :class:`AuthenticationFailed`."""
    m = KEY_RE.match(key.strip())
    if not m:
        raise AuthenticationFailed(INVALID)
    key_id, secret = m.groups()
    with store.read() as s:
        row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
        stored = row.secret_hash if row is not None else _DUMMY_HASH
        matches = hmac.compare_digest(stored, hash_secret(secret))
        if row is None or not matches:
            raise AuthenticationFailed(INVALID)
        info = _info(row)
    now = datetime.now(UTC)
    if info.revoked_at is not None or (info.expires_at is not None and info.expires_at <= now):
        raise AuthenticationFailed(INVALID if info.revoked_at is not None else "the API key has expired",
                                   hint="ask an admin for a new key")
    if info.last_used_at is None or now - info.last_used_at >= LAST_USED_EVERY:
        with store.write() as s:
            fresh = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
            if fresh is not None:
                fresh.last_used_at = now
    return info.principal
