"""`daihou cob …`, `daihou rules …` and `daihou classification …`: the close of business and its rules."""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daihou import bootstrap
from daihou.batch.cob.engines import ENGINES
from daihou.batch.cob.runner import Refused, plan
from daihou.domain.grades import Grade, rules_from_dict, rules_to_dict
from daihou.service import classification

cob_app = typer.Typer(no_args_is_help=True, help="Close of business (日终批处理).")
rules_app = typer.Typer(no_args_is_help=True, help="Buckets, classification floors and provision rates (versioned).")
classification_app = typer.Typer(no_args_is_help=True, help="Manual five-category classification (人工认定).")
console = Console()
err = Console(stderr=True)


def _app(ctx: typer.Context) -> bootstrap.App:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        err.print(f"[red]error:[/red] {application.settings.database_url} is not initialised: run `daihou init`")
        raise typer.Exit(1)
    return application


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"[red]error:[/red] {text!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


def _refused(r: Refused) -> None:
    err.print(f"[red]{r.code}[/red]: {r.message}")
    raise typer.Exit(1)


@cob_app.command("run")
def run(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--date", help="Business date to close (default: the next one).")] = None,
    first: Annotated[str | None, typer.Option("--from", help="Catch up from this date …")] = None,
    last: Annotated[str | None, typer.Option("--to", help="… to this date, day by day.")] = None,
    engine: Annotated[str, typer.Option(help=f"Execution engine: {' | '.join(ENGINES)}.")] = "duckdb",
    rerun: Annotated[bool, typer.Option(help="Run the last finished day again, replacing its results.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Close one or more business days: accrual, DPD, classification, provisions, snapshot."""
    application = _app(ctx)
    if engine not in ENGINES:
        err.print(f"[red]error:[/red] unknown engine {engine!r}")
        raise typer.Exit(2)
    days = plan(application.cob_store(), _date(on), _date(first), _date(last), rerun)
    if isinstance(days, Refused):
        _refused(days)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=as_json) as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            key = step.split(" ", 1)[0]
            if key not in tasks:
                tasks[key] = bar.add_task(step, total=total)
            bar.update(tasks[key], completed=done, total=total, description=step)

        results = application.run_cob(days, engine, rerun=rerun, progress=progress)
    out = []
    for result in results:
        if isinstance(result, Refused):
            _refused(result)
        else:
            out.append(
                {
                    "business_date": result.business_date.isoformat(),
                    "seconds": round(result.seconds, 3),
                    **result.counts,
                }
            )
            if not as_json:
                console.print(
                    f"[green]closed[/green] {result.business_date} in {result.seconds:.1f} s: "
                    + ", ".join(f"{k} {v}" for k, v in result.counts.items())
                )
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")


@cob_app.command("status")
def status(ctx: typer.Context, limit: int = 10, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The latest runs: date, engine, state, start, end, counts per step, row-level errors."""
    runs = _app(ctx).cob_store().runs(limit)
    if as_json:
        data = [
            {
                "business_date": r.business_date.isoformat(),
                "engine": r.engine,
                "status": r.status,
                "started_at": str(r.started_at),
                "finished_at": str(r.finished_at),
                "counts": r.counts,
                "errors": r.errors,
            }
            for r in runs
        ]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="日终批处理 close of business")
    for col in ("business date", "engine", "status", "started", "finished", "counts", "errors"):
        table.add_column(col)
    for r in runs:
        counts = ", ".join(f"{k}={v}" for k, v in r.counts.items())
        table.add_row(
            r.business_date.isoformat(),
            r.engine,
            r.status,
            str(r.started_at)[:19],
            str(r.finished_at or "")[:19],
            counts,
            str(len(r.errors)),
        )
    console.print(table)


@rules_app.command("show")
def rules_show(ctx: typer.Context) -> None:
    """Print every rules version (JSON)."""
    versions = _app(ctx).cob_store().rule_versions()
    sys.stdout.write(json.dumps([rules_to_dict(r) for r in versions], ensure_ascii=False, indent=2) + "\n")


@rules_app.command("set")
def rules_set(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A TOML or JSON rules version (see docs/close-of-business.md).")],
    by: Annotated[str, typer.Option(help="Who sets it (kept with the version).")],
) -> None:
    """Add (or replace) the rules version effective on the file's `effective` date."""
    text = file.read_text(encoding="utf-8")
    data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    try:
        rules = rules_from_dict(data)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    _app(ctx).cob_store().save_rules(rules, by)
    console.print(f"rules effective {rules.effective} saved")


def _outcome(outcome: Any) -> None:
    (console if outcome.ok or outcome.code == classification.PENDING_APPROVAL else err).print(
        f"{outcome.code}: {outcome.message}"
    )
    raise typer.Exit(0 if outcome.ok or outcome.code == classification.PENDING_APPROVAL else 1)


@classification_app.command("propose")
def propose(
    ctx: typer.Context,
    loan_no: str,
    grade: Grade,
    reason: Annotated[str, typer.Option()],
    maker: Annotated[str, typer.Option()],
    effective: Annotated[str | None, typer.Option(help="Effective date (default today).")] = None,
) -> None:
    """Classify a loan by hand. Worse takes effect at once; better waits for a checker."""
    application = _app(ctx)
    day = _date(effective) or application.today()
    _outcome(classification.propose(application.uow(), loan_no, grade, reason, maker, day))


@classification_app.command("approve")
def approve(ctx: typer.Context, override_id: int, checker: Annotated[str, typer.Option()]) -> None:
    _outcome(classification.decide(_app(ctx).uow(), override_id, checker, approve=True))


@classification_app.command("reject")
def reject(ctx: typer.Context, override_id: int, checker: Annotated[str, typer.Option()]) -> None:
    _outcome(classification.decide(_app(ctx).uow(), override_id, checker, approve=False))
