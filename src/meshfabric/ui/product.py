"""The product page of the web UI (issue 14): schema versions and the diffs between them,
contracts and their compliance, quality history with failing rules, the lineage graph, who may
see what (admins only) and recent events. Included by the UI's app under
``/products/{domain}/{name}``.

Every section comes from the service call the REST API makes for it, as the signed-in principal
(``user=``), so the access layer decides what the page shows:

==========================  =========================================================
section                     service (REST route)
==========================  =========================================================
product                     ``mesh.product`` (``GET /api/v1/products/{fqn}``)
schema versions             ``mesh.schemas.history`` (``GET /api/v1/products/{fqn}/schemas``)
diffs                       ``mesh.schemas.diff`` (``meshfabric schema diff``)
contracts                   ``mesh.contracts.list`` / ``violations`` (``GET /api/v1/contracts``)
quality                     ``mesh.quality.history`` (``GET /api/v1/products/{fqn}/quality/runs``)
lineage                     ``mesh.lineage.upstream/downstream`` (``GET /api/v1/lineage/upstream|downstream``)
access                      ``mesh.access.grants`` / ``policy_test`` (``GET /api/v1/access/grants``,
                            ``/api/v1/access/policy-test``): a workspace admin's (``access.read``)
events                      ``mesh.events.list`` (``GET /api/v1/events``; ``events.read``)
==========================  =========================================================

A product the principal may not discover raises the ``NotFound`` a missing one raises: the page
is the same "not found" page for both. A section whose action the principal does not hold
(``access.read``, ``events.read``) is left out because the service refused it, not because the
template decided. ``/products/{domain}/{name}/lineage`` answers the lineage walks as JSON (the
documents of ``/api/v1/lineage/upstream|downstream``) for the page's script, with the session's
principal: the REST API takes bearer credentials, not the UI's session cookie.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from meshfabric.errors import AccessDenied
from meshfabric.ui import charts
from meshfabric.ui.web import current_user, mesh_of, render

if TYPE_CHECKING:
    from meshfabric.mesh import Mesh

router = APIRouter()

#: quality runs shown (newest first), events shown, principals whose effective policy is listed
RUNS = 30
EVENTS = 20
PRINCIPALS = 50
#: events read (newest first, of the product's domain) to find the product's recent ones
EVENT_SCAN = 500


@dataclass
class ProductView:
    """Everything the product page shows, as the principal may see it."""

    product: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    #: the changes from each version to the next: {"from", "to", "compatible", "mode", "changes"}
    diffs: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    upstream: dict[str, Any] = field(default_factory=dict)
    downstream: dict[str, Any] = field(default_factory=dict)
    #: None: the principal may not read grants and policies (the access service said so)
    access: dict[str, Any] | None = None
    #: None: the principal may not read the event log
    events: list[dict[str, Any]] | None = None


def _fqn(domain: str, name: str) -> str:
    return f"{domain}.{name}"


def _product(mesh: Mesh, fqn: str, user: str | None) -> Any:
    """The product as ``user`` may see it; ``NotFound`` — the service's own, with its hint (a
    close name among those ``user`` may discover) — for a missing or a hidden one alike."""
    return mesh.product(fqn, user=user)


def lineage_walks(mesh: Mesh, fqn: str, user: str | None, *, columns: bool = False) -> dict[str, Any]:
    """The upstream and downstream walks of ``fqn`` — the documents ``GET
    /api/v1/lineage/upstream|downstream?node=<fqn>&columns=…`` answer, with their defaults."""
    return {"upstream": mesh.lineage.upstream(fqn, columns=columns, limit=1000, user=user).to_dict(),
            "downstream": mesh.lineage.downstream(fqn, columns=columns, limit=1000, user=user).to_dict()}


def gather(mesh: Mesh, fqn: str, user: str | None) -> ProductView:
    """The page's data for ``user``; raises ``NotFound`` for a product it may not discover."""
    product = _product(mesh, fqn, user)
    fqn = product.fqn
    view = ProductView(product.to_dict())
    # schema versions, newest first, and what changed from each to the next
    history = mesh.schemas.history(fqn, user=user)
    view.versions = [v.to_dict() for v in history]
    for older, newer in zip(history[1:], history[:-1], strict=True):
        result = mesh.schemas.diff(fqn, older.version, newer.version, user=user)
        view.diffs.append({"from": older.version, "to": newer.version, **result.to_dict()})
    # contracts and the violations recorded against them
    for c in mesh.contracts.list(product=fqn, user=user):
        violations = mesh.contracts.violations(c.id, user=user)
        view.contracts.append({**c.to_dict(), "violations": violations})
    # quality: rules and recent runs with the rules that failed
    view.rules = [{"name": r.label, "type": r.type, "severity": r.severity,
                   "dimension": r.effective_dimension} for r in mesh.quality.rules(fqn, user=user)]
    view.runs = [r.to_dict() for r in mesh.quality.history(fqn, limit=RUNS, user=user)]
    walks = lineage_walks(mesh, fqn, user)
    view.upstream, view.downstream = walks["upstream"], walks["downstream"]
    view.access = _access(mesh, fqn, user)
    view.events = _events(mesh, product.domain, fqn, user)
    return view


