"""``lineage sql FILE|-``: table and column lineage derived from SQL text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from meshfabric.cli._common import console, err_console, print_json, table

if TYPE_CHECKING:
    from meshfabric.query.lineage import SqlLineage


def register(lineage: typer.Typer) -> None:
    """Add the ``sql`` command to the ``lineage`` group."""
    lineage.command("sql")(sql_cmd)


def sql_cmd(
    file: str = typer.Argument(..., metavar="FILE|-", help="SQL file to read, or '-' for standard input."),
    dialect: str = typer.Option(None, "--dialect", "-d",
                                help="SQL dialect: postgres, mysql, duckdb, sqlite, spark, hive, snowflake, "
                                     "bigquery, tsql… (default: sqlglot's generic SQL)."),
    json_out: bool = typer.Option(False, "--json", help="Print {sources, targets, columns} as JSON."),
    detail: bool = typer.Option(False, "--detail",
                                help="Add typed column edges (identity / transformation / aggregation) and the "
                                     "indirect dependencies (join, filter, group by, sort, window, conditional)."),
    schema_file: Path = typer.Option(None, "--schema",
                                     help="JSON or YAML file {table: {column: type}} used to expand '*' and to "
                                          "place unqualified columns."),
) -> None:
    """Derive table and column lineage from a SQL statement or script (nothing is run)."""
    from meshfabric.errors import MeshfabricError

    try:
        sql = _read_sql(file)
        schema = _read_schema(schema_file) if schema_file is not None else None
        from meshfabric.query.lineage import analyze_sql

        result = analyze_sql(sql, dialect=dialect, schema=schema)
    except MeshfabricError as exc:
        err_console.print(Text("error: ", style="bold red") + Text(exc.message), soft_wrap=True)
        if exc.hint:
            err_console.print(Text("hint: ", style="yellow") + Text(exc.hint), soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    for warning in result.warnings:
        err_console.print(Text("warning: ", style="yellow") + Text(warning), soft_wrap=True)
    if json_out:
        print_json(result.to_detail_dict() if detail else result.to_dict())
        return
    _render(result, detail)


def _read_sql(file: str) -> str:
    from meshfabric.errors import ConfigError

    if file == "-":
        return sys.stdin.read().removeprefix("\ufeff")
    path = Path(file)
    try:
        return path.read_text(encoding="utf-8-sig")  # editors on Windows save a byte-order mark
    except FileNotFoundError:
        raise ConfigError(f"SQL file not found: {path}", hint="give a path to a .sql file, or '-' to read stdin") \
            from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a SQL file", hint="give a path to a .sql file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", hint="save the SQL file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", hint="check the path and its permissions") \
            from None


def _read_schema(path: Path) -> dict[str, Any]:

    from meshfabric.errors import ConfigError, SpecError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the schema file {path}: {exc}") from None
    try:
        from meshfabric import safe_yaml

        if path.suffix.lower() in (".yaml", ".yml"):
            data = safe_yaml.load_one(text, str(path))
        else:
            data = safe_yaml.load_json(text, str(path))
    except (SpecError, ConfigError):
        raise
    except Exception as exc:  # json and yaml raise their own error types
        raise ConfigError(f"the schema file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}",
                          hint="write it as {table: {column: type}}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the schema file {path} must hold a mapping {{table: {{column: type}}}}")
    return data


def _render(result: SqlLineage, detail: bool) -> None:
    console.print(table("Tables", ["role", "table"],
                        [["source", s] for s in result.sources] + [["target", t] for t in result.targets]))
    if not detail:
        console.print(table("Column lineage", ["source column", "target column"],
                            [[s, t] for s, t in result.edges]))
        return
    rows = []
    for st in result.statements:
        for col in st.columns:
            for f in col.inputs:
                t = f.transformation
                rows.append([st.index, str(f.source), str(col.target), t.type, t.subtype, "yes" if t.masking else ""])
    console.print(table("Column lineage", ["stmt", "source column", "target column", "type", "subtype", "masking"],
                        rows))
    deps = [[st.index, str(f.source), f.transformation.subtype] for st in result.statements for f in st.dataset]
    if deps:
        console.print(table("Dataset dependencies (indirect)", ["stmt", "source column", "subtype"], deps))
