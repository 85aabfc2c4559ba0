"""Collections (催收) decisioning and guardrails: pure rules over data.

- `CollectionPolicy` is the strategy as data (TOML shipped in `daihou.workflow`): stages and their
  transitions, score and balance bands, treatments, strategy rules with champion/challenger shares,
  and the guardrail settings (what counts as a conversation, when a debtor is unreachable).
- `next_move` says where a case goes today (the reference the set-based close-of-business step
  agrees with), `decide` gives a new case its segment, arm and treatment, `arm` draws the
  champion/challenger arm from a seeded hash, `balance_assignment` spreads cases over collectors.
- `check_contact` is the one guard every contact and every dial passes: the conduct rules of
  `daihou.domain.compliance` (quiet hours, voice and dial caps, disputes, disclosure) plus the
  collection ones (contact persons only while the debtor is unreachable; no amount above a legal cap;
  no banned language in the notes).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daihou.domain import compliance
from daihou.domain.caps import CAP_PROFILES, LPR_1Y
from daihou.domain.compliance import Code, ConductRules, ContactRequest, Refused


class Stage(StrEnum):
    PRE_DUE = "pre_due"
    M1_EARLY = "m1_early"
    M2_M3_MIDDLE = "m2_m3_middle"
    M4_PLUS_LATE = "m4_plus_late"
    LEGAL = "legal"
    WRITTEN_OFF = "written_off"


class CloseReason(StrEnum):
    CURED = "cured"
    SETTLED = "settled"
    PAID_OFF = "paid_off"
    WRITTEN_OFF = "written_off"


class Worker(StrEnum):
    IN_HOUSE = "in_house"
    ROBOT = "robot"
    AGENCY = "agency"
    LEGAL = "legal"


class Party(StrEnum):
    DEBTOR = "debtor"
    GUARANTOR = "guarantor"
    CONTACT_PERSON = "contact_person"


class Outcome(StrEnum):
    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    REFUSED = "refused"  # the debtor refused to pay
    PROMISE_TO_PAY = "promise_to_pay"
    DISPUTE = "dispute"
    HARDSHIP = "hardship"
    DECEASED = "deceased"
    LOST_CONTACT = "lost_contact"
    SENT = "sent"  # an SMS or a letter went out
    VISITED = "visited"


class Arm(StrEnum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


class PromiseStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    PARTLY_KEPT = "partly_kept"
    BROKEN = "broken"


CHANNELS = ("call", "robot_call", "sms", "letter", "visit")
VOICE = compliance.VOICE_CHANNELS
ANY = "*"


# ---------------------------------------------------------------- the policy


@dataclass(frozen=True, slots=True)
class Band:
    code: str
    below: int | None  # exclusive upper limit; None for the last band


@dataclass(frozen=True, slots=True)
class Opening:
    stage: str
    dpd_at_least: int
    dpd_at_most: int | None


@dataclass(frozen=True, slots=True)
class Transition:
    from_stages: tuple[str, ...]  # ("*",) = any stage
    to_stage: str | None
    close: str | None
    dpd_at_least: int | None = None
    dpd_at_most: int | None = None
    loan_status: tuple[str, ...] = ()
    nothing_due_soon: bool | None = None
    event: str | None = None  # None: the daily pass; "promise_broken": when a promise breaks


@dataclass(frozen=True, slots=True)
class Treatment:
    code: str
    channels: tuple[str, ...]
    min_days_between: int
    worker: Worker


@dataclass(frozen=True, slots=True)
class StrategyRule:
    stage: str
    score_band: str
    balance_band: str
    product: str
    champion: str
    challenger: str
    challenger_share: Decimal

    def matches(self, stage: str, score_band: str, balance_band: str, product: str) -> bool:
        pairs = (
            (self.stage, stage),
            (self.score_band, score_band),
            (self.balance_band, balance_band),
            (self.product, product),
        )
        return all(want in (ANY, got) for want, got in pairs)


@dataclass(frozen=True, slots=True)
class Guardrails:
    conversation_outcomes: frozenset[str]
    unreachable_window_days: int
    unreachable_min_attempts: int
    pause_while_promise_pending: bool


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    name: str
    effective: date
    seed: int
    pre_due_days_ahead: int
    pre_due_pd_ppm_at_least: int
    score_models: tuple[str, ...]
    score_bands: tuple[Band, ...]
    balance_bands: tuple[Band, ...]
    stage_prior_pay_ppm: Mapping[str, int]
    openings: tuple[Opening, ...]
    transitions: tuple[Transition, ...]
    treatments: Mapping[str, Treatment]
    rules: tuple[StrategyRule, ...]
    guardrails: Guardrails

    def treatment(self, code: str) -> Treatment:
        return self.treatments[code]


def _band_list(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[Band, ...]:
    return tuple(Band(str(r["code"]), int(r[key]) if key in r else None) for r in rows)


def policy_from_dict(data: Mapping[str, Any]) -> CollectionPolicy:
    """Parse and check a strategy (the TOML form); raises ValueError naming every problem."""
    try:
        policy = _parse(data)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"invalid collection strategy: {exc!r}") from exc
    if problems := policy_problems(policy):
        raise ValueError("invalid collection strategy: " + "; ".join(problems))
    return policy


def _parse(data: Mapping[str, Any]) -> CollectionPolicy:
    g = data["guardrails"]
    return CollectionPolicy(
        name=str(data["name"]),
        effective=date.fromisoformat(str(data["effective"])),
        seed=int(data["seed"]),
        pre_due_days_ahead=int(data["pre_due"]["days_ahead"]),
        pre_due_pd_ppm_at_least=int(data["pre_due"]["pd_ppm_at_least"]),
        score_models=tuple(str(m) for m in data["scores"]["models"]),
        score_bands=_band_list(data["scores"]["bands"], "below_pd_ppm"),
        balance_bands=_band_list(data["balance_bands"], "below_fen"),
        stage_prior_pay_ppm={str(k): int(v) for k, v in data["stage_prior_pay_ppm"].items()},
        openings=tuple(
            Opening(str(o["stage"]), int(o["dpd_at_least"]), int(o["dpd_at_most"]) if "dpd_at_most" in o else None)
            for o in data["opening"]
        ),
        transitions=tuple(
            Transition(
                tuple(str(s) for s in t["from"]),
                str(t["to"]) if "to" in t else None,
                str(t["close"]) if "close" in t else None,
                int(t["dpd_at_least"]) if "dpd_at_least" in t else None,
                int(t["dpd_at_most"]) if "dpd_at_most" in t else None,
                tuple(str(s) for s in t.get("loan_status", ())),
                bool(t["nothing_due_soon"]) if "nothing_due_soon" in t else None,
                str(t["event"]) if "event" in t else None,
            )
            for t in data["transitions"]
        ),
        treatments={
            code: Treatment(code, tuple(str(c) for c in t["channels"]), int(t["min_days_between"]), Worker(t["worker"]))
            for code, t in data["treatments"].items()
        },
        rules=tuple(
            StrategyRule(
                str(r.get("stage", ANY)),
                str(r.get("score_band", ANY)),
                str(r.get("balance_band", ANY)),
                str(r.get("product", ANY)),
                str(r["champion"]),
                str(r["challenger"]),
                Decimal(str(r["challenger_share"])),
            )
            for r in data["rules"]
        ),
        guardrails=Guardrails(
            frozenset(str(o) for o in g["conversation_outcomes"]),
            int(g["unreachable_window_days"]),
            int(g["unreachable_min_attempts"]),
            bool(g.get("pause_while_promise_pending", True)),
        ),
    )


def policy_problems(p: CollectionPolicy) -> list[str]:
    """Everything wrong with a strategy, each named; empty when it may be used."""
    stages = {s.value for s in Stage}
    closes = {c.value for c in CloseReason}
    problems = []
    for n, t in enumerate(p.transitions, 1):
        for s in (*t.from_stages, t.to_stage):
            if s is not None and s != ANY and s not in stages:
                problems.append(f"transitions[{n}]: unknown stage {s!r}")
        if t.close is not None and t.close not in closes:
            problems.append(f"transitions[{n}]: unknown close reason {t.close!r}")
        if t.to_stage is None and t.close is None:
            problems.append(f"transitions[{n}]: neither `to` nor `close`")
    for o in p.openings:
        if o.stage not in stages:
            problems.append(f"opening: unknown stage {o.stage!r}")
    for n, r in enumerate(p.rules, 1):
        for code in (r.champion, r.challenger):
            if code not in p.treatments:
                problems.append(f"rules[{n}]: unknown treatment {code!r}")
        if not Decimal(0) <= r.challenger_share <= Decimal(1):
            problems.append(f"rules[{n}]: challenger_share {r.challenger_share} not within 0–1")
    for stage in stages:
        if not any(r.matches(stage, "x", "x", "x") or r.stage == stage for r in p.rules):
            problems.append(f"rules: no rule for stage {stage!r}")
        if stage not in p.stage_prior_pay_ppm:
            problems.append(f"stage_prior_pay_ppm: missing {stage!r}")
    for tr in p.treatments.values():
        if bad := [c for c in tr.channels if c not in CHANNELS]:
            problems.append(f"treatments.{tr.code}: unknown channels {bad}")
    for name, bands in (("scores.bands", p.score_bands), ("balance_bands", p.balance_bands)):
        limits = [b.below for b in bands]
        if not bands or limits[-1] is not None or None in limits[:-1]:
            problems.append(f"{name}: every band but the last needs a limit, and the last none")
        elif limits[:-1] != sorted(limits[:-1]):  # type: ignore[type-var]
            problems.append(f"{name}: limits must rise")
    return problems


# ---------------------------------------------------------------- decisioning


UNSCORED = "unscored"


def band(value: int | None, bands: Sequence[Band]) -> str:
    """The band `value` falls in (the first whose limit it is below); "unscored" for no value."""
    if value is None:
        return UNSCORED
    for b in bands:
        if b.below is None or value < b.below:
            return b.code
    raise AssertionError("the last band has no limit")


def opening_stage(policy: CollectionPolicy, dpd: int) -> str | None:
    for o in policy.openings:
        if dpd >= o.dpd_at_least and (o.dpd_at_most is None or dpd <= o.dpd_at_most):
            return o.stage
    return None


def segment(stage: str, score_band: str, balance_band: str, product: str) -> str:
    return f"{stage}|{score_band}|{balance_band}|{product}"


def draw(seed: int, case_id: int) -> Decimal:
    """A uniform number in [0, 1) from sha256(seed, case id): random across cases, fixed per case."""
    digest = hashlib.sha256(f"{seed}:{case_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2**64)


def arm(seed: int, case_id: int, challenger_share: Decimal) -> Arm:
    return Arm.CHALLENGER if draw(seed, case_id) < challenger_share else Arm.CHAMPION


@dataclass(frozen=True, slots=True)
class Decision:
    segment: str
    arm: Arm
    treatment: Treatment


def decide(
    policy: CollectionPolicy, case_id: int, stage: str, score_band: str, balance_band: str, product: str
) -> Decision:
    """The segment of a case, its arm (drawn once, at opening) and the treatment it gets."""
    rule = next(r for r in policy.rules if r.matches(stage, score_band, balance_band, product))
    chosen = arm(policy.seed, case_id, rule.challenger_share)
    code = rule.challenger if chosen is Arm.CHALLENGER else rule.champion
    return Decision(segment(stage, score_band, balance_band, product), chosen, policy.treatment(code))


def treatment_for(
    policy: CollectionPolicy, arm_: Arm, stage: str, score_band: str, balance_band: str, product: str
) -> Treatment:
    """The treatment an arm gets in a stage (a moved case keeps its arm)."""
    rule = next(r for r in policy.rules if r.matches(stage, score_band, balance_band, product))
    return policy.treatment(rule.challenger if arm_ is Arm.CHALLENGER else rule.champion)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    stage: str
    dpd: int
    loan_status: str
    nothing_due_soon: bool


@dataclass(frozen=True, slots=True)
class Move:
    to_stage: str | None
    close: str | None


def transition_matches(t: Transition, f: CaseFacts, event: str | None) -> bool:
    return (
        t.event == event
        and (ANY in t.from_stages or f.stage in t.from_stages)
        and (t.dpd_at_least is None or f.dpd >= t.dpd_at_least)
        and (t.dpd_at_most is None or f.dpd <= t.dpd_at_most)
        and (not t.loan_status or f.loan_status in t.loan_status)
        and (t.nothing_due_soon is None or f.nothing_due_soon == t.nothing_due_soon)
    )


def next_move(policy: CollectionPolicy, facts: CaseFacts, event: str | None = None) -> Move | None:
    """Where the case goes today (the first matching transition), or None when it stays."""
    for t in policy.transitions:
        if transition_matches(t, facts, event):
            return Move(t.to_stage, t.close)
    return None


def pay_ppm(policy: CollectionPolicy, stage: str, pd_ppm: int | None) -> int:
    """Probability of payment: 1 − pd when scored, else the stage's prior."""
    return 1_000_000 - pd_ppm if pd_ppm is not None else policy.stage_prior_pay_ppm[stage]


