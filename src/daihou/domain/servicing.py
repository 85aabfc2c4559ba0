"""What happens to a loan after disbursement: payments, prepayments, waivers, charges, reversals.

Each event is a frozen record; `apply` turns a loan and an event into a new loan and its journal
entries, or a `Rejected` with a code. A loan's state is a pure function of its opening and its
events (`replay`), which is how a back-valued event and a reversal are applied: the history is
replayed without (or with) the event and the journal takes the difference as a new entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from daihou.domain.calendar import days_between
from daihou.domain.journal import EntryKind, JournalEntry
from daihou.domain.loan import (
    ONE_DAY,
    Installment,
    Loan,
    LoanStatus,
    Owed,
    Part,
    apply_credit,
    close_through,
    movements,
    recognize_interest,
    refresh_status,
)
from daihou.domain.money import div_round, rate_ppm, yuan_text
from daihou.domain.products import Component, RepaymentMethod
from daihou.domain.restructuring import Refusal, Restructure, restructure
from daihou.domain.schedule import PPM, Period, amortize
from daihou.domain.writeoff import WriteOff, write_off


class Code(StrEnum):
    """Why an event was refused. The CLI, API and web map these in one place each."""

    LOAN_NOT_FOUND = "loan_not_found"
    LOAN_CLOSED = "loan_closed"
    LOAN_WRITTEN_OFF = "loan_written_off"
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    BEFORE_DISBURSEMENT = "before_disbursement"
    ARREARS_OUTSTANDING = "arrears_outstanding"
    AMOUNT_TOO_SMALL = "amount_too_small"
    WAIVER_EXCEEDS_OUTSTANDING = "waiver_exceeds_outstanding"
    NOT_WAIVABLE = "not_waivable"
    NOT_CHARGEABLE = "not_chargeable"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    ALREADY_REVERSED = "already_reversed"
    NOT_REVERSIBLE = "not_reversible"
    LATER_EVENT_DEPENDS = "later_event_depends"
    INVALID_RESTRUCTURING = "invalid_restructuring"
    NOTHING_TO_RESTRUCTURE = "nothing_to_restructure"
    NOTHING_TO_WRITE_OFF = "nothing_to_write_off"


@dataclass(frozen=True, slots=True)
class Rejected:
    code: Code
    message: str


class PrepaymentMode(StrEnum):
    REDUCE_INSTALLMENT = "reduce_installment"  # keep the term, lower the installment
    SHORTEN_TERM = "shorten_term"  # keep the installment, end sooner


@dataclass(frozen=True, slots=True)
class Payment:
    on: date
    amount_fen: int
    reference: str


@dataclass(frozen=True, slots=True)
class Prepayment:
    on: date
    amount_fen: int
    reference: str
    mode: PrepaymentMode = PrepaymentMode.REDUCE_INSTALLMENT


@dataclass(frozen=True, slots=True)
class Waiver:
    on: date
    component: Component
    amount_fen: int
    reference: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Charge:
    """A fee charged to the borrower, or a collection cost the lender paid and may recover."""

    on: date
    component: Component  # FEE or COST
    amount_fen: int
    reference: str
    reason: str = ""


Event = Payment | Prepayment | Waiver | Charge | Restructure | WriteOff

ENTRY_KIND = {
    Payment: EntryKind.PAYMENT,
    Prepayment: EntryKind.PREPAYMENT,
    Waiver: EntryKind.WAIVER,
    Charge: EntryKind.CHARGE,
    Restructure: EntryKind.RESTRUCTURE,
    WriteOff: EntryKind.WRITE_OFF,
}


@dataclass(frozen=True, slots=True)
class Applied:
    loan: Loan
    entries: tuple[JournalEntry, ...]
    parts: tuple[Part, ...] = ()  # where the money went, for payments
    credit_fen: int = 0  # left as borrower credit after this event
    paid_off: bool = False


# ---------------------------------------------------------------- quotes


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    on: date
    due_fen: dict[Component, int]  # overdue and due today, by component
    future_principal_fen: int
    current_interest_fen: int  # interest of the running period by actual days
    credit_fen: int

    @property
    def total_fen(self) -> int:
        return max(
            0,
            sum(self.due_fen.values()) + self.future_principal_fen + self.current_interest_fen - self.credit_fen,
        )


def _future(loan: Loan, on: date) -> tuple[Installment, ...]:
    return tuple(i for i in loan.installments if i.due_date > on)


def _days_interest(loan: Loan, principal_fen: int, since: date, on: date) -> int:
    t = loan.terms
    return div_round(principal_fen * rate_ppm(t.rate_annual) * days_between(since, on), PPM * t.day_count.year_days)


def payoff_quote(loan: Loan, on: date) -> PayoffQuote:
    """What settles the loan in full on `on` (提前结清), assuming the days before `on` are closed."""
    loan = _bring_to(loan, on)
    future = _future(loan, on)
    principal = sum(i.principal.outstanding for i in future)
    interest = _days_interest(loan, principal, future[0].start_date, on) if future else 0
    due = {c: loan.owed_total(c, due_by=on) for c in Component}
    return PayoffQuote(on, due, principal, interest, loan.credit_fen)


# ---------------------------------------------------------------- applying events


def _bring_to(loan: Loan, on: date) -> Loan:
    """Close the days before `on` and recognise the interest of `on` itself."""
    return recognize_interest(close_through(loan, on - ONE_DAY), on)


def _check(loan: Loan, event: Event) -> Rejected | None:
    if loan.is_closed:
        return Rejected(Code.LOAN_CLOSED, f"loan {loan.loan_no} is {loan.status.value}")
    if loan.status is LoanStatus.WRITTEN_OFF and not isinstance(event, Payment):
        return Rejected(Code.LOAN_WRITTEN_OFF, f"loan {loan.loan_no} is written off")
    if not isinstance(event, Restructure | WriteOff) and event.amount_fen <= 0:
        return Rejected(Code.AMOUNT_NOT_POSITIVE, f"amount {yuan_text(event.amount_fen)} is not positive")
    if event.on < loan.terms.disbursed_on:
        return Rejected(Code.BEFORE_DISBURSEMENT, f"{event.on} is before disbursement {loan.terms.disbursed_on}")
    return None


def apply(loan: Loan, event: Event) -> Applied | Rejected:
    """Apply an event dated after the loan's last closed day. Earlier events go through `replay`."""
    assert loan.accrued_through is not None and event.on > loan.accrued_through, "back-valued: use replay"
    rejected = _check(loan, event)
    if rejected:
        return rejected
    before = loan
    loan = _bring_to(loan, event.on)
    accrual = JournalEntry.from_movements(
        EntryKind.ACCRUAL, event.on, movements(before, loan), memo="accrued up to the event"
    )
    outcome = _apply_event(loan, event)
    if isinstance(outcome, Rejected):
        return outcome
    after, parts = outcome
    after = refresh_status(after, event.on)
    entry = JournalEntry.from_movements(ENTRY_KIND[type(event)], event.on, movements(loan, after), memo=event.reference)
    entries = tuple(e for e in (accrual, entry) if e is not None)
    paid_off = after.status is LoanStatus.PAID_OFF and loan.status is not LoanStatus.PAID_OFF
    return Applied(after, entries, parts, after.credit_fen, paid_off)


