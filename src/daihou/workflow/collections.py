"""Collections (催收) use cases: cases, the daily upkeep, guarded contacts, promises, work lists.

- `open_case(app, loan_id, reason, day, user)` opens a case by hand (or for another workflow) and is
  idempotent: a loan's open case is returned when it has one.
- `daily_upkeep(app, day)` is the close-of-business step: figures, promises, transitions, new cases,
  decisions, assignment and tomorrow's work lists, each set-based over all cases.
- `on_payment(app, loan_ids, day, kind)` reacts at once to a payment or a reversal: figures,
  promises kept, cases paid off or cured.
- `log_contact` and `make_promise` are where actions are created: every guardrail is checked there
  and a refusal is logged with its code (`collection_refusals`) and returned, never raised.
- `worklist`, `export_dialer` and `import_call_results` serve the collectors and the dialer.

The strategy is data (`collection_strategy.toml`); `DAIHOU_COLLECTION_STRATEGY` names another file.
"""

from __future__ import annotations

import csv
import io
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daihou.domain import collections as dc
from daihou.domain import compliance
from daihou.domain.compliance import Code, ConductRules, Refused, Scope

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from daihou.bootstrap import App

SYSTEM = "system"


@lru_cache(maxsize=8)
def _load(path: str | None) -> dc.CollectionPolicy:
    if path is None:
        text = resources.files("daihou.workflow").joinpath("collection_strategy.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return dc.policy_from_dict(tomllib.loads(text))


def load_policy(path: Path | None = None) -> dc.CollectionPolicy:
    """The strategy in `path`, or in $DAIHOU_COLLECTION_STRATEGY, or the default shipped with daihou."""
    chosen = path or os.environ.get("DAIHOU_COLLECTION_STRATEGY")
    return _load(str(chosen) if chosen else None)


def dial_cap(rules: ConductRules = compliance.DEFAULT_CONDUCT) -> int:
    return min((c.limit for c in rules.caps if c.scope is Scope.PHONE), default=10**6)


# ---------------------------------------------------------------- rejections


@dataclass(frozen=True, slots=True)
class Rejected:
    """A request that is not a conduct question: unknown case, closed case, bad input."""

    code: str  # case_not_found, case_not_open, bad_amount, bad_date, unknown_collector, …
    reason: str
    ok = False


@dataclass(frozen=True, slots=True)
class Logged:
    contact_id: int
    ok = True


# ---------------------------------------------------------------- cases


def _decide_and_write(conn: Connection, policy: dc.CollectionPolicy, case_ids: Sequence[int]) -> None:
    from daihou.storage import collection_store as st

    rows = []
    for c in st.to_decide(conn, case_ids):
        if c.arm is None:  # a new case: its segment, and its arm drawn once from the seeded hash
            score_band = dc.band(c.pd_ppm, policy.score_bands)
            balance_band = dc.band(c.balance_fen, policy.balance_bands)
            decision = dc.decide(policy, c.case_id, c.stage, score_band, balance_band, c.product)
            segment, arm, treatment = decision.segment, decision.arm, decision.treatment
        else:  # a moved case keeps the segment and arm it was assigned in; the new stage's treatment
            score_band, balance_band, segment, arm = c.score_band, c.balance_band, c.segment, dc.Arm(c.arm)
            treatment = dc.treatment_for(policy, arm, c.stage, score_band, balance_band, c.product)
        rows.append(
            {
                "b_id": c.case_id,
                "b_segment": segment,
                "b_arm": arm.value,
                "b_treatment": treatment.code,
                "b_worker": treatment.worker.value,
                "b_score_band": score_band,
                "b_balance_band": balance_band,
            }
        )
    st.write_decisions(conn, rows)


def open_case(app: App, loan_id: int, reason: str, day: date, user: str) -> int:
    """Open a collection case for a loan (stage from its DPD; pre_due when current) and assign it.
    Idempotent: the loan's open case id is returned when it has one. Raises LookupError for an
    unknown loan."""
    from sqlalchemy.exc import IntegrityError

    from daihou.storage import collection_store as st

    policy, now = load_policy(), app.clock.now()
    try:
        with app.engine.begin() as conn:
            if (found := st.open_case_id(conn, loan_id)) is not None:
                return found
            new = st.open_one(conn, policy, loan_id, reason, day, now)
            if new is None:
                raise LookupError(f"no loan with id {loan_id}")
            _decide_and_write(conn, policy, [new])
            st.add_events(conn, [new], day, "opened", user, now, reason)
            st.assign_open(conn, day, SYSTEM, now)
            return new
    except IntegrityError:  # opened meanwhile by someone else: theirs is the open case
        with app.engine.connect() as conn:
            found = st.open_case_id(conn, loan_id)
        if found is None:
            raise
        return found


def close_case(app: App, case_id: int, reason: str, day: date, user: str) -> bool:
    """Close an open case (e.g. "settled" by the recovery workflow); False when it was not open."""
    from daihou.storage import collection_store as st

    if reason not in {r.value for r in dc.CloseReason}:
        raise ValueError(f"unknown close reason {reason!r}; known: {[r.value for r in dc.CloseReason]}")
    with app.engine.begin() as conn:
        return st.close_case(conn, case_id, reason, day, user, app.clock.now())


def daily_upkeep(app: App, day: date, policy: dc.CollectionPolicy | None = None) -> dict[str, int]:
    """The close-of-business step for `day` (idempotent for its day), in one transaction."""
    from daihou.storage import collection_store as st

    policy, now = policy or load_policy(), app.clock.now()
    rules = compliance.DEFAULT_CONDUCT
    with app.engine.begin() as conn:
        st.refresh_figures(conn, policy, day, now)
        broken = st.evaluate_promises(conn, day)
        moved_b, _ = st.apply_transitions(conn, policy, day, now, "promise_broken", broken)
        moved, closed = st.apply_transitions(conn, policy, day, now)
        opened = st.open_due_cases(conn, policy, day, now)
        st.add_events(conn, opened, day, "opened", SYSTEM, now, "close_of_business")
        _decide_and_write(conn, policy, sorted(set(opened) | set(moved) | set(moved_b)))
        recalled = st.recall_unskilled(conn, day, SYSTEM, now)
        assigned = st.assign_open(conn, day, SYSTEM, now)
        queued = st.build_worklist(conn, policy, rules, day + timedelta(days=1), dial_cap(rules))
    return {
        "cases_opened": len(opened),
        "cases_moved": len(set(moved) | set(moved_b)),
        "cases_closed": len(closed),
        "promises_broken": len(broken),
        "cases_recalled": len(recalled),
        "cases_assigned": assigned,
        "worklist_items": queued,
    }


MONEY_EVENTS = ("payment", "reversal", "waiver", "restructure", "write_off", "charge")


def on_payment(app: App, loan_ids: list[int], day: date, kind: str) -> None:
    """Event hook: after money moves outside the batch (a payment, a reversal, or a waiver,
    restructuring, write-off or charge from recovery), refresh the loans' cases and promises at once
    and apply the transitions — a written-off loan's case closes as written off the same day (a
    promise due today is not judged broken before the day closes)."""
    if kind not in MONEY_EVENTS or not loan_ids:
        return
    from daihou.storage import collection_store as st
    from daihou.storage.collection_tables import collection_cases

    policy, now = load_policy(), app.clock.now()
    with app.engine.begin() as conn:
        from sqlalchemy import select

        case_ids = [
            int(r[0])
            for r in conn.execute(
                select(collection_cases.c.id).where(
                    collection_cases.c.loan_id.in_(loan_ids), collection_cases.c.status == "open"
                )
            )
        ]
        if not case_ids:
            return
        st.refresh_figures(conn, policy, day, now, loan_ids)
        st.evaluate_promises(conn, day - timedelta(days=1), loan_ids)
        st.apply_transitions(conn, policy, day, now, None, case_ids)


# ---------------------------------------------------------------- assignment and scope


def add_collector(
    app: App, code: str, name: str, team: str, stages: Iterable[str], capacity: int, role: str = "collector"
) -> None:
    from daihou.storage.collection_tables import collectors

    bad = [s for s in stages if s not in {x.value for x in dc.Stage}]
    if bad:
        raise ValueError(f"unknown stages {bad}")
    with app.engine.begin() as conn:
        conn.execute(
            collectors.insert().values(
                code=code,
                name=name,
                team=team,
                role=role,
                stages=",".join(stages),
                capacity=capacity,
                active=True,
                created_at=app.clock.now(),
            )
        )


def assign(app: App, case_id: int, collector: str, day: date, user: str) -> Rejected | None:
    from daihou.storage import collection_store as st

    with app.engine.begin() as conn:
        problem = st.assign_to(conn, case_id, collector, day, user, app.clock.now())
    return Rejected(problem, f"case {case_id} cannot go to {collector}: {problem}") if problem else None


def recall(app: App, case_ids: Sequence[int], day: date, user: str) -> int:
    from daihou.storage import collection_store as st

    with app.engine.begin() as conn:
        return st.recall(conn, case_ids, day, user, app.clock.now())


def rebalance(app: App, day: date, user: str) -> int:
    """Assign every unassigned in-house case (e.g. after a recall), balanced by count and balance."""
    from daihou.storage import collection_store as st

    with app.engine.begin() as conn:
        return st.assign_open(conn, day, user, app.clock.now())


def cases_visible_to(
    app: App, principal_kind: str, principal_id: str, status: str | None = "open", limit: int | None = None
) -> list[dict[str, Any]]:
    """The cases a principal may see: a collector its own, a team lead its team's, an agency its
    placements, a supervisor (risk, compliance, audit) all; anyone else none."""
    from sqlalchemy import select

    from daihou.storage import collection_store as st
    from daihou.storage.collection_tables import collection_cases as c

    with app.engine.connect() as conn:
        team = st.team_of(conn, principal_id) if principal_kind == dc.Principal.TEAM_LEAD else None
        where = st.scope_where(conn, dc.scope(principal_kind, principal_id, team))
        q = select(c).where(where).order_by(c.c.id)
        if status:
            q = q.where(c.c.status == status)
        if limit:
            q = q.limit(limit)
        return [dict(r._mapping) for r in conn.execute(q)]


def case_detail(app: App, case_id: int) -> dict[str, Any] | None:
    from sqlalchemy import select

    from daihou.storage import tables as t
    from daihou.storage.collection_tables import case_events, collection_cases, contact_log, promises

    with app.engine.connect() as conn:
        row = conn.execute(
            select(collection_cases, t.loans.c.loan_no)
            .join(t.loans, t.loans.c.id == collection_cases.c.loan_id)
            .where(collection_cases.c.id == case_id)
        ).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out["events"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.id)
            )
        ]
        out["contacts"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(contact_log).where(contact_log.c.case_id == case_id).order_by(contact_log.c.id)
            )
        ]
        out["promises"] = [
            dict(r._mapping)
            for r in conn.execute(select(promises).where(promises.c.case_id == case_id).order_by(promises.c.id))
        ]
        return out


