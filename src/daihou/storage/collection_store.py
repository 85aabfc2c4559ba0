"""Collections in the operational store: set-based case upkeep, guarded contacts, work lists.

Everything the close of business runs is a handful of statements over all cases at once:
- `refresh_figures`: balance, amount overdue, collectable amount, DPD, score and collected amount of
  every open case, in one UPDATE … FROM over a grouped installment query;
- `evaluate_promises`: paid amounts and kept / partly kept / broken for every pending promise;
- `apply_transitions`: the strategy's transition table compiled to one CASE expression (first
  matching row wins), written to `case_events` and then to the cases;
- `open_cases`: one INSERT … SELECT for every open loan that needs a case and has none;
- `build_worklist`: one INSERT … SELECT ranking every workable case by expected value with window
  functions, cut at each collector's capacity and each number's dial cap.
Only the decisions that need the strategy's seeded hash or the balancing heap (new and moved cases,
a day's share of the book) are computed in Python and written back with one executemany.
Times are stored in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from daihou.domain import collections as dc
from daihou.domain.caps import LPR_1Y
from daihou.domain.compliance import ConductRules
from daihou.storage import tables as t
from daihou.storage.collection_tables import (
    case_events,
    collection_cases,
    collection_refusals,
    collectors,
    contact_log,
    promises,
    worklist_items,
)
from daihou.storage.score_tables import loan_scores

OPEN_LOAN_STATUSES = ("active", "overdue", "restructured")
PAYMENT_KINDS = ("payment", "prepayment")
WORKLIST_WORK_MEM = "256MB"  # PostgreSQL memory for the work list's sorts (this transaction only)
cc = collection_cases.c


def utc(at: datetime) -> datetime:
    assert at.tzinfo is not None, "store aware datetimes"
    return at.astimezone(UTC)


def from_db(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _pos(x: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((x > 0, x), else_=0)


def _least(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a < b, a), else_=b)


# ---------------------------------------------------------------- figures


def figures(day: date, days_ahead: int, loan_ids: Sequence[int] | Select[Any] | None = None) -> Any:
    """Per loan: balance, overdue, interest due, due-soon flag (a grouped subquery). `loan_ids` (a
    list, or a SELECT of ids) keeps it to those loans: their installments are found by the
    (loan_id, …) index instead of grouping every installment of the book."""
    i, loans = t.installments, t.loans
    due_now = i.c.due_date <= day

    def out(c: str) -> ColumnElement[int]:
        return i.c[f"{c}_due_fen"] - i.c[f"{c}_paid_fen"] - i.c[f"{c}_waived_fen"]

    charges = out("interest") + out("penalty") + out("compound")
    soon = and_(i.c.due_date >= day, i.c.due_date <= day + timedelta(days=days_ahead), out("principal") + charges > 0)
    q = (
        select(
            i.c.loan_id.label("loan_id"),
            func.sum(out("principal")).label("principal_left"),
            func.sum(case((due_now, out("principal")), else_=0)).label("principal_due"),
            func.sum(case((due_now, charges), else_=0)).label("charges_due"),
            func.sum(case((due_now, out("interest")), else_=0)).label("interest_due"),
            func.max(case((soon, 1), else_=0)).label("due_soon"),
        )
        .select_from(i.join(loans, and_(loans.c.id == i.c.loan_id, loans.c.schedule_version == i.c.schedule_version)))
        .group_by(i.c.loan_id)
    )
    if isinstance(loan_ids, Select):
        q = q.where(i.c.loan_id.in_(loan_ids))
    elif loan_ids is not None:
        q = q.where(i.c.loan_id.in_(list(loan_ids)))
    return q.subquery("fig")


def _open_case_loans() -> Select[Any]:
    held = collection_cases.alias("held")
    return select(held.c.loan_id).where(held.c.status == "open")


def _loan_level() -> ColumnElement[int]:
    loans = t.loans.c
    return (
        (loans.cost_due_fen - loans.cost_paid_fen - loans.cost_waived_fen)
        + (loans.fee_due_fen - loans.fee_paid_fen - loans.fee_waived_fen)
        - loans.credit_fen
    )


def _ceiling_ppm() -> ColumnElement[Any]:
    """The legal interest ceiling of the loan's cap profile (private lending: 4 × LPR at disbursement),
    from the LPR table as data; NULL for profiles without one."""
    whens = []
    for name in ("private_lending",):
        from daihou.domain.caps import CAP_PROFILES

        multiple = CAP_PROFILES[name].lpr_multiple
        assert multiple is not None
        for effective, rate in reversed(LPR_1Y):
            whens.append(
                (
                    and_(t.products.c.cap_profile == name, t.loans.c.disbursed_on >= effective),
                    int(rate * multiple * 10**6),
                )
            )
        whens.append((t.products.c.cap_profile == name, int(LPR_1Y[0][1] * multiple * 10**6)))
    return case(*whens, else_=null())


def _collectable(balance: ColumnElement[Any], interest: ColumnElement[Any]) -> ColumnElement[Any]:
    rate, ceiling = t.loans.c.rate_annual_ppm, _ceiling_ppm()
    excess = interest * (rate - ceiling) // rate
    return case((and_(ceiling.is_not(None), rate > ceiling), balance - excess), else_=balance)


def latest_score(models: Sequence[str], day: date) -> Any:
    """Latest pd_ppm per loan as of `day`, preferring models in the order given."""
    s = loan_scores.c
    pref = case(*[(s.model == m, n) for n, m in enumerate(models)], else_=len(models))
    ranked = (
        select(
            s.loan_id,
            s.pd_ppm,
            func.row_number()
            .over(partition_by=s.loan_id, order_by=(pref, s.scored_on.desc(), s.id.desc()))
            .label("rn"),
        )
        .where(s.model.in_(list(models)), s.scored_on <= day)
        .subquery("ranked")
    )
    return select(ranked.c.loan_id, ranked.c.pd_ppm).where(ranked.c.rn == 1).subquery("score")


def _payments_between(loan_id: Any, start: Any, end: Any) -> ColumnElement[int]:
    tx = t.transactions.c
    return (
        select(func.coalesce(func.sum(tx.amount_fen), 0))
        .where(
            tx.loan_id == loan_id,
            tx.kind.in_(PAYMENT_KINDS),
            tx.reversed.is_(false()),
            tx.value_date >= start,
            tx.value_date <= end,
        )
        .scalar_subquery()
    )


def refresh_figures(
    conn: Connection, policy: dc.CollectionPolicy, day: date, now: datetime, loan_ids: Sequence[int] | None = None
) -> int:
    """Bring every open case's figures to the close of `day` (one UPDATE … FROM)."""
    fig = figures(day, policy.pre_due_days_ahead, _open_case_loans() if loan_ids is None else loan_ids)
    score = latest_score(policy.score_models, day)
    balance = fig.c.principal_left + fig.c.charges_due + _loan_level()
    overdue = _pos(fig.c.principal_due + fig.c.charges_due + _loan_level())
    src = (
        select(
            t.loans.c.id.label("loan_id"),
            case((overdue > 0, t.loans.c.dpd), else_=0).label("dpd"),
            balance.label("balance"),
            overdue.label("overdue"),
            _pos(_collectable(balance, fig.c.interest_due)).label("collectable"),
            score.c.pd_ppm.label("pd_ppm"),
        )
        .select_from(
            t.loans.join(fig, fig.c.loan_id == t.loans.c.id)
            .join(t.products, t.products.c.id == t.loans.c.product_id)
            .outerjoin(score, score.c.loan_id == t.loans.c.id)
        )
        .subquery("src")
    )
    stmt = (
        update(collection_cases)
        .where(cc.loan_id == src.c.loan_id, cc.status == "open")
        .values(
            dpd=src.c.dpd,
            balance_fen=src.c.balance,
            overdue_fen=src.c.overdue,
            collectable_fen=src.c.collectable,
            pd_ppm=src.c.pd_ppm,
            collected_fen=_payments_between(cc.loan_id, cc.opened_on, day),
            updated_at=utc(now),
        )
    )
    return conn.execute(stmt).rowcount or 0


