"""The scheduler: due probes, quality runs and SLO evaluations, never run twice at once.

Every product that is not retired has three tasks, each due once per the product's ``every``
(``slos.every``, default 5 min): ``probe`` (:mod:`.probes`), ``quality`` (its quality rules,
when it has any) and ``slo`` (evaluation, alerts, routing). A tick runs what is due in that
order, so an evaluation sees the points its probe just wrote.

**Leases.** Before running a task, a process takes the row (product, task) of
``observe_leases`` with one conditional statement inside a store write transaction:

* no row yet → INSERT it (a concurrent INSERT of the same key fails on the primary key: that
  process lost);
* else ``UPDATE … SET holder = me, expires_at = now + ttl WHERE product = ? AND task = ? AND
  expires_at <= now AND (last_run_at IS NULL OR last_run_at <= now - every)`` — one row changed
  means this process holds it.

After the run the holder records ``last_run_at`` (the time the run started), the outcome and
frees the lease (``expires_at = now``), only ``WHERE holder = me``. A process that dies while
holding a lease leaves it to expire after ``ttl``; the task then runs again elsewhere. So
several ``meshfabric observe run`` / ``serve`` processes on one store (SQLite or PostgreSQL)
run each check once per interval between them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError

if TYPE_CHECKING:
    from meshfabric.observe.service import ObserveService
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.observe.scheduler")

TASKS = ("probe", "quality", "slo")
#: how often metric retention and downsampling run (one process at a time, under a lease)
COMPACT_EVERY = timedelta(hours=1)
#: a lease not released within this time is taken to belong to a dead process
DEFAULT_TTL = timedelta(minutes=10)


def holder_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def take_lease(store: Store, product: str, task: str, holder: str, *, now: datetime, every: timedelta,
               ttl: timedelta = DEFAULT_TTL) -> bool:
    """Take the (product, task) lease when the task is due and nobody holds it; True when taken."""
    from meshfabric.store.models_observe import ObserveLeaseRow as L

    now = _utc(now)
    try:
        with store.write() as s:
            found = s.get(L, (product, task))
            if found is None:
                s.add(L(product=product, task=task, holder=holder, expires_at=now + ttl, last_run_at=None,
                        last_status="", last_error=""))
                s.flush()
                return True
            result = s.execute(
                update(L).where(
                    L.product == product, L.task == task, L.expires_at <= now,
                    or_(L.last_run_at.is_(None), L.last_run_at <= now - every),
                ).values(holder=holder, expires_at=now + ttl).execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)
    except IntegrityError:
        return False  # another process inserted the row first: it holds the lease


def release_lease(store: Store, product: str, task: str, holder: str, *, started: datetime, status: str,
                  error: str = "", now: datetime | None = None) -> bool:
    """Record the run and free the lease, if this process still holds it."""
    from meshfabric.store.models_observe import ObserveLeaseRow as L

    end = _utc(now or datetime.now(UTC))
    with store.write() as s:
        result = s.execute(
            update(L).where(and_(L.product == product, L.task == task, L.holder == holder))
            .values(last_run_at=_utc(started), last_status=status, last_error=error[:2000], expires_at=end)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _may_be_due(lease: tuple[datetime, datetime | None], now: datetime, every: timedelta) -> bool:
    """What the conditional UPDATE of :func:`take_lease` would accept, judged from a read (the
    UPDATE still decides: this only spares write transactions for tasks surely not due)."""
    expires_at, last_run_at = lease
    return expires_at <= now and (last_run_at is None or last_run_at <= now - every)


@dataclass
class TickReport:
    """What one tick ran: (product, task, status) per task run, and the alerts it notified."""

    ran: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ran": [{"product": p, "task": t, "status": s} for p, t, s in self.ran], "skipped": self.skipped,
                "alerts": self.alerts}


class Scheduler:
    """Runs due checks of every product on one store; ``holder`` names this process."""

    def __init__(self, service: ObserveService, *, holder: str | None = None, ttl: timedelta = DEFAULT_TTL,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.service = service
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.clock = clock or service.clock

    def tick(self) -> TickReport:
        """Run every task that is due now (one pass)."""
        report = TickReport()
        leases = self._leases()
        for fqn, (status, doc) in self.service.specs().items():
            if status == "retired":
                continue
            try:
                _, every = self.service.objectives(fqn, doc)
            except Exception:
                log.exception("cannot read the SLOs of %s", fqn)
                continue
            for task in TASKS:
                if task == "quality" and (self.service.quality is None or not doc.get("quality")):
                    continue
                started = _utc(self.clock())
                known = leases.get((fqn, task))
                if known is not None and not _may_be_due(known, started, every):
                    report.skipped += 1  # read once per tick: no write transaction for what is not due
                    continue
                if not take_lease(self.service.store, fqn, task, self.holder, now=started, every=every,
                                  ttl=self.ttl):
                    report.skipped += 1
                    continue
                status, error = "ok", ""
                try:
                    self._run(fqn, task, report)
                except Exception as exc:  # a failing check is recorded; the others still run
                    from meshfabric.errors import MeshfabricError

                    status = "error"
                    error = exc.message if isinstance(exc, MeshfabricError) else f"{type(exc).__name__}: {exc}"
                    log.warning("%s of %s failed: %s", task, fqn, error)
                finally:
                    release_lease(self.service.store, fqn, task, self.holder, started=started, status=status,
                                  error=error, now=_utc(self.clock()))
                report.ran.append((fqn, task, status))
        self._compact(leases, report)
        return report

    def _compact(self, leases: dict[tuple[str, str], tuple[datetime, datetime | None]], report: TickReport) -> None:
        """Hourly, under a workspace lease: metric retention and downsampling
        (:func:`meshfabric.observe.metrics.compact`), from the previous run's time on."""
        from meshfabric.observe.metrics import compact

        started = _utc(self.clock())
        known = leases.get(("*", "compact"))
        if known is not None and not _may_be_due(known, started, COMPACT_EVERY):
            return
        if not take_lease(self.service.store, "*", "compact", self.holder, now=started, every=COMPACT_EVERY,
                          ttl=self.ttl):
            return
        status, error = "ok", ""
        try:
            spec = self.service.settings.spec
            if spec is not None:
                since = known[1] - COMPACT_EVERY if known is not None and known[1] is not None else None
                compact(self.service.store, spec.observability, started, since=since)
        except Exception as exc:  # recorded on the lease; the next hour tries again
            status, error = "error", f"{type(exc).__name__}: {exc}"
            log.warning("metric compaction failed: %s", error)
        finally:
            release_lease(self.service.store, "*", "compact", self.holder, started=started, status=status,
                          error=error, now=_utc(self.clock()))
        report.ran.append(("*", "compact", status))

    def _leases(self) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
        from sqlalchemy import select

        from meshfabric.store.models_observe import ObserveLeaseRow as L

        with self.service.store.read() as s:
            return {(p, t): (_utc(e), _utc(r) if r is not None else None)
                    for p, t, e, r in s.execute(select(L.product, L.task, L.expires_at, L.last_run_at))}

    def _run(self, fqn: str, task: str, report: TickReport) -> None:
        if task == "probe":
            self.service.run_probe(fqn)
        elif task == "quality":
            assert self.service.quality is not None
            self.service.quality.run(fqn)
        else:
            checked = self.service.check(fqn)
            report.alerts += [{"alert_id": a.id, "product": a.product, "detector": a.detector,
                               "severity": a.severity, "reason": reason} for a, reason in checked.notified]

    def run(self, every: timedelta, stop: threading.Event, *, once: bool = False,
            on_tick: Callable[[TickReport], None] | None = None) -> None:
        """Tick every ``every`` until ``stop`` is set (or once)."""
        while not stop.is_set():
            try:
                report = self.tick()
                if on_tick is not None:
                    on_tick(report)
            except Exception:
                log.exception("an observability tick failed")
            if once:
                return
            stop.wait(max(1.0, every.total_seconds()))


def start_scheduler(mesh: Any, *, every: timedelta = timedelta(minutes=1)) -> Callable[[], None]:
    """Run the scheduler of ``mesh`` in a daemon thread (for ``serve``); returns ``stop()``,
    which ends the thread after its current tick."""
    scheduler = Scheduler(mesh.observe)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(every, stop), name="meshfabric-observe", daemon=True)
    thread.start()

    def stop_scheduler() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_scheduler
