"""Domain events on NATS JetStream, against a real server on 127.0.0.1:4222: the outbox relay (order,
message ids, crash between publish and offset commit, NATS down then back, two relays on one
store), durable subscribers consuming from JetStream, ``events tail`` and ``events relay`` through
the CLI, and two Mesh instances on one store seeing each other's events within a second.

Each test has a stream and subject prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import require_server
from helpers import cli, pg_database, write
from meshfabric.events import DomainEvent

NATS_HOST, NATS_PORT = "127.0.0.1", 4222
NATS_URL = f"nats://{NATS_HOST}:{NATS_PORT}"
#: the CLI in a process of its own
MESHFABRIC = [sys.executable, "-c", "import sys; from meshfabric.cli import run; sys.exit(run(sys.argv[1:]))"]


@dataclass
class Bus:
    stream: str
    prefix: str
    url: str = NATS_URL

    def mesh_yaml(self, *, url: str | None = None, store: str | None = None) -> str:
        text = (f"name: events-test\nevents:\n  backend: nats\n  url: {url or self.url}\n"
                f"  stream: {self.stream}\n  subject_prefix: {self.prefix}\n")
        return text + (f"store: {store}\n" if store else "")

    def spec(self, url: str | None = None) -> Any:
        from meshfabric.spec.observe_models import EventsSpec

        return EventsSpec(backend="nats", url=url or self.url, stream=self.stream, subject_prefix=self.prefix)


async def _js_call(fn: Callable[[Any], Any]) -> Any:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def stream_messages(bus: Bus) -> list[tuple[str, str, dict[str, Any]]]:
    """Every message in the stream, in stream order: (subject, Nats-Msg-Id, payload)."""

    async def read(js: Any) -> list[tuple[str, str, dict[str, Any]]]:
        from nats.js.errors import NotFoundError

        try:
            info = await js.stream_info(bus.stream)
        except NotFoundError:
            return []
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            msg = await js.get_msg(bus.stream, seq)
            out.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id", ""), json.loads(msg.data)))
        return out

    return asyncio.run(_js_call(read))


def stream_count(bus: Bus) -> int:
    async def count(js: Any) -> int:
        from nats.js.errors import NotFoundError

        try:
            return int((await js.stream_info(bus.stream)).state.messages)
        except NotFoundError:
            return 0

    return int(asyncio.run(_js_call(count)))


@pytest.fixture
def bus() -> Iterator[Bus]:
    require_server("NATS", NATS_HOST, NATS_PORT)
    tag = uuid.uuid4().hex[:10]
    bus = Bus(stream=f"MFTEST_{tag.upper()}", prefix=f"mftest_{tag}")
    yield bus

    async def drop(js: Any) -> None:
        from nats.js.errors import NotFoundError

        with contextlib.suppress(NotFoundError):
            await js.delete_stream(bus.stream)

    asyncio.run(_js_call(drop))


@pytest.fixture
def ws(tmp_path: Path, bus: Bus, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)
    write(tmp_path / "ws" / "mesh.yaml", bus.mesh_yaml())
    return tmp_path / "ws"


def _open(root: Path, store: str | None = None) -> Any:
    from meshfabric import Mesh

    return Mesh.open(root, store=store)


def _record(mesh: Any, n: int, *, event_type: str = "product.updated", domain: str | None = "sales",
            start: int = 0) -> list[DomainEvent]:
    return [mesh.events.record(DomainEvent(event_type, domain, {"i": start + i})) for i in range(n)]


def _wait(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _assert_complete(bus: Bus, mesh: Any) -> None:
    """The stream holds every stored event exactly once, in log order, with its id as message id."""
    stored = mesh.events.list(limit=None)
    msgs = stream_messages(bus)
    assert [m[1] for m in msgs] == [e.id for e in stored]
    assert [m[2]["seq"] for m in msgs] == [e.seq for e in stored]


# -- subjects -------------------------------------------------------------------------------------


def test_subjects_are_sanitized_tokens_and_filters_follow_subscriber_patterns() -> None:
    from meshfabric.events.nats import durable_name, filter_subject, subject_for

    assert subject_for("meshfabric", "sales", "product.created") == "meshfabric.sales.product.created"
    assert subject_for("meshfabric", None, "access.denied") == "meshfabric._.access.denied"
    assert subject_for("mf", "my domain", "odd type*>x") == "mf.my_domain.odd_type_x"
    assert subject_for("mf", "a.b", "x..y") == "mf.a_b.x._.y"
    assert filter_subject("mf", "*") == "mf.>"
    assert filter_subject("mf", "product.*") == "mf.*.product.>"
    assert filter_subject("mf", "product.created") == "mf.*.product.created"
    name = durable_name("mf", "app.handlers.on_change")
    assert name.startswith("mf_app_handlers_on_change_") and "." not in name
    assert durable_name("mf", "x") != durable_name("other", "x")


# -- the relay ------------------------------------------------------------------------------------


def test_the_relay_publishes_every_event_in_log_order_with_its_id_as_message_id(ws: Path, bus: Bus) -> None:
    with _open(ws) as mesh:
        _record(mesh, 5)
        mesh.events.record(DomainEvent("access.denied", None, {"who": "alice"}))
        mesh.events.record(DomainEvent("odd type*", "my domain", {"x": [1, 2]}))
        _record(mesh, 20, event_type="quality.failed", domain="crm", start=100)
        report = mesh.events.relay(once=True)
        assert report is not None and report.published == 27 and report.duplicates == 0
        assert report.offset == mesh.events.last_seq()
        _assert_complete(bus, mesh)
        msgs = stream_messages(bus)
        stored = mesh.events.list(limit=None)
        assert [m[2] for m in msgs] == [e.to_dict() for e in stored]  # the shape of `events list --json`
        subjects = [m[0] for m in msgs]
        assert subjects[0] == f"{bus.prefix}.sales.product.updated"
        assert subjects[5] == f"{bus.prefix}._.access.denied"
        assert subjects[6] == f"{bus.prefix}.my_domain.odd_type_"
        assert subjects[7] == f"{bus.prefix}.crm.quality.failed"
        again = mesh.events.relay(once=True)
        assert again is not None and again.published == 0
        _record(mesh, 3, start=200)
        assert (mesh.events.relay(once=True) or pytest.fail()).published == 3
        _assert_complete(bus, mesh)


def test_a_relay_crashing_between_publish_and_offset_commit_loses_nothing(ws: Path, bus: Bus) -> None:
    from meshfabric.events.nats import Relay

    class Crash(Exception):
        pass

    batches: list[int] = []

    def crash_on_third(events: list[DomainEvent], acks: list[Any]) -> None:
        batches.append(len(events))
        if len(batches) == 3:
            raise Crash("killed after the acks, before the offset commit")

    with _open(ws) as mesh:
        _record(mesh, 200)
        relay = Relay(mesh.store, bus.spec(), batch=50, window=16, on_published=crash_on_third)
        with pytest.raises(Crash):
            relay.run_once()
        assert relay.offset() == 100  # batch 3 was published and acked, its offset never committed
        assert len(stream_messages(bus)) == 150
        report = Relay(mesh.store, bus.spec(), batch=50, lease_ttl=0.2).run_once()
        assert report.published == 100 and report.duplicates == 50  # JetStream dropped them by id
        _assert_complete(bus, mesh)


def test_a_relay_process_killed_mid_stream_resumes_with_no_gap_and_no_stored_duplicate(ws: Path, bus: Bus) -> None:
    from meshfabric.events import append
    from meshfabric.events.nats import Relay

    total = 10000
    with _open(ws) as mesh:
        with mesh.store.write() as session:
            for i in range(total):
                append(session, DomainEvent("product.updated", "sales", {"i": i}))
        proc = subprocess.Popen([*MESHFABRIC, "-w", str(ws), "events", "relay", "--every", "0.01"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait(lambda: stream_count(bus) > 0 or proc.poll() is not None, what="the first publish")
        finally:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        killed_at = Relay(mesh.store, bus.spec()).offset()
        in_stream = stream_count(bus)
        assert killed_at < total, "the relay finished before it was killed: nothing was tested"
        assert in_stream >= killed_at
        # the killed relay's lease is left behind; a replacement takes it over once it expires
        time.sleep(0.3)
        report = Relay(mesh.store, bus.spec(), lease_ttl=0.2).run_once()
        assert report.published == total - killed_at
        assert report.duplicates == in_stream - killed_at  # published before the kill, offset not yet moved
        _assert_complete(bus, mesh)


class _Proxy:
    """A TCP forwarder to NATS that can be taken down (every connection cut) and brought back."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection((NATS_HOST, NATS_PORT))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def test_nats_down_then_back_the_relay_retries_and_catches_up(ws: Path, bus: Bus) -> None:
    from meshfabric.events.nats import Relay

    proxy = _Proxy()
    with _open(ws) as mesh:
        stop = threading.Event()
        relay = Relay(mesh.store, bus.spec(proxy.url), batch=20, ack_timeout=2.0)
        thread = threading.Thread(target=relay.run, args=(stop,), kwargs={"every": 0.02, "max_backoff": 0.3})
        thread.start()  # NATS "down" from the start: the relay keeps retrying
        try:
            _record(mesh, 50)
            time.sleep(0.5)
            assert relay.offset() == 0 and stream_messages(bus) == []
            proxy.up()
            _wait(lambda: relay.offset() == mesh.events.last_seq(), what="the catch-up")
            proxy.down()  # an outage while events keep coming
            _record(mesh, 100, start=50)
            time.sleep(0.5)
            assert relay.offset() < mesh.events.last_seq()
            proxy.up()
            _record(mesh, 50, start=150)
            _wait(lambda: relay.offset() == mesh.events.last_seq(), what="the second catch-up")
        finally:
            stop.set()
            thread.join(timeout=15)
            proxy.down()
        assert mesh.events.last_seq() == 200
        _assert_complete(bus, mesh)


