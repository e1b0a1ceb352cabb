"""Generated SELECT lists over generated tables: every output column's sources are exactly the columns it
was built from, typed identity / transformation / aggregation, whatever wraps the query and whichever
dialect reads it."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.lineage import analyze_sql

DIALECTS = [None, "postgres", "mysql", "duckdb", "sqlite", "spark", "hive", "snowflake", "bigquery", "tsql"]


@dataclass
class Item:
    sql: str
    sources: frozenset[str]
    subtype: str


@st.composite
def tables(draw: st.DrawFn) -> list[tuple[str, str, list[str]]]:
    """(table name, alias, columns) for one to three tables."""
    n = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(["orders", "items", "users", "events", "prices", "stock"]),
                          min_size=n, max_size=n, unique=True))
    out = []
    for i, name in enumerate(names):
        cols = draw(st.lists(st.sampled_from(["id", "qty", "amount", "price", "score", "n", "v", "w"]),
                             min_size=1, max_size=5, unique=True))
        schema = draw(st.sampled_from([None, "sales", "raw"]))
        out.append((f"{schema}.{name}" if schema else name, f"a{i}", cols))
    return out


@st.composite
def item(draw: st.DrawFn, tbls: list[tuple[str, str, list[str]]]) -> Item:
    def column() -> tuple[str, str]:
        name, alias, cols = draw(st.sampled_from(tbls))
        col = draw(st.sampled_from(cols))
        return f"{alias}.{col}", f"{name}.{col}"

    kind = draw(st.sampled_from(["identity", "arith", "aggregate", "window"]))
    if kind == "identity":
        sql, src = column()
        return Item(sql, frozenset({src}), "IDENTITY")
    operands = [column() for _ in range(draw(st.integers(1, 3)))]
    ops = [draw(st.sampled_from([" + ", " - ", " * "])) for _ in operands]
    expr = operands[0][0] + "".join(op + o[0] for op, o in zip(ops[1:], operands[1:], strict=True))
    if len(operands) == 1:
        expr += f"{ops[0]}{draw(st.integers(1, 9))}"
    sources = frozenset(o[1] for o in operands)
    if kind == "arith":
        return Item(f"({expr})", sources, "TRANSFORMATION")
    fn = draw(st.sampled_from(["sum", "min", "max", "avg"]))
    if kind == "aggregate":
        return Item(f"{fn}({expr})", sources, "AGGREGATION")
    return Item(f"{fn}({expr}) OVER ()", sources, "AGGREGATION")


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, str | None, list[Item], list[str], str | None]:
    tbls = draw(tables())
    items = draw(st.lists(item(tbls), min_size=1, max_size=6))
    select = ", ".join(f"{it.sql} AS o{i}" for i, it in enumerate(items))
    frm = f"{tbls[0][0]} AS {tbls[0][1]}"
    for name, alias, cols in tbls[1:]:
        frm += f" JOIN {name} AS {alias} ON {tbls[0][1]}.{tbls[0][2][0]} = {alias}.{cols[0]}"
    query = f"SELECT {select} FROM {frm}"
    outs = [f"o{i}" for i in range(len(items))]
    wrap = draw(st.sampled_from(["plain", "cte", "derived", "insert", "ctas", "cte_insert"]))
    target = None
    if wrap == "cte":
        query = f"WITH q AS ({query}) SELECT {', '.join(outs)} FROM q"
    elif wrap == "derived":
        query = f"SELECT {', '.join('d.' + o for o in outs)} FROM ({query}) AS d"
    elif wrap == "insert":
        target = "mart.out"
        cols = [f"c{i}" for i in range(len(items))]
        query = f"INSERT INTO mart.out ({', '.join(cols)}) {query}"
        outs = cols
    elif wrap == "ctas":
        target = "out"
        query = f"CREATE TABLE out AS {query}"
    elif wrap == "cte_insert":
        target = "out"
        query = f"INSERT INTO out WITH q AS ({query}) SELECT * FROM q"
    dialect = draw(st.sampled_from(DIALECTS))
    return query, dialect, items, outs, target


@settings(max_examples=80)
@given(queries())
def test_every_output_column_comes_exactly_from_what_built_it(
        case: tuple[str, str | None, list[Item], list[str], str | None]) -> None:
    sql, dialect, items, outs, target = case
    result = analyze_sql(sql, dialect=dialect)
    assert len(result.statements) == 1
    st_ = result.statements[0]
    assert st_.targets == ([target] if target else [])
    got = {str(c.target): c for c in st_.columns}
    expected_names = [f"{target}.{o}" if target else o for o in outs]
    assert sorted(got) == sorted(expected_names)
    for name, it in zip(expected_names, items, strict=True):
        direct = got[name].direct
        assert {str(f.source) for f in direct} == set(it.sources), (sql, name)
        assert {f.transformation.subtype for f in direct} == {it.subtype}, (sql, name)
    used = {s.rsplit(".", 1)[0] for it in items for s in it.sources}
    assert used <= set(st_.sources)
    assert result.warnings == []


@st.composite
def unions(draw: st.DrawFn) -> tuple[str, list[list[Item]], str | None]:
    width = draw(st.integers(1, 4))
    branches = []
    sqls = []
    for _ in range(draw(st.integers(2, 3))):
        tbls = draw(tables())
        items = draw(st.lists(item(tbls), min_size=width, max_size=width))
        name, alias, _cols = tbls[0]
        frm = f"{name} AS {alias}" + "".join(f" CROSS JOIN {n} AS {a}" for n, a, _c in tbls[1:])
        sqls.append(f"SELECT {', '.join(f'{it.sql} AS o{i}' for i, it in enumerate(items))} FROM {frm}")
        branches.append(items)
    dialect = draw(st.sampled_from(DIALECTS))
    op = draw(st.sampled_from([" UNION ALL ", " UNION ", " EXCEPT ", " INTERSECT "]))
    if dialect == "bigquery" and op != " UNION ALL ":
        op = op.rstrip() + " DISTINCT "  # BigQuery wants the set quantifier spelled out
    return op.join(sqls), branches, dialect


@settings(max_examples=40)
@given(unions())
def test_set_operation_branches_contribute_by_position(case: tuple[str, list[list[Item]], str | None]) -> None:
    sql, branches, dialect = case
    result = analyze_sql(sql, dialect=dialect)
    got = {str(c.target): c for c in result.statements[0].columns}
    assert sorted(got) == sorted(f"o{i}" for i in range(len(branches[0])))
    for i in range(len(branches[0])):
        expected = set().union(*(b[i].sources for b in branches))
        assert {str(f.source) for f in got[f"o{i}"].direct} == expected, sql


@settings(max_examples=40)
@given(tables(), st.sampled_from(DIALECTS), st.booleans(), st.sampled_from(["plain", "cte", "derived"]))
def test_star_expands_exactly_with_a_schema_and_stays_a_star_without(
        tbls: list[tuple[str, str, list[str]]], dialect: str | None, with_schema: bool, wrap: str) -> None:
    frm = f"{tbls[0][0]} AS {tbls[0][1]}" + "".join(
        f" JOIN {n} AS {a} ON {tbls[0][1]}.{tbls[0][2][0]} = {a}.{c[0]}" for n, a, c in tbls[1:])
    query = f"SELECT * FROM {frm}"
    if wrap == "cte":
        query = f"WITH q AS ({query}) SELECT * FROM q"
    elif wrap == "derived":
        query = f"SELECT d.* FROM ({query}) AS d"
    schema: dict = {}
    for name, _alias, cols in tbls:
        node = schema
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = {c: "int" for c in cols}
    if with_schema and len({n.count(".") for n, _a, _c in tbls}) > 1:
        with_schema = False  # a MappingSchema nests every table equally deep
    got = {tuple(e) for e in analyze_sql(query, dialect=dialect, schema=schema if with_schema else None).edges}
    if with_schema:
        assert got == {(f"{n}.{c}", c) for n, _a, cols in tbls for c in cols}
    else:
        assert got == {(f"{n}.*", "*") for n, _a, _c in tbls}
