"""The loan aggregate: its terms, its installments and what is owed, paid and waived on each.

Every operation is a pure function from a loan to a new loan. The journal entry of an operation is
the difference of the loan's ledger position before and after it (`position`), so an entry balances
exactly when the operation conserves money: the balance check of every entry is a real check.

Day conventions (one business day is closed at a time):
- interest is recognised pro rata over its period and in full from its due date (`recognize_interest`);
- penalty (罚息) and compound (复利) interest accrue for each closed day on the end-of-day overdue
  balances of each installment more than `grace_days` past due (`accrue_penalty`);
- money held as borrower credit is applied to what is due at each day's close, before that day's
  penalty, so an early payment is applied on the due date and never attracts penalty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daihou.domain.calendar import DayCount, Frequency, days_between
from daihou.domain.journal import Account
from daihou.domain.money import div_round, rate_from_ppm, rate_ppm
from daihou.domain.products import AllocationMode, AllocationRule, Component, RepaymentMethod
from daihou.domain.schedule import PPM, Schedule

ONE_DAY = timedelta(days=1)


class LoanStatus(StrEnum):
    ACTIVE = "active"
    OVERDUE = "overdue"
    RESTRUCTURED = "restructured"
    PAID_OFF = "paid_off"
    WRITTEN_OFF = "written_off"
    CLOSED = "closed"


CLOSED_STATUSES = frozenset({LoanStatus.PAID_OFF, LoanStatus.CLOSED})


@dataclass(frozen=True, slots=True)
class Owed:
    """One component owed: how much was charged (due), paid and waived."""

    due: int = 0
    paid: int = 0
    waived: int = 0

    @property
    def outstanding(self) -> int:
        return self.due - self.paid - self.waived

    def pay(self, fen: int) -> Owed:
        assert 0 <= fen <= self.outstanding
        return replace(self, paid=self.paid + fen)

    def waive(self, fen: int) -> Owed:
        assert 0 <= fen <= self.outstanding
        return replace(self, waived=self.waived + fen)

    def charge(self, fen: int) -> Owed:
        assert fen >= 0
        return replace(self, due=self.due + fen)


NOTHING = Owed()


@dataclass(frozen=True, slots=True)
class Installment:
    no: int
    start_date: date
    due_date: date
    principal: Owed
    interest: Owed
    penalty: Owed = NOTHING
    compound: Owed = NOTHING
    interest_accrued_fen: int = 0  # interest recognised in the journal so far

    def owed(self, component: Component) -> Owed:
        return {
            Component.PRINCIPAL: self.principal,
            Component.INTEREST: self.interest,
            Component.PENALTY: self.penalty,
            Component.COMPOUND: self.compound,
        }[component]

    def with_owed(self, component: Component, owed: Owed) -> Installment:
        if component is Component.PRINCIPAL:
            return replace(self, principal=owed)
        if component is Component.INTEREST:
            return replace(self, interest=owed)
        if component is Component.PENALTY:
            return replace(self, penalty=owed)
        assert component is Component.COMPOUND
        return replace(self, compound=owed)

    @property
    def arrears_fen(self) -> int:
        """Principal and interest still unpaid: what DPD looks at."""
        return self.principal.outstanding + self.interest.outstanding

    @property
    def settled(self) -> bool:
        return all(self.owed(c).outstanding == 0 for c in INSTALLMENT_COMPONENTS)

    def interest_target(self, day: date) -> int:
        """Interest recognised by the end of `day`: pro rata over the period, whole from the due date."""
        if day >= self.due_date:
            return self.interest.due
        length = days_between(self.start_date, self.due_date)
        elapsed = max(0, days_between(self.start_date, day))
        return div_round(self.interest.due * elapsed, length)


INSTALLMENT_COMPONENTS = (Component.PENALTY, Component.COMPOUND, Component.INTEREST, Component.PRINCIPAL)


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """What the contract says, copied from the product when the loan is booked."""

    loan_no: str
    principal_fen: int
    rate_annual: Decimal
    penalty_rate_annual: Decimal  # the collectable rate, after legal caps
    periods: int
    method: RepaymentMethod
    disbursed_on: date
    first_due_on: date | None = None
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.ACT_360
    grace_days: int = 0
    dpd_tolerance_fen: int = 0
    compound_interest: bool = True
    allocation: AllocationRule = field(default_factory=AllocationRule)


@dataclass(frozen=True, slots=True)
class Loan:
    terms: LoanTerms
    installments: tuple[Installment, ...]
    status: LoanStatus = LoanStatus.ACTIVE
    cost: Owed = NOTHING
    fee: Owed = NOTHING
    credit_fen: int = 0  # money received and not yet applied (溢缴款)
    received_fen: int = 0  # all cash ever received
    accrued_through: date | None = None  # the last closed day (penalty accrued, credit applied)
    schedule_version: int = 1

    @property
    def loan_no(self) -> str:
        return self.terms.loan_no

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    def installment(self, no: int) -> Installment:
        for inst in self.installments:
            if inst.no == no:
                return inst
        raise KeyError(no)

    @property
    def outstanding_principal_fen(self) -> int:
        return sum(i.principal.outstanding for i in self.installments)

    def overdue(self, on: date) -> tuple[Installment, ...]:
        return tuple(i for i in self.installments if i.due_date < on and not i.settled)

    def owed_total(self, component: Component, due_by: date | None = None) -> int:
        if component is Component.COST:
            return self.cost.outstanding
        if component is Component.FEE:
            return self.fee.outstanding
        return sum(i.owed(component).outstanding for i in self.installments if due_by is None or i.due_date <= due_by)

    def with_loan_level(self, component: Component, owed: Owed) -> Loan:
        """The loan with its fee or cost balance replaced."""
        assert component in (Component.FEE, Component.COST)
        return replace(self, fee=owed) if component is Component.FEE else replace(self, cost=owed)

    def next_due_date(self, on: date) -> date | None:
        upcoming = [i.due_date for i in self.installments if i.due_date >= on and not i.settled]
        return min(upcoming, default=None)


def terms_from_columns(m: Mapping[Any, Any]) -> LoanTerms:
    """LoanTerms from their column form (rates in millionths), as the store and the batch hold them."""
    return LoanTerms(
        loan_no=m["loan_no"],
        principal_fen=m["principal_fen"],
        rate_annual=rate_from_ppm(m["rate_annual_ppm"]),
        penalty_rate_annual=rate_from_ppm(m["penalty_rate_annual_ppm"]),
        periods=m["periods"],
        method=RepaymentMethod(m["method"]),
        disbursed_on=m["disbursed_on"],
        first_due_on=m["first_due_on"],
        frequency=Frequency(m["frequency"]),
        day_count=DayCount(m["day_count"]),
        grace_days=m["grace_days"],
        dpd_tolerance_fen=m["dpd_tolerance_fen"],
        compound_interest=bool(m["compound_interest"]),
        allocation=AllocationRule(
            tuple(Component(c) for c in m["allocation_order"].split(",")), AllocationMode(m["allocation_mode"])
        ),
    )


def open_loan(terms: LoanTerms, schedule: Schedule) -> Loan:
    """A newly disbursed loan: the schedule's installments, nothing paid, nothing accrued."""
    assert schedule.total_principal_fen == terms.principal_fen
    installments = tuple(
        Installment(s.no, s.start_date, s.due_date, Owed(s.principal_fen), Owed(s.interest_fen))
        for s in schedule.installments
    )
    return Loan(terms, installments, accrued_through=terms.disbursed_on)


