"""Decoding what source catalogs keep, without a server: MariaDB column_stats rows (JSON_HB and
binary histograms) and the fallback to the row count."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from meshfabric.connectors.base import ColumnInfo, Connector, TableStatistics, TableStats
from meshfabric.connectors.mysql import _Column, _column_stats
from meshfabric.connectors.statistics import guarded
from meshfabric.errors import SourceError
from meshfabric.spec.models import OutputPort, SourceSpec
from meshfabric.types import parse_type


def _col(kind: str, base: str) -> _Column:
    return _Column(ColumnInfo("c", base, parse_type(kind)), base)


def test_json_histogram_bounds_are_values() -> None:
    hist = {"target_histogram_size": 4, "histogram_hb": [
        {"start": "2024-01-01", "size": 0.5, "ndv": 10}, {"start": "2024-03-01", "size": 0.5, "ndv": 10,
                                                          "end": "2024-12-31"}]}
    stats = _column_stats(_col("date", "date"), b"2024-01-01", b"2024-12-31", Decimal("0.2500"), Decimal("2.0000"),
                          Decimal("3.0"), "JSON_HB", json.dumps(hist).encode(), 1000.0)
    assert stats.min == date(2024, 1, 1) and stats.max == date(2024, 12, 31)
    assert stats.histogram == (date(2024, 1, 1), date(2024, 3, 1), date(2024, 12, 31))
    assert stats.null_fraction == 0.25 and stats.distinct == 375.0  # 1000 rows * 0.75 non-null / 2 per value
    assert stats.avg_width == 3.0


def test_binary_histograms_are_interpolated_between_min_and_max() -> None:
    ends = b"".join(int(f * 65535).to_bytes(2, "little") for f in (0.25, 0.5, 0.75))
    stats = _column_stats(_col("integer", "int"), b"0", b"400", None, None, None, "DOUBLE_PREC_HB", ends, 10.0)
    assert stats.histogram == (0, 100, 200, 300, 400) and stats.distinct is None
    single = bytes([127])
    stats = _column_stats(_col("decimal(6,2)", "decimal"), b"1.00", b"3.00", None, None, None, "SINGLE_PREC_HB",
                          single, 10.0)
    assert stats.histogram == (Decimal("1.00"), Decimal("2.00"), Decimal("3.00"))
    # strings have no distance: no histogram, min/max still exact
    stats = _column_stats(_col("string", "varchar"), b"abc", b"xyz", None, None, None, "DOUBLE_PREC_HB", ends, 10.0)
    assert stats.histogram is None and (stats.min, stats.max) == ("abc", "xyz")


class _Counting(Connector):
    kind = "test"

    def __init__(self, rows: int | None) -> None:
        super().__init__("t", SourceSpec.model_validate({"kind": "sqlite", "path": "x"}), Path("."))
        self.rows = rows

    def test(self) -> None: ...
    def list_tables(self) -> list[Any]: return []
    def columns(self, port: OutputPort) -> list[ColumnInfo]: return []
    def scan(self, request: Any) -> Any: raise NotImplementedError
    def write(self, table: str, data: Any, mode: Any = "append") -> int: return 0

    def stats(self, port: OutputPort) -> TableStats:
        if self.rows is None:
            raise self.error("gone")
        return TableStats(self.rows, 10, exact=True)


def test_a_catalog_that_cannot_be_read_leaves_the_row_count() -> None:
    port = OutputPort.model_validate({"source": "t", "table": "x"})

    def fails() -> TableStatistics:
        raise PermissionError("permission denied for pg_statistic")

    stats = guarded(_Counting(7), port, fails, origin="postgres pg_stats")
    assert stats.row_count == 7 and stats.exact and stats.columns == {}
    assert stats.origin.startswith("postgres pg_stats (row count only: permission denied")


def test_an_unreachable_source_is_not_asked_twice() -> None:
    port = OutputPort.model_validate({"source": "t", "table": "x"})
    asked: list[int] = []

    class Watching(_Counting):
        def stats(self, port: OutputPort) -> TableStats:
            asked.append(1)
            return super().stats(port)

    def unreachable() -> TableStatistics:
        raise SourceError("t", "cannot reach PostgreSQL (gave up after 3 attempts)")

    try:
        guarded(Watching(7), port, unreachable, origin="x")
    except SourceError as exc:
        assert "gave up" in str(exc)
    else:
        raise AssertionError("expected the SourceError")
    assert asked == []
