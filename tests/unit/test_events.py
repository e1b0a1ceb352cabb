"""The durable event log: publish, subscribe (sync and async), retries, dead letters, offsets, replay."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import pg_database
from meshfabric.events import DomainEvent, EventLog, append, matches
from meshfabric.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


@pytest.fixture
def log(store: Store) -> EventLog:
    return EventLog(store)


def _event(event_type: str, domain: str | None = "sales", **data: object) -> DomainEvent:
    return DomainEvent(event_type, domain, dict(data))


class Recorder:
    """A healthy handler that remembers what it got."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)

    @property
    def types(self) -> list[str]:
        return [e.event_type for e in self.events]


def test_publish_assigns_increasing_positions_and_lists_in_order(log: EventLog) -> None:
    first = log.publish(_event("product.created", product="sales.orders"))
    second = log.publish(_event("product.updated", product="sales.orders"))
    assert first.seq is not None and second.seq is not None and second.seq > first.seq
    listed = log.list(limit=None)
    assert [e.id for e in listed] == [first.id, second.id]
    assert listed[0].data == {"product": "sales.orders"}
    assert listed[0].to_dict()["event_type"] == "product.created"
    assert log.last_seq() == second.seq


def test_caused_event_keeps_correlation_and_points_at_its_cause() -> None:
    parent = _event("product.created")
    child = parent.caused("quality.checked", "sales", {"ok": True})
    assert child.correlation_id == parent.correlation_id
    assert child.causation_id == parent.id
    assert child.id != parent.id


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("*", "anything.at.all", True),
        ("product.*", "product.created", True),
        ("product.*", "product.status_changed", True),
        ("product.*", "products.created", False),
        ("product.*", "quality.failed", False),
        ("product.created", "product.created", True),
        ("product.created", "product.created_later", False),
    ],
)
def test_patterns(pattern: str, event_type: str, expected: bool) -> None:
    assert matches(pattern, event_type) is expected


def test_sync_and_async_subscribers_get_matching_events(log: EventLog) -> None:
    everything, products = Recorder(), Recorder()
    got_async: list[str] = []

    async def on_domain(event: DomainEvent) -> None:
        await asyncio.sleep(0)
        got_async.append(event.event_type)

    log.subscribe("*", everything, name="all")
    log.subscribe("product.*", products, name="products")
    log.subscribe("domain.created", on_domain, name="domains")
    for t in ("domain.created", "product.created", "source.registered", "product.updated", "domain.updated"):
        log.publish(_event(t))
    report = log.deliver()
    assert everything.types == ["domain.created", "product.created", "source.registered", "product.updated",
                                "domain.updated"]
    assert products.types == ["product.created", "product.updated"]
    assert got_async == ["domain.created"]
    assert report.per_subscriber == {"all": 5, "products": 2, "domains": 1}
    assert report.delivered == 8 and report.dead_lettered == 0
    # nothing is delivered twice
    assert log.deliver().delivered == 0
    assert len(everything.events) == 5


def test_new_subscriber_starts_at_the_end_unless_from_beginning(log: EventLog) -> None:
    log.publish(_event("product.created"))
    late, history = Recorder(), Recorder()
    log.subscribe("*", late, name="late")
    log.subscribe("*", history, name="history", from_beginning=True)
    log.publish(_event("product.updated"))
    log.deliver()
    assert late.types == ["product.updated"]
    assert history.types == ["product.created", "product.updated"]


def test_failing_handler_is_retried_then_dead_lettered_and_the_next_events_still_arrive(log: EventLog) -> None:
    calls: list[str] = []

    def broken(event: DomainEvent) -> None:
        calls.append(event.id)
        if event.data.get("poison"):
            raise RuntimeError("cannot handle this one")

    healthy = Recorder()
    log.subscribe("*", broken, name="broken", max_attempts=3, backoff=0)
    log.subscribe("*", healthy, name="healthy")
    bad = log.publish(_event("product.created", poison=True))
    good = log.publish(_event("product.updated"))
    report = log.deliver()
    assert calls == [bad.id, bad.id, bad.id, good.id]
    assert report.dead_lettered == 1 and report.retried == 2
    assert [e.id for e in healthy.events] == [bad.id, good.id]
    dead = log.dead_letters("broken")
    assert len(dead) == 1
    assert dead[0].event.id == bad.id and dead[0].event.data == {"poison": True}
    assert dead[0].attempts == 3
    assert dead[0].error == "RuntimeError: cannot handle this one"
    assert log.dead_letters("healthy") == []
    # the event itself is still in the log: dead-lettering loses nothing
    assert [e.id for e in log.list(limit=None)] == [bad.id, good.id]
    # and a later delivery does not try it again
    log.deliver()
    assert calls.count(bad.id) == 3


