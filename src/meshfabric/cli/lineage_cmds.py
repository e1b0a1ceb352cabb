"""``lineage upstream|downstream|impact|export|graph|column-lineage|events|add``: the lineage
graph kept in the store (``graph``, ``column-lineage`` and ``events`` answer as the Marquez-shaped
REST endpoints do).

``lineage sql`` lives in :mod:`meshfabric.cli.lineage_sql_cmd` and is added to the same group.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.text import Text

from meshfabric.cli import lineage_ingest_cmd, lineage_sql_cmd
from meshfabric.cli._common import JsonOpt, console, open_mesh, print_json, table

NodeArg = typer.Argument(..., help="domain.product, domain.product.column, namespace/name, or KIND:KEY")
DepthOpt = typer.Option(None, "--depth", "-d", min=0, help="Hops to follow (default: all).")
ColumnsOpt = typer.Option(False, "--columns", help="Follow column-level lineage too.")
LimitOpt = typer.Option(1000, "--limit", min=0, help="Nodes per page.")
OffsetOpt = typer.Option(0, "--offset", min=0, help="Nodes to skip.")


def register(app: typer.Typer) -> None:
    lineage = typer.Typer(help="Table and column lineage: from SQL, OpenLineage and applied products.",
                          no_args_is_help=True)
    lineage_sql_cmd.register(lineage)
    lineage_ingest_cmd.register(lineage)
    lineage.command("upstream")(upstream)
    lineage.command("downstream")(downstream)
    lineage.command("impact")(impact)
    lineage.command("export")(export)
    lineage.command("graph")(graph)
    lineage.command("column-lineage")(column_lineage)
    lineage.command("events")(events)
    lineage.command("add")(add)
    app.add_typer(lineage, name="lineage")


def _show(walk: Any, as_json: bool) -> None:
    if as_json:
        print_json(walk.to_dict())
        return
    depth = "all" if walk.depth is None else str(walk.depth)
    console.print(Text(f"{walk.direction} of {walk.root.kind} {walk.root.key} (depth {depth}): "
                       f"{walk.total} node(s)", style="bold"))
    by_key = {(e.src, e.dst): e for e in walk.edges}
    rows = []
    for n in walk.nodes:
        via = [e for (a, b), e in by_key.items() if n.ref in (a, b) and e.rel == "derived_from"]
        how = sorted({str(e.properties.get("subtype") or e.properties.get("type") or "") for e in via} - {""})
        rows.append([n.distance, n.kind, n.key, ", ".join(how)])
    console.print(table(None, ["distance", "kind", "node", "via"], rows))
    shown = walk.offset + len(walk.nodes)
    if shown < walk.total:
        console.print(Text(f"{walk.total - shown} more: --offset {shown}", style="dim"))


def upstream(node: str = NodeArg, depth: int | None = DepthOpt, columns: bool = ColumnsOpt,
             limit: int = LimitOpt, offset: int = OffsetOpt, as_json: bool = JsonOpt) -> None:
    """What NODE was derived from, nearest first."""
    with open_mesh(applied=True) as mesh:
        _show(mesh.lineage.upstream(node, depth=depth, columns=columns, limit=limit, offset=offset), as_json)


def downstream(node: str = NodeArg, depth: int | None = DepthOpt, columns: bool = ColumnsOpt,
               limit: int = LimitOpt, offset: int = OffsetOpt, as_json: bool = JsonOpt) -> None:
    """What was derived from NODE, nearest first."""
    with open_mesh(applied=True) as mesh:
        _show(mesh.lineage.downstream(node, depth=depth, columns=columns, limit=limit, offset=offset), as_json)


def impact(node: str = NodeArg, as_json: bool = JsonOpt) -> None:
    """Products, contracts (and their consumers), owners and domains affected by a change to a
    dataset or a column, across domains."""
    with open_mesh(applied=True) as mesh:
        result = mesh.lineage.impact(node)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(Text(f"impact of {result.root.kind} {result.root.key}", style="bold"))
    console.print(table("products", ["distance", "product", "domain", "owner", "columns"],
                        [[p["distance"], p["product"], p["domain"], p["owner"], ", ".join(p["columns"])]
                         for p in result.products]))
    if result.datasets:
        console.print(table("datasets", ["distance", "dataset", "columns"],
                            [[d["distance"], d["dataset"], ", ".join(d["columns"])] for d in result.datasets]))
    if result.contracts:
        console.print(table("contracts", ["contract", "product", "consumer", "status"],
                            [[c["contract"], c["product"], c["consumer"], c["status"]] for c in result.contracts]))
    console.print(Text("owners: " + (", ".join(result.owners) or "none")))
    console.print(Text("domains: " + (", ".join(result.domains) or "none")))
    if result.truncated:
        console.print(Text("more nodes are affected than were listed", style="yellow"))


def export(node: str = NodeArg,
           format: str = typer.Option("json", "--format", "-f", help="json, openlineage, dot or mermaid."),
           depth: int | None = DepthOpt) -> None:
    """The lineage around NODE (upstream and downstream, columns included) in a format other
    tools read: JSON, OpenLineage RunEvents, Graphviz DOT or Mermaid."""
    with open_mesh(applied=True) as mesh:
        text = mesh.lineage.export(node, format=format, depth=depth)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


NodeIdArg = typer.Argument(..., help="dataset:<namespace>:<name> or job:<namespace>:<name>")


def graph(node_id: str = NodeIdArg,
          depth: int = typer.Option(20, "--depth", "-d", min=0, help="Dataset-to-dataset steps each way."),
          limit: int = typer.Option(1000, "--limit", min=1, help="At most this many datasets each way."),
          as_json: bool = JsonOpt) -> None:
    """The lineage graph around a dataset or job, as GET /api/v1/lineage answers (Marquez's shape)."""
    with open_mesh(applied=True) as mesh:
        found = mesh.lineage.marquez(node_id, depth, limit=limit)
    if as_json:
        print_json(found)
        return
    console.print(table(None, ["node", "in", "out"],
                        [[n["id"], ", ".join(e["origin"] for e in n["inEdges"]),
                          ", ".join(e["destination"] for e in n["outEdges"])] for n in found["graph"]]))


def column_lineage(node_id: str = typer.Argument(..., help="datasetField:<namespace>:<name>:<field> or "
                                                      "dataset:<namespace>:<name>"),
                   depth: int = typer.Option(20, "--depth", "-d", min=0),
                   downstream: bool = typer.Option(False, "--downstream", help="Follow the fields' consumers too."),
                   limit: int = typer.Option(1000, "--limit", min=1),
                   as_json: bool = JsonOpt) -> None:
    """Column lineage of a field or of every field of a dataset, as GET /api/v1/column-lineage answers."""
    with open_mesh(applied=True) as mesh:
        found = mesh.lineage.column_lineage(node_id, depth, with_downstream=downstream, limit=limit)
    if as_json:
        print_json(found)
        return
    console.print(table(None, ["field", "from"],
                        [[n["id"], ", ".join(f"{f['dataset']}.{f['field']}" for f in n["data"]["inputFields"])]
                         for n in found["graph"]]))


def events(job: str = typer.Option(None, "--job", help="namespace/name"),
           dataset: str = typer.Option(None, "--dataset", help="DatasetEvents about this dataset."),
           limit: int = typer.Option(100, "--limit", "-n", min=1), offset: int = OffsetOpt,
           as_json: bool = JsonOpt) -> None:
    """Stored OpenLineage events exactly as received, newest first (GET /api/v1/lineage/events)."""
    with open_mesh(applied=True) as mesh:
        items, total = mesh.lineage.events(job=job, dataset=dataset, offset=offset, limit=limit)
    if as_json:
        print_json({"items": items, "total": total, "offset": offset, "limit": limit})
        return
    rows = []
    for item in items:
        event = item.get("event") or {}
        job_of, run_of = event.get("job") or {}, event.get("run") or {}
        rows.append([event.get("eventTime", ""), event.get("eventType", ""),
                     f"{job_of.get('namespace', '')}/{job_of.get('name', '')}", run_of.get("runId", "")])
    console.print(table(f"{total} event(s)", ["time", "type", "job", "run"], rows))


def add(sources: list[str] = typer.Option(..., "--source", "-s", help="What the target is derived from (repeat)."),
        target: str = typer.Option(..., "--target", "-t", help="What was derived."),
        type_: str = typer.Option("transformation", "--type", help="Kind of transformation, kept on the edges."),
        columns: list[str] = typer.Option(None, "--column", "-c",
                                          help="Column lineage SRC_TABLE.COL=TGT_TABLE.COL (repeat)."),
        job: str = typer.Option(None, "--job", help="The job that does it, namespace/name.")) -> None:
    """Record lineage by hand: TARGET derived from each SOURCE (and columns from columns)."""
    from meshfabric.errors import MeshfabricError

    pairs: list[tuple[str, str]] = []
    for spec in columns or []:
        src, eq, tgt = spec.partition("=")
        if not eq or not src.strip() or not tgt.strip():
            raise MeshfabricError(f"--column {spec!r} must be SRC_TABLE.COL=TGT_TABLE.COL",
                                  hint="e.g. --column sales.orders.amount=finance.revenue.total")
        pairs.append((src.strip(), tgt.strip()))
    with open_mesh() as mesh:
        mesh.lineage.add_transformation(sources, target, type_, columns=pairs or None, job=job)
    console.print(f"{target} derived from {', '.join(sources)}" + (f" ({len(pairs)} column edge(s))" if pairs else ""))
