"""``contract generate|import|export|list|show|test|violations|check|changelog``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from meshfabric.cli._common import STATE, JsonOpt, console, err_console, open_mesh, print_json, table, write_output


def register(app: typer.Typer) -> None:
    contract = typer.Typer(help="Data contracts between producer products and consumer domains (ODCS v3.1).",
                           no_args_is_help=True)
    for name, fn in (("generate", generate), ("import", import_), ("export", export), ("list", list_),
                     ("show", show), ("test", test), ("violations", violations), ("check", check),
                     ("changelog", changelog)):
        contract.command(name)(fn)
    app.add_typer(contract, name="contract")


def _pairs(values: list[str], option: str) -> dict[str, float]:
    from meshfabric.errors import ConfigError

    out: dict[str, float] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(raw)
        except ValueError:
            raise ConfigError(
                f"{option} '{item}' is not name=number", hint=f"e.g. {option} completeness=0.98"
            ) from None
    return out


def generate(
    product: str = typer.Argument(..., help="domain.product (the producer)"),
    consumer: str = typer.Option(..., "--consumer", "-c", help="Consumer domain."),
    require: list[str] = typer.Option([], "--require", "-r",
                                      help="Consumer requirement name=value (raises the defaults, never lowers)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the ODCS YAML here."),
    save: bool = typer.Option(False, "--save", help="Store the contract in the catalog."),
) -> None:
    """Generate a contract from a product: its schema, SLA defaults raised by the consumer's needs."""
    from meshfabric.contracts.odcs import dump_contract

    with open_mesh() as mesh:
        contract = mesh.contracts.generate(product, consumer, _pairs(require, "--require"), save=save)
    text = dump_contract(contract)
    if output:
        write_output(output, text)
        err_console.print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)
    if save:
        err_console.print(f"saved contract {contract.id}")


def import_(file: Path = typer.Argument(..., help="ODCS v3.1 YAML file."), as_json: bool = JsonOpt) -> None:
    """Validate an ODCS contract and store it in the catalog."""

    with open_mesh() as mesh:
        contract = mesh.contracts.import_(file)
    if as_json:
        print_json(contract.to_dict())
        return
    console.print(f"imported contract {contract.id} ({contract.product_fqn or 'no product'} → "
                  f"{contract.consumer_domain or 'no consumer'}, v{contract.version}, {contract.status})")


def export(
    contract_id: str = typer.Argument(..., help="Contract id (a unique prefix works)."),
    output: Path = typer.Option(None, "--output", "-o"),
) -> None:
    """Print or write a stored contract as ODCS YAML, exactly as stored."""

    with open_mesh(applied=True) as mesh:
        text = mesh.contracts.export(contract_id)
    if output:
        write_output(output, text)
    else:
        typer.echo(text, nl=False)


def list_(
    product: str = typer.Option(None, "--product", "-p"),
    consumer: str = typer.Option(None, "--consumer", "-c"),
    as_json: bool = JsonOpt,
) -> None:
    """List stored contracts."""

    with open_mesh(applied=True) as mesh:
        items = mesh.contracts.list(product=product, consumer=consumer)
    if as_json:
        print_json([c.to_dict() for c in items])
        return
    console.print(table("contracts", ["id", "product", "consumer", "version", "status", "valid until"],
                        [[c.id[:8], c.product, c.consumer, c.version, c.status,
                          c.valid_until.date() if c.valid_until else ""] for c in items]))


