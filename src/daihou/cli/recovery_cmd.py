"""`daihou recovery …`: Restructuring, settlement, legal matters, agencies and write-off."""

from __future__ import annotations

import typer

recovery_app = typer.Typer(
    no_args_is_help=True, help="Restructuring, settlement, legal matters, agencies and write-off."
)