def _access(mesh: Mesh, fqn: str, user: str | None) -> dict[str, Any] | None:
    """Grants on the product and its domain, and each principal's permission, masks and row
    filter on it — for a principal the access service lets read them (``access.read``)."""
    try:
        grants = mesh.access.grants(acting=user)
    except AccessDenied:
        return None
    domain = fqn.split(".", 1)[0]
    relevant = [g.to_dict() for g in grants
                if (g.resource_kind == "product" and g.resource == fqn)
                or (g.resource_kind == "domain" and g.resource == domain)]
    policies = []
    for p in mesh.access.principals(acting=user)[:PRINCIPALS]:
        tested = mesh.access.policy_test(p.name, fqn, acting=user)
        if tested.get("permission") is None:
            continue
        policies.append({"principal": p.name, "kind": p.kind, "admin": p.is_admin,
                         "permission": tested["permission"], "masks": tested.get("masks") or [],
                         "row_filter": tested.get("row_filter")})
    return {"grants": relevant, "policies": policies}


def _events(mesh: Mesh, domain: str, fqn: str, user: str | None) -> list[dict[str, Any]] | None:
    """The product's most recent events (those whose ``product`` or ``resource`` is it)."""
    try:
        found = mesh.events.list(domain=domain, limit=EVENT_SCAN, newest_first=True, user=user)
    except AccessDenied:
        return None
    mine = [e for e in found if fqn in (e.data.get("product"), e.data.get("resource"))]
    return [e.to_dict() for e in mine[:EVENTS]]


def _json_script(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: nothing in it can close the tag."""
    text = json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


@router.get("/products/{domain}/{name}", response_class=HTMLResponse)
def product_page(request: Request, domain: str, name: str, user: str | None = Depends(current_user)) -> Response:
    mesh = mesh_of(request)
    view = gather(mesh, _fqn(domain, name), user)
    runs = list(reversed(view.runs))  # oldest first, for the chart
    scored = [r for r in runs if r.get("score") is not None]
    chart = charts.line_chart([r["started_at"][:10] for r in scored], [r["score"] for r in scored],
                              label=f"quality score of {view.product['fqn']} per run") if len(scored) > 1 else None
    return render(request, "product.html", {
        "view": view, "p": view.product, "chart": chart,
        "lineage_json": _json_script({"root": view.product["fqn"], "upstream": view.upstream,
                                      "downstream": view.downstream}),
    })


@router.get("/products/{domain}/{name}/lineage")
def product_lineage(request: Request, domain: str, name: str,
                    columns: bool = Query(False, description="column-level lineage too"),
                    user: str | None = Depends(current_user)) -> Response:
    """The lineage walks of the product as JSON (``{"upstream": …, "downstream": …}``, each the
    document of ``/api/v1/lineage/upstream|downstream``) for the page's graph."""
    mesh = mesh_of(request)
    fqn = _product(mesh, _fqn(domain, name), user).fqn
    return JSONResponse(json.loads(json.dumps(lineage_walks(mesh, fqn, user, columns=columns), default=str)),
                        headers={"Cache-Control": "no-store"})

