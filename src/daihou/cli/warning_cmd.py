"""`daihou warning …`: Early warning (风险预警): rules, alerts and their workflow, external signals."""

from __future__ import annotations

import typer

warning_app = typer.Typer(
    no_args_is_help=True, help="Early warning (风险预警): rules, alerts and their workflow, external signals."
)
