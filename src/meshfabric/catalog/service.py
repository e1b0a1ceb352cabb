"""``mesh.catalog``: domains, products and sources as the acting principal may see them, and
publishing data into a product.

The access service arrives in the constructor (this package sits below ``access`` and never
imports it): every read asks it once which products the principal may discover, every write
asks once for ``write``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from meshfabric.catalog.read import DomainInfo, ProductInfo, SourceInfo, get_product, list_domains, list_products
from meshfabric.errors import ConfigError

if TYPE_CHECKING:
    from meshfabric.access.service import AccessService
    from meshfabric.catalog.connections import Connections
    from meshfabric.events import EventLog
    from meshfabric.store import Store


class CatalogService:
    def __init__(self, store: Store, connections: Connections, access: AccessService, events: EventLog,
                 after_write: Any = None) -> None:
        self.store = store
        self.connections = connections
        self.access = access
        self.events = events
        self._after_write = after_write

    def domains(self, *, user: str | None = None) -> list[DomainInfo]:
        """Domains with a product the principal may discover; each counts only those."""
        listed = list_domains(self.store)
        visible = self.access.visible_products(user)
        if visible is None:
            return listed
        counts = Counter(p.split(".", 1)[0] for p in visible)
        return [replace(d, products=counts[d.name]) for d in listed if counts[d.name]]

    def products(self, *, domain: str | None = None, status: str | None = None, tag: str | None = None,
                 user: str | None = None) -> list[ProductInfo]:
        """Products the acting principal (``user``, else the local principal) may discover."""
        found = list_products(self.store, domain=domain, status=status, tag=tag)
        visible = self.access.visible_products(user)
        return found if visible is None else [p for p in found if p.fqn in visible]

    def product(self, fqn: str, *, user: str | None = None, action: str = "discover") -> ProductInfo:
        """One product; one the principal may not discover is reported exactly like a missing one."""
        return get_product(self.store, self.access.decide(user, action, fqn).product or fqn)

    def sources(self) -> list[SourceInfo]:
        return self.connections.sources()

    def write(self, product: str, data: Any, *, mode: str = "append", user: str | None = None) -> int:
        """Publish data (Arrow, pandas or polars) into a product's output port; the data is
        checked against the declared schema first, a mismatch writes nothing. Emits
        ``product.data_written``."""
        from meshfabric.catalog.publish import write_product
        from meshfabric.events import DomainEvent

        info = self.product(product, user=user, action="write")
        rows = write_product(info, self.connections(info.source), as_arrow(data), mode)  # type: ignore[arg-type]
        self.events.record(DomainEvent("product.data_written", info.domain,
                                        {"product": info.fqn, "rows": rows, "mode": mode}))
        if self._after_write is not None:
            self._after_write()
        return rows


def as_arrow(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    if data.__class__.__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise ConfigError(f"cannot write a {type(data).__name__}", hint="pass a pyarrow Table, pandas or polars DataFrame")
