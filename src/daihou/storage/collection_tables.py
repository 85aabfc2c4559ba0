"""Collection tables (催收): cases, strategies, assignments, contacts, promises.

Part of the one schema in `daihou.storage.tables`. A loan has at most one open case (a partial
unique index); a case keeps its stage, its segment and strategy arm (champion or challenger, fixed at
opening), its team and collector, and the figures the close of business refreshes (balance, amount
overdue, collectable amount, probability of default) so the day's work lists read one table.
`placement_agency_id` is filled by the recovery workflow (agencies are its tables: no FK here).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from daihou.storage.tables import _created, _id, metadata

collectors = Table(
    "collectors",
    metadata,
    _id(),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("team", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # collector | team_lead | robot
    Column("stages", String(200), nullable=False),  # skills: comma-separated stage codes
    Column("capacity", Integer, nullable=False),  # work-list items per day
    Column("active", Boolean, nullable=False, default=True),
    _created(),
)

collection_cases = Table(
    "collection_cases",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("stage", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("opened_on", Date, nullable=False),
    Column("open_reason", String(200), nullable=False),
    Column("stage_since", Date, nullable=False),
    Column("closed_on", Date),
    Column("close_reason", String(32)),  # cured, settled, paid_off, written_off
    Column("team", String(64)),
    Column("collector", String(64), index=True),
    Column("placement_agency_id", Integer, index=True),  # recovery workflow's agencies (no FK)
    Column("segment", String(200), nullable=False),
    Column("strategy_arm", String(16), nullable=False),  # champion | challenger
    Column("treatment", String(64), nullable=False),
    Column("worker", String(16), nullable=False),  # in_house | robot | agency | legal
    Column("score_band", String(16), nullable=False),
    Column("balance_band", String(16), nullable=False),
    Column("balance_at_open_fen", BigInteger, nullable=False),
    Column("balance_fen", BigInteger, nullable=False),  # outstanding principal + charges due, net of credit
    Column("overdue_fen", BigInteger, nullable=False),  # due and unpaid, net of credit
    Column("collectable_fen", BigInteger, nullable=False),  # balance less what a legal cap forbids
    Column("collected_fen", BigInteger, nullable=False),  # payments since opening, net of reversals
    Column("pd_ppm", Integer),  # latest probability of default when scored
    Column("dpd", Integer, nullable=False),
    Column("last_contact_on", Date),
    Column("version", Integer, nullable=False, default=1),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

Index(
    "ux_collection_cases_open_loan",
    collection_cases.c.loan_id,
    unique=True,
    sqlite_where=text("status = 'open'"),
    postgresql_where=text("status = 'open'"),
)
Index("ix_collection_cases_status_collector", collection_cases.c.status, collection_cases.c.collector)

case_events = Table(
    "case_events",
    metadata,
    _id(),
    Column("case_id", ForeignKey("collection_cases.id"), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("kind", String(16), nullable=False),  # opened, moved, closed, assigned, recalled
    Column("from_stage", String(32)),
    Column("to_stage", String(32)),
    Column("detail", String(400)),
    Column("actor", String(64), nullable=False),
    _created(),
)

contact_log = Table(
    "contact_log",
    metadata,
    _id(),
    Column("case_id", ForeignKey("collection_cases.id"), nullable=False, index=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False),
    Column("channel", String(16), nullable=False),  # call, robot_call, sms, visit, letter
    Column("party", String(16), nullable=False),  # debtor, guarantor, contact_person
    Column("number", String(20)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", String(32), nullable=False),
    Column("notes", Text),
    Column("recording_ref", String(200)),
    Column("collector", String(64), nullable=False),
    _created(),
)
Index("ix_contact_log_borrower_started", contact_log.c.borrower_id, contact_log.c.started_at)
Index("ix_contact_log_number_started", contact_log.c.number, contact_log.c.started_at)

collection_refusals = Table(
    "collection_refusals",
    metadata,
    _id(),
    Column("case_id", ForeignKey("collection_cases.id"), index=True),
    Column("loan_id", ForeignKey("loans.id")),
    Column("action", String(16), nullable=False),  # contact, dial, promise
    Column("channel", String(16)),
    Column("party", String(16)),
    Column("number", String(20)),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("code", String(64), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("collector", String(64)),
    _created(),
)

promises = Table(
    "promises",
    metadata,
    _id(),
    Column("case_id", ForeignKey("collection_cases.id"), nullable=False, index=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("promised_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("paid_fen", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # pending | kept | partly_kept | broken
    Column("broken_on", Date),
    Column("plan_id", Integer),  # promises made together as a plan share the first one's id
    Column("contact_id", ForeignKey("contact_log.id")),
    Column("created_by", String(64), nullable=False),
    _created(),
)

worklist_items = Table(
    "worklist_items",
    metadata,
    _id(),
    Column("business_date", Date, nullable=False),
    Column("case_id", ForeignKey("collection_cases.id"), nullable=False),
    Column("collector", String(64), nullable=False),
    Column("rank", Integer, nullable=False),  # 1 = first to work, per collector
    Column("channel", String(16), nullable=False),
    Column("number", String(20)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("pay_ppm", Integer, nullable=False),  # probability of payment
    Column("expected_fen", BigInteger, nullable=False),  # amount × probability of payment
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # queued, done
    UniqueConstraint("business_date", "case_id"),
)
Index(
    "ix_worklist_items_day_collector_rank",
    worklist_items.c.business_date,
    worklist_items.c.collector,
    worklist_items.c.rank,
)
