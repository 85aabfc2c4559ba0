"""`daihou visit …`: Follow-up visits (贷款回访): plans, records, overdue lists, completion reports.

Storage is reached only through `daihou.workflow.visits.build`, never imported here.
"""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.workflow import visits

visit_app = typer.Typer(no_args_is_help=True, help="Follow-up visits (贷款回访): plans, records, overdue lists.")
console = Console()
err = Console(stderr=True)

PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="A visit policy TOML (default: the one shipped with daihou).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

KIND_LABELS = {
    "first": "首次回访",
    "periodic": "定期回访",
    "high_risk": "高风险回访",
    "business_onsite": "经营贷实地回访",
}
STATUS_LABELS = {"planned": "待回访", "done": "已完成", "overdue": "已逾期", "cancelled": "已取消"}


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _service(ctx: typer.Context, policy: Path | None) -> visits.VisitService:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        _fail(f"{application.settings.database_url} is not initialised: run `daihou init`")
    try:
        return visits.build(application, policy)
    except (ValueError, OSError) as exc:
        _fail(str(exc), 2)


def _day(text: str | None, ctx: typer.Context, option: str) -> date:
    if text is None:
        application: bootstrap.App = ctx.obj
        return application.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not a date (YYYY-MM-DD)", 2)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_iso) + "\n")


