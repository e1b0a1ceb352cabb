"""``mesh.stats``: the planner statistics of products, refreshed from their sources and cached.

Each product's :class:`~meshfabric.connectors.base.TableStatistics` come from its connector's
``statistics(port)`` — the source's own catalog, never a scan of big data — and are stored in
``product_statistics`` with the fingerprint of the output port they describe. They are
refreshed

* after an apply, for the products it created or changed and those without statistics
  (``after_apply``: after the commit; a source that does not answer is recorded on the
  product's row and never fails the apply);
* on ``meshfabric stats refresh [PRODUCT…] [--analyze]`` (:meth:`StatsService.refresh`);
* when older than :attr:`StatsService.max_age` (``MESHFABRIC_STATS_MAX_AGE`` seconds, default
  24 h), by :meth:`StatsService.refresh_stale` in a background thread, or periodically by
  :meth:`StatsService.start` in a long-running process — never on the query path, which only
  reads the cache (``StoreCatalog.statistics``).

Access: statistics are measured from data. :meth:`StatsService.show` needs ``query`` on the
product and shows numbers only where the principal could compute them itself: nothing of a
product it sees through a row filter, nothing of a column it sees masked. Refreshing (which may
run the source's ANALYZE) needs ``admin`` on the product: its owner, a domain owner or a
workspace admin. The planner reads statistics without a principal; they steer plans, never
answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from meshfabric.catalog.statistics import is_current, reason, refresh_products, utc
from meshfabric.errors import AccessDenied, NotFound

if TYPE_CHECKING:
    from meshfabric.access.service import AccessService
    from meshfabric.catalog.apply import ApplyResult
    from meshfabric.catalog.read import ProductInfo
    from meshfabric.connectors.base import Connector, TableStatistics
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.stats")

#: seconds an apply waits for its products' statistics before recording the rest as not answered
APPLY_WAIT = 30.0


@dataclass
class Outcome:
    """What one refresh did for one product."""

    product: str
    #: ok | error | skipped
    status: str
    row_count: int | None = None
    columns: int = 0
    origin: str = ""
    seconds: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "status": self.status, "row_count": self.row_count,
                "columns": self.columns, "origin": self.origin, "seconds": round(self.seconds, 3),
                "error": self.error}


@dataclass
class RefreshReport:
    """Every product a refresh looked at, and how far each source's ANALYZE was allowed to go."""

    analyze: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"analyze": self.analyze, "refreshed": self.count("ok"), "failed": self.count("error"),
                "skipped": self.count("skipped"), "products": [o.to_dict() for o in self.outcomes]}


@dataclass
class ColumnView:
    """One column's statistics as a principal may see them (None: unknown or withheld)."""

    name: str
    type: str
    distinct: float | None = None
    null_fraction: float | None = None
    min: Any = None
    max: Any = None
    histogram_size: int | None = None
    avg_width: float | None = None
    #: why the numbers are withheld ("" when they are not)
    withheld: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "distinct": self.distinct, "null_fraction": self.null_fraction,
                "min": self.min, "max": self.max, "histogram_size": self.histogram_size,
                "avg_width": self.avg_width, "withheld": self.withheld or None}


@dataclass
class StatsView:
    """``stats show``: a product's cached statistics for one principal."""

    product: str
    #: the statistics describe the applied output port (False: taken before an apply changed it)
    current: bool
    stale: bool
    row_count: int | None = None
    exact: bool = False
    size_bytes: int | None = None
    origin: str = ""
    taken_at: datetime | None = None
    attempted_at: datetime | None = None
    error: str = ""
    withheld: str = ""
    columns: list[ColumnView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product, "current": self.current, "stale": self.stale, "row_count": self.row_count,
            "exact": self.exact, "size_bytes": self.size_bytes, "origin": self.origin,
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "attempted_at": self.attempted_at.isoformat() if self.attempted_at else None,
            "error": self.error or None, "withheld": self.withheld or None,
            "columns": [c.to_dict() for c in self.columns],
        }