def test_retries_back_off(log: EventLog) -> None:
    stamps: list[float] = []

    def broken(event: DomainEvent) -> None:
        stamps.append(time.monotonic())
        raise ValueError("no")

    log.subscribe("*", broken, name="slow-broken", max_attempts=3, backoff=0.05)
    log.publish(_event("x.y"))
    log.deliver()
    assert len(stamps) == 3
    assert stamps[1] - stamps[0] >= 0.045 and stamps[2] - stamps[1] >= 0.095


def test_flaky_handler_succeeds_on_retry_without_a_dead_letter(log: EventLog) -> None:
    attempts = {"n": 0}
    got: list[str] = []

    async def flaky(event: DomainEvent) -> None:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ConnectionError("transient")
        got.append(event.id)

    log.subscribe("*", flaky, name="flaky", backoff=0)
    e = log.publish(_event("x.y"))
    report = log.deliver()
    assert got == [e.id] and report.retried == 1 and report.dead_lettered == 0
    assert log.dead_letters() == []


def test_publishing_never_waits_for_a_failing_subscriber(log: EventLog) -> None:
    def hopeless(event: DomainEvent) -> None:
        raise RuntimeError("down")

    log.subscribe("*", hopeless, name="hopeless", max_attempts=5, backoff=10)
    start = time.perf_counter()
    for i in range(20):
        log.publish(_event("product.updated", n=i))
    assert time.perf_counter() - start < 5
    assert len(log.list(limit=None)) == 20


def test_offsets_persist_across_event_log_instances(store: Store) -> None:
    first = EventLog(store)
    got = Recorder()
    first.subscribe("product.*", got, name="indexer")
    a = first.publish(_event("product.created"))
    first.deliver()
    b = first.publish(_event("product.updated"))
    first.publish(_event("domain.created"))
    c = first.publish(_event("product.deleted"))
    # the process "restarts": a new log object on the same store, the same subscriber name
    second = EventLog(store)
    again = Recorder()
    second.subscribe("product.*", again, name="indexer", from_beginning=True)
    second.deliver()
    assert [e.id for e in got.events] == [a.id]
    assert [e.id for e in again.events] == [b.id, c.id]


def test_offsets_persist_on_a_reopened_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    s1 = open_store(url)
    log1 = EventLog(s1)
    log1.subscribe("*", Recorder(), name="sub")
    log1.publish(_event("a.one"))
    log1.deliver()
    log1.publish(_event("a.two"))
    s1.close()
    s2 = open_store(url)
    got = Recorder()
    log2 = EventLog(s2)
    log2.subscribe("*", got, name="sub")
    log2.deliver()
    s2.close()
    assert got.types == ["a.two"]


def test_two_handlers_cannot_share_a_subscriber_name(log: EventLog) -> None:
    seen: list[tuple[str, str]] = []

    def make(tag: str) -> Callable[[DomainEvent], None]:  # the same qualified name for every handler it makes
        def handler(event: DomainEvent) -> None:
            seen.append((tag, event.id))

        return handler

    log.subscribe("*", make("a"))
    with pytest.raises(ValueError, match="already used by another handler"):
        log.subscribe("*", make("b"))
    log.subscribe("*", make("b"), name="second")
    assert len(log.subscriptions) == 2


def test_the_same_handler_can_subscribe_again(log: EventLog) -> None:
    got = Recorder()
    log.subscribe("*", got, name="again")
    log.subscribe("*", got, name="again")
    log.publish(_event("a.b"))
    log.deliver()
    assert got.types == ["a.b"]


def test_unsubscribed_handler_gets_nothing(log: EventLog) -> None:
    got = Recorder()
    log.subscribe("*", got, name="gone")
    log.unsubscribe("gone")
    log.publish(_event("a.b"))
    log.deliver()
    assert got.events == []


def test_retry_dead_letters_redelivers_to_the_fixed_handler(log: EventLog) -> None:
    state = {"broken": True}
    got: list[str] = []

    def handler(event: DomainEvent) -> None:
        if state["broken"]:
            raise RuntimeError("bug")
        got.append(event.id)

    log.subscribe("product.*", handler, name="fixable", max_attempts=2, backoff=0)
    first = log.publish(_event("product.created"))
    second = log.publish(_event("product.updated"))
    log.deliver()
    assert len(log.dead_letters("fixable")) == 2
    state["broken"] = False
    assert log.retry_dead_letters("fixable") == 2
    assert got == [first.id, second.id]
    assert log.dead_letters("fixable") == []
    assert len(log.dead_letters("fixable", include_replayed=True)) == 2
    # retrying again is a no-op
    assert log.retry_dead_letters("fixable") == 0
    assert got == [first.id, second.id]


