"""What the query layer needs to know about products: a small read-only view of the catalog.

The query layer never touches the store or spec files; the SDK facade hands it an object
implementing :class:`ProductCatalog`. This keeps the dependency one-way (query → connectors)
and gives the access layer one seam: the catalog decides which products a principal can see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from meshfabric.connectors.base import Connector, TableStatistics
    from meshfabric.spec.models import OutputPort
    from meshfabric.types import LogicalType


@dataclass(frozen=True)
class ProductColumn:
    name: str
    type: LogicalType
    nullable: bool = True


@dataclass(frozen=True)
class ProductBinding:
    """A product as the query layer sees it: its address, where it lives and its columns."""

    domain: str
    name: str
    source: str
    port: OutputPort
    columns: tuple[ProductColumn, ...]
    status: str = "published"

    @property
    def fqn(self) -> str:
        return f"{self.domain}.{self.name}"


class ProductCatalog(Protocol):
    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        """The product addressed as ``domain.name`` (case-insensitive), or None."""

    def all_products(self) -> list[ProductBinding]:
        """Every product the caller may see (for 'did you mean' hints)."""

    def connector(self, source: str) -> Connector:
        """The connector of a configured source (already ${ENV}-resolved)."""

    def statistics(self, binding: ProductBinding) -> TableStatistics | None:
        """The product's statistics for planning (cached, possibly stale), None when unknown.
        Only plans depend on them, never answers."""


@dataclass
class StaticCatalog:
    """A catalog over fixed bindings and connectors (tests, embedding without a store)."""

    bindings: dict[str, ProductBinding]
    connectors: dict[str, Connector]
    _statistics: dict[str, TableStatistics | None] = field(default_factory=dict, repr=False)

    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        return self.bindings.get(f"{domain}.{name}".lower())

    def all_products(self) -> list[ProductBinding]:
        return list(self.bindings.values())

    def connector(self, source: str) -> Connector:
        return self.connectors[source]

    def statistics(self, binding: ProductBinding) -> TableStatistics | None:
        """What :meth:`load_statistics` read, None before (planning never waits on a source)."""
        return self._statistics.get(binding.fqn.lower())

    def load_statistics(self) -> dict[str, TableStatistics | None]:
        """Read every product's statistics from its source's own catalog, concurrently, and keep
        them for planning; a source that cannot give them leaves its products on defaults."""
        from concurrent.futures import ThreadPoolExecutor

        def read(b: ProductBinding) -> TableStatistics | None:
            try:
                return self.connectors[b.source].statistics(b.port)
            except Exception:  # statistics only steer plans: a source without them plans on defaults
                return None

        bindings = list(self.bindings.values())
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(bindings)))) as pool:
            found = dict(zip((b.fqn.lower() for b in bindings), pool.map(read, bindings), strict=True))
        self._statistics.update(found)
        return found
