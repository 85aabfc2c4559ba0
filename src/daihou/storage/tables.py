"""The operational store's tables (SQLAlchemy Core). Same schema on SQLite and PostgreSQL.

Money columns are integer fen (`*_fen`, BIGINT); rates are integer millionths (`*_ppm`), the exact
column form of the domain's Decimal rates. Migrations in `migrations/` build this schema from empty.
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
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[int]:
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


def _owed(name: str) -> list[Column[int]]:
    return [Column(f"{name}_{part}_fen", BigInteger, nullable=False, default=0) for part in ("due", "paid", "waived")]


borrowers = Table(
    "borrowers",
    metadata,
    _id(),
    Column("borrower_no", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # individual | enterprise
    Column("name", String(200), nullable=False),
    Column("id_number", String(32), nullable=False),  # resident ID, or USCC for an enterprise
    Column("mobile", String(20)),
    Column("address", String(400)),
    Column("employer", String(200)),
    Column("legal_representative", String(100)),  # enterprises
    Column("version", Integer, nullable=False, default=1),
    _created(),
)

borrower_contacts = Table(
    "borrower_contacts",
    metadata,
    _id(),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("relation", String(32), nullable=False),  # spouse, parent, colleague, …
    Column("mobile", String(20), nullable=False),
)

products = Table(
    "products",
    metadata,
    _id(),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("method", String(32), nullable=False),
    Column("frequency", String(16), nullable=False),
    Column("day_count", String(16), nullable=False),
    Column("penalty_multiplier_ppm", BigInteger, nullable=False),
    Column("compound_interest", Boolean, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("dpd_tolerance_fen", BigInteger, nullable=False),
    Column("allocation_order", String(200), nullable=False),  # comma-separated components
    Column("allocation_mode", String(16), nullable=False),
    Column("cap_profile", String(32), nullable=False),
    _created(),
)

loans = Table(
    "loans",
    metadata,
    _id(),
    Column("loan_no", String(64), nullable=False, unique=True),  # contract / IOU number (借据号)
    Column("contract_no", String(64)),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("product_id", ForeignKey("products.id"), nullable=False),
    Column("officer", String(64), index=True),
    Column("purpose", String(200)),
    Column("principal_fen", BigInteger, nullable=False),
    Column("rate_annual_ppm", BigInteger, nullable=False),
    Column("penalty_rate_annual_ppm", BigInteger, nullable=False),
    Column("periods", Integer, nullable=False),
    Column("method", String(32), nullable=False),
    Column("frequency", String(16), nullable=False),
    Column("day_count", String(16), nullable=False),
    Column("disbursed_on", Date, nullable=False),
    Column("first_due_on", Date),
    Column("grace_days", Integer, nullable=False),
    Column("dpd_tolerance_fen", BigInteger, nullable=False),
    Column("compound_interest", Boolean, nullable=False),
    Column("allocation_order", String(200), nullable=False),
    Column("allocation_mode", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    *_owed("cost"),
    *_owed("fee"),
    Column("credit_fen", BigInteger, nullable=False, default=0),
    Column("received_fen", BigInteger, nullable=False, default=0),
    Column("accrued_through", Date, nullable=False),
    Column("schedule_version", Integer, nullable=False, default=1),
    # results of the last close of business
    Column("dpd", Integer, nullable=False, server_default="0", default=0),
    Column("classification", String(16), nullable=False, server_default="normal", default="normal"),
    Column("ifrs9_stage", Integer, nullable=False, server_default="1", default=1),
    Column("provision_fen", BigInteger, nullable=False, server_default="0", default=0),
    # restructuring: the observation period and the class it may not improve past
    Column("restructured_until", Date),
    Column("restructure_floor", String(16)),
    Column("version", Integer, nullable=False, default=1),  # optimistic locking
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

guarantors = Table(
    "guarantors",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # individual | enterprise
    Column("name", String(200), nullable=False),
    Column("id_number", String(32), nullable=False),
    Column("mobile", String(20)),
    Column("guarantee_type", String(16), nullable=False),  # joint (连带责任) | general (一般保证)
    Column("amount_fen", BigInteger),  # maximum guaranteed, when limited
)

collateral = Table(
    "collateral",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # real_estate, vehicle, equipment, deposit, equity, receivable
    Column("description", String(400), nullable=False),
    Column("owner", String(200)),
    Column("registration_no", String(100)),  # 他项权证 / 抵押登记号
    Column("custody_status", String(16), nullable=False),  # registered, in_custody, released, disposed
    _created(),
)

collateral_valuations = Table(
    "collateral_valuations",
    metadata,
    _id(),
    Column("collateral_id", ForeignKey("collateral.id"), nullable=False, index=True),
    Column("valued_on", Date, nullable=False),
    Column("value_fen", BigInteger, nullable=False),
    Column("appraiser", String(200)),
    Column("method", String(32)),  # appraisal, market, desktop
)

schedule_versions = Table(
    "schedule_versions",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", String(32), nullable=False),  # disbursement, prepayment, payoff, restructuring
    Column("effective_on", Date, nullable=False),
    _created(),
    UniqueConstraint("loan_id", "version"),
)

installments = Table(
    "installments",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("schedule_version", Integer, nullable=False),
    Column("no", Integer, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    *_owed("principal"),
    *_owed("interest"),
    *_owed("penalty"),
    *_owed("compound"),
    Column("interest_accrued_fen", BigInteger, nullable=False, default=0),
    UniqueConstraint("loan_id", "schedule_version", "no"),
)

transactions = Table(
    "transactions",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # disbursement, payment, prepayment, waiver, charge, reversal
    Column("reference", String(128), nullable=False, unique=True),  # the caller's idempotency key
    Column("value_date", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("component", String(16)),  # waiver and charge
    Column("mode", String(32)),  # prepayment
    Column("reason", String(400)),
    Column("reverses_id", ForeignKey("transactions.id"), index=True),
    Column("reversed", Boolean, nullable=False, default=False),
    Column("result", Text),  # JSON: allocation parts, credit left, paid off
    _created(),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("transaction_id", ForeignKey("transactions.id"), index=True),
    Column("kind", String(16), nullable=False),
    Column("booked_on", Date, nullable=False),
    Column("memo", String(200)),
    _created(),
)

journal_lines = Table(
    "journal_lines",
    metadata,
    _id(),
    Column("entry_id", ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("loan_id", BigInteger, nullable=False),
    Column("account", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
)

classification_overrides = Table(
    "classification_overrides",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("grade", String(16), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("maker", String(64), nullable=False),
    Column("checker", String(64)),
    Column("status", String(16), nullable=False),  # pending, approved, rejected, superseded
    Column("effective_on", Date, nullable=False),
    _created(),
    Column("decided_at", DateTime(timezone=True)),
)

cob_runs = Table(
    "cob_runs",
    metadata,
    _id(),
    Column("business_date", Date, nullable=False, unique=True),
    Column("engine", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # running, finished, failed
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("counts", Text),  # JSON: rows per step
    Column("errors", Text),  # JSON: row-level errors
)

risk_rules = Table(
    "risk_rules",
    metadata,
    _id(),
    Column("effective_on", Date, nullable=False, unique=True),
    Column("payload", Text, nullable=False),  # JSON: buckets, floors, provision rates, stage thresholds
    Column("created_by", String(64), nullable=False),
    _created(),
)

Index("ix_installments_current", installments.c.loan_id, installments.c.schedule_version, installments.c.due_date)
Index("ix_journal_lines_loan_account", journal_lines.c.loan_id, journal_lines.c.account)

# ---------------------------------------------------------------- repayment reminders (还款提醒)
# Times are stored in UTC (SQLite keeps no offset); planned and attempt times convert to local for display.

reminder_recipients = Table(
    "reminder_recipients",
    metadata,
    _id(),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, unique=True),
    Column("email", String(200)),
    Column("locale", String(8)),  # zh-CN | en; the policy's default when empty
)

reminders = Table(
    "reminders",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("installment_no", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("step_code", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template_id", String(64), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("address", String(200)),  # mobile, e-mail or borrower number, resolved when generated
    Column("business_date", Date, nullable=False, index=True),
    Column("planned_at", DateTime(timezone=True), nullable=False),
    Column("amount_due_fen", BigInteger, nullable=False),  # as generated; re-read when sent
    Column("status", String(16), nullable=False),  # pending, sending, sent, delivered, failed, held, cancelled
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("failures", Integer, nullable=False, default=0),
    Column("claim_token", String(32)),  # the dispatcher run that holds it while `sending`
    Column("last_code", String(64)),
    Column("provider_message_id", String(128)),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # one reminder per step of an installment; a changed due date (extension) is a new installment
    UniqueConstraint("loan_id", "installment_no", "due_date", "step_code"),
)

reminder_attempts = Table(
    "reminder_attempts",
    metadata,
    _id(),
    Column("reminder_id", ForeignKey("reminders.id"), nullable=False, index=True),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(200)),
    Column("status", String(16), nullable=False),  # sent, delivered, failed, rescheduled, held, cancelled
    Column("code", String(64)),
    Column("detail", String(400)),
    Column("provider_message_id", String(128)),
    Column("next_attempt_at", DateTime(timezone=True)),
)

reminder_template_activations = Table(
    "reminder_template_activations",
    metadata,
    _id(),
    Column("template_id", String(64), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the texts activated: an edit needs a new activation
    Column("activated_by", String(64), nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("template_id", "digest"),
)

loan_disputes = Table(
    "loan_disputes",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("reason", String(400), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

inbox_messages = Table(
    "inbox_messages",
    metadata,
    _id(),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("reminder_id", ForeignKey("reminders.id"), unique=True),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("locale", String(8), nullable=False),
    _created(),
    Column("read_at", DateTime(timezone=True)),
)

robot_call_tasks = Table(
    "robot_call_tasks",
    metadata,
    _id(),
    Column("reminder_id", ForeignKey("reminders.id"), unique=True),
    Column("phone", String(20), nullable=False),
    Column("script", Text, nullable=False),
    Column("status", String(16), nullable=False),  # queued; the dialler integration moves it on
    _created(),
)

Index("ix_reminders_due", reminders.c.status, reminders.c.next_attempt_at)
Index("ix_reminder_attempts_channel_at", reminder_attempts.c.channel, reminder_attempts.c.attempted_at)


# Each capability keeps its tables in its own module on the same metadata; importing them here makes
# `metadata` the whole schema (Alembic's comparison and `reset` rely on that).
from daihou.storage import (  # noqa: E402, F401
    collection_tables,
    portal_tables,
    recovery_tables,
    score_tables,
    security_tables,
    visit_tables,
    warning_tables,
)