# ---------------------------------------------------------------- contacts (guarded)


@dataclass(frozen=True, slots=True)
class ContactInput:
    case_id: int
    channel: str
    party: str
    started_at: datetime  # aware
    outcome: str
    collector: str
    number: str | None = None  # the debtor's mobile when None and the party is the debtor
    ended_at: datetime | None = None
    notes: str = ""
    recording_ref: str | None = None
    amount_demanded_fen: int | None = None


def _input_problem(c: ContactInput) -> Rejected | None:
    if c.channel not in dc.CHANNELS:
        return Rejected("bad_channel", f"channel {c.channel!r} is not one of {list(dc.CHANNELS)}")
    if c.party not in {p.value for p in dc.Party}:
        return Rejected("bad_party", f"party {c.party!r} is not one of {[p.value for p in dc.Party]}")
    if c.outcome not in {o.value for o in dc.Outcome}:
        return Rejected("bad_outcome", f"outcome {c.outcome!r} is not one of {[o.value for o in dc.Outcome]}")
    if c.started_at.tzinfo is None:
        return Rejected("bad_time", "started_at needs a time zone")
    if c.ended_at is not None and c.ended_at < c.started_at:
        return Rejected("bad_time", "ended_at is before started_at")
    return None


def log_contact(
    app: App, contact: ContactInput, rules: ConductRules = compliance.DEFAULT_CONDUCT
) -> Logged | Refused | Rejected:
    """Record one contact, unless a guardrail forbids it: then the refusal is recorded with its code
    and returned. Checked: quiet hours, the voice cap per debtor, the dial cap per number, disputes,
    contact persons only while the debtor is unreachable, no amount above the legal cap, no banned
    language in the notes. An outcome "dispute" opens a dispute on the loan (dunning pauses)."""
    from daihou.storage import collection_store as st
    from daihou.storage import tables as t

    if problem := _input_problem(contact):
        return problem
    policy, now = load_policy(), app.clock.now()
    with app.engine.begin() as conn:
        row = st.case_row(conn, contact.case_id, lock=True)
        if row is None:
            return Rejected("case_not_found", f"no case {contact.case_id}")
        if row.status != "open":
            return Rejected("case_not_open", f"case {contact.case_id} is closed")
        number = contact.number or (row.mobile if contact.party == dc.Party.DEBTOR else None)
        facts = st.contact_facts(conn, policy, rules, row, number, contact.started_at)
        attempt = dc.Attempt(
            contact.channel,
            contact.party,
            contact.started_at,
            contact.outcome,
            contact.notes,
            contact.amount_demanded_fen,
        )
        verdict = dc.check_contact(policy, attempt, facts, rules)
        if verdict is not None:
            st.log_refusal(
                conn,
                {
                    "case_id": row.id,
                    "loan_id": row.loan_id,
                    "action": "contact",
                    "channel": contact.channel,
                    "party": contact.party,
                    "number": number,
                    "attempted_at": st.utc(contact.started_at),
                    "code": verdict.code.value,
                    "reason": verdict.reason[:400],
                    "collector": contact.collector,
                    "created_at": st.utc(now),
                },
            )
            return verdict
        cid = st.insert_contact(
            conn,
            {
                "case_id": row.id,
                "loan_id": row.loan_id,
                "borrower_id": row.borrower_id,
                "channel": contact.channel,
                "party": contact.party,
                "number": number,
                "started_at": st.utc(contact.started_at),
                "ended_at": st.utc(contact.ended_at) if contact.ended_at else None,
                "outcome": contact.outcome,
                "notes": contact.notes or None,
                "recording_ref": contact.recording_ref,
                "collector": contact.collector,
                "created_at": st.utc(now),
            },
        )
        local_day = rules.local(contact.started_at).date()
        from sqlalchemy import case, insert, or_, update

        from daihou.storage.collection_tables import collection_cases as cases

        last = cases.c.last_contact_on
        conn.execute(
            update(cases)
            .where(cases.c.id == row.id)
            .values(last_contact_on=case((or_(last.is_(None), last < local_day), local_day), else_=last))
        )
        if contact.outcome == dc.Outcome.DISPUTE:
            conn.execute(
                insert(t.loan_disputes).values(
                    loan_id=row.loan_id, reason=f"raised on contact {cid}: {contact.notes}"[:400], opened_at=st.utc(now)
                )
            )
        return Logged(cid)


