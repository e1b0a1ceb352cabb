"""Which masks and row filter apply to one principal on one product: most specific wins.

Every rule that applies to the principal and the product is ranked by two keys, compared in
this order:

1. **subject**: a rule for the user itself (3) > for one of its groups (2) > for one of its
   roles (1) > ``everyone`` (0);
2. **scope**: the product (3) > its domain (2) > a column tag (1) > the default, a rule with no
   scope (0).

A column's mask is that of its highest-ranked rule naming the column (``columns:``) or carrying
one of its classifications (``tag:``); when rules tie, the most restrictive mask wins
(null > redact > hash > date_year > show_first_n / show_last_n > sql > clear). ``clear`` is an
explicit "no mask", so a more specific rule can lift a broader one.

Row filters: among the rules with a ``row_filter``, those of the highest rank apply and are
combined with **OR** — a principal holding two roles at the same level sees the rows either role
may see. A more specific rule *replaces* less specific filters (``row_filter: "true"`` for one
user lifts a role's filter). Workspace admins are not subject to masks or filters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from meshfabric.access.model import Principal
from meshfabric.errors import QueryError
from meshfabric.query.secure import SALT_COLUMN, SecuredView
from meshfabric.spec.access_models import MaskSpec, PolicyRule
from meshfabric.spec.policy_sql import bind, parse_policy_sql

_STRICTNESS = {"clear": 0, "sql": 1, "show_first_n": 2, "show_last_n": 2, "date_year": 3, "hash": 4, "redact": 5,
               "null": 6}
_STARS = "***"


@dataclass(frozen=True)
class AppliedMask:
    column: str
    mask: str  # redact, null, hash, date_year, show_first_n:4, show_last_n:4, sql:<text>, clear
    policy: str
    rank: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "mask": self.mask, "policy": self.policy, "rank": list(self.rank)}


@dataclass(frozen=True)
class EffectivePolicy:
    """The outcome for one principal and product: masks per column and the row filter."""

    product: str
    principal: str
    masks: dict[str, AppliedMask] = field(default_factory=dict)
    filters: tuple[tuple[str, str], ...] = ()  # (policy, sql as written)
    row_filter: exp.Expression | None = None  # bound, OR-combined
    exempt: bool = False  # a workspace admin

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "principal": self.principal,
            "exempt": self.exempt,
            "masks": [m.to_dict() for m in self.masks.values() if m.mask != "clear"],
            "row_filters": [{"policy": p, "sql": s} for p, s in self.filters],
            "row_filter": self.row_filter.sql(dialect="duckdb") if self.row_filter is not None else None,
        }


def subject_rank(rule: PolicyRule, who: Principal) -> int | None:
    if rule.to == "everyone":
        return 0
    subject = rule.to
    assert not isinstance(subject, str)
    if subject.user is not None:
        return 3 if subject.user == who.name else None
    if subject.group is not None:
        return 2 if subject.group in who.groups else None
    return 1 if subject.role in who.roles else None


def scope_rank(rule: PolicyRule, product: str) -> int | None:
    """Rank of the rule's scope for ``product`` (tag rules rank 1 here; the column decides)."""
    if rule.product is not None:
        return 3 if rule.product.lower() == product.lower() else None
    if rule.domain is not None:
        return 2 if rule.domain.lower() == product.split(".")[0].lower() else None
    return 1 if rule.tag is not None else 0


def effective(
    who: Principal,
    product: str,
    columns: list[dict[str, Any]],
    rules: Iterable[tuple[str, PolicyRule]],
) -> EffectivePolicy:
    """Resolve the rules for ``who`` on ``product`` (whose columns carry ``classification``)."""
    if who.is_admin:
        return EffectivePolicy(product, who.name, exempt=True)
    masks: dict[str, AppliedMask] = {}
    best_filter: tuple[int, int] | None = None
    filters: list[tuple[str, str]] = []
    for policy, rule in rules:
        subject = subject_rank(rule, who)
        scope = scope_rank(rule, product)
        if subject is None or scope is None:
            continue
        rank = (subject, scope)
        named = {k.lower(): v for k, v in rule.columns.items()}
        for col in columns:
            name = col["name"]
            mask = named.get(name.lower())
            if mask is None and rule.tag is not None and rule.tag in (col.get("classification") or []):
                mask = rule.mask
            if mask is None:
                continue
            applied = AppliedMask(name, _describe(mask), policy, rank)
            current = masks.get(name)
            if current is None or (rank, _strictness(applied.mask)) > (current.rank, _strictness(current.mask)):
                masks[name] = applied
        if rule.row_filter is not None:
            if best_filter is None or rank > best_filter:
                best_filter, filters = rank, [(policy, rule.row_filter)]
            elif rank == best_filter:
                filters.append((policy, rule.row_filter))
    row_filter = _combined(filters, who, product, {c["name"].lower() for c in columns}) if filters else None
    return EffectivePolicy(product, who.name, masks, tuple(filters), row_filter)


