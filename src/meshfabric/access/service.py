"""``mesh.access``: principals, groups, roles, grants, policies, decisions and the audit log.

Everything is a row in the store; this service reads one consistent snapshot per decision
(:class:`AccessSnapshot`) so a query costs one short read, and writes each change together with
its domain event in one transaction.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from meshfabric.access.decision import Decision
from meshfabric.access.model import (
    ACTIONS,
    GRANTEE_KINDS,
    PERMISSIONS,
    PRINCIPAL_KINDS,
    Action,
    AuditEntry,
    Grant,
    Principal,
    level,
)
from meshfabric.config import Settings
from meshfabric.errors import AccessDenied, ConfigError, NotFound
from meshfabric.store.models import DomainRow, ProductRow
from meshfabric.store.models_access import (
    AuditRow,
    GrantRow,
    GroupMemberRow,
    GroupRow,
    PolicyRow,
    PolicyVersionRow,
    PrincipalRow,
    RoleAssignmentRow,
    RoleRow,
)

if TYPE_CHECKING:
    from meshfabric.access.policy import EffectivePolicy
    from meshfabric.spec.access_models import AccessSpec, PolicyRule
    from meshfabric.store import Store

DEFAULT_LOCAL = "local"
SALT_ENV = "MESHFABRIC_MASK_SALT"
#: seconds a snapshot is kept even when no new event arrived (see ``AccessService.snapshot``)
SNAPSHOT_TTL = 5.0


@dataclass
class AccessSnapshot:
    """The access state one decision needs, read in one transaction."""

    principals: dict[str, PrincipalRow]
    members: dict[str, set[str]]  # principal -> groups
    groups: set[str]
    user_roles: dict[str, set[str]]
    group_roles: dict[str, set[str]]
    grants: list[GrantRow]
    owners: dict[str, set[str]]  # domain -> owners
    product_owner: dict[str, str]  # fqn -> owner
    policies: list[tuple[str, PolicyRule]] = field(default_factory=list)
    policy_version: int = 0
    #: results derived from this snapshot alone (permission levels, secured views), per principal
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class AccessService:
    """Access control of one mesh (``mesh.access``)."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()
        self._cached: tuple[int, float, AccessSnapshot] | None = None

    # -- configuration ------------------------------------------------------------------------
    @property
    def config(self) -> AccessSpec:
        from meshfabric.spec.access_models import AccessSpec

        spec = self.settings.spec
        return spec.access if spec is not None else AccessSpec()

    @property
    def configured(self) -> bool:
        spec = self.settings.spec
        return spec is not None and "access" in spec.model_fields_set

    @property
    def local_name(self) -> str:
        return self.config.local_principal if self.configured else DEFAULT_LOCAL

    def salt(self) -> str:
        """The salt of ``hash`` masks: ``access.hash_salt`` (an ${ENV} reference), else
        $MESHFABRIC_MASK_SALT, else a random salt kept in the workspace's .meshfabric folder."""
        from meshfabric.spec.loader import resolve_env

        if self.config.hash_salt:
            return resolve_env(self.config.hash_salt, where="access.hash_salt")
        if os.environ.get(SALT_ENV):
            return os.environ[SALT_ENV]
        root = self.settings.root
        if root is None:
            raise ConfigError("the 'hash' mask needs a salt", hint=f"export {SALT_ENV}=… on the server")
        path = root / ".meshfabric" / "mask_salt"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip()

    # -- snapshot -----------------------------------------------------------------------------
    def snapshot(self) -> AccessSnapshot:
        """The access state as of now. Every change to it (principals, groups, roles, grants,
        policies, products and their owners) appends a domain event in its transaction, so the
        newest event's position tells whether the snapshot kept from the last call still holds —
        one indexed read instead of nine, also across processes sharing the store. A kept
        snapshot is also reloaded after :data:`SNAPSHOT_TTL` seconds: on PostgreSQL two writers
        can commit out of sequence order, and the later-committed lower position would otherwise
        go unnoticed until the next event."""
        from meshfabric.store.models import EventRow

        now = time.monotonic()
        with self.store.read() as s:
            seq = int(s.scalar(select(func.max(EventRow.seq))) or 0)
            cached = self._cached
            if cached is not None and cached[0] == seq and now - cached[1] < SNAPSHOT_TTL:
                return cached[2]
            snap = self._load(s)
        self._cached = (seq, now, snap)
        return snap

    def _load(self, s: Any) -> AccessSnapshot:
        from meshfabric.spec.access_models import AccessPolicy

        principals = {r.name: r for r in s.scalars(select(PrincipalRow))}
        members: dict[str, set[str]] = {}
        for m in s.scalars(select(GroupMemberRow)):
            members.setdefault(m.principal, set()).add(m.group_name)
        groups = set(s.scalars(select(GroupRow.name)))
        user_roles: dict[str, set[str]] = {}
        group_roles: dict[str, set[str]] = {}
        for a in s.scalars(select(RoleAssignmentRow)):
            target = user_roles if a.assignee_kind == "user" else group_roles
            target.setdefault(a.assignee, set()).add(a.role)
        grants = list(s.scalars(select(GrantRow)))
        owners = {d.name: set(d.owners or []) for d in s.scalars(select(DomainRow))}
        product_owner = {f"{d}.{n}": o for d, n, o in s.execute(
            select(ProductRow.domain, ProductRow.name, ProductRow.owner))}
        rules: list[tuple[str, PolicyRule]] = []
        for p in s.scalars(select(PolicyRow).order_by(PolicyRow.name)):
            doc = AccessPolicy.model_validate(p.document)
            rules.extend((doc.name, r) for r in doc.rules)
        version = s.scalar(select(func.max(PolicyVersionRow.version))) or 0
        return AccessSnapshot(principals, members, groups, user_roles, group_roles, grants, owners,
                              product_owner, rules, version)

    def _changed(self, s: Any, event_type: str, data: dict[str, Any]) -> None:
        from meshfabric.events import DomainEvent, append

        append(s, DomainEvent(event_type, None, data))

    def require_manager(self, *, product: str | None = None, domain: str | None = None) -> Principal:
        """The local principal, if it may change access: a workspace admin for everything, an
        owner (or admin grantee) of a domain or product for grants on it."""
        snap = self.snapshot()
        me = self.acting(None, snap)
        if me.is_admin:
            return me
        if (product is not None and product in snap.product_owner
                and self.permission_level(me, product, snap) >= level("admin")):
            return me
        if domain is not None:
            mine = {me.name, *me.groups}
            if mine & snap.owners.get(domain, set()) or any(
                g.resource_kind == "domain" and g.resource == domain and g.permission == "admin"
                and {"user": g.grantee == me.name, "group": g.grantee in me.groups,
                     "role": g.grantee in me.roles}[g.grantee_kind] for g in snap.grants):
                return me
        what = f"product '{product}'" if product else f"domain '{domain}'" if domain else "access control"
        self.audit(me.name, "manage", product or domain or "*", "denied", "not an admin")
        raise AccessDenied(f"'{me.name}' may not change {what}: it needs a workspace admin"
                           + (" or an owner of it" if product or domain else ""),
                           hint="add the local principal to access.admins in mesh.yaml")

    # -- principals ---------------------------------------------------------------------------
    def describe(self, name: str, *, acting: str | None = None) -> Principal:
        """One principal as a reader may see it: itself, or anyone for a workspace admin."""
        snap = self.snapshot()
        if self.acting(acting, snap).name != name:
            self.decide(acting, "access.read")
        return self.principal(name, snap)

    def principal(self, name: str, snap: AccessSnapshot | None = None) -> Principal:
        """The principal called ``name``; NotFound for an unknown name (the local principal
        exists without being created)."""
        snap = snap or self.snapshot()
        row = snap.principals.get(name)
        if row is None and name != self.local_name:
            close = difflib.get_close_matches(name, list(snap.principals), n=1)
            raise NotFound(f"principal '{name}' not found",
                           hint=f"did you mean '{close[0]}'?" if close else "add it with `meshfabric users add`")
        groups = tuple(sorted(snap.members.get(name, set())))
        roles = set(snap.user_roles.get(name, set()))
        for g in groups:
            roles |= snap.group_roles.get(g, set())
        admins = set(self.config.admins)
        is_admin = (not self.configured and name == self.local_name) or name in admins or bool(admins & set(groups))
        return Principal(
            name=name,
            kind=row.kind if row is not None else "user",
            groups=groups,
            roles=tuple(sorted(roles)),
            attributes=dict(row.attributes or {}) if row is not None else {},
            is_admin=is_admin,
        )

    def create_principal(self, name: str, kind: str = "user", groups: Iterable[str] = (),
                         attributes: dict[str, Any] | None = None) -> Principal:
        """Add a user or service account (and its group memberships; groups are created)."""
        _check_name(name, "principal")
        if kind not in PRINCIPAL_KINDS:
            raise ConfigError(f"unknown principal kind '{kind}'", hint=f"use one of {', '.join(PRINCIPAL_KINDS)}")
        self.require_manager()
        attributes = dict(attributes or {})
        for key, value in attributes.items():
            if not isinstance(value, str | int | float | bool) or not key.isidentifier():
                raise ConfigError(f"attribute '{key}' must be a name with a string, number or boolean value")
        from meshfabric.events import DomainEvent, append

        with self.store.write() as s:
            if s.get(PrincipalRow, name) is not None:
                raise ConfigError(f"principal '{name}' already exists", hint="pick another name")
            if s.get(GroupRow, name) is not None:
                raise ConfigError(f"'{name}' is already a group", hint="principals and groups share one namespace")
            s.add(PrincipalRow(name=name, kind=kind, attributes=attributes))
            for g in groups:
                self._add_member(s, g, name)
            append(s, DomainEvent("access.principal_created", None, {"principal": name, "kind": kind,
                                                                      "groups": list(groups)}))
        return self.principal(name)

    def set_attributes(self, name: str, attributes: dict[str, Any]) -> Principal:
        self.require_manager()
        with self.store.write() as s:
            row = s.get(PrincipalRow, name)
            if row is None:
                raise NotFound(f"principal '{name}' not found")
            row.attributes = {**(row.attributes or {}), **attributes}
            self._changed(s, "access.principal_updated", {"principal": name})
        return self.principal(name)

    def principals(self, *, acting: str | None = None) -> list[Principal]:
        self.decide(acting, "access.read")
        snap = self.snapshot()
        names = sorted(set(snap.principals) | {self.local_name})
        return [self.principal(n, snap) for n in names]

    # -- groups -------------------------------------------------------------------------------
    def create_group(self, name: str, description: str = "") -> None:
        _check_name(name, "group")
        self.require_manager()
        with self.store.write() as s:
            if s.get(GroupRow, name) is not None:
                raise ConfigError(f"group '{name}' already exists")
            if s.get(PrincipalRow, name) is not None:
                raise ConfigError(f"'{name}' is already a principal", hint="principals and groups share one namespace")
            s.add(GroupRow(name=name, description=description))
            self._changed(s, "access.group_created", {"group": name})

    def add_member(self, group: str, principal: str) -> None:
        self.require_manager()
        with self.store.write() as s:
            if s.get(PrincipalRow, principal) is None and principal != self.local_name:
                raise NotFound(f"principal '{principal}' not found", hint="add it with `meshfabric users add`")
            self._add_member(s, group, principal)
            self._changed(s, "access.member_added", {"group": group, "principal": principal})

    def remove_member(self, group: str, principal: str) -> None:
        self.require_manager()
        with self.store.write() as s:
            s.execute(delete(GroupMemberRow).where(GroupMemberRow.group_name == group,
                                                   GroupMemberRow.principal == principal))
            self._changed(s, "access.member_removed", {"group": group, "principal": principal})

    @staticmethod
    def _add_member(s: Any, group: str, principal: str) -> None:
        _check_name(group, "group")
        if s.get(GroupRow, group) is None:
            if s.get(PrincipalRow, group) is not None:
                raise ConfigError(f"'{group}' is a principal, not a group")
            s.add(GroupRow(name=group, description=""))
            s.flush()
        exists = s.scalar(select(GroupMemberRow).where(GroupMemberRow.group_name == group,
                                                       GroupMemberRow.principal == principal))
        if exists is None:
            s.add(GroupMemberRow(group_name=group, principal=principal))

    def groups(self, *, acting: str | None = None) -> list[dict[str, Any]]:
        self.decide(acting, "access.read")
        with self.store.read() as s:
            members: dict[str, list[str]] = {}
            for m in s.scalars(select(GroupMemberRow).order_by(GroupMemberRow.principal)):
                members.setdefault(m.group_name, []).append(m.principal)
            return [{"name": g.name, "description": g.description, "members": members.get(g.name, [])}
                    for g in s.scalars(select(GroupRow).order_by(GroupRow.name))]

    # -- roles --------------------------------------------------------------------------------
    def create_role(self, name: str, description: str = "") -> None:
        _check_name(name, "role")
        self.require_manager()
        with self.store.write() as s:
            if s.get(RoleRow, name) is not None:
                raise ConfigError(f"role '{name}' already exists")
            s.add(RoleRow(name=name, description=description))
            self._changed(s, "access.role_created", {"role": name})

    def assign_role(self, assignee: str, role: str, *, group: bool = False) -> None:
        """Give ``role`` to a principal (or, with ``group=True``, to every member of a group)."""
        from meshfabric.events import DomainEvent, append

        kind = "group" if group else "user"
        self.require_manager()
        with self.store.write() as s:
            if s.get(RoleRow, role) is None:
                known = list(s.scalars(select(RoleRow.name)))
                close = difflib.get_close_matches(role, known, n=1)
                raise NotFound(f"role '{role}' not found", hint=f"did you mean '{close[0]}'?" if close
                               else "create it with `meshfabric roles create`")
            if group and s.get(GroupRow, assignee) is None:
                raise NotFound(f"group '{assignee}' not found", hint="create it with `meshfabric groups add`")
            if not group and s.get(PrincipalRow, assignee) is None and assignee != self.local_name:
                raise NotFound(f"principal '{assignee}' not found", hint="add it with `meshfabric users add`")
            exists = s.scalar(select(RoleAssignmentRow).where(
                RoleAssignmentRow.role == role, RoleAssignmentRow.assignee_kind == kind,
                RoleAssignmentRow.assignee == assignee))
            if exists is None:
                s.add(RoleAssignmentRow(role=role, assignee_kind=kind, assignee=assignee))
                append(s, DomainEvent("access.role_assigned", None, {"role": role, "assignee": assignee,
                                                                      "assignee_kind": kind}))

    def unassign_role(self, assignee: str, role: str, *, group: bool = False) -> None:
        self.require_manager()
        with self.store.write() as s:
            s.execute(delete(RoleAssignmentRow).where(
                RoleAssignmentRow.role == role, RoleAssignmentRow.assignee == assignee,
                RoleAssignmentRow.assignee_kind == ("group" if group else "user")))
            self._changed(s, "access.role_unassigned", {"role": role, "assignee": assignee})

    def roles(self, *, acting: str | None = None) -> list[dict[str, Any]]:
        self.decide(acting, "access.read")
        with self.store.read() as s:
            holders: dict[str, list[str]] = {}
            for a in s.scalars(select(RoleAssignmentRow).order_by(RoleAssignmentRow.assignee)):
                holders.setdefault(a.role, []).append(f"{a.assignee_kind}:{a.assignee}")
            return [{"name": r.name, "description": r.description, "assigned_to": holders.get(r.name, [])}
                    for r in s.scalars(select(RoleRow).order_by(RoleRow.name))]

    # -- grants -------------------------------------------------------------------------------
    def grant(self, grantee: str, permission: str, *, product: str | None = None, domain: str | None = None,
              source: str | None = None, grantee_kind: str = "role", by: str | None = None) -> Grant:
        """Grant ``permission`` (discover, query, write, admin) on a product or a domain to a
        role (default), a group or a user — or ``discover`` on a source (``source=``: run
        discovery over it; only a workspace admin grants that)."""
        kind, resource = self._resource(product, domain, source)
        manager = self.require_manager(product=product, domain=domain)
        if kind == "source" and permission != "discover":
            raise ConfigError(f"a source grant is 'discover', not '{permission}'",
                              hint="grant discover on the source; query access is granted on products")
        if permission not in PERMISSIONS:
            close = difflib.get_close_matches(permission, PERMISSIONS, n=1)
            raise ConfigError(f"unknown permission '{permission}'",
                              hint=f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(PERMISSIONS)}")
        if grantee_kind not in GRANTEE_KINDS:
            raise ConfigError(f"unknown grantee kind '{grantee_kind}'", hint=f"use one of {', '.join(GRANTEE_KINDS)}")
        from meshfabric.events import DomainEvent, append

        with self.store.write() as s:
            table = {"role": RoleRow, "group": GroupRow, "user": PrincipalRow}[grantee_kind]
            if s.get(table, grantee) is None and not (grantee_kind == "user" and grantee == self.local_name):
                raise NotFound(f"{grantee_kind} '{grantee}' not found")
            if kind == "source":
                if resource not in self.settings.spec.sources:
                    raise NotFound(f"source '{resource}' not found",
                                   hint=f"declared sources: {', '.join(sorted(self.settings.spec.sources)) or 'none'}")
            elif kind == "product":
                d, _, n = resource.partition(".")
                if s.scalar(select(ProductRow.id).where(ProductRow.domain == d, ProductRow.name == n)) is None:
                    raise NotFound(f"product '{resource}' not found", hint="apply it first (`meshfabric apply`)")
            elif s.get(DomainRow, resource) is None:
                raise NotFound(f"domain '{resource}' not found", hint="declare it in mesh.yaml and apply")
            row = s.scalar(select(GrantRow).where(
                GrantRow.grantee_kind == grantee_kind, GrantRow.grantee == grantee, GrantRow.resource_kind == kind,
                GrantRow.resource == resource, GrantRow.permission == permission))
            if row is None:
                row = GrantRow(grantee_kind=grantee_kind, grantee=grantee, resource_kind=kind, resource=resource,
                               permission=permission, granted_by=by or manager.name)
                s.add(row)
                s.flush()
                append(s, DomainEvent("access.granted", resource.split(".")[0], {
                    "grantee": grantee, "grantee_kind": grantee_kind, "resource": resource,
                    "resource_kind": kind, "permission": permission}))
            return _grant(row)

    def revoke(self, grantee: str, permission: str, *, product: str | None = None, domain: str | None = None,
               source: str | None = None, grantee_kind: str = "role") -> int:
        kind, resource = self._resource(product, domain, source)
        self.require_manager(product=product, domain=domain)
        from meshfabric.events import DomainEvent, append

        with self.store.write() as s:
            n = s.execute(delete(GrantRow).where(
                GrantRow.grantee_kind == grantee_kind, GrantRow.grantee == grantee, GrantRow.resource_kind == kind,
                GrantRow.resource == resource, GrantRow.permission == permission)).rowcount
            if n:
                append(s, DomainEvent("access.revoked", resource.split(".")[0], {
                    "grantee": grantee, "grantee_kind": grantee_kind, "resource": resource, "permission": permission}))
        return int(n or 0)

    def grants(self, *, acting: str | None = None) -> list[Grant]:
        self.decide(acting, "access.read")
        with self.store.read() as s:
            return [_grant(r) for r in s.scalars(select(GrantRow).order_by(GrantRow.resource, GrantRow.grantee))]

    @staticmethod
    def _resource(product: str | None, domain: str | None, source: str | None = None) -> tuple[str, str]:
        if sum(x is not None for x in (product, domain, source)) != 1:
            raise ConfigError("a grant is on exactly one product, one domain or one source",
                              hint="pass product=…, domain=… or source=…")
        if source is not None:
            return "source", source
        if product is not None:
            if product.count(".") != 1:
                raise ConfigError(f"'{product}' is not a product", hint="write domain.product")
            return "product", product
        assert domain is not None
        return "domain", domain

    # -- decisions ----------------------------------------------------------------------------
    def permission_level(self, who: Principal, product: str, snap: AccessSnapshot) -> int:
        """The strongest permission ``who`` holds on ``product`` (0 none … 4 admin)."""
        if who.is_admin:
            return level("admin")
        domain = product.split(".")[0]
        me = {who.name, *who.groups}
        if me & snap.owners.get(domain, set()) or snap.product_owner.get(product) in me:
            return level("admin")
        best = 0
        for g in snap.grants:
            if (g.resource_kind, g.resource) not in (("product", product), ("domain", domain)):
                continue
            holder = {"user": g.grantee == who.name, "group": g.grantee in who.groups,
                      "role": g.grantee in who.roles}[g.grantee_kind]
            if holder:
                best = max(best, level(g.permission))
        return best

    def can(self, user: str | None, permission: str, product: str) -> bool:
        snap = self.snapshot()
        return self.permission_level(self.acting(user, snap), product, snap) >= level(permission)

    def visible_products(self, user: str | None) -> set[str] | None:
        """Products ``user`` may discover (fqn); None means all (a workspace admin)."""
        snap = self.snapshot()
        who = self.acting(user, snap)
        if who.is_admin:
            return None
        return {fqn for fqn in snap.product_owner if self.permission_level(who, fqn, snap) >= level("discover")}

    def acting(self, user: str | None, snap: AccessSnapshot | None = None) -> Principal:
        """The principal a call acts as: the local principal, or ``user`` when the local
        principal is a workspace admin (the REST server and ``--as`` act for others)."""
        snap = snap or self.snapshot()
        local = self.principal(self.local_name, snap)
        if user is None:
            user = self.settings.acting
        if user is None or user == local.name:
            return local
        if not local.is_admin:
            self.audit(local.name, "impersonate", user, "denied", f"'{local.name}' is not a workspace admin")
            raise AccessDenied(
                f"acting as '{user}' needs a workspace admin, and '{local.name}' is not one",
                hint="add the local principal to access.admins in mesh.yaml",
            )
        return self.principal(user, snap)

    def decide(self, user: str | None, action: str, product: str | None = None, *,
               source: str | None = None, audit: bool = True) -> Decision:
        """The one question a service asks before an action: may ``user`` (None: the local
        principal) do ``action`` (see :data:`~meshfabric.access.model.ACTIONS`) to ``product``?

        Returns the :class:`Decision` — the canonical product name, the permission held and the
        masks and row filter that shape what the service may return. A product the principal may
        not discover raises the very ``NotFound`` a missing product raises (message and hint
        computed over what it may discover); too weak a permission raises ``AccessDenied``. Every
        denial, and every allowed action beyond discovering, is audited.
        """
        spec = ACTIONS.get(action)
        if spec is None:
            raise ConfigError(f"unknown action '{action}'", hint=f"use one of {', '.join(ACTIONS)}")
        snap = self.snapshot()
        who = self.acting(user, snap)
        if spec.on == "source":
            return self._decide_source(who, spec, source or product or "", snap, audit=audit)
        if spec.on == "workspace" or product is None:
            return self._decide_workspace(who, spec, snap, audit=audit)
        fqn, have = self._resolve(who, product, spec.permission, snap, action=spec.name, audit=audit)
        policy = None
        if not who.is_admin and have >= level("query"):
            policy = self._effective(who, fqn, snap)
        if audit and spec.permission != "discover":
            self.audit(who.name, spec.name, fqn, "allowed", policy_version=snap.policy_version)
        return Decision(who, spec.name, fqn, level("admin") if who.is_admin else have, policy)

    def _decide_source(self, who: Principal, spec: Action, source: str, snap: AccessSnapshot, *,
                       audit: bool) -> Decision:
        """An action on a declared source: a workspace admin may, or a holder of a grant on it."""
        if source not in self.settings.spec.sources:
            raise NotFound(f"source '{source}' not found",
                           hint=f"declared sources: {', '.join(sorted(self.settings.spec.sources)) or 'none'}")
        held = who.is_admin or any(
            g.resource_kind == "source" and g.resource == source and level(g.permission) >= level(spec.permission)
            and {"user": g.grantee == who.name, "group": g.grantee in who.groups,
                 "role": g.grantee in who.roles}[g.grantee_kind] for g in snap.grants)
        if audit:
            self.audit(who.name, spec.name, f"source:{source}", "allowed" if held else "denied",
                       "" if held else f"no {spec.permission} grant on the source", policy_version=snap.policy_version)
        if not held:
            raise AccessDenied(f"'{who.name}' may not {spec.name.split('.')[-1]} source '{source}': that needs a "
                               f"workspace admin or a {spec.permission} grant on the source",
                               hint=f"a workspace admin runs `meshfabric grants add {spec.permission} "
                                    f"--source {source} --user {who.name}`")
        return Decision(who, spec.name, None, level("admin") if who.is_admin else level(spec.permission))

    def _decide_workspace(self, who: Principal, spec: Action, snap: AccessSnapshot, *, audit: bool) -> Decision:
        """A workspace-wide action: an admin may; for ``write`` it is enough to hold write on some
        product or domain (a producer), for anything else a workspace admin is needed."""
        action, permission = spec.name, spec.permission
        if who.is_admin:
            return Decision(who, action, None, level("admin"))
        if spec.role and spec.role in who.roles:
            if audit:
                self.audit(who.name, action, "*", "allowed", f"role {spec.role}", policy_version=snap.policy_version)
            return Decision(who, action, None, level(permission))
        best = max((self.permission_level(who, fqn, snap) for fqn in snap.product_owner), default=0)
        mine = {who.name, *who.groups}
        if any(mine & owners for owners in snap.owners.values()):
            best = level("admin")
        for g in snap.grants:
            if g.resource_kind == "domain" and {"user": g.grantee == who.name, "group": g.grantee in who.groups,
                                                "role": g.grantee in who.roles}[g.grantee_kind]:
                best = max(best, level(g.permission))
        if permission != "admin" and best >= level(permission):
            if audit:
                self.audit(who.name, action, "*", "allowed", policy_version=snap.policy_version)
            return Decision(who, action, None, best)
        needs = "a workspace admin" if permission == "admin" else f"{permission} on some product or domain"
        if audit:
            self.audit(who.name, action, "*", "denied", f"needs {needs}", policy_version=snap.policy_version)
        if permission == "admin":
            holders = f" or principals with the role '{spec.role}'" if spec.role else ""
            raise AccessDenied(f"'{who.name}' is not an admin: only workspace admins{holders} may {spec.what}",
                               hint=f"a workspace admin runs `meshfabric roles assign {spec.role} {who.name}`"
                               if spec.role else "run as a workspace admin (access.admins in mesh.yaml)")
        raise AccessDenied(f"'{who.name}' may not {spec.what}: that needs {needs}",
                           hint="ask an owner of a domain for a write grant")

    def _resolve(self, who: Principal, product: str, permission: str, snap: AccessSnapshot, *, action: str,
                 audit: bool) -> tuple[str, int]:
        known = {fqn.lower(): fqn for fqn in snap.product_owner}
        fqn = known.get(product.lower())
        have = self.permission_level(who, fqn, snap) if fqn is not None else 0
        if fqn is None or have < level("discover"):
            if audit:
                self.audit(who.name, action, product[:256], "denied",
                           "no such product" if fqn is None else "no discover permission",
                           policy_version=snap.policy_version)
            visible = sorted(f for f in known.values() if self.permission_level(who, f, snap) >= level("discover"))
            close = difflib.get_close_matches(product, visible, n=1)
            raise NotFound(f"product '{product}' not found", hint=f"did you mean '{close[0]}'?" if close
                           else "list products with `meshfabric products list`")
        if have < level(permission):
            if audit:
                self.audit(who.name, action, fqn, "denied", f"holds {_permission_name(have)}, needs {permission}",
                           policy_version=snap.policy_version)
            raise AccessDenied(f"'{who.name}' may not {action.replace('.', ' ')} product '{fqn}': that needs "
                               f"{permission}", hint=f"ask an owner of domain '{fqn.split('.')[0]}' for a "
                                                     f"{permission} grant")
        return fqn, have

    def _effective(self, who: Principal, fqn: str, snap: AccessSnapshot) -> EffectivePolicy:
        from meshfabric.access.policy import effective
        from meshfabric.catalog import get_product

        key = ("effective", who.name, fqn)
        if key not in snap.memo:
            snap.memo[key] = effective(who, fqn, get_product(self.store, fqn).columns, snap.policies)
        return snap.memo[key]  # type: ignore[no-any-return]

    def effective(self, user: str | None, product: str, snap: AccessSnapshot | None = None, *,
                  acting: str | None = None) -> EffectivePolicy:
        """The masks and row filter ``user`` gets on ``product`` (``policy test``): for a workspace
        admin (``acting``), or for ``user`` asking about itself."""
        from meshfabric.catalog import get_product

        snap = snap or self.snapshot()
        if user is not None and self.acting(acting, snap).name == user:
            product = self.decide(user, "discover", product, audit=False).product or product
        else:
            self.decide(acting, "access.read")
        return self._effective(self.acting(user, snap), get_product(self.store, product).fqn, snap)

    def policy_test(self, user: str, product: str, *, acting: str | None = None) -> dict[str, Any]:
        """What ``user`` gets on ``product``: its strongest permission, masks and row filter
        (``policy test``; for a workspace admin, or a principal asking about itself)."""
        from meshfabric.catalog import get_product

        snap = self.snapshot()
        policy = self.effective(user, product, snap, acting=acting)
        fqn = get_product(self.store, policy.product).fqn
        lvl = self.permission_level(self.acting(user, snap), fqn, snap)
        return {"permission": _permission_name(lvl) if lvl else None, **policy.to_dict()}

    # -- policies -----------------------------------------------------------------------------
    def policies(self, *, acting: str | None = None) -> list[dict[str, Any]]:
        self.decide(acting, "access.read")
        with self.store.read() as s:
            return [{"name": p.name, "file": p.file, "document": p.document, "updated_at": p.updated_at.isoformat()}
                    for p in s.scalars(select(PolicyRow).order_by(PolicyRow.name))]

    def suggest_masks(self, *, acting: str | None = None) -> list[dict[str, Any]]:
        """PII columns (classified ``pii`` in the catalog) that a role, group or user holding query
        on the product reads unmasked, each with a proposed mask: ``date_year`` for dates, else
        ``hash`` (joins on the column keep working). A column a policy explicitly leaves
        ``clear`` for the grantee is left alone: that was decided. Workspace admins only."""
        from meshfabric.access.policy import effective
        from meshfabric.catalog import get_product

        self.decide(acting, "access.read")
        snap = self.snapshot()
        columns: dict[str, list[dict[str, Any]]] = {}
        seen: set[tuple[str, str, str, str]] = set()
        out: list[dict[str, Any]] = []
        for g in sorted(snap.grants, key=lambda g: (g.resource, g.grantee_kind, g.grantee)):
            if g.resource_kind not in ("product", "domain") or level(g.permission) < level("query"):
                continue
            if g.grantee_kind == "user":
                who = self.principal(g.grantee, snap)
            elif g.grantee_kind == "group":
                who = Principal(g.grantee, "group", groups=(g.grantee,),
                                roles=tuple(sorted(snap.group_roles.get(g.grantee, set()))))
            else:
                who = Principal(g.grantee, "role", roles=(g.grantee,))
            if who.is_admin:
                continue
            targets = [g.resource] if g.resource_kind == "product" else sorted(
                fqn for fqn in snap.product_owner if fqn.split(".")[0] == g.resource)
            for fqn in targets:
                if fqn not in columns:
                    columns[fqn] = get_product(self.store, fqn).columns if fqn in snap.product_owner else []
                pii = [c for c in columns[fqn]
                       if "pii" in [str(x).lower() for x in c.get("classification") or []]]
                if not pii:
                    continue
                masks = effective(who, fqn, columns[fqn], snap.policies).masks
                for c in pii:
                    key = (g.grantee_kind, g.grantee, fqn, str(c["name"]))
                    applied = masks.get(str(c["name"]))
                    if key in seen or applied is not None:
                        continue
                    seen.add(key)
                    kind = str(c.get("type", "")).lower()
                    out.append({"grantee_kind": g.grantee_kind, "grantee": g.grantee, "product": fqn,
                                "column": str(c["name"]), "type": kind, "permission": g.permission,
                                "mask": "date_year" if kind in ("date", "timestamp", "timestamp_tz") else "hash"})
        return out

    @staticmethod
    def suggestion_policy(suggestions: list[dict[str, Any]], name: str = "suggested-pii-masks") -> dict[str, Any]:
        """The suggestions as one ``kind: AccessPolicy`` document (validated), a rule per grantee
        and product."""
        from meshfabric.spec.access_models import AccessPolicy

        rules: dict[tuple[str, str, str], dict[str, Any]] = {}
        for s in suggestions:
            rule = rules.setdefault((s["grantee_kind"], s["grantee"], s["product"]), {
                "to": {s["grantee_kind"]: s["grantee"]}, "product": s["product"], "columns": {}})
            rule["columns"][s["column"]] = s["mask"]
        doc = {"kind": "AccessPolicy", "name": name,
               "description": "PII columns these grantees could read unmasked (drafted by `meshfabric policy "
                              "suggest`): review, then apply", "rules": list(rules.values())}
        return AccessPolicy.model_validate(doc).to_doc()

    def policy_version(self) -> int:
        with self.store.read() as s:
            return int(s.scalar(select(func.max(PolicyVersionRow.version))) or 0)

    # -- audit --------------------------------------------------------------------------------
    def audit(self, principal: str, action: str, resource: str, decision: str, reason: str = "", *,
              policy_version: int | None = None, sql: str | None = None, rows: int | None = None,
              latency_ms: float | None = None, at: datetime | None = None) -> None:
        """Record one decision; a denial also appends an ``access.denied`` event. ``at`` dates
        the decision (default now): a replay of past activity records it at the time it stands for.

        An allowed decision is one INSERT in its own short transaction, without the store's
        writer lock: audit rows are append-only and nothing reads them in sequence, so queries
        do not queue behind an apply. A denial appends an event too, and events must be
        committed in sequence order (subscribers keep offsets), so it takes the normal write path.
        """
        from meshfabric.events import DomainEvent, append

        if policy_version is None:
            policy_version = self.policy_version()
        values = {"at": at or datetime.now(UTC), "principal": principal, "action": action, "resource": resource[:1024],
                  "decision": decision, "reason": reason, "policy_version": policy_version,
                  "sql_fingerprint": fingerprint(sql) if sql else "", "rows": rows, "latency_ms": latency_ms}
        if decision != "denied":
            with self.store.engine.begin() as conn:
                conn.execute(insert(AuditRow).values(**values))
            return
        with self.store.write() as s:
            s.execute(insert(AuditRow).values(**values))
            append(s, DomainEvent("access.denied", resource.split(".")[0] if "." in resource else None, {
                "principal": principal, "action": action, "resource": resource, "reason": reason}))

    def audit_log(self, *, user: str | None = None, action: str | None = None, since: datetime | None = None,
                  decision: str | None = None, limit: int = 100, offset: int = 0,
                  acting: str | None = None) -> list[AuditEntry]:
        """Audit entries, newest first (``access.read``: a workspace admin)."""
        self.decide(acting, "access.read")
        stmt = _audit_filter(select(AuditRow), user, action, since, decision).order_by(AuditRow.id.desc())
        with self.store.read() as s:
            rows = s.scalars(stmt.limit(limit).offset(offset))
            return [AuditEntry(r.id, r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC), r.principal, r.action,
                               r.resource, r.decision, r.reason, r.policy_version, r.sql_fingerprint, r.rows,
                               r.latency_ms) for r in rows]

    def audit_count(self, *, user: str | None = None, action: str | None = None, since: datetime | None = None,
                    decision: str | None = None, acting: str | None = None) -> int:
        self.decide(acting, "access.read", audit=False)
        stmt = _audit_filter(select(func.count()).select_from(AuditRow), user, action, since, decision)
        with self.store.read() as s:
            return int(s.scalar(stmt) or 0)


