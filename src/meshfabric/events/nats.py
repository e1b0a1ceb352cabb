"""Domain events on NATS JetStream: the outbox relay and the JetStream side of subscribers.

The store's ``events`` table stays the source of truth (an outbox written in the same transaction
as the change). :class:`Relay` reads it after its persisted offset (the ``subscriber_offsets`` row
``meshfabric.nats``), publishes each event to ``<prefix>.<domain or _>.<event type tokens>`` with
the event id as ``Nats-Msg-Id``, waits for every JetStream ack of a batch and only then advances
the offset. A crash between publishing and the offset commit republishes the batch, and JetStream
drops the copies by message id inside the stream's duplicate window: never a gap, at most a
duplicate (outside the window). One relay per store publishes at a time (a lease row, see
:class:`Relay`); the others stand by.

:class:`JetStreamBus` is what :class:`~meshfabric.events.log.EventLog` consumes through when
``events.backend`` is ``nats``: durable pull consumers named per subscriber, an ordered consumer
for ``events tail``. nats-py is asyncio; it runs on a private event loop in a thread of its own,
and ``nats`` is imported only there, so ``import meshfabric`` does not load it.

See docs/EVENTS.md for subjects, guarantees and failure modes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import select, update

from meshfabric.errors import ConfigError, MeshfabricError
from meshfabric.events.model import DomainEvent
from meshfabric.store.models import EventRow, SubscriberOffsetRow

if TYPE_CHECKING:
    from meshfabric.spec.observe_models import EventsSpec
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.events.nats")
T = TypeVar("T")

#: the ``subscriber_offsets`` row holding the relay's offset (the last store seq JetStream acked)
RELAY_OFFSET = "meshfabric.nats"
#: the ``subscriber_offsets`` row used as the relay lease: last_seq = holder id, updated_at = renewal
RELAY_LEASE = "meshfabric.nats#lease"
#: JetStream's de-duplication window for a stream the relay creates (the server default, 2 min)
DUPLICATE_WINDOW = 120.0
#: header carrying the event's position in the store log
SEQ_HEADER = "Meshfabric-Seq"

_BAD = re.compile(r"[\s*>.\x00-\x1f\x7f]+")
_DURABLE_BAD = re.compile(r"[^A-Za-z0-9_-]+")


class EventBusUnavailable(MeshfabricError):
    """NATS (or its JetStream) cannot be reached or refuses what the relay needs. Names the URL
    and the fix; nothing is lost: the store keeps every event and the relay catches up later."""

    title = "event bus unavailable"
    #: the bus, not the request, is at fault: the service cannot answer until NATS is back
    http_status = 503


# -- subjects and payloads ------------------------------------------------------------------------
def token(text: str | None) -> str:
    """One subject token: whitespace, ``*``, ``>``, ``.`` and control characters become ``_``;
    an empty or missing value is ``_``."""
    cleaned = _BAD.sub("_", text or "")
    return cleaned or "_"


def subject_for(prefix: str, domain: str | None, event_type: str) -> str:
    """``<prefix>.<domain or _>.<event type>``; the dots of an event type stay token separators,
    so ``product.created`` in ``sales`` is ``meshfabric.sales.product.created`` and a consumer can
    filter a family with ``meshfabric.*.product.>``."""
    return ".".join([prefix, token(domain), *(token(part) for part in event_type.split("."))])


def filter_subject(prefix: str, pattern: str, domain: str | None = None) -> str:
    """The subject filter for a subscriber pattern (``*``, ``family.*`` or an exact type)."""
    where = token(domain) if domain else "*"
    if pattern == "*":
        return f"{prefix}.>" if domain is None else f"{prefix}.{where}.>"
    if pattern.endswith(".*"):
        return ".".join([prefix, where, *(token(p) for p in pattern[:-2].split(".")), ">"])
    return ".".join([prefix, where, *(token(p) for p in pattern.split("."))])


def durable_name(prefix: str, subscriber: str) -> str:
    """A JetStream consumer name for a subscriber: readable, and unique per prefix and name."""
    digest = hashlib.sha1(f"{prefix}\0{subscriber}".encode()).hexdigest()[:10]
    return f"mf_{_DURABLE_BAD.sub('_', subscriber)[:48]}_{digest}"


def encode(event: DomainEvent) -> bytes:
    """The message body: the event as ``events list --json`` shows it."""
    return json.dumps(event.to_dict(), default=str, separators=(",", ":")).encode()


def decode(data: bytes) -> DomainEvent:
    doc = json.loads(data)
    ts = datetime.fromisoformat(doc["timestamp"])
    return DomainEvent(
        doc["event_type"], doc.get("domain"), doc.get("data") or {}, doc["id"],
        ts if ts.tzinfo else ts.replace(tzinfo=UTC), doc.get("correlation_id") or "",
        doc.get("causation_id"), doc.get("seq"),
    )


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _from_row(row: EventRow) -> DomainEvent:
    return DomainEvent(row.event_type, row.domain, row.data, row.id, _utc(row.timestamp), row.correlation_id,
                       row.causation_id, row.seq)


# -- connecting -----------------------------------------------------------------------------------
_IMPORT_LOCK = threading.Lock()


def _nats() -> Any:
    """nats-py, imported on first use and under a lock: two threads importing it for the first time
    at once (a relay and a subscriber starting together) can otherwise see a half-initialised
    package (``module 'nats' has no attribute 'errors'``)."""
    with _IMPORT_LOCK:
        import nats
        import nats.errors
        import nats.js
        import nats.js.api
        import nats.js.errors

        return nats


def _hint(url: str) -> str:
    return (f"start a NATS server with JetStream at {url} (`nats-server -js`), correct `events.url` in "
            "mesh.yaml, or set `events: {backend: store}` to keep events in the store only; "
            "no event is lost meanwhile: the relay catches up from the store")


async def connect(spec: EventsSpec, *, timeout: float = 2.0) -> Any:
    """A connection to ``spec.url`` without automatic reconnects (callers retry themselves)."""
    nats = _nats()

    async def quiet(*_: Any) -> None:
        return None

    try:
        # nats-py retries a refused server inside connect() unless it is given up after one attempt;
        # the outer timeout bounds the whole handshake as well
        return await asyncio.wait_for(nats.connect(
            servers=[spec.url], connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=1,
            reconnect_time_wait=0.1, error_cb=quiet, disconnected_cb=quiet, closed_cb=quiet, name="meshfabric",
        ), timeout=timeout * 2 + 1)
    except Exception as exc:  # nats raises OSError, NoServersError, TimeoutError... all mean "unreachable"
        raise EventBusUnavailable(f"NATS at {spec.url} is unreachable ({_describe(exc)})",
                                  hint=_hint(spec.url)) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


async def ensure_stream(js: Any, spec: EventsSpec) -> None:
    """The stream ``spec.stream`` with ``<prefix>.>`` among its subjects; created when missing."""
    _nats()
    from nats.js.errors import APIError, NotFoundError

    wanted = f"{spec.subject_prefix}.>"
    try:
        info = await js.stream_info(spec.stream)
    except NotFoundError:
        try:
            await js.add_stream(name=spec.stream, subjects=[wanted], duplicate_window=DUPLICATE_WINDOW)
        except APIError as exc:
            raise EventBusUnavailable(
                f"NATS at {spec.url} refused to create the stream '{spec.stream}' for '{wanted}' ({exc})",
                hint="check that JetStream is enabled (`nats-server -js`), that no other stream holds the "
                     "subjects, and the account's JetStream limits; or create the stream yourself",
            ) from None
        return
    except APIError as exc:
        raise EventBusUnavailable(
            f"NATS at {spec.url} refused JetStream requests ({exc})",
            hint="enable JetStream on the server (`nats-server -js`) or for the account",
        ) from None
    except Exception as exc:  # no JetStream at all: the API request times out or has no responders
        raise EventBusUnavailable(f"NATS at {spec.url} does not answer JetStream requests ({_describe(exc)})",
                                  hint="enable JetStream on the server (`nats-server -js`)") from None
    subjects = list(info.config.subjects or [])
    if wanted not in subjects and ">" not in subjects:
        raise ConfigError(
            f"the JetStream stream '{spec.stream}' holds {subjects}, not '{wanted}'",
            hint=f"add '{wanted}' to the stream's subjects, or set events.stream / events.subject_prefix "
                 "in mesh.yaml to a stream of its own",
        )


async def _close(nc: Any) -> None:
    if nc is None:
        return
    try:
        await asyncio.wait_for(nc.close(), timeout=2)
    except Exception:  # closing a broken connection: nothing left to do
        log.debug("closing a NATS connection failed", exc_info=True)


async def _sleep(stop: threading.Event, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


# -- the relay ------------------------------------------------------------------------------------
@dataclass
class RelayReport:
    """What one relay pass did."""

    published: int = 0
    #: messages JetStream already held (dropped by message id): a republished batch
    duplicates: int = 0
    batches: int = 0
    #: the store seq the relay's offset stands at afterwards
    offset: int = 0
    #: another relay holds the lease: this one published nothing
    standby: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"published": self.published, "duplicates": self.duplicates, "batches": self.batches,
                "offset": self.offset, "standby": self.standby}


class Relay:
    """Publishes the store's event log to JetStream, in log order, from a persisted offset.

    Each batch: read up to ``batch`` events after the offset, publish them with at most ``window``
    un-acked messages in flight, wait for every ack, then in one small write transaction move the
    offset from the value read to the batch's last seq (compare-and-set) and renew the lease.

    Several relays on one store: the lease row (``RELAY_LEASE``: holder id and renewal time)
    lets one publish while the others stand by; a holder that stops renewing for ``lease_ttl``
    seconds is replaced. The offset compare-and-set keeps a relay that lost the lease meanwhile
    from moving the offset back or past what it did not publish, and anything two relays both
    publish during a takeover is the same message id, which JetStream drops. Relying on the
    de-duplication alone would make every relay publish every event (N times the traffic) and a
    relay stalled longer than the duplicate window would then add old events again.

    PostgreSQL allocates seqs before commit, so a seq can become visible after a higher one: a
    hole in the log is waited for until the event after it is ``hole_wait`` seconds old (then
    taken for a rolled-back transaction) instead of being skipped. The store serialises writers
    (an advisory lock), so such holes are rollbacks in practice; SQLite has none.

    ``on_published(events, acks)`` is called after a batch is acked and before the offset moves
    (the benchmark measures lag there; tests raise in it to simulate a crash at the worst moment).
    """

    def __init__(self, store: Store, spec: EventsSpec, *, batch: int = 500, window: int = 256,
                 lease_ttl: float = 15.0, ack_timeout: float = 10.0, hole_wait: float = 2.0,
                 on_published: Callable[[list[DomainEvent], list[Any]], None] | None = None) -> None:
        self.store = store
        self.spec = spec
        self.batch = batch
        self.window = window
        self.lease_ttl = lease_ttl
        self.ack_timeout = ack_timeout
        self.hole_wait = hole_wait if not store.is_sqlite else 0.0
        self.on_published = on_published
        self.owner = random.randrange(1, 2**62)
        self._renewed = 0.0
        self._holes: dict[int, float] = {}

    # -- store side ---------------------------------------------------------------------------
    def offset(self) -> int:
        with self.store.read() as session:
            row = session.get(SubscriberOffsetRow, RELAY_OFFSET)
            return row.last_seq if row else 0

    def _acquire(self) -> bool:
        """Hold (or renew) the lease; False while another relay's lease is alive."""
        now = datetime.now(UTC)
        if self._renewed and time.monotonic() - self._renewed < self.lease_ttl / 3:
            return True
        with self.store.write() as session:
            row = session.get(SubscriberOffsetRow, RELAY_LEASE)
            if session.get(SubscriberOffsetRow, RELAY_OFFSET) is None:
                session.add(SubscriberOffsetRow(subscriber=RELAY_OFFSET, last_seq=0, updated_at=now))
            if row is None:
                session.add(SubscriberOffsetRow(subscriber=RELAY_LEASE, last_seq=self.owner, updated_at=now))
                taken = True
            elif row.last_seq != self.owner and _utc(row.updated_at) > now - timedelta(seconds=self.lease_ttl):
                taken = False
            else:
                result = session.execute(
                    update(SubscriberOffsetRow)
                    .where(SubscriberOffsetRow.subscriber == RELAY_LEASE, SubscriberOffsetRow.last_seq == row.last_seq)
                    .values(last_seq=self.owner, updated_at=now)
                )
                taken = _rowcount(result) == 1
        self._renewed = time.monotonic() if taken else 0.0
        return taken

    def release(self) -> None:
        """Give the lease up (a stopping relay), so a standby takes over at once."""
        self._renewed = 0.0
        with self.store.write() as session:
            session.execute(
                update(SubscriberOffsetRow)
                .where(SubscriberOffsetRow.subscriber == RELAY_LEASE, SubscriberOffsetRow.last_seq == self.owner)
                .values(updated_at=datetime(2000, 1, 1, tzinfo=UTC))
            )

    def _pending(self, offset: int) -> list[DomainEvent]:
        with self.store.read() as session:
            rows = session.scalars(
                select(EventRow).where(EventRow.seq > offset).order_by(EventRow.seq).limit(self.batch)
            )
            events = [_from_row(r) for r in rows]
        if not self.hole_wait:
            return events
        expected, now = offset + 1, time.monotonic()
        for i, event in enumerate(events):
            seq = event.seq or 0
            if seq != expected:
                first_seen = self._holes.setdefault(expected, now)
                # the event after the hole was created after the missing seq was taken: once it is
                # older than hole_wait (or the hole has been seen that long) the writer rolled back
                fresh = (datetime.now(UTC) - event.timestamp).total_seconds() < self.hole_wait
                if now - first_seen < self.hole_wait and fresh:
                    return events[:i]  # a writer may still commit the missing seq: wait for it
                log.info("event seqs %d..%d never appeared; taking them for rolled-back writes", expected, seq - 1)
            expected = seq + 1
        self._holes = {k: v for k, v in self._holes.items() if k > offset}
        return events

    def _commit(self, old: int, new: int) -> bool:
        now = datetime.now(UTC)
        with self.store.write() as session:
            moved = _rowcount(session.execute(
                update(SubscriberOffsetRow)
                .where(SubscriberOffsetRow.subscriber == RELAY_OFFSET, SubscriberOffsetRow.last_seq == old)
                .values(last_seq=new, updated_at=now)
            )) == 1
            renewed = _rowcount(session.execute(
                update(SubscriberOffsetRow)
                .where(SubscriberOffsetRow.subscriber == RELAY_LEASE, SubscriberOffsetRow.last_seq == self.owner)
                .values(updated_at=now)
            )) == 1
        self._renewed = time.monotonic() if renewed else 0.0
        if not moved:
            log.info("the relay offset moved away from %d meanwhile (another relay): re-reading", old)
        return moved

    # -- NATS side ----------------------------------------------------------------------------
    async def open(self) -> tuple[Any, Any]:
        nc = await connect(self.spec)
        try:
            js = nc.jetstream(publish_async_max_pending=self.window)
            await ensure_stream(js, self.spec)
        except BaseException:
            await _close(nc)
            raise
        return nc, js

    async def publish_pending(self, js: Any, stop: threading.Event | None = None,
                              idle: float | None = None) -> RelayReport:
        """Publish everything after the offset, batch by batch; returns what was done. With
        ``idle`` it does not return when caught up but polls the store every ``idle`` seconds
        until ``stop`` is set (or another relay holds the lease, or an error).

        The offset commit of a batch runs in a worker thread while the next batches are read and
        published (one commit in flight, each moving the offset to everything acked so far): a
        store write waiting for SQLite's lock behind busy writers then delays no publish. The
        offset only ever names events JetStream acked; when the loop ends (also on an error) what
        was acked is committed before returning.
        """
        report = RelayReport()
        known = self.offset()  # the offset as stored
        acked = known  # the last seq JetStream acked
        commit: asyncio.Future[bool] | None = None
        target = known
        try:
            while stop is None or not stop.is_set():
                if commit is not None and commit.done():
                    if commit.result():
                        known = target
                    else:  # another relay moved the offset (a takeover): start over from the store
                        known = acked = self.offset()
                    commit = None
                if commit is None and acked > known:
                    target = acked
                    commit = asyncio.ensure_future(asyncio.to_thread(self._commit, known, target))
                if not await asyncio.to_thread(self._acquire):
                    report.standby = True
                    break
                events = self._pending(acked)
                if not events:
                    if idle is None or stop is None:
                        break
                    await _sleep(stop, idle)
                    continue
                acks = await self._publish(js, events)
                if self.on_published is not None:
                    self.on_published(events, acks)
                acked = events[-1].seq or acked
                report.batches += 1
                report.published += len(events)
                report.duplicates += sum(1 for a in acks if getattr(a, "duplicate", False))
        finally:
            if commit is not None:
                try:
                    if await commit:
                        known = target
                    else:
                        known = acked = self.offset()
                except Exception:  # the store failed: the offset stays where it is; re-sent later
                    log.warning("committing the relay offset failed", exc_info=True)
                    acked = known
            if acked > known and self._commit(known, acked):
                known = acked
            report.offset = known
        return report

    async def _publish(self, js: Any, events: list[DomainEvent]) -> list[Any]:
        """Publish ``events`` in order and return their acks; everything within ``ack_timeout``."""
        prefix = self.spec.subject_prefix

        async def send_all() -> list[Any]:
            futures = []
            for event in events:
                headers = {"Nats-Msg-Id": event.id, SEQ_HEADER: str(event.seq)}
                # one connection and sequential writes keep the stream in log order; publish_async's
                # semaphore bounds the un-acked window (no wait_stall: waiting for it without a
                # timer lets the writes of a window leave in one socket write)
                futures.append(await js.publish_async(subject_for(prefix, event.domain, event.event_type),
                                                      encode(event), headers=headers))
            return list(await asyncio.gather(*futures))

        return await asyncio.wait_for(send_all(), timeout=self.ack_timeout)

    # -- running ------------------------------------------------------------------------------
    def run_once(self) -> RelayReport:
        """Connect, publish everything pending, disconnect (``events relay --once``)."""

        async def once() -> RelayReport:
            nc, js = await self.open()
            try:
                return await self.publish_pending(js)
            finally:
                await _close(nc)
                if self._renewed:
                    self.release()

        return asyncio.run(once())

    def run(self, stop: threading.Event, every: float = 0.2, *, max_backoff: float = 10.0) -> None:
        """Relay until ``stop`` is set: poll the store every ``every`` seconds when idle; when NATS
        or the store fails, retry with exponential backoff (0.25 s up to ``max_backoff``)."""
        asyncio.run(self._run(stop, every, max_backoff))

    async def _run(self, stop: threading.Event, every: float, max_backoff: float) -> None:
        nc: Any = None
        js: Any = None
        backoff = 0.25
        try:
            while not stop.is_set():
                try:
                    if nc is None or nc.is_closed:
                        nc, js = await self.open()
                        log.info("relaying events to %s (stream %s)", self.spec.url, self.spec.stream)
                    report = await self.publish_pending(js, stop, idle=every)
                    backoff = 0.25
                    if report.standby:
                        await _sleep(stop, min(self.lease_ttl / 3, 5.0))
                except Exception as exc:  # NATS down, ack timeout, store busy: retry, nothing is lost
                    log.warning("event relay to %s failed (%s); retrying in %.2fs", self.spec.url,
                                _describe(exc), backoff)
                    await _close(nc)
                    nc = js = None
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, max_backoff)
        finally:
            await _close(nc)
            try:
                self.release()
            except Exception:  # the store is gone: the lease simply expires
                log.debug("releasing the relay lease failed", exc_info=True)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class _MeshLike(Protocol):
    @property
    def store(self) -> Store: ...

    @property
    def events(self) -> Any: ...

    @property
    def spec(self) -> Any: ...


