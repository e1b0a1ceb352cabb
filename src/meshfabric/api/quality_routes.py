"""REST endpoints of the quality capability; included by ``meshfabric.api.app.create_app``.

Rules, runs (run now, history), profiles and the monitor's alerts. Every call passes the
request's principal to the quality and alert services, which decide what it may do and see.
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


@router.get("/api/v1/products/{fqn}/quality/rules")
def quality_rules(fqn: str, mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    rules = mesh.quality.rules(fqn, user=user)
    return _page([r.model_dump(mode="json", exclude_none=True, by_alias=True) for r in rules], 0, len(rules))


@router.post("/api/v1/products/{fqn}/quality/runs")
def quality_run(fqn: str, statements: bool = False, mesh: Mesh = Depends(mesh_of),
                user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Run every rule of the product in its source now; the run is stored and returned. A run
    whose rules fail is still a 200: its ``status`` says ``failed``."""
    return mesh.quality.run(fqn, user=user).to_dict(statements=statements)


@router.get("/api/v1/products/{fqn}/quality/runs")
def quality_runs(fqn: str, limit: int = Query(20, ge=1, le=500), mesh: Mesh = Depends(mesh_of),
                 user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """The latest runs, newest first, with their rule results."""
    return _page([r.to_dict() for r in mesh.quality.history(fqn, limit=limit, user=user)], 0, limit)


@router.get("/api/v1/products/{fqn}/profile")
def profile(fqn: str, columns: str | None = Query(None, description="comma-separated; default all"),
            top: int = Query(10, ge=0, le=100), record: bool = Query(False, description="store as metric points"),
            mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Per-column statistics computed in the source; pii columns are withheld."""
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = mesh.quality.profile(fqn, columns=names, top=top, user=user)
    if record:
        mesh.quality.record_profile(result)
    return result.to_dict()  # type: ignore[no-any-return]


@router.get("/api/v1/alerts")
def alerts(product: str | None = None,
           status: str | None = Query(None, description="open, acknowledged, resolved or active"),
           detector: str | None = None, offset: int = Query(0, ge=0, le=10**9), limit: int = Query(100, ge=1, le=1000),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    found = mesh.alerts.list(product=product, status=status, detector=detector, limit=offset + limit, user=user)
    items = [a.to_dict() for a in found]
    return _page(items[offset:], offset, limit, total=len(items))


@router.get("/api/v1/alerts/{alert_id}")
def alert(alert_id: int = AlertId, mesh: Mesh = Depends(mesh_of),
          user: str | None = Depends(principal_of)) -> dict[str, Any]:
    result = mesh.alerts.get(alert_id, user=user).to_dict()
    result["deliveries"] = [d.to_dict() for d in mesh.alerts.deliveries(alert_id, user=user)]
    return result  # type: ignore[no-any-return]


@router.post("/api/v1/alerts/{alert_id}/ack")
def alert_ack(alert_id: int = AlertId, body: AlertNote | None = None, mesh: Mesh = Depends(mesh_of),
              user: str | None = Depends(principal_of)) -> dict[str, Any]:
    return mesh.alerts.ack(alert_id, note=body.note if body else "", user=user).to_dict()  # type: ignore[no-any-return]


@router.post("/api/v1/alerts/{alert_id}/resolve")
def alert_resolve(alert_id: int = AlertId, body: AlertNote | None = None, mesh: Mesh = Depends(mesh_of),
                  user: str | None = Depends(principal_of)) -> dict[str, Any]:
    return mesh.alerts.resolve(alert_id, note=body.note if body else "", user=user).to_dict()  # type: ignore[no-any-return]
