"""Typed SQL lineage: OpenLineage transformation types per edge, indirect dependencies, the facet,
script semantics and error reporting."""

from __future__ import annotations

import pytest

from meshfabric.lineage import SqlLineageError, analyze_sql, sql_lineage

D, IND = "DIRECT", "INDIRECT"


def fields(sql: str, dialect: str | None = None, schema: dict | None = None, statement: int = 0) -> dict:
    """``{target: {(source, type, subtype, masking)}}`` of one statement."""
    st = analyze_sql(sql, dialect=dialect, schema=schema).statements[statement]
    return {str(c.target): {(str(i.source), i.transformation.type, i.transformation.subtype,
                             i.transformation.masking) for i in c.inputs} for c in st.columns}


def dataset(sql: str, dialect: str | None = None, statement: int = 0) -> set:
    st = analyze_sql(sql, dialect=dialect).statements[statement]
    return {(str(i.source), i.transformation.type, i.transformation.subtype) for i in st.dataset}


def test_identity_transformation_aggregation_and_masking() -> None:
    got = fields("SELECT a, a + 1 AS b, sum(a) AS c, count(a) AS d, md5(a) AS e, upper(cast(a AS text)) AS f "
                 "FROM t GROUP BY a", "postgres")
    assert got == {
        "a": {("t.a", D, "IDENTITY", False)},
        "b": {("t.a", D, "TRANSFORMATION", False)},
        "c": {("t.a", D, "AGGREGATION", False)},
        "d": {("t.a", D, "AGGREGATION", True)},
        "e": {("t.a", D, "TRANSFORMATION", True)},
        "f": {("t.a", D, "TRANSFORMATION", False)},
    }


def test_types_compose_through_ctes_and_derived_tables() -> None:
    sql = ("WITH c AS (SELECT k, sum(v) AS s, sha2(email, 256) AS h FROM t GROUP BY k, email) "
           "SELECT k, s * 2 AS s2, h FROM (SELECT k, s, h FROM c) AS x")
    assert fields(sql, "spark") == {
        "k": {("t.k", D, "IDENTITY", False)},
        "s2": {("t.v", D, "AGGREGATION", False)},  # a transformation of an aggregation stays an aggregation
        "h": {("t.email", D, "TRANSFORMATION", True)},  # masking survives the identity above it
    }
    assert ("t.k", IND, "GROUP_BY") in dataset(sql, "spark")


def test_conditional_is_indirect_and_values_are_direct() -> None:
    got = fields("SELECT CASE WHEN status = 'x' THEN amount ELSE 0 END AS amt, "
                 "CASE kind WHEN 1 THEN 'a' ELSE 'b' END AS label FROM orders")
    assert got == {
        "amt": {("orders.status", IND, "CONDITIONAL", False), ("orders.amount", D, "TRANSFORMATION", False)},
        "label": {("orders.kind", IND, "CONDITIONAL", False)},
    }
    # no direct edge for a column that only decides which constant is chosen
    assert sql_lineage("SELECT CASE kind WHEN 1 THEN 'a' ELSE 'b' END AS label FROM orders")["columns"] == []


def test_aggregate_filter_clause_is_conditional() -> None:
    got = fields("SELECT count(*) FILTER (WHERE s = 1) AS n, sum(v) FILTER (WHERE k > 0) AS total FROM t", "postgres")
    assert got == {"n": {("t.s", IND, "CONDITIONAL", False)},
                   "total": {("t.v", D, "AGGREGATION", False), ("t.k", IND, "CONDITIONAL", False)}}


def test_lambda_parameters_are_not_columns() -> None:
    assert fields("SELECT transform(arr, x -> x + t.k) AS y FROM t", "spark") == {
        "y": {("t.arr", D, "TRANSFORMATION", False), ("t.k", D, "TRANSFORMATION", False)}}


def test_conditional_through_a_derived_column_reaches_its_inputs() -> None:
    got = fields("SELECT CASE WHEN f THEN 1 ELSE 0 END AS z FROM (SELECT a > b AS f FROM t) q")
    assert got == {"z": {("t.a", IND, "CONDITIONAL", False), ("t.b", IND, "CONDITIONAL", False)}}


def test_window_partition_and_order_are_indirect_window() -> None:
    got = fields("SELECT sum(x) OVER (PARTITION BY p ORDER BY o) AS running, "
                 "row_number() OVER (PARTITION BY p ORDER BY o DESC) AS rn FROM t", "snowflake")
    assert got == {
        "running": {("t.x", D, "AGGREGATION", False), ("t.p", IND, "WINDOW", False), ("t.o", IND, "WINDOW", False)},
        "rn": {("t.p", IND, "WINDOW", False), ("t.o", IND, "WINDOW", False)},
    }


def test_dataset_dependencies_join_filter_group_sort() -> None:
    sql = ("SELECT c.region, sum(o.amount) AS total FROM orders o JOIN customers c ON o.cid = c.id "
           "WHERE o.status = 'paid' GROUP BY c.region HAVING count(*) > 1 ORDER BY total DESC")
    assert dataset(sql, "postgres") == {
        ("orders.cid", IND, "JOIN"), ("customers.id", IND, "JOIN"),
        ("orders.status", IND, "FILTER"),
        ("customers.region", IND, "GROUP_BY"),
        ("orders.amount", IND, "SORT"),  # ORDER BY an output alias sorts by what it is computed from
    }


