"""The one small interface every source kind implements.

A connector knows how to reach one source (a database server, a database file, a folder of
files), describe what is in it in meshfabric's logical types, read it as Arrow with projection
and filters pushed into the source, write Arrow into it and report size statistics.

Filters arrive as sqlglot expressions over *unqualified* column names of the output port; a
connector first asks :meth:`Connector.can_push` for each one (a MariaDB column with a
case-insensitive collation must not receive ``name = 'abc'``) and the engine re-applies every
filter after the scan, so pushing is an optimisation, never a change of meaning.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from meshfabric.errors import SourceError
from meshfabric.types import LogicalType

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from meshfabric.spec.models import OutputPort, SourceSpec

T = TypeVar("T")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    native_type: str
    type: LogicalType
    nullable: bool = True
    #: True when equality/order on this column follows a case- or accent-insensitive collation
    #: in the source, so string predicates must not be pushed down.
    case_insensitive: bool = False


@dataclass(frozen=True)
class TableInfo:
    name: str
    schema: str | None = None
    kind: Literal["table", "view", "file"] = "table"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class TableStats:
    row_count: int | None
    size_bytes: int | None = None
    #: False when the numbers come from the source's planner statistics rather than a count.
    exact: bool = False


@dataclass(frozen=True)
class ColumnStatistics:
    """What a source's own catalog says about one column; every field may be unknown (None).

    Values are Python values of the column's logical type (``min``/``max``/``histogram``), read
    from the source's planner statistics or file footers, never from scanning the data.
    """

    #: estimated number of distinct non-null values
    distinct: float | None = None
    #: share of rows that are NULL, 0..1
    null_fraction: float | None = None
    min: Any = None
    max: Any = None
    #: equi-depth bucket bounds in ascending order, where the source keeps a histogram
    histogram: tuple[Any, ...] | None = None
    #: average width of a value in bytes
    avg_width: float | None = None


@dataclass(frozen=True)
class TableStatistics:
    """Row count, size and per-column statistics of one output port, for the cost-based planner.

    Missing or stale statistics may only change a plan, never an answer.
    """

    row_count: int | None
    size_bytes: int | None = None
    #: keyed by the port's real column names
    columns: dict[str, ColumnStatistics] = field(default_factory=dict)
    #: True when row_count is a count rather than an estimate
    exact: bool = False
    #: when the source's statistics were read (UTC)
    taken_at: datetime | None = None
    #: where the numbers come from, e.g. "pg_stats", "parquet footer", "information_schema"
    origin: str = ""


class Cancelled(Exception):
    """A scan was not started, or was stopped, because its query's :class:`Deadline` passed."""


