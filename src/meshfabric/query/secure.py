"""Replace each product reference with a secured subquery before planning.

The access layer decides, per product, which columns are masked (an expression over the raw
column) and which rows a principal may see (a predicate). This pass puts both into the query
itself, so a mask holds wherever the column appears — subqueries, CTEs, joins, predicates,
ORDER BY, GROUP BY, aggregates, windows, set operations, ``SELECT t`` row structs — because the
rest of the query can only read the subquery's output:

>>> import sqlglot
>>> from sqlglot import exp
>>> view = SecuredView((("id", None), ("email", exp.Literal.string("***"))), sqlglot.parse_one("region = 'EU'"))
>>> q = sqlglot.parse_one("SELECT email FROM sales.customers c WHERE c.id > 2", read="duckdb")
>>> print(secure(q, {"sales.customers": view}).sql(dialect="duckdb"))
SELECT email FROM (SELECT "id" AS "id", '***' AS "email" FROM sales.customers WHERE region = 'EU') AS c WHERE c.id > 2

The planner pushes the subquery's WHERE into the source like any filter of a product reference,
and the engine applies it again while loading the scan, before any user expression can run on
the rows (see :class:`meshfabric.query.planner.Scan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from meshfabric.query.guard import product_tables

#: meta key on the inner table reference of a secured subquery
SECURE_TAG = "mf_secure"
#: the column the engine adds to a scan that needs the hash salt (never part of any SQL text)
SALT_COLUMN = "__mf_salt"


@dataclass(frozen=True)
class SecuredView:
    """What a principal may see of one product: every column in declared order with its mask
    expression (None = the raw column), and the row filter (None = every row).

    ``salt`` is set when a mask reads :data:`SALT_COLUMN`; the engine supplies it as a column of
    the scan, so it never appears in a query text, a plan or an error message.
    """

    columns: tuple[tuple[str, exp.Expression | None], ...]
    row_filter: exp.Expression | None = None
    salt: str | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> SecuredView:
        # carried in table metadata through every copy of the query tree; never mutated
        return self

    @property
    def restricts(self) -> bool:
        return self.row_filter is not None or any(m is not None for _, m in self.columns)


def secure(query: exp.Query, views: Mapping[str, SecuredView]) -> exp.Query:
    """A copy of ``query`` where every reference to a product in ``views`` (lower-case fqn) reads
    a subquery projecting the masked columns and filtering the rows. References keep their alias
    (an unaliased ``sales.orders`` becomes ``(...) AS orders``), column lists of ``AS t(a, b)``
    still rename by position, and ``sales.orders.id`` style columns are re-pointed at the alias.
    """
    query = query.copy()
    if not views:
        return query
    names = {i.name.lower() for i in query.find_all(exp.Identifier)}
    star = any(not isinstance(s.parent, exp.Count) for s in query.find_all(exp.Star))
    # ``SELECT t FROM ... t`` reads the whole row as a struct: every column then counts as used
    aliases = {t.alias_or_name.lower() for t in query.find_all(exp.Table, exp.Subquery)}
    star = star or any(not c.table and c.name.lower() in aliases for c in query.find_all(exp.Column))
    unaliased: set[tuple[str, str]] = set()
    for table in product_tables(query):
        fqn = ".".join(p.name for p in table.parts).lower()
        view = views.get(fqn)
        if view is None or not view.restricts:
            continue
        alias = table.args.get("alias")
        if alias is None:
            unaliased.add((table.db.lower(), table.name.lower()))
            alias = exp.TableAlias(this=exp.to_identifier(table.name))
        renames = bool(alias.columns)
        wanted = [
            (name, mask) for name, mask in view.columns
            if star or renames or name.lower() in names
        ] or list(view.columns[:1])
        inner = exp.Table(this=table.this.copy(), db=table.args["db"].copy())
        inner.meta[SECURE_TAG] = view
        select = exp.Select(
            expressions=[
                exp.alias_(mask.copy() if mask is not None else exp.column(name, quoted=True), name, quoted=True,
                           copy=False)
                for name, mask in wanted
            ],
            from_=exp.From(this=inner),
        )
        if view.row_filter is not None:
            select.set("where", exp.Where(this=view.row_filter.copy()))
        sub = exp.Subquery(this=select, alias=alias.copy())
        joins = table.args.get("joins")
        if joins:
            sub.set("joins", [j.pop() for j in list(joins)])
        table.replace(sub)
    if unaliased:
        for column in query.find_all(exp.Column):
            db = column.args.get("db")
            if db is not None and (db.name.lower(), column.table.lower()) in unaliased:
                column.set("db", None)
    return query
