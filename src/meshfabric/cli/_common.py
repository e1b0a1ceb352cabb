"""What every command shares: opening the workspace, printing tables and JSON, exit codes."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from meshfabric.mesh import Mesh

console = Console()
err_console = Console(stderr=True)

#: passed with -w/--workspace before the command; default: the current folder
STATE: dict[str, Any] = {"workspace": None, "acting": None}

JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


def open_mesh() -> Mesh:
    from meshfabric.mesh import Mesh

    mesh = Mesh.open(STATE["workspace"])
    mesh.settings.acting = STATE.get("acting")
    return mesh


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t
