"""Follow-up visit tables (贷款回访).

Part of the one schema in `daihou.storage.tables`. A loan has at most one open plan (status
`planned` or `overdue`) at a time, enforced by a partial unique index; done, overdue and cancelled
plans stay as history. Attachments are files stored under `data_dir/attachments` named by their
SHA-256; the table keeps the hash, size and original name.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Index, String, Table, Text, text

from daihou.storage.tables import _created, _id, loans, metadata

OPEN_PLAN = "status IN ('planned', 'overdue')"
# Loans showing any sign of trouble. Every visit policy's high-risk test implies it (the policy check
# requires `normal` among the normal classes and a DPD threshold of at least 0), so planning finds the
# high-risk loans through this small index instead of reading every loan each day.
TROUBLED = "dpd > 0 OR classification <> 'normal'"

visit_plans = Table(
    "visit_plans",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("kind", String(16), nullable=False),  # first, periodic, high_risk, business_onsite
    Column("status", String(16), nullable=False),  # planned, done, overdue, cancelled
    Column("officer", String(64)),  # the loan's officer when planned
    Column("policy_version", String(64), nullable=False),  # name@effective of the policy that set due_on
    _created(),
    Column("done_on", Date),  # the visit's date, when done
    Column("record_id", BigInteger),  # the visit record that completed it
    Column("cancel_reason", String(32)),  # loan_closed, cadence_tightened, cadence_relaxed
    Column("updated_at", DateTime(timezone=True)),
)

visit_records = Table(
    "visit_records",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("plan_id", ForeignKey("visit_plans.id")),
    Column("visit_type", String(16), nullable=False),  # phone, on_site, video
    Column("visited_on", Date, nullable=False),
    Column("officers", String(400), nullable=False),  # comma-separated, at least one
    Column("answers", Text, nullable=False),  # JSON object: question code -> answer
    Column("findings", Text),
    Column("fund_misuse", Boolean, nullable=False),
    Column("risk_flags", String(400), nullable=False, default=""),  # comma-separated codes
    Column("follow_up", Text),
    Column("recorded_by", String(64), nullable=False),
    Column("policy_version", String(64)),
    _created(),
)

visit_attachments = Table(
    "visit_attachments",
    metadata,
    _id(),
    Column("visit_id", ForeignKey("visit_records.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # photo, statement, signed_confirmation, other
    Column("file_name", String(255), nullable=False),  # as uploaded
    Column("sha256", String(64), nullable=False, index=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("stored_path", String(500), nullable=False),  # relative to data_dir: attachments/<sha256>
)

visit_cadence_overrides = Table(
    "visit_cadence_overrides",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("cadence", String(16), nullable=False),  # high_risk
    Column("reason", String(400), nullable=False),  # e.g. the early warning that asked for it
    Column("set_by", String(64), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True)),
    Column("cleared_by", String(64)),
)

Index(
    "uq_visit_plans_open_loan",
    visit_plans.c.loan_id,
    unique=True,
    sqlite_where=text(OPEN_PLAN),
    postgresql_where=text(OPEN_PLAN),
)
Index(
    "ix_loans_visit_troubled",
    loans.c.id,
    sqlite_where=text(TROUBLED),
    postgresql_where=text(TROUBLED),
)
Index("ix_visit_plans_loan_id_status", visit_plans.c.loan_id, visit_plans.c.status)
Index("ix_visit_plans_status_due_on", visit_plans.c.status, visit_plans.c.due_on)
Index("ix_visit_plans_officer_status_due_on", visit_plans.c.officer, visit_plans.c.status, visit_plans.c.due_on)
Index("ix_visit_records_loan_id_visited_on", visit_records.c.loan_id, visit_records.c.visited_on)
