"""``slo status`` and ``observe run``: service level objectives of products, and the scheduler
that probes products, runs their quality rules and evaluates their SLOs."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, err_console, open_mesh, print_json, table


def register(app: typer.Typer) -> None:
    slo = typer.Typer(help="Service level objectives: compliance, error budgets, burn rates.", no_args_is_help=True)
    slo.command("status")(slo_status)
    app.add_typer(slo, name="slo")
    observe = typer.Typer(help="Probes, scheduled quality runs and SLO evaluation.", no_args_is_help=True)
    observe.command("run")(observe_run)
    app.add_typer(observe, name="observe")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


_STYLE = {"ok": "green", "no_data": "dim", "burning": "yellow", "breached": "red"}


def slo_status(
    domain: str = typer.Option(None, "--domain", "-d", help="Only products of this domain."),
    product: str = typer.Option(None, "--product", "-p", help="Only this product (domain.product)."),
    as_json: bool = JsonOpt,
) -> None:
    """Each objective of each product: compliance over its window, error budget left, burn rates."""
    with open_mesh(applied=True) as mesh:
        found = mesh.observe.status(domain=domain, product=product)
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    rows: list[list[Any]] = []
    for p in found:
        for r in p.objectives:
            o = r.objective
            target = {"freshness": f"<= {o.threshold:g} min", "quality": f">= {o.threshold:g}",
                      "availability": "up", "latency": f"p95 <= {o.threshold:g} ms"}[o.name]
            rows.append([p.product, o.name, f"{target} @ {100 * o.target:g}%/{_window(o)}",
                         Text(r.status, style=_STYLE.get(r.status, "")), _pct(r.compliance),
                         _pct(r.budget_remaining), _rate(r.burn_rates.get("1h")), _rate(r.burn_rates.get("6h")),
                         ",".join(f.rule.name for f in r.firing), r.good + r.bad])
    console.print(table("SLOs", ["product", "objective", "target", "status", "compliance", "budget left",
                                 "burn 1h", "burn 6h", "alerting", "evaluations"], rows))


def _window(o: Any) -> str:
    from meshfabric.observe.slo import span_text

    return span_text(o.window)


def observe_run(
    every: str = typer.Option("1m", "--every", help="How often to look for due checks (e.g. 30s, 1m)."),
    once: bool = typer.Option(False, "--once", help="Run what is due now, then exit."),
    as_json: bool = JsonOpt,
) -> None:
    """Run due probes, quality runs and SLO evaluations, again every --every, until stopped.

    Several processes on one store never run the same check twice: each takes a lease in the
    store first."""
    import threading
    from datetime import timedelta

    from meshfabric.errors import ConfigError
    from meshfabric.observe.scheduler import Scheduler, TickReport
    from meshfabric.spec.models import duration_seconds

    try:
        interval = timedelta(seconds=duration_seconds(every))
    except ValueError as exc:
        raise ConfigError(str(exc), hint="e.g. --every 30s or --every 1m") from None

    def show(report: TickReport) -> None:
        if as_json:
            print_json(report.to_dict())
            return
        for product, task, status in report.ran:
            console.print(Text(f"{product}: {task} {status}", style="green" if status == "ok" else "red"))
        for a in report.alerts:
            console.print(Text(f"alert {a['alert_id']} {a['reason']}: {a['product']} {a['detector']} "
                               f"({a['severity']})", style="yellow"))
        if not report.ran:
            console.print(Text(f"nothing due ({report.skipped} checks not due or held by another process)",
                               style="dim"))

    with open_mesh(applied=True) as mesh:
        scheduler = Scheduler(mesh.observe)
        stop = threading.Event()
        if not once:
            err_console.print(f"observing every {every} as {scheduler.holder}; Ctrl-C stops")
        try:
            scheduler.run(interval, stop, once=once, on_tick=show)
        except KeyboardInterrupt:
            stop.set()
