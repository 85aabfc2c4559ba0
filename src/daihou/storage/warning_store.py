"""Early warning in the operational store: set-based rule evaluation, the alert workflow, signals.

Evaluation: each rule is ONE `INSERT INTO alerts … SELECT` over all open loans (or the few loans an
event names). The SELECT finds (loan, evidence, since) rows for the rule's kind, keeps one row per
loan (the newest finding), and drops a loan that already has a live alert of the rule, or any alert
of the rule opened on or after `since` — the first day of the finding (the overdue spell, the visit,
the revaluation, …), so that a closed alert is not reopened every night for the same facts while a
new finding opens a new one. ON CONFLICT DO NOTHING on (loan_id, active_rule) makes two concurrent
runs safe. A second INSERT … SELECT records the opening step of every new alert. Evidence is built
as JSON by the database (json_object on SQLite, json_build_object on PostgreSQL).

Tables owned by other capabilities (visit_records, promises, contact_log) are read through their
column contract; a rule whose table or columns are not in the database finds nothing and is
reported as skipped.

Day arithmetic is done on day numbers (`_day_no`): SQLite's julianday of the date, PostgreSQL's
date minus 1970-01-01 — both integers that differ by one per day, compared only with each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    and_,
    cast,
    column,
    exists,
    func,
    inspect,
    literal,
    literal_column,
    null,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from daihou.domain.warnings import AlertStep, Rule, RuleKind, Status
from daihou.storage import tables as t
from daihou.storage.warning_tables import alert_steps, alerts, external_signals, loan_actions

OPEN_LOAN_STATUSES = ("active", "overdue", "restructured")
RELEASED_COLLATERAL = ("released", "disposed")

# Other capabilities' tables, by the column contract early warning relies on (not their Table objects,
# so that this module works before and after they exist).
VISIT_RECORDS = table(
    "visit_records", column("loan_id", Integer), column("visited_on", Date), column("fund_misuse", Boolean)
)
PROMISES = table("promises", column("loan_id", Integer), column("status", String), column("broken_on", Date))
CONTACT_LOG = table(
    "contact_log", column("loan_id", Integer), column("outcome", String), column("started_at", DateTime)
)
CONTRACT_TABLES = {
    RuleKind.FUND_MISUSE: VISIT_RECORDS,
    RuleKind.BROKEN_PROMISE: PROMISES,
    RuleKind.LOST_CONTACT: CONTACT_LOG,
}


def utc(at: datetime) -> datetime:
    assert at.tzinfo is not None, "store aware datetimes"
    return at.astimezone(UTC)


def from_db(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _insert(conn: Connection, tbl: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(tbl)


# ---------------------------------------------------------------- dialect helpers


@dataclass(frozen=True)
class _Ctx:
    dialect: str
    day: date
    loan_ids: tuple[int, ...] | None

    def day_no(self, expr: Any) -> ColumnElement[int]:
        """A date (or timestamp) column as an integer day number."""
        if self.dialect == "postgresql":
            return cast(cast(expr, Date) - literal(date(1970, 1, 1), Date), Integer)
        return cast(func.julianday(func.date(expr)), Integer)

    def days_before(self, n: int) -> date:
        """The date n days before the business date (a window (day − n, day] is `> days_before(n)`)."""
        return self.day - timedelta(days=n)

    @property
    def today_no(self) -> ColumnElement[int]:
        return self.day_no(literal(self.day, Date))

    def json(self, pairs: Sequence[tuple[str, Any]]) -> ColumnElement[str]:
        args: list[Any] = []
        for key, value in pairs:
            args.extend((literal_column(f"'{key}'"), value))  # keys are ours: inline, typed text on both
        if self.dialect == "postgresql":
            return cast(func.json_build_object(*args), Text)
        return func.json_object(*args)

    def open_loans(self, stmt: Select[Any]) -> Select[Any]:
        loans = t.loans
        stmt = stmt.where(loans.c.status.in_(OPEN_LOAN_STATUSES))
        if self.loan_ids is not None:
            stmt = stmt.where(loans.c.id.in_(self.loan_ids))
        return stmt


# ---------------------------------------------------------------- one query per rule kind
# Each returns a SELECT of (loan_id, since, evidence) — possibly several rows per loan.

Finder = Callable[[Rule, _Ctx], Select[Any]]


def _first_missed(rule: Rule, c: _Ctx) -> Select[Any]:
    loans = t.loans
    evidence = c.json([("dpd", loans.c.dpd)])
    # since 0: any alert of the rule, ever, means the first miss has been seen
    stmt = select(loans.c.id.label("loan_id"), literal(0, Integer).label("since"), evidence.label("ev"))
    return c.open_loans(stmt).where(loans.c.dpd >= 1)


def _dpd_crossed(rule: Rule, c: _Ctx) -> Select[Any]:
    loans = t.loans
    threshold = rule.int_param("threshold_days")
    evidence = c.json([("dpd", loans.c.dpd), ("threshold_days", literal(threshold, Integer))])
    spell_start = c.today_no - loans.c.dpd + 1  # the first overdue day of the current spell
    stmt = select(loans.c.id.label("loan_id"), spell_start.label("since"), evidence.label("ev"))
    return c.open_loans(stmt).where(loans.c.dpd >= threshold)


def _low_payment(rule: Rule, c: _Ctx) -> Select[Any]:
    loans, i = t.loans, t.installments
    ratio, lookback = rule.int_param("ratio_pct"), rule.int_param("lookback_days")
    due = i.c.principal_due_fen + i.c.interest_due_fen
    paid = i.c.principal_paid_fen + i.c.interest_paid_fen
    evidence = c.json(
        [
            ("installment_no", i.c.no),
            ("due_date", i.c.due_date),
            ("due_fen", due),
            ("paid_fen", paid),
            ("ratio_pct", literal(ratio, Integer)),
        ]
    )
    stmt = select(i.c.loan_id.label("loan_id"), c.day_no(i.c.due_date).label("since"), evidence.label("ev"))
    stmt = stmt.select_from(
        i.join(loans, and_(loans.c.id == i.c.loan_id, loans.c.schedule_version == i.c.schedule_version))
    )
    return c.open_loans(stmt).where(
        i.c.due_date <= c.day,
        i.c.due_date > c.days_before(lookback),  # a plain range: the (loan, version, due date) index serves it
        paid > 0,
        paid * 100 < due * ratio,
    )


def _fund_misuse(rule: Rule, c: _Ctx) -> Select[Any]:
    loans, v = t.loans, VISIT_RECORDS
    evidence = c.json([("visited_on", v.c.visited_on)])
    stmt = select(v.c.loan_id.label("loan_id"), c.day_no(v.c.visited_on).label("since"), evidence.label("ev"))
    stmt = stmt.select_from(v.join(loans, loans.c.id == v.c.loan_id))
    return c.open_loans(stmt).where(
        v.c.fund_misuse.is_(True),
        v.c.visited_on <= c.day,
        v.c.visited_on > c.days_before(rule.int_param("lookback_days")),
    )


def _collateral_drop(rule: Rule, c: _Ctx) -> Select[Any]:
    loans, col, cv = t.loans, t.collateral, t.collateral_valuations
    drop = rule.int_param("drop_pct")
    part = cv.c.collateral_id
    oldest_first = (cv.c.valued_on, cv.c.id)
    baseline = (
        func.first_value(cv.c.value_fen) if rule.str_param("baseline") == "first" else func.lag(cv.c.value_fen)
    ).over(partition_by=part, order_by=oldest_first)
    baseline_on = (
        func.first_value(cv.c.valued_on) if rule.str_param("baseline") == "first" else func.lag(cv.c.valued_on)
    ).over(partition_by=part, order_by=oldest_first)
    # one pass of window functions per collateral: no self-join
    ranked = (
        select(
            cv.c.collateral_id,
            cv.c.valued_on,
            cv.c.value_fen,
            baseline.label("baseline_fen"),
            baseline_on.label("baseline_on"),
            func.row_number().over(partition_by=part, order_by=(cv.c.valued_on.desc(), cv.c.id.desc())).label("newest"),
            func.row_number().over(partition_by=part, order_by=oldest_first).label("oldest"),
        )
        .where(cv.c.valued_on <= c.day)
        .subquery()
    )
    latest = ranked
    evidence = c.json(
        [
            ("collateral_id", col.c.id),
            ("valued_on", latest.c.valued_on),
            ("value_fen", latest.c.value_fen),
            ("baseline_on", latest.c.baseline_on),
            ("baseline_fen", latest.c.baseline_fen),
            ("drop_pct", literal(drop, Integer)),
        ]
    )
    stmt = select(col.c.loan_id.label("loan_id"), c.day_no(latest.c.valued_on).label("since"), evidence.label("ev"))
    stmt = stmt.select_from(
        latest.join(col, col.c.id == latest.c.collateral_id).join(loans, loans.c.id == col.c.loan_id)
    )
    return c.open_loans(stmt).where(
        latest.c.newest == 1,
        latest.c.oldest > 1,  # a revaluation, not the first valuation
        col.c.custody_status.not_in(RELEASED_COLLATERAL),
        latest.c.value_fen * 100 < latest.c.baseline_fen * (100 - drop),
    )


def _external_signal(rule: Rule, c: _Ctx) -> Select[Any]:
    loans, s = t.loans, external_signals
    evidence = c.json(
        [
            ("signal_id", s.c.id),
            ("kind", s.c.kind),
            ("source", s.c.source),
            ("observed_on", s.c.observed_on),
            ("detail", s.c.detail),
        ]
    )
    stmt = select(loans.c.id.label("loan_id"), c.day_no(s.c.imported_on).label("since"), evidence.label("ev"))
    stmt = stmt.select_from(s.join(loans, loans.c.borrower_id == s.c.borrower_id))
    return c.open_loans(stmt).where(
        s.c.kind.in_(rule.list_param("kinds")),
        s.c.observed_on <= c.day,
        s.c.imported_on <= c.day,
        s.c.imported_on > c.days_before(rule.int_param("lookback_days")),
    )


def _score_drop(rule: Rule, c: _Ctx) -> Select[Any]:
    """Loans scored in the look-back window whose latest score fell more than `points` below the one
    before. Driven by the (model, scored_on) index: on a day nobody was scored it reads nothing; each
    candidate's latest and previous scoring are index seeks on (loan_id, model, scored_on)."""
    from daihou.storage.score_tables import loan_scores as ls

    loans, model, points = t.loans, rule.str_param("model"), rule.int_param("points")
    latest, prev = ls.alias("latest"), ls.alias("prev")
    later, earlier = ls.alias("later"), ls.alias("earlier")
    newest_on = (
        select(func.max(later.c.scored_on))
        .where(later.c.loan_id == latest.c.loan_id, later.c.model == model, later.c.scored_on <= c.day)
        .scalar_subquery()
    )
    before_on = (
        select(func.max(earlier.c.scored_on))
        .where(
            earlier.c.loan_id == latest.c.loan_id, earlier.c.model == model, earlier.c.scored_on < latest.c.scored_on
        )
        .scalar_subquery()
    )
    evidence = c.json(
        [
            ("scored_on", latest.c.scored_on),
            ("score", latest.c.score),
            ("previous_on", prev.c.scored_on),
            ("previous_score", prev.c.score),
            ("points", literal(points, Integer)),
        ]
    )
    stmt = select(latest.c.loan_id.label("loan_id"), c.day_no(latest.c.scored_on).label("since"), evidence.label("ev"))
    stmt = stmt.select_from(
        latest.join(
            prev, and_(prev.c.loan_id == latest.c.loan_id, prev.c.model == model, prev.c.scored_on == before_on)
        ).join(loans, loans.c.id == latest.c.loan_id)
    )
    return c.open_loans(stmt).where(
        latest.c.model == model,
        latest.c.scored_on <= c.day,
        latest.c.scored_on > c.days_before(rule.int_param("lookback_days")),
        latest.c.scored_on == newest_on,
        prev.c.score - latest.c.score > points,
    )


