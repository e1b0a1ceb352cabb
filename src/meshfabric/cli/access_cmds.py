"""Principals, roles, grants, policies and the audit log: ``users``, ``groups``, ``roles``,
``grants``, ``policy``, ``audit``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, err_console, open_mesh, print_json, table, write_output


def register(app: typer.Typer) -> None:
    """Add the access-control command groups."""
    users = typer.Typer(help="Users and service accounts (principals).", no_args_is_help=True)
    users.command("add")(users_add)
    users.command("list")(users_list)
    users.command("show")(users_show)
    app.add_typer(users, name="users")
    groups = typer.Typer(help="Groups (teams) of principals.", no_args_is_help=True)
    groups.command("add")(groups_add)
    groups.command("add-member")(groups_add_member)
    groups.command("remove-member")(groups_remove_member)
    groups.command("list")(groups_list)
    app.add_typer(groups, name="groups")
    roles = typer.Typer(help="Roles and who holds them.", no_args_is_help=True)
    roles.command("create")(roles_create)
    roles.command("assign")(roles_assign)
    roles.command("unassign")(roles_unassign)
    roles.command("list")(roles_list)
    app.add_typer(roles, name="roles")
    grants = typer.Typer(help="Permissions (discover ⊂ query ⊂ write ⊂ admin) on domains and products.",
                         no_args_is_help=True)
    grants.command("add")(grants_add)
    grants.command("revoke")(grants_revoke)
    grants.command("list")(grants_list)
    app.add_typer(grants, name="grants")
    policy = typer.Typer(help="Access policies (masks, row filters) as applied.", no_args_is_help=True)
    policy.command("show")(policy_show)
    policy.command("test")(policy_test)
    policy.command("suggest")(policy_suggest)
    app.add_typer(policy, name="policy")
    app.command("audit")(audit)


# -- users and groups ------------------------------------------------------------------------
def users_add(
    name: str = typer.Argument(..., help="Principal name (e.g. alice or etl@corp)."),
    kind: str = typer.Option("user", "--kind", help="user or service"),
    group: list[str] = typer.Option([], "--group", "-g", help="Group to join (repeatable; created if new)."),
    attr: list[str] = typer.Option([], "--attr", "-a", help="Attribute KEY=VALUE (repeatable), e.g. region=EU."),
    service: bool = typer.Option(False, "--service", help="A service account (the same as --kind service)."),
) -> None:
    """Add a user or service account."""
    if service:
        kind = "service"
    with open_mesh() as mesh:
        p = mesh.access.create_principal(name, kind=kind, groups=group, attributes=_attributes(attr))
    console.print(f"added {p.kind} [bold]{p.name}[/]" + (f" in {', '.join(p.groups)}" if p.groups else ""))


def users_list(as_json: bool = JsonOpt) -> None:
    """List principals with their groups, roles and attributes."""
    with open_mesh() as mesh:
        items = mesh.access.principals()
    if as_json:
        print_json([p.to_dict() for p in items])
        return
    console.print(table(None, ["name", "kind", "groups", "roles", "attributes", "admin"], [
        [p.name, p.kind, ", ".join(p.groups), ", ".join(p.roles),
         ", ".join(f"{k}={v}" for k, v in p.attributes.items()), "yes" if p.is_admin else ""] for p in items]))


def users_show(name: str = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """Show one principal."""
    with open_mesh() as mesh:
        p = mesh.access.describe(name)
    if as_json:
        print_json(p.to_dict())
        return
    for key, value in p.to_dict().items():
        console.print(f"{key}: {value}")


def groups_add(name: str = typer.Argument(...), description: str = typer.Option("", "--description")) -> None:
    """Create a group."""
    with open_mesh() as mesh:
        mesh.access.create_group(name, description)
    console.print(f"added group [bold]{name}[/]")


def groups_add_member(group: str = typer.Argument(...), principal: str = typer.Argument(...)) -> None:
    """Add a principal to a group (the group is created if new)."""
    with open_mesh() as mesh:
        mesh.access.add_member(group, principal)
    console.print(f"{principal} is in {group}")


def groups_remove_member(group: str = typer.Argument(...), principal: str = typer.Argument(...)) -> None:
    """Remove a principal from a group."""
    with open_mesh() as mesh:
        mesh.access.remove_member(group, principal)
    console.print(f"{principal} left {group}")


def groups_list(as_json: bool = JsonOpt) -> None:
    """List groups and members."""
    with open_mesh() as mesh:
        items = mesh.access.groups()
    if as_json:
        print_json(items)
        return
    console.print(table(None, ["group", "members", "description"],
                        [[g["name"], ", ".join(g["members"]), g["description"]] for g in items]))


# -- roles -----------------------------------------------------------------------------------
def roles_create(name: str = typer.Argument(...), description: str = typer.Option("", "--description")) -> None:
    """Create a role."""
    with open_mesh() as mesh:
        mesh.access.create_role(name, description)
    console.print(f"created role [bold]{name}[/]")


def roles_assign(
    role: str = typer.Argument(...),
    principal: str = typer.Argument(..., help="Principal (or group with --group)."),
    group: bool = typer.Option(False, "--group", help="Assign to every member of a group."),
) -> None:
    """Give a role to a principal or a group."""
    with open_mesh() as mesh:
        mesh.access.assign_role(principal, role, group=group)
    console.print(f"{'group ' if group else ''}{principal} holds {role}")


def roles_unassign(role: str = typer.Argument(...), principal: str = typer.Argument(...),
                   group: bool = typer.Option(False, "--group")) -> None:
    """Take a role away."""
    with open_mesh() as mesh:
        mesh.access.unassign_role(principal, role, group=group)
    console.print(f"{principal} no longer holds {role}")


def roles_list(as_json: bool = JsonOpt) -> None:
    """List roles and who holds them."""
    with open_mesh() as mesh:
        items = mesh.access.roles()
    if as_json:
        print_json(items)
        return
    console.print(table(None, ["role", "assigned to", "description"],
                        [[r["name"], ", ".join(r["assigned_to"]), r["description"]] for r in items]))


# -- grants ----------------------------------------------------------------------------------
_GRANTEE = {
    "role": typer.Option(None, "--role", help="Grant to a role."),
    "group": typer.Option(None, "--group", help="Grant to a group."),
    "user": typer.Option(None, "--user", help="Grant to a principal."),
}


def _grantee(role: str | None, group: str | None, user: str | None) -> tuple[str, str]:
    from meshfabric.errors import ConfigError

    given = [(k, v) for k, v in (("role", role), ("group", group), ("user", user)) if v]
    if len(given) != 1:
        raise ConfigError("name exactly one grantee", hint="use one of --role, --group or --user")
    return given[0]


def grants_add(
    permission: str = typer.Argument(..., help="discover, query, write or admin"),
    product: str = typer.Option(None, "--product", help="domain.product"),
    domain: str = typer.Option(None, "--domain"),
    source: str = typer.Option(None, "--source", help="a source of mesh.yaml (discover only: run discovery on it)"),
    role: str = _GRANTEE["role"], group: str = _GRANTEE["group"], user: str = _GRANTEE["user"],
) -> None:
    """Grant a permission on a product, a domain or (discover) a source."""
    kind, who = _grantee(role, group, user)
    with open_mesh() as mesh:
        g = mesh.access.grant(who, permission, product=product, domain=domain, source=source, grantee_kind=kind)
    console.print(f"granted {g.permission} on {g.resource_kind} {g.resource} to {g.grantee_kind} {g.grantee}")


def grants_revoke(
    permission: str = typer.Argument(...),
    product: str = typer.Option(None, "--product"),
    domain: str = typer.Option(None, "--domain"),
    source: str = typer.Option(None, "--source"),
    role: str = _GRANTEE["role"], group: str = _GRANTEE["group"], user: str = _GRANTEE["user"],
) -> None:
    """Revoke a permission."""
    from meshfabric.errors import NotFound

    kind, who = _grantee(role, group, user)
    with open_mesh() as mesh:
        n = mesh.access.revoke(who, permission, product=product, domain=domain, source=source, grantee_kind=kind)
    what = product or domain or f"source {source}"
    if not n:
        raise NotFound(f"{kind} '{who}' holds no {permission} grant on {what}",
                       hint="`meshfabric grants list` shows the grants")
    console.print(f"revoked {permission} on {what} from {kind} {who}")


def grants_list(as_json: bool = JsonOpt) -> None:
    """List grants."""
    with open_mesh() as mesh:
        items = mesh.access.grants()
    if as_json:
        print_json([g.to_dict() for g in items])
        return
    console.print(table(None, ["resource", "permission", "grantee", "granted by"], [
        [f"{g.resource_kind} {g.resource}", g.permission, f"{g.grantee_kind} {g.grantee}", g.granted_by]
        for g in items]))


# -- policies --------------------------------------------------------------------------------
def policy_show(as_json: bool = JsonOpt) -> None:
    """Show the applied access policies and the current policy version."""
    import yaml

    with open_mesh() as mesh:
        items = mesh.access.policies()
        version = mesh.access.policy_version()
    if as_json:
        print_json({"version": version, "policies": items})
        return
    console.print(f"policy version {version}")
    for p in items:
        console.print(Text(f"\n# {p['name']}  ({p['file']})", style="bold"))
        console.print(Text(yaml.safe_dump(p["document"], sort_keys=False).rstrip()))


def policy_test(
    user: str = typer.Option(..., "--user", help="Principal to evaluate."),
    product: str = typer.Option(..., "--product", help="domain.product"),
    as_json: bool = JsonOpt,
) -> None:
    """Show the masks and row filter USER gets on PRODUCT (and its permission)."""
    with open_mesh() as mesh:
        data = mesh.access.policy_test(user, product)
    who, fqn = data["principal"], data["product"]
    if as_json:
        print_json(data)
        return
    console.print(f"{who} on {fqn}: permission [bold]{data['permission'] or 'none'}[/]"
                  + ("  (workspace admin: no masks or filters)" if data["exempt"] else ""))
    masks = data["masks"]
    if masks:
        console.print(table("masks", ["column", "mask", "policy", "rank (subject, scope)"],
                            [[m["column"], m["mask"], m["policy"], tuple(m["rank"])] for m in masks]))
    elif not data["exempt"]:
        console.print("no masks")
    console.print(f"row filter: {data['row_filter'] or '(none: every row)'}")


def policy_suggest(
    write: Path = typer.Option(None, "--write", help="Write the suggested AccessPolicy file here (not overwritten)."),
    as_json: bool = JsonOpt,
) -> None:
    """Propose masks for PII columns a role, group or user with query access reads unmasked."""
    import yaml

    from meshfabric.errors import ConfigError

    with open_mesh() as mesh:
        items = mesh.access.suggest_masks()
        doc = mesh.access.suggestion_policy(items) if items else None
    if write is not None and doc is not None:
        if write.exists():
            raise ConfigError(f"{write} exists: nothing was written", hint="name a new file, or delete that one")
        try:
            write.parent.mkdir(parents=True, exist_ok=True)
            write.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {write}: {exc.strerror or exc}",
                              hint="choose a file in a folder you may write to") from None
    if as_json:
        print_json({"suggestions": items, "policy": doc})
        return
    if not items:
        console.print("no PII column is readable unmasked by a non-admin grantee")
        return
    console.print(table("PII columns readable unmasked", ["grantee", "product", "column", "suggested mask"],
                        [[f"{s['grantee_kind']} {s['grantee']}", s["product"], s["column"], s["mask"]]
                         for s in items]))
    if write is not None:
        console.print(f"wrote {write}: review it, list it under access.policies if mesh.yaml names policy files, "
                      "then `meshfabric apply`")
    else:
        console.print(yaml.safe_dump(doc, sort_keys=False), markup=False, highlight=False)


# -- audit -----------------------------------------------------------------------------------
def audit(
    user: str = typer.Option(None, "--user", help="Only this principal."),
    since: str = typer.Option(None, "--since", help="ISO time or a duration back from now (30m, 2h, 1d)."),
    action: str = typer.Option(None, "--action", help="query, explain, discover, write, …"),
    decision: str = typer.Option(None, "--decision", help="allowed, denied or error"),
    limit: int = typer.Option(100, "--limit", min=1, max=100000),
    export: Path = typer.Option(None, "--export", help="Write the entries to FILE as JSON lines."),
    as_json: bool = JsonOpt,
) -> None:
    """The audit log: every access decision, newest first."""
    import json

    with open_mesh(applied=True) as mesh:
        entries = mesh.access.audit_log(user=user, action=action, decision=decision, since=_since(since),
                                        limit=limit)
    if export is not None:
        write_output(export, "".join(json.dumps(e.to_dict(), default=str) + "\n" for e in entries), "--export")
        err_console.print(Text(f"wrote {len(entries)} entries to {export}", style="dim"))
        return
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    console.print(table(None, ["at", "principal", "action", "resource", "decision", "rows", "ms", "policy v",
                               "reason"], [
        [e.at.strftime("%Y-%m-%d %H:%M:%S"), e.principal, e.action, e.resource, e.decision, e.rows,
         f"{e.latency_ms:.1f}" if e.latency_ms is not None else "", e.policy_version, e.reason[:80]]
        for e in entries]))


def _since(text: str | None) -> datetime | None:
    from meshfabric.errors import ConfigError
    from meshfabric.spec.models import duration_seconds

    if not text:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=duration_seconds(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since '{text}' is neither a time nor a duration",
                          hint="e.g. --since 2h, --since 1d or --since 2026-01-31T12:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _attributes(pairs: list[str]) -> dict[str, Any]:
    from meshfabric.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--attr '{pair}' is not KEY=VALUE", hint="e.g. --attr region=EU")
        out[key.strip()] = value
    return out