def _receive(loan: Loan, amount_fen: int) -> Loan:
    return replace(loan, credit_fen=loan.credit_fen + amount_fen, received_fen=loan.received_fen + amount_fen)


def _apply_payment(loan: Loan, event: Payment) -> tuple[Loan, tuple[Part, ...]] | Rejected:
    loan, parts = apply_credit(_receive(loan, event.amount_fen), event.on)
    loan, more = _settle_if_covered(loan, event.on)
    return loan, parts + more


def _settle_if_covered(loan: Loan, on: date) -> tuple[Loan, tuple[Part, ...]]:
    """A payment that covers everything, future principal included, pays the loan off (提前结清).

    No credit left is not a reason to stop: when all future principal was waived the payoff is
    nothing more, and paying the arrears must settle the loan as the quote promised.
    """
    future = _future(loan, on)
    if not future or any(not i.settled for i in loan.installments if i.due_date <= on):
        return loan, ()
    quote = payoff_quote(loan, on)
    if loan.credit_fen < quote.future_principal_fen + quote.current_interest_fen:
        return loan, ()
    current = future[0]
    final = Installment(
        current.no,
        current.start_date,
        on,
        principal=_carried_principal(future, quote.future_principal_fen),
        interest=Owed(quote.current_interest_fen),
        interest_accrued_fen=sum(i.interest_accrued_fen for i in future),
    )
    kept = tuple(i for i in loan.installments if i.due_date <= on)
    loan = replace(loan, installments=(*kept, final), schedule_version=loan.schedule_version + 1)
    loan = recognize_interest(loan, on)
    return apply_credit(loan, on)


