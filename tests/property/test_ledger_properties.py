"""Ledger properties over random loans and random histories of events.

A history (see strategies.py) mixes payments of random size on random dates (often late, so
installments go overdue and attract penalty), prepayments in both modes, waivers and charges.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from daihou.domain.booking import Booked
from daihou.domain.journal import Account, EntryKind, JournalEntry
from daihou.domain.loan import (
    ONE_DAY,
    Loan,
    LoanStatus,
    allocate,
    close_day,
    close_through,
    days_past_due,
    position,
    recognize_interest,
)
from daihou.domain.products import AllocationMode, Component, RepaymentMethod
from daihou.domain.servicing import (
    Applied,
    Code,
    Payment,
    Prepayment,
    PrepaymentMode,
    Rejected,
    Waiver,
    apply,
    payoff_quote,
    replay,
    restate,
)
from tests.property.strategies import History, booked_loans, histories, last_event_day, run_history

HISTORY = settings(max_examples=100)
days_later = st.integers(1, 400)


def net(entries: list[JournalEntry] | tuple[JournalEntry, ...]) -> dict[Account, int]:
    total: Counter[Account] = Counter()
    for entry in entries:
        for line in entry.lines:
            total[line.account] += line.amount_fen
    return {a: n for a, n in total.items() if n}


def nonzero(balances: dict[Account, int]) -> dict[Account, int]:
    return {a: n for a, n in balances.items() if n}


def journal(booked: Booked, history: History) -> list[JournalEntry]:
    entries = [booked.entry]
    for result in history.results:
        if isinstance(result, Applied):
            entries.extend(result.entries)
    return entries


def all_paid(loan: Loan) -> int:
    components = (Component.PRINCIPAL, Component.INTEREST, Component.PENALTY, Component.COMPOUND)
    on_installments = sum(i.owed(c).paid for i in loan.installments for c in components)
    return on_installments + loan.fee.paid + loan.cost.paid


def brought_to(loan: Loan, on: date) -> Loan:
    """The loan as an event on `on` finds it: the days before closed, that day's interest recognised."""
    return recognize_interest(close_through(loan, on - ONE_DAY), on)


# ---------------------------------------------------------------- the journal


@HISTORY
@given(booked_loans(), histories())
def test_every_entry_balances_and_the_journal_reproduces_the_balances(booked: Booked, drawn) -> None:
    history = run_history(booked.loan, drawn)
    entries = journal(booked, history)
    assert all(sum(line.amount_fen for line in e.lines) == 0 for e in entries)
    assert net(entries) == nonzero(position(history.loan))


@HISTORY
@given(booked_loans(), histories(), days_later)
def test_closing_days_after_a_history_posts_the_accrual_the_balances_show(booked: Booked, drawn, later: int) -> None:
    history = run_history(booked.loan, drawn)
    closed = close_through(history.loan, last_event_day(history) + timedelta(days=later))
    accrual = JournalEntry.from_movements(
        EntryKind.ACCRUAL, closed.accrued_through or date.min, dict(_moves(history.loan, closed))
    )
    entries = journal(booked, history) + ([accrual] if accrual else [])
    assert net(entries) == nonzero(position(closed))


def _moves(before: Loan, after: Loan):
    a, b = position(before), position(after)
    return ((acct, b[acct] - a[acct]) for acct in Account)


@HISTORY
@given(booked_loans(), histories())
def test_money_is_conserved_and_principal_always_sums_to_the_loan(booked: Booked, drawn) -> None:
    loan = run_history(booked.loan, drawn).loan
    assert loan.received_fen == all_paid(loan) + loan.credit_fen
    assert loan.credit_fen >= 0
    assert sum(i.principal.due for i in loan.installments) == loan.terms.principal_fen
    assert sum(position(loan).values()) == 0
    for inst in loan.installments:
        for c in (Component.PRINCIPAL, Component.INTEREST, Component.PENALTY, Component.COMPOUND):
            assert inst.owed(c).outstanding >= 0


# ---------------------------------------------------------------- allocation