def test_filters_inside_subqueries_and_semi_joins_count_for_the_statement() -> None:
    sql = ("INSERT INTO u SELECT x.a FROM (SELECT a, id FROM t WHERE b > 0) x "
           "WHERE EXISTS (SELECT 1 FROM s WHERE s.id = x.id)")
    deps = dataset(sql)
    assert {("t.b", IND, "FILTER"), ("s.id", IND, "FILTER"), ("t.id", IND, "FILTER")} <= deps


def test_qualify_is_a_filter_and_using_is_a_join() -> None:
    assert ("t.b", IND, "FILTER") in dataset("SELECT a FROM t QUALIFY row_number() OVER (ORDER BY b) = 1", "duckdb")
    assert dataset("SELECT o.id FROM orders o JOIN customers c USING (cid)") == {
        ("orders.cid", IND, "JOIN"), ("customers.cid", IND, "JOIN")}


def test_insert_typed_edges_and_merge_join_condition() -> None:
    assert fields("INSERT INTO u (x, y) SELECT upper(name), max(age) FROM t GROUP BY name") == {
        "u.x": {("t.name", D, "TRANSFORMATION", False)},
        "u.y": {("t.age", D, "AGGREGATION", False)},
    }
    merge = ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.flag THEN UPDATE SET total = t.total + s.n")
    assert fields(merge, "snowflake") == {"t.total": {("t.total", D, "TRANSFORMATION", False),
                                                      ("s.n", D, "TRANSFORMATION", False)}}
    assert dataset(merge, "snowflake") == {("t.id", IND, "JOIN"), ("s.id", IND, "JOIN"), ("s.flag", IND, "FILTER")}


def test_update_where_is_a_filter_on_the_target() -> None:
    sql = "UPDATE t SET a = s.b FROM s WHERE t.id = s.id AND s.ok"
    assert fields(sql, "postgres") == {"t.a": {("s.b", D, "IDENTITY", False)}}
    assert dataset(sql, "postgres") == {("t.id", IND, "FILTER"), ("s.id", IND, "FILTER"), ("s.ok", IND, "FILTER")}


def test_statement_kinds_and_per_statement_lineage() -> None:
    result = analyze_sql("CREATE TABLE t AS SELECT a FROM s; INSERT INTO u SELECT a FROM t; "
                         "UPDATE u SET a = 1; DELETE FROM u WHERE a = 2; SELECT * FROM u", "duckdb")
    assert [s.kind for s in result.statements] == ["create_table_as", "insert", "update", "delete", "select"]
    assert [s.index for s in result.statements] == [1, 2, 3, 4, 5]
    assert result.statements[1].edges() == [("t.a", "u.a")]
    # u was never created in the script and no schema names its columns: '*' stays '*'
    assert result.statements[4].edges() == [("u.*", "*")]


def test_created_table_columns_expand_star_later_in_the_script() -> None:
    got = sql_lineage("CREATE VIEW v AS SELECT a, b FROM t; SELECT * FROM v")
    assert got["columns"] == [["t.a", "v.a"], ["t.b", "v.b"], ["v.a", "a"], ["v.b", "b"]]


def test_warnings_for_ambiguous_columns() -> None:
    result = analyze_sql("SELECT a FROM t JOIN s ON t.id = s.id")
    assert any("could belong to any of s, t" in w for w in result.warnings)
    assert analyze_sql("SELECT t.a FROM t JOIN s ON t.id = s.id").warnings == []


def test_column_types_for_the_lineage_graph() -> None:
    result = analyze_sql("INSERT INTO u (x, y) SELECT a, count(b) FROM t GROUP BY a")
    assert result.column_types() == {
        ("t.a", "u.x"): {"type": D, "subtype": "IDENTITY", "masking": False},
        ("t.b", "u.y"): {"type": D, "subtype": "AGGREGATION", "masking": True},
    }


def test_column_lineage_facet_is_valid_openlineage() -> None:
    from meshfabric.lineage.openlineage import validate_event

    result = analyze_sql("INSERT INTO mart.revenue (region, total) SELECT c.region, sum(o.amount) FROM sales.orders o "
                         "JOIN sales.customers c ON o.cid = c.id WHERE o.paid GROUP BY c.region", "postgres")
    facet = result.column_lineage_facet("mart.revenue", "postgres://db:5432")
    assert facet["fields"]["total"]["inputFields"] == [
        {"namespace": "postgres://db:5432", "name": "sales.orders", "field": "amount",
         "transformations": [{"type": D, "subtype": "AGGREGATION", "masking": False}]}]
    assert {(f["name"], f["field"], f["transformations"][0]["subtype"]) for f in facet["dataset"]} == {
        ("sales.orders", "cid", "JOIN"), ("sales.customers", "id", "JOIN"), ("sales.orders", "paid", "FILTER"),
        ("sales.customers", "region", "GROUP_BY")}
    event = {
        "eventType": "COMPLETE", "eventTime": "2024-05-01T10:00:00Z",
        "producer": "https://github.com/meshfabric/meshfabric",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190a7c2-5d2e-7b3a-9c41-2f6d7e8a9b0c"},
        "job": {"namespace": "meshfabric", "name": "revenue"},
        "inputs": [{"namespace": "postgres://db:5432", "name": n} for n in result.sources],
        "outputs": [{"namespace": "postgres://db:5432", "name": "mart.revenue", "facets": {"columnLineage": facet}}],
    }
    assert validate_event(event) == []


