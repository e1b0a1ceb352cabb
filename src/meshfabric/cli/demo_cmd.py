"""``demo``: build and query a three-domain mesh on the embedded default, step by step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from meshfabric.cli._common import console, table


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    directory: Path = typer.Argument(Path("meshfabric-demo"), help="Folder to build the demo workspace in."),
    orders: int = typer.Option(200_000, help="Number of orders to generate."),
) -> None:
    """Generate three domains' data in SQLite, DuckDB and Parquet, apply their specs, query across them."""
    from contextlib import ExitStack

    from meshfabric.cli._progress import ProgressFn, progress
    from meshfabric.cli.demo import DemoSizes, run_demo

    counter = {"n": 0}
    bars = ExitStack()
    bar: list[ProgressFn] = []

    def replaying(what: str, done: int, total: int) -> None:
        """A bar (on a terminal only) while the history is replayed, gone once it is."""
        if not bar:
            bar.append(bars.enter_context(progress()))
        bar[0](what, done, total)
        if done >= total:
            bars.close()
            bar.clear()

    def say(kind: str, payload: Any) -> None:
        if kind == "step":
            counter["n"] += 1
            console.print(Text(f"\n{counter['n']}. {payload}", style="bold cyan"))
        elif kind == "counts":
            console.print("   " + ", ".join(f"{v:,} {k}" for k, v in payload.items()))
        elif kind == "files":
            console.print("   " + ", ".join(payload))
        elif kind in ("plan", "applied"):
            summary = ", ".join(f"{payload.count(a)} {a}" for a in ("create", "update", "delete", "unchanged"))
            console.print(f"   {summary}" + (f"  ({payload.events} events)" if payload.applied else ""))
        elif kind == "products":
            console.print(table(None, ["product", "source", "status", "version", "columns"],
                                [[p.fqn, p.source, p.status, p.version, len(p.columns)] for p in payload]))
        elif kind == "sql":
            console.print(Panel(Syntax(payload, "sql", theme="ansi_dark", background_color="default"),
                                title="one statement, three domains, three sources", expand=False))
        elif kind == "result":
            data = payload.arrow()
            console.print(table(None, data.column_names, [list(r.values()) for r in data.to_pylist()]))
            console.print("   what each source was sent (only the columns and rows the query needs leave it):")
            for s in payload.scan_stats():
                sql = re.sub(r"read_parquet\(\[[^\]]*\]\)", "read_parquet([...])", s["source_sql"] or "")
                console.print(Text(f"   {s['product']:<20} ← {s['source']:<9} {s['rows']:>8,} rows "
                                   f"{s['seconds'] * 1000:6.0f} ms  {sql}", style="dim"), overflow="fold")
            console.print(f"   answered in {payload.seconds:.3f} s")
        elif kind == "schema_accepted":
            result, history = payload
            console.print(f"   applied: {result.count('update')} updated; sales.orders schema versions: "
                          + ", ".join(f"v{v.version} ({len(v.schema)} columns)" for v in reversed(history)))
        elif kind in ("schema_refused", "contract_refused"):
            if isinstance(payload, Exception):
                console.print(Text("   refused, nothing written:", style="yellow"))
                for reason in getattr(payload, "reasons", None) or getattr(payload, "breaks", []):
                    console.print(Text(f"     - {reason}", style="yellow"), overflow="fold")
            else:
                console.print(Text("   unexpectedly accepted", style="bold red"))
        elif kind == "contract":
            contract, path = payload
            slas = ", ".join(f"{p.name} {p.value}{' ' + p.unit if p.unit else ''}" for p in contract.sla_properties)
            console.print(f"   contract {contract.id[:8]} v{contract.version} ({contract.status}), "
                          f"valid until {contract.valid_until:%Y-%m-%d}; exported to {path}")
            console.print(Text(f"   SLA: {slas}", style="dim"), overflow="fold")
        elif kind == "quality":
            run = payload
            console.print(f"   {run.status}: score {run.score:.3f} "
                          f"({', '.join(f'{d} {v:.4f}' for d, v in sorted(run.dimension_scores.items()))}); "
                          f"{run.queries} statements in {run.seconds:.2f} s")
            for r in run.results:
                mark, style = ("pass", "green") if r.passed else ("FAIL", "red" if r.severity == "error" else "yellow")
                shown = "" if r.observed is None else f" observed {r.observed:.4g}"
                rows = f", {r.failing_rows:,} failing rows" if r.failing_rows else ""
                console.print(Text(f"   {mark} {r.rule:<32} {r.threshold}{shown}{rows}", style=style), overflow="fold")
                if not r.passed and r.sample:
                    console.print(Text(f"        e.g. {r.sample[:2]}", style="dim"), overflow="fold")
        elif kind == "alerts":
            points, alerts = payload
            still = sum(a.status == "open" for a in alerts)
            console.print(f"   {points} daily points judged; {len(alerts)} alerts raised, {still} still open "
                          "(each with its current status):")
            order = {"high": 0, "medium": 1, "low": 2}
            for a in sorted(alerts, key=lambda a: (order.get(a.severity, 3), a.ts)):
                style = "red" if a.severity == "high" else "yellow"
                console.print(Text(f"   {a.severity:<6} {a.ts:%Y-%m-%d} {a.detector:<8} {a.message}  [{a.status}]",
                                   style=style), overflow="fold")
            console.print(Text("   (about 0.3 % of normal days also cross |z| > 3: medium alerts; "
                               "an alert resolves itself after 10 normal points)", style="dim"), overflow="fold")
        elif kind == "search":
            hits = payload
            if hits.corrections:
                read = ", ".join(f"{a} → {b}" for a, b in hits.corrections.items())
                console.print(Text(f"   (read as: {read})", style="dim"))
            for h in hits.items:
                console.print(Text(f"   {h.score:6.2f}  {h.fqn:<22} matched on {h.matched_on}"), overflow="fold")
        elif kind == "lineage":
            for e in payload.edges:
                if e.rel == "derived_from":
                    kind_ = e.properties.get("subtype") or e.properties.get("type") or ""
                    console.print(f"   {e.dst[1]:<28} ──{kind_:─^15}──▶ {e.src[1]}")
        elif kind == "impact":
            impact = payload
            for p in impact.products:
                console.print(f"   product  {p['product']:<22} columns {', '.join(p['columns'])}  (owner {p['owner']})")
            for c in impact.contracts:
                console.print(f"   contract {c['contract'][:8]} on {c['product']} with consumer {c['consumer']}")
            console.print(f"   owners to tell: {', '.join(impact.owners)}; domains: {', '.join(impact.domains)}")
        elif kind == "policies":
            for policy in payload:
                masks = ", ".join(f"{m.column}: {m.mask}" for m in policy.masks.values() if m.mask != "clear")
                rows = policy.row_filter.sql(dialect="duckdb") if policy.row_filter is not None else "all rows"
                console.print(f"   {policy.principal}: masks {masks or 'none'}; rows: {rows}")
        elif kind == "quality_withheld":
            run = payload
            score = "withheld" if run.score is None else f"{run.score:.3f}"
            console.print(f"   {run.status}: score {score}")
            for r in run.results:
                mark, style = ("pass", "green") if r.passed else ("FAIL", "red" if r.severity == "error" else "yellow")
                values = "values withheld" if r.observed is None and r.failing_rows is None else "values shown"
                console.print(Text(f"   {mark} {r.rule:<32} {r.threshold}  ({values})", style=style), overflow="fold")
        elif kind == "access_result":
            user, result = payload
            data = result.arrow()
            console.print(table(f"as {user}", data.column_names, [list(r.values()) for r in data.to_pylist()]))
        elif kind == "access_denied":
            if isinstance(payload, Exception):
                console.print(Text(f"   refused: {payload}", style="yellow"), overflow="fold")
            else:
                console.print(Text("   unexpectedly answered", style="bold red"))
        elif kind == "audit":
            console.print(table(None, ["at", "principal", "action", "resource", "decision", "policy v", "rows", "ms"],
                                [[f"{e.at:%H:%M:%S}", e.principal, e.action, e.resource, e.decision,
                                  e.policy_version, e.rows, f"{e.latency_ms:.1f}" if e.latency_ms is not None else ""]
                                 for e in payload]))
        elif kind == "compliance":
            metrics, result = payload
            shown = ", ".join(f"{k}={v:.3f}" if k != "latency" else f"{k}={v:.0f} ms" for k, v in metrics.items())
            console.print(Text(f"   measured: {shown}", style="dim"))
            if result.compliant:
                console.print(Text("   compliant", style="green"))
            for v in result:
                console.print(Text(f"   violation: {v.metric} = {v.actual} ({v.operator} {v.threshold})", style="red"))
        elif kind == "history":
            _history(payload)
        elif kind == "events":
            types: dict[str, int] = {}
            for e in payload:
                types[e.event_type] = types.get(e.event_type, 0) + 1
            console.print("   domain events recorded: " + ", ".join(f"{n} {t}" for t, n in sorted(types.items())))

    try:
        report = run_demo(directory, say, DemoSizes(orders=orders), progress=replaying)
    finally:
        bars.close()
    total = sum(s for _, s in report.steps)
    console.print(Text(f"\nDone in {total:.1f} s. The workspace is in {report.directory}", style="bold green"))
    console.print(f"Try:  meshfabric -w {directory} products list\n"
                  f"      meshfabric -w {directory} query \"SELECT segment, count(*) FROM crm.customers GROUP BY 1\"")
    console.print(Text("Open the dashboard (30 days of history: quality trends, SLOs, usage by hour):",
                       style="bold"))
    console.print(f"      meshfabric -w {directory} serve --no-auth\n"
                  "      then http://127.0.0.1:8420/ in a browser", soft_wrap=True)


