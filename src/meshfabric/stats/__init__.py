"""Planner statistics of products: read from each source's own catalog, cached in the store.

:class:`~meshfabric.stats.service.StatsService` (``mesh.stats``) refreshes the cache — after an
apply, on ``meshfabric stats refresh``, and in the background once statistics are older than
their maximum age — and shows it to a principal as far as it may see the data. The query
layer reads the cache through ``ProductCatalog.statistics`` (``catalog/queryable.py``); missing
or stale statistics change a plan, never an answer.
"""