# ---------------------------------------------------------------- promises


@dataclass(frozen=True, slots=True)
class Promised:
    promise_ids: tuple[int, ...]
    plan_id: int | None
    ok = True


def make_promise(
    app: App,
    case_id: int,
    parts: Sequence[tuple[date, int]],
    day: date,
    user: str,
    contact_id: int | None = None,
) -> Promised | Refused | Rejected:
    """A promise to pay (one part) or a plan (several): amounts > 0, due dates from `day` on, and
    in total never more than the collectable amount (a legal cap is never dunned)."""
    from daihou.storage import collection_store as st

    if not parts:
        return Rejected("no_parts", "a promise needs at least one amount and date")
    for n, (due_on, amount) in enumerate(parts, 1):
        if amount <= 0:
            return Rejected("bad_amount", f"part {n}: amount must be positive, got {amount} fen")
        if due_on < day:
            return Rejected("bad_date", f"part {n}: due date {due_on} is before {day}")
    now = app.clock.now()
    with app.engine.begin() as conn:
        row = st.case_row(conn, case_id)
        if row is None:
            return Rejected("case_not_found", f"no case {case_id}")
        if row.status != "open":
            return Rejected("case_not_open", f"case {case_id} is closed")
        total = sum(a for _, a in parts)
        if total > row.collectable_fen:
            refused = Refused(
                Code.AMOUNT_ABOVE_CAP,
                f"promised {total} fen but only {row.collectable_fen} fen is collectable (legal cap, DESIGN.md §5)",
            )
            st.log_refusal(
                conn,
                {
                    "case_id": row.id,
                    "loan_id": row.loan_id,
                    "action": "promise",
                    "attempted_at": st.utc(now),
                    "code": refused.code.value,
                    "reason": refused.reason,
                    "collector": user,
                    "created_at": st.utc(now),
                },
            )
            return refused
        ordered = sorted(parts)
        ids = st.add_promises(conn, row.id, row.loan_id, ordered, day, user, now, contact_id)
    return Promised(tuple(ids), ids[0] if len(ids) > 1 else None)


