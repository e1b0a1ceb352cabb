"""How products are used: query counts, errors, principals and latency per hour, computed from
the audit log — the row every query leaves in ``access_audit`` (principal, action ``query``,
resource = the products it referenced, comma-separated and lower-case, decision, latency_ms,
rows, at), allowed or not, with its latency also when it failed.

A query *errs* when it returned no result: refused (``denied``: an access refusal, SQL the
guard refused, a timeout) or failed (``error``: a source or engine failure). Latency
percentiles are over the queries that returned a result. A query over several products counts
once for each.

These are the functions the domain-health endpoint calls; each is one aggregate SQL over the
audit log's time index, bounded by ``since``/``until``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from meshfabric.observe.metrics import hour_of, like_escape, utc

if TYPE_CHECKING:
    from meshfabric.store import Store

#: what the query path audits a query as
QUERY_ACTION = "query"


def hour_bucket(store: Store, column: Any) -> Any:
    """SQL text ``YYYY-MM-DD HH`` (UTC) of a timestamp column."""
    from sqlalchemy import func, literal_column

    if store.is_sqlite:
        return func.substr(column, 1, 13)
    return func.to_char(column.op("AT TIME ZONE")(literal_column("'UTC'")), "YYYY-MM-DD HH24")


def parse_hour(text: str) -> datetime:
    return datetime.strptime(str(text)[:13], "%Y-%m-%d %H").replace(tzinfo=UTC)


def resource_filter(column: Any, *, domain: str | None = None, product: str | None = None) -> Any:
    """Audit rows whose resource names ``product`` (or any product of ``domain``)."""
    from sqlalchemy import and_, or_, true

    conditions = []
    if product is not None:
        p = like_escape(product.lower())
        conditions.append(or_(column == product.lower(), column.like(p + ",%", escape="\\"),
                              column.like("%," + p, escape="\\"), column.like("%," + p + ",%", escape="\\")))
    if domain is not None:
        d = like_escape(domain.lower() + ".")
        conditions.append(or_(column.like(d + "%", escape="\\"), column.like("%," + d + "%", escape="\\")))
    return and_(*conditions) if conditions else true()


def _window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    since, until = utc(since), utc(until)
    if until <= since:
        raise ValueError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    return since, until


def usage_by_hour(store: Store, *, domain: str | None = None, product: str | None = None, since: datetime,
                  until: datetime) -> list[dict[str, Any]]:
    """Queries per UTC hour in ``[since, until)`` over ``product`` (or any product of ``domain``,
    or all): every hour of the range, oldest first, as ``{"hour": ISO-8601, "queries", "errors",
    "principals": distinct principals, "by_principal": {name: {"queries", "errors"}}}``."""
    from sqlalchemy import func, select

    from meshfabric.store.models_access import AuditRow as A

    since, until = _window(since, until)
    hour = hour_bucket(store, A.at).label("hour")
    stmt = (select(hour, A.principal, A.decision, func.count().label("n"))
            .where(A.action == QUERY_ACTION, A.at >= since, A.at < until,
                   resource_filter(A.resource, domain=domain, product=product))
            .group_by(hour, A.principal, A.decision))
    hours: dict[datetime, dict[str, Any]] = {}
    at = hour_of(since)
    while at < until:
        hours[at] = {"hour": at.isoformat(), "queries": 0, "errors": 0, "principals": 0, "by_principal": {}}
        at += timedelta(hours=1)
    with store.read() as s:
        for r in s.execute(stmt):
            entry = hours.get(parse_hour(r.hour))
            if entry is None:
                continue
            who = entry["by_principal"].setdefault(r.principal, {"queries": 0, "errors": 0})
            n = int(r.n)
            entry["queries"] += n
            who["queries"] += n
            if r.decision != "allowed":
                entry["errors"] += n
                who["errors"] += n
    for entry in hours.values():
        entry["principals"] = len(entry["by_principal"])
    return list(hours.values())


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..1) of ascending values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def query_performance(store: Store, *, domain: str | None = None, product: str | None = None, since: datetime,
                      until: datetime) -> dict[str, Any]:
    """Query performance over ``[since, until)``: ``p50_ms`` and ``p95_ms`` (nearest rank, over
    queries that returned a result; None without any), ``throughput_per_hour`` (queries per hour
    of the range), ``peak_per_hour``, ``queries``, ``errors`` and ``error_rate`` (None without
    queries)."""
    from sqlalchemy import select

    from meshfabric.store.models_access import AuditRow as A

    since, until = _window(since, until)
    hour = hour_bucket(store, A.at).label("hour")
    stmt = (select(hour, A.decision, A.latency_ms)
            .where(A.action == QUERY_ACTION, A.at >= since, A.at < until,
                   resource_filter(A.resource, domain=domain, product=product)))
    latencies: list[float] = []
    per_hour: dict[str, int] = {}
    queries = errors = 0
    with store.read() as s:
        for r in s.execute(stmt):
            queries += 1
            per_hour[r.hour] = per_hour.get(r.hour, 0) + 1
            if r.decision != "allowed":
                errors += 1
            elif r.latency_ms is not None:
                latencies.append(float(r.latency_ms))
    latencies.sort()
    hours = (until - since).total_seconds() / 3600
    return {"queries": queries, "errors": errors, "error_rate": errors / queries if queries else None,
            "p50_ms": percentile(latencies, 0.50), "p95_ms": percentile(latencies, 0.95),
            "throughput_per_hour": queries / hours, "peak_per_hour": max(per_hour.values(), default=0),
            "since": since.isoformat(), "until": until.isoformat()}
