"""The statistics cache's JSON encoding gives back exactly what it was given, and the helpers
that turn a source catalog's text into values of a column's logical type."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.connectors.base import ColumnStatistics, TableStatistics
from meshfabric.connectors.statistics import (
    bounds,
    coerce,
    decode,
    decode_value,
    duckdb_column,
    encode,
    encode_value,
    interpolate,
    parse_pg_array,
    port_fingerprint,
)
from meshfabric.types import parse_type

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.text(),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                            timezone(-timedelta(hours=8))])),
    st.times(),
    st.uuids(),
    st.binary(max_size=40),
)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (NaN equals NaN; Decimal keeps its exponent)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


@given(_values)
@settings(max_examples=400)
def test_every_value_survives_json(value: Any) -> None:
    raw = json.loads(json.dumps(encode_value(value)))
    assert _same(decode_value(raw), value)


_columns = st.builds(
    ColumnStatistics,
    distinct=st.one_of(st.none(), st.floats(min_value=0, max_value=1e12)),
    null_fraction=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    min=_values,
    max=_values,
    histogram=st.one_of(st.none(), st.lists(_values, max_size=5).map(tuple)),
    avg_width=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
)


@given(
    st.one_of(st.none(), st.integers(min_value=0, max_value=2**62)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=2**62)),
    st.dictionaries(st.text(min_size=1, max_size=20), _columns, max_size=4),
    st.booleans(),
    st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    st.text(max_size=30),
)
@settings(max_examples=200)
def test_table_statistics_survive_the_store(rows: int | None, size: int | None, columns: dict[str, ColumnStatistics],
                                            exact: bool, taken: datetime | None, origin: str) -> None:
    stats = TableStatistics(rows, size, columns, exact, taken, origin)
    back = decode(json.loads(json.dumps(encode(stats))))
    assert back is not None
    assert (back.row_count, back.size_bytes, back.exact) == (rows, size, exact)
    assert (back.taken_at, back.origin) == (taken, origin)
    assert back.columns.keys() == columns.keys()
    for name, col in columns.items():
        got = back.columns[name]
        for attr in ("distinct", "null_fraction", "min", "max", "avg_width"):
            assert _same(getattr(got, attr), getattr(col, attr)), attr
        if col.histogram is None:
            assert got.histogram is None
        else:
            assert got.histogram is not None and len(got.histogram) == len(col.histogram)
            assert all(_same(a, b) for a, b in zip(got.histogram, col.histogram, strict=True))


def test_dates_decimals_and_strings_come_back_exactly() -> None:
    stats = TableStatistics(3, None, {
        "day": ColumnStatistics(2, 0.0, date(2024, 2, 29), date(2024, 3, 1), (date(2024, 2, 29), date(2024, 3, 1))),
        "amount": ColumnStatistics(3, 0.25, Decimal("0.10"), Decimal("12.50")),
        "name": ColumnStatistics(3, None, "Ångström", "zoë"),
        "at": ColumnStatistics(None, None, datetime(2024, 1, 1, 12, tzinfo=UTC), datetime(2024, 1, 2)),
    }, exact=True, taken_at=datetime(2024, 5, 1, tzinfo=UTC), origin="test")
    back = decode(json.loads(json.dumps(encode(stats))))
    assert back == stats
    assert str(back.columns["amount"].min) == "0.10"


def test_documents_of_another_format_or_damaged_decode_to_none() -> None:
    assert decode(None) is None
    assert decode({"format": 99}) is None
    assert decode({"format": 1, "columns": {"a": {"min": {"$nope": 1}}}}) is None
    assert decode({"format": 1, "columns": {"a": {"min": {"$date": "not a date"}}}}) is None


def test_the_fingerprint_follows_the_port_and_the_column_types() -> None:
    port = {"source": "db", "table": "orders"}
    cols = [{"name": "id", "type": "bigint", "description": "x"}]
    base = port_fingerprint(port, cols)
    assert port_fingerprint(dict(port), [{"name": "id", "type": "bigint", "description": "changed"}]) == base
    assert port_fingerprint({"source": "db", "table": "orders2"}, cols) != base
    assert port_fingerprint(port, [{"name": "id", "type": "string"}]) != base
    assert port_fingerprint(port, [*cols, {"name": "extra", "type": "date"}]) != base


def test_catalog_text_becomes_values_of_the_logical_type() -> None:
    assert coerce("2024-02-29", parse_type("date")) == date(2024, 2, 29)
    assert coerce("2024-02-29 10:11:12", parse_type("date")) == date(2024, 2, 29)
    assert coerce(b"12.5", parse_type("decimal(10,2)")) == Decimal("12.50")
    assert coerce("2024-01-02 03:04:05.5+01", parse_type("timestamptz")) == datetime(2024, 1, 2, 2, 4, 5, 500000,
                                                                                       tzinfo=UTC)
    assert coerce("2024-01-02 03:04:05", parse_type("timestamp")) == datetime(2024, 1, 2, 3, 4, 5)
    assert coerce("12:30:00", parse_type("time")) == time(12, 30)
    assert coerce("-7", parse_type("integer")) == -7 and coerce("7.0", parse_type("bigint")) == 7
    assert coerce("7.5", parse_type("bigint")) is None
    assert coerce("infinity", parse_type("double")) is None and coerce("infinity", parse_type("date")) is None
    assert coerce("f", parse_type("boolean")) is False
    u = uuid.uuid4()
    assert coerce(str(u), parse_type("uuid")) == u
    assert coerce('{"a": 1}', parse_type("json")) is None and coerce("x", parse_type("list<string>")) is None
    assert coerce(19782, parse_type("date")) == date(2024, 2, 29)  # days since the epoch


def test_postgres_array_literals() -> None:
    assert parse_pg_array('{1,2,3}') == ["1", "2", "3"]
    assert parse_pg_array('{"a b","c,d",NULL,"NULL","x\\"y","back\\\\slash"}') == [
        "a b", "c,d", None, "NULL", 'x"y', "back\\slash"]
    assert parse_pg_array("{}") == [] and parse_pg_array(None) == []
    assert parse_pg_array("[0:1]={5,6}") == ["5", "6"]


def test_bounds_and_interpolation() -> None:
    assert bounds([3, None, 1, 2]) == (1, 3) and bounds([]) == (None, None)
    assert interpolate(0, 100, 0.5, parse_type("integer")) == 50
    assert interpolate(date(2024, 1, 1), date(2024, 1, 11), 0.5, parse_type("date")) == date(2024, 1, 6)
    assert interpolate(Decimal("1.00"), Decimal("2.00"), 0.25, parse_type("decimal(5,2)")) == Decimal("1.25")
    assert interpolate("a", "z", 0.5, parse_type("string")) is None


def test_duckdb_stats_text() -> None:
    text = "[Min: 2020-01-01, Max: 2021-12-31][Has Null: true, Has No Null: true][Approx Unique: 700]"
    col = duckdb_column(text, parse_type("date"), 1000)
    assert (col.min, col.max, col.null_fraction, col.distinct) == (date(2020, 1, 1), date(2021, 12, 31), None, 700.0)
    long = "[Min: aaaaaaaa, Max: zzzzzzzz, Has Unicode: false, Max String Length: 30][Has Null: false, " \
           "Has No Null: true][Approx Unique: 5000]"
    col = duckdb_column(long, parse_type("string"), 100)
    assert (col.min, col.max, col.null_fraction, col.distinct) == (None, None, 0.0, 100.0)
