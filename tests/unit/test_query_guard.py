"""The query guard: one read-only SELECT over data products, nothing else.

Every refusal asserts that the message names what was refused, because "query refused" alone
sends a user guessing. The property tests generate both sides: ordinary analytical queries that
must pass, and file-reading table functions in every casing, quoting and position that must not.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from meshfabric.errors import QueryError
from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog
from meshfabric.query.guard import (
    ALLOWED_DUCKDB_FUNCTIONS,
    ALLOWLIST_NAMES,
    check_sql,
    guard,
    product_tables,
    visible_ctes,
)
from meshfabric.spec.models import OutputPort
from meshfabric.types import parse_type

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tpch

PRODUCTS = {
    "sales.orders": [
        ("id", "bigint"),
        ("customer_id", "bigint"),
        ("amount", "decimal(12,2)"),
        ("status", "string"),
        ("ordered_at", "date"),
    ],
    "crm.customer": [("id", "bigint"), ("name", "string"), ("region", "string")],
    "logistics.shipments": [("order_id", "bigint"), ("shipped_at", "timestamp"), ("carrier", "string")],
}


def make_catalog(products: dict[str, list[tuple[str, str]]]) -> StaticCatalog:
    bindings = {}
    for fqn, cols in products.items():
        domain, name = fqn.split(".")
        port = OutputPort(source="src", table=name)
        columns = tuple(ProductColumn(c, parse_type(t)) for c, t in cols)
        bindings[fqn] = ProductBinding(domain, name, "src", port, columns)
    return StaticCatalog(bindings, {})


CATALOG = make_catalog(PRODUCTS)
TPCH_CATALOG = make_catalog(
    {
        f"{tpch.DOMAINS[t]}.{t}": [(c, kind.replace("VARCHAR", "string")) for c, kind in cols]
        for t, cols in tpch.SCHEMA.items()
    }
)


def refused(sql: str, catalog: StaticCatalog = CATALOG) -> str:
    with pytest.raises(QueryError) as info:
        guard(sql, catalog)
    return str(info.value)


# -- refusals ------------------------------------------------------------------------------------------
REFUSALS = [
    # file-reading table functions, in every disguise
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto"),
    ("SELECT * FROM read_csv('data.csv', header = true)", "read_csv"),
    ("SELECT * FROM read_parquet('s3://bucket/*.parquet')", "read_parquet"),
    ("SELECT * FROM READ_TEXT('/etc/passwd')", "read_text"),
    ("select * from Read_Blob('/etc/shadow')", "read_blob"),
    ("SELECT * FROM \"read_csv_auto\"('/etc/passwd')", "read_csv_auto"),
    ("SELECT * FROM glob('/home/*')", "glob"),
    ("SELECT * FROM parquet_scan('x.parquet')", "parquet_scan"),
    ("SELECT * FROM read_json_auto('x.json')", "read_json_auto"),
    ("SELECT * FROM sniff_csv('x.csv')", "sniff_csv"),
    ("SELECT * FROM postgres_scan('host=x', 'public', 't')", "postgres_scan"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scan"),
    ("SELECT * FROM query_table('t')", "query_table"),
    ("SELECT * FROM query('SELECT 42')", "query"),
    ("SELECT * FROM 'secrets.parquet'", "secrets.parquet"),
    ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
    ('SELECT * FROM "s3://bucket/data.csv"', "s3://bucket/data.csv"),
    ("SELECT * FROM read_csv_auto", "read_csv_auto"),
    # nested anywhere
    ("SELECT id FROM sales.orders WHERE id IN (SELECT id FROM read_csv_auto('x.csv'))", "read_csv_auto"),
    ("WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x", "read_text"),
    ("SELECT * FROM sales.orders o, LATERAL (SELECT * FROM glob('*'))", "glob"),
    ("SELECT * FROM sales.orders o JOIN read_parquet('x.parquet') p ON true", "read_parquet"),
    ("SELECT upper((SELECT content FROM read_text('/etc/passwd')))", "read_text"),
    ("SELECT id FROM sales.orders UNION ALL SELECT * FROM read_csv('x.csv')", "read_csv"),
    ("SELECT * FROM (SELECT * FROM (SELECT * FROM read_csv_auto('deep.csv')))", "read_csv_auto"),
    ("SELECT length(read_text) FROM sales.orders WHERE EXISTS (SELECT 1 FROM read_text('a'))", "read_text"),
    # scalar functions that read the environment or the engine
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT current_setting('threads')", "current_setting"),
    ("SELECT count(*) FROM sales.orders WHERE status = getvariable('x')", "getvariable"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    # statements other than SELECT
    ("ATTACH 'x.db' AS x", "ATTACH"),
    ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY"),
    ("PRAGMA database_list", "PRAGMA"),
    ("SET enable_external_access = true", "SET"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("CALL pragma_version()", "CALL"),
    ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("DESCRIBE sales.orders", "DESCRIBE"),
    ("SUMMARIZE sales.orders", "SUMMARIZE"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("INSERT INTO sales.orders VALUES (1)", "INSERT"),
    ("UPDATE sales.orders SET amount = 0", "UPDATE"),
    ("DELETE FROM sales.orders", "DELETE"),
    ("DROP TABLE sales.orders", "DROP"),
    ("DETACH x", "DETACH"),
    ("PIVOT sales.orders ON status USING sum(amount)", "PIVOT"),
    ("SELECT id INTO copied FROM sales.orders", "INTO"),
    # more than one statement
    ("SELECT 1; DROP TABLE x", "DROP"),
    ("SELECT 1; -- harmless comment\nATTACH 'x.db'", "ATTACH"),
    ("SELECT 1 /* ; */; SELECT 2", "found 2"),
    ("SELECT id FROM sales.orders;\n\n  copy sales.orders to 'out.csv'", "COPY"),
    # system, physical and unknown tables
    ("SELECT * FROM information_schema.tables", "information_schema.tables"),
    ("SELECT * FROM pg_catalog.pg_class", "pg_catalog.pg_class"),
    ("SELECT * FROM duckdb_tables", "duckdb_tables"),
    ("SELECT * FROM sqlite_master", "sqlite_master"),
    ("SELECT * FROM main.orders", "main.orders"),
    ("SELECT * FROM public.orders", "product 'public.orders' not found"),
    ("SELECT * FROM shop.sales.orders", "product 'shop.sales.orders' not found"),
    ("SELECT * FROM orders", "'orders' is neither a product nor a CTE"),
    ("SELECT * FROM sales.ordres", "product 'sales.ordres' not found"),
    ('SELECT * FROM "SALES"."Invoices"', "product 'SALES.Invoices' not found"),
    # CTE names are only visible where SQL says they are
    ("WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a", "'b' is neither"),
    ("SELECT * FROM (WITH t AS (SELECT 1 AS x) SELECT * FROM t) s, t", "'t' is neither"),
    ("WITH __mf_scan_0 AS (SELECT 1 AS x) SELECT * FROM __mf_scan_0", "reserved"),
    ("SELECT 1 AS x FROM sales.orders AS __mf_scan_0", "reserved"),
    # constructs that would change what the planner may assume
    ("SELECT * FROM sales.orders NATURAL JOIN crm.customer", "NATURAL JOIN"),
    ("SELECT * FROM sales.orders POSITIONAL JOIN crm.customer", "POSITIONAL JOIN"),
    ("SELECT * FROM sales.orders ASOF JOIN crm.customer ON id >= id", "ASOF JOIN"),
    ("SELECT list_transform([1, 2], x -> x + 1)", "transform"),
    ("SELECT * FROM sales.orders WHERE id = $1", "query parameters"),
    ("SELECT * FROM sales.orders WHERE id = ?", "query parameters"),
    ("SELECT COLUMNS('a.*') FROM sales.orders", "COLUMNS"),
    ("", "empty"),
    (" ;; ", "empty"),
    ("SELEC 1", "syntax error at line 1"),
]


@pytest.mark.parametrize(("sql", "named"), REFUSALS, ids=[f"{i:02d}" for i in range(len(REFUSALS))])
def test_refusal_names_what_was_refused(sql: str, named: str) -> None:
    message = refused(sql)
    assert named.lower() in message.lower(), message


def test_there_are_at_least_thirty_refusal_cases() -> None:
    assert len(REFUSALS) >= 30


def test_unknown_product_hint_suggests_close_and_same_named_products() -> None:
    assert "did you mean 'sales.orders'?" in refused("SELECT * FROM public.orders")
    assert "'sales.orders'" in refused("SELECT * FROM sales.ordres")


def test_allowlist_names_exist_in_the_installed_sqlglot() -> None:
    missing = [name for name in ALLOWLIST_NAMES if not isinstance(getattr(exp, name, None), type)]
    assert missing == []


def test_no_file_or_catalog_function_is_in_the_duckdb_allowlist() -> None:
    risky = ("read", "scan", "glob", "query", "env", "setting", "pragma", "duckdb", "file", "variable")
    assert [f for f in ALLOWED_DUCKDB_FUNCTIONS if any(word in f for word in risky)] == []


# -- acceptance -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("number", sorted(tpch.QUERIES))
def test_every_tpch_query_passes(number: int) -> None:
    result = guard(tpch.product_sql(number), TPCH_CATALOG)
    assert result.products
    assert all(b.fqn.split(".")[1] in tpch.SCHEMA for b in result.products)


ACCEPTED = [
    "SELECT id, amount FROM sales.orders",
    'SELECT "id" FROM "sales"."orders"',
    "select ID from SALES.ORDERS",
    "FROM sales.orders SELECT status, count(*) GROUP BY ALL ORDER BY ALL",
    "SELECT status, sum(amount) FILTER (WHERE amount > 10) FROM sales.orders GROUP BY ROLLUP (status)",
    "SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at DESC) AS rn FROM sales.orders "
    "QUALIFY rn = 1",
    "SELECT CASE WHEN amount > 10 THEN 'big' ELSE 'small' END, CAST(amount AS DOUBLE), amount::INTEGER "
    "FROM sales.orders",
    "SELECT extract(year FROM ordered_at), date_trunc('month', ordered_at), ordered_at + INTERVAL 3 DAY, "
    "date_part('dow', ordered_at), strftime(ordered_at, '%Y') FROM sales.orders",
    "SELECT upper(name), lower(region), length(name), substring(name, 1, 2), trim(name), name || '!', "
    "regexp_matches(name, '^A'), coalesce(region, '?'), concat(name, region) FROM crm.customer",
    "WITH big AS (SELECT * FROM sales.orders WHERE amount > 100), per AS (SELECT customer_id, count(*) n "
    "FROM big GROUP BY 1) SELECT c.name, per.n FROM per JOIN crm.customer c ON c.id = per.customer_id",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
    "SELECT id FROM sales.orders EXCEPT SELECT order_id FROM logistics.shipments",
    "SELECT o.id FROM sales.orders o WHERE NOT EXISTS (SELECT 1 FROM logistics.shipments s WHERE s.order_id = o.id)",
    "SELECT c.name, x.total FROM crm.customer c, LATERAL (SELECT sum(amount) AS total FROM sales.orders o "
    "WHERE o.customer_id = c.id) x",
    "SELECT * FROM sales.orders o LEFT JOIN crm.customer c USING (id) SEMI JOIN logistics.shipments s "
    "ON s.order_id = o.id",
    "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(k, label)",
    "SELECT median(amount), quantile_cont(amount, 0.9), stddev(amount), approx_count_distinct(status), "
    "string_agg(status, ',') FROM sales.orders",
    "SELECT greatest(amount, 1), round(amount, 1), abs(amount), amount % 2, amount // 2 FROM sales.orders",
    "(SELECT id FROM sales.orders LIMIT 1)",
    "SELECT * EXCLUDE (status) FROM sales.orders ORDER BY amount DESC NULLS LAST LIMIT 10 OFFSET 5",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_normal_analytical_sql_passes(sql: str) -> None:
    guard(sql, CATALOG)


def test_guard_lists_each_referenced_product_once() -> None:
    result = guard(
        "SELECT * FROM sales.orders a JOIN sales.orders b ON a.id = b.id JOIN crm.customer c ON c.id = a.customer_id",
        CATALOG,
    )
    assert [b.fqn for b in result.products] == ["sales.orders", "crm.customer"] or [b.fqn for b in result.products] == [
        "crm.customer",
        "sales.orders",
    ]
    assert len(product_tables(result.expression)) == 3


def test_cte_visibility_follows_sql_scoping() -> None:
    query = check_sql("WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b, a")
    tables = {t.sql(): t for t in query.find_all(exp.Table)}
    inside_b = next(t for t in query.find_all(exp.Table) if t.find_ancestor(exp.CTE) is not None)
    assert visible_ctes(inside_b) == {"a"}
    assert visible_ctes(tables["b"]) == {"a", "b"}
    assert product_tables(query) == []


def test_internal_names_are_allowed_only_when_the_engine_says_so() -> None:
    with pytest.raises(QueryError, match="reserved"):
        check_sql("SELECT * FROM __mf_scan_0")
    check_sql("SELECT * FROM __mf_scan_0 AS o", internal={"__mf_scan_0"})


# -- properties ---------------------------------------------------------------------------------------------
FORBIDDEN = [
    "read_csv",
    "read_csv_auto",
    "read_parquet",
    "read_json",
    "read_json_auto",
    "read_ndjson",
    "read_text",
    "read_blob",
    "glob",
    "parquet_scan",
    "parquet_metadata",
    "query",
    "query_table",
    "sniff_csv",
    "iceberg_scan",
    "delta_scan",
    "getenv",
    "current_setting",
    "duckdb_settings",
    "duckdb_extensions",
    "pragma_version",
    "sqlite_scan",
    "postgres_scan",
    "mysql_scan",
    "read_xlsx",
    "load_aws_credentials",
]

POSITIONS = [
    "SELECT * FROM {call}",
    "SELECT o.id FROM sales.orders o JOIN {call} f ON true",
    "SELECT id FROM sales.orders WHERE id IN (SELECT * FROM {call})",
    "WITH f AS (SELECT * FROM {call}) SELECT * FROM f",
    "SELECT * FROM sales.orders o, LATERAL (SELECT * FROM {call}) f",
    "SELECT id FROM sales.orders UNION SELECT * FROM {call}",
    "SELECT (SELECT count(*) FROM {call}) AS n",
    "SELECT coalesce({call}, 1) FROM sales.orders",
    "SELECT id FROM sales.orders WHERE status = {call}",
    "SELECT id FROM sales.orders ORDER BY {call}",
    "SELECT * FROM (SELECT * FROM (SELECT 1 AS x) a, {call} b) c",
]


@st.composite
def disguised(draw: st.DrawFn, name: str) -> str:
    cased = "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in name)
    quoted = f'"{cased}"' if draw(st.booleans()) else cased
    space = draw(st.sampled_from(["", " ", "\n", "  "]))
    arg = draw(st.sampled_from(["'/etc/passwd'", "'x.csv'", "'*'", "'s3://b/k'", "'SELECT 1'", ""]))
    return f"{quoted}{space}({arg})"


@given(data=st.data(), name=st.sampled_from(FORBIDDEN), template=st.sampled_from(POSITIONS))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_forbidden_functions_are_refused_in_any_casing_quoting_and_position(
    data: st.DataObject, name: str, template: str
) -> None:
    sql = template.format(call=data.draw(disguised(name)))
    try:
        guard(sql, CATALOG)
    except QueryError as exc:
        text = str(exc).lower()
        assert name in text or "syntax error" in text or "could not parse" in text, (sql, text)
    else:
        raise AssertionError(f"accepted: {sql}")


DANGEROUS_STATEMENTS = [
    "ATTACH 'x.db'",
    "COPY sales.orders TO 'x.csv'",
    "PRAGMA version",
    "SET threads = 1",
    "INSTALL httpfs",
    "LOAD httpfs",
    "DROP TABLE x",
    "CREATE TABLE x (a INT)",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT 1",
]


@given(
    sep=st.sampled_from([";", "; ", ";\n", "; -- comment\n", ";/* c */", ";;", "; /* ; */ "]),
    second=st.sampled_from(DANGEROUS_STATEMENTS),
    first=st.sampled_from(ACCEPTED[:6]),
)
def test_a_second_statement_is_always_refused(sep: str, second: str, first: str) -> None:
    with pytest.raises(QueryError, match="only one statement"):
        guard(first + sep + second, CATALOG)


COLUMNS = {fqn: [c for c, _ in cols] for fqn, cols in PRODUCTS.items()}
NUMERIC = {fqn: [c for c, t in cols if t in ("bigint", "decimal(12,2)")] for fqn, cols in PRODUCTS.items()}


@st.composite
def analytical_query(draw: st.DrawFn) -> tuple[str, str]:
    fqn = draw(st.sampled_from(sorted(PRODUCTS)))
    cols = draw(st.lists(st.sampled_from(COLUMNS[fqn]), min_size=1, max_size=3, unique=True))
    alias = draw(st.sampled_from(["t", "x1", "p"]))
    spelled = draw(st.sampled_from([fqn, fqn.upper(), '"' + '"."'.join(fqn.split(".")) + '"']))
    items = [f"{alias}.{c}" for c in cols]
    numeric = NUMERIC[fqn]
    grouped = draw(st.booleans()) and bool(numeric)
    if grouped:
        agg = draw(st.sampled_from(["sum", "avg", "min", "max", "count", "stddev"]))
        items.append(f"{agg}({alias}.{draw(st.sampled_from(numeric))}) AS m")
    sql = f"SELECT {', '.join(items)} FROM {spelled} AS {alias}"
    conditions = []
    for _ in range(draw(st.integers(0, 3))):
        col = draw(st.sampled_from(numeric or COLUMNS[fqn]))
        op = draw(st.sampled_from(["=", "<", ">=", "<>", "BETWEEN 1 AND", "IN (1, 2,"]))
        value = draw(st.integers(-1000, 1000))
        closing = ")" if op.startswith("IN") else ""
        conditions.append(f"{alias}.{col} {op} {value}{closing}")
    if conditions:
        sql += " WHERE " + draw(st.sampled_from([" AND ", " OR "])).join(conditions)
    if grouped:
        sql += " GROUP BY " + ", ".join(f"{alias}.{c}" for c in cols)
    if draw(st.booleans()):
        sql += f" ORDER BY 1 LIMIT {draw(st.integers(0, 100))}"
    return sql, fqn


@given(case=analytical_query())
@settings(max_examples=200)
def test_generated_analytical_queries_pass_and_name_their_product(case: tuple[str, str]) -> None:
    sql, fqn = case
    result = guard(sql, CATALOG)
    assert [b.fqn for b in result.products] == [fqn]


@given(case=analytical_query())
@settings(max_examples=100)
def test_guarded_sql_regenerates_to_sql_the_guard_accepts_again(case: tuple[str, str]) -> None:
    first = guard(case[0], CATALOG)
    second = guard(first.expression.sql(dialect="duckdb"), CATALOG)
    assert [b.fqn for b in second.products] == [b.fqn for b in first.products]


@given(text=st.text(max_size=200))
@settings(max_examples=300)
def test_any_text_is_accepted_or_refused_with_a_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        guard(text, CATALOG)


@given(
    text=st.lists(
        st.sampled_from(
            [
                "SELECT",
                "FROM",
                "sales.orders",
                "read_csv('x')",
                ",",
                "(",
                ")",
                ";",
                "WHERE",
                "id",
                "=",
                "1",
                "UNION",
                "WITH",
                "x",
                "AS",
                "JOIN",
                "ON",
                "'f.csv'",
                "ATTACH",
                "--",
                "/*",
                "*/",
                "*",
            ]
        ),
        max_size=25,
    )
)
@settings(max_examples=400)
def test_token_soup_never_reaches_a_file(text: list[str]) -> None:
    sql = " ".join(text)
    try:
        result = guard(sql, CATALOG)
    except QueryError:
        return
    # whatever passed reads only products and CTEs and calls no file function
    for table in product_tables(result.expression):
        assert CATALOG.lookup(table.db, table.name) is not None, table.sql()
    assert result.expression.find(exp.ReadCSV, exp.Command, exp.Attach, exp.Copy) is None
    assert all(a.name.lower() in ALLOWED_DUCKDB_FUNCTIONS for a in result.expression.find_all(exp.Anonymous))


@pytest.mark.parametrize(("sql", "where", "what"), [
    ("SELECT a * FROM sales.orders", "line 1, column 12", "'*' is missing its right-hand side"),
    ("SELECT id FROM sales.orders WHERE", "line 1, column 29", "WHERE is missing its condition"),
    ("SELECT id\nFROM sales.orders\nWHERE id = = 1", "line 3, column 12", "'=' is missing its right-hand side"),
    ("SELEC id FROM sales.orders", "line 1, column 10", "unexpected token"),
])
def test_a_syntax_error_says_where_with_a_caret_and_no_parser_internals(sql: str, where: str, what: str) -> None:
    message = refused(sql)
    assert f"syntax error at {where}" in message and what in message, message
    assert "sqlglot" not in message and "<class" not in message
    text, caret = message.splitlines()[1:3]
    line, column = (int(part.split()[-1]) for part in where.split(","))
    assert text.strip() == sql.splitlines()[line - 1] and caret.index("^") - 2 == column - 1


@given(st.text(alphabet="SELCT FROMWHEabc*+=(),.1'\n", min_size=1, max_size=40))
@settings(max_examples=200)
def test_no_input_shows_parser_internals(sql: str) -> None:
    try:
        check_sql(sql)
    except QueryError as exc:
        assert "<class" not in exc.message and "sqlglot" not in exc.message, exc.message