# ---------------------------------------------------------------- ledger position


def position(loan: Loan) -> dict[Account, int]:
    """The loan's balance on every account (debit > 0) implied by its state; sums to zero."""
    inst = loan.installments
    interest_accrued = sum(i.interest_accrued_fen for i in inst)
    interest_waived = sum(i.interest.waived for i in inst)
    penalty = [i.penalty for i in inst] + [i.compound for i in inst]
    # Money received after a write-off finds nothing owed on the books: it is recovery income, not credit.
    recovered = loan.credit_fen if loan.status is LoanStatus.WRITTEN_OFF else 0
    return {
        Account.CASH: loan.received_fen - loan.terms.principal_fen - loan.cost.due,
        Account.PRINCIPAL_RECEIVABLE: sum(i.principal.outstanding for i in inst),
        Account.INTEREST_RECEIVABLE: interest_accrued - sum(i.interest.paid + i.interest.waived for i in inst),
        Account.PENALTY_RECEIVABLE: sum(p.outstanding for p in penalty),
        Account.FEE_RECEIVABLE: loan.fee.outstanding,
        Account.COST_RECEIVABLE: loan.cost.outstanding,
        Account.BORROWER_CREDIT: -(loan.credit_fen - recovered),
        Account.INTEREST_INCOME: -(interest_accrued - interest_waived),
        Account.PENALTY_INCOME: -sum(p.due - p.waived for p in penalty),
        Account.FEE_INCOME: -(loan.fee.due - loan.fee.waived),
        Account.WRITE_OFF: sum(i.principal.waived for i in inst) + loan.cost.waived,
        Account.RECOVERY_INCOME: -recovered,
    }