def _broken_promise(rule: Rule, c: _Ctx) -> Select[Any]:
    loans, p = t.loans, PROMISES
    evidence = c.json([("broken_on", p.c.broken_on)])
    stmt = select(p.c.loan_id.label("loan_id"), c.day_no(p.c.broken_on).label("since"), evidence.label("ev"))
    stmt = stmt.select_from(p.join(loans, loans.c.id == p.c.loan_id))
    return c.open_loans(stmt).where(
        p.c.status == "broken",
        p.c.broken_on <= c.day,
        p.c.broken_on > c.days_before(rule.int_param("lookback_days")),
    )


def _lost_contact(rule: Rule, c: _Ctx) -> Select[Any]:
    loans, log = t.loans, CONTACT_LOG
    on = c.day_no(log.c.started_at)
    evidence = c.json([("started_at", cast(log.c.started_at, String))])
    stmt = select(log.c.loan_id.label("loan_id"), on.label("since"), evidence.label("ev"))
    stmt = stmt.select_from(log.join(loans, loans.c.id == log.c.loan_id))
    return c.open_loans(stmt).where(
        log.c.outcome == "lost_contact",
        on <= c.today_no,
        on > c.today_no - rule.int_param("lookback_days"),
    )


FINDERS: dict[RuleKind, Finder] = {
    RuleKind.FIRST_MISSED: _first_missed,
    RuleKind.DPD_CROSSED: _dpd_crossed,
    RuleKind.LOW_PAYMENT: _low_payment,
    RuleKind.FUND_MISUSE: _fund_misuse,
    RuleKind.COLLATERAL_DROP: _collateral_drop,
    RuleKind.EXTERNAL_SIGNAL: _external_signal,
    RuleKind.SCORE_DROP: _score_drop,
    RuleKind.BROKEN_PROMISE: _broken_promise,
    RuleKind.LOST_CONTACT: _lost_contact,
}


