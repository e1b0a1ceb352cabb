"""The durable event log: append in the writer's transaction, deliver to subscribers later.

Publishing is a row insert in the same transaction as the state change it describes (an
outbox), so an event exists exactly when its change does and publishing never waits for a
subscriber. Delivery reads the log from each subscriber's persisted offset, calls the handler,
retries failures with backoff and, when a handler keeps failing, records a dead letter and moves
on: delivery is at-least-once and in log order per subscriber.

With ``events: {backend: nats}`` in mesh.yaml the log is also relayed to NATS JetStream
(``events/nats.py``); subscribers and :meth:`EventLog.iter_new` then consume from JetStream
through durable consumers, with the same guarantees. The store log stays the default.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meshfabric.events.model import DomainEvent, matches
from meshfabric.store import Store
from meshfabric.store.models import DeadLetterRow, EventRow, SubscriberOffsetRow

if TYPE_CHECKING:
    from meshfabric.events.nats import JetStreamBus, RelayReport
    from meshfabric.spec.observe_models import EventsSpec

log = logging.getLogger("meshfabric.events")

T = TypeVar("T")


class _FromAccess:
    """The ``bus`` default of :class:`EventLog`: no settings given, read them from the access service's."""

    def __repr__(self) -> str:
        return "FROM_ACCESS"


FROM_ACCESS = _FromAccess()
#: how far a writer's clock may lag the NATS server's when following JetStream from a time
CLOCK_SKEW = timedelta(seconds=5)
Handler = Callable[[DomainEvent], Awaitable[None] | None]


def append(session: Session, event: DomainEvent) -> DomainEvent:
    """Add an event to the log inside the caller's (write) transaction."""
    row = EventRow(
        id=event.id,
        event_type=event.event_type,
        domain=event.domain,
        data=event.data,
        timestamp=_utc(event.timestamp),
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
    )
    session.add(row)
    session.flush()
    return _with_seq(event, row.seq)


