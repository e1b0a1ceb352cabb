"""What a query returns: the rows as Arrow, and what it cost to get them.

The stats say, per scan, which source was asked what and how many rows crossed the wire: the
numbers a user needs to see whether pushdown happened, and the ones a cost-based planner and
the query metrics will be fed from.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from types import TracebackType
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
    #: "source" (read by its connector; ``rows`` crossed into the engine) or "engine" (read by
    #: the engine's DuckDB where the files lie: nothing moved, ``rows`` is 0)
    placement: str = "source"

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
            "placement": self.placement,
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
        try:
            import pandas  # noqa: F401  (pyarrow imports it itself, with a bare ModuleNotFoundError)
        except ImportError:
            from meshfabric.errors import ConfigError

            raise ConfigError("pandas is not installed", hint="pip install 'meshfabric[pandas]'") from None
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

    def to_json(self, *, indent: int | None = None) -> str:
        """The rows as a JSON array of objects (column name → value), written by :func:`json_dumps`."""
        return json_dumps(self._table.to_pylist(), indent=indent)

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


class QueryStream:
    """The result of a query read as it is produced: Arrow record batches, in result order.

    ``mesh.query(..., stream=True)`` returns one. The query is the same secured, planned query
    :class:`QueryResult` holds the rows of; only its last step differs: the engine's statement
    is read batch by batch (DuckDB's record batch reader) instead of into one table, so a
    consumer that writes each batch out (the REST API's Arrow stream, the CLI's CSV, JSON and
    Parquet output) holds one batch at a time, not the whole result.

    The engine's session stays open, and the query's time limit keeps running, until the
    stream ends: when the last batch has been read, when reading fails (the error is the same
    QueryError, QueryTimeout or QueryCancelled a materialised query raises), or when
    :meth:`close` is called — by ``with``, by a consumer that stops early, or, as a last
    resort, when the stream is garbage-collected. :meth:`cancel` stops a read in progress from
    another thread. ``stats`` holds the scans at once (they are over when the first batch is
    there); its ``engine_seconds`` is the time to the first batch until the stream ends.
    """

    def __init__(
        self,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        stats: QueryStats,
        *,
        close: Callable[[QueryStream], None] | None = None,
        cancel: Callable[[], None] | None = None,
    ) -> None:
        self.schema = schema
        self.stats = stats
        #: rows read so far (all of them once the stream is exhausted)
        self.rows_read = 0
        #: True once every batch has been read
        self.exhausted = False
        self._batches = iter(batches)
        self._close = close
        self._cancel = cancel
        self._lock = threading.Lock()
        self._closed = False
        self._iterating = False
        self._on_close: list[Callable[[QueryStream], None]] = []
        #: what ended the stream when reading it failed (None: exhausted, closed, or still open)
        self.error: BaseException | None = None
        #: set by the access layer: the error to raise instead of one a read raised (a policy
        #: expression that failed, named without the value the engine's message may quote)
        self.explain_error: Callable[[BaseException], BaseException | None] | None = None

    @classmethod
    def of(cls, result: QueryResult) -> QueryStream:
        """A stream over a result already materialised (the Spark engine's): the same interface."""
        table = result.arrow()
        out = cls(table.schema, table.to_batches(), result.stats)
        for extra in ("rows_written", "scan_bytes"):
            if hasattr(result, extra):
                setattr(out, extra, getattr(result, extra))
        return out

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        with self._lock:
            if self._iterating:
                raise RuntimeError("a query stream can be read only once")
            self._iterating = True
        try:
            for batch in self._batches:
                self.rows_read += batch.num_rows
                yield batch
            self.exhausted = True
        except GeneratorExit:  # the consumer stopped reading: not a failure
            raise
        except BaseException as exc:
            explained = self.explain_error(exc) if self.explain_error is not None else None
            self.error = explained or exc
            if explained is not None:
                raise explained from None
            raise
        finally:
            self.close()

    def on_close(self, callback: Callable[[QueryStream], None]) -> None:
        """Call ``callback(stream)`` once the stream has ended and its query is released (the
        access layer audits a streamed query then, with the rows it delivered)."""
        self._on_close.append(callback)

    def scan_stats(self) -> list[dict[str, Any]]:
        """Per scan: product, source, source_sql, rows, seconds, columns and filters."""
        return [s.as_dict() for s in self.stats.scans]

    def cancel(self) -> None:
        """Stop the engine's statement now (from any thread); reading then raises QueryCancelled."""
        if self._cancel is not None and not self._closed:
            self._cancel()

    def close(self) -> None:
        """Release the query: its engine session, its time limit. Idempotent; a read still
        pending afterwards ends (a partial result is never mistaken for a whole one: only an
        exhausted stream sets :attr:`exhausted`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            close, self._close = self._close, None
        try:
            if close is not None:
                close(self)  # given the stream, not holding it: a dropped stream is collected at once
        finally:
            for callback in self._on_close:
                callback(self)

    def read_all(self) -> QueryResult:
        """Every remaining batch as one materialised :class:`QueryResult`."""
        import pyarrow as pa

        table = pa.Table.from_batches(list(self), schema=self.schema)
        out = QueryResult(table, self.stats)
        if hasattr(self, "scan_bytes"):
            out.scan_bytes = self.scan_bytes  # type: ignore[attr-defined]
        return out

    def finished(self, engine_seconds: float) -> None:
        """Called by the engine when the stream ends: the engine's time in the stats."""
        self.stats = replace(self.stats, engine_seconds=engine_seconds)

    def __enter__(self) -> QueryStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    def __repr__(self) -> str:
        state = "exhausted" if self.exhausted else "closed" if self._closed else "open"
        return f"<QueryStream {len(self.schema)} columns, {self.rows_read} rows read, {state}>"


# -- JSON ------------------------------------------------------------------------------------------

#: decimals whose exponent lies within this range are written in positional notation
#: (``123.4500``), others in E-notation (``1.2E+60``): both are exact JSON numbers
_POSITIONAL_EXPONENT = 60


def json_dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text of query results, with every number written exactly.

    ``json.dumps(default=str)`` turns decimals (``sum(bigint)`` is one) into strings and writes
    NaN as the invalid token ``NaN``; the CLI (``query --format json``) and the REST API
    (``POST /api/v1/query``) both write through this function instead, so they agree:

    - integers of any size are JSON integers; decimals are JSON numbers with all their digits
      (parse them with ``json.loads(text, parse_float=decimal.Decimal)`` to keep every digit);
    - NaN, Infinity and -Infinity (float or decimal) are ``null``: JSON has no such numbers,
      and a string would change the type of the column for a reader;
    - dates, times and timestamps are ISO 8601 strings, intervals ISO 8601 durations, binary
      values base64 strings, anything else its ``str``.

    >>> from decimal import Decimal
    >>> json_dumps({"pop": Decimal("12345678901234567890123456789012345678"), "x": float("nan")})
    '{"pop": 12345678901234567890123456789012345678, "x": null}'
    >>> json_dumps([2**64, Decimal("0.000000010"), Decimal("1E+3"), -0.5])
    '[18446744073709551616, 0.000000010, 1000, -0.5]'
    """
    parts: list[str] = []
    _encode(value, parts, indent, 0)
    return "".join(parts)


def json_number(value: Decimal) -> str:
    """The exact JSON number text of a finite decimal (callers map NaN and infinities first).

    >>> json_number(Decimal("-1.50")), json_number(Decimal("1E+61"))
    ('-1.50', '1E+61')
    """
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "NaN and infinities have no JSON number"
    if -_POSITIONAL_EXPONENT <= exponent <= _POSITIONAL_EXPONENT:
        return format(value, "f")
    return str(value)


def _scalar(value: Any) -> str | None:
    """JSON text of a value that is not a container, or None when it is one."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else "null"
    if isinstance(value, Decimal):
        return json_number(value) if value.is_finite() else "null"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return json.dumps(value.isoformat())
    if isinstance(value, dt.timedelta):
        return json.dumps(_duration(0, 0, (value.days * 86400 + value.seconds) * 10**9 + value.microseconds * 1000))
    if all(hasattr(value, a) for a in ("months", "days", "nanoseconds")):  # Arrow's MonthDayNano
        return json.dumps(_duration(value.months, value.days, value.nanoseconds))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return json.dumps(base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, (dict, list, tuple)):
        return None
    return json.dumps(str(value))


def _duration(months: int, days: int, nanoseconds: int) -> str:
    """ISO 8601 duration, each part signed on its own: ``P1M2DT3.5S``, ``PT-1S``, ``PT0S``."""
    date = (f"{months}M" if months else "") + (f"{days}D" if days else "")
    if nanoseconds or not date:
        return f"P{date}T{json_number(Decimal(nanoseconds).scaleb(-9).normalize())}S"
    return f"P{date}"


def _encode(value: Any, out: list[str], indent: int | None, level: int) -> None:
    text = _scalar(value)
    if text is not None:
        out.append(text)
        return
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    opener, closer = ("{", "}") if isinstance(value, dict) else ("[", "]")
    if not items:
        out.append(opener + closer)
        return
    if indent is None:
        inner, outer, comma = "", "", ", "
    else:
        inner, outer, comma = "\n" + " " * (indent * (level + 1)), "\n" + " " * (indent * level), ","
    out.append(opener)
    for i, (key, item) in enumerate(items):
        out.append((comma if i else "") + inner)
        if isinstance(value, dict):
            out.append(json.dumps(str(key)) + ": ")
        _encode(item, out, indent, level + 1)
    out.append(outer + closer)


def json_array_chunks(rows: Iterable[Any], *, indent: int | None = None) -> Iterator[str]:
    """The text :func:`json_dumps` writes for ``list(rows)``, piece by piece, without holding
    the list: a streamed result is written as JSON one batch of rows at a time.

    >>> "".join(json_array_chunks(iter([{"a": 1}, {"a": 2}]), indent=2)) == json_dumps([{"a": 1}, {"a": 2}], indent=2)
    True
    >>> "".join(json_array_chunks(iter([])))
    '[]'
    """
    if indent is None:
        inner, outer, comma = "", "", ", "
    else:
        inner, outer, comma = "\n" + " " * indent, "\n", ","
    first = True
    for item in rows:
        parts: list[str] = ["[" if first else comma, inner]
        _encode(item, parts, indent, 1)
        first = False
        yield "".join(parts)
    yield "[]" if first else outer + "]"
