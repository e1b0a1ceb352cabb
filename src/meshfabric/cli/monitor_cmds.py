"""``profile PRODUCT`` and ``alerts list|show|ack|resolve|silence|deliver``: profiles computed in the
source and the alerts the quality monitor raised."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, open_mesh, print_json, table
from meshfabric.cli._progress import progress


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
    alerts = typer.Typer(help="Anomaly alerts raised by the quality monitor.", no_args_is_help=True)
    alerts.command("list")(alerts_list)
    alerts.command("show")(alerts_show)
    alerts.command("ack")(alerts_ack)
    alerts.command("resolve")(alerts_resolve)
    alerts.command("silence")(alerts_silence)
    alerts.command("deliver")(alerts_deliver)
    app.add_typer(alerts, name="alerts")


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _short(value: Any, width: int = 24) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def profile(
    product: str = typer.Argument(..., help="domain.product"),
    columns: str = typer.Option(None, "--columns", "-c", help="Comma-separated columns (default: all)."),
    top: int = typer.Option(5, "--top", help="Top values per column (0: none)."),
    reveal: bool = typer.Option(False, "--reveal-pii", help="Show values of columns classified pii."),
    record: bool = typer.Option(False, "--record", help="Keep the numbers as metric series for the monitor."),
    show_sql: bool = typer.Option(False, "--sql", help="Print the statements sent to the source."),
    as_json: bool = JsonOpt,
) -> None:
    """Profile a product's columns inside its source: nulls, distinct, min/max, mean, stddev,
    quantiles, skewness, kurtosis, string lengths and top values."""
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    with open_mesh() as mesh, progress(enabled=not as_json) as report:
        report(f"profiling {product} in its source", 0, 1)
        prof = mesh.profile(product, columns=names, top=top, reveal=reveal)
        observed = mesh.record_profile(prof) if record else None
    if as_json:
        out = prof.to_dict()
        if observed is not None:
            out["alerts"] = [a.to_dict() for a in observed.alerts]
        print_json(out)
        return
    console.print(Text(f"{prof.product}: {prof.rows} rows in source '{prof.source}' ({prof.dialect}), "
                       f"{len(prof.statements)} statements, {prof.seconds:.3f} s", style="bold"))
    rows = []
    for c in prof.columns:
        q = c.quantiles
        rows.append([
            c.name, c.type, f"{c.null_pct:.2f}%", _num(c.distinct), _short(c.min, 16), _short(c.max, 16),
            _num(c.mean), _num(c.stddev), _num(q.get("p25")), _num(q.get("p50")), _num(q.get("p75")),
            _num(c.skewness, 3), _num(c.kurtosis, 3),
            "" if c.min_length is None else f"{c.min_length}–{c.max_length} ({_num(c.mean_length, 3)})",
        ])
    console.print(table(None, ["column", "type", "null", "distinct", "min", "max", "mean", "stddev", "p25",
                               "median", "p75", "skew", "kurt", "length"], rows))
    if top:
        for c in prof.columns:
            if c.redacted:
                console.print(Text(f"{c.name}: values withheld (classified pii; --reveal-pii shows them)",
                                   style="dim"))
            elif c.top_values:
                shown = ", ".join(f"{_short(v['value'])} ({v['count']})" for v in c.top_values)
                console.print(Text(f"{c.name}: ", style="bold") + Text(shown))
    if show_sql:
        for sql in prof.statements:
            console.print(Text(sql, style="dim"), soft_wrap=True)
    if observed is not None:
        console.print(f"recorded {observed.points} metric points; {len(observed.alerts)} alerts fired")


def _alert_rows(alerts: list[Any]) -> list[list[Any]]:
    return [[a.id, a.status, a.severity, a.product, a.metric, a.column, a.detector, _num(a.value),
             _num(a.expected), _num(a.score, 3), a.occurrences, a.ts.strftime("%Y-%m-%d %H:%M")] for a in alerts]


def alerts_list(
    product: str = typer.Option(None, "--product", "-p", help="Only this product (domain.product)."),
    status: str = typer.Option(None, "--status", "-s", help="open, acknowledged, resolved or active."),
    detector: str = typer.Option(None, "--detector", help="zscore, mad or seasonal."),
    limit: int = typer.Option(100, "--limit", "-n", help="At most this many, most recent first."),
    as_json: bool = JsonOpt,
) -> None:
    """Alerts, most recently updated first."""
    with open_mesh(applied=True) as mesh:
        found = mesh.alerts.list(product=product, status=status, detector=detector, limit=limit)
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    console.print(table("alerts", ["id", "status", "severity", "product", "metric", "column", "detector", "value",
                                   "expected", "score", "seen", "last"], _alert_rows(found)))


def alerts_show(alert_id: int = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """One alert with its message and every delivery to a webhook."""
    with open_mesh(applied=True) as mesh:
        alert = mesh.alerts.get(alert_id)
        sent = mesh.alerts.deliveries(alert_id)
    if as_json:
        print_json({**alert.to_dict(), "deliveries": [d.to_dict() for d in sent]})
        return
    console.print(table(None, ["id", "status", "severity", "product", "metric", "column", "detector", "value",
                               "expected", "score", "seen", "last"], _alert_rows([alert])))
    console.print(Text(alert.message))
    if sent:
        console.print(table("deliveries", ["target", "status", "attempts", "http", "error", "at"],
                            [[d.target, d.status, d.attempts, d.http_status, _short(d.error, 60),
                              d.created_at.strftime("%Y-%m-%d %H:%M:%S")] for d in sent]))


def alerts_ack(
    alert_id: int = typer.Argument(...), note: str = typer.Option("", "--note", help="Why, for the event log."),
    as_json: bool = JsonOpt,
) -> None:
    """Acknowledge an alert: someone is on it; repeats still add to it."""
    with open_mesh() as mesh:
        alert = mesh.alerts.ack(alert_id, note=note)
    if as_json:
        print_json(alert.to_dict())
        return
    console.print(f"alert {alert.id} {alert.status}")


def alerts_resolve(
    alert_id: int = typer.Argument(...), note: str = typer.Option("", "--note", help="Why, for the event log."),
    as_json: bool = JsonOpt,
) -> None:
    """Resolve an alert; the next anomaly on its series opens a new one."""
    with open_mesh() as mesh:
        alert = mesh.alerts.resolve(alert_id, note=note)
    if as_json:
        print_json(alert.to_dict())
        return
    console.print(f"alert {alert.id} {alert.status}")


def alerts_silence(
    alert_id: int = typer.Argument(...),
    duration: str = typer.Option(..., "--for", help="How long no notification goes out, e.g. 30m, 2h, 1d "
                                                    "(0s lifts a silence)."),
    note: str = typer.Option("", "--note", help="Why, for the event log."),
    as_json: bool = JsonOpt,
) -> None:
    """Silence an alert's notifications for a while; it stays open and still counts repeats."""
    from datetime import UTC, datetime, timedelta

    from meshfabric.errors import ConfigError
    from meshfabric.spec.models import duration_seconds

    try:
        until = datetime.now(UTC) + timedelta(seconds=duration_seconds(duration))
    except ValueError as exc:
        raise ConfigError(str(exc), hint="e.g. --for 2h") from None
    with open_mesh() as mesh:
        alert = mesh.alerts.silence(alert_id, until, note=note)
    if as_json:
        print_json(alert.to_dict())
        return
    when = alert.silenced_until.strftime("%Y-%m-%d %H:%M UTC") if alert.silenced_until else ""
    console.print(f"alert {alert.id} {alert.status}, silenced until {when}")


def alerts_deliver(alert_id: int = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """Send an alert to the configured webhooks again. Exit 1 when a delivery fails."""
    with open_mesh() as mesh:
        sent = mesh.alerts.deliver(alert_id)
    if as_json:
        print_json([d.to_dict() for d in sent])
    else:
        for d in sent:
            style = "green" if d.status == "delivered" else "red"
            console.print(Text(f"{d.target}: {d.status} after {d.attempts} attempts"
                               + (f" ({d.error})" if d.error else ""), style=style))
    if any(d.status != "delivered" for d in sent):
        raise typer.Exit(1)