# ---------------------------------------------------------------- opening


def _open_row_select(
    policy: dc.CollectionPolicy,
    day: date,
    now: datetime,
    reason: str,
    by_loan: Any,
    candidates: Sequence[int] | Select[Any],
) -> Any:
    """The new case rows for the loans `by_loan` selects (a WHERE on loans) among `candidates`
    (a superset, to keep the figures to a few loans), stage from DPD."""
    fig = figures(day, policy.pre_due_days_ahead, candidates)
    score = latest_score(policy.score_models, day)
    loans = t.loans
    balance = fig.c.principal_left + fig.c.charges_due + _loan_level()
    overdue = _pos(fig.c.principal_due + fig.c.charges_due + _loan_level())
    stage = case(
        *[
            (
                and_(
                    loans.c.dpd >= o.dpd_at_least,
                    *([loans.c.dpd <= o.dpd_at_most] if o.dpd_at_most is not None else []),
                ),
                o.stage,
            )
            for o in policy.openings
        ],
        else_=dc.Stage.PRE_DUE.value,
    )
    stamp = literal(utc(now), DateTime(timezone=True))
    return (
        select(
            loans.c.id,
            loans.c.borrower_id,
            stage,
            literal("open", String),
            literal(day, Date),
            literal(reason, String),
            literal(day, Date),
            literal("", String),  # segment, arm, treatment, worker, bands: decided just after
            literal("champion", String),
            literal("", String),
            literal("", String),
            literal("", String),
            literal("", String),
            balance,
            balance,
            overdue,
            _pos(_collectable(balance, fig.c.interest_due)),
            literal(0, BigInteger),
            score.c.pd_ppm,
            loans.c.dpd,
            literal(1, Integer),
            stamp,
            stamp,
        )
        .select_from(
            loans.join(fig, fig.c.loan_id == loans.c.id)
            .join(t.products, t.products.c.id == loans.c.product_id)
            .outerjoin(score, score.c.loan_id == loans.c.id)
        )
        .where(by_loan(loans, fig, score))
    )