def expected_fen(amount_fen: int, pay: int) -> int:
    """Expected value of working a case: amount × probability of payment, floor to the fen."""
    return amount_fen * pay // 1_000_000


# ---------------------------------------------------------------- assignment


@dataclass(frozen=True, slots=True)
class Collector:
    code: str
    team: str
    stages: frozenset[str]
    cases: int  # open cases held now
    balance_fen: int  # their balance


@dataclass(frozen=True, slots=True)
class Unassigned:
    case_id: int
    stage: str
    balance_fen: int


def balance_assignment(cases: Iterable[Unassigned], collectors: Sequence[Collector]) -> dict[int, str]:
    """Each case to a collector skilled for its stage, the biggest balances first, each to whoever
    carries the least load, load = share of the team's cases + share of its balance (so both the
    count and the money stay even). Cases no one is skilled for are left out."""
    if not collectors:
        return {}
    pending = sorted(cases, key=lambda c: (-c.balance_fen, c.case_id))
    total_n = sum(c.cases for c in collectors) + len(pending) or 1
    total_b = sum(c.balance_fen for c in collectors) + sum(c.balance_fen for c in pending) or 1
    load = {c.code: [c.cases, c.balance_fen] for c in collectors}
    heaps: dict[str, list[tuple[Decimal, str]]] = {}
    for stage in {c.stage for c in pending}:
        heaps[stage] = [(_load(load[c.code], total_n, total_b), c.code) for c in collectors if stage in c.stages]
        heapq.heapify(heaps[stage])
    out: dict[int, str] = {}
    for case in pending:
        heap = heaps[case.stage]
        if not heap:
            continue
        while True:  # a collector's load may have grown through another stage's heap: refresh it
            key, code = heapq.heappop(heap)
            fresh = _load(load[code], total_n, total_b)
            if fresh == key:
                break
            heapq.heappush(heap, (fresh, code))
        out[case.case_id] = code
        load[code][0] += 1
        load[code][1] += case.balance_fen
        heapq.heappush(heap, (_load(load[code], total_n, total_b), code))
    return out


