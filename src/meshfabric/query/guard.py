"""Refuse every SQL text that is not one read-only SELECT over data products.

The engine runs user SQL inside DuckDB, which can read files, attach databases, install
extensions and list its own catalog. A denylist of dangerous functions does not hold: one real
product blocked ``read_parquet`` and was read through ``read_csv_auto``, ``read_text`` and
``glob``. So the guard walks the whole syntax tree against an **allowlist**: every node type and
every function must be known to be harmless, and every table reference must be a data product
(``domain.product``) of the catalog or a CTE visible at that point. Anything else is refused with
a :class:`~meshfabric.errors.QueryError` naming the part of the SQL that was refused.

>>> from meshfabric.query.catalog import StaticCatalog
>>> try:
...     guard("SELECT * FROM read_csv_auto('/etc/passwd')", StaticCatalog({}, {}))
... except QueryError as exc:
...     print(exc.message)
table function 'read_csv_auto' is not allowed in FROM: only data products (domain.product) and CTEs can be queried
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from meshfabric.errors import QueryError, UnknownProduct

if TYPE_CHECKING:
    from meshfabric.query.catalog import ProductBinding, ProductCatalog

DIALECT = "duckdb"

#: Prefix of the names the engine registers scans under; user SQL may not use or shadow them.
RESERVED_PREFIX = "__mf_"

#: Clause, operator and literal nodes a read-only analytical query is built from.
_STRUCTURE = """
    Select Union Intersect Except Subquery With CTE From Join Where Group Having Qualify Order
    Ordered Limit Offset Distinct Window WindowSpec Filter WithinGroup IgnoreNulls RespectNulls
    GroupingSets Cube Rollup Lateral Values Tuple
    Column Identifier Literal Star Alias Aliases TableAlias Table Paren Null Boolean Var
    DataType DataTypeParam Interval IntervalSpan Cast TryCast Case If Bracket Slice Dot
    And Or Not Xor EQ NEQ NullSafeEQ NullSafeNEQ GT GTE LT LTE Is In Between Like ILike
    Escape Exists Any All
    Add Sub Mul Div IntDiv Mod Neg DPipe BitwiseAnd BitwiseOr BitwiseXor BitwiseNot
    BitwiseLeftShift BitwiseRightShift AtTimeZone
"""

#: Typed sqlglot function nodes: aggregates, window functions and pure scalar functions.
_FUNCTIONS = """
    Count Sum Avg Min Max Stddev StddevSamp StddevPop Variance VariancePop Median Mode Quantile
    PercentileCont PercentileDisc ApproxQuantile ApproxDistinct ArrayAgg GroupConcat ArgMax ArgMin
    LogicalAnd LogicalOr First Last AnyValue CountIf Corr CovarPop CovarSamp Kurtosis Skewness
    RegrSlope RegrIntercept RegrCount RegrR2 RegrAvgx RegrAvgy RegrSxx RegrSyy RegrSxy
    BitwiseAndAgg BitwiseOrAgg BitwiseXorAgg Grouping
    RowNumber Rank DenseRank Ntile Lag Lead FirstValue LastValue NthValue PercentRank CumeDist
    Abs Round Floor Ceil Sqrt Cbrt Pow Exp Ln Log Sign Greatest Least Coalesce Nullif Trunc Pi
    Degrees Radians Sin Cos Tan Asin Acos Atan Atan2 Factorial IsNan IsInf Rand
    Upper Lower Length Substring Trim Concat ConcatWs Replace Left Right StrPosition RegexpLike
    RegexpILike RegexpExtract RegexpReplace RegexpFullMatch SplitPart Split Pad Initcap Reverse
    Repeat StartsWith EndsWith Contains MD5 SHA SHA2 Ascii Chr Levenshtein JarowinklerSimilarity
    Translate ArrayToString Typeof
    Extract DateTrunc TimestampTrunc DateAdd DateSub DateDiff Year Month Day DayOfWeek
    DayOfWeekIso DayOfMonth DayOfYear Week WeekOfYear Quarter Hour Minute Second CurrentDate
    CurrentTimestamp CurrentTime TimeToStr StrToTime StrToDate UnixToTime TimeToUnix
    DateFromParts TimestampFromParts LastDay Dayname Monthname ToDays DateBin MakeInterval
    TsOrDsToDate TsOrDsAdd TimeStrToTime
    Array ArrayContains ArraySize ArraySort ArrayDistinct Struct
