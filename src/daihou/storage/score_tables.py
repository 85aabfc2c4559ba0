"""Behaviour and collection scores (B卡/C卡) written by the close of business.

Part of the one schema in `daihou.storage.tables`. One row per loan, model and business date: the
score in points and the probability of default in millionths (`pd_ppm`), so a drop can be measured
between two dates.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table

from daihou.storage.tables import _id, metadata

loan_scores = Table(
    "loan_scores",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("model", String(64), nullable=False),  # the scoring role: "bcard", "ccard" (what readers select on)
    Column("model_name", String(64)),  # the registry artefact that produced the score (none if imported) …
    Column("model_version", Integer, nullable=False),  # … and its version
    Column("scored_on", Date, nullable=False),
    Column("score", Integer, nullable=False),
    Column("pd_ppm", Integer, nullable=False),
)

Index("ix_loan_scores_loan_model_day", loan_scores.c.loan_id, loan_scores.c.model, loan_scores.c.scored_on, unique=True)
Index("ix_loan_scores_model_day", loan_scores.c.model, loan_scores.c.scored_on)