OPEN_COLUMNS = [
    "loan_id",
    "borrower_id",
    "stage",
    "status",
    "opened_on",
    "open_reason",
    "stage_since",
    "segment",
    "strategy_arm",
    "treatment",
    "worker",
    "score_band",
    "balance_band",
    "balance_at_open_fen",
    "balance_fen",
    "overdue_fen",
    "collectable_fen",
    "collected_fen",
    "pd_ppm",
    "dpd",
    "version",
    "created_at",
    "updated_at",
]


def _no_open_case(loans: Any) -> ColumnElement[bool]:
    return ~exists().where(cc.loan_id == loans.c.id, cc.status == "open")


def open_due_cases(conn: Connection, policy: dc.CollectionPolicy, day: date, now: datetime) -> list[int]:
    """Open a case for every open loan past due, or high-risk with an installment due soon, that has
    none (one INSERT … SELECT); returns the new case ids (their decisions are still to be made)."""

    def needs(loans: Any, fig: Any, score: Any) -> ColumnElement[bool]:
        high_risk = and_(score.c.pd_ppm >= policy.pre_due_pd_ppm_at_least, fig.c.due_soon == 1)
        return and_(loans.c.status.in_(OPEN_LOAN_STATUSES), or_(loans.c.dpd >= 1, high_risk), _no_open_case(loans))

    scored_high = select(loan_scores.c.loan_id).where(
        loan_scores.c.model.in_(list(policy.score_models)),
        loan_scores.c.scored_on <= day,
        loan_scores.c.pd_ppm >= policy.pre_due_pd_ppm_at_least,
    )
    loans = t.loans.c
    candidates = select(loans.id).where(
        loans.status.in_(OPEN_LOAN_STATUSES), or_(loans.dpd >= 1, loans.id.in_(scored_high))
    )
    rows = _open_row_select(policy, day, now, "close_of_business", needs, candidates)
    stmt = insert(collection_cases).from_select(OPEN_COLUMNS, rows).returning(cc.id)
    return [int(r[0]) for r in conn.execute(stmt)]


def open_one(
    conn: Connection, policy: dc.CollectionPolicy, loan_id: int, reason: str, day: date, now: datetime
) -> int | None:
    """Open a case for one loan unless it has an open one; the new id, or None when it had one."""
    rows = _open_row_select(
        policy, day, now, reason, lambda loans, fig, score: and_(loans.c.id == loan_id, _no_open_case(loans)), [loan_id]
    )
    got = conn.execute(insert(collection_cases).from_select(OPEN_COLUMNS, rows).returning(cc.id)).first()
    return int(got[0]) if got else None


def open_case_id(conn: Connection, loan_id: int) -> int | None:
    return conn.execute(select(cc.id).where(cc.loan_id == loan_id, cc.status == "open")).scalar()


@dataclass(frozen=True, slots=True)
class ToDecide:
    case_id: int
    stage: str
    pd_ppm: int | None
    balance_fen: int
    product: str
    arm: str | None  # set for a case decided before (it moved): arm, segment and bands are kept
    segment: str
    score_band: str
    balance_band: str


