"""The statistic rule's stddev where the source has no STDDEV (SQLite): sums of x - c around one
of the column's values, against Python's statistics module on data far from 0."""

from __future__ import annotations

import math
import random
import sqlite3
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.connectors.base import ColumnInfo
from meshfabric.quality import compile as qc
from meshfabric.spec.quality_rules import StatisticRule
from meshfabric.types import LogicalType

COLUMNS = [ColumnInfo("x", "REAL", LogicalType("double"))]
RULE = StatisticRule(type="statistic", column="x", statistic="stddev", max=1)


def sqlite_stddev(values: list[float | None]) -> float | None:
    con = sqlite3.connect(":memory:")
    try:
        con.execute("CREATE TABLE t (x REAL)")
        con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
        scan = qc.compile_scan([RULE], COLUMNS, '"t"', "sqlite")
        v = {role: value for (i, role), value in scan.values(lambda sql: con.execute(sql).fetchall()).items()
             if i == 0}
        assert not v.get("nonfinite")
        variance = qc.variance_from_shifted_sums(v["n"], v["sum"] or 0.0, v["sumsq"] or 0.0)
        return None if variance is None else math.sqrt(variance)
    finally:
        con.close()


@settings(max_examples=150, deadline=None)
@given(offset=st.sampled_from([0.0, 1e3, -1e6, 1e9, 1e12]),
       deviations=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=0, max_size=60),
       nulls=st.integers(0, 3))
def test_shifted_stddev_matches_statistics_on_shifted_data(offset: float, deviations: list[float], nulls: int) -> None:
    values = [offset + d for d in deviations]
    got = sqlite_stddev([None] * nulls + values)
    if len(values) < 2:
        assert got is None
        return
    want = statistics.stdev(values)  # exact rational arithmetic over the stored doubles
    # the shift costs at most the rounding of x - c: a few ulps of the offset
    assert got is not None and math.isclose(got, want, rel_tol=1e-6, abs_tol=4 * math.ulp(max(abs(offset), 1.0)))


def test_a_million_values_near_1e9_keep_their_variance() -> None:
    """Σx² − (Σx)²/n gave 0 here; the true stddev is about 1."""
    rng = random.Random(3)
    values = [1e9 + rng.gauss(0, 1) for _ in range(1_000_000)]
    got = sqlite_stddev(values)
    assert got is not None and math.isclose(got, statistics.pstdev(values[:100_000]), rel_tol=0.02)