def _load(held: list[int], total_n: int, total_b: int) -> Decimal:
    return Decimal(held[0]) / total_n + Decimal(held[1]) / total_b


# ---------------------------------------------------------------- data scope


class Principal(StrEnum):
    COLLECTOR = "collector"
    TEAM_LEAD = "team_lead"
    AGENCY = "agency"
    SUPERVISOR = "supervisor"  # risk, compliance, auditor: every case
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ScopeFilter:
    """Which cases a principal sees: `column` = `value`, every case (`all_`), or none."""

    column: str | None
    value: str | int | None
    all_: bool = False


def scope(principal_kind: str, principal_id: str, team_of_lead: str | None = None) -> ScopeFilter:
    kind = principal_kind if principal_kind in {p.value for p in Principal} else Principal.OTHER
    if kind == Principal.COLLECTOR:
        return ScopeFilter("collector", principal_id)
    if kind == Principal.TEAM_LEAD:
        return ScopeFilter("team", team_of_lead) if team_of_lead else ScopeFilter(None, None)
    if kind == Principal.AGENCY:
        return (
            ScopeFilter("placement_agency_id", int(principal_id)) if principal_id.isdigit() else ScopeFilter(None, None)
        )
    if kind == Principal.SUPERVISOR:
        return ScopeFilter(None, None, all_=True)
    return ScopeFilter(None, None)


