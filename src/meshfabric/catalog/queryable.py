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
        self._store = store
        self._products = {p.fqn.lower(): p for p in list_products(store)}
        self._statistics: dict[str, TableStatistics] | None = None

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
        """Planner statistics of an applied product: the store's cache (``meshfabric.stats``),
        every product's read in one statement on the first call of this catalog (it is made per
        query), never the source. None when there are none, or they were taken for another
        output port or schema than the applied one. Statistics older than their maximum age are
        still used, and refreshed behind the query in a daemon thread
        (:func:`meshfabric.catalog.statistics.refresh_in_background`)."""
        if self._statistics is None:
            self._statistics = self._load_statistics()
        return self._statistics.get(binding.fqn.lower())

    def _load_statistics(self) -> dict[str, TableStatistics]:
        from contextlib import suppress
        from datetime import UTC, datetime

        from sqlalchemy import select

        from meshfabric.catalog.statistics import due_in_background, is_current, max_age, refresh_in_background
        from meshfabric.connectors.statistics import decode
        from meshfabric.store.models_stats import ProductStatisticsRow as S

        out: dict[str, TableStatistics] = {}
        try:
            with self._store.read() as session:
                rows = session.execute(select(S.product, S.fingerprint, S.statistics, S.taken_at, S.attempted_at)
                                       .where(S.statistics.is_not(None))).all()
        except Exception:
            return out  # statistics only steer plans: without them the planner guesses
        now, limit = datetime.now(UTC), max_age(strict=False)
        aged: list[ProductInfo] = []
        for product, fingerprint, doc, taken_at, attempted_at in rows:
            info = self._products.get(str(product).lower())
            if info is None or not is_current(info, fingerprint):
                continue
            stats = decode(doc)
            if stats is not None:
                out[info.fqn.lower()] = stats
            if due_in_background(info, fingerprint, taken_at, attempted_at, now=now, limit=limit):
                aged.append(info)
        if aged:
            with suppress(Exception):  # a refresh that cannot start changes nothing for this query
                refresh_in_background(self._store, self._connections, aged)
        return out