def movements(before: Loan, after: Loan) -> dict[Account, int]:
    """What moved on each account between two states of one loan: the lines of a journal entry."""
    a, b = position(before), position(after)
    return {acct: b[acct] - a[acct] for acct in Account if b[acct] != a[acct]}


# ---------------------------------------------------------------- close of day


def recognize_interest(loan: Loan, day: date) -> Loan:
    """Bring recognised interest of every installment to its target at the end of `day`."""
    if loan.is_closed or loan.status is LoanStatus.WRITTEN_OFF:
        return loan
    changed = tuple(
        replace(i, interest_accrued_fen=t) if (t := i.interest_target(day)) != i.interest_accrued_fen else i
        for i in loan.installments
    )
    return replace(loan, installments=changed)


def daily_penalty_fen(base_fen: int, penalty_ppm: int, year_days: int) -> int:
    """One day's penalty (or compound) interest on a base, half-up to the fen."""
    return div_round(base_fen * penalty_ppm, PPM * year_days)


def accrue_penalty(loan: Loan, through: date) -> Loan:
    """Accrue penalty and compound interest for each day after `accrued_through` up to `through`.

    Balances do not change inside the span (callers close day by day around every event), so the
    days of each installment are counted at once: the result equals a day-by-day loop exactly.
    """
    start = loan.accrued_through
    assert start is not None
    if through <= start:
        return loan
    if loan.is_closed or loan.status is LoanStatus.WRITTEN_OFF:
        return replace(loan, accrued_through=through)
    terms = loan.terms
    ppm, year_days = rate_ppm(terms.penalty_rate_annual), terms.day_count.year_days
    out = []
    for inst in loan.installments:
        first_day = max(start, inst.due_date + timedelta(days=terms.grace_days))  # exclusive
        days = days_between(first_day, through)
        if days > 0 and inst.due_date < through:
            penalty = daily_penalty_fen(inst.principal.outstanding, ppm, year_days) * days
            compound = (
                daily_penalty_fen(inst.interest.outstanding, ppm, year_days) * days if terms.compound_interest else 0
            )
            if penalty or compound:
                inst = replace(inst, penalty=inst.penalty.charge(penalty), compound=inst.compound.charge(compound))
        out.append(inst)
    return replace(loan, installments=tuple(out), accrued_through=through)


def close_day(loan: Loan, day: date) -> Loan:
    """The close of one business day: recognise interest, apply credit to what fell due, accrue penalty."""
    assert loan.accrued_through is not None and day == loan.accrued_through + ONE_DAY, (
        f"{loan.loan_no}: close {day} after {loan.accrued_through}"
    )
    loan = recognize_interest(loan, day)
    if loan.credit_fen and not loan.is_closed:
        loan, _ = apply_credit(loan, day)
    return refresh_status(accrue_penalty(loan, day), day)