def test_two_relays_on_one_store_publish_each_event_once(ws: Path, bus: Bus) -> None:
    from meshfabric.events.nats import RELAY_LEASE, Relay

    with _open(ws) as mesh:
        stop = threading.Event()
        relays = [Relay(mesh.store, bus.spec(), batch=25, lease_ttl=1.0) for _ in range(2)]
        threads = [threading.Thread(target=r.run, args=(stop, 0.02)) for r in relays]
        for t in threads:
            t.start()
        try:
            writers = [threading.Thread(target=_record, args=(mesh, 100), kwargs={"start": 1000 * w})
                       for w in range(4)]
            for t in writers:
                t.start()
            for t in writers:
                t.join()
            _wait(lambda: relays[0].offset() == 400, what="both relays to finish")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=15)
        _assert_complete(bus, mesh)
        from meshfabric.store.models import SubscriberOffsetRow

        with mesh.store.read() as session:
            lease = session.get(SubscriberOffsetRow, RELAY_LEASE)
        assert lease is not None and lease.last_seq in {r.owner for r in relays}


def test_start_relay_runs_in_the_background_and_is_a_no_op_for_the_store_backend(
        ws: Path, bus: Bus, tmp_path: Path) -> None:
    from meshfabric.events.nats import start_relay

    with _open(ws) as mesh:
        stop = start_relay(mesh, every=0.02)
        try:
            _record(mesh, 10)
            _wait(lambda: len(stream_messages(bus)) == 10, what="the background relay")
        finally:
            stop()
        _assert_complete(bus, mesh)
        start_relay(mesh, every=0.02)  # left running: closing the mesh stops it
        assert any(t.name == "meshfabric-nats-relay" for t in threading.enumerate())
    assert not any(t.name == "meshfabric-nats-relay" for t in threading.enumerate())
    write(tmp_path / "plain" / "mesh.yaml", "name: plain\n")
    with _open(tmp_path / "plain") as plain:
        start_relay(plain)()  # nothing started, nothing to stop
        assert plain.events.nats is None