def _missing_contract(conn: Connection, rules: Sequence[Rule]) -> set[RuleKind]:
    """Kinds whose table (owned by another capability) or contract columns are not in the database."""
    needed = {r.kind for r in rules if r.kind in CONTRACT_TABLES}
    if not needed:
        return set()
    insp = inspect(conn)
    missing = set()
    for kind in needed:
        tbl = CONTRACT_TABLES[kind]
        if not insp.has_table(tbl.name):
            missing.add(kind)
            continue
        present = {c["name"] for c in insp.get_columns(tbl.name)}
        if not {c.name for c in tbl.columns} <= present:
            missing.add(kind)
    return missing


def _new_findings(rule: Rule, c: _Ctx) -> Select[Any]:
    """The rule's findings, one per loan (the newest), without the loans it has already alerted on."""
    found = FINDERS[rule.kind](rule, c).subquery("found")
    a = alerts
    seen = exists().where(
        a.c.loan_id == found.c.loan_id,
        a.c.rule_code == rule.code,
        or_(a.c.active_rule.is_not(None), c.day_no(a.c.opened_on) >= found.c.since),
    )
    ranked = (
        select(
            found.c.loan_id,
            found.c.ev,
            func.row_number().over(partition_by=found.c.loan_id, order_by=found.c.since.desc()).label("pick"),
        )
        .where(~seen)
        .subquery("ranked")
    )
    return select(ranked.c.loan_id, ranked.c.ev).where(ranked.c.pick == 1)


