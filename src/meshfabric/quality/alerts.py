"""Alerts: reading, acknowledging and resolving them, and delivering them to webhooks.

An alert is a row (``AlertRow``) opened by the monitor when a detector flags a point of a
series, or by the SLO evaluation (:mod:`meshfabric.observe.alerting`). Its life: ``open`` →
``acknowledged`` (someone is on it; repeats still count) → ``resolved`` (by a person, or by the
monitor once the series has been normal for a while). Either active status may be *silenced
until* a time: no notification goes out before it, the alert otherwise lives on. While
an alert is open or acknowledged, further firings of the same detector on the same series add
to it (``occurrences``) instead of opening another: one incident, one alert.

Delivery is at most a few HTTP POSTs per alert and webhook, made *after* the alert is committed,
so an unreachable endpoint can delay a notification but never lose the alert. Each (alert,
webhook) pair is one ``AlertDeliveryRow`` recording the outcome of its attempt series: status,
attempts, the last HTTP status and error. Connection errors, timeouts, 408, 429 and 5xx are
retried with exponential backoff; other 4xx are not (the request itself is wrong); redirects are
not followed (a POST silently turned into a GET would be reported as delivered).
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshfabric.errors import ConfigError, MeshfabricError, NotFound
from meshfabric.store.models import AlertDeliveryRow, AlertRow, utcnow

if TYPE_CHECKING:
    from meshfabric.access.decision import Decision
    from meshfabric.access.service import AccessService
    from meshfabric.config import Settings
    from meshfabric.events import EventLog
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.alerts")

Status = Literal["open", "acknowledged", "resolved"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved")
#: statuses under which a new firing joins the existing alert
ACTIVE: tuple[Status, ...] = ("open", "acknowledged")
_USER_AGENT = "meshfabric-alerts/1"


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def split_series(series: str) -> tuple[str, str, str]:
    """``(product, metric, column)`` of a series name ``{product}/{metric}/{column}``.

    >>> split_series("sales.orders/completeness/customer_id")
    ('sales.orders', 'completeness', 'customer_id')
    """
    parts = series.split("/", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class AlertInfo:
    """An alert as the SDK, CLI and webhooks see it."""

    id: int
    series: str
    product: str
    detector: str
    severity: str
    value: float | None
    expected: float | None
    score: float | None
    message: str
    status: str
    occurrences: int
    #: timestamp of the point that fired last
    ts: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str = ""
    #: no notification is sent before this time (None: not silenced)
    silenced_until: datetime | None = None

    def silenced(self, at: datetime | None = None) -> bool:
        """Whether notifications of this alert are held back at ``at`` (default now)."""
        return self.silenced_until is not None and (at or utcnow()) < self.silenced_until

    @property
    def metric(self) -> str:
        return split_series(self.series)[1]

    @property
    def column(self) -> str:
        return split_series(self.series)[2]

    @property
    def domain(self) -> str | None:
        return self.product.split(".", 1)[0] if "." in self.product else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(metric=self.metric, column=self.column)
        for key in ("ts", "created_at", "updated_at", "acknowledged_at", "resolved_at", "silenced_until"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value is not None else None
        return out


def alert_info(row: AlertRow) -> AlertInfo:
    return AlertInfo(
        int(row.id), row.series, row.product, row.detector, row.severity, row.value, row.expected, row.score,
        row.message, row.status, int(row.occurrences), _utc(row.ts) or utcnow(), _utc(row.created_at) or utcnow(),
        _utc(row.updated_at) or utcnow(), row.acknowledged_by, _utc(row.acknowledged_at), row.resolved_by,
        _utc(row.resolved_at), row.note or "", _utc(row.silenced_until),
    )


@dataclass(frozen=True)
class DeliveryInfo:
    """The outcome of delivering one alert to one webhook (all attempts together)."""

    id: int | None
    alert_id: int
    target: str
    status: str
    attempts: int
    http_status: int | None
    error: str
    created_at: datetime
    #: webhook | slack | email
    channel: str = "webhook"
    #: each attempt: at, status, http_status (webhooks), error — recorded by the SLO alert routes
    attempt_log: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        return out


def _delivery_info(row: AlertDeliveryRow) -> DeliveryInfo:
    return DeliveryInfo(int(row.id), int(row.alert_id), row.target, row.status, int(row.attempts), row.http_status,
                        row.error, _utc(row.created_at) or utcnow(), row.channel or "webhook",
                        list(row.attempt_log) if row.attempt_log is not None else None)


# ---------------------------------------------------------------------------------------------
# Reading and changing alerts


def _alert_query(stmt: Any, *, product: str | None, status: str | None, series: str | None,
                 detector: str | None, products: Collection[str] | None) -> Any:
    if status is not None:
        if status == "active":
            stmt = stmt.where(AlertRow.status.in_(ACTIVE))
        elif status in STATUSES:
            stmt = stmt.where(AlertRow.status == status)
        else:
            raise ConfigError(f"unknown alert status '{status}'", hint="use open, acknowledged, resolved or active")
    if product is not None:
        stmt = stmt.where(AlertRow.product == product)
    if products is not None:
        stmt = stmt.where(AlertRow.product.in_(sorted(products)))
    if series is not None:
        stmt = stmt.where(AlertRow.series == series)
    if detector is not None:
        stmt = stmt.where(AlertRow.detector == detector)
    return stmt


def list_alerts(
    store: Store,
    *,
    product: str | None = None,
    status: str | None = None,
    series: str | None = None,
    detector: str | None = None,
    limit: int = 100,
    offset: int = 0,
    products: Collection[str] | None = None,
) -> list[AlertInfo]:
    """Alerts, most recently updated first. ``status`` may also be ``active`` (open or acknowledged);
    ``products`` keeps only alerts of those products."""
    query = _alert_query(select(AlertRow), product=product, status=status, series=series, detector=detector,
                         products=products)
    query = query.order_by(AlertRow.updated_at.desc(), AlertRow.id.desc()).limit(max(1, limit)).offset(offset)
    with store.read() as s:
        return [alert_info(r) for r in s.scalars(query)]


def count_alerts(store: Store, *, product: str | None = None, status: str | None = None, series: str | None = None,
                 detector: str | None = None, products: Collection[str] | None = None) -> int:
    from sqlalchemy import func

    query = _alert_query(select(func.count()).select_from(AlertRow), product=product, status=status, series=series,
                         detector=detector, products=products)
    with store.read() as s:
        return int(s.scalar(query) or 0)


def _row(session: Session, alert_id: int) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist", hint="list alerts with `meshfabric alerts list`")
    return row


def get_alert(store: Store, alert_id: int) -> AlertInfo:
    with store.read() as s:
        return alert_info(_row(s, alert_id))


def deliveries(store: Store, alert_id: int) -> list[DeliveryInfo]:
    """Every delivery of an alert, oldest first."""
    with store.read() as s:
        _row(s, alert_id)
        rows = s.scalars(select(AlertDeliveryRow).where(AlertDeliveryRow.alert_id == alert_id)
                         .order_by(AlertDeliveryRow.id))
        return [_delivery_info(r) for r in rows]


def _transition(store: Store, alert_id: int, to: Status, event_type: str, note: str, by: str | None) -> AlertInfo:
    from meshfabric.events import DomainEvent, append

    with store.write() as s:
        row = _row(s, alert_id)
        if row.status == to:
            return alert_info(row)  # idempotent: asking twice is not an error and emits nothing new
        if row.status == "resolved":
            raise MeshfabricError(
                f"alert {alert_id} is resolved and cannot be {to}",
                hint="a new firing of its detector opens a new alert",
            )
        previous = row.status
        row.status = to
        row.updated_at = now = utcnow()
        if to == "acknowledged":
            row.acknowledged_by, row.acknowledged_at = by, now
        else:
            row.resolved_by, row.resolved_at = by, now
        if note:
            row.note = note
        s.flush()
        info = alert_info(row)
        append(s, DomainEvent(event_type, info.domain, {
            "alert_id": info.id, "series": info.series, "product": info.product, "detector": info.detector,
            "previous_status": previous, "status": to, "note": note, "by": by,
        }))
        return info


def silence(store: Store, alert_id: int, until: datetime, *, note: str = "", by: str | None = None) -> AlertInfo:
    """Hold back notifications of an alert until ``until`` (a time in the past lifts the
    silence). The alert keeps its status and still counts repeats and resolves; a resolved alert
    cannot be silenced. Emits ``quality.alert_silenced``."""
    from meshfabric.events import DomainEvent, append

    until = _utc(until) or utcnow()
    with store.write() as s:
        row = _row(s, alert_id)
        if row.status == "resolved":
            raise MeshfabricError(f"alert {alert_id} is resolved and cannot be silenced",
                                  hint="a new firing of its rule opens a new alert")
        row.silenced_until = until
        row.updated_at = utcnow()
        if note:
            row.note = note
        s.flush()
        info = alert_info(row)
        append(s, DomainEvent("quality.alert_silenced", info.domain, {
            "alert_id": info.id, "series": info.series, "product": info.product, "detector": info.detector,
            "status": info.status, "silenced_until": until.isoformat(), "note": note, "by": by,
        }))
        return info


def acknowledge(store: Store, alert_id: int, *, note: str = "", by: str | None = None) -> AlertInfo:
    """Mark an alert as being handled by ``by``; later firings still add to it. Emits
    ``quality.alert_acknowledged``."""
    return _transition(store, alert_id, "acknowledged", "quality.alert_acknowledged", note, by)


def resolve(store: Store, alert_id: int, *, note: str = "", by: str | None = None) -> AlertInfo:
    """Close an alert (``by`` a principal); the next firing of its detector opens a new one.
    Emits ``quality.alert_resolved``."""
    return _transition(store, alert_id, "resolved", "quality.alert_resolved", note, by)


# ---------------------------------------------------------------------------------------------
# Webhooks


@dataclass(frozen=True)
class Webhook:
    """Where to POST alerts. ``url`` and header values may hold ``${ENV}`` references; they are
    resolved at each delivery, and only the text as written is ever stored."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5
    #: deliver only alerts at least this severe
    min_severity: str = "medium"

    @property
    def target(self) -> str:
        """The URL as written, with any literal ``user:password@`` masked: what delivery rows keep."""
        return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1***@", self.url)


