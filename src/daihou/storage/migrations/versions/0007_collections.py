"""collections: cases, strategies, assignments, contact log, promises

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collectors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("stages", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collectors")),
        sa.UniqueConstraint("code", name=op.f("uq_collectors_code")),
    )
    op.create_table(
        "collection_cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("borrower_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("open_reason", sa.String(length=200), nullable=False),
        sa.Column("stage_since", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("collector", sa.String(length=64), nullable=True),
        sa.Column("placement_agency_id", sa.Integer(), nullable=True),
        sa.Column("segment", sa.String(length=200), nullable=False),
        sa.Column("strategy_arm", sa.String(length=16), nullable=False),
        sa.Column("treatment", sa.String(length=64), nullable=False),
        sa.Column("worker", sa.String(length=16), nullable=False),
        sa.Column("score_band", sa.String(length=16), nullable=False),
        sa.Column("balance_band", sa.String(length=16), nullable=False),
        sa.Column("balance_at_open_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("overdue_fen", sa.BigInteger(), nullable=False),
        sa.Column("collectable_fen", sa.BigInteger(), nullable=False),
        sa.Column("collected_fen", sa.BigInteger(), nullable=False),
        sa.Column("pd_ppm", sa.Integer(), nullable=True),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("last_contact_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_collection_cases_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_collection_cases_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_cases")),
    )
    op.create_index(op.f("ix_collection_cases_borrower_id"), "collection_cases", ["borrower_id"], unique=False)
    op.create_index(op.f("ix_collection_cases_collector"), "collection_cases", ["collector"], unique=False)
    op.create_index(op.f("ix_collection_cases_loan_id"), "collection_cases", ["loan_id"], unique=False)
    op.create_index(
        op.f("ix_collection_cases_placement_agency_id"), "collection_cases", ["placement_agency_id"], unique=False
    )
    op.create_index("ix_collection_cases_status_collector", "collection_cases", ["status", "collector"], unique=False)
    op.create_index(
        "ux_collection_cases_open_loan",
        "collection_cases",
        ["loan_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_stage", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=400), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_cases.id"], name=op.f("fk_case_events_case_id_collection_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"], unique=False)
    op.create_table(
        "collection_refusals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("party", sa.String(length=16), nullable=True),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("collector", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_cases.id"], name=op.f("fk_collection_refusals_case_id_collection_cases")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_collection_refusals_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_refusals")),
    )
    op.create_index(op.f("ix_collection_refusals_case_id"), "collection_refusals", ["case_id"], unique=False)
    op.create_table(
        "contact_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("borrower_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("collector", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_contact_log_borrower_id_borrowers")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_cases.id"], name=op.f("fk_contact_log_case_id_collection_cases")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_contact_log_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_log")),
    )
    op.create_index("ix_contact_log_borrower_started", "contact_log", ["borrower_id", "started_at"], unique=False)
    op.create_index(op.f("ix_contact_log_case_id"), "contact_log", ["case_id"], unique=False)
    op.create_index("ix_contact_log_number_started", "contact_log", ["number", "started_at"], unique=False)
    op.create_table(
        "worklist_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("collector", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("pay_ppm", sa.Integer(), nullable=False),
        sa.Column("expected_fen", sa.BigInteger(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_cases.id"], name=op.f("fk_worklist_items_case_id_collection_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worklist_items")),
        sa.UniqueConstraint("business_date", "case_id", name=op.f("uq_worklist_items_business_date_case_id")),
    )
    op.create_index(
        "ix_worklist_items_day_collector_rank", "worklist_items", ["business_date", "collector", "rank"], unique=False
    )
    op.create_table(
        "promises",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("broken_on", sa.Date(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["collection_cases.id"], name=op.f("fk_promises_case_id_collection_cases")
        ),
        sa.ForeignKeyConstraint(["contact_id"], ["contact_log.id"], name=op.f("fk_promises_contact_id_contact_log")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_promises_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
    )
    op.create_index(op.f("ix_promises_case_id"), "promises", ["case_id"], unique=False)
    op.create_index(op.f("ix_promises_loan_id"), "promises", ["loan_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_promises_loan_id"), table_name="promises")
    op.drop_index(op.f("ix_promises_case_id"), table_name="promises")
    op.drop_table("promises")
    op.drop_index("ix_worklist_items_day_collector_rank", table_name="worklist_items")
    op.drop_table("worklist_items")
    op.drop_index("ix_contact_log_number_started", table_name="contact_log")
    op.drop_index(op.f("ix_contact_log_case_id"), table_name="contact_log")
    op.drop_index("ix_contact_log_borrower_started", table_name="contact_log")
    op.drop_table("contact_log")
    op.drop_index(op.f("ix_collection_refusals_case_id"), table_name="collection_refusals")
    op.drop_table("collection_refusals")
    op.drop_index(op.f("ix_case_events_case_id"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_index(
        "ux_collection_cases_open_loan",
        table_name="collection_cases",
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index("ix_collection_cases_status_collector", table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_placement_agency_id"), table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_loan_id"), table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_collector"), table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_borrower_id"), table_name="collection_cases")
    op.drop_table("collection_cases")
    op.drop_table("collectors")
