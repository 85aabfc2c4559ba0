"""Follow-up visit rules (贷款回访): the shipped policy, plan dates, questionnaire and record checks."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daihou.domain.visits import (
    LoanFacts,
    Plan,
    PlanKind,
    VisitInput,
    all_flags,
    check_answers,
    check_record,
    is_business,
    is_high_risk,
    needs_tightening,
    next_plan,
    policy_from_dict,
)

D = date.fromisoformat
RAW = tomllib.loads(resources.files("daihou.workflow").joinpath("visit_policy.toml").read_text(encoding="utf-8"))
POLICY = policy_from_dict(RAW)

PERIODIC_ANSWERS: dict[str, Any] = {
    "business_condition": "normal",
    "fund_usage": "as_declared",
    "income_change": "stable",
    "other_debts": "none",
    "collateral_condition": "no_collateral",
    "willingness_to_pay": "willing",
}
FIRST_ANSWERS = {**PERIODIC_ANSWERS, "funds_received": True, "purpose_confirmed": True}


def monthly(first: date, n: int) -> tuple[date, ...]:
    out = []
    for k in range(n):
        m = first.month - 1 + k
        out.append(date(first.year + m // 12, m % 12 + 1, min(first.day, 28)))
    return tuple(out)


def facts(**kw: Any) -> LoanFacts:
    base: dict[str, Any] = {
        "disbursed_on": D("2026-01-15"),
        "last_visit_on": None,
        "due_dates": monthly(D("2026-02-15"), 12),
        "business": False,
        "high_risk": False,
    }
    return LoanFacts(**{**base, **kw})


# ---------------------------------------------------------------- the shipped policy


def test_the_shipped_policy_is_quarterly_in_year_one_half_yearly_after_and_monthly_for_high_risk() -> None:
    assert POLICY.version == "default@2026-01-01"
    assert POLICY.first_within_days == 15
    assert POLICY.every_days(0) == 90
    assert POLICY.every_days(364) == 90
    assert POLICY.every_days(365) == 180
    assert POLICY.high_risk_every_days == 30
    assert {"SME_REVOLVE", "BRIDGE"} <= set(POLICY.business_products)


def test_every_question_has_a_chinese_and_an_english_label() -> None:
    for q in POLICY.questions:
        assert q.label("zh-CN") and q.label("en") and q.label("zh-CN") != q.label("en")
    codes = {q.code for q in POLICY.questions}
    assert {
        "business_condition",
        "fund_usage",
        "income_change",
        "other_debts",
        "collateral_condition",
        "willingness_to_pay",
        "funds_received",
    } <= codes


def test_a_policy_with_a_slower_high_risk_cadence_than_a_phase_is_refused() -> None:
    raw = copy.deepcopy(RAW)
    raw["cadence"]["high_risk_every_days"] = 120
    with pytest.raises(ValueError, match="high_risk_every_days"):
        policy_from_dict(raw)


def test_a_question_flag_that_names_an_undefined_flag_is_refused() -> None:
    raw = copy.deepcopy(RAW)
    raw["questions"][3]["flags"] = {"diverted": "no_such_flag"}
    with pytest.raises(ValueError, match="no_such_flag"):
        policy_from_dict(raw)


# ---------------------------------------------------------------- who is what


def test_a_business_product_or_a_business_purpose_makes_a_business_loan() -> None:
    assert is_business(POLICY, "SME_REVOLVE", None)
    assert is_business(POLICY, "BRIDGE", "")
    assert is_business(POLICY, "STD", "门店经营周转")
    assert is_business(POLICY, "STD", "Working Capital for the shop")
    assert not is_business(POLICY, "STD", "装修")


def test_high_risk_is_a_class_worse_than_normal_any_overdue_day_or_an_override() -> None:
    assert not is_high_risk(POLICY, "normal", 0, False)
    assert is_high_risk(POLICY, "special_mention", 0, False)
    assert is_high_risk(POLICY, "normal", 1, False)
    assert is_high_risk(POLICY, "normal", 0, True)


# ---------------------------------------------------------------- plan dates


def test_the_first_visit_falls_fifteen_days_after_disbursement() -> None:
    assert next_plan(POLICY, facts(), D("2026-01-16")) == Plan(D("2026-01-30"), PlanKind.FIRST)


def test_a_plan_made_late_is_due_on_the_planning_day_not_in_the_past() -> None:
    assert next_plan(POLICY, facts(), D("2026-03-01")) == Plan(D("2026-03-01"), PlanKind.FIRST)


def test_the_quarterly_visit_moves_back_to_five_days_before_the_latest_due_date_in_the_quarter() -> None:
    # last visit 3 Feb; 90 days later is 4 May; the latest due date whose visit day (−5) lies before it is 15 April
    plan = next_plan(POLICY, facts(last_visit_on=D("2026-02-03")), D("2026-02-03"))
    assert plan == Plan(D("2026-04-10"), PlanKind.PERIODIC)


def test_without_a_due_date_in_the_interval_the_visit_keeps_the_cadence_date() -> None:
    plan = next_plan(POLICY, facts(last_visit_on=D("2026-02-03"), due_dates=()), D("2026-02-03"))
    assert plan == Plan(D("2026-05-04"), PlanKind.PERIODIC)


def test_a_stable_loan_is_visited_half_yearly() -> None:
    f = facts(disbursed_on=D("2025-01-10"), last_visit_on=D("2026-01-20"), due_dates=())
    assert next_plan(POLICY, f, D("2026-01-20")) == Plan(D("2026-07-19"), PlanKind.PERIODIC)


def test_a_high_risk_loan_is_visited_monthly() -> None:
    f = facts(last_visit_on=D("2026-03-01"), high_risk=True, due_dates=())
    assert next_plan(POLICY, f, D("2026-03-01")) == Plan(D("2026-03-31"), PlanKind.HIGH_RISK)


def test_a_business_loans_periodic_visit_is_on_site() -> None:
    assert next_plan(POLICY, facts(last_visit_on=D("2026-02-03"), business=True), D("2026-02-03")).kind == (
        PlanKind.BUSINESS_ONSITE
    )


def test_a_quarterly_plan_of_a_loan_turned_high_risk_is_tightened_but_a_near_one_is_kept() -> None:
    f = facts(last_visit_on=D("2026-02-03"), high_risk=True)
    assert needs_tightening(POLICY, Plan(D("2026-04-10"), PlanKind.PERIODIC), f, D("2026-02-20"))
    assert not needs_tightening(POLICY, Plan(D("2026-03-01"), PlanKind.PERIODIC), f, D("2026-02-20"))
    assert not needs_tightening(POLICY, Plan(D("2026-04-10"), PlanKind.HIGH_RISK), f, D("2026-02-20"))


days = st.dates(min_value=D("2024-01-01"), max_value=D("2027-12-31"))


@given(
    disbursed=days,
    visit_after=st.one_of(st.none(), st.integers(0, 900)),
    plan_after=st.integers(0, 400),
    first_due_after=st.integers(1, 60),
    periods=st.integers(0, 36),
    business=st.booleans(),
    high_risk=st.booleans(),
)
def test_every_plan_follows_the_policy(
    disbursed: date,
    visit_after: int | None,
    plan_after: int,
    first_due_after: int,
    periods: int,
    business: bool,
    high_risk: bool,
) -> None:
    last = None if visit_after is None else disbursed + timedelta(days=visit_after)
    day = (last or disbursed) + timedelta(days=plan_after)
    dues = monthly(disbursed + timedelta(days=first_due_after), periods)
    f = LoanFacts(disbursed, last, dues, business, high_risk)
    plan = next_plan(POLICY, f, day)
    assert plan.due_on >= day
    if last is None:
        assert plan.kind is PlanKind.FIRST
        assert plan.due_on == max(disbursed + timedelta(days=15), day)
        return
    cadence = 30 if high_risk else (90 if visit_after is not None and visit_after < 365 else 180)
    limit = last + timedelta(days=cadence)
    assert plan.due_on <= max(limit, day), "never later than the cadence allows"
    if plan.due_on > day:
        assert plan.due_on > last
        lead = timedelta(days=5)
        inside = [d for d in dues if last < d - lead <= limit]
        if inside:
            assert plan.due_on == max(inside) - lead, "aligned to the latest due date inside the interval"
        else:
            assert plan.due_on == limit
    expected_kind = PlanKind.HIGH_RISK if high_risk else PlanKind.BUSINESS_ONSITE if business else PlanKind.PERIODIC
    assert plan.kind is expected_kind


# ---------------------------------------------------------------- questionnaire and record


def test_complete_answers_pass_and_first_visit_questions_are_not_asked_later() -> None:
    assert check_answers(POLICY, PlanKind.FIRST, FIRST_ANSWERS) == ()
    assert check_answers(POLICY, PlanKind.PERIODIC, PERIODIC_ANSWERS) == ()
    problems = check_answers(POLICY, PlanKind.PERIODIC, FIRST_ANSWERS)
    assert {p.field for p in problems} == {"answers.funds_received", "answers.purpose_confirmed"}
    assert {p.code for p in problems} == {"unknown_answer"}


def test_a_missing_answer_names_its_question() -> None:
    answers = {k: v for k, v in FIRST_ANSWERS.items() if k != "funds_received"}
    (problem,) = check_answers(POLICY, PlanKind.FIRST, answers)
    assert (problem.code, problem.field) == ("answer_missing", "answers.funds_received")
    assert "收到贷款资金" in problem.message


def test_an_answer_outside_the_choices_or_of_the_wrong_type_names_its_question() -> None:
    answers = {**FIRST_ANSWERS, "fund_usage": "gambling", "funds_received": "yes"}
    problems = {p.field: p.code for p in check_answers(POLICY, PlanKind.FIRST, answers)}
    assert problems == {"answers.fund_usage": "answer_invalid", "answers.funds_received": "answer_invalid"}


def test_answers_raise_their_risk_flags_and_misuse_is_one_of_them() -> None:
    answers = {**FIRST_ANSWERS, "fund_usage": "diverted", "funds_received": False, "income_change": "down_sharply"}
    flags = all_flags(POLICY, ["lost_contact"], answers)
    assert flags == ("lost_contact", "funds_not_received", "fund_misuse", "income_drop")


def _record(**kw: Any) -> VisitInput:
    base: dict[str, Any] = {
        "visit_type": "phone",
        "visited_on": D("2026-02-01"),
        "officers": ("wang",),
        "answers": PERIODIC_ANSWERS,
    }
    return VisitInput(**{**base, **kw})


def _check(visit: VisitInput, kind: PlanKind = PlanKind.PERIODIC, business: bool = False) -> dict[str, str]:
    problems = check_record(
        POLICY, visit, kind=kind, business=business, disbursed_on=D("2026-01-15"), today=D("2026-02-10")
    )
    return {p.field: p.code for p in problems}


def test_a_good_record_has_no_problems() -> None:
    assert _check(_record()) == {}


def test_a_record_without_an_officer_in_the_future_or_before_disbursement_names_the_field() -> None:
    assert _check(_record(officers=(" ",))) == {"officers": "missing_officer"}
    assert _check(_record(visited_on=D("2026-02-11"))) == {"visited_on": "future_date"}
    assert _check(_record(visited_on=D("2026-01-14"))) == {"visited_on": "before_disbursement"}
    assert _check(_record(visit_type="letter")) == {"visit_type": "unknown_visit_type"}
    assert _check(_record(flags=("nonsense",))) == {"flags[0]": "unknown_flag"}


def test_a_business_loans_on_site_visit_needs_a_statement_and_its_periodic_visit_must_be_on_site() -> None:
    on_site = _record(visit_type="on_site", attachment_kinds=("photo",))
    assert _check(on_site, business=True) == {"attachments": "statement_required"}
    assert _check(_record(visit_type="on_site", attachment_kinds=("statement",)), business=True) == {}
    assert _check(on_site, business=False) == {}
    assert _check(_record(), PlanKind.BUSINESS_ONSITE, business=True) == {"visit_type": "on_site_required"}


def test_the_close_of_business_plans_visits_right_after_the_reminders() -> None:
    from daihou.workflow import daily

    names = [s.__name__ for s in daily.steps()]
    assert names.index("plan_visits") == names.index("plan_reminders") + 1
