"""follow-up visits: plans, records, cadence overrides

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_PLAN = "status IN ('planned', 'overdue')"
TROUBLED = "dpd > 0 OR classification <> 'normal'"


def upgrade() -> None:
    op.create_table(
        "visit_plans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("loan_id", ID, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_visit_plans_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_plans")),
    )
    op.create_index(
        "uq_visit_plans_open_loan",
        "visit_plans",
        ["loan_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_PLAN),
        postgresql_where=sa.text(OPEN_PLAN),
    )
    op.create_index(
        "ix_loans_visit_troubled",
        "loans",
        ["id"],
        sqlite_where=sa.text(TROUBLED),
        postgresql_where=sa.text(TROUBLED),
    )
    op.create_index("ix_visit_plans_loan_id_status", "visit_plans", ["loan_id", "status"])
    op.create_index("ix_visit_plans_status_due_on", "visit_plans", ["status", "due_on"])
    op.create_index("ix_visit_plans_officer_status_due_on", "visit_plans", ["officer", "status", "due_on"])

    op.create_table(
        "visit_records",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("loan_id", ID, nullable=False),
        sa.Column("plan_id", ID, nullable=True),
        sa.Column("visit_type", sa.String(length=16), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("officers", sa.String(length=400), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("fund_misuse", sa.Boolean(), nullable=False),
        sa.Column("risk_flags", sa.String(length=400), nullable=False),
        sa.Column("follow_up", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_visit_records_loan_id_loans")),
        sa.ForeignKeyConstraint(["plan_id"], ["visit_plans.id"], name=op.f("fk_visit_records_plan_id_visit_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_records")),
    )
    op.create_index("ix_visit_records_loan_id_visited_on", "visit_records", ["loan_id", "visited_on"])

    op.create_table(
        "visit_attachments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("visit_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_path", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visit_records.id"], name=op.f("fk_visit_attachments_visit_id_visit_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_attachments")),
    )
    op.create_index(op.f("ix_visit_attachments_visit_id"), "visit_attachments", ["visit_id"])
    op.create_index(op.f("ix_visit_attachments_sha256"), "visit_attachments", ["sha256"])

    op.create_table(
        "visit_cadence_overrides",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("loan_id", ID, nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_visit_cadence_overrides_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_cadence_overrides")),
    )
    op.create_index(op.f("ix_visit_cadence_overrides_loan_id"), "visit_cadence_overrides", ["loan_id"])


def downgrade() -> None:
    op.drop_index("ix_loans_visit_troubled", table_name="loans")
    op.drop_table("visit_cadence_overrides")
    op.drop_table("visit_attachments")
    op.drop_table("visit_records")
    op.drop_table("visit_plans")
