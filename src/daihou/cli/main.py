"""The `daihou` command: a thin driver that parses, calls the service and renders."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.batch.cob.runner import Refused
from daihou.cli.case_cmd import case_app
from daihou.cli.cob_cmd import classification_app, cob_app, rules_app
from daihou.cli.import_cmd import import_app
from daihou.cli.labels import label
from daihou.cli.model_cmd import model_app
from daihou.cli.recovery_cmd import recovery_app
from daihou.cli.reminder_cmd import reminder_app
from daihou.cli.report_cmd import report_app
from daihou.cli.user_cmd import user_app
from daihou.cli.visit_cmd import visit_app
from daihou.cli.warning_cmd import warning_app
from daihou.config import Settings
from daihou.domain.calendar import DayCount, Frequency
from daihou.domain.money import Money, MoneyFormatError, parse_rate_percent, yuan_text
from daihou.domain.products import METHOD_ALIASES, Component
from daihou.domain.schedule import ScheduleTerms, build_schedule
from daihou.domain.servicing import Charge, Prepayment, PrepaymentMode, Waiver, payoff_quote
from daihou.service import ledger, queries
from daihou.service.ledger import Outcome

app = typer.Typer(no_args_is_help=True, add_completion=False, help="daihou (贷后): post-loan management for lenders.")
loan_app = typer.Typer(no_args_is_help=True, help="Look at loans.")
app.add_typer(loan_app, name="loan")
console = Console()
err = Console(stderr=True)


def _app(ctx: typer.Context) -> bootstrap.App:
    application: bootstrap.App = ctx.obj
    return application


def _ready(ctx: typer.Context) -> bootstrap.App:
    application = _app(ctx)
    if not application.initialised:
        _fail(f"the database {application.settings.database_url} is not initialised: run `daihou init` first")
    return application


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _money(text: str, name: str) -> int:
    try:
        return Money.yuan(text).fen
    except MoneyFormatError as exc:
        _fail(f"{name}: {exc}", 2)
        raise


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{name}: {text!r} is not a date (YYYY-MM-DD)", 2)
        raise


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="DAIHOU_DATABASE_URL", help="Database URL (default sqlite:///daihou.db)."),
    ] = None,
) -> None:
    settings = Settings(database_url=db) if db else Settings()
    ctx.obj = bootstrap.build(settings)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database schema and add the default products."""
    application = _app(ctx)
    application.initialise()
    console.print(f"initialised {application.settings.database_url}")


