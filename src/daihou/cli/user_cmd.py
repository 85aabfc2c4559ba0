"""`daihou user …`: Users, roles and API tokens."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.security import roles, tokens, users
from daihou.security.users import UserRefused

user_app = typer.Typer(no_args_is_help=True, help="Users, roles and API tokens.")
console = Console()
err = Console(stderr=True)


def _ready(ctx: typer.Context) -> bootstrap.App:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        err.print(
            f"[red]error:[/red] the database {application.settings.database_url} is not initialised: run `daihou init`"
        )
        raise typer.Exit(1)
    return application


def _password(given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        err.print("[red]error:[/red] the passwords differ")
        raise typer.Exit(2)
    return first


def _refused(result: UserRefused) -> None:
    err.print(f"[red]{result.code}[/red]: {result.message}")
    raise typer.Exit(1)


@user_app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(roles.ROLE_NAMES)}.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the username).")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password (default: asked, or one line from standard input).")
    ] = None,
    agency: Annotated[int | None, typer.Option(help="Agency id, for role agency.")] = None,
    borrower: Annotated[str | None, typer.Option(help="Borrower number, for role borrower.")] = None,
) -> None:
    """Add a user with a role (its data scope comes with the role, see security/roles.toml)."""
    application = _ready(ctx)
    result = users.add_user(application, username, _password(password), role, name, agency, borrower)
    if isinstance(result, UserRefused):
        _refused(result)
        return
    console.print(f"added {result.username} ({result.role})")


@user_app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Users and their roles."""
    application = _ready(ctx)
    rows = [
        {
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role,
            "active": u.active,
            "agency_id": u.agency_id,
            "borrower_id": u.borrower_id,
        }
        for u in users.list_users(application)
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table()
    for key in ("username", "display_name", "role", "active"):
        table.add_column(key)
    for r in rows:
        table.add_row(str(r["username"]), str(r["display_name"]), str(r["role"]), "yes" if r["active"] else "no")
    console.print(table)


@user_app.command("passwd")
def passwd(
    ctx: typer.Context,
    username: str,
    password: Annotated[str | None, typer.Option(help="New password (default: asked or read from stdin).")] = None,
) -> None:
    """Change a user's password; the user's open sessions end."""
    application = _ready(ctx)
    result = users.set_password(application, username, _password(password))
    if isinstance(result, UserRefused):
        _refused(result)
        return
    console.print(f"password changed for {username}")


@user_app.command("disable")
def disable(ctx: typer.Context, username: str) -> None:
    """Disable a user: no login, open sessions end, tokens stop working."""
    application = _ready(ctx)
    result = users.set_active(application, username, False)
    if isinstance(result, UserRefused):
        _refused(result)
    console.print(f"disabled {username}")


@user_app.command("token")
def token(
    ctx: typer.Context,
    username: str,
    name: Annotated[str, typer.Option(help="What system uses the token.")] = "api",
    role: Annotated[str | None, typer.Option(help="A role no wider than the user's (default: the user's).")] = None,
    revoke: Annotated[int | None, typer.Option(help="Revoke the token with this id instead.")] = None,
) -> None:
    """Issue an API token for a system acting as USERNAME (printed once; only its hash is kept)."""
    application = _ready(ctx)
    if revoke is not None:
        ok = tokens.revoke(application, revoke)
        console.print(f"token {revoke} {'revoked' if ok else 'was not active'}")
        raise typer.Exit(0 if ok else 1)
    try:
        issued = tokens.issue(application, username, name, role)
    except (ValueError, KeyError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    err.print(f"token {issued.id} for {issued.username} as {issued.role} (shown once):")
    sys.stdout.write(issued.token + "\n")
