"""Follow-up visits in the operational store: set-based planning, records, overrides, reports.

Planning is a handful of statements over all open loans at once (no per-loan loop):

1. cancel the open plans of loans that are no longer open (`loan_closed`);
2. cancel the open plans of high-risk loans that lie later than the high-risk cadence allows
   (`cadence_tightened`), so that step 3 replans them;
3. one INSERT … SELECT creates the next plan of every open loan without an open plan, with the date
   `daihou.domain.visits.next_plan` defines (first visit, phase cadence, high-risk cadence, aligned to
   the latest due date inside the interval, never before the business date);
4. mark plans whose date has passed without a visit `overdue`.

A partial unique index allows one open plan per loan, so a rerun (or two runs at once) cannot plan
a loan twice; the INSERT's NOT EXISTS makes a rerun create nothing. Dates are computed in SQL with
day arithmetic that SQLite and PostgreSQL agree on (cadences are whole days).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from daihou.domain.visits import PlanKind, PlanStatus, VisitPolicy
from daihou.storage import tables as t
from daihou.storage import visit_tables as v
from daihou.storage.repository import insert_id

OPEN_LOAN_STATUSES = ("active", "overdue", "restructured")
CLOSED_LOAN_STATUSES = ("paid_off", "written_off", "closed")
OPEN_PLAN_STATUSES = (PlanStatus.PLANNED.value, PlanStatus.OVERDUE.value)


def utc(at: datetime) -> datetime:
    assert at.tzinfo is not None, "store aware datetimes"
    return at.astimezone(UTC)


# ---------------------------------------------------------------- day arithmetic, both dialects


def add_days(conn: Connection, day: Any, n: Any) -> ColumnElement[Any]:
    """`day` + `n` days (n an int or an integer expression), as a date on both backends."""
    if conn.dialect.name == "sqlite":
        return func.date(func.julianday(day) + n, type_=Date)
    out: ColumnElement[Any] = day + cast(n, Integer)
    return out


def days_between(conn: Connection, later: Any, earlier: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    out: ColumnElement[Any] = later - earlier
    return out


def later_of(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    return (func.max if conn.dialect.name == "sqlite" else func.greatest)(a, b, type_=Date)


def _d(value: date) -> ColumnElement[Any]:
    return literal(value, Date)


# ---------------------------------------------------------------- loan facts as SQL


def last_visit(loan_id: Any) -> ColumnElement[Any]:
    r = v.visit_records
    return select(func.max(r.c.visited_on)).where(r.c.loan_id == loan_id).scalar_subquery()


def override_active(loan_id: Any) -> ColumnElement[bool]:
    o = v.visit_cadence_overrides
    return exists().where(o.c.loan_id == loan_id, o.c.cleared_at.is_(None))


def high_risk(policy: VisitPolicy, loans: Any) -> ColumnElement[bool]:
    """`daihou.domain.visits.is_high_risk` over the columns the close of business maintains."""
    return or_(
        loans.c.classification.not_in(list(policy.normal_classes)),
        loans.c.dpd > policy.high_risk_dpd_over,
        override_active(loans.c.id),
    )


def high_risk_ids(policy: VisitPolicy) -> Any:
    """The ids of high-risk loans, found through small indexes: the troubled loans' partial index
    (every policy's column test implies its predicate) and the active overrides."""
    loans, o = t.loans, v.visit_cadence_overrides
    # no status test here: it would lead SQLite to the status index and every open loan
    by_columns = select(loans.c.id).where(text(f"({v.TROUBLED})"))
    if policy.high_risk_dpd_over != 0 or tuple(policy.normal_classes) != ("normal",):
        # a looser policy than "troubled": test it on the troubled loans' rows (the index alone suffices otherwise)
        by_columns = by_columns.where(
            or_(loans.c.classification.not_in(list(policy.normal_classes)), loans.c.dpd > policy.high_risk_dpd_over)
        )
    return union(by_columns, select(o.c.loan_id).where(o.c.cleared_at.is_(None)))


def business(policy: VisitPolicy, loans: Any, products: Any) -> ColumnElement[bool]:
    purpose = func.lower(func.coalesce(loans.c.purpose, ""))
    words = [purpose.like(f"%{w.lower()}%") for w in policy.business_purpose_words]
    return or_(products.c.code.in_(list(policy.business_products) or [""]), *words)


def _every_days(policy: VisitPolicy, age: Any) -> ColumnElement[Any]:
    later = sorted(policy.phases, key=lambda p: p.from_age_days, reverse=True)
    return case(*((age >= p.from_age_days, p.every_days) for p in later[:-1]), else_=later[-1].every_days)


# ---------------------------------------------------------------- planning


def _candidates(conn: Connection, policy: VisitPolicy, day: date, loan_ids: Sequence[int] | None) -> Any:
    """Open loans disbursed by `day` without an open plan, with what their next date depends on."""
    loans, p = t.loans, t.products
    q = (
        select(
            loans.c.id.label("loan_id"),
            loans.c.officer,
            loans.c.disbursed_on,
            loans.c.schedule_version,
            last_visit(loans.c.id).label("last_on"),
            case((high_risk(policy, loans), 1), else_=0).label("risky"),
            case((business(policy, loans, p), 1), else_=0).label("biz"),
        )
        .select_from(loans.join(p, p.c.id == loans.c.product_id))
        .where(loans.c.id.in_(_unplanned(loan_ids)), loans.c.disbursed_on <= _d(day))
    )
    # materialized: each candidate's last visit and risk are computed once, not once per use below
    return q.cte("c").prefix_with("MATERIALIZED")


def _unplanned(loan_ids: Sequence[int] | None) -> Any:
    """Open loans without an open plan: read from the status index and the plans' index alone."""
    loans, plans = t.loans.alias("u"), v.visit_plans
    q = select(loans.c.id).where(
        loans.c.status.in_(OPEN_LOAN_STATUSES),
        ~exists().where(plans.c.loan_id == loans.c.id, plans.c.status.in_(OPEN_PLAN_STATUSES)),
    )
    if loan_ids is not None:
        q = q.where(loans.c.id.in_(list(loan_ids)))
    return q


def _next_rows(conn: Connection, policy: VisitPolicy, day: date, now: datetime, loan_ids: Sequence[int] | None) -> Any:
    c = _candidates(conn, policy, day, loan_ids)
    lead = policy.align_days_before_due
    every = case(
        (c.c.risky == 1, policy.high_risk_every_days),
        else_=_every_days(policy, days_between(conn, c.c.last_on, c.c.disbursed_on)),
    )
    raw = add_days(conn, c.c.last_on, every)
    i = t.installments
    latest_due = (
        select(func.max(i.c.due_date))
        .where(
            i.c.loan_id == c.c.loan_id,
            i.c.schedule_version == c.c.schedule_version,
            i.c.due_date > add_days(conn, c.c.last_on, lead),
            i.c.due_date <= add_days(conn, raw, lead),
        )
        .scalar_subquery()
    )
    periodic = func.coalesce(add_days(conn, latest_due, -lead), raw)
    first = add_days(conn, c.c.disbursed_on, policy.first_within_days)
    due = later_of(conn, case((c.c.last_on.is_(None), first), else_=periodic), _d(day))
    kind = case(
        (c.c.last_on.is_(None), PlanKind.FIRST.value),
        (c.c.risky == 1, PlanKind.HIGH_RISK.value),
        (c.c.biz == 1, PlanKind.BUSINESS_ONSITE.value),
        else_=PlanKind.PERIODIC.value,
    )
    return select(
        c.c.loan_id,
        due,
        kind,
        literal(PlanStatus.PLANNED.value, String),
        c.c.officer,
        literal(policy.version, String),
        literal(utc(now), DateTime(timezone=True)),
        literal(utc(now), DateTime(timezone=True)),
    )


def create_next(
    conn: Connection, policy: VisitPolicy, day: date, now: datetime, loan_ids: Sequence[int] | None = None
) -> int:
    """Plan the next visit of every open loan (or of `loan_ids`) that has no open plan."""
    columns = ["loan_id", "due_on", "kind", "status", "officer", "policy_version", "created_at", "updated_at"]
    stmt = v.visit_plans.insert().from_select(columns, _next_rows(conn, policy, day, now, loan_ids))
    # RETURNING counts what was new on every driver (psycopg reports no rowcount for INSERT … SELECT)
    return len(conn.execute(stmt.returning(v.visit_plans.c.id)).all())


def _cancel(conn: Connection, where: ColumnElement[bool], reason: str, now: datetime) -> int:
    plans = v.visit_plans
    stmt = (
        update(plans)
        .where(plans.c.status.in_(OPEN_PLAN_STATUSES), where)
        .values(status=PlanStatus.CANCELLED.value, cancel_reason=reason, updated_at=utc(now))
    )
    return max(conn.execute(stmt).rowcount, 0)


def cancel_closed(conn: Connection, now: datetime, loan_ids: Sequence[int] | None = None) -> int:
    loans = t.loans
    closed = select(loans.c.id).where(loans.c.status.in_(CLOSED_LOAN_STATUSES))  # through the status index
    if loan_ids is not None:
        closed = closed.where(loans.c.id.in_(list(loan_ids)))
    return _cancel(conn, v.visit_plans.c.loan_id.in_(closed), "loan_closed", now)


def cancel_for_tightening(
    conn: Connection, policy: VisitPolicy, day: date, now: datetime, loan_ids: Sequence[int] | None = None
) -> int:
    """`daihou.domain.visits.needs_tightening`, set-based: open periodic plans of high-risk loans that
    lie later than max(last visit (or disbursement) + high-risk cadence, day)."""
    plans, loans = v.visit_plans, t.loans
    anchor = func.coalesce(last_visit(loans.c.id), loans.c.disbursed_on)
    limit = later_of(conn, add_days(conn, anchor, policy.high_risk_every_days), _d(day))
    stale = (
        select(plans.c.id)
        .select_from(plans.join(loans, loans.c.id == plans.c.loan_id))
        .where(
            plans.c.loan_id.in_(high_risk_ids(policy)),
            plans.c.status == PlanStatus.PLANNED.value,
            plans.c.kind.in_([PlanKind.PERIODIC.value, PlanKind.BUSINESS_ONSITE.value]),
            plans.c.due_on > limit,
        )
    )
    if loan_ids is not None:
        stale = stale.where(loans.c.id.in_(list(loan_ids)))
    return _cancel(conn, plans.c.id.in_(stale), "cadence_tightened", now)


def cancel_for_relaxing(conn: Connection, policy: VisitPolicy, now: datetime, loan_ids: Sequence[int]) -> int:
    """Open high-risk plans of `loan_ids` that are no longer high risk go back to the normal cadence."""
    plans, loans = v.visit_plans, t.loans
    calm = select(loans.c.id).where(loans.c.id.in_(list(loan_ids)), not_(high_risk(policy, loans)))
    return _cancel(
        conn, and_(plans.c.loan_id.in_(calm), plans.c.kind == PlanKind.HIGH_RISK.value), "cadence_relaxed", now
    )


def mark_overdue(conn: Connection, day: date, now: datetime, loan_ids: Sequence[int] | None = None) -> int:
    plans = v.visit_plans
    stmt = (
        update(plans)
        .where(plans.c.status == PlanStatus.PLANNED.value, plans.c.due_on < _d(day))
        .values(status=PlanStatus.OVERDUE.value, updated_at=utc(now))
    )
    if loan_ids is not None:
        stmt = stmt.where(plans.c.loan_id.in_(list(loan_ids)))
    return max(conn.execute(stmt).rowcount, 0)


def plan(conn: Connection, policy: VisitPolicy, day: date, now: datetime) -> dict[str, int]:
    """The after-close planning over all loans; idempotent for `day`."""
    cancelled = cancel_closed(conn, now)
    tightened = cancel_for_tightening(conn, policy, day, now)
    planned = create_next(conn, policy, day, now)
    overdue = mark_overdue(conn, day, now)
    return {
        "visits_planned": planned,
        "visits_tightened": tightened,
        "visits_overdue": overdue,
        "visits_cancelled": cancelled,
    }


def replan(conn: Connection, policy: VisitPolicy, day: date, now: datetime, loan_ids: Sequence[int]) -> int:
    """Bring `loan_ids`' open plans in line with their cadence now (after an override or a visit)."""
    cancel_closed(conn, now, loan_ids)
    cancel_for_tightening(conn, policy, day, now, loan_ids)
    cancel_for_relaxing(conn, policy, now, loan_ids)
    created = create_next(conn, policy, day, now, loan_ids)
    mark_overdue(conn, day, now, loan_ids)
    return created


# ---------------------------------------------------------------- cadence overrides


def open_overrides(
    conn: Connection, loan_ids: Sequence[int], cadence: str, reason: str, user: str, now: datetime
) -> list[int]:
    """Open an override per loan unless one with the same reason is active; the loans it opened for."""
    o, loans = v.visit_cadence_overrides, t.loans
    reason = reason[:400]  # as stored: a longer reason must still find its own override
    same = exists().where(o.c.loan_id == loans.c.id, o.c.reason == reason, o.c.cleared_at.is_(None))
    rows = select(
        loans.c.id,
        literal(cadence, String),
        literal(reason, String),
        literal(user, String),
        literal(utc(now), DateTime(timezone=True)),
    ).where(loans.c.id.in_(list(loan_ids)), ~same)
    stmt = o.insert().from_select(["loan_id", "cadence", "reason", "set_by", "set_at"], rows).returning(o.c.loan_id)
    return [int(x) for x in conn.execute(stmt).scalars()]


def clear_overrides(conn: Connection, loan_ids: Sequence[int], reason: str, user: str, now: datetime) -> int:
    o = v.visit_cadence_overrides
    stmt = (
        update(o)
        .where(o.c.loan_id.in_(list(loan_ids)), o.c.reason == reason[:400], o.c.cleared_at.is_(None))
        .values(cleared_at=utc(now), cleared_by=user)
    )
    return max(conn.execute(stmt).rowcount, 0)


# ---------------------------------------------------------------- records


def loan_for_visit(conn: Connection, policy: VisitPolicy, loan_no: str) -> dict[str, Any] | None:
    loans, p = t.loans, t.products
    q = (
        select(
            loans.c.id,
            loans.c.loan_no,
            loans.c.status,
            loans.c.disbursed_on,
            loans.c.officer,
            loans.c.purpose,
            loans.c.classification,
            loans.c.dpd,
            p.c.code.label("product_code"),
            business(policy, loans, p).label("business"),
            high_risk(policy, loans).label("high_risk"),
            last_visit(loans.c.id).label("last_on"),
        )
        .select_from(loans.join(p, p.c.id == loans.c.product_id))
        .where(loans.c.loan_no == loan_no)
    )
    row = conn.execute(q).first()
    return None if row is None else dict(row._mapping)


def open_plan(conn: Connection, loan_id: int) -> dict[str, Any] | None:
    plans = v.visit_plans
    q = select(plans).where(plans.c.loan_id == loan_id, plans.c.status.in_(OPEN_PLAN_STATUSES))
    row = conn.execute(q.order_by(plans.c.due_on)).first()
    return None if row is None else dict(row._mapping)


def plan_by_id(conn: Connection, plan_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(v.visit_plans).where(v.visit_plans.c.id == plan_id)).first()
    return None if row is None else dict(row._mapping)


def insert_record(conn: Connection, values: dict[str, Any], attachments: Sequence[dict[str, Any]]) -> int:
    record_id = insert_id(
        conn, v.visit_records, {**values, "answers": json.dumps(values["answers"], ensure_ascii=False)}
    )
    for a in attachments:
        conn.execute(v.visit_attachments.insert().values({**a, "visit_id": record_id}))
    return record_id


def mark_done(conn: Connection, plan_id: int, record_id: int, on: date, now: datetime) -> None:
    plans = v.visit_plans
    conn.execute(
        update(plans)
        .where(plans.c.id == plan_id, plans.c.status.in_(OPEN_PLAN_STATUSES))
        .values(status=PlanStatus.DONE.value, done_on=on, record_id=record_id, updated_at=utc(now))
    )


# ---------------------------------------------------------------- reading


def plans_of(conn: Connection, loan_id: int) -> list[dict[str, Any]]:
    plans = v.visit_plans
    q = select(plans).where(plans.c.loan_id == loan_id).order_by(plans.c.due_on, plans.c.id)
    return [dict(r._mapping) for r in conn.execute(q)]


def records_of(conn: Connection, loan_id: int) -> list[dict[str, Any]]:
    r, a = v.visit_records, v.visit_attachments
    q = select(r).where(r.c.loan_id == loan_id).order_by(r.c.visited_on, r.c.id)
    out = [dict(row._mapping) for row in conn.execute(q)]
    for rec in out:
        rec["answers"] = json.loads(rec["answers"])
        rec["attachments"] = [
            dict(x._mapping) for x in conn.execute(select(a).where(a.c.visit_id == rec["id"]).order_by(a.c.id))
        ]
    return out


def overrides_of(conn: Connection, loan_id: int) -> list[dict[str, Any]]:
    o = v.visit_cadence_overrides
    q = select(o).where(o.c.loan_id == loan_id).order_by(o.c.set_at, o.c.id)
    return [dict(r._mapping) for r in conn.execute(q)]


def due_list(
    conn: Connection, as_of: date, within_days: int, officer: str | None, overdue_only: bool, limit: int
) -> list[dict[str, Any]]:
    """Open plans due by `as_of` + `within_days` (or only those past due), oldest first."""
    plans, loans, b = v.visit_plans, t.loans, t.borrowers
    q = (
        select(
            plans.c.id,
            plans.c.due_on,
            plans.c.kind,
            plans.c.status,
            plans.c.officer,
            loans.c.loan_no,
            b.c.name.label("borrower_name"),
            loans.c.dpd,
            loans.c.classification,
        )
        .select_from(plans.join(loans, loans.c.id == plans.c.loan_id).join(b, b.c.id == loans.c.borrower_id))
        .where(plans.c.status.in_(OPEN_PLAN_STATUSES))
    )
    if overdue_only:
        q = q.where(plans.c.due_on < as_of)
    else:
        q = q.where(plans.c.due_on <= as_of + timedelta(days=within_days))
    if officer is not None:
        q = q.where(plans.c.officer == officer)
    q = q.order_by(plans.c.due_on, plans.c.id).limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]


