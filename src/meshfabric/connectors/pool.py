"""A small pool of idle driver connections, one per connector.

Opening a connection is the largest fixed cost of a scan: an ADBC PostgreSQL connection takes
~85 ms on a local server (the driver loads the server's type catalog first) and PyMySQL builds a
TLS context for every connection it may upgrade (~50 ms). A federated query opens one or two
connections per product it reads, the planner one per port it introspects, so most of the
time a five-row table cost was spent connecting.

The pool keeps connections that finished their work cleanly and hands them out again:

* a connection is returned only when the code using it raised nothing and its ``reset``
  (a rollback: nothing of one operation's transaction may reach the next) succeeded; any
  error discards it, so a broken or half-used connection is never reused;
* a connection whose statement was (or may have been) cancelled — a query time limit
  passed — is marked with :meth:`spoil` and closed instead of returned: a cancel request can
  reach the server after its statement ended and cut short the next one;
* one idle for ``check_after`` seconds is checked with ``alive`` before reuse, and one idle
  for ``max_idle_seconds`` is closed instead (servers drop idle sessions, and an old session
  only holds server memory);
* at most ``max_idle`` wait at a time, the most recently used first;
* after a fork the child forgets the parent's connections without touching their sockets;
* :meth:`close` closes the idle ones; connections in use are closed when they come back.

A connection that died while idle for less than ``check_after`` seconds fails its first
statement; connectors report that as a transient error, retry and get a fresh one.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Generic, TypeVar

C = TypeVar("C")

__all__ = ["ConnectionPool"]


class ConnectionPool(Generic[C]):
    """Idle connections of one source, shared by the threads of one connector.

    ``open`` makes a new connection. None of the callables should refer to the connector: the
    pool closes its idle connections as soon as it is dropped with its connector, while a
    reference cycle would leave them open until the cyclic garbage collector runs.
    """

    def __init__(
        self,
        open: Callable[[], C],
        close: Callable[[C], None],
        *,
        reset: Callable[[C], None] | None = None,
        alive: Callable[[C], bool] | None = None,
        max_idle: int = 8,
        max_idle_seconds: float = 60.0,
        check_after: float = 2.0,
    ) -> None:
        self._open = open
        self._close = close
        self._reset = reset
        self._alive = alive
        self.max_idle = max_idle
        self.max_idle_seconds = max_idle_seconds
        self.check_after = check_after
        self._lock = threading.Lock()
        self._idle: list[tuple[C, float]] = []
        self._spoiled: set[int] = set()
        #: the connection each thread is checking for life, so a silent one can be cut off
        self._checking: dict[int, C] = {}
        self._pid = os.getpid()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._idle, close, self._pid)
        #: connections opened and reused over the pool's life (for tests and diagnostics)
        self.opened = 0
        self.reused = 0

    @contextmanager
    def connection(self) -> Iterator[C]:
        """A connection for one operation: reused when a healthy one is idle, else new."""
        conn = self._checkout()
        try:
            yield conn
        except BaseException:
            self._discard(conn)
            raise
        self._checkin(conn)

    def spoil(self, conn: C) -> None:
        """Close ``conn``, which is in use, when it comes back instead of keeping it."""
        with self._lock:
            self._spoiled.add(id(conn))

    def checking(self, thread: int | None) -> C | None:
        """The connection thread ``thread`` is checking for life right now, if any."""
        with self._lock:
            return self._checking.get(thread) if thread is not None else None

    @property
    def idle(self) -> int:
        """How many connections wait in the pool right now."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close every idle connection; those in use are closed when they are returned."""
        with self._lock:
            self._closed = True
            idle, self._idle[:] = list(self._idle), []
        for conn, _ in idle:
            self._discard(conn)

    def _checkout(self) -> C:
        while True:
            with self._lock:
                if self._pid != os.getpid():
                    # a forked child shares the parent's sockets: never use or close them here
                    self._idle.clear()
                    self._pid = os.getpid()
                    self._closed = False
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            idle_for = time.monotonic() - since
            if idle_for >= self.max_idle_seconds or (idle_for >= self.check_after and not self._is_alive(conn)):
                self._discard(conn)
                continue
            with self._lock:
                self.reused += 1
            return conn
        conn = self._open()
        with self._lock:
            self.opened += 1
        return conn

    def _checkin(self, conn: C) -> None:
        with self._lock:
            spoiled = id(conn) in self._spoiled
        if spoiled:
            self._discard(conn)
            return
        if self._reset is not None:
            try:
                self._reset(conn)
            except Exception:
                self._discard(conn)
                return
        with self._lock:
            if not self._closed and self._pid == os.getpid() and len(self._idle) < self.max_idle:
                self._idle.append((conn, time.monotonic()))
                return
        self._discard(conn)

    def _is_alive(self, conn: C) -> bool:
        if self._alive is None:
            return True
        me = threading.get_ident()
        with self._lock:
            self._checking[me] = conn
        try:
            return self._alive(conn)
        except Exception:
            return False
        finally:
            with self._lock:
                self._checking.pop(me, None)

    def _discard(self, conn: C) -> None:
        with self._lock:
            self._spoiled.discard(id(conn))
        with suppress(Exception):
            self._close(conn)


def _close_all(idle: list[tuple[C, float]], close: Callable[[C], None], pid: int) -> None:
    """Close what a garbage-collected pool still held, only in the process that opened it."""
    if os.getpid() != pid:
        return
    for conn, _ in idle:
        with suppress(Exception):
            close(conn)
    idle.clear()
