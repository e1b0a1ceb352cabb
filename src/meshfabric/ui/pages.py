"""The UI's own pages: sign-in, the mesh overview, a domain, search and alerts (issue 14).

Every page takes the principal from :func:`~meshfabric.ui.web.current_user` and passes it as
``user=`` to the same services the API calls (``mesh.observe.health`` as
``GET /api/v1/domains/{domain}/health``, ``mesh.search`` as ``/api/v1/search``, ``mesh.alerts`` as
``/api/v1/alerts``), so a page shows what the access layer lets that principal see and the same
numbers. Charts are SVG drawn here (:mod:`meshfabric.ui.charts`), their numbers in ``data-*``.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from meshfabric.errors import ConfigError, NotFound
from meshfabric.ui import charts
from meshfabric.ui.web import (
    auth_enabled,
    current_user,
    end_session,
    form_of,
    mesh_of,
    redirect,
    render,
    safe_next,
    start_session,
    url,
)

if TYPE_CHECKING:
    from meshfabric.mesh import Mesh

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, ended: str | None = None) -> Response:
    if not auth_enabled(request):
        return redirect(request, safe_next(next))
    message = "your session ended; sign in again" if ended else ""
    return render(request, "login.html", {"next": safe_next(next), "message": message})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    fields = await form_of(request)
    target = safe_next(fields.get("next"))
    if not auth_enabled(request):
        return redirect(request, target)
    from meshfabric.auth import AuthenticationFailed

    credential = fields.get("credential", "").strip()
    if not credential:
        return render(request, "login.html", {"next": target, "message": "enter an API key or a token"},
                      status_code=400)
    if len(credential) > 8192 or any(c.isspace() for c in credential):
        return render(request, "login.html", {"next": target, "message": "that is not an API key or a token"},
                      status_code=401)
    service = request.app.state.auth
    try:
        name: str = await run_in_threadpool(service.authenticate, f"Bearer {credential}")
    except AuthenticationFailed as exc:
        return render(request, "login.html", {"next": target, "message": exc.message}, status_code=401)
    start_session(request, name, credential)
    return redirect(request, target)


@router.get("/logout", response_class=HTMLResponse)
def logout_form(request: Request) -> Response:
    return render(request, "logout.html", {"signed_out": False})


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request) -> Response:
    end_session(request)
    return redirect(request, "/login" if auth_enabled(request) else "/")


# -- shared ----------------------------------------------------------------------------------------

#: the period a page looks back over unless ``?days=`` says otherwise
DEFAULT_DAYS = 30
Days = Query(DEFAULT_DAYS, ge=1, le=366, description="days to look back")
#: alert severities, worst first (the monitor raises medium and high; others sort after)
SEVERITIES = ("critical", "high", "medium", "low")


def _period(days: int) -> tuple[datetime, datetime]:
    until = datetime.now(UTC).replace(microsecond=0)
    return until - timedelta(days=days), until


def _open_alerts(mesh: Mesh, user: str | None) -> dict[str, Counter[str]]:
    """domain → open alerts by severity, over the alerts the principal may see (one page of the
    alert service: at most 1000 open alerts are counted)."""
    found, _ = mesh.alerts.page(status="open", limit=1000, user=user)
    out: dict[str, Counter[str]] = {}
    for alert in found:
        out.setdefault(alert.product.split(".", 1)[0], Counter())[alert.severity] += 1
    return out


def _severity_key(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass
class DomainCard:
    """One domain of the overview: its health from ``mesh.observe.health`` and its counts."""

    name: str
    owners: list[str]
    products: int
    health: dict[str, Any] | None
    statuses: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)

    @property
    def compliance(self) -> float | None:
        return None if self.health is None else self.health["slo_compliance"]["overall_compliance"]

    @property
    def quality(self) -> float | None:
        scores = [] if self.health is None else self.health["quality_trends"]["scores"]
        return scores[-1] if scores else None

    @property
    def trend(self) -> str | None:
        return None if self.health is None or not self.health["quality_trends"]["scores"] \
            else self.health["quality_trends"]["trend"]

    @property
    def severities(self) -> list[tuple[str, int]]:
        return sorted(self.alerts.items(), key=lambda item: _severity_key(item[0]))

    def attention(self) -> tuple[Any, ...]:
        """Sort key, most in need first: severe open alerts, then low SLO compliance, then a low or
        falling quality score; a domain without data after those with data."""
        severe = sum(n for s, n in self.alerts.items() if _severity_key(s) <= 1)
        return (-severe, -sum(self.alerts.values()),
                self.compliance if self.compliance is not None else 2.0,
                0 if self.trend == "decreasing" else 1,
                self.quality if self.quality is not None else 2.0, self.name)

    @property
    def reasons(self) -> list[str]:
        out = []
        severe = sum(n for s, n in self.alerts.items() if _severity_key(s) <= 1)
        if severe:
            out.append(f"{severe} severe open alert{'s' if severe > 1 else ''}")
        if self.compliance is not None and self.compliance < 0.99:
            out.append("SLO compliance below 99%")
        if self.trend == "decreasing":
            out.append("quality falling")
        return out


def _domain_health(mesh: Mesh, domain: str, start: datetime, end: datetime, user: str | None) -> dict[str, Any] | None:
    """``mesh.observe.health`` — what ``GET /api/v1/domains/{domain}/health`` answers — or None
    when the principal sees none of the domain's products that carry health."""
    try:
        return mesh.observe.health(domain, since=start, until=end, user=user)
    except NotFound:
        return None