def completion(conn: Connection, start: date, end: date, as_of: date) -> list[dict[str, Any]]:
    """Plans due in [start, end] by officer and kind: total, done on time, done late, overdue, open."""
    plans = v.visit_plans
    done = plans.c.status == PlanStatus.DONE.value
    late = and_(done, plans.c.done_on > plans.c.due_on)
    past_due = and_(plans.c.status.in_(OPEN_PLAN_STATUSES), plans.c.due_on < as_of)

    def n(cond: ColumnElement[bool]) -> Any:
        return func.sum(case((cond, 1), else_=0))

    q = (
        select(
            plans.c.officer,
            plans.c.kind,
            func.count().label("planned"),
            n(and_(done, not_(late))).label("done_on_time"),
            n(late).label("done_late"),
            n(past_due).label("overdue"),
            n(and_(plans.c.status.in_(OPEN_PLAN_STATUSES), not_(past_due))).label("open"),
        )
        .where(
            plans.c.due_on >= start,
            plans.c.due_on <= end,
            plans.c.status != PlanStatus.CANCELLED.value,
        )
        .group_by(plans.c.officer, plans.c.kind)
    )
    rows = [
        {k: (int(x) if k not in ("officer", "kind") else (x or "")) for k, x in r._mapping.items()}
        for r in conn.execute(q)
    ]
    return sorted(rows, key=lambda r: (r["officer"], r["kind"]))