@settings(max_examples=150)
@given(booked_loans(), histories(max_steps=4), days_later, st.integers(0, 3_000_000))
def test_allocation_conserves_every_fen_and_follows_the_waterfall(
    booked: Booked, drawn, later: int, amount: int
) -> None:
    history = run_history(booked.loan, drawn)
    on = last_event_day(history) + timedelta(days=later)
    loan = brought_to(history.loan, on)
    after, parts, left = allocate(loan, amount, on)
    assert sum(p.amount_fen for p in parts) + left == amount
    assert all(p.amount_fen > 0 for p in parts)
    assert all_paid(after) - all_paid(loan) == amount - left
    slots = waterfall(loan, on)
    owed_before = {s: outstanding(loan, *s) for s in slots}
    positions = [slots.index((p.installment_no, p.component)) for p in parts]
    assert positions == sorted(positions)  # in waterfall order
    for part in parts[:-1]:  # every slot but the last one paid is paid in full
        assert part.amount_fen == owed_before[(part.installment_no, part.component)]
    if left:  # money is left only when everything due is paid
        assert all(outstanding(after, *s) == 0 for s in slots)
    paid_slots = {(p.installment_no, p.component) for p in parts}
    skipped = [s for s in slots[: (max(positions) if positions else 0)] if s not in paid_slots]
    assert all(owed_before[s] == 0 for s in skipped)


def waterfall(loan: Loan, on: date) -> list[tuple[int, Component]]:
    """The order money goes in, written out from the rule (DESIGN.md §5) independently of the domain."""
    rule = loan.terms.allocation
    level = [(0, c) for c in rule.order if c in (Component.COST, Component.FEE)]
    per = [c for c in rule.order if c not in (Component.COST, Component.FEE)]
    due = [i.no for i in loan.installments if i.due_date <= on]
    if rule.mode is AllocationMode.HORIZONTAL:
        return level + [(no, c) for c in per for no in due]
    return level + [(no, c) for no in due for c in per]


def outstanding(loan: Loan, no: int, component: Component) -> int:
    if no == 0:
        return (loan.cost if component is Component.COST else loan.fee).outstanding
    return loan.installment(no).owed(component).outstanding


@HISTORY
@given(booked_loans(), histories(max_steps=5))
def test_a_payment_is_allocated_or_held_as_credit_and_never_lost(booked: Booked, drawn) -> None:
    history = run_history(booked.loan, drawn)
    loan = booked.loan
    for event, result in zip(history.events, history.results, strict=True):
        if isinstance(result, Applied) and isinstance(event, Payment | Prepayment):
            held = brought_to(loan, event.on).credit_fen
            assert sum(p.amount_fen for p in result.parts) + result.credit_fen == event.amount_fen + held
            assert result.credit_fen == result.loan.credit_fen
        if isinstance(result, Applied):
            loan = result.loan


# ---------------------------------------------------------------- replay and reversal


@HISTORY
@given(booked_loans(), histories(), st.data())
def test_replaying_without_an_event_equals_never_posting_it(booked: Booked, drawn, data: st.DataObject) -> None:
    history = run_history(booked.loan, drawn)
    through = last_event_day(history) + timedelta(days=data.draw(st.integers(0, 60)))
    # replaying the whole history gives the live state
    assert replay(booked.loan, history.events, through).loan == refreshed(history.loan, through)
    k = data.draw(st.integers(0, len(history.events) - 1))
    without = history.events[:k] + history.events[k + 1 :]
    never = run_events(booked.loan, without)
    replayed = replay(booked.loan, without, through)
    assert replayed.loan == refreshed(never, through)
    # and the journal, with the restatement posted, shows the balances of the history without k
    current = refreshed(history.loan, through)
    restated, correction = restate(current, booked.loan, without, EntryKind.REVERSAL, through, "reverse")
    assert restated.loan == replayed.loan
    before = nonzero(position(current))
    moved = net([correction]) if correction else {}
    after = {a: before.get(a, 0) + moved.get(a, 0) for a in Account}
    assert nonzero(after) == nonzero(position(replayed.loan))


def refreshed(loan: Loan, through: date) -> Loan:
    from daihou.domain.loan import refresh_status

    assert loan.accrued_through is not None
    return refresh_status(close_through(loan, through), through) if through > loan.accrued_through else loan


def run_events(opening: Loan, events) -> Loan:
    loan = opening
    for event in events:
        assert loan.accrued_through is not None
        if event.on <= loan.accrued_through:
            continue
        result = apply(loan, event)
        if isinstance(result, Applied):
            loan = result.loan
    return loan