# ---------------------------------------------------------------- work lists and dialer


def build_worklists(app: App, day: date, policy: dc.CollectionPolicy | None = None) -> int:
    """(Re)build the work lists and dialer queue for `day`; returns the number of items."""
    from daihou.storage import collection_store as st

    rules = compliance.DEFAULT_CONDUCT
    with app.engine.begin() as conn:
        return st.build_worklist(conn, policy or load_policy(), rules, day, dial_cap(rules))


def worklist(app: App, day: date, collector: str | None = None) -> list[dict[str, Any]]:
    from daihou.storage import collection_store as st

    with app.engine.connect() as conn:
        return st.worklist(conn, day, collector)


DIALER_COLUMNS = (
    "item_id",
    "case_id",
    "loan_no",
    "collector",
    "rank",
    "channel",
    "number",
    "amount",
    "window_start",
    "window_end",
)
RESULT_COLUMNS = ("case_id", "number", "started_at", "ended_at", "outcome", "collector")
RESULT_OPTIONAL = ("channel", "party", "recording_ref", "notes")


def export_dialer(app: App, day: date, collector: str | None = None) -> str:
    """The day's voice queue as CSV for a dialer (UTF-8, header row, times ISO with offset)."""
    from daihou.domain.money import yuan_text

    tz = compliance.DEFAULT_CONDUCT.tz
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(DIALER_COLUMNS)
    for i in worklist(app, day, collector):
        if i["channel"] not in dc.VOICE:
            continue
        w.writerow(
            [
                i["id"],
                i["case_id"],
                i["loan_no"],
                i["collector"],
                i["rank"],
                i["channel"],
                i["number"] or "",
                yuan_text(i["amount_fen"]),
                i["window_start"].astimezone(tz).isoformat(),
                i["window_end"].astimezone(tz).isoformat(),
            ]
        )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int  # 1 = the first data row (line 2 of the file)
    field: str
    message: str