def secured_view(
    policy: EffectivePolicy, columns: list[dict[str, Any]], salt: Callable[[], str]
) -> SecuredView | None:
    """The query layer's view of ``policy``; None when nothing is masked or filtered."""
    if policy.exempt:
        return None
    exprs: list[tuple[str, exp.Expression | None]] = []
    needs_salt = False
    for col in columns:
        applied = policy.masks.get(col["name"])
        if applied is None or applied.mask == "clear":
            exprs.append((col["name"], None))
            continue
        expr = mask_expression(applied.mask, col["name"], str(col.get("type", "string")))
        needs_salt = needs_salt or applied.mask == "hash"
        exprs.append((col["name"], expr))
    view = SecuredView(tuple(exprs), policy.row_filter, salt() if needs_salt else None)
    return view if view.restricts else None


def mask_expression(mask: str, column: str, logical_type: str) -> exp.Expression:
    """The SQL (DuckDB) of a mask over ``column``.

    >>> mask_expression("show_last_n:4", "phone", "string").sql(dialect="duckdb")
    '\\'***\\' || RIGHT(CAST("phone" AS TEXT), 4)'
    """
    col = exp.column(column, quoted=True)
    as_text = exp.cast(col.copy(), "varchar")
    kind, _, arg = mask.partition(":")
    base = logical_type.split("(")[0].strip().lower()
    if kind == "redact" and base == "string":
        return exp.Literal.string(_STARS)
    if kind in ("null", "redact") or (kind == "date_year" and base not in ("date", "timestamp", "timestamptz")):
        duck = _duck_type(logical_type)
        return exp.cast(exp.Null(), duck) if duck else exp.Null()
    if kind == "hash":
        salted = exp.DPipe(this=exp.column(SALT_COLUMN), expression=as_text)
        return exp.SHA2(this=salted, length=exp.Literal.number(256))
    if kind == "date_year":
        return exp.cast(exp.DateTrunc(unit=exp.Literal.string("year"), this=col), _duck_type(logical_type) or "date")
    if kind == "show_first_n":
        return exp.DPipe(this=exp.Left(this=as_text, expression=exp.Literal.number(int(arg))),
                         expression=exp.Literal.string(_STARS))
    if kind == "show_last_n":
        return exp.DPipe(this=exp.Literal.string(_STARS),
                         expression=exp.Right(this=as_text, expression=exp.Literal.number(int(arg))))
    if kind == "sql":
        expr = parse_policy_sql(arg, what="mask").copy()
        for ref in list(expr.find_all(exp.Column)):
            ref.replace(exp.column(column, quoted=True))
        return expr
    raise ValueError(f"unknown mask '{mask}'")


def _describe(mask: str | MaskSpec) -> str:
    if isinstance(mask, str):
        return mask
    if mask.show_first_n is not None:
        return f"show_first_n:{mask.show_first_n}"
    if mask.show_last_n is not None:
        return f"show_last_n:{mask.show_last_n}"
    return f"sql:{mask.sql}"


def _strictness(mask: str) -> int:
    return _STRICTNESS[mask.partition(":")[0]]


def _combined(filters: list[tuple[str, str]], who: Principal, product: str, known: set[str]) -> exp.Expression:
    parts = []
    for policy, text in filters:
        expr = bind(parse_policy_sql(text, what="row filter"), who.name, who.attributes)
        missing = sorted({c.name for c in expr.find_all(exp.Column) if c.name.lower() not in known})
        if missing:
            raise QueryError(
                f"the row filter of policy '{policy}' on product '{product}' names "
                f"{', '.join(repr(m) for m in missing)}, which the product does not have",
                hint="ask a workspace admin to fix the policy (`meshfabric policy show`)",
            )
        parts.append(exp.paren(expr, copy=False) if len(filters) > 1 else expr)
    return exp.or_(*parts, copy=False) if len(parts) > 1 else parts[0]


def _duck_type(logical_type: str) -> str | None:
    from meshfabric.query.planner import _sqlglot_type
    from meshfabric.types import parse_type

    try:
        duck = _sqlglot_type(parse_type(logical_type))
    except Exception:
        return None
    return None if duck == "UNKNOWN" else duck
