"""Store tables of the auth capability (see store/models.py for the shared Base and conventions).

An API key is stored as the SHA-256 of its secret part only: the key itself is shown once, when it
is created, and cannot be recovered from the store. Revoked tokens are kept by ``jti`` until they
would have expired anyway.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base, BigId, utcnow


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_principal", "principal"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: the public part of ``mf_<key_id>_<secret>``, used to find the row
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: hex SHA-256 of the secret part
    secret_hash: Mapped[str] = mapped_column(String(64))
    principal: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RevokedTokenRow(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    subject: Mapped[str] = mapped_column(String(256), default="")
    #: when the token expires; past that the row can be pruned (NULL: unknown, kept)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(256), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)