@dataclass
class Imported:
    logged: int = 0
    refused: dict[str, int] | None = None
    problems: list[RowProblem] | None = None


def _parse_row(n: int, raw: Mapping[str, str]) -> ContactInput | list[RowProblem]:
    problems = []
    tz = compliance.DEFAULT_CONDUCT.tz

    def when(field: str, required: bool) -> datetime | None:
        text = (raw.get(field) or "").strip()
        if not text:
            if required:
                problems.append(RowProblem(n, field, "missing"))
            return None
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            problems.append(RowProblem(n, field, f"not an ISO date-time: {text!r}"))
            return None
        return at if at.tzinfo else at.replace(tzinfo=tz)  # local time when no offset is given

    case_text = (raw.get("case_id") or "").strip()
    if not case_text.isdigit():
        problems.append(RowProblem(n, "case_id", f"not a case id: {case_text!r}"))
    started, ended = when("started_at", True), when("ended_at", False)
    outcome = (raw.get("outcome") or "").strip()
    if outcome not in {o.value for o in dc.Outcome}:
        problems.append(RowProblem(n, "outcome", f"unknown outcome {outcome!r}"))
    channel = (raw.get("channel") or "call").strip()
    if channel not in dc.CHANNELS:
        problems.append(RowProblem(n, "channel", f"unknown channel {channel!r}"))
    party = (raw.get("party") or "debtor").strip()
    if party not in {p.value for p in dc.Party}:
        problems.append(RowProblem(n, "party", f"unknown party {party!r}"))
    collector = (raw.get("collector") or "").strip()
    if not collector:
        problems.append(RowProblem(n, "collector", "missing"))
    if started and ended and ended < started:
        problems.append(RowProblem(n, "ended_at", "before started_at"))
    if problems:
        return problems
    assert started is not None
    return ContactInput(
        int(case_text),
        channel,
        party,
        started,
        outcome,
        collector,
        (raw.get("number") or "").strip() or None,
        ended,
        (raw.get("notes") or "").strip(),
        (raw.get("recording_ref") or "").strip() or None,
    )


