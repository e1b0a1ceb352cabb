"""What the connectors of database servers (PostgreSQL, MySQL/MariaDB) share: the server's
address from the source spec, a pool of connections, driver errors classified into
:class:`TransientError` (retried with backoff) or a :class:`SourceError` naming the source, and
every operation run on a connection of its own, within a bounded time.

A source that stops answering while its socket stays open (a network partition, a stalled
proxy or firewall, a hung server) once hung a command forever: libpq and PyMySQL wait for a
reply without limit. Two things bound that wait now:

* TCP keepalives on every connection (probes after 10 s idle, every 5 s, 3 lost: ~25 s), so
  the kernel notices a peer that is gone even mid-statement; a live server answers probes,
  so long statements are not cut short;
* each operation runs in a worker thread that the caller waits on for at most
  :attr:`ServerConnector.read_timeout` seconds (``options.read_timeout`` of the source,
  default :data:`READ_TIMEOUT`; for a scan under a query time limit, at least that limit plus
  :data:`GRACE`, since the server and the cancel request stop it first). When the time
  passes the connection's socket is shut down (which ends the driver's wait), the connection
  is never pooled again, and the caller gets a :class:`SourceError` naming the source, the
  address and what to check. A peer that still ACKs TCP (a stalled userland proxy) is found
  only this way.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

from meshfabric.connectors import ServerAddress, call_with_retries, server_address
from meshfabric.connectors.base import Connector

if TYPE_CHECKING:
    from meshfabric.connectors.pool import ConnectionPool
    from meshfabric.spec.models import SourceSpec

T = TypeVar("T")

#: seconds an operation on a server source may go without finishing, unless the source's
#: ``options.read_timeout`` says otherwise (quality runs and profiles scan whole tables)
READ_TIMEOUT = 300.0
#: seconds past a query's time limit a scan may take before its peer counts as silent
GRACE = 30.0
#: TCP keepalive: first probe after this many idle seconds, then every INTERVAL, COUNT lost
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3
#: milliseconds sent data may stay unacknowledged before the kernel drops the connection
TCP_USER_TIMEOUT_MS = 30_000


def keepalive(sock: socket.socket) -> None:
    """Turn on TCP keepalives (and a user timeout, on Linux) for a driver's socket."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT_MS),
    ):
        if hasattr(socket, name):
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


_CLAIM = threading.Lock()
_CLAIMED: set[int] = set()


def claim_socket(host: str, port: int, local_port: Callable[[], int | None]) -> int | None:
    """The file descriptor of the socket a driver just connected to ``host:port``, for drivers
    that do not expose it (ADBC). Call right after connecting; :func:`release_socket` when
    closing. Among this process's unclaimed sockets to that peer, one is certainly the new
    connection's: a single candidate is it; among several, the one whose local port the
    server reports (``local_port``: not through a proxy). None when it cannot be told."""
    try:
        folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
        fds = [int(name) for name in os.listdir(folder)]
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError):
        return None
    found: dict[int, int] = {}
    with _CLAIM:
        for fd in fds:
            if fd in _CLAIMED:
                continue
            try:
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    continue
                with socket.socket(fileno=os.dup(fd)) as sock:
                    peer, local = sock.getpeername(), sock.getsockname()
            except (OSError, ValueError, TypeError):
                continue
            if isinstance(peer, tuple) and peer[1] == port and peer[0] in addresses:
                found[fd] = local[1]
        if len(found) == 1:
            fd = next(iter(found))
            _CLAIMED.add(fd)
            return fd
    if not found:
        return None
    try:
        mine = local_port()
    except Exception:
        return None
    with _CLAIM:
        for fd, local in found.items():
            if local == mine and fd not in _CLAIMED:
                _CLAIMED.add(fd)
                return fd
    return None


def release_socket(fd: int | None) -> None:
    """Forget a claimed descriptor: its connection is being closed."""
    if fd is not None:
        with _CLAIM:
            _CLAIMED.discard(fd)