# -- consumers ------------------------------------------------------------------------------------


class _Stop(BaseException):
    """Stands for the process dying inside a handler (not an error the log retries)."""


def test_a_subscriber_consumes_from_jetstream_in_order_and_resumes_after_a_restart(ws: Path, bus: Bus) -> None:
    with _open(ws) as mesh:
        _record(mesh, 20)
        _record(mesh, 5, event_type="quality.failed")
        mesh.events.relay(once=True)
        got: list[int] = []
        mesh.events.subscribe("product.*", lambda e: got.append(e.data["i"]), name="app.sink", from_beginning=True)
        report = mesh.events.deliver()
        assert got == list(range(20)) and report.per_subscriber == {"app.sink": 20}
        assert mesh.events.deliver().delivered == 0
    with _open(ws) as mesh:  # new events while the subscriber's process was gone
        _record(mesh, 10, start=20)
        mesh.events.relay(once=True)
    seen: list[int] = []

    def dies_at_25(event: DomainEvent) -> None:
        if event.data["i"] == 25 and 25 not in seen:
            seen.append(25)
            raise _Stop
        got.append(event.data["i"])

    with _open(ws) as mesh:
        mesh.events.subscribe("product.*", dies_at_25, name="app.sink")
        with pytest.raises(_Stop):
            mesh.events.deliver()
    assert got == list(range(25))
    with _open(ws) as mesh:  # restarted: 25 again first (at-least-once), then the rest, in order
        mesh.events.subscribe("product.*", lambda e: got.append(e.data["i"]), name="app.sink")
        mesh.events.deliver()
    assert got == list(range(30))


