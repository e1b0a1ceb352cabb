"""Catalog search: ranked full-text over products, columns, tags and owners.

>>> from meshfabric.search import search          # doctest: +SKIP
>>> search(mesh, "customer email", domain="crm").fqns   # doctest: +SKIP
['crm.customers']

The index is kept current from domain events (:func:`sync_search`); :func:`rebuild_search`
recomputes it from the catalog (``meshfabric search --reindex``). The page is retrieved exactly
from impact-ordered postings (:mod:`meshfabric.search.retrieval`); :func:`search_exhaustive`
scores every match instead, the reference it equals. See docs/SEARCH.md.
"""

from __future__ import annotations

from meshfabric.search.index import rebuild_search, sync_search
from meshfabric.search.ranking import Match
from meshfabric.search.service import SearchHit, SearchResults, search, search_exhaustive

__all__ = ["Match", "SearchHit", "SearchResults", "rebuild_search", "search", "search_exhaustive", "sync_search"]