def test_retry_dead_letters_keeps_the_ones_that_still_fail(log: EventLog) -> None:
    def handler(event: DomainEvent) -> None:
        raise RuntimeError("still broken")

    log.subscribe("*", handler, name="stubborn", max_attempts=1, backoff=0)
    log.publish(_event("a.b"))
    log.deliver()
    assert log.retry_dead_letters("stubborn") == 0
    assert len(log.dead_letters("stubborn")) == 1


def test_retry_dead_letters_needs_a_registered_subscriber(log: EventLog) -> None:
    with pytest.raises(KeyError, match="not registered"):
        log.retry_dead_letters("nobody")


def test_replay_by_correlation_type_and_domain(log: EventLog) -> None:
    apply_one, apply_two = uuid.uuid4().hex, uuid.uuid4().hex
    published = [
        log.publish(DomainEvent("product.created", "sales", {"p": "orders"}, correlation_id=apply_one)),
        log.publish(DomainEvent("domain.created", "crm", {}, correlation_id=apply_one)),
        log.publish(DomainEvent("product.created", "crm", {"p": "customers"}, correlation_id=apply_two)),
        log.publish(DomainEvent("product.updated", "sales", {"p": "orders"}, correlation_id=apply_two)),
        log.publish(DomainEvent("source.registered", None, {}, correlation_id=apply_two)),
    ]
    ids = [e.id for e in published]

    def replayed(**filters: object) -> list[str]:
        got: list[str] = []
        count = log.replay(lambda e: got.append(e.id), **filters)
        assert count == len(got)
        return got

    assert replayed(correlation_id=apply_one) == ids[:2]
    assert replayed(correlation_id=apply_two) == ids[2:]
    assert replayed(event_type="product.created") == [ids[0], ids[2]]
    assert replayed(event_type="product.*") == [ids[0], ids[2], ids[3]]
    assert replayed(domain="sales") == [ids[0], ids[3]]
    assert replayed(domain="crm", event_type="product.*") == [ids[2]]
    assert replayed(event_type="*") == ids
    assert replayed(event_type="nothing.matches") == []


def test_replay_by_time_range_in_any_time_zone(log: EventLog) -> None:
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for hour in range(6):
        log.publish(DomainEvent("tick.hour", "ops", {"hour": hour}, timestamp=base + timedelta(hours=hour)))

    def hours(**filters: object) -> list[int]:
        got: list[int] = []
        log.replay(lambda e: got.append(e.data["hour"]), **filters)
        return got

    assert hours(since=base + timedelta(hours=2), until=base + timedelta(hours=4)) == [2, 3]
    assert hours(since=base + timedelta(hours=4)) == [4, 5]
    assert hours(until=base + timedelta(hours=1)) == [0]
    # the same instants written in another offset select the same events
    cet = timezone(timedelta(hours=2))
    assert hours(since=datetime(2026, 3, 1, 16, 0, tzinfo=cet), until=datetime(2026, 3, 1, 18, 0, tzinfo=cet)) == [
        2, 3,
    ]
    # naive times are UTC
    assert hours(since=datetime(2026, 3, 1, 17, 0)) == [5]


def test_timestamps_in_other_offsets_are_stored_as_the_same_instant(log: EventLog) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    written = datetime(2026, 5, 4, 10, 0, tzinfo=india)
    log.publish(DomainEvent("a.b", None, {}, timestamp=written))
    stored = log.list(limit=None)[0].timestamp
    assert stored == written
    assert stored.utcoffset() == timedelta(0)


def test_replay_feeds_async_handlers_and_pages_through_long_logs(store: Store, log: EventLog) -> None:
    with store.write() as session:
        for i in range(1203):
            append(session, _event("bulk.item", n=i))
    got: list[int] = []

    async def handler(event: DomainEvent) -> None:
        got.append(event.data["n"])

    assert log.replay(handler, event_type="bulk.item") == 1203
    assert got == list(range(1203))


def test_list_limits_and_newest_first(log: EventLog) -> None:
    for i in range(5):
        log.publish(_event("a.b", n=i))
    assert [e.data["n"] for e in log.list(limit=2)] == [0, 1]
    assert [e.data["n"] for e in log.list(limit=2, newest_first=True)] == [4, 3]
    third = log.list(limit=None)[2]
    assert [e.data["n"] for e in log.list(after_seq=third.seq or 0, limit=None)] == [3, 4]


def test_deliver_works_from_inside_a_running_event_loop(log: EventLog) -> None:
    got = Recorder()
    log.subscribe("*", got, name="notebook")
    log.publish(_event("a.b"))

    async def main() -> int:  # e.g. a notebook cell or an async web handler
        return log.deliver().delivered

    assert asyncio.run(main()) == 1
    assert got.types == ["a.b"]


