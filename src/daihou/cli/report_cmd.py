"""`daihou report …`: portfolio reports from the daily snapshots (CSV, XLSX, PNG)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.analytics.report import portfolio_report
from daihou.domain.money import yuan_text

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


@report_app.command("collections")
def collections(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period (YYYY-MM-DD).")],
    by: Annotated[str, typer.Option(help="collector | team | agency | strategy_arm")] = "collector",
    out: Annotated[Path | None, typer.Option(help="Also write CSV and XLSX into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Collection KPIs: recovery, contact, right-party and promise-kept rates per collector, team or agency."""
    from daihou.analytics.collections import GROUPINGS
    from daihou.workflow.kpis import collection_kpis

    application: bootstrap.App = ctx.obj
    err = Console(stderr=True)
    if by not in GROUPINGS:
        err.print(f"[red]error:[/red] --by: use one of {', '.join(GROUPINGS)}")
        raise typer.Exit(2)
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        err.print("[red]error:[/red] --from/--to: dates are YYYY-MM-DD")
        raise typer.Exit(2) from None
    if last < first:
        err.print("[red]error:[/red] --to is before --from")
        raise typer.Exit(2)
    table = collection_kpis(application, first, last, by)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        stem = f"collections_{by}_{first}_{last}"
        table.to_csv(out / f"{stem}.csv", index=False, encoding="utf-8")
        table.to_excel(out / f"{stem}.xlsx", index=False, sheet_name="kpis")
        console.print(f"wrote {out / stem}.csv and .xlsx")
    if as_json:
        sys.stdout.write(
            json.dumps({"from": start, "to": end, "by": by, "rows": _json_rows(table)}, ensure_ascii=False)
        )
        sys.stdout.write("\n")
        return
    view = Table(title=f"催收 KPIs {first} – {last} by {by}")
    columns = (by, "cases", "recovery_rate", "contact_rate", "right_party_rate", "promises", "promise_kept_rate")
    for name in columns:
        view.add_column(name, justify="left" if name == by else "right")
    for row in table.itertuples(index=False):
        values = row._asdict()
        view.add_row(*(f"{values[c]:.2%}" if c.endswith("_rate") else str(values[c]) for c in columns))
    console.print(view)


def _json_rows(table: Any) -> list[dict[str, Any]]:
    """Amounts as yuan strings (DESIGN §6), counts as numbers, rates as fractions."""
    rows = []
    for record in table.to_dict(orient="records"):
        rows.append(
            {
                (k.removesuffix("_fen") if k.endswith("_fen") else k): (
                    yuan_text(int(v))
                    if k.endswith("_fen")
                    else v
                    if isinstance(v, str)
                    else float(v)
                    if k.endswith("_rate")
                    else int(v)
                )
                for k, v in record.items()
            }
        )
    return rows
