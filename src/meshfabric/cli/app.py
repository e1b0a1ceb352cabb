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
    discover_cmd,
    events_cmds,
    lineage_cmds,
    monitor_cmds,
    observe_cmds,
    quality_cmds,
    query_cmd,
    schema_cmds,
    search_cmd,
    serve_cmd,
    sources_cmds,
    stats_cmds,
)
from meshfabric.cli._common import STATE


def _flags_take_no_value() -> None:
    """Show on/off flags without a type in --help (`--dry-run`, not `--dry-run <bool>`).

    typer 0.29's rich help labels every option with its type, a flag too: `TyperOption.display_type_rich`
    returns `<bool>` where click shows nothing. A flag takes no value, so it gets no label.
    """
    from typer.core import TyperOption

    label = TyperOption.display_type_rich
    if getattr(label, "_meshfabric", False):
        return

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        if getattr(self, "is_bool_flag", False) and self.metavar is None:
            return None
        return label(self, ctx)  # type: ignore[arg-type]

    display_type_rich._meshfabric = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

app = typer.Typer(
    name="meshfabric",
    help="Data mesh + data fabric: domains own data products; one SQL joins them all.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from meshfabric import __version__

        typer.echo(f"meshfabric {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    workspace: Path = typer.Option(
        None, "--workspace", "-w", help="Workspace folder (default: the nearest folder with mesh.yaml)."
    ),
    acting: str = typer.Option(
        None, "--as", help="Act as this principal in every command (the local principal must be a workspace "
                           "admin); each command's own --as wins.",
    ),
    _version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                  help="Print meshfabric's version and exit."),
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
discover_cmd.register(app)
query_cmd.register(app)
events_cmds.register(app)
demo_cmd.register(app)
schema_cmds.register(app)
contract_cmds.register(app)
serve_cmd.register(app)
quality_cmds.register(app)
monitor_cmds.register(app)
observe_cmds.register(app)
lineage_cmds.register(app)
search_cmd.register(app)
access_cmds.register(app)
auth_cmds.register(app)
stats_cmds.register(app)
