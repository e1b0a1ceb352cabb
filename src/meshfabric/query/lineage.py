"""Table- and column-level lineage derived from SQL text with sqlglot.

Two entry points, both pure functions (no store, no connection):

* :func:`sql_lineage` — the plain summary ``{"sources", "targets", "columns"}`` the CLI prints;
* :func:`analyze_sql` — a :class:`SqlLineage` per script: for every statement its sources, targets,
  each target column's input fields typed the way OpenLineage's ``columnLineage`` facet types them
  (DIRECT identity / transformation / aggregation, INDIRECT conditional / window, a ``masking``
  flag), and the dataset-wide indirect dependencies (join, filter, group by, sort).

The script is tokenized once, split into statements at semicolon tokens and each statement parsed
on its own, so a syntax error names its statement, line and column. Each statement is reduced to
one query (INSERT's SELECT, CREATE … AS, UPDATE's and MERGE's assignments rewritten as a SELECT
over the same FROM / USING), qualified with :func:`sqlglot.optimizer.qualify` and walked scope by
scope (:mod:`sqlglot.optimizer.scope`): a column resolves through CTEs, derived tables and set
operation branches to the base tables. The rules are documented in ``docs/LINEAGE_SQL.md``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshfabric.errors import MeshfabricError

if TYPE_CHECKING:
    from sqlglot import exp
    from sqlglot.optimizer.scope import Scope
    from sqlglot.schema import MappingSchema

DIRECT = "DIRECT"
INDIRECT = "INDIRECT"
IDENTITY = "IDENTITY"
TRANSFORMATION = "TRANSFORMATION"
AGGREGATION = "AGGREGATION"
JOIN = "JOIN"
FILTER = "FILTER"
GROUP_BY = "GROUP_BY"
SORT = "SORT"
WINDOW = "WINDOW"
CONDITIONAL = "CONDITIONAL"

#: strength of a direct edge: an identity followed by an aggregation is an aggregation
_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}

#: functions whose result does not reveal the values they were computed from (OpenLineage ``masking``)
_MASKING = frozenset({
    "md5", "md5digest", "md5numberlower64", "md5numberupper64", "sha", "sha1", "sha1digest", "sha2",
    "sha256", "sha512", "sha2digest", "standardhash", "farmfingerprint", "encrypt", "encryptraw",
    "hash", "hashagg", "xxhash32", "xxhash64", "murmurhash3_32", "crc32", "count", "countif",
    "approxdistinct", "approx_count_distinct",
})

DIALECTS = ("postgres", "mysql", "duckdb", "sqlite", "spark", "hive", "snowflake", "bigquery", "tsql")


class SqlLineageError(MeshfabricError):
    """The SQL could not be read: which statement, where, and what the parser expected."""

    title = "SQL lineage error"

    def __init__(self, message: str, *, statement: int | None = None, line: int | None = None,
                 column: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.statement = statement
        self.line = line
        self.column = column


@dataclass(frozen=True, order=True)
class ColumnRef:
    """A column of a table as written in the SQL (lower-cased). ``table`` is None for the output
    column of a plain SELECT; ``column`` is ``*`` when the columns could not be listed."""

    table: str | None
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}" if self.table else self.column


@dataclass(frozen=True, order=True)
class Transformation:
    """One OpenLineage transformation: ``type`` DIRECT or INDIRECT and its ``subtype``."""

    type: str
    subtype: str
    masking: bool = False

    def to_openlineage(self) -> dict[str, Any]:
        return {"type": self.type, "subtype": self.subtype, "masking": self.masking}


@dataclass(frozen=True, order=True)
class InputField:
    """A source column and how it reaches the target."""

    source: ColumnRef
    transformation: Transformation

    @property
    def direct(self) -> bool:
        return self.transformation.type == DIRECT


@dataclass
class ColumnLineage:
    """One target column and every input field it depends on (direct and field-level indirect)."""

    target: ColumnRef
    inputs: list[InputField] = field(default_factory=list)

    @property
    def direct(self) -> list[InputField]:
        return [i for i in self.inputs if i.direct]

    @property
    def indirect(self) -> list[InputField]:
        return [i for i in self.inputs if not i.direct]


@dataclass
class StatementLineage:
    """Lineage of one statement of a script (``index`` counts from 1)."""

    index: int
    kind: str
    sources: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    columns: list[ColumnLineage] = field(default_factory=list)
    dataset: list[InputField] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: tables a DROP removes, and ``(old, new)`` of ALTER … RENAME / SWAP / EXCHANGE (for script-wide lineage)
    drops: list[str] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)

    def edges(self, indirect: bool = False) -> list[tuple[str, str]]:
        """Column edges as ``(source, target)`` strings, sorted and de-duplicated: the direct ones, and
        with ``indirect`` also each column's own indirect inputs (CASE conditions, window keys)."""
        return sorted({(str(i.source), str(c.target)) for c in self.columns for i in c.inputs
                       if indirect or i.direct})