def _carried_principal(replaced: Sequence[Installment], owed_fen: int) -> Owed:
    """`owed_fen` of principal, keeping what was already paid or waived on the installments replaced.

    A settlement may waive principal of installments not yet due; a new schedule version must keep
    that waiver on its books, or the write-off would silently come back as principal due.
    """
    paid = sum(i.principal.paid for i in replaced)
    waived = sum(i.principal.waived for i in replaced)
    return Owed(owed_fen + paid + waived, paid, waived)


def _apply_prepayment(loan: Loan, event: Prepayment) -> tuple[Loan, tuple[Part, ...]] | Rejected:
    loan, parts = apply_credit(_receive(loan, event.amount_fen), event.on)
    arrears = [i for i in loan.installments if i.due_date <= event.on and not i.settled]
    if arrears:
        owed = sum(
            i.owed(c).outstanding for i in arrears for c in Component if c not in (Component.COST, Component.FEE)
        )
        return Rejected(Code.ARREARS_OUTSTANDING, f"pay the {yuan_text(owed)} due first")
    settled, more = _settle_if_covered(loan, event.on)
    if settled.status is LoanStatus.PAID_OFF or all(i.settled for i in settled.installments):
        return settled, parts + more
    principal, interest = _split_prepayment(loan, loan.credit_fen, event.on)
    if principal == 0:
        return Rejected(Code.AMOUNT_TOO_SMALL, "the amount does not cover one fen of principal")
    loan = _reamortize(loan, event.on, principal, interest, event.mode)
    loan, more = apply_credit(loan, event.on)
    return loan, parts + more


