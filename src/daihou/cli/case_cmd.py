"""`daihou case …`: Collections (催收): cases, strategies, work lists, contacts, promises.

Storage is reached only through `daihou.workflow.collections`, never imported here. Exit codes:
0 done, 1 refused or rejected (the reason code is printed), 2 bad input.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.domain.compliance import Refused
from daihou.domain.money import Money, yuan_text
from daihou.workflow import collections as wc

case_app = typer.Typer(
    no_args_is_help=True, help="Collections (催收): cases, strategies, work lists, contacts, promises."
)
dialer_app = typer.Typer(no_args_is_help=True, help="Dialer queue: export for the dialer, import call results.")
report_app = typer.Typer(no_args_is_help=True, help="Collection reports.")
case_app.add_typer(dialer_app, name="dialer")
case_app.add_typer(report_app, name="report")
console = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DateOption = Annotated[str | None, typer.Option("--date", help="Business date D (default: today).")]
UserOption = Annotated[str, typer.Option("--user", help="Who acts (recorded on the case).")]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _app(ctx: typer.Context) -> bootstrap.App:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        _fail(f"{application.settings.database_url} is not initialised: run `daihou init`")
    return application


def _day(text: str | None, application: bootstrap.App) -> date:
    if text is None:
        return application.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)", 2)


def _json(data: Any) -> None:
    def default(o: Any) -> Any:
        if isinstance(o, date | datetime):
            return o.isoformat()
        return str(o)

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=default) + "\n")


def _money(row: dict[str, Any]) -> dict[str, Any]:
    """`*_fen` integers become yuan strings without the suffix (DESIGN.md §6)."""
    return {
        (k[:-4] if k.endswith("_fen") else k): (yuan_text(v) if k.endswith("_fen") and v is not None else v)
        for k, v in row.items()
    }


def _refused(result: object) -> None:
    if isinstance(result, Refused):
        _fail(f"refused ({result.code.value}): {result.reason}")
    if isinstance(result, wc.Rejected):
        _fail(f"rejected ({result.code}): {result.reason}")


@case_app.command("list")
def list_cases(
    ctx: typer.Context,
    as_kind: Annotated[str, typer.Option("--as", help="collector | team_lead | agency | supervisor")] = "supervisor",
    principal: Annotated[str, typer.Option("--id", help="The collector, team lead or agency id.")] = "",
    status: Annotated[str, typer.Option(help="open | closed | all")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """Cases the principal may see (a collector its own, a team lead its team's, an agency its placements)."""
    rows = wc.cases_visible_to(_app(ctx), as_kind, principal, None if status == "all" else status, limit)
    if as_json:
        _json([_money(r) for r in rows])
        return
    table = Table("case", "loan", "stage", "status", "collector", "arm", "treatment", "balance", "overdue", "dpd")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["loan_id"]),
            r["stage"],
            r["status"],
            r["collector"] or "—",
            r["strategy_arm"],
            r["treatment"],
            yuan_text(r["balance_fen"]),
            yuan_text(r["overdue_fen"]),
            str(r["dpd"]),
        )
    console.print(table)


@case_app.command("show")
def show(ctx: typer.Context, case_id: int, as_json: JsonOption = False) -> None:
    """One case with its events, contacts and promises."""
    detail = wc.case_detail(_app(ctx), case_id)
    if detail is None:
        _fail(f"no case {case_id}")
    if as_json:
        out = _money({k: v for k, v in detail.items() if k not in ("events", "contacts", "promises")})
        out["events"] = detail["events"]
        out["contacts"] = detail["contacts"]
        out["promises"] = [_money(p) for p in detail["promises"]]
        _json(out)
        return
    console.print(
        f"case {detail['id']} · loan {detail['loan_no']} · {detail['stage']} · {detail['status']}"
        f"{' (' + detail['close_reason'] + ')' if detail['close_reason'] else ''} · {detail['strategy_arm']} "
        f"{detail['treatment']} · collector {detail['collector'] or '—'} · balance {yuan_text(detail['balance_fen'])}"
    )
    for e in detail["events"]:
        console.print(
            f"  {e['business_date']} {e['kind']:<9} {e['from_stage'] or ''} → {e['to_stage'] or ''} "
            f"{e['detail'] or ''} ({e['actor']})"
        )
    for c in detail["contacts"]:
        console.print(f"  contact {c['started_at']} {c['channel']} {c['party']} {c['outcome']} by {c['collector']}")
    for p in detail["promises"]:
        console.print(
            f"  promise due {p['due_on']} {yuan_text(p['amount_fen'])} paid {yuan_text(p['paid_fen'])} {p['status']}"
        )