@HISTORY
@given(booked_loans(), histories(), st.integers(1, 90), st.integers(1, 1500))
def test_reversing_a_payment_at_once_restores_the_loan_and_negates_its_entries(
    booked: Booked, drawn, gap: int, permille: int
) -> None:
    history = run_history(booked.loan, drawn)
    on = last_event_day(history) + timedelta(days=gap)
    before = replay(booked.loan, history.events, on - ONE_DAY).loan
    assume(not before.is_closed)
    amount = max(1, payoff_quote(before, on).total_fen * permille // 1000)
    posted = apply(before, Payment(on, amount, "to-reverse"))
    assert isinstance(posted, Applied)
    restated, reversal = restate(posted.loan, booked.loan, history.events, EntryKind.REVERSAL, on, "reversal")
    assert restated.loan == before
    assert reversal is not None and reversal.kind is EntryKind.REVERSAL
    # the payment's entry negated, plus the day's interest recognised by the accrual entry before it
    assert net([reversal]) == {a: -n for a, n in net(posted.entries).items()}


# ---------------------------------------------------------------- closing days


@HISTORY
@given(booked_loans(), histories(), st.integers(0, 200), st.integers(0, 200))
def test_accrual_over_a_span_is_the_sum_of_its_parts(booked: Booked, drawn, x: int, y: int) -> None:
    loan = run_history(booked.loan, drawn).loan
    assert loan.accrued_through is not None
    b = loan.accrued_through + timedelta(days=x)
    c = b + timedelta(days=y)
    assert close_through(loan, c) == close_through(close_through(loan, b), c)


@settings(max_examples=100)
@given(booked_loans(), histories(), st.integers(1, 300))
def test_closing_a_span_at_once_equals_closing_each_day(booked: Booked, drawn, span: int) -> None:
    loan = run_history(booked.loan, drawn).loan
    assert loan.accrued_through is not None
    by_day, day = loan, loan.accrued_through
    for _ in range(span):
        day += ONE_DAY
        by_day = close_day(by_day, day)
    assert close_through(loan, day) == by_day


@settings(max_examples=100)
@given(booked_loans(), st.integers(1, 200), st.integers(1, 400))
def test_credit_held_across_due_dates_is_applied_on_each_due_date(booked: Booked, early: int, span: int) -> None:
    loan = booked.loan
    first_due = loan.installments[0].due_date
    on = max(loan.terms.disbursed_on + ONE_DAY, first_due - timedelta(days=early))
    assume(on < first_due)
    held = applied_loan(apply(loan, Payment(on, 2 * payment_of(loan, 0) + 1, "ahead")))
    by_day, day = held, held.accrued_through
    assert day is not None
    for _ in range(span):
        day += ONE_DAY
        by_day = close_day(by_day, day)
    assert close_through(held, day) == by_day
    assert by_day.received_fen == all_paid(by_day) + by_day.credit_fen


def applied_loan(result: Applied | Rejected) -> Loan:
    assert isinstance(result, Applied), result
    return result.loan


def payment_of(loan: Loan, index: int) -> int:
    inst = loan.installments[index]
    return inst.principal.due + inst.interest.due


# ---------------------------------------------------------------- DPD and penalty


def half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


@settings(max_examples=120)
@given(booked_loans(), st.integers(0, 500))
def test_penalty_and_dpd_of_an_unpaid_loan_follow_the_rules(booked: Booked, days: int) -> None:
    loan = booked.loan
    t = loan.terms
    on = t.disbursed_on + timedelta(days=days)
    closed = close_through(loan, on)
    year = Decimal(t.day_count.year_days)
    for inst in closed.installments:
        late = max(0, (on - (inst.due_date + timedelta(days=t.grace_days))).days)
        per_day = half_up(inst.principal.due * t.penalty_rate_annual / year)
        assert inst.penalty.due == per_day * late
        compound = half_up(inst.interest.due * t.penalty_rate_annual / year) if t.compound_interest else 0
        assert inst.compound.due == compound * late
    unpaid = [i for i in closed.installments if i.due_date < on and i.arrears_fen > t.dpd_tolerance_fen]
    assert days_past_due(closed, on) == ((on - unpaid[0].due_date).days if unpaid else 0)
    assert (closed.status is LoanStatus.OVERDUE) == bool(unpaid)


@settings(max_examples=100)
@given(booked_loans(), histories(), days_later)
def test_nothing_accrues_once_a_loan_is_written_off(booked: Booked, drawn, later: int) -> None:
    from dataclasses import replace

    loan = run_history(booked.loan, drawn).loan
    assume(not loan.is_closed)
    written_off = replace(loan, status=LoanStatus.WRITTEN_OFF)
    assert written_off.accrued_through is not None
    closed = close_through(written_off, written_off.accrued_through + timedelta(days=later))

    def charged(x: Loan) -> list[tuple[int, int, int, int]]:
        return [(i.interest_accrued_fen, i.interest.due, i.penalty.due, i.compound.due) for i in x.installments]

    assert charged(closed) == charged(written_off)  # held credit may still be applied, but nothing accrues
    for account in (Account.INTEREST_INCOME, Account.PENALTY_INCOME):
        assert position(closed)[account] == position(written_off)[account]


# ---------------------------------------------------------------- payoff, overpayment, prepayment


@HISTORY
@given(booked_loans(), histories(), days_later, st.integers(0, 100_000))
def test_paying_the_payoff_quote_pays_off_and_any_excess_stays_as_credit(
    booked: Booked, drawn, later: int, extra: int
) -> None:
    history = run_history(booked.loan, drawn)
    loan = history.loan
    assume(not loan.is_closed)
    on = last_event_day(history) + timedelta(days=later)
    quote = payoff_quote(loan, on)
    assume(quote.total_fen + extra > 0)
    result = apply(loan, Payment(on, quote.total_fen + extra, "payoff"))
    assert isinstance(result, Applied)
    assert result.loan.status is LoanStatus.PAID_OFF
    owed = sum(quote.due_fen.values()) + quote.future_principal_fen + quote.current_interest_fen
    assert result.credit_fen == extra + max(0, quote.credit_fen - owed)
    assert all(i.settled for i in result.loan.installments)
    # and once paid off, nothing more accrues
    later_loan = close_through(result.loan, on + timedelta(days=400))
    assert position(later_loan) == position(result.loan)


@HISTORY
@given(booked_loans(), histories(), days_later, st.integers(1, 999))
def test_an_overpayment_below_the_payoff_is_kept_as_credit_and_used_on_the_next_due_date(
    booked: Booked, drawn, later: int, permille: int
) -> None:
    history = run_history(booked.loan, drawn)
    loan = history.loan
    assume(not loan.is_closed)
    on = last_event_day(history) + timedelta(days=later)
    quote = payoff_quote(loan, on)
    due_now = max(0, sum(quote.due_fen.values()) - quote.credit_fen)
    amount = due_now + (quote.total_fen - due_now) * permille // 1000
    assume(due_now < amount < quote.total_fen)
    result = apply(loan, Payment(on, amount, "over"))
    assert isinstance(result, Applied)
    assert result.loan.status is not LoanStatus.PAID_OFF
    assert result.credit_fen == quote.credit_fen + amount - sum(quote.due_fen.values())
    next_due = result.loan.next_due_date(on + ONE_DAY)
    assert next_due is not None
    at_due = close_through(result.loan, next_due)
    falling_due = sum(
        outstanding(result.loan, i.no, c)
        for i in result.loan.installments
        if i.due_date == next_due
        for c in (Component.PENALTY, Component.COMPOUND, Component.INTEREST, Component.PRINCIPAL)
    )
    assert at_due.credit_fen == max(0, result.credit_fen - falling_due - fee_and_cost(result.loan))
    assert at_due.received_fen == all_paid(at_due) + at_due.credit_fen


def fee_and_cost(loan: Loan) -> int:
    return loan.fee.outstanding + loan.cost.outstanding


@settings(max_examples=120)
@given(booked_loans(), st.integers(1, 600), st.integers(1, 999), st.sampled_from(tuple(PrepaymentMode)))
def test_partial_prepayment_modes_keep_or_shorten_the_schedule(booked: Booked, gap: int, permille: int, mode) -> None:
    loan = booked.loan
    on = loan.terms.disbursed_on + timedelta(days=gap)
    loan = replay(loan, [], on - ONE_DAY).loan
    arrears = max(0, sum(payoff_quote(loan, on).due_fen.values()) - loan.credit_fen)
    if arrears:
        loan = applied_loan(apply(loan, Payment(on, arrears, "arrears")))
    before = [i for i in loan.installments if i.due_date > on]
    assume(len(before) >= 2)
    # rounding a tiny level up may repay a tiny principal before the term ends (documented edge case)
    assume(sum(i.principal.outstanding for i in before) >= 2 * len(before) ** 2)
    amount = max(1, sum(i.principal.outstanding for i in before) * permille // 1000)
    result = apply(loan, Prepayment(on, amount, "pp", mode))
    if isinstance(result, Rejected):
        assert result.code is Code.AMOUNT_TOO_SMALL
        return
    assert sum(i.principal.due for i in result.loan.installments) == loan.terms.principal_fen
    after = [i for i in result.loan.installments if i.due_date > on]
    assert result.loan.outstanding_principal_fen < loan.outstanding_principal_fen
    if result.loan.status is LoanStatus.PAID_OFF:
        return

    def pay(i) -> int:
        return i.principal.due + i.interest.due

    if mode is PrepaymentMode.REDUCE_INSTALLMENT:
        assert [i.due_date for i in after] == [i.due_date for i in before]
        if loan.terms.method is RepaymentMethod.EQUAL_INSTALLMENT and len(after) >= 2:
            assert pay(after[1]) <= pay(before[1])
    else:
        assert [i.due_date for i in after] == [i.due_date for i in before][: len(after)]
        if loan.terms.method is RepaymentMethod.EQUAL_INSTALLMENT and len(after) >= 2:
            level = min(pay(i) for i in before[:-1])
            assert all(pay(i) == level for i in after[:-1])
            # the last row takes the rest: a fen of rounding, or what a broken first period left to it
            assert pay(after[-1]) <= max(level + 1, pay(before[-1]))


@HISTORY
@given(booked_loans(), histories(), days_later, st.integers(1, 2000))
def test_a_prepayment_with_arrears_pays_them_first_or_is_refused(
    booked: Booked, drawn, later: int, permille: int
) -> None:
    history = run_history(booked.loan, drawn)
    loan = history.loan
    assume(not loan.is_closed)
    on = last_event_day(history) + timedelta(days=later)
    quote = payoff_quote(loan, on)
    loan_level = quote.due_fen[Component.FEE] + quote.due_fen[Component.COST]
    arrears = sum(quote.due_fen.values()) - loan_level  # what installments due by today still owe
    assume(arrears > 0)
    amount = max(1, arrears * permille // 1000)
    result = apply(loan, Prepayment(on, amount, "pp"))
    if amount + quote.credit_fen < arrears:
        assert isinstance(result, Rejected) and result.code is Code.ARREARS_OUTSTANDING
    elif isinstance(result, Applied):
        assert all(i.settled for i in result.loan.installments if i.due_date <= on)
        assert sum(p.amount_fen for p in result.parts) + result.credit_fen == amount + quote.credit_fen
    else:  # the money covered the arrears (and any fees and costs) but not a fen of principal besides
        assert result.code in (Code.AMOUNT_TOO_SMALL, Code.ARREARS_OUTSTANDING)
        assert amount + quote.credit_fen <= arrears + loan_level + 1 + quote.current_interest_fen


# ---------------------------------------------------------------- waivers


@HISTORY
@given(booked_loans(), histories(), days_later, st.sampled_from(tuple(Component)), st.integers(1, 1500))
def test_a_waiver_reduces_what_is_owed_by_its_amount_or_is_refused(
    booked: Booked, drawn, later: int, component: Component, permille: int
) -> None:
    history = run_history(booked.loan, drawn)
    loan = history.loan
    assume(not loan.is_closed)
    on = last_event_day(history) + timedelta(days=later)
    ready = brought_to(loan, on)
    due_by = None if component is Component.PRINCIPAL else on
    available = ready.owed_total(component, due_by=due_by)
    amount = max(1, available * permille // 1000)
    result = apply(loan, Waiver(on, component, amount, "w"))
    if amount > available:
        assert isinstance(result, Rejected) and result.code is Code.WAIVER_EXCEEDS_OUTSTANDING
        return
    assert isinstance(result, Applied)
    assert result.loan.owed_total(component, due_by=due_by) == available - amount
    assert result.loan.received_fen == loan.received_fen  # a waiver moves no cash
