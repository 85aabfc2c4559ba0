"""Collections decisioning and guardrails, as pure rules over the shipped strategy."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daihou.domain import collections as dc
from daihou.domain.compliance import Code

SH = ZoneInfo("Asia/Shanghai")
POLICY = dc.policy_from_dict(
    tomllib.loads(resources.files("daihou.workflow").joinpath("collection_strategy.toml").read_text("utf-8"))
)


def raw() -> dict[str, Any]:
    return tomllib.loads(resources.files("daihou.workflow").joinpath("collection_strategy.toml").read_text("utf-8"))


def test_the_shipped_strategy_loads_and_covers_every_stage() -> None:
    assert POLICY.seed == 20261122 and dc.policy_problems(POLICY) == []
    for stage in dc.Stage:
        assert any(r.stage == stage for r in POLICY.rules)


def test_a_strategy_with_an_unknown_treatment_and_stage_is_refused_naming_both() -> None:
    data = raw()
    data["rules"][0]["champion"] = "shouting"
    data["transitions"][0]["to"] = "m9_forever"
    with pytest.raises(ValueError, match="unknown treatment 'shouting'") as exc:
        dc.policy_from_dict(data)
    assert "unknown stage 'm9_forever'" in str(exc.value)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "unscored"), (0, "low"), (49_999, "low"), (50_000, "medium"), (999_999, "high")]
)
def test_score_bands_are_half_open_and_no_score_is_unscored(value: int | None, expected: str) -> None:
    assert dc.band(value, POLICY.score_bands) == expected


def test_the_arm_is_a_fixed_function_of_seed_and_case_id() -> None:
    share = Decimal("0.3")
    first = [dc.arm(1, i, share) for i in range(2000)]
    assert first == [dc.arm(1, i, share) for i in range(2000)]
    assert first != [dc.arm(2, i, share) for i in range(2000)]
    assert {dc.arm(1, i, Decimal(0)) for i in range(500)} == {dc.Arm.CHAMPION}
    assert {dc.arm(1, i, Decimal(1)) for i in range(500)} == {dc.Arm.CHALLENGER}


def test_the_challenger_share_is_met_over_many_cases() -> None:
    n = 40_000
    hits = sum(dc.arm(20261122, i, Decimal("0.2")) is dc.Arm.CHALLENGER for i in range(n))
    assert abs(hits / n - 0.2) < 0.01  # 5 standard deviations are 0.01


def test_decide_gives_a_low_risk_early_case_the_robot_as_champion() -> None:
    champion_ids = [i for i in range(200) if dc.arm(POLICY.seed, i, Decimal("0.3")) is dc.Arm.CHAMPION]
    decision = dc.decide(POLICY, champion_ids[0], "m1_early", "low", "small", "STD")
    assert decision.segment == "m1_early|low|small|STD"
    assert decision.treatment.code == "sms_robot" and decision.treatment.worker is dc.Worker.ROBOT


def facts(stage: str, dpd: int, status: str = "overdue", soon: bool = False) -> dc.CaseFacts:
    return dc.CaseFacts(stage, dpd, status, nothing_due_soon=not soon)


@pytest.mark.parametrize(
    ("case", "event", "expected"),
    [
        (facts("m2_m3_middle", 40, "paid_off"), None, dc.Move(None, "paid_off")),
        (facts("m4_plus_late", 200, "written_off"), None, dc.Move("written_off", "written_off")),
        (facts("m1_early", 0, "active"), None, dc.Move(None, "cured")),
        (facts("m1_early", 31), None, dc.Move("m2_m3_middle", None)),
        (facts("pre_due", 95), None, dc.Move("m4_plus_late", None)),
        (facts("m4_plus_late", 181), None, dc.Move("legal", None)),
        (facts("m1_early", 12), "promise_broken", dc.Move("m2_m3_middle", None)),
        (facts("pre_due", 0, "active", soon=False), None, dc.Move(None, "cured")),
        (facts("pre_due", 0, "active", soon=True), None, None),
        (facts("m1_early", 12), None, None),
        (facts("legal", 400), "promise_broken", None),
    ],
)
def test_the_transition_table_moves_and_closes_cases(case: dc.CaseFacts, event: str | None, expected: Any) -> None:
    assert dc.next_move(POLICY, case, event) == expected


def test_assignment_respects_skills_and_balances_count_and_balance() -> None:
    staff = [
        dc.Collector("a", "t", frozenset({"m1_early"}), 0, 0),
        dc.Collector("b", "t", frozenset({"m1_early", "m2_m3_middle"}), 0, 0),
        dc.Collector("c", "t", frozenset({"m1_early"}), 0, 0),
    ]
    cases = [dc.Unassigned(i, "m1_early", 10_000 * (1 + i % 7)) for i in range(300)]
    cases += [dc.Unassigned(1000 + i, "m2_m3_middle", 50_000) for i in range(30)]
    cases += [dc.Unassigned(2000, "legal", 1)]
    chosen = dc.balance_assignment(cases, staff)
    assert 2000 not in chosen  # nobody is skilled for legal
    assert all(chosen[1000 + i] == "b" for i in range(30))
    counts = {c: sum(1 for v in chosen.values() if v == c) for c in "abc"}
    balance = {c: sum(x.balance_fen for x in cases if chosen.get(x.case_id) == c) for c in "abc"}
    assert max(counts.values()) - min(counts.values()) <= 35
    assert max(balance.values()) / min(balance.values()) < 1.15


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=6), st.integers(-(10**9), 10**10))
def test_a_plan_receives_exactly_what_was_paid_up_to_what_was_promised(amounts: list[int], paid: int) -> None:
    parts = dc.plan_paid(amounts, paid)
    assert sum(parts) == min(max(paid, 0), sum(amounts))
    assert all(0 <= p <= a for p, a in zip(parts, amounts, strict=True))
    first_short = next((k for k, (p, a) in enumerate(zip(parts, amounts, strict=True)) if p < a), len(parts))
    assert all(p == 0 for p in parts[first_short + 1 :])  # oldest first


@pytest.mark.parametrize(
    ("paid", "day", "expected"),
    [(100, "2026-03-01", "kept"), (0, "2026-03-05", "pending"), (40, "2026-03-06", "partly_kept"),
     (0, "2026-03-06", "broken"), (100, "2026-03-09", "kept")],
)  # fmt: skip
def test_a_promise_is_judged_after_its_day(paid: int, day: str, expected: str) -> None:
    assert dc.promise_status(100, paid, date(2026, 3, 5), date.fromisoformat(day)) == expected


# ---------------------------------------------------------------- the guard


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=SH)


REACHABLE = dc.ContactFacts(False, 0, 0, 0, 0, 100_000)


@pytest.mark.parametrize(
    ("attempt", "facts", "code"),
    [
        (dc.Attempt("call", "debtor", at(23)), REACHABLE, Code.OUTSIDE_CONTACT_HOURS),
        (dc.Attempt("sms", "debtor", at(7, 59)), REACHABLE, Code.OUTSIDE_CONTACT_HOURS),
        (dc.Attempt("call", "debtor", at(10)), dc.ContactFacts(False, 3, 3, 3, 3, 1), Code.VOICE_CAP_REACHED),
        (dc.Attempt("call", "debtor", at(10)), dc.ContactFacts(False, 0, 6, 6, 0, 1), Code.DIAL_CAP_REACHED),
        (dc.Attempt("call", "debtor", at(10)), dc.ContactFacts(True, 0, 0, 0, 0, 1), Code.DEBT_DISPUTED),
        (dc.Attempt("call", "contact_person", at(10)), dc.ContactFacts(False, 0, 0, 5, 0, 1), Code.DEBTOR_REACHABLE),
        (dc.Attempt("call", "contact_person", at(10)), dc.ContactFacts(False, 0, 0, 9, 1, 1), Code.DEBTOR_REACHABLE),
        (dc.Attempt("call", "debtor", at(10), amount_demanded_fen=100_001), REACHABLE, Code.AMOUNT_ABOVE_CAP),
        (dc.Attempt("call", "debtor", at(10), notes="你这个老赖"), REACHABLE, Code.BANNED_LANGUAGE),
    ],
)
def test_the_guard_refuses_with_the_rule_that_forbids(attempt: dc.Attempt, facts: dc.ContactFacts, code: Code) -> None:
    refused = dc.check_contact(POLICY, attempt, facts)
    assert refused is not None and refused.code is code


def test_the_guard_lets_a_proper_contact_through() -> None:
    assert dc.check_contact(POLICY, dc.Attempt("call", "debtor", at(8)), dc.ContactFacts(False, 2, 5, 0, 0, 1)) is None
    sms_after_cap = dc.Attempt("sms", "debtor", at(12))
    assert dc.check_contact(POLICY, sms_after_cap, dc.ContactFacts(False, 3, 6, 9, 3, 1)) is None
    unreachable = dc.ContactFacts(False, 0, 0, 6, 0, 1)
    assert dc.check_contact(POLICY, dc.Attempt("call", "contact_person", at(10)), unreachable) is None
    assert (
        dc.check_contact(POLICY, dc.Attempt("call", "guarantor", at(10)), dc.ContactFacts(True, 0, 0, 0, 0, 1)) is None
    )


def test_a_contact_person_is_never_told_about_the_debt_even_when_the_debtor_is_unreachable() -> None:
    attempt = dc.Attempt("call", "contact_person", at(10), discloses_debt=True)
    refused = dc.check_contact(POLICY, attempt, dc.ContactFacts(False, 0, 0, 6, 0, 1))
    assert refused is not None and refused.code is Code.THIRD_PARTY_DISCLOSURE


def test_interest_above_four_times_lpr_is_not_collectable_under_private_lending() -> None:
    ceiling = dc.interest_ceiling_ppm("private_lending", date(2025, 6, 1))
    assert ceiling == 120_000  # 4 × 3.0 %
    assert dc.collectable_fen(1_000_000, 24_000, 240_000, ceiling) == 1_000_000 - 12_000
    assert dc.collectable_fen(1_000_000, 24_000, 100_000, ceiling) == 1_000_000
    assert dc.interest_ceiling_ppm("bank", date(2025, 6, 1)) is None


@pytest.mark.parametrize(
    ("kind", "pid", "team", "expected"),
    [
        ("collector", "c1", None, dc.ScopeFilter("collector", "c1")),
        ("team_lead", "lead", "east", dc.ScopeFilter("team", "east")),
        ("team_lead", "c1", None, dc.ScopeFilter(None, None)),
        ("agency", "12", None, dc.ScopeFilter("placement_agency_id", 12)),
        ("agency", "x", None, dc.ScopeFilter(None, None)),
        ("supervisor", "audit", None, dc.ScopeFilter(None, None, all_=True)),
        ("borrower", "B1", None, dc.ScopeFilter(None, None)),
    ],
)
def test_each_principal_kind_has_its_data_scope(kind: str, pid: str, team: str | None, expected: Any) -> None:
    assert dc.scope(kind, pid, team) == expected
