"""Early warning (风险预警) as data: rules, the alert workflow and the actions an alert can lead to.

A rule is a row of data (`workflow/warning_rules.toml`): a code, the kind of signal it looks for, its
severity, the role that owns its alerts, the kind's parameters (thresholds) and the date it takes
effect. Several versions of one code may be listed; on a business date the latest version in force
applies. Which loans a rule finds is a set-based query in the store; what a rule *is* lives here.

An alert moves open → acknowledged → actioned → closed (with an outcome). Every step is taken by a
named user, at a time, with a comment; `transition` answers a step or a `Refused` with a code — an
invalid step is a value, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

# ---------------------------------------------------------------- rules


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class RuleKind(StrEnum):
    FIRST_MISSED = "first_missed"  # DPD ≥ 1 for the first time in the loan's life
    DPD_CROSSED = "dpd_crossed"  # DPD reached a threshold (30, 60, 90, …) in the current overdue spell
    LOW_PAYMENT = "low_payment"  # a recent installment covered above zero but below a ratio of what fell due
    FUND_MISUSE = "fund_misuse"  # a visit found the funds used against the declared purpose
    COLLATERAL_DROP = "collateral_drop"  # a revaluation fell more than a percentage
    EXTERNAL_SIGNAL = "external_signal"  # an imported lawsuit, enforcement listing, business anomaly, …
    SCORE_DROP = "score_drop"  # the behaviour score fell more than N points between two scorings
    BROKEN_PROMISE = "broken_promise"  # a promise to pay was broken
    LOST_CONTACT = "lost_contact"  # a contact attempt ended with the borrower unreachable


# The parameters each kind needs, with their type; `lookback_days` bounds how old a finding may be.
PARAMS: Mapping[RuleKind, Mapping[str, type]] = {
    RuleKind.FIRST_MISSED: {},
    RuleKind.DPD_CROSSED: {"threshold_days": int},
    RuleKind.LOW_PAYMENT: {"ratio_pct": int, "lookback_days": int},
    RuleKind.FUND_MISUSE: {"lookback_days": int},
    RuleKind.COLLATERAL_DROP: {"drop_pct": int, "baseline": str},
    RuleKind.EXTERNAL_SIGNAL: {"kinds": list, "lookback_days": int},
    RuleKind.SCORE_DROP: {"model": str, "points": int, "lookback_days": int},
    RuleKind.BROKEN_PROMISE: {"lookback_days": int},
    RuleKind.LOST_CONTACT: {"lookback_days": int},
}

SIGNAL_KINDS = ("lawsuit", "enforcement", "business_anomaly", "dishonest_debtor", "tax_violation", "other")
BASELINES = ("first", "previous")

ParamValue = int | str | tuple[str, ...]


class RuleError(ValueError):
    """A rules file that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    kind: RuleKind
    severity: Severity
    owner_role: str
    effective: date
    params: tuple[tuple[str, ParamValue], ...]
    title_zh: str
    title_en: str
    enabled: bool = True

    def param(self, name: str) -> ParamValue:
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(f"rule {self.code} has no parameter {name}")

    def int_param(self, name: str) -> int:
        value = self.param(name)
        assert isinstance(value, int)
        return value

    def str_param(self, name: str) -> str:
        value = self.param(name)
        assert isinstance(value, str)
        return value

    def list_param(self, name: str) -> tuple[str, ...]:
        value = self.param(name)
        assert isinstance(value, tuple)
        return value


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    rules: tuple[Rule, ...]  # every version of every code, as listed

    def in_force(self, day: date) -> tuple[Rule, ...]:
        """For each code, the latest version effective on or before `day`, if enabled; in file order."""
        latest: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.effective <= day and (rule.code not in latest or rule.effective >= latest[rule.code].effective):
                latest[rule.code] = rule
        order = {r.code: n for n, r in reversed(list(enumerate(self.rules)))}
        return tuple(r for r in sorted(latest.values(), key=lambda r: order[r.code]) if r.enabled)

    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.code for r in self.rules))


