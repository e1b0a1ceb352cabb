"""``quality run|history|rules``: run a product's quality rules in its source, read past runs.

Exit codes: 0 every error-severity rule passed, 1 one failed or a run could not finish (its
reason is stored with the run), 2 bad input. ``--every 1h`` repeats until interrupted; for cron,
run ``meshfabric -w /path/to/ws quality run --all`` from a crontab line instead.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, err_console, open_mesh, print_json, table
from meshfabric.cli._progress import progress

if TYPE_CHECKING:
    from meshfabric.quality.run import QualityRun


def register(app: typer.Typer) -> None:
    quality = typer.Typer(help="Quality rules: run them in the source, see results and scores.", no_args_is_help=True)
    quality.command("run")(run)
    quality.command("history")(history)
    quality.command("rules")(rules)
    app.add_typer(quality, name="quality")


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def _show(run: QualityRun) -> None:
    if run.status == "error":
        console.print(Text(f"{run.product}: ERROR ", style="bold red") + Text(run.error), soft_wrap=True)
        return
    rows = []
    for r in run.results:
        verdict = "pass" if r.passed else ("FAIL" if r.severity == "error" else "warn")
        counts = "" if r.total_rows is None else f"{r.failing_rows}/{r.total_rows}"
        rows.append([r.rule, r.type, r.dimension, r.severity, verdict, _number(r.observed), r.threshold, counts])
    console.print(table(f"{run.product} — {run.status}",
                        ["rule", "type", "dimension", "severity", "result", "observed", "threshold", "failing/checked"],
                        rows))
    for r in run.results:
        if not r.passed and r.sample:
            console.print(Text(f"  {r.rule}: ", style="bold") + Text(", ".join(str(s) for s in r.sample[:5])),
                          soft_wrap=True)
    dims = "  ".join(f"{d} {v:.3f}" for d, v in run.dimension_scores.items())
    score = "n/a" if run.score is None else f"{run.score:.3f}"
    console.print(f"score {score}   {dims}   ({run.queries} queries, {run.seconds:.2f} s)")


def _exit_code(runs: list[QualityRun]) -> int:
    return 1 if any(r.status in ("failed", "error") for r in runs) else 0


def run(
    product: str = typer.Argument(None, help="domain.product (or --all)"),
    all_: bool = typer.Option(False, "--all", help="Every product that has quality rules."),
    every: str = typer.Option(None, "--every", help="Repeat at this interval (e.g. 15m, 1h) until interrupted."),
    times: int = typer.Option(0, "--times", help="With --every: stop after this many rounds (0: never)."),
    as_json: bool = JsonOpt,
    engine: str = typer.Option(None, "--engine", help="duckdb (in the source) or spark (default: mesh.yaml engine:)."),
) -> None:
    """Run quality rules in the product's source (or on Spark). Exit 1 when an error-severity rule fails or a
    run errors (the reason is stored with the run)."""
    from meshfabric.errors import ConfigError
    from meshfabric.spec.quality_rules import parse_duration

    if (product is None) == (not all_):
        raise ConfigError("name one product or pass --all", hint="e.g. meshfabric quality run sales.orders")
    interval = parse_duration(every).total_seconds() if every else None
    if interval is not None and interval <= 0:
        raise ConfigError("--every needs a positive interval")
    code = 0
    rounds = 0
    try:
        while True:
            started = time.monotonic()
            with open_mesh() as mesh, progress(enabled=not as_json) as report:
                service = mesh.quality
                if all_:
                    targets = service.products_with_rules()
                    if not targets:
                        err_console.print("no product has quality rules")
                    runs = []
                    for i, target in enumerate(targets):
                        report(f"running quality rules of {target}", i, len(targets))
                        runs.append(service.run(target, engine=engine))
                else:
                    report(f"running quality rules of {product}", 0, 1)
                    runs = [service.run(product, engine=engine)]
            code = _exit_code(runs)
            if as_json:
                print_json([r.to_dict() for r in runs] if all_ else runs[0].to_dict())
            else:
                for r in runs:
                    _show(r)
            rounds += 1
            if interval is None or (times and rounds >= times):
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        err_console.print("stopped")
    raise typer.Exit(code)


def history(
    product: str = typer.Argument(..., help="domain.product"),
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs, newest first."),
    as_json: bool = JsonOpt,
) -> None:
    """Past quality runs of a product: status, score, failed rules."""
    with open_mesh(applied=True) as mesh:
        runs = mesh.quality.history(product, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    rows: list[list[Any]] = []
    for r in runs:
        failed = ", ".join(x.rule for x in r.results if not x.passed)
        rows.append([r.id, r.started_at.strftime("%Y-%m-%d %H:%M:%S"), r.status,
                     "" if r.score is None else f"{r.score:.3f}", f"{r.rules_failed}/{len(r.results)}",
                     r.error[:80] if r.error else failed])
    console.print(table(f"quality runs of {product}", ["run", "started (UTC)", "status", "score", "failed",
                                                       "failed rules / error"], rows))


def rules(
    product: str = typer.Argument(..., help="domain.product"),
    as_json: bool = JsonOpt,
) -> None:
    """The quality rules a product declares (as applied)."""
    with open_mesh(applied=True) as mesh:
        found = mesh.quality.rules(product)
    if as_json:
        print_json([{"name": r.label, **r.model_dump(mode="json", exclude_none=True)} for r in found])
        return
    console.print(table(f"quality rules of {product}", ["rule", "type", "columns", "dimension", "severity",
                                                        "threshold"],
                        [[r.label, r.type, ", ".join(r.column_names()), r.effective_dimension, r.severity,
                          r.threshold_text()] for r in found]))