def evaluate(
    conn: Connection,
    day: date,
    rules: Sequence[Rule],
    now: datetime,
    loan_ids: Sequence[int] | None = None,
    user: str = "system:cob",
) -> dict[str, int]:
    """Open the alerts every rule in `rules` finds on `day`; returns new alerts per rule code and in all.

    Runs in the caller's transaction. Idempotent for the day: a rerun opens nothing new.
    """
    at = utc(now)
    c = _Ctx(conn.dialect.name, day, tuple(loan_ids) if loan_ids is not None else None)
    missing = _missing_contract(conn, rules)
    counts: dict[str, int] = {"warnings_opened": 0}
    if missing:
        counts["warning_rules_skipped"] = sum(1 for r in rules if r.kind in missing)
    if c.loan_ids == ():
        return counts
    for rule in rules:
        if rule.kind in missing:
            continue
        new = _new_findings(rule, c).subquery("new")
        rows = select(
            new.c.loan_id,
            literal(rule.code, String),
            literal(rule.kind.value, String),
            literal(rule.effective, Date),
            literal(rule.severity.value, String),
            literal(rule.owner_role, String),
            literal(Status.OPEN.value, String),
            literal(rule.code, String),
            literal(day, Date),
            new.c.ev,
            literal(1, Integer),
            literal(at, DateTime(timezone=True)),
            literal(at, DateTime(timezone=True)),
        ).where(literal(True, Boolean))  # SQLite: INSERT … SELECT … ON CONFLICT needs a WHERE
        names = [
            "loan_id",
            "rule_code",
            "rule_kind",
            "rule_effective",
            "severity",
            "owner_role",
            "status",
            "active_rule",
            "opened_on",
            "evidence",
            "version",
            "created_at",
            "updated_at",
        ]
        stmt = _insert(conn, alerts).from_select(names, rows).on_conflict_do_nothing().returning(alerts.c.id)
        opened = len(conn.execute(stmt).all())  # rowcount is -1 for INSERT … SELECT on psycopg
        if opened:
            _record_openings(conn, rule, day, at, user)
            counts[f"warning_{rule.code}"] = opened
            counts["warnings_opened"] += opened
    return counts


