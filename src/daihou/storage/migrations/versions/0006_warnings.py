"""early warning: alerts, alert steps, external signals, loan actions

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subject_id_number", sa.String(length=32), nullable=False),
        sa.Column("borrower_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("imported_on", sa.Date(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_external_signals_borrower_id_borrowers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_signals")),
        sa.UniqueConstraint(
            "subject_id_number",
            "kind",
            "source",
            "observed_on",
            name=op.f("uq_external_signals_subject_id_number_kind_source_observed_on"),
        ),
    )
    op.create_index(op.f("ix_external_signals_borrower_id"), "external_signals", ["borrower_id"], unique=False)
    op.create_index(
        op.f("ix_external_signals_subject_id_number"), "external_signals", ["subject_id_number"], unique=False
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column("rule_kind", sa.String(length=32), nullable=False),
        sa.Column("rule_effective", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("owner_role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active_rule", sa.String(length=64), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_alerts_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("loan_id", "active_rule", name=op.f("uq_alerts_loan_id_active_rule")),
    )
    op.create_index("ix_alerts_loan_rule", "alerts", ["loan_id", "rule_code", "opened_on"], unique=False)
    op.create_index("ix_alerts_rule_opened", "alerts", ["rule_code", "opened_on"], unique=False)
    op.create_index("ix_alerts_status_severity", "alerts", ["status", "severity"], unique=False)
    op.create_table(
        "alert_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_alert_steps_alert_id_alerts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_steps")),
    )
    op.create_index(op.f("ix_alert_steps_alert_id"), "alert_steps", ["alert_id"], unique=False)
    op.create_table(
        "loan_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("amount_due_fen", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_loan_actions_alert_id_alerts")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_loan_actions_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_actions")),
    )
    op.create_index(op.f("ix_loan_actions_alert_id"), "loan_actions", ["alert_id"], unique=False)
    op.create_index(op.f("ix_loan_actions_loan_id"), "loan_actions", ["loan_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_loan_actions_loan_id"), table_name="loan_actions")
    op.drop_index(op.f("ix_loan_actions_alert_id"), table_name="loan_actions")
    op.drop_table("loan_actions")
    op.drop_index(op.f("ix_alert_steps_alert_id"), table_name="alert_steps")
    op.drop_table("alert_steps")
    op.drop_index("ix_alerts_status_severity", table_name="alerts")
    op.drop_index("ix_alerts_rule_opened", table_name="alerts")
    op.drop_index("ix_alerts_loan_rule", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_external_signals_subject_id_number"), table_name="external_signals")
    op.drop_index(op.f("ix_external_signals_borrower_id"), table_name="external_signals")
    op.drop_table("external_signals")