@pytest.mark.parametrize(("sql", "dialect", "statement", "line", "fragment"), [
    ("SELECT a FROM t; SELECT FROM WHERE (", None, 2, 1, "Expected table name but got 'WHERE'"),
    ("SELECT a FROM t;\nSELECT a FROM t;\nINSERT INTO u VALUES (1", "postgres", 3, 3, "Expecting )"),
    ("SELECT 1;\n\nSELECT (a FROM t", "mysql", 2, 3, "Expecting )"),
])
def test_parse_errors_name_statement_and_position(sql: str, dialect: str | None, statement: int, line: int,
                                                  fragment: str) -> None:
    with pytest.raises(SqlLineageError) as err:
        sql_lineage(sql, dialect=dialect)
    assert err.value.statement == statement
    assert err.value.line == line
    assert err.value.exit_code == 2
    assert f"statement {statement}, line {line}, column {err.value.column}" in err.value.message
    assert fragment in err.value.message


def test_unterminated_string_and_unknown_dialect_are_bad_input() -> None:
    with pytest.raises(SqlLineageError, match="cannot read the SQL"):
        sql_lineage("SELECT 'abc FROM t")
    with pytest.raises(SqlLineageError, match="unknown SQL dialect 'klingon'") as err:
        sql_lineage("SELECT 1", dialect="klingon")
    assert err.value.exit_code == 2


def test_empty_script_and_comments_only() -> None:
    assert sql_lineage("") == {"sources": [], "targets": [], "columns": []}
    assert sql_lineage("-- nothing here\n;;") == {"sources": [], "targets": [], "columns": []}


def test_import_does_not_load_sqlglot() -> None:
    import subprocess
    import sys

    code = "import sys, meshfabric.lineage; print('sqlglot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_long_cte_chains_resolve_without_deep_recursion() -> None:
    n = 250  # deeper than Python's recursion limit would allow a naive walk
    ctes = ["c0 AS (SELECT a, b FROM t)"] + [
        f"c{i} AS (SELECT x.a + y.b AS a, x.b AS b FROM c{i - 1} x JOIN c{i - 1} y ON x.a = y.a)" for i in range(1, n)]
    result = analyze_sql("WITH " + ", ".join(ctes) + f" SELECT a, b FROM c{n - 1}")
    assert result.to_dict() == {"sources": ["t"], "targets": [], "columns": [["t.a", "a"], ["t.b", "a"], ["t.b", "b"]]}
    assert result.warnings == []


def test_nesting_beyond_the_parser_is_a_located_error() -> None:
    sql = "SELECT 1;\nSELECT a FROM " + "(SELECT a FROM " * 200 + "t" + ") x" * 200
    with pytest.raises(SqlLineageError, match="statement 2, line 2: nested too deeply to parse") as err:
        sql_lineage(sql)
    assert err.value.exit_code == 2


def test_recursive_cte_with_two_base_branches() -> None:
    sql = ("WITH RECURSIVE r AS (SELECT id, 0 AS d FROM t UNION ALL SELECT id, d FROM u UNION ALL "
           "SELECT r.id, r.d + 1 FROM r JOIN e ON e.src = r.id WHERE r.d < 5) SELECT id, d FROM r")
    assert sql_lineage(sql, "postgres") == {"sources": ["e", "t", "u"], "targets": [],
                                            "columns": [["t.id", "id"], ["u.d", "d"], ["u.id", "id"]]}
    assert ("e.src", IND, "JOIN") in dataset(sql, "postgres")


def test_concurrent_analyses_agree_and_leave_sqlglot_logging_as_it_was() -> None:
    import logging
    from concurrent.futures import ThreadPoolExecutor

    log = logging.getLogger("sqlglot")
    before = log.level
    log.setLevel(logging.INFO)
    try:
        scripts = ["REPLACE INTO t (a) SELECT b FROM s",  # sqlglot keeps it as a command, and logs that
                   "INSERT INTO u (x) SELECT sum(a) FROM t GROUP BY b", "SELECT a FROM t1 UNION SELECT b FROM t2"] * 8
        expected = [analyze_sql(s, "mysql").to_detail_dict() for s in scripts]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda s: analyze_sql(s, "mysql").to_detail_dict(), scripts))
        assert got == expected
        assert expected[0]["statements"][0]["kind"] == "command"
        assert log.level == logging.INFO
    finally:
        log.setLevel(before)
