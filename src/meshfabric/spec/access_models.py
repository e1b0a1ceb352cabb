"""Spec models of the access layer: the ``access:`` section of mesh.yaml (the local principal and
workspace admins) and policy files (``kind: AccessPolicy``: column masks and row filters).

A policy file::

    kind: AccessPolicy
    name: sales-pii
    rules:
      - to: {role: analyst}
        product: sales.orders
        columns:
          email: hash
          phone: {show_last_n: 4}
          note: {sql: "upper(left(note, 3))"}
        row_filter: "region = {user.region}"
      - to: {role: analyst}
        tag: pii            # every column classified pii, in every product
        mask: redact

SQL in a policy (custom masks, row filters) is checked when the file is loaded: one expression,
allowlisted functions only, no subqueries, aggregates or windows; a custom mask may reference
only its own column. ``{user.<attribute>}`` is replaced by the principal's attribute as a quoted
literal (a sqlglot node, never pasted text) when a query runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: masks given by name alone
MaskName = Literal["redact", "null", "hash", "date_year", "clear"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


#: seconds a query may run when ``access.query_timeout`` does not say otherwise
DEFAULT_QUERY_TIMEOUT = 300.0


class QueryTimeoutSpec(_Model):
    """``access.query_timeout``: how long one query may run before it is cancelled, in seconds.

    The most specific entry wins — the user's own, else the largest of its groups', else the
    largest of its roles', else ``default``. A number instead of the mapping sets ``default``.
    """

    default: float = Field(DEFAULT_QUERY_TIMEOUT, gt=0, le=7 * 24 * 3600)
    users: dict[str, float] = Field(default_factory=dict)
    groups: dict[str, float] = Field(default_factory=dict)
    roles: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"default": value}
        return value

    @field_validator("users", "groups", "roles")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, seconds in value.items():
            if not 0 < seconds <= 7 * 24 * 3600:
                raise ValueError(f"the limit of '{name}' must be more than 0 and at most a week, not {seconds}")
        return value

    def for_principal(self, name: str, groups: tuple[str, ...], roles: tuple[str, ...]) -> float:
        """The limit that applies to a principal.

        >>> QueryTimeoutSpec(default=60, roles={"etl": 3600}).for_principal("ana", (), ("etl",))
        3600.0
        """
        if name in self.users:
            return float(self.users[name])
        for table, held in ((self.groups, groups), (self.roles, roles)):
            mine = [table[h] for h in held if h in table]
            if mine:
                return float(max(mine))
        return float(self.default)


class AccessSpec(_Model):
    """``access:`` in mesh.yaml.

    Without this section the CLI and SDK act as the local principal ``local``, a workspace admin
    (the behaviour of a single-user workspace). With it, the local principal is an admin only
    when ``admins`` names it (or one of its groups).
    """

    local_principal: str = Field("local", description="who the CLI and SDK act as on this machine")
    admins: list[str] = Field(default_factory=list, description="principals or groups that administer everything")
    policies: list[str] = Field(
        default_factory=list,
        description="globs of policy files (relative to the workspace); default: every kind: AccessPolicy file",
    )
    hash_salt: str | None = Field(
        None, description="salt of the 'hash' mask, as ${ENV_VAR}; default $MESHFABRIC_MASK_SALT"
    )
    query_timeout: QueryTimeoutSpec = Field(
        default_factory=QueryTimeoutSpec,
        description="seconds a query may run (a number, or default/users/groups/roles); then it is cancelled",
    )

    @field_validator("hash_salt")
    @classmethod
    def _salt_from_env(cls, value: str | None) -> str | None:
        import re

        if value is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}", value):
            raise ValueError("a literal salt would sit in a spec file: write it as ${ENV_VAR}")
        return value


class MaskSpec(_Model):
    """A mask with a parameter: exactly one of ``show_first_n``, ``show_last_n``, ``sql``."""

    show_first_n: int | None = Field(None, ge=0, le=1000)
    show_last_n: int | None = Field(None, ge=0, le=1000)
    sql: str | None = Field(None, description="an expression over this column only, e.g. left(email, 2)")

    @model_validator(mode="after")
    def _one(self) -> MaskSpec:
        given = [k for k in ("show_first_n", "show_last_n", "sql") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a mask needs exactly one of 'show_first_n', 'show_last_n' or 'sql'")
        if self.sql is not None:
            from meshfabric.spec.policy_sql import check_expression

            check_expression(self.sql, what="mask")
        return self


Mask = MaskName | MaskSpec


class Subject(_Model):
    """Who a rule is for: exactly one of a user (or service account), a group or a role."""

    user: str | None = None
    group: str | None = None
    role: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Subject:
        if sum(v is not None for v in (self.user, self.group, self.role)) != 1:
            raise ValueError("'to' needs exactly one of 'user', 'group' or 'role' (or the word 'everyone')")
        return self

    @property
    def kind(self) -> str:
        return "user" if self.user is not None else "group" if self.group is not None else "role"

    @property
    def name(self) -> str:
        return self.user or self.group or self.role or ""


class PolicyRule(_Model):
    """One rule: for whom, on what (a product, a domain, a column tag, or everything), which
    column masks and which row filter."""

    to: Literal["everyone"] | Subject
    product: str | None = Field(None, description="domain.product")
    domain: str | None = None
    tag: str | None = Field(None, description="a column classification, e.g. pii: masks every such column")
    columns: dict[str, Mask] = Field(default_factory=dict)
    mask: Mask | None = Field(None, description="with 'tag': the mask of every column carrying the tag")
    row_filter: str | None = Field(None, description="a predicate; {user.<attribute>} becomes a literal")

    @field_validator("product")
    @classmethod
    def _fqn(cls, value: str | None) -> str | None:
        if value is not None and value.count(".") != 1:
            raise ValueError(f"'{value}' is not a product: write domain.product")
        return value

    @field_validator("row_filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is not None:
            from meshfabric.spec.policy_sql import check_expression

            check_expression(value, what="row filter")
        return value

    @model_validator(mode="after")
    def _shape(self) -> PolicyRule:
        scopes = [k for k in ("product", "domain", "tag") if getattr(self, k) is not None]
        if len(scopes) > 1:
            raise ValueError(f"a rule has one scope: {' and '.join(scopes)} given; split it into rules")
        if self.tag is not None:
            if self.mask is None:
                raise ValueError("a 'tag' rule needs 'mask' (the mask of every column with that tag)")
            if self.columns or self.row_filter is not None:
                raise ValueError("a 'tag' rule takes only 'mask'; put columns and row_filter in a product rule")
            if isinstance(self.mask, MaskSpec) and self.mask.sql is not None:
                raise ValueError("a 'tag' rule cannot use an 'sql' mask (it names one column)")
        elif self.mask is not None:
            raise ValueError("'mask' belongs to 'tag' rules; use 'columns' for named columns")
        if not self.columns and self.row_filter is None and self.mask is None:
            raise ValueError("a rule needs 'columns', 'row_filter' or (with 'tag') 'mask'")
        for column, mask in self.columns.items():
            if isinstance(mask, MaskSpec) and mask.sql is not None:
                from meshfabric.spec.policy_sql import check_mask_columns

                check_mask_columns(mask.sql, column)
        return self

    @property
    def scope(self) -> str:
        return "product" if self.product else "domain" if self.domain else "tag" if self.tag else "default"


class AccessPolicy(_Model):
    """A policy file (``kind: AccessPolicy``)."""

    kind: Literal["AccessPolicy"] = "AccessPolicy"
    name: str
    description: str = ""
    rules: list[PolicyRule] = Field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
