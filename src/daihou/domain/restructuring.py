"""Restructuring (展期 extension, 重组 rescheduling, 分期还款计划 repayment plans) as a new schedule version.

A `Restructure` event is a ledger event like a payment: `servicing.apply` brings the loan to the
event's date and calls `restructure`, the journal takes the difference, and `replay` applies it again
when an earlier event is reversed or back-valued. What it does, exactly:

- The running period ends on the restructuring date: its interest recognised so far becomes due that
  day (a closing row), the interest of the periods not yet started is dropped.
- **All outstanding principal** — overdue and not yet due — moves to the new schedule.
- Arrears (overdue interest, penalty and compound interest, and the closing row's interest) are either
  **kept** (`ArrearsTreatment.KEEP`, 挂账): they stay owed on their installments exactly as before, so
  the loan stays overdue until they are paid; or **capitalised** (`CAPITALISE`, 利息资本化): they are
  settled by becoming principal of the new schedule (recorded as paid on their installments; the
  journal moves them from interest and penalty receivable to principal receivable).
- Fees and collection costs are loan-level balances and are never capitalised.
- The new schedule spreads `principal before + capitalised` over `periods` periods from the date, at
  the new rate, by the new method, in the loan's frequency and day count: its principal sums exactly
  to that amount, so money is conserved to the fen (`Restructured` figures; property-tested).
- The loan's contract rate, method and number of periods become the new ones; the penalty rate stays.
- Status `restructured`; the classification floor for the observation period is `observation_end`
  and `restructuring_floor` (DESIGN.md §5).

Pure standard library: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daihou.domain.calendar import Frequency, add_months
from daihou.domain.grades import Grade
from daihou.domain.loan import Installment, Loan, LoanStatus, LoanTerms, Owed, Part
from daihou.domain.money import rate_from_ppm
from daihou.domain.products import Component, RepaymentMethod
from daihou.domain.schedule import Schedule, ScheduleTerms, amortize, period_dates

ARREARS_COMPONENTS = (Component.INTEREST, Component.PENALTY, Component.COMPOUND)


class RestructureKind(StrEnum):
    EXTENSION = "extension"  # 展期: the same rate and method, N more periods
    RESCHEDULE = "reschedule"  # 重组: new rate, term and/or method
    PLAN = "plan"  # 分期还款计划: everything owed spread over a plan, usually at a reduced rate


class ArrearsTreatment(StrEnum):
    KEEP = "keep"  # arrears stay owed on their installments (挂账)
    CAPITALISE = "capitalise"  # arrears become principal of the new schedule (资本化)


@dataclass(frozen=True, slots=True)
class Restructure:
    """The ledger event: restructure the loan on `on` into `periods` new periods."""

    on: date
    reference: str
    periods: int
    rate_annual: Decimal
    method: RepaymentMethod
    arrears: ArrearsTreatment = ArrearsTreatment.KEEP
    first_due_on: date | None = None
    kind: RestructureKind = RestructureKind.RESCHEDULE
    reason: str = ""

    @property
    def amount_fen(self) -> int:
        """No money changes hands: the figures are in the applied result."""
        return 0


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


INVALID_RESTRUCTURING = "invalid_restructuring"
NOTHING_TO_RESTRUCTURE = "nothing_to_restructure"


@dataclass(frozen=True, slots=True)
class Restructured:
    """The figures of one restructuring, for the request record and the tests."""

    principal_before_fen: int
    capitalised_fen: int  # arrears that became principal (0 when kept)
    kept_arrears_fen: int  # arrears left owed on the old installments (0 when capitalised)
    new_principal_fen: int
    first_due_on: date
    last_due_on: date
    schedule: Schedule


def problems(event: Restructure) -> list[str]:
    out = []
    if not 1 <= event.periods <= 600:
        out.append("periods: must be between 1 and 600")
    if not Decimal(0) <= event.rate_annual <= Decimal(1):
        out.append("rate: must be between 0 % and 100 %")
    if event.first_due_on is not None and event.first_due_on <= event.on:
        out.append("first_due_on: must be after the restructuring date")
    return out


def closing_row(future: list[Installment], on: date) -> Installment:
    """The running period cut at `on`: interest recognised so far, due today; principal carried."""
    accrued = sum(i.interest_accrued_fen for i in future)
    paid = sum(i.interest.paid for i in future)
    waived = sum(i.interest.waived for i in future)
    assert accrued >= paid + waived, "interest paid ahead of its recognition"
    principal = Owed(
        sum(i.principal.paid + i.principal.waived for i in future),
        sum(i.principal.paid for i in future),
        sum(i.principal.waived for i in future),
    )
    first = future[0]
    return Installment(
        first.no, first.start_date, on, principal, Owed(accrued, paid, waived), interest_accrued_fen=accrued
    )


def _empty_row(inst: Installment) -> Installment:
    return Installment(inst.no, inst.start_date, inst.due_date, Owed(), Owed())


def _without_principal(inst: Installment) -> Installment:
    """The installment with its unpaid principal moved out (paid and waived principal stay on it)."""
    p = inst.principal
    return replace(inst, principal=Owed(p.paid + p.waived, p.paid, p.waived))


def _capitalise(inst: Installment) -> tuple[Installment, list[Part]]:
    parts = []
    for comp in ARREARS_COMPONENTS:
        owed = inst.owed(comp)
        if owed.outstanding:
            parts.append(Part(inst.no, comp, owed.outstanding))
            inst = inst.with_owed(comp, owed.pay(owed.outstanding))
    return inst, parts


def new_schedule(principal_fen: int, event: Restructure, terms: LoanTerms, first_no: int) -> Schedule:
    """The new schedule from the restructuring date, numbered on from the old one."""
    st = ScheduleTerms(
        principal_fen,
        event.rate_annual,
        event.periods,
        event.method,
        event.on,
        event.first_due_on,
        terms.frequency,
        terms.day_count,
    )
    periods = period_dates(st)
    span = event.periods if event.method is RepaymentMethod.BULLET else 1
    return amortize(
        principal_fen,
        event.rate_annual,
        periods,
        event.method,
        terms.frequency,
        terms.day_count,
        first_regular=periods[0].due == terms.frequency.advance(event.on, span),
        first_no=first_no,
        bullet_span=span,
    )


def restructure(loan: Loan, event: Restructure) -> tuple[Loan, tuple[Part, ...], Restructured] | Refusal:
    """The loan restructured on `event.on`; `loan` must be brought to that day (interest recognised)."""
    if bad := problems(event):
        return Refusal(INVALID_RESTRUCTURING, "; ".join(bad))
    on = event.on
    due = [i for i in loan.installments if i.due_date <= on]
    future = [i for i in loan.installments if i.due_date > on]
    kept = [_without_principal(i) for i in due]
    if future and (row := closing_row(future, on)) != _empty_row(row):
        kept.append(row)  # a restructuring on a due date has no running period to cut
    principal_before = loan.outstanding_principal_fen
    parts: list[Part] = []
    arrears = sum(i.owed(c).outstanding for i in kept for c in ARREARS_COMPONENTS)
    if event.arrears is ArrearsTreatment.CAPITALISE:
        capitalised_rows = []
        for inst in kept:
            inst, more = _capitalise(inst)
            capitalised_rows.append(inst)
            parts.extend(more)
        kept = capitalised_rows
    capitalised = sum(p.amount_fen for p in parts)
    new_principal = principal_before + capitalised
    if new_principal <= 0:
        return Refusal(NOTHING_TO_RESTRUCTURE, f"loan {loan.loan_no} has no principal to restructure")
    schedule = new_schedule(new_principal, event, loan.terms, max(i.no for i in loan.installments) + 1)
    rows = tuple(
        Installment(s.no, s.start_date, s.due_date, Owed(s.principal_fen), Owed(s.interest_fen))
        for s in schedule.installments
    )
    terms = replace(loan.terms, rate_annual=event.rate_annual, method=event.method, periods=event.periods)
    after = replace(
        loan,
        terms=terms,
        installments=(*kept, *rows),
        status=LoanStatus.RESTRUCTURED,
        schedule_version=loan.schedule_version + 1,
    )
    figures = Restructured(
        principal_before,
        capitalised,
        arrears - capitalised,
        new_principal,
        rows[0].due_date,
        rows[-1].due_date,
        schedule,
    )
    return after, tuple(parts), figures


def restructured_terms(terms: LoanTerms, event: Restructure) -> LoanTerms:
    """The contract terms after `event`: what the store overlays on the booked terms."""
    return replace(terms, rate_annual=event.rate_annual, method=event.method, periods=event.periods)


def remaining_periods(loan: Loan, on: date) -> int:
    """Installments still to fall due after `on` (what an extension adds to)."""
    return sum(1 for i in loan.installments if i.due_date > on)


def extension(loan: Loan, on: date, months: int, reference: str, reason: str = "") -> Restructure:
    """展期: the remaining periods plus `months` months' worth of periods, same rate and method.

    The repayment day is kept: the first new due date is the running period's, so the maturity moves
    by exactly the periods added (a loan maturing 2027-01-15 extended by 6 months matures 2027-07-15).
    """
    per_year = loan.terms.frequency.periods_per_year
    extra = max(1, -(-months * per_year // 12))  # whole periods covering `months` (rounded up)
    upcoming = [i.due_date for i in loan.installments if i.due_date > on]
    return Restructure(
        on,
        reference,
        max(1, remaining_periods(loan, on)) + extra,
        loan.terms.rate_annual,
        loan.terms.method,
        ArrearsTreatment.KEEP,
        first_due_on=min(upcoming) if upcoming else None,
        kind=RestructureKind.EXTENSION,
        reason=reason,
    )


# ---------------------------------------------------------------- classification after restructuring


def observation_end(first_due_on: date, frequency: Frequency) -> date:
    """The end of the observation period: max(1 year, 2 repayment periods) after the first new due date."""
    return max(add_months(first_due_on, 12), frequency.advance(first_due_on, 2))


def restructuring_floor(current: Grade) -> Grade:
    """At least 关注, or the class before restructuring when that is worse (DESIGN.md §5)."""
    return current if current.rank > Grade.SPECIAL_MENTION.rank else Grade.SPECIAL_MENTION


# ---------------------------------------------------------------- column form (the store)


def restructure_from_columns(m: Mapping[Any, Any]) -> Restructure:
    """A `Restructure` from its stored columns (rates in millionths)."""
    return Restructure(
        on=m["value_date"],
        reference=m["reference"],
        periods=int(m["rs_periods"]),
        rate_annual=rate_from_ppm(m["rs_rate_annual_ppm"]),
        method=RepaymentMethod(m["rs_method"]),
        arrears=ArrearsTreatment(m["rs_arrears"]),
        first_due_on=m["rs_first_due_on"],
        kind=RestructureKind(m["rs_kind"]),
        reason=m.get("reason") or "",
    )
