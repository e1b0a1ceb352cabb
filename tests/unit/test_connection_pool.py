"""The connection pool on its own, over fake connections: what is reused, what is thrown away."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from meshfabric.connectors.pool import ConnectionPool


@dataclass
class Fake:
    """A connection that remembers what was done to it."""

    number: int
    closed: bool = False
    resets: int = 0
    broken: bool = False
    in_use: threading.Lock = field(default_factory=threading.Lock)


class Server:
    """Hands out numbered fake connections and records the ones closed."""

    def __init__(self) -> None:
        self.made: list[Fake] = []
        self.lock = threading.Lock()

    def open(self) -> Fake:
        with self.lock:
            conn = Fake(len(self.made))
            self.made.append(conn)
            return conn

    @staticmethod
    def close(conn: Fake) -> None:
        conn.closed = True

    @staticmethod
    def reset(conn: Fake) -> None:
        if conn.broken:
            raise ConnectionError("server closed the connection")
        conn.resets += 1

    @staticmethod
    def alive(conn: Fake) -> bool:
        return not conn.broken


def pool_of(server: Server, **options: float) -> ConnectionPool[Fake]:
    return ConnectionPool(server.open, server.close, reset=server.reset, alive=server.alive, **options)  # type: ignore[arg-type]


def test_a_returned_connection_is_reused_after_a_reset() -> None:
    server = Server()
    pool = pool_of(server)
    with pool.connection() as first:
        pass
    with pool.connection() as second:
        assert second is first
    assert len(server.made) == 1 and first.resets == 2 and not first.closed
    assert (pool.opened, pool.reused, pool.idle) == (1, 1, 1)


def test_a_connection_whose_user_raised_is_discarded() -> None:
    server = Server()
    pool = pool_of(server)
    with pytest.raises(RuntimeError), pool.connection() as conn:
        raise RuntimeError("statement failed halfway")
    assert conn.closed and pool.idle == 0
    with pool.connection() as fresh:
        assert fresh is not conn


def test_a_connection_that_cannot_be_reset_is_discarded() -> None:
    server = Server()
    pool = pool_of(server)
    with pool.connection() as conn:
        conn.broken = True  # the server went away while it was in use
    assert conn.closed and pool.idle == 0


def test_a_connection_broken_while_idle_is_checked_and_replaced() -> None:
    server = Server()
    pool = pool_of(server, check_after=0.0)
    with pool.connection() as conn:
        pass
    conn.broken = True  # e.g. the server restarted
    with pool.connection() as fresh:
        assert fresh is not conn and not fresh.broken
    assert conn.closed


def test_a_connection_idle_too_long_is_closed_instead_of_reused() -> None:
    server = Server()
    pool = pool_of(server, max_idle_seconds=0.0)
    with pool.connection() as conn:
        pass
    with pool.connection() as fresh:
        assert fresh is not conn
    assert conn.closed


def test_only_max_idle_connections_wait() -> None:
    server = Server()
    pool = pool_of(server, max_idle=2)
    barrier = threading.Barrier(4, timeout=5)

    def hold(_: int) -> None:
        with pool.connection():
            barrier.wait()  # four connections in use at once

    with ThreadPoolExecutor(4) as threads:
        list(threads.map(hold, range(4)))
    assert len(server.made) == 4 and pool.idle == 2
    assert sum(c.closed for c in server.made) == 2


def test_threads_never_share_a_connection() -> None:
    server = Server()
    pool = pool_of(server)

    def work(_: int) -> None:
        with pool.connection() as conn:
            assert conn.in_use.acquire(blocking=False), "handed to two threads at once"
            conn.in_use.release()

    with ThreadPoolExecutor(8) as threads:
        list(threads.map(work, range(400)))
    assert len(server.made) <= 8 and pool.reused >= 400 - 8


def test_close_closes_idle_connections_and_later_returns() -> None:
    server = Server()
    pool = pool_of(server)
    with pool.connection() as busy:
        with pool.connection() as other:
            assert other is not busy
        assert pool.idle == 1  # other waits, busy is still in use
        pool.close()
        assert other.closed and not busy.closed
    assert busy.closed and pool.idle == 0


def test_dropping_the_pool_closes_its_idle_connections() -> None:
    server = Server()
    pool = pool_of(server)
    with pool.connection() as conn:
        pass
    del pool
    gc.collect()
    assert conn.closed
