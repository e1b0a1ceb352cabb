"""The Typer application: one sub-module per command group, registered here."""

from __future__ import annotations

from pathlib import Path

import typer

from meshfabric.cli import (
    access_cmds,
    auth_cmds,
    catalog_cmds,
    contract_cmds,
    demo_cmd,
    events_cmds,
    lineage_cmds,
    monitor_cmds,
    quality_cmds,
    query_cmd,
    schema_cmds,
    search_cmd,
    serve_cmd,
    sources_cmds,
)
from meshfabric.cli._common import STATE

app = typer.Typer(
    name="meshfabric",
    help="Data mesh + data fabric: domains own data products; one SQL joins them all.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    workspace: Path = typer.Option(
        None, "--workspace", "-w", help="Workspace folder (default: the nearest folder with mesh.yaml)."
    ),
    acting: str = typer.Option(
        None, "--as", help="Act as this principal in every command (the local principal must be a workspace "
                           "admin); each command's own --as wins.",
    ),
) -> None:
    STATE["workspace"] = workspace
    STATE["acting"] = acting


@app.command("version")
def version() -> None:
    """Print meshfabric's version."""
    from meshfabric import __version__

    typer.echo(__version__)


catalog_cmds.register(app)
sources_cmds.register(app)
query_cmd.register(app)
events_cmds.register(app)
demo_cmd.register(app)
schema_cmds.register(app)
contract_cmds.register(app)
serve_cmd.register(app)
quality_cmds.register(app)
monitor_cmds.register(app)
lineage_cmds.register(app)
search_cmd.register(app)
access_cmds.register(app)
auth_cmds.register(app)