@dataclass
class SqlLineage:
    """Lineage of a whole script: the union of its statements' lineage."""

    statements: list[StatementLineage]
    dialect: str | None = None

    @property
    def sources(self) -> list[str]:
        return sorted({s for st in self.statements for s in st.sources})

    @property
    def targets(self) -> list[str]:
        return sorted({t for st in self.statements for t in st.targets})

    @property
    def edges(self) -> list[tuple[str, str]]:
        return sorted({e for st in self.statements for e in st.edges()})

    @property
    def warnings(self) -> list[str]:
        return [w for st in self.statements for w in st.warnings]

    def script_tables(self) -> tuple[list[str], list[str]]:
        """``(sources, targets)`` of the script as a whole: a table written by one statement and read
        by a later one is intermediate and in neither (unless a statement reads and writes it); a
        dropped table that nothing else touched vanishes; a renamed table continues under its new name."""
        edges: set[tuple[str, str]] = set()
        source_only: set[str] = set()
        target_only: set[str] = set()

        def touched(t: str) -> bool:
            return any(t in e for e in edges)

        units: list[StatementLineage] = []
        for st in self.statements:  # a procedure's body statements share its number: one unit, as one statement
            if units and units[-1].index == st.index and not (st.drops or st.renames or units[-1].drops
                                                                or units[-1].renames):
                units[-1] = StatementLineage(index=st.index, kind=units[-1].kind,
                                             sources=sorted(set(units[-1].sources) | set(st.sources)),
                                             targets=sorted(set(units[-1].targets) | set(st.targets)))
            else:
                units.append(st)
        for st in units:
            if st.drops:
                for t in st.drops:
                    if not touched(t):
                        source_only.discard(t)
                        target_only.discard(t)
            elif st.renames:
                for old, new in st.renames:
                    edges = {(new if a == old else a, new if b == old else b) for a, b in edges}
                    edges.discard((new, new))
                    source_only.discard(old)
                    target_only.discard(old)
                    if not touched(new):
                        source_only.discard(new)
                        target_only.discard(new)
            elif st.sources and st.targets:
                edges |= {(s, t) for s in st.sources for t in st.targets}
            elif st.sources:
                source_only |= set(st.sources)
            elif st.targets:
                target_only |= set(st.targets)
        has_in = {b for _a, b in edges}
        has_out = {a for a, _b in edges}
        loops = {a for a, b in edges if a == b}
        sources = (has_out - has_in) | loops | source_only
        targets = (has_in - has_out) | loops | target_only
        return sorted(sources), sorted(targets)

    def column_edges(self, indirect: bool = False, end_to_end: bool = False) -> list[tuple[str, str]]:
        """Column edges of the script. ``indirect`` adds each column's own indirect inputs (a CASE
        condition, a window's keys — sqllineage counts those as lineage); dataset-wide dependencies
        (joins, filters, grouping) never. ``end_to_end`` follows the edges through tables written and
        read again in the script and keeps only first source → last target, as sqllineage's runner
        does; otherwise every statement's edges are listed."""
        edges = {e for st in self.statements for e in st.edges(indirect)}
        if not end_to_end:
            return sorted(edges)
        edges = {(a, b) for a, b in edges if "." in b}  # a plain SELECT's output columns have no table
        nxt: dict[str, set[str]] = {}
        for a, b in edges:
            nxt.setdefault(a, set()).add(b)
        has_in = {b for _a, b in edges}
        loops = {a for a, b in edges if a == b}
        ends = {b for b in has_in if not (nxt.get(b, set()) - {b})} | loops
        out: set[tuple[str, str]] = set()
        for start in (set(nxt) - has_in) | loops:
            seen, todo = {start}, [start]
            while todo:
                for b in nxt.get(todo.pop(), ()):
                    if b in ends:
                        out.add((start, b))
                    if b not in seen:
                        seen.add(b)
                        todo.append(b)
        return sorted(out)

    def column_types(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Each direct edge ``(source, target)`` with its transformation as OpenLineage writes it; an edge
        seen in several statements keeps its strongest subtype (aggregation over transformation over
        identity) and is masking when any of them masks."""
        out: dict[tuple[str, str], Transformation] = {}
        for st in self.statements:
            for col in st.columns:
                for f in col.direct:
                    key = (str(f.source), str(col.target))
                    seen = out.get(key)
                    out[key] = f.transformation if seen is None else _merge_subtype(seen, f.transformation)
        return {k: v.to_openlineage() for k, v in sorted(out.items())}

    def column_lineage_facet(self, target: str, namespace: str,
                             producer: str = "https://github.com/meshfabric/meshfabric") -> dict[str, Any]:
        """OpenLineage ``columnLineage`` facet of the output dataset ``target`` (a name from
        :attr:`targets`): per column its input fields with their transformations, and the
        dataset-wide indirect dependencies of the statements writing it. Every input dataset is
        named as written in the SQL, in ``namespace``."""
        per_field: dict[str, dict[ColumnRef, set[Transformation]]] = {}
        dataset: dict[ColumnRef, set[Transformation]] = {}
        for st in self.statements:
            if target not in st.targets:
                continue
            for col in st.columns:
                if col.target.table != target:
                    continue
                inputs = per_field.setdefault(col.target.column, {})
                for f in col.inputs:
                    inputs.setdefault(f.source, set()).add(f.transformation)
            for f in st.dataset:
                dataset.setdefault(f.source, set()).add(f.transformation)

        def field_list(items: dict[ColumnRef, set[Transformation]]) -> list[dict[str, Any]]:
            return [{"namespace": namespace, "name": ref.table or "", "field": ref.column,
                     "transformations": [t.to_openlineage() for t in sorted(ts)]}
                    for ref, ts in sorted(items.items())]

        return {
            "_producer": producer,
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
                          "#/$defs/ColumnLineageDatasetFacet",
            "fields": {name: {"inputFields": field_list(items)} for name, items in sorted(per_field.items())},
            "dataset": field_list(dataset),
        }

    def to_dict(self, indirect: bool = False, end_to_end: bool = False) -> dict[str, Any]:
        """``{"sources": [...], "targets": [...], "columns": [[src, tgt], ...]}``; with ``end_to_end``
        the script's tables and edges as a whole (:meth:`script_tables`, :meth:`column_edges`)."""
        if end_to_end:
            sources, targets = self.script_tables()
        else:
            sources, targets = self.sources, self.targets
        return {"sources": sources, "targets": targets,
                "columns": [list(e) for e in self.column_edges(indirect=indirect, end_to_end=end_to_end)]}

    def to_detail_dict(self) -> dict[str, Any]:
        """The summary plus, per statement, typed column edges and dataset-wide dependencies."""
        out = self.to_dict()
        out["statements"] = [
            {
                "index": st.index,
                "kind": st.kind,
                "sources": st.sources,
                "targets": st.targets,
                "columns": [
                    {
                        "target": str(c.target),
                        "inputs": [{"source": str(i.source), **i.transformation.to_openlineage()} for i in c.inputs],
                    }
                    for c in st.columns
                ],
                "dataset": [{"source": str(i.source), **i.transformation.to_openlineage()} for i in st.dataset],
                "warnings": st.warnings,
            }
            for st in self.statements
        ]
        return out


def sql_lineage(sql: str, dialect: str | None = None, schema: dict[str, Any] | None = None, *,
                indirect: bool = False, end_to_end: bool = False, ambiguous: str = "unresolved") -> dict[str, Any]:
    """Table and column lineage of a SQL statement or script as plain lists.

    Returns ``{"sources": [...], "targets": [...], "columns": [["src_table.col", "tgt_table.col"], ...]}``:
    table names as written (schema-qualified when the SQL qualifies them), lower-cased unless quoted,
    sorted and de-duplicated; ``columns`` holds the direct edges only. ``indirect=True`` adds each
    column's own indirect inputs (CASE conditions, window keys: what sqllineage calls lineage);
    ``end_to_end=True`` reads a script as a whole: intermediate tables drop out of sources and
    targets and column edges run from first source to last target. Raises :class:`SqlLineageError`
    on SQL that does not parse. ``ambiguous``: see :func:`analyze_sql`.
    """
    return analyze_sql(sql, dialect=dialect, schema=schema, ambiguous=ambiguous).to_dict(
        indirect=indirect, end_to_end=end_to_end)


def analyze_sql(sql: str, dialect: str | None = None, schema: dict[str, Any] | None = None, *,
                ambiguous: str = "unresolved") -> SqlLineage:
    """Typed lineage of every statement of ``sql``; see :class:`SqlLineage`.

    ``schema`` is ``{table: {column: type}}`` (or nested by db / catalog, as sqlglot's MappingSchema
    takes it); it expands ``*`` and attributes unqualified columns. Tables created in the script
    (CREATE TABLE / VIEW) are added to it for the statements after them. An unqualified column that
    several tables of its query could hold is left unresolved (``ambiguous="unresolved"``, the
    default: a source column without a table, named by the column alone, as sqllineage reports it —
    guessing would state lineage the SQL does not) or attributed to all of them (``ambiguous="all"``:
    the conservative answer for impact analysis, which the metadata graph uses); either way with a
    warning.
    """
    if ambiguous not in ("all", "unresolved"):
        raise SqlLineageError(f"ambiguous must be 'all' or 'unresolved', not {ambiguous!r}")
    dialect = _dialect_name(dialect)
    token = _DIALECT.set(dialect)
    amb = _AMBIGUOUS.set(ambiguous)
    try:
        return _analyze(sql, dialect, schema)
    finally:
        _AMBIGUOUS.reset(amb)
        _DIALECT.reset(token)


def _analyze(sql: str, dialect: str | None, schema: dict[str, Any] | None) -> SqlLineage:
    from sqlglot.errors import SchemaError, SqlglotError
    from sqlglot.schema import MappingSchema

    try:
        mapping = MappingSchema(schema or {}, dialect=dialect, normalize=True)
    except (SchemaError, ValueError, TypeError, AttributeError) as exc:
        raise SqlLineageError(f"the schema is not usable: {exc}",
                              hint="pass {table: {column: type}}, optionally nested by db and catalog") from exc
    statements = []
    with _quiet_sqlglot():
        parsed = _parse_script(sql, dialect)
    for index, stmt in parsed:
        try:
            with _quiet_sqlglot():
                statements.append(_StatementAnalyzer(stmt, index, dialect, mapping).run())
        except SqlglotError as exc:  # a construct sqlglot cannot scope: say so, keep the other statements
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            statements.append(StatementLineage(index=index, kind=stmt.key,
                                               warnings=[f"statement {index}: not analysed ({first})"]))
        except RecursionError:
            statements.append(StatementLineage(index=index, kind=stmt.key, warnings=[
                f"statement {index}: not analysed (nested too deeply for Python's recursion limit)"]))
    return SqlLineage(statements=statements, dialect=dialect)


# -- parsing ---------------------------------------------------------------------------------------

_QUIET_LOCK = threading.Lock()
_QUIET = {"depth": 0, "level": logging.NOTSET}


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs what it cannot parse or scope; those become this result's warnings instead.
    Counted, so concurrent analyses (API threads) restore the logger's level only when the last ends."""
    log = logging.getLogger("sqlglot")
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            _QUIET["level"] = log.level
            log.setLevel(logging.ERROR)
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                log.setLevel(_QUIET["level"])


def _dialect_name(dialect: str | None) -> str | None:
    if dialect is None or dialect == "":
        return None
    from sqlglot.dialects.dialect import Dialect

    name = dialect.lower()
    try:
        Dialect.get_or_raise(name)
    except ValueError as exc:
        raise SqlLineageError(f"unknown SQL dialect '{dialect}'",
                              hint=f"use one of {', '.join(DIALECTS)} (or any dialect sqlglot knows)") from exc
    return name


def _parse_script(sql: str, dialect: str | None) -> list[tuple[int, exp.Expr]]:
    """Split at semicolon tokens and parse each statement alone: errors then know their statement."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ErrorLevel, ParseError, TokenError
    from sqlglot.tokens import TokenType

    d = Dialect.get_or_raise(dialect)
    try:
        tokens = d.tokenize(sql)
    except TokenError as exc:
        raise SqlLineageError(f"cannot read the SQL: {exc}",
                              hint="check for an unterminated string, quoted identifier or comment") from exc
    chunks: list[list[Any]] = [[]]
    go_line = None
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            chunks.append([])
        elif tok.token_type == TokenType.COMMAND and tok.text.upper() == "GO":
            chunks.append([])  # T-SQL batch separator (sqlcmd / SSMS scripts)
            go_line = tok.line
        elif go_line == tok.line and tok.token_type == TokenType.NUMBER:
            continue  # GO 5: the repeat count belongs to the separator
        else:
            chunks[-1].append(tok)
    out: list[tuple[int, exp.Expr]] = []
    number = 0
    in_body = False
    for chunk in [piece for c in chunks for piece in _unwrap_procedure(d, c, sql)]:
        if not chunk:
            continue
        if chunk[0] is _BODY_MARK:  # a procedure's body statements keep the number of its CREATE PROCEDURE
            in_body = True
            chunk = chunk[1:]
            if not chunk:
                continue
        elif in_body and _is_block_end(chunk):
            in_body = False
            continue  # the END closing a procedure body split off its CREATE PROCEDURE
        elif not in_body:
            number += 1
        try:
            try:
                parsed = d.parser(error_level=ErrorLevel.IMMEDIATE).parse(chunk, sql)
            except ParseError:
                retried = _reparse(d, dialect, chunk, sql)
                if retried is None:
                    raise
                parsed = retried
        except ParseError as exc:
            info = exc.errors[0] if exc.errors else {}
            line, col = info.get("line") or chunk[0].line, info.get("col") or chunk[0].col
            what = info.get("description") or str(exc).splitlines()[0]
            near = (info.get("highlight") or "").strip()
            if " <Token" in what:  # sqlglot puts the token's repr in the message: name its text instead
                what = what.split(" <Token")[0].rstrip() + (f" '{near}'" if near else "")
                near = ""
            raise SqlLineageError(
                f"statement {number}, line {line}, column {col}: {what}" + (f" (near '{near}')" if near else ""),
                statement=number, line=line, column=col,
                hint="fix the SQL there" + ("" if dialect else ", or pass --dialect if it is dialect-specific SQL"),
            ) from exc
        except RecursionError:
            raise SqlLineageError(
                f"statement {number}, line {chunk[0].line}: nested too deeply to parse",
                statement=number, line=chunk[0].line, column=chunk[0].col,
                hint="flatten the nesting (a CTE per level reads better, and is analysed however long the chain)",
            ) from None
        for k, stmt in enumerate(x for x in parsed if x is not None):
            if k and not in_body:
                number += 1  # statements of a T-SQL batch written without semicolons
            out.append((number, stmt))
    return out


#: first token of a procedure body split off its CREATE PROCEDURE (see :func:`_unwrap_procedure`)
_BODY_MARK: Any = object()

#: words that start a T-SQL statement (batches may leave out the semicolons between them)
_TSQL_STARTS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE",
                          "DECLARE", "SET", "EXEC", "EXECUTE", "PRINT", "USE"})
_COMPOUND_ASSIGN = re.compile(r"([\w.\[\]\"]+)\s*([-+*/%&|^])=(?!=)")


def _is_block_end(chunk: list[Any]) -> bool:
    texts = [t.text.upper() for t in chunk]
    return texts in (["/"], ["END", "/"]) or (texts[:1] == ["END"] and len(texts) <= 2)


def _unwrap_procedure(d: Any, chunk: list[Any], sql: str) -> list[list[Any]]:
    """``CREATE PROCEDURE p() [AS] BEGIN stmt; stmt; END``: the header and the body's first
    statement arrive in one chunk. Split them so the body's statements are analysed like any other
    (the closing END is dropped by the caller); kept whole when the body does not parse alone."""
    from sqlglot.errors import ErrorLevel, ParseError

    texts = [t.text.upper() for t in chunk]
    if texts[:1] != ["CREATE"] or not ({"PROCEDURE", "PROC"} & set(texts[1:5])) or "BEGIN" not in texts:
        return [chunk]
    i = texts.index("BEGIN")
    head = chunk[:i - 1] if i and texts[i - 1] in ("AS", "IS") else chunk[:i]
    body = chunk[i + 1:]
    body_texts = texts[i + 1:]
    if body_texts and body_texts[-1] == "END" and \
            body_texts.count("END") == body_texts.count("BEGIN") + body_texts.count("CASE") + 1:
        body = body[:-1]  # CREATE PROCEDURE p AS BEGIN SELECT 1 END: no semicolon before the END
    try:
        d.parser(error_level=ErrorLevel.IMMEDIATE).parse(head, sql)
        if body:
            d.parser(error_level=ErrorLevel.IMMEDIATE).parse(body, sql)
    except ParseError:
        return [chunk]
    return [head, [_BODY_MARK, *body]] if body else [head, [_BODY_MARK]]


def _reparse(d: Any, dialect: str | None, chunk: list[Any], sql: str) -> list[Any] | None:
    """Second chances for a chunk that does not parse: a T-SQL batch without semicolons between its
    statements, T-SQL's compound assignment ``SET x += 1``, Athena's Hive-style backquoted names."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ErrorLevel, ParseError, TokenError

    def parse(dd: Any, tokens: list[Any], text: str) -> list[Any] | None:
        try:
            return dd.parser(error_level=ErrorLevel.IMMEDIATE).parse(tokens, text)
        except (ParseError, TokenError):
            return None

    text = sql[chunk[0].start:chunk[-1].end + 1]
    if dialect == "tsql":
        pieces: list[list[Any]] = [[]]
        depth = 0
        for tok in chunk:
            word = tok.text.upper()
            depth += word == "("
            depth -= word == ")"
            starts = word in _TSQL_STARTS or (word in ("SELECT", "WITH") and pieces[-1] and
                                              pieces[-1][0].text.upper() in ("SELECT", "WITH", "UPDATE", "DELETE"))
            if depth == 0 and starts and pieces[-1] and not (word == "SET" and pieces[-1][0].text.upper() == "UPDATE"):
                pieces.append([])
            pieces[-1].append(tok)
        if len(pieces) > 1:
            parsed = [parse(d, p, sql) for p in pieces]
            if all(x is not None for x in parsed):
                return [stmt for x in parsed if x for stmt in x]
        rewritten = _COMPOUND_ASSIGN.sub(lambda m: f"{m.group(1)} = {m.group(1)} {m.group(2)}", text)
        if rewritten != text:
            try:
                return parse(d, d.tokenize(rewritten), rewritten)
            except TokenError:
                return None
    if dialect == "athena":
        hive = Dialect.get_or_raise("hive")
        try:
            return parse(hive, hive.tokenize(text), text)
        except TokenError:
            return None
    return None


# -- names -----------------------------------------------------------------------------------------

#: the dialect of the analysis running in this thread / task (quoted names keep their case where it matters)
_DIALECT: ContextVar[str | None] = ContextVar("meshfabric_sql_dialect", default=None)
#: how the running analysis treats an unqualified column several tables could hold (see analyze_sql)
_AMBIGUOUS: ContextVar[str] = ContextVar("meshfabric_sql_ambiguous", default="all")

#: Spark / Databricks ``parquet.`/path``` reads files: the name is the path
_FILE_FORMATS = frozenset({"parquet", "json", "csv", "orc", "avro", "text", "delta", "binaryfile", "iceberg"})


def _part_name(ident: exp.Expr) -> str:
    """An identifier as meshfabric names it: lower-cased, except a quoted one in a dialect where
    quoting makes a name case-sensitive (``"MyTable"`` in PostgreSQL, Snowflake, generic SQL)."""
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

    if isinstance(ident, exp.Identifier) and ident.quoted:
        d = Dialect.get_or_raise(_DIALECT.get())
        if d.normalization_strategy in (NormalizationStrategy.LOWERCASE, NormalizationStrategy.UPPERCASE):
            return ident.name
    return ident.name.lower()


def _table_name(table: exp.Table) -> str | None:
    """The table as written, lower-cased (quoted parts keep their case): ``catalog.db.name`` with
    the parts the SQL gave; a file read as a table (Spark's ``parquet.`path```) is its path."""
    from sqlglot import exp

    if not isinstance(table.this, exp.Identifier):
        if isinstance(table.this, exp.Literal) and table.this.is_string:
            return table.this.name  # a path or URI written as a string (COPY INTO t FROM 's3://…')
        return None  # a table function or a variable, not a named table
    if table.this.quoted and not table.catalog and table.db.lower() in _FILE_FORMATS:
        return table.name
    name = ".".join(_part_name(p) for p in table.parts)
    if table.this.args.get("temporary"):  # T-SQL #temp and ##global temp tables
        name = ("##" if table.this.args.get("global_") else "#") + name
    return name


def _merge_subtype(outer: Transformation, inner: Transformation) -> Transformation:
    """The transformation of ``inner`` seen through ``outer``."""
    if outer.type == INDIRECT:
        return Transformation(INDIRECT, outer.subtype)
    if inner.type == INDIRECT:
        return inner
    sub = outer.subtype if _RANK[outer.subtype] >= _RANK[inner.subtype] else inner.subtype
    return Transformation(DIRECT, sub, outer.masking or inner.masking)


def _compose(fields: Iterable[InputField], outer: Transformation) -> set[InputField]:
    return {InputField(f.source, _merge_subtype(outer, f.transformation)) for f in fields}


_IDENT = Transformation(DIRECT, IDENTITY)

#: an output slot of a scope: its name ("*" for columns that could not be listed) and its inputs
_Slot = tuple[str, frozenset[InputField]]


# -- one query -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pivot:
    """A table read through PIVOT or UNPIVOT."""

    table: Any
    pivot: Any


class _QueryLineage:
    """Column lineage of one query (SELECT / set operation, with CTEs) resolved to base tables."""

    def __init__(self, query: exp.Expr, dialect: str | None, schema: MappingSchema, warnings: list[str],
                 label: str) -> None:
        from sqlglot.optimizer.scope import traverse_scope

        self.dialect = dialect
        self.schema = schema
        self.warnings = warnings
        self.label = label
        self.query = self._qualify(query)
        self.scopes = traverse_scope(self.query)
        self.root = self.scopes[-1] if self.scopes else None
        self.by_expr = {id(s.expression): s for s in self.scopes}
        self._outputs: dict[int, list[_Slot]] = {}
        self._busy: set[int] = set()
        # sqlglot lists a scope after the scopes it reads: resolving in that order keeps the
        # recursion one level deep however long a chain of CTEs or nested subqueries is
        for scope in self.scopes:
            self.outputs(scope)

    def _warn(self, text: str) -> None:
        msg = f"{self.label}: {text}"
        if msg not in self.warnings:
            self.warnings.append(msg)

    def _qualify(self, query: exp.Expr) -> exp.Expr:
        from sqlglot.errors import OptimizeError, SchemaError
        from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
        from sqlglot.optimizer.qualify_columns import qualify_columns
        from sqlglot.optimizer.qualify_tables import qualify_tables

        base = normalize_identifiers(query, dialect=self.dialect)
        base = qualify_tables(base, dialect=self.dialect)
        try:
            return qualify_columns(base.copy(), self.schema, expand_alias_refs=True, expand_stars=True,
                                   allow_partial_qualification=True)
        except (OptimizeError, SchemaError, KeyError, ValueError):
            # not every column can be placed without schemas: resolve them here instead
            return base

    # ---- sources ----
    def source_tables(self, skip: exp.Expr | None = None) -> list[str]:
        from sqlglot import exp

        names = set()
        for scope in self.scopes:
            found = [src for node, src in scope.selected_sources.values() if node is not skip]
            found += scope.sources.values()  # selected_sources leaves out LEFT SEMI / ANTI JOIN tables
            for src in found:
                if isinstance(src, exp.Table) and src is not skip:
                    name = _table_name(src)
                    if name:
                        names.add(name)
        return sorted(names)

    # ---- outputs ----
    def outputs(self, scope: Scope | None = None) -> list[_Slot]:
        scope = scope or self.root
        if scope is None:
            return []
        # a recursive CTE's self-reference points at an untraversed copy of its base case
        scope = self.by_expr.get(id(scope.expression), scope)
        key = id(scope)
        if key in self._outputs:
            return self._outputs[key]
        if key in self._busy:  # a recursive reference: the base case already supplies these inputs
            return []
        self._busy.add(key)
        try:
            slots = self._compute_outputs(scope)
        finally:
            self._busy.discard(key)
        if scope.outer_columns and not any(n == "*" for n, _ in slots):
            renamed = [c.lower() for c in scope.outer_columns]
            slots = [(renamed[i] if i < len(renamed) else n, refs) for i, (n, refs) in enumerate(slots)]
        self._outputs[key] = slots
        return slots

    def _compute_outputs(self, scope: Scope) -> list[_Slot]:
        from sqlglot import exp

        expression = scope.expression.unnest() if isinstance(scope.expression, exp.Subquery) else scope.expression
        if isinstance(expression, exp.SetOperation):
            branches = scope.set_operation_scopes
            if len(branches) != 2:
                return []
            left, right = self.outputs(branches[0]), self.outputs(branches[1])
            if len(left) != len(right) and not (any(n == "*" for n, _ in left + right)):
                self._warn("set operation branches have different column counts")
            merged: list[_Slot] = []
            for i in range(max(len(left), len(right))):
                name = left[i][0] if i < len(left) else right[i][0]
                refs = (left[i][1] if i < len(left) else frozenset()) | (right[i][1] if i < len(right) else frozenset())
                merged.append((name, refs))
            return merged
        if isinstance(expression, (exp.Lateral, exp.Unnest)):
            return self._udtf_outputs(scope, expression)
        if not isinstance(expression, exp.Select):
            return []
        slots: list[_Slot] = []
        for i, proj in enumerate(expression.expressions):
            if isinstance(proj, exp.Star) or (isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)):
                qualifier = proj.table if isinstance(proj, exp.Column) else None
                slots.extend(self._star_slots(scope, qualifier.lower() if qualifier else None))
                continue
            name = (proj.alias_or_name or f"_col_{i}").lower()
            target = proj.this if isinstance(proj, exp.Alias) else proj
            slots.append((name, frozenset(self.refs(scope, target, _IDENT))))
        return slots

    def _udtf_outputs(self, scope: Scope, node: exp.Lateral | exp.Unnest) -> list[_Slot]:
        """Columns of LATERAL VIEW EXPLODE / UNNEST / LATERAL FLATTEN: each is computed from the
        function's arguments (a transformation); a LATERAL subquery has its own outputs."""
        from sqlglot import exp

        inner = node.this if isinstance(node, exp.Lateral) else None
        if isinstance(inner, exp.Subquery):
            child = self.by_expr.get(id(inner.unnest())) or self.by_expr.get(id(inner))
            return self.outputs(child) if child is not None else []
        args = [inner] if inner is not None else list(node.expressions)
        found: set[InputField] = set()
        ctx = Transformation(DIRECT, TRANSFORMATION)
        for arg in args:
            found |= self.refs(scope, arg, ctx)
        alias = node.args.get("alias")
        names = [c.name.lower() for c in alias.columns] if alias is not None and alias.columns else []
        if not names and alias is not None and alias.name:
            names = [alias.name.lower()]  # UNNEST(arr) AS u: the column is named like the alias
        if not names:
            return [("*", frozenset(found))]
        return [(n, frozenset(found)) for n in names]

    def _star_slots(self, scope: Scope, qualifier: str | None) -> list[_Slot]:
        from sqlglot import exp

        slots: list[_Slot] = []
        semi = scope.semi_or_anti_join_tables
        for alias, (_node, src) in scope.selected_sources.items():
            if qualifier is not None and alias.lower() != qualifier:
                continue
            if qualifier is None and alias in semi:
                continue
            if isinstance(src, exp.Table):
                name = _table_name(src)
                if name is None:
                    continue
                known = self._table_columns(src)
                if known:
                    slots.extend((c, frozenset({InputField(ColumnRef(name, c), _IDENT)})) for c in known)
                else:
                    slots.append(("*", frozenset({InputField(ColumnRef(name, "*"), _IDENT)})))
            else:
                slots.extend(self.outputs(src))
        return slots

    def _table_columns(self, table: exp.Table) -> list[str]:
        try:
            return [c.lower() for c in self.schema.column_names(table, dialect=self.dialect)]
        except Exception:
            return []

    def _output_named(self, scope: Scope, name: str) -> set[InputField] | None:
        """Inputs of the output ``name`` of a derived table / CTE; None when it has no such column."""
        slots = self.outputs(scope)
        for n, refs in slots:
            if n == name:
                return set(refs)
        stars = [refs for n, refs in slots if n == "*"]
        if not stars:
            return None
        found: set[InputField] = set()
        for refs in stars:
            for f in refs:
                if f.source.column == "*":
                    found.add(InputField(ColumnRef(f.source.table, name), f.transformation))
        if len({f.source.table for f in found}) > 1:
            self._warn(f"column '{name}' could come from any of "
                       f"{', '.join(sorted({str(f.source.table) for f in found}))}; pass a schema to decide")
        return found

    def _known_columns(self, src: exp.Table | Scope | _Pivot) -> list[str] | None:
        from sqlglot import exp

        if isinstance(src, _Pivot):
            return None
        if isinstance(src, exp.Table):
            cols = self._table_columns(src)
            return cols or None
        slots = self.outputs(src)
        if any(n == "*" for n, _ in slots):
            return None
        return [n for n, _ in slots]

    def _from_source(self, src: exp.Table | Scope | _Pivot, name: str) -> set[InputField]:
        from sqlglot import exp

        if isinstance(src, _Pivot):
            return self._from_pivot(src, name)
        if isinstance(src, exp.Table):
            tname = _table_name(src)
            return {InputField(ColumnRef(tname, name), _IDENT)} if tname else set()
        return self._output_named(src, name) or set()

    def _visible_sources(self, scope: Scope) -> dict[str, Any]:
        """Alias → source; a PIVOTed / UNPIVOTed table is seen through its pivot, under both names."""
        from sqlglot import exp

        out: dict[str, Any] = {}
        for alias, (_node, src) in scope.selected_sources.items():
            pivots = src.args.get("pivots") if isinstance(src, exp.Table) else None
            if pivots:
                piv = _Pivot(src, pivots[-1])
                out[alias.lower()] = piv
                if pivots[-1].alias:
                    out[pivots[-1].alias.lower()] = piv
            else:
                out[alias.lower()] = src
        return out

    def _from_pivot(self, src: _Pivot, name: str) -> set[InputField]:
        from sqlglot import exp

        tname = _table_name(src.table)
        if tname is None:
            return set()
        piv = src.pivot

        def cols(node: exp.Expr) -> set[str]:
            return {c.name.lower() for c in node.find_all(exp.Column, exp.Identifier)
                    if not isinstance(c.parent, exp.Column) and not isinstance(c, exp.Literal)}

        fields = piv.args.get("fields") or []
        if piv.args.get("unpivot"):
            values = {e.name.lower() for e in piv.expressions}
            names = {f.this.name.lower() for f in fields if isinstance(f, exp.In)}
            unpivoted = {c.name.lower() for f in fields if isinstance(f, exp.In) for c in f.expressions}
            if name in values:
                return {InputField(ColumnRef(tname, c), _IDENT) for c in sorted(unpivoted)}
            if name in names:
                return set()  # holds the names of the unpivoted columns, not their values
            return {InputField(ColumnRef(tname, name), _IDENT)}
        outputs = {c.name.strip("'\"").lower() for c in piv.args.get("columns") or []}
        if name in outputs or any(name.startswith(o + "_") or name.endswith("_" + o) for o in outputs):
            found = {InputField(ColumnRef(tname, c), Transformation(DIRECT, AGGREGATION))
                     for agg in piv.expressions for c in cols(agg)}
            found |= {InputField(ColumnRef(tname, c), Transformation(INDIRECT, CONDITIONAL))
                      for f in fields if isinstance(f, exp.In) for c in cols(f.this)}
            return found
        return {InputField(ColumnRef(tname, name), _IDENT)}  # a grouping column passes through

    def resolve_column(self, scope: Scope, col: exp.Column) -> set[InputField]:
        from sqlglot import exp
        from sqlglot.optimizer.scope import ScopeType

        name = col.name.lower()
        table = col.table.lower() if col.table else None
        s: Scope | None = scope
        while s is not None:
            sources = self._visible_sources(s)
            sources.update({k.lower(): v for k, v in s.lateral_sources.items()})
            if table is not None:
                if table in sources:
                    return self._from_source(sources[table], name)
            else:
                hit = self._unqualified(s, sources, col, name)
                if hit is not None:
                    return hit
            if s.scope_type in (ScopeType.SUBQUERY, ScopeType.SET_OPERATION, ScopeType.UDTF):
                s = s.parent
            else:
                break
        if table is not None:
            self._warn(f"'{table}.{name}' names no table or alias of its query")
        elif not isinstance(col.parent, exp.Ordered) and name not in ("true", "false", "null"):
            self._warn(f"column '{name}' belongs to no table of its query")
        return set()

    def _unqualified(self, scope: Scope, sources: dict[str, Any], col: exp.Column, name: str) -> set[InputField] | None:
        from sqlglot import exp

        select = scope.expression.unnest() if isinstance(scope.expression, exp.Subquery) else scope.expression
        # ORDER BY (and dialects that allow it elsewhere) may name an output column
        clause = col.find_ancestor(exp.Order, exp.Having, exp.Group, exp.Qualify, exp.Window)
        if isinstance(select, exp.Select) and clause is not None and clause.parent is select:
            for proj in select.expressions:
                if isinstance(proj, exp.Alias) and proj.alias.lower() == name and proj.this is not col:
                    inner = proj.this
                    if not (isinstance(inner, exp.Column) and inner.name.lower() == name and not inner.table):
                        return self.refs(scope, inner, _IDENT)
        if not sources:
            return None
        knowing = []
        unknown = []
        for alias, src in sources.items():
            cols = self._known_columns(src)
            if cols is None:
                unknown.append(alias)
            elif name in cols:
                knowing.append(alias)
        if len(knowing) == 1:
            return self._from_source(sources[knowing[0]], name)
        candidates = knowing or unknown
        if not candidates:
            return None
        if len(candidates) > 1:
            self._warn(f"column '{name}' could belong to any of {', '.join(sorted(candidates))}; "
                       "qualify it or pass a schema")
            if _AMBIGUOUS.get() == "unresolved":
                return {InputField(ColumnRef("", name), _IDENT)}  # no table: str() is the column alone
        found: set[InputField] = set()
        for alias in candidates:
            found |= self._from_source(sources[alias], name)
        return found

    # ---- expressions ----
    def refs(self, scope: Scope, node: exp.Expr, ctx: Transformation) -> set[InputField]:
        """Every input field ``node`` reads, typed by how it is read."""
        from sqlglot import exp

        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                return set()
            return _compose(self.resolve_column(scope, node), ctx)
        if isinstance(node, (exp.Select, exp.SetOperation, exp.Subquery)):
            inner = node.unnest() if isinstance(node, exp.Subquery) else node
            child = self.by_expr.get(id(inner)) or self.by_expr.get(id(node))
            if child is None:
                return set()
            slots = self.outputs(child)
            found: set[InputField] = set()
            for _n, refs in slots[:1] if not isinstance(node.parent, (exp.In, exp.Exists)) else slots:
                found |= _compose(refs, ctx)
            return found
        if isinstance(node, (exp.Alias, exp.Paren)):
            return self.refs(scope, node.this, ctx)
        if isinstance(node, exp.Window):
            found = self.refs(scope, node.this, ctx)
            win = Transformation(INDIRECT, WINDOW) if ctx.type == DIRECT else ctx
            for part in (node.args.get("partition_by") or []):
                found |= self.refs(scope, part, win)
            order = node.args.get("order")
            if order is not None:
                found |= self.refs(scope, order, win)
            return found
        if isinstance(node, exp.Case):
            cond = Transformation(INDIRECT, CONDITIONAL) if ctx.type == DIRECT else ctx
            value = _bump(ctx, TRANSFORMATION)
            found = set()
            if node.this is not None:
                found |= self.refs(scope, node.this, cond)
            for branch in node.args.get("ifs") or []:
                found |= self.refs(scope, branch.this, cond)
                if branch.args.get("true") is not None:
                    found |= self.refs(scope, branch.args["true"], value)
            if node.args.get("default") is not None:
                found |= self.refs(scope, node.args["default"], value)
            return found
        if isinstance(node, exp.Filter):  # agg(x) FILTER (WHERE cond): cond picks the rows aggregated
            cond = Transformation(INDIRECT, CONDITIONAL) if ctx.type == DIRECT else ctx
            found = self.refs(scope, node.this, ctx)
            if node.expression is not None:
                found |= self.refs(scope, node.expression, cond)
            return found
        if isinstance(node, exp.If):
            cond = Transformation(INDIRECT, CONDITIONAL) if ctx.type == DIRECT else ctx
            value = _bump(ctx, TRANSFORMATION)
            found = self.refs(scope, node.this, cond)
            for key in ("true", "false"):
                if node.args.get(key) is not None:
                    found |= self.refs(scope, node.args[key], value)
            return found
        child_ctx = _bump(ctx, AGGREGATION if isinstance(node, exp.AggFunc) else TRANSFORMATION)
        if ctx.type == DIRECT and _masks(node):
            child_ctx = Transformation(DIRECT, child_ctx.subtype, True)
        found = set()
        for child in node.iter_expressions():
            found |= self.refs(scope, child, child_ctx)
        return found

    def dataset_dependencies(self) -> set[InputField]:
        """Columns the whole result depends on: joins, filters, grouping and sorting of every scope."""
        from sqlglot import exp

        found: set[InputField] = set()
        for scope in self.scopes:
            expr = scope.expression.unnest() if isinstance(scope.expression, exp.Subquery) else scope.expression
            for join in expr.args.get("joins") or []:
                on = join.args.get("on")
                if on is not None:
                    found |= self.refs(scope, on, Transformation(INDIRECT, JOIN))
                for ident in join.args.get("using") or []:
                    col_name = ident.name.lower()
                    for alias, (_node, src) in scope.selected_sources.items():
                        if alias == join.this.alias_or_name or col_name in (self._known_columns(src) or [col_name]):
                            found |= _compose(self._from_source(src, col_name), Transformation(INDIRECT, JOIN))
            for key, sub in (("where", FILTER), ("having", FILTER), ("qualify", FILTER), ("group", GROUP_BY),
                             ("order", SORT)):
                part = expr.args.get(key)
                if part is None:
                    continue
                ctx = Transformation(INDIRECT, sub)
                if key == "group" and isinstance(expr, exp.Select):
                    for item in part.expressions:
                        if isinstance(item, exp.Literal) and item.is_int:  # GROUP BY 1
                            pos = int(item.name) - 1
                            if 0 <= pos < len(expr.expressions):
                                found |= self.refs(scope, expr.expressions[pos], ctx)
                        else:
                            found |= self.refs(scope, item, ctx)
                    continue
                if key == "order" and isinstance(expr, exp.Select):
                    for item in part.expressions:
                        inner = item.this if isinstance(item, exp.Ordered) else item
                        if isinstance(inner, exp.Literal) and inner.is_int:
                            pos = int(inner.name) - 1
                            if 0 <= pos < len(expr.expressions):
                                found |= self.refs(scope, expr.expressions[pos], ctx)
                        else:
                            found |= self.refs(scope, inner, ctx)
                    continue
                if key == "order" and isinstance(expr, exp.SetOperation):
                    slots = dict(self.outputs(scope))
                    for col in part.find_all(exp.Column):
                        found |= _compose(slots.get(col.name.lower(), frozenset()), ctx)
                    continue
                found |= self.refs(scope, part.this if isinstance(part, (exp.Where, exp.Having, exp.Qualify))
                                   else part, ctx)
        return {f for f in found if f.source.table}  # an unresolved column ("" table) decides nothing known