"""

#: DuckDB functions sqlglot keeps as ``Anonymous`` (it has no node type for them), by name.
#: Functions that take another function's name as a string (``list_aggregate``) stay out: they
#: would reach functions the allowlist never saw.
ALLOWED_DUCKDB_FUNCTIONS = frozenset(
    {
        *("date_part", "datepart", "date_sub", "now", "age", "to_months", "to_years", "yearweek", "isoyear"),
        *("strlen", "octet_length", "prefix", "suffix", "printf", "strip_accents", "like_escape"),
        *("ilike_escape", "even", "gcd", "lcm", "product", "histogram", "entropy", "fsum", "favg"),
        *("sumkahan", "hash", "bit_count", "list_value", "array_length", "list_extract"),
    }
)


def _node_types(names: str) -> frozenset[type[exp.Expression]]:
    """Resolve class names against the installed sqlglot; names it lacks are skipped."""
    return frozenset(t for n in names.split() if isinstance(t := getattr(exp, n, None), type))


ALLOWED_NODES: frozenset[type[exp.Expression]] = _node_types(_STRUCTURE) | _node_types(_FUNCTIONS)
ALLOWLIST_NAMES: tuple[str, ...] = tuple(_STRUCTURE.split() + _FUNCTIONS.split())

#: Friendlier names for constructs users meet in the wild.
_CONSTRUCT_NAMES = {
    "Into": "SELECT ... INTO",
    "Lambda": "lambda expressions",
    "Placeholder": "query parameters",
    "Parameter": "query parameters",
    "Pivot": "PIVOT",
    "Unpivot": "UNPIVOT",
    "TableSample": "sampling (USING SAMPLE / TABLESAMPLE)",
    "Lock": "FOR UPDATE / FOR SHARE",
    "Columns": "COLUMNS(...)",
    "PropertyEQ": "named arguments (:=)",
    "Kwarg": "named arguments (=>)",
    "Unnest": "UNNEST",
    "Explode": "UNNEST",
    "Collate": "COLLATE",
}

_JOIN_SIDES = frozenset({"", "LEFT", "RIGHT", "FULL"})
_JOIN_KINDS = frozenset({"", "INNER", "OUTER", "CROSS", "SEMI", "ANTI"})

#: Schemas and name prefixes of DuckDB's (and its scanners') own catalogs.
_SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "main", "temp", "system", "memory"})
_SYSTEM_PREFIXES = ("duckdb_", "pg_", "sqlite_", "pragma_")


@dataclass(frozen=True)
class GuardedQuery:
    """A query that passed the guard, with the product behind every product reference.

    ``expression`` is the parsed tree (DuckDB dialect); ``products`` lists the distinct products
    referenced, in order of first appearance.
    """

    expression: exp.Query
    products: tuple[ProductBinding, ...]


def guard(sql: str, catalog: ProductCatalog, *, limit: int | None = None) -> GuardedQuery:
    """Parse ``sql``, check it against the allowlist and resolve its product references.
    ``limit`` (the API's and CLI's row cap) is checked against the row bounds too, before any
    source is touched.

    >>> from meshfabric.query.catalog import StaticCatalog
    >>> guard("SELECT 1; ATTACH 'x.db'", StaticCatalog({}, {}))
    Traceback (most recent call last):
    ...
    meshfabric.errors.QueryError: only one statement is allowed, found 2: the second starts with ATTACH
    """
    expression = check_sql(sql)
    if limit is not None:
        check_row_bounds(expression, limit)
    products: dict[str, ProductBinding] = {}
    for table in product_tables(expression):
        binding = resolve_product(table, catalog)
        products.setdefault(binding.fqn.lower(), binding)
    return GuardedQuery(expression, tuple(products.values()))


def check_sql(sql: str, *, internal: Collection[str] = ()) -> exp.Query:
    """Everything the guard checks that does not need the catalog: one SELECT, allowlisted
    nodes and functions, and table references shaped like ``domain.product`` or a CTE name.

    ``internal`` lists names the engine itself introduced (registered scans); they may be used
    as one-part table names and are exempt from the reserved-name rule. The engine re-checks
    the SQL it is about to run this way, so a text sqlglot generated differently from what was
    checked cannot slip through.

    >>> check_sql("select o.id from sales.orders o where o.amount > 10").sql()
    'SELECT o.id FROM sales.orders AS o WHERE o.amount > 10'
    >>> try:
    ...     check_sql("SELECT * FROM 'secrets.parquet'")
    ... except QueryError as exc:
    ...     print(exc.message.split(":")[0])
    file path 'secrets.parquet' is not allowed in FROM
    """
    statement = _single_statement(sql)
    if not isinstance(statement, exp.Select | exp.SetOperation | exp.Subquery):
        keyword = _keyword(statement)
        raise QueryError(
            f"{keyword} statements are not allowed: only a single SELECT query can be run",
            hint="queries are read-only; sources, settings and extensions are managed by meshfabric",
        )
    check_row_bounds(statement)
    allowed = {n.lower() for n in internal}
    tables = list(statement.find_all(exp.Table))
    # table functions first: one in FROM deserves the message about FROM, not about functions
    for table in tables:
        _check_table_function(table)
    for node in statement.walk():
        check_node(node)
    for ident in statement.find_all(exp.Identifier):
        name = ident.name
        if name.lower().startswith(RESERVED_PREFIX) and name.lower() not in allowed:
            raise QueryError(f"the name '{name}' is reserved: names starting with {RESERVED_PREFIX} are internal")
    for table in tables:
        _check_table_name(table, allowed)
    # ``(SELECT ...)`` alone is just the query; ``(SELECT ...) LIMIT 1`` must keep its clauses
    bare = isinstance(statement, exp.Subquery) and not any(v for k, v in statement.args.items() if k != "this")
    query = statement.unnest() if bare else statement
    if not isinstance(query, exp.Query) or not isinstance(query.unnest(), exp.Select | exp.SetOperation):
        raise QueryError("only a single SELECT query can be run")
    return query


#: the most rows a LIMIT, an OFFSET or both together may name: DuckDB and the sources count rows
#: in signed 64-bit integers, and a larger number fails inside a source, blamed on it
MAX_ROWS = 2**63 - 1


def check_row_bounds(query: exp.Expression, limit: int | None = None) -> None:
    """Refuse a LIMIT or OFFSET that is negative, not a whole number or beyond :data:`MAX_ROWS`,
    and a LIMIT plus OFFSET beyond it (a single-product scan asks its source for both).
    ``limit`` is the caller's row cap on top of the query's own LIMIT.

    >>> try:
    ...     check_row_bounds(sqlglot.parse_one("SELECT a FROM d.t LIMIT 9223372036854775808"))
    ... except QueryError as exc:
    ...     print(exc.message)
    LIMIT 9223372036854775808 is out of range: it must be a whole number from 0 to 9223372036854775807
    """
    if limit is not None and not 0 <= limit <= MAX_ROWS:
        raise QueryError(f"limit {limit} is out of range: it must be a whole number from 0 to {MAX_ROWS}",
                         hint="leave the limit out to get every row")
    for node in query.find_all(exp.Limit, exp.Offset):
        _rows(node)
    for q in [query, *query.find_all(exp.Query)]:
        count = _rows(q.args.get("limit"))
        offset = _rows(q.args.get("offset"))
        if q is query and limit is not None:
            count = limit if count is None else min(count, limit)
        if count is not None and offset is not None and count + offset > MAX_ROWS:
            raise QueryError(f"LIMIT {count} plus OFFSET {offset} is out of range: together they may be at most "
                             f"{MAX_ROWS}", hint="lower the LIMIT or the OFFSET")


def _rows(node: exp.Expression | None) -> int | None:
    """The row count a LIMIT or OFFSET names when it is a number (None for an expression)."""
    if not isinstance(node, exp.Limit | exp.Offset):
        return None
    value = node.expression
    negative = isinstance(value, exp.Neg)
    literal = value.this if negative else value
    if not isinstance(literal, exp.Literal) or literal.is_string:
        return None
    text = literal.this
    try:
        number = int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            return None
        number = int(as_float) if as_float.is_integer() else None  # type: ignore[assignment]
    keyword = "LIMIT" if isinstance(node, exp.Limit) else "OFFSET"
    shown = f"-{text}" if negative else text
    if number is None or (number != 0 and negative) or number > MAX_ROWS:
        raise QueryError(f"{keyword} {shown} is out of range: it must be a whole number from 0 to {MAX_ROWS}",
                         hint=f"write the {keyword} as a whole number of rows")
    return number


def product_tables(expression: exp.Expression) -> list[exp.Table]:
    """Every table reference that names a product rather than a CTE, in a fixed tree order
    (depth first, clauses in sqlglot's argument order).

    >>> sorted(t.sql() for t in product_tables(check_sql(
    ...     "WITH big AS (SELECT * FROM sales.orders WHERE amount > 9) SELECT * FROM big JOIN crm.customer c ON true")))
    ['crm.customer AS c', 'sales.orders']
    """
    return [t for t in expression.find_all(exp.Table, bfs=False) if not _is_cte_reference(t)]


def resolve_product(table: exp.Table, catalog: ProductCatalog) -> ProductBinding:
    """The product a ``domain.product`` table reference names, or a QueryError with a hint."""
    parts = [p.name for p in table.parts]
    fqn = ".".join(parts)
    binding = catalog.lookup(parts[0], parts[1]) if len(parts) == 2 else None
    if binding is not None:
        return binding
    known = [b.fqn for b in catalog.all_products()]
    if len(parts) == 2 and _is_system_name(parts[0], parts[1]):
        raise QueryError(
            f"system table '{fqn}' cannot be queried: only data products (domain.product) can",
            hint=_close_hint(fqn, known),
        )
    raise UnknownProduct(f"product '{fqn}' not found", hint=_close_hint(fqn, known))


def visible_ctes(node: exp.Expression) -> set[str]:
    """Lower-case names of the CTEs a table reference at ``node`` can see.

    A CTE sees only the CTEs defined before it (and itself under WITH RECURSIVE); the body of a
    query sees all of its own. Getting this exact matters: a name that is not a visible CTE
    would make DuckDB look for a catalog object of that name.
    """
    names: set[str] = set()
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With) and isinstance(child, exp.CTE):
            ctes = list(parent.expressions)
            index = next(i for i, c in enumerate(ctes) if c is child)
            upto = index + 1 if parent.args.get("recursive") else index
            names.update(c.alias.lower() for c in ctes[:upto])
        elif isinstance(parent, exp.Query) and child.arg_key != "with_":
            with_ = parent.args.get("with_")
            if with_ is not None:
                names.update(c.alias.lower() for c in with_.expressions)
        child, parent = parent, parent.parent
    return names


#: how a node sqlglot found incomplete is called in an error message
_NODE_WORDS = {"Mul": "'*'", "Div": "'/'", "Add": "'+'", "Sub": "'-'", "Mod": "'%'", "EQ": "'='", "NEQ": "'<>'",
               "GT": "'>'", "GTE": "'>='", "LT": "'<'", "LTE": "'<='", "And": "AND", "Or": "OR", "Not": "NOT",
               "Where": "WHERE", "Having": "HAVING", "Like": "LIKE", "In": "IN", "Between": "BETWEEN",
               "Join": "JOIN", "Order": "ORDER BY", "Group": "GROUP BY", "Limit": "LIMIT", "Cast": "CAST",
               "Alias": "AS", "DPipe": "'||'", "Is": "IS"}
_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")


def syntax_error(sql: str, exc: sqlglot.errors.ParseError) -> QueryError:
    """A parse error said as a user reads it: where (line, column and the line itself with a
    caret under the token), and what, without sqlglot's class names.

    >>> print(syntax_error("SELECT a * FROM t", _parse_error("SELECT a * FROM t")).message)
    syntax error at line 1, column 12: '*' is missing its right-hand side
      SELECT a * FROM t
                 ^
    """
    info = exc.errors[0] if exc.errors else {}
    description = str(info.get("description") or _first_line(str(exc)))
    missing = _MISSING.search(description)
    if missing is not None:
        key, node = missing.groups()
        word = _NODE_WORDS.get(node, node.upper())
        if key == "expression":
            description = f"{word} is missing its right-hand side"
        elif node in ("Where", "Having"):
            description = f"{word} is missing its condition"
        else:
            description = f"{word} is incomplete"
    elif description.startswith("Invalid expression / Unexpected token"):
        description = "unexpected token"
    line, col = info.get("line"), info.get("col")
    lines = sql.splitlines()
    if not isinstance(line, int) or not isinstance(col, int) or not 1 <= line <= len(lines):
        return QueryError(f"syntax error: {description}", hint="check the SQL near its end")
    token = str(info.get("highlight") or "")
    start = max(col - len(token), 0)
    text = lines[line - 1]
    near = f" near '{token}'" if token and not missing else ""
    return QueryError(f"syntax error at line {line}, column {start + 1}{near}: {description}\n  {text}\n  "
                      + " " * start + "^", hint="fix the SQL at the caret")


def _parse_error(sql: str) -> sqlglot.errors.ParseError:
    try:
        sqlglot.parse(sql, read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        return exc
    raise AssertionError(f"{sql!r} parses")


def _is_cte_reference(table: exp.Table) -> bool:
    return not table.args.get("db") and table.name.lower() in visible_ctes(table)


def _single_statement(sql: str) -> exp.Expression:
    if not sql or not sql.strip():
        raise QueryError("the query is empty")
    surrogate = _SURROGATE.search(sql)
    if surrogate is not None:
        position = surrogate.start() + 1
        raise QueryError(
            f"the SQL holds a lone surrogate (U+{ord(surrogate.group()):04X}) at character {position}, "
            "which is not a Unicode character",
            hint="send the SQL as valid UTF-8; write the character it stands for, or remove it",
        )
    try:
        parsed = sqlglot.parse(sql, read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise syntax_error(sql, exc) from None
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"could not parse the SQL: {_first_line(str(exc))}") from None
    except (RecursionError, ValueError, TypeError, AttributeError, IndexError) as exc:
        # sqlglot raises these on some malformed inputs; the user still deserves a QueryError
        raise QueryError(f"could not parse the SQL: {type(exc).__name__}") from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise QueryError("the query is empty")
    if len(statements) > 1:
        raise QueryError(
            f"only one statement is allowed, found {len(statements)}: the second starts with {_keyword(statements[1])}"
        )
    return statements[0]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _keyword(statement: exp.Expression) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    try:
        text = statement.sql(dialect=DIALECT).strip()
    except Exception:  # sqlglot cannot always write back what it parsed (DATETIME(0) in 30.x)
        text = ""
    return (text.split(None, 1)[0] if text else type(statement).__name__).upper()


def check_node(node: exp.Expression) -> None:
    """Refuse a node (or function) outside the allowlist with a QueryError naming it."""
    kind = type(node)
    if kind is exp.Anonymous:
        name = node.name
        if name.lower() not in ALLOWED_DUCKDB_FUNCTIONS:
            raise QueryError(f"function '{name.lower()}' is not allowed", hint=_FUNCTION_HINT)
        return
    if kind not in ALLOWED_NODES:
        if isinstance(node, exp.Func):
            raise QueryError(f"function '{_function_name(node)}' is not allowed", hint=_FUNCTION_HINT)
        what = _CONSTRUCT_NAMES.get(kind.__name__, kind.__name__)
        raise QueryError(f"{what} is not allowed in a query: '{_snippet(node)}'")
    if kind is exp.Join:
        _check_join(node)


_FUNCTION_HINT = "queries may use aggregate, window and scalar math/string/date functions on products"


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


def _check_join(join: exp.Expression) -> None:
    method = (join.args.get("method") or "").upper()
    side = (join.args.get("side") or "").upper()
    kind = (join.args.get("kind") or "").upper()
    if method:
        raise QueryError(
            f"{method} JOIN is not allowed: '{_snippet(join)}'",
            hint="join with explicit ON or USING conditions",
        )
    if side not in _JOIN_SIDES or kind not in _JOIN_KINDS:
        raise QueryError(f"{' '.join(p for p in (side, kind) if p)} JOIN is not allowed: '{_snippet(join)}'")


def _check_table_function(table: exp.Table) -> None:
    target = table.this
    if not isinstance(target, exp.Identifier):
        name = _function_name(target) if isinstance(target, exp.Func) else _snippet(target)
        raise QueryError(
            f"table function '{name}' is not allowed in FROM: "
            "only data products (domain.product) and CTEs can be queried"
        )


def _check_table_name(table: exp.Table, internal: set[str]) -> None:
    parts = [p.name for p in table.parts]
    if len(parts) == 1 and not _is_cte_reference(table) and parts[0].lower() not in internal:
        name = parts[0]
        if any(ch in name for ch in "./\\:*?"):
            raise QueryError(
                f"file path '{name}' is not allowed in FROM: "
                "only data products (domain.product) and CTEs can be queried"
            )
        if _is_system_name("", name):
            raise QueryError(f"system table '{name}' cannot be queried: only data products (domain.product) can")
        raise QueryError(
            f"'{name}' is neither a product nor a CTE: address products as domain.product",
        )


def _is_system_name(schema: str, name: str) -> bool:
    schema, name = schema.lower(), name.lower()
    return schema in _SYSTEM_SCHEMAS or any(p.startswith(_SYSTEM_PREFIXES) for p in (schema, name) if p)


def _close_hint(fqn: str, known: list[str]) -> str:
    if not known:
        return "no products are visible to you; `meshfabric products` lists the catalog"
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(fqn.lower(), list(lowered), n=3, cutoff=0.6)
    last = fqn.lower().rsplit(".", 1)[-1]
    same_name = [k for k in lowered if k.rsplit(".", 1)[-1] == last]
    suggestions = list(dict.fromkeys(same_name + close))[:3]
    if suggestions:
        return "did you mean " + " or ".join(f"'{lowered[s]}'" for s in suggestions) + "?"
    return "address products as domain.product; `meshfabric products` lists them"


def _snippet(node: exp.Expression, width: int = 80) -> str:
    try:
        text = node.sql(dialect=DIALECT)
    except Exception:  # generation can fail on half-supported syntax; the name still helps
        text = type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[:1]) if text.strip() else "invalid SQL"
