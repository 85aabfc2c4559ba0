"""Follow-up visits (贷款回访) as data: when a loan is visited, how, and what the officer must ask.

A `VisitPolicy` (shipped as `daihou/workflow/visit_policy.toml`, versioned by name and effective
date) says:

- the first visit falls within `first_within_days` of disbursement (funds received, purpose);
- later visits follow a cadence by phase of the loan's life (every 90 days in year one, every 180
  days once stable), counted in days so that every engine computes the same dates;
- a high-risk loan (classification not `normal`, DPD above `high_risk_dpd_over`, or an active
  cadence override such as an open early warning) is visited every `high_risk_every_days`;
- a periodic date is aligned to the repayment plan: it moves back to `align_days_before_due` days
  before the latest due date that falls inside the interval (never later than the cadence allows);
- business loans (a product code or a purpose word) are visited on site with financial statements.

`next_plan` is the readable per-loan reference; the store computes the same dates set-based in SQL
and a test compares the two. Record checks return `Problem`s naming the field, never raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

LOCALES = ("zh-CN", "en")


class VisitType(StrEnum):
    PHONE = "phone"
    ON_SITE = "on_site"
    VIDEO = "video"


class PlanKind(StrEnum):
    FIRST = "first"  # 首次回访: funds received, purpose
    PERIODIC = "periodic"
    HIGH_RISK = "high_risk"  # tightened cadence
    BUSINESS_ONSITE = "business_onsite"  # on site, with financial statements


class PlanStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    STATEMENT = "statement"  # financial statements (财务报表)
    SIGNED_CONFIRMATION = "signed_confirmation"  # the borrower's signed visit confirmation
    OTHER = "other"


class QuestionKind(StrEnum):
    CHOICE = "choice"  # one of `choices`
    YES_NO = "yes_no"  # true / false
    TEXT = "text"  # free text up to MAX_TEXT characters
    AMOUNT = "amount"  # a non-negative integer of fen


MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Phase:
    from_age_days: int  # loan age (days since disbursement, at the last visit) where the phase begins
    every_days: int


@dataclass(frozen=True, slots=True)
class Question:
    code: str
    kind: QuestionKind
    labels: tuple[tuple[str, str], ...]  # (locale, label)
    choices: tuple[str, ...] = ()
    choice_labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # choice -> (locale, label)
    required: bool = True
    applies_to: frozenset[PlanKind] = frozenset()  # empty: every visit
    flags: tuple[tuple[str | bool, str], ...] = ()  # (answer, risk flag it raises): "diverted" -> "fund_misuse"

    def label(self, locale: str) -> str:
        return dict(self.labels).get(locale) or dict(self.labels).get("en", self.code)

    def asked(self, kind: PlanKind) -> bool:
        return not self.applies_to or kind in self.applies_to


@dataclass(frozen=True, slots=True)
class Flag:
    code: str  # fund_misuse, business_decline, …
    labels: tuple[tuple[str, str], ...]

    def label(self, locale: str) -> str:
        return dict(self.labels).get(locale) or dict(self.labels).get("en", self.code)


FUND_MISUSE = "fund_misuse"


@dataclass(frozen=True, slots=True)
class VisitPolicy:
    name: str
    effective: date
    first_within_days: int
    phases: tuple[Phase, ...]  # ascending by from_age_days, the first from 0
    high_risk_every_days: int
    align_days_before_due: int
    high_risk_dpd_over: int  # DPD above this is high risk (0: any overdue day)
    normal_classes: tuple[str, ...]  # classifications that are not high risk by themselves
    business_products: tuple[str, ...]
    business_purpose_words: tuple[str, ...]  # a purpose containing one of them is a business loan
    min_officers: int
    questions: tuple[Question, ...]
    flags: tuple[Flag, ...]

    @property
    def version(self) -> str:
        """Stamped on every plan: which policy decided its date."""
        return f"{self.name}@{self.effective.isoformat()}"

    def every_days(self, age_days: int) -> int:
        """The periodic cadence for a loan `age_days` old at its last visit."""
        current = self.phases[0].every_days
        for phase in self.phases:
            if age_days >= phase.from_age_days:
                current = phase.every_days
        return current

    def question(self, code: str) -> Question:
        for q in self.questions:
            if q.code == code:
                return q
        raise KeyError(code)

    @property
    def flag_codes(self) -> frozenset[str]:
        return frozenset(f.code for f in self.flags)


# ---------------------------------------------------------------- which loans, which cadence


def is_business(policy: VisitPolicy, product_code: str, purpose: str | None) -> bool:
    text = (purpose or "").lower()
    return product_code in policy.business_products or any(w.lower() in text for w in policy.business_purpose_words)


def is_high_risk(policy: VisitPolicy, classification: str, dpd: int, override_active: bool) -> bool:
    return override_active or dpd > policy.high_risk_dpd_over or classification not in policy.normal_classes


@dataclass(frozen=True, slots=True)
class LoanFacts:
    """What planning needs to know about one loan."""

    disbursed_on: date
    last_visit_on: date | None  # the latest recorded visit
    due_dates: tuple[date, ...]  # of the current schedule
    business: bool
    high_risk: bool


@dataclass(frozen=True, slots=True)
class Plan:
    due_on: date
    kind: PlanKind


def plan_kind(facts: LoanFacts) -> PlanKind:
    if facts.last_visit_on is None:
        return PlanKind.FIRST
    if facts.high_risk:
        return PlanKind.HIGH_RISK
    return PlanKind.BUSINESS_ONSITE if facts.business else PlanKind.PERIODIC


def cadence_days(policy: VisitPolicy, facts: LoanFacts) -> int:
    assert facts.last_visit_on is not None
    if facts.high_risk:
        return policy.high_risk_every_days
    return policy.every_days((facts.last_visit_on - facts.disbursed_on).days)


def aligned(policy: VisitPolicy, anchor: date, latest: date, due_dates: Iterable[date]) -> date:
    """`latest`, moved back to N days before the latest due date whose visit day lies in (anchor, latest]."""
    lead = timedelta(days=policy.align_days_before_due)
    candidates = [d - lead for d in due_dates if anchor < d - lead <= latest]
    return max(candidates, default=latest)


def next_plan(policy: VisitPolicy, facts: LoanFacts, day: date) -> Plan:
    """The next visit for a loan planned on business date `day` (never before `day`)."""
    kind = plan_kind(facts)
    if facts.last_visit_on is None:
        due = facts.disbursed_on + timedelta(days=policy.first_within_days)
    else:
        anchor = facts.last_visit_on
        due = aligned(policy, anchor, anchor + timedelta(days=cadence_days(policy, facts)), facts.due_dates)
    return Plan(max(due, day), kind)


def needs_tightening(policy: VisitPolicy, plan: Plan, facts: LoanFacts, day: date) -> bool:
    """An open plan of a loan that turned high risk is replanned when it lies later than monthly allows."""
    if not facts.high_risk or plan.kind in (PlanKind.HIGH_RISK, PlanKind.FIRST):
        return False
    anchor = facts.last_visit_on or facts.disbursed_on
    return plan.due_on > max(anchor + timedelta(days=policy.high_risk_every_days), day)


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Problem:
    code: str  # missing_officer, future_date, on_site_required, statement_required, answer_missing, …
    field: str  # the input field at fault: "officers", "answers.fund_usage", "attachments"
    message: str


@dataclass(frozen=True, slots=True)
class VisitInput:
    visit_type: str
    visited_on: date
    officers: tuple[str, ...]
    answers: Mapping[str, Any]
    flags: tuple[str, ...] = ()
    attachment_kinds: tuple[str, ...] = ()
    findings: str = ""
    follow_up: str = ""


def check_answers(policy: VisitPolicy, kind: PlanKind, answers: Mapping[str, Any]) -> tuple[Problem, ...]:
    """Every question asked at a visit of `kind` answered, every answer of the right form."""
    problems: list[Problem] = []
    asked = {q.code: q for q in policy.questions if q.asked(kind)}
    for code in answers:
        if code not in asked:
            problems.append(Problem("unknown_answer", f"answers.{code}", f"no question {code!r} at a {kind} visit"))
    for q in asked.values():
        field = f"answers.{q.code}"
        if q.code not in answers or answers[q.code] is None or answers[q.code] == "":
            if q.required:
                problems.append(Problem("answer_missing", field, f"{q.code} ({q.label('zh-CN')}) must be answered"))
            continue
        if problem := _answer_problem(q, answers[q.code], field):
            problems.append(problem)
    return tuple(problems)


def _answer_problem(q: Question, value: Any, field: str) -> Problem | None:
    if q.kind is QuestionKind.CHOICE and value not in q.choices:
        return Problem("answer_invalid", field, f"{value!r} is not one of {', '.join(q.choices)}")
    if q.kind is QuestionKind.YES_NO and not isinstance(value, bool):
        return Problem("answer_invalid", field, f"{value!r} is not true or false")
    if q.kind is QuestionKind.TEXT and (not isinstance(value, str) or len(value) > MAX_TEXT):
        return Problem("answer_invalid", field, f"must be text of at most {MAX_TEXT} characters")
    if q.kind is QuestionKind.AMOUNT and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        return Problem("answer_invalid", field, f"{value!r} is not a non-negative amount in fen")
    return None


def derived_flags(policy: VisitPolicy, answers: Mapping[str, Any]) -> tuple[str, ...]:
    """Risk flags the answers raise by themselves (a diverted fund usage is fund misuse)."""
    out: list[str] = []
    for q in policy.questions:
        for answer, flag in q.flags:
            if answers.get(q.code) == answer and flag not in out:
                out.append(flag)
    return tuple(out)


def all_flags(policy: VisitPolicy, given: Iterable[str], answers: Mapping[str, Any]) -> tuple[str, ...]:
    out = list(dict.fromkeys(given))
    out += [f for f in derived_flags(policy, answers) if f not in out]
    return tuple(out)


def check_record(
    policy: VisitPolicy,
    visit: VisitInput,
    *,
    kind: PlanKind,
    business: bool,
    disbursed_on: date,
    today: date,
) -> tuple[Problem, ...]:
    """What is wrong with a visit record (empty when it may be stored)."""
    problems: list[Problem] = []
    types = {t.value for t in VisitType}
    if visit.visit_type not in types:
        problems.append(Problem("unknown_visit_type", "visit_type", f"{visit.visit_type!r}: use {', '.join(types)}"))
    officers = [o for o in (x.strip() for x in visit.officers) if o]
    if len(officers) < max(1, policy.min_officers):
        problems.append(
            Problem("missing_officer", "officers", f"at least {max(1, policy.min_officers)} officer(s) must be named")
        )
    if any("," in o for o in officers):
        problems.append(Problem("invalid_officer", "officers", "an officer's name may not contain a comma"))
    if visit.visited_on > today:
        problems.append(Problem("future_date", "visited_on", f"{visit.visited_on} is after today ({today})"))
    if visit.visited_on < disbursed_on:
        problems.append(
            Problem("before_disbursement", "visited_on", f"{visit.visited_on} is before disbursement {disbursed_on}")
        )
    kinds = {k.value for k in AttachmentKind}
    for n, a in enumerate(visit.attachment_kinds):
        if a not in kinds:
            problems.append(Problem("unknown_attachment_kind", f"attachments[{n}].kind", f"{a!r}: use {sorted(kinds)}"))
    if kind is PlanKind.BUSINESS_ONSITE and visit.visit_type != VisitType.ON_SITE:
        problems.append(
            Problem("on_site_required", "visit_type", "a business loan's periodic visit must be made on site")
        )
    if business and visit.visit_type == VisitType.ON_SITE and AttachmentKind.STATEMENT not in visit.attachment_kinds:
        problems.append(
            Problem("statement_required", "attachments", "an on-site visit of a business loan needs a statement file")
        )
    for n, flag in enumerate(visit.flags):
        if flag not in policy.flag_codes:
            problems.append(
                Problem("unknown_flag", f"flags[{n}]", f"{flag!r}: use {', '.join(sorted(policy.flag_codes))}")
            )
    problems += check_answers(policy, kind, visit.answers)
    return tuple(problems)


# ---------------------------------------------------------------- the TOML form


def _labels(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((loc, str(data[loc])) for loc in LOCALES if loc in data)


def policy_from_dict(data: Mapping[str, Any]) -> VisitPolicy:
    """Parse and check a visit policy (the TOML form); raises ValueError naming every problem."""
    try:
        policy = _parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid visit policy: {exc!r}") from exc
    if problems := policy_problems(policy):
        raise ValueError("invalid visit policy: " + "; ".join(problems))
    return policy


def _answer_key(kind: str, key: str) -> str | bool:
    """TOML keys are strings: a yes/no question's flag keys "true"/"false" stand for the booleans."""
    if kind == QuestionKind.YES_NO:
        if key not in ("true", "false"):
            raise ValueError(f"a yes_no flag key must be true or false, not {key!r}")
        return key == "true"
    return str(key)