def test_subscribers_replay_from_a_stream_sequence_or_a_time_and_dead_letter_failures(ws: Path, bus: Bus) -> None:
    with _open(ws) as mesh:
        _record(mesh, 10)
        mesh.events.relay(once=True)
        time.sleep(0.05)
        middle = datetime.now(UTC)
        time.sleep(0.05)
        _record(mesh, 5, start=10)
        mesh.events.relay(once=True)
        by_seq: list[int] = []
        by_time: list[int] = []
        mesh.events.subscribe("*", lambda e: by_seq.append(e.data["i"]), name="from-seq", start_seq=4)
        mesh.events.subscribe("*", lambda e: by_time.append(e.data["i"]), name="from-time", start_time=middle)

        def fails(event: DomainEvent) -> None:
            if event.data["i"] == 12:
                raise ValueError("cannot handle 12")

        mesh.events.subscribe("product.updated", fails, name="flaky", from_beginning=True, max_attempts=2,
                              backoff=0.01)
        report = mesh.events.deliver()
        assert by_seq == list(range(3, 15))
        assert by_time == list(range(10, 15))
        assert report.dead_lettered == 1 and report.per_subscriber["flaky"] == 14
        dead = mesh.events.dead_letters("flaky")
        assert [d.event.data["i"] for d in dead] == [12] and "cannot handle 12" in dead[0].error


def test_a_new_subscriber_starts_at_the_end_and_the_store_backend_is_untouched(ws: Path, bus: Bus,
                                                                               tmp_path: Path) -> None:
    with _open(ws) as mesh:
        _record(mesh, 3)
        mesh.events.relay(once=True)
        got: list[int] = []
        mesh.events.subscribe("*", lambda e: got.append(e.data["i"]), name="late")
        _record(mesh, 2, start=3)
        mesh.events.relay(once=True)
        mesh.events.deliver()
        assert got == [3, 4]
    write(tmp_path / "plain" / "mesh.yaml", "name: plain\n")
    with _open(tmp_path / "plain") as plain:
        seen: list[int] = []
        plain.events.subscribe("*", lambda e: seen.append(e.data["i"]), name="s", from_beginning=True)
        _record(plain, 2)
        plain.events.deliver()
        assert seen == [0, 1] and "nats" not in repr(plain.events.deliver())


def test_a_subscriber_rides_out_a_nats_outage_without_failing_writes(ws: Path, bus: Bus) -> None:
    from meshfabric.events.nats import Relay

    proxy = _Proxy()
    proxy.up()
    write(ws / "mesh.yaml", bus.mesh_yaml(url=proxy.url))
    try:
        with _open(ws) as mesh:
            got: list[int] = []
            mesh.events.subscribe("*", lambda e: got.append(e.data["i"]), name="rider", from_beginning=True)
            _record(mesh, 3)
            Relay(mesh.store, bus.spec()).run_once()  # the relay reaches NATS directly
            mesh.events.deliver()
            assert got == [0, 1, 2]
            proxy.down()
            _record(mesh, 3, start=3)
            Relay(mesh.store, bus.spec()).run_once()
            assert mesh.events.deliver().delivered == 0  # logged, not raised: writes call it too
            proxy.up()
            mesh.events.deliver()
            assert got == [0, 1, 2, 3, 4, 5]
    finally:
        proxy.down()


def test_a_hole_in_the_postgresql_log_is_waited_for_then_passed(ws: Path, bus: Bus, pg_url: str) -> None:
    from meshfabric.events import append
    from meshfabric.events.nats import Relay

    with pg_database("mf_nats_hole") as store:
        write(ws / "mesh.yaml", bus.mesh_yaml(store=store))
        with _open(ws) as mesh:
            _record(mesh, 2)
            with pytest.raises(RuntimeError), mesh.store.write() as session:
                append(session, DomainEvent("product.updated", "sales", {"i": -1}))
                raise RuntimeError("rolled back: seq 3 is never committed")
            _record(mesh, 2, start=2)
            assert [e.seq for e in mesh.events.list(limit=None)] == [1, 2, 4, 5]
            first = Relay(mesh.store, bus.spec(), hole_wait=1.0).run_once()
            assert first.published == 2 and first.offset == 2  # seq 3 might still commit: wait
            time.sleep(1.1)
            second = Relay(mesh.store, bus.spec(), hole_wait=1.0).run_once()
            assert second.published == 2 and second.offset == 5
            _assert_complete(bus, mesh)