def _bump(ctx: Transformation, sub: str) -> Transformation:
    if ctx.type == INDIRECT:
        return ctx
    return Transformation(DIRECT, sub if _RANK[sub] > _RANK[ctx.subtype] else ctx.subtype, ctx.masking)


def _masks(node: exp.Expr) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return node.name.lower() in _MASKING
    return isinstance(node, exp.Func) and node.key in _MASKING


# -- one statement ---------------------------------------------------------------------------------

class _StatementAnalyzer:
    def __init__(self, stmt: exp.Expr, index: int, dialect: str | None, schema: MappingSchema) -> None:
        self.stmt = stmt
        self.index = index
        self.dialect = dialect
        self.schema = schema
        self.result = StatementLineage(index=index, kind="other")

    @property
    def label(self) -> str:
        return f"statement {self.index}"

    def run(self) -> StatementLineage:
        from sqlglot import exp

        stmt = self._data_modifying_ctes(self.stmt)
        if isinstance(stmt, exp.Query):
            self._query_statement(stmt)
        elif isinstance(stmt, exp.Insert):
            self._insert(stmt)
        elif isinstance(stmt, exp.MultitableInserts):
            self._multi_insert(stmt)
        elif isinstance(stmt, exp.Create):
            self._create(stmt)
        elif isinstance(stmt, exp.Merge):
            self._merge(stmt)
        elif isinstance(stmt, exp.Update):
            self._update(stmt)
        elif isinstance(stmt, exp.Delete):
            self._delete(stmt)
        elif isinstance(stmt, exp.Copy):
            self._copy(stmt)
        elif isinstance(stmt, exp.Drop):
            self.result.kind = "drop"
            if str(stmt.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
                self.result.drops = [n for t in stmt.args.get("tables") or [stmt.this]
                                     if isinstance(t, exp.Table) and (n := _table_name(t))]
        elif isinstance(stmt, exp.Alter):
            self._alter(stmt)
        elif isinstance(stmt, exp.Command) and self._command(stmt):
            pass
        elif isinstance(stmt, exp.Command):
            self.result.kind = "command"
            self.result.warnings.append(f"{self.label}: '{stmt.name}' statement not analysed (sqlglot "
                                        "could not parse it into a query)")
        else:
            self.result.kind = stmt.key
        self.result.sources = sorted(set(self.result.sources))
        self.result.targets = sorted(set(self.result.targets))
        return self.result

    def _copy(self, stmt: exp.Copy) -> None:
        """COPY t FROM 's3://…' / COPY INTO t FROM '…' loads files into t; COPY t TO '…' writes them."""
        from sqlglot import exp

        self.result.kind = "copy"
        files = []
        for f in stmt.args.get("files") or []:
            if isinstance(f, exp.Literal) and f.is_string:
                files.append(f.name)
            elif isinstance(f, exp.Table) and (n := _table_name(f)):
                files.append(n)
        target = stmt.this
        tables: list[str] = []
        if isinstance(target, exp.Table) and (n := _table_name(target)):
            tables = [n]
        elif isinstance(target, exp.Query):
            tables = self._lineage(target).source_tables()
        if stmt.args.get("kind"):  # FROM: files → table
            self.result.sources.extend(files)
            self.result.targets.extend(tables)
        else:
            self.result.sources.extend(tables)
            self.result.targets.extend(files)

    def _alter(self, stmt: exp.Alter) -> None:
        from sqlglot import exp

        self.result.kind = "alter"
        table = stmt.this
        name = _table_name(table) if isinstance(table, exp.Table) else None
        for action in stmt.args.get("actions") or []:
            if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table) and name:
                new = _table_name(action.this)
                if new:
                    if "." not in new and "." in name:  # RENAME TO t keeps the schema
                        new = name.rsplit(".", 1)[0] + "." + new
                    self.result.renames.append((name, new))
            elif isinstance(action, exp.SwapTable) and isinstance(action.this, exp.Table) and name:
                other = _table_name(action.this)  # Snowflake SWAP WITH: the table takes the other's data
                if other:
                    self.result.sources.append(other)
                    self.result.targets.append(name)

    _EXCHANGE = re.compile(r"^\s*TABLE\s+(\S+)\s+EXCHANGE\s+PARTITION\b.*\bWITH\s+TABLE\s+(\S+)", re.I | re.S)
    _UNLOAD = re.compile(r"^\s*\(\s*'((?:[^']|'')*)'\s*\)\s*TO\s*'([^']*)'", re.I | re.S)

    def _command(self, stmt: exp.Expr) -> bool:
        """Statements sqlglot keeps as an opaque command but whose lineage is plain: Hive's ALTER TABLE
        … EXCHANGE PARTITION … WITH TABLE s, Redshift's UNLOAD ('query') TO 's3://…'."""
        from sqlglot import exp

        head = stmt.name.upper()
        text = stmt.expression.name if isinstance(stmt.expression, exp.Literal) else str(stmt.expression or "")
        if head == "ALTER" and (m := self._EXCHANGE.match(text)):
            self.result.kind = "alter"
            self.result.targets.append(_table_name(exp.to_table(m.group(1), dialect=self.dialect)) or m.group(1))
            self.result.sources.append(_table_name(exp.to_table(m.group(2), dialect=self.dialect)) or m.group(2))
            return True
        if head == "UNLOAD" and (m := self._UNLOAD.match(text)):
            import sqlglot

            self.result.kind = "unload"
            query = sqlglot.parse_one(m.group(1).replace("''", "'"), read=self.dialect)
            if isinstance(query, exp.Query):
                self.result.sources.extend(self._lineage(query).source_tables())
            self.result.targets.append(m.group(2))
            return True
        return False

    # ---- helpers ----
    def _data_modifying_ctes(self, stmt: exp.Expr) -> exp.Expr:
        """PostgreSQL ``WITH u AS (UPDATE … RETURNING …) …``: the CTE's statement is analysed as part
        of this one, and the CTE is read as ``SELECT <RETURNING> FROM <its table>``."""
        from sqlglot import exp

        with_ = stmt.args.get("with_")
        dml = [c for c in (with_.expressions if with_ is not None else [])
               if isinstance(c.this, (exp.Insert, exp.Update, exp.Delete))]
        if not dml:
            return stmt
        stmt = stmt.copy()
        for cte in stmt.args["with_"].expressions:
            body = cte.this
            if not isinstance(body, (exp.Insert, exp.Update, exp.Delete)):
                continue
            inner = _StatementAnalyzer(body, self.index, self.dialect, self.schema).run()
            self.result.sources.extend(inner.sources)
            self.result.targets.extend(inner.targets)
            self.result.columns.extend(inner.columns)
            self.result.dataset = sorted(set(self.result.dataset) | set(inner.dataset))
            self.result.warnings.extend(inner.warnings)
            table = body.this.this if isinstance(body.this, exp.Schema) else body.this
            returning = body.args.get("returning")
            items = [e.copy() for e in returning.expressions] if returning is not None else [exp.Null()]
            replacement = exp.Select(expressions=items)
            if isinstance(table, exp.Table):
                replacement.set("from_", exp.From(this=table.copy()))
            cte.set("this", replacement)
        return stmt

    def _lineage(self, query: exp.Expr) -> _QueryLineage:
        return _QueryLineage(query, self.dialect, self.schema, self.result.warnings, self.label)

    def _normalized_table(self, table: exp.Table) -> exp.Table:
        from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

        return normalize_identifiers(table.copy(), dialect=self.dialect)

    def _target_columns_known(self, table: exp.Table) -> list[str]:
        try:
            return [c.lower() for c in self.schema.column_names(table, dialect=self.dialect)]
        except Exception:
            return []

    def _register(self, table: exp.Table, columns: list[str]) -> None:
        """Remember the columns of a table created by the script for the statements after it."""
        if not columns or "*" in columns:
            return
        try:
            self.schema.add_table(self._normalized_table(table), {c: "UNKNOWN" for c in columns},
                                  dialect=self.dialect)
        except Exception as exc:
            self.result.warnings.append(f"{self.label}: columns of {_table_name(table)} not remembered ({exc})")

    def _emit(self, ql: _QueryLineage, target: str | None, names: list[str] | None,
              include_target_source: exp.Expr | None = None) -> list[str]:
        """Map the query's outputs onto the target's columns; returns the target column names."""
        slots = ql.outputs()
        if names is not None and any(n == "*" for n, _ in slots):
            self.result.warnings.append(f"{self.label}: '*' with unknown columns cannot be matched to the "
                                        "target's columns by position; pass a schema")
            names = None
        if names is not None and len(names) != len(slots):
            self.result.warnings.append(f"{self.label}: {len(slots)} values for {len(names)} target columns")
        per_target: dict[ColumnRef, set[InputField]] = {}
        for i, (name, refs) in enumerate(slots):
            if names is not None:
                if i >= len(names):
                    break
                name = names[i]
            tgt = ColumnRef(target, name)
            per_target.setdefault(tgt, set()).update(f for f in refs if f.source.table is not None)
        for tgt, refs in per_target.items():
            self.result.columns.append(ColumnLineage(target=tgt, inputs=sorted(refs)))
        self.result.dataset = sorted(set(self.result.dataset) | ql.dataset_dependencies())
        self.result.sources.extend(ql.source_tables(skip=include_target_source))
        reads_target = any(i.source.table == target for c in self.result.columns for i in c.direct)
        if include_target_source is not None and target is not None and reads_target:
            self.result.sources.append(target)
        return [t.column for t in per_target]

    # ---- statements ----
    def _query_statement(self, stmt: exp.Expr) -> None:
        from sqlglot import exp

        first = stmt
        while isinstance(first, exp.SetOperation):  # SELECT * INTO t FROM a UNION ALL SELECT … FROM b
            first = first.this
        into = first.args.get("into") if isinstance(first, exp.Select) else None
        if into is not None and isinstance(into.this, exp.Table):  # SELECT … INTO new_table
            query = stmt.copy()
            for select in query.find_all(exp.Select):
                select.set("into", None)
            table = into.this
            name = _table_name(table)
            self.result.kind = "select_into"
            self.result.targets.append(name or "")
            cols = self._emit(self._lineage(query), name, None)
            self._register(table, cols)
            return
        self.result.kind = "select"
        self._emit(self._lineage(stmt), None, None)

    def _insert(self, stmt: exp.Insert, source: exp.Expr | None = None, condition: exp.Expr | None = None) -> None:
        """INSERT … SELECT; with ``source``, one branch of a multi-table INSERT reading from it."""
        from sqlglot import exp

        if source is None:
            self.result.kind = "insert_overwrite" if stmt.args.get("overwrite") else "insert"
        target = stmt.this
        names: list[str] | None = None
        if isinstance(target, exp.Schema):
            names = [c.name.lower() for c in target.expressions]
            target = target.this
        query = stmt.expression
        if isinstance(query, exp.Subquery) and isinstance(query.unnest(), exp.Query):
            query = query.unnest()  # INSERT INTO t (SELECT …) / INSERT INTO t (WITH … SELECT …)
        if isinstance(target, exp.Directory) and isinstance(target.this, exp.Literal):
            # INSERT OVERWRITE [LOCAL] DIRECTORY 'hdfs://…' SELECT …: the path is the target
            self.result.targets.append(target.this.name)
            if isinstance(query, exp.Query):
                self.result.sources.extend(self._lineage(_with_ctes(query, stmt)).source_tables())
            return
        if not isinstance(target, exp.Table):
            self.result.warnings.append(f"{self.label}: INSERT into something that is not a table")
            return
        tname = _table_name(target)
        if tname is None:
            return
        self.result.targets.append(tname)
        if source is not None:
            query = self._branch_query(query, source, condition)
        if isinstance(query, exp.Values):  # VALUES (1, (SELECT max(id) FROM t2)): the subqueries are read
            for sub in query.find_all(exp.Subquery):
                if isinstance(sub.this, exp.Query) and not isinstance(sub.parent, (exp.Subquery, exp.Query)):
                    self.result.sources.extend(self._lineage(sub.this.copy()).source_tables())
            return
        if not isinstance(query, exp.Query):
            return  # no source columns
        query = _with_ctes(query, stmt)
        if names is None and not stmt.args.get("by_name"):  # DuckDB INSERT … BY NAME matches names
            known = self._target_columns_known(self._normalized_table(target))
            names = known or None
        self._emit(self._lineage(query), tname, names)

    @staticmethod
    def _branch_query(query: exp.Expr | None, source: exp.Expr, condition: exp.Expr | None) -> exp.Expr:
        """The query one branch of a multi-table INSERT runs: Hive's ``FROM s INSERT … SELECT a``
        reads ``s``; Snowflake's ``INSERT ALL INTO t VALUES (a) … SELECT …`` reads the SELECT."""
        from sqlglot import exp

        if isinstance(source, exp.Query):
            alias = exp.TableAlias(this=exp.to_identifier("_mf_src"))
            relation: exp.Expr = exp.Subquery(this=source.copy(), alias=alias)
        else:
            relation = source.copy()
        if isinstance(query, exp.Select) and query.args.get("from_") is None:
            select = query.copy()
        elif isinstance(query, exp.Values) and len(query.expressions) == 1:
            select = exp.Select(expressions=[v.copy() for v in query.expressions[0].expressions])
        elif query is None:
            select = exp.Select(expressions=[exp.Star()])
        else:
            return query
        select.set("from_", exp.From(this=relation))
        if condition is not None:
            select.set("where", exp.Where(this=condition.copy()))
        return select

    def _multi_insert(self, stmt: exp.Expr) -> None:
        from sqlglot import exp

        self.result.kind = "multi_insert"
        source = stmt.args.get("source")
        if source is None:
            return
        for branch in stmt.expressions:
            if isinstance(branch, exp.ConditionalInsert):
                if isinstance(branch.this, exp.Insert):
                    self._insert(branch.this, source, branch.args.get("expression"))
            elif isinstance(branch, exp.Insert):
                self._insert(branch, source)

    def _create(self, stmt: exp.Create) -> None:
        from sqlglot import exp

        kind = str(stmt.args.get("kind") or "").lower()
        target = stmt.this
        names: list[str] | None = None
        if isinstance(target, exp.Schema):
            names = [c.name.lower() for c in target.expressions
                     if isinstance(c, (exp.ColumnDef, exp.Identifier, exp.Column))]
            target = target.this
        if not isinstance(target, exp.Table) or kind not in ("table", "view"):
            self.result.kind = f"create_{kind}" if kind else "create"
            body = stmt.expression
            split_off = isinstance(body, exp.Block) and not any(body.expressions)  # see _unwrap_procedure
            if kind in ("procedure", "function") and not split_off:
                self.result.warnings.append(f"{self.label}: the body of CREATE {kind.upper()} is not analysed")
            return
        tname = _table_name(target)
        if tname is None:
            return
        query = stmt.expression
        if isinstance(query, exp.Subquery):
            query = query.unnest()
        clone = stmt.args.get("clone")
        if kind == "table" and isinstance(clone, exp.Clone) and isinstance(clone.this, exp.Table):
            # CREATE TABLE t CLONE s (Snowflake, BigQuery, Databricks): every column copied as is
            self.result.kind = "create_table_clone"
            self.result.targets.append(tname)
            copy = exp.Select(expressions=[exp.Star()]).from_(clone.this.copy())
            self._register(target, self._emit(self._lineage(copy), tname, None))
            return
        if not isinstance(query, exp.Query):
            self.result.kind = f"create_{kind}"
            like = stmt.find(exp.LikeProperty)
            if kind == "table" and like is not None and isinstance(like.this, exp.Table):
                # CREATE TABLE t LIKE s: the structure of s (no rows)
                self.result.kind = "create_table_like"
                if src := _table_name(like.this):
                    self.result.sources.append(src)
            self.result.targets.append(tname)
            self._register(target, names or [])  # CREATE TABLE t (a INT, …): columns for later statements
            return
        self.result.kind = f"create_{kind}_as"
        self.result.targets.append(tname)
        query = _with_ctes(query, stmt)
        cols = self._emit(self._lineage(query), tname, names or None)
        self._register(target, cols)

    def _update(self, stmt: exp.Update) -> None:
        from sqlglot import exp

        self.result.kind = "update"
        target = stmt.this
        if not isinstance(target, exp.Table):
            return
        from_ = stmt.args.get("from_")
        from_tables: list[exp.Expr] = []
        joins: list[exp.Expr] = [j.copy() for j in target.args.get("joins") or []]
        if from_ is not None:
            from_tables.append(from_.this.copy())
            joins.extend(j.copy() for j in from_.this.args.get("joins") or [])
            from_tables[0].set("joins", None)
        real_target = target.copy()
        real_target.set("joins", None)
        found = None
        # T-SQL: UPDATE alias SET … FROM real_table AS alias JOIN …: the target is one of the FROM tables
        for candidate in list(from_tables) + [j.this for j in joins]:
            if not isinstance(candidate, exp.Table):
                continue
            by_alias = not target.db and candidate.alias_or_name.lower() == target.name.lower()
            by_name = not candidate.alias and _table_name(candidate) == _table_name(target)
            if by_alias or by_name:
                found = candidate
                break
        if found is not None:
            real_target = found
            first: exp.Expr = from_tables[0]
            all_joins = joins
        else:
            first = real_target
            all_joins = [exp.Join(this=t) for t in from_tables] + joins
        names, values = [], []
        for eq in stmt.expressions:
            if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                names.append(eq.this.name.lower())
                values.append(eq.expression.copy())
        select = exp.Select(expressions=[exp.alias_(v, f"_mf_{i}") for i, v in enumerate(values)])
        select.set("from_", exp.From(this=first))
        if all_joins:
            select.set("joins", all_joins)
        if stmt.args.get("where") is not None:
            select.set("where", stmt.args["where"].copy())
        select = _with_ctes(select, stmt)
        tname = _table_name(real_target)
        if tname is None:
            return
        self.result.targets.append(tname)
        ql = self._lineage(select)
        self._emit(ql, tname, names, include_target_source=_root_table(ql, real_target))

    def _merge(self, stmt: exp.Merge) -> None:
        from sqlglot import exp

        self.result.kind = "merge"
        target = stmt.this
        using = stmt.args.get("using")
        if not isinstance(target, exp.Table) or using is None:
            return
        tname = _table_name(target)
        if tname is None:
            return
        self.result.targets.append(tname)
        names: list[str] = []
        values: list[exp.Expr] = []
        conditions: list[exp.Expr] = []
        star_copy = False
        whens = stmt.args.get("whens")
        for when in (whens.expressions if whens is not None else []):
            if when.args.get("condition") is not None:
                conditions.append(when.args["condition"].copy())
            then = when.args.get("then")
            if (isinstance(then, exp.Update) and any(isinstance(e, exp.Star) for e in then.expressions)) or (
                    isinstance(then, exp.Insert) and isinstance(then.this, exp.Star)):
                star_copy = True  # UPDATE SET * / INSERT *: every source column into its namesake
                continue
            if isinstance(then, exp.Update):
                for eq in then.expressions:
                    if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                        names.append(eq.this.name.lower())
                        values.append(eq.expression.copy())
            elif isinstance(then, exp.Insert):
                cols = then.this.expressions if isinstance(then.this, exp.Tuple) else []
                vals = then.expression.expressions if isinstance(then.expression, exp.Tuple) else []
                col_names = [c.name.lower() for c in cols]
                if not col_names:
                    col_names = self._target_columns_known(self._normalized_table(target))
                if len(col_names) != len(vals):
                    self.result.warnings.append(f"{self.label}: MERGE INSERT with {len(vals)} values for "
                                                f"{len(col_names)} known target columns")
                for n, v in zip(col_names, vals, strict=False):
                    names.append(n)
                    values.append(v.copy())
        tgt = target.copy()
        select = exp.Select(expressions=[exp.alias_(v, f"_mf_{i}") for i, v in enumerate(values)])
        select.set("from_", exp.From(this=tgt))
        join = exp.Join(this=using.copy(), on=stmt.args["on"].copy() if stmt.args.get("on") else None)
        select.set("joins", [join])
        if conditions:
            select.set("where", exp.Where(this=exp.and_(*conditions)))
        select = _with_ctes(select, stmt)
        if star_copy:
            src_alias = using.alias_or_name
            stars = select.copy()
            stars.set("expressions", [exp.Column(this=exp.Star(), table=exp.to_identifier(src_alias))])
            star_ql = self._lineage(stars)
            self._emit(star_ql, tname, None, include_target_source=_root_table(star_ql, tgt))
        ql = self._lineage(select)
        self._emit(ql, tname, names, include_target_source=_root_table(ql, tgt))

    def _delete(self, stmt: exp.Delete) -> None:
        from sqlglot import exp

        self.result.kind = "delete"
        target = stmt.this
        if not isinstance(target, exp.Table):
            return
        tname = _table_name(target)
        if tname is None:
            return
        self.result.targets.append(tname)
        tgt = target.copy()
        select = exp.Select(expressions=[exp.Literal.number(1)])
        select.set("from_", exp.From(this=tgt))
        using = stmt.args.get("using")
        using_list = [u for u in (using if isinstance(using, list) else [using]) if isinstance(u, exp.Expr)]
        if using_list:
            select.set("joins", [exp.Join(this=u.copy()) for u in using_list])
        if stmt.args.get("where") is not None:
            select.set("where", stmt.args["where"].copy())
        select = _with_ctes(select, stmt)
        ql = self._lineage(select)
        self.result.sources.extend(ql.source_tables(skip=_root_table(ql, tgt)))
        self.result.dataset = sorted(ql.dataset_dependencies())


def _with_ctes(query: exp.Expr, stmt: exp.Expr) -> exp.Expr:
    """A statement's WITH clause moved onto its query (``WITH c AS (…) INSERT INTO t SELECT … FROM c``)."""
    with_ = stmt.args.get("with_")
    if with_ is None or query is stmt:
        return query
    query = query.copy()
    own = query.args.get("with_")
    merged = with_.copy()
    if own is not None:
        merged.set("expressions", list(merged.expressions) + list(own.expressions))
    query.set("with_", merged)
    return query


def _root_table(ql: _QueryLineage, table: exp.Expr) -> exp.Expr | None:
    """The root scope's source that stands for the DML target (after qualification copied the tree)."""
    from sqlglot import exp

    if ql.root is None or not isinstance(table, exp.Table):
        return None
    alias = table.alias_or_name.lower()
    for name, (_node, src) in ql.root.selected_sources.items():
        if name.lower() == alias and isinstance(src, exp.Table):
            return src
    return None


def iter_edges(result: SqlLineage) -> Iterator[tuple[str, str, Transformation]]:
    """Every direct edge with its transformation: ``(source, target, transformation)``."""
    for st in result.statements:
        for col in st.columns:
            for f in col.direct:
                yield str(f.source), str(col.target), f.transformation