def to_decide(conn: Connection, case_ids: Sequence[int]) -> list[ToDecide]:
    if not case_ids:
        return []
    q = (
        select(
            cc.id,
            cc.stage,
            cc.pd_ppm,
            cc.balance_fen,
            t.products.c.code,
            cc.treatment,
            cc.strategy_arm,
            cc.segment,
            cc.score_band,
            cc.balance_band,
        )
        .select_from(
            collection_cases.join(t.loans, t.loans.c.id == cc.loan_id).join(
                t.products, t.products.c.id == t.loans.c.product_id
            )
        )
        .where(cc.id.in_(list(case_ids)))
    )
    return [
        ToDecide(int(r[0]), r[1], r[2], int(r[3]), r[4], r[6] if r[5] else None, r[7], r[8], r[9])
        for r in conn.execute(q)
    ]


def write_decisions(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    stmt = (
        update(collection_cases)
        .where(cc.id == bindparam("b_id"))
        .values(
            segment=bindparam("b_segment"),
            strategy_arm=bindparam("b_arm"),
            treatment=bindparam("b_treatment"),
            worker=bindparam("b_worker"),
            score_band=bindparam("b_score_band"),
            balance_band=bindparam("b_balance_band"),
        )
    )
    conn.execute(stmt, rows)


def add_events(
    conn: Connection, case_ids: Sequence[int], day: date, kind: str, actor: str, now: datetime, detail: str = ""
) -> None:
    if not case_ids:
        return
    rows = select(
        cc.id,
        literal(day, Date),
        literal(kind, String),
        literal(None, String) if kind == "opened" else cc.stage,
        cc.stage,
        literal(detail[:400], String),
        literal(actor, String),
        literal(utc(now), DateTime(timezone=True)),
    ).where(cc.id.in_(list(case_ids)))
    conn.execute(
        insert(case_events).from_select(
            ["case_id", "business_date", "kind", "from_stage", "to_stage", "detail", "actor", "created_at"], rows
        )
    )


# ---------------------------------------------------------------- transitions


def _move_case(policy: dc.CollectionPolicy, event: str | None, day: date) -> tuple[Any, Any, Any]:
    """CASE expressions (matched?, new stage, close reason) for the transition table, first row wins."""
    loans = t.loans.c
    soon_days = policy.pre_due_days_ahead
    fig = figures(day, soon_days, _open_case_loans())
    due_soon = (
        select(fig.c.due_soon).where(fig.c.loan_id == cc.loan_id).scalar_subquery()
        if any(tr.nothing_due_soon is not None for tr in policy.transitions)
        else literal(0)
    )
    loan_status = select(loans.status).where(loans.id == cc.loan_id).scalar_subquery()
    loan_dpd = cc.dpd  # refreshed first: the close's DPD, or 0 once a payment clears the arrears
    conds = []
    for tr in policy.transitions:
        if tr.event != event:
            continue
        parts: list[ColumnElement[bool]] = []
        if dc.ANY not in tr.from_stages:
            parts.append(cc.stage.in_(list(tr.from_stages)))
        if tr.dpd_at_least is not None:
            parts.append(loan_dpd >= tr.dpd_at_least)
        if tr.dpd_at_most is not None:
            parts.append(loan_dpd <= tr.dpd_at_most)
        if tr.loan_status:
            parts.append(loan_status.in_(list(tr.loan_status)))
        if tr.nothing_due_soon is not None:
            parts.append(func.coalesce(due_soon, 0) == (0 if tr.nothing_due_soon else 1))
        conds.append((and_(literal(True), *parts), tr))
    if not conds:
        return literal(False), cc.stage, null()
    matched = or_(*[c for c, _ in conds])
    stage = case(*[(c, tr.to_stage if tr.to_stage else cc.stage) for c, tr in conds], else_=cc.stage)
    close = case(*[(c, tr.close) for c, tr in conds], else_=null())
    return matched, stage, close


def apply_transitions(
    conn: Connection,
    policy: dc.CollectionPolicy,
    day: date,
    now: datetime,
    event: str | None = None,
    case_ids: Sequence[int] | None = None,
) -> tuple[list[int], list[int]]:
    """Move and close open cases by the transition table; returns (moved ids, closed ids)."""
    matched, stage, close = _move_case(policy, event, day)
    where = [cc.status == "open", matched]
    if case_ids is not None:
        if not case_ids:
            return [], []
        where.append(cc.id.in_(list(case_ids)))
    changed = [(int(r[0]), r[1], r[2], r[3]) for r in conn.execute(select(cc.id, cc.stage, stage, close).where(*where))]
    if not changed:
        return [], []
    ids = [c[0] for c in changed]
    stamp = literal(utc(now), DateTime(timezone=True))
    detail = f"transition{' on ' + event if event else ''}"
    closed_kind = case((close.is_not(None), "closed"), else_="moved")
    conn.execute(
        insert(case_events).from_select(
            ["case_id", "business_date", "kind", "from_stage", "to_stage", "detail", "actor", "created_at"],
            select(
                cc.id,
                literal(day, Date),
                closed_kind,
                cc.stage,
                stage,
                func.coalesce(close, literal(detail)),
                literal("system", String),
                stamp,
            ).where(cc.id.in_(ids)),
        )
    )
    conn.execute(
        update(collection_cases)
        .where(cc.id.in_(ids))
        .values(
            status=case((close.is_not(None), "closed"), else_="open"),
            closed_on=case((close.is_not(None), day), else_=null()),
            close_reason=close,
            stage_since=case((stage != cc.stage, day), else_=cc.stage_since),
            stage=stage,
            version=cc.version + 1,
            updated_at=utc(now),
        )
    )
    moved = [c[0] for c in changed if c[3] is None and c[2] != c[1]]
    closed = [c[0] for c in changed if c[3] is not None]
    return moved, closed


def close_case(conn: Connection, case_id: int, reason: str, day: date, actor: str, now: datetime) -> bool:
    got = conn.execute(
        update(collection_cases)
        .where(cc.id == case_id, cc.status == "open")
        .values(status="closed", closed_on=day, close_reason=reason, version=cc.version + 1, updated_at=utc(now))
    ).rowcount
    if got:
        conn.execute(
            insert(case_events).values(
                case_id=case_id, business_date=day, kind="closed", detail=reason, actor=actor, created_at=utc(now)
            )
        )
    return bool(got)


# ---------------------------------------------------------------- assignment


def collectors_with_load(conn: Connection) -> list[dc.Collector]:
    load = (
        select(cc.collector, func.count().label("n"), func.coalesce(func.sum(cc.balance_fen), 0).label("b"))
        .where(cc.status == "open", cc.collector.is_not(None))
        .group_by(cc.collector)
        .subquery()
    )
    q = (
        select(collectors.c.code, collectors.c.team, collectors.c.stages, load.c.n, load.c.b)
        .select_from(collectors.outerjoin(load, load.c.collector == collectors.c.code))
        .where(collectors.c.active.is_(True), collectors.c.role == "collector")
        .order_by(collectors.c.code)
    )
    return [
        dc.Collector(r[0], r[1], frozenset(s for s in r[2].split(",") if s), int(r[3] or 0), int(r[4] or 0))
        for r in conn.execute(q)
    ]


def recall_unskilled(conn: Connection, day: date, actor: str, now: datetime) -> list[int]:
    """Take cases back from collectors not skilled for their (new) stage or no longer in-house."""
    rows = conn.execute(
        select(cc.id, cc.stage, cc.worker, collectors.c.stages)
        .select_from(collection_cases.outerjoin(collectors, collectors.c.code == cc.collector))
        .where(cc.status == "open", cc.collector.is_not(None))
        .where(or_(cc.worker != "in_house", collectors.c.id.is_(None), ~collectors.c.stages.contains(cc.stage)))
    ).all()
    ids = [int(r[0]) for r in rows]
    if ids:
        add_events(conn, ids, day, "recalled", actor, now, "collector not skilled for the stage")
        conn.execute(update(collection_cases).where(cc.id.in_(ids)).values(collector=None, team=None))
    return ids


def assign_open(conn: Connection, day: date, actor: str, now: datetime) -> int:
    """Give every open in-house case without a collector to a skilled one (balanced); route robot
    and legal cases to their queues."""
    conn.execute(
        update(collection_cases)
        .where(cc.status == "open", cc.worker == "robot", cc.collector.is_(None))
        .values(collector="robot", team="robot")
    )
    conn.execute(
        update(collection_cases)
        .where(cc.status == "open", cc.worker == "legal", cc.team.is_(None))
        .values(team="legal")
    )
    pending = [
        dc.Unassigned(int(r[0]), r[1], int(r[2]))
        for r in conn.execute(
            select(cc.id, cc.stage, cc.balance_fen).where(
                cc.status == "open", cc.worker == "in_house", cc.collector.is_(None)
            )
        )
    ]
    staff = collectors_with_load(conn)
    chosen = dc.balance_assignment(pending, staff)
    team = {c.code: c.team for c in staff}
    if chosen:
        conn.execute(
            update(collection_cases)
            .where(cc.id == bindparam("b_id"))
            .values(collector=bindparam("b_collector"), team=bindparam("b_team")),
            [{"b_id": cid, "b_collector": code, "b_team": team[code]} for cid, code in chosen.items()],
        )
        add_events(conn, list(chosen), day, "assigned", actor, now, "balanced by count and balance")
    return len(chosen)


def assign_to(conn: Connection, case_id: int, collector: str, day: date, actor: str, now: datetime) -> str | None:
    """Reassign one case by hand; the problem code, or None when done."""
    row = conn.execute(select(collectors.c.team, collectors.c.stages).where(collectors.c.code == collector)).first()
    if row is None:
        return "unknown_collector"
    stage = conn.execute(select(cc.stage).where(cc.id == case_id, cc.status == "open")).scalar()
    if stage is None:
        return "case_not_open"
    if stage not in row[1].split(","):
        return "collector_not_skilled"
    conn.execute(
        update(collection_cases).where(cc.id == case_id).values(collector=collector, team=row[0], worker="in_house")
    )
    add_events(conn, [case_id], day, "assigned", actor, now, f"to {collector} by hand")
    return None


def recall(conn: Connection, case_ids: Sequence[int], day: date, actor: str, now: datetime) -> int:
    ids = [int(r[0]) for r in conn.execute(select(cc.id).where(cc.id.in_(list(case_ids)), cc.status == "open"))]
    if ids:
        add_events(conn, ids, day, "recalled", actor, now, "recalled by hand")
        conn.execute(update(collection_cases).where(cc.id.in_(ids)).values(collector=None, team=None))
    return len(ids)


# ---------------------------------------------------------------- promises


def evaluate_promises(conn: Connection, final_through: date, loan_ids: Sequence[int] | None = None) -> list[int]:
    """Paid amount and status of every pending promise (and of kept ones, which a reversal may undo),
    from the payments since it was made; a promise due on or before `final_through` is final.
    Returns the case ids whose promise broke now."""
    p = promises.c
    earlier = promises.alias("earlier")
    before = (
        select(func.coalesce(func.sum(earlier.c.amount_fen), 0))
        .where(
            func.coalesce(earlier.c.plan_id, earlier.c.id) == func.coalesce(p.plan_id, p.id),
            or_(earlier.c.due_on < p.due_on, and_(earlier.c.due_on == p.due_on, earlier.c.id < p.id)),
        )
        .scalar_subquery()
    )
    paid_through = _payments_between(p.loan_id, p.promised_on, p.due_on)
    paid = _least(_pos(paid_through - before), p.amount_fen)
    final = p.due_on <= final_through
    status = case(
        (paid >= p.amount_fen, "kept"),
        (and_(final, paid > 0), "partly_kept"),
        (final, "broken"),
        else_="pending",
    )
    if loan_ids is None:  # the daily pass: only what is still open
        where = [p.status == "pending"]
    else:  # after a payment or a reversal: a reversal may undo a kept promise
        where = [p.status.in_(("pending", "kept")), p.loan_id.in_(list(loan_ids))]
    newly_broken = [
        int(r[0])
        for r in conn.execute(select(p.case_id).where(*where, p.status == "pending", status == "broken").distinct())
    ]
    conn.execute(
        update(promises)
        .where(*where)
        .values(
            paid_fen=paid,
            status=status,
            broken_on=case(
                (status == "broken", func.coalesce(p.broken_on, literal(final_through, Date))), else_=null()
            ),
        )
    )
    return newly_broken


def add_promises(
    conn: Connection,
    case_id: int,
    loan_id: int,
    parts: Sequence[tuple[date, int]],
    day: date,
    actor: str,
    now: datetime,
    contact_id: int | None,
) -> list[int]:
    ids: list[int] = []
    plan_id: int | None = None
    for due_on, amount in parts:
        got = conn.execute(
            insert(promises)
            .values(
                case_id=case_id,
                loan_id=loan_id,
                promised_on=day,
                due_on=due_on,
                amount_fen=amount,
                paid_fen=0,
                status="pending",
                plan_id=plan_id,
                contact_id=contact_id,
                created_by=actor,
                created_at=utc(now),
            )
            .returning(promises.c.id)
        ).scalar_one()
        ids.append(int(got))
        if len(parts) > 1 and plan_id is None:
            plan_id = int(got)
            conn.execute(update(promises).where(promises.c.id == got).values(plan_id=plan_id))
    return ids


# ---------------------------------------------------------------- contacts


@dataclass(frozen=True, slots=True)
class CaseRow:
    id: int
    loan_id: int
    borrower_id: int
    status: str
    stage: str
    collectable_fen: int
    collector: str | None
    mobile: str | None


def case_row(conn: Connection, case_id: int, lock: bool = False) -> CaseRow | None:
    q = (
        select(
            cc.id,
            cc.loan_id,
            cc.borrower_id,
            cc.status,
            cc.stage,
            cc.collectable_fen,
            cc.collector,
            t.borrowers.c.mobile,
        )
        .select_from(collection_cases.join(t.borrowers, t.borrowers.c.id == cc.borrower_id))
        .where(cc.id == case_id)
    )
    row = conn.execute(q).first()
    if row is None:
        return None
    if lock and conn.dialect.name == "postgresql":
        # one debtor's contacts are decided one at a time: the caps cannot be passed by a race
        conn.execute(select(t.borrowers.c.id).where(t.borrowers.c.id == row[2]).with_for_update())
    return CaseRow(*row)


def contact_facts(
    conn: Connection, policy: dc.CollectionPolicy, rules: ConductRules, row: CaseRow, number: str | None, at: datetime
) -> dc.ContactFacts:
    log = contact_log.c
    start, end = (utc(x) for x in rules.day_window(at))
    voice = log.channel.in_(sorted(dc.VOICE))
    conv = log.outcome.in_(sorted(policy.guardrails.conversation_outcomes))
    debtor = and_(log.borrower_id == row.borrower_id, log.party == "debtor", voice)
    since = utc(at) - timedelta(days=policy.guardrails.unreachable_window_days)
    today = and_(log.started_at >= start, log.started_at < end)
    q = select(
        select(func.count()).where(debtor, conv, today).scalar_subquery(),
        select(func.count()).where(log.number == number, voice, today).scalar_subquery() if number else literal(0),
        select(func.count()).where(debtor, log.started_at >= since, log.started_at <= utc(at)).scalar_subquery(),
        select(func.count()).where(debtor, conv, log.started_at >= since, log.started_at <= utc(at)).scalar_subquery(),
        exists()
        .where(t.loan_disputes.c.loan_id == row.loan_id, t.loan_disputes.c.resolved_at.is_(None))
        .correlate_except(t.loan_disputes),
    )
    r = conn.execute(q).one()
    return dc.ContactFacts(bool(r[4]), int(r[0]), int(r[1]), int(r[2]), int(r[3]), row.collectable_fen)


def log_refusal(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(collection_refusals).values(**values))


def insert_contact(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(contact_log).values(**values).returning(contact_log.c.id)).scalar_one())


