"""Restructuring and write-off as ledger events, on one loan.

¥12,000 over 12 months at 12 %, equal installments of ¥1,066.19, disbursed 2026-01-15; installment
1 falls due 2026-02-15 (principal 946.19 + interest 120.00). Penalty 18 %, ACT/360.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from daihou.domain.agencies import (
    EVALUATION_EXPIRED,
    NO_EVALUATION,
    SCORE_TOO_LOW,
    Evaluation,
    commission_rules_from_dict,
    may_place,
)
from daihou.domain.approval_limits import ApprovalLimits, RequestKind, limits_from_dict
from daihou.domain.booking import book
from daihou.domain.calendar import Frequency
from daihou.domain.grades import Grade
from daihou.domain.journal import Account, EntryKind
from daihou.domain.loan import Loan, LoanStatus, days_past_due, position
from daihou.domain.products import Component, Product, RepaymentMethod
from daihou.domain.restructuring import (
    ArrearsTreatment,
    Restructure,
    RestructureKind,
    extension,
    observation_end,
    restructuring_floor,
)
from daihou.domain.servicing import Applied, Code, Payment, Rejected, Waiver, apply, replay
from daihou.domain.writeoff import WriteOff, written_off_amounts

DISBURSED = date(2026, 1, 15)
EI = RepaymentMethod.EQUAL_INSTALLMENT


def new_loan() -> Loan:
    return book(Product("T", "test product"), "L1", 1_200_000, Decimal("0.12"), 12, DISBURSED).loan


def ok(result: Applied | Rejected) -> Applied:
    assert isinstance(result, Applied), result
    return result


def arrears(loan: Loan, on: date = date(2026, 3, 1)) -> int:
    """Interest, penalty and compound interest owed on installments due by `on`."""
    comps = (Component.INTEREST, Component.PENALTY, Component.COMPOUND)
    return sum(i.owed(c).outstanding for i in loan.installments if i.due_date <= on for c in comps)


def test_an_extension_keeps_the_principal_and_adds_the_months_to_the_term() -> None:
    loan = ok(apply(new_loan(), Payment(date(2026, 2, 15), 106619, "P1"))).loan
    event = extension(loan, date(2026, 3, 1), 6, "EXT1")
    assert event.periods == 11 + 6 and event.kind is RestructureKind.EXTENSION
    done = ok(apply(loan, event))
    after = done.loan
    assert after.status is LoanStatus.RESTRUCTURED
    assert after.outstanding_principal_fen == loan.outstanding_principal_fen == 1_200_000 - 94619
    new_rows = [i for i in after.installments if i.start_date >= date(2026, 3, 1)]
    # the repayment day is kept: the maturity moves from 2027-01-15 by exactly six months
    assert len(new_rows) == 17 and new_rows[0].due_date == date(2026, 3, 15)
    assert new_rows[-1].due_date == date(2027, 7, 15)
    assert sum(i.principal.due for i in new_rows) == 1_200_000 - 94619
    assert after.schedule_version == loan.schedule_version + 1
    # the running period's 14 days of interest fall due on the restructuring date
    closing = next(i for i in after.installments if i.due_date == date(2026, 3, 1))
    assert closing.interest.due == closing.interest_accrued_fen > 0 and closing.principal.outstanding == 0


def test_capitalised_arrears_become_principal_and_the_loan_is_current_again() -> None:
    loan = new_loan()  # nothing paid: installment 1 is 14 days overdue on 2026-03-01
    event = Restructure(
        date(2026, 3, 1), "RS1", 24, Decimal("0.06"), EI, ArrearsTreatment.CAPITALISE, kind=RestructureKind.RESCHEDULE
    )
    done = ok(apply(loan, event))
    # the loan brought to the day by a one-fen probe, plus the running period's interest so far
    before = ok(apply(loan, Waiver(date(2026, 3, 1), Component.PRINCIPAL, 1, "probe"))).loan
    running = next(i for i in before.installments if i.due_date > date(2026, 3, 1))
    owed_before = before.outstanding_principal_fen + 1 + arrears(before) + running.interest_accrued_fen
    after = done.loan
    assert arrears(after) == 0
    assert after.outstanding_principal_fen == owed_before
    assert days_past_due(after, date(2026, 3, 2)) == 0 and after.status is LoanStatus.RESTRUCTURED
    assert after.terms.rate_annual == Decimal("0.06") and after.terms.periods == 24
    entry = next(e for e in done.entries if e.kind is EntryKind.RESTRUCTURE)
    moved = owed_before - 1_200_000
    assert entry.amount(Account.PRINCIPAL_RECEIVABLE) == moved
    assert entry.amount(Account.INTEREST_RECEIVABLE) + entry.amount(Account.PENALTY_RECEIVABLE) == -moved
    assert sum(position(after).values()) == 0


def test_kept_arrears_stay_owed_and_keep_the_loan_overdue() -> None:
    loan = new_loan()
    event = Restructure(date(2026, 3, 1), "RS1", 24, Decimal("0.12"), EI, ArrearsTreatment.KEEP)
    done = ok(apply(loan, event))
    after = done.loan
    assert after.outstanding_principal_fen == 1_200_000
    assert arrears(after) > 0
    assert after.status is LoanStatus.OVERDUE and days_past_due(after, date(2026, 3, 1)) == 14
    assert not [e for e in done.entries if e.kind is EntryKind.RESTRUCTURE]  # nothing moves between accounts


def test_a_replayed_history_restructures_the_loan_the_same_way() -> None:
    opening = new_loan()
    events = [
        Payment(date(2026, 2, 15), 106619, "P1"),
        Restructure(date(2026, 3, 20), "RS1", 6, Decimal("0.05"), RepaymentMethod.EQUAL_PRINCIPAL),
        Payment(date(2026, 4, 20), 50_000, "P2"),
    ]
    forward = opening
    for e in events:
        forward = ok(apply(forward, e)).loan
    replayed = replay(opening, events, forward.accrued_through)
    assert replayed.loan == forward


def test_a_restructuring_on_a_due_date_adds_no_empty_row() -> None:
    loan = ok(apply(new_loan(), Payment(date(2026, 2, 15), 106619, "P1"))).loan
    after = ok(apply(loan, Restructure(date(2026, 3, 15), "RS1", 6, Decimal("0.12"), EI))).loan
    assert all(i.principal.due + i.interest.due > 0 for i in after.installments)
    assert [i.due_date for i in after.installments][:3] == [date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15)]


def test_a_restructuring_with_impossible_terms_is_refused_with_a_code() -> None:
    result = apply(new_loan(), Restructure(date(2026, 3, 1), "RS1", 0, Decimal("0.12"), EI))
    assert isinstance(result, Rejected) and result.code is Code.INVALID_RESTRUCTURING
    assert "periods" in result.message


def test_a_write_off_clears_the_books_and_keeps_the_amounts() -> None:
    loan = new_loan()
    before = ok(apply(loan, Payment(date(2026, 2, 15), 50_000, "P1"))).loan
    done = ok(apply(before, WriteOff(date(2026, 6, 1), "WO1", "uncollectable")))
    after = done.loan
    assert after.status is LoanStatus.WRITTEN_OFF
    assert all(i.settled for i in after.installments) and max(i.due_date for i in after.installments) == date(
        2026, 6, 1
    )
    pos = position(after)
    assert pos[Account.PRINCIPAL_RECEIVABLE] == pos[Account.INTEREST_RECEIVABLE] == pos[Account.PENALTY_RECEIVABLE] == 0
    assert pos[Account.WRITE_OFF] == 1_200_000 - sum(i.principal.paid for i in after.installments)
    amounts = written_off_amounts(before, after)
    assert amounts[Component.PRINCIPAL] == pos[Account.WRITE_OFF]
    assert amounts[Component.PENALTY] > 0


def test_money_received_after_a_write_off_is_recovery_income_not_credit() -> None:
    written_off = ok(apply(new_loan(), WriteOff(date(2026, 6, 1), "WO1"))).loan
    done = ok(apply(written_off, Payment(date(2026, 8, 1), 30_000, "R1")))
    entry = next(e for e in done.entries if e.kind is EntryKind.PAYMENT)
    assert entry.amount(Account.CASH) == 30_000
    assert entry.amount(Account.RECOVERY_INCOME) == -30_000
    assert entry.amount(Account.BORROWER_CREDIT) == 0
    assert done.loan.status is LoanStatus.WRITTEN_OFF


def test_a_written_off_loan_can_be_neither_restructured_nor_written_off_again() -> None:
    written_off = ok(apply(new_loan(), WriteOff(date(2026, 6, 1), "WO1"))).loan
    again = apply(written_off, WriteOff(date(2026, 6, 2), "WO2"))
    assert isinstance(again, Rejected) and again.code is Code.LOAN_WRITTEN_OFF
    rs = apply(written_off, Restructure(date(2026, 6, 2), "RS", 12, Decimal("0.1"), EI))
    assert isinstance(rs, Rejected) and rs.code is Code.LOAN_WRITTEN_OFF


def test_the_observation_period_is_a_year_after_the_first_new_due_date() -> None:
    assert observation_end(date(2026, 4, 1), Frequency.MONTHLY) == date(2027, 4, 1)
    assert observation_end(date(2026, 4, 1), Frequency.QUARTERLY) == date(2027, 4, 1)


@pytest.mark.parametrize(
    ("current", "floor"),
    [(Grade.NORMAL, Grade.SPECIAL_MENTION), (Grade.SUBSTANDARD, Grade.SUBSTANDARD)],
)
def test_a_restructured_loan_is_at_least_special_mention_or_its_worse_class(current: Grade, floor: Grade) -> None:
    assert restructuring_floor(current) is floor


# ---------------------------------------------------------------- approval limits and agency rules (data)


def _limits() -> ApprovalLimits:
    from daihou.workflow.recovery import load_limits

    return load_limits()


def test_a_team_lead_approves_waivers_up_to_5000_yuan_and_30_percent() -> None:
    limits = _limits()
    assert limits.tier_for(RequestKind.WAIVER, 500_000, Decimal("0.3")).name == "waiver-team-lead"
    assert limits.tier_for(RequestKind.WAIVER, 500_001, Decimal("0.1")).name == "waiver-risk-manager"
    assert limits.tier_for(RequestKind.WAIVER, 100_000, Decimal("0.31")).name == "waiver-risk-manager"
    above = limits.tier_for(RequestKind.WAIVER, 5_000_001, Decimal("0.1"))
    assert above.name == "waiver-committee" and above.approvals == 2 and "team_lead" not in above.roles
    assert limits.may_make(RequestKind.WAIVER, "collector") and not limits.may_make(RequestKind.WRITEOFF, "collector")


def test_bad_approval_limits_name_the_tier_and_the_field() -> None:
    with pytest.raises(ValueError, match=r"tier\[0\]\.up_to"):
        limits_from_dict(
            {"effective": date(2026, 1, 1), "tier": [{"kind": "waiver", "roles": ["x"], "up_to": "5.001"}]}
        )
    with pytest.raises(ValueError, match=r"tier\[0\]\.roles"):
        limits_from_dict({"effective": date(2026, 1, 1), "tier": [{"kind": "waiver"}]})


RULES = commission_rules_from_dict(
    {
        "effective": date(2026, 1, 1),
        "min_score": 60,
        "stage": {
            "M2": [{"up_to": "10000.00", "rate": "0.12"}, {"rate": "0.10"}],
            "*": [{"up_to": "100.00", "rate": "0.30"}, {"rate": "0.20"}],
        },
    }
)


@pytest.mark.parametrize(
    ("recovered_fen", "stage", "commission_fen"),
    [
        (0, "M2", 0),
        (500_000, "M2", 60_000),  # 12 % of ¥5,000
        (1_000_000, "M2", 120_000),
        (1_500_000, "M2", 170_000),  # 12 % of ¥10,000 + 10 % of ¥5,000: bands are marginal
        (20_000, "M7+", 5_000),  # the fallback: 30 % of ¥100 + 20 % of ¥100
        (333, "M2", 40),  # 39.96 fen rounds half-up once
    ],
)
def test_commission_is_marginal_by_stage_and_amount(recovered_fen: int, stage: str, commission_fen: int) -> None:
    from daihou.domain.agencies import commission_fen as commission

    assert commission(recovered_fen, stage, RULES) == commission_fen


def test_an_agency_needs_a_current_evaluation_with_a_passing_score() -> None:
    on = date(2026, 4, 1)
    assert may_place([], on, RULES).code == NO_EVALUATION
    expired = Evaluation(90, date(2025, 1, 1), date(2025, 12, 31))
    assert may_place([expired], on, RULES).code == EVALUATION_EXPIRED
    assert may_place([Evaluation(50, date(2026, 3, 1), date(2027, 3, 1))], on, RULES).code == SCORE_TOO_LOW
    assert may_place([expired, Evaluation(75, date(2026, 3, 1), date(2027, 3, 1))], on, RULES) is None
    assert may_place([Evaluation(75, date(2026, 5, 1), date(2027, 5, 1))], on, RULES).code == NO_EVALUATION
