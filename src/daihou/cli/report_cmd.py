"""`daihou report …`: portfolio reports from the daily snapshots (CSV, XLSX, PNG)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from daihou import bootstrap
from daihou.analytics.report import portfolio_report

report_app = typer.Typer(no_args_is_help=True, help="Portfolio reports (报表).")
console = Console()


@report_app.command("portfolio")
def portfolio(
    ctx: typer.Context,
    on: Annotated[str, typer.Option("--date", help="Business date of a closed day (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option(help="Folder for the CSV, XLSX and PNG files.")] = Path("reports"),
) -> None:
    """Book by bucket and class, NPL ratio, coverage, roll rates, a Markov forecast, vintages, EL by stage."""
    application: bootstrap.App = ctx.obj
    try:
        files = portfolio_report(application.settings.data_dir, date.fromisoformat(on), out)
    except ValueError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    for path in [*files.csv, files.xlsx, *files.charts]:
        console.print(str(path))
