"""What the connectors of database servers (PostgreSQL, MySQL/MariaDB) share: the server's
address from the source spec, a pool of connections, driver errors classified into
:class:`TransientError` (retried with backoff) or a :class:`SourceError` naming the source, and
every operation run on a connection of its own."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from meshfabric.connectors import ServerAddress, call_with_retries, server_address
from meshfabric.connectors.base import Connector

if TYPE_CHECKING:
    from meshfabric.connectors.pool import ConnectionPool
    from meshfabric.spec.models import SourceSpec

T = TypeVar("T")


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

    def _run(self, fn: Callable[[Any], T]) -> T:
        """``fn`` on a connection of its own, retried while the failure is transient."""

        def once() -> T:
            with self._connection() as conn:
                return fn(conn)

        return call_with_retries(self, once)
