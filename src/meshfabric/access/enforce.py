"""Enforcement on the query path: who may see which product, the secured views handed to the
query layer, and one audit entry per decision.

:class:`SecuredCatalog` is the ``ProductCatalog`` of a principal: a product it may not discover
does not exist for it (the guard's "not found" text and its "did you mean" hint are computed over
what it may discover), a product it may discover but not query is an ``AccessDenied``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from meshfabric.access.model import Principal, level
from meshfabric.errors import AccessDenied, MeshfabricError, NotFound, QueryError
from meshfabric.mesh import StoreCatalog

if TYPE_CHECKING:
    from meshfabric.access.policy import EffectivePolicy
    from meshfabric.access.service import AccessService, AccessSnapshot
    from meshfabric.mesh import Mesh
    from meshfabric.query.catalog import ProductBinding
    from meshfabric.query.secure import SecuredView


class SecuredCatalog(StoreCatalog):
    """The applied catalog as one principal may see it."""

    def __init__(self, mesh: Mesh, access: AccessService, who: Principal, snap: AccessSnapshot) -> None:
        super().__init__(mesh)
        self.access, self.who, self.snap = access, who, snap
        self.hidden: list[str] = []
        self.referenced: list[str] = []
        self.policies: dict[str, EffectivePolicy] = {}
        if not who.is_admin:
            key = ("levels", who.name, who.is_admin, tuple(self._products))
            if key not in snap.memo:
                snap.memo[key] = {fqn: access.permission_level(who, p.fqn, snap) for fqn, p in self._products.items()}
            self._levels = snap.memo[key]
            self._products = {k: v for k, v in self._products.items() if self._levels[k] >= level("discover")}

    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        key = f"{domain}.{name}".lower()
        if key not in self._products:
            if not self.who.is_admin and key in self._levels:
                self.hidden.append(key)
            return None
        if key not in self.referenced:
            self.referenced.append(key)
        if not self.who.is_admin and self._levels[key] < level("query"):
            raise AccessDenied(
                f"'{self.who.name}' may discover product '{self._products[key].fqn}' but not query it",
                hint=f"ask an owner of domain '{domain}' for a query grant",
            )
        return super().lookup(domain, name)

    def views(self, products: tuple[ProductBinding, ...]) -> dict[str, SecuredView]:
        from meshfabric.access.policy import effective, secured_view

        out: dict[str, SecuredView] = {}
        if self.who.is_admin:
            return out
        for binding in products:
            info = self._products[binding.fqn.lower()]
            key = ("view", self.who.name, info.fqn, repr(info.columns))
            if key not in self.snap.memo:
                policy = effective(self.who, info.fqn, info.columns, self.snap.policies)
                self.snap.memo[key] = (policy, secured_view(policy, info.columns, self.access.salt))
            policy, view = self.snap.memo[key]
            self.policies[info.fqn] = policy
            if view is not None:
                out[binding.fqn.lower()] = view
        return out


def run(mesh: Mesh, sql: str, *, user: str | None, limit: int | None = None, explain: bool = False) -> Any:
    """``mesh.query`` / ``mesh.explain`` for the acting principal, audited."""
    from meshfabric import query as q

    start = time.perf_counter()
    access = mesh.access
    action = "explain" if explain else "query"
    snap = access.snapshot()
    who = access.acting(user, snap)
    catalog = SecuredCatalog(mesh, access, who, snap)
    views = None if who.is_admin else catalog.views
    try:
        out: Any = (q.explain(sql, catalog, views=views) if explain
                    else q.run_query(sql, catalog, limit=limit, views=views))
    except MeshfabricError as exc:
        resource = ",".join(catalog.referenced + catalog.hidden) or "-"
        if catalog.hidden:
            reason = f"no discover permission on {', '.join(catalog.hidden)}"
        elif isinstance(exc, QueryError | AccessDenied):
            reason = exc.message
        else:
            reason = f"{type(exc).__name__}: {exc.message}"
        decision = "denied" if isinstance(exc, QueryError | AccessDenied) else "error"
        access.audit(who.name, action, resource, decision, reason[:2000], policy_version=snap.policy_version,
                     sql=sql, latency_ms=(time.perf_counter() - start) * 1000)
        raise
    rows = None if explain else out.arrow().num_rows
    masked = sorted(f"{p}:{len([m for m in e.masks.values() if m.mask != 'clear'])} masks"
                    + (" +filter" if e.row_filter is not None else "") for p, e in catalog.policies.items())
    access.audit(who.name, action, ",".join(catalog.referenced) or "-", "allowed", "; ".join(masked),
                 policy_version=snap.policy_version, sql=sql, rows=rows,
                 latency_ms=(time.perf_counter() - start) * 1000)
    return out


def authorize(mesh: Mesh, user: str | None, permission: str, product: str, *, audit: bool = True) -> str:
    """The product's canonical name once ``user`` holds ``permission`` on it.

    A product the principal may not discover raises the very ``NotFound`` a missing product
    raises (message and hint computed over what it may discover); a weaker permission than
    needed raises ``AccessDenied``. Every decision is audited.
    """
    import difflib

    access = mesh.access
    snap = access.snapshot()
    who = access.acting(user, snap)
    known = {fqn.lower(): fqn for fqn in snap.product_owner}
    fqn = known.get(product.lower())
    have = access.permission_level(who, fqn, snap) if fqn is not None else 0
    if fqn is None or have < level("discover"):
        if audit:
            access.audit(who.name, permission, product, "denied",
                         "no such product" if fqn is None else "no discover permission")
        visible = sorted(f for f in known.values() if access.permission_level(who, f, snap) >= level("discover"))
        close = difflib.get_close_matches(product, visible, n=1)
        raise NotFound(f"product '{product}' not found",
                       hint=f"did you mean '{close[0]}'?" if close else "list products with `meshfabric products list`")
    if have < level(permission):
        if audit:
            access.audit(who.name, permission, fqn, "denied", f"holds {_name(have)}, needs {permission}")
        raise AccessDenied(f"'{who.name}' may not {permission} product '{fqn}'",
                           hint=f"ask an owner of domain '{fqn.split('.')[0]}' for a {permission} grant")
    if audit and permission != "discover":
        access.audit(who.name, permission, fqn, "allowed")
    return fqn


def _name(lvl: int) -> str:
    from meshfabric.access.model import PERMISSIONS

    return PERMISSIONS[lvl - 1] if lvl else "nothing"