def _record_openings(conn: Connection, rule: Rule, day: date, at: datetime, user: str) -> None:
    a, s = alerts, alert_steps
    comment = f"opened by rule {rule.code} ({rule.effective}): {rule.title_zh} / {rule.title_en}"
    rows = select(
        a.c.id,
        null(),
        literal(Status.OPEN.value, String),
        literal(user, String),
        literal(at, DateTime(timezone=True)),
        literal(comment, Text),
    ).where(
        a.c.rule_code == rule.code,
        a.c.opened_on == day,
        a.c.status == Status.OPEN.value,
        ~exists().where(s.c.alert_id == a.c.id),
    )
    conn.execute(s.insert().from_select(["alert_id", "from_status", "to_status", "user", "at", "comment"], rows))


# ---------------------------------------------------------------- the workflow's store


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    loan_id: int
    loan_no: str
    officer: str | None
    rule_code: str
    rule_kind: str
    rule_effective: date
    severity: str
    owner_role: str
    status: str
    opened_on: date
    evidence: dict[str, Any]
    outcome: str | None
    closed_on: date | None
    version: int


@dataclass(frozen=True, slots=True)
class StepRow:
    from_status: str | None
    to_status: str
    user: str
    at: datetime
    comment: str
    action: str | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    alert_id: int | None
    kind: str
    status: str
    decided_on: date
    decided_by: str
    amount_due_fen: int | None
    detail: dict[str, Any]


def _alert_row(r: Any) -> AlertRow:
    return AlertRow(
        id=r.id,
        loan_id=r.loan_id,
        loan_no=r.loan_no,
        officer=r.officer,
        rule_code=r.rule_code,
        rule_kind=r.rule_kind,
        rule_effective=r.rule_effective,
        severity=r.severity,
        owner_role=r.owner_role,
        status=r.status,
        opened_on=r.opened_on,
        evidence=json.loads(r.evidence) if r.evidence else {},
        outcome=r.outcome,
        closed_on=r.closed_on,
        version=r.version,
    )