def _split_prepayment(loan: Loan, available_fen: int, on: date) -> tuple[int, int]:
    """The most principal P such that P plus its interest for the running period's days fits."""
    current = _future(loan, on)[0]
    outstanding = sum(i.principal.outstanding for i in _future(loan, on))
    days = days_between(current.start_date, on)
    t = loan.terms
    ppm, denom = rate_ppm(t.rate_annual), PPM * t.day_count.year_days
    principal = min(outstanding, available_fen * denom // (denom + ppm * days))
    while principal < outstanding and principal + 1 + div_round((principal + 1) * ppm * days, denom) <= available_fen:
        principal += 1
    while principal > 0 and principal + div_round(principal * ppm * days, denom) > available_fen:
        principal -= 1
    return principal, div_round(principal * ppm * days, denom)


def _reamortize(loan: Loan, on: date, principal_fen: int, interest_fen: int, mode: PrepaymentMode) -> Loan:
    """A new schedule version: a row for the prepayment, then the rest re-spread from the running period."""
    t = loan.terms
    future = _future(loan, on)
    current = future[0]
    remaining = sum(i.principal.outstanding for i in future) - principal_fen
    prepaid = Installment(
        current.no,
        current.start_date,
        on,
        _carried_principal(future, principal_fen),
        Owed(interest_fen),
        interest_accrued_fen=interest_fen,
    )
    periods = [Period(i.start_date, i.due_date) for i in future]
    bullet = t.method is RepaymentMethod.BULLET
    span = t.periods if bullet else 1
    regular = current.start_date != t.disbursed_on or current.due_date == t.frequency.advance(t.disbursed_on, span)
    level = None
    # The level is that of the regular rows: the last row absorbs rounding and may be a fen more.
    levelled = future[:-1] or future
    if mode is PrepaymentMode.SHORTEN_TERM and t.method is RepaymentMethod.EQUAL_INSTALLMENT:
        level = min(i.principal.due + i.interest.due for i in levelled)
    elif mode is PrepaymentMode.SHORTEN_TERM and t.method is RepaymentMethod.EQUAL_PRINCIPAL:
        level = min(i.principal.due for i in levelled)
    schedule = amortize(
        remaining,
        t.rate_annual,
        periods,
        t.method,
        t.frequency,
        t.day_count,
        first_regular=regular,
        level_fen=level,
        first_no=current.no + 1,
        bullet_span=span,
    )
    rest = tuple(
        Installment(
            s.no,
            s.start_date,
            s.due_date,
            Owed(s.principal_fen),
            Owed(s.interest_fen),
            interest_accrued_fen=current.interest_accrued_fen if k == 0 else 0,
        )
        for k, s in enumerate(schedule.installments)
    )
    kept = tuple(i for i in loan.installments if i.due_date <= on)
    return replace(loan, installments=(*kept, prepaid, *rest), schedule_version=loan.schedule_version + 1)


WAIVABLE_INTO = {
    Component.PENALTY,
    Component.COMPOUND,
    Component.INTEREST,
    Component.PRINCIPAL,
    Component.FEE,
    Component.COST,
}


def _apply_waiver(loan: Loan, event: Waiver) -> tuple[Loan, tuple[Part, ...]] | Rejected:
    comp = event.component
    if comp in (Component.FEE, Component.COST):
        owed = loan.fee if comp is Component.FEE else loan.cost
        if event.amount_fen > owed.outstanding:
            return _too_much(event, owed.outstanding)
        return loan.with_loan_level(comp, owed.waive(event.amount_fen)), (Part(0, comp, event.amount_fen),)
    # Principal may be waived on future installments too (a settlement); the rest only once due.
    eligible = [i for i in loan.installments if comp is Component.PRINCIPAL or i.due_date <= event.on]
    available = sum(i.owed(comp).outstanding for i in eligible)
    if event.amount_fen > available:
        return _too_much(event, available)
    left, parts, by_no = event.amount_fen, [], {i.no: i for i in loan.installments}
    for inst in eligible:
        take = min(left, inst.owed(comp).outstanding)
        if take:
            by_no[inst.no] = inst.with_owed(comp, inst.owed(comp).waive(take))
            parts.append(Part(inst.no, comp, take))
            left -= take
    return replace(loan, installments=tuple(by_no[i.no] for i in loan.installments)), tuple(parts)


def _too_much(event: Waiver, available: int) -> Rejected:
    return Rejected(
        Code.WAIVER_EXCEEDS_OUTSTANDING,
        f"waiver of {yuan_text(event.amount_fen)} {event.component.value} exceeds the "
        f"{yuan_text(available)} outstanding",
    )


def _apply_charge(loan: Loan, event: Charge) -> tuple[Loan, tuple[Part, ...]] | Rejected:
    if event.component not in (Component.FEE, Component.COST):
        return Rejected(Code.NOT_CHARGEABLE, f"only fees and costs can be charged, not {event.component.value}")
    owed = loan.fee if event.component is Component.FEE else loan.cost
    loan = loan.with_loan_level(event.component, owed.charge(event.amount_fen))
    loan, parts = apply_credit(loan, event.on)  # held credit pays a new charge at once
    return loan, parts


def _apply_event(loan: Loan, event: Event) -> tuple[Loan, tuple[Part, ...]] | Rejected:
    if isinstance(event, Payment):
        return _apply_payment(loan, event)
    if isinstance(event, Prepayment):
        return _apply_prepayment(loan, event)
    if isinstance(event, Waiver):
        return _apply_waiver(loan, event)
    if isinstance(event, Restructure | WriteOff):
        done = restructure(loan, event) if isinstance(event, Restructure) else write_off(loan, event)
        if isinstance(done, Refusal):
            return Rejected(Code(done.code), done.message)
        return done[0], done[1]
    return _apply_charge(loan, event)


# ---------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class Replayed:
    loan: Loan
    results: tuple[Applied | Rejected, ...]  # one per event, in the order given


def replay(opening: Loan, events: Sequence[Event], through: date | None) -> Replayed:
    """The loan after `events` (in the order given: by date, then as recorded), closed through `through`."""
    loan, results = opening, list[Applied | Rejected]()
    for event in events:
        assert loan.accrued_through is not None
        if event.on <= loan.accrued_through:  # same-day events after a closed day cannot happen in order
            results.append(Rejected(Code.NOT_REVERSIBLE, f"event on {event.on} is out of order"))
            continue
        result = apply(loan, event)
        if isinstance(result, Applied):
            loan = result.loan
        results.append(result)
    if through is not None and loan.accrued_through is not None and through > loan.accrued_through:
        loan = refresh_status(close_through(loan, through), through)
    return Replayed(loan, tuple(results))


def restate(
    current: Loan, opening: Loan, events: Sequence[Event], kind: EntryKind, on: date, memo: str
) -> tuple[Replayed, JournalEntry | None]:
    """Replay a changed history up to the current loan's last closed day; the journal takes the difference."""
    replayed = replay(opening, events, current.accrued_through)
    return replayed, JournalEntry.from_movements(kind, on, movements(current, replayed.loan), memo=memo)
