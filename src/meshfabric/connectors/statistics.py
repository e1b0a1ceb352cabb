"""What every connector's ``statistics(port)`` shares: turning the text and native values a
source's catalog keeps (``pg_stats`` arrays, MariaDB ``column_stats`` varbinary, Parquet footer
values, DuckDB ``stats()`` strings) into Python values of a column's logical type, and the rule
that a source which cannot say more about its columns still gives its row count.

Nothing here reads data: callers pass what the source's own catalog holds.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from meshfabric.connectors.base import ColumnStatistics, TableStatistics
from meshfabric.types import INTEGER_TYPES, LogicalType

if TYPE_CHECKING:
    from meshfabric.connectors.base import Connector
    from meshfabric.spec.models import OutputPort

#: how far a connector may go to get column statistics the source does not keep yet:
#: ``never`` reads only what is there (apply, background refresh); ``missing`` runs the
#: source's own sampled ANALYZE where it has none at all and that is cheap (an explicit
#: ``stats refresh``); ``always`` runs it for every product (``stats refresh --analyze``)
Analyze = Literal["never", "missing", "always"]
ANALYZE_LEVELS: tuple[str, ...] = ("never", "missing", "always")

#: a table with at most this many rows may get its missing column statistics from one
#: aggregate statement over it (SQLite, DuckDB), which is as cheap as counting it
SMALL_ROWS = 100_000

#: the logical types whose values have an order meshfabric keeps as min/max/histogram
ORDERED = frozenset(
    {*INTEGER_TYPES, "float", "double", "decimal", "string", "date", "time", "timestamp", "timestamptz", "boolean",
     "uuid"}
)


def now() -> datetime:
    return datetime.now(UTC)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="strict")
    return str(value)


def coerce(value: Any, logical: LogicalType) -> Any:
    """``value`` (a Python value or the text a source's catalog keeps) as a value of ``logical``;
    None when it has no such value (NULL, infinity, unparseable, an unordered type).

    >>> from meshfabric.types import parse_type
    >>> coerce("2024-02-29", parse_type("date")), coerce(b"12.50", parse_type("decimal(10,2)"))
    (datetime.date(2024, 2, 29), Decimal('12.50'))
    >>> coerce("t", parse_type("boolean")), coerce("7", parse_type("bigint")), coerce("x", parse_type("json"))
    (True, 7, None)
    """
    if value is None or logical.name not in ORDERED:
        return None
    try:
        return _coerce(value, logical)
    except (ValueError, TypeError, ArithmeticError, UnicodeDecodeError, InvalidOperation, OverflowError):
        return None


def _coerce(value: Any, logical: LogicalType) -> Any:
    name = logical.name
    if name in INTEGER_TYPES:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float | Decimal):
            if not math.isfinite(value) or value != int(value):
                return None
            return int(value)
        text = _text(value).strip()
        return int(Decimal(text)) if re.fullmatch(r"[+-]?\d+(\.0*)?", text) else None
    if name in ("float", "double"):
        number = float(value) if isinstance(value, int | float | Decimal) else float(_text(value).strip())
        return number if math.isfinite(number) else None
    if name == "decimal":
        if isinstance(value, float):
            if not math.isfinite(value):
                return None
            number = Decimal(repr(value))
        elif isinstance(value, Decimal | int):
            number = Decimal(value)
        else:
            number = Decimal(_text(value).strip())
        if not number.is_finite():
            return None
        if logical.scale is not None and logical.precision is not None:
            number = number.quantize(Decimal(1).scaleb(-logical.scale))
        return number
    if name == "string":
        return _text(value)
    if name == "boolean":
        if isinstance(value, bool | int):
            return bool(value)
        text = _text(value).strip().lower()
        if text in ("t", "true", "1", "yes", "on"):
            return True
        if text in ("f", "false", "0", "no", "off"):
            return False
        return None
    if name == "uuid":
        return value if isinstance(value, uuid.UUID) else uuid.UUID(_text(value).strip())
    if name == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, int):  # days since the epoch (Parquet DATE, DuckDB)
            return date(1970, 1, 1) + timedelta(days=value)
        return date.fromisoformat(_text(value).strip()[:10])
    if name == "time":
        if isinstance(value, time):
            return value
        return time.fromisoformat(_text(value).strip())
    if name in ("timestamp", "timestamptz"):
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        else:
            moment = _parse_timestamp(_text(value).strip())
        if name == "timestamptz":
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.replace(tzinfo=None) if moment.tzinfo is not None else moment
    return None


_TZ_HOURS = re.compile(r"([+-]\d\d)$")


def _parse_timestamp(text: str) -> datetime:
    """ISO text as PostgreSQL, MariaDB and DuckDB print it (``2024-01-02 03:04:05.6+01``)."""
    text = _TZ_HOURS.sub(r"\1:00", text)
    return datetime.fromisoformat(text)


def ordered(values: Iterable[Any]) -> list[Any]:
    """Values sorted ascending, those that cannot be compared with the rest left out."""
    kept = [v for v in values if v is not None]
    try:
        return sorted(kept)
    except TypeError:
        return []


def bounds(values: Iterable[Any]) -> tuple[Any, Any]:
    """(min, max) of the values, (None, None) without any."""
    kept = ordered(values)
    return (kept[0], kept[-1]) if kept else (None, None)


def parse_pg_array(text: str | None) -> list[str | None]:
    """The elements of a one-dimensional PostgreSQL array literal (``{a,"b c",NULL}``).

    >>> parse_pg_array('{1,"a \\\\"b\\\\"",NULL,"NULL"}')
    ['1', 'a "b"', None, 'NULL']
    """
    if not text:
        return []
    text = text.strip()
    if text.startswith("[") and "=" in text:  # explicit bounds: [0:2]={...}
        text = text.split("=", 1)[1]
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("not an array literal")
    body = text[1:-1]
    out: list[str | None] = []
    i, n = 0, len(body)
    while i < n:
        if body[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and body[i] != '"':
                if body[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(body[i])
                i += 1
            out.append("".join(chars))
            i += 1  # the closing quote
        else:
            j = body.find(",", i)
            j = n if j < 0 else j
            raw = body[i:j].strip()
            out.append(None if raw.upper() == "NULL" else raw)
            i = j
        if i < n and body[i] == ",":
            i += 1
    return out


def interpolate(low: Any, high: Any, fraction: float, logical: LogicalType) -> Any:
    """The value ``fraction`` (0..1) of the way from ``low`` to ``high`` (MariaDB's binary
    histograms keep bucket ends as such fractions); None for types without a distance."""
    fraction = min(1.0, max(0.0, fraction))
    name = logical.name
    if low is None or high is None:
        return None
    if name in INTEGER_TYPES:
        return round(low + (high - low) * fraction)
    if name in ("float", "double"):
        return float(low + (high - low) * fraction)
    if name == "decimal":
        value = low + (high - low) * Decimal(repr(fraction))
        return coerce(value, logical)
    if name == "date":
        return date.fromordinal(round(low.toordinal() + (high.toordinal() - low.toordinal()) * fraction))
    if name in ("timestamp", "timestamptz"):
        return low + (high - low) * fraction
    return None


def row_count_only(connector: Connector, port: OutputPort, origin: str) -> TableStatistics:
    """The source's row count (``Connector.stats``) as statistics without columns."""
    basic = connector.stats(port)
    return TableStatistics(basic.row_count, basic.size_bytes, exact=basic.exact, taken_at=now(), origin=origin)


def guarded(
    connector: Connector, port: OutputPort, read: Callable[[], TableStatistics], *, origin: str
) -> TableStatistics:
    """``read()``, or the row count alone when the source cannot give more (a catalog the
    role may not read, an unexpected format). A source that cannot even count raises."""
    from meshfabric.connectors import TransientError
    from meshfabric.errors import SourceError

    try:
        return read()
    except TransientError:
        raise
    except Exception as exc:
        if isinstance(exc, SourceError) and any(m in str(exc) for m in _UNREACHABLE):
            raise  # the source does not answer: asking it for its row count would only wait again
        fallback = row_count_only(connector, port, f"{origin} (row count only: {_reason(exc)})")
        if isinstance(exc, SourceError) and fallback.row_count is None:
            raise
        return fallback


#: what a connector's error says when the source could not be reached at all
_UNREACHABLE = ("(gave up after", "no answer from")


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def column(
    *,
    distinct: float | None = None,
    null_fraction: float | None = None,
    low: Any = None,
    high: Any = None,
    histogram: Sequence[Any] | None = None,
    avg_width: float | None = None,
) -> ColumnStatistics:
    """A :class:`ColumnStatistics` with its numbers clamped to what they can be (a distinct
    count is never negative, a null fraction lies in 0..1, a histogram ascends)."""
    if distinct is not None and (not math.isfinite(distinct) or distinct < 0):
        distinct = None
    if null_fraction is not None:
        null_fraction = None if not math.isfinite(null_fraction) else min(1.0, max(0.0, float(null_fraction)))
    hist = tuple(ordered(histogram)) if histogram else None
    if avg_width is not None and (not math.isfinite(avg_width) or avg_width < 0):
        avg_width = None
    return ColumnStatistics(
        distinct=float(distinct) if distinct is not None else None,
        null_fraction=null_fraction,
        min=low,
        max=high,
        histogram=hist or None,
        avg_width=float(avg_width) if avg_width is not None else None,
    )


def aggregate_sql(relation: str, cols: Sequence[Any], dialect: str) -> str | None:
    """One statement computing, per column, its non-null count, distinct count, min and max
    (the exact statistics of a *small* relation, as cheap as counting it); None without columns."""
    from meshfabric.connectors.pushdown import quote_ident

    parts: list[str] = ["count(*)"]
    for col in cols:
        q = quote_ident(col.name, dialect)
        parts += [f"count({q})", f"count(DISTINCT {q})"]
        parts += [f"min({q})", f"max({q})"] if col.type.name in ORDERED else ["NULL", "NULL"]
    return f"SELECT {', '.join(parts)} FROM {relation}" if cols else None


def aggregate_columns(values: Sequence[Any], cols: Sequence[Any]) -> tuple[int, dict[str, ColumnStatistics]]:
    """The row count and column statistics from the row :func:`aggregate_sql` returned."""
    rows = int(values[0] or 0)
    out = {}
    if rows > 0:
        for i, col in enumerate(cols):
            non_null, distinct, low, high = values[1 + 4 * i: 5 + 4 * i]
            out[col.name] = column(distinct=float(distinct or 0), null_fraction=1.0 - int(non_null or 0) / rows,
                                   low=coerce(low, col.type), high=coerce(high, col.type))
    return rows, out


_DUCK_MINMAX = re.compile(r"\[Min: (?P<min>.*?), Max: (?P<max>.*?)(?:, Has Unicode: \w+, Max String Length: "
                          r"(?P<len>\d+))?\]")
_DUCK_UNIQUE = re.compile(r"\[Approx Unique: (\d+)\]")
_DUCK_NULL = re.compile(r"\[Has Null: (\w+), Has No Null: (\w+)\]")
#: DuckDB keeps only this many bytes of a string column's min and max
_DUCK_STRING_PREFIX = 8


def duckdb_column(text: str | None, logical: LogicalType, rows: int) -> ColumnStatistics:
    """A column's statistics from DuckDB's ``stats(column)`` text (``[Min: 1, Max: 9][Has
    Null: false, Has No Null: true][Approx Unique: 9]``): table metadata, not a scan.

    >>> from meshfabric.types import parse_type
    >>> duckdb_column("[Min: 1, Max: 9][Has Null: false, Has No Null: true][Approx Unique: 9]",
    ...               parse_type("integer"), 9)
    ColumnStatistics(distinct=9.0, null_fraction=0.0, min=1, max=9, histogram=None, avg_width=None)
    """
    if not text:
        return ColumnStatistics()
    low = high = None
    m = _DUCK_MINMAX.search(text)
    if m and (m.group("len") is None or int(m.group("len")) <= _DUCK_STRING_PREFIX):
        low, high = coerce(m.group("min"), logical), coerce(m.group("max"), logical)
    null_fraction = None
    n = _DUCK_NULL.search(text)
    if n:
        has_null, has_value = n.group(1) == "true", n.group(2) == "true"
        null_fraction = 0.0 if not has_null else (1.0 if not has_value else None)
    u = _DUCK_UNIQUE.search(text)
    distinct = min(float(u.group(1)), float(rows)) if u else None
    return column(distinct=distinct, null_fraction=null_fraction, low=low, high=high)


# ---------------------------------------------------------------------------------------------
# The store's encoding: JSON that gives back exactly the values it was given


#: document version of :func:`encode`; a document of another version decodes to None
FORMAT = 1


def encode_value(value: Any) -> Any:
    """A statistics value as JSON: numbers, strings and booleans as themselves, everything else
    tagged (``{"$date": "2024-02-29"}``, ``{"$dec": "12.50"}``) so :func:`decode_value` gives
    back an equal value of the same type.

    >>> encode_value(Decimal("1.10")), encode_value(date(2024, 2, 29)), encode_value(float("nan"))
    ({'$dec': '1.10'}, {'$date': '2024-02-29'}, {'$float': 'nan'})
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$ts": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        import base64

        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"no statistics encoding for {type(value).__name__}")


def decode_value(raw: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if not isinstance(raw, dict):
        return raw
    if len(raw) != 1:
        raise ValueError("not an encoded statistics value")
    tag, text = next(iter(raw.items()))
    if tag == "$float":
        return float(text)
    if tag == "$dec":
        return Decimal(text)
    if tag == "$ts":
        return datetime.fromisoformat(text)
    if tag == "$date":
        return date.fromisoformat(text)
    if tag == "$time":
        return time.fromisoformat(text)
    if tag == "$uuid":
        return uuid.UUID(text)
    if tag == "$bytes":
        import base64

        return base64.b64decode(text)
    raise ValueError(f"unknown statistics value tag {tag!r}")


def _number(value: float | None) -> Any:
    return encode_value(value) if value is not None else None


def encode(stats: TableStatistics) -> dict[str, Any]:
    """A :class:`TableStatistics` as a JSON document (:func:`decode` gives it back equal)."""
    return {
        "format": FORMAT,
        "row_count": stats.row_count,
        "size_bytes": stats.size_bytes,
        "exact": stats.exact,
        "taken_at": stats.taken_at.isoformat() if stats.taken_at is not None else None,
        "origin": stats.origin,
        "columns": {
            name: {
                "distinct": _number(c.distinct),
                "null_fraction": _number(c.null_fraction),
                "min": encode_value(c.min),
                "max": encode_value(c.max),
                "histogram": [encode_value(v) for v in c.histogram] if c.histogram is not None else None,
                "avg_width": _number(c.avg_width),
            }
            for name, c in stats.columns.items()
        },
    }


def decode(doc: Any) -> TableStatistics | None:
    """The statistics :func:`encode` wrote; None for anything else (another format, damage)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    try:
        columns = {
            str(name): ColumnStatistics(
                distinct=decode_value(c.get("distinct")),
                null_fraction=decode_value(c.get("null_fraction")),
                min=decode_value(c.get("min")),
                max=decode_value(c.get("max")),
                histogram=tuple(decode_value(v) for v in c["histogram"]) if c.get("histogram") is not None else None,
                avg_width=decode_value(c.get("avg_width")),
            )
            for name, c in (doc.get("columns") or {}).items()
        }
        taken = doc.get("taken_at")
        return TableStatistics(
            row_count=doc.get("row_count"),
            size_bytes=doc.get("size_bytes"),
            columns=columns,
            exact=bool(doc.get("exact")),
            taken_at=datetime.fromisoformat(taken) if taken else None,
            origin=str(doc.get("origin") or ""),
        )
    except (ValueError, TypeError, AttributeError, KeyError, ArithmeticError):
        return None


def port_fingerprint(output: dict[str, Any], columns: Sequence[dict[str, Any]]) -> str:
    """sha256 of an applied product's output port and effective columns: statistics taken for
    another port (an apply changed its table, path, query or schema) are not used."""
    import hashlib
    import json

    doc = {"output": output, "columns": [{"name": c.get("name"), "type": c.get("type")} for c in columns]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
