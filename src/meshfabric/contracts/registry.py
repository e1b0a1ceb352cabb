"""The schema registry: every product's schema versions, persisted, checked before they land.

Functions taking a ``Session`` run inside the caller's transaction, so ``apply`` can check and
register a product's new schema in the same transaction that updates the product — a refused
version leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meshfabric.contracts.compat import CompatibilityResult, check_compatibility, schema_kind
from meshfabric.errors import NotFound
from meshfabric.store import Store
from meshfabric.store.models import SchemaVersionRow

if TYPE_CHECKING:
    from meshfabric.access.service import AccessService


@dataclass(frozen=True)
class SchemaVersion:
    product: str
    version: int
    kind: str
    schema: Any
    fingerprint: str
    mode: str
    product_version: str
    deprecated: bool
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product, "version": self.version, "kind": self.kind, "schema": self.schema,
            "fingerprint": self.fingerprint, "mode": self.mode, "product_version": self.product_version,
            "deprecated": self.deprecated, "created_at": self.created_at.isoformat(),
        }


def canonical(schema: Any) -> Any:
    """The form stored and fingerprinted: tabular columns keep only what compatibility reads."""
    if schema_kind(schema) == "json":
        return schema
    cols = schema["columns"] if isinstance(schema, dict) else schema
    keep = ("name", "type", "nullable", "default", "aliases")
    return [{k: c[k] for k in keep if k in c and c[k] not in (None, [])} | {"nullable": c.get("nullable", True)}
            for c in cols]


def fingerprint(schema: Any) -> str:
    return hashlib.sha256(json.dumps(canonical(schema), sort_keys=True).encode()).hexdigest()


def _version(row: SchemaVersionRow) -> SchemaVersion:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return SchemaVersion(row.product, row.version, row.kind, row.schema, row.fingerprint, row.mode,
                         row.product_version, row.deprecated, created)


def history(session: Session, product: str) -> list[SchemaVersion]:
    """Every version of a product's schema, newest first."""
    rows = session.scalars(select(SchemaVersionRow).where(SchemaVersionRow.product == product)
                           .order_by(SchemaVersionRow.version.desc()))
    return [_version(r) for r in rows]


def check(session: Session, product: str, schema: Any, mode: str) -> CompatibilityResult | None:
    """Check a candidate schema against the product's history (None when it is already the latest).

    Deprecated versions are skipped by transitive checks: they no longer bind new versions.
    """
    versions = history(session, product)
    if versions and versions[0].fingerprint == fingerprint(schema):
        return None
    earlier = [v.schema for v in versions if not v.deprecated or v is versions[0]]
    if versions and schema_kind(versions[0].schema) != schema_kind(schema):
        earlier = []  # a product that switches kind starts a new history line
    return check_compatibility(canonical(schema), earlier, mode)


def register(session: Session, product: str, schema: Any, mode: str, product_version: str = "") -> SchemaVersion:
    """Store a new version (the caller has checked it); returns it."""
    last = session.scalar(select(func.max(SchemaVersionRow.version)).where(SchemaVersionRow.product == product))
    row = SchemaVersionRow(
        product=product, version=(last or 0) + 1, kind=schema_kind(schema), schema=canonical(schema),
        fingerprint=fingerprint(schema), mode=mode, product_version=product_version,
    )
    session.add(row)
    session.flush()
    return _version(row)


class SchemaRegistry:
    """Read access and deprecation for the CLI, SDK and API, as the acting principal: a product's
    versions exist for a principal that may discover it, deprecating one needs ``write``. Without
    an access service (a bare store) everything is allowed."""

    def __init__(self, store: Store, access: AccessService | None = None) -> None:
        self.store = store
        self.access = access

    def _product(self, product: str, user: str | None, action: str = "discover") -> str:
        if self.access is None:
            return product
        return self.access.decide(user, action, product).product or product

    def history(self, product: str, *, user: str | None = None) -> list[SchemaVersion]:
        return self._history(self._product(product, user))

    def _history(self, product: str) -> list[SchemaVersion]:
        with self.store.read() as s:
            versions = history(s, product)
        if not versions:
            raise NotFound(f"no schema versions for product '{product}'",
                           hint="apply the product first; every apply that changes its schema adds a version")
        return versions

    def get(self, product: str, version: int | None = None, *, user: str | None = None) -> SchemaVersion:
        return self._get(self._product(product, user), version)

    def _get(self, product: str, version: int | None) -> SchemaVersion:
        versions = self._history(product)
        if version is None:
            return versions[0]
        for v in versions:
            if v.version == version:
                return v
        raise NotFound(f"product '{product}' has no schema version {version}",
                       hint=f"versions: {', '.join(str(v.version) for v in reversed(versions))}")

    def diff(self, product: str, old: int, new: int, *, user: str | None = None) -> CompatibilityResult:
        product = self._product(product, user)
        a, b = self._get(product, old), self._get(product, new)
        return check_compatibility(b.schema, [a.schema], b.mode if b.mode != "NONE" else "FULL")

    def deprecate(self, product: str, version: int, *, user: str | None = None) -> SchemaVersion:
        from meshfabric.events import DomainEvent, append

        product = self._product(product, user, "write")
        target = self._get(product, version)
        with self.store.write() as s:
            row = s.scalar(select(SchemaVersionRow).where(SchemaVersionRow.product == product,
                                                          SchemaVersionRow.version == version))
            assert row is not None
            row.deprecated = True
            append(s, DomainEvent("schema.version_deprecated", product.split(".")[0],
                                  {"product": product, "version": version}))
        return SchemaVersion(**{**target.__dict__, "deprecated": True})