def show(contract_id: str = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """Show a contract: parties, validity, SLA and the columns it binds."""

    with open_mesh(applied=True) as mesh:
        c = mesh.contracts.get(contract_id)
    if as_json:
        print_json(c.to_dict())
        return
    console.print(Text(f"contract {c.id}  v{c.version}  {c.status}", style="bold"))
    console.print(Text(f"product {c.product_fqn} → consumer {c.consumer_domain}\n"
                       f"valid {c.valid_from} .. {c.valid_until}"))
    console.print(table("service levels", ["property", "value", "unit"],
                        [[s.name, s.value, s.unit or ""] for s in c.sla_properties]))
    console.print(table("bound columns", ["column", "type", "required"],
                        [[p.name, p.physical_type or p.logical_type or "", p.required] for p in c.bound_properties()]))


def test(
    contract_id: str = typer.Argument(...),
    metric: list[str] = typer.Option([], "--metric", "-m", help="Measured metric name=value."),
    metrics: Path = typer.Option(None, "--metrics", help="JSON file {name: value}."),
    as_json: bool = JsonOpt,
) -> None:
    """Evaluate a contract against measured metrics: each one passing or violated, each promise left
    unmeasured. Exit 1 on any violation or missing metric (an unmeasured promise is not a kept one)."""
    from meshfabric.contracts.compliance import evaluate
    from meshfabric.errors import ConfigError

    values = _pairs(metric, "--metric")
    if metrics:
        try:
            from meshfabric import safe_yaml

            loaded = safe_yaml.load_json(safe_yaml.read_text(metrics, str(metrics)), str(metrics))
            if not isinstance(loaded, dict):
                raise ConfigError(f"{metrics} must hold an object {{metric: value}}")
            values = {**loaded, **values}
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read metrics from {metrics}: {exc}") from None
    with open_mesh() as mesh:
        result = mesh.contracts.test(contract_id, values)
        contract = mesh.contracts.get(contract_id)
    # judged one at a time (a pure evaluation, nothing recorded): which metrics met every promise
    # they were compared with, and which the contract says nothing about
    passed, unused = [], []
    for name, value in values.items():
        alone = evaluate(contract, {name: value}, measured_at=result.measured_at)
        if not alone.checked:
            unused.append(name)
        elif not alone:
            passed.append((name, value))
    if as_json:
        print_json({"compliant": result.compliant, "violations": [v.to_dict() for v in result],
                    "passed": [{"metric": n, "actual": v} for n, v in passed], "not_in_contract": unused,
                    "missing": [getattr(m, "__dict__", str(m)) for m in result.missing]})
    else:
        for name, value in passed:
            console.print(Text(f"✓ {name}: {value} meets the contract", style="green"))
        for v in result:
            console.print(Text(f"✗ {v.metric}: {v.actual} violates {v.operator} {v.threshold}", style="red"))
        for name in unused:
            console.print(Text(f"· {name}: the contract promises nothing about it (ignored)", style="dim"))
        for m in result.missing:
            console.print(Text(f"? no measurement for {getattr(m, 'metric', m)} (an unmeasured promise fails "
                               "the test: pass it with -m)", style="yellow"))
        console.print(Text("compliant" if result.compliant else "NOT compliant",
                           style="green" if result.compliant else "bold red"))
    if not result.compliant:
        raise typer.Exit(1)


def violations(
    contract_id: str = typer.Argument(None, help="Contract id (a unique prefix works); default: every contract."),
    as_json: bool = JsonOpt,
) -> None:
    """Recorded violations; the measured value only where you may read the product unmasked."""

    with open_mesh(applied=True) as mesh:
        found = mesh.contracts.violations(contract_id)
    if as_json:
        print_json(found)
        return
    console.print(table("violations", ["contract", "metric", "actual", "operator", "threshold", "measured at"],
                        [[v["contract_id"][:8], v["metric"], v["actual"],
                          v["operator"], v["threshold"], v["measured_at"]] for v in found]))


def check(path: Path = typer.Argument(None, help="Workspace or a part of it (default: the whole workspace).")) -> None:
    """For CI: would applying the specs break a schema's mode or a consumer's contract? Exit 1 if so."""
    from meshfabric.errors import ContractBroken, IncompatibleSchema
    from meshfabric.mesh import Mesh

    mesh = Mesh.open(STATE["workspace"] if STATE["workspace"] is not None else path)
    try:
        result = mesh.apply(path, dry_run=True)
    except (IncompatibleSchema, ContractBroken) as exc:
        err_console.print(Text(exc.message, style="red"))
        raise typer.Exit(1) from None
    finally:
        mesh.close()
    for w in result.warnings:
        err_console.print(Text("warning: ", style="yellow") + Text(w))
    console.print(Text("no contract or schema compatibility breaks", style="green"))


def changelog(
    old: Path = typer.Argument(..., help="Earlier contract (ODCS YAML)."),
    new: Path = typer.Argument(..., help="Later contract (ODCS YAML)."),
    as_json: bool = JsonOpt,
) -> None:
    """What changed between two versions of a contract, with a severity each. Exit 1 if any breaks."""
    from meshfabric.contracts.changelog import contract_changes
    from meshfabric.contracts.odcs import load_contract

    changes = contract_changes(load_contract(old), load_contract(new))
    if as_json:
        print_json([c.to_dict() for c in changes])
    else:
        styles = {"error": "red", "warning": "yellow", "info": "dim"}
        for c in changes:
            console.print(Text(f"{c.severity:<7} {c.path}: {c.message}", style=styles.get(c.severity, "")))
        if not changes:
            console.print("no changes")
    if any(c.breaking for c in changes):
        raise typer.Exit(1)
