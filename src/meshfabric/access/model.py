"""The access layer's vocabulary: principals, permissions, grants, audit entries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

#: permissions, weakest first: each implies those before it (admin ⊃ write ⊃ query ⊃ discover)
PERMISSIONS: tuple[str, ...] = ("discover", "query", "write", "admin")
PRINCIPAL_KINDS: tuple[str, ...] = ("user", "service")
GRANTEE_KINDS: tuple[str, ...] = ("user", "group", "role")


def level(permission: str) -> int:
    """``discover`` 1 … ``admin`` 4; 0 for nothing."""
    return PERMISSIONS.index(permission) + 1


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user or a service account, with its groups, roles (its own and its
    groups'), attributes (e.g. ``region``, used by row filters) and whether it administers the
    whole workspace."""

    name: str
    kind: str = "user"
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    is_admin: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["groups"], d["roles"] = list(self.groups), list(self.roles)
        return d


@dataclass(frozen=True)
class Grant:
    grantee_kind: str
    grantee: str
    resource_kind: str
    resource: str
    permission: str
    granted_by: str = ""
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        return d


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    principal: str
    action: str
    resource: str
    decision: str
    reason: str
    policy_version: int
    sql_fingerprint: str
    rows: int | None
    latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d


@dataclass(frozen=True)
class Action:
    """One thing a principal can do to a product (or to the workspace when ``on`` is
    ``"workspace"``), the permission it needs, and what is withheld from a principal that holds
    the permission but only through masks or a row filter. docs/ACCESS.md prints this table."""

    name: str
    permission: str
    what: str
    withheld: str = ""
    on: str = "product"
    #: a workspace action a principal holding this role may do besides a workspace admin
    role: str = ""


#: every action a service asks the access layer about: one question per action and resource
ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("discover", "discover", "see that a product exists: its spec, schema versions, contracts, quality "
           "rules, lineage, search hits, alerts and the verdicts of quality runs",
           "every value measured from the data (observed values, counts, samples, profile statistics)"),
    Action("quality.read", "discover", "read stored quality runs and alerts",
           "measured values (observed value, failing and total row counts, samples, details, alert values) "
           "unless the principal may query the columns they were measured on, unmasked and unfiltered"),
    Action("query", "query", "run SQL over the product",
           "masked columns show the mask, hidden rows do not exist; scan statistics count only admitted rows"),
    Action("quality.run", "query", "run the product's quality rules in its source now",
           "as quality.read: the run is stored whole, the answer to a restricted principal omits values"),
    Action("profile", "query", "profile the product's columns in its source",
           "refused to a principal with a row filter; masked columns are left out of its profile"),
    Action("write", "write", "publish data into the product's output port"),
    Action("alert.manage", "write", "acknowledge, silence or resolve the product's alerts"),
    Action("contract.write", "write", "generate, import or change the product's contracts, and record a "
           "contract test (its violations are stored)"),
    Action("lineage.write", "write", "attach lineage to the product: as the output of an OpenLineage run or "
           "transformation (its inputs need query)"),
    Action("lineage.input", "query", "name the product as an input of an OpenLineage run or transformation"),
    Action("admin", "admin", "grant, revoke and change policies on the product"),
    Action("events.read", "admin", "read, follow or subscribe to the domain event log and its dead letters",
           on="workspace"),
    Action("events.write", "admin", "publish domain events of one's own, retry dead letters", on="workspace"),
    Action("graph.read", "admin", "read the raw metadata graph (SDK mesh.graph): every node and property",
           on="workspace"),
    Action("access.read", "admin", "read principals, groups, roles, grants, policies, effective policies and "
           "the audit log (a principal may read itself)", on="workspace"),
    Action("credentials.manage", "admin", "issue and revoke tokens, create, list and revoke API keys",
           on="workspace"),
    Action("source.discover", "discover", "run discovery over a source: list its tables and files, sample them in "
           "process, classify and cluster them, draft specs (a workspace admin, or a discover grant on the source)",
           "sampled values: the report carries aggregate evidence only", on="source"),
    Action("metrics.read", "admin", "scrape the product metrics (`GET /metrics`, Prometheus): a workspace admin or "
           "a principal holding the metrics-reader role", on="workspace", role="metrics-reader"),
    Action("source.samples", "admin", "see sampled values in a discovery report (`discover --show-samples`)",
           on="workspace"),
    Action("lineage.ingest", "write", "send OpenLineage events (also needs lineage.write / lineage.input on every "
           "product they name): a principal holding write on some product or domain", on="workspace"),
)}
