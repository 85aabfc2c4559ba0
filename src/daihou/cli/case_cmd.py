"""`daihou case …`: Collections (催收): cases, strategies, work lists, contacts, promises."""

from __future__ import annotations

import typer

case_app = typer.Typer(
    no_args_is_help=True, help="Collections (催收): cases, strategies, work lists, contacts, promises."
)
