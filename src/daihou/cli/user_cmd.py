"""`daihou user …`: Users, roles and API tokens."""

from __future__ import annotations

import typer

user_app = typer.Typer(no_args_is_help=True, help="Users, roles and API tokens.")
