"""`daihou reminder …`: repayment reminders (还款提醒) — generate, dispatch, list, templates, activate.

Mount with `app.add_typer(reminder_app, name="reminder")`. Storage is reached only through
`daihou.workflow.reminders.build`, never imported here.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.domain.money import yuan_text
from daihou.workflow import reminders
from daihou.workflow.ports import ReminderView

reminder_app = typer.Typer(no_args_is_help=True, help="Repayment reminders (还款提醒).")
console = Console()
err = Console(stderr=True)

PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="A reminder policy TOML (default: the one shipped with daihou).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


class _At:
    """The clock stopped at the time given on the command line."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _service(ctx: typer.Context, policy: Path | None) -> reminders.ReminderService:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        _fail(f"{application.settings.database_url} is not initialised: run `daihou init`")
    try:
        return reminders.build(application, policy)
    except ValidationError as exc:
        _fail(f"channel settings (DAIHOU_CHANNELS_*): {exc}", 2)
    except ValueError as exc:
        _fail(str(exc), 2)


def _day(text: str | None, ctx: typer.Context) -> date:
    if text is None:
        application: bootstrap.App = ctx.obj
        return application.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)", 2)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@reminder_app.command("generate")
def generate(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--date", help="Business date D (default: today).")] = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create the reminders planned on D for every open, unsettled installment (safe to run again)."""
    service = _service(ctx, policy)
    done = service.generate(_day(on, ctx))
    if as_json:
        _print_json({"business_date": done.business_date.isoformat(), "created": done.created, **done.per_step})
        return
    steps = ", ".join(f"{k} {v}" for k, v in done.per_step.items())
    console.print(f"{done.business_date}: {done.created} new reminders ({steps})")


@reminder_app.command("dispatch")
def dispatch(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option(help="Local time YYYY-MM-DDTHH:MM (default: the clock).")] = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the reminders due now, within quiet hours and caps; refused ones move to the next allowed time."""
    service = _service(ctx, policy)
    clock = None
    if now is not None:
        application: bootstrap.App = ctx.obj
        try:
            at = datetime.strptime(now, "%Y-%m-%dT%H:%M").replace(tzinfo=ZoneInfo(application.settings.timezone))
        except ValueError:
            _fail(f"--now {now!r} is not YYYY-MM-DDTHH:MM", 2)
        clock = _At(at)
    result = service.dispatch(clock)
    data = dict(vars(result))
    if as_json:
        _print_json(data)
        return
    console.print(", ".join(f"{k} {v}" for k, v in data.items() if k != "codes" and v) or "nothing due")
    for code, count in sorted(result.codes.items()):
        console.print(f"  {code}: {count}")
    if not service.channels:
        err.print("no channel is configured (DAIHOU_CHANNELS_*): reminders wait")


def _rows(views: list[ReminderView], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "id": v.id,
            "loan_no": v.loan_no,
            "installment_no": v.installment_no,
            "due_date": v.due_date.isoformat(),
            "step": v.step_code,
            "channel": v.channel,
            "business_date": v.business_date.isoformat(),
            "planned_at": v.planned_at.astimezone(tz).isoformat(timespec="minutes"),
            "amount_due": yuan_text(v.amount_due_fen),
            "status": v.status,
            "failures": v.failures,
            "last_code": v.last_code,
            "provider_message_id": v.provider_message_id,
        }
        for v in views
    ]


@reminder_app.command("list")
def list_(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--date", help="Only reminders of business date D.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, sent, delivered, failed, held or cancelled.")
    ] = None,
    limit: int = 1000,
    as_json: JsonOption = False,
) -> None:
    """Reminders with their step, channel, planned time, amount and status."""
    service = _service(ctx, None)
    day = _day(on, ctx) if on else None
    rows = _rows(service.reminders(day, status, limit), service.policy.tz)
    if as_json:
        _print_json(rows)
        return
    table = Table(title="还款提醒 reminders")
    columns = ("loan_no", "installment_no", "due_date", "step", "channel", "planned_at", "amount_due", "status")
    for col in (*columns, "last_code"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in columns), r["last_code"] or "")
    console.print(table)


@reminder_app.command("templates")
def templates(ctx: typer.Context, policy: PolicyOption = None, as_json: JsonOption = False) -> None:
    """The policy's templates: channel, audience, active or not, and what the language check finds."""
    views = _service(ctx, policy).templates()
    data: list[dict[str, Any]] = [
        {
            "id": v.id,
            "channel": v.channel,
            "audience": v.audience,
            "active": v.active,
            "problems": [{"code": p.code.value, "reason": p.reason} for p in v.problems],
        }
        for v in views
    ]
    if as_json:
        _print_json(data)
        return
    table = Table(title="提醒模板 templates")
    for col in ("id", "channel", "audience", "active", "problems"):
        table.add_column(col)
    for d in data:
        problems = "; ".join(p["reason"] for p in d["problems"])
        table.add_row(d["id"], d["channel"], d["audience"], "yes" if d["active"] else "no", problems)
    console.print(table)


@reminder_app.command("activate")
def activate(
    ctx: typer.Context,
    template_id: str,
    by: Annotated[str, typer.Option(help="Who activates it (kept with the activation).")] = "cli",
    policy: PolicyOption = None,
) -> None:
    """Let a template send, after the banned-language check (and no debt in a contact's template)."""
    outcome = _service(ctx, policy).activate(template_id, by)
    if isinstance(outcome, reminders.Rejected):
        _fail(f"{outcome.code}: {outcome.reason}")
    console.print(f"activated {template_id}")