@app.command()
def schedule(
    principal: Annotated[str, typer.Option(help="Loan amount in yuan, e.g. 1000000 or 5000.50.")],
    annual_rate: Annotated[str, typer.Option(help="Annual rate in percent: 4.9 means 4.9 %.")],
    months: Annotated[int, typer.Option(help="Number of periods (months for monthly loans).")],
    method: Annotated[
        str, typer.Option(help="equal_installment | equal_principal | interest_only | bullet (or 等额本息 …).")
    ],
    start: Annotated[str, typer.Option(help="Disbursement date YYYY-MM-DD.")],
    first_due: Annotated[
        str | None, typer.Option(help="First due date (a broken first period if not one period on).")
    ] = None,
    frequency: Annotated[Frequency, typer.Option(help="Repayment frequency.")] = Frequency.MONTHLY,
    day_count: Annotated[DayCount, typer.Option(help="Day count for daily interest.")] = DayCount.ACT_360,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print a repayment schedule (还款计划) without touching the database."""
    if method not in METHOD_ALIASES:
        _fail(f"unknown method {method!r}; use one of {', '.join(sorted(m for m in METHOD_ALIASES if m.isascii()))}", 2)
    try:
        terms = ScheduleTerms(
            _money(principal, "--principal"),
            parse_rate_percent(annual_rate),
            months,
            METHOD_ALIASES[method],
            _date(start, "--start"),
            _date(first_due, "--first-due") if first_due else None,
            frequency,
            day_count,
        )
        sched = build_schedule(terms)
    except ValueError as exc:
        _fail(str(exc), 2)
        raise
    rows = [
        {
            "no": i.no,
            "due_date": i.due_date.isoformat(),
            "principal": yuan_text(i.principal_fen),
            "interest": yuan_text(i.interest_fen),
            "payment": yuan_text(i.payment_fen),
            "remaining_principal": yuan_text(i.remaining_principal_fen),
        }
        for i in sched.installments
    ]
    totals = {
        "total_principal": yuan_text(sched.total_principal_fen),
        "total_interest": yuan_text(sched.total_interest_fen),
        "total_payment": yuan_text(sched.total_payment_fen),
    }
    if as_json:
        _print_json({"installments": rows, **totals})
        return
    table = Table(title=label("schedule_title"))
    for key in ("no", "due_date", "principal", "interest", "payment", "remaining_principal"):
        table.add_column(label(key), justify="right")
    for r in rows:
        table.add_row(
            *(str(r[k]) for k in ("no", "due_date", "principal", "interest", "payment", "remaining_principal"))
        )
    table.add_section()
    table.add_row(label("total"), "", totals["total_principal"], totals["total_interest"], totals["total_payment"], "")
    console.print(table)


# ---------------------------------------------------------------- money-moving commands

EXIT_CODES = {ledger.ACCEPTED: 0, ledger.DUPLICATE: 0}


def _report(outcome: Outcome, as_json: bool, application: bootstrap.App | None = None, kind: str = "") -> None:
    """The one place outcomes become output and exit codes: 0 accepted or duplicate, 1 refused.
    With the application, an accepted money movement of `kind` lets the workflows react first."""
    if application is not None:
        from daihou.workflow.daily import after_money_moved

        after_money_moved(application, outcome.loan_no, outcome.code == ledger.ACCEPTED, kind)
    if as_json:
        _print_json(
            {
                "code": outcome.code,
                "message": outcome.message,
                "loan_no": outcome.loan_no,
                "reference": outcome.reference,
                **outcome.detail,
            }
        )
    elif outcome.ok:
        console.print(f"[green]{outcome.code}[/green]: {outcome.message}")
    else:
        err.print(f"[red]{outcome.code}[/red]: {outcome.message}")
    raise typer.Exit(EXIT_CODES.get(outcome.code, 1))


@app.command()
def pay(
    ctx: typer.Context,
    loan_no: str,
    amount: Annotated[str, typer.Argument(help="Amount received, in yuan.")],
    on: Annotated[str, typer.Option("--date", help="Value date YYYY-MM-DD.")],
    ref: Annotated[str, typer.Option("--ref", help="The payment's unique reference (idempotency key).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Post a repayment. Replaying the same --ref returns the first result and moves no money."""
    application = _ready(ctx)
    outcome = ledger.post_payment(application.uow(), loan_no, _money(amount, "AMOUNT"), _date(on, "--date"), ref)
    _report(outcome, as_json, application, "payment")


@app.command()
def prepay(
    ctx: typer.Context,
    loan_no: str,
    amount: Annotated[str, typer.Argument(help="Amount received for prepayment, in yuan.")],
    on: Annotated[str, typer.Option("--date")],
    ref: Annotated[str, typer.Option("--ref")],
    mode: Annotated[PrepaymentMode, typer.Option(help="Lower the installment or shorten the term.")] = (
        PrepaymentMode.REDUCE_INSTALLMENT
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Prepay part of the principal (提前还款); an amount covering the payoff quote settles the loan."""
    application = _ready(ctx)
    event = Prepayment(_date(on, "--date"), _money(amount, "AMOUNT"), ref, mode)
    _report(ledger.prepay(application.uow(), loan_no, event), as_json, application, "payment")


@app.command()
def waive(
    ctx: typer.Context,
    loan_no: str,
    component: Annotated[Component, typer.Argument(help="What to waive.")],
    amount: Annotated[str, typer.Argument(help="Amount in yuan.")],
    on: Annotated[str, typer.Option("--date")],
    ref: Annotated[str, typer.Option("--ref")],
    reason: Annotated[str, typer.Option(help="Why (kept with the transaction).")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Waive (减免) penalty, compound interest, interest, fees, costs or principal."""
    application = _ready(ctx)
    event = Waiver(_date(on, "--date"), component, _money(amount, "AMOUNT"), ref, reason)
    _report(ledger.waive(application.uow(), loan_no, event), as_json, application, "waiver")


@app.command()
def charge(
    ctx: typer.Context,
    loan_no: str,
    component: Annotated[Component, typer.Argument(help="fee or cost.")],
    amount: Annotated[str, typer.Argument(help="Amount in yuan.")],
    on: Annotated[str, typer.Option("--date")],
    ref: Annotated[str, typer.Option("--ref")],
    reason: Annotated[str, typer.Option()] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Charge a fee, or a collection cost the lender paid (recoverable first under 民法典 art. 561)."""
    application = _ready(ctx)
    event = Charge(_date(on, "--date"), component, _money(amount, "AMOUNT"), ref, reason)
    _report(ledger.charge(application.uow(), loan_no, event), as_json, application, "charge")


@app.command()
def reverse(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Reference of the transaction to reverse.")],
    on: Annotated[str, typer.Option("--date", help="Booking date of the reversal.")],
    reason: Annotated[str, typer.Option()] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Reverse a payment, prepayment, waiver or charge with a new journal entry (冲正)."""
    application = _ready(ctx)
    _report(ledger.reverse(application.uow(), ref, _date(on, "--date"), reason), as_json, application, "reversal")


@app.command()
def quote(
    ctx: typer.Context,
    loan_no: str,
    on: Annotated[str, typer.Option("--date", help="Settlement date YYYY-MM-DD.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Payoff quote (提前结清金额) as of a date."""
    application = _ready(ctx)
    day = _date(on, "--date")
    with application.uow() as uow:
        loan = uow.loans.get(loan_no)
    if loan is None:
        _fail(f"loan {loan_no} does not exist")
        return
    if loan.is_closed:
        _fail(f"loan {loan_no} is {loan.status.value}")
    if loan.accrued_through and day <= loan.accrued_through:
        _fail(f"quotes are for dates after the last closed day {loan.accrued_through}", 2)
    q = payoff_quote(loan, day)
    data = {
        "loan_no": loan_no,
        "date": day.isoformat(),
        "total": yuan_text(q.total_fen),
        "future_principal": yuan_text(q.future_principal_fen),
        "current_interest": yuan_text(q.current_interest_fen),
        "credit": yuan_text(q.credit_fen),
        "due": {c.value: yuan_text(v) for c, v in q.due_fen.items()},
    }
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"{label('payoff_quote')} {loan_no} @ {day}")
    table.add_column(label("item"))
    table.add_column(label("amount"), justify="right")
    for comp, value in data["due"].items():  # type: ignore[attr-defined]
        table.add_row(label(comp), value)
    table.add_row(label("future_principal"), data["future_principal"])  # type: ignore[arg-type]
    table.add_row(label("current_interest"), data["current_interest"])  # type: ignore[arg-type]
    table.add_row(label("credit"), "-" + str(data["credit"]))
    table.add_section()
    table.add_row(label("total"), data["total"])  # type: ignore[arg-type]
    console.print(table)


@loan_app.command("show")
def loan_show(
    ctx: typer.Context,
    loan_no: str,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD (past dates replay history).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A loan's status, DPD, class, balances and schedule. Personal data is masked."""
    application = _ready(ctx)
    day = _date(as_of, "--as-of") if as_of else None
    view = queries.loan_view(application.uow(), loan_no, day, snapshots=application.snapshots())
    if isinstance(view, queries.NotFound):
        _fail(view.message)
        return
    if as_json:
        _print_json(view)
        return
    b = view["borrower"] or {}
    console.print(f"[bold]{view['loan_no']}[/bold]  {b.get('name', '')} {b.get('id_number', '')} {b.get('mobile', '')}")
    for key in (
        "status",
        "as_of",
        "dpd",
        "bucket",
        "classification",
        "ifrs9_stage",
        "outstanding_principal",
        "overdue_principal",
        "overdue_interest",
        "penalty_interest",
        "provision",
        "next_due_date",
        "credit",
    ):
        console.print(f"  {label(key)}: {label(str(view[key])) if key in ('status', 'classification') else view[key]}")
    table = Table()
    cols = ("no", "due_date", "principal", "interest", "penalty", "compound", "outstanding", "state")
    for key in cols:
        table.add_column(label(key), justify="right")
    for inst in view["installments"]:
        table.add_row(*(label(str(inst[k])) if k == "state" else str(inst[k]) for k in cols))
    console.print(table)


@app.command()
def demo(
    ctx: typer.Context,
    loans: Annotated[int, typer.Option(help="How many loans.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed builds the same book.")] = 7,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Last closed business date (default yesterday).")] = None,
    reset: Annotated[bool, typer.Option(help="Drop an existing book in --db first.")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the book and stop (do not serve it).")] = False,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Build a realistic synthetic loan book, close its last business day, then serve it with demo users."""
    from datetime import timedelta

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    application = _app(ctx)
    if reset:
        application.reset()
    else:
        application.initialise()
    day = _date(as_of, "--as-of") if as_of else application.today() - timedelta(days=1)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            key = step.split(" ", 1)[0]
            if key not in tasks:
                tasks[key] = bar.add_task(step, total=max(total, 1))
            bar.update(tasks[key], completed=done, total=max(total, 1), description=step)

        try:
            # the history up to the day before, then that day through the close of business
            summary = application.build_demo(loans, seed, day - timedelta(days=1), progress)
        except ValueError as exc:
            _fail(f"{exc} (use --reset to replace the book)")
            return
        closed = application.run_cob([day], "duckdb", progress=progress)
    table = Table(title=f"demo book {application.settings.database_url}")
    table.add_column("")
    table.add_column("", justify="right")
    for name in ("borrowers", "loans", "installments", "transactions", "journal_lines"):
        table.add_row(name, f"{getattr(summary, name):,}")
    for group in (summary.loans_by_behaviour, summary.loans_by_product):
        for name, count in sorted(group.items()):
            table.add_row(name, f"{count:,}")
    table.add_row("built in", f"{summary.seconds:.1f} s")
    for result in closed:
        if not isinstance(result, Refused):
            table.add_row(f"closed {result.business_date}", f"{result.seconds:.1f} s")
            for name in ("overdue", "paid_off", "reminders_planned"):
                table.add_row(f"  {name}", f"{result.counts.get(name, 0):,}")
    console.print(table)
    console.print(
        f"next: daihou --db {application.settings.database_url} cob run   |   daihou report portfolio --date {day}"
    )
    _demo_users(application)
    if not no_serve:
        if host == "127.0.0.1":  # the demo portal: fake cashier, SMS codes shown on the page (see docs/portal.md)
            os.environ.setdefault("DAIHOU_PAYMENT_FAKE", "true")
            os.environ.setdefault("DAIHOU_PORTAL_DEV_SHOW_CODE", "true")
        _serve(application, host, port)


def _demo_users(application: bootstrap.App) -> None:
    from daihou.security.demo import ensure_demo_users

    table = Table(title="demo users (演示用户)")
    for key in ("username", "password", "role", "scope"):
        table.add_column(key)
    for u in ensure_demo_users(application):
        table.add_row(u.username, u.password, u.role, u.scope)
    console.print(table)


def _serve(application: bootstrap.App, host: str, port: int, workers: int = 1) -> None:
    import os

    import uvicorn

    from daihou.api.app import create_app

    url = application.settings.database_url
    console.print(f"serving {url} on http://{host}:{port}/  (API: /api/v1, /openapi.json)")
    if workers > 1:  # each worker process builds its own App from the environment
        os.environ["DAIHOU_DATABASE_URL"] = url
        os.environ["DAIHOU_DATA_DIR"] = str(application.settings.data_dir)
        uvicorn.run(
            "daihou.api.app:from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    uvicorn.run(create_app(application), host=host, port=port, log_level="warning", access_log=False)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (keep 127.0.0.1 behind a reverse proxy).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the staff application, the borrower portal and the REST API (/api/v1) with uvicorn."""
    _serve(_ready(ctx), host, port, workers)


app.add_typer(import_app, name="import")
app.add_typer(cob_app, name="cob")
app.add_typer(rules_app, name="rules")
app.add_typer(classification_app, name="classification")
app.add_typer(report_app, name="report")
app.add_typer(reminder_app, name="reminder")
app.add_typer(model_app, name="model")
app.add_typer(visit_app, name="visit")
app.add_typer(warning_app, name="warning")
app.add_typer(case_app, name="case")
app.add_typer(recovery_app, name="recovery")
app.add_typer(user_app, name="user")