def _iso(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _plan_json(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": p["id"],
        "due_on": p["due_on"].isoformat(),
        "kind": p["kind"],
        "status": p["status"],
        "officer": p["officer"],
        "done_on": p["done_on"].isoformat() if p["done_on"] else None,
        "record_id": p["record_id"],
        "cancel_reason": p["cancel_reason"],
        "policy_version": p["policy_version"],
    }


def _record_json(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "plan_id": r["plan_id"],
        "visit_type": r["visit_type"],
        "visited_on": r["visited_on"].isoformat(),
        "officers": r["officers"].split(","),
        "answers": r["answers"],
        "findings": r["findings"],
        "fund_misuse": bool(r["fund_misuse"]),
        "risk_flags": [f for f in r["risk_flags"].split(",") if f],
        "follow_up": r["follow_up"],
        "recorded_by": r["recorded_by"],
        "attachments": [
            {k: a[k] for k in ("kind", "file_name", "sha256", "size_bytes", "stored_path")} for a in r["attachments"]
        ],
    }


@visit_app.command("plan")
def plan(ctx: typer.Context, loan_no: str, policy: PolicyOption = None, as_json: JsonOption = False) -> None:
    """The loan's visit plan and history: plans, visit records, cadence overrides."""
    found = _service(ctx, policy).loan(loan_no)
    if found is None:
        _fail(f"no loan {loan_no}")
    data: dict[str, Any] = {
        "loan_no": found.loan_no,
        "officer": found.officer,
        "business": found.business,
        "high_risk": found.high_risk,
        "plans": [_plan_json(p) for p in found.plans],
        "records": [_record_json(r) for r in found.records],
        "overrides": [
            {
                "cadence": o["cadence"],
                "reason": o["reason"],
                "set_by": o["set_by"],
                "set_at": o["set_at"].isoformat(),
                "cleared_at": o["cleared_at"].isoformat() if o["cleared_at"] else None,
            }
            for o in found.overrides
        ],
    }
    if as_json:
        _print_json(data)
        return
    risk = "高风险 high risk" if found.high_risk else "正常 normal"
    console.print(f"{loan_no}  officer {found.officer or '-'}  {risk}{'  经营贷 business' if found.business else ''}")
    table = Table(title="回访计划 visit plans")
    for col in ("id", "due_on", "kind", "status", "officer", "done_on", "note"):
        table.add_column(col)
    for p in data["plans"]:
        table.add_row(
            str(p["id"]),
            p["due_on"],
            f"{KIND_LABELS.get(p['kind'], p['kind'])} {p['kind']}",
            f"{STATUS_LABELS.get(p['status'], p['status'])} {p['status']}",
            p["officer"] or "",
            p["done_on"] or "",
            p["cancel_reason"] or "",
        )
    console.print(table)
    if data["records"]:
        records = Table(title="回访记录 visit records")
        for col in ("id", "visited_on", "type", "officers", "risk_flags", "attachments", "findings"):
            records.add_column(col)
        for r in data["records"]:
            records.add_row(
                str(r["id"]),
                r["visited_on"],
                r["visit_type"],
                ", ".join(r["officers"]),
                ", ".join(r["risk_flags"]),
                str(len(r["attachments"])),
                r["findings"] or "",
            )
        console.print(records)
    for o in data["overrides"]:
        state = f"cleared {o['cleared_at']}" if o["cleared_at"] else "active"
        console.print(f"cadence override {o['cadence']} ({state}): {o['reason']} — {o['set_by']} {o['set_at']}")


@visit_app.command("due")
def due(
    ctx: typer.Context,
    officer: Annotated[str | None, typer.Option(help="Only this officer's visits.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date D (default: today).")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only visits past their date.")] = False,
    within: Annotated[int, typer.Option(help="Also visits due within this many days after D.")] = 7,
    limit: int = 1000,
    as_json: JsonOption = False,
) -> None:
    """The officer's list: open visits due by D (+ --within days), overdue ones first."""
    day = _day(as_of, ctx, "--as-of")
    rows = _service(ctx, None).due(day, officer, overdue, within, limit)
    data = [
        {
            "plan_id": r["id"],
            "loan_no": r["loan_no"],
            "borrower_name": r["borrower_name"],
            "due_on": r["due_on"].isoformat(),
            "kind": r["kind"],
            "overdue": r["due_on"] < day,
            "days_overdue": max((day - r["due_on"]).days, 0),
            "officer": r["officer"],
            "dpd": r["dpd"],
            "classification": r["classification"],
        }
        for r in rows
    ]
    if as_json:
        _print_json({"as_of": day.isoformat(), "officer": officer, "visits": data})
        return
    table = Table(title=f"待回访 visits due by {day + timedelta(days=0 if overdue else within)}")
    for col in ("loan_no", "borrower", "due_on", "kind", "overdue", "officer", "dpd", "class"):
        table.add_column(col)
    for d in data:
        table.add_row(
            d["loan_no"],
            d["borrower_name"],
            d["due_on"],
            KIND_LABELS.get(d["kind"], d["kind"]),
            f"逾期 {d['days_overdue']} 天" if d["overdue"] else "",
            d["officer"] or "",
            str(d["dpd"]),
            d["classification"],
        )
    console.print(table)


def _answers(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"--answers {path}: {exc.strerror or exc}", 2)
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        _fail(f"--answers {path}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}", 2)
    if not isinstance(data, dict):
        _fail(f"--answers {path}: must hold an object of question code -> answer", 2)
    return data


def _attachment(text: str) -> visits.Attachment:
    kind, sep, path = text.partition("=")
    if not sep or not kind or not path:
        _fail(f"--attach {text!r}: use KIND=PATH (photo, statement, signed_confirmation, other)", 2)
    return visits.Attachment(kind.strip(), Path(path))


@visit_app.command("record")
def record(
    ctx: typer.Context,
    loan_no: str,
    visit_type: Annotated[str, typer.Option("--type", help="phone, on_site or video.")],
    on: Annotated[str, typer.Option("--on", help="The visit's date D.")],
    officer: Annotated[list[str], typer.Option("--officer", help="An officer present (repeat for each).")],
    answers: Annotated[Path, typer.Option("--answers", help="The questionnaire's answers (JSON or TOML).")],
    finding: Annotated[str, typer.Option("--finding", help="What the officer found.")] = "",
    flag: Annotated[list[str] | None, typer.Option("--flag", help="A risk flag, e.g. fund_misuse (repeat).")] = None,
    attach: Annotated[
        list[str] | None, typer.Option("--attach", help="KIND=PATH: photo, statement, signed_confirmation, other.")
    ] = None,
    follow_up: Annotated[str, typer.Option("--follow-up", help="The follow-up actions agreed.")] = "",
    by: Annotated[str, typer.Option("--by", help="Who records it (default: the first officer).")] = "",
    plan_id: Annotated[
        int | None, typer.Option("--plan", help="The plan it completes (default: the open one).")
    ] = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a visit: validates it, stores the files by hash, completes the plan, plans the next."""
    service = _service(ctx, policy)
    outcome = service.record(
        loan_no,
        visit_type=visit_type,
        visited_on=_day(on, ctx, "--on"),
        officers=officer,
        answers=_answers(answers),
        recorded_by=by or (officer[0] if officer else "cli"),
        findings=finding,
        flags=flag or [],
        follow_up=follow_up,
        attachments=[_attachment(a) for a in attach or []],
        plan_id=plan_id,
    )
    if isinstance(outcome, visits.NotRecorded):
        if as_json:
            _print_json({"recorded": False, "problems": [vars_of(p) for p in outcome.problems]})
            raise typer.Exit(1)
        for p in outcome.problems:
            err.print(f"[red]{p.field}[/red]: {p.message} ({p.code})")
        raise typer.Exit(1)
    nxt = outcome.next_plan
    data = {
        "recorded": True,
        "visit_id": outcome.visit_id,
        "loan_no": loan_no,
        "plan_id": outcome.plan_id,
        "risk_flags": list(outcome.risk_flags),
        "fund_misuse": outcome.fund_misuse,
        "attachments": list(outcome.attachments),
        "next_plan": {"id": nxt.id, "due_on": nxt.due_on.isoformat(), "kind": nxt.kind} if nxt else None,
    }
    if as_json:
        _print_json(data)
        return
    flags = f", flags {', '.join(outcome.risk_flags)}" if outcome.risk_flags else ""
    after = f"; next visit {nxt.due_on} ({KIND_LABELS.get(nxt.kind, nxt.kind)})" if nxt else ""
    console.print(f"recorded visit {outcome.visit_id} for {loan_no}{flags}{after}")


def vars_of(p: Any) -> dict[str, str]:
    return {"code": p.code, "field": p.field, "message": p.message}


@visit_app.command("report")
def report(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--from", help="First due date (default: 1 January of --to).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last due date (default: today).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Overdue as of D (default: today).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Completion rates of visits due in the period: done on time, late, overdue, by officer and kind."""
    to_day = _day(end, ctx, "--to")
    from_day = _day(start, ctx, "--from") if start else date(to_day.year, 1, 1)
    if from_day > to_day:
        _fail(f"--from {from_day} is after --to {to_day}", 2)
    result = _service(ctx, None).report(from_day, to_day, _day(as_of, ctx, "--as-of"))
    data = {
        "from": from_day.isoformat(),
        "to": to_day.isoformat(),
        "as_of": result.as_of.isoformat(),
        "total": result.totals()[0] if result.rows else None,
        "by_officer": result.totals("officer"),
        "by_kind": result.totals("kind"),
        "rows": result.rows,
    }
    if as_json:
        _print_json(data)
        return
    for key, title in (("officer", "按客户经理 by officer"), ("kind", "按回访类型 by kind")):
        table = Table(title=f"回访完成率 {title} ({from_day} – {to_day})")
        cols = ("planned", "done_on_time", "done_late", "overdue", "open", "completion_rate", "on_time_rate")
        table.add_column(key)
        for col in cols:
            table.add_column(col, justify="right")
        for row in result.totals(key):
            name = row[key] if key == "officer" else KIND_LABELS.get(row[key], row[key])
            table.add_row(name or "-", *(str(row[c]) + ("%" if c.endswith("rate") else "") for c in cols))
        console.print(table)


@visit_app.command("generate")
def generate(
    ctx: typer.Context,
    on: Annotated[str | None, typer.Option("--date", help="Business date D (default: today).")] = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Plan visits for D as the close of business does (safe to run again)."""
    counts = _service(ctx, policy).plan(_day(on, ctx, "--date"))
    if as_json:
        _print_json(counts)
        return
    console.print(", ".join(f"{k} {v}" for k, v in counts.items()))
