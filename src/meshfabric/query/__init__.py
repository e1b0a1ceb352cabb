"""Federated SQL over data products: one SELECT joins products living in different sources.

``run_query`` is guard → plan → execute:

* :mod:`.guard` refuses anything that is not one read-only SELECT over ``domain.product``
  references (an allowlist of syntax and functions, not a denylist);
* :mod:`.planner` decides, per product reference, which columns and filter conjuncts its source
  is asked for (pure functions over sqlglot trees, the seam of the future cost-based planner);
* :mod:`.engine` reads the scans concurrently through the connectors into Arrow and runs the
  query in a hardened in-memory DuckDB.

This module stays cheap to import: sqlglot, DuckDB and pyarrow load on the first query.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from meshfabric.query.catalog import ProductBinding, ProductCatalog, ProductColumn, StaticCatalog

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlglot import exp

    from meshfabric.connectors.base import CancelToken
    from meshfabric.query.guard import GuardedQuery
    from meshfabric.query.planner import Plan
    from meshfabric.query.secure import SecuredView

    #: the access layer's secured views of the products a query references (lower-case fqn)
    Views = Callable[[tuple[ProductBinding, ...]], Mapping[str, SecuredView]]
    from meshfabric.query.result import QueryResult, QueryStream

__all__ = [
    "ProductBinding",
    "ProductCatalog",
    "ProductColumn",
    "StaticCatalog",
    "explain",
    "run_query",
]


def run_query(
    sql: str,
    catalog: ProductCatalog,
    *,
    limit: int | None = None,
    views: Views | None = None,
    timeout: float | None = None,
    cancel: CancelToken | None = None,
    stream: bool = False,
) -> QueryResult | QueryStream:
    """Run one SELECT over products of ``catalog`` and return its rows as Arrow, with stats.

    ``limit`` caps the rows returned (on top of any LIMIT in the query). ``views`` (the access
    layer) gives the secured view of each referenced product: its references are replaced by
    masked, filtered subqueries before planning (:mod:`.secure`). Raises QueryError for
    refused or failing SQL and SourceError, naming the source, when a source cannot be read.

    ``timeout`` (seconds, None for no limit) bounds the whole query, planning included: when it
    passes, the engine's statement is interrupted, scans still running are cancelled in their
    sources, scans not started never start, and QueryTimeout (a QueryError) says what was
    running. ValueError when it is not positive. ``cancel`` lets another thread stop the query
    the same way (QueryCancelled); Ctrl-C (KeyboardInterrupt) in the calling thread does too.
    Either needs a ``timeout``: its deadline is what stops the work.

    With ``stream`` the rows come as a :class:`~meshfabric.query.result.QueryStream` of Arrow
    record batches read from the engine as they are consumed (the same query up to its last
    step); the time limit and ``cancel`` hold until the stream ends, and closing it releases
    the query.

    >>> result = run_query("SELECT region, sum(amount) FROM sales.orders GROUP BY 1", catalog)  # doctest: +SKIP
    >>> result.arrow(), result.stats.rows_moved  # doctest: +SKIP
    """
    from meshfabric.connectors.base import Deadline
    from meshfabric.query.engine import execute, execute_stream
    from meshfabric.query.guard import guard
    from meshfabric.query.planner import plan

    deadline = Deadline(timeout) if timeout is not None else None
    if deadline is not None and cancel is not None:
        cancel.bind(deadline)
    start = time.perf_counter()
    guarded = guard(sql, catalog, limit=limit)
    the_plan = plan(_secured(guarded, views), catalog, limit=limit)
    run = execute_stream if stream else execute
    if deadline is None:
        return run(the_plan, catalog, planning_seconds=time.perf_counter() - start)
    try:
        return run(the_plan, catalog, planning_seconds=time.perf_counter() - start, deadline=deadline)
    except KeyboardInterrupt:
        # stop what runs in the sources and the engine, as a passed time limit would
        deadline.cancel("interrupted")
        from meshfabric.errors import QueryCancelled

        raise QueryCancelled("interrupted", "it ran") from None


def explain(sql: str, catalog: ProductCatalog, *, views: Views | None = None) -> Plan:
    """The plan of a query without running it; ``str(plan)`` prints what each source would be
    sent (columns, pushed and kept filters, the source SQL) and the query DuckDB would run.

    Nothing is executed (sources are only asked for their columns), so it takes no timeout."""
    from meshfabric.query.guard import guard
    from meshfabric.query.planner import plan, with_source_sql

    guarded = guard(sql, catalog)
    return with_source_sql(plan(_secured(guarded, views), catalog), catalog)


def _secured(guarded: GuardedQuery, views: Views | None) -> exp.Query:
    if views is None:
        return guarded.expression
    from meshfabric.query.secure import secure

    return secure(guarded.expression, views(guarded.products))
