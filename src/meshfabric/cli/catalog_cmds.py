"""``init``, ``apply``, ``domains``, ``products`` and ``spec`` commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from meshfabric.cli._common import STATE, JsonOpt, console, err_console, open_mesh, print_json, table
from meshfabric.cli._progress import progress


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("apply")(apply)
    app.command("domains")(domains)
    # `meshfabric products` alone lists them: error hints say so
    products = typer.Typer(help="List and show data products (alone: list them).", invoke_without_command=True)
    products.callback()(_products_default)
    products.command("list")(products_list)
    products.command("show")(products_show)
    products.command("write")(products_write)
    app.add_typer(products, name="products")
    spec = typer.Typer(help="Spec file format.", no_args_is_help=True)
    spec.command("schema")(spec_schema)
    app.add_typer(spec, name="spec")


def init(
    directory: Path = typer.Argument(Path("."), help="Folder to create the workspace in."),
    name: str = typer.Option(None, help="Workspace name (default: the folder's name)."),
) -> None:
    """Create a workspace: mesh.yaml, an example product spec and a small CSV it serves."""
    from meshfabric.cli.workspace_init import scaffold

    created = scaffold(directory, name)
    for path in created:
        console.print(f"created {path}")
    console.print(f"\nnext: [bold]cd {directory} && meshfabric apply[/]")


def apply(
    path: Path = typer.Argument(None, help="Workspace folder, or a folder/file inside it to apply only that part."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write nothing."),
    allow_drift: bool = typer.Option(False, "--allow-drift", help="Schema drift warns instead of failing."),
    as_json: bool = JsonOpt,
) -> None:
    """Validate every spec file, check declared schemas against the sources, then apply in one transaction."""
    from meshfabric.mesh import Mesh

    workspace = STATE["workspace"]
    if path is not None and workspace is not None and not path.is_absolute() and not path.exists():
        path = Path(workspace) / path  # `-w WS apply products/sales`: the part is relative to WS
    if path is not None and not path.exists():
        from meshfabric.errors import ConfigError

        raise ConfigError(f"apply: {path} does not exist",
                          hint="name the workspace folder, or a spec folder or file inside it (or no path: all of it)")
    mesh = Mesh.open(workspace if workspace is not None else path)
    try:
        with progress(enabled=not as_json) as report:
            result = mesh.apply(path, dry_run=dry_run, allow_drift=allow_drift, progress=report)
    finally:
        mesh.close()
    if as_json:
        print_json(result.to_dict())
        return
    marks = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "unchanged": (" ", "dim")}
    for c in result.changes:
        sign, style = marks[c.action]
        line = Text(f"{sign} {c.kind} {c.name}", style=style)
        if c.changed:
            line.append(f"  ({', '.join(c.changed)})", style="dim")
        console.print(line)
    for w in result.warnings:
        err_console.print(Text("warning: ", style="yellow") + Text(w))
    summary = ", ".join(f"{result.count(a)} {a}" for a in ("create", "update", "delete", "unchanged"))
    verb = "plan" if not result.applied else "applied"
    console.print(f"\n{verb}: {summary}" + ("" if result.applied else " (dry run: nothing written)"))


def domains(as_json: bool = JsonOpt) -> None:
    """List domains with their owners and product counts."""
    with open_mesh(applied=True) as mesh:
        items = mesh.domains()
    if as_json:
        print_json([d.to_dict() for d in items])
        return
    console.print(table("domains", ["domain", "owners", "products", "description"],
                        [[d.name, ", ".join(d.owners), d.products, d.description] for d in items]))


def products_list(
    domain: str = typer.Option(None, "--domain", "-d", help="Only this domain."),
    status: str = typer.Option(None, "--status", help="draft, published, deprecated or retired."),
    tag: str = typer.Option(None, "--tag", help="Only products with this tag."),
    as_json: bool = JsonOpt,
) -> None:
    """List data products."""
    with open_mesh(applied=True) as mesh:
        items = mesh.products(domain=domain, status=status, tag=tag)
    if as_json:
        print_json([p.to_dict() for p in items])
        return
    console.print(table("data products", ["product", "status", "version", "owner", "source", "columns", "tags"],
                        [[p.fqn, p.status, p.version, p.owner, p.source, len(p.columns), ", ".join(p.tags)]
                         for p in items]))


def _products_default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        products_list(domain=None, status=None, tag=None, as_json=False)


def products_show(product: str = typer.Argument(..., help="domain.product"), as_json: bool = JsonOpt) -> None:
    """Show one product: owner, status, output port and schema."""
    with open_mesh(applied=True) as mesh:
        p = mesh.product(product)
    if as_json:
        print_json(p.to_dict())
        return
    port = p.output
    where = port.get("table") or port.get("path") or port.get("sql")
    console.print(f"[bold]{p.fqn}[/]  {p.status}  v{p.version} (revision {p.revision})")
    console.print(Text(f"owner: {p.owner}\nsource: {p.source} → {where}\nfile: {p.file}\ntags: {', '.join(p.tags)}"))
    if p.description:
        console.print(Text(p.description))
    console.print(table("schema", ["column", "type", "nullable", "classification", "description"],
                        [[c["name"], c["type"], c.get("nullable", True), ", ".join(c.get("classification", [])),
                          c.get("description", "")] for c in p.columns]))


SPEC_FILE_KINDS = ("DataProduct", "DataContract", "AccessPolicy", "Mesh")


def spec_schema(kind: str = typer.Argument(
        "DataProduct", help="DataProduct, DataContract (ODCS v3.1), AccessPolicy or Mesh (mesh.yaml).")) -> None:
    """Print the JSON Schema of a spec file kind (for editor validation)."""
    import json

    from meshfabric.errors import ConfigError

    if kind == "DataContract":  # contracts are ODCS documents: the standard's own schema, as bundled
        from meshfabric.contracts.odcs import SCHEMA_PATH

        print_json(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
        return
    if kind == "AccessPolicy":
        from meshfabric.spec.access_models import AccessPolicy

        print_json(AccessPolicy.model_json_schema(by_alias=True))
        return
    if kind == "Mesh":
        from meshfabric.spec.models import MeshSpec

        print_json(MeshSpec.model_json_schema(by_alias=True))
        return
    from meshfabric.spec.models import SPEC_KINDS

    if kind not in SPEC_KINDS:
        raise ConfigError(f"unknown spec kind '{kind}'", hint=f"use one of {', '.join(SPEC_FILE_KINDS)}")
    print_json(SPEC_KINDS[kind].model_json_schema(by_alias=True))


def products_write(
    product: str = typer.Argument(..., help="domain.product"),
    file: Path = typer.Argument(..., help="Parquet, CSV or JSON-lines file with the rows to publish."),
    mode: str = typer.Option("append", "--mode", help="append, replace or create."),
) -> None:
    """Publish rows into a product's output port, checked against its declared schema first."""
    from meshfabric.errors import ConfigError

    if not file.is_file():
        raise ConfigError(f"no such file: {file}")
    suffix = file.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            data = pq.read_table(file)
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            data = pcsv.read_csv(file)
        elif suffix in (".json", ".jsonl", ".ndjson"):
            import pyarrow.json as pjson

            data = pjson.read_json(file)
        else:
            raise ConfigError(f"cannot read '{file.name}'", hint="use a .parquet, .csv or .jsonl file")
    except ConfigError:
        raise
    except Exception as exc:  # pyarrow's parse errors say what and where
        raise ConfigError(f"cannot read {file}: {exc}") from None
    with open_mesh() as mesh, progress() as report:
        report(f"writing {data.num_rows} rows to {product}", 0, 1)
        rows = mesh.write(product, data, mode=mode)
    console.print(f"wrote {rows} rows to {product} ({mode})")