# ---------------------------------------------------------------- promises


def plan_paid(amounts: Sequence[int], paid_total: int) -> list[int]:
    """What of `paid_total` each promise of a plan received, the earliest first."""
    out = []
    left = max(paid_total, 0)
    for amount in amounts:
        part = min(amount, left)
        out.append(part)
        left -= part
    return out


def promise_status(amount_fen: int, paid_fen: int, due_on: date, day: date) -> PromiseStatus:
    """Kept once paid in full (even early); after the due date, partly kept or broken."""
    if paid_fen >= amount_fen:
        return PromiseStatus.KEPT
    if day <= due_on:
        return PromiseStatus.PENDING
    return PromiseStatus.PARTLY_KEPT if paid_fen > 0 else PromiseStatus.BROKEN


# ---------------------------------------------------------------- legal caps


def interest_ceiling_ppm(profile_name: str, disbursed_on: date) -> int | None:
    """The highest annual rate (ppm) a loan under the cap profile may collect interest at, or None."""
    profile = CAP_PROFILES.get(profile_name)
    if profile is None or profile.lpr_multiple is None:
        return None
    rate = LPR_1Y[0][1]
    for effective, value in LPR_1Y:
        if effective <= disbursed_on:
            rate = value
    return int(rate * profile.lpr_multiple * 1_000_000)


