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

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


@dataclass
class ScanRequest:
    """What to read from one output port.

    ``columns`` None means every column, an empty list means none (count-only scans still need
    row cardinality: connectors return a table with the right number of rows and no columns).
    ``filters`` are conjuncts the caller wants pushed; the connector pushes those it can and
    reports them in :attr:`ScanResult.pushed_filters`.
    """

    port: OutputPort
    columns: list[str] | None = None
    filters: list[exp.Expression] = field(default_factory=list)
    limit: int | None = None


@dataclass
class ScanResult:
    table: pa.Table
    source_sql: str | None
    pushed_filters: list[exp.Expression]
    seconds: float

    @property
    def rows(self) -> int:
        return self.table.num_rows


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


def batched(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