# -- the mesh overview -----------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def overview(request: Request, days: int = Days, user: str | None = Depends(current_user)) -> Response:
    mesh = mesh_of(request)
    start, end = _period(days)
    statuses: dict[str, Counter[str]] = {}
    for p in mesh.products(user=user):
        statuses.setdefault(p.domain, Counter())[p.status] += 1
    alerts = _open_alerts(mesh, user)
    cards = [DomainCard(d.name, list(d.owners), d.products, _domain_health(mesh, d.name, start, end, user),
                        statuses.get(d.name, Counter()), alerts.get(d.name, Counter()))
             for d in mesh.domains(user=user)]
    cards.sort(key=DomainCard.attention)
    return render(request, "overview.html", {"cards": cards, "days": days, "start": start, "end": end})


# -- a domain --------------------------------------------------------------------------------------

@router.get("/domains/{domain}", response_class=HTMLResponse)
def domain_page(request: Request, domain: str = Path(..., max_length=200), days: int = Days,
                user: str | None = Depends(current_user)) -> Response:
    mesh = mesh_of(request)
    start, end = _period(days)
    found = [d for d in mesh.domains(user=user) if d.name == domain]
    if not found:
        raise NotFound(f"domain '{domain}' does not exist", hint="the overview lists the domains you may see")
    health = _domain_health(mesh, domain, start, end, user)
    products = mesh.products(domain=domain, user=user)
    slos = {s.product: s for s in mesh.observe.status(domain=domain, user=user)}
    contracts = mesh.contracts.list(user=user)
    consumers = sorted({c.consumer for c in contracts if c.product.split(".", 1)[0] == domain})
    consumes = sorted({c.product for c in contracts if c.consumer == domain})
    alerts = _open_alerts(mesh, user).get(domain, Counter())
    usage_labels = [f"{h:02d}" for h in range(24)]
    return render(request, "domain.html", {
        "domain": found[0], "health": health, "products": products, "slos": slos, "consumers": consumers,
        "consumes": consumes, "alerts": sorted(alerts.items(), key=lambda i: _severity_key(i[0])),
        "days": days, "start": start, "end": end, "usage_labels": usage_labels, "charts": charts,
    })


# -- search ----------------------------------------------------------------------------------------