def _audit_filter(stmt: Any, user: str | None, action: str | None, since: datetime | None,
                  decision: str | None) -> Any:
    if user:
        stmt = stmt.where(AuditRow.principal == user)
    if action:
        stmt = stmt.where(AuditRow.action == action)
    if decision:
        stmt = stmt.where(AuditRow.decision == decision)
    if since is not None:
        stmt = stmt.where(AuditRow.at >= since)
    return stmt


@lru_cache(maxsize=4096)
def fingerprint(sql: str) -> str:
    """SHA-256 of the normalised SQL: sqlglot's tokens lower-cased (DuckDB matches names without
    regard to case) and every string and number literal replaced by ``?`` — one query shape has
    one fingerprint whatever values, spacing, comments or keyword case it is written with.

    >>> fingerprint("select a FROM t where x = 1") == fingerprint("SELECT a   from T WHERE x = 42 -- hi")
    True
    """
    from sqlglot.tokens import Tokenizer, TokenType

    literal = {TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING, TokenType.HEX_STRING,
               TokenType.BIT_STRING, TokenType.BYTE_STRING, TokenType.RAW_STRING}
    try:
        text = " ".join("?" if t.token_type in literal else t.text.lower() for t in Tokenizer().tokenize(sql))
    except Exception:
        text = " ".join(sql.split())
    return hashlib.sha256(text.encode()).hexdigest()


def _grant(r: GrantRow) -> Grant:
    return Grant(r.grantee_kind, r.grantee, r.resource_kind, r.resource, r.permission, r.granted_by, r.created_at)


def _check_name(name: str, what: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,256}", name or ""):
        raise ConfigError(f"'{name}' is not a valid {what} name",
                          hint="use letters, digits and . _ @ + - (no spaces)")


def _permission_name(lvl: int) -> str:
    return PERMISSIONS[lvl - 1] if lvl else "nothing"