def _resolve(text: str, where: str) -> str:
    from meshfabric.spec.loader import resolve_env

    return resolve_env(text, where=where)


def payload(alert: AlertInfo, reason: str) -> dict[str, Any]:
    """The JSON body POSTed to a webhook: what happened (``opened``, ``escalated``, ``redelivered``) and the alert."""
    return {"type": "meshfabric.alert", "reason": reason, "alert": alert.to_dict()}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
_RETRY_STATUS = {408, 429}


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def post(webhook: Webhook, body: dict[str, Any], *, sleep: Any = time.sleep) -> tuple[str, int, int | None, str]:
    """POST ``body`` with retries. Returns (status, attempts, last HTTP status, last error).

    Never raises for delivery problems: an unset ``${ENV}`` reference, a bad URL or a dead
    endpoint are all recorded as a failed delivery.
    """
    try:
        url = _resolve(webhook.url, "webhook url")
        headers = {k: _resolve(v, f"webhook header '{k}'") for k, v in webhook.headers.items()}
    except ConfigError as exc:
        return "failed", 0, None, exc.message
    secrets = [v for v in headers.values()] + ([url] if url != webhook.url else [])
    if not url.lower().startswith(("http://", "https://")):
        return "failed", 0, None, "only http:// and https:// webhook URLs are delivered to"
    data = json.dumps(body, default=str).encode("utf-8")
    request_headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT, **headers}
    status_code: int | None = None
    error = ""
    attempts = 0
    for attempt in range(max(1, webhook.attempts)):
        attempts = attempt + 1
        request = urllib.request.Request(url, data=data, headers=request_headers, method="POST")
        retry = True
        try:
            with _OPENER.open(request, timeout=webhook.timeout) as response:
                status_code = int(response.status)
                response.read(65536)
            return "delivered", attempts, status_code, ""
        except urllib.error.HTTPError as exc:
            status_code = int(exc.code)
            error = f"HTTP {exc.code} {exc.reason}"
            retry = exc.code >= 500 or exc.code in _RETRY_STATUS
        except OSError as exc:  # URLError, timeouts, refused or reset connections
            status_code = None
            reason = getattr(exc, "reason", exc)
            error = f"{type(reason).__name__}: {reason}"
        except ValueError as exc:  # a URL urllib cannot parse
            status_code, error, retry = None, f"invalid URL: {exc}", False
        if not retry or attempt + 1 >= webhook.attempts:
            break
        sleep(webhook.backoff * (2**attempt))
    return "failed", attempts, status_code, _redact(error, secrets)[:2000]


