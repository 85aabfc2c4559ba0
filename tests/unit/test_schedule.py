"""Repayment schedules (还款计划) for the four methods, frequencies and broken first periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest

from daihou.domain.calendar import DayCount, Frequency
from daihou.domain.products import RepaymentMethod
from daihou.domain.schedule import ScheduleTerms, build_schedule, equal_installment_payment

EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IO = RepaymentMethod.INTEREST_ONLY
BULLET = RepaymentMethod.BULLET


def terms(principal_fen: int = 1_200_000, rate: str = "0.12", periods: int = 12, method=EI, **kw) -> ScheduleTerms:
    return ScheduleTerms(principal_fen, Decimal(rate), periods, method, kw.pop("start", date(2026, 1, 15)), **kw)


# ---------------------------------------------------------------- equal installment (等额本息)


def test_a_million_yuan_over_thirty_years_at_4_9_percent_costs_5307_27_a_month() -> None:
    schedule = build_schedule(terms(100_000_000, "0.049", 360, EI, start=date(2026, 1, 15)))
    rows = schedule.installments
    assert len(rows) == 360
    assert {r.payment_fen for r in rows[:-1]} == {530727}
    assert schedule.total_principal_fen == 100_000_000
    assert rows[0].interest_fen == 408333  # 1,000,000 × 4.9 % / 12 = 4,083.33
    assert rows[0].due_date == date(2026, 2, 15) and rows[-1].due_date == date(2056, 1, 15)
    assert rows[-1].remaining_principal_fen == 0


def test_the_last_equal_installment_absorbs_the_rounding() -> None:
    schedule = build_schedule(terms(1_200_000, "0.12", 12, EI))
    rows = schedule.installments
    level = equal_installment_payment(1_200_000, Decimal("0.12"), 12, 12)
    assert level == 106619  # 12,000 × 0.01 × 1.01^12 / (1.01^12 − 1) = 1,066.1855
    assert all(r.payment_fen == level for r in rows[:-1])
    assert rows[-1].principal_fen == rows[-2].remaining_principal_fen
    assert schedule.total_principal_fen == 1_200_000


def test_each_period_charges_the_period_rate_on_the_balance_before_it() -> None:
    rows = build_schedule(terms(1_200_000, "0.12", 12, EI)).installments
    balance = 1_200_000
    for row in rows:
        assert row.interest_fen == (balance + 50) // 100  # 1 % a month, half-up
        balance -= row.principal_fen
        assert row.remaining_principal_fen == balance


def test_a_zero_rate_loan_repays_the_principal_in_equal_parts() -> None:
    rows = build_schedule(terms(1_000_000, "0", 3, EI, start=date(2026, 1, 31))).installments
    assert [(r.principal_fen, r.interest_fen) for r in rows] == [(333333, 0), (333333, 0), (333334, 0)]


# ---------------------------------------------------------------- other methods


def test_equal_principal_repays_the_same_principal_with_falling_interest() -> None:
    rows = build_schedule(terms(1_200_000, "0.12", 12, EP)).installments
    assert {r.principal_fen for r in rows} == {100_000}
    assert [r.interest_fen for r in rows[:3]] == [12000, 11000, 10000]
    assert rows[-1].interest_fen == 1000
    assert all(a.payment_fen > b.payment_fen for a, b in pairwise(rows))


def test_interest_only_repays_all_principal_with_the_last_installment() -> None:
    rows = build_schedule(terms(1_200_000, "0.12", 12, IO)).installments
    assert len(rows) == 12
    assert all(r.principal_fen == 0 and r.interest_fen == 12000 for r in rows[:-1])
    assert (rows[-1].principal_fen, rows[-1].interest_fen) == (1_200_000, 12000)


def test_a_bullet_pays_principal_and_all_interest_once_at_maturity() -> None:
    rows = build_schedule(terms(1_200_000, "0.12", 12, BULLET)).installments
    assert len(rows) == 1
    assert rows[0].due_date == date(2027, 1, 15)
    assert (rows[0].principal_fen, rows[0].interest_fen) == (1_200_000, 144_000)  # 12 × 1 %


def test_a_bullet_with_its_own_maturity_date_charges_interest_by_days() -> None:
    rows = build_schedule(terms(1_200_000, "0.12", 12, BULLET, first_due=date(2026, 12, 1))).installments
    assert rows[0].due_date == date(2026, 12, 1)
    assert rows[0].interest_fen == 128_000  # 320 days × 12,000 × 12 % / 360


# ---------------------------------------------------------------- broken first period, day counts


def test_a_broken_first_period_charges_daily_interest_for_its_actual_days() -> None:
    rows = build_schedule(terms(1_200_000, "0.12", 12, EI, first_due=date(2026, 3, 1))).installments
    assert rows[0].start_date == date(2026, 1, 15) and rows[0].due_date == date(2026, 3, 1)
    assert rows[0].interest_fen == 18_000  # 45 days × 1,200,000 × 12 % / 360
    assert rows[1].interest_fen == (rows[0].remaining_principal_fen + 50) // 100  # then the period rate
    assert [r.due_date for r in rows[:3]] == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]


def test_act_365_charges_a_broken_period_over_a_365_day_year() -> None:
    rows = build_schedule(
        terms(1_200_000, "0.12", 12, EI, first_due=date(2026, 3, 1), day_count=DayCount.ACT_365)
    ).installments
    assert rows[0].interest_fen == 17_753  # 45 × 1,200,000 × 0.12 / 365 = 17,753.42


def test_a_first_due_date_one_period_after_disbursement_is_a_regular_period() -> None:
    regular = build_schedule(terms(first_due=date(2026, 2, 15)))
    assert regular == build_schedule(terms())


# ---------------------------------------------------------------- frequencies and due dates


def test_quarterly_schedules_charge_a_quarter_of_the_annual_rate() -> None:
    rows = build_schedule(terms(1_000_000, "0.08", 4, EP, frequency=Frequency.QUARTERLY)).installments
    assert [r.due_date for r in rows] == [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15), date(2027, 1, 15)]
    assert [r.interest_fen for r in rows] == [20000, 15000, 10000, 5000]


def test_biweekly_schedules_fall_due_every_fourteen_days_at_a_26th_of_the_rate() -> None:
    rows = build_schedule(terms(1_000_000, "0.052", 26, EI, start=date(2026, 1, 1), frequency=Frequency.BIWEEKLY))
    first = rows.installments[0]
    assert first.due_date == date(2026, 1, 15) and first.interest_fen == 2000  # 5.2 % / 26 = 0.2 %
    assert rows.installments[-1].due_date == date(2026, 12, 31)
    assert rows.total_principal_fen == 1_000_000


def test_an_explicit_month_end_first_due_date_keeps_month_ends() -> None:
    rows = build_schedule(terms(1_000_000, "0.1", 4, IO, start=date(2024, 12, 20), first_due=date(2025, 1, 31)))
    due = [r.due_date for r in rows.installments]
    assert due == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]


def test_a_loan_disbursed_on_the_31st_falls_due_on_each_month_end_without_drift() -> None:
    rows = build_schedule(terms(1_000_000, "0.1", 4, EI, start=date(2026, 1, 31))).installments
    assert [r.due_date for r in rows] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]


def test_each_period_starts_on_the_previous_due_date() -> None:
    rows = build_schedule(terms(periods=24, first_due=date(2026, 2, 28))).installments
    assert rows[0].start_date == date(2026, 1, 15)
    assert all(b.start_date == a.due_date for a, b in pairwise(rows))


# ---------------------------------------------------------------- bad terms


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"principal_fen": 0}, "principal must be positive"),
        ({"periods": 0}, "number of periods"),
        ({"periods": 601}, "number of periods"),
        ({"rate": "1.01"}, "annual rate"),
        ({"first_due": date(2026, 1, 15)}, "first due date must be after disbursement"),
    ],
)
def test_impossible_terms_are_refused_with_the_reason(change: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build_schedule(terms(**change))


# ---------------------------------------------------------------- known problem: broken first periods


def test_a_long_broken_first_period_charges_its_days_and_keeps_the_rest_of_the_schedule_level() -> None:
    broken = build_schedule(terms(100_000_000, "0.049", 360, EI, first_due=date(2026, 2, 20))).installments
    regular = build_schedule(terms(100_000_000, "0.049", 360, EI, start=date(2026, 1, 20))).installments
    assert len(broken) == 360
    # 36 days of interest (ACT/360) on the first installment, a regular period's principal
    assert broken[0].interest_fen == 490_000 and broken[0].principal_fen == regular[0].principal_fen
    assert [(r.principal_fen, r.interest_fen) for r in broken[1:]] == [
        (r.principal_fen, r.interest_fen) for r in regular[1:]
    ]


def test_a_short_broken_first_period_keeps_the_contract_term() -> None:
    rows = build_schedule(terms(100_000_000, "0.049", 360, EI, first_due=date(2026, 1, 16))).installments
    assert len(rows) == 360  # today: 357 installments, the loan ends three months early
