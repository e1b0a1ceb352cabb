"""Credentials for the REST API: ``token create|revoke|revoked`` (JWT) and ``apikey create|list|revoke``.

Creating and revoking credentials needs the acting local principal (``access.local_principal``)
to be a workspace admin.
"""

from __future__ import annotations

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, err_console, open_mesh, print_json, table

token_app = typer.Typer(help="JWT bearer tokens for the REST API (issued with the HS* secret of mesh.yaml).",
                        no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for services calling the REST API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the credential command groups."""
    app.add_typer(token_app, name="token")
    app.add_typer(apikey_app, name="apikey")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", "-u", help="The principal the token names (its `sub`)."),
    ttl: str = typer.Option(None, "--ttl", help="Lifetime, e.g. 15m, 1h, 7d (default: auth.token_ttl)."),
    as_json: bool = JsonOpt,
) -> None:
    """Issue a signed token for USER; send it as `Authorization: Bearer <token>`."""

    with open_mesh() as mesh:
        issued = mesh.auth.issue_token(user, ttl=ttl)
    if as_json:
        print_json(issued.to_dict())
        return
    # the token alone on stdout, so `$(meshfabric token create --user u)` captures it
    typer.echo(issued.token)
    expires = f"{issued.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    err_console.print(Text(f"token for '{issued.subject}', jti {issued.jti}, expires {expires}", style="dim"))


@token_app.command("revoke")
def token_revoke(
    jti: str = typer.Argument(..., help="The token's jti, or the token itself."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the revocation)."),
    as_json: bool = JsonOpt,
) -> None:
    """Refuse a token from now on, wherever it is presented."""

    with open_mesh() as mesh:
        done = mesh.auth.revoke_token(jti, reason=reason)
    if as_json:
        print_json(done)
        return
    console.print(f"revoked token {done['jti']}")


@token_app.command("revoked")
def token_revoked(as_json: bool = JsonOpt) -> None:
    """List revoked tokens that have not expired yet (or whose expiry is unknown)."""

    with open_mesh() as mesh:
        rows = mesh.auth.revoked_tokens()
    if as_json:
        print_json(rows)
        return
    console.print(table("revoked tokens", ["jti", "subject", "revoked at", "by", "expires", "reason"],
                        [[r["jti"], r["subject"], r["revoked_at"], r["revoked_by"], r["expires_at"], r["reason"]]
                         for r in rows]))


@apikey_app.command("create")
def apikey_create(
    principal: str = typer.Option(..., "--principal", "-p", help="The principal (usually a service) the key acts as."),
    expires: str = typer.Option(None, "--expires", help="A lifetime (90d) or a date (2030-01-31); default: never."),
    name: str = typer.Option("", "--name", help="What the key is for (shown in `apikey list`)."),
    as_json: bool = JsonOpt,
) -> None:
    """Create an API key. It is printed ONCE: only its hash is stored."""

    with open_mesh() as mesh:
        created = mesh.auth.create_api_key(principal, expires=expires, name=name)
    if as_json:
        print_json(created.to_dict())
        return
    typer.echo(created.key)
    until = f", expires {created.info.expires_at:%Y-%m-%d %H:%M:%S} UTC" if created.info.expires_at else ""
    err_console.print(Text(f"API key {created.info.id} for '{principal}'{until}. Store it now: it cannot be "
                           "shown again. Send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
                           style="dim"))


@apikey_app.command("list")
def apikey_list(
    principal: str = typer.Option(None, "--principal", "-p", help="Only this principal's keys."),
    show_all: bool = typer.Option(False, "--all", help="Include revoked and expired keys."),
    as_json: bool = JsonOpt,
) -> None:
    """List API keys (never the keys themselves)."""

    with open_mesh() as mesh:
        keys = mesh.auth.api_keys(principal=principal, include_inactive=show_all)
    if as_json:
        print_json([k.to_dict() for k in keys])
        return

    def when(value: object) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else ""

    console.print(table("API keys", ["id", "principal", "name", "status", "created", "expires", "last used"],
                        [[k.id, k.principal, k.name, k.status, when(k.created_at), when(k.expires_at),
                          when(k.last_used_at)] for k in keys]))


@apikey_app.command("revoke")
def apikey_revoke(key_id: str = typer.Argument(..., help="The key's id (from `apikey list`)."),
                  as_json: bool = JsonOpt) -> None:
    """Revoke an API key: requests presenting it get 401 from now on."""

    with open_mesh() as mesh:
        info = mesh.auth.revoke_api_key(key_id)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"revoked API key {info.id} of '{info.principal}'")