#: every severity an alert may have, lowest first: the detectors raise medium and high, the SLO
#: rules (meshfabric.observe.alerting) also critical
SEVERITY_ORDER: tuple[str, ...] = ("low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Order of severities (unknown ones rank lowest), for webhook filters."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else -1


def deliver(
    store: Store, alerts: Sequence[tuple[AlertInfo, str]], webhooks: Sequence[Webhook]
) -> list[DeliveryInfo]:
    """Send each (alert, reason) to every webhook whose ``min_severity`` it reaches, concurrently,
    then record one delivery row per pair. Returns what was recorded."""
    now = utcnow()
    pairs = [(a, reason, w) for a, reason in alerts for w in webhooks
             if severity_rank(a.severity) >= severity_rank(w.min_severity)
             and (reason == "redelivered" or not a.silenced(now))]
    if not pairs:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(pairs)), thread_name_prefix="meshfabric-webhook") as pool:
        outcomes = list(pool.map(lambda p: post(p[2], payload(p[0], p[1])), pairs))
    rows = [
        AlertDeliveryRow(alert_id=a.id, target=w.target[:1024], status=status, attempts=attempts,
                         http_status=http_status, error=error)
        for (a, _, w), (status, attempts, http_status, error) in zip(pairs, outcomes, strict=True)
    ]
    for row in rows:
        if row.status != "delivered":
            log.warning("alert %s: delivery to %s failed after %d attempts: %s",
                        row.alert_id, row.target, row.attempts, row.error)
    with store.write() as s:
        s.add_all(rows)
        s.flush()
        return [_delivery_info(r) for r in rows]