def _history(history: Any) -> None:
    """The replayed days: what went wrong in the loads, what the runs measured then, the alerts."""
    hours: dict[int, int] = {}
    for at in history.queries:
        hours[at.hour] = hours.get(at.hour, 0) + 1
    console.print(f"   {len(history.days)} days replayed in {history.seconds:.1f} s: {history.quality_runs} quality "
                  f"runs, {history.probes} freshness probes, {len(history.queries)} queries "
                  f"({', '.join(f'{h:02d}h ×{n}' for h, n in sorted(hours.items()))})", soft_wrap=True)
    console.print("   what went wrong in the loads, and what the runs measured that morning:")
    for day in history.days:
        for note in day.notes:
            domain = note.split(":", 1)[0]
            measured = []
            for fqn, (score, failed) in day.quality.items():
                if fqn.startswith(domain + "."):
                    shown = "no score" if score is None else f"score {score:.4f}"
                    measured.append(f"{fqn} {shown}" + (f", failing {', '.join(failed)}" if failed else ""))
            for fqn, minutes in day.freshness.items():
                if fqn.startswith(domain + ".") and minutes is not None:
                    measured.append(f"{fqn} data {minutes / 60:.0f} h old")
            console.print(Text(f"   {day.day}  {note}", style="yellow"), overflow="fold")
            if measured:
                console.print(Text(f"               → {'; '.join(measured)}", style="dim"), overflow="fold")
    alerts = history.alerts
    if alerts:
        still = sum(a.status == "open" for a in alerts)
        console.print(f"   {len(alerts)} alerts raised by the checks and the monitor, {still} still open:")
        order = {"high": 0, "medium": 1, "low": 2}
        for a in sorted(alerts, key=lambda a: (a.ts, order.get(a.severity, 3))):
            console.print(Text(f"   {a.severity:<6} {a.ts:%Y-%m-%d} {a.detector:<16} {a.message}  [{a.status}]",
                               style="red" if a.severity == "high" else "yellow"), overflow="fold")
