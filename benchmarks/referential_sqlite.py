"""Referential check on SQLite over an unindexed key: the former correlated NOT EXISTS against
the anti-join (LEFT JOIN over DISTINCT keys) that meshfabric.quality.compile.orphans_sql sends.

    .venv/bin/python benchmarks/referential_sqlite.py [rows]     # default 30000

Prints both timings, the ratio and checks that both count the same orphans.
"""

from __future__ import annotations

import sqlite3
import sys
import time

from meshfabric.connectors.base import ColumnInfo
from meshfabric.quality import compile as qc
from meshfabric.spec.quality_rules import ReferentialRule
from meshfabric.types import LogicalType

OLD = ('SELECT COUNT(*) AS "failing" FROM (SELECT * FROM "orders") AS "_mf_t" WHERE NOT "_mf_t"."cid" IS NULL '
       'AND NOT EXISTS(SELECT 1 FROM (SELECT * FROM "customers") AS "_mf_r" WHERE "_mf_r"."id" = "_mf_t"."cid")')


def main(rows: int) -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")  # no index on id
    con.execute("CREATE TABLE orders (id INTEGER, cid INTEGER)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i}") for i in range(rows)])
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, (i * 7) % (rows + rows // 10)) for i in range(rows)])
    rule = ReferentialRule(type="referential", column="cid", reference="crm.customers", reference_column="id")
    new = qc.orphans_sql(rule, [ColumnInfo("cid", "INTEGER", LogicalType("bigint"))], '"orders"',
                         [ColumnInfo("id", "INTEGER", LogicalType("bigint"))], '"customers"', "sqlite")
    timings = {}
    counts = {}
    for name, sql in (("anti-join", new), ("NOT EXISTS", OLD)):
        started = time.perf_counter()
        counts[name] = con.execute(sql).fetchone()[0]
        timings[name] = time.perf_counter() - started
    assert counts["anti-join"] == counts["NOT EXISTS"], counts
    print(f"{rows} x {rows} rows, {counts['anti-join']} orphans")
    for name, seconds in timings.items():
        print(f"  {name:<11} {seconds:8.3f} s")
    print(f"  before/after ratio: {timings['NOT EXISTS'] / timings['anti-join']:.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30_000)
