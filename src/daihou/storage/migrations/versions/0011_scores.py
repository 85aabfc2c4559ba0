"""scores: behaviour and collection scores per loan and business date

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loan_scores",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("scored_on", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("pd_ppm", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_loan_scores_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_scores")),
    )
    op.create_index("ix_loan_scores_loan_model_day", "loan_scores", ["loan_id", "model", "scored_on"], unique=True)
    op.create_index("ix_loan_scores_model_day", "loan_scores", ["model", "scored_on"])


def downgrade() -> None:
    op.drop_index("ix_loan_scores_model_day", table_name="loan_scores")
    op.drop_index("ix_loan_scores_loan_model_day", table_name="loan_scores")
    op.drop_table("loan_scores")