class AlertService:
    """The SDK's view of alerts (``mesh.alerts``), each call as the acting principal: an alert
    exists for a principal that may discover its product; its values (``value``, ``expected``,
    ``score`` and the message that quotes them) only for one that could read them through a
    query (:func:`redact_alert`); acknowledging and resolving need ``write`` on the product."""

    def __init__(self, store: Store, access: AccessService, events: EventLog, settings: Settings) -> None:
        self.store = store
        self.access = access
        self.events = events
        self.settings = settings

    def list(self, *, product: str | None = None, status: str | None = None, series: str | None = None,
             detector: str | None = None, limit: int = 100, offset: int = 0,
             user: str | None = None) -> builtins.list[AlertInfo]:
        """Alerts of the products ``user`` may discover, most recently updated first."""
        return self.page(product=product, status=status, series=series, detector=detector, limit=limit,
                         offset=offset, user=user)[0]

    def page(self, *, product: str | None = None, status: str | None = None, series: str | None = None,
             detector: str | None = None, limit: int = 100, offset: int = 0,
             user: str | None = None) -> tuple[builtins.list[AlertInfo], int]:
        """A page of :meth:`list` and how many alerts match in all; the principal's products are
        selected in the store, so pages and totals count only what it may see."""
        if product is not None:
            try:
                product = self.access.decide(user, "quality.read", product).product
            except NotFound:
                if self.access.visible_products(user) is not None:
                    raise
                # alerts outlive a product removed from the catalog: an admin still finds them
        visible = self.access.visible_products(user)
        where = {"product": product, "status": status, "series": series, "detector": detector, "products": visible}
        found = list_alerts(self.store, limit=limit, offset=offset, **where)
        decisions: dict[str, Decision] = {}
        out = []
        for alert in found:
            if visible is not None and alert.product not in decisions:
                decisions[alert.product] = self.access.decide(user, "quality.read", alert.product, audit=False)
            out.append(redact_alert(alert, decisions.get(alert.product)))
        return out, count_alerts(self.store, **where)

    def _decided(self, alert_id: int, user: str | None, action: str) -> tuple[AlertInfo, Decision | None]:
        info = get_alert(self.store, alert_id)
        try:
            decision = self.access.decide(user, action, info.product)
        except NotFound:
            if self.access.visible_products(user) is None and action == "quality.read":
                return info, None  # a removed product's alert, asked for by an admin
            raise NotFound(f"alert {alert_id} does not exist",
                           hint="list alerts with `meshfabric alerts list`") from None
        return info, decision

    def get(self, alert_id: int, *, user: str | None = None) -> AlertInfo:
        info, decision = self._decided(alert_id, user, "quality.read")
        return redact_alert(info, decision)

    def _after(self, info: AlertInfo) -> AlertInfo:
        if self.events.subscriptions:
            self.events.deliver()
        return info

    def ack(self, alert_id: int, *, note: str = "", user: str | None = None) -> AlertInfo:
        """Acknowledge (``alert.manage``: write on the product); recorded as done by ``user``."""
        _, decision = self._decided(alert_id, user, "alert.manage")
        by = decision.principal.name if decision is not None else self.access.local_name
        return redact_alert(self._after(acknowledge(self.store, alert_id, note=note, by=by)), decision)

    def resolve(self, alert_id: int, *, note: str = "", user: str | None = None) -> AlertInfo:
        """Resolve (``alert.manage``: write on the product); recorded as done by ``user``."""
        _, decision = self._decided(alert_id, user, "alert.manage")
        by = decision.principal.name if decision is not None else self.access.local_name
        return redact_alert(self._after(resolve(self.store, alert_id, note=note, by=by)), decision)

    def silence(self, alert_id: int, until: datetime, *, note: str = "",
                user: str | None = None) -> AlertInfo:
        """Hold back the alert's notifications until ``until`` (``alert.manage``: write on the
        product); recorded as done by ``user``."""
        _, decision = self._decided(alert_id, user, "alert.manage")
        by = decision.principal.name if decision is not None else self.access.local_name
        return redact_alert(self._after(silence(self.store, alert_id, until, note=note, by=by)), decision)

    def deliveries(self, alert_id: int, *, user: str | None = None) -> builtins.list[DeliveryInfo]:
        self._decided(alert_id, user, "quality.read")
        return deliveries(self.store, alert_id)

    def deliver(self, alert_id: int, *, user: str | None = None) -> builtins.list[DeliveryInfo]:
        """Send an alert again to the configured webhooks (after an endpoint was down)."""
        from meshfabric.quality.monitor import MonitorConfig, config_for

        info, _ = self._decided(alert_id, user, "alert.manage")
        spec = self.settings.spec
        config = MonitorConfig.from_spec(spec.alerts) if spec is not None else config_for(self.store)
        if not config.webhooks:
            raise ConfigError("no webhooks are configured", hint="add alerts: webhooks: [...] to mesh.yaml")
        return deliver(self.store, [(info, "redelivered")], config.webhooks)


#: whole-table series that count rows and read no column's values
_TABLE_METRICS = frozenset({"row_count"})


def redact_alert(alert: AlertInfo, decision: Decision | None) -> AlertInfo:
    """``alert`` as the principal of ``decision`` may see it (None: unrestricted): the values
    and the message that quotes them only when it may read the series' columns unmasked and
    unfiltered (``*``, the whole table: no column values, only a row filter hides them)."""
    if decision is None:
        return alert
    column = alert.column
    columns: list[str] | None = [] if column in ("", "*") else column.split(",")
    if column in ("", "*") and alert.metric.split(".")[0] not in _TABLE_METRICS:
        # a series over the whole table that is not a row count (a custom SQL metric — named as
        # its rule or by its ``metric:`` —, a score) may be measured over any column
        columns = None
    if decision.sees_values(columns):
        return alert
    return replace(alert, value=None, expected=None, score=None,
                   message=f"{alert.detector} flagged {alert.metric} of {alert.product} (values withheld)")
