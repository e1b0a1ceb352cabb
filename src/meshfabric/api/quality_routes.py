"""REST endpoints of the quality capability; included by ``meshfabric.api.app.create_app``.

Rules, runs (run now, history), profiles and the monitor's alerts (ack, silence, resolve). Every call passes the
request's principal to the quality and alert services, which decide what it may do and see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.api.models import Page, page
from meshfabric.api.quality_models import Alert, AlertDetail, Profile, QualityRules, QualityRun
from meshfabric.mesh import Mesh

router = APIRouter(tags=["quality"])
#: alert ids are 64-bit integers in the store: larger path values are refused before a lookup
AlertId = Path(..., ge=1, le=2**62)


class AlertNote(BaseModel):
    note: str = Field("", max_length=2000, description="Why: shown in the alert's history")


class AlertSilence(BaseModel):
    """How long to hold back an alert's notifications: exactly one of ``for`` and ``until``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    for_: str | None = Field(None, alias="for", max_length=32, examples=["2h"],
                             description="a duration: a number and s, m, h, d or w (0s lifts a silence)")
    until: datetime | None = Field(None, description="an ISO 8601 time (without an offset: UTC); "
                                                     "a time in the past lifts the silence")
    note: str = Field("", max_length=2000, description="Why: shown in the alert's history")

    def deadline(self, now: datetime) -> datetime:
        """The time the silence ends; a ConfigError (400) names what is wrong with the body."""
        from meshfabric.errors import ConfigError
        from meshfabric.spec.models import duration_seconds

        if (self.for_ is None) == (self.until is None):
            raise ConfigError("give exactly one of 'for' (a duration such as 2h) and 'until' (an ISO 8601 time)",
                              hint='e.g. {"for": "2h"} or {"until": "2030-01-01T00:00:00Z"}')
        try:
            if self.until is not None:
                until = self.until
                return until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
            return now + timedelta(seconds=duration_seconds(str(self.for_)))
        except ValueError as exc:
            raise ConfigError(f"'for': {exc}", hint='e.g. {"for": "30m"}, {"for": "2h"} or {"for": "1d"}') from None
        except OverflowError:
            raise ConfigError("the silence would end after the last representable time",
                              hint="silence for a shorter while") from None


# the rules as their spec models, without the options left unset (as a spec file writes them)
@router.get("/api/v1/products/{fqn}/quality/rules", response_model=QualityRules,
            response_model_exclude_none=True)
def quality_rules(fqn: str, mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    rules = mesh.quality.rules(fqn, user=user)
    return page(rules, 0, len(rules))


# ``statements`` is in a run's body only when asked for
@router.post("/api/v1/products/{fqn}/quality/runs", response_model=QualityRun, response_model_exclude_unset=True)
def quality_run(fqn: str, statements: bool = False, mesh: Mesh = Depends(mesh_of),
                user: str | None = Depends(principal_of)) -> Any:
    """Run every rule of the product in its source now; the run is stored and returned. A run
    whose rules fail is still a 200: its ``status`` says ``failed``."""
    return mesh.quality.run(fqn, user=user).to_dict(statements=statements)


@router.get("/api/v1/products/{fqn}/quality/runs", response_model=Page[QualityRun],
            response_model_exclude_unset=True)
def quality_runs(fqn: str, limit: int = Query(20, ge=1, le=500), mesh: Mesh = Depends(mesh_of),
                 user: str | None = Depends(principal_of)) -> Any:
    """The latest runs, newest first, with their rule results."""
    return page([r.to_dict() for r in mesh.quality.history(fqn, limit=limit, user=user)], 0, limit)


@router.get("/api/v1/products/{fqn}/profile", response_model=Profile)
def profile(fqn: str, columns: str | None = Query(None, description="comma-separated; default all"),
            top: int = Query(10, ge=0, le=100), record: bool = Query(False, description="store as metric points"),
            mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """Per-column statistics computed in the source; pii columns are withheld."""
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = mesh.quality.profile(fqn, columns=names, top=top, user=user)
    if record:
        mesh.quality.record_profile(result)
    return result.to_dict()


@router.get("/api/v1/alerts", response_model=Page[Alert])
def alerts(product: str | None = None,
           status: str | None = Query(None, description="open, acknowledged, resolved or active"),
           detector: str | None = None, offset: int = Query(0, ge=0, le=10**9), limit: int = Query(100, ge=1, le=1000),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    found, total = mesh.alerts.page(product=product, status=status, detector=detector, limit=limit, offset=offset,
                                    user=user)
    return page([a.to_dict() for a in found], offset, limit, total=total)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail)
def alert(alert_id: int = AlertId, mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """An alert with the outcome of delivering it to each webhook."""
    found = mesh.alerts.get(alert_id, user=user).to_dict()
    return {**found, "deliveries": [d.to_dict() for d in mesh.alerts.deliveries(alert_id, user=user)]}


@router.post("/api/v1/alerts/{alert_id}/ack", response_model=Alert)
def alert_ack(alert_id: int = AlertId, body: AlertNote | None = None, mesh: Mesh = Depends(mesh_of),
              user: str | None = Depends(principal_of)) -> Any:
    return mesh.alerts.ack(alert_id, note=body.note if body else "", user=user).to_dict()


@router.post("/api/v1/alerts/{alert_id}/silence", response_model=Alert)
def alert_silence(body: AlertSilence, alert_id: int = AlertId, mesh: Mesh = Depends(mesh_of),
                  user: str | None = Depends(principal_of)) -> Any:
    """Hold back the alert's notifications ``for`` a while or ``until`` a time; it keeps its status
    and still counts repeats (``alert.manage``: write on the product). A resolved alert cannot be
    silenced."""
    until = body.deadline(datetime.now(UTC))
    return mesh.alerts.silence(alert_id, until, note=body.note, user=user).to_dict()


@router.post("/api/v1/alerts/{alert_id}/resolve", response_model=Alert)
def alert_resolve(alert_id: int = AlertId, body: AlertNote | None = None, mesh: Mesh = Depends(mesh_of),
                  user: str | None = Depends(principal_of)) -> Any:
    return mesh.alerts.resolve(alert_id, note=body.note if body else "", user=user).to_dict()