class StatsService:
    """Refresh, read and show the statistics cache (``mesh.stats``)."""

    def __init__(self, store: Store, connections: Callable[[str], Connector], access: AccessService, *,
                 max_age: float | None = None) -> None:
        self.store = store
        self.connections = connections
        self.access = access
        self._max_age = max_age
        self._background: threading.Thread | None = None
        self._guard = threading.Lock()

    @property
    def max_age(self) -> timedelta:
        """How old statistics may get before :meth:`stale` names them (``MESHFABRIC_STATS_MAX_AGE``)."""
        from meshfabric.catalog.statistics import max_age

        return timedelta(seconds=self._max_age) if self._max_age is not None else max_age()

    # -- reading (no principal: the planner's view) ---------------------------------------------

    def _rows(self, fqns: Sequence[str] | None = None) -> dict[str, Any]:
        from sqlalchemy import select

        from meshfabric.store.models_stats import ProductStatisticsRow as S

        stmt = select(S)
        if fqns is not None:
            stmt = stmt.where(S.product.in_(list(fqns)))
        with self.store.read() as s:
            return {r.product: r for r in s.scalars(stmt)}

    @staticmethod
    def _current(info: ProductInfo, row: Any) -> bool:
        return row is not None and is_current(info, row.fingerprint)

    def get(self, fqn: str) -> TableStatistics | None:
        """The cached statistics of an applied product, None when there are none or they were
        taken for another output port. No access check: for the planner and tests."""
        from meshfabric.catalog.read import get_product
        from meshfabric.connectors.statistics import decode

        try:
            info = get_product(self.store, fqn)
        except NotFound:
            return None
        row = self._rows([info.fqn]).get(info.fqn)
        if row is None or row.statistics is None or not self._current(info, row):
            return None
        return decode(row.statistics)

    def stale(self, *, max_age: timedelta | float | None = None, products: Sequence[str] | None = None) -> list[str]:
        """Products (not retired) whose statistics are missing, were taken for another output
        port, or are older than ``max_age`` (default :attr:`max_age`)."""
        from meshfabric.catalog.read import list_products

        limit = self.max_age if max_age is None else (
            max_age if isinstance(max_age, timedelta) else timedelta(seconds=float(max_age)))
        infos = [p for p in list_products(self.store) if p.status != "retired"]
        if products is not None:
            wanted = {p.lower() for p in products}
            infos = [p for p in infos if p.fqn.lower() in wanted]
        rows = self._rows()
        now = datetime.now(UTC)
        out = []
        for info in infos:
            row = rows.get(info.fqn)
            taken = utc(row.taken_at) if row is not None else None
            if row is None or row.statistics is None or not self._current(info, row) or taken is None \
                    or now - taken > limit:
                out.append(info.fqn)
        return out

    # -- refreshing -----------------------------------------------------------------------------

    def refresh(self, products: Sequence[str] | None = None, *, user: str | None = None, analyze: bool = False,
                stale_only: bool = False,
                progress: Callable[[str, int, int], None] | None = None) -> RefreshReport:
        """Read the statistics of ``products`` (default: every product the principal holds
        ``admin`` on) from their sources, concurrently, and store them in one transaction.

        Without ``analyze`` a source's own ANALYZE runs only where it keeps no statistics at all
        and that is cheap (a PostgreSQL table never analysed, a MariaDB table of at most a
        million rows without column statistics); with it, for every product (PostgreSQL
        ``ANALYZE``, MariaDB ``ANALYZE TABLE … PERSISTENT FOR ALL``, SQLite ``ANALYZE``).
        A named product the principal may not refresh raises; a source that fails is reported
        in the product's outcome and recorded, the other products are stored. ``stale_only``:
        only those :meth:`stale` names (for a cron line: ``stats refresh --stale``)."""
        from meshfabric.catalog.read import list_products

        level = "always" if analyze else "missing"
        skipped: list[Outcome] = []
        if products:
            fqns: list[str] = []
            for name in products:
                decision = self.access.decide(user, "admin", name)
                fqn = decision.product or name
                if fqn not in fqns:
                    fqns.append(fqn)
        else:
            fqns = []
            for info in list_products(self.store):
                if info.status == "retired":
                    continue
                try:
                    self.access.decide(user, "admin", info.fqn, audit=False)
                except NotFound:
                    continue  # not even discoverable: not named at all
                except AccessDenied:
                    skipped.append(Outcome(info.fqn, "skipped", error="needs admin on the product (its owner)"))
                    continue
                fqns.append(info.fqn)
        if stale_only:
            due = set(self.stale())
            fqns = [f for f in fqns if f in due]
        report = self._refresh(fqns, level, progress=progress)
        report.outcomes.extend(skipped)
        return report

    def after_apply(self, result: ApplyResult) -> RefreshReport | None:
        """After an apply's commit: statistics of the products it created or changed, and of
        those that have none. Never raises — an apply is done once committed; what failed is
        recorded on the products' rows (``stats show`` says it)."""
        try:
            if not result.applied:
                return None
            changed = [c.name for c in result.changes if c.kind == "product" and c.action in ("create", "update")]
            deleted = [c.name for c in result.changes if c.kind == "product" and c.action == "delete"]
            if deleted:
                self._forget(deleted)
            missing = self.stale(max_age=timedelta.max)
            fqns = list(dict.fromkeys([*changed, *missing]))
            if not fqns:
                return None
            return self._refresh(fqns, "never", wait=APPLY_WAIT)
        except Exception as exc:
            log.warning("statistics were not refreshed after the apply: %s", reason(exc))
            return None

    def _forget(self, fqns: Sequence[str]) -> None:
        """Drop the statistics of products an apply deleted."""
        from sqlalchemy import delete

        from meshfabric.store.models_stats import ProductStatisticsRow as S

        with self.store.write() as s:
            s.execute(delete(S).where(S.product.in_(list(fqns))))

    def refresh_stale(self, *, background: bool = True) -> RefreshReport | threading.Thread | None:
        """Refresh the statistics :meth:`stale` names (no ANALYZE). In the background by
        default: one daemon thread at a time, which the caller never waits for."""
        def run() -> RefreshReport | None:
            try:
                fqns = self.stale()
                return self._refresh(fqns, "never") if fqns else None
            except Exception as exc:
                log.warning("refreshing stale statistics failed: %s", reason(exc))
                return None

        if not background:
            return run()
        with self._guard:
            if self._background is not None and self._background.is_alive():
                return self._background
            self._background = threading.Thread(target=run, name="mf-stats-refresh", daemon=True)
            self._background.start()
            return self._background

    def start(self, every: float = 3600.0) -> Callable[[], None]:
        """Look for stale statistics now and every ``every`` seconds in a daemon thread (for
        ``serve`` and other long-running processes); returns the function that stops it."""
        stop = threading.Event()

        def loop() -> None:
            while True:
                self.refresh_stale(background=False)
                if stop.wait(every):
                    return

        thread = threading.Thread(target=loop, name="mf-stats-scheduler", daemon=True)
        thread.start()
        return stop.set

    def _refresh(self, fqns: Sequence[str], level: str, *, wait: float | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> RefreshReport:
        from meshfabric.catalog.read import list_products

        report = RefreshReport(level)
        infos = {p.fqn: p for p in list_products(self.store)}
        targets = [infos[f] for f in fqns if f in infos]
        results = refresh_products(self.store, self.connections, targets, level, wait=wait, progress=progress)
        for info in targets:
            stats, error, seconds = results.get(info.fqn, (None, f"no answer from source '{info.source}' in time",
                                                           0.0))
            if stats is not None:
                report.outcomes.append(Outcome(info.fqn, "ok", stats.row_count, len(stats.columns), stats.origin,
                                               seconds))
            else:
                report.outcomes.append(Outcome(info.fqn, "error", seconds=seconds, error=error or ""))
        return report

    # -- showing (a principal's view) -----------------------------------------------------------

    def show(self, product: str, *, user: str | None = None) -> StatsView:
        """A product's cached statistics as ``user`` may see them (``query`` on the product):
        the row count and column numbers only where it could compute them through a query —
        none under a row filter, none of a column it sees masked."""
        from meshfabric.catalog.read import get_product
        from meshfabric.connectors.statistics import decode

        decision = self.access.decide(user, "query", product)
        info = get_product(self.store, decision.product or product)
        row = self._rows([info.fqn]).get(info.fqn)
        stats = decode(row.statistics) if row is not None and row.statistics is not None else None
        taken = utc(row.taken_at) if row is not None else None
        current = self._current(info, row)
        view = StatsView(
            info.fqn, current=current and stats is not None,
            stale=stats is None or not current or taken is None or datetime.now(UTC) - taken > self.max_age,
            origin=stats.origin if stats else "", taken_at=taken,
            attempted_at=utc(row.attempted_at) if row is not None else None, error=row.error if row else "",
        )
        table_visible = decision.sees_values([])
        if stats is not None and table_visible:
            view.row_count, view.exact, view.size_bytes = stats.row_count, stats.exact, stats.size_bytes
        elif stats is not None:
            view.withheld = "a row filter applies to you on this product: its statistics count rows you do not see"
        by_name = {k.lower(): v for k, v in (stats.columns if stats else {}).items()}
        masked = decision.masked_columns
        for col in info.columns:
            name = str(col["name"])
            cv = ColumnView(name, str(col.get("type", "")))
            found = by_name.get(name.lower())
            if not table_visible:
                cv.withheld = "row filter"
            elif name.lower() in masked or not decision.sees_values([name]):
                cv.withheld = "masked"
            elif found is not None:
                cv.distinct, cv.null_fraction, cv.avg_width = found.distinct, found.null_fraction, found.avg_width
                cv.min, cv.max = found.min, found.max
                cv.histogram_size = len(found.histogram) if found.histogram is not None else None
            view.columns.append(cv)
        return view
