"""SLO alerts: raised, deduplicated and resolved as ``alerts`` rows, routed to webhooks and e-mail.

Two kinds of rules, per product and objective:

* **threshold** (the seed's rules) on the newest point: freshness above ``max_minutes``
  (default 120) → ``high``; a quality score below ``min_score`` (default 0.95) → ``medium``;
* **burn** (:data:`meshfabric.observe.slo.BURN_RULES`): ``page`` (1 h and 5 min above 14.4×) →
  ``critical``; ``ticket`` (6 h and 30 min above 6×) → ``high``.

Each (product, objective, rule) has at most one active alert (``dedup_key``
``slo|<product>|<objective>|<rule>``): a rule that keeps firing adds to it (``occurrences``,
value, severity only rises); a rule checked and no longer firing resolves it (``resolved_by``
None: the evaluation, not a person). Opening, escalating and resolving append ``slo.alert`` /
``slo.alert_resolved`` events in the same transaction.

**Routing** (``observability.routes`` in mesh.yaml): after the transaction commits, every
opened, escalated or resolved alert goes to each route whose ``domains`` (empty: all) hold its
product's domain and whose ``min_severity`` it reaches — unless the alert is silenced. A route
POSTs JSON (:func:`meshfabric.quality.alerts.payload`) or Slack's ``{"text": …}`` to its
webhook and mails its ``email`` recipients through ``observability.smtp``. Each target is tried
up to ``attempts`` times with exponential backoff (webhooks: connection errors, 408, 429, 5xx;
SMTP: connection errors and 4xx replies); one ``alert_deliveries`` row per (alert, target)
records the outcome with every attempt in ``attempt_log``.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from meshfabric.quality.alerts import (
    ACTIVE,
    AlertInfo,
    DeliveryInfo,
    Webhook,
    _delivery_info,
    alert_info,
    payload,
    severity_rank,
)
from meshfabric.quality.alerts import post as post_webhook
from meshfabric.store.models import AlertDeliveryRow, AlertRow, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from meshfabric.spec.observe_models import AlertRouteSpec, ObservabilitySpec, SmtpSpec
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.observe.alerts")

def dedup_key(product: str, objective: str, rule: str) -> str:
    return f"slo|{product}|{objective}|{rule}"[:512]


@dataclass(frozen=True)
class Breach:
    """A rule firing for an objective of a product now."""

    product: str
    objective: str
    #: threshold | page | ticket
    rule: str
    severity: str
    message: str
    series: str
    value: float | None = None
    expected: float | None = None

    @property
    def detector(self) -> str:
        return "slo.threshold" if self.rule == "threshold" else f"slo.burn.{self.rule}"


def sync(session: Session, product: str, checked: Sequence[tuple[str, str]], breaches: Sequence[Breach],
         at: datetime) -> list[tuple[AlertInfo, str]]:
    """Open, update or resolve the product's SLO alerts: ``checked`` lists the (objective, rule)
    pairs judged now, ``breaches`` those that fire. Returns (alert, reason) to notify:
    ``opened``, ``escalated`` or ``resolved``."""
    from meshfabric.events import DomainEvent, append

    active = {row.dedup_key: row for row in session.scalars(
        select(AlertRow).where(AlertRow.product == product, AlertRow.dedup_key.like(f"slo|{product}|%"),
                               AlertRow.status.in_(ACTIVE)).order_by(AlertRow.id))}
    firing = {dedup_key(b.product, b.objective, b.rule): b for b in breaches}
    out: list[tuple[AlertInfo, str]] = []
    now = utcnow()
    domain = product.split(".", 1)[0]
    for key, b in firing.items():
        row = active.get(key)
        if row is None:
            row = AlertRow(series=b.series[:512], product=product, detector=b.detector, severity=b.severity,
                           value=b.value, expected=b.expected, score=None, message=b.message, status="open",
                           dedup_key=key, occurrences=1, ts=at, created_at=now, updated_at=now)
            session.add(row)
            reason = "opened"
        else:
            escalated = severity_rank(b.severity) > severity_rank(row.severity)
            row.occurrences = int(row.occurrences) + 1
            row.value, row.expected, row.message, row.ts, row.updated_at = b.value, b.expected, b.message, at, now
            if escalated:
                row.severity = b.severity
            reason = "escalated" if escalated else "repeated"
        session.flush()
        info = alert_info(row)
        if reason != "repeated":
            data = info.to_dict()
            data["alert_id"] = data.pop("id")
            append(session, DomainEvent("slo.alert", domain, {**data, "reason": reason, "objective": b.objective,
                                                              "rule": b.rule}))
            out.append((info, reason))
    for objective, rule in checked:
        key = dedup_key(product, objective, rule)
        row = active.get(key)
        if row is None or key in firing:
            continue
        previous = row.status
        row.status = "resolved"
        row.updated_at = row.resolved_at = now
        row.resolved_by = None
        session.flush()
        info = alert_info(row)
        append(session, DomainEvent("slo.alert_resolved", domain, {
            "alert_id": info.id, "product": product, "objective": objective, "rule": rule, "series": info.series,
            "previous_status": previous, "status": "resolved", "auto": True,
        }))
        out.append((info, "resolved"))
    return out


# ---------------------------------------------------------------------------------------------
# Routing


def matches(route: AlertRouteSpec, alert: AlertInfo) -> bool:
    domain = alert.domain or ""
    if route.domains and domain not in route.domains:
        return False
    return severity_rank(alert.severity) >= severity_rank(route.min_severity)


def slack_text(alert: AlertInfo, reason: str) -> str:
    state = "resolved" if reason == "resolved" else alert.severity.upper()
    return f"[{state}] {alert.product}: {alert.message} (alert {alert.id}, {alert.detector}, {reason})"


def _attempt(status: str, error: str, http_status: int | None = None) -> dict[str, Any]:
    return {"at": datetime.now(UTC).isoformat(), "status": status, "http_status": http_status, "error": error}


def send_webhook(route: AlertRouteSpec, alert: AlertInfo, reason: str, *,
                 sleep: Callable[[float], None] = time.sleep) -> tuple[str, int, int | None, str, list[dict[str, Any]]]:
    """POST to the route's webhook with retries; (status, attempts, last HTTP status, last error, log)."""
    assert route.webhook is not None
    body: dict[str, Any] = ({"text": slack_text(alert, reason)} if route.format == "slack"
                            else payload(alert, reason))
    once = Webhook(route.webhook, timeout=route.timeout, attempts=1, backoff=0.0, min_severity="medium")
    attempts: list[dict[str, Any]] = []
    status, http_status, error = "failed", None, ""
    for n in range(route.attempts):
        status, tried, http_status, error = post_webhook(once, body, sleep=sleep)
        if tried == 0:  # refused before sending (an unset ${ENV}, a scheme that is not http)
            attempts.append(_attempt("failed", error))
            break
        attempts.append(_attempt(status, error, http_status))
        retry = http_status is None or http_status >= 500 or http_status in (408, 429)
        if status == "delivered" or not retry or n + 1 >= route.attempts:
            break
        sleep(route.backoff * (2**n))
    return status, len(attempts), http_status, error, attempts


