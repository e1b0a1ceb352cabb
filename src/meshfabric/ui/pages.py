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
import time
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
    MISSING,
    TimedCache,
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
    #: the health is still being computed: the page's script fetches this row from the server
    pending: bool = False

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

    def attention(self) -> float:
        """How much the domain needs attention (higher first): severe open alerts outweigh any
        number of others, which outweigh low SLO compliance, then a falling and a low quality
        score. Unknown health adds nothing. The overview sorts by it, in the server and, as
        pending rows arrive, in the page's script (``data-attention``)."""
        severe = sum(n for s, n in self.alerts.items() if _severity_key(s) <= 1)
        score = severe * 1e6 + min(sum(self.alerts.values()), 999) * 1e3
        if self.compliance is not None:
            score += (1 - self.compliance) * 100
        if self.trend == "decreasing":
            score += 20
        if self.quality is not None:
            score += (1 - min(1.0, self.quality)) * 10
        return score

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

#: how long a domain's health stays in the overview's cache (``/domains/{d}`` is always fresh)
HEALTH_SECONDS = 60.0
#: seconds of health the overview computes while the browser waits; the rest load row by row
OVERVIEW_BUDGET = 0.4


#: the first guess of the seconds one product's health takes, until one has been measured
FIRST_GUESS = 0.02


def _cached_health(request: Request, domain: str, products: int, days: int, user: str | None, *,
                   budget_left: float | None) -> Any:
    """The domain's health for the principal over ``days`` from the cache, else computed when it
    is expected to take at most ``budget_left`` seconds (None: whatever it takes), else
    :data:`MISSING`. The expectation is the measured seconds per product (a running mean kept in
    the cache) times the domain's products."""
    cache: TimedCache = request.app.state.ui_cache
    key = ("health", user, domain, days)
    found = cache.get(key)
    if found is not MISSING:
        return found
    per_product = cache.get(("health", "seconds per product"))
    per_product = FIRST_GUESS if per_product is MISSING else per_product
    if budget_left is not None and per_product * max(1, products) > budget_left:
        return MISSING
    start, end = _period(days)
    began = time.perf_counter()
    found = _domain_health(mesh_of(request), domain, start, end, user)
    took = (time.perf_counter() - began) / max(1, products)
    cache.put(("health", "seconds per product"), (per_product + took) / 2, 24 * 3600)
    cache.put(key, found, HEALTH_SECONDS)
    return found


def _cards(request: Request, days: int, user: str | None, *, domain: str | None = None,
           budget: float | None = None) -> list[DomainCard]:
    """The overview's domains (or one), each with its counts and, within ``budget`` seconds
    (None: whatever it takes), its health; a domain past the budget is ``pending``."""
    mesh = mesh_of(request)
    statuses: dict[str, Counter[str]] = {}
    for p in mesh.products(domain=domain, user=user):
        statuses.setdefault(p.domain, Counter())[p.status] += 1
    alerts = _open_alerts(mesh, user)
    domains = [d for d in mesh.domains(user=user) if domain is None or d.name == domain]
    # the busiest domains first, so the budget goes where attention is likely needed
    domains.sort(key=lambda d: -sum(alerts.get(d.name, Counter()).values()))
    deadline = None if budget is None else time.monotonic() + budget
    cards = []
    for d in domains:
        left = None if deadline is None else deadline - time.monotonic()
        health = _cached_health(request, d.name, d.products, days, user, budget_left=left)
        cards.append(DomainCard(d.name, list(d.owners), d.products, None if health is MISSING else health,
                                statuses.get(d.name, Counter()), alerts.get(d.name, Counter()),
                                pending=health is MISSING))
    cards.sort(key=lambda c: (-c.attention(), c.name))
    return cards


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, days: int = Days, user: str | None = Depends(current_user)) -> Response:
    """Every domain, the ones that need attention first. Health takes ~50 ms a product to compute
    (``mesh.observe.health``), so the page computes what fits in :data:`OVERVIEW_BUDGET`, caches
    it for :data:`HEALTH_SECONDS`, and its script fetches the other rows (``/overview/rows/{d}``)."""
    start, end = _period(days)
    cards = _cards(request, days, user, budget=OVERVIEW_BUDGET)
    return render(request, "overview.html", {"cards": cards, "days": days, "start": start, "end": end,
                                             "complete": not any(c.pending for c in cards)})


@router.get("/overview/rows/{domain}", response_class=HTMLResponse)
def overview_row(request: Request, domain: str = Path(..., max_length=200), days: int = Days,
                 user: str | None = Depends(current_user)) -> Response:
    """One row of the overview, its health computed (the overview's script asks for it)."""
    cards = _cards(request, days, user, domain=domain)
    if not cards:
        raise NotFound(f"domain '{domain}' does not exist", hint="the overview lists the domains you may see")
    response = render(request, "_domain_row.html", {"c": cards[0], "days": days})
    response.headers["X-Fragment"] = "overview-row"
    return response


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


async def _alert_note(request: Request, alert_id: int, user: str | None, done: str) -> Response:
    """Acknowledge or resolve (``done``) with the form's note, through the alerts service."""
    fields = await form_of(request)
    action = getattr(mesh_of(request).alerts, done)
    await run_in_threadpool(action, _alert_id(alert_id), note=fields.get("note", "")[:2000], user=user)
    return redirect(request, _back(fields, done, alert_id))


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
async def alert_ack(request: Request, alert_id: int, user: str | None = Depends(current_user)) -> Response:
    return await _alert_note(request, alert_id, user, "ack")


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
async def alert_resolve(request: Request, alert_id: int, user: str | None = Depends(current_user)) -> Response:
    return await _alert_note(request, alert_id, user, "resolve")


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
