"""Reading products' planner statistics from their sources into the store's cache.

The engine part of ``meshfabric.stats``: :func:`refresh_products` asks each product's connector
for ``statistics(port)`` — a few at a time, in daemon threads, so a source that hangs is left
behind rather than waited for — and writes every answer, or the reason there is none, in one
store transaction (``product_statistics``, keyed by product, with the fingerprint of the
output port the numbers describe). :func:`refresh_in_background` does that for statistics that
have grown older than :func:`max_age` when a query's catalog notices it
(``StoreCatalog.statistics``): one thread per store at a time, and never the query's.
No access decisions here: ``StatsService`` decides who may refresh and see what.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from meshfabric.errors import ConfigError

if TYPE_CHECKING:
    from meshfabric.catalog.read import ProductInfo
    from meshfabric.connectors.base import Connector
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.stats")

#: seconds after which statistics count as stale (``MESHFABRIC_STATS_MAX_AGE`` overrides)
DEFAULT_MAX_AGE = 24 * 3600.0
MAX_AGE_ENV = "MESHFABRIC_STATS_MAX_AGE"
#: sources read at once by one refresh
WORKERS = 8
#: a background refresh does not try a product again sooner than this after its last attempt
RETRY_AFTER = timedelta(minutes=15)

#: what one product's read gave: (statistics or None, why not, seconds)
Result = tuple[Any, str | None, float]


def utc(ts: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives naive ones back)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def reason(exc: BaseException) -> str:
    """An error as one line for the store and reports, with its hint."""
    text = str(exc).strip() or type(exc).__name__
    hint = getattr(exc, "hint", None)
    return (text + (f" ({hint})" if hint else ""))[:2000]


def max_age(*, strict: bool = True) -> timedelta:
    """How old statistics may get before they count as stale: ``MESHFABRIC_STATS_MAX_AGE``
    seconds, default a day. A value that is not a positive number raises ConfigError, or gives
    the default when not ``strict`` (the query path never fails on it)."""
    raw = os.environ.get(MAX_AGE_ENV, "").strip()
    if not raw:
        return timedelta(seconds=DEFAULT_MAX_AGE)
    try:
        seconds = float(raw)
        if not 0 < seconds < 10 * 365 * 86400:
            raise ValueError
    except ValueError:
        if not strict:
            return timedelta(seconds=DEFAULT_MAX_AGE)
        raise ConfigError(f"{MAX_AGE_ENV}={raw!r} is not a number of seconds greater than 0",
                          hint=f"e.g. {MAX_AGE_ENV}=86400 (a day), or unset it for the default") from None
    return timedelta(seconds=seconds)


def is_current(info: ProductInfo, fingerprint: str | None) -> bool:
    """Whether statistics taken for ``fingerprint`` describe the product's applied output port."""
    from meshfabric.connectors.statistics import port_fingerprint

    return fingerprint is not None and fingerprint == port_fingerprint(info.output, info.columns)


def read_all(connections: Callable[[str], Connector], targets: Sequence[ProductInfo], level: str,
             wait: float | None = None, progress: Callable[[str, int, int], None] | None = None,
             ) -> dict[str, Result]:
    """Each product's statistics from its source, :data:`WORKERS` at a time in daemon threads;
    after ``wait`` seconds (None: until all answered) what has not answered is left out."""
    from meshfabric.spec.models import OutputPort

    report = progress or (lambda what, done, total: None)
    work: queue.Queue[ProductInfo] = queue.Queue()
    for info in targets:
        work.put(info)
    results: dict[str, Result] = {}
    lock = threading.Lock()
    finished = threading.Event()
    if not targets:
        return results

    def worker() -> None:
        while True:
            try:
                info = work.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            stats, error = None, None
            try:
                port = OutputPort.model_validate(info.output)
                stats = connections(info.source).statistics(port, analyze=level)
            except Exception as exc:
                error = reason(exc)
            with lock:
                results[info.fqn] = (stats, error, time.monotonic() - started)
                done = len(results)
                if done == len(targets):
                    finished.set()
            report(f"read statistics of {info.fqn}", done, len(targets))

    report("reading statistics from the sources", 0, len(targets))
    for _ in range(min(WORKERS, len(targets))):
        threading.Thread(target=worker, name="mf-stats-read", daemon=True).start()
    finished.wait(wait)
    with lock:
        return dict(results)


def store_all(store: Store, targets: Sequence[ProductInfo], results: dict[str, Result], *,
              missing: str = "no answer from the source in time") -> None:
    """Every product's new statistics, or the reason there are none, in one transaction. A
    failure keeps the statistics a product had (in use while its port is unchanged)."""
    from meshfabric.connectors.statistics import encode, port_fingerprint
    from meshfabric.store.models_stats import ProductStatisticsRow as S

    now = datetime.now(UTC)
    with store.write() as s:
        for info in targets:
            stats, error, _ = results.get(info.fqn, (None, missing, 0.0))
            fingerprint = port_fingerprint(info.output, info.columns)
            row = s.get(S, info.fqn)
            if stats is not None:
                values = {"fingerprint": fingerprint, "row_count": stats.row_count, "statistics": encode(stats),
                          "origin": stats.origin[:200], "taken_at": stats.taken_at or now, "attempted_at": now,
                          "error": ""}
                if row is None:
                    s.add(S(product=info.fqn, **values))
                else:
                    for key, value in values.items():
                        setattr(row, key, value)
            elif row is None:
                s.add(S(product=info.fqn, fingerprint=fingerprint, row_count=None, statistics=None, origin="",
                        taken_at=None, attempted_at=now, error=(error or "")[:2000]))
            else:
                row.attempted_at, row.error = now, (error or "")[:2000]


def refresh_products(store: Store, connections: Callable[[str], Connector], targets: Sequence[ProductInfo],
                     level: str, *, wait: float | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> dict[str, Result]:
    """Read and store the statistics of ``targets``; what each read gave."""
    results = read_all(connections, targets, level, wait, progress)
    if targets:
        missing = f"no answer from the source within {wait:g} s" if wait else "not read"
        store_all(store, targets, results, missing=missing)
    return results


_RUNNING: dict[str, threading.Thread] = {}
_RUNNING_LOCK = threading.Lock()


def refresh_in_background(store: Store, connections: Callable[[str], Connector],
                          targets: Sequence[ProductInfo]) -> threading.Thread | None:
    """Refresh ``targets`` (no ANALYZE) in a daemon thread nobody waits for; None when a
    background refresh of this store is already running (it will be asked again later)."""
    if not targets:
        return None
    with _RUNNING_LOCK:
        running = _RUNNING.get(store.url)
        if running is not None and running.is_alive():
            return None

        def run() -> None:
            try:
                refresh_products(store, connections, list(targets), "never")
            except Exception as exc:
                log.warning("refreshing stale statistics failed: %s", reason(exc))

        thread = threading.Thread(target=run, name="mf-stats-refresh", daemon=True)
        _RUNNING[store.url] = thread
        thread.start()
        return thread


def due_in_background(info: ProductInfo, fingerprint: str | None, taken_at: datetime | None,
                      attempted_at: datetime | None, *, now: datetime, limit: timedelta) -> bool:
    """Whether a query's catalog should have a product's statistics refreshed behind it: they
    describe its port but are older than ``limit``, and no refresh was tried in
    :data:`RETRY_AFTER` (a source that keeps failing is not asked by every query)."""
    taken, tried = utc(taken_at), utc(attempted_at)
    if taken is None or now - taken <= limit or not is_current(info, fingerprint):
        return False
    return tried is None or now - tried > RETRY_AFTER
