"""The 22 TPC-H queries: every output column's lineage agrees with sqlglot's own column lineage
(an independent walk of the same scopes), names only real columns, and a few are checked by hand."""

from __future__ import annotations

import pytest
from sqlglot import exp
from sqlglot.lineage import lineage

import tpch
from meshfabric.lineage import analyze_sql

SCHEMA = {table: dict(cols) for table, cols in tpch.SCHEMA.items()}
COLUMNS = {f"{table}.{col}" for table, cols in tpch.SCHEMA.items() for col, _ in cols}


def _sqlglot_leaves(sql: str, column: str) -> set[str]:
    node = lineage(column, sql, schema=SCHEMA, dialect="duckdb")
    return {f"{n.source.name}.{n.name.rsplit('.', 1)[-1]}".lower() for n in node.walk()
            if not n.downstream and isinstance(n.source, exp.Table)}


@pytest.mark.parametrize("query", sorted(tpch.QUERIES))
def test_tpch_column_lineage_matches_sqlglot(query: int) -> None:
    sql = tpch.QUERIES[query]
    result = analyze_sql(sql, dialect="duckdb", schema=SCHEMA)
    assert result.warnings == []
    (st,) = result.statements
    tree = exp.maybe_parse(sql, dialect="duckdb")
    ctes = {c.alias.lower() for c in tree.find_all(exp.CTE)}
    assert set(st.sources) == {t.name.lower() for t in tree.find_all(exp.Table)} - ctes
    assert st.columns, "every TPC-H query has output columns"
    for col in st.columns:
        # sqlglot's lineage follows every column of the projection: our direct edges plus the
        # field-level indirect ones (CASE conditions, window partitions)
        ours = {str(i.source) for i in col.inputs
                if i.direct or i.transformation.subtype in ("CONDITIONAL", "WINDOW")}
        assert ours == _sqlglot_leaves(sql, col.target.column), col.target
        assert ours <= COLUMNS
    for dep in st.dataset:
        assert str(dep.source) in COLUMNS


def test_tpch_q1_types() -> None:
    (st,) = analyze_sql(tpch.QUERIES[1], dialect="duckdb", schema=SCHEMA).statements
    got = {str(c.target): {(str(i.source), i.transformation.subtype) for i in c.direct} for c in st.columns}
    assert got["l_returnflag"] == {("lineitem.l_returnflag", "IDENTITY")}
    assert got["sum_disc_price"] == {("lineitem.l_extendedprice", "AGGREGATION"),
                                     ("lineitem.l_discount", "AGGREGATION")}
    assert got["count_order"] == set()
    assert {(str(d.source), d.transformation.subtype) for d in st.dataset} >= {
        ("lineitem.l_shipdate", "FILTER"), ("lineitem.l_returnflag", "GROUP_BY"), ("lineitem.l_linestatus", "SORT")}


def test_tpch_q13_derived_table_count_is_masking_aggregation() -> None:
    (st,) = analyze_sql(tpch.QUERIES[13], dialect="duckdb", schema=SCHEMA).statements
    got = {str(c.target): c for c in st.columns}
    (edge,) = got["c_count"].direct
    assert str(edge.source) == "orders.o_orderkey"
    assert (edge.transformation.subtype, edge.transformation.masking) == ("AGGREGATION", True)
    assert {(str(d.source), d.transformation.subtype) for d in st.dataset} >= {
        ("customer.c_custkey", "JOIN"), ("orders.o_custkey", "JOIN"), ("orders.o_comment", "JOIN")}
