"""Early-warning rules as data and the alert state machine (pure domain)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from daihou.domain.warnings import (
    ActionKind,
    AlertStep,
    Command,
    Outcome,
    RefusalCode,
    Refused,
    RuleError,
    RuleKind,
    Severity,
    Status,
    ruleset_from_dict,
    transition,
)
from daihou.workflow.warnings import load_rules, parse_signal_row

AT = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
RULE: dict[str, Any] = {
    "code": "dpd_30",
    "kind": "dpd_crossed",
    "severity": "high",
    "owner_role": "risk_manager",
    "effective": "2026-01-01",
    "params": {"threshold_days": 30},
    "title_zh": "逾期30天",
    "title_en": "DPD 30",
}


def _rules(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "rules": [copy.deepcopy(r) for r in rows]}


def test_the_shipped_rules_cover_every_kind_the_issue_names() -> None:
    rules = load_rules().in_force(date(2026, 11, 22))
    assert {r.kind for r in rules} == set(RuleKind)
    assert {r.code for r in rules} >= {"first_missed_payment", "dpd_30", "dpd_60", "dpd_90", "low_payment"}
    assert all(r.title_zh and r.title_en and r.owner_role for r in rules)


def test_the_latest_version_in_force_applies_and_later_ones_wait_for_their_date() -> None:
    later = {**RULE, "effective": "2026-06-01", "severity": "critical", "params": {"threshold_days": 20}}
    rules = ruleset_from_dict(_rules(RULE, later))
    assert rules.in_force(date(2025, 12, 31)) == ()
    [before] = rules.in_force(date(2026, 5, 31))
    [after] = rules.in_force(date(2026, 6, 1))
    assert (before.severity, before.int_param("threshold_days")) == (Severity.HIGH, 30)
    assert (after.severity, after.int_param("threshold_days")) == (Severity.CRITICAL, 20)


def test_a_disabled_version_switches_the_rule_off_from_its_date() -> None:
    off = {**RULE, "effective": "2026-06-01", "enabled": False}
    rules = ruleset_from_dict(_rules(RULE, off))
    assert len(rules.in_force(date(2026, 5, 1))) == 1
    assert rules.in_force(date(2026, 6, 1)) == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"severity": "urgent"}, "rules[1].severity"),
        ({"kind": "vibes"}, "rules[1].kind"),
        ({"effective": "2026-02-30"}, "rules[1].effective"),
        ({"params": {}}, "rules[1].params: dpd_crossed needs threshold_days"),
        ({"params": {"threshold_days": 30, "x": 1}}, "rules[1].params: dpd_crossed takes no x"),
        ({"params": {"threshold_days": "30"}}, "rules[1].params.threshold_days"),
        ({"owner_role": ""}, "rules[1].owner_role"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ruleset_from_dict(_rules({**RULE, **change}))


def test_percentages_and_signal_kinds_are_checked() -> None:
    low = {**RULE, "code": "low", "kind": "low_payment", "params": {"ratio_pct": 150, "lookback_days": 3}}
    with pytest.raises(RuleError, match="ratio_pct: a percentage"):
        ruleset_from_dict(_rules(low))
    signal = {**RULE, "code": "s", "kind": "external_signal", "params": {"kinds": ["rumour"], "lookback_days": 3}}
    with pytest.raises(RuleError, match="unknown signal kind"):
        ruleset_from_dict(_rules(signal))


def test_a_later_version_may_not_change_a_rules_kind() -> None:
    changed = {**RULE, "effective": "2026-06-01", "kind": "first_missed", "params": {}}
    with pytest.raises(RuleError, match="may not change its kind"):
        ruleset_from_dict(_rules(RULE, changed))


# ---------------------------------------------------------------- the state machine


def test_the_happy_path_runs_open_acknowledged_actioned_closed() -> None:
    ack = transition(Status.OPEN, Command.ACK, "王", "seen", AT)
    act = transition(Status.ACKNOWLEDGED, Command.ACTION, "王", "追加担保", AT, action="require_more_security")
    more = transition(Status.ACTIONED, Command.ACTION, "王", "转催收", AT, action="open_collection_case")
    close = transition(Status.ACTIONED, Command.CLOSE, "王", "done", AT, outcome="mitigated")
    assert isinstance(ack, AlertStep) and ack.to_status is Status.ACKNOWLEDGED
    assert isinstance(act, AlertStep) and act.action is ActionKind.REQUIRE_MORE_SECURITY
    assert isinstance(more, AlertStep) and more.to_status is Status.ACTIONED
    assert isinstance(close, AlertStep) and (close.to_status, close.outcome) == (Status.CLOSED, Outcome.MITIGATED)


def test_an_acknowledged_alert_may_close_as_a_false_alarm_without_action() -> None:
    step = transition(Status.ACKNOWLEDGED, Command.CLOSE, "王", "误报", AT, outcome="false_alarm")
    assert isinstance(step, AlertStep) and step.outcome is Outcome.FALSE_ALARM


@pytest.mark.parametrize(
    ("current", "command"),
    [
        (Status.OPEN, Command.ACTION),
        (Status.OPEN, Command.CLOSE),
        (Status.ACKNOWLEDGED, Command.ACK),
        (Status.ACTIONED, Command.ACK),
        (Status.CLOSED, Command.ACK),
        (Status.CLOSED, Command.ACTION),
        (Status.CLOSED, Command.CLOSE),
    ],
)
def test_steps_out_of_order_are_refused_as_invalid_transitions(current: Status, command: Command) -> None:
    result = transition(current, command, "王", "c", AT, action="freeze_line", outcome="risk_cleared")
    assert isinstance(result, Refused) and result.code is RefusalCode.INVALID_TRANSITION
    assert current.value in result.reason


def test_every_step_needs_a_user_a_comment_and_the_right_argument() -> None:
    cases = [
        (transition(Status.OPEN, Command.ACK, "", "c", AT), RefusalCode.USER_REQUIRED),
        (transition(Status.OPEN, Command.ACK, "u", "  ", AT), RefusalCode.COMMENT_REQUIRED),
        (transition(Status.ACKNOWLEDGED, Command.ACTION, "u", "c", AT), RefusalCode.ACTION_REQUIRED),
        (transition(Status.ACKNOWLEDGED, Command.ACTION, "u", "c", AT, action="x"), RefusalCode.UNKNOWN_ACTION),
        (transition(Status.ACKNOWLEDGED, Command.CLOSE, "u", "c", AT), RefusalCode.OUTCOME_REQUIRED),
        (transition(Status.ACKNOWLEDGED, Command.CLOSE, "u", "c", AT, outcome="x"), RefusalCode.UNKNOWN_OUTCOME),
    ]
    for result, code in cases:
        assert isinstance(result, Refused) and result.code is code


# ---------------------------------------------------------------- signal rows


def test_a_signal_row_names_every_bad_field() -> None:
    errors = parse_signal_row(
        {"id_number": "123", "kind": "gossip", "source": "", "observed_on": "2026-04-01"}, 7, date(2026, 3, 20)
    )
    assert isinstance(errors, list)
    assert [(e.row, e.column) for e in errors] == [(7, "id_number"), (7, "kind"), (7, "source"), (7, "observed_on")]


def test_a_signal_row_accepts_chinese_headers_and_kinds() -> None:
    row = {"统一社会信用代码": "91350100M000100Y43", "类型": "经营异常", "来源": "公示系统", "日期": "2026年3月1日"}
    parsed = parse_signal_row(row, 2, date(2026, 3, 20))
    assert not isinstance(parsed, list)
    assert (parsed.kind, parsed.observed_on) == ("business_anomaly", date(2026, 3, 1))