def test_background_delivery_thread(log: EventLog) -> None:
    got = Recorder()
    log.subscribe("*", got, name="bg")
    log.start(poll=0.02)
    try:
        e = log.publish(_event("a.b"))
        deadline = time.monotonic() + 10
        while not got.events and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        log.stop()
    assert [x.id for x in got.events] == [e.id]


def test_iter_new_follows_the_log(log: EventLog) -> None:
    log.publish(_event("a.old"))
    start = log.last_seq()
    stop = threading.Event()
    seen: list[str] = []

    def follow() -> None:
        for e in log.iter_new(start, poll=0.02, stop=stop):
            seen.append(e.event_type)
            if len(seen) == 2:
                stop.set()

    t = threading.Thread(target=follow)
    t.start()
    log.publish(_event("a.new1"))
    log.publish(_event("a.new2"))
    t.join(timeout=10)
    stop.set()
    assert seen == ["a.new1", "a.new2"]


def _publish_while_delivering(store: Store) -> None:
    """Publishers in threads while a subscriber delivers: each event arrives once, in log order."""
    log = EventLog(store)
    got = Recorder()
    log.subscribe("product.*", got, name=f"concurrent-{uuid.uuid4().hex[:6]}")
    done = threading.Event()

    def publisher(tag: str) -> None:
        pub = EventLog(store)
        for i in range(40):
            pub.publish(DomainEvent("product.updated" if i % 3 else "other.thing", "sales", {"tag": tag, "i": i}))

    threads = [threading.Thread(target=publisher, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()

    def watch() -> None:
        for t in threads:
            t.join()
        done.set()

    threading.Thread(target=watch).start()
    while not done.is_set():
        log.deliver()
    log.deliver()
    expected = [e.id for e in log.list(event_type="product.updated", limit=None)]
    assert len(expected) == 2 * 26
    assert [e.id for e in got.events] == expected
    for tag in "ab":
        mine = [e.data["i"] for e in got.events if e.data["tag"] == tag]
        assert mine == sorted(mine)


def test_concurrent_publish_and_deliver_on_sqlite(store: Store) -> None:
    _publish_while_delivering(store)


@pytest.mark.postgres
def test_event_log_on_postgresql(pg_url: str) -> None:
    with pg_database() as url:
        s = open_store(url)
        try:
            log = EventLog(s)
            cet = timezone(timedelta(hours=1))
            e = log.publish(DomainEvent("product.created", "sales", {"a": [1, 2]},
                                        timestamp=datetime(2026, 1, 1, 9, 0, tzinfo=cet)))
            assert log.list(since=datetime(2026, 1, 1, 8, 0, tzinfo=UTC), limit=None)[0].id == e.id
            assert log.list(since=datetime(2026, 1, 1, 8, 0, 1, tzinfo=UTC), limit=None) == []
            _publish_while_delivering(s)
        finally:
            s.close()


# -- property: any interleaving of publishes and deliveries -------------------------------------

TYPES = ["product.created", "product.updated", "domain.created", "source.registered"]
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.sampled_from(TYPES)),
        st.tuples(st.just("deliver"), st.none()),
        st.tuples(st.just("restart"), st.none()),
    ),
    max_size=25,
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('events') / 'store.db'}")
    yield s
    s.close()


@settings(max_examples=40, deadline=None)
@given(ops=_ops, pattern=st.sampled_from(["*", "product.*", "product.created", "domain.created"]),
       use_async=st.booleans())
def test_each_matching_event_is_delivered_exactly_once_in_order(
    shared_store: Store, ops: list[tuple[str, str | None]], pattern: str, use_async: bool
) -> None:
    name = f"prop-{uuid.uuid4().hex}"
    received: list[str] = []

    def sync_handler(event: DomainEvent) -> None:
        received.append(event.id)

    async def async_handler(event: DomainEvent) -> None:
        received.append(event.id)

    def always_fails(event: DomainEvent) -> None:
        raise RuntimeError("unhealthy neighbour")

    def connect() -> EventLog:
        log = EventLog(shared_store)
        log.subscribe(pattern, async_handler if use_async else sync_handler, name=name)
        log.subscribe("*", always_fails, name=f"{name}-bad", max_attempts=2, backoff=0)
        return log

    log = connect()
    expected: list[str] = []
    for op, event_type in ops:
        if op == "publish":
            assert event_type is not None
            event = log.publish(DomainEvent(event_type, "d", {}))
            if matches(pattern, event_type):
                expected.append(event.id)
        elif op == "deliver":
            log.deliver()
        else:
            log = connect()
    log.deliver()
    assert received == expected
    published = sum(1 for op, _ in ops if op == "publish")
    assert len(log.dead_letters(f"{name}-bad")) == published