def _parse(data: Mapping[str, Any]) -> VisitPolicy:
    cadence = data["cadence"]
    business = data.get("business", {})
    questions = tuple(
        Question(
            str(q["code"]),
            QuestionKind(q["kind"]),
            _labels(q["label"]),
            tuple(str(c) for c in q.get("choices", ())),
            tuple((c, _labels(v)) for c, v in q.get("choice_labels", {}).items()),
            bool(q.get("required", True)),
            frozenset(PlanKind(k) for k in q.get("applies_to", ())),
            tuple((_answer_key(q["kind"], a), str(f)) for a, f in q.get("flags", {}).items()),
        )
        for q in data["questions"]
    )
    flags = tuple(Flag(code, _labels(labels)) for code, labels in data["flags"].items())
    return VisitPolicy(
        name=str(data["name"]),
        effective=date.fromisoformat(str(data["effective"])),
        first_within_days=int(cadence["first_within_days"]),
        phases=tuple(
            sorted(
                (Phase(int(p["from_age_days"]), int(p["every_days"])) for p in cadence["phases"]),
                key=lambda p: p.from_age_days,
            )
        ),
        high_risk_every_days=int(cadence["high_risk_every_days"]),
        align_days_before_due=int(cadence.get("align_days_before_due", 0)),
        high_risk_dpd_over=int(cadence.get("high_risk_dpd_over", 0)),
        normal_classes=tuple(cadence.get("normal_classes", ("normal",))),
        business_products=tuple(business.get("products", ())),
        business_purpose_words=tuple(business.get("purpose_words", ())),
        min_officers=int(data.get("min_officers", 1)),
        questions=questions,
        flags=flags,
    )