def _message(smtp: SmtpSpec, to: str, alert: AlertInfo, reason: str) -> EmailMessage:
    msg = EmailMessage()
    state = "resolved" if reason == "resolved" else alert.severity
    msg["Subject"] = f"[meshfabric {state}] {alert.product}: {alert.detector}"
    msg["From"] = smtp.sender
    msg["To"] = to
    lines = [alert.message, "", f"product: {alert.product}", f"alert: {alert.id} ({reason})",
             f"severity: {alert.severity}", f"status: {alert.status}", f"series: {alert.series}",
             f"at: {alert.ts.isoformat()}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def send_email(smtp: SmtpSpec, route: AlertRouteSpec, to: str, alert: AlertInfo, reason: str, *,
               sleep: Callable[[float], None] = time.sleep) -> tuple[str, int, str, list[dict[str, Any]]]:
    """Mail one recipient with retries; (status, attempts, last error, log). 5xx replies are
    permanent and not retried; connection errors and 4xx replies are."""
    from meshfabric.errors import ConfigError
    from meshfabric.spec.loader import resolve_env

    attempts: list[dict[str, Any]] = []
    try:
        password = resolve_env(smtp.password, where="observability.smtp.password") if smtp.password else None
    except ConfigError as exc:
        attempts.append(_attempt("failed", exc.message))
        return "failed", 1, exc.message, attempts
    error = ""
    for n in range(route.attempts):
        retry = True
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
                if smtp.starttls:
                    client.starttls()
                if smtp.username:
                    client.login(smtp.username, password or "")
                client.send_message(_message(smtp, to, alert, reason))
            attempts.append(_attempt("delivered", ""))
            return "delivered", len(attempts), "", attempts
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:2000]
            retry = exc.smtp_code < 500
        except smtplib.SMTPRecipientsRefused as exc:
            error = f"recipient refused: {exc.recipients!r}"[:2000]
            retry = False
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        if password:
            error = error.replace(password, "***")
        attempts.append(_attempt("failed", error))
        if not retry or n + 1 >= route.attempts:
            break
        sleep(route.backoff * (2**n))
    return "failed", len(attempts), error, attempts


def route(store: Store, notify: Sequence[tuple[AlertInfo, str]], spec: ObservabilitySpec, *,
          sleep: Callable[[float], None] = time.sleep) -> list[DeliveryInfo]:
    """Deliver (alert, reason) pairs to the matching routes and record one row per target."""
    now = utcnow()
    rows: list[AlertDeliveryRow] = []
    for alert, reason in notify:
        if alert.silenced(now):
            continue
        for r in spec.routes:
            if not matches(r, alert):
                continue
            if r.webhook:
                status, n, http_status, error, attempts = send_webhook(r, alert, reason, sleep=sleep)
                target = Webhook(r.webhook).target
                rows.append(AlertDeliveryRow(alert_id=alert.id, target=target[:1024], status=status, attempts=n,
                                             http_status=http_status, error=error, channel=r.format
                                             if r.format == "slack" else "webhook", attempt_log=attempts))
            for to in r.email:
                if spec.smtp is None:
                    status, n, error = "failed", 0, "no observability.smtp server is configured"
                    attempts = [_attempt("failed", error)]
                else:
                    status, n, error, attempts = send_email(spec.smtp, r, to, alert, reason, sleep=sleep)
                rows.append(AlertDeliveryRow(alert_id=alert.id, target=f"mailto:{to}"[:1024], status=status,
                                             attempts=n, http_status=None, error=error, channel="email",
                                             attempt_log=attempts))
    for row in rows:
        if row.status != "delivered":
            log.warning("alert %s: delivery to %s failed after %d attempts: %s", row.alert_id, row.target,
                        row.attempts, row.error)
    if not rows:
        return []
    with store.write() as s:
        s.add_all(rows)
        s.flush()
        return [_delivery_info(r) for r in rows]
