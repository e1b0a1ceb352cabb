"""What a query returns: the rows as Arrow, and what it cost to get them.

The stats say, per scan, which source was asked what and how many rows crossed the wire: the
numbers a user needs to see whether pushdown happened, and the ones a cost-based planner and
the query metrics will be fed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class ScanStats:
    """One scan as it ran: ``source_sql`` is what the connector sent (None for file reads
    without SQL), ``rows`` the rows it returned, ``pushed_filters`` the conjuncts the source
    applied (DuckDB syntax) and ``kept_filters`` those only the engine could apply."""

    name: str
    product: str
    source: str
    columns: tuple[str, ...]
    source_sql: str | None
    rows: int
    seconds: float
    pushed_filters: tuple[str, ...] = ()
    kept_filters: tuple[str, ...] = ()
    limit: int | None = None
    #: rows a secured scan's row filter admitted into the engine (None: the scan has no filter
    #: the engine applied itself); not part of ``as_dict``: the access layer reports it as
    #: ``rows`` to a filtered principal
    admitted_rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "product": self.product,
            "source": self.source,
            "columns": list(self.columns),
            "source_sql": self.source_sql,
            "rows": self.rows,
            "seconds": self.seconds,
            "pushed_filters": list(self.pushed_filters),
            "kept_filters": list(self.kept_filters),
            "limit": self.limit,
        }


@dataclass(frozen=True)
class QueryStats:
    """Where the time went. ``scan_seconds`` is wall time of all scans (they run concurrently)
    including loading them into the engine's DuckDB, which overlaps the reading."""

    scans: tuple[ScanStats, ...]
    planning_seconds: float
    scan_seconds: float
    engine_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.planning_seconds + self.scan_seconds + self.engine_seconds

    @property
    def rows_moved(self) -> int:
        """Rows read from all sources together."""
        return sum(s.rows for s in self.scans)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scans": [s.as_dict() for s in self.scans],
            "planning_seconds": self.planning_seconds,
            "scan_seconds": self.scan_seconds,
            "engine_seconds": self.engine_seconds,
            "total_seconds": self.total_seconds,
            "rows_moved": self.rows_moved,
        }


class QueryResult:
    """The result of :func:`meshfabric.query.run_query`.

    Arrow is the native form; pandas and polars are converted on request (and imported only
    then, as both are optional extras).
    """

    def __init__(self, table: pa.Table, stats: QueryStats) -> None:
        self._table = table
        self.stats = stats

    def arrow(self) -> pa.Table:
        return self._table

    def to_pandas(self) -> Any:
        return self._table.to_pandas()

    def to_polars(self) -> Any:
        try:
            import polars as pl
        except ImportError:
            from meshfabric.errors import ConfigError

            raise ConfigError("polars is not installed", hint="pip install 'meshfabric[polars]'") from None
        return pl.from_arrow(self._table)

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples of Python values, in result order."""
        columns = [c.to_pylist() for c in self._table.columns]
        if not columns:
            return [() for _ in range(self._table.num_rows)]
        return list(zip(*columns, strict=True))

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    @property
    def seconds(self) -> float:
        return self.stats.total_seconds

    def scan_stats(self) -> list[dict[str, Any]]:
        """Per scan: product, source, source_sql, rows, seconds, columns and filters."""
        return [s.as_dict() for s in self.stats.scans]

    def __len__(self) -> int:
        return self._table.num_rows

    def __repr__(self) -> str:
        return (
            f"<QueryResult {self.num_rows} rows x {len(self.columns)} columns, "
            f"{len(self.stats.scans)} scans, {self.stats.rows_moved} rows moved, {self.seconds:.3f} s>"
        )
