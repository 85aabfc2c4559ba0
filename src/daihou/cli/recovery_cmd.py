"""`daihou recovery …`: Restructuring, settlement, legal matters, agencies and write-off.

Storage is reached only through `daihou.workflow.recovery.build` (drivers never import storage).
Exit codes: 0 accepted (or a request recorded and waiting for approval), 1 refused with a code,
2 bad input. `--json` prints the outcome; money is a string in yuan, dates ISO.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.domain.approval_limits import RequestKind
from daihou.domain.money import Money, MoneyFormatError, yuan_text
from daihou.domain.products import Component, RepaymentMethod
from daihou.domain.restructuring import ArrearsTreatment
from daihou.service import recovery as svc
from daihou.service import restructuring as rs
from daihou.service.ledger import ACCEPTED, DUPLICATE, Outcome
from daihou.workflow import letters
from daihou.workflow import recovery as wf

recovery_app = typer.Typer(
    no_args_is_help=True, help="Restructuring, settlement, legal matters, agencies and write-off."
)
request_app = typer.Typer(
    no_args_is_help=True, help="Requests: waiver (减免), extension (展期), reschedule (重组), plan."
)
legal_app = typer.Typer(no_args_is_help=True, help="Legal matters: lawyer's letter → litigation → enforcement.")
agency_app = typer.Typer(no_args_is_help=True, help="Collection agencies (委外): evaluations, placements, commission.")
writeoff_app = typer.Typer(no_args_is_help=True, help="Write-off (核销) with approval.")
guarantor_app = typer.Typer(no_args_is_help=True, help="Guarantor recovery: demands and payments.")
collateral_app = typer.Typer(no_args_is_help=True, help="Collateral disposal (资产处置).")
recovery_app.add_typer(request_app, name="request")
recovery_app.add_typer(legal_app, name="legal")
recovery_app.add_typer(agency_app, name="agency")
recovery_app.add_typer(writeoff_app, name="writeoff")
recovery_app.add_typer(guarantor_app, name="guarantor")
recovery_app.add_typer(collateral_app, name="collateral")

console = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UserOption = Annotated[str, typer.Option("--user", help="Who acts (maker or checker).")]
RoleOption = Annotated[str, typer.Option("--role", help="Their role, as approval_limits.toml names it.")]
DateOption = Annotated[str | None, typer.Option("--date", help="Business date YYYY-MM-DD (default: today).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept with the request).")]
EXIT_OK = {ACCEPTED, DUPLICATE, rs.PENDING_APPROVAL}


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _rec(ctx: typer.Context) -> wf.Recovery:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        _fail(f"{application.settings.database_url} is not initialised: run `daihou init`", 1)
    return wf.build(application)


def _day(text: str | None, rec: wf.Recovery) -> date:
    if text is None:
        return rec.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)")


def _opt_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)")


def _money(text: str, name: str) -> int:
    try:
        return Money.yuan(text).fen
    except MoneyFormatError as exc:
        _fail(f"{name}: {exc}")


def _rate(text: str | None) -> Decimal | None:
    """A percentage ("4.9" is 4.9 %), exact in millionths."""
    if text is None:
        return None
    try:
        rate = Decimal(text) / 100
    except InvalidOperation:
        _fail(f"rate: {text!r} is not a percentage")
    if rate != rate.quantize(Decimal("0.000001")):
        _fail("rate: at most four decimals of a percent")
    return rate


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _report(outcome: Outcome, as_json: bool) -> NoReturn:
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
    elif outcome.code in EXIT_OK:
        console.print(f"[green]{outcome.code}[/green]: {outcome.message}")
    else:
        err.print(f"[red]{outcome.code}[/red]: {outcome.message}")
    raise typer.Exit(0 if outcome.code in EXIT_OK else 1)


# ---------------------------------------------------------------- requests


def _request(ctx: typer.Context, spec: rs.RequestSpec, as_json: bool) -> NoReturn:
    rec = _rec(ctx)
    _report(rs.request(rec.uow(), rec.limits, spec), as_json)


@request_app.command("waiver")
def request_waiver(
    ctx: typer.Context,
    loan_no: str,
    component: Annotated[str, typer.Option("--component", help="penalty, compound, interest, principal, fee, cost")],
    amount: Annotated[str, typer.Option("--amount", help="Amount to waive, in yuan.")],
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    as_json: JsonOption = False,
) -> None:
    """Ask to waive (减免) part of what is owed."""
    try:
        comp = Component(component)
    except ValueError:
        _fail(f"component: one of {', '.join(c.value for c in rs.WAIVABLE)}")
    spec = rs.RequestSpec(RequestKind.WAIVER, loan_no, reason, user, role, comp, _money(amount, "amount"))
    _request(ctx, spec, as_json)


@request_app.command("extension")
def request_extension(
    ctx: typer.Context,
    loan_no: str,
    months: Annotated[int, typer.Option("--months", help="Months added to the term.")],
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    as_json: JsonOption = False,
) -> None:
    """Ask to extend (展期) the loan by N months at the same rate; arrears are kept."""
    _request(ctx, rs.RequestSpec(RequestKind.EXTENSION, loan_no, reason, user, role, months=months), as_json)


def _method(text: str | None) -> RepaymentMethod | None:
    if text is None:
        return None
    try:
        return RepaymentMethod(text)
    except ValueError:
        _fail(f"method: one of {', '.join(m.value for m in RepaymentMethod)}")


@request_app.command("reschedule")
def request_reschedule(
    ctx: typer.Context,
    loan_no: str,
    periods: Annotated[int, typer.Option("--periods", help="New number of periods from the effective date.")],
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    rate: Annotated[str | None, typer.Option("--rate", help="New annual rate in percent (default: unchanged).")] = None,
    method: Annotated[str | None, typer.Option("--method", help="New repayment method (default: unchanged).")] = None,
    arrears: Annotated[str, typer.Option("--arrears", help="keep (挂账) or capitalise (资本化).")] = "keep",
    first_due: Annotated[str | None, typer.Option("--first-due", help="First new due date.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask to reschedule (重组): all outstanding principal over new periods, rate and method."""
    try:
        treatment = ArrearsTreatment(arrears)
    except ValueError:
        _fail("arrears: keep or capitalise")
    spec = rs.RequestSpec(
        RequestKind.RESCHEDULE,
        loan_no,
        reason,
        user,
        role,
        periods=periods,
        rate_annual=_rate(rate),
        method=_method(method),
        arrears=treatment,
        first_due_on=_opt_day(first_due),
    )
    _request(ctx, spec, as_json)