def start_relay(mesh: _MeshLike, *, every: float = 0.2, **options: Any) -> Callable[[], None]:
    """Relay ``mesh``'s events to JetStream in a background thread (``meshfabric serve``) when
    mesh.yaml says ``events: {backend: nats}``; returns the function that stops it (closing the
    mesh stops it too). With the store backend nothing is started and the returned function
    does nothing. NATS being down is no error here: the relay retries with backoff."""
    spec = getattr(mesh.spec, "events", None)
    if spec is None or spec.backend != "nats":
        return lambda: None
    relay = Relay(mesh.store, spec, **options)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, every), name="meshfabric-nats-relay", daemon=True)
    thread.start()

    def stop_relay() -> None:
        stop.set()
        if thread is not threading.current_thread():
            thread.join(timeout=15)

    events = getattr(mesh, "events", None)
    if events is not None and hasattr(events, "on_stop"):
        events.on_stop(stop_relay)
    return stop_relay


# -- consuming ------------------------------------------------------------------------------------
class _LoopThread:
    """A private asyncio event loop running in a daemon thread; ``call`` runs a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="meshfabric-nats", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("JetStreamBus.call from its own loop thread would deadlock")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


class JetStreamBus:
    """The consumer side: one connection on a private loop, a durable pull consumer per subscriber.

    At-least-once and in order per subscriber: a message is acked (synchronously, cumulatively) only
    after its handler returned or it was dead-lettered, and the pull consumer delivers in stream
    order, which is log order. When a subscriber is bound and its consumer still has deliveries that were never
    acked (the process stopped between handler and ack), the consumer is recreated at its ack floor
    so those events come first again instead of after newer ones once JetStream's ack wait runs out.
    """

    ACK_WAIT = 300.0
    MAX_ACK_PENDING = 1000

    def __init__(self, spec: EventsSpec) -> None:
        self.spec = spec
        self._loop: _LoopThread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._pulls: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread()
            loop = self._loop
        return loop.call(coro, timeout)

    async def js(self) -> Any:
        if self._nc is None or self._nc.is_closed:
            self._pulls.clear()
            nc = await connect(self.spec)
            js = nc.jetstream()
            try:
                await ensure_stream(js, self.spec)
            except BaseException:
                await _close(nc)
                raise
            self._nc, self._js = nc, js
        return self._js

    async def reset(self) -> None:
        """Drop the connection after an error; the next call reconnects and rebinds."""
        nc, self._nc, self._js = self._nc, None, None
        self._pulls.clear()
        await _close(nc)

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.call(self.reset(), timeout=5)
        except Exception:  # closing: a broken connection is closed anyway
            log.debug("closing the JetStream connection failed", exc_info=True)
        loop.close()

    # -- durable subscribers ------------------------------------------------------------------
    async def bind(self, name: str, pattern: str, *, from_beginning: bool = False, start_seq: int | None = None,
                   start_time: datetime | None = None) -> None:
        """Create (or resume) the durable consumer of subscriber ``name``. A new one starts at the
        end of the stream, at its beginning, at stream sequence ``start_seq`` or at ``start_time``;
        an existing one resumes where it was acked (or is rewound to its ack floor, see class)."""
        _nats()
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        js = await self.js()
        stream, durable = self.spec.stream, durable_name(self.spec.subject_prefix, name)
        wanted = filter_subject(self.spec.subject_prefix, pattern)
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            info = None

        def config(policy: Any, **extra: Any) -> Any:
            return ConsumerConfig(durable_name=durable, filter_subject=wanted, ack_policy=AckPolicy.ALL,
                                  ack_wait=self.ACK_WAIT, max_ack_pending=self.MAX_ACK_PENDING,
                                  deliver_policy=policy, description=f"meshfabric subscriber {name}"[:200],
                                  **extra)

        if info is None:
            if start_seq is not None:
                cfg = config(DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start_seq, 1))
            elif start_time is not None:
                cfg = config(DeliverPolicy.BY_START_TIME, opt_start_time=_utc(start_time))
            else:
                cfg = config(DeliverPolicy.ALL if from_beginning else DeliverPolicy.NEW)
            await js.add_consumer(stream, cfg)
        elif (info.num_ack_pending or info.config.filter_subject != wanted
              or info.config.ack_policy != AckPolicy.ALL):
            start = (info.ack_floor.stream_seq if info.ack_floor else 0) + 1
            log.info("rewinding consumer %s to stream seq %d (un-acked deliveries or a new pattern)", durable, start)
            await js.delete_consumer(stream, durable)
            await js.add_consumer(stream, config(DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start))
        self._pulls[name] = await js.pull_subscribe_bind(durable=durable, stream=stream)

    async def fetch(self, name: str, pattern: str, *, batch: int = 50, timeout: float = 0.05) -> list[Any]:
        """Up to ``batch`` messages of subscriber ``name`` (waiting at most ``timeout``)."""
        _nats()
        from nats.errors import TimeoutError as NatsTimeout

        if name not in self._pulls:
            await self.bind(name, pattern)
        pull = self._pulls[name]
        info = await pull.consumer_info()
        if not info.num_pending and not info.num_ack_pending:
            return []  # one API round trip instead of a fetch that waits out its timeout
        try:
            return list(await pull.fetch(batch, timeout=timeout))
        except (TimeoutError, NatsTimeout):
            return []

    async def consume(self, name: str, pattern: str, handle: Callable[[DomainEvent], Awaitable[None]], *,
                      batch: int = 100, timeout: float = 0.05) -> int:
        """Fetch and hand each message to ``handle`` in order until none is left. The consumer acks
        cumulatively (``AckPolicy.ALL``): one synchronous ack after each batch, or after the last
        handled message when a handler raises through (a stopping process), covers all before it."""
        count = 0
        while True:
            msgs = await self.fetch(name, pattern, batch=batch, timeout=timeout)
            if not msgs:
                return count
            handled = None
            try:
                for msg in msgs:
                    await handle(decode(msg.data))
                    handled = msg
                    count += 1
            finally:
                if handled is not None:
                    await handled.ack_sync(timeout=5)

    async def forget(self, name: str) -> None:
        pull = self._pulls.pop(name, None)
        if pull is not None:
            try:
                await pull.unsubscribe()
            except Exception:  # the connection is already gone
                log.debug("unsubscribing %s failed", name, exc_info=True)

    # -- following (events tail) --------------------------------------------------------------
    async def follow(self, start_time: datetime, pattern: str = "*") -> Any:
        """An ordered, ephemeral push consumer from ``start_time``."""
        _nats()
        from nats.js.api import ConsumerConfig, DeliverPolicy

        js = await self.js()
        return await js.subscribe(
            filter_subject(self.spec.subject_prefix, pattern), stream=self.spec.stream, ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=_utc(start_time)),
        )

    @staticmethod
    async def next_event(sub: Any, timeout: float) -> DomainEvent | None:
        _nats()
        from nats.errors import TimeoutError as NatsTimeout

        try:
            msg = await sub.next_msg(timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return None
        return decode(msg.data)

    @staticmethod
    async def unsubscribe(sub: Any) -> None:
        try:
            await sub.unsubscribe()
        except Exception:  # the connection is already gone
            log.debug("unsubscribing a follower failed", exc_info=True)
