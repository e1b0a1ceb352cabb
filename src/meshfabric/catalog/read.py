"""Read models of the catalog: what the CLI, SDK and API show about domains, products, sources."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from meshfabric.errors import NotFound
from meshfabric.store import Store
from meshfabric.store.models import DomainRow, ProductRow, SourceRow


@dataclass(frozen=True)
class DomainInfo:
    name: str
    description: str
    owners: list[str]
    products: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class ProductInfo:
    domain: str
    name: str
    owner: str
    description: str
    tags: list[str]
    status: str
    version: str
    revision: int
    source: str
    output: dict[str, Any]
    columns: list[dict[str, Any]]
    file: str
    created_at: datetime
    updated_at: datetime

    @property
    def fqn(self) -> str:
        return f"{self.domain}.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"fqn": self.fqn, **_jsonable(asdict(self))}


@dataclass(frozen=True)
class SourceInfo:
    name: str
    kind: str
    description: str
    spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()}


def _product(row: ProductRow) -> ProductInfo:
    return ProductInfo(
        row.domain, row.name, row.owner, row.description, list(row.tags), row.status, row.version,
        row.revision, row.source, dict(row.spec.get("output", {})), list(row.columns), row.file,
        row.created_at, row.updated_at,
    )


def list_domains(store: Store) -> list[DomainInfo]:
    with store.read() as s:
        counts = dict(s.execute(select(ProductRow.domain, func.count()).group_by(ProductRow.domain)).all())
        return [
            DomainInfo(r.name, r.description, list(r.owners), counts.get(r.name, 0), r.created_at, r.updated_at)
            for r in s.scalars(select(DomainRow).order_by(DomainRow.name))
        ]


def list_products(
    store: Store, *, domain: str | None = None, status: str | None = None, tag: str | None = None
) -> list[ProductInfo]:
    stmt = select(ProductRow).order_by(ProductRow.domain, ProductRow.name)
    if domain:
        stmt = stmt.where(ProductRow.domain == domain)
    if status:
        stmt = stmt.where(ProductRow.status == status)
    with store.read() as s:
        found = [_product(r) for r in s.scalars(stmt)]
    return [p for p in found if tag is None or tag in p.tags]


def get_product(store: Store, fqn: str) -> ProductInfo:
    domain, _, name = fqn.partition(".")
    with store.read() as s:
        row = s.scalar(select(ProductRow).where(ProductRow.domain == domain, ProductRow.name == name))
        if row is None:
            import difflib

            names = [f"{d}.{n}" for d, n in s.execute(select(ProductRow.domain, ProductRow.name))]
            close = difflib.get_close_matches(fqn, names, n=1)
            raise NotFound(
                f"product '{fqn}' not found",
                hint=f"did you mean '{close[0]}'?" if close else "list products with `meshfabric products list`",
            )
        return _product(row)


def list_sources(store: Store) -> list[SourceInfo]:
    with store.read() as s:
        return [
            SourceInfo(r.name, r.kind, r.description, dict(r.spec))
            for r in s.scalars(select(SourceRow).order_by(SourceRow.name))
        ]