@request_app.command("plan")
def request_plan(
    ctx: typer.Context,
    loan_no: str,
    periods: Annotated[int, typer.Option("--periods", help="Number of instalments.")],
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    rate: Annotated[str, typer.Option("--rate", help="Annual rate in percent (default 0: 停息分期).")] = "0",
    as_json: JsonOption = False,
) -> None:
    """Ask for a repayment plan: everything owed (arrears capitalised) in equal instalments."""
    spec = rs.RequestSpec(RequestKind.PLAN, loan_no, reason, user, role, periods=periods, rate_annual=_rate(rate))
    _request(ctx, spec, as_json)


@recovery_app.command("approve")
def approve(
    ctx: typer.Context,
    request_id: int,
    user: UserOption,
    role: RoleOption,
    comment: Annotated[str, typer.Option("--comment")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a request (checker ≠ maker, within the role's limit); the last approval applies it."""
    rec = _rec(ctx)
    _report(wf.decide(rec.app, request_id, user, role, True, comment, _day(on, rec)), as_json)


@recovery_app.command("reject")
def reject(
    ctx: typer.Context,
    request_id: int,
    user: UserOption,
    role: RoleOption,
    comment: Annotated[str, typer.Option("--comment")] = "",
    as_json: JsonOption = False,
) -> None:
    """Reject a request."""
    rec = _rec(ctx)
    _report(wf.decide(rec.app, request_id, user, role, False, comment, rec.today()), as_json)


@recovery_app.command("requests")
def list_requests(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="pending, approved, rejected (default all).")] = None,
    role: Annotated[str | None, typer.Option("--role", help="Only those this role may decide.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Requests and where they stand (the approval inbox with --status pending --role R)."""
    rec = _rec(ctx)
    rows = wf.list_requests(rec.app, status, role)
    data = [
        {
            "id": r.id,
            "loan_no": r.loan_no,
            "kind": r.kind,
            "status": r.status,
            "amount": yuan_text(r.amount_fen),
            "component": r.component,
            "tier": r.tier,
            "approvals_required": r.approvals_required,
            "maker": r.maker,
            "reason": r.reason,
            "reference": r.reference,
        }
        for r in rows
    ]
    if as_json:
        _print_json({"requests": data})
        return
    table = Table("id", "loan", "kind", "status", "amount", "tier", "maker", "reason")
    for d in data:
        table.add_row(*(str(d[k]) for k in ("id", "loan_no", "kind", "status", "amount", "tier", "maker", "reason")))
    console.print(table)


# ---------------------------------------------------------------- letters


@recovery_app.command("letter")
def letter(
    ctx: typer.Context,
    loan_no: str,
    out: Annotated[Path, typer.Option("--out", help="The PDF to write.")],
    to: Annotated[str, typer.Option("--to", help="debtor or contact_person.")] = "debtor",
    locale: Annotated[str, typer.Option("--locale", help="zh-CN or en.")] = "zh-CN",
    on: DateOption = None,
) -> None:
    """Write a 催收函 (collection letter) as PDF; a letter to a contact person never shows the debt."""
    rec = _rec(ctx)
    result = letters.letter(rec.app, loan_no, _day(on, rec), to, locale)
    if isinstance(result, letters.LetterRefused):
        err.print(f"[red]{result.code}[/red]: {result.message}")
        raise typer.Exit(1)
    out.write_bytes(result.pdf)
    console.print(f"[green]written[/green]: {out} ({len(result.pdf)} bytes, {to}, {locale})")


# ---------------------------------------------------------------- legal matters


@legal_app.command("open")
def legal_open(
    ctx: typer.Context,
    loan_no: str,
    user: UserOption,
    stage: Annotated[str, typer.Option("--stage")] = "lawyer_letter",
    lawyer: Annotated[str, typer.Option("--lawyer")] = "",
    note: Annotated[str, typer.Option("--note")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a legal matter (stages: lawyer_letter → litigation → enforcement → closed)."""
    rec = _rec(ctx)
    _report(svc.open_matter(rec.uow(), loan_no, _day(on, rec), user, stage, lawyer, note), as_json)


@legal_app.command("update")
def legal_update(
    ctx: typer.Context,
    matter_id: int,
    user: UserOption,
    stage: Annotated[str | None, typer.Option("--stage")] = None,
    court: Annotated[str | None, typer.Option("--court")] = None,
    case_no: Annotated[str | None, typer.Option("--case-no")] = None,
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    claim: Annotated[str | None, typer.Option("--claim", help="Amount claimed, yuan.")] = None,
    hearing: Annotated[str | None, typer.Option("--hearing", help="A hearing date.")] = None,
    judgment_on: Annotated[str | None, typer.Option("--judgment-on")] = None,
    judgment: Annotated[str | None, typer.Option("--judgment", help="Amount awarded, yuan.")] = None,
    summary: Annotated[str | None, typer.Option("--summary", help="Judgment summary.")] = None,
    enforcement_case_no: Annotated[str | None, typer.Option("--enforcement-case-no")] = None,
    enforcement_on: Annotated[str | None, typer.Option("--enforcement-on")] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record what happened: court and case number, filing, hearings, judgment, enforcement, stage."""
    rec = _rec(ctx)
    update = svc.MatterUpdate(
        on=_day(on, rec),
        by=user,
        stage=stage,
        court=court,
        case_no=case_no,
        filed_on=_opt_day(filed_on),
        claim_fen=_money(claim, "claim") if claim else None,
        hearing_on=_opt_day(hearing),
        judgment_on=_opt_day(judgment_on),
        judgment_fen=_money(judgment, "judgment") if judgment else None,
        judgment_summary=summary,
        enforcement_case_no=enforcement_case_no,
        enforcement_filed_on=_opt_day(enforcement_on),
        note=note,
    )
    _report(svc.update_matter(rec.uow(), matter_id, update), as_json)


@legal_app.command("cost")
def legal_cost(
    ctx: typer.Context,
    matter_id: int,
    amount: Annotated[str, typer.Argument(help="Cost in yuan.")],
    ref: Annotated[str, typer.Option("--ref", help="Unique reference of the charge.")],
    user: UserOption,
    note: Annotated[str, typer.Option("--note")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Post a legal cost to the ledger as a collection cost (recovered first by the waterfall)."""
    rec = _rec(ctx)
    _report(wf.legal_cost(rec.app, matter_id, _money(amount, "amount"), _day(on, rec), user, ref, note), as_json)


# ---------------------------------------------------------------- agencies


@agency_app.command("add")
def agency_add(
    ctx: typer.Context,
    code: str,
    name: Annotated[str, typer.Option("--name")],
    contact: Annotated[str, typer.Option("--contact")] = "",
    as_json: JsonOption = False,
) -> None:
    rec = _rec(ctx)
    _report(svc.add_agency(rec.uow(), code, name, contact), as_json)


@agency_app.command("evaluate")
def agency_evaluate(
    ctx: typer.Context,
    code: str,
    score: Annotated[int, typer.Option("--score", help="0–100.")],
    user: UserOption,
    valid_until: Annotated[str | None, typer.Option("--valid-until")] = None,
    notes: Annotated[str, typer.Option("--notes")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an evaluation (valid a year by default); placements need a current one."""
    rec = _rec(ctx)
    outcome = svc.evaluate(rec.uow(), rec.commission, code, score, _day(on, rec), user, _opt_day(valid_until), notes)
    _report(outcome, as_json)


@agency_app.command("place")
def agency_place(
    ctx: typer.Context,
    loan_no: str,
    agency: Annotated[str, typer.Option("--agency")],
    user: UserOption,
    recall_on: Annotated[str | None, typer.Option("--recall-on")] = None,
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Place a loan with an agency (refused without a current evaluation)."""
    rec = _rec(ctx)
    _report(svc.place(rec.uow(), rec.commission, loan_no, agency, _day(on, rec), user, _opt_day(recall_on)), as_json)


@agency_app.command("recall")
def agency_recall(
    ctx: typer.Context,
    loan_no: str,
    reason: Annotated[str, typer.Option("--reason")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    rec = _rec(ctx)
    _report(svc.recall(rec.uow(), loan_no, _day(on, rec), reason), as_json)


@agency_app.command("commission")
def agency_commission(
    ctx: typer.Context,
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Commission on money recovered during each placement, by stage and amount band."""
    rec = _rec(ctx)
    lines = svc.commissions(rec.uow(), rec.commission, _day(on, rec), agency)
    data = [
        {
            "agency": c.placement.agency_code,
            "loan_no": c.placement.loan_no,
            "stage": c.placement.stage,
            "placed_on": c.placement.placed_on.isoformat(),
            "recalled_on": c.placement.recalled_on.isoformat() if c.placement.recalled_on else None,
            "status": c.placement.status,
            "recovered": yuan_text(c.placement.recovered_fen),
            "commission": yuan_text(c.commission_fen),
        }
        for c in lines
    ]
    total = sum(c.commission_fen for c in lines)
    if as_json:
        _print_json({"placements": data, "total_commission": yuan_text(total)})
        return
    table = Table("agency", "loan", "stage", "placed", "status", "recovered", "commission")
    for d in data:
        table.add_row(
            d["agency"], d["loan_no"], d["stage"], d["placed_on"], d["status"], d["recovered"], d["commission"]
        )
    console.print(table)
    console.print(f"total commission: ¥{yuan_text(total)}")


# ---------------------------------------------------------------- write-off


@writeoff_app.command("request")
def writeoff_request(
    ctx: typer.Context,
    loan_no: str,
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    as_json: JsonOption = False,
) -> None:
    """Ask to write the loan off (核销); approval limits by role apply."""
    _request(ctx, rs.RequestSpec(RequestKind.WRITEOFF, loan_no, reason, user, role), as_json)


@writeoff_app.command("approve")
def writeoff_approve(
    ctx: typer.Context,
    request_id: int,
    user: UserOption,
    role: RoleOption,
    comment: Annotated[str, typer.Option("--comment")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a write-off request; the last approval writes the loan off through the ledger."""
    approve(ctx, request_id, user, role, comment, on, as_json)


@recovery_app.command("recoveries")
def recoveries(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: JsonOption = False,
) -> None:
    """Money recovered after write-off, per loan (booked as recovery income, apart from repayments)."""
    rec = _rec(ctx)
    report = svc.recoveries_report(rec.uow(), _opt_day(since), _opt_day(until))
    if as_json:
        _print_json(report)
        return
    table = Table("loan", "written off on", "written off", "recovered", "last recovery")
    for d in report["recoveries"]:
        table.add_row(d["loan_no"], d["written_off_on"] or "", d["written_off"], d["recovered"], d["last_recovery_on"])
    console.print(table)
    console.print(
        f"{report['loans_written_off']} loans written off, ¥{report['written_off']}; recovered ¥{report['recovered']}"
    )


# ---------------------------------------------------------------- guarantors and collateral


@guarantor_app.command("demand")
def guarantor_demand(
    ctx: typer.Context,
    loan_no: str,
    guarantor_id: Annotated[int, typer.Option("--guarantor", help="The guarantor's id.")],
    user: UserOption,
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Demand payment from a guarantor: the payoff on the day, capped at the guarantee."""
    rec = _rec(ctx)
    _report(svc.demand_on_guarantor(rec.uow(), loan_no, guarantor_id, _day(on, rec), user), as_json)


@guarantor_app.command("pay")
def guarantor_pay(
    ctx: typer.Context,
    loan_no: str,
    amount: Annotated[str, typer.Argument(help="Amount in yuan.")],
    guarantor_id: Annotated[int, typer.Option("--guarantor")],
    ref: Annotated[str, typer.Option("--ref")],
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """A guarantor's payment, applied through the waterfall and recorded with its source."""
    rec = _rec(ctx)
    outcome = wf.guarantor_payment(rec.app, loan_no, guarantor_id, _money(amount, "amount"), _day(on, rec), ref)
    _report(outcome, as_json)


@collateral_app.command("dispose")
def collateral_dispose(
    ctx: typer.Context,
    collateral_id: int,
    valuation: Annotated[str, typer.Option("--valuation", help="Valuation before sale, yuan.")],
    proceeds: Annotated[str, typer.Option("--proceeds", help="Sale proceeds, yuan.")],
    ref: Annotated[str, typer.Option("--ref", help="Reference of the proceeds' payment.")],
    user: UserOption,
    costs: Annotated[str, typer.Option("--costs", help="Disposal costs, yuan.")] = "0",
    valued_on: Annotated[str | None, typer.Option("--valued-on")] = None,
    buyer: Annotated[str, typer.Option("--buyer")] = "",
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a collateral sale: costs charged, proceeds applied through the waterfall, custody disposed."""
    rec = _rec(ctx)
    sold_on = _day(on, rec)
    disposal = svc.Disposal(
        collateral_id,
        _opt_day(valued_on) or sold_on,
        _money(valuation, "valuation"),
        sold_on,
        _money(proceeds, "proceeds"),
        _money(costs, "costs"),
        ref,
        user,
        buyer,
    )
    _report(wf.dispose_collateral(rec.app, disposal), as_json)