# ---------------------------------------------------------------- work lists


def build_worklist(conn: Connection, policy: dc.CollectionPolicy, rules: ConductRules, day: date, dial_cap: int) -> int:
    """The day's work list and dialer queue in one INSERT … SELECT (replacing a previous one for the
    day): workable open cases ranked per collector by expected value (amount × probability of
    payment) and cut at the collector's capacity, then at most `dial_cap` items per number (the
    lowest-valued beyond it are dropped, not replaced); each item's window is the day's contact
    hours (outside the quiet hours).

    Shape for speed: the ranking window sorts narrow rows (id, collector, value) over one scan of the
    cases; only the items kept are joined back for their channel, number and amounts."""
    if conn.dialect.name == "postgresql":  # the two ranking sorts fit in memory instead of spilling
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORKLIST_WORK_MEM}'")
    conn.execute(worklist_items.delete().where(worklist_items.c.business_date == day))
    tz = rules.tz
    window_start = datetime.combine(day, rules.quiet_hours.end, tzinfo=tz)
    window_end = datetime.combine(day, rules.quiet_hours.start, tzinfo=tz)
    treatments = list(policy.treatments.values())
    cutoff = case(
        *[(cc.treatment == tr.code, literal(day - timedelta(days=tr.min_days_between), Date)) for tr in treatments],
        else_=literal(day, Date),
    )
    channel = case(*[(cc.treatment == tr.code, _first_channel(tr)) for tr in treatments], else_="call")
    prior = case(*[(cc.stage == s, ppm) for s, ppm in policy.stage_prior_pay_ppm.items()], else_=0)
    pay = case((cc.pd_ppm.is_not(None), 1_000_000 - cc.pd_ppm), else_=prior)
    amount = _least(cc.overdue_fen, cc.collectable_fen)
    ev = amount * pay // 1_000_000
    disputed = exists().where(t.loan_disputes.c.loan_id == cc.loan_id, t.loan_disputes.c.resolved_at.is_(None))
    # SQLite: a unary + keeps the planner off the (status, collector) index; one scan of the table
    # beats a random lookup per case here.
    is_open = (literal_column("+collection_cases.status") if conn.dialect.name == "sqlite" else cc.status) == "open"
    workable = [
        is_open,
        cc.worker.in_(("in_house", "robot")),
        ~disputed,
        or_(cc.last_contact_on.is_(None), cc.last_contact_on <= cutoff),
        amount > 0,
    ]
    if policy.guardrails.pause_while_promise_pending:
        workable.append(
            ~exists().where(promises.c.case_id == cc.id, promises.c.status == "pending", promises.c.due_on >= day)
        )
    ranked = (
        select(
            cc.id.label("case_id"),
            cc.collector.label("collector"),
            # coalesce(): an expression no index matches, so SQLite sorts after one scan instead of
            # walking the collector index with a random lookup per case
            func.row_number()
            .over(partition_by=func.coalesce(cc.collector, ""), order_by=(ev.desc(), cc.id))
            .label("rk"),
        )
        .where(*workable)
        .subquery("ranked")
    )
    mobile = t.borrowers.c.mobile
    kept = (
        select(
            ranked.c.case_id,
            ranked.c.collector,
            ranked.c.rk,
            channel.label("channel"),
            mobile.label("number"),
            amount.label("amount"),
            pay.label("pay"),
            ev.label("ev"),
            func.row_number().over(partition_by=mobile, order_by=(ev.desc(), cc.id)).label("per_number"),
        )
        .select_from(
            ranked.join(collectors, collectors.c.code == ranked.c.collector)
            .join(collection_cases, cc.id == ranked.c.case_id)
            .join(t.borrowers, t.borrowers.c.id == cc.borrower_id)
        )
        .where(collectors.c.active.is_(True), ranked.c.rk <= collectors.c.capacity)
        .subquery("kept")
    )
    rows = select(
        literal(day, Date),
        kept.c.case_id,
        kept.c.collector,
        kept.c.rk,
        kept.c.channel,
        kept.c.number,
        kept.c.amount,
        kept.c.pay,
        kept.c.ev,
        literal(utc(window_start), DateTime(timezone=True)),
        literal(utc(window_end), DateTime(timezone=True)),
        literal("queued", String),
    ).where(or_(kept.c.per_number <= dial_cap, kept.c.number.is_(None)))
    cols = [
        "business_date",
        "case_id",
        "collector",
        "rank",
        "channel",
        "number",
        "amount_fen",
        "pay_ppm",
        "expected_fen",
        "window_start",
        "window_end",
        "status",
    ]
    conn.execute(insert(worklist_items).from_select(cols, rows))
    return int(
        conn.execute(select(func.count()).where(worklist_items.c.business_date == day)).scalar_one()
    )  # rowcount of INSERT … SELECT is -1 on psycopg