def test_only_workspace_admins_relay_or_consume(ws: Path, bus: Bus) -> None:
    from meshfabric.errors import AccessDenied

    with _open(ws) as mesh:
        mesh.access.create_principal("alice")
        for call in (lambda: mesh.events.relay(once=True, user="alice"),
                     lambda: mesh.events.subscribe("*", lambda e: None, name="spy", user="alice"),
                     lambda: next(mesh.events.iter_new(0, user="alice"))):
            with pytest.raises(AccessDenied):
                call()
        assert stream_messages(bus) == []


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_meshes_on_one_store_see_each_others_events_within_a_second(
        kind: str, ws: Path, bus: Bus, request: pytest.FixtureRequest) -> None:
    from meshfabric.events.nats import start_relay

    if kind == "postgres":
        request.getfixturevalue("pg_url")
        ctx = pg_database("mf_nats")
        store = ctx.__enter__()
        request.addfinalizer(lambda: ctx.__exit__(None, None, None))
        write(ws / "mesh.yaml", bus.mesh_yaml(store=store))
    a, b = _open(ws), _open(ws)
    seen: dict[str, dict[str, float]] = {"a": {}, "b": {}}
    stops = []
    try:
        for name, mesh in (("a", a), ("b", b)):
            mesh.events.subscribe("*", lambda e, n=name: seen[n].setdefault(e.id, time.monotonic()),
                                  name=f"mesh-{name}")
            mesh.events.start(poll=0.05)
            stops.append(start_relay(mesh, every=0.05))
        lags = []
        for writer, reader in ((a, "b"), (b, "a"), (a, "b"), (b, "a")):
            t0 = time.monotonic()
            event = writer.events.record(DomainEvent("product.updated", "sales", {"by": reader}))
            _wait(lambda e=event, r=reader: e.id in seen[r], timeout=5, what="the other mesh")
            lags.append(seen[reader][event.id] - t0)
        assert max(lags) < 1.0, lags
    finally:
        for stop in stops:
            stop()
        a.close()
        b.close()


# -- the CLI --------------------------------------------------------------------------------------


def test_events_relay_through_the_cli(ws: Path, bus: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    with _open(ws) as mesh:
        _record(mesh, 4)
    code, out, err = cli(capsys, "-w", ws, "events", "relay", "--once", "--json")
    assert code == 0, err
    assert json.loads(out)["published"] == 4
    code, out, _ = cli(capsys, "-w", ws, "events", "relay", "--once")
    assert code == 0 and "published 0 events" in out
    write(ws / "mesh.yaml", bus.mesh_yaml(url="nats://127.0.0.1:1"))
    for args in (("--once",), ("--every", "0.1")):
        code, _, err = cli(capsys, "-w", ws, "events", "relay", *args)
        assert code == 2
        assert "nats://127.0.0.1:1 is unreachable" in err and "nats-server -js" in " ".join(err.split())


def test_events_tail_follows_jetstream(ws: Path, bus: Bus) -> None:
    with _open(ws) as mesh:
        _record(mesh, 5)
        mesh.events.relay(once=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([*MESHFABRIC, "-w", str(ws), "events", "tail", "--json",
                                 "--last", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        lines: list[dict[str, Any]] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            _wait(lambda: len(lines) >= 2, what="the last two events")
            _record(mesh, 3, start=5)
            mesh.events.relay(once=True)
            _wait(lambda: len(lines) >= 5, what="the new events")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        assert [line["data"]["i"] for line in lines] == [3, 4, 5, 6, 7]
        assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)


def test_events_tail_says_what_to_do_when_nats_is_unreachable(ws: Path, bus: Bus,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    write(ws / "mesh.yaml", bus.mesh_yaml(url="nats://127.0.0.1:1"))
    code, _, err = cli(capsys, "-w", ws, "events", "tail")
    assert code == 2 and "nats://127.0.0.1:1 is unreachable" in err


def test_importing_meshfabric_does_not_load_nats() -> None:
    code = ("import sys, meshfabric; from meshfabric.mesh import Mesh; import meshfabric.cli.events_cmds; "
            "import meshfabric.events.nats; assert 'nats' not in sys.modules, 'nats imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


