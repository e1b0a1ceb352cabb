"""``sources list|test|tables``."""

from __future__ import annotations

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, open_mesh, print_json, table


def register(app: typer.Typer) -> None:
    sources = typer.Typer(help="Configured sources: list them, test connections, list their tables.",
                          no_args_is_help=True)
    sources.command("list")(sources_list)
    sources.command("test")(sources_test)
    sources.command("tables")(sources_tables)
    app.add_typer(sources, name="sources")


def sources_list(as_json: bool = JsonOpt) -> None:
    """List sources (their specs show ${ENV} references, never secrets)."""
    with open_mesh() as mesh:
        items = mesh.sources()
    if as_json:
        print_json([s.to_dict() for s in items])
        return
    rows = []
    for s in items:
        where = s.spec.get("url") or s.spec.get("path") or f"{s.spec.get('host', '')}/{s.spec.get('database', '')}"
        rows.append([s.name, s.kind, _redact(str(where)), s.description])
    console.print(table("sources", ["source", "kind", "location", "description"], rows))


def _redact(location: str) -> str:
    """Hide a literal password in a URL (a ${ENV} reference is shown as written)."""
    import re

    return re.sub(r"(://[^:/@]+:)([^@]+)(@)", lambda m: m.group(1) + ("***" if "${" not in m.group(2) else m.group(2))
                  + m.group(3), location)


def sources_test(
    name: str = typer.Argument(None, help="Source to test (default: all)."),
    as_json: bool = JsonOpt,
) -> None:
    """Connect to each source and report what is wrong. Exit 1 when any source fails."""
    import time

    from meshfabric.errors import MeshfabricError

    results = []
    with open_mesh() as mesh:
        names = [name] if name else [s.name for s in mesh.sources()]
        for n in names:
            start = time.perf_counter()
            try:
                mesh.test_source(n)
                results.append({"source": n, "ok": True, "seconds": round(time.perf_counter() - start, 3)})
            except MeshfabricError as exc:
                if name and exc.__class__.__name__ == "NotFound":
                    raise
                results.append({"source": n, "ok": False, "error": str(exc),
                                "seconds": round(time.perf_counter() - start, 3)})
    if as_json:
        print_json(results)
    else:
        for r in results:
            if r["ok"]:
                console.print(Text(f"ok    {r['source']} ({r['seconds']} s)", style="green"))
            else:
                console.print(Text(f"FAIL  {r['source']}: {r['error']}", style="red"))
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


def sources_tables(name: str = typer.Argument(..., help="Source name."), as_json: bool = JsonOpt) -> None:
    """List the tables (or files) a source holds."""
    with open_mesh() as mesh:
        items = mesh.source_tables(name)
    if as_json:
        print_json([{"schema": t.schema, "name": t.name, "kind": t.kind} for t in items])
        return
    console.print(table(f"tables in {name}", ["table", "kind"], [[t.qualified, t.kind] for t in items]))
