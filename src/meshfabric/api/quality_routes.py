"""REST endpoints of the quality capability; included by ``meshfabric.api.app.create_app``.

Rules, runs (run now, history), profiles and the monitor's alerts. Every call acts for the
request's principal: quality runs and profiles read the product's data, so they need the same
right as a query; alerts follow the product they are about.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.mesh import Mesh

router = APIRouter(tags=["quality"])
#: alert ids are 64-bit integers in the store: larger path values are refused before a lookup
AlertId = Path(..., ge=1, le=2**62)


class AlertNote(BaseModel):
    note: str = Field("", max_length=2000, description="Why: shown in the alert's history")


def _page(items: list[dict[str, Any]], offset: int, limit: int, total: int | None = None) -> dict[str, Any]:
    return {"items": items, "total": len(items) if total is None else total, "offset": offset, "limit": limit}


def _product(mesh: Mesh, fqn: str, user: str | None, action: str = "query") -> str:
    """The product's canonical name once ``user`` may ``action`` it (an unknown product and a
    product the user may not see get the same 404)."""
    return str(mesh.access.authorize(user, action, fqn)) if user is not None else str(mesh.product(fqn).fqn)


@router.get("/api/v1/products/{fqn}/quality/rules")
def quality_rules(fqn: str, mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    product = _product(mesh, fqn, user, "discover")
    rules = mesh.quality.rules(product)
    return _page([r.model_dump(mode="json", exclude_none=True, by_alias=True) for r in rules], 0, len(rules))


@router.post("/api/v1/products/{fqn}/quality/runs")
def quality_run(fqn: str, statements: bool = False, mesh: Mesh = Depends(mesh_of),
                user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Run every rule of the product in its source now; the run is stored and returned. A run
    whose rules fail is still a 200: its ``status`` says ``failed``."""
    product = _product(mesh, fqn, user)
    return _masked(mesh, user, product, [mesh.quality.run(product).to_dict(statements=statements)])[0]


@router.get("/api/v1/products/{fqn}/quality/runs")
def quality_runs(fqn: str, limit: int = Query(20, ge=1, le=500), mesh: Mesh = Depends(mesh_of),
                 user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """The latest runs, newest first, with their rule results."""
    product = _product(mesh, fqn, user, "discover")
    runs = [r.to_dict() for r in mesh.quality.history(product, limit=limit)]
    return _page(_masked(mesh, user, product, runs), 0, limit)


def _masked(mesh: Mesh, user: str | None, product: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs as ``user`` may see them: failing-row samples hold raw values, so a principal with
    masks or a row filter on the product gets the results without them."""
    if user is None:
        return runs
    policy = mesh.access.effective(user, product)
    if policy.exempt or (policy.row_filter is None and all(m.mask == "clear" for m in policy.masks.values())):
        return runs
    for run in runs:
        for result in run["results"]:
            if result.get("sample"):
                result["sample"] = []
                result["detail"] = (result.get("detail") or "") + " (sample withheld: masked or filtered principal)"
    return runs


@router.get("/api/v1/products/{fqn}/profile")
def profile(fqn: str, columns: str | None = Query(None, description="comma-separated; default all"),
            top: int = Query(10, ge=0, le=100), record: bool = Query(False, description="store as metric points"),
            mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Per-column statistics computed in the source; pii columns are withheld."""
    product = _product(mesh, fqn, user)
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = mesh.profile(product, columns=names, top=top, user=user)
    if record:
        mesh.record_profile(result)
    return result.to_dict()  # type: ignore[no-any-return]


@router.get("/api/v1/alerts")
def alerts(product: str | None = None,
           status: str | None = Query(None, description="open, acknowledged, resolved or active"),
           detector: str | None = None, offset: int = Query(0, ge=0, le=10**9), limit: int = Query(100, ge=1, le=1000),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    if product is not None and user is not None:
        product = _product(mesh, product, user, "discover")
    found = mesh.alerts.list(product=product, status=status, detector=detector, limit=offset + limit)
    items = [a.to_dict() for a in found if _may_see(mesh, user, a.product)]
    return _page(items[offset:], offset, limit, total=len(items))


def _may_see(mesh: Mesh, user: str | None, product: str) -> bool:
    if user is None:
        return True
    visible = mesh.access.visible_products(user)
    return visible is None or product in visible


def _alert(mesh: Mesh, alert_id: int, user: str | None, action: str = "discover") -> Any:
    info = mesh.alerts.get(alert_id)
    if user is not None:
        from meshfabric.errors import NotFound

        try:
            _product(mesh, info.product, user, action)
        except NotFound:
            raise NotFound(f"alert {alert_id} does not exist") from None
    return info


@router.get("/api/v1/alerts/{alert_id}")
def alert(alert_id: int = AlertId, mesh: Mesh = Depends(mesh_of),
          user: str | None = Depends(principal_of)) -> dict[str, Any]:
    result = _alert(mesh, alert_id, user).to_dict()
    result["deliveries"] = [d.to_dict() for d in mesh.alerts.deliveries(alert_id)]
    return result  # type: ignore[no-any-return]


@router.post("/api/v1/alerts/{alert_id}/ack")
def alert_ack(alert_id: int = AlertId, body: AlertNote | None = None, mesh: Mesh = Depends(mesh_of),
              user: str | None = Depends(principal_of)) -> dict[str, Any]:
    _alert(mesh, alert_id, user, "query")
    return mesh.alerts.ack(alert_id, note=body.note if body else "", by=user).to_dict()  # type: ignore[no-any-return]


@router.post("/api/v1/alerts/{alert_id}/resolve")
def alert_resolve(alert_id: int = AlertId, body: AlertNote | None = None, mesh: Mesh = Depends(mesh_of),
                  user: str | None = Depends(principal_of)) -> dict[str, Any]:
    _alert(mesh, alert_id, user, "query")
    return mesh.alerts.resolve(alert_id, note=body.note if body else "", by=user).to_dict()  # type: ignore[no-any-return]
