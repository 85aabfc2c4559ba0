"""Money invariants of restructuring and write-off on random loans after random histories.

- Restructuring conserves money: what was owed on the day (principal, plus arrears when capitalised)
  is the principal of the new schedule; kept arrears stay owed to the fen; nothing else changes.
- The new schedule's principal sums exactly to the new principal.
- The journal entries of a restructuring or a write-off carry exactly the change of the position.
- A replayed history with a restructuring in it gives the same loan as applying it forward.
- A write-off leaves nothing receivable and moves principal and costs to the write-off account.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daihou.domain.journal import Account
from daihou.domain.loan import ONE_DAY, Loan, close_through, position, recognize_interest
from daihou.domain.products import Component, RepaymentMethod
from daihou.domain.restructuring import ARREARS_COMPONENTS, ArrearsTreatment, Refusal, Restructure, restructure
from daihou.domain.servicing import Applied, Payment, replay
from daihou.domain.servicing import apply as apply_event
from daihou.domain.writeoff import WriteOff
from tests.property.strategies import booked_loans, histories, last_event_day, rates, run_history

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _arrears(loan: Loan) -> int:
    return sum(i.owed(c).outstanding for i in loan.installments for c in ARREARS_COMPONENTS)


def _due_arrears(loan: Loan, on: date) -> int:
    return sum(i.owed(c).outstanding for i in loan.installments if i.due_date <= on for c in ARREARS_COMPONENTS)


@st.composite
def restructured(draw: st.DrawFn) -> tuple[Loan, Restructure]:
    """A loan after a random history, and a restructuring some days after its last event."""
    history = run_history(draw(booked_loans(max_periods=12)).loan, draw(histories(max_steps=4)))
    loan = history.loan
    assert loan.accrued_through is not None
    on = max(last_event_day(history), loan.accrued_through) + timedelta(days=draw(st.integers(1, 120)))
    event = Restructure(
        on,
        "RS",
        draw(st.integers(1, 36)),
        draw(rates(0, 240_000)),
        draw(st.sampled_from(tuple(RepaymentMethod))),
        draw(st.sampled_from(tuple(ArrearsTreatment))),
    )
    return loan, event


@SETTINGS
@given(restructured())
def test_restructuring_conserves_every_fen(case: tuple[Loan, Restructure]) -> None:
    loan, event = case
    if loan.is_closed or loan.status.value == "written_off":
        return
    brought = recognize_interest(close_through(loan, event.on - ONE_DAY), event.on)
    done = restructure(brought, event)
    if isinstance(done, Refusal):
        assert brought.outstanding_principal_fen == 0
        return
    after, parts, figures = done
    # the running period's recognised interest is owed on the day, like the arrears
    running = sum(
        i.interest_accrued_fen - i.interest.paid - i.interest.waived
        for i in brought.installments
        if i.due_date > event.on
    )
    owed_on_day = _due_arrears(brought, event.on) + running
    assert figures.principal_before_fen == brought.outstanding_principal_fen
    assert figures.new_principal_fen == figures.principal_before_fen + figures.capitalised_fen
    assert figures.capitalised_fen + figures.kept_arrears_fen == owed_on_day
    if event.arrears is ArrearsTreatment.CAPITALISE:
        assert figures.capitalised_fen == owed_on_day and _due_arrears(after, event.on) == 0
    else:
        assert figures.capitalised_fen == 0 and _due_arrears(after, event.on) == owed_on_day
    assert sum(p.amount_fen for p in parts) == figures.capitalised_fen
    assert figures.schedule.total_principal_fen == figures.new_principal_fen
    assert after.outstanding_principal_fen == figures.new_principal_fen
    assert (after.cost, after.fee, after.credit_fen, after.received_fen) == (
        brought.cost,
        brought.fee,
        brought.credit_fen,
        brought.received_fen,
    )
    assert sum(position(after).values()) == 0


@SETTINGS
@given(restructured())
def test_the_journal_carries_exactly_what_a_restructuring_moved(case: tuple[Loan, Restructure]) -> None:
    loan, event = case
    result = apply_event(loan, event)
    if not isinstance(result, Applied):
        return
    before, after = position(loan), position(result.loan)
    for account in Account:
        posted = sum(e.amount(account) for e in result.entries)
        assert before[account] + posted == after[account], account
    replayed = replay(loan, [event], result.loan.accrued_through)
    assert replayed.loan == result.loan


@SETTINGS
@given(restructured(), st.integers(1, 400))
def test_a_write_off_leaves_nothing_receivable(case: tuple[Loan, Restructure], days: int) -> None:
    loan, event = case
    on = event.on + timedelta(days=days)
    result = apply_event(loan, WriteOff(on, "WO"))
    if not isinstance(result, Applied):
        return
    after = result.loan
    pos = position(after)
    receivables = (
        Account.PRINCIPAL_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
        Account.FEE_RECEIVABLE,
        Account.COST_RECEIVABLE,
    )
    assert all(pos[a] == 0 for a in receivables)
    assert pos[Account.BORROWER_CREDIT] == 0 and _arrears(after) == 0
    assert all(i.due_date <= on for i in after.installments)
    before = position(loan)
    for account in Account:
        assert before[account] + sum(e.amount(account) for e in result.entries) == pos[account]
    assert after.owed_total(Component.PRINCIPAL) == 0
    # money received afterwards is recovery income, and moves nothing but cash
    paid = apply_event(after, Payment(on + timedelta(days=days), days * 100, "R"))
    assert isinstance(paid, Applied)
    moved = {a: sum(e.amount(a) for e in paid.entries) for a in Account}
    assert {a: v for a, v in moved.items() if v} == {Account.CASH: days * 100, Account.RECOVERY_INCOME: -days * 100}
