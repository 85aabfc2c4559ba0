"""Reminders in the operational store: set-based generation, claims by conditional UPDATE, attempts.

Generation is one INSERT … SELECT per policy step over installments joined to loans and borrowers,
with ON CONFLICT DO NOTHING on the reminder's unique key: running it again creates nothing, and two
runs at once cannot create a reminder twice. A dispatcher claims due reminders by moving them from
`pending` to `sending` under its token in one UPDATE; a row another dispatcher holds is not `pending`
and is skipped, so no reminder is sent twice. Times are stored in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    and_,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from daihou.domain.compliance import Code, DailyCap, Scope
from daihou.domain.reminders import Channel, ReminderPolicy, Step, due_date_hit, planned_at
from daihou.storage import tables as t
from daihou.storage.repository import insert_id
from daihou.workflow.ports import Due, Finish, ReminderView

OPEN_LOAN_STATUSES = ("active", "overdue", "restructured")
COMPONENTS = ("principal", "interest", "penalty", "compound")


def utc(at: datetime) -> datetime:
    assert at.tzinfo is not None, "store aware datetimes"
    return at.astimezone(UTC)


def from_db(at: datetime | None) -> datetime | None:
    """SQLite gives naive UTC back, PostgreSQL an aware value: both become aware UTC."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _outstanding(i: FromClause) -> ColumnElement[int]:
    parts = [i.c[f"{c}_due_fen"] - i.c[f"{c}_paid_fen"] - i.c[f"{c}_waived_fen"] for c in COMPONENTS]
    return parts[0] + parts[1] + parts[2] + parts[3]


def amount_due(i: FromClause) -> ColumnElement[int]:
    """What the borrower must still pay to clear everything due up to installment `i`, net of the
    credit the loan holds (applied to the oldest first at the due date): fees and costs first, then
    every installment of the current schedule due on or before `i`'s due date."""
    earlier = t.installments.alias("earlier")
    through = (
        select(func.coalesce(func.sum(_outstanding(earlier)), 0))
        .where(
            earlier.c.loan_id == i.c.loan_id,
            earlier.c.schedule_version == i.c.schedule_version,
            earlier.c.due_date <= i.c.due_date,
        )
        .scalar_subquery()
    )
    loans = t.loans.c
    loan_level = (loans.cost_due_fen - loans.cost_paid_fen - loans.cost_waived_fen) + (
        loans.fee_due_fen - loans.fee_paid_fen - loans.fee_waived_fen
    )
    return through + loan_level - loans.credit_fen


def _address(step: Step) -> ColumnElement[Any]:
    if step.channel is Channel.EMAIL:
        return t.reminder_recipients.c.email
    if step.channel is Channel.INBOX:
        return t.borrowers.c.borrower_no
    return t.borrowers.c.mobile