def close_through(loan: Loan, through: date) -> Loan:
    """Close every day up to `through`, with the same result as closing them one by one.

    Balances only change inside the span when held credit meets a due date, so the days between
    such dates are closed together.
    """
    assert loan.accrued_through is not None
    day = loan.accrued_through
    while day < through:
        stops = [i.due_date for i in loan.installments if day < i.due_date <= through and not i.settled]
        stop = min(stops) if loan.credit_fen and stops else through
        if stop > day + ONE_DAY:
            loan = accrue_penalty(recognize_interest(loan, stop - ONE_DAY), stop - ONE_DAY)
        loan = close_day(loan, stop)
        day = stop
    return loan


# ---------------------------------------------------------------- days past due and status


def days_past_due(loan: Loan, on: date) -> int:
    """Days since the earliest due date whose principal or interest is unpaid (beyond the tolerance)."""
    tolerance = loan.terms.dpd_tolerance_fen
    for inst in loan.installments:
        if inst.due_date < on and inst.arrears_fen > tolerance:
            return days_between(inst.due_date, on)
    return 0


def refresh_status(loan: Loan, on: date) -> Loan:
    """Active, overdue or paid off as the balances say; written-off and closed loans keep their status."""
    if loan.status in (LoanStatus.WRITTEN_OFF, LoanStatus.CLOSED, LoanStatus.PAID_OFF):
        return loan
    if all(i.settled for i in loan.installments) and loan.cost.outstanding == 0 and loan.fee.outstanding == 0:
        status = LoanStatus.PAID_OFF
    elif days_past_due(loan, on) > 0:
        status = LoanStatus.OVERDUE
    elif loan.status is LoanStatus.RESTRUCTURED:
        status = LoanStatus.RESTRUCTURED
    else:
        status = LoanStatus.ACTIVE
    return loan if status is loan.status else replace(loan, status=status)


# ---------------------------------------------------------------- allocation waterfall


@dataclass(frozen=True, slots=True)
class Part:
    installment_no: int  # 0 for loan-level components (costs, fees)
    component: Component
    amount_fen: int


def _slots(loan: Loan, on: date, rule: AllocationRule) -> Iterable[tuple[int, Component]]:
    """Where money goes, in waterfall order: loan-level items, then installments due by `on`."""
    due = [i.no for i in loan.installments if i.due_date <= on]
    loan_level = [c for c in rule.order if c in (Component.COST, Component.FEE)]
    per_inst = [c for c in rule.order if c in INSTALLMENT_COMPONENTS]
    yield from ((0, c) for c in loan_level)
    if rule.mode is AllocationMode.HORIZONTAL:
        yield from ((no, c) for c in per_inst for no in due)
    else:
        yield from ((no, c) for no in due for c in per_inst)


def allocate(loan: Loan, amount_fen: int, on: date) -> tuple[Loan, tuple[Part, ...], int]:
    """Apply `amount_fen` to what is due by `on` in waterfall order; returns the rest unapplied."""
    assert amount_fen >= 0
    left = amount_fen
    parts: list[Part] = []
    by_no = {i.no: i for i in loan.installments}
    cost, fee = loan.cost, loan.fee
    for no, comp in _slots(loan, on, loan.terms.allocation):
        if left == 0:
            break
        owed = (cost if comp is Component.COST else fee) if no == 0 else by_no[no].owed(comp)
        take = min(left, owed.outstanding)
        if take == 0:
            continue
        left -= take
        parts.append(Part(no, comp, take))
        if no == 0 and comp is Component.COST:
            cost = cost.pay(take)
        elif no == 0:
            fee = fee.pay(take)
        else:
            by_no[no] = by_no[no].with_owed(comp, owed.pay(take))
    installments = tuple(by_no[i.no] for i in loan.installments)
    return replace(loan, installments=installments, cost=cost, fee=fee), tuple(parts), left


def apply_credit(loan: Loan, on: date) -> tuple[Loan, tuple[Part, ...]]:
    loan, parts, left = allocate(loan, loan.credit_fen, on)
    return replace(loan, credit_fen=left), parts
