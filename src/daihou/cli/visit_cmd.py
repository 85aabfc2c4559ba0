"""`daihou visit …`: Follow-up visits (贷款回访): plans, records, overdue lists."""

from __future__ import annotations

import typer

visit_app = typer.Typer(no_args_is_help=True, help="Follow-up visits (贷款回访): plans, records, overdue lists.")
