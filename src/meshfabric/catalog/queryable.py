"""The applied catalog as the query layer sees it (implements ``ProductCatalog``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from meshfabric.catalog.read import ProductInfo, list_products
from meshfabric.errors import QueryError
from meshfabric.query.catalog import ProductBinding, ProductColumn
from meshfabric.spec.models import OutputPort
from meshfabric.types import parse_type

if TYPE_CHECKING:
    from meshfabric.connectors.base import Connector, TableStatistics
    from meshfabric.store import Store


class StoreCatalog:
    """Every applied product, read once, and the connectors to reach them."""

    def __init__(self, store: Store, connections: Callable[[str], Connector]) -> None:
        self._connections = connections
        self._products = {p.fqn.lower(): p for p in list_products(store)}

    @staticmethod
    def _binding(p: ProductInfo) -> ProductBinding:
        cols = tuple(ProductColumn(c["name"], parse_type(c["type"]), c.get("nullable", True)) for c in p.columns)
        return ProductBinding(p.domain, p.name, p.source, OutputPort.model_validate(p.output), cols, p.status)

    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        p = self._products.get(f"{domain}.{name}".lower())
        if p is None:
            return None
        if p.status == "retired":
            raise QueryError(f"product '{p.fqn}' is retired and can no longer be queried",
                             hint="ask its owner for the product that replaced it")
        return self._binding(p)

    def all_products(self) -> list[ProductBinding]:
        return [self._binding(p) for p in self._products.values() if p.status != "retired"]

    def connector(self, source: str) -> Connector:
        return self._connections(source)

    def statistics(self, binding: ProductBinding) -> TableStatistics | None:
        """Planner statistics of an applied product (the store's cache; see ``meshfabric.stats``)."""
        return None
