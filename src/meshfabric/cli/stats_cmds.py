"""``stats refresh|show``: the planner statistics of products (row counts, distinct counts, null
fractions, min/max, histograms), read from each source's own catalog and cached in the store.

Exit codes: 0 done, 1 a source could not give statistics (the reason is stored and shown; the
other products were refreshed), 2 bad input (an unknown product, with the closest name).
Statistics only steer the query planner: stale or missing ones change a plan, never an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, err_console, open_mesh, print_json, table
from meshfabric.cli._progress import progress

if TYPE_CHECKING:
    from meshfabric.stats.service import StatsView


def register(app: typer.Typer) -> None:
    stats = typer.Typer(help="Planner statistics: refresh them from the sources, show them.", no_args_is_help=True)
    stats.command("refresh")(refresh)
    stats.command("show")(show)
    app.add_typer(stats, name="stats")


def refresh(
    products: list[str] = typer.Argument(None, metavar="PRODUCT",
                                         help="domain.product … (default: every product you own)"),
    analyze: bool = typer.Option(
        False, "--analyze",
        help="Run each source's own ANALYZE first (PostgreSQL ANALYZE, MariaDB ANALYZE TABLE … PERSISTENT FOR ALL, "
             "SQLite ANALYZE): fresher numbers, at the cost of reading the tables.",
    ),
    stale: bool = typer.Option(
        False, "--stale",
        help="Only products whose statistics are missing, for another port, or older than MESHFABRIC_STATS_MAX_AGE "
             "seconds (default a day): for a cron line.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Read statistics from the products' sources into the store. Needs admin on each product
    (its owner). Exit 1 when a source could not give them (the others are stored)."""
    with open_mesh(applied=True) as mesh, progress(enabled=not as_json) as report:
        result = mesh.stats.refresh(list(products or []) or None, analyze=analyze, stale_only=stale,
                                    progress=report)
    if as_json:
        print_json(result.to_dict())
    else:
        rows: list[list[Any]] = []
        for o in result.outcomes:
            status = Text(o.status, style={"ok": "green", "error": "red"}.get(o.status, "dim"))
            rows.append([o.product, status, _count(o.row_count), o.columns if o.status == "ok" else "",
                         o.origin, f"{o.seconds:.2f} s" if o.status != "skipped" else "", o.error])
        console.print(table(f"statistics refreshed (analyze: {result.analyze})",
                            ["product", "status", "rows", "columns", "from", "took", "problem"], rows))
        if not result.outcomes:
            err_console.print("no product to refresh")
    raise typer.Exit(1 if result.count("error") else 0)


def show(
    product: str = typer.Argument(..., help="domain.product"),
    as_json: bool = JsonOpt,
) -> None:
    """A product's cached statistics: row count and per column distinct count, null fraction,
    min/max and histogram size — withheld where you see the data masked or filtered."""
    with open_mesh(applied=True) as mesh:
        view = mesh.stats.show(product)
    if as_json:
        print_json(view.to_dict())
        return
    _print(view)


def _count(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}"


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _print(view: StatsView) -> None:
    if view.taken_at is None:
        state = Text("no statistics yet", style="yellow")
    else:
        state = Text(f"taken {view.taken_at:%Y-%m-%d %H:%M:%S} UTC from {view.origin}")
        if not view.current:
            state += Text("  (for an earlier version of the output port: not used)", style="yellow")
        elif view.stale:
            state += Text("  (stale)", style="yellow")
    console.print(Text(f"{view.product}: ", style="bold") + state, soft_wrap=True)
    if view.error:
        console.print(Text("last refresh failed: ", style="red") + Text(view.error), soft_wrap=True)
    if view.withheld:
        console.print(Text(f"withheld: {view.withheld}", style="dim"), soft_wrap=True)
    elif view.row_count is not None:
        size = f", {view.size_bytes:,} bytes" if view.size_bytes is not None else ""
        console.print(f"rows: {_count(view.row_count)} ({'counted' if view.exact else 'estimated'}{size})")
    rows = []
    for c in view.columns:
        if c.withheld:
            rows.append([c.name, c.type, Text(f"withheld ({c.withheld})", style="dim"), "", "", "", ""])
            continue
        rows.append([c.name, c.type, _count(c.distinct), _fraction(c.null_fraction),
                     "" if c.min is None else str(c.min), "" if c.max is None else str(c.max),
                     "" if c.histogram_size is None else str(c.histogram_size)])
    console.print(table(None, ["column", "type", "distinct", "nulls", "min", "max", "histogram"], rows))