def _utc(ts: datetime) -> datetime:
    """Timestamps are stored in UTC: SQLite keeps no offset, so a local time would shift."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion, also when called from code already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(coro))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="meshfabric-events") as pool:
        return pool.submit(asyncio.run, _await(coro)).result()


def _with_seq(event: DomainEvent, seq: int) -> DomainEvent:
    return DomainEvent(
        event.event_type, event.domain, event.data, event.id, event.timestamp,
        event.correlation_id, event.causation_id, seq,
    )


def _from_row(row: EventRow) -> DomainEvent:
    ts = row.timestamp if row.timestamp.tzinfo else row.timestamp.replace(tzinfo=UTC)
    return DomainEvent(
        row.event_type, row.domain, row.data, row.id, ts, row.correlation_id, row.causation_id, row.seq
    )


@dataclass
class Subscription:
    name: str
    pattern: str
    handler: Handler
    max_attempts: int = 3
    backoff: float = 0.1


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    per_subscriber: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadLetter:
    subscriber: str
    event: DomainEvent
    attempts: int
    error: str
    created_at: datetime


class EventLog:
    """The durable event log of a store. ``access`` (given by the wiring) decides who may use it,
    once per call, for the acting principal: reading, following, subscribing and dead letters
    need ``events.read``, publishing and retrying ``events.write`` (both a workspace admin).
    Services append the events of their own changes inside their transactions (:func:`append`)
    or, after deciding themselves, with :meth:`record`.

    ``bus``: the ``events:`` settings of mesh.yaml, given by the wiring (``Mesh`` passes them and
    hands over new ones with :meth:`use_bus` when an apply loads a new mesh.yaml; None: the store
    log only). A caller that gives none gets the fallback: they are read, on each use, from the
    workspace settings the access service holds, if any."""

    def __init__(self, store: Store, access: Any = None, *,
                 bus: EventsSpec | _FromAccess | None = FROM_ACCESS) -> None:
        self.store = store
        self.access = access
        self._bus_spec = bus
        self._bus: JetStreamBus | None = None
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stoppers: list[Callable[[], None]] = []

    def on_stop(self, stopper: Callable[[], None]) -> None:
        """Call ``stopper`` from :meth:`stop` (``Mesh.close``): a relay started beside this log."""
        with self._lock:
            self._stoppers.append(stopper)

    # -- the NATS backend -------------------------------------------------------------------
    def use_bus(self, bus: EventsSpec | None) -> None:
        """Use these ``events:`` settings from now on (None: the store log only). A JetStream
        connection made for other settings is closed at its next use and made anew."""
        self._bus_spec = bus

    @property
    def nats(self) -> EventsSpec | None:
        """The ``events:`` settings when they say ``backend: nats``, else None (the store log)."""
        spec = self._bus_spec
        if isinstance(spec, _FromAccess):
            mesh_spec = getattr(getattr(self.access, "settings", None), "spec", None)
            spec = getattr(mesh_spec, "events", None)
        return spec if spec is not None and getattr(spec, "backend", "store") == "nats" else None

    def _jetstream(self, spec: EventsSpec) -> JetStreamBus:
        from meshfabric.events.nats import JetStreamBus

        with self._lock:
            if self._bus is not None and self._bus.spec != spec:
                self._bus.close()
                self._bus = None
            if self._bus is None:
                self._bus = JetStreamBus(spec)
            return self._bus

    def relay(self, *, once: bool = False, every: float = 1.0, stop: threading.Event | None = None,
              user: str | None = None, **options: Any) -> RelayReport | None:
        """Relay the store log to JetStream (``events relay``; ``events.write``): one pass with
        ``once`` (returns what it did), else until ``stop`` is set. Fails with
        ``EventBusUnavailable`` when NATS cannot be reached at the start; later outages are
        retried with backoff."""
        from meshfabric.errors import ConfigError
        from meshfabric.events.nats import Relay

        self._decide(user, "events.write")
        spec = self.nats
        if spec is None:
            raise ConfigError("the event backend is the store log: there is nothing to relay",
                              hint="set `events: {backend: nats, url: nats://127.0.0.1:4222}` in mesh.yaml")
        relay = Relay(self.store, spec, **options)
        if once:
            return relay.run_once()
        _run(_probe(relay))  # unreachable at the start: a clear error instead of silent retries
        relay.run(stop or threading.Event(), every)
        return None

    # -- publishing -------------------------------------------------------------------------
    def publish(self, event: DomainEvent, *, user: str | None = None) -> DomainEvent:
        """Append an event of the caller's own (``events.write``)."""
        self._decide(user, "events.write")
        return self.record(event)

    def record(self, event: DomainEvent) -> DomainEvent:
        """Append ``event`` for a service that has already decided the change it describes."""
        with self.store.write() as session:
            return append(session, event)

    def _decide(self, user: str | None, action: str) -> None:
        if self.access is not None:
            self.access.decide(user, action)

    # -- reading and replay -----------------------------------------------------------------
    def list(
        self,
        *,
        event_type: str | None = None,
        domain: str | None = None,
        correlation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int | None = 100,
        newest_first: bool = False,
        user: str | None = None,
    ) -> list[DomainEvent]:
        """Events matching every given filter. ``event_type`` accepts ``family.*`` patterns."""
        self._decide(user, "events.read")
        return self._list(event_type=event_type, domain=domain, correlation_id=correlation_id, since=since,
                          until=until, after_seq=after_seq, limit=limit, newest_first=newest_first)

    def _list(self, *, event_type: str | None = None, domain: str | None = None, correlation_id: str | None = None,
              since: datetime | None = None, until: datetime | None = None, after_seq: int = 0,
              limit: int | None = 100, newest_first: bool = False) -> list[DomainEvent]:
        stmt = select(EventRow).where(EventRow.seq > after_seq)
        if event_type:
            if event_type.endswith(".*"):
                stmt = stmt.where(EventRow.event_type.startswith(event_type[:-1]))
            elif event_type != "*":
                stmt = stmt.where(EventRow.event_type == event_type)
        if domain:
            stmt = stmt.where(EventRow.domain == domain)
        if correlation_id:
            stmt = stmt.where(EventRow.correlation_id == correlation_id)
        if since:
            stmt = stmt.where(EventRow.timestamp >= _utc(since))
        if until:
            stmt = stmt.where(EventRow.timestamp < _utc(until))
        stmt = stmt.order_by(EventRow.seq.desc() if newest_first else EventRow.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.store.read() as session:
            return [_from_row(r) for r in session.scalars(stmt)]

    def replay(self, handler: Callable[[DomainEvent], Any], *, user: str | None = None, **filters: Any) -> int:
        """Feed every matching stored event, oldest first, to ``handler``; returns the count."""
        self._decide(user, "events.read")
        count = 0
        after = filters.pop("after_seq", 0)
        while True:
            batch = self._list(after_seq=after, limit=500, **filters)
            for event in batch:
                result = handler(event)
                if inspect.isawaitable(result):
                    _run(result)
                count += 1
            if len(batch) < 500:
                return count
            after = batch[-1].seq or after

    def last_seq(self) -> int:
        with self.store.read() as session:
            return session.scalar(select(func.max(EventRow.seq))) or 0

    def iter_new(self, after_seq: int, poll: float = 0.5, stop: threading.Event | None = None, *,
                 user: str | None = None) -> Iterator[DomainEvent]:
        """Follow the log (for ``events tail``): yields events as they are appended. With the NATS
        backend the events come from JetStream (see :meth:`_follow_nats`)."""
        self._decide(user, "events.read")
        stop = stop or threading.Event()
        spec = self.nats
        if spec is not None:
            yield from self._follow_nats(spec, after_seq, poll, stop)
            return
        while not stop.is_set():
            batch = self._list(after_seq=after_seq, limit=500)
            yield from batch
            if batch:
                after_seq = batch[-1].seq or after_seq
            else:
                stop.wait(poll)

    def _follow_nats(self, spec: EventsSpec, after_seq: int, poll: float,
                     stop: threading.Event) -> Iterator[DomainEvent]:
        """Events after store seq ``after_seq`` from an ordered JetStream consumer.

        Every event is published after its commit, so it reaches JetStream after its own
        timestamp: the consumer starts at the timestamp of the first wanted event (or now) less a
        clock-skew margin, and skips what it already yielded (a duplicate, or events at or before
        ``after_seq``) by the store seq in the message. A broken connection is reopened from there.
        """
        from meshfabric.events.nats import EventBusUnavailable

        bus = self._jetstream(spec)
        last = after_seq
        backoff = poll
        while not stop.is_set():
            first = self._list(after_seq=last, limit=1)
            start = (first[0].timestamp if first else datetime.now(UTC)) - CLOCK_SKEW
            try:
                sub = bus.call(bus.follow(start), timeout=30)
            except EventBusUnavailable:
                if last == after_seq:
                    raise  # unreachable from the start: say so (exit 2 in the CLI)
                log.warning("NATS at %s unreachable; following again in %.1fs", spec.url, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = poll
            try:
                while not stop.is_set():
                    event = bus.call(bus.next_event(sub, poll), timeout=poll + 30)
                    if event is not None and (event.seq or 0) > last:
                        last = event.seq or last
                        yield event
            except Exception as exc:  # the connection broke: reconnect and go on from `last`
                log.warning("following JetStream failed (%s); reconnecting", exc)
                bus.call(bus.reset(), timeout=10)
                continue
            finally:
                if bus._nc is not None:
                    bus.call(bus.unsubscribe(sub), timeout=10)

    # -- subscribers ------------------------------------------------------------------------
    def subscribe(
        self,
        event_type: str,
        handler: Handler,
        *,
        name: str | None = None,
        from_beginning: bool = False,
        max_attempts: int = 3,
        backoff: float = 0.1,
        start_seq: int | None = None,
        start_time: datetime | None = None,
        user: str | None = None,
    ) -> Subscription:
        """Register a handler (sync or async) for ``event_type`` (``*`` and ``family.*`` work).

        The subscriber's offset is stored under ``name`` (default: the handler's qualified name),
        so a restarted process resumes where it stopped. A new subscriber starts at the end of
        the log unless ``from_beginning``. With the NATS backend the offset is a durable JetStream
        consumer named after ``name``; a new one may also start at stream sequence ``start_seq``
        or at ``start_time`` (with the store log: ``start_seq`` is a log seq, ``start_time`` the
        first event at or after it).
        """
        self._decide(user, "events.read")
        name = name or f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"
        with self._lock:
            taken = self._subs.get(name)
        if taken is not None and taken.handler != handler:
            raise ValueError(
                f"subscriber name '{name}' is already used by another handler: pass name=... "
                "(offsets are kept per name, so two handlers must not share one)"
            )
        sub = Subscription(name, event_type, handler, max_attempts, backoff)
        spec = self.nats
        if spec is not None:
            bus = self._jetstream(spec)
            bus.call(bus.bind(name, event_type, from_beginning=from_beginning, start_seq=start_seq,
                              start_time=start_time), timeout=30)
            with self._lock:
                self._subs[name] = sub
            return sub
        with self.store.write() as session:
            if session.get(SubscriberOffsetRow, name) is None:
                if start_seq is not None:
                    start = max(start_seq - 1, 0)
                elif start_time is not None:
                    first = session.scalar(select(func.min(EventRow.seq)).where(EventRow.timestamp >= _utc(start_time)))
                    start = (first - 1) if first is not None else (session.scalar(select(func.max(EventRow.seq))) or 0)
                else:
                    start = 0 if from_beginning else (session.scalar(select(func.max(EventRow.seq))) or 0)
                session.add(SubscriberOffsetRow(subscriber=name, last_seq=start))
        with self._lock:
            self._subs[name] = sub
        return sub

    def unsubscribe(self, name: str) -> None:
        with self._lock:
            self._subs.pop(name, None)
            bus = self._bus
        if bus is not None:
            bus.call(bus.forget(name), timeout=10)

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs.values())

    def deliver(self) -> DeliveryReport:
        """Deliver every pending event to every registered subscriber (blocking). With the NATS
        backend: every message JetStream holds for them, handlers running on the bus's loop; an
        unreachable NATS is logged and delivers nothing (the next pass catches up)."""
        spec = self.nats
        if spec is None:
            return _run(self.adeliver())
        bus = self._jetstream(spec)
        with self._deliver_lock:  # one delivery at a time keeps each subscriber in order
            try:
                return bus.call(self._adeliver_nats(bus))
            except Exception as exc:
                # NATS unreachable or the connection broke: nothing is lost (the events wait in
                # JetStream, or in the store for the relay); this runs after every write of the
                # Mesh, which must not fail for it
                log.warning("event delivery from NATS at %s failed (%s); will retry", spec.url, exc)
                bus.call(bus.reset(), timeout=10)
                return DeliveryReport()
            except BaseException:
                bus.call(bus.reset(), timeout=10)
                raise

    async def _adeliver_nats(self, bus: JetStreamBus) -> DeliveryReport:
        report = DeliveryReport()
        for sub in self.subscriptions:
            delivered = 0

            async def handle(event: DomainEvent, sub: Subscription = sub) -> None:
                nonlocal delivered
                if matches(sub.pattern, event.event_type):
                    delivered += await self._handle(sub, event, report)

            await bus.consume(sub.name, sub.pattern, handle)
            report.per_subscriber[sub.name] = delivered
        return report

    async def _handle(self, sub: Subscription, event: DomainEvent, report: DeliveryReport) -> int:
        """Call ``sub`` with retries; a handler that keeps failing leaves a dead letter. 1 if delivered."""
        ok, attempts, error = await self._call(sub, event)
        report.retried += attempts - 1
        if ok:
            report.delivered += 1
            return 1
        report.dead_lettered += 1
        log.warning("subscriber %s gave up on event %s: %s", sub.name, event.id, error)
        with self.store.write() as session:
            taken = session.scalar(select(DeadLetterRow.id).where(
                DeadLetterRow.subscriber == sub.name, DeadLetterRow.event_id == event.id))
            if taken is None:  # a redelivery after a crash may fail again: one dead letter per event
                session.add(DeadLetterRow(subscriber=sub.name, event_seq=event.seq or 0, event_id=event.id,
                                          attempts=attempts, error=error))
        return 0

    async def adeliver(self) -> DeliveryReport:
        report = DeliveryReport()
        for sub in self.subscriptions:
            report.per_subscriber[sub.name] = await self._deliver_one(sub, report)
        return report

    async def _deliver_one(self, sub: Subscription, report: DeliveryReport) -> int:
        delivered = 0
        while True:
            with self.store.read() as session:
                offset_row = session.get(SubscriberOffsetRow, sub.name)
                offset = offset_row.last_seq if offset_row else 0
            batch = self._list(after_seq=offset, limit=200)
            if not batch:
                return delivered
            for event in batch:
                if matches(sub.pattern, event.event_type):
                    ok, attempts, error = await self._call(sub, event)
                    report.retried += attempts - 1
                    if ok:
                        delivered += 1
                        report.delivered += 1
                    else:
                        report.dead_lettered += 1
                        log.warning("subscriber %s gave up on event %s: %s", sub.name, event.id, error)
                        with self.store.write() as session:
                            session.add(DeadLetterRow(
                                subscriber=sub.name, event_seq=event.seq or 0, event_id=event.id,
                                attempts=attempts, error=error,
                            ))
                self._advance(sub.name, event.seq or 0)

    async def _call(self, sub: Subscription, event: DomainEvent) -> tuple[bool, int, str]:
        error = ""
        for attempt in range(1, sub.max_attempts + 1):
            try:
                result = sub.handler(event)
                if inspect.isawaitable(result):
                    await result
                return True, attempt, ""
            except Exception as exc:  # a subscriber's failure must never stop the log
                error = f"{exc.__class__.__name__}: {exc}"
                if attempt < sub.max_attempts:
                    await asyncio.sleep(sub.backoff * 2 ** (attempt - 1))
        return False, sub.max_attempts, error

    def _advance(self, name: str, seq: int) -> None:
        with self.store.write() as session:
            row = session.get(SubscriberOffsetRow, name)
            if row is None:
                session.add(SubscriberOffsetRow(subscriber=name, last_seq=seq))
            elif seq > row.last_seq:
                row.last_seq = seq
                row.updated_at = datetime.now(UTC)

    # -- dead letters -----------------------------------------------------------------------
    def dead_letters(self, subscriber: str | None = None, *, include_replayed: bool = False,
                     user: str | None = None) -> list[DeadLetter]:
        self._decide(user, "events.read")
        return self._dead_letters(subscriber, include_replayed=include_replayed)

    def _dead_letters(self, subscriber: str | None = None, *, include_replayed: bool = False) -> list[DeadLetter]:
        stmt = select(DeadLetterRow, EventRow).join(EventRow, EventRow.id == DeadLetterRow.event_id)
        if subscriber:
            stmt = stmt.where(DeadLetterRow.subscriber == subscriber)
        if not include_replayed:
            stmt = stmt.where(DeadLetterRow.replayed_at.is_(None))
        with self.store.read() as session:
            return [
                DeadLetter(d.subscriber, _from_row(e), d.attempts, d.error, d.created_at)
                for d, e in session.execute(stmt.order_by(DeadLetterRow.id))
            ]

    def retry_dead_letters(self, subscriber: str, *, user: str | None = None) -> int:
        """Hand each dead-lettered event to the (fixed) subscriber again; returns successes."""
        self._decide(user, "events.write")
        sub = self._subs.get(subscriber)
        if sub is None:
            raise KeyError(f"subscriber '{subscriber}' is not registered in this process")
        ok_count = 0
        for dl in self._dead_letters(subscriber):
            ok, _, _ = _run(self._call(sub, dl.event))
            if ok:
                ok_count += 1
                with self.store.write() as session:
                    row = session.scalar(select(DeadLetterRow).where(
                        DeadLetterRow.subscriber == subscriber, DeadLetterRow.event_id == dl.event.id))
                    if row is not None:
                        row.replayed_at = datetime.now(UTC)
        return ok_count

    # -- background dispatch ----------------------------------------------------------------
    def start(self, poll: float = 0.5) -> None:
        """Deliver in a background thread until :meth:`stop` (used by ``meshfabric serve``)."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.deliver()
                except Exception:  # keep dispatching; the log is durable and offsets are kept
                    log.exception("event delivery failed; will retry")
                self._stop.wait(poll)

        self._thread = threading.Thread(target=run, name="meshfabric-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            stoppers, self._stoppers = self._stoppers, []
        for stopper in stoppers:
            stopper()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            bus, self._bus = self._bus, None
        if bus is not None:
            bus.close()


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def _probe(relay: Any) -> None:
    nc, _ = await relay.open()
    from meshfabric.events.nats import _close

    await _close(nc)