def _first_channel(tr: dc.Treatment) -> str:
    voice = [c for c in tr.channels if c in dc.VOICE]
    return voice[0] if voice else tr.channels[0]


def worklist(conn: Connection, day: date, collector: str | None) -> list[dict[str, Any]]:
    w = worklist_items.c
    q = (
        select(
            w.id,
            w.rank,
            w.collector,
            w.case_id,
            t.loans.c.loan_no,
            cc.stage,
            w.channel,
            w.number,
            w.amount_fen,
            w.pay_ppm,
            w.expected_fen,
            w.window_start,
            w.window_end,
            w.status,
        )
        .select_from(
            worklist_items.join(collection_cases, cc.id == w.case_id).outerjoin(t.loans, t.loans.c.id == cc.loan_id)
        )
        .where(w.business_date == day)
        .order_by(w.collector, w.rank)
    )
    if collector:
        q = q.where(w.collector == collector)
    out = []
    for r in conn.execute(q):
        m = dict(r._mapping)
        m["window_start"], m["window_end"] = from_db(m["window_start"]), from_db(m["window_end"])
        out.append(m)
    return out


# ---------------------------------------------------------------- reports and scope


def champion_challenger(conn: Connection, by_segment: bool) -> list[dict[str, Any]]:
    keys = [cc.segment, cc.strategy_arm] if by_segment else [cc.strategy_arm]
    q = (
        select(
            *keys,
            func.count().label("cases"),
            func.sum(cc.balance_at_open_fen).label("balance_at_open_fen"),
            func.sum(cc.collected_fen).label("collected_fen"),
            func.sum(case((cc.close_reason.in_(("cured", "paid_off", "settled")), 1), else_=0)).label("resolved"),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def scope_where(conn: Connection, f: dc.ScopeFilter) -> ColumnElement[bool]:
    if f.all_:
        return literal(True)
    if f.column is None:
        return literal(False)
    return cc[f.column] == f.value


def team_of(conn: Connection, code: str) -> str | None:
    return conn.execute(
        select(collectors.c.team).where(collectors.c.code == code, collectors.c.role == "team_lead")
    ).scalar()