@case_app.command("open")
def open_(
    ctx: typer.Context, loan_id: int, reason: str = "manual", on: DateOption = None, user: UserOption = "cli"
) -> None:
    """Open a case for a loan (idempotent: prints the open case's id)."""
    application = _app(ctx)
    try:
        console.print(wc.open_case(application, loan_id, reason, _day(on, application), user))
    except LookupError as exc:
        _fail(str(exc))


@case_app.command("assign")
def assign(
    ctx: typer.Context,
    case_id: Annotated[int | None, typer.Argument(help="A case to give to --collector.")] = None,
    collector: Annotated[str | None, typer.Option(help="The collector who takes the case.")] = None,
    recall: Annotated[bool, typer.Option("--recall", help="Take the case back from its collector.")] = False,
    on: DateOption = None,
    user: UserOption = "cli",
) -> None:
    """Reassign a case by hand, recall it, or (no case) balance every unassigned case."""
    application = _app(ctx)
    day = _day(on, application)
    if case_id is None:
        console.print(f"{wc.rebalance(application, day, user)} cases assigned")
    elif recall:
        console.print(f"{wc.recall(application, [case_id], day, user)} case recalled")
    elif collector:
        _refused(wc.assign(application, case_id, collector, day, user))
        console.print(f"case {case_id} → {collector}")
    else:
        _fail("give --collector or --recall", 2)


@case_app.command("collector")
def collector(
    ctx: typer.Context,
    code: str,
    name: str,
    team: Annotated[str, typer.Option(help="Team code.")],
    stages: Annotated[str, typer.Option(help="Skills: comma-separated stages.")],
    capacity: Annotated[int, typer.Option(help="Work-list items per day.")] = 60,
    role: Annotated[str, typer.Option(help="collector | team_lead")] = "collector",
) -> None:
    """Add a collector (or a team lead) with skills and a daily capacity."""
    try:
        wc.add_collector(_app(ctx), code, name, team, [s for s in stages.split(",") if s], capacity, role)
    except ValueError as exc:
        _fail(str(exc), 2)


@case_app.command("worklist")
def worklist(
    ctx: typer.Context,
    collector: Annotated[str | None, typer.Option(help="One collector's list (default: all).")] = None,
    on: DateOption = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the list as CSV here.")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build the day's lists again first.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The day's work list, by expected value of contact (amount × probability of payment)."""
    application = _app(ctx)
    day = _day(on, application)
    if rebuild:
        wc.build_worklists(application, day)
    items = wc.worklist(application, day, collector)
    if csv_out is not None:
        import csv

        with csv_out.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["rank", "collector", "case_id", "loan_no", "stage", "channel", "amount", "expected"])
            for i in items:
                w.writerow(
                    [
                        i["rank"],
                        i["collector"],
                        i["case_id"],
                        i["loan_no"],
                        i["stage"],
                        i["channel"],
                        yuan_text(i["amount_fen"]),
                        yuan_text(i["expected_fen"]),
                    ]
                )
    if as_json:
        _json([_money(i) for i in items])
        return
    table = Table("rank", "collector", "case", "loan", "stage", "channel", "amount", "p(pay)", "expected")
    for i in items:
        table.add_row(
            str(i["rank"]),
            i["collector"],
            str(i["case_id"]),
            i["loan_no"],
            i["stage"],
            i["channel"],
            yuan_text(i["amount_fen"]),
            f"{i['pay_ppm'] / 10_000:.0f}%",
            yuan_text(i["expected_fen"]),
        )
    console.print(table)


@dialer_app.command("export")
def dialer_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="CSV file for the dialer.")],
    collector: Annotated[str | None, typer.Option(help="One collector's queue (default: all).")] = None,
    on: DateOption = None,
) -> None:
    """The day's voice queue as CSV (numbers unmasked: the dialer needs them; export only to the dialer)."""
    application = _app(ctx)
    out.write_text(wc.export_dialer(application, _day(on, application), collector), encoding="utf-8")