def _insert(conn: Connection, table: Any) -> Any:
    """INSERT with ON CONFLICT support on either backend."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def generate(conn: Connection, day: date, policy: ReminderPolicy, now: datetime) -> dict[str, int]:
    """Create the reminders whose step falls on `day`; returns how many were new, per step."""
    i, loans, b, rr = t.installments.alias("i"), t.loans, t.borrowers, t.reminder_recipients
    created = utc(now)
    counts: dict[str, int] = {}
    for step in policy.steps:
        when = utc(planned_at(step, day, policy.tz))
        due = amount_due(i)
        rows = (
            select(
                loans.c.id,
                i.c.no,
                i.c.due_date,
                literal(step.code, String),
                literal(step.channel.value, String),
                literal(step.template_id, String),
                func.coalesce(rr.c.locale, literal(policy.default_locale, String)),
                b.c.id,
                _address(step),
                literal(day, Date),
                literal(when, DateTime(timezone=True)),
                due,
                literal("pending", String),
                literal(when, DateTime(timezone=True)),
                literal(0, Integer),
                literal(created, DateTime(timezone=True)),
                literal(created, DateTime(timezone=True)),
            )
            .select_from(
                i.join(loans, and_(loans.c.id == i.c.loan_id, loans.c.schedule_version == i.c.schedule_version))
                .join(b, b.c.id == loans.c.borrower_id)
                .outerjoin(rr, rr.c.borrower_id == b.c.id)
            )
            .where(
                i.c.due_date == due_date_hit(step, day),
                loans.c.status.in_(OPEN_LOAN_STATUSES),
                _outstanding(i) > 0,
                due > 0,
            )
        )
        columns = [
            "loan_id",
            "installment_no",
            "due_date",
            "step_code",
            "channel",
            "template_id",
            "locale",
            "borrower_id",
            "address",
            "business_date",
            "planned_at",
            "amount_due_fen",
            "status",
            "next_attempt_at",
            "failures",
            "created_at",
            "updated_at",
        ]
        stmt = (
            _insert(conn, t.reminders)
            .from_select(columns, rows)
            .on_conflict_do_nothing(index_elements=["loan_id", "installment_no", "due_date", "step_code"])
            .returning(t.reminders.c.id)  # counts what was new on every SQLAlchemy and driver version
        )
        counts[step.code] = len(conn.execute(stmt).all())
    return counts


class SqlReminderStore:
    """Implements `daihou.workflow.ports.ReminderStore`. Each method is its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------ dispatch

    def claim(
        self, now: datetime, channels: Sequence[str], template_ids: Sequence[str], token: str, limit: int
    ) -> list[Due]:
        r = t.reminders
        if not channels or not template_ids:
            return []
        due_ids = (
            select(r.c.id)
            .where(
                r.c.status == "pending",
                r.c.next_attempt_at <= utc(now),
                r.c.channel.in_(list(channels)),
                r.c.template_id.in_(list(template_ids)),
            )
            .order_by(r.c.next_attempt_at, r.c.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            # The status condition is re-checked on each row as it is updated: a row another
            # dispatcher claimed meanwhile is no longer `pending` and stays theirs.
            conn.execute(
                update(r)
                .where(r.c.id.in_(due_ids), r.c.status == "pending")
                .values(status="sending", claim_token=token, updated_at=utc(now))
            )
        with self.engine.connect() as conn:
            return [self._due(row._mapping) for row in conn.execute(self._claimed(token))]

    @staticmethod
    def _claimed(token: str) -> Any:
        r, loans, b = t.reminders, t.loans, t.borrowers
        i = t.installments.alias("i")
        disputed = exists().where(t.loan_disputes.c.loan_id == r.c.loan_id, t.loan_disputes.c.resolved_at.is_(None))
        current = and_(
            i.c.loan_id == r.c.loan_id,
            i.c.schedule_version == loans.c.schedule_version,
            i.c.no == r.c.installment_no,
            i.c.due_date == r.c.due_date,
        )
        return (
            select(
                r,
                loans.c.loan_no,
                loans.c.status.label("loan_status"),
                b.c.name.label("borrower_name"),
                _outstanding(i).label("installment_outstanding"),
                amount_due(i).label("amount_now"),
                disputed.label("disputed"),
            )
            .select_from(
                r.join(loans, loans.c.id == r.c.loan_id).join(b, b.c.id == r.c.borrower_id).outerjoin(i, current)
            )
            .where(r.c.claim_token == token, r.c.status == "sending")
            .order_by(r.c.id)
        )

    @staticmethod
    def _due(m: Any) -> Due:
        open_ = (
            m["installment_outstanding"] is not None
            and m["installment_outstanding"] > 0
            and m["loan_status"] in OPEN_LOAN_STATUSES
        )
        at = from_db(m["planned_at"])
        assert at is not None
        return Due(
            m["id"],
            m["loan_no"],
            m["installment_no"],
            m["due_date"],
            m["step_code"],
            m["channel"],
            m["template_id"],
            m["locale"],
            m["borrower_id"],
            m["borrower_name"],
            m["address"] or "",
            at,
            m["failures"],
            int(m["amount_now"] or 0),
            bool(open_),
            bool(m["disputed"]),
        )

    def today_counts(self, due: Due, caps: Iterable[DailyCap], start: datetime, end: datetime) -> dict[Code, int]:
        a, r = t.reminder_attempts, t.reminders
        out: dict[Code, int] = {}
        with self.engine.connect() as conn:
            for cap in caps:
                if due.channel not in cap.channels:
                    continue
                who = r.c.borrower_id == due.borrower_id if cap.scope is Scope.DEBTOR else a.c.address == due.address
                q = (
                    select(func.count())
                    .select_from(a.join(r, r.c.id == a.c.reminder_id))
                    .where(
                        a.c.channel.in_(sorted(cap.channels)),
                        a.c.status.in_(sorted(cap.counts)),
                        a.c.attempted_at >= utc(start),
                        a.c.attempted_at < utc(end),
                        who,
                    )
                )
                out[cap.code] = int(conn.execute(q).scalar_one())
        return out

    def finish(self, due: Due, token: str, outcome: Finish) -> bool:
        """Record the attempt and move the reminder on, only if this dispatcher still holds it."""
        r = t.reminders
        nxt = utc(outcome.next_attempt_at) if outcome.next_attempt_at else None
        with self.engine.begin() as conn:
            done = conn.execute(
                update(r)
                .where(r.c.id == due.id, r.c.claim_token == token, r.c.status == "sending")
                .values(
                    status=outcome.status,
                    claim_token=None,
                    next_attempt_at=nxt,
                    failures=outcome.failures,
                    last_code=outcome.code,
                    provider_message_id=outcome.provider_message_id or r.c.provider_message_id,
                    updated_at=utc(outcome.at),
                )
            )
            if done.rowcount != 1:
                return False
            insert_id(
                conn,
                t.reminder_attempts,
                {
                    "reminder_id": due.id,
                    "attempted_at": utc(outcome.at),
                    "channel": due.channel,
                    "address": due.address or None,
                    "status": outcome.attempt_status,
                    "code": outcome.code,
                    "detail": (outcome.detail or "")[:400] or None,
                    "provider_message_id": outcome.provider_message_id,
                    "next_attempt_at": nxt,
                },
            )
        return True

    def release(self, ids: Iterable[int], token: str) -> None:
        """Give back claimed reminders that were never handed to a channel."""
        r = t.reminders
        wanted = list(ids)
        if not wanted:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(r)
                .where(r.c.id.in_(wanted), r.c.claim_token == token, r.c.status == "sending")
                .values(status="pending", claim_token=None)
            )

    def waiting(self, now: datetime) -> int:
        r = t.reminders
        q = select(func.count()).where(r.c.status == "pending", r.c.next_attempt_at <= utc(now))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    # ------------------------------------------------------------ reading

    def reminders(self, day: date | None, status: str | None, limit: int) -> list[ReminderView]:
        r, loans = t.reminders, t.loans
        q = select(r, loans.c.loan_no).join(loans, loans.c.id == r.c.loan_id)
        if day is not None:
            q = q.where(r.c.business_date == day)
        if status is not None:
            q = q.where(r.c.status == status)
        q = q.order_by(r.c.planned_at, r.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [
                ReminderView(
                    m["id"],
                    m["loan_no"],
                    m["installment_no"],
                    m["due_date"],
                    m["step_code"],
                    m["channel"],
                    m["business_date"],
                    from_db(m["planned_at"]),  # type: ignore[arg-type]
                    m["amount_due_fen"],
                    m["status"],
                    m["failures"],
                    m["last_code"],
                    m["provider_message_id"],
                )
                for m in (row._mapping for row in conn.execute(q))
            ]

    # ------------------------------------------------------------ templates, disputes, recipients

    def activated(self) -> set[tuple[str, str]]:
        a = t.reminder_template_activations
        with self.engine.connect() as conn:
            return {(row.template_id, row.digest) for row in conn.execute(select(a.c.template_id, a.c.digest))}

    def activate(self, template_id: str, digest: str, by: str, at: datetime) -> None:
        a = t.reminder_template_activations
        values = {"template_id": template_id, "digest": digest, "activated_by": by, "activated_at": utc(at)}
        with self.engine.begin() as conn:
            conn.execute(_insert(conn, a).values(values).on_conflict_do_nothing())

    def _loan_id(self, conn: Connection, loan_no: str) -> int | None:
        return conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar()

    def open_dispute(self, loan_no: str, reason: str, at: datetime) -> bool:
        with self.engine.begin() as conn:
            loan_id = self._loan_id(conn, loan_no)
            if loan_id is None:
                return False
            insert_id(conn, t.loan_disputes, {"loan_id": loan_id, "reason": reason[:400], "opened_at": utc(at)})
        return True

    def resolve_dispute(self, loan_no: str, at: datetime) -> int:
        """Close the loan's open disputes; its held reminders go back to the queue. Returns how many."""
        d, r = t.loan_disputes, t.reminders
        with self.engine.begin() as conn:
            loan_id = self._loan_id(conn, loan_no)
            if loan_id is None:
                return 0
            conn.execute(update(d).where(d.c.loan_id == loan_id, d.c.resolved_at.is_(None)).values(resolved_at=utc(at)))
            released = conn.execute(
                update(r)
                .where(r.c.loan_id == loan_id, r.c.status == "held")
                .values(status="pending", next_attempt_at=utc(at), updated_at=utc(at))
            )
            return released.rowcount

    def set_recipient(self, borrower_no: str, email: str | None, locale: str | None) -> bool:
        rr = t.reminder_recipients
        with self.engine.begin() as conn:
            borrower_id = conn.execute(
                select(t.borrowers.c.id).where(t.borrowers.c.borrower_no == borrower_no)
            ).scalar()
            if borrower_id is None:
                return False
            stmt = _insert(conn, rr).values(borrower_id=borrower_id, email=email, locale=locale)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["borrower_id"], set_={"email": email, "locale": locale})
            )
        return True