class Deadline:
    """The time limit of one query, shared by the engine and every scan it runs.

    Work registers how to stop itself with :meth:`cancels` (``conn.interrupt()``, a cancel
    request to the server...) for as long as it runs. When the limit passes, a watcher thread
    (:meth:`start`) calls every registered hook, and calls them again, less and less often,
    until each registration ends: a hook called just before its statement started — when an
    interrupt is lost — is simply called again. A hook registered after the limit passed is
    called at once. Work that has not started yet checks :meth:`check` and does not start.

    A hook call and the end of its registration exclude each other, so once :meth:`cancels`
    has returned its hook is never called again and the connection it names can be reused;
    :attr:`Cancel.fired` says whether the hook ran at all (a connection whose statement may
    have been cancelled is better closed than pooled).
    """

    #: how long after the limit the watcher keeps re-calling hooks of work that does not end
    GIVE_UP_AFTER = 120.0

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("a query time limit must be positive")
        self.seconds = float(seconds)
        self.at = time.monotonic() + self.seconds
        self._lock = threading.Lock()
        self._hooks: dict[int, Cancel] = {}
        self._next = 0
        self._passed = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Event()  # stop or expire: wakes the watcher
        self._watcher: threading.Thread | None = None
        #: why the query was cancelled before its limit (:meth:`cancel`), None otherwise
        self.cancelled: str | None = None

    def remaining(self) -> float:
        """Seconds left, 0 once the limit has passed."""
        return 0.0 if self._passed.is_set() else max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._passed.is_set() or time.monotonic() >= self.at

    def check(self) -> None:
        """Raise :class:`Cancelled` when the limit has passed: do not start new work."""
        if self.expired:
            raise Cancelled(f"the time limit of {self.seconds:g} s has passed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the limit passes (True) or ``timeout`` seconds pass (False)."""
        return self._passed.wait(self.remaining() if timeout is None else min(timeout, self.remaining()))

    @contextmanager
    def cancels(self, hook: Callable[[], object]) -> Iterator[Cancel]:
        """Call ``hook`` to stop the work inside the block should the limit pass meanwhile."""
        cancel = Cancel(hook)
        with self._lock:
            key = self._next
            self._next += 1
            self._hooks[key] = cancel
        try:
            if self.expired:
                cancel.fire()
            yield cancel
        finally:
            with self._lock:
                self._hooks.pop(key, None)
            cancel.end()

    def start(self) -> Deadline:
        """Start the watcher thread that cancels the registered work when the limit passes."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="mf-deadline", daemon=True)
            self._watcher.start()
        return self

    def stop(self) -> None:
        """Every piece of work under this limit is over: the watcher can end."""
        self._stop.set()
        self._changed.set()

    def expire(self) -> None:
        """Let the limit pass now (the watcher calls this at :attr:`at`)."""
        self._passed.set()
        self._changed.set()
        self._fire_all()

    def cancel(self, reason: str) -> None:
        """Stop the query now, as its limit would, for ``reason`` ("interrupted", "the client
        disconnected"): the work reports :class:`~meshfabric.errors.QueryCancelled`."""
        if self.cancelled is None and not self._passed.is_set():
            self.cancelled = reason
        self.expire()

    def _watch(self) -> None:
        self._changed.wait(max(0.0, self.at - time.monotonic()))
        if self._stop.is_set():
            return
        self.expire()
        # work registered late (its statement had not started when the hook was called) is
        # cancelled on a later round: keep going until the work is over (stop) or given up on
        delay, given_up = 0.05, time.monotonic() + self.GIVE_UP_AFTER
        while time.monotonic() < given_up:
            if self._stop.wait(delay):
                return
            self._fire_all()
            delay = min(delay * 2, 1.0)

    def _fire_all(self) -> None:
        with self._lock:
            hooks = list(self._hooks.values())
        for cancel in hooks:
            cancel.fire()


class CancelToken:
    """Lets another thread cancel one query (the REST API cancels the query of a client that went
    away): bound to the query's :class:`Deadline` once it has one; a cancel before that takes
    effect as soon as it is bound."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline: Deadline | None = None
        self.reason: str | None = None

    def bind(self, deadline: Deadline) -> None:
        with self._lock:
            self._deadline = deadline
            reason = self.reason
        if reason is not None:
            deadline.cancel(reason)

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            deadline = self._deadline
        if deadline is not None:
            deadline.cancel(reason)


class Cancel:
    """One registration of :meth:`Deadline.cancels`."""

    def __init__(self, hook: Callable[[], object]) -> None:
        self._hook = hook
        self._lock = threading.Lock()
        self._ended = False
        #: whether the hook was called: the work may have been cut short
        self.fired = False

    def fire(self) -> None:
        with self._lock:
            if self._ended:
                return
            self.fired = True
            with suppress(Exception):  # a failed cancel is tried again; the work ends anyway
                self._hook()

    def end(self) -> None:
        with self._lock:
            self._ended = True


@dataclass
class ScanRequest:
    """What to read from one output port.

    ``columns`` None means every column, an empty list means none (count-only scans still need
    row cardinality: connectors return a table with the right number of rows and no columns).
    ``filters`` are conjuncts the caller wants pushed; the connector pushes those it can and
    reports them in :attr:`ScanResult.pushed_filters`.

    ``deadline`` is the time limit of the query the scan belongs to: a connector does not start
    a scan whose limit has passed (:meth:`check`), gives the source the time left where the
    source can enforce it (:meth:`remaining`), and registers how to stop its statement
    (:meth:`cancels`). Connectors that do none of this still work; the engine stops waiting.
    """

    port: OutputPort
    columns: list[str] | None = None
    filters: list[exp.Expression] = field(default_factory=list)
    limit: int | None = None
    deadline: Deadline | None = None

    def check(self) -> None:
        """Raise :class:`Cancelled` when the query's time limit has passed."""
        if self.deadline is not None:
            self.deadline.check()

    def remaining(self) -> float | None:
        """Seconds the scan may still take, None without a limit."""
        return None if self.deadline is None else self.deadline.remaining()

    @contextmanager
    def cancels(self, hook: Callable[[], object]) -> Iterator[Cancel | None]:
        """``hook`` stops the statement run inside the block when the limit passes; yields the
        registration (None without a limit) whose ``fired`` says whether it did."""
        if self.deadline is None:
            yield None
            return
        with self.deadline.cancels(hook) as cancel:
            yield cancel


@dataclass
class ScanResult:
    table: pa.Table
    source_sql: str | None
    pushed_filters: list[exp.Expression]
    seconds: float

    @property
    def rows(self) -> int:
        return self.table.num_rows


@dataclass(frozen=True)
class InPlaceRead:
    """A scan the query engine's own DuckDB runs where the data lies, instead of the connector
    reading it into Arrow: a DuckDB ``SELECT`` (projection and pushed filters included) over
    ``paths``, the only files the engine's session is then allowed to open."""

    sql: str
    paths: tuple[str, ...]
    pushed: list[exp.Expression]
    #: the statement with the files named as the port spells them (for plans shown to users)
    shown: str = ""


@dataclass
class PortSession:
    """One open connection to a source, bound to one output port, for statements meshfabric
    builds itself in the source's dialect (profiles, quality checks computed in the source).

    ``relation`` is FROM-clause text that reads the port (a quoted table, ``(sql) AS _mf_src``
    or a DuckDB file reader); ``fetch`` runs one read statement and returns its rows as tuples.
    Callers must generate SQL only from ``columns`` and literals, never from user text.
    """

    relation: str
    columns: list[ColumnInfo]
    dialect: str
    fetch: Callable[[str], list[tuple[Any, ...]]]


class Connector(ABC):
    """Base class of every source kind. One instance per configured source."""

    #: the source kind as written in mesh.yaml
    kind: str = ""
    #: the sqlglot dialect SQL is generated in for this source
    dialect: str = ""
    #: the pushdown rule set (:mod:`.pushdown`) when the dialect's own does not fit the source:
    #: files are read by DuckDB but, unlike a DuckDB database, can hold no collations
    pushdown_rules: str | None = None
    #: whether a ``sql`` output port may join several of this source's tables: the planner then
    #: pushes joins of its products into it (:mod:`meshfabric.query.joins`)
    pushes_joins: bool = False

    def __init__(self, name: str, spec: SourceSpec, root: Path) -> None:
        self.name = name
        self.spec = spec  # already ${ENV}-resolved: never log it or put it in an error
        self.root = root

    @abstractmethod
    def test(self) -> None:
        """Connect and run a trivial statement; raise SourceError saying what to check."""

    @abstractmethod
    def list_tables(self) -> list[TableInfo]: ...

    @abstractmethod
    def columns(self, port: OutputPort) -> list[ColumnInfo]:
        """The real columns behind an output port; SourceError if it does not exist."""

    @abstractmethod
    def scan(self, request: ScanRequest) -> ScanResult: ...

    @abstractmethod
    def write(self, table: str, data: pa.Table, mode: Literal["append", "replace", "create"] = "append") -> int:
        """Write Arrow data into a table of the source; returns rows written."""

    @abstractmethod
    def stats(self, port: OutputPort) -> TableStats: ...

    def statistics(self, port: OutputPort, *, analyze: str = "never") -> TableStatistics:
        """Row count and per-column statistics from the source's own catalog (cheap: no scan of
        the data). Sources override this; the default knows the row count only.

        ``analyze`` (:data:`meshfabric.connectors.statistics.Analyze`): ``never`` reads what the
        source keeps; ``missing`` may run the source's own sampled ANALYZE where it keeps
        nothing and that is cheap; ``always`` runs it (``stats refresh --analyze``)."""
        basic = self.stats(port)
        return TableStatistics(basic.row_count, basic.size_bytes, exact=basic.exact,
                               taken_at=datetime.now(UTC), origin="row count")

    #: True when the engine's DuckDB can read this source's data itself (:meth:`read_in_place`):
    #: files on the engine's own disk are read where they lie, with nothing to move
    reads_in_place: bool = False

    def read_in_place(self, request: ScanRequest) -> InPlaceRead:
        """The statement the engine runs to read ``request`` itself (sources with
        :attr:`reads_in_place` only)."""
        raise NotImplementedError(f"source kind '{self.kind}' is not read in place")

    def run_on_port(self, port: OutputPort, fn: Callable[[PortSession], T]) -> T:
        """Call ``fn`` with a :class:`PortSession` on one connection; transient failures retry ``fn``.

        Lets aggregate work (profiles, quality metrics) run inside the source, several dependent
        statements over one connection, instead of moving rows out to count them.
        """
        raise self.error(f"{self.kind or type(self).__name__} sources cannot run statements over a port")

    def can_push(self, predicate: exp.Expression, columns: dict[str, ColumnInfo]) -> bool:
        """Whether this source evaluates ``predicate`` exactly as DuckDB would."""
        from meshfabric.connectors.pushdown import portable_predicate

        return portable_predicate(predicate, columns, self.dialect, rules=self.pushdown_rules)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release pooled connections, if any."""

    def error(self, message: str, hint: str | None = None) -> SourceError:
        return SourceError(self.name, message, hint=hint)


def with_retries(
    fn: Callable[[], T],
    *,
    transient: tuple[type[BaseException], ...],
    attempts: int = 3,
    base_delay: float = 0.2,
    on_give_up: Callable[[BaseException], BaseException] | None = None,
) -> T:
    """Call ``fn``, retrying errors of the ``transient`` types with exponential backoff."""
    last: BaseException | None = None
    for attempt in range(attempts):
        try:
            return fn()
        except transient as exc:
            last = exc
            if attempt + 1 < attempts:
                time.sleep(base_delay * (2**attempt))
    assert last is not None
    if on_give_up is not None:
        raise on_give_up(last) from None
    raise last