def _marked(snippet: str) -> Markup:
    """A search snippet (HTML-escaped, matches in ``<mark>``) rebuilt so only ``<mark>`` survives,
    whatever the snippet holds.

    >>> str(_marked("a &lt;b&gt; <mark>c</mark><script>"))
    'a &lt;b&gt; <mark>c</mark>&lt;script&gt;'
    """
    out = []
    for i, part in enumerate(re.split(r"</?mark>", snippet)):
        text = escape(html.unescape(part))
        out.append(Markup("<mark>{}</mark>").format(text) if i % 2 else text)
    return Markup("").join(out)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = Query("", max_length=500), domain: str | None = Query(None, max_length=200),
                status: str | None = Query(None, max_length=64), tag: str | None = Query(None, max_length=200),
                offset: int = Query(0, ge=0, le=10_000), user: str | None = Depends(current_user)) -> Response:
    mesh = mesh_of(request)
    limit = 20
    results = mesh.search(q, user=user, domain=domain or None, status=status or None, tag=tag or None,
                          limit=limit, offset=offset)
    found = results.to_dict()
    facets: dict[str, Counter[str]] = {"domain": Counter(), "status": Counter(), "tag": Counter()}
    for hit in found["items"]:
        facets["domain"][hit["domain"]] += 1
        facets["status"][hit["status"]] += 1
        for t in hit["tags"]:
            facets["tag"][t] += 1
    corrected = " ".join(found["corrections"].get(w, w) for w in q.split()) if found["corrections"] else ""
    return render(request, "search.html", {
        "q": q, "found": found, "filters": {"domain": domain, "status": status, "tag": tag}, "facets": facets,
        "corrected": corrected, "offset": offset, "limit": limit, "marked": _marked,
    })


# -- alerts ----------------------------------------------------------------------------------------

ALERT_STATUSES = ("active", "open", "acknowledged", "resolved")
DONE = {"ack": "acknowledged", "silence": "silenced", "resolve": "resolved"}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, status: str = Query("active", max_length=32),
                product: str | None = Query(None, max_length=300), offset: int = Query(0, ge=0, le=10**9),
                done: str | None = Query(None, max_length=16), alert: int | None = Query(None, ge=1, le=2**62),
                user: str | None = Depends(current_user)) -> Response:
    if status not in ALERT_STATUSES:
        raise ConfigError(f"no alert status '{status}'", hint="one of " + ", ".join(ALERT_STATUSES))
    mesh = mesh_of(request)
    limit = 50
    found, total = mesh.alerts.page(status=status, product=product or None, limit=limit, offset=offset, user=user)
    notice = f"alert {alert} {DONE[done]}" if done in DONE and alert is not None else ""
    return render(request, "alerts.html", {
        "alerts": found, "total": total, "status": status, "product": product or "", "offset": offset,
        "limit": limit, "statuses": ALERT_STATUSES, "notice": notice,
    })


def _alert_id(alert_id: int) -> int:
    if not 1 <= alert_id <= 2**62:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert_id


def _back(fields: dict[str, str], done: str, alert_id: int) -> str:
    status = fields.get("status") if fields.get("status") in ALERT_STATUSES else None
    return url("/alerts", status=status, product=fields.get("product") or None, done=done, alert=alert_id)


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
async def alert_ack(request: Request, alert_id: int, user: str | None = Depends(current_user)) -> Response:
    fields = await form_of(request)
    mesh = mesh_of(request)
    await run_in_threadpool(mesh.alerts.ack, _alert_id(alert_id), note=fields.get("note", "")[:2000], user=user)
    return redirect(request, _back(fields, "ack", alert_id))


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
async def alert_resolve(request: Request, alert_id: int, user: str | None = Depends(current_user)) -> Response:
    fields = await form_of(request)
    mesh = mesh_of(request)
    await run_in_threadpool(mesh.alerts.resolve, _alert_id(alert_id), note=fields.get("note", "")[:2000], user=user)
    return redirect(request, _back(fields, "resolve", alert_id))


@router.post("/alerts/{alert_id}/silence", response_class=HTMLResponse)
async def alert_silence(request: Request, alert_id: int, user: str | None = Depends(current_user)) -> Response:
    """Silence for a duration (``for``: 30m, 2h, 1d…, read by the same ``duration_seconds`` as
    ``POST /api/v1/alerts/{id}/silence``); ``0s`` lifts a silence."""
    from meshfabric.spec.models import duration_seconds

    fields = await form_of(request)
    note = fields.get("note", "")[:2000]
    given = fields.get("for", "").strip()
    try:
        until = datetime.now(UTC) + timedelta(seconds=duration_seconds(given[:32]))
    except (ValueError, OverflowError):
        raise ConfigError(f"cannot silence for '{given[:32]}': give a duration such as 30m, 2h or 1d") from None
    mesh = mesh_of(request)
    await run_in_threadpool(mesh.alerts.silence, _alert_id(alert_id), until, note=note, user=user)
    return redirect(request, _back(fields, "silence", alert_id))