class SqlWarningStore:
    """The alert workflow's reads and writes; each method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def evaluate(
        self, day: date, rules: Sequence[Rule], now: datetime, loan_ids: Sequence[int] | None, user: str
    ) -> dict[str, int]:
        with self.engine.begin() as conn:
            return evaluate(conn, day, rules, now, loan_ids, user)

    def _select(self) -> Select[Any]:
        a, loans = alerts, t.loans
        return select(a, loans.c.loan_no, loans.c.officer).select_from(a.join(loans, loans.c.id == a.c.loan_id))

    def alerts(
        self,
        status: str | None = None,
        severities: Sequence[str] | None = None,
        owner_role: str | None = None,
        loan_no: str | None = None,
        limit: int = 200,
    ) -> list[AlertRow]:
        a = alerts
        stmt = self._select()
        if status:
            stmt = stmt.where(a.c.status == status)
        if severities:
            stmt = stmt.where(a.c.severity.in_(severities))
        if owner_role:
            stmt = stmt.where(a.c.owner_role == owner_role)
        if loan_no:
            stmt = stmt.where(t.loans.c.loan_no == loan_no)
        stmt = stmt.order_by(a.c.opened_on.desc(), a.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_alert_row(r) for r in conn.execute(stmt)]

    def alert(self, alert_id: int) -> AlertRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(self._select().where(alerts.c.id == alert_id)).first()
        return None if r is None else _alert_row(r)

    def steps(self, alert_id: int) -> list[StepRow]:
        s = alert_steps
        with self.engine.connect() as conn:
            rows = conn.execute(select(s).where(s.c.alert_id == alert_id).order_by(s.c.id)).all()
        out = []
        for r in rows:
            at = from_db(r.at)
            assert at is not None
            out.append(StepRow(r.from_status, r.to_status, r.user, at, r.comment, r.action, r.outcome))
        return out

    def actions(self, alert_id: int | None = None, loan_id: int | None = None) -> list[ActionRow]:
        la = loan_actions
        stmt = select(la).order_by(la.c.id)
        if alert_id is not None:
            stmt = stmt.where(la.c.alert_id == alert_id)
        if loan_id is not None:
            stmt = stmt.where(la.c.loan_id == loan_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            ActionRow(
                r.id,
                r.alert_id,
                r.kind,
                r.status,
                r.decided_on,
                r.decided_by,
                r.amount_due_fen,
                json.loads(r.detail) if r.detail else {},
            )
            for r in rows
        ]

    def record_step(
        self,
        alert: AlertRow,
        step: AlertStep,
        day: date,
        action: tuple[str, int | None, dict[str, Any]] | None = None,
    ) -> bool:
        """Move the alert as `step` says if nobody moved it meanwhile (version check); record the step
        and, for an action step, the loan action (status, amount due, detail). False: moved meanwhile."""
        a = alerts
        at = utc(step.at)
        values: dict[str, Any] = {"status": step.to_status.value, "version": alert.version + 1, "updated_at": at}
        if step.to_status is Status.CLOSED:
            values.update(active_rule=None, outcome=step.outcome.value if step.outcome else None, closed_on=day)
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(a).where(a.c.id == alert.id, a.c.version == alert.version).values(**values)
            ).rowcount
            if moved != 1:
                return False
            conn.execute(
                alert_steps.insert().values(
                    alert_id=alert.id,
                    from_status=step.from_status.value,
                    to_status=step.to_status.value,
                    user=step.user,
                    at=at,
                    comment=step.comment,
                    action=step.action.value if step.action else None,
                    outcome=step.outcome.value if step.outcome else None,
                )
            )
            if action is not None:
                status, amount_due_fen, detail = action
                conn.execute(
                    loan_actions.insert().values(
                        loan_id=alert.loan_id,
                        alert_id=alert.id,
                        kind=step.action.value if step.action else "",
                        status=status,
                        decided_on=day,
                        decided_by=step.user,
                        amount_due_fen=amount_due_fen,
                        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
                        created_at=at,
                    )
                )
        return True

    # ------------------------------------------------------------ external signals

    def borrowers_by_id_number(self, numbers: Sequence[str]) -> dict[str, int]:
        b = t.borrowers
        found: dict[str, int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(numbers), 500):
                chunk = list(numbers[start : start + 500])
                for r in conn.execute(select(b.c.id_number, b.c.id).where(b.c.id_number.in_(chunk))):
                    found.setdefault(r.id_number, r.id)
        return found

    def loan_ids_of_borrowers(self, borrower_ids: Sequence[int]) -> list[int]:
        loans = t.loans
        if not borrower_ids:
            return []
        with self.engine.connect() as conn:
            stmt = select(loans.c.id).where(
                loans.c.borrower_id.in_(list(borrower_ids)), loans.c.status.in_(OPEN_LOAN_STATUSES)
            )
            return list(conn.scalars(stmt))

    def insert_signals(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert the signals not yet on file (same subject, kind, source and date); returns how many."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            stmt = _insert(conn, external_signals).on_conflict_do_nothing()
            before = conn.execute(select(func.count()).select_from(external_signals)).scalar_one()
            conn.execute(stmt, [{**r, "imported_at": utc(r["imported_at"])} for r in rows])
            after = conn.execute(select(func.count()).select_from(external_signals)).scalar_one()
        return int(after - before)

    def loan_no(self, loan_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.scalar(select(t.loans.c.loan_no).where(t.loans.c.id == loan_id))
