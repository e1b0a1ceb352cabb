"""``discover SOURCE...``: scan sources, classify columns from their values, cluster, draft specs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, open_mesh, print_json, table
from meshfabric.cli._progress import progress

if TYPE_CHECKING:
    from meshfabric.discovery.service import DiscoveryReport


def register(app: typer.Typer) -> None:
    """Add the ``discover`` command."""
    app.command("discover")(discover)


def discover(
    sources: list[str] = typer.Argument(..., help="Sources declared in mesh.yaml (one or more)."),
    tables: str = typer.Option(None, "--tables", help="Only datasets whose name matches this glob."),
    sample: int = typer.Option(1000, "--sample", help="Rows read per dataset (they stay in this process)."),
    write: Path = typer.Option(None, "--write", help="Draft a kind: DataProduct spec per unregistered dataset here."),
    force: bool = typer.Option(False, "--force", help="With --write: overwrite drafts that exist."),
    show_samples: bool = typer.Option(False, "--show-samples",
                                      help="Show a few sampled values per column (workspace admins only)."),
    as_json: bool = JsonOpt,
) -> None:
    """Discover what the sources hold: semantic types and PII from values, clusters, suggested domains.

    Re-running records what appeared, disappeared or changed since the last scan as discovery.*
    events, and flags registered products whose source holds a PII column their spec does not
    classify.
    """
    from meshfabric.discovery.service import draft_specs

    with open_mesh() as mesh:
        with progress(enabled=not as_json) as report_progress:
            report = mesh.discover(*sources, tables=tables, sample=sample, show_samples=show_samples,
                                   progress=report_progress)
        written: list[Path] = []
        declared = set(mesh.settings.spec.domains) if mesh.settings.spec else set()
        if write is not None:
            existing = [p.fqn for p in mesh.products()]
            written = draft_specs(report, write, force=force, existing=existing)
    if as_json:
        print_json(report.to_dict())
        return
    _print(report)
    if write is not None:
        if written:
            console.print(f"wrote {len(written)} draft spec(s) under {write}: review them, then `meshfabric apply`")
            missing = sorted({p.parent.name for p in written} - declared)
            if missing:
                console.print(Text(f"declare these domains in mesh.yaml before applying: {', '.join(missing)}",
                                   style="yellow"))
        else:
            console.print("nothing to draft: every readable dataset is a registered product already")


def _print(report: DiscoveryReport) -> None:
    for d in report.datasets:
        head = f"{d.source}: {d.name}"
        if d.product:
            head += f"  (product {d.product})"
        console.print(Text(head, style="bold"))
        if d.error is not None:
            console.print(Text(f"  could not be read: {d.error}", style="red"))
            continue
        console.print(f"  {d.description}")
        console.print(f"  cluster {d.cluster} · suggested domain {d.suggested_domain} · owner {d.suggested_owner}"
                      f" · {d.change}")
        rows = []
        for c in d.columns:
            rows.append([c.name, d.logical_types.get(c.name, ""), c.semantic_type or "",
                         ", ".join(c.classifications), f"{c.confidence:.2f}"])
            if d.samples is not None and d.samples.get(c.name):
                rows[-1].append(", ".join(str(v) for v in d.samples[c.name]))
        headers = ["column", "type", "semantic type", "classifications", "confidence"]
        if d.samples is not None:
            headers.append("samples")
        console.print(table(None, headers, rows))
        for f in d.flags:
            console.print(Text(f"  FLAG: {f['column']} looks like {f['semantic_type']} (PII) but {f['product']} "
                               f"does not classify it — {f['fix']}", style="yellow"))
    for gone in report.disappeared:
        console.print(Text(f"{gone['source']}: {gone['name']} is gone since the last scan", style="yellow"))
    pii = sum(len(d.pii_columns) for d in report.datasets)
    clusters = len({d.cluster for d in report.datasets if d.cluster})
    console.print(f"{len(report.datasets)} dataset(s), {pii} PII column(s), {clusters} cluster(s) "
                  f"in {report.seconds:.1f} s")