def _text(row: Mapping[str, object], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{where}.{key}: required text")
    return value.strip()


def _param(kind: RuleKind, name: str, expected: type, value: object, where: str) -> ParamValue:
    if expected is int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RuleError(f"{where}.params.{name}: a whole number ≥ 0, not {value!r}")
        if name.endswith("_pct") and not 0 < value <= 100:
            raise RuleError(f"{where}.params.{name}: a percentage in 1..100, not {value}")
        return value
    if expected is list:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise RuleError(f"{where}.params.{name}: a non-empty list of text")
        unknown = [v for v in value if v not in SIGNAL_KINDS]
        if kind is RuleKind.EXTERNAL_SIGNAL and unknown:
            raise RuleError(f"{where}.params.{name}: unknown signal kind(s) {', '.join(unknown)}")
        return tuple(value)
    if not isinstance(value, str) or not value:
        raise RuleError(f"{where}.params.{name}: text, not {value!r}")
    if name == "baseline" and value not in BASELINES:
        raise RuleError(f"{where}.params.baseline: one of {', '.join(BASELINES)}, not {value!r}")
    return value


def rule_from_dict(row: Mapping[str, object], where: str) -> Rule:
    code = _text(row, "code", where)
    try:
        kind = RuleKind(_text(row, "kind", where))
    except ValueError:
        raise RuleError(f"{where}.kind: one of {', '.join(k.value for k in RuleKind)}") from None
    try:
        severity = Severity(_text(row, "severity", where))
    except ValueError:
        raise RuleError(f"{where}.severity: one of {', '.join(s.value for s in Severity)}") from None
    effective = row.get("effective")
    if isinstance(effective, str):
        try:
            effective = date.fromisoformat(effective)
        except ValueError:
            raise RuleError(f"{where}.effective: {effective!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(effective, date):
        raise RuleError(f"{where}.effective: required date")
    raw = row.get("params", {})
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}.params: a table")
    expected = PARAMS[kind]
    extra = sorted(set(raw) - set(expected))
    if extra:
        raise RuleError(f"{where}.params: {kind.value} takes no {', '.join(extra)}")
    missing = sorted(set(expected) - set(raw))
    if missing:
        raise RuleError(f"{where}.params: {kind.value} needs {', '.join(missing)}")
    params = tuple((n, _param(kind, n, expected[n], raw[n], where)) for n in expected)
    enabled = row.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{where}.enabled: true or false")
    return Rule(
        code=code,
        kind=kind,
        severity=severity,
        owner_role=_text(row, "owner_role", where),
        effective=effective,
        params=params,
        title_zh=_text(row, "title_zh", where),
        title_en=_text(row, "title_en", where),
        enabled=enabled,
    )


def ruleset_from_dict(data: Mapping[str, object]) -> RuleSet:
    """A rules file as read by tomllib: `name` and a list of `[[rules]]`."""
    rows = data.get("rules")
    if not isinstance(rows, list) or not rows:
        raise RuleError("rules: at least one [[rules]] entry")
    rules: list[Rule] = []
    seen: set[tuple[str, date]] = set()
    for n, row in enumerate(rows, start=1):
        where = f"rules[{n}]"
        if not isinstance(row, Mapping):
            raise RuleError(f"{where}: a table")
        rule = rule_from_dict(row, where)
        if (rule.code, rule.effective) in seen:
            raise RuleError(f"{where}: {rule.code} is listed twice for {rule.effective}")
        kinds = {r.kind for r in rules if r.code == rule.code}
        if kinds and rule.kind not in kinds:
            raise RuleError(f"{where}.kind: a later version of {rule.code} may not change its kind")
        seen.add((rule.code, rule.effective))
        rules.append(rule)
    name = data.get("name", "default")
    return RuleSet(str(name), tuple(rules))


# ---------------------------------------------------------------- the alert workflow


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ACTIONED = "actioned"
    CLOSED = "closed"


class Command(StrEnum):
    ACK = "ack"
    ACTION = "action"
    CLOSE = "close"


class ActionKind(StrEnum):
    REQUIRE_MORE_SECURITY = "require_more_security"  # 追加担保: more guarantee or collateral
    RECALL_EARLY = "recall_early"  # 提前收回: the loan falls due at once
    FREEZE_LINE = "freeze_line"  # 冻结额度: no new drawings
    CUT_LINE = "cut_line"  # 压降额度: a smaller line
    HIGH_RISK_VISITS = "high_risk_visits"  # the high-risk visit cadence while the alert is open
    OPEN_COLLECTION_CASE = "open_collection_case"  # 催收: hand the loan to collections


class Outcome(StrEnum):
    RISK_CLEARED = "risk_cleared"  # 风险解除
    MITIGATED = "mitigated"  # 风险缓释: more security, a smaller line
    ESCALATED = "escalated"  # 移交催收/诉讼
    RECALLED = "recalled"  # 已提前收回
    FALSE_ALARM = "false_alarm"  # 误报


ACTION_LABELS = {
    ActionKind.REQUIRE_MORE_SECURITY: ("追加担保", "require more guarantee or collateral"),
    ActionKind.RECALL_EARLY: ("提前收回", "recall the loan early"),
    ActionKind.FREEZE_LINE: ("冻结额度", "freeze the credit line"),
    ActionKind.CUT_LINE: ("压降额度", "cut the credit line"),
    ActionKind.HIGH_RISK_VISITS: ("高风险回访频率", "high-risk visit cadence"),
    ActionKind.OPEN_COLLECTION_CASE: ("转入催收", "open a collection case"),
}
STATUS_LABELS = {
    Status.OPEN: ("待处理", "open"),
    Status.ACKNOWLEDGED: ("已确认", "acknowledged"),
    Status.ACTIONED: ("已采取措施", "actioned"),
    Status.CLOSED: ("已关闭", "closed"),
}


class RefusalCode(StrEnum):
    UNKNOWN_ALERT = "unknown_alert"
    INVALID_TRANSITION = "invalid_transition"
    USER_REQUIRED = "user_required"
    COMMENT_REQUIRED = "comment_required"
    ACTION_REQUIRED = "action_required"
    UNKNOWN_ACTION = "unknown_action"
    OUTCOME_REQUIRED = "outcome_required"
    UNKNOWN_OUTCOME = "unknown_outcome"
    CAPABILITY_MISSING = "capability_missing"  # the action needs a workflow that is not installed
    ACTION_REFUSED = "action_refused"  # the workflow the action calls refused it
    CHANGED_MEANWHILE = "changed_meanwhile"  # someone else moved the alert first


@dataclass(frozen=True, slots=True)
class Refused:
    code: RefusalCode
    reason: str
    ok = False


@dataclass(frozen=True, slots=True)
class AlertStep:
    """One step of an alert's life, as recorded."""

    from_status: Status
    to_status: Status
    user: str
    at: datetime
    comment: str
    action: ActionKind | None = None
    outcome: Outcome | None = None
    ok = True


# command -> (statuses it may start from, status it leads to)
TRANSITIONS: Mapping[Command, tuple[frozenset[Status], Status]] = {
    Command.ACK: (frozenset({Status.OPEN}), Status.ACKNOWLEDGED),
    # further actions may follow the first one (more security, then a collection case)
    Command.ACTION: (frozenset({Status.ACKNOWLEDGED, Status.ACTIONED}), Status.ACTIONED),
    # an acknowledged alert may close without action (a false alarm, the risk cleared by itself)
    Command.CLOSE: (frozenset({Status.ACKNOWLEDGED, Status.ACTIONED}), Status.CLOSED),
}


def transition(
    current: Status,
    command: Command,
    user: str,
    comment: str,
    at: datetime,
    action: str | None = None,
    outcome: str | None = None,
) -> AlertStep | Refused:
    """The step `command` makes from `current`, or why it may not be taken."""
    assert at.tzinfo is not None, "steps are stamped with aware times"
    if not user.strip():
        return Refused(RefusalCode.USER_REQUIRED, "every step is taken by a named user (--user)")
    if not comment.strip():
        return Refused(RefusalCode.COMMENT_REQUIRED, "every step carries a comment (--comment)")
    starts, to = TRANSITIONS[command]
    if current not in starts:
        allowed = ", ".join(sorted(s.value for s in starts))
        return Refused(
            RefusalCode.INVALID_TRANSITION,
            f"cannot {command.value} an alert that is {current.value} (only from {allowed})",
        )
    kind: ActionKind | None = None
    result: Outcome | None = None
    if command is Command.ACTION:
        if not action:
            return Refused(RefusalCode.ACTION_REQUIRED, "name the action taken (--action)")
        try:
            kind = ActionKind(action)
        except ValueError:
            choices = ", ".join(a.value for a in ActionKind)
            return Refused(RefusalCode.UNKNOWN_ACTION, f"{action!r} is not an action ({choices})")
    if command is Command.CLOSE:
        if not outcome:
            return Refused(RefusalCode.OUTCOME_REQUIRED, "a closed alert carries its outcome (--outcome)")
        try:
            result = Outcome(outcome)
        except ValueError:
            choices = ", ".join(o.value for o in Outcome)
            return Refused(RefusalCode.UNKNOWN_OUTCOME, f"{outcome!r} is not an outcome ({choices})")
    return AlertStep(current, to, user.strip(), at, comment.strip(), kind, result)
