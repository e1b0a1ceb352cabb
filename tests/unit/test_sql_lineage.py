"""Lineage from SQL: exact sources, targets and direct column edges for statements in nine dialects."""

from __future__ import annotations

from typing import Any

import pytest

from meshfabric.lineage import sql_lineage

S_T = {"t": {"a": "int", "b": "int", "c": "int"}}
S_TS = {"t": {"id": "int", "a": "int"}, "s": {"id": "int", "b": "int"}}


def case(sql: str, dialect: str | None, sources: list[str], targets: list[str], columns: list[tuple[str, str]],
         schema: dict[str, Any] | None = None, id: str | None = None) -> Any:
    return pytest.param(sql, dialect, schema, sources, targets, sorted([list(c) for c in columns]), id=id)


CASES = [
    # ---- plain SELECT: no target; column targets are the output names ----
    case("SELECT a, b FROM t", None, ["t"], [], [("t.a", "a"), ("t.b", "b")], id="select-identity"),
    case("SELECT a AS x, b + 1 FROM t", None, ["t"], [], [("t.a", "x"), ("t.b", "_col_1")], id="select-alias-unnamed"),
    case("SELECT t.a FROM t WHERE t.b > 1", "postgres", ["t"], [], [("t.a", "a")], id="select-where"),
    case("SELECT 1 AS one", None, [], [], [], id="select-no-from"),
    case("SELECT count(*) AS n FROM t", "postgres", ["t"], [], [], id="count-star-no-column"),
    case("SELECT a, sum(b) AS s FROM t GROUP BY a", "duckdb", ["t"], [], [("t.a", "a"), ("t.b", "s")], id="group-by"),
    case("SELECT x.a FROM (SELECT a FROM t) AS x", None, ["t"], [], [("t.a", "a")], id="derived-table"),
    case("SELECT x FROM (SELECT a AS x FROM (SELECT a FROM (SELECT a FROM t) q1) q2) q3", None, ["t"], [],
         [("t.a", "x")], id="nested-subqueries"),
    case("SELECT a, (SELECT max(b) FROM s WHERE s.id = t.id) AS m FROM t", "postgres", ["s", "t"], [],
         [("t.a", "a"), ("s.b", "m")], id="scalar-subquery"),
    case("SELECT a FROM t WHERE a IN (SELECT a FROM u)", None, ["t", "u"], [], [("t.a", "a")], id="in-subquery"),
    case("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.id = t.id)", None, ["s", "t"], [], [("t.a", "a")],
         id="exists-subquery"),
    case("SELECT o.id, c.name FROM orders o JOIN customers c ON o.cid = c.id", "postgres", ["customers", "orders"], [],
         [("orders.id", "id"), ("customers.name", "name")], id="join-aliases"),
    case("SELECT o.id, c.name FROM orders o LEFT JOIN customers c USING (cid)", "mysql", ["customers", "orders"], [],
         [("orders.id", "id"), ("customers.name", "name")], id="join-using"),
    case("SELECT a FROM t JOIN s ON t.id = s.id", None, ["s", "t"], [], [("a", "a")],
         id="ambiguous-unqualified-stays-unresolved"),
    case("SELECT a, b FROM t JOIN s ON t.id = s.id", None, ["s", "t"], [], [("t.a", "a"), ("s.b", "b")],
         schema=S_TS, id="unqualified-placed-by-schema"),
    case("SELECT t.a FROM t CROSS JOIN s", None, ["s", "t"], [], [("t.a", "a")], id="cross-join"),
    # ---- star ----
    case("SELECT * FROM t", None, ["t"], [], [("t.*", "*")], id="star-no-schema"),
    case("SELECT * FROM t", None, ["t"], [], [("t.a", "a"), ("t.b", "b"), ("t.c", "c")], schema=S_T,
         id="star-schema"),
    case("SELECT * FROM t JOIN s ON t.id = s.id", None, ["s", "t"], [], [("t.*", "*"), ("s.*", "*")],
         id="star-join-no-schema"),
    case("SELECT * FROM t JOIN s ON t.id = s.id", None, ["s", "t"], [],
         [("t.id", "id"), ("t.a", "a"), ("s.id", "id"), ("s.b", "b")], schema=S_TS, id="star-join-schema"),
    case("SELECT s.* FROM (SELECT a, b FROM t) s", None, ["t"], [], [("t.a", "a"), ("t.b", "b")],
         id="qualified-star-of-derived"),
    case("SELECT q.a FROM (SELECT * FROM t) q", None, ["t"], [], [("t.a", "a")], id="column-through-star-subquery"),
    case("SELECT t.*, b * 2 AS d FROM t", None, ["t"], [], [("t.*", "*"), ("t.b", "d")], id="star-plus-expr"),
    case("SELECT * EXCLUDE (b) FROM t", "duckdb", ["t"], [], [("t.a", "a"), ("t.c", "c")], schema=S_T,
         id="duckdb-exclude"),
    case("SELECT * EXCEPT (b) FROM `p.d.t`", "bigquery", ["p.d.t"], [], [("p.d.t.a", "a"), ("p.d.t.c", "c")],
         schema={"p": {"d": {"t": {"a": "int", "b": "int", "c": "int"}}}}, id="bigquery-except-nested-schema"),
    # ---- CTEs ----
    case("WITH c AS (SELECT a FROM t) SELECT a FROM c", None, ["t"], [], [("t.a", "a")], id="cte"),
    case("WITH a1 AS (SELECT x, y FROM t), b1 AS (SELECT x, sum(y) AS s FROM a1 GROUP BY x) "
         "SELECT b1.s * 2 AS d, x FROM b1", "postgres", ["t"], [], [("t.y", "d"), ("t.x", "x")], id="cte-chain"),
    case("WITH c (x, y) AS (SELECT a, b FROM t) SELECT x, y FROM c", None, ["t"], [], [("t.a", "x"), ("t.b", "y")],
         id="cte-column-list"),
    case("WITH c AS (SELECT * FROM t) SELECT * FROM c", None, ["t"], [], [("t.*", "*")], id="cte-star-no-schema"),
    case("WITH c AS (SELECT * FROM t) SELECT c.b FROM c", None, ["t"], [], [("t.b", "b")], schema=S_T,
         id="cte-star-schema"),
    case("WITH RECURSIVE r AS (SELECT id, parent FROM t WHERE parent IS NULL UNION ALL "
         "SELECT t.id, t.parent FROM t JOIN r ON t.parent = r.id) SELECT * FROM r", "postgres", ["t"], [],
         [("t.id", "id"), ("t.parent", "parent")], id="recursive-cte"),
    case("WITH RECURSIVE n (k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 10) SELECT k FROM n", "sqlite",
         [], [], [], id="recursive-cte-no-table"),
    case("WITH t AS (SELECT a FROM base) SELECT a FROM t", None, ["base"], [], [("base.a", "a")],
         id="cte-shadows-table-name"),
    # ---- set operations ----
    case("SELECT a FROM t UNION SELECT b FROM s", None, ["s", "t"], [], [("t.a", "a"), ("s.b", "a")], id="union"),
    case("SELECT a, b FROM t UNION ALL SELECT x, y FROM s UNION ALL SELECT p, q FROM u", "duckdb", ["s", "t", "u"],
         [], [("t.a", "a"), ("s.x", "a"), ("u.p", "a"), ("t.b", "b"), ("s.y", "b"), ("u.q", "b")], id="union-three"),
    case("SELECT a FROM t1 INTERSECT SELECT a FROM t2 EXCEPT SELECT a FROM t3", None, ["t1", "t2", "t3"], [],
         [("t1.a", "a"), ("t2.a", "a"), ("t3.a", "a")], id="intersect-except"),
    case("SELECT u.a FROM (SELECT a FROM t UNION ALL SELECT b FROM s) AS u", None, ["s", "t"], [],
         [("t.a", "a"), ("s.b", "a")], id="union-in-derived-table"),
    # ---- functions ----
    case("SELECT CASE WHEN a > 0 THEN b ELSE c END AS z FROM t", None, ["t"], [], [("t.b", "z"), ("t.c", "z")],
         id="case-values-only"),
    case("SELECT COALESCE(a, b) AS c, CAST(a AS INT) AS e FROM t", "postgres", ["t"], [],
         [("t.a", "c"), ("t.b", "c"), ("t.a", "e")], id="coalesce-cast"),
    case("SELECT md5(email) AS h FROM users", "postgres", ["users"], [], [("users.email", "h")], id="hash"),
    case("SELECT a, row_number() OVER (PARTITION BY b ORDER BY c) AS rn FROM t", "postgres", ["t"], [],
         [("t.a", "a")], id="window-row-number"),
    case("SELECT a, sum(b) OVER (PARTITION BY c) AS s FROM t", "spark", ["t"], [], [("t.a", "a"), ("t.b", "s")],
         id="window-sum"),
    case("SELECT a, avg(b) OVER (PARTITION BY c ORDER BY a ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS m FROM t",
         "duckdb", ["t"], [], [("t.a", "a"), ("t.b", "m")], id="window-frame"),
    case("SELECT a, lag(b, 1) OVER (ORDER BY a) AS prev FROM t", "snowflake", ["t"], [],
         [("t.a", "a"), ("t.b", "prev")], id="window-lag"),
    # ---- quoting and case ----
    case('SELECT "MyCol", "Other" FROM "Sch"."MyTab"', "postgres", ["Sch.MyTab"], [],
         [("Sch.MyTab.mycol", "mycol"), ("Sch.MyTab.other", "other")], id="postgres-quoted-mixed-case"),
    case('SELECT * FROM "MyTable" JOIN s."T2" ON true', None, ["MyTable", "s.T2"], [],
         [("MyTable.*", "*"), ("s.T2.*", "*")], id="quoted-table-keeps-case"),
    case("SELECT A, b FROM Sch.MyTab", "snowflake", ["sch.mytab"], [],
         [("sch.mytab.a", "a"), ("sch.mytab.b", "b")], id="snowflake-upper-case"),
    case("SELECT `Order Id`, `x` FROM `db`.`Orders`", "mysql", ["db.orders"], [],
         [("db.orders.order id", "order id"), ("db.orders.x", "x")], id="mysql-backticks"),
    case("SELECT TOP 5 [A], o.[B] FROM [dbo].[Orders] o", "tsql", ["dbo.orders"], [],
         [("dbo.orders.a", "a"), ("dbo.orders.b", "b")], id="tsql-brackets-top"),
    case("SELECT x.a FROM `proj.ds.tbl` x", "bigquery", ["proj.ds.tbl"], [], [("proj.ds.tbl.a", "a")],
         id="bigquery-one-backtick"),
    case("SELECT x.a FROM `my-proj`.`ds`.`tbl` AS x", "bigquery", ["my-proj.ds.tbl"], [],
         [("my-proj.ds.tbl.a", "a")], id="bigquery-parts-backticks"),
    case("SELECT a FROM db.sch.t", "snowflake", ["db.sch.t"], [], [("db.sch.t.a", "a")], id="three-part-name"),
    # ---- dialect-specific ----
    case("SELECT a, row_number() OVER (PARTITION BY b ORDER BY c) AS rn FROM t QUALIFY rn = 1", "snowflake", ["t"],
         [], [("t.a", "a")], id="snowflake-qualify"),
    case("SELECT a, b FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b DESC) = 1", "duckdb", ["t"], [],
         [("t.a", "a"), ("t.b", "b")], id="duckdb-qualify"),
    case("FROM t SELECT a, b", "duckdb", ["t"], [], [("t.a", "a"), ("t.b", "b")], id="duckdb-from-first"),
    case("SELECT id, tag FROM t LATERAL VIEW EXPLODE(tags) x AS tag", "spark", ["t"], [],
         [("t.id", "id"), ("t.tags", "tag")], id="spark-lateral-view"),
    case("SELECT id, e FROM `p.d.t`, UNNEST(items) AS e", "bigquery", ["p.d.t"], [],
         [("p.d.t.id", "id"), ("p.d.t.items", "e")], id="bigquery-unnest"),
    case("SELECT f.value AS v, t.id FROM db.sch.t, LATERAL FLATTEN(input => t.arr) f", "snowflake", ["db.sch.t"],
         [], [("db.sch.t.arr", "v"), ("db.sch.t.id", "id")], id="snowflake-flatten"),
    case("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b DESC", "postgres", ["t"], [], [("t.a", "a"), ("t.b", "b")],
         id="postgres-distinct-on"),
    case("SELECT a, b FROM t ORDER BY 1 LIMIT 10", "sqlite", ["t"], [], [("t.a", "a"), ("t.b", "b")],
         id="sqlite-order-limit"),
    case("SELECT a || b AS ab FROM t", "sqlite", ["t"], [], [("t.a", "ab"), ("t.b", "ab")], id="sqlite-concat"),
    case("SELECT IIF(x > 1, y, z) AS f FROM t", "tsql", ["t"], [], [("t.y", "f"), ("t.z", "f")], id="tsql-iif"),
    case("SELECT if(x > 1, y, z) AS f FROM t", "hive", ["t"], [], [("t.y", "f"), ("t.z", "f")], id="hive-if"),
    # ---- INSERT ----
    case("INSERT INTO u (p, q) SELECT a, sum(b) FROM t GROUP BY a", None, ["t"], ["u"],
         [("t.a", "u.p"), ("t.b", "u.q")], id="insert-column-list"),
    case("INSERT INTO u SELECT a, b AS y FROM t", "postgres", ["t"], ["u"], [("t.a", "u.a"), ("t.b", "u.y")],
         id="insert-by-name-unknown-target"),
    case("INSERT INTO u SELECT a, b FROM t", "postgres", ["t"], ["u"], [("t.a", "u.x"), ("t.b", "u.y")],
         schema={"u": {"x": "int", "y": "int"}}, id="insert-by-position-known-target"),
    case("INSERT INTO u SELECT * FROM t", None, ["t"], ["u"], [("t.*", "u.*")], id="insert-star-no-schema"),
    case("INSERT INTO u SELECT * FROM t", None, ["t"], ["u"], [("t.a", "u.x"), ("t.b", "u.y")],
         schema={"t": {"a": "int", "b": "int"}, "u": {"x": "int", "y": "int"}}, id="insert-star-both-known"),
    case("INSERT INTO u (a) VALUES (1), (2)", "postgres", [], ["u"], [], id="insert-values"),
    case("WITH c AS (SELECT a FROM s) INSERT INTO u SELECT a FROM c", "postgres", ["s"], ["u"], [("s.a", "u.a")],
         id="insert-with-cte-first"),
    case("INSERT INTO u WITH c AS (SELECT a FROM s) SELECT a FROM c", "postgres", ["s"], ["u"], [("s.a", "u.a")],
         id="insert-cte-in-select"),
    case("WITH c AS (SELECT a FROM s) INSERT INTO u (x) SELECT a FROM c", "tsql", ["s"], ["u"], [("s.a", "u.x")],
         id="tsql-cte-insert"),
    case("INSERT INTO sales.daily (day, total) SELECT o.day, sum(o.amount) FROM sales.orders o GROUP BY o.day",
         "postgres", ["sales.orders"], ["sales.daily"],
         [("sales.orders.day", "sales.daily.day"), ("sales.orders.amount", "sales.daily.total")],
         id="insert-schema-qualified"),
    case("INSERT OVERWRITE TABLE db.t PARTITION (p = 1) SELECT a FROM s", "hive", ["s"], ["db.t"],
         [("s.a", "db.t.a")], id="hive-insert-overwrite-partition"),
    case("INSERT OVERWRITE TABLE t SELECT a, b FROM s", "spark", ["s"], ["t"], [("s.a", "t.a"), ("s.b", "t.b")],
         id="spark-insert-overwrite"),
    case("INSERT INTO TABLE u SELECT a FROM t", "hive", ["t"], ["u"], [("t.a", "u.a")], id="hive-insert-into-table"),
    case("INSERT OR REPLACE INTO u (a) SELECT a FROM t", "sqlite", ["t"], ["u"], [("t.a", "u.a")],
         id="sqlite-insert-or-replace"),
    case("INSERT INTO u (a, b) SELECT a, b FROM t ON CONFLICT (a) DO UPDATE SET b = excluded.b", "postgres", ["t"],
         ["u"], [("t.a", "u.a"), ("t.b", "u.b")], id="postgres-on-conflict"),
    case("INSERT INTO `db`.`u` (`a`) SELECT `b` FROM `db`.`t`", "mysql", ["db.t"], ["db.u"], [("db.t.b", "db.u.a")],
         id="mysql-insert-backticks"),
    case("INSERT INTO t SELECT a FROM t", None, ["t"], ["t"], [("t.a", "t.a")], id="insert-self"),
    case("INSERT INTO u BY NAME SELECT b AS y, a AS x FROM t", "duckdb", ["t"], ["u"],
         [("t.a", "u.x"), ("t.b", "u.y")], schema={"u": {"x": "int", "y": "int"}}, id="duckdb-insert-by-name"),
    case("INSERT INTO u SELECT b AS y, a AS x FROM t", "duckdb", ["t"], ["u"],
         [("t.b", "u.x"), ("t.a", "u.y")], schema={"u": {"x": "int", "y": "int"}}, id="insert-position-not-name"),
    case("FROM s INSERT OVERWRITE TABLE t1 SELECT a INSERT OVERWRITE TABLE t2 SELECT b WHERE c > 0", "hive", ["s"],
         ["t1", "t2"], [("s.a", "t1.a"), ("s.b", "t2.b")], id="hive-multi-insert"),
    case("INSERT FIRST WHEN a > 1 THEN INTO t1 (x) VALUES (a) ELSE INTO t2 SELECT a, b FROM s", "snowflake", ["s"],
         ["t1", "t2"], [("s.a", "t1.x"), ("s.a", "t2.a"), ("s.b", "t2.b")], id="snowflake-insert-first"),
    case("WITH upd AS (UPDATE acc SET bal = bal - 1 WHERE id = 1 RETURNING id, bal) "
         "INSERT INTO log SELECT id, bal FROM upd", "postgres", ["acc"], ["acc", "log"],
         [("acc.bal", "acc.bal"), ("acc.id", "log.id"), ("acc.bal", "log.bal")], id="postgres-data-modifying-cte"),
    # ---- CREATE ----
    case("CREATE TABLE x AS SELECT a, b * 2 AS c FROM t", None, ["t"], ["x"], [("t.a", "x.a"), ("t.b", "x.c")],
         id="ctas"),
    case("CREATE VIEW v (p, q) AS SELECT a, b FROM t", None, ["t"], ["v"], [("t.a", "v.p"), ("t.b", "v.q")],
         id="create-view-column-list"),
    case("CREATE OR REPLACE VIEW sales.v AS SELECT o.id FROM sales.orders o", "postgres", ["sales.orders"],
         ["sales.v"], [("sales.orders.id", "sales.v.id")], id="create-or-replace-view"),
    case("CREATE MATERIALIZED VIEW mv AS SELECT a, count(b) AS n FROM t GROUP BY a", "postgres", ["t"], ["mv"],
         [("t.a", "mv.a"), ("t.b", "mv.n")], id="materialized-view"),
    case("CREATE OR REPLACE TABLE x AS SELECT a FROM t", "duckdb", ["t"], ["x"], [("t.a", "x.a")],
         id="duckdb-create-or-replace"),
    case("CREATE TABLE db.x USING parquet AS SELECT a, count(*) AS n FROM db.t GROUP BY a", "spark", ["db.t"],
         ["db.x"], [("db.t.a", "db.x.a")], id="spark-ctas-using"),
    case("CREATE OR REPLACE TABLE `p.d.x` AS SELECT id, sum(v) AS total FROM `p.d.t` GROUP BY id", "bigquery",
         ["p.d.t"], ["p.d.x"], [("p.d.t.id", "p.d.x.id"), ("p.d.t.v", "p.d.x.total")], id="bigquery-ctas"),
    case("CREATE TEMPORARY TABLE tmp AS SELECT a FROM t", "mysql", ["t"], ["tmp"], [("t.a", "tmp.a")],
         id="mysql-temporary"),
    case("CREATE TABLE t (a INT, b TEXT)", "postgres", [], ["t"], [], id="create-table-ddl-only"),
    case("CREATE TABLE t1 LIKE t2", None, ["t2"], ["t1"], [], id="create-table-like"),
    # ---- statements whose lineage is on the table level only ----
    case("INSERT INTO t1 VALUES (1, (SELECT max(id) FROM t2)), (2, (SELECT max(id) FROM t3))", None,
         ["t2", "t3"], ["t1"], [], id="insert-values-scalar-subqueries"),
    case("INSERT INTO tgt(r1, r2) (SELECT a, b FROM src)", None, ["src"], ["tgt"],
         [("src.a", "tgt.r1"), ("src.b", "tgt.r2")], id="insert-parenthesised-query"),
    case("INSERT INTO t (WITH c AS (SELECT a FROM s) SELECT a FROM c)", None, ["s"], ["t"], [("s.a", "t.a")],
         id="insert-parenthesised-with"),
    case("SELECT * INTO films_all FROM films UNION ALL SELECT * FROM films_backup", "postgres",
         ["films", "films_backup"], ["films_all"], [("films.*", "films_all.*"), ("films_backup.*", "films_all.*")],
         id="select-into-union"),
    case("INSERT OVERWRITE DIRECTORY 'hdfs://path/to/folder' SELECT * FROM tab1", "spark", ["tab1"],
         ["hdfs://path/to/folder"], [], id="insert-overwrite-directory"),
    case("COPY INTO tab1 FROM 's3://bucket/path'", "snowflake", ["s3://bucket/path"], ["tab1"], [],
         id="copy-into-from-uri"),
    case("COPY tab1 FROM 's3://bucket/path'", "postgres", ["s3://bucket/path"], ["tab1"], [], id="copy-from-uri"),
    case("UNLOAD ('select * from venue') TO 's3://bucket/venue_' IAM_ROLE 'arn:aws:iam::1:role/R'", "redshift",
         ["venue"], ["s3://bucket/venue_"], [], id="redshift-unload"),
    case("SELECT * FROM parquet.`examples/src/main/resources/`", "spark", ["examples/src/main/resources/"], [],
         [("examples/src/main/resources/.*", "*")], id="spark-select-from-files"),
    case("INSERT INTO t SELECT a.x FROM a LEFT SEMI JOIN b ON a.id = b.id", "spark", ["a", "b"], ["t"],
         [("a.x", "t.x")], id="spark-left-semi-join-reads-right-table"),
    case("ALTER TABLE tab1 SWAP WITH tab2", "snowflake", ["tab2"], ["tab1"], [], id="snowflake-swap"),
    case("ALTER TABLE tab1 EXCHANGE PARTITION (pt='part1') WITH TABLE tab2", "hive", ["tab2"], ["tab1"], [],
         id="hive-exchange-partition"),
    case("SELECT TOP 10 a, b INTO #tmp FROM dbo.t ORDER BY a", "tsql", ["dbo.t"], ["#tmp"],
         [("dbo.t.a", "#tmp.a"), ("dbo.t.b", "#tmp.b")], id="tsql-select-into-temp"),
    case("SELECT a INTO new_t FROM t", "postgres", ["t"], ["new_t"], [("t.a", "new_t.a")], id="postgres-select-into"),
    # ---- UPDATE ----
    case("UPDATE t SET a = s.b FROM s WHERE t.id = s.id", "postgres", ["s"], ["t"], [("s.b", "t.a")],
         id="update-from"),
    case("UPDATE t SET a = a + 1 WHERE b > 0", "postgres", ["t"], ["t"], [("t.a", "t.a")], id="update-self"),
    case("UPDATE t SET a = 0 WHERE b > 0", "sqlite", [], ["t"], [], id="update-constant"),
    case("UPDATE t JOIN s ON t.id = s.id SET t.a = s.b, t.c = s.d * 2", "mysql", ["s"], ["t"],
         [("s.b", "t.a"), ("s.d", "t.c")], id="mysql-update-join"),
    case("UPDATE o SET o.total = s.amt FROM orders o JOIN sums s ON o.id = s.id", "tsql", ["sums"], ["orders"],
         [("sums.amt", "orders.total")], id="tsql-update-alias-from"),
    case("UPDATE dbo.t SET a = s.x FROM dbo.t JOIN dbo.s s ON dbo.t.id = s.id", "tsql", ["dbo.s"], ["dbo.t"],
         [("dbo.s.x", "dbo.t.a")], id="tsql-update-qualified-target-in-from"),
    case("UPDATE t SET a = (SELECT max(x) FROM s WHERE s.id = t.id)", "postgres", ["s"], ["t"], [("s.x", "t.a")],
         id="update-scalar-subquery"),
    case("UPDATE t SET a = s.b FROM (SELECT id, sum(v) AS b FROM src GROUP BY id) AS s WHERE t.id = s.id",
         "postgres", ["src"], ["t"], [("src.v", "t.a")], id="update-from-subquery"),
    # ---- MERGE ----
    case("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.x > 1 THEN UPDATE SET a = s.a "
         "WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a)", "snowflake", ["s"], ["t"],
         [("s.a", "t.a"), ("s.id", "t.id")], id="merge"),
    case("MERGE INTO dst d USING (SELECT id, sum(v) AS total FROM src GROUP BY id) s ON d.id = s.id "
         "WHEN MATCHED THEN UPDATE SET d.total = s.total "
         "WHEN NOT MATCHED THEN INSERT (id, total) VALUES (s.id, s.total)", "bigquery", ["src"], ["dst"],
         [("src.id", "dst.id"), ("src.v", "dst.total")], id="merge-using-subquery"),
    case("MERGE INTO dbo.t AS tgt USING dbo.s AS src ON tgt.id = src.id "
         "WHEN MATCHED THEN UPDATE SET tgt.n = tgt.n + src.n WHEN NOT MATCHED BY SOURCE THEN DELETE;", "tsql",
         ["dbo.s", "dbo.t"], ["dbo.t"], [("dbo.s.n", "dbo.t.n"), ("dbo.t.n", "dbo.t.n")], id="tsql-merge-self-read"),
    case("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.a)", "spark", ["s"],
         ["t"], [("s.id", "t.id"), ("s.a", "t.a")], schema=S_TS, id="merge-insert-values-known-target"),
    case("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "duckdb", ["s"], ["t"], [],
         id="merge-delete-only"),
    case("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
         "spark", ["s"], ["t"], [("s.*", "t.*")], id="spark-merge-star"),
    case("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
         "databricks", ["s"], ["t"], [("s.id", "t.id"), ("s.b", "t.b")], schema=S_TS, id="merge-star-known-source"),
    # ---- PIVOT / UNPIVOT / CLONE ----
    case("SELECT a, x FROM t PIVOT (sum(v) FOR k IN ('x', 'y')) AS p", "snowflake", ["t"], [],
         [("t.a", "a"), ("t.v", "x")], id="snowflake-pivot"),
    case("SELECT region, q1 FROM sales PIVOT (sum(amount) FOR quarter IN ('q1', 'q2'))", "duckdb", ["sales"], [],
         [("sales.region", "region"), ("sales.amount", "q1")], id="duckdb-pivot"),
    case("SELECT id, col, val FROM t UNPIVOT (val FOR col IN (c1, c2)) AS u", "snowflake", ["t"], [],
         [("t.id", "id"), ("t.c1", "val"), ("t.c2", "val")], id="snowflake-unpivot"),
    case("CREATE TABLE t CLONE s", "snowflake", ["s"], ["t"], [("s.*", "t.*")], id="snowflake-clone"),
    # ---- DELETE ----
    case("DELETE FROM t WHERE id IN (SELECT id FROM s)", "postgres", ["s"], ["t"], [], id="delete-subquery"),
    case("DELETE FROM t USING s WHERE t.id = s.id", "postgres", ["s"], ["t"], [], id="delete-using"),
    # ---- scripts ----
    case("CREATE TABLE t AS SELECT a FROM s; INSERT INTO u SELECT a FROM t", None, ["s", "t"], ["t", "u"],
         [("s.a", "t.a"), ("t.a", "u.a")], id="script-intermediate-table"),
    case("CREATE TABLE t2 (a INT, b TEXT); INSERT INTO t2 SELECT x, y FROM s", "postgres", ["s"], ["t2"],
         [("s.x", "t2.a"), ("s.y", "t2.b")], id="script-ddl-gives-position"),
    case("CREATE TEMP TABLE stage AS SELECT id, amount FROM raw.orders;\n"
         "INSERT INTO mart.totals SELECT * FROM stage;", "postgres", ["raw.orders", "stage"], ["mart.totals", "stage"],
         [("raw.orders.id", "stage.id"), ("raw.orders.amount", "stage.amount"), ("stage.id", "mart.totals.id"),
          ("stage.amount", "mart.totals.amount")], id="script-star-over-created-table"),
    case("DROP TABLE IF EXISTS x; CREATE TABLE x AS SELECT a FROM t; SELECT a FROM x", "duckdb", ["t", "x"], ["x"],
         [("t.a", "x.a"), ("x.a", "a")], id="script-drop-create-select"),
    case("DROP TABLE t; TRUNCATE u", None, [], [], [], id="script-no-lineage"),
    case("SELECT 1\nGO\nINSERT INTO dbo.u (x) SELECT a FROM dbo.t\nGO 2\n", "tsql", ["dbo.t"], ["dbo.u"],
         [("dbo.t.a", "dbo.u.x")], id="tsql-go-batches"),
    case("BEGIN; INSERT INTO u SELECT a FROM t; COMMIT;", "postgres", ["t"], ["u"], [("t.a", "u.a")],
         id="script-transaction"),
    # ---- procedure bodies, T-SQL batches, Athena ----
    case("CREATE PROCEDURE p()\nBEGIN\nINSERT INTO t2 (c1) SELECT c1 FROM t1;\nINSERT INTO t3 (c2) SELECT c2 FROM t2;\n"
         "END", "bigquery", ["t1", "t2"], ["t2", "t3"], [("t1.c1", "t2.c1"), ("t2.c2", "t3.c2")],
         id="procedure-body-analysed"),
    case("CREATE PROCEDURE p AS BEGIN SELECT c1 FROM t1; END", "tsql", ["t1"], [], [("t1.c1", "c1")],
         id="tsql-procedure-body-analysed"),
    case("insert into tab1 select * from foo\ninsert into tab2 select * from bar", "tsql", ["bar", "foo"],
         ["tab1", "tab2"], [("bar.*", "tab2.*"), ("foo.*", "tab1.*")], id="tsql-batch-without-semicolons"),
    case("UPDATE sr SET sr.Name += ' - x' FROM Production.ScrapReason AS sr JOIN Production.WorkOrder AS wo "
         "ON sr.ScrapReasonID = wo.ScrapReasonID", "tsql", ["production.scrapreason", "production.workorder"],
         ["production.scrapreason"], [("production.scrapreason.name", "production.scrapreason.name")],
         id="tsql-compound-assignment"),
    case("SELECT col1 FROM `schema1`.`tab1`", "athena", ["schema1.tab1"], [], [("schema1.tab1.col1", "col1")],
         id="athena-backquoted-names"),
]


