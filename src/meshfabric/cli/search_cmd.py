"""``search TEXT``: ranked full-text search over products, columns, tags and owners."""

from __future__ import annotations

import html
import re

import typer
from rich.table import Table
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, err_console, open_mesh, print_json

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def register(app: typer.Typer) -> None:
    """Add the ``search`` command."""
    app.command("search")(search)


def marked(snippet: str) -> Text:
    """A snippet's ``<mark>`` words in bold, its HTML escapes undone.

    >>> marked("a &amp; <mark>b</mark>").plain
    'a & b'
    """
    out = Text()
    pos = 0
    for m in _MARK.finditer(snippet):
        out.append(html.unescape(snippet[pos: m.start()]))
        out.append(html.unescape(m.group(1)), style="bold yellow")
        pos = m.end()
    out.append(html.unescape(snippet[pos:]))
    return out


def search(
    text: str = typer.Argument("", help="Words to look for (typos tolerated); empty lists what the filters select."),
    domain: str = typer.Option(None, "--domain", help="Only products of this domain."),
    tag: str = typer.Option(None, "--tag", help="Only products with this tag."),
    owner: str = typer.Option(None, "--owner", help="Only products owned by this owner."),
    classification: str = typer.Option(None, "--classification",
                                       help="Only products with a column classified so (e.g. pii)."),
    status: str = typer.Option(None, "--status", help="Only products in this lifecycle status."),
    limit: int = typer.Option(20, "--limit", "-n", help="Hits per page (1-1000)."),
    offset: int = typer.Option(0, "--offset", help="Skip this many hits (pagination)."),
    reindex: bool = typer.Option(False, "--reindex", help="Rebuild the search index from the catalog first."),
    as_user: str = typer.Option(None, "--as", help="Search as this principal (the local principal must be an admin)."),
    as_json: bool = JsonOpt,
) -> None:
    """Search data products (and domains) by name, column, tag, owner and description, best first."""
    with open_mesh(applied=True) as mesh:
        if reindex:
            from meshfabric.search import rebuild_search

            count = rebuild_search(mesh.store)
            err_console.print(Text(f"search index rebuilt: {count} documents", style="dim"))
            if not text and not any((domain, tag, owner, classification, status)):
                return
        results = mesh.search(text, user=as_user, domain=domain, tag=tag, owner=owner, classification=classification,
                              status=status, limit=limit, offset=offset)
    if as_json:
        print_json(results.to_dict())
        return
    if results.corrections:
        read = ", ".join(f"{k} → {v}" for k, v in results.corrections.items())
        err_console.print(Text(f"showing results for corrected words: {read}", style="yellow"))
    if results.mode == "any":
        err_console.print(Text("no product matches every word; showing those matching some", style="yellow"))
    grid = Table(show_lines=False, header_style="bold")
    for column in ("product", "matched on", "score", "snippet"):
        grid.add_column(column, overflow="fold")
    for hit in results.items:
        name = hit.fqn if hit.kind == "product" else f"{hit.fqn} (domain)"
        snippet = Text(" · ").join(marked(m.snippet) for m in hit.matched[:2]) if hit.matched else Text(hit.description)
        grid.add_row(name, hit.matched_on, f"{hit.score:g}", snippet)
    console.print(grid)
    shown = f"{results.offset + 1}-{results.offset + len(results.items)} of " if results.items else ""
    more = "" if results.total_exact else "+"  # beyond the counted hits, the total is a lower bound
    console.print(Text(f"{shown}{results.total}{more} hits", style="dim"))
