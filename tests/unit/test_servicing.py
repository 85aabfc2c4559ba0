"""Servicing a loan after disbursement: DPD, penalty, allocation, payoff, prepayment, waivers, reversal.

Most tests use one loan: ¥12,000 over 12 months at 12 % (1 % a month), equal installments of
¥1,066.19, disbursed 2026-01-15, penalty rate 18 % (1.5 × the contract rate), ACT/360.
Installment 1 falls due 2026-02-15: principal 946.19 + interest 120.00.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from daihou.domain.booking import book
from daihou.domain.calendar import DayCount
from daihou.domain.journal import Account, EntryKind, JournalEntry, JournalLine
from daihou.domain.loan import (
    ONE_DAY,
    Loan,
    LoanStatus,
    allocate,
    close_day,
    close_through,
    days_past_due,
    position,
)
from daihou.domain.products import AllocationMode, AllocationRule, Component, Product, RepaymentMethod
from daihou.domain.servicing import (
    Applied,
    Charge,
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

DISBURSED = date(2026, 1, 15)
DUE_1, DUE_2, DUE_3 = date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15)
LEVEL = 106619  # the monthly installment in fen
PRINCIPAL_1, INTEREST_1 = 94619, 12000
PRINCIPAL_2, INTEREST_2 = 95565, 11054
PENALTY_RATE = Decimal("0.18")


def new_loan(**product: object) -> Loan:
    return book(Product("T", "test product", **product), "L1", 1_200_000, Decimal("0.12"), 12, DISBURSED).loan  # type: ignore[arg-type]


def applied(result: Applied | Rejected) -> Applied:
    assert isinstance(result, Applied), result
    return result


def rejected(result: Applied | Rejected) -> Rejected:
    assert isinstance(result, Rejected), result
    return result


def daily(base_fen: int, rate: Decimal = PENALTY_RATE, year_days: int = 360, days: int = 1) -> int:
    """Interest on a base for some days, half-up to the fen, computed independently of the domain."""
    exact = Decimal(base_fen) * rate * days / year_days
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def net(entries: tuple[JournalEntry, ...] | list[JournalEntry]) -> dict[Account, int]:
    total: Counter[Account] = Counter()
    for entry in entries:
        for line in entry.lines:
            total[line.account] += line.amount_fen
    return {a: n for a, n in total.items() if n}


def paid(loan: Loan, no: int) -> int:
    i = loan.installment(no)
    return i.principal.paid + i.interest.paid + i.penalty.paid + i.compound.paid


# ---------------------------------------------------------------- days past due (DPD) and status


def test_dpd_is_zero_on_the_due_date_and_one_the_day_after() -> None:
    on_due = close_through(new_loan(), DUE_1)
    assert days_past_due(on_due, DUE_1) == 0
    assert on_due.status is LoanStatus.ACTIVE
    day_after = close_day(on_due, DUE_1 + ONE_DAY)
    assert days_past_due(day_after, DUE_1 + ONE_DAY) == 1
    assert day_after.status is LoanStatus.OVERDUE


def test_dpd_counts_from_the_earliest_unpaid_installment() -> None:
    loan = close_through(new_loan(), date(2026, 3, 19))
    assert days_past_due(loan, date(2026, 3, 20)) == 33  # from Feb 15, not from Mar 15


def test_paying_the_oldest_installment_moves_dpd_to_the_next_unpaid_one() -> None:
    loan = new_loan(allocation=AllocationRule(mode=AllocationMode.VERTICAL))
    loan = close_through(loan, date(2026, 3, 19))
    first = loan.installment(1)
    owed_1 = first.principal.due + first.interest.due + first.penalty.due + first.compound.due
    after = applied(apply(loan, Payment(date(2026, 3, 20), owed_1, "inst-1"))).loan
    assert after.installment(1).settled
    assert days_past_due(after, date(2026, 3, 20)) == 5  # Mar 15 → Mar 20


def test_a_partly_paid_installment_still_counts_for_dpd() -> None:
    loan = applied(apply(new_loan(), Payment(DUE_1, LEVEL - 1, "short by a fen"))).loan
    assert days_past_due(close_through(loan, DUE_1 + timedelta(days=3)), DUE_1 + timedelta(days=3)) == 3


def test_unpaid_amounts_within_the_tolerance_do_not_make_a_loan_overdue() -> None:
    loan = new_loan(dpd_tolerance_fen=100)
    small = close_through(applied(apply(loan, Payment(DUE_1, LEVEL - 100, "short"))).loan, DUE_1 + timedelta(days=10))
    assert days_past_due(small, DUE_1 + timedelta(days=10)) == 0
    assert small.status is LoanStatus.ACTIVE
    large = close_through(applied(apply(loan, Payment(DUE_1, LEVEL - 101, "short"))).loan, DUE_1 + timedelta(days=10))
    assert days_past_due(large, DUE_1 + timedelta(days=10)) == 10
    assert large.status is LoanStatus.OVERDUE


def test_grace_days_delay_penalty_but_not_dpd() -> None:
    loan = close_through(new_loan(grace_days=3), DUE_1 + timedelta(days=3))
    assert days_past_due(loan, DUE_1 + timedelta(days=3)) == 3
    assert loan.status is LoanStatus.OVERDUE
    assert loan.installment(1).penalty.due == 0 and loan.installment(1).compound.due == 0
    loan = close_day(loan, DUE_1 + timedelta(days=4))
    assert loan.installment(1).penalty.due == daily(PRINCIPAL_1)  # the first day after the grace period


def test_payment_within_the_grace_days_attracts_no_penalty() -> None:
    loan = close_through(new_loan(grace_days=3), DUE_1 + timedelta(days=2))
    after = applied(apply(loan, Payment(DUE_1 + timedelta(days=3), LEVEL, "in grace"))).loan
    first = after.installment(1)
    assert first.settled and first.penalty.due == 0 and first.compound.due == 0
    assert after.credit_fen == 0


# ---------------------------------------------------------------- penalty (罚息) and compound (复利) interest


def test_penalty_is_overdue_principal_times_the_penalty_rate_over_360_per_day() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=10))
    first = loan.installment(1)
    assert daily(PRINCIPAL_1) == 47  # 94,619 × 18 % / 360 = 47.31 fen
    assert first.penalty.due == 10 * 47
    assert first.compound.due == 10 * daily(INTEREST_1) == 60  # 12,000 × 18 % / 360 = 6 fen a day


def test_penalty_is_rounded_half_up_per_installment_per_day() -> None:
    loan = close_through(new_loan(), DUE_2 + timedelta(days=10))
    second = loan.installment(2)
    # 95,565 × 18 % / 360 = 47.78 fen a day: 48 a day, so 480 over ten days (not 477.83 rounded once)
    assert second.penalty.due == 480
    # the first installment is rounded on its own: 47 a day for its 38 days
    assert loan.installment(1).penalty.due == 38 * 47


def test_act_365_products_accrue_penalty_over_a_365_day_year() -> None:
    loan = close_through(new_loan(day_count=DayCount.ACT_365), DUE_1 + timedelta(days=10))
    assert loan.installment(1).penalty.due == 10 * daily(PRINCIPAL_1, year_days=365)


def test_without_compound_interest_overdue_interest_attracts_nothing() -> None:
    loan = close_through(new_loan(compound_interest=False), DUE_1 + timedelta(days=10))
    assert loan.installment(1).compound.due == 0
    assert loan.installment(1).penalty.due == 470


def test_penalty_stops_once_the_overdue_amounts_are_paid() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=4))
    quote = payoff_quote(loan, DUE_1 + timedelta(days=5))
    arrears = sum(quote.due_fen.values())
    after = applied(apply(loan, Payment(DUE_1 + timedelta(days=5), arrears, "arrears"))).loan
    later = close_through(after, DUE_1 + timedelta(days=20))
    assert later.installment(1).penalty == after.installment(1).penalty
    assert later.installment(1).settled and later.status is LoanStatus.ACTIVE


def test_nothing_accrues_on_a_written_off_loan() -> None:
    overdue = close_through(new_loan(), DUE_1 + timedelta(days=10))
    written_off = replace(overdue, status=LoanStatus.WRITTEN_OFF)
    later = close_through(written_off, DUE_1 + timedelta(days=200))
    assert later.installments == written_off.installments
    assert later.status is LoanStatus.WRITTEN_OFF and later.accrued_through == DUE_1 + timedelta(days=200)


def test_nothing_accrues_on_a_paid_off_loan() -> None:
    loan = new_loan()
    on = date(2026, 3, 1)
    done = applied(apply(loan, Payment(on, payoff_quote(loan, on).total_fen, "payoff"))).loan
    later = close_through(done, date(2027, 6, 1))
    assert later.installments == done.installments
    assert position(later) == position(done)


# ---------------------------------------------------------------- allocation waterfall


def overdue_two_installments(**product: object) -> Loan:
    return close_through(new_loan(**product), DUE_2 + timedelta(days=9))


def test_horizontal_allocation_pays_each_component_across_installments_oldest_first() -> None:
    loan = overdue_two_installments()
    on = DUE_2 + timedelta(days=10)
    penalties = sum(i.penalty.outstanding + i.compound.outstanding for i in loan.installments)
    amount = penalties + INTEREST_1 + INTEREST_2 + 1000
    after, parts, left = allocate(loan, amount, on)
    assert left == 0
    assert [(p.installment_no, p.component) for p in parts] == [
        (1, Component.PENALTY),
        (2, Component.PENALTY),
        (1, Component.COMPOUND),
        (2, Component.COMPOUND),
        (1, Component.INTEREST),
        (2, Component.INTEREST),
        (1, Component.PRINCIPAL),
    ]
    assert after.installment(1).principal.paid == 1000 and after.installment(2).principal.paid == 0


def test_vertical_allocation_settles_the_oldest_installment_before_the_next() -> None:
    loan = overdue_two_installments(allocation=AllocationRule(mode=AllocationMode.VERTICAL))
    on = DUE_2 + timedelta(days=10)
    first = loan.installment(1)
    amount = first.penalty.due + first.compound.due + first.interest.due + first.principal.due + 500
    after, parts, left = allocate(loan, amount, on)
    assert left == 0
    assert after.installment(1).settled
    every = (Component.PENALTY, Component.COMPOUND, Component.INTEREST)
    assert [(p.installment_no, p.component) for p in parts] == [
        *((1, c) for c in (*every, Component.PRINCIPAL)),
        *((2, c) for c in every),  # 500 fen: 9 days of penalty and compound, then 14 fen of interest
    ]
    assert after.installment(2).principal.paid == 0


def test_collection_costs_and_fees_come_before_penalty_interest_and_principal() -> None:
    loan = overdue_two_installments()
    on = DUE_2 + timedelta(days=10)
    loan = applied(apply(loan, Charge(on, Component.COST, 30000, "lawyer"))).loan
    loan = applied(apply(loan, Charge(on, Component.FEE, 2000, "sms fee"))).loan
    result = applied(apply(loan, Payment(on, 31000, "partial")))
    assert [(p.component, p.amount_fen) for p in result.parts] == [(Component.COST, 30000), (Component.FEE, 1000)]


def test_a_contract_may_put_principal_first() -> None:
    order = (
        Component.PRINCIPAL,
        Component.INTEREST,
        Component.PENALTY,
        Component.COMPOUND,
        Component.FEE,
        Component.COST,
    )
    loan = overdue_two_installments(allocation=AllocationRule(order=order))
    after, parts, _ = allocate(loan, PRINCIPAL_1 + 10, DUE_2 + timedelta(days=10))
    assert [(p.installment_no, p.component) for p in parts] == [(1, Component.PRINCIPAL), (2, Component.PRINCIPAL)]
    assert after.installment(1).principal.outstanding == 0 and after.installment(2).principal.paid == 10


def test_an_allocation_order_must_name_every_component_once() -> None:
    with pytest.raises(ValueError, match="every component"):
        AllocationRule(order=(Component.INTEREST, Component.PRINCIPAL))


def test_allocation_never_touches_installments_not_yet_due() -> None:
    after, parts, left = allocate(new_loan(), 5_000_000, DUE_1)
    assert {p.installment_no for p in parts} == {1}
    assert after.installment(1).settled and not after.installment(2).principal.paid
    assert left == 5_000_000 - LEVEL
    assert sum(p.amount_fen for p in parts) + left == 5_000_000


# ---------------------------------------------------------------- payments and borrower credit


def test_a_payment_before_the_due_date_is_held_as_credit_and_applied_on_the_due_date() -> None:
    result = applied(apply(new_loan(), Payment(date(2026, 2, 1), 150_000, "early")))
    assert result.parts == () and result.credit_fen == 150_000
    assert net([result.entries[-1]]) == {Account.CASH: 150_000, Account.BORROWER_CREDIT: -150_000}
    on_due = close_through(result.loan, DUE_1)
    assert on_due.installment(1).settled
    assert on_due.installment(1).penalty.due == 0
    assert on_due.credit_fen == 150_000 - LEVEL


def test_credit_left_over_is_applied_at_the_next_due_date_and_never_lost() -> None:
    loan = applied(apply(new_loan(), Payment(date(2026, 2, 1), 150_000, "early"))).loan
    later = close_through(loan, DUE_2 + ONE_DAY)
    assert later.credit_fen == 0
    assert later.installment(2).interest.paid == INTEREST_2
    assert later.installment(2).principal.paid == 150_000 - LEVEL - INTEREST_2
    assert paid(later, 1) + paid(later, 2) == 150_000 == later.received_fen
    assert days_past_due(later, DUE_2 + ONE_DAY) == 1  # the rest of installment 2 is now overdue


def test_a_payment_on_the_due_date_settles_the_installment_without_penalty() -> None:
    result = applied(apply(new_loan(), Payment(DUE_1, LEVEL, "on time")))
    assert result.loan.installment(1).settled and result.credit_fen == 0
    assert close_through(result.loan, DUE_1 + timedelta(days=5)).installment(1).penalty.due == 0


def test_a_payment_entry_moves_cash_against_the_receivables_it_paid() -> None:
    result = applied(apply(new_loan(), Payment(DUE_1, LEVEL, "on time")))
    accrual, payment = result.entries
    assert accrual.kind is EntryKind.ACCRUAL and accrual.amount(Account.INTEREST_INCOME) == -INTEREST_1
    assert payment.kind is EntryKind.PAYMENT and payment.memo == "on time"
    assert net([payment]) == {
        Account.CASH: LEVEL,
        Account.PRINCIPAL_RECEIVABLE: -PRINCIPAL_1,
        Account.INTEREST_RECEIVABLE: -INTEREST_1,
    }


# ---------------------------------------------------------------- payoff (提前结清)

PAYOFF_DAY = date(2026, 3, 1)


def test_a_payoff_quote_adds_arrears_future_principal_and_interest_of_the_running_period() -> None:
    quote = payoff_quote(new_loan(), PAYOFF_DAY)
    assert quote.due_fen[Component.PRINCIPAL] == PRINCIPAL_1
    assert quote.due_fen[Component.INTEREST] == INTEREST_1
    assert quote.due_fen[Component.PENALTY] == 13 * 47  # Feb 16 … Feb 28; the payment day itself is not closed
    assert quote.due_fen[Component.COMPOUND] == 13 * 6
    assert quote.future_principal_fen == 1_200_000 - PRINCIPAL_1
    assert quote.current_interest_fen == daily(1_105_381, Decimal("0.12"), days=14) == 5158
    assert quote.total_fen == PRINCIPAL_1 + INTEREST_1 + 611 + 78 + 1_105_381 + 5158


def test_paying_exactly_the_payoff_quote_pays_the_loan_off() -> None:
    loan = new_loan()
    quote = payoff_quote(loan, PAYOFF_DAY)
    result = applied(apply(loan, Payment(PAYOFF_DAY, quote.total_fen, "payoff")))
    assert result.paid_off and result.loan.status is LoanStatus.PAID_OFF
    assert result.credit_fen == 0 and result.loan.credit_fen == 0
    assert all(i.settled for i in result.loan.installments)
    assert result.loan.outstanding_principal_fen == 0
    final = result.loan.installments[-1]
    assert final.due_date == PAYOFF_DAY and final.interest.due == quote.current_interest_fen
    balances = position(result.loan)
    receivable = [a for a in Account if a.value.endswith("_receivable")]
    assert [balances[a] for a in (*receivable, Account.BORROWER_CREDIT)] == [0] * 6


def test_paying_more_than_the_quote_leaves_the_excess_as_borrower_credit() -> None:
    loan = new_loan()
    quote = payoff_quote(loan, PAYOFF_DAY)
    result = applied(apply(loan, Payment(PAYOFF_DAY, quote.total_fen + 12_345, "payoff+")))
    assert result.loan.status is LoanStatus.PAID_OFF
    assert result.credit_fen == 12_345
    assert position(result.loan)[Account.BORROWER_CREDIT] == -12_345


def test_paying_a_fen_less_than_the_quote_does_not_pay_the_loan_off() -> None:
    loan = new_loan()
    quote = payoff_quote(loan, PAYOFF_DAY)
    result = applied(apply(loan, Payment(PAYOFF_DAY, quote.total_fen - 1, "short")))
    assert result.loan.status is not LoanStatus.PAID_OFF and not result.paid_off
    assert result.credit_fen == quote.total_fen - 1 - sum(quote.due_fen.values())


def test_held_credit_reduces_the_payoff_quote() -> None:
    loan = applied(apply(new_loan(), Payment(date(2026, 2, 1), 50_000, "early"))).loan
    quote = payoff_quote(loan, date(2026, 2, 10))
    assert quote.credit_fen == 50_000
    assert quote.total_fen == 1_200_000 + quote.current_interest_fen - 50_000


def test_a_payoff_after_a_settlement_waived_future_principal_still_balances() -> None:
    loan = applied(apply(new_loan(), Waiver(date(2026, 1, 20), Component.PRINCIPAL, 50_000, "settlement"))).loan
    quote = payoff_quote(loan, date(2026, 1, 25))
    assert quote.future_principal_fen == 1_150_000
    result = applied(apply(loan, Payment(date(2026, 1, 25), quote.total_fen, "payoff")))
    assert result.loan.status is LoanStatus.PAID_OFF
    assert position(result.loan)[Account.WRITE_OFF] == 50_000  # the waiver stays on the books


def test_paying_the_arrears_settles_a_loan_whose_future_principal_was_all_waived() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=2))
    waive_all = loan.outstanding_principal_fen
    loan = applied(apply(loan, Waiver(DUE_1 + timedelta(days=3), Component.PRINCIPAL, waive_all, "w"))).loan
    on = DUE_1 + timedelta(days=4)
    quote = payoff_quote(loan, on)
    assert quote.future_principal_fen == 0 and quote.total_fen > 0
    assert applied(apply(loan, Payment(on, quote.total_fen, "rest"))).loan.status is LoanStatus.PAID_OFF


# ---------------------------------------------------------------- partial prepayment


def after_first_installment() -> Loan:
    return applied(apply(new_loan(), Payment(DUE_1, LEVEL, "inst-1"))).loan


PREPAY_DAY = date(2026, 2, 20)


def future_rows(loan: Loan, on: date) -> list[tuple[date, int]]:
    return [(i.due_date, i.principal.due + i.interest.due) for i in loan.installments if i.due_date > on]


def test_reducing_the_installment_keeps_the_due_dates_and_lowers_the_payment() -> None:
    loan = after_first_installment()
    result = applied(apply(loan, Prepayment(PREPAY_DAY, 500_000, "pp", PrepaymentMode.REDUCE_INSTALLMENT)))
    before, after = future_rows(loan, PREPAY_DAY), future_rows(result.loan, PREPAY_DAY)
    assert [d for d, _ in after] == [d for d, _ in before]
    assert len({p for _, p in after[:-1]}) == 1 and after[0][1] < LEVEL
    assert sum(i.principal.due for i in result.loan.installments) == 1_200_000
    assert result.loan.schedule_version == loan.schedule_version + 1


def test_a_prepayment_pays_interest_only_for_the_days_the_prepaid_principal_was_out() -> None:
    loan = after_first_installment()
    result = applied(apply(loan, Prepayment(PREPAY_DAY, 500_000, "pp")))
    assert result.credit_fen == 0
    principal = sum(p.amount_fen for p in result.parts if p.component is Component.PRINCIPAL)
    interest = sum(p.amount_fen for p in result.parts if p.component is Component.INTEREST)
    assert principal + interest == 500_000
    assert interest == daily(principal, Decimal("0.12"), days=5)  # Feb 15 → Feb 20 at the contract rate
    assert result.loan.outstanding_principal_fen == 1_200_000 - PRINCIPAL_1 - principal


def test_shortening_the_term_keeps_the_installment_and_ends_sooner() -> None:
    loan = after_first_installment()
    result = applied(apply(loan, Prepayment(PREPAY_DAY, 500_000, "pp", PrepaymentMode.SHORTEN_TERM)))
    before, after = future_rows(loan, PREPAY_DAY), future_rows(result.loan, PREPAY_DAY)
    assert len(after) < len(before)
    assert after[-1][0] < before[-1][0]
    assert all(p == LEVEL for _, p in after[:-1]) and after[-1][1] <= LEVEL
    assert sum(i.principal.due for i in result.loan.installments) == 1_200_000


def test_shortening_the_term_keeps_the_level_not_the_rounding_of_the_last_row() -> None:
    loan = book(Product("Z", "zero"), "Z1", 10_000, Decimal(0), 3, DISBURSED).loan  # 3,333 · 3,333 · 3,334
    result = applied(apply(loan, Prepayment(DISBURSED + ONE_DAY, 10, "pp", PrepaymentMode.SHORTEN_TERM)))
    assert [p for _, p in future_rows(result.loan, DISBURSED + ONE_DAY)][:-1] == [3333, 3333]


def test_equal_principal_prepayment_modes_keep_principal_summing_to_the_loan() -> None:
    for mode in PrepaymentMode:
        loan = applied(apply(new_loan(method=RepaymentMethod.EQUAL_PRINCIPAL), Payment(DUE_1, 112_000, "inst-1"))).loan
        result = applied(apply(loan, Prepayment(PREPAY_DAY, 300_000, "pp", mode)))
        assert sum(i.principal.due for i in result.loan.installments) == 1_200_000
        rows = [i for i in result.loan.installments if i.due_date > PREPAY_DAY]
        if mode is PrepaymentMode.SHORTEN_TERM:
            assert {i.principal.due for i in rows[:-1]} == {100_000} and len(rows) < 11
        else:
            assert len(rows) == 11 and rows[0].principal.due < 100_000


def test_a_prepayment_pays_the_arrears_first_and_prepays_the_rest() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=4))
    on = DUE_1 + timedelta(days=5)
    arrears = sum(payoff_quote(loan, on).due_fen.values())
    result = applied(apply(loan, Prepayment(on, arrears + 300_000, "pp")))
    assert result.loan.installment(1).settled
    assert {p.installment_no for p in result.parts if p.component is Component.PENALTY} == {1}
    assert sum(p.amount_fen for p in result.parts) == arrears + 300_000
    assert result.loan.outstanding_principal_fen < 1_200_000 - PRINCIPAL_1


def test_a_prepayment_that_does_not_cover_the_arrears_is_refused() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=4))
    on = DUE_1 + timedelta(days=5)
    arrears = sum(payoff_quote(loan, on).due_fen.values())
    refusal = rejected(apply(loan, Prepayment(on, arrears - 1, "pp")))
    assert refusal.code is Code.ARREARS_OUTSTANDING
    assert "1" in refusal.message  # names what is due


def test_a_prepayment_covering_everything_pays_the_loan_off() -> None:
    loan = after_first_installment()
    quote = payoff_quote(loan, PREPAY_DAY)
    result = applied(apply(loan, Prepayment(PREPAY_DAY, quote.total_fen, "all")))
    assert result.loan.status is LoanStatus.PAID_OFF and result.credit_fen == 0


# ---------------------------------------------------------------- waivers (减免) and charges


def test_a_penalty_waiver_reduces_what_is_owed_and_the_penalty_income() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=9))
    on = DUE_1 + timedelta(days=10)
    owed = payoff_quote(loan, on).due_fen[Component.PENALTY]
    result = applied(apply(loan, Waiver(on, Component.PENALTY, owed, "hardship")))
    assert result.loan.owed_total(Component.PENALTY) == 0
    assert net([result.entries[-1]]) == {Account.PENALTY_RECEIVABLE: -owed, Account.PENALTY_INCOME: owed}
    assert payoff_quote(result.loan, on).total_fen == payoff_quote(loan, on).total_fen - owed


def test_a_waiver_above_what_is_outstanding_is_refused() -> None:
    loan = close_through(new_loan(), DUE_1 + timedelta(days=9))
    on = DUE_1 + timedelta(days=10)
    owed = payoff_quote(loan, on).due_fen[Component.PENALTY]
    refusal = rejected(apply(loan, Waiver(on, Component.PENALTY, owed + 1, "too much")))
    assert refusal.code is Code.WAIVER_EXCEEDS_OUTSTANDING


def test_interest_not_yet_due_cannot_be_waived() -> None:
    refusal = rejected(apply(new_loan(), Waiver(date(2026, 2, 1), Component.INTEREST, 1, "early")))
    assert refusal.code is Code.WAIVER_EXCEEDS_OUTSTANDING


def test_principal_may_be_waived_as_a_settlement_and_is_written_off() -> None:
    result = applied(apply(new_loan(), Waiver(date(2026, 2, 1), Component.PRINCIPAL, 100_000, "settlement")))
    assert result.loan.outstanding_principal_fen == 1_100_000
    assert net([result.entries[-1]]) == {Account.PRINCIPAL_RECEIVABLE: -100_000, Account.WRITE_OFF: 100_000}


def test_a_fee_is_charged_then_waived() -> None:
    loan = applied(apply(new_loan(), Charge(date(2026, 2, 1), Component.FEE, 5000, "fee"))).loan
    assert loan.fee.outstanding == 5000
    refusal = rejected(apply(loan, Waiver(date(2026, 2, 2), Component.FEE, 5001, "w")))
    assert refusal.code is Code.WAIVER_EXCEEDS_OUTSTANDING
    result = applied(apply(loan, Waiver(date(2026, 2, 2), Component.FEE, 5000, "w")))
    assert result.loan.fee.outstanding == 0
    assert net([result.entries[-1]]) == {Account.FEE_RECEIVABLE: -5000, Account.FEE_INCOME: 5000}


def test_a_collection_cost_is_a_receivable_paid_out_of_cash() -> None:
    result = applied(apply(new_loan(), Charge(date(2026, 2, 1), Component.COST, 30_000, "lawyer")))
    assert net([result.entries[-1]]) == {Account.COST_RECEIVABLE: 30_000, Account.CASH: -30_000}


def test_held_credit_pays_a_new_charge_at_once() -> None:
    loan = applied(apply(new_loan(), Payment(date(2026, 2, 1), 10_000, "early"))).loan
    result = applied(apply(loan, Charge(date(2026, 2, 2), Component.FEE, 4000, "fee")))
    assert result.loan.fee.outstanding == 0 and result.credit_fen == 6000


def test_only_fees_and_costs_can_be_charged() -> None:
    refusal = rejected(apply(new_loan(), Charge(date(2026, 2, 1), Component.PENALTY, 100, "no")))
    assert refusal.code is Code.NOT_CHARGEABLE


# ---------------------------------------------------------------- rejections


def paid_off_loan() -> Loan:
    loan = new_loan()
    return applied(apply(loan, Payment(PAYOFF_DAY, payoff_quote(loan, PAYOFF_DAY).total_fen, "payoff"))).loan


@pytest.mark.parametrize(
    "event",
    [
        Payment(date(2026, 3, 2), 100, "late"),
        Prepayment(date(2026, 3, 2), 100, "late"),
        Waiver(date(2026, 3, 2), Component.PENALTY, 1, "late"),
        Charge(date(2026, 3, 2), Component.FEE, 100, "late"),
    ],
)
def test_a_paid_off_loan_refuses_every_event(event: Payment | Prepayment | Waiver | Charge) -> None:
    assert rejected(apply(paid_off_loan(), event)).code is Code.LOAN_CLOSED


@pytest.mark.parametrize("amount", [0, -100])
def test_an_amount_that_is_not_positive_is_refused(amount: int) -> None:
    for event in (
        Payment(DUE_1, amount, "x"),
        Prepayment(DUE_1, amount, "x"),
        Waiver(DUE_1, Component.PRINCIPAL, amount, "x"),
        Charge(DUE_1, Component.FEE, amount, "x"),
    ):
        refusal = rejected(apply(new_loan(), event))
        assert refusal.code is Code.AMOUNT_NOT_POSITIVE and refusal.message


def test_a_written_off_loan_still_takes_recoveries_but_no_waivers() -> None:
    loan = replace(close_through(new_loan(), DUE_1 + timedelta(days=100)), status=LoanStatus.WRITTEN_OFF)
    on = DUE_1 + timedelta(days=101)
    assert rejected(apply(loan, Waiver(on, Component.PENALTY, 1, "w"))).code is Code.LOAN_WRITTEN_OFF
    recovery = applied(apply(loan, Payment(on, 50_000, "recovery")))
    assert sum(p.amount_fen for p in recovery.parts) + recovery.credit_fen == 50_000


# ---------------------------------------------------------------- journal


def test_an_unbalanced_journal_entry_cannot_be_made() -> None:
    with pytest.raises(AssertionError, match="does not balance"):
        JournalEntry(
            EntryKind.PAYMENT, DUE_1, (JournalLine(Account.CASH, 100), JournalLine(Account.BORROWER_CREDIT, -99))
        )


def test_an_entry_where_nothing_moved_is_not_made() -> None:
    assert JournalEntry.from_movements(EntryKind.ACCRUAL, DUE_1, {Account.CASH: 0}) is None


def test_booking_posts_the_disbursement_against_cash() -> None:
    booked = book(Product("T", "t"), "L1", 1_200_000, Decimal("0.12"), 12, DISBURSED)
    assert net([booked.entry]) == {Account.PRINCIPAL_RECEIVABLE: 1_200_000, Account.CASH: -1_200_000}
    assert {a: n for a, n in position(booked.loan).items() if n} == net([booked.entry])


def test_the_journal_of_a_history_reproduces_the_loan_balances() -> None:
    booked = book(Product("T", "t"), "L1", 1_200_000, Decimal("0.12"), 12, DISBURSED)
    loan, entries = booked.loan, [booked.entry]
    for event in (
        Payment(date(2026, 2, 1), 50_000, "early"),
        Charge(date(2026, 3, 20), Component.COST, 20_000, "visit"),
        Waiver(date(2026, 3, 21), Component.PENALTY, 100, "goodwill"),
        Payment(date(2026, 3, 22), 200_000, "catch up"),
        Prepayment(date(2026, 4, 1), 300_000, "pp", PrepaymentMode.SHORTEN_TERM),
    ):
        result = applied(apply(loan, event))
        loan, entries = result.loan, entries + list(result.entries)
    assert net(entries) == {a: n for a, n in position(loan).items() if n}


# ---------------------------------------------------------------- reversal and back-valued events


def test_reversing_a_payment_restores_the_loan_and_posts_the_negation_of_its_entries() -> None:
    opening = new_loan()
    before = replay(opening, [], DUE_1 + timedelta(days=9)).loan
    payment = Payment(DUE_1 + timedelta(days=10), 80_000, "to-reverse")
    posted = applied(apply(before, payment))
    restated, reversal = restate(posted.loan, opening, [], EntryKind.REVERSAL, payment.on, "reverses to-reverse")
    assert restated.loan == before
    assert reversal is not None and reversal.kind is EntryKind.REVERSAL
    assert net([reversal]) == {a: -n for a, n in net(posted.entries).items()}


def test_a_back_valued_payment_replayed_into_history_removes_the_penalty_it_avoids() -> None:
    opening = new_loan()
    late = replay(opening, [], DUE_1 + timedelta(days=30)).loan
    assert late.installment(1).penalty.due == 30 * 47
    on_time = replay(opening, [Payment(DUE_1, LEVEL, "found")], DUE_1 + timedelta(days=30))
    assert on_time.loan.installment(1).penalty.due == 0
    restated, correction = restate(late, opening, [Payment(DUE_1, LEVEL, "found")], EntryKind.PAYMENT, DUE_1, "bv")
    assert restated.loan == on_time.loan
    assert correction is not None and correction.amount(Account.CASH) == LEVEL
    assert correction.amount(Account.PENALTY_INCOME) == 30 * 47 + 30 * 6  # penalty and compound undone


def test_replay_refuses_events_out_of_order() -> None:
    result = replay(new_loan(), [Payment(DUE_1, 1000, "b"), Payment(DUE_1 - timedelta(days=5), 1000, "a")], None)
    assert isinstance(result.results[1], Rejected) and result.results[1].code is Code.NOT_REVERSIBLE


# ---------------------------------------------------------------- closing days


def test_closing_a_span_at_once_equals_closing_it_day_by_day_with_credit_and_grace() -> None:
    loan = applied(apply(new_loan(grace_days=2), Payment(date(2026, 2, 1), 150_000, "early"))).loan
    through = date(2026, 6, 1)
    by_day = loan
    day = loan.accrued_through
    assert day is not None
    while day < through:
        day += ONE_DAY
        by_day = close_day(by_day, day)
    assert close_through(loan, through) == by_day
    assert by_day.installment(2).penalty.due > 0  # the credit ran out: later installments went overdue


def test_a_day_can_only_be_closed_after_the_day_before() -> None:
    with pytest.raises(AssertionError):
        close_day(new_loan(), DISBURSED + timedelta(days=2))


def test_interest_is_recognised_pro_rata_over_its_period_and_in_full_on_the_due_date() -> None:
    halfway = close_through(new_loan(), date(2026, 1, 30))
    assert halfway.installment(1).interest_accrued_fen == 5806  # 12,000 × 15 / 31 days = 5,806.45
    assert close_through(new_loan(), DUE_1).installment(1).interest_accrued_fen == INTEREST_1