def test_script_end_to_end() -> None:
    """sqllineage's reading of a script: intermediate tables are neither source nor target, column
    edges run through them; a renamed table continues under its new name; a dropped one vanishes."""
    sql = "INSERT INTO t SELECT x AS a FROM s1; INSERT INTO u SELECT a AS b FROM t"
    got = sql_lineage(sql, end_to_end=True)
    assert got == {"sources": ["s1"], "targets": ["u"], "columns": [["s1.x", "u.b"]]}
    assert sql_lineage(sql)["columns"] == [["s1.x", "t.a"], ["t.a", "u.b"]]  # the default: every statement's edges
    assert sql_lineage("INSERT INTO t1 SELECT * FROM t2; ALTER TABLE t1 RENAME TO t3", end_to_end=True)[
        "targets"] == ["t3"]
    assert sql_lineage("CREATE TABLE t1 AS SELECT 1; DROP TABLE IF EXISTS t1", end_to_end=True)["targets"] == []
    assert sql_lineage("INSERT INTO t SELECT * FROM t", end_to_end=True)["sources"] == ["t"]  # a self-loop is both


def test_an_ambiguous_column_stays_unresolved_unless_asked_for_all() -> None:
    sql = "INSERT INTO tgt SELECT col1 FROM t1 JOIN t2 ON t1.id = t2.id"
    assert sql_lineage(sql)["columns"] == [["col1", "tgt.col1"]]  # the default: no guess
    assert sql_lineage(sql, ambiguous="all")["columns"] == [["t1.col1", "tgt.col1"], ["t2.col1", "tgt.col1"]]
    with pytest.raises(Exception, match="ambiguous must be"):
        sql_lineage(sql, ambiguous="first")


def test_indirect_edges_are_an_option() -> None:
    sql = ("INSERT INTO u SELECT CASE WHEN c = 1 THEN v END AS r, row_number() OVER (PARTITION BY k ORDER BY o) AS n"
           " FROM t")
    assert sql_lineage(sql)["columns"] == [["t.v", "u.r"]]
    assert sql_lineage(sql, indirect=True)["columns"] == [["t.c", "u.r"], ["t.k", "u.n"], ["t.o", "u.n"],
                                                          ["t.v", "u.r"]]


@pytest.mark.parametrize(("sql", "dialect", "schema", "sources", "targets", "columns"), CASES)
def test_sql_lineage_exact(sql: str, dialect: str | None, schema: dict[str, Any] | None, sources: list[str],
                           targets: list[str], columns: list[list[str]]) -> None:
    got = sql_lineage(sql, dialect=dialect, schema=schema)
    assert got == {"sources": sources, "targets": targets, "columns": columns}


def test_at_least_eighty_statements_in_every_dialect() -> None:
    assert len(CASES) >= 80
    dialects = {p.values[1] for p in CASES}
    assert {"postgres", "mysql", "duckdb", "sqlite", "spark", "hive", "snowflake", "bigquery", "tsql"} <= dialects
