"""``schema check|history|show|diff|deprecate``: the schema registry from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, open_mesh, print_json, table


def register(app: typer.Typer) -> None:
    schema = typer.Typer(help="Schema versions and compatibility checks.", no_args_is_help=True)
    schema.command("check")(schema_check)
    schema.command("history")(schema_history)
    schema.command("show")(schema_show)
    schema.command("diff")(schema_diff)
    schema.command("deprecate")(schema_deprecate)
    app.add_typer(schema, name="schema")


def load_schema_file(path: Path) -> Any:
    """A JSON Schema (.json) or tabular columns (.yaml: a list of columns, ``columns:`` or a product spec)."""
    from pydantic import ValidationError

    from meshfabric.errors import ConfigError, SpecError
    from meshfabric.spec.loader import read_documents, validation_problems
    from meshfabric.spec.models import ColumnSpec

    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    if path.suffix.lower() == ".json":
        from meshfabric import safe_yaml

        try:
            return safe_yaml.load_json(safe_yaml.read_text(path, str(path)), str(path))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"cannot read a schema from '{path.name}'", hint="use .json (JSON Schema) or .yaml (columns)")
    docs = read_documents(path, str(path))
    if len(docs) != 1:
        raise ConfigError(f"{path}: expected one YAML document, found {len(docs)}")
    doc, lines = docs[0]
    prefix: tuple[Any, ...] = ()
    if isinstance(doc, dict):
        key = "schema" if "schema" in doc else "columns" if "columns" in doc else None
        if key is None:
            raise ConfigError(f"{path}: no 'columns:' or 'schema:' list", hint="write the columns as a YAML list")
        doc, prefix = doc[key], (key,)
    if not isinstance(doc, list):
        raise ConfigError(f"{path}: the columns must be a YAML list")
    columns, problems = [], []
    for i, item in enumerate(doc):
        try:
            columns.append(ColumnSpec.model_validate(item).model_dump(mode="json"))
        except ValidationError as exc:
            problems.extend(validation_problems(ColumnSpec, exc, str(path), lines, (*prefix, i)))
    if problems:
        raise SpecError(problems)
    return columns


def schema_check(
    files: list[Path] = typer.Argument(..., help="NEW OLD [OLDER ...]: new schema, then earlier ones, latest first."),
    mode: str = typer.Option("BACKWARD", "--mode", "-m", help="NONE, BACKWARD, FORWARD, FULL (+ _TRANSITIVE)."),
    policy: str = typer.Option("strict", "--policy", help="JSON Schema policy: strict or lenient."),
    as_json: bool = JsonOpt,
) -> None:
    """Check a new schema against earlier ones. Exit 0 compatible, 1 not, 2 bad input."""
    from meshfabric.contracts import check_compatibility
    from meshfabric.errors import ConfigError

    if len(files) < 2:
        raise ConfigError("give the new schema and at least one earlier one: schema check NEW OLD [OLDER ...]")
    schemas = [load_schema_file(f) for f in files]
    result = check_compatibility(schemas[0], schemas[1:], mode, policy=policy.lower())  # type: ignore[arg-type]
    if as_json:
        print_json({"compatible": result.compatible, "mode": result.mode,
                    "changes": [c.to_dict() for c in result.changes]})
    else:
        _print_changes(result, [str(f) for f in files[1:]])
    if not result.compatible:
        raise typer.Exit(1)


def _print_changes(result: Any, against: list[str]) -> None:
    for c in result.changes:
        style = "red" if c.breaking else "dim"
        where = f"  (vs {against[c.against]})" if len(against) > 1 else ""
        console.print(Text(f"{'✗' if c.breaking else '·'} {c.type} {c.path}{where}", style=style))
        if c.breaking and c.reason:
            console.print(Text(f"    {c.reason}", style=style))
    verdict = "compatible" if result.compatible else "NOT compatible"
    console.print(Text(f"{verdict} under {result.mode} ({len(result.changes)} changes)",
                       style="green" if result.compatible else "bold red"))


def schema_history(product: str = typer.Argument(..., help="domain.product"), as_json: bool = JsonOpt) -> None:
    """Every registered schema version of a product, newest first."""

    with open_mesh(applied=True) as mesh:
        versions = mesh.schemas.history(product)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    console.print(table(f"schema versions of {product}", ["version", "kind", "mode", "product version", "created",
                                                           "deprecated", "fingerprint"],
                        [[v.version, v.kind, v.mode, v.product_version, v.created_at.strftime("%Y-%m-%d %H:%M"),
                          "yes" if v.deprecated else "", v.fingerprint[:12]] for v in versions]))


def schema_show(
    product: str = typer.Argument(..., help="domain.product"),
    version: int = typer.Option(None, "--version", "-v", help="Default: the latest."),
) -> None:
    """Print one schema version as JSON."""

    with open_mesh(applied=True) as mesh:
        v = mesh.schemas.get(product, version)
    print_json(v.to_dict())


def schema_diff(
    product: str = typer.Argument(..., help="domain.product"),
    old: int = typer.Argument(..., help="Earlier version number."),
    new: int = typer.Argument(..., help="Later version number."),
    as_json: bool = JsonOpt,
) -> None:
    """The changes between two versions, and which break the product's mode."""

    with open_mesh(applied=True) as mesh:
        result = mesh.schemas.diff(product, old, new)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_changes(result, [f"v{old}"])


def schema_deprecate(product: str = typer.Argument(...), version: int = typer.Argument(...)) -> None:
    """Mark a version deprecated: transitive checks no longer hold new versions to it."""

    with open_mesh() as mesh:
        mesh.schemas.deprecate(product, version)
    console.print(f"{product} schema version {version} deprecated")