def collectable_fen(balance_fen: int, interest_fen: int, rate_ppm: int, ceiling_ppm: int | None) -> int:
    """The balance less the interest above the legal ceiling (it may not be dunned)."""
    if ceiling_ppm is None or rate_ppm <= ceiling_ppm or rate_ppm == 0:
        return balance_fen
    return balance_fen - interest_fen * (rate_ppm - ceiling_ppm) // rate_ppm


# ---------------------------------------------------------------- the guard


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """What is known about a debtor's day and recent history when a contact is attempted."""

    disputed: bool
    connected_today: int  # connected voice conversations with the debtor this local day
    dials_today: int  # voice dials to this number this local day
    debtor_attempts: int  # voice attempts to the debtor in the unreachable window
    debtor_connected: int  # of which connected
    collectable_fen: int


@dataclass(frozen=True, slots=True)
class Attempt:
    channel: str
    party: str
    at: datetime  # aware
    outcome: str | None = None  # None when queuing a dial (the outcome is not known yet)
    notes: str = ""
    amount_demanded_fen: int | None = None
    discloses_debt: bool = False  # to a contact person: never allowed


def debtor_unreachable(policy: CollectionPolicy, attempts: int, connected: int) -> bool:
    return attempts >= policy.guardrails.unreachable_min_attempts and connected == 0


def check_contact(
    policy: CollectionPolicy, attempt: Attempt, facts: ContactFacts, rules: ConductRules = compliance.DEFAULT_CONDUCT
) -> Refused | None:
    """Why this contact may not be made (or logged) now; None when it may.

    Voice caps: a voice contact to the debtor is refused once the debtor had the day's maximum of
    connected conversations, and any voice dial once the number had the day's maximum of dials.
    """
    to_contact = attempt.party == Party.CONTACT_PERSON
    if to_contact and not debtor_unreachable(policy, facts.debtor_attempts, facts.debtor_connected):
        g = policy.guardrails
        return Refused(
            Code.DEBTOR_REACHABLE,
            f"a contact person may be contacted only when the debtor is unreachable (no connected contact in "
            f"{g.unreachable_window_days} days after ≥{g.unreachable_min_attempts} attempts) "
            f"({compliance.SOURCE_DESIGN})",
        )
    today: dict[Code, int] = {}
    if attempt.channel in VOICE:
        today[Code.DIAL_CAP_REACHED] = facts.dials_today
        if attempt.party == Party.DEBTOR:
            today[Code.VOICE_CAP_REACHED] = facts.connected_today
    verdict = compliance.check(
        ContactRequest(
            attempt.channel,
            attempt.at,
            to_contact_person=to_contact,
            discloses_debt=to_contact and attempt.discloses_debt,
            disputed=facts.disputed and attempt.party == Party.DEBTOR,
            today=today,
        ),
        rules,
    )
    if isinstance(verdict, Refused):
        return verdict
    if attempt.amount_demanded_fen is not None and attempt.amount_demanded_fen > facts.collectable_fen:
        return Refused(
            Code.AMOUNT_ABOVE_CAP,
            f"{attempt.amount_demanded_fen} fen demanded but only {facts.collectable_fen} fen is collectable "
            f"under the legal cap (DESIGN.md §5)",
        )
    if found := compliance.banned_phrases_in(attempt.notes):
        listed = ", ".join(f"{p.text} ({p.category.value})" for p in found)
        return Refused(Code.BANNED_LANGUAGE, f"banned language in the notes: {listed}")
    return None