def import_call_results(app: App, text: str) -> Imported:
    """Call results from a dialer (CSV) into the contact log, each through the guard. A bad row is
    named by row and field and skipped; the good rows are logged (or refused, with their code)."""
    reader = csv.DictReader(io.StringIO(text))
    result = Imported(0, {}, [])
    assert result.refused is not None and result.problems is not None
    missing = [c for c in RESULT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        result.problems.append(RowProblem(0, ",".join(missing), "missing columns in the header"))
        return result
    for n, raw in enumerate(reader, 1):
        parsed = _parse_row(n, raw)
        if isinstance(parsed, list):
            result.problems.extend(parsed)
            continue
        done = log_contact(app, parsed)
        if isinstance(done, Logged):
            result.logged += 1
        elif isinstance(done, Refused):
            result.refused[done.code.value] = result.refused.get(done.code.value, 0) + 1
        else:
            result.problems.append(RowProblem(n, "case_id", done.reason))
    return result


# ---------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class ArmResult:
    segment: str | None
    arm: str
    cases: int
    balance_at_open_fen: int
    collected_fen: int
    resolved: int

    @property
    def recovery(self) -> Decimal:
        """Amount collected / balance at assignment (0 when there was no balance)."""
        if not self.balance_at_open_fen:
            return Decimal(0)
        return (Decimal(self.collected_fen) / Decimal(self.balance_at_open_fen)).quantize(Decimal("0.0001"))


def champion_challenger_report(app: App, by_segment: bool = False) -> list[ArmResult]:
    from daihou.storage import collection_store as st

    with app.engine.connect() as conn:
        rows = st.champion_challenger(conn, by_segment)
    return [
        ArmResult(
            r.get("segment"),
            r["strategy_arm"],
            int(r["cases"]),
            int(r["balance_at_open_fen"] or 0),
            int(r["collected_fen"] or 0),
            int(r["resolved"] or 0),
        )
        for r in rows
    ]