@dialer_app.command("import")
def dialer_import(ctx: typer.Context, path: Path, as_json: JsonOption = False) -> None:
    """Call results (CSV: case_id, number, started_at, ended_at, outcome, collector [, channel, party,
    recording_ref, notes]) into the contact log, each through the guardrails."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        _fail(str(exc), 2)
    result = wc.import_call_results(_app(ctx), text)
    problems = [{"row": p.row, "field": p.field, "message": p.message} for p in result.problems or []]
    if as_json:
        _json({"logged": result.logged, "refused": result.refused, "problems": problems})
    else:
        console.print(f"{result.logged} logged, refused {result.refused or {}}")
        for p in problems:
            err.print(f"row {p['row']}, field {p['field']}: {p['message']}")
    if problems:
        raise typer.Exit(2)


@case_app.command("contact")
def contact(
    ctx: typer.Context,
    case_id: int,
    outcome: Annotated[str, typer.Option(help="connected, no_answer, promise_to_pay, dispute, …")],
    by: Annotated[str, typer.Option("--collector", help="Who made the contact.")],
    channel: Annotated[str, typer.Option(help="call, robot_call, sms, letter, visit")] = "call",
    party: Annotated[str, typer.Option(help="debtor, guarantor, contact_person")] = "debtor",
    number: Annotated[str | None, typer.Option(help="Number dialled (default: the debtor's mobile).")] = None,
    at: Annotated[str | None, typer.Option(help="Start, ISO date-time (default: now).")] = None,
    minutes: Annotated[int, typer.Option(help="Duration.")] = 0,
    notes: Annotated[str, typer.Option(help="Notes (checked for banned language).")] = "",
    recording: Annotated[str | None, typer.Option(help="Recording reference.")] = None,
) -> None:
    """Log a contact; refused (and the refusal logged) when a guardrail forbids it."""
    from datetime import timedelta

    application = _app(ctx)
    try:
        started = datetime.fromisoformat(at) if at else application.clock.now()
    except ValueError:
        _fail(f"--at {at!r} is not an ISO date-time", 2)
    if started.tzinfo is None:
        from zoneinfo import ZoneInfo

        started = started.replace(tzinfo=ZoneInfo(application.settings.timezone))
    done = wc.log_contact(
        application,
        wc.ContactInput(
            case_id,
            channel,
            party,
            started,
            outcome,
            by,
            number,
            started + timedelta(minutes=minutes) if minutes else None,
            notes,
            recording,
        ),
    )
    _refused(done)
    assert isinstance(done, wc.Logged)
    console.print(f"contact {done.contact_id} logged")


@case_app.command("promise")
def promise(
    ctx: typer.Context,
    case_id: int,
    part: Annotated[list[str], typer.Option("--part", help="DATE:AMOUNT (yuan); repeat for a plan.")],
    on: DateOption = None,
    user: UserOption = "cli",
) -> None:
    """Record a promise to pay, or a plan of several (e.g. --part 2026-12-01:500 --part 2027-01-01:500)."""
    application = _app(ctx)
    parts = []
    for n, text in enumerate(part, 1):
        try:
            when, amount = text.split(":", 1)
            parts.append((date.fromisoformat(when), Money.yuan(amount).fen))
        except ValueError as exc:
            _fail(f"--part {n} ({text!r}): expected DATE:AMOUNT — {exc}", 2)
    done = wc.make_promise(application, case_id, parts, _day(on, application), user)
    _refused(done)
    assert isinstance(done, wc.Promised)
    console.print(f"promises {list(done.promise_ids)}" + (f" (plan {done.plan_id})" if done.plan_id else ""))


@report_app.command("champion-challenger")
def champion_challenger(
    ctx: typer.Context,
    by_segment: Annotated[bool, typer.Option("--by-segment", help="One line per segment and arm.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Recovery (collected / balance at assignment) of the champion against the challenger."""
    rows = wc.champion_challenger_report(_app(ctx), by_segment)
    if as_json:
        _json(
            [
                {
                    "segment": r.segment,
                    "arm": r.arm,
                    "cases": r.cases,
                    "balance_at_open": yuan_text(r.balance_at_open_fen),
                    "collected": yuan_text(r.collected_fen),
                    "resolved": r.resolved,
                    "recovery": str(r.recovery),
                }
                for r in rows
            ]
        )
        return
    table = Table("segment", "arm", "cases", "balance at open", "collected", "recovery", "resolved")
    for r in rows:
        table.add_row(
            r.segment or "all",
            r.arm,
            str(r.cases),
            yuan_text(r.balance_at_open_fen),
            yuan_text(r.collected_fen),
            f"{r.recovery:.2%}",
            str(r.resolved),
        )
    console.print(table)
