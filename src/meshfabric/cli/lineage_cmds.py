"""``lineage upstream|downstream|impact|export``: the lineage graph kept in the store.

``lineage sql`` lives in :mod:`meshfabric.cli.lineage_sql_cmd` and is added to the same group.
"""

from __future__ import annotations

import typer

from meshfabric.cli import lineage_sql_cmd


def register(app: typer.Typer) -> None:
    lineage = typer.Typer(help="Table and column lineage: from SQL, OpenLineage and applied products.",
                          no_args_is_help=True)
    lineage_sql_cmd.register(lineage)
    app.add_typer(lineage, name="lineage")