def policy_problems(policy: VisitPolicy) -> list[str]:
    problems: list[str] = []
    if policy.first_within_days < 1:
        problems.append("cadence.first_within_days must be at least 1")
    if not policy.phases or policy.phases[0].from_age_days != 0:
        problems.append("cadence.phases must start with a phase from_age_days = 0")
    if any(p.every_days < 1 for p in policy.phases) or policy.high_risk_every_days < 1:
        problems.append("every cadence must be at least one day")
    if policy.phases and policy.high_risk_every_days > min(p.every_days for p in policy.phases):
        problems.append("cadence.high_risk_every_days must be no longer than any phase's cadence")
    if policy.high_risk_dpd_over < 0 or "normal" not in policy.normal_classes:
        problems.append("cadence: high_risk_dpd_over must be at least 0 and normal_classes must include normal")
    if not 0 <= policy.align_days_before_due < policy.high_risk_every_days:
        problems.append("cadence.align_days_before_due must lie in [0, high_risk_every_days)")
    codes = [q.code for q in policy.questions]
    if len(set(codes)) != len(codes):
        problems.append("question codes must be unique")
    for q in policy.questions:
        if set(LOCALES) - {loc for loc, _ in q.labels}:
            problems.append(f"question {q.code} needs a label in {' and '.join(LOCALES)}")
        if q.kind is QuestionKind.CHOICE and not q.choices:
            problems.append(f"question {q.code} has no choices")
        for answer, flag in q.flags:
            if answer not in q.choices and q.kind is QuestionKind.CHOICE:
                problems.append(f"question {q.code}: flag answer {answer!r} is not a choice")
            if flag not in policy.flag_codes:
                problems.append(f"question {q.code}: flag {flag!r} is not in [flags]")
    if FUND_MISUSE not in policy.flag_codes:
        problems.append(f"[flags] must define {FUND_MISUSE}")
    return problems