def shutdown_fd(fd: int) -> None:
    """Shut down the socket behind a driver's file descriptor without closing the descriptor
    (the driver owns it): its blocked read returns at once with end of file."""
    dup = socket.socket(fileno=os.dup(fd))
    try:
        dup.shutdown(socket.SHUT_RDWR)
    finally:
        dup.close()


class ServerConnector(Connector):
    """A connector whose source is a database server reached over the network."""

    #: the port when the spec names none
    default_port: int = 0

    def __init__(self, name: str, spec: SourceSpec, root: Any) -> None:
        super().__init__(name, spec, root)
        try:
            self._address: ServerAddress = server_address(spec, default_port=self.default_port)
        except ValueError as exc:
            raise self.error(str(exc), hint="fix the source's url/host/port in mesh.yaml") from None
        raw = (spec.options or {}).get("read_timeout", READ_TIMEOUT)
        try:
            self.read_timeout = float(raw)
            if not 0 < self.read_timeout <= 86400:
                raise ValueError
        except (TypeError, ValueError):
            raise self.error(
                f"options.read_timeout must be a number of seconds between 0 and 86400, got {raw!r}",
                hint=f"e.g. `options: {{read_timeout: {READ_TIMEOUT:g}}}` in the source of mesh.yaml",
            ) from None
        self._pool: ConnectionPool[Any] = self._new_pool()

    @abstractmethod
    def _new_pool(self) -> ConnectionPool[Any]:
        """The pool this connector's connections come from (connect, close, reset, alive check)."""

    @abstractmethod
    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types of the driver, which :meth:`_classify` translates."""

    @abstractmethod
    def _classify(self, exc: BaseException) -> BaseException:
        """A driver error as TransientError (retry) or SourceError (report), never with secrets."""

    def _sever(self, conn: Any) -> None:
        """Shut down ``conn``'s socket from another thread so the driver's blocked call ends;
        never close it (the thread using it does). Best effort: a no-op when it is unknown."""

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled connection, outside any transaction; driver errors come out classified."""
        errors = self._driver_errors()
        try:
            with self._pool.connection() as conn:
                yield conn
        except errors as exc:
            raise self._classify(exc) from None

    def close(self) -> None:
        self._pool.close()

    def _run(self, fn: Callable[[Any], T], *, limit: float | None = None) -> T:
        """``fn`` on a connection of its own, retried while the failure is transient, each
        attempt bounded in time (:meth:`_bounded`; ``limit``: seconds left of a query time limit)."""
        bound = self.read_timeout if limit is None else max(self.read_timeout, limit + GRACE)
        return call_with_retries(self, lambda: self._bounded(fn, bound))

    def _bounded(self, fn: Callable[[Any], T], seconds: float) -> T:
        """Run ``fn`` on a pooled connection in a worker thread; give up after ``seconds``.

        The worker owns the connection from checkout to checkin (or discard): a connection is
        never closed under a thread blocked in it. Giving up shuts its socket down, so the
        worker's driver call fails and the worker discards it; should the driver not notice,
        the worker is left behind (a daemon thread), never the caller.
        """
        done = threading.Event()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                with self._connection() as conn:
                    box["conn"] = conn
                    if box.get("abandoned"):
                        raise self._silent(seconds)
                    box["value"] = fn(conn)
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"mf-{self.kind}-{self.name}", daemon=True)
        worker.start()
        if not done.wait(seconds):
            box["abandoned"] = True
            conn = box.get("conn") or self._pool.checking(worker.ident)
            if conn is not None:
                self._pool.spoil(conn)
                with suppress(Exception):
                    self._sever(conn)
            done.wait(1.0)  # a severed driver returns at once; its error is the silence below
            raise self._silent(seconds)
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    def _silent(self, seconds: float) -> BaseException:
        addr = self._address
        return self.error(
            f"no answer from {addr.host}:{addr.port} for {seconds:g} s: the connection is open but the "
            "server does not reply (a network partition, a stalled proxy or firewall, or a hung server)",
            hint=f"check that the server at {addr.host}:{addr.port} is up and reachable from here; "
            "`options: {read_timeout: SECONDS}` in the source sets how long to wait",
        )
